/*
 * str - bounded string copy and hashing
 */
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
