/*
 * tcp - TCP reassembly per flow and direction, with bounded memory
 *
 * Each direction keeps the next expected sequence number and a sorted list of segments that
 * arrived ahead of it. Bytes before that number are retransmissions or overlaps and are
 * dropped; bytes after it wait. A hole is declared a gap (and skipped) when the peer
 * acknowledges data past it (the capture lost what the peer received), when the waiting
 * bytes exceed the per-direction limit, or when the flow ends. Flows live in a hash table
 * and on a list ordered by last activity, which gives both the idle timeout and the
 * least-recently-active flow to evict when the table is full. See sniff.h.
 */
#include <string.h>

#include "collector/sniff.h"
#include "util/util.h"

#define DEFAULT_MAX_FLOWS   4096
#define DEFAULT_QUEUE_BYTES ((size_t)256 * 1024)
#define DEFAULT_TIMEOUT_US  (300 * INT64_C(1000000))

struct seg {
    struct seg *next;
    uint32_t seq;
    uint32_t len;    /* on the wire */
    uint32_t caplen; /* held in data[] */
    uint8_t data[];
};

struct half {
    int started;
    uint32_t next; /* the next sequence number to deliver */
    int has_fin;
    uint32_t fin_seq;
    struct seg *q; /* waiting segments, sorted by seq */
    size_t qbytes;
};

struct flow {
    struct flow *hnext;
    struct flow *prev, *lnext; /* activity list, oldest first */
    uint64_t hash;
    int af;
    struct tcp_endpoint client, server;
    int64_t last_us;
    struct half h[2]; /* 0: client to server, 1: server to client */
    void *user;
};

struct tcp_table {
    struct tcp_limits lim;
    struct tcp_ops ops;
    void *arg;
    struct flow **buckets;
    size_t nbuckets;
    struct flow *oldest, *newest;
    struct tcp_stats st;
};

/* seq_lt - a < b in sequence space */
static int seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

/* tcp_table_create - an empty table; zero limits take defaults */
struct tcp_table *tcp_table_create(const struct tcp_limits *l, const struct tcp_ops *ops, void *arg)
{
    struct tcp_table *t = xcalloc(1, sizeof(*t));

    if (l)
        t->lim = *l;
    if (t->lim.max_flows == 0)
        t->lim.max_flows = DEFAULT_MAX_FLOWS;
    if (t->lim.max_queue_bytes == 0)
        t->lim.max_queue_bytes = DEFAULT_QUEUE_BYTES;
    if (t->lim.timeout_us <= 0)
        t->lim.timeout_us = DEFAULT_TIMEOUT_US;
    t->ops = *ops;
    t->arg = arg;
    t->nbuckets = 256;
    while (t->nbuckets < t->lim.max_flows * 2 && t->nbuckets < (1u << 22))
        t->nbuckets <<= 1;
    t->buckets = xcalloc(t->nbuckets, sizeof(struct flow *));
    return t;
}

/* flow_hash - the hash of a (client, server) pair */
static uint64_t flow_hash(int af, const struct tcp_endpoint *c, const struct tcp_endpoint *s)
{
    uint8_t key[1 + 2 * (16 + 2)];

    key[0] = (uint8_t)af;
    memcpy(key + 1, c->addr, 16);
    memcpy(key + 17, &c->port, 2);
    memcpy(key + 19, s->addr, 16);
    memcpy(key + 35, &s->port, 2);
    return hash_fnv1a64(key, sizeof(key));
}

static int ep_eq(const struct tcp_endpoint *a, const struct tcp_endpoint *b)
{
    return a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

/* list_unlink - take a flow off the activity list */
static void list_unlink(struct tcp_table *t, struct flow *f)
{
    if (f->prev)
        f->prev->lnext = f->lnext;
    else
        t->oldest = f->lnext;
    if (f->lnext)
        f->lnext->prev = f->prev;
    else
        t->newest = f->prev;
    f->prev = f->lnext = NULL;
}

/* list_append - put a flow at the newest end of the activity list */
static void list_append(struct tcp_table *t, struct flow *f)
{
    f->prev = t->newest;
    f->lnext = NULL;
    if (t->newest)
        t->newest->lnext = f;
    else
        t->oldest = f;
    t->newest = f;
}

/* deliver - hand bytes [from, seq+len) of a segment to the consumer; the part past caplen
 * was not captured and is a gap */
static void deliver(struct tcp_table *t, struct flow *f, int d, uint32_t seq, const uint8_t *data,
                    uint32_t caplen, uint32_t len, int64_t ts)
{
    struct half *h = &f->h[d];
    uint32_t off = h->next - seq;

    if (off < caplen)
        t->ops.data(t->arg, f->user, d == 0, data + off, caplen - off, ts);
    if (len > caplen && off < len) {
        uint32_t lost = len - (off > caplen ? off : caplen);

        t->st.gaps++;
        t->st.gap_bytes += lost;
        t->ops.gap(t->arg, f->user, d == 0, lost, ts);
    }
    h->next = seq + len;
}

/* drain - deliver waiting segments that have become in order */
static void drain(struct tcp_table *t, struct flow *f, int d, int64_t ts)
{
    struct half *h = &f->h[d];

    while (h->q && !seq_lt(h->next, h->q->seq)) {
        struct seg *s = h->q;

        h->q = s->next;
        h->qbytes -= s->caplen;
        if (seq_lt(h->next, s->seq + s->len))
            deliver(t, f, d, s->seq, s->data, s->caplen, s->len, ts);
        else
            t->st.retrans_bytes += s->len;
        x_free(s);
    }
}

/* skip_to - bytes up to seq are lost: report a gap, move on, deliver what now fits */
static void skip_to(struct tcp_table *t, struct flow *f, int d, uint32_t seq, int64_t ts)
{
    struct half *h = &f->h[d];

    if (!seq_lt(h->next, seq))
        return;
    t->st.gaps++;
    t->st.gap_bytes += seq - h->next;
    t->ops.gap(t->arg, f->user, d == 0, seq - h->next, ts);
    h->next = seq;
    drain(t, f, d, ts);
}

/* enqueue - keep an out-of-order segment, sorted by seq */
static void enqueue(struct tcp_table *t, struct flow *f, int d, const struct tcp_seg *sg)
{
    struct half *h = &f->h[d];
    struct seg *s = xmalloc(sizeof(*s) + sg->caplen), **pp = &h->q;

    s->seq = sg->seq;
    s->len = (uint32_t)sg->len;
    s->caplen = (uint32_t)sg->caplen;
    if (sg->caplen)
        memcpy(s->data, sg->data, sg->caplen);
    while (*pp && !seq_lt(s->seq, (*pp)->seq))
        pp = &(*pp)->next;
    s->next = *pp;
    *pp = s;
    h->qbytes += s->caplen;
    t->st.ooo_segments++;
    if (h->qbytes > t->lim.max_queue_bytes) {
        t->st.queue_limit_hits++;
        skip_to(t, f, d, h->q->seq, sg->ts_us);
    }
}

/* flow_close - flush what waits (past its gaps), tell the consumer, free */
static void flow_close(struct tcp_table *t, struct flow *f, int64_t ts)
{
    struct flow **pp = &t->buckets[f->hash & (t->nbuckets - 1)];

    for (int d = 0; d < 2; d++)
        while (f->h[d].q)
            skip_to(t, f, d, f->h[d].q->seq, ts);
    t->ops.close(t->arg, f->user, ts);
    while (*pp != f)
        pp = &(*pp)->hnext;
    *pp = f->hnext;
    list_unlink(t, f);
    t->st.flows_open--;
    x_free(f);
}

/* flow_find - the flow of a segment; created for SYN or payload when absent */
static struct flow *flow_find(struct tcp_table *t, const struct tcp_seg *sg)
{
    const struct tcp_endpoint *c = sg->to_server ? &sg->src : &sg->dst;
    const struct tcp_endpoint *s = sg->to_server ? &sg->dst : &sg->src;
    uint64_t hash = flow_hash(sg->af, c, s);
    struct flow *f;
    struct tcp_flow_info info;

    for (f = t->buckets[hash & (t->nbuckets - 1)]; f; f = f->hnext)
        if (f->hash == hash && f->af == sg->af && ep_eq(&f->client, c) && ep_eq(&f->server, s))
            return f;
    if (!(sg->flags & TCP_FSYN) && sg->len == 0)
        return NULL;
    if (sg->flags & TCP_FRST)
        return NULL;
    if (t->st.flows_open >= t->lim.max_flows) {
        t->st.flows_evicted++;
        flow_close(t, t->oldest, sg->ts_us);
    }
    f = xcalloc(1, sizeof(*f));
    f->hash = hash;
    f->af = sg->af;
    f->client = *c;
    f->server = *s;
    f->hnext = t->buckets[hash & (t->nbuckets - 1)];
    t->buckets[hash & (t->nbuckets - 1)] = f;
    list_append(t, f);
    t->st.flows++;
    t->st.flows_open++;
    info.af = sg->af;
    info.client = *c;
    info.server = *s;
    info.ts_us = sg->ts_us;
    f->user = t->ops.open(t->arg, &info);
    return f;
}

/* tcp_segment - one captured TCP segment */
void tcp_segment(struct tcp_table *t, const struct tcp_seg *sg)
{
    struct flow *f;
    struct half *h, *o;
    int d = sg->to_server ? 0 : 1;
    uint32_t seq = sg->seq;

    t->st.segments++;
    tcp_expire(t, sg->ts_us);
    f = flow_find(t, sg);
    if (f == NULL)
        return;
    f->last_us = sg->ts_us;
    list_unlink(t, f);
    list_append(t, f);
    h = &f->h[d];
    o = &f->h[!d];
    if (sg->flags & TCP_FSYN) {
        /* A SYN sets the start; a retransmitted SYN after data must not rewind it. */
        if (!h->started || (h->next == seq + 1 && !h->q)) {
            h->started = 1;
            h->next = seq + 1;
        }
        seq++;
    } else if (!h->started) {
        h->started = 1;
        h->next = seq;
    }
    /* The peer acknowledged bytes this capture never delivered: they are lost. */
    if ((sg->flags & TCP_FACK) && o->started && !(sg->flags & TCP_FRST)) {
        uint32_t ack = sg->ack;

        if (o->has_fin && seq_lt(o->fin_seq, ack))
            ack = o->fin_seq;
        if (o->q && seq_lt(o->q->seq, ack))
            ack = o->q->seq; /* held segments after the hole are not lost */
        if (seq_lt(o->next, ack) && (uint32_t)(ack - o->next) < (1u << 30))
            skip_to(t, f, !d, ack, sg->ts_us);
    }
    if (sg->len > 0) {
        if (!seq_lt(h->next, seq)) {
            if (seq_lt(h->next, seq + (uint32_t)sg->len))
                deliver(t, f, d, seq, sg->data, (uint32_t)sg->caplen, (uint32_t)sg->len, sg->ts_us);
            else
                t->st.retrans_bytes += sg->len;
            drain(t, f, d, sg->ts_us);
        } else if ((uint32_t)(seq - h->next) < (1u << 30)) {
            struct tcp_seg copy = *sg;

            copy.seq = seq;
            enqueue(t, f, d, &copy);
        }
    }
    if (sg->flags & TCP_FFIN) {
        h->has_fin = 1;
        h->fin_seq = seq + (uint32_t)sg->len;
    }
    if ((sg->flags & TCP_FRST) || (h->has_fin && o->has_fin))
        flow_close(t, f, sg->ts_us);
}

/* tcp_expire - close flows idle since before now - timeout */
void tcp_expire(struct tcp_table *t, int64_t now_us)
{
    while (t->oldest && t->oldest->last_us + t->lim.timeout_us < now_us) {
        t->st.flows_timed_out++;
        flow_close(t, t->oldest, now_us);
    }
}

/* tcp_flush - close every flow (end of input) */
void tcp_flush(struct tcp_table *t)
{
    while (t->oldest)
        flow_close(t, t->oldest, t->oldest->last_us);
}

/* tcp_table_stats - the counters */
const struct tcp_stats *tcp_table_stats(const struct tcp_table *t)
{
    return &t->st;
}

/* tcp_table_free - close every flow and free the table */
void tcp_table_free(struct tcp_table *t)
{
    if (t == NULL)
        return;
    tcp_flush(t);
    x_free(t->buckets);
    x_free(t);
}
