/*
 * ident - name a log file by its first line, which does not change as the file grows
 */
#include <stdio.h>

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
