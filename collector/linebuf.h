/*
 * linebuf - the line splitter shared by the whole-file reader and the follower (private to
 * collector/)
 *
 * A linebuf holds bytes read from a stream at byte offset base. linebuf_take() hands out the
 * next complete line (without its newline) with the offset where it starts, or 0 when more
 * bytes are needed; a line longer than COLLECT_MAX_LINE is handed out cut to that length,
 * once, and the rest of it up to its newline is skipped (and counted in cut).
 * linebuf_space() makes room after the bytes held (moving them to the front) and says where
 * to read to; linebuf_added() takes the bytes read there. linebuf_rest() hands out the
 * unterminated bytes left at the end of a stream that is read whole. name is used in the
 * warning about cut lines. The pointer of a line is valid until the next call.
 * linebuf_nul_free() tells whether the last line handed out holds no NUL byte: the bytes
 * read are looked at for a NUL once, as they are added, so that the parser need not look
 * at each line again (parser_line_nul_free()).
 */
#ifndef MAILPULSE_LINEBUF_H
#define MAILPULSE_LINEBUF_H

#include <stddef.h>
#include <stdint.h>

struct linebuf {
    const char *name;
    char *data;
    size_t start, end, cap;
    int64_t base; /* stream offset of data[0] */
    size_t nul;   /* the first NUL at or after start, as an index of data; end when none */
    int nul_free; /* the last line handed out holds no NUL byte */
    int skipping; /* in the rest of a cut line */
    uint64_t cut; /* lines cut */
};

void linebuf_init(struct linebuf *lb, const char *name, size_t chunk);
void linebuf_free(struct linebuf *lb);
void linebuf_seek(struct linebuf *lb, int64_t offset);
int linebuf_take(struct linebuf *lb, const char **line, size_t *len, int64_t *pos);
int linebuf_rest(struct linebuf *lb, const char **line, size_t *len, int64_t *pos);
size_t linebuf_space(struct linebuf *lb, char **at);
void linebuf_added(struct linebuf *lb, size_t n);
int64_t linebuf_position(const struct linebuf *lb); /* first byte not handed out */
int64_t linebuf_read_end(const struct linebuf *lb); /* offset after the last byte held */
int linebuf_nul_free(const struct linebuf *lb);     /* the last line holds no NUL */

#endif
