/*
 * delta - counters by key text, for the rollup rows one batch adds (see delta.h)
 *
 * An open-addressing table of row indexes (linear probing, at most half full) over an array
 * of rows whose keys and examples live in one text buffer.
 */
#include <string.h>

#include "db/delta.h"

/* delta_init - an empty set of counters */
void delta_init(struct delta *d)
{
    memset(d, 0, sizeof(*d));
    buf_init(&d->text);
}

/* delta_reset - forget every row; the memory stays for the next batch */
void delta_reset(struct delta *d)
{
    d->n = 0;
    if (d->slots != NULL)
        memset(d->slots, 0, d->nslots * sizeof(*d->slots));
    buf_reset(&d->text);
}

/* delta_free - release the memory */
void delta_free(struct delta *d)
{
    x_free(d->rows);
    x_free(d->slots);
    buf_free(&d->text);
    memset(d, 0, sizeof(*d));
}

/* grow - twice the slots, every row placed again */
static void grow(struct delta *d)
{
    size_t nslots = d->nslots ? d->nslots * 2 : 1024;

    x_free(d->slots);
    d->slots = xcalloc(nslots, sizeof(*d->slots));
    d->nslots = nslots;
    for (size_t i = 0; i < d->n; i++) {
        size_t s = (size_t)d->rows[i].hash & (nslots - 1);

        while (d->slots[s] != 0)
            s = (s + 1) & (nslots - 1);
        d->slots[s] = (uint32_t)(i + 1);
    }
}

/* keep_example - the example of r becomes ex when it has none or ex sorts before it */
static void keep_example(struct delta *d, struct delta_row *r, const char *ex, size_t len)
{
    if (r->ex_len != SIZE_MAX) {
        size_t m = len < r->ex_len ? len : r->ex_len;
        int c = memcmp(ex, d->text.data + r->ex, m);

        if (c > 0 || (c == 0 && len >= r->ex_len))
            return;
    }
    r->ex = d->text.len;
    r->ex_len = len;
    buf_append(&d->text, ex, len);
}

/* delta_add - the counters of key, a new row of zeros when it is new; see delta.h */
int64_t *delta_add(struct delta *d, const char *key, size_t len, const char *example, size_t exlen)
{
    uint64_t h = word_hash(key, len, 0);
    struct delta_row *r;
    size_t s;

    if ((d->n + 1) * 2 > d->nslots)
        grow(d);
    for (s = (size_t)h & (d->nslots - 1); d->slots[s] != 0; s = (s + 1) & (d->nslots - 1)) {
        r = &d->rows[d->slots[s] - 1];
        if (r->hash == h && r->key_len == len && memcmp(d->text.data + r->key, key, len) == 0) {
            if (example != NULL)
                keep_example(d, r, example, exlen);
            return r->c;
        }
    }
    d->rows = xgrow(d->rows, &d->cap, d->n, sizeof(*d->rows), 256);
    r = &d->rows[d->n];
    memset(r, 0, sizeof(*r));
    r->hash = h;
    r->key = d->text.len;
    r->key_len = len;
    r->ex_len = SIZE_MAX;
    buf_append(&d->text, key, len);
    if (example != NULL)
        keep_example(d, r, example, exlen);
    d->slots[s] = (uint32_t)(++d->n);
    return r->c;
}

/* delta_find - the counters of key when it was added, else NULL */
const int64_t *delta_find(const struct delta *d, const char *key, size_t len)
{
    uint64_t h;

    if (d->n == 0)
        return NULL;
    h = word_hash(key, len, 0);
    for (size_t s = (size_t)h & (d->nslots - 1); d->slots[s] != 0; s = (s + 1) & (d->nslots - 1)) {
        const struct delta_row *r = &d->rows[d->slots[s] - 1];

        if (r->hash == h && r->key_len == len && memcmp(d->text.data + r->key, key, len) == 0)
            return r->c;
    }
    return NULL;
}

/* delta_row - row i, its key text and its example (NULL none); lengths in the row */
const struct delta_row *delta_row(const struct delta *d, size_t i, const char **key,
                                  const char **example)
{
    const struct delta_row *r = &d->rows[i];

    *key = d->text.data + r->key;
    *example = r->ex_len == SIZE_MAX ? NULL : d->text.data + r->ex;
    return r;
}
