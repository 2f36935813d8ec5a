/*
 * ident - a file's identity from its content (private to collector/)
 *
 * ident_feed() is given each complete line in order; the first one decides the identity:
 * "fnv1a64:<hex>:<length>" of that line. Later calls are free. text is "" until then.
 */
#ifndef MAILPULSE_IDENT_H
#define MAILPULSE_IDENT_H

#include <stddef.h>

struct ident {
    char text[48];
};

void ident_feed(struct ident *id, const char *line, size_t len, int complete);

#endif
