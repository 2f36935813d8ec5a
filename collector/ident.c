/*
 * ident - name a log file by its first line, which does not change as the file grows, and
 * keep its first bytes to tell apart files that start with the same line
 */
#include <stdio.h>
#include <string.h>

#include "collector/ident.h"
#include "util/util.h"

/* ident_feed - set the identity from the first complete line; later lines change nothing */
void ident_feed(struct ident *id, const char *line, size_t len, int complete)
{
    if (id->text[0] || !complete)
        return;
    snprintf(id->text, sizeof(id->text), "fnv1a64:%016llx:%zu",
             (unsigned long long)hash_fnv1a64(line, len), len);
}

/* ident_bytes - n bytes of the file read at off: keep those that continue the prefix */
void ident_bytes(struct ident *id, int64_t off, const char *b, size_t n)
{
    size_t skip, take;

    if (id->prefix_len >= IDENT_PREFIX || off > (int64_t)id->prefix_len ||
        off + (int64_t)n <= (int64_t)id->prefix_len)
        return;
    skip = id->prefix_len - (size_t)off;
    take = n - skip;
    if (take > IDENT_PREFIX - id->prefix_len)
        take = IDENT_PREFIX - id->prefix_len;
    memcpy(id->prefix + id->prefix_len, b + skip, take);
    id->prefix_len += take;
}
