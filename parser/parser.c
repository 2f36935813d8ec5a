/*
 * parser - one mail log line in, at most one struct event out
 *
 * parser_line() reads the syslog envelope, then dispatches on the program name so that a
 * format that does not apply costs nothing. The per-MTA readers (postfix.c, exim.c,
 * sendmail.c) share the open-queue table kept here, which lets a delivery event carry the
 * sender and message-id that the MTA logged on earlier lines, and the scanning helpers of
 * scan.h.
 *
 * The table is allocated once, in parser_create(): an array of entries (touched only as
 * they are first used), a free list, an insertion-order list for evicting the oldest entry
 * when the table is full, and an open-addressing index with linear probing and backward-shift
 * deletion. No line allocates.
 */
#include <stdio.h>
#include <string.h>

#include "parser/parser_int.h"
#include "parser/scan.h"

#define DEFAULT_MAX_OPEN_QUEUE 100000
#define DEFAULT_MAX_QUEUE_AGE  ((int64_t)7 * 86400) /* Postfix keeps a message 5 days */
#define MSGID_CACHE            4096
#define REASON_CACHE           256
#define PENDING_MAX            256   /* events one line may add after the first */
#define DEFER_MAX              2048  /* recipients remembered with their last deferral */
#define DEFER_SLOTS            4096  /* their open-addressing table, at most half full */
#define DEFER_QCOUNT           16384 /* deferrals per (host, queue id) hash bucket */
#define GONE_MAX               1024  /* queue ids removed lately, remembered by hash */
#define HOLD_MAX               512   /* possible content-filter hops held at once */
#define HOLD_LOG_US            ((int64_t)300 * 1000000) /* and for how much log time */
#define RELEASE_MAX            64 /* held hops released with one line, at most */

/* A delivery held until its queue id's re-injection shows (a hop) or does not (a delivery). */
struct held {
    struct event ev;
    uint64_t await; /* key_hash() of (host, awaited queue id) | 1; 0: claimed */
    int64_t pos;    /* 1 + the position of its line, or 0 */
};

/* The last temporary failure of one recipient still queued: what an expiry reports. */
struct deferral {
    char recipient[EV_ADDR_LEN];
    char relay[EV_RELAY_LEN];
    char dsn[EV_DSN_LEN];
    char reply[EV_REPLY_LEN];
    char reason[EV_REASON_LEN];
    int smtp_code;
};

struct parser {
    struct parser_stats stats;
    struct year_infer yi;
    struct pq_entry *entries; /* cap of them */
    uint32_t cap;
    uint32_t used_hw;   /* entries[0..used_hw) have been handed out at least once */
    uint32_t free_head; /* free list through entries[].newer, index + 1 */
    uint32_t live;
    uint32_t oldest, newest; /* insertion order, index + 1 */
    uint32_t recent;         /* the entry found or made last, index + 1 (0 none); see
                              * recent_entry() */
    /* entry index + 1 (0 empty) and the high half of its hash, side by side: a probe,
     * which mostly ends at the tag, touches one cache line where two arrays took two */
    struct pq_slot {
        uint32_t entry;
        uint32_t tag;
    } * index;
    uint32_t index_mask;
    enum event_mta mta; /* opts->mta: MTA_UNKNOWN reads every MTA */
    int64_t max_age_us;
    int64_t line_us; /* log time of the line being read */
    /* per program name; progs[PARSER_PROG_MAX] is "(other)" */
    struct parser_prog_stats progs[PARSER_PROG_MAX + 1];
    size_t nprogs;
    size_t last_prog;
    struct parser_prog_stats *exim_ps; /* the counters of "exim", once a mainlog line named it */
    uint32_t msgid_cache[MSGID_CACHE]; /* entry index + 1 by message-id hash */
    uint64_t msgid_cache_hash[MSGID_CACHE]; /* that entry's message-id hash, checked first */
    struct {
        uint64_t key; /* of code, dsn, status and reply; 0 empty */
        struct reason_result rr;
    } reason_cache[REASON_CACHE];
    /* events of the last line after its first, handed out by parser_next() */
    struct event *pending;
    uint32_t npending, ipending;
    struct parser_prog_stats *line_ps; /* the program of the last line read */
    /* deferred recipients: per slot the (host, queue id) hash (0 free), the recipient hash
     * and the index of its record in defer[]; defer_free[0..defer_nfree) the unused records */
    uint64_t *defer_qkey, *defer_rkey;
    uint32_t *defer_rec, *defer_free;
    struct deferral *defer;
    uint32_t defer_live, defer_hand, defer_nfree;
    /* how many deferrals each bucket of (host, queue id) hashes holds: a delivery of a
     * message with none is passed over without hashing its recipient */
    uint16_t *defer_qcount;
    /* the (host, queue id) hashes of the last GONE_MAX removed entries, a ring */
    uint64_t gone[GONE_MAX];
    uint32_t gone_next;
    char *clean; /* a copy of a line that held NUL bytes, with them replaced */
    size_t clean_cap;
    /* held hops, a ring in log order (oldest at held_head), claimed ones left as gaps */
    struct held *held;
    uint32_t held_head, held_n, held_live;
    int64_t line_pos; /* 1 + the position of the line being read (parser_set_pos()), or 0 */
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
    p->mta = opts ? opts->mta : MTA_UNKNOWN;
    p->max_age_us =
        (opts && opts->max_queue_age_s > 0 ? opts->max_queue_age_s : DEFAULT_MAX_QUEUE_AGE) *
        1000000LL;
    str_copy(p->progs[PARSER_PROG_MAX].prog, sizeof(p->progs[0].prog), "(other)", 7);
    return p;
}

/* parser_free - release the parser and its table; NULL is a no-op */
void parser_free(struct parser *p)
{
    if (p == NULL)
        return;
    x_free(p->entries);
    x_free(p->index);
    x_free(p->pending);
    x_free(p->defer_qkey);
    x_free(p->defer_rkey);
    x_free(p->defer);
    x_free(p->defer_rec);
    x_free(p->defer_qcount);
    x_free(p->defer_free);
    x_free(p->clean);
    x_free(p->held);
    x_free(p);
}

/* parser_stats - the counters so far */
const struct parser_stats *parser_stats(const struct parser *p)
{
    return &p->stats;
}

/* parser_prog_stats - the per-program counters, in first-seen order, "(other)" last if used */
size_t parser_prog_stats(const struct parser *p, const struct parser_prog_stats **out)
{
    *out = p->progs;
    if (p->nprogs == PARSER_PROG_MAX && p->progs[PARSER_PROG_MAX].lines)
        return PARSER_PROG_MAX + 1;
    return p->nprogs;
}

/* prog_slot - the counters of a program name (the last one used is tried first) */
static struct parser_prog_stats *prog_slot(struct parser *p, const char *prog, size_t len)
{
    struct parser_prog_stats *ps = &p->progs[p->last_prog];
    size_t i;

    if (len >= sizeof(ps->prog))
        len = sizeof(ps->prog) - 1;
    /* the last byte first: "postfix/smtp" and "postfix/qmgr" differ only at the end */
    if (p->nprogs && ps->prog[len] == 0 && (len == 0 || ps->prog[len - 1] == prog[len - 1]) &&
        memcmp(ps->prog, prog, len) == 0)
        return ps;
    for (i = 0; i < p->nprogs; i++) {
        ps = &p->progs[i];
        if (ps->prog[len] == 0 && (len == 0 || ps->prog[len - 1] == prog[len - 1]) &&
            memcmp(ps->prog, prog, len) == 0) {
            p->last_prog = i;
            return ps;
        }
    }
    if (p->nprogs == PARSER_PROG_MAX)
        return &p->progs[PARSER_PROG_MAX];
    ps = &p->progs[p->nprogs];
    str_copy(ps->prog, sizeof(ps->prog), prog, len);
    p->last_prog = p->nprogs++;
    return ps;
}

/* key_hash - the table hash of (host, queue id) */
static uint64_t key_hash(const char *host, size_t host_len, const char *qid, size_t qid_len)
{
    /* Of the key as an entry stores it, cut to size: a saved state rebuilds its entries from
     * the stored strings, and must find them under the same hash. */
    if (host_len >= EV_HOST_LEN)
        host_len = EV_HOST_LEN - 1;
    if (qid_len >= EV_QID_LEN)
        qid_len = EV_QID_LEN - 1;
    /* no host (an Exim mainlog): word_hash() of nothing, folded by the compiler */
    return word_hash(qid, qid_len,
                     host_len ? word_hash(host, host_len, 0x9e3779b97f4a7c15ULL)
                              : word_hash_finish(0x9e3779b97f4a7c15ULL));
}

/* key_equal - does the entry hold this (host, queue id)? Both as stored (cut to size). Inline:
 * a few compares, which a call about doubled. */
static inline __attribute__((always_inline)) bool key_equal(const struct pq_entry *e,
                                                            const char *host, size_t host_len,
                                                            const char *qid, size_t qid_len)
{
    if (host_len >= sizeof(e->host))
        host_len = sizeof(e->host) - 1;
    if (qid_len >= sizeof(e->queue_id))
        qid_len = sizeof(e->queue_id) - 1;
    return e->host[host_len] == 0 && e->queue_id[qid_len] == 0 &&
           bytes_equal(e->queue_id, qid, qid_len) && bytes_equal(e->host, host, host_len);
}

/* find_slot - the index slot holding the key, or the empty slot where it would go */
static uint32_t find_slot(const struct parser *p, uint64_t h, const char *host, size_t host_len,
                          const char *qid, size_t qid_len)
{
    uint32_t i = (uint32_t)h & p->index_mask;

    for (;;) {
        uint32_t v = p->index[i].entry;

        if (v == 0)
            return i;
        if (p->index[i].tag == (uint32_t)(h >> 32) && p->entries[v - 1].hash == h &&
            key_equal(&p->entries[v - 1], host, host_len, qid, qid_len))
            return i;
        i = (i + 1) & p->index_mask;
    }
}

/* index_delete - empty slot i, shifting later entries of its probe run back */
static void index_delete(struct parser *p, uint32_t i)
{
    uint32_t j = i;

    p->index[i].entry = 0;
    for (;;) {
        uint32_t home, v;

        j = (j + 1) & p->index_mask;
        v = p->index[j].entry;
        if (v == 0)
            return;
        home = (uint32_t)p->entries[v - 1].hash & p->index_mask;
        /* Move v back to i unless its home lies cyclically in (i, j]. */
        if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
            p->index[i] = p->index[j];
            p->index[j].entry = 0;
            i = j;
        }
    }
}

/* entry_drop_at - take entry n (index + 1), found at index slot, out of the insertion-order
 * list and the index */
static void entry_drop_at(struct parser *p, uint32_t n, uint32_t slot)
{
    struct pq_entry *e = &p->entries[n - 1];

    if (p->index[slot].entry == n)
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

/* entry_drop - take entry n (index + 1) out of the insertion-order list and the index */
static void entry_drop(struct parser *p, uint32_t n)
{
    const struct pq_entry *e = &p->entries[n - 1];

    entry_drop_at(
        p, n, find_slot(p, e->hash, e->host, strlen(e->host), e->queue_id, strlen(e->queue_id)));
}

/*
 * recent_entry - the entry found or made last when it is live and holds (host, queue id):
 * a message's lines mostly follow one another (its arrival, deliveries and "Completed"), and
 * comparing the key with one entry costs a third of hashing it and probing the index. Keys
 * are unique in the table, so that entry is the one the index holds for it.
 */
static inline uint32_t recent_entry(const struct parser *p, const char *host, size_t host_len,
                                    const char *qid, size_t qid_len)
{
    const struct pq_entry *e;

    if (p->recent == 0)
        return 0;
    e = &p->entries[p->recent - 1];
    return e->live && key_equal(e, host, host_len, qid, qid_len) ? p->recent : 0;
}

/* parser_queue_get - the entry of (host, queue id); made (evicting the oldest) when create */
struct pq_entry *parser_queue_get(struct parser *p, const char *host, size_t host_len,
                                  const char *qid, size_t qid_len, bool create)
{
    uint64_t h;
    uint32_t slot, n = recent_entry(p, host, host_len, qid, qid_len);
    struct pq_entry *e;
    bool dropped = false;

    if (n)
        return &p->entries[n - 1];
    h = key_hash(host, host_len, qid, qid_len);
    slot = find_slot(p, h, host, host_len, qid, qid_len);
    if (p->index[slot].entry) {
        p->recent = p->index[slot].entry;
        return &p->entries[p->recent - 1];
    }
    if (!create)
        return NULL;
    /* Entries that outlived any queue lifetime leave first: their "removed" line was lost
     * (a log cut, a crash), and they would otherwise stay until the table is full. */
    while (p->oldest && p->line_us &&
           p->entries[p->oldest - 1].created_us < p->line_us - p->max_age_us) {
        entry_drop(p, p->oldest);
        p->stats.queue_aged++;
        dropped = true;
    }
    if (p->live == p->cap) {
        entry_drop(p, p->oldest);
        p->stats.queue_evicted++;
        dropped = true;
    }
    if (dropped) /* a drop moves slots: look again */
        slot = find_slot(p, h, host, host_len, qid, qid_len);
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
    e->created_us = p->line_us;
    e->msgid_hash = 0;
    e->msgid_seen = false;
    e->refused = false;
    e->smtp_refusal_code = -1;
    e->refusal_dsn[0] = 0;
    e->newer = 0;
    e->older = p->newest;
    if (p->newest)
        p->entries[p->newest - 1].newer = n;
    else
        p->oldest = n;
    p->newest = n;
    p->index[slot].entry = n;
    p->index[slot].tag = (uint32_t)(h >> 32);
    p->live++;
    p->recent = n;
    return e;
}

/*
 * parser_queue_note_msgid - remember that e (whose message_id is set) carries its message-id,
 * and say whether another live entry of the same host carried the same one just before. A
 * content filter (amavis, a re-injecting milter) hands the message back within seconds under
 * a new queue id; a small direct-mapped cache of recent message-ids finds the original in
 * constant time.
 */
bool parser_queue_note_msgid(struct parser *p, struct pq_entry *e)
{
    size_t k = e->msgid_hash & (MSGID_CACHE - 1);
    uint32_t *slot = &p->msgid_cache[k];
    uint32_t self = (uint32_t)(e - p->entries) + 1;
    bool seen = false;

    if (e->msgid_hash == 0)
        return false;
    if (*slot && *slot != self && p->msgid_cache_hash[k] == e->msgid_hash) {
        const struct pq_entry *o = &p->entries[*slot - 1];

        seen = o->live && o->msgid_hash == e->msgid_hash &&
               strcmp(o->message_id, e->message_id) == 0 && strcmp(o->host, e->host) == 0;
    }
    *slot = self;
    p->msgid_cache_hash[k] = e->msgid_hash;
    return seen;
}

/*
 * parser_classify - reason_classify() with a small cache of recent outcomes: logs repeat the
 * same failure text many times ("450 4.7.1 too much mail from ..."), and the classification
 * reads the whole text against every rule.
 */
void parser_classify(struct parser *p, int smtp_code, const char *dsn, size_t dsn_len,
                     const char *text, size_t text_len, enum event_status status,
                     struct reason_result *out)
{
    uint64_t key =
        word_hash(text, text_len,
                  word_hash(dsn, dsn_len, (uint64_t)(smtp_code + 1) * 31 + (uint64_t)status)) |
        1;
    size_t k = key & (REASON_CACHE - 1);

    if (p->reason_cache[k].key == key) {
        *out = p->reason_cache[k].rr;
        return;
    }
    reason_classify(smtp_code, dsn, text, status, out);
    p->reason_cache[k].key = key;
    p->reason_cache[k].rr = *out;
}

/* parser_queue_take_submitter - a re-injected message (to) was submitted by the client and
 * SASL user of the message the filter took, not by the filter on loopback: its deliveries
 * name those */
void parser_queue_take_submitter(struct pq_entry *to, const char *client, const char *sasl_username)
{
    if (!scan_is_loopback(to->client))
        return;
    str_copy(to->client, sizeof(to->client), client, strlen(client));
    str_copy(to->sasl_username, sizeof(to->sasl_username), sasl_username, strlen(sasl_username));
}

/* parser_queue_arrival - the message event ev of (host, qid): its entry takes what ev says.
 * True when it is a content filter's copy of a message counted already (see parser_int.h). */
bool parser_queue_arrival(struct parser *p, const char *host, size_t host_len, const char *qid,
                          size_t qid_len, const struct event *ev)
{
    struct pq_entry *e = parser_queue_get(p, host, host_len, qid, qid_len, true);

    COPY_FIELD(e->sender, ev->sender);
    e->has_sender = true;
    COPY_FIELD(e->message_id, ev->message_id);
    COPY_FIELD(e->client, ev->client);
    COPY_FIELD(e->sasl_username, ev->sasl_username);
    e->size = ev->size;
    e->nrcpt = ev->nrcpt;
    e->message_done = true;
    e->msgid_hash = e->message_id[0] ? hash_fnv1a64(e->message_id, strlen(e->message_id)) | 1 : 0;
    e->msgid_seen = parser_queue_note_msgid(p, e);
    return parser_hold_claim(p, e) || (e->msgid_seen && scan_is_loopback(e->client));
}

/* parser_queue_remove - forget (host, queue id), if it is known */
void parser_queue_remove(struct parser *p, const char *host, size_t host_len, const char *qid,
                         size_t qid_len)
{
    uint32_t n = recent_entry(p, host, host_len, qid, qid_len), slot;
    uint64_t h;

    if (n) {
        /* its slot: the one of its probe run that holds it, found without a key compare */
        h = p->entries[n - 1].hash;
        for (slot = (uint32_t)h & p->index_mask; p->index[slot].entry != n;)
            slot = (slot + 1) & p->index_mask;
    } else {
        h = key_hash(host, host_len, qid, qid_len);
        slot = find_slot(p, h, host, host_len, qid, qid_len);
    }
    if (p->index[slot].entry) {
        entry_drop_at(p, p->index[slot].entry, slot);
        p->gone[p->gone_next] = h | 1;
        p->gone_next = (p->gone_next + 1) % GONE_MAX;
    }
}

/* parser_queue_seen - is (host, queue id) open, or among the last ones removed? */
bool parser_queue_seen(struct parser *p, const char *host, size_t host_len, const char *qid,
                       size_t qid_len)
{
    uint64_t h = key_hash(host, host_len, qid, qid_len) | 1;
    uint32_t i;

    if (parser_queue_get(p, host, host_len, qid, qid_len, false) != NULL)
        return true;
    for (i = 0; i < GONE_MAX; i++)
        if (p->gone[i] == h)
            return true;
    return false;
}

/* held_at - the k-th oldest slot of the ring of held hops */
static struct held *held_at(struct parser *p, uint32_t k)
{
    return &p->held[(p->held_head + k) % HOLD_MAX];
}

/* held_pop - take the oldest slot off the ring; a hop still held goes out through the
 * line's further events as the delivery it is. False, and nothing taken, when they are full. */
static bool held_pop(struct parser *p)
{
    struct held *h = held_at(p, 0);

    if (h->await) {
        struct event *ev;

        if (p->pending != NULL && p->npending == PENDING_MAX)
            return false;
        ev = parser_push(p);
        *ev = h->ev;
        ev->held_pos = h->pos;
        h->await = 0;
        p->held_live--;
        p->stats.held_released++;
    }
    p->held_head = (p->held_head + 1) % HOLD_MAX;
    p->held_n--;
    return true;
}

/* held_expire - release the hops held longer than HOLD_LOG_US of log time (a few a line) */
static void held_expire(struct parser *p)
{
    for (int k = 0; p->held_n > 0 && k < RELEASE_MAX;) {
        const struct held *h = held_at(p, 0);

        if (h->await && p->line_us - h->ev.time_us <= HOLD_LOG_US)
            break;
        k += h->await != 0;
        if (!held_pop(p))
            break;
    }
}

/* held_put - a hop at the newest end of the ring, which has room */
static void held_put(struct parser *p, const struct event *ev, uint64_t await, int64_t pos)
{
    struct held *h;

    if (p->held == NULL)
        p->held = xcalloc(HOLD_MAX, sizeof(*p->held));
    h = held_at(p, p->held_n++);
    h->ev = *ev;
    h->ev.held_pos = 0;
    h->await = await;
    h->pos = pos;
    p->held_live++;
}

/* parser_hold - hold ev until (host, qid) shows up; see parser_int.h */
void parser_hold(struct parser *p, const struct event *ev, const char *host, size_t host_len,
                 const char *qid, size_t qid_len)
{
    /* Full: the oldest goes out first. The line holding a hop has no events of its own yet,
     * so there is room for it. */
    if (p->held_n == HOLD_MAX && !held_pop(p)) {
        struct event *out = parser_push(p);

        if (out != NULL)
            *out = *ev;
        return;
    }
    held_put(p, ev, key_hash(host, host_len, qid, qid_len) | 1, p->line_pos);
    p->stats.held++;
}

/* parser_hold_claim - are hops held for e's queue id? Then they are hops: taken, and e takes
 * the submitter of the message they carried */
bool parser_hold_claim(struct parser *p, struct pq_entry *e)
{
    const struct held *first = NULL;
    uint64_t k;

    if (p->held_live == 0)
        return false;
    k = key_hash(e->host, strlen(e->host), e->queue_id, strlen(e->queue_id)) | 1;
    /* every recipient's hop of that message */
    for (uint32_t i = 0; i < p->held_n; i++) {
        struct held *h = held_at(p, i);

        if (h->await != k)
            continue;
        if (first == NULL) {
            first = h;
            parser_queue_take_submitter(e, h->ev.client, h->ev.sasl_username);
        }
        h->await = 0;
        p->held_live--;
        p->stats.reinjected++;
    }
    while (p->held_n > 0 && held_at(p, 0)->await == 0)
        (void)held_pop(p);
    return first != NULL;
}

/*
 * parser_hop - ev, a sent delivery of qid to loopback, handed the message back to this host
 * as id: folded now (counted, id's deliveries naming qid's submitter) when id was logged here
 * already or known says so, else held until it is. True when held.
 */
bool parser_hop(struct parser *p, const struct event *ev, const char *qid, size_t qid_len,
                const char *id, size_t id_len, bool known)
{
    size_t hl = strlen(ev->host);
    const struct pq_entry *from;
    struct pq_entry *to;

    if (!known && !parser_queue_seen(p, ev->host, hl, id, id_len)) {
        parser_hold(p, ev, ev->host, hl, id, id_len);
        return true;
    }
    p->stats.reinjected++;
    from = parser_queue_get(p, ev->host, hl, qid, qid_len, false);
    to = id_len ? parser_queue_get(p, ev->host, hl, id, id_len, false) : NULL;
    /* once id's message event is out (until then its loopback client marks it a copy) */
    if (from != NULL && to != NULL && to != from && to->message_done)
        parser_queue_take_submitter(to, from->client, from->sasl_username);
    return false;
}

/* parser_set_pos - the position of the next line, for the events held with it */
void parser_set_pos(struct parser *p, int64_t pos)
{
    p->line_pos = pos + 1;
}

/* parser_held - hops held now */
size_t parser_held(const struct parser *p)
{
    return p->held_live;
}

/* parser_release - hand the held hops out as deliveries through parser_next(), as many as
 * fit; returns how many (call again until 0) */
size_t parser_release(struct parser *p)
{
    uint64_t before = p->stats.held_released;

    if (p->ipending >= p->npending)
        p->npending = p->ipending = 0;
    p->line_ps = NULL;
    while (p->held_n > 0 && held_pop(p))
        ;
    return (size_t)(p->stats.held_released - before);
}

/* is_postfix - does the program name look like postfix/..., postfix-out/..., ...? */
static bool is_postfix(const char *prog, size_t len)
{
    return len > 8 && memcmp(prog, "postfix", 7) == 0 && memchr(prog, '/', len) != NULL;
}

/*
 * mta_of - which reader a program name belongs to: postfix/..., exim or exim4, sendmail or
 * sm-* (sm-mta, sm-msp-queue, and the sm-acceptingconnections process title)
 */
static enum event_mta mta_of(const char *prog, size_t len)
{
    if (is_postfix(prog, len))
        return MTA_POSTFIX;
    if ((len == 4 && memcmp(prog, "exim", 4) == 0) || (len == 5 && memcmp(prog, "exim4", 5) == 0))
        return MTA_EXIM;
    if ((len == 8 && memcmp(prog, "sendmail", 8) == 0) || (len > 3 && memcmp(prog, "sm-", 3) == 0))
        return MTA_SENDMAIL;
    return MTA_UNKNOWN;
}

/* sample - keep a not-understood line as one of the first few of its program */
static void sample(struct parser_prog_stats *ps, const char *line, size_t len)
{
    char *out;
    size_t i;

    if (ps->nsamples >= PARSER_PROG_SAMPLES)
        return;
    out = ps->samples[ps->nsamples++];
    str_copy(out, sizeof(ps->samples[0]), line, len);
    for (i = 0; out[i]; i++)
        if ((unsigned char)out[i] < 0x20)
            out[i] = '?';
    utf8_scrub(out);
}

/* defer_qkey_of - the slot key of an event's (host, queue id); 0 is made 1 */
static uint64_t defer_qkey_of(const struct event *ev)
{
    return key_hash(ev->host, FIELD_LEN(ev->host), ev->queue_id, FIELD_LEN(ev->queue_id)) | 1;
}

/* defer_rkey_of - the slot key of an event's recipient; 0 is made 1 */
static uint64_t defer_rkey_of(const struct event *ev)
{
    return word_hash(ev->recipient, FIELD_LEN(ev->recipient), 0x9e3779b97f4a7c15ULL) | 1;
}

/* defer_keys - the slot keys of an event's (host, queue id) and recipient */
static void defer_keys(const struct event *ev, uint64_t *qk, uint64_t *rk)
{
    *qk = defer_qkey_of(ev);
    *rk = defer_rkey_of(ev);
}

/* defer_home - the first slot tried for (qk, rk) */
static uint32_t defer_home(uint64_t qk, uint64_t rk)
{
    return (uint32_t)((qk ^ (rk * 0x9e3779b97f4a7c15ULL)) >> 40) & (DEFER_SLOTS - 1);
}

/* defer_find - the slot of (qk, rk), or the free slot where it would go (*found false) */
static uint32_t defer_find(const struct parser *p, uint64_t qk, uint64_t rk, bool *found)
{
    uint32_t i = defer_home(qk, rk);

    while (p->defer_qkey[i] != 0) {
        if (p->defer_qkey[i] == qk && p->defer_rkey[i] == rk) {
            *found = true;
            return i;
        }
        i = (i + 1) & (DEFER_SLOTS - 1);
    }
    *found = false;
    return i;
}

/* defer_delete - empty slot i, moving later entries of its probe run back (no tombstones) */
static void defer_delete(struct parser *p, uint32_t i)
{
    uint32_t j = i, k;

    p->defer_free[p->defer_nfree++] = p->defer_rec[i];
    p->defer_qcount[p->defer_qkey[i] & (DEFER_QCOUNT - 1)]--;
    for (;;) {
        j = (j + 1) & (DEFER_SLOTS - 1);
        if (p->defer_qkey[j] == 0)
            break;
        k = defer_home(p->defer_qkey[j], p->defer_rkey[j]);
        /* the entry at j may move to i unless its home lies cyclically in (i, j] */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        p->defer_qkey[i] = p->defer_qkey[j];
        p->defer_rkey[i] = p->defer_rkey[j];
        p->defer_rec[i] = p->defer_rec[j];
        i = j;
    }
    p->defer_qkey[i] = p->defer_rkey[i] = 0;
    p->defer_live--;
}

/* defer_alloc - the deferral tables, made at their first use */
static void defer_alloc(struct parser *p)
{
    if (p->defer != NULL)
        return;
    p->defer_qkey = xcalloc(DEFER_SLOTS, sizeof(*p->defer_qkey));
    p->defer_rkey = xcalloc(DEFER_SLOTS, sizeof(*p->defer_rkey));
    p->defer_rec = xcalloc(DEFER_SLOTS, sizeof(*p->defer_rec));
    p->defer_free = xcalloc(DEFER_MAX, sizeof(*p->defer_free));
    p->defer_qcount = xcalloc(DEFER_QCOUNT, sizeof(*p->defer_qcount));
    p->defer = xcalloc(DEFER_MAX, sizeof(*p->defer));
    for (uint32_t i = 0; i < DEFER_MAX; i++)
        p->defer_free[i] = DEFER_MAX - 1 - i;
    p->defer_nfree = DEFER_MAX;
}

/*
 * defer_track - remember a deferred recipient's last failure; forget it once it has a
 * final outcome. Full, the entry under a clock hand makes room.
 */
static void defer_track(struct parser *p, const struct event *ev)
{
    uint64_t qk, rk;
    uint32_t i;
    struct deferral *d;
    bool found;

    if (ev->type != EV_DELIVERY || ev->recipient[0] == 0 || ev->queue_id[0] == 0)
        return;
    if (ev->status != ST_DEFERRED && p->defer_live == 0)
        return;
    defer_alloc(p);
    qk = defer_qkey_of(ev);
    if (ev->status != ST_DEFERRED && p->defer_qcount[qk & (DEFER_QCOUNT - 1)] == 0)
        return;
    rk = defer_rkey_of(ev);
    i = defer_find(p, qk, rk, &found);
    if (ev->status != ST_DEFERRED) {
        if (found)
            defer_delete(p, i);
        return;
    }
    if (!found) {
        if (p->defer_live == DEFER_MAX) {
            while (p->defer_qkey[p->defer_hand] == 0)
                p->defer_hand = (p->defer_hand + 1) & (DEFER_SLOTS - 1);
            defer_delete(p, p->defer_hand);
            i = defer_find(p, qk, rk, &found);
        }
        p->defer_qkey[i] = qk;
        p->defer_rkey[i] = rk;
        p->defer_rec[i] = p->defer_free[--p->defer_nfree];
        p->defer_qcount[qk & (DEFER_QCOUNT - 1)]++;
        p->defer_live++;
    }
    d = &p->defer[p->defer_rec[i]];
    /* A bare "Deferred" after the server's own words keeps those: they say why. */
    if (found && ev->smtp_code < 0 && d->smtp_code >= 0)
        return;
    COPY_FIELD(d->recipient, ev->recipient);
    COPY_FIELD(d->relay, ev->relay);
    COPY_FIELD(d->dsn, ev->dsn);
    COPY_FIELD(d->reply, ev->reply);
    COPY_FIELD(d->reason, ev->reason);
    d->smtp_code = ev->smtp_code;
}

/* defer_apply - an expiry takes the recipient's last temporary failure (see parser_int.h) */
static void defer_apply(const struct deferral *d, struct event *ev)
{
    COPY_FIELD(ev->recipient, d->recipient);
    if (ev->relay[0] == 0)
        COPY_FIELD(ev->relay, d->relay);
    COPY_FIELD(ev->dsn, d->dsn);
    COPY_FIELD(ev->reply, d->reply);
    COPY_FIELD(ev->reason, d->reason);
    ev->smtp_code = d->smtp_code;
    ev->hard = false;
}

/* parser_defer_last - fill an expiry of one recipient with its last deferral; see parser_int.h */
bool parser_defer_last(struct parser *p, struct event *ev)
{
    uint64_t qk, rk;
    uint32_t i;
    bool found;

    if (p->defer_live == 0)
        return false;
    defer_keys(ev, &qk, &rk);
    i = defer_find(p, qk, rk, &found);
    if (!found)
        return false;
    defer_apply(&p->defer[p->defer_rec[i]], ev);
    return true;
}

/* parser_defer_expire - one expiry per deferred recipient of the message; see parser_int.h */
size_t parser_defer_expire(struct parser *p, struct event *ev)
{
    struct event tmpl;
    uint64_t qk, rk;
    size_t n = 0;
    uint32_t i;

    if (p->defer_live == 0)
        return 0;
    defer_keys(ev, &qk, &rk);
    if (p->defer_qcount[qk & (DEFER_QCOUNT - 1)] == 0)
        return 0;
    tmpl = *ev;
    for (i = 0; i < DEFER_SLOTS; i++) {
        struct event *out;

        if (p->defer_qkey[i] != qk)
            continue;
        out = n == 0 ? ev : parser_push(p);
        if (out == NULL)
            break;
        *out = tmpl;
        defer_apply(&p->defer[p->defer_rec[i]], out);
        n++;
    }
    return n;
}

/* parser_push - a cleared event to fill, handed out after the line's first; NULL when full */
struct event *parser_push(struct parser *p)
{
    struct event *ev;

    if (p->pending == NULL)
        p->pending = xcalloc(PENDING_MAX, sizeof(*p->pending));
    if (p->npending == PENDING_MAX) {
        p->stats.truncated++;
        return NULL;
    }
    ev = &p->pending[p->npending++];
    event_clear(ev);
    return ev;
}

/* parser_next - the next further event of the last line read; see parser.h */
bool parser_next(struct parser *p, struct event *ev)
{
    if (p->ipending >= p->npending)
        return false;
    *ev = p->pending[p->ipending++];
    p->stats.events++;
    if (p->line_ps)
        p->line_ps->events++;
    defer_track(p, ev);
    return true;
}

/*
 * line_read - read one line that holds no NUL byte; repaired: it is the copy of a line whose
 * NULs parser_line() made '?' (see parser.h for the three results)
 */
static inline __attribute__((always_inline)) enum parse_result
line_read(struct parser *p, const char *line, size_t len, struct event *ev, int repaired)
{
    struct syslog_env env;
    struct parser_prog_stats *ps;
    enum parse_result r;
    enum event_mta mta;

    /* Exim's own mainlog has no syslog envelope: "2026-11-28 17:30:17 ..." */
    if (len > 0 && exim_envelope(line, len, &env) == 0) {
        /* its program is always "exim": its counters are looked up once */
        p->line_us = env.time_us;
        if (p->exim_ps == NULL)
            p->exim_ps = prog_slot(p, env.prog, env.prog_len);
        ps = p->exim_ps;
        mta = MTA_EXIM;
        /* ev is not cleared: the Exim reader clears it when the line makes an event */
    } else {
        event_clear(ev);
        if (len == 0 || syslog_envelope(line, len, &env, &p->yi) != 0) {
            p->stats.skipped++;
            ps = prog_slot(p, "(no envelope)", 13);
            ps->lines++;
            ps->skipped++;
            return PARSE_SKIP;
        }
        p->line_us = env.time_us;
        ps = prog_slot(p, env.prog, env.prog_len);
        mta = mta_of(env.prog, env.prog_len);
    }
    p->line_ps = ps;
    ps->lines++;
    r = PARSE_SKIP;
    if (p->mta == MTA_UNKNOWN || mta == p->mta) {
        if (mta == MTA_POSTFIX)
            r = pfx_parse_line(p, &env, ev);
        else if (mta == MTA_EXIM)
            r = exim_parse_line(p, &env, ev);
        else if (mta == MTA_SENDMAIL)
            r = sm_parse_line(p, &env, ev);
    }
    switch (r) {
    case PARSE_EVENT:
        p->stats.events++;
        ps->events++;
        defer_track(p, ev);
        if (repaired)
            ev->flags |= EVF_BAD_BYTES;
        if (ev->flags & EVF_TRUNCATED)
            p->stats.truncated++;
        break;
    case PARSE_SKIP:
        p->stats.skipped++;
        ps->skipped++;
        break;
    case PARSE_MALFORMED:
        p->stats.malformed++;
        ps->malformed++;
        sample(ps, line, len);
        break;
    }
    if (p->held_n > 0)
        held_expire(p);
    return r;
}

/* parser_line - read one line; see parser.h for the three results */
enum parse_result parser_line(struct parser *p, const char *line, size_t len, struct event *ev)
{
    p->stats.lines++;
    p->npending = p->ipending = 0;
    /* A NUL would end every field copied from the line: '?' takes its place, as for the
     * bytes utf8_scrub() replaces, and the event is flagged. */
    if (len > 0 && memchr(line, 0, len) != NULL) {
        if (len > p->clean_cap) {
            p->clean = xrealloc(p->clean, len);
            p->clean_cap = len;
        }
        memcpy(p->clean, line, len);
        for (char *z = p->clean; (z = memchr(z, 0, len - (size_t)(z - p->clean))) != NULL;)
            *z = '?';
        p->stats.repaired++;
        return line_read(p, p->clean, len, ev, 1);
    }
    return line_read(p, line, len, ev, 0);
}

/* parser_line_nul_free - parser_line() for a line known to hold no NUL byte: the look for
 * one, a call of memchr() per line, is left out (the line reader looked once per read) */
enum parse_result parser_line_nul_free(struct parser *p, const char *line, size_t len,
                                       struct event *ev)
{
    p->stats.lines++;
    p->npending = p->ipending = 0;
    return line_read(p, line, len, ev, 0);
}

/*
 * The parser's state as bytes: what a daemon stores with a checkpoint so that, restarted, it
 * goes on from there instead of reading the log again from its first byte.
 *
 *	header	"MPPS", version (u32), payload length (u64), payload hash (u64)
 *	payload	the year inference, the log time of the last line, the removed queue ids
 *		(oldest first), the open queue ids (oldest first: the insertion order is the
 *		eviction order), the deferred recipients with their last failure, and (from
 *		version 3) the held hops, oldest first: each its awaited key, its line's
 *		position and its event
 *
 * Integers are little-endian; strings are a u16 length and the bytes, shorter than the field
 * they fill. A blob is read twice: once to check every length and count against the bytes
 * there are, once to apply, so a bad blob leaves the parser untouched.
 */
#define STATE_MAGIC       "MPPS"
#define STATE_HEADER      24
#define STATE_MAX_ENTRIES 100000 /* open queue ids kept in a state, the newest */
#define STATE_MAX_BYTES   ((size_t)16 * 1024 * 1024) /* and the bytes they may take */
#define STATE_SEED        0x6d61696c70756c73ULL

/* put_le - v as n little-endian bytes */
static void put_le(struct buf *b, uint64_t v, int n)
{
    unsigned char c[8];

    for (int i = 0; i < n; i++)
        c[i] = (unsigned char)(v >> (8 * i));
    buf_append(b, c, (size_t)n);
}

/* put_str - a u16 length and the bytes of s */
static void put_str(struct buf *b, const char *s)
{
    size_t n = strlen(s);

    put_le(b, n, 2);
    buf_append(b, s, n);
}

/* put_event - a held delivery: its scalars, then its strings */
static void put_event(struct buf *b, const struct event *ev)
{
    uint64_t d;

    put_le(b, (uint64_t)ev->type, 1);
    put_le(b, (uint64_t)ev->mta, 1);
    put_le(b, (uint64_t)ev->status, 1);
    put_le(b, ev->flags, 4);
    put_le(b, (uint64_t)ev->time_us, 8);
    put_le(b, (uint64_t)((int64_t)ev->smtp_code + 1), 4);
    put_le(b,
           (ev->hard ? 1u : 0u) | (ev->tls ? 2u : 0u) | (ev->has_delay ? 4u : 0u) |
               (ev->has_delays ? 8u : 0u),
           1);
    memcpy(&d, &ev->delay, 8);
    put_le(b, d, 8);
    for (int i = 0; i < 4; i++) {
        memcpy(&d, &ev->delays[i], 8);
        put_le(b, d, 8);
    }
    put_le(b, (uint64_t)ev->size, 8);
    put_le(b, (uint64_t)(int64_t)ev->nrcpt, 4);
    put_str(b, ev->host);
    put_str(b, ev->queue_id);
    put_str(b, ev->notice_queue_id);
    put_str(b, ev->message_id);
    put_str(b, ev->sender);
    put_str(b, ev->recipient);
    put_str(b, ev->orig_recipient);
    put_str(b, ev->relay);
    put_str(b, ev->client);
    put_str(b, ev->server);
    put_str(b, ev->helo);
    put_str(b, ev->sasl_username);
    put_str(b, ev->dsn);
    put_str(b, ev->reply);
    put_str(b, ev->reason);
    put_str(b, ev->stage);
}

/* entry_bytes - the bytes one open queue id takes in a state */
static size_t entry_bytes(const struct pq_entry *e)
{
    return 1 + 7 * 2 + strlen(e->host) + strlen(e->queue_id) + strlen(e->sender) +
           strlen(e->message_id) + strlen(e->client) + strlen(e->sasl_username) +
           strlen(e->refusal_dsn) + 8 + 4 + 8 + 8 + 2;
}

/* parser_state_save - append the parser's state to out; see parser.h */
size_t parser_state_save(struct parser *p, struct buf *out)
{
    size_t start = out->len, body, n = 0, bytes = 0;
    uint32_t first = p->newest, k, ngone = 0;
    uint64_t h;

    /* The newest entries that fit; the older ones are left out, and counted. */
    for (k = p->newest; k; k = p->entries[k - 1].older) {
        size_t eb = entry_bytes(&p->entries[k - 1]);

        if (n == STATE_MAX_ENTRIES || bytes + eb > STATE_MAX_BYTES) {
            p->stats.state_dropped += p->live - n;
            break;
        }
        bytes += eb;
        n++;
        first = k;
    }
    buf_append(out, STATE_MAGIC, 4);
    put_le(out, PARSER_STATE_VERSION, 4);
    put_le(out, 0, 8); /* length and hash, filled in below */
    put_le(out, 0, 8);
    body = out->len;

    put_le(out, (uint64_t)(int64_t)p->yi.year, 4);
    put_le(out, (uint64_t)(int64_t)p->yi.last_mon, 4);
    put_le(out, (uint64_t)p->line_us, 8);

    for (k = 0; k < GONE_MAX; k++)
        ngone += p->gone[k] != 0;
    put_le(out, ngone, 4);
    for (k = 0; k < GONE_MAX; k++) {
        uint64_t g = p->gone[(p->gone_next + k) % GONE_MAX];

        if (g)
            put_le(out, g, 8);
    }

    put_le(out, n, 4);
    for (k = n ? first : 0; k; k = p->entries[k - 1].newer) {
        const struct pq_entry *e = &p->entries[k - 1];

        put_le(out,
               (e->message_done ? 1u : 0u) | (e->has_sender ? 2u : 0u) | (e->msgid_seen ? 4u : 0u) |
                   (e->refused ? 8u : 0u),
               1);
        put_str(out, e->host);
        put_str(out, e->queue_id);
        put_str(out, e->sender);
        put_str(out, e->message_id);
        put_str(out, e->client);
        put_str(out, e->sasl_username);
        put_le(out, (uint64_t)e->size, 8);
        put_le(out, (uint64_t)(int64_t)e->nrcpt, 4);
        put_le(out, (uint64_t)e->created_us, 8);
        put_le(out, e->msgid_hash, 8);
        put_str(out, e->refusal_dsn);
        put_le(out, (uint64_t)((int64_t)e->smtp_refusal_code + 1), 2); /* none (-1) is 0 */
    }

    /* The message-id cache: which saved entry each slot finds, by its place in the list. */
    {
        uint32_t *ord = xcalloc((size_t)p->used_hw + 1, sizeof(*ord)), m = 0, nslots = 0;
        size_t at;

        for (k = n ? first : 0; k; k = p->entries[k - 1].newer)
            ord[k] = ++m;
        at = out->len;
        put_le(out, 0, 4);
        for (uint32_t c = 0; c < MSGID_CACHE; c++) {
            uint32_t e = p->msgid_cache[c];

            if (e == 0 || ord[e] == 0 || p->entries[e - 1].msgid_hash != p->msgid_cache_hash[c])
                continue;
            put_le(out, c, 2);
            put_le(out, ord[e] - 1, 4);
            nslots++;
        }
        for (int i = 0; i < 4; i++)
            out->data[at + (size_t)i] = (char)(nslots >> (8 * i));
        x_free(ord);
    }

    put_le(out, p->defer_hand, 2);
    put_le(out, p->defer_live, 4);
    for (k = 0; p->defer_live && k < DEFER_SLOTS; k++) {
        const struct deferral *d;

        if (p->defer_qkey[k] == 0)
            continue;
        d = &p->defer[p->defer_rec[k]];
        put_le(out, k, 2);
        put_le(out, p->defer_qkey[k], 8);
        put_str(out, d->recipient);
        put_str(out, d->relay);
        put_str(out, d->dsn);
        put_str(out, d->reply);
        put_str(out, d->reason);
        put_le(out, (uint64_t)(int64_t)d->smtp_code, 4);
    }

    /* The held hops, oldest first. */
    put_le(out, p->held_live, 4);
    for (k = 0; k < p->held_n; k++) {
        const struct held *hd = held_at(p, k);

        if (hd->await == 0)
            continue;
        put_le(out, hd->await, 8);
        put_le(out, (uint64_t)hd->pos, 8);
        put_event(out, &hd->ev);
    }

    h = word_hash(out->data + body, out->len - body, STATE_SEED);
    for (int i = 0; i < 8; i++) {
        out->data[start + 8 + (size_t)i] = (char)((uint64_t)(out->len - body) >> (8 * i));
        out->data[start + 16 + (size_t)i] = (char)(h >> (8 * i));
    }
    return out->len - start;
}

/* The reading side: a cursor that turns bad, for good, at the first thing that does not fit. */
struct state_rd {
    const unsigned char *s, *end;
    bool bad;
};

/* get_le - n little-endian bytes; 0 and bad when there are not that many */
static uint64_t get_le(struct state_rd *r, int n)
{
    uint64_t v = 0;

    if (r->bad || r->end - r->s < n) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->s[i] << (8 * i);
    r->s += n;
    return v;
}

/* get_str - a string into out (cap bytes with the NUL), or bad when it does not fit */
static void get_str(struct state_rd *r, char *out, size_t cap)
{
    size_t n = (size_t)get_le(r, 2);

    if (r->bad || n >= cap || (size_t)(r->end - r->s) < n) {
        r->bad = true;
        out[0] = 0;
        return;
    }
    memcpy(out, r->s, n);
    out[n] = 0;
    r->s += n;
}

/* state_held - read one held hop; with apply, hold it again */
static void state_held(struct parser *p, struct state_rd *r, bool apply)
{
    struct event ev;
    uint64_t await = get_le(r, 8), d;
    int64_t pos = (int64_t)get_le(r, 8);
    unsigned bits;

    event_clear(&ev);
    ev.type = (enum event_type)get_le(r, 1);
    ev.mta = (enum event_mta)get_le(r, 1);
    ev.status = (enum event_status)get_le(r, 1);
    ev.flags = (unsigned)get_le(r, 4);
    ev.time_us = (int64_t)get_le(r, 8);
    ev.smtp_code = (int)get_le(r, 4) - 1;
    bits = (unsigned)get_le(r, 1);
    ev.hard = bits & 1;
    ev.tls = (bits & 2) != 0;
    ev.has_delay = (bits & 4) != 0;
    ev.has_delays = (bits & 8) != 0;
    d = get_le(r, 8);
    memcpy(&ev.delay, &d, 8);
    for (int i = 0; i < 4; i++) {
        d = get_le(r, 8);
        memcpy(&ev.delays[i], &d, 8);
    }
    ev.size = (int64_t)get_le(r, 8);
    ev.nrcpt = (int32_t)(uint32_t)get_le(r, 4);
    get_str(r, ev.host, sizeof(ev.host));
    get_str(r, ev.queue_id, sizeof(ev.queue_id));
    get_str(r, ev.notice_queue_id, sizeof(ev.notice_queue_id));
    get_str(r, ev.message_id, sizeof(ev.message_id));
    get_str(r, ev.sender, sizeof(ev.sender));
    get_str(r, ev.recipient, sizeof(ev.recipient));
    get_str(r, ev.orig_recipient, sizeof(ev.orig_recipient));
    get_str(r, ev.relay, sizeof(ev.relay));
    get_str(r, ev.client, sizeof(ev.client));
    get_str(r, ev.server, sizeof(ev.server));
    get_str(r, ev.helo, sizeof(ev.helo));
    get_str(r, ev.sasl_username, sizeof(ev.sasl_username));
    get_str(r, ev.dsn, sizeof(ev.dsn));
    get_str(r, ev.reply, sizeof(ev.reply));
    get_str(r, ev.reason, sizeof(ev.reason));
    get_str(r, ev.stage, sizeof(ev.stage));
    if (await == 0 || pos < 0 || ev.type != EV_DELIVERY || ev.mta > MTA_SENDMAIL ||
        ev.status == ST_NONE || ev.status > ST_EXPIRED || ev.flags > 3 || bits > 15 ||
        ev.smtp_code < -1 || ev.smtp_code > 999 || ev.nrcpt < -1 || ev.size < -1)
        r->bad = true;
    if (r->bad || !apply)
        return;
    held_put(p, &ev, await, pos);
}

/* state_entry - read one open queue id; with apply, put it in the table */
static void state_entry(struct parser *p, struct state_rd *r, bool apply, uint32_t *slot)
{
    struct pq_entry t, *e;
    unsigned flags = (unsigned)get_le(r, 1);

    get_str(r, t.host, sizeof(t.host));
    get_str(r, t.queue_id, sizeof(t.queue_id));
    get_str(r, t.sender, sizeof(t.sender));
    get_str(r, t.message_id, sizeof(t.message_id));
    get_str(r, t.client, sizeof(t.client));
    get_str(r, t.sasl_username, sizeof(t.sasl_username));
    t.size = (int64_t)get_le(r, 8);
    t.nrcpt = (int32_t)(uint32_t)get_le(r, 4);
    t.created_us = (int64_t)get_le(r, 8);
    t.msgid_hash = get_le(r, 8);
    get_str(r, t.refusal_dsn, sizeof(t.refusal_dsn));
    t.smtp_refusal_code = (int)get_le(r, 2) - 1;
    if (flags > 15 || t.queue_id[0] == 0 || t.smtp_refusal_code > 999)
        r->bad = true;
    if (r->bad || !apply)
        return;
    e = parser_queue_get(p, t.host, strlen(t.host), t.queue_id, strlen(t.queue_id), true);
    if (slot != NULL)
        *slot = (uint32_t)(e - p->entries) + 1;
    e->message_done = flags & 1;
    e->has_sender = (flags & 2) != 0;
    e->msgid_seen = (flags & 4) != 0;
    e->refused = (flags & 8) != 0;
    e->smtp_refusal_code = t.smtp_refusal_code;
    memcpy(e->refusal_dsn, t.refusal_dsn, sizeof(e->refusal_dsn));
    memcpy(e->sender, t.sender, sizeof(e->sender));
    memcpy(e->message_id, t.message_id, sizeof(e->message_id));
    memcpy(e->client, t.client, sizeof(e->client));
    memcpy(e->sasl_username, t.sasl_username, sizeof(e->sasl_username));
    e->size = t.size;
    e->nrcpt = t.nrcpt;
    e->created_us = t.created_us;
    e->msgid_hash = t.msgid_hash;
}

/* state_deferral - read one deferred recipient into the slot it had; with apply, remember it.
 * The same slots (and clock hand) make the same recipient the next to be evicted. */
static void state_deferral(struct parser *p, struct state_rd *r, bool apply, uint8_t *taken)
{
    struct deferral d;
    uint32_t i = (uint32_t)get_le(r, 2);
    uint64_t qk = get_le(r, 8), rk;

    get_str(r, d.recipient, sizeof(d.recipient));
    get_str(r, d.relay, sizeof(d.relay));
    get_str(r, d.dsn, sizeof(d.dsn));
    get_str(r, d.reply, sizeof(d.reply));
    get_str(r, d.reason, sizeof(d.reason));
    d.smtp_code = (int32_t)(uint32_t)get_le(r, 4);
    if (qk == 0 || d.recipient[0] == 0 || i >= DEFER_SLOTS || (taken[i / 8] & (1u << (i % 8))))
        r->bad = true;
    if (r->bad)
        return;
    taken[i / 8] |= (uint8_t)(1u << (i % 8));
    if (!apply)
        return;
    defer_alloc(p);
    rk = word_hash(d.recipient, strlen(d.recipient), 0x9e3779b97f4a7c15ULL) | 1;
    p->defer_qkey[i] = qk;
    p->defer_rkey[i] = rk;
    p->defer_rec[i] = p->defer_free[--p->defer_nfree];
    p->defer_qcount[qk & (DEFER_QCOUNT - 1)]++;
    p->defer_live++;
    p->defer[p->defer_rec[i]] = d;
}

/* state_read - read a payload; with apply, into the parser. 0, or -1 when it does not parse */
static int state_read(struct parser *p, const unsigned char *s, size_t len, uint64_t version,
                      bool apply)
{
    struct state_rd r = {s, s + len, false};
    int year = (int)(int32_t)(uint32_t)get_le(&r, 4);
    int last_mon = (int)(int32_t)(uint32_t)get_le(&r, 4);
    int64_t line_us = (int64_t)get_le(&r, 8);
    uint64_t n, k, nent;
    uint8_t taken[DEFER_SLOTS / 8] = {0};
    uint32_t *slots = NULL;
    int rc = -1;

    if (year < 1 || year > 9999 || last_mon < 0 || last_mon > 12)
        r.bad = true;
    n = get_le(&r, 4);
    if (n > GONE_MAX || n * 8 > (uint64_t)(r.end - r.s))
        r.bad = true;
    for (k = 0; k < n && !r.bad; k++) {
        uint64_t g = get_le(&r, 8);

        if (apply) {
            p->gone[p->gone_next] = g | 1;
            p->gone_next = (p->gone_next + 1) % GONE_MAX;
        }
    }
    n = get_le(&r, 4);
    /* each entry takes at least 41 bytes: a count beyond what is there is a lie */
    if (n > (uint64_t)(r.end - r.s) / 41)
        r.bad = true;
    nent = r.bad ? 0 : n;
    if (apply) {
        p->line_us = 0; /* no aging while the table fills: the entries keep their times */
        slots = xcalloc(nent + 1, sizeof(*slots));
    }
    for (k = 0; k < nent && !r.bad; k++)
        state_entry(p, &r, apply, slots ? &slots[k] : NULL);
    n = get_le(&r, 4);
    if (n > MSGID_CACHE)
        r.bad = true;
    for (k = 0; k < n && !r.bad; k++) {
        uint32_t c = (uint32_t)get_le(&r, 2), o = (uint32_t)get_le(&r, 4);

        if (c >= MSGID_CACHE || o >= nent)
            r.bad = true;
        /* an entry evicted while loading (a smaller table) is not found again */
        else if (apply && slots != NULL && slots[o] && p->entries[slots[o] - 1].live &&
                 p->entries[slots[o] - 1].msgid_hash) {
            p->msgid_cache[c] = slots[o];
            p->msgid_cache_hash[c] = p->entries[slots[o] - 1].msgid_hash;
        }
    }
    k = get_le(&r, 2);
    if (k >= DEFER_SLOTS)
        r.bad = true;
    if (apply)
        p->defer_hand = (uint32_t)k;
    n = get_le(&r, 4);
    if (n > DEFER_MAX)
        r.bad = true;
    for (k = 0; k < n && !r.bad; k++)
        state_deferral(p, &r, apply, taken);
    if (version >= 3) {
        n = get_le(&r, 4);
        /* each takes at least 111 bytes */
        if (n > HOLD_MAX || n > (uint64_t)(r.end - r.s) / 111)
            r.bad = true;
        for (k = 0; k < n && !r.bad; k++)
            state_held(p, &r, apply);
    }
    if (!r.bad && r.s != r.end)
        r.bad = true; /* bytes after the end */
    if (!r.bad) {
        rc = 0;
        if (apply) {
            if (!p->yi.fixed)
                p->yi.year = year;
            p->yi.last_mon = last_mon;
            p->line_us = line_us;
        }
    }
    x_free(slots);
    return rc;
}

/* parser_state_load - go on from a saved state; see parser.h */
int parser_state_load(struct parser *p, const void *blob, size_t len, char *why, size_t whylen)
{
    const unsigned char *b = blob;
    struct state_rd r = {b, b + len, false};
    uint64_t version, plen, hash;

    if (p->stats.lines != 0 || p->live != 0) {
        snprintf(why, whylen, "the parser has read lines already");
        return -1;
    }
    if (len < STATE_HEADER || memcmp(b, STATE_MAGIC, 4) != 0) {
        snprintf(why, whylen, "not a parser state (%zu bytes)", len);
        return -1;
    }
    r.s += 4;
    version = get_le(&r, 4);
    plen = get_le(&r, 8);
    hash = get_le(&r, 8);
    if (version != PARSER_STATE_VERSION && version != 2) {
        snprintf(why, whylen, "state version %llu, this mailpulse reads versions 2 to %d",
                 (unsigned long long)version, PARSER_STATE_VERSION);
        return -1;
    }
    if (plen != len - STATE_HEADER) {
        snprintf(why, whylen, "state cut short or too long (%llu bytes said, %zu there)",
                 (unsigned long long)plen, len - STATE_HEADER);
        return -1;
    }
    if (word_hash((const char *)b + STATE_HEADER, (size_t)plen, STATE_SEED) != hash) {
        snprintf(why, whylen, "state checksum does not match (corrupt)");
        return -1;
    }
    if (state_read(p, b + STATE_HEADER, (size_t)plen, version, false) != 0) {
        snprintf(why, whylen, "state does not parse (corrupt)");
        return -1;
    }
    (void)state_read(p, b + STATE_HEADER, (size_t)plen, version, true);
    return 0;
}
