/*
 * tally - events in, pflogsumm-style counts out, in bounded memory (see tally.h)
 *
 * Every table is a fixed array sized at creation with an open-addressing index of string
 * keys; a key that finds the table full is counted in the row kept one past the end, shown
 * as "(other)". The distinct-deferred set is an open-addressing set of 64-bit key hashes
 * with the log time of the last deferral; when it fills up, entries older than the queue
 * lifetime go, and if that is not enough, older and older ones, and the report is marked
 * approximate. Nothing is allocated per event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/tally.h"

#define DEF_DOMAINS  2000
#define DEF_SENDERS  2000
#define DEF_REASONS  500
#define DEF_HOURS    ((size_t)24 * 400)
#define DEF_DEFERRED 262144
#define DEFER_TTL_US (7LL * 86400 * 1000000)
#define HOUR_US      (3600LL * 1000000)

/* A string-keyed index over rows 0..cap-1 of a caller's array. */
struct ktab {
    char (*keys)[TALLY_KEY_LEN];
    uint64_t *hashes;
    uint32_t *index; /* row + 1, 0 empty */
    size_t mask, n, cap;
    bool full;
};

struct tally {
    struct tally_totals totals;
    int64_t first_us, last_us;
    struct ktab dk, sk, rk, hk;
    struct tally_domain *domains; /* cap + 1: the last is "(other)" */
    struct tally_sender *senders;
    struct tally_reason *reasons;
    struct tally_hour *hours;
    /* sorted copies handed out by tally_report() */
    struct tally_domain *out_domains;
    struct tally_sender *out_senders;
    struct tally_reason *out_reasons;
    struct tally_hour *out_hours;
    /* distinct deferred messages */
    uint64_t *dkeys; /* 0 empty */
    int64_t *dtimes;
    size_t dmask, dn, dcap;
    bool approximate;
    int64_t last_hour; /* the hour of the last event, and its row + 1 (0: none) */
    size_t last_hour_row;
};

/* ktab_init - an index for cap rows */
static void ktab_init(struct ktab *k, size_t cap)
{
    size_t slots = 16;

    while (slots < cap * 2)
        slots *= 2;
    k->keys = xcalloc(cap, sizeof(*k->keys));
    k->hashes = xcalloc(cap, sizeof(*k->hashes));
    k->index = xcalloc(slots, sizeof(*k->index));
    k->mask = slots - 1;
    k->n = 0;
    k->cap = cap;
    k->full = false;
}

/* ktab_free - release an index */
static void ktab_free(struct ktab *k)
{
    x_free(k->keys);
    x_free(k->hashes);
    x_free(k->index);
}

/*
 * ktab_find - the row of a key (cut to TALLY_KEY_LEN-1 bytes), made when new; *created says
 * so. Returns cap (the "(other)" row) when the key is new and the table is full.
 */
static size_t ktab_find(struct ktab *k, const char *key, size_t len, bool *created)
{
    uint64_t h;
    size_t i;

    if (len >= TALLY_KEY_LEN)
        len = TALLY_KEY_LEN - 1;
    h = hash_fnv1a64(key, len);
    *created = false;
    for (i = (size_t)h & k->mask;; i = (i + 1) & k->mask) {
        uint32_t v = k->index[i];

        if (v == 0)
            break;
        if (k->hashes[v - 1] == h && memcmp(k->keys[v - 1], key, len) == 0 &&
            k->keys[v - 1][len] == 0)
            return v - 1;
    }
    if (k->n == k->cap) {
        k->full = true;
        return k->cap;
    }
    memcpy(k->keys[k->n], key, len);
    k->keys[k->n][len] = 0;
    k->hashes[k->n] = h;
    k->index[i] = (uint32_t)(k->n + 1);
    *created = true;
    return k->n++;
}

/* tally_create - empty counters with tables sized from opts */
struct tally *tally_create(const struct tally_opts *opts)
{
    struct tally *t = xcalloc(1, sizeof(*t));
    size_t nd = opts && opts->max_domains ? opts->max_domains : DEF_DOMAINS;
    size_t ns = opts && opts->max_senders ? opts->max_senders : DEF_SENDERS;
    size_t nr = opts && opts->max_reasons ? opts->max_reasons : DEF_REASONS;
    size_t nh = opts && opts->max_hours ? opts->max_hours : DEF_HOURS;
    size_t nq = opts && opts->max_deferred ? opts->max_deferred : DEF_DEFERRED;
    size_t slots = 16;

    ktab_init(&t->dk, nd);
    ktab_init(&t->sk, ns);
    ktab_init(&t->rk, nr);
    ktab_init(&t->hk, nh);
    t->domains = xcalloc(nd + 1, sizeof(*t->domains));
    t->senders = xcalloc(ns + 1, sizeof(*t->senders));
    t->reasons = xcalloc(nr + 1, sizeof(*t->reasons));
    t->hours = xcalloc(nh + 1, sizeof(*t->hours));
    t->out_domains = xcalloc(nd + 1, sizeof(*t->out_domains));
    t->out_senders = xcalloc(ns + 1, sizeof(*t->out_senders));
    t->out_reasons = xcalloc(nr + 1, sizeof(*t->out_reasons));
    t->out_hours = xcalloc(nh + 1, sizeof(*t->out_hours));
    str_copy(t->domains[nd].domain, TALLY_KEY_LEN, "(other)", 7);
    str_copy(t->senders[ns].sender, TALLY_KEY_LEN, "(other)", 7);
    str_copy(t->reasons[nr].reason, EV_REASON_LEN, "(other)", 7);
    t->hours[nh].hour_us = -1;
    while (slots < nq * 2)
        slots *= 2;
    t->dkeys = xcalloc(slots, sizeof(*t->dkeys));
    t->dtimes = xcalloc(slots, sizeof(*t->dtimes));
    t->dmask = slots - 1;
    t->dcap = nq;
    return t;
}

/* tally_free - release the counters; NULL is a no-op */
void tally_free(struct tally *t)
{
    if (t == NULL)
        return;
    ktab_free(&t->dk);
    ktab_free(&t->sk);
    ktab_free(&t->rk);
    ktab_free(&t->hk);
    x_free(t->domains);
    x_free(t->senders);
    x_free(t->reasons);
    x_free(t->hours);
    x_free(t->out_domains);
    x_free(t->out_senders);
    x_free(t->out_reasons);
    x_free(t->out_hours);
    x_free(t->dkeys);
    x_free(t->dtimes);
    x_free(t);
}

/* dset_insert - put key with time into the deferred set (no growth; the caller made room) */
static void dset_insert(struct tally *t, uint64_t key, int64_t when)
{
    size_t i;

    for (i = (size_t)key & t->dmask; t->dkeys[i] != 0 && t->dkeys[i] != key; i = (i + 1) & t->dmask)
        ;
    if (t->dkeys[i] == 0)
        t->dn++;
    t->dkeys[i] = key;
    t->dtimes[i] = when;
}

/* dset_sweep - drop entries last deferred before cutoff, rebuilding the probe runs */
static void dset_sweep(struct tally *t, int64_t cutoff)
{
    size_t slots = t->dmask + 1, i;
    uint64_t *keys = t->dkeys;
    int64_t *times = t->dtimes;

    t->dkeys = xcalloc(slots, sizeof(*t->dkeys));
    t->dtimes = xcalloc(slots, sizeof(*t->dtimes));
    t->dn = 0;
    for (i = 0; i < slots; i++)
        if (keys[i] != 0 && times[i] >= cutoff)
            dset_insert(t, keys[i], times[i]);
    x_free(keys);
    x_free(times);
}

/* deferred_first - is this the first deferral of (host, queue id) we know of? */
static bool deferred_first(struct tally *t, const struct event *ev)
{
    uint64_t key = (hash_fnv1a64(ev->queue_id, strlen(ev->queue_id)) ^
                    hash_fnv1a64(ev->host, strlen(ev->host)) * 0x9e3779b97f4a7c15ULL) |
                   1;
    size_t i;

    for (i = (size_t)key & t->dmask; t->dkeys[i] != 0; i = (i + 1) & t->dmask) {
        if (t->dkeys[i] == key) {
            bool first = t->dtimes[i] < ev->time_us - DEFER_TTL_US; /* a reused id */

            t->dtimes[i] = ev->time_us;
            return first;
        }
    }
    if (t->dn >= t->dcap) {
        int64_t cutoff = ev->time_us - DEFER_TTL_US;

        dset_sweep(t, cutoff);
        /* still full: forget older and older ones; distinct counts become approximate */
        for (int64_t step = DEFER_TTL_US / 2; t->dn >= t->dcap * 3 / 4 && step > 0; step /= 2) {
            cutoff = ev->time_us - step;
            dset_sweep(t, cutoff);
            t->approximate = true;
        }
        if (t->dn >= t->dcap) {
            dset_sweep(t, INT64_MAX);
            t->approximate = true;
        }
    }
    dset_insert(t, key, ev->time_us);
    return true;
}

/* domain_row - the recipient domain's row ("(none)" when there is no recipient) */
static struct tally_domain *domain_row(struct tally *t, const struct event *ev)
{
    const char *d = event_recipient_domain(ev);
    char low[TALLY_KEY_LEN];
    size_t i, n;
    bool created;

    if (d[0] == 0)
        d = "(none)";
    for (i = 0; d[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)(d[i] >= 'A' && d[i] <= 'Z' ? d[i] + 32 : d[i]);
    low[i] = 0;
    n = ktab_find(&t->dk, low, i, &created);
    if (created)
        memcpy(t->domains[n].domain, t->dk.keys[n], TALLY_KEY_LEN);
    return &t->domains[n];
}

/* sender_row - the sender's row ("<>" for the null sender) */
static struct tally_sender *sender_row(struct tally *t, const char *sender)
{
    const char *s = sender[0] ? sender : "<>";
    size_t n;
    bool created;

    n = ktab_find(&t->sk, s, strlen(s), &created);
    if (created)
        memcpy(t->senders[n].sender, t->sk.keys[n], TALLY_KEY_LEN);
    return &t->senders[n];
}

/* reason_row - the (status, reason, dsn) row; the first reply seen is its example */
static void count_reason(struct tally *t, const struct event *ev)
{
    char key[64];
    int len = snprintf(key, sizeof(key), "%d/%s/%s", (int)ev->status, ev->reason, ev->dsn);
    struct tally_reason *r;
    size_t n;
    bool created;

    if (len < 0)
        return;
    n = ktab_find(&t->rk, key, (size_t)len < sizeof(key) ? (size_t)len : sizeof(key) - 1, &created);
    r = &t->reasons[n];
    if (created) {
        r->status = ev->status;
        str_copy(r->reason, sizeof(r->reason), ev->reason, strlen(ev->reason));
        str_copy(r->dsn, sizeof(r->dsn), ev->dsn, strlen(ev->dsn));
        str_copy(r->example, sizeof(r->example), ev->reply, strlen(ev->reply));
    }
    r->count++;
}

/* hour_row - the row of the event's hour, or NULL when its time is unknown */
static struct tally_hour *hour_row(struct tally *t, const struct event *ev)
{
    int64_t h;
    char key[24];
    int len;
    size_t n;
    bool created;

    if (ev->time_us == 0)
        return NULL;
    h = ev->time_us >= 0 ? ev->time_us / HOUR_US : (ev->time_us - HOUR_US + 1) / HOUR_US;
    if (t->last_hour_row != 0 && t->last_hour == h)
        return &t->hours[t->last_hour_row - 1]; /* logs come in time order */
    len = snprintf(key, sizeof(key), "%lld", (long long)h);
    n = ktab_find(&t->hk, key, (size_t)len, &created);
    if (created)
        t->hours[n].hour_us = h * HOUR_US;
    if (n < t->hk.cap) {
        t->last_hour = h;
        t->last_hour_row = n + 1;
    }
    return &t->hours[n];
}

/* tally_add - count one event */
void tally_add(struct tally *t, const struct event *ev)
{
    struct tally_hour *hr = hour_row(t, ev);
    struct tally_hour scratch = {0};
    struct tally_hour *h = hr ? hr : &scratch;

    if (ev->time_us) {
        if (t->first_us == 0 || ev->time_us < t->first_us)
            t->first_us = ev->time_us;
        if (ev->time_us > t->last_us)
            t->last_us = ev->time_us;
    }
    switch (ev->type) {
    case EV_MESSAGE: {
        struct tally_sender *s;

        if (ev->sender[0] == 0 && ev->client[0] == 0)
            break; /* a notice Postfix wrote itself; counted by its bounce_notice */
        t->totals.received++;
        h->received++;
        s = sender_row(t, ev->sender);
        s->messages++;
        if (ev->size > 0) {
            t->totals.bytes_received += ev->size;
            s->bytes += ev->size;
        }
        break;
    }
    case EV_DELIVERY: {
        struct tally_domain *d = domain_row(t, ev);
        struct tally_sender *s = sender_row(t, ev->sender);

        switch (ev->status) {
        case ST_SENT:
            /* local(8) forwards ("forwarded as QID"); pflogsumm counts those apart */
            if (ev->relay[0] == 'l' && strcmp(ev->relay, "local") == 0 &&
                memmem(ev->reply, strlen(ev->reply), "forwarded as ", 13) != NULL) {
                t->totals.forwarded++;
                break;
            }
            t->totals.delivered++;
            h->delivered++;
            d->sent++;
            s->sent++;
            break;
        case ST_DEFERRED:
            t->totals.deferrals++;
            if (deferred_first(t, ev))
                t->totals.deferred++;
            h->deferred++;
            d->deferred++;
            s->deferred++;
            count_reason(t, ev);
            break;
        case ST_BOUNCED:
            t->totals.bounced++;
            h->bounced++;
            d->bounced++;
            s->bounced++;
            count_reason(t, ev);
            break;
        case ST_EXPIRED:
            t->totals.expired++;
            h->expired++;
            d->expired++;
            s->expired++;
            count_reason(t, ev);
            break;
        case ST_NONE:
            break;
        }
        break;
    }
    case EV_REJECT:
        t->totals.rejected++;
        h->rejected++;
        count_reason(t, ev);
        break;
    case EV_BOUNCE_NOTICE:
        t->totals.notices++;
        break;
    case EV_SMTP:
    case EV_NONE:
        break;
    }
}

/* by_domain_volume - most attempts first, then by name */
static int by_domain_volume(const void *a, const void *b)
{
    const struct tally_domain *x = a, *y = b;
    int64_t vx = x->sent + x->deferred + x->bounced + x->expired;
    int64_t vy = y->sent + y->deferred + y->bounced + y->expired;

    if (vx != vy)
        return vx > vy ? -1 : 1;
    return strcmp(x->domain, y->domain);
}

/* by_sender_volume - most messages, then most attempts first, then by address */
static int by_sender_volume(const void *a, const void *b)
{
    const struct tally_sender *x = a, *y = b;
    int64_t vx = x->sent + x->deferred + x->bounced + x->expired;
    int64_t vy = y->sent + y->deferred + y->bounced + y->expired;

    if (x->messages != y->messages)
        return x->messages > y->messages ? -1 : 1;
    if (vx != vy)
        return vx > vy ? -1 : 1;
    return strcmp(x->sender, y->sender);
}

/* by_reason_count - most frequent first */
static int by_reason_count(const void *a, const void *b)
{
    const struct tally_reason *x = a, *y = b;
    int c;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->status != y->status)
        return x->status < y->status ? -1 : 1;
    c = strcmp(x->reason, y->reason);
    return c ? c : strcmp(x->dsn, y->dsn);
}

/* by_hour - oldest first */
static int by_hour(const void *a, const void *b)
{
    const struct tally_hour *x = a, *y = b;

    return x->hour_us < y->hour_us ? -1 : x->hour_us > y->hour_us;
}

/* sorted - copy rows 0..n-1 (and the "(other)" row when the table filled) and sort them */
static size_t sorted(void *out, const void *rows, size_t n, size_t cap, bool full, size_t size,
                     int (*cmp)(const void *, const void *))
{
    memcpy(out, rows, n * size);
    if (full) {
        memcpy((char *)out + n * size, (const char *)rows + cap * size, size);
        n++;
    }
    qsort(out, n, size, cmp);
    return n;
}

/* tally_report - the counts, tables sorted; *out points into t */
void tally_report(struct tally *t, struct tally_report *out)
{
    memset(out, 0, sizeof(*out));
    out->totals = t->totals;
    out->first_us = t->first_us;
    out->last_us = t->last_us;
    out->ndomains = sorted(t->out_domains, t->domains, t->dk.n, t->dk.cap, t->dk.full,
                           sizeof(*t->domains), by_domain_volume);
    out->domains = t->out_domains;
    out->nsenders = sorted(t->out_senders, t->senders, t->sk.n, t->sk.cap, t->sk.full,
                           sizeof(*t->senders), by_sender_volume);
    out->senders = t->out_senders;
    out->nreasons = sorted(t->out_reasons, t->reasons, t->rk.n, t->rk.cap, t->rk.full,
                           sizeof(*t->reasons), by_reason_count);
    out->reasons = t->out_reasons;
    out->nhours =
        sorted(t->out_hours, t->hours, t->hk.n, t->hk.cap, t->hk.full, sizeof(*t->hours), by_hour);
    out->hours = t->out_hours;
    out->approximate = t->approximate || t->dk.full || t->sk.full || t->rk.full || t->hk.full;
}

/* ---- output ------------------------------------------------------------------------------- */

/* count_str - a count as text, or "n/a" when unknown */
static const char *count_str(int64_t v, char *tmp, size_t len)
{
    if (v < 0)
        return "n/a";
    snprintf(tmp, len, "%lld", (long long)v);
    return tmp;
}

/* put_total - one line of the grand totals */
static void put_total(struct buf *out, int64_t v, const char *label)
{
    char tmp[24];

    buf_printf(out, " %9s  %s\n", count_str(v, tmp, sizeof(tmp)), label);
}

/* status_label - "deferred", "bounced", ... or "rejected" for ST_NONE */
static const char *status_label(enum event_status st)
{
    return st == ST_NONE ? "rejected" : event_status_name(st);
}

/* rows_shown - how many rows of a table to list */
static size_t rows_shown(size_t n, size_t top)
{
    return top && top < n ? top : n;
}

/* format_text - the pflogsumm-like summary */
static void format_text(const struct tally_report *r, size_t top, struct buf *out)
{
    const struct tally_totals *tt = &r->totals;
    char a[40], b[40];
    size_t i;

    buf_puts(out, "Grand Totals\n------------\nmessages\n\n");
    put_total(out, tt->received, "received");
    put_total(out, tt->delivered, "delivered");
    put_total(out, tt->forwarded, "forwarded");
    {
        char tmp[24], tmp2[24];

        buf_printf(out, " %9s  deferred  (%s deferrals)\n",
                   count_str(tt->deferred, tmp, sizeof(tmp)),
                   count_str(tt->deferrals, tmp2, sizeof(tmp2)));
    }
    put_total(out, tt->bounced, "bounced");
    put_total(out, tt->expired, "expired");
    put_total(out, tt->rejected, "rejected");
    put_total(out, tt->notices, "bounce/delay notices generated");
    put_total(out, tt->bytes_received, "bytes received");
    if (r->first_us) {
        time_format_rfc3339(r->first_us, a, sizeof(a));
        time_format_rfc3339(r->last_us, b, sizeof(b));
        buf_printf(out, "\nfrom %s to %s (UTC)\n", a, b);
    }
    if (r->approximate)
        buf_puts(out, "(a table reached its size limit: rows past it are under \"(other)\", "
                      "distinct counts may be low)\n");

    buf_puts(out, "\nPer-Hour Traffic Summary (UTC)\n------------------------------\n");
    buf_printf(out, "    %-20s %9s %9s %9s %9s %9s %9s\n", "hour", "received", "delivered",
               "deferred", "bounced", "expired", "rejected");
    for (i = 0; i < r->nhours; i++) {
        const struct tally_hour *h = &r->hours[i];

        if (h->hour_us < 0)
            snprintf(a, sizeof(a), "(other)");
        else
            time_format_rfc3339(h->hour_us, a, sizeof(a));
        a[16] = 0; /* "2026-11-01T05:00" */
        buf_printf(out, "    %-20s %9lld %9lld %9lld %9lld %9lld %9lld\n", a,
                   (long long)h->received, (long long)h->delivered, (long long)h->deferred,
                   (long long)h->bounced, (long long)h->expired, (long long)h->rejected);
    }

    buf_puts(out, "\nRecipients by Domain\n--------------------\n");
    buf_printf(out, "    %-40s %9s %9s %9s %9s\n", "domain", "sent", "deferred", "bounced",
               "expired");
    for (i = 0; i < rows_shown(r->ndomains, top); i++) {
        const struct tally_domain *d = &r->domains[i];

        buf_printf(out, "    %-40s %9lld %9lld %9lld %9lld\n", d->domain, (long long)d->sent,
                   (long long)d->deferred, (long long)d->bounced, (long long)d->expired);
    }

    if (r->nsenders) {
        buf_puts(out, "\nSenders\n-------\n");
        buf_printf(out, "    %-40s %9s %11s %9s %9s %9s %9s\n", "sender", "messages", "bytes",
                   "sent", "deferred", "bounced", "expired");
        for (i = 0; i < rows_shown(r->nsenders, top); i++) {
            const struct tally_sender *s = &r->senders[i];

            buf_printf(out, "    %-40s %9lld %11lld %9lld %9lld %9lld %9lld\n", s->sender,
                       (long long)s->messages, (long long)s->bytes, (long long)s->sent,
                       (long long)s->deferred, (long long)s->bounced, (long long)s->expired);
        }
    }

    buf_puts(out, "\nReasons (not sent)\n------------------\n");
    buf_printf(out, "    %9s  %-9s %-16s %-8s %s\n", "count", "status", "reason", "dsn", "example");
    for (i = 0; i < rows_shown(r->nreasons, top); i++) {
        const struct tally_reason *x = &r->reasons[i];

        buf_printf(out, "    %9lld  %-9s %-16s %-8s %.100s\n", (long long)x->count,
                   status_label(x->status), x->reason[0] ? x->reason : "-",
                   x->dsn[0] ? x->dsn : "-", x->example);
    }
}

/* json_num - "name":v or "name":null */
static void json_num(struct buf *out, const char *name, int64_t v, bool comma)
{
    buf_printf(out, "%s\"%s\":", comma ? "," : "", name);
    if (v < 0)
        buf_puts(out, "null");
    else
        buf_printf(out, "%lld", (long long)v);
}

/* json_time - "name":"rfc3339" or null */
static void json_time(struct buf *out, const char *name, int64_t us)
{
    char when[40];

    buf_printf(out, ",\"%s\":", name);
    if (us == 0) {
        buf_puts(out, "null");
        return;
    }
    time_format_rfc3339(us, when, sizeof(when));
    buf_json_string(out, when);
}

/* format_json - the report as one JSON object */
static void format_json(const struct tally_report *r, size_t top, struct buf *out)
{
    const struct tally_totals *tt = &r->totals;
    size_t i;

    buf_puts(out, "{\"totals\":{");
    json_num(out, "received", tt->received, false);
    json_num(out, "delivered", tt->delivered, true);
    json_num(out, "forwarded", tt->forwarded, true);
    json_num(out, "deferred", tt->deferred, true);
    json_num(out, "deferrals", tt->deferrals, true);
    json_num(out, "bounced", tt->bounced, true);
    json_num(out, "expired", tt->expired, true);
    json_num(out, "rejected", tt->rejected, true);
    json_num(out, "notices", tt->notices, true);
    json_num(out, "bytes_received", tt->bytes_received, true);
    buf_putc(out, '}');
    json_time(out, "first", r->first_us);
    json_time(out, "last", r->last_us);
    buf_printf(out, ",\"approximate\":%s", r->approximate ? "true" : "false");

    buf_puts(out, ",\"hours\":[");
    for (i = 0; i < r->nhours; i++) {
        const struct tally_hour *h = &r->hours[i];

        buf_puts(out, i ? ",{" : "{");
        buf_puts(out, "\"hour\":");
        if (h->hour_us < 0) {
            buf_puts(out, "\"(other)\"");
        } else {
            char when[40];

            time_format_rfc3339(h->hour_us, when, sizeof(when));
            buf_json_string(out, when);
        }
        json_num(out, "received", h->received, true);
        json_num(out, "delivered", h->delivered, true);
        json_num(out, "deferred", h->deferred, true);
        json_num(out, "bounced", h->bounced, true);
        json_num(out, "expired", h->expired, true);
        json_num(out, "rejected", h->rejected, true);
        buf_putc(out, '}');
    }
    buf_puts(out, "],\"domains\":[");
    for (i = 0; i < rows_shown(r->ndomains, top); i++) {
        const struct tally_domain *d = &r->domains[i];

        buf_puts(out, i ? ",{\"domain\":" : "{\"domain\":");
        buf_json_string(out, d->domain);
        json_num(out, "sent", d->sent, true);
        json_num(out, "deferred", d->deferred, true);
        json_num(out, "bounced", d->bounced, true);
        json_num(out, "expired", d->expired, true);
        buf_putc(out, '}');
    }
    buf_puts(out, "],\"senders\":[");
    for (i = 0; i < rows_shown(r->nsenders, top); i++) {
        const struct tally_sender *s = &r->senders[i];

        buf_puts(out, i ? ",{\"sender\":" : "{\"sender\":");
        buf_json_string(out, s->sender);
        json_num(out, "messages", s->messages, true);
        json_num(out, "bytes", s->bytes, true);
        json_num(out, "sent", s->sent, true);
        json_num(out, "deferred", s->deferred, true);
        json_num(out, "bounced", s->bounced, true);
        json_num(out, "expired", s->expired, true);
        buf_putc(out, '}');
    }
    buf_puts(out, "],\"reasons\":[");
    for (i = 0; i < rows_shown(r->nreasons, top); i++) {
        const struct tally_reason *x = &r->reasons[i];

        buf_puts(out, i ? ",{\"status\":" : "{\"status\":");
        buf_json_string(out, status_label(x->status));
        buf_puts(out, ",\"reason\":");
        buf_json_string(out, x->reason);
        buf_puts(out, ",\"dsn\":");
        buf_json_string(out, x->dsn);
        json_num(out, "count", x->count, true);
        buf_puts(out, ",\"example\":");
        buf_json_string(out, x->example);
        buf_putc(out, '}');
    }
    buf_puts(out, "]}\n");
}

/* csv_field - one CSV field, quoted when it holds a comma, quote or line break */
static void csv_field(struct buf *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        buf_puts(out, s);
        return;
    }
    buf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(out, '"');
        buf_putc(out, *s);
    }
    buf_putc(out, '"');
}

/* csv_row - section,key,metric,value */
static void csv_row(struct buf *out, const char *section, const char *key, const char *metric,
                    int64_t v)
{
    buf_puts(out, section);
    buf_putc(out, ',');
    csv_field(out, key);
    buf_putc(out, ',');
    buf_puts(out, metric);
    if (v < 0)
        buf_puts(out, ",\n");
    else
        buf_printf(out, ",%lld\n", (long long)v);
}

/* format_csv - long form: one row per (section, key, metric) */
static void format_csv(const struct tally_report *r, size_t top, struct buf *out)
{
    const struct tally_totals *tt = &r->totals;
    char key[TALLY_KEY_LEN + 64];
    size_t i;

    buf_puts(out, "section,key,metric,value\n");
    csv_row(out, "totals", "", "received", tt->received);
    csv_row(out, "totals", "", "delivered", tt->delivered);
    csv_row(out, "totals", "", "forwarded", tt->forwarded);
    csv_row(out, "totals", "", "deferred", tt->deferred);
    csv_row(out, "totals", "", "deferrals", tt->deferrals);
    csv_row(out, "totals", "", "bounced", tt->bounced);
    csv_row(out, "totals", "", "expired", tt->expired);
    csv_row(out, "totals", "", "rejected", tt->rejected);
    csv_row(out, "totals", "", "notices", tt->notices);
    csv_row(out, "totals", "", "bytes_received", tt->bytes_received);
    for (i = 0; i < r->nhours; i++) {
        const struct tally_hour *h = &r->hours[i];

        if (h->hour_us < 0)
            snprintf(key, sizeof(key), "(other)");
        else
            time_format_rfc3339(h->hour_us, key, sizeof(key));
        csv_row(out, "hour", key, "received", h->received);
        csv_row(out, "hour", key, "delivered", h->delivered);
        csv_row(out, "hour", key, "deferred", h->deferred);
        csv_row(out, "hour", key, "bounced", h->bounced);
        csv_row(out, "hour", key, "expired", h->expired);
        csv_row(out, "hour", key, "rejected", h->rejected);
    }
    for (i = 0; i < rows_shown(r->ndomains, top); i++) {
        const struct tally_domain *d = &r->domains[i];

        csv_row(out, "domain", d->domain, "sent", d->sent);
        csv_row(out, "domain", d->domain, "deferred", d->deferred);
        csv_row(out, "domain", d->domain, "bounced", d->bounced);
        csv_row(out, "domain", d->domain, "expired", d->expired);
    }
    for (i = 0; i < rows_shown(r->nsenders, top); i++) {
        const struct tally_sender *s = &r->senders[i];

        csv_row(out, "sender", s->sender, "messages", s->messages);
        csv_row(out, "sender", s->sender, "bytes", s->bytes);
        csv_row(out, "sender", s->sender, "sent", s->sent);
        csv_row(out, "sender", s->sender, "deferred", s->deferred);
        csv_row(out, "sender", s->sender, "bounced", s->bounced);
        csv_row(out, "sender", s->sender, "expired", s->expired);
    }
    for (i = 0; i < rows_shown(r->nreasons, top); i++) {
        const struct tally_reason *x = &r->reasons[i];

        snprintf(key, sizeof(key), "%s/%s/%s", status_label(x->status), x->reason, x->dsn);
        csv_row(out, "reason", key, "count", x->count);
    }
}

/* tally_format - append the report in the chosen form */
void tally_format(const struct tally_report *r, enum tally_format fmt, size_t top, struct buf *out)
{
    switch (fmt) {
    case TALLY_TEXT:
        format_text(r, top, out);
        break;
    case TALLY_JSON:
        format_json(r, top, out);
        break;
    case TALLY_CSV:
        format_csv(r, top, out);
        break;
    }
}
