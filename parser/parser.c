/*
 * parser - one mail log line in, at most one struct event out
 *
 * parser_line() reads the syslog envelope, then dispatches on the program name so that a
 * format that does not apply costs nothing. The per-MTA readers (postfix.c) share the
 * open-queue table kept here, which lets a delivery event carry the sender and message-id
 * that Postfix logged on earlier lines.
 *
 * The table is allocated once, in parser_create(): an array of entries (touched only as
 * they are first used), a free list, an insertion-order list for evicting the oldest entry
 * when the table is full, and an open-addressing index with linear probing and backward-shift
 * deletion. No line allocates.
 */
#include <string.h>

#include "parser/parser_int.h"

#define DEFAULT_MAX_OPEN_QUEUE 100000

struct parser {
    struct parser_stats stats;
    struct year_infer yi;
    struct pq_entry *entries; /* cap of them */
    uint32_t cap;
    uint32_t used_hw;   /* entries[0..used_hw) have been handed out at least once */
    uint32_t free_head; /* free list through entries[].newer, index + 1 */
    uint32_t live;
    uint32_t oldest, newest; /* insertion order, index + 1 */
    uint32_t *index;         /* entry index + 1, 0 empty */
    uint32_t index_mask;
};

/* parser_create - a parser with its open-queue table sized from opts */
struct parser *parser_create(const struct parser_opts *opts)
{
    struct parser *p = xcalloc(1, sizeof(*p));
    size_t cap = opts && opts->max_open_queue ? opts->max_open_queue : DEFAULT_MAX_OPEN_QUEUE;
    size_t slots = 16;

    if (cap > 0x3fffffff)
        cap = 0x3fffffff;
    while (slots < cap * 2)
        slots *= 2;
    p->cap = (uint32_t)cap;
    p->entries = xcalloc(cap, sizeof(*p->entries));
    p->index = xcalloc(slots, sizeof(*p->index));
    p->index_mask = (uint32_t)(slots - 1);
    year_infer_init(&p->yi, opts ? opts->year : 0, opts ? opts->now_us : 0);
    return p;
}

/* parser_free - release the parser and its table; NULL is a no-op */
void parser_free(struct parser *p)
{
    if (p == NULL)
        return;
    x_free(p->entries);
    x_free(p->index);
    x_free(p);
}

/* parser_stats - the counters so far */
const struct parser_stats *parser_stats(const struct parser *p)
{
    return &p->stats;
}

/* key_hash - the table hash of (host, queue id) */
static uint64_t key_hash(const char *host, size_t host_len, const char *qid, size_t qid_len)
{
    uint64_t h = hash_fnv1a64(qid, qid_len);

    return h ^ (hash_fnv1a64(host, host_len) * 0x9e3779b97f4a7c15ULL);
}

/* key_equal - does the entry hold this (host, queue id)? Both as stored (cut to size). */
static bool key_equal(const struct pq_entry *e, const char *host, size_t host_len, const char *qid,
                      size_t qid_len)
{
    if (host_len >= sizeof(e->host))
        host_len = sizeof(e->host) - 1;
    if (qid_len >= sizeof(e->queue_id))
        qid_len = sizeof(e->queue_id) - 1;
    return memcmp(e->host, host, host_len) == 0 && e->host[host_len] == 0 &&
           memcmp(e->queue_id, qid, qid_len) == 0 && e->queue_id[qid_len] == 0;
}

/* find_slot - the index slot holding the key, or the empty slot where it would go */
static uint32_t find_slot(const struct parser *p, uint64_t h, const char *host, size_t host_len,
                          const char *qid, size_t qid_len)
{
    uint32_t i = (uint32_t)h & p->index_mask;

    for (;;) {
        uint32_t v = p->index[i];

        if (v == 0)
            return i;
        if (p->entries[v - 1].hash == h &&
            key_equal(&p->entries[v - 1], host, host_len, qid, qid_len))
            return i;
        i = (i + 1) & p->index_mask;
    }
}

/* index_delete - empty slot i, shifting later entries of its probe run back */
static void index_delete(struct parser *p, uint32_t i)
{
    uint32_t j = i;

    p->index[i] = 0;
    for (;;) {
        uint32_t home, v;

        j = (j + 1) & p->index_mask;
        v = p->index[j];
        if (v == 0)
            return;
        home = (uint32_t)p->entries[v - 1].hash & p->index_mask;
        /* Move v back to i unless its home lies cyclically in (i, j]. */
        if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
            p->index[i] = v;
            p->index[j] = 0;
            i = j;
        }
    }
}

/* entry_unlink - take entry n (index + 1) out of the insertion-order list and the index */
static void entry_drop(struct parser *p, uint32_t n)
{
    struct pq_entry *e = &p->entries[n - 1];
    uint32_t slot =
        find_slot(p, e->hash, e->host, strlen(e->host), e->queue_id, strlen(e->queue_id));

    if (p->index[slot] == n)
        index_delete(p, slot);
    if (e->older)
        p->entries[e->older - 1].newer = e->newer;
    else
        p->oldest = e->newer;
    if (e->newer)
        p->entries[e->newer - 1].older = e->older;
    else
        p->newest = e->older;
    e->live = false;
    e->older = 0;
    e->newer = p->free_head;
    p->free_head = n;
    p->live--;
}

/* parser_queue_get - the entry of (host, queue id); made (evicting the oldest) when create */
struct pq_entry *parser_queue_get(struct parser *p, const char *host, size_t host_len,
                                  const char *qid, size_t qid_len, bool create)
{
    uint64_t h = key_hash(host, host_len, qid, qid_len);
    uint32_t slot = find_slot(p, h, host, host_len, qid, qid_len);
    struct pq_entry *e;
    uint32_t n;

    if (p->index[slot])
        return &p->entries[p->index[slot] - 1];
    if (!create)
        return NULL;
    if (p->live == p->cap) {
        entry_drop(p, p->oldest);
        p->stats.queue_evicted++;
        slot = find_slot(p, h, host, host_len, qid, qid_len);
    }
    if (p->free_head) {
        n = p->free_head;
        p->free_head = p->entries[n - 1].newer;
    } else {
        n = ++p->used_hw;
    }
    e = &p->entries[n - 1];
    e->hash = h;
    e->live = true;
    e->message_done = false;
    str_copy(e->host, sizeof(e->host), host, host_len);
    str_copy(e->queue_id, sizeof(e->queue_id), qid, qid_len);
    e->sender[0] = 0;
    e->has_sender = false;
    e->message_id[0] = 0;
    e->client[0] = 0;
    e->sasl_username[0] = 0;
    e->size = -1;
    e->nrcpt = -1;
    e->newer = 0;
    e->older = p->newest;
    if (p->newest)
        p->entries[p->newest - 1].newer = n;
    else
        p->oldest = n;
    p->newest = n;
    p->index[slot] = n;
    p->live++;
    return e;
}

/* parser_queue_remove - forget (host, queue id), if it is known */
void parser_queue_remove(struct parser *p, const char *host, size_t host_len, const char *qid,
                         size_t qid_len)
{
    uint64_t h = key_hash(host, host_len, qid, qid_len);
    uint32_t slot = find_slot(p, h, host, host_len, qid, qid_len);

    if (p->index[slot])
        entry_drop(p, p->index[slot]);
}

/* is_postfix - does the program name look like postfix/..., postfix-out/..., ...? */
static bool is_postfix(const char *prog, size_t len)
{
    return len > 8 && memcmp(prog, "postfix", 7) == 0 && memchr(prog, '/', len) != NULL;
}

/* parser_line - read one line; see parser.h for the three results */
enum parse_result parser_line(struct parser *p, const char *line, size_t len, struct event *ev)
{
    struct syslog_env env;
    enum parse_result r;

    p->stats.lines++;
    event_clear(ev);
    if (len == 0 || syslog_envelope(line, len, &env, &p->yi) != 0) {
        p->stats.skipped++;
        return PARSE_SKIP;
    }
    if (is_postfix(env.prog, env.prog_len))
        r = pfx_parse_line(p, &env, ev);
    else
        r = PARSE_SKIP;
    switch (r) {
    case PARSE_EVENT:
        p->stats.events++;
        if (ev->flags & EVF_TRUNCATED)
            p->stats.truncated++;
        break;
    case PARSE_SKIP:
        p->stats.skipped++;
        break;
    case PARSE_MALFORMED:
        p->stats.malformed++;
        break;
    }
    return r;
}
