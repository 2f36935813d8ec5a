/*
 * buf - growable, always NUL-terminated byte buffer, and JSON string text
 */
#include <stdio.h>
#include <string.h>

#include "util/util.h"

/* buf_init - an empty buffer that owns nothing yet */
void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* buf_free - release the storage; the buffer is empty and reusable afterwards */
void buf_free(struct buf *b)
{
    x_free(b->data);
    buf_init(b);
}

/* buf_reset - empty the buffer, keeping its storage */
void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

/* buf_reserve - make room for extra more bytes plus the terminator */
void buf_reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap;

    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

/* buf_append - append len bytes */
void buf_append(struct buf *b, const void *data, size_t len)
{
    buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

/* buf_puts - append a C string */
void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* buf_putc - append one byte */
void buf_putc(struct buf *b, int c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = (char)c;
    b->data[b->len] = 0;
}

/* buf_printf - append formatted text */
void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap, again;
    size_t room;
    int n;

    buf_reserve(b, 64);
    room = b->cap - b->len;
    va_start(ap, fmt);
    va_copy(again, ap);
    n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n >= room) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    if (n > 0)
        b->len += (size_t)n;
    b->data[b->len] = 0;
}

/*
 * utf8_seq_len - length of the valid UTF-8 sequence at s (at most n bytes), or 0 when the
 * bytes there are not one (overlong forms, surrogates and values past U+10FFFF included).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len, i;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* buf_json_string - append s as a quoted JSON string; invalid UTF-8 becomes U+FFFD */
void buf_json_string(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    const unsigned char *end = p + n;

    buf_reserve(b, n + 2);
    buf_putc(b, '"');
    while (*p) {
        const unsigned char *run = p;
        size_t seq;

        /* Copy runs of plain printable ASCII in one go. */
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            buf_append(b, run, (size_t)(p - run));
        if (*p == 0)
            break;
        switch (*p) {
        case '"':
            buf_puts(b, "\\\"");
            p++;
            continue;
        case '\\':
            buf_puts(b, "\\\\");
            p++;
            continue;
        case '\n':
            buf_puts(b, "\\n");
            p++;
            continue;
        case '\r':
            buf_puts(b, "\\r");
            p++;
            continue;
        case '\t':
            buf_puts(b, "\\t");
            p++;
            continue;
        default:
            break;
        }
        if (*p < 0x20) {
            buf_printf(b, "\\u%04x", *p);
            p++;
            continue;
        }
        seq = utf8_seq_len(p, (size_t)(end - p));
        if (seq == 0) {
            buf_puts(b, "\xef\xbf\xbd");
            p++;
        } else {
            buf_append(b, p, seq);
            p += seq;
        }
    }
    buf_putc(b, '"');
}

/* utf8_scrub - replace each byte that is not part of valid UTF-8 with '?'; count them */
size_t utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t bad = 0;

    /* One pass to the NUL. Most text is ASCII (1..0x7f): no call per byte. */
    for (;;) {
        size_t seq;

        while ((unsigned)*p - 1u < 0x7fu)
            p++;
        if (*p == 0)
            return bad;
        /* A NUL is no continuation byte, so the check of a sequence stops at the end of the
         * string without reading past it. */
        seq = utf8_seq_len(p, 4);
        if (seq == 0) {
            *p++ = '?';
            bad++;
        } else {
            p += seq;
        }
    }
}
