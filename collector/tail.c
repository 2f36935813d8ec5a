/*
 * tail - follow one growing log file by polling, handing out complete lines with positions
 *
 * The reader never returns a partial last line: bytes after the last newline stay in the
 * buffer until the newline arrives. A line longer than COLLECT_MAX_LINE is cut, handed out
 * once, and the rest up to its newline skipped. Replacement of the file (rename or delete
 * and create) and truncation are reported as -2 so the caller opens the path again as a new
 * source; full rotation handling belongs to a later step.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/collector.h"
#include "collector/ident.h"
#include "util/util.h"

#define TAIL_CHUNK 65536

struct tail {
    char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    char *data;
    size_t start, end, cap;
    int64_t base; /* file offset of data[0] */
    int skipping;
    struct ident ident;
};

/* tail_open - open path for following, at offset 0 */
struct tail *tail_open(const char *path, char *err, size_t errlen)
{
    struct tail *t;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    t = xcalloc(1, sizeof(*t));
    t->path = xstrdup(path);
    t->fd = fd;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->cap = COLLECT_MAX_LINE + TAIL_CHUNK;
    t->data = xmalloc(t->cap + 1);
    return t;
}

/* tail_identity - the identity from the file's first line; "" while it has none */
const char *tail_identity(struct tail *t)
{
    char head[4096];
    ssize_t n;
    char *nl;

    if (t->ident.text[0])
        return t->ident.text;
    n = pread(t->fd, head, sizeof(head), 0);
    if (n <= 0)
        return "";
    nl = memchr(head, '\n', (size_t)n);
    if (nl)
        ident_feed(&t->ident, head, (size_t)(nl - head), 1);
    else if (n == (ssize_t)sizeof(head))
        ident_feed(&t->ident, head, sizeof(head), 1); /* an overlong first line */
    return t->ident.text;
}

/* tail_seek - continue from this byte offset */
void tail_seek(struct tail *t, int64_t offset)
{
    t->base = offset;
    t->start = t->end = 0;
    t->skipping = 0;
}

/* tail_replaced - 1 when the path now names another file, or the file shrank */
static int tail_replaced(struct tail *t)
{
    struct stat st, fst;

    if (fstat(t->fd, &fst) == 0 && fst.st_size < t->base + (int64_t)t->end) {
        log_warn("%s: file truncated (size %lld, position %lld); reopening", t->path,
                 (long long)fst.st_size, (long long)(t->base + (int64_t)t->end));
        return 1;
    }
    if (stat(t->path, &st) < 0)
        return 0; /* deleted and not yet recreated: keep reading the old one */
    if (st.st_dev != t->dev || st.st_ino != t->ino) {
        log_info("%s: file was replaced; following the new one", t->path);
        return 1;
    }
    return 0;
}

/* tail_next - the next complete line: 1 line, 0 none yet, -1 error, -2 reopen */
int tail_next(struct tail *t, const char **line, size_t *len, int64_t *pos)
{
    for (;;) {
        char *s = t->data + t->start;
        size_t avail = t->end - t->start;
        char *nl = avail ? memchr(s, '\n', avail) : NULL;
        ssize_t n;

        if (nl) {
            size_t linelen = (size_t)(nl - s);

            t->start += linelen + 1;
            if (t->skipping) {
                t->skipping = 0;
                continue;
            }
            *line = s;
            *len = linelen;
            *pos = t->base + (int64_t)(s - t->data);
            return 1;
        }
        if (avail >= COLLECT_MAX_LINE) {
            t->start += avail;
            if (t->skipping)
                continue;
            t->skipping = 1;
            *line = s;
            *len = COLLECT_MAX_LINE;
            *pos = t->base + (int64_t)(s - t->data);
            log_warn("%s: line at offset %lld longer than %d bytes, cut", t->path, (long long)*pos,
                     COLLECT_MAX_LINE);
            return 1;
        }
        if (t->start > 0) {
            memmove(t->data, s, avail);
            t->base += (int64_t)t->start;
            t->end = avail;
            t->start = 0;
        }
        do
            n = pread(t->fd, t->data + t->end, t->cap - t->end, t->base + (int64_t)t->end);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            log_warn("%s: read error: %s", t->path, strerror(errno));
            return -1;
        }
        if (n == 0)
            return tail_replaced(t) ? -2 : 0;
        t->end += (size_t)n;
    }
}

/* tail_lag - bytes in the file after the current position */
int64_t tail_lag(struct tail *t)
{
    struct stat st;
    int64_t lag;

    if (fstat(t->fd, &st) < 0)
        return -1;
    lag = st.st_size - (t->base + (int64_t)t->start);
    return lag > 0 ? lag : 0;
}

/* tail_close - close and free */
void tail_close(struct tail *t)
{
    if (t == NULL)
        return;
    close(t->fd);
    x_free(t->data);
    x_free(t->path);
    x_free(t);
}
