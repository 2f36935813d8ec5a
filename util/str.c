/*
 * str - bounded string copy, hashing, and numbers as text
 */
#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* str_copy - copy at most dstlen-1 bytes, terminate, return the bytes that did not fit */
size_t str_copy(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    size_t n = srclen < dstlen - 1 ? srclen : dstlen - 1;

    memcpy(dst, src, n);
    dst[n] = 0;
    return srclen - n;
}

/* hash_fnv1a64 - FNV-1a, 64 bits: identities and hash tables, not security */
uint64_t hash_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* fmt_u64 - v in decimal at w, unterminated; returns the end */
char *fmt_u64(char *w, uint64_t v)
{
    uint64_t t = v;
    size_t n = 1;
    char *e;

    while (t >= 10) {
        t /= 10;
        n++;
    }
    e = w + n;
    do {
        *--e = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return w + n;
}

/* fmt_i64 - v in decimal at w, unterminated; returns the end */
char *fmt_i64(char *w, int64_t v)
{
    if (v >= 0)
        return fmt_u64(w, (uint64_t)v);
    *w++ = '-';
    return fmt_u64(w, 0 - (uint64_t)v);
}

/*
 * fmt_double - a finite d at w, unterminated, in the fewest decimals k (up to 9) for which
 * round(d * 10^k) / 10^k == d: that decimal text reads back as d exactly (both are the double
 * nearest to the same decimal), and numbers read from logs ("1.3", "0.27") have few digits.
 * Anything else (negative, 1e9 or more, more decimals) is "%.*g" with digits significant
 * digits, at most 32 bytes. Returns the end.
 */
char *fmt_double(char *w, double d, int digits)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    char tmp[40];
    int len;

    if (d >= 0 && d < 1e9) {
        /* r stays below 2^53, so it and 10^k are exact and r / 10^k is rounded once. */
        for (int k = 0; k < 10 && d * pow10[k] < 9007199254740992.0; k++) {
            uint64_t r = (uint64_t)(d * pow10[k] + 0.5);

            if ((double)r / pow10[k] == d) {
                uint64_t ip = r / (uint64_t)pow10[k], fp = r % (uint64_t)pow10[k];

                w = fmt_u64(w, ip);
                if (k == 0)
                    return w;
                *w++ = '.';
                for (int j = k - 1; j >= 0; j--) {
                    w[j] = (char)('0' + fp % 10);
                    fp /= 10;
                }
                return w + k;
            }
        }
    }
    len = snprintf(tmp, sizeof(tmp), "%.*g", digits, d);
    if (len < 0)
        len = 0;
    if (len > 32)
        len = 32;
    memcpy(w, tmp, (size_t)len);
    return w + len;
}
