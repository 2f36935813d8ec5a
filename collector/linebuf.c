/*
 * linebuf - split a byte stream into lines with their offsets; cut overlong lines once
 */
#include <string.h>

#include "collector/collector.h"
#include "collector/linebuf.h"
#include "util/util.h"

/* linebuf_init - an empty buffer for lines up to COLLECT_MAX_LINE, read chunk bytes a time */
void linebuf_init(struct linebuf *lb, const char *name, size_t chunk)
{
    memset(lb, 0, sizeof(*lb));
    lb->name = name;
    lb->cap = COLLECT_MAX_LINE + chunk;
    lb->data = xmalloc(lb->cap + 1);
}

/* linebuf_free - release the buffer */
void linebuf_free(struct linebuf *lb)
{
    x_free(lb->data);
    lb->data = NULL;
}

/* linebuf_seek - drop what is held; the next bytes added start at offset */
void linebuf_seek(struct linebuf *lb, int64_t offset)
{
    lb->base = offset;
    lb->start = lb->end = lb->nul = 0;
    lb->skipping = 0;
}

/* nul_find - lb->nul again once start has moved past it: the next NUL held, or end */
static void nul_find(struct linebuf *lb)
{
    const char *z;

    if (lb->nul >= lb->start)
        return;
    z = memchr(lb->data + lb->start, 0, lb->end - lb->start);
    lb->nul = z ? (size_t)(z - lb->data) : lb->end;
}

static void warn_cut(struct linebuf *lb, int64_t pos)
{
    lb->cut++;
    log_warn("%s: line at offset %lld longer than %d bytes, cut", lb->name, (long long)pos,
             COLLECT_MAX_LINE);
}

/* linebuf_take - the next complete line: 1, or 0 when more bytes are needed */
int linebuf_take(struct linebuf *lb, const char **line, size_t *len, int64_t *pos)
{
    for (;;) {
        char *s = lb->data + lb->start;
        size_t avail = lb->end - lb->start;
        char *nl = avail ? memchr(s, '\n', avail) : NULL;

        if (nl) {
            size_t n = (size_t)(nl - s);

            lb->start += n + 1;
            if (lb->skipping) {
                lb->skipping = 0;
                nul_find(lb);
                continue;
            }
            *line = s;
            *len = n;
            *pos = lb->base + (int64_t)(s - lb->data);
            if (n > COLLECT_MAX_LINE) { /* arrived whole in one read: cut it here */
                *len = COLLECT_MAX_LINE;
                warn_cut(lb, *pos);
            }
            lb->nul_free = lb->nul >= (size_t)(s - lb->data) + *len;
            nul_find(lb);
            return 1;
        }
        if (avail < COLLECT_MAX_LINE)
            return 0;
        /* An overlong line without its newline yet: hand out its head, skip the rest. */
        lb->start += avail;
        if (lb->skipping) {
            nul_find(lb);
            continue;
        }
        lb->skipping = 1;
        *line = s;
        *len = COLLECT_MAX_LINE;
        *pos = lb->base + (int64_t)(s - lb->data);
        warn_cut(lb, *pos);
        lb->nul_free = lb->nul >= (size_t)(s - lb->data) + *len;
        nul_find(lb);
        return 1;
    }
}

/* linebuf_rest - the unterminated last bytes of a stream read whole: 1 and them, or 0 */
int linebuf_rest(struct linebuf *lb, const char **line, size_t *len, int64_t *pos)
{
    char *s = lb->data + lb->start;
    size_t avail = lb->end - lb->start;

    lb->start = lb->end;
    lb->nul_free = lb->nul >= lb->end; /* the bytes of the line are all that were held */
    lb->nul = lb->end;
    if (avail == 0 || lb->skipping)
        return 0;
    *line = s;
    *len = avail;
    *pos = lb->base + (int64_t)(s - lb->data);
    return 1;
}

/* linebuf_space - move the held bytes to the front; where to read to and how much */
size_t linebuf_space(struct linebuf *lb, char **at)
{
    if (lb->start > 0) {
        memmove(lb->data, lb->data + lb->start, lb->end - lb->start);
        lb->base += (int64_t)lb->start;
        lb->end -= lb->start;
        lb->nul -= lb->start;
        lb->start = 0;
    }
    *at = lb->data + lb->end;
    return lb->cap - lb->end;
}

/* linebuf_added - n bytes were read to where linebuf_space() said */
void linebuf_added(struct linebuf *lb, size_t n)
{
    /* One look for a NUL over all the bytes read (when none is held already): a call per
     * read, not per line. */
    if (lb->nul == lb->end) {
        const char *z = memchr(lb->data + lb->end, 0, n);

        lb->nul = z ? (size_t)(z - lb->data) : lb->end + n;
    }
    lb->end += n;
}

/* linebuf_position - the offset of the first byte not yet handed out as a line */
int64_t linebuf_position(const struct linebuf *lb)
{
    return lb->base + (int64_t)lb->start;
}

/* linebuf_read_end - the offset after the last byte held */
int64_t linebuf_read_end(const struct linebuf *lb)
{
    return lb->base + (int64_t)lb->end;
}

/* linebuf_nul_free - does the last line handed out hold no NUL byte? */
int linebuf_nul_free(const struct linebuf *lb)
{
    return lb->nul_free;
}
