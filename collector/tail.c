/*
 * tail - follow one growing log file by polling, handing out complete lines with positions
 *
 * The reader never returns a partial last line: bytes after the last newline stay in the
 * buffer until the newline arrives. A line longer than COLLECT_MAX_LINE is cut, handed out
 * once, and the rest up to its newline skipped (and counted). Replacement of the file (rename
 * or delete and create) is reported as -2, but only after the old file was read to its end once
 * more after the replacement was seen (a writer may have appended between our last read and its
 * rename) and, when set, the rotate wait has passed (writers that reopen late, on a HUP).
 * Truncation, and a rewrite seen through the offset marker (the last bytes read no longer being
 * what the file holds there) or through the file's first bytes, are reported as -3; collector/follow.c decides what to read next.
 * Both are checked before every read, not only after a pause: a reader that was held up (the
 * database away, a backlog) would otherwise go on at its old offset inside a new file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/collector.h"
#include "collector/ident.h"
#include "collector/linebuf.h"
#include "util/util.h"

#define TAIL_CHUNK  65536
#define TAIL_MARKER 32

struct tail {
    char *path;
    int fd;
    dev_t dev;
    ino_t ino;
    struct linebuf lb;
    struct ident ident;
    int64_t rotate_wait_us; /* keep reading a replaced file this long */
    int64_t replaced_at;    /* when the replacement was seen, 0 before */
    int idle;               /* the last call found no more bytes */
    int64_t marker_off;     /* offset the marker bytes end at; -1 none */
    uint64_t bytes;         /* read to find lines */
    size_t marker_len;
    char marker[TAIL_MARKER];
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
    linebuf_init(&t->lb, t->path, TAIL_CHUNK);
    t->marker_off = -1;
    return t;
}

/* tail_identity - the identity from the file's first line; "" while it has none */
const char *tail_identity(struct tail *t)
{
    char *head;
    ssize_t n;
    char *nl;

    if (t->ident.text[0])
        return t->ident.text;
    /* Up to one byte past the longest line, so that an overlong first line gets the same
     * identity as lineread gives it (its first COLLECT_MAX_LINE bytes). */
    head = xmalloc(COLLECT_MAX_LINE + 1);
    n = pread(t->fd, head, COLLECT_MAX_LINE + 1, 0);
    if (n > 0) {
        ident_bytes(&t->ident, 0, head, (size_t)n);
        nl = memchr(head, '\n', (size_t)n);
        if (nl)
            ident_feed(&t->ident, head, (size_t)(nl - head), 1);
        else if (n == COLLECT_MAX_LINE + 1)
            ident_feed(&t->ident, head, COLLECT_MAX_LINE, 1); /* an overlong first line */
    }
    x_free(head);
    return t->ident.text;
}

/* tail_prefix - the file's first bytes as far as read (at most IDENT_PREFIX) */
const char *tail_prefix(const struct tail *t, size_t *len)
{
    *len = t->ident.prefix_len;
    return t->ident.prefix;
}

/* tail_seek - continue from this byte offset */
void tail_seek(struct tail *t, int64_t offset)
{
    linebuf_seek(&t->lb, offset);
    t->idle = 0;
    t->marker_off = -1;
}

/* tail_set_rotate_wait - how long a replaced file is still read before -2 */
void tail_set_rotate_wait(struct tail *t, int64_t us)
{
    t->rotate_wait_us = us;
}

/* tail_cut - how many overlong lines were cut */
uint64_t tail_cut(const struct tail *t)
{
    return t->lb.cut;
}

/* tail_position - the offset of the first byte not yet handed out as a line */
int64_t tail_position(const struct tail *t)
{
    return linebuf_position(&t->lb);
}

/* tail_mark - remember the last bytes read (n of them just added at `at`), up to the read end */
static void tail_mark(struct tail *t, const char *at, size_t n)
{
    int64_t end = linebuf_read_end(&t->lb);

    if (n >= TAIL_MARKER) {
        memcpy(t->marker, at + n - TAIL_MARKER, TAIL_MARKER);
        t->marker_len = TAIL_MARKER;
    } else {
        size_t keep = t->marker_off == end - (int64_t)n ? t->marker_len : 0;

        if (keep + n > TAIL_MARKER)
            keep = TAIL_MARKER - n;
        memmove(t->marker, t->marker + t->marker_len - keep, keep);
        memcpy(t->marker + keep, at, n);
        t->marker_len = keep + n;
    }
    t->marker_off = end;
}

/*
 * tail_same_start - 1 when the file still begins with the bytes first read from it. The marker
 * alone is fooled by a new file whose lines look alike (the same length, the same ending) at
 * the same offset; its first bytes (a time stamp, a queue id) differ.
 */
static int tail_same_start(struct tail *t)
{
    char head[IDENT_PREFIX];
    size_t want = t->ident.prefix_len;
    ssize_t n;

    if (want == 0)
        return 1;
    n = pread(t->fd, head, want, 0);
    return n < 0 || ((size_t)n == want && memcmp(head, t->ident.prefix, want) == 0);
}

/*
 * tail_changed - 1 when the file no longer holds what was read before the read end: it shrank
 * below it, or the marker bytes differ (truncated and written again past it). After a seek the
 * marker is first taken from the file.
 */
static int tail_changed(struct tail *t)
{
    int64_t end = linebuf_read_end(&t->lb);
    int64_t from = end > TAIL_MARKER ? end - TAIL_MARKER : 0;
    char now[TAIL_MARKER];
    struct stat st;
    ssize_t n;

    if (fstat(t->fd, &st) == 0 && st.st_size < end) {
        log_warn("%s: file truncated (size %lld, position %lld); reopening", t->path,
                 (long long)st.st_size, (long long)end);
        return 1;
    }
    if (end == 0)
        return 0;
    if (t->marker_off != end) {
        n = pread(t->fd, now, (size_t)(end - from), from);
        if (n > 0) {
            memcpy(t->marker, now, (size_t)n);
            t->marker_len = (size_t)n;
            t->marker_off = end;
        }
        return 0;
    }
    n = pread(t->fd, now, t->marker_len, end - (int64_t)t->marker_len);
    if (n < 0)
        return 0; /* a read error is reported by the read itself */
    if ((size_t)n != t->marker_len || memcmp(now, t->marker, (size_t)n) != 0 ||
        !tail_same_start(t)) {
        log_warn("%s: the bytes before offset %lld changed (truncated and rewritten); "
                 "reopening",
                 t->path, (long long)end);
        return 1;
    }
    return 0;
}

/* tail_replaced - 1 when the path names another file than the one open */
static int tail_replaced(struct tail *t)
{
    struct stat st;

    if (stat(t->path, &st) < 0)
        return 0; /* deleted and not yet recreated: keep reading the old one */
    if (st.st_dev != t->dev || st.st_ino != t->ino) {
        if (t->replaced_at == 0)
            log_info("%s: file was replaced; finishing the old one", t->path);
        return 1;
    }
    return 0;
}

/* tail_next - the next complete line: 1 line, 0 none yet, -1 error, -2 replaced, -3 truncated */
int tail_next(struct tail *t, const char **line, size_t *len, int64_t *pos)
{
    for (;;) {
        char *at;
        size_t room;
        ssize_t n;

        if (linebuf_take(&t->lb, line, len, pos))
            return 1;
        room = linebuf_space(&t->lb, &at);
        if (tail_changed(t))
            return -3;
        if (t->idle) {
            /* New bytes after a pause: when the path names another file now, this read is
             * the one after the replacement was seen. */
            t->idle = 0;
            if (tail_replaced(t) && t->replaced_at == 0)
                t->replaced_at = time_now_us();
        }
        do
            n = pread(t->fd, at, room, linebuf_read_end(&t->lb));
        while (n < 0 && errno == EINTR);
        if (n > 0)
            ident_bytes(&t->ident, linebuf_read_end(&t->lb), at, (size_t)n);
        if (n < 0) {
            log_warn("%s: read error: %s", t->path, strerror(errno));
            return -1;
        }
        if (n == 0) {
            if (tail_replaced(t)) {
                if (t->replaced_at == 0) {
                    t->replaced_at = time_now_us(); /* read to the end once more */
                    continue;
                }
                return time_now_us() - t->replaced_at >= t->rotate_wait_us ? -2 : 0;
            }
            t->idle = 1;
            return 0;
        }
        t->bytes += (uint64_t)n;
        linebuf_added(&t->lb, (size_t)n);
        tail_mark(t, at, (size_t)n);
    }
}

/* tail_bytes - bytes read to find lines since tail_open */
uint64_t tail_bytes(const struct tail *t)
{
    return t->bytes;
}

/* tail_lag - bytes in the file after the current position */
int64_t tail_lag(struct tail *t)
{
    struct stat st;
    int64_t lag;

    if (fstat(t->fd, &st) < 0)
        return -1;
    lag = st.st_size - linebuf_position(&t->lb);
    return lag > 0 ? lag : 0;
}

/* tail_close - close and free */
void tail_close(struct tail *t)
{
    if (t == NULL)
        return;
    close(t->fd);
    linebuf_free(&t->lb);
    x_free(t->path);
    x_free(t);
}
