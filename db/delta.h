/*
 * delta - counters by key text, for the rollup rows one batch adds
 *
 *	void delta_init(struct delta *d);
 *	void delta_reset(struct delta *d);
 *	void delta_free(struct delta *d);
 *	int64_t *delta_add(struct delta *d, const char *key, size_t len, const char *example,
 *	                   size_t exlen);
 *	const int64_t *delta_find(const struct delta *d, const char *key, size_t len);
 *	const struct delta_row *delta_row(const struct delta *d, size_t i, const char **key,
 *	                                  const char **example);
 *
 * A key is the text of a rollup row's key columns, as the caller composes it (COPY text form);
 * equal keys are equal texts. delta_add() returns the DELTA_COUNTERS counters of the key (zero
 * when it is new) and keeps the least example given for it by byte order (NULL none);
 * delta_find() returns the counters of a key already added, else NULL. Rows
 * come back in the order their keys were first added: d->n of them.
 */
#ifndef MAILPULSE_DB_DELTA_H
#define MAILPULSE_DB_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define DELTA_COUNTERS 5

struct delta_row {
    uint64_t hash;
    size_t key, key_len; /* offsets into the text */
    size_t ex, ex_len;   /* ex_len == SIZE_MAX: no example */
    int64_t c[DELTA_COUNTERS];
};

struct delta {
    struct delta_row *rows;
    size_t n, cap;
    uint32_t *slots; /* row index + 1; 0 empty */
    size_t nslots;
    struct buf text; /* keys and examples */
};

void delta_init(struct delta *d);
void delta_reset(struct delta *d);
void delta_free(struct delta *d);
int64_t *delta_add(struct delta *d, const char *key, size_t len, const char *example, size_t exlen);
const int64_t *delta_find(const struct delta *d, const char *key, size_t len);
const struct delta_row *delta_row(const struct delta *d, size_t i, const char **key,
                                  const char **example);

#endif
