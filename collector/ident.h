/*
 * ident - a file's identity from its content (private to collector/)
 *
 * ident_feed() is given each complete line in order; the first one decides the identity:
 * "fnv1a64:<hex>:<length>" of that line. Later calls are free. text is "" until then.
 *
 * The first line alone does not tell two generations of a log apart when they start alike
 * (an empty line, a banner). So a reader also keeps the file's first IDENT_PREFIX bytes, as
 * far as it has read them: ident_bytes() is given every block read with its offset (only
 * what continues the prefix is kept), and prefix_len says how much is known. A source row
 * records a hash of the prefix it has seen; a file whose prefix differs is another file.
 */
#ifndef MAILPULSE_IDENT_H
#define MAILPULSE_IDENT_H

#include <stddef.h>
#include <stdint.h>

#define IDENT_PREFIX 4096

struct ident {
    char text[48];
    size_t prefix_len;
    char prefix[IDENT_PREFIX];
};

void ident_feed(struct ident *id, const char *line, size_t len, int complete);
void ident_bytes(struct ident *id, int64_t off, const char *b, size_t n);

#endif
