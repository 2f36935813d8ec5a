/*
 * lineread - one pass over a whole log file (plain, gzip or standard input), line by line
 *
 * Lines are split on '\n'; a trailing '\r' is kept (the parser treats it as text). Positions
 * are byte offsets into the decompressed text, so the same .gz file always gives the same
 * positions, and they are what the database uses as the unique key of a row.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "collector/collector.h"
#include "collector/ident.h"
#include "collector/linebuf.h"
#include "util/util.h"

/* Bytes read at a time: 128 KiB, which the kernel's copy writes and the parser then reads
 * while they are still in the core's cache; 1 MiB pieces (one per megabyte rather than eight)
 * cost more CPU time in all, system time too. The file is copied, not mapped: a log truncated
 * by its rotation under a mapping would kill the reader (follow.c too) with SIGBUS. */
#define LR_CHUNK (1 << 17)
#define LR_GZBUF 65536 /* zlib's input buffer */

struct lineread {
    char *path;
    int fd;    /* plain file or stdin */
    gzFile gz; /* gzip, or NULL */
    struct linebuf lb;
    int eof;
    struct ident ident;
    uint64_t bytes; /* read (decompressed) */
};

static int is_gzip(int fd)
{
    unsigned char magic[2];
    ssize_t n = pread(fd, magic, 2, 0);

    return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

/* lr_open - open path ("-": stdin) for one pass; NULL and a message on failure */
struct lineread *lr_open(const char *path, char *err, size_t errlen)
{
    struct lineread *lr;
    int fd;

    if (strcmp(path, "-") == 0) {
        fd = dup(STDIN_FILENO);
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    lr = xcalloc(1, sizeof(*lr));
    lr->path = xstrdup(path);
    lr->fd = fd;
    if (strcmp(path, "-") != 0 && is_gzip(fd)) {
        lr->gz = gzdopen(fd, "rb");
        if (lr->gz == NULL) {
            snprintf(err, errlen, "cannot read %s as gzip", path);
            close(fd);
            x_free(lr->path);
            x_free(lr);
            return NULL;
        }
        gzbuffer(lr->gz, LR_GZBUF);
        lr->fd = -1;
    }
    linebuf_init(&lr->lb, lr->path, LR_CHUNK);
    return lr;
}

/* lr_fill - read more bytes after those held; 1 read some, 0 eof, -1 error */
static int lr_fill(struct lineread *lr)
{
    char *at;
    size_t room = linebuf_space(&lr->lb, &at);
    ssize_t n;

    if (lr->gz) {
        int r = gzread(lr->gz, at, (unsigned)room);

        if (r < 0) {
            int zerr;

            log_warn("%s: gzip error: %s", lr->path, gzerror(lr->gz, &zerr));
            return -1;
        }
        n = r;
    } else {
        do
            n = read(lr->fd, at, room);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            log_warn("%s: read error: %s", lr->path, strerror(errno));
            return -1;
        }
    }
    if (n == 0) {
        lr->eof = 1;
        return 0;
    }
    ident_bytes(&lr->ident, linebuf_read_end(&lr->lb), at, (size_t)n);
    lr->bytes += (uint64_t)n;
    linebuf_added(&lr->lb, (size_t)n);
    return 1;
}

/* lr_bytes - bytes read (after decompression) since lr_open */
uint64_t lr_bytes(const struct lineread *lr)
{
    return lr->bytes;
}

/* lr_next - the next line: 1 line, 0 end of file, -1 read error */
int lr_next(struct lineread *lr, const char **line, size_t *len, int64_t *pos)
{
    for (;;) {
        /* At the end, the last line needs no newline: the file is read whole. */
        if (linebuf_take(&lr->lb, line, len, pos) ||
            (lr->eof && linebuf_rest(&lr->lb, line, len, pos))) {
            ident_feed(&lr->ident, *line, *len, 1);
            return 1;
        }
        if (lr->eof)
            return 0;
        if (lr_fill(lr) < 0)
            return -1;
    }
}

/* lr_nul_free - does the last line lr_next() returned hold no NUL byte? */
int lr_nul_free(const struct lineread *lr)
{
    return linebuf_nul_free(&lr->lb);
}

/* lr_prefix - the file's first bytes as far as read (decompressed; at most IDENT_PREFIX) */
const char *lr_prefix(const struct lineread *lr, size_t *len)
{
    *len = lr->ident.prefix_len;
    return lr->ident.prefix;
}

/* lr_identity - the content identity of the file, "" before its first line */
const char *lr_identity(struct lineread *lr)
{
    return lr->ident.text;
}

/* lr_close - close and free */
void lr_close(struct lineread *lr)
{
    if (lr == NULL)
        return;
    if (lr->gz)
        gzclose(lr->gz);
    else if (lr->fd >= 0)
        close(lr->fd);
    linebuf_free(&lr->lb);
    x_free(lr->path);
    x_free(lr);
}
