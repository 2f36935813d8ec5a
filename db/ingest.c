/*
 * ingest - sources and their checkpoints; batched, exactly-once insertion of events
 *
 * A batch holds copies of the events with their source position. db_batch_add() repairs the
 * copy at once (utf8_scrub on every string), so a commit that is retried sends the same bytes
 * and counts the same repairs. One commit is one transaction, which db_batch_send() may have
 * begun with the events of earlier batches (the steps before the rollups, once per batch):
 *
 *	SELECT mailpulse_ensure_partitions(...)	the months of the batch (see ensure_partitions),
 *	    before BEGIN in a transaction of its own: creating a partition locks its parent
 *	    against readers until the creating transaction ends (inside the transaction for a
 *	    later batch of it)
 *	BEGIN
 *	CREATE TEMP TABLE IF NOT EXISTS stg_<table> (LIKE <table>) ON COMMIT DELETE ROWS
 *	    for the event tables, the rollup tables and the suppression list (once per session)
 *	for each kind of event present:
 *	    SAVEPOINT; COPY <table> (...) FROM STDIN; RELEASE
 *	    when its unique key refuses a row (a replay): ROLLBACK TO SAVEPOINT,
 *	    COPY stg_<table>, INSERT INTO <table> SELECT ... ON CONFLICT (source_id, pos, seq, time)
 *	    DO NOTHING RETURNING source_id, pos, seq	(see move_table)
 *	for each rollup table the stored events touch (see sums_store):
 *	    COPY stg_<rollup> FROM STDIN	the transaction's sums, added up here
 *	    INSERT INTO <rollup> SELECT ... FROM stg_<rollup> ON CONFLICT DO UPDATE
 *	COPY stg_sent, stg_suppress; DELETE FROM suppressions ...; INSERT INTO suppressions ...
 *	UPDATE sources SET checkpoint = GREATEST(checkpoint, $2) WHERE id = $1
 *	INSERT INTO parser_state ... ON CONFLICT DO UPDATE	when a state is attached (pstate.c)
 *	COMMIT
 *
 * db_batch_add() also names the mailbox provider of each delivery and reject (provider_of()
 * over the relay, then the recipient domain) and the block rule its reply names (block_match(),
 * for rejects and attempts that were not sent); both are stored beside the reply.
 *
 * Rows are keyed by (source_id, pos, seq, time): seq numbers the events one line produced, in the
 * order they were added, and continues across commits, so a line whose events are split over
 * two batches still numbers them the same way as a replay does.
 *
 * The staging rows vanish at COMMIT and at ROLLBACK alike, so a failed commit leaves nothing
 * behind, and the temporary tables live as long as the session (they are created again after
 * a reconnect).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_int.h"
#include "db/delta.h"
#include "parser/provider.h"
#include "util/util.h"

/* Hand COPY data to libpq in pieces of about this size. */
#define COPY_CHUNK ((size_t)64 * 1024)

struct entry {
    int64_t source_id;
    int64_t pos;
    int32_t seq;
    uint32_t repaired;    /* strings repaired (or 1 when the parser had flagged bad bytes) */
    const char *provider; /* deliveries and rejects: provider_of(); else NULL */
    const char *block;    /* the block rule the reply names, or NULL */
    struct event ev;
};

struct db_batch {
    struct db *db;
    struct entry *v;
    size_t n, cap;
    /*
     * Per event, its type and TAG_STORED once the commit under way inserted it (a replay's
     * duplicates are not): the commit's passes over the batch read these bytes rather than
     * the events, which are large.
     */
    unsigned char *tag;
    size_t tag_cap;
    uint64_t repaired; /* the strings the events hold repaired */
    int *months;       /* the months (db_month_of()) the events' times fall in */
    size_t nmonths, months_cap;
    int64_t month_lo, month_hi; /* the bounds of the month last added */
    bool have_last;             /* the position of the last event added, for seq */
    int64_t last_source, last_pos;
    int32_t last_seq;
    struct buf copy;   /* COPY data, reused */
    struct buf sql;    /* statement text, reused */
    const void *state; /* a parser state for the next commit (borrowed), NULL none */
    size_t state_len;
    int state_version;
    size_t prefix_len; /* the source's first bytes known, for the next commit; 0 none */
    uint64_t prefix_hash;
    /*
     * The rollup and suppression rows of the events as if every one is stored, added up as
     * they are added (by the reader, beside the server's work): what a commit whose events
     * all go straight into their tables adds. Not valid after a commit failed with it used.
     */
    struct rollup_sums *spec;
    bool spec_valid;
};

struct rollup_sums;
static struct rollup_sums *sums_new(void);
static void sums_clear(struct rollup_sums *s);
static void sums_free(struct rollup_sums *s);
static void sums_event(struct rollup_sums *s, const struct entry *e, unsigned char type);

#define TAG_STORED 0x80
#define TAG_TYPE   0x7f

/* The string fields of struct event, for repair. */
static const size_t string_fields[][2] = {
    {offsetof(struct event, host), EV_HOST_LEN},
    {offsetof(struct event, queue_id), EV_QID_LEN},
    {offsetof(struct event, notice_queue_id), EV_QID_LEN},
    {offsetof(struct event, message_id), EV_MSGID_LEN},
    {offsetof(struct event, sender), EV_ADDR_LEN},
    {offsetof(struct event, recipient), EV_ADDR_LEN},
    {offsetof(struct event, orig_recipient), EV_ADDR_LEN},
    {offsetof(struct event, relay), EV_RELAY_LEN},
    {offsetof(struct event, client), EV_CLIENT_LEN},
    {offsetof(struct event, server), EV_CLIENT_LEN},
    {offsetof(struct event, helo), EV_HELO_LEN},
    {offsetof(struct event, sasl_username), EV_SASL_LEN},
    {offsetof(struct event, dsn), EV_DSN_LEN},
    {offsetof(struct event, reply), EV_REPLY_LEN},
    {offsetof(struct event, reason), EV_REASON_LEN},
    {offsetof(struct event, stage), EV_STAGE_LEN},
};

/* put_escaped - append s in COPY text form: backslash, tab, newline and CR escaped */
static void put_escaped(struct buf *o, const char *s)
{
    for (;;) {
        size_t run = strcspn(s, "\\\t\n\r");

        buf_append(o, s, run);
        s += run;
        switch (*s) {
        case 0:
            return;
        case '\\':
            buf_append(o, "\\\\", 2);
            break;
        case '\t':
            buf_append(o, "\\t", 2);
            break;
        case '\n':
            buf_append(o, "\\n", 2);
            break;
        default:
            buf_append(o, "\\r", 2);
            break;
        }
        s++;
    }
}

/* put_text - a text column; "" is NULL */
static void put_text(struct buf *o, const char *s)
{
    buf_putc(o, '\t');
    if (s[0] == 0)
        buf_puts(o, "\\N");
    else
        put_escaped(o, s);
}

/* put_lower - a text column folded to ASCII lower case; "" is NULL */
static void put_lower(struct buf *o, const char *s)
{
    unsigned char tmp[EV_ADDR_LEN];
    size_t i;

    for (i = 0; s[i] != 0 && i + 1 < sizeof(tmp); i++) {
        tmp[i] = (unsigned char)s[i];
        if (tmp[i] >= 'A' && tmp[i] <= 'Z')
            tmp[i] = (unsigned char)(tmp[i] + ('a' - 'A'));
    }
    tmp[i] = 0;
    put_text(o, (const char *)tmp);
}

/* put_i64 - an integer in decimal */
static void put_i64(struct buf *o, int64_t v)
{
    buf_reserve(o, 24);
    o->len = (size_t)(fmt_i64(o->data + o->len, v) - o->data);
    o->data[o->len] = 0;
}

/* put_number - a finite float in decimal: the shortest text that reads back as the same
 * double, as PostgreSQL writes one */
static void put_number(struct buf *o, double d)
{
    buf_reserve(o, 40);
    o->len = (size_t)(fmt_double(o->data + o->len, d, 17) - o->data);
    o->data[o->len] = 0;
}

/* put_int - an integer column; NULL unless known */
static void put_int(struct buf *o, int64_t v, bool known)
{
    if (known) {
        buf_putc(o, '\t');
        put_i64(o, v);
    } else {
        buf_puts(o, "\t\\N");
    }
}

/* put_double - a float column; NULL unless known and finite */
static void put_double(struct buf *o, double d, bool known)
{
    if (known && isfinite(d)) {
        buf_putc(o, '\t');
        put_number(o, d);
    } else {
        buf_puts(o, "\t\\N");
    }
}

/* put_bool - a boolean column */
static void put_bool(struct buf *o, bool v)
{
    buf_puts(o, v ? "\tt" : "\tf");
}

/* put_domain - the lower-case domain of an address (after its last '@'); NULL when none */
static void put_domain(struct buf *o, const char *addr)
{
    const char *at = strrchr(addr, '@');

    put_lower(o, at != NULL ? at + 1 : "");
}

/* time_known - the event's time is one PostgreSQL can store (0 is unknown) */
static bool time_known(int64_t us)
{
    return us != 0 && us >= TIME_MIN_US && us <= TIME_MAX_US;
}

/* put_time_host - the leading columns every event table has: time, host */
static void put_time_host(struct buf *o, const struct event *ev)
{
    char t[48];

    /* Outside years 1..9999 the text would not be a timestamptz at all. */
    if (!time_known(ev->time_us)) {
        buf_puts(o, "\\N");
    } else {
        time_format_rfc3339(ev->time_us, t, sizeof(t));
        buf_puts(o, t);
    }
    buf_putc(o, '\t');
    put_escaped(o, ev->host); /* NOT NULL: "" stays "" */
}

/* put_head - the leading columns of the log event tables: time, host, mta */
static void put_head(struct buf *o, const struct event *ev)
{
    put_time_host(o, ev);
    put_text(o, event_mta_name(ev->mta));
}

/* put_tail - the trailing columns every event table has, and the end of the row */
static void put_tail(struct buf *o, const struct entry *e)
{
    put_bool(o, (e->ev.flags & EVF_TRUNCATED) != 0);
    buf_putc(o, '\t');
    put_i64(o, e->source_id);
    buf_putc(o, '\t');
    put_i64(o, e->pos);
    buf_putc(o, '\t');
    put_i64(o, e->seq);
    buf_putc(o, '\n');
}

/* row_message - one messages row */
static void row_message(struct buf *o, const struct entry *e)
{
    const struct event *ev = &e->ev;

    put_head(o, ev);
    put_text(o, ev->queue_id);
    put_text(o, ev->message_id);
    put_text(o, ev->sender);
    put_domain(o, ev->sender);
    put_int(o, ev->size, ev->size >= 0);
    put_int(o, ev->nrcpt, ev->nrcpt >= 0);
    put_text(o, ev->client);
    put_text(o, ev->sasl_username);
    put_tail(o, e);
}

/* row_delivery - one deliveries row */
static void row_delivery(struct buf *o, const struct entry *e)
{
    const struct event *ev = &e->ev;
    int i;

    put_head(o, ev);
    put_text(o, ev->queue_id);
    put_text(o, ev->message_id);
    put_text(o, ev->sender);
    put_domain(o, ev->sender);
    put_text(o, ev->recipient);
    put_text(o, ev->orig_recipient);
    put_lower(o, event_recipient_domain(ev));
    put_text(o, ev->relay);
    put_double(o, ev->delay, ev->has_delay);
    if (ev->has_delays) {
        /* As Postfix logs them, "a/b/c/d"; a non-finite one is left empty. */
        buf_putc(o, '\t');
        for (i = 0; i < 4; i++) {
            if (i)
                buf_putc(o, '/');
            if (isfinite(ev->delays[i]))
                put_number(o, ev->delays[i]);
        }
    } else {
        buf_puts(o, "\t\\N");
    }
    put_text(o, event_status_name(ev->status));
    put_text(o, ev->dsn);
    put_int(o, ev->smtp_code, ev->smtp_code >= 0);
    put_text(o, ev->reply);
    put_text(o, ev->reason);
    put_bool(o, ev->hard);
    put_text(o, e->provider != NULL ? e->provider : "");
    put_text(o, e->block != NULL ? e->block : "");
    put_text(o, ev->client);
    put_text(o, ev->sasl_username);
    put_tail(o, e);
}

/* row_reject - one rejects row */
static void row_reject(struct buf *o, const struct entry *e)
{
    const struct event *ev = &e->ev;

    put_head(o, ev);
    put_text(o, ev->queue_id);
    put_text(o, ev->client);
    put_text(o, ev->helo);
    put_text(o, ev->sender);
    put_domain(o, ev->sender);
    put_text(o, ev->recipient);
    put_domain(o, ev->recipient);
    put_int(o, ev->smtp_code, ev->smtp_code >= 0);
    put_text(o, ev->dsn);
    put_text(o, ev->reply);
    put_text(o, ev->reason);
    put_text(o, e->provider != NULL ? e->provider : "");
    put_text(o, e->block != NULL ? e->block : "");
    put_tail(o, e);
}

/* row_smtp - one smtp_events row */
static void row_smtp(struct buf *o, const struct entry *e)
{
    const struct event *ev = &e->ev;

    put_time_host(o, ev);
    put_text(o, ev->client);
    put_text(o, ev->server);
    put_text(o, ev->helo);
    put_text(o, ev->sender);
    put_text(o, ev->recipient);
    put_text(o, ev->stage);
    put_int(o, ev->smtp_code, ev->smtp_code >= 0);
    put_text(o, ev->dsn);
    put_text(o, ev->reply);
    put_text(o, ev->queue_id);
    put_bool(o, ev->tls);
    put_tail(o, e);
}

/* row_bounce_notice - one bounce_notices row */
static void row_bounce_notice(struct buf *o, const struct entry *e)
{
    const struct event *ev = &e->ev;

    put_head(o, ev);
    put_text(o, ev->queue_id);
    put_text(o, ev->notice_queue_id);
    put_tail(o, e);
}

/*
 * What each kind of event becomes: its table, its columns in COPY order and its row writer.
 * Messages, deliveries and rejects also feed the rollups (rollup_event()).
 */
static const struct table {
    enum event_type type;
    const char *name;
    const char *cols;
    void (*row)(struct buf *, const struct entry *);
} tables[] = {
    {EV_MESSAGE, "messages",
     "time, host, mta, queue_id, message_id, sender, sender_domain, size, nrcpt, client, "
     "sasl_username, truncated, source_id, pos, seq",
     row_message},
    {EV_DELIVERY, "deliveries",
     "time, host, mta, queue_id, message_id, sender, sender_domain, recipient, orig_recipient, "
     "recipient_domain, relay, delay, delays, status, dsn, smtp_code, reply, reason, hard, "
     "provider, block, client, sasl_username, truncated, source_id, pos, seq",
     row_delivery},
    {EV_REJECT, "rejects",
     "time, host, mta, queue_id, client, helo, sender, sender_domain, recipient, "
     "recipient_domain, smtp_code, dsn, reply, reason, provider, block, truncated, source_id, pos,"
     " seq",
     row_reject},
    {EV_BOUNCE_NOTICE, "bounce_notices",
     "time, host, mta, queue_id, notice_queue_id, truncated, source_id, pos, seq",
     row_bounce_notice},
    {EV_SMTP, "smtp_events",
     "time, host, client, server, helo, sender, recipient, stage, smtp_code, dsn, reply, "
     "queue_id, tls, truncated, source_id, pos, seq",
     row_smtp},
};

/* Rounds of look-up and insert when other writers add rows with the same identity. */
#define SOURCE_OPEN_ROUNDS 8

/*
 * source_pick - among the rows of a file's identity (id, identity, checkpoint, prefix_len,
 * prefix_hash, oldest first), the one whose first bytes this file starts with: its index, or
 * -1. A row of an older version has none and is matched by its identity alone. *next is the
 * suffix a new row would take ("/2" after the identity itself).
 */
static int source_pick(PGresult *res, const char *identity, const char *prefix, size_t plen,
                       long *next)
{
    size_t ilen = strlen(identity);
    int pick = -1;

    *next = PQntuples(res) ? 2 : 1;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *ident = PQgetvalue(res, i, 1);
        long suffix = ident[ilen] == '/' ? strtol(ident + ilen + 1, NULL, 10) : 1;

        if (suffix >= *next)
            *next = suffix + 1;
        if (pick >= 0)
            continue;
        if (PQgetisnull(res, i, 3)) {
            pick = i;
        } else {
            long long len = strtoll(PQgetvalue(res, i, 3), NULL, 10);
            uint64_t hash = (uint64_t)strtoll(PQgetvalue(res, i, 4), NULL, 10);

            if (len >= 0 && (size_t)len <= plen && hash_fnv1a64(prefix, (size_t)len) == hash)
                pick = i;
        }
    }
    return pick;
}

/* source_file - db_source_open for a file: the row its first bytes belong to, or a new one */
static int source_file(struct db *db, const char *name, const char *identity, const char *prefix,
                       size_t plen, int64_t *source_id, int64_t *checkpoint)
{
    char lenbuf[24], hashbuf[24], idbuf[24], ident[512];
    const char *params[4];
    PGresult *res = NULL;
    int rc = -1;

    snprintf(lenbuf, sizeof(lenbuf), "%zu", plen);
    snprintf(hashbuf, sizeof(hashbuf), "%lld", (long long)hash_fnv1a64(prefix, plen));
    for (int round = 0; round < SOURCE_OPEN_ROUNDS && rc < 0; round++) {
        long next;
        int i;

        params[0] = identity;
        res = db_run(db,
                     "SELECT id, identity, checkpoint, prefix_len, prefix_hash FROM sources"
                     " WHERE identity = $1 OR starts_with(identity, $1 || '/') ORDER BY id",
                     1, params, "opening a source");
        if (res == NULL)
            return -1;
        i = source_pick(res, identity, prefix, plen, &next);
        if (i >= 0) {
            long long have = PQgetisnull(res, i, 3) ? -1 : strtoll(PQgetvalue(res, i, 3), NULL, 10);

            *source_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
            *checkpoint = strtoll(PQgetvalue(res, i, 2), NULL, 10);
            snprintf(idbuf, sizeof(idbuf), "%lld", (long long)*source_id);
            PQclear(res);
            /* The name it has now, and more of its first bytes when more are known. */
            params[0] = idbuf;
            params[1] = name;
            params[2] = lenbuf;
            params[3] = hashbuf;
            res =
                (long long)plen > have
                    ? db_run(db,
                             "UPDATE sources SET name = $2, prefix_len = $3::integer,"
                             " prefix_hash = $4::bigint WHERE id = $1::bigint RETURNING id",
                             4, params, "opening a source")
                    : db_run(db, "UPDATE sources SET name = $2 WHERE id = $1::bigint RETURNING id",
                             2, params, "opening a source");
            rc = res ? 0 : -1;
            break;
        }
        PQclear(res);
        /* Another file that starts with the same line: a row of its own. A writer that added
         * the same row meanwhile wins; the next round finds it. */
        if (next == 1)
            snprintf(ident, sizeof(ident), "%s", identity);
        else
            snprintf(ident, sizeof(ident), "%s/%ld", identity, next);
        params[0] = name;
        params[1] = ident;
        params[2] = lenbuf;
        params[3] = hashbuf;
        res = db_run(db,
                     "INSERT INTO sources (name, identity, prefix_len, prefix_hash, updated_at)"
                     " VALUES ($1, $2, $3::integer, $4::bigint, now())"
                     " ON CONFLICT (identity) DO NOTHING RETURNING id, checkpoint",
                     4, params, "opening a source");
        if (res == NULL)
            break;
        if (PQntuples(res) == 1) {
            *source_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            *checkpoint = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            if (next > 1)
                log_info("%s starts with the same line as another file (%s) but differs in its "
                         "first bytes: a source of its own, %s",
                         name, identity, ident);
            rc = 0;
        }
        PQclear(res);
        res = NULL;
    }
    if (rc < 0 && res == NULL)
        log_warn("db: opening the source of %s: no row after %d rounds", name, SOURCE_OPEN_ROUNDS);
    PQclear(res);
    return rc;
}

/* db_source_open - find or create the source with this identity; its id and checkpoint */
int db_source_open(struct db *db, const char *name, const char *identity, const char *prefix,
                   size_t prefix_len, int64_t *source_id, int64_t *checkpoint)
{
    char *n = xstrdup(name), *id = xstrdup(identity);
    const char *params[2] = {n, id};
    PGresult *res = NULL;
    int rc = -1;

    /* Parameters must be valid UTF-8 too; a path may hold any bytes. */
    utf8_scrub(n);
    utf8_scrub(id);
    if (db_reconnect(db) < 0)
        goto out;
    if (prefix != NULL) {
        rc = source_file(db, n, id, prefix, prefix_len, source_id, checkpoint);
        goto out;
    }
    /* DO UPDATE rather than DO NOTHING, so that RETURNING yields the existing row. */
    res = PQexecParams(db->conn,
                       "INSERT INTO sources (name, identity, updated_at) VALUES ($1, $2, now())"
                       " ON CONFLICT (identity) DO UPDATE SET name = EXCLUDED.name"
                       " RETURNING id, checkpoint",
                       2, NULL, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        db_warn_res(db, res, "opening a source");
        goto out;
    }
    *source_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    *checkpoint = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    rc = 0;
out:
    PQclear(res);
    x_free(n);
    x_free(id);
    return rc;
}

/* db_batch_create - an empty batch that will write through db */
struct db_batch *db_batch_create(struct db *db)
{
    struct db_batch *b = xcalloc(1, sizeof(*b));

    b->db = db;
    buf_init(&b->copy);
    buf_init(&b->sql);
    b->spec = sums_new();
    b->spec_valid = true;
    return b;
}

/* db_batch_free - release the batch and the events it still holds; NULL is a no-op */
void db_batch_free(struct db_batch *b)
{
    if (b == NULL)
        return;
    x_free(b->v);
    x_free(b->tag);
    x_free(b->months);
    sums_free(b->spec);
    buf_free(&b->copy);
    buf_free(&b->sql);
    x_free(b);
}

/* db_batch_state - store this parser state with the next commit; see db.h */
void db_batch_state(struct db_batch *b, int version, const void *state, size_t len)
{
    b->state = state;
    b->state_len = len;
    b->state_version = version;
}

/* db_batch_prefix - the source's first bytes (length and hash) for the next commit */
void db_batch_prefix(struct db_batch *b, size_t len, uint64_t hash)
{
    b->prefix_len = len;
    b->prefix_hash = hash;
}

/* db_batch_count - events waiting for a commit */
size_t db_batch_count(const struct db_batch *b)
{
    return b->n;
}

/* db_batch_add - copy ev into the batch (repaired); events that are not stored are skipped */
void db_batch_add(struct db_batch *b, int64_t source_id, int64_t pos, const struct event *ev)
{
    struct entry *e;
    size_t i;

    switch (ev->type) {
    case EV_MESSAGE:
    case EV_REJECT:
    case EV_BOUNCE_NOTICE:
    case EV_SMTP:
        break;
    case EV_DELIVERY:
        /* Only the four outcomes the table accepts: one bad row would fail the batch. */
        if (event_status_name(ev->status)[0] != 0)
            break;
        log_debug("db: delivery event without a status at %lld ignored", (long long)pos);
        return;
    case EV_NONE:
    default:
        return;
    }
    b->v = xgrow(b->v, &b->cap, b->n, sizeof(*b->v), 64);
    b->tag = xgrow(b->tag, &b->tag_cap, b->n, 1, 64);
    b->tag[b->n] = (unsigned char)ev->type;
    e = &b->v[b->n++];
    e->source_id = source_id;
    e->pos = pos;
    if (b->have_last && b->last_source == source_id && b->last_pos == pos)
        e->seq = b->last_seq + 1;
    else
        e->seq = 0;
    b->have_last = true;
    b->last_source = source_id;
    b->last_pos = pos;
    b->last_seq = e->seq;

    e->ev = *ev;
    e->repaired = 0;
    for (i = 0; i < ARRAY_LEN(string_fields); i++) {
        char *s = (char *)&e->ev + string_fields[i][0];

        s[string_fields[i][1] - 1] = 0; /* never trust a fixed array to be terminated */
        if (utf8_scrub(s) > 0)
            e->repaired++;
    }
    if (e->repaired > 0)
        e->ev.flags |= EVF_BAD_BYTES;
    else if (ev->flags & EVF_BAD_BYTES)
        e->repaired = 1;
    b->repaired += e->repaired;
    /* Most events fall in the month of the one before. */
    if (time_known(ev->time_us) && (ev->time_us < b->month_lo || ev->time_us >= b->month_hi)) {
        const int64_t day = 86400 * INT64_C(1000000);
        int m = db_month_of(ev->time_us);

        for (i = 0; i < b->nmonths && b->months[i] != m; i++)
            ;
        if (i == b->nmonths) {
            b->months = xgrow(b->months, &b->months_cap, b->nmonths, sizeof(*b->months), 4);
            b->months[b->nmonths++] = m;
        }
        b->month_lo = time_days_from_civil(m / 12, m % 12 + 1, 1) * day;
        b->month_hi = time_days_from_civil((m + 1) / 12, (m + 1) % 12 + 1, 1) * day;
    }
    e->provider = NULL;
    e->block = NULL;
    if (ev->type == EV_DELIVERY || ev->type == EV_REJECT) {
        const struct block *bl = NULL;

        e->provider = provider_of(e->ev.relay, event_recipient_domain(&e->ev));
        if (ev->type == EV_REJECT || ev->status != ST_SENT)
            bl = block_match(e->ev.reply, strlen(e->ev.reply));
        e->block = bl != NULL ? bl->name : NULL;
    }
    if (b->spec_valid)
        sums_event(b->spec, e, (unsigned char)ev->type);
}

/* copy_flush - hand the buffered COPY data to libpq */
static int copy_flush(struct db_batch *b)
{
    if (b->copy.len == 0)
        return 0;
    if (PQputCopyData(b->db->conn, b->copy.data, (int)b->copy.len) != 1)
        return -1;
    buf_reset(&b->copy);
    return 0;
}

/*
 * copy_begin - start "COPY <b->sql>" (the caller wrote the target and columns into b->sql)
 */
static int copy_begin(struct db_batch *b, const char *what)
{
    PGresult *res;

    res = db_exec(b->db, b->sql.data, PGRES_COPY_IN, what);
    if (res == NULL)
        return -1;
    PQclear(res);
    buf_reset(&b->copy);
    return 0;
}

/*
 * copy_end - send what is buffered and end the COPY. failed: sending went wrong before. When a
 * unique key refused a row (SQLSTATE 23505) and conflict is not NULL, *conflict is set and no
 * warning is logged: the caller takes the slower way that skips such rows.
 */
static void sums_settle(struct db *db);

static int copy_end(struct db_batch *b, const char *what, bool failed, bool *conflict)
{
    PGconn *conn = b->db->conn;
    PGresult *res;
    int guard = 0;

    if (!failed && copy_flush(b) < 0)
        failed = true;
    if (failed)
        db_warn_res(b->db, NULL, what);
    if (PQputCopyEnd(conn, failed ? "mailpulse: sending COPY data failed" : NULL) != 1 && !failed) {
        db_warn_res(b->db, NULL, what);
        failed = true;
    }
    /* The server still works through the rows sent: meanwhile, the last batch's sums. */
    if (!failed)
        sums_settle(b->db);
    /*
     * Read every result, so that the connection is ready for the next command. The guard
     * stops the loop should libpq keep reporting the COPY as in progress after an error.
     */
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

            if (conflict != NULL && state != NULL && strcmp(state, "23505") == 0)
                *conflict = true;
            else
                db_warn_res(b->db, res, what);
            failed = true;
        }
        PQclear(res);
        if (++guard > 8)
            break;
    }
    buf_reset(&b->copy);
    return failed ? -1 : 0;
}

/* copy_rows - COPY the batch's events of one kind into "into" (the table or its staging copy) */
static int copy_rows(struct db_batch *b, const struct table *t, const char *into, bool *conflict)
{
    char what[64];
    bool failed = false;
    size_t i;

    snprintf(what, sizeof(what), "COPY into %s", t->name);
    buf_reset(&b->sql);
    buf_printf(&b->sql, "COPY %s (%s) FROM STDIN", into, t->cols);
    if (copy_begin(b, what) < 0)
        return -1;
    for (i = 0; i < b->n && !failed; i++) {
        if ((b->tag[i] & TAG_TYPE) != t->type)
            continue;
        t->row(&b->copy, &b->v[i]);
        if (b->copy.len >= COPY_CHUNK && copy_flush(b) < 0)
            failed = true;
    }
    return copy_end(b, what, failed, conflict);
}

/* cmp_key - order of (source_id, pos, seq) */
static int cmp_key(const void *pa, const void *pb)
{
    const int64_t *a = pa, *b = pb;

    for (int k = 0; k < 3; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

/*
 * mark_returned - flag as stored the events of type whose (source_id, pos, seq) an INSERT ...
 * RETURNING source_id, pos, seq gave back
 */
static void mark_returned(struct db_batch *b, enum event_type type, PGresult *r)
{
    int n = PQntuples(r);
    int64_t(*keys)[3] = xmalloc(((size_t)n + 1) * sizeof(*keys));

    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            keys[i][k] = strtoll(PQgetvalue(r, i, k), NULL, 10);
    qsort(keys, (size_t)n, sizeof(*keys), cmp_key);
    for (size_t i = 0; i < b->n; i++) {
        const struct entry *e = &b->v[i];
        int64_t key[3];

        if ((b->tag[i] & TAG_TYPE) != type)
            continue;
        key[0] = e->source_id;
        key[1] = e->pos;
        key[2] = e->seq;
        if (bsearch(key, keys, (size_t)n, sizeof(*keys), cmp_key) != NULL)
            b->tag[i] |= TAG_STORED;
    }
    x_free(keys);
}

/*
 * stage_table - store the batch's events of one kind through the staging table, with INSERT
 * ... ON CONFLICT DO NOTHING RETURNING, which tells which were new: flag those stored (only
 * they reach the rollups: a replay adds nothing); their count in *n
 */
static int stage_table(struct db_batch *b, const struct table *t, uint64_t *n)
{
    char what[64], stg[64];
    PGresult *r;

    snprintf(what, sizeof(what), "inserting into %s", t->name);
    snprintf(stg, sizeof(stg), "stg_%s", t->name);
    if (copy_rows(b, t, stg, NULL) < 0)
        return -1;
    buf_reset(&b->sql);
    buf_printf(&b->sql,
               "INSERT INTO %s (%s) SELECT %s FROM stg_%s"
               " ON CONFLICT (source_id, pos, seq, time) DO NOTHING"
               " RETURNING source_id, pos, seq",
               t->name, t->cols, t->cols, t->name);
    r = db_exec(b->db, b->sql.data, PGRES_TUPLES_OK, what);
    if (r == NULL)
        return -1;
    *n = (uint64_t)PQntuples(r);
    mark_returned(b, t->type, r);
    PQclear(r);
    /* The transaction may go on with another batch: its staging must start empty. */
    buf_reset(&b->sql);
    buf_printf(&b->sql, "TRUNCATE stg_%s", t->name);
    return db_exec_cmd(b->db, b->sql.data, what);
}

/*
 * move_tables - store the batch's events (staged[j] of them into tables[j]); count new rows
 * and duplicates, and flag the events stored. *straight: every event went straight in.
 *
 * Usually none of the rows is there yet, and they are copied straight into their tables. When
 * a unique key refuses one, the batch's copies are undone (to a savepoint) and every table's
 * rows go through stage_table(): slower, and only on a replay.
 *
 * One savepoint per batch, not per table: each savepoint that writes takes a subtransaction
 * id, and while a transaction holds more than 64 of them (PGPROC_MAX_CACHED_SUBXIDS) every
 * other session's snapshot overflows, and a reader of its rows (the dashboard reading recent
 * deliveries during an import) looks each one up in pg_subtrans, shared by all sessions.
 */
static int move_tables(struct db_batch *b, const uint64_t *staged, struct db_batch_result *res,
                       bool *straight)
{
    const char *what = "storing a batch";
    bool conflict = false;
    uint64_t n;
    size_t i, j;

    if (db_exec_cmd(b->db, "SAVEPOINT mailpulse_move", what) < 0)
        return -1;
    for (j = 0; j < ARRAY_LEN(tables) && !conflict; j++)
        if (staged[j] > 0 && copy_rows(b, &tables[j], tables[j].name, &conflict) < 0 && !conflict)
            return -1;
    if (!conflict) {
        for (i = 0; i < b->n; i++)
            b->tag[i] |= TAG_STORED;
        for (j = 0; j < ARRAY_LEN(tables); j++)
            res->inserted += staged[j];
        return db_exec_cmd(b->db, "RELEASE SAVEPOINT mailpulse_move", what);
    }
    *straight = false;
    if (db_exec_cmd(b->db, "ROLLBACK TO SAVEPOINT mailpulse_move", what) < 0 ||
        db_exec_cmd(b->db, "RELEASE SAVEPOINT mailpulse_move", what) < 0)
        return -1;
    for (j = 0; j < ARRAY_LEN(tables); j++) {
        if (staged[j] == 0)
            continue;
        if (stage_table(b, &tables[j], &n) < 0)
            return -1;
        res->inserted += n;
        res->duplicates += staged[j] > n ? staged[j] - n : 0;
    }
    return 0;
}

/*
 * The rollups. Each commit adds up, per rollup table, the rows its stored events make (the
 * view "facts" of sql/012 says what an event is: time, host, sender and recipient domain,
 * kind, reason, dsn and, for a failure, the reply as an example), copies those sums into the
 * table's staging copy and adds them in with one INSERT ... ON CONFLICT DO UPDATE each.
 * mailpulse_rebuild_rollups() computes the same rows from the events in SQL.
 *
 * The fields of one event, in COPY text form: the key of a rollup row is some of them joined
 * by tabs, in the order of the table's unique key (rollup_key()).
 */
enum fact_field {
    F_HOUR,
    F_MINUTE,
    F_DAY,
    F_MONTH,
    F_TENMIN,
    F_HOST,
    F_SD,
    F_RD,
    F_KIND,
    F_REASON,
    F_DSN,
    F_PROVIDER,
    F_PROVIDER_OR_OTHER,
    F_BLOCK,
    F_CLIENT_IP,
    F_SASL,
    F_AXIS, /* in a sender rollup: the axis's name, then its key */
    F_AXIS_KEY,
    F_END = -1
};

/* The kinds that sender and outcome rollups count per column, in their column order. */
static const char *const kinds[] = {"sent", "deferred", "bounced", "expired", "rejected"};

/* The three axes of the sender rollups (sql/009) and the field each is keyed by. */
static const struct {
    const char *name;
    enum fact_field field;
} axes[] = {{"sender_domain", F_SD}, {"sasl_user", F_SASL}, {"client_ip", F_CLIENT_IP}};

enum rollup_id {
    R_HOUR,
    R_HOST,
    R_HOST_MINUTE,
    R_DOMAIN_DAY,
    R_DOMAIN_MONTH,
    R_DOMAIN_HOUR,
    R_DOMAIN_HOST_DAY,
    R_PROVIDER_HOUR,
    R_PROVIDER_MINUTE,
    R_BLOCK_HOUR,
    R_SENDER_HOUR,
    R_SENDER_DAY,
    R_SENDER_REASON_DAY,
    R_DOMAIN_TENMIN,
    R_SENDER_TENMIN,
    R_COUNT
};

/*
 * Each rollup table: its key columns (in the order of its unique key) and the fields they hold,
 * its counters (one count, or one per kind of kinds[]) and whether it keeps an example reply.
 */
static const struct rollup {
    const char *table;
    const char *keys;
    enum fact_field fields[8];
    const char *counts;
    int per_kind; /* counters per kind: kinds[0 .. per_kind - 1]; 0: one count "n" */
    bool example;
    bool append; /* the sums go in as rows of their own (a key may have several): no upsert */
} rollups[R_COUNT] = {
    [R_HOUR] = {"rollups",
                "hour, host, sender_domain, kind, reason, dsn",
                {F_HOUR, F_HOST, F_SD, F_KIND, F_REASON, F_DSN, F_END},
                "n",
                0,
                true},
    [R_HOST] = {"rollups_host",
                "hour, host, kind, reason, dsn",
                {F_HOUR, F_HOST, F_KIND, F_REASON, F_DSN, F_END},
                "n",
                0,
                true},
    [R_HOST_MINUTE] = {"rollups_host_minute",
                       "minute, host, kind, reason, dsn",
                       {F_MINUTE, F_HOST, F_KIND, F_REASON, F_DSN, F_END},
                       "n",
                       0,
                       true},
    [R_DOMAIN_DAY] = {"rollups_domain_day",
                      "recipient_domain, day",
                      {F_RD, F_DAY, F_END},
                      "sent, deferred, bounced, expired",
                      4,
                      false},
    [R_DOMAIN_MONTH] =
        {"rollups_domain_month", "month, recipient_domain", {F_MONTH, F_RD, F_END}, "n", 0, false},
    [R_DOMAIN_HOUR] = {"rollups_domain_hour",
                       "recipient_domain, hour, host",
                       {F_RD, F_HOUR, F_HOST, F_END},
                       "sent, deferred, bounced, expired",
                       4,
                       false},
    [R_DOMAIN_HOST_DAY] = {"rollups_domain_host_day",
                           "recipient_domain, host, day",
                           {F_RD, F_HOST, F_DAY, F_END},
                           "sent, deferred, bounced, expired",
                           4,
                           false},
    [R_PROVIDER_HOUR] = {"rollups_provider_hour",
                         "provider, host, hour",
                         {F_PROVIDER, F_HOST, F_HOUR, F_END},
                         "sent, deferred, bounced, expired",
                         4,
                         false},
    [R_PROVIDER_MINUTE] = {"rollups_provider_minute",
                           "minute, host, provider",
                           {F_MINUTE, F_HOST, F_PROVIDER, F_END},
                           "sent, deferred, bounced, expired",
                           4,
                           false},
    [R_BLOCK_HOUR] = {"rollups_block_hour",
                      "block, host, provider, hour",
                      {F_BLOCK, F_HOST, F_PROVIDER_OR_OTHER, F_HOUR, F_END},
                      "n",
                      0,
                      false},
    [R_SENDER_HOUR] = {"rollups_sender_hour",
                       "axis, hour, key, host, kind, reason",
                       {F_AXIS, F_HOUR, F_AXIS_KEY, F_HOST, F_KIND, F_REASON, F_END},
                       "n",
                       0,
                       false},
    [R_SENDER_DAY] = {"rollups_sender_day",
                      "axis, day, key, host",
                      {F_AXIS, F_DAY, F_AXIS_KEY, F_HOST, F_END},
                      "sent, deferred, bounced, expired, rejected",
                      5,
                      false},
    [R_SENDER_REASON_DAY] = {"rollups_sender_reason_day",
                             "axis, key, day, host, reason",
                             {F_AXIS, F_AXIS_KEY, F_DAY, F_HOST, F_REASON, F_END},
                             "n",
                             0,
                             false},
    /* Only the events before tenmin_rolled.through: later buckets are added up from the
     * events once they have passed (sql/031). */
    [R_DOMAIN_TENMIN] = {"rollups_domain_tenmin",
                         "recipient_domain, tenmin, host",
                         {F_RD, F_TENMIN, F_HOST, F_END},
                         "sent, deferred, bounced, expired",
                         4,
                         false,
                         true},
    [R_SENDER_TENMIN] = {"rollups_sender_tenmin",
                         "axis, tenmin, key, host, kind, reason",
                         {F_AXIS, F_TENMIN, F_AXIS_KEY, F_HOST, F_KIND, F_REASON, F_END},
                         "n",
                         0,
                         false,
                         true},
};

/* The fields of the event being added up, and the last times formatted (most repeat). */
struct facts {
    struct buf text;
    size_t off[F_AXIS], len[F_AXIS];
    int64_t grain_us[5]; /* F_HOUR .. F_TENMIN: the truncated time whose text is at off[] */
    char grain_text[5][40];
    struct buf key;
    struct buf example;
};

struct rollup_sums {
    struct delta d[R_COUNT];
    struct facts f;
    struct delta sent; /* sender domain and recipient as COPY columns: the latest time sent */
    struct buf lost;   /* the rows of stg_suppress (see suppress_row()) */
    struct buf scratch;
    int64_t tenmin_through; /* the events before it count in the ten-minute rollups */
};

/* field_set - field k of the event: s escaped for COPY */
static void field_set(struct facts *f, enum fact_field k, const char *s)
{
    f->off[k] = f->text.len;
    put_escaped(&f->text, s);
    f->len[k] = f->text.len - f->off[k];
}

/* field_lower - field k: the ASCII lower case of s (as put_lower() stores a domain) */
static void field_lower(struct facts *f, enum fact_field k, const char *s)
{
    char tmp[EV_ADDR_LEN];
    size_t i;

    for (i = 0; s[i] != 0 && i + 1 < sizeof(tmp); i++)
        tmp[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i]);
    tmp[i] = 0;
    field_set(f, k, tmp);
}

/* field_times - the hour, minute, day, month and ten minutes of us, as timestamps (UTC) */
static void field_times(struct facts *f, int64_t us)
{
    int64_t t[5], y;
    int m, d;

    t[0] = db_floor_to(us, HOUR_US);
    t[1] = db_floor_to(us, 60 * INT64_C(1000000));
    t[2] = db_floor_to(us, DAY_US);
    time_civil_from_days(t[2] / DAY_US, &y, &m, &d);
    t[3] = time_days_from_civil(y, m, 1) * DAY_US;
    t[4] = db_floor_to(us, DB_TENMIN_US);
    for (int k = 0; k < 5; k++) {
        if (t[k] != f->grain_us[k] || f->grain_text[k][0] == 0) {
            time_format_rfc3339(t[k], f->grain_text[k], sizeof(f->grain_text[k]));
            f->grain_us[k] = t[k];
        }
        field_set(f, (enum fact_field)(F_HOUR + k), f->grain_text[k]);
    }
}

/* client_ip - what mailpulse_client_ip() (sql/009) makes of a client "name[address]:port" */
static void client_ip(struct facts *f, const char *c)
{
    const char *open = strchr(c, '['), *end;
    char tmp[EV_CLIENT_LEN];

    if (open == NULL) {
        field_set(f, F_CLIENT_IP, c);
        return;
    }
    open++;
    end = open + strcspn(open, "[]");
    str_copy(tmp, sizeof(tmp), open, (size_t)(end - open));
    field_set(f, F_CLIENT_IP, tmp);
}

/* rollup_add - count one event (its fields in f) in rollup r; axis: the sender axis or -1 */
static void rollup_add(struct rollup_sums *s, enum rollup_id r, int axis, int kind,
                       const char *example)
{
    const struct rollup *ru = &rollups[r];
    struct facts *f = &s->f;
    int64_t *c;

    buf_reset(&f->key);
    for (int i = 0; ru->fields[i] != F_END; i++) {
        enum fact_field k = ru->fields[i];

        if (i > 0)
            buf_putc(&f->key, '\t');
        if (k == F_AXIS)
            buf_puts(&f->key, axes[axis].name);
        else
            k = k == F_AXIS_KEY ? axes[axis].field : k;
        if (k != F_AXIS)
            buf_append(&f->key, f->text.data + f->off[k], f->len[k]);
    }
    c = delta_add(&s->d[r], f->key.data, f->key.len, example,
                  example != NULL ? strlen(example) : 0);
    c[ru->per_kind ? kind : 0]++;
}

/* rollup_event - count one stored event in every rollup it belongs to */
static void rollup_event(struct rollup_sums *s, const struct entry *e)
{
    const struct event *ev = &e->ev;
    struct facts *f = &s->f;
    const char *kind, *example = NULL;
    int kx = -1;
    bool outcome;

    if (!time_known(ev->time_us))
        return;
    buf_reset(&f->text);
    field_times(f, ev->time_us);
    field_set(f, F_HOST, ev->host);
    {
        const char *at = strrchr(ev->sender, '@');

        field_lower(f, F_SD, at != NULL ? at + 1 : "");
    }
    switch (ev->type) {
    case EV_MESSAGE:
        kind = ev->sender[0] == 0 && ev->client[0] == 0 ? "notice" : "received";
        field_set(f, F_RD, "");
        field_set(f, F_REASON, "");
        field_set(f, F_DSN, "");
        break;
    case EV_DELIVERY:
        kind = event_status_name(ev->status);
        field_lower(f, F_RD, event_recipient_domain(ev));
        field_set(f, F_REASON, ev->reason);
        field_set(f, F_DSN, ev->dsn);
        if (ev->status != ST_SENT && ev->reply[0] != 0)
            example = ev->reply;
        break;
    case EV_REJECT: {
        const char *at = strrchr(ev->recipient, '@');

        kind = "rejected";
        field_lower(f, F_RD, at != NULL ? at + 1 : "");
        field_set(f, F_REASON, ev->reason);
        field_set(f, F_DSN, ev->dsn);
        if (ev->reply[0] != 0)
            example = ev->reply;
        break;
    }
    default:
        return;
    }
    field_set(f, F_KIND, kind);
    for (int k = 0; k < (int)ARRAY_LEN(kinds); k++)
        if (strcmp(kind, kinds[k]) == 0)
            kx = k;
    if (example != NULL) {
        /* The example goes into the COPY text as it is: escape it once. */
        buf_reset(&f->example);
        put_escaped(&f->example, example);
        example = f->example.data;
    }

    rollup_add(s, R_HOUR, -1, kx, example);
    rollup_add(s, R_HOST, -1, kx, example);
    rollup_add(s, R_HOST_MINUTE, -1, kx, example);
    /* The ten minutes count the messages received under their sender domain (axes[0]). */
    if (ev->type == EV_MESSAGE && strcmp(kind, "received") == 0 && ev->time_us < s->tenmin_through)
        rollup_add(s, R_SENDER_TENMIN, 0, kx, NULL);
    if (kx < 0) /* received, notice: no outcome, no sender rollups */
        return;
    outcome = kx <= 3;
    /* The hour rows count every attempt (those without a recipient domain under ""), the
     * day and month rows only those with one. */
    if (outcome)
        rollup_add(s, R_DOMAIN_HOUR, -1, kx, NULL);
    if (outcome && ev->time_us < s->tenmin_through)
        rollup_add(s, R_DOMAIN_TENMIN, -1, kx, NULL);
    if (outcome && f->len[F_RD] > 0) {
        rollup_add(s, R_DOMAIN_DAY, -1, kx, NULL);
        rollup_add(s, R_DOMAIN_MONTH, -1, kx, NULL);
        rollup_add(s, R_DOMAIN_HOST_DAY, -1, kx, NULL);
    }
    field_set(f, F_PROVIDER, e->provider != NULL ? e->provider : "");
    field_set(f, F_PROVIDER_OR_OTHER,
              e->provider != NULL && e->provider[0] != 0 ? e->provider : "other");
    field_set(f, F_BLOCK, e->block != NULL ? e->block : "");
    if (outcome && f->len[F_PROVIDER] > 0) {
        rollup_add(s, R_PROVIDER_HOUR, -1, kx, NULL);
        rollup_add(s, R_PROVIDER_MINUTE, -1, kx, NULL);
    }
    if (f->len[F_BLOCK] > 0)
        rollup_add(s, R_BLOCK_HOUR, -1, kx, NULL);
    client_ip(f, ev->client);
    field_set(f, F_SASL, ev->type == EV_DELIVERY ? ev->sasl_username : "");
    for (int a = 0; a < (int)ARRAY_LEN(axes); a++) {
        rollup_add(s, R_SENDER_HOUR, a, kx, NULL);
        rollup_add(s, R_SENDER_DAY, a, kx, NULL);
        if (kx != 0 && f->len[F_REASON] > 0)
            rollup_add(s, R_SENDER_REASON_DAY, a, kx, NULL);
        if (ev->time_us < s->tenmin_through)
            rollup_add(s, R_SENDER_TENMIN, a, kx, NULL);
    }
}

/* sent_at - a delivery sent to the sender domain and recipient of key at time us: the latest
 * time is kept (c[0]; c[1] says there is one) */
static void sent_at(struct delta *d, const char *key, size_t len, int64_t us)
{
    int64_t *c = delta_add(d, key, len, NULL, 0);

    if (c[1] == 0 || us > c[0])
        c[0] = us;
    c[1] = 1;
}

/*
 * suppress_row - the suppression list's view of a stored delivery: sent to its recipient (the
 * latest time per sender domain and recipient, in s->sent) or failed for good (a row of
 * stg_suppress: time, sender domain, recipient, reason, dsn and reply, in s->lost)
 */
static void suppress_row(struct rollup_sums *s, const struct entry *e)
{
    const struct event *ev = &e->ev;
    char t[48];

    if (!time_known(ev->time_us) || ev->recipient[0] == 0)
        return;
    if (ev->status == ST_SENT) {
        buf_reset(&s->scratch);
        put_domain(&s->scratch, ev->sender);
        put_text(&s->scratch, ev->recipient);
        sent_at(&s->sent, s->scratch.data, s->scratch.len, ev->time_us);
        return;
    }
    if (!(ev->hard && (ev->status == ST_BOUNCED || ev->status == ST_EXPIRED)))
        return;
    time_format_rfc3339(ev->time_us, t, sizeof(t));
    buf_puts(&s->lost, t);
    put_domain(&s->lost, ev->sender);
    put_text(&s->lost, ev->recipient);
    buf_putc(&s->lost, '\t');
    put_escaped(&s->lost, ev->reason);
    buf_putc(&s->lost, '\t');
    put_escaped(&s->lost, ev->dsn);
    put_text(&s->lost, ev->reply);
    buf_putc(&s->lost, '\n');
}

/*
 * fold_key - the sender domain and recipient columns of a suppression row (from the tab after
 * the time) with ASCII letters in lower case, into o; false when a byte is not ASCII. Two
 * recipients lower() takes to the same text fold to the same key when both are ASCII, whatever
 * the database's collation, so equal keys are a superset of the matches lower() makes.
 */
static bool fold_key(struct buf *o, const char *cols, size_t len)
{
    bool ascii = true;

    buf_reset(o);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)cols[i];

        ascii = ascii && c < 0x80;
        buf_putc(o, (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
    }
    return ascii;
}

/*
 * copy_sent - COPY into stg_sent the time, sender domain and recipient of each delivery sent,
 * and whether a failure of the transaction may have the same recipient (hit). Only hits take
 * part in the comparison with the failures, so that it does not lower() every recipient sent
 * to.
 */
static int copy_sent(struct db_batch *b)
{
    struct rollup_sums *s = b->db->sums;
    struct delta lost;
    bool all = false, failed = false;
    char t[48];

    delta_init(&lost);
    for (size_t off = 0; off < s->lost.len;) {
        const char *row = s->lost.data + off, *end = memchr(row, '\n', s->lost.len - off);
        const char *sd = memchr(row, '\t', (size_t)(end - row));
        const char *rc = memchr(sd + 1, '\t', (size_t)(end - sd - 1));
        const char *rc_end = memchr(rc + 1, '\t', (size_t)(end - rc - 1));

        if (!fold_key(&s->scratch, sd, (size_t)(rc_end - sd)))
            all = true;
        delta_add(&lost, s->scratch.data, s->scratch.len, NULL, 0);
        off = (size_t)(end - s->lost.data) + 1;
    }
    buf_reset(&b->sql);
    buf_puts(&b->sql, "COPY stg_sent (time, sd, rcpt, hit) FROM STDIN");
    if (copy_begin(b, "updating the suppression list") < 0) {
        delta_free(&lost);
        return -1;
    }
    for (size_t i = 0; i < s->sent.n && !failed; i++) {
        const char *key, *ex;
        const struct delta_row *r = delta_row(&s->sent, i, &key, &ex);
        bool hit = all;

        if (!hit && lost.n > 0)
            hit = !fold_key(&s->scratch, key, r->key_len) ||
                  delta_find(&lost, s->scratch.data, s->scratch.len) != NULL;
        time_format_rfc3339(r->c[0], t, sizeof(t));
        buf_puts(&b->copy, t);
        buf_append(&b->copy, key, r->key_len);
        buf_puts(&b->copy, hit ? "\tt\n" : "\tf\n");
        if (b->copy.len >= COPY_CHUNK && copy_flush(b) < 0)
            failed = true;
    }
    delta_free(&lost);
    return copy_end(b, "updating the suppression list", failed, NULL);
}

/*
 * The suppression list from the stored deliveries of the batch, in two steps: an entry older
 * than a delivery sent to its recipient is taken off; then a recipient whose mail failed for
 * good, and was not sent later in the batch, is added (its latest failure, and how many).
 * Recipients are compared in lower case, as lower() has it.
 */
#define UNSUPPRESS_SQL                                                                             \
    "DELETE FROM suppressions s USING stg_sent x"                                                  \
    " WHERE s.recipient = lower(x.rcpt) AND s.sender_domain = coalesce(x.sd, '')"                  \
    " AND s.last_time < x.time"
#define SUPPRESS_SQL                                                                               \
    "INSERT INTO suppressions (recipient, sender_domain, last_time, origin, reason, dsn, reply, "  \
    "n)"                                                                                           \
    " SELECT DISTINCT ON (rcpt, sd) rcpt, sd, time, 'log', reason, nullif(dsn, ''), reply,"        \
    " count(*) OVER (PARTITION BY rcpt, sd)"                                                       \
    " FROM (SELECT time, coalesce(sd, '') AS sd, lower(rcpt) AS rcpt, reason, dsn, reply"          \
    " FROM stg_suppress) f"                                                                        \
    " WHERE NOT EXISTS (SELECT 1 FROM stg_sent g WHERE g.hit AND lower(g.rcpt) = f.rcpt"           \
    " AND coalesce(g.sd, '') = f.sd AND g.time > f.time)"                                          \
    " ORDER BY rcpt, sd, time DESC" DB_SUPPRESSION_UPSERT

/* copy_text - COPY rows already in COPY text form (sql: the COPY statement) */
static int copy_text(struct db_batch *b, const char *sql, const struct buf *rows, const char *what)
{
    bool failed = false;

    buf_reset(&b->sql);
    buf_puts(&b->sql, sql);
    if (copy_begin(b, what) < 0)
        return -1;
    for (size_t off = 0; off < rows->len && !failed; off += COPY_CHUNK) {
        size_t n = rows->len - off < COPY_CHUNK ? rows->len - off : COPY_CHUNK;

        if (PQputCopyData(b->db->conn, rows->data + off, (int)n) != 1)
            failed = true;
    }
    return copy_end(b, what, failed, NULL);
}

/* suppress - the suppression list after the batch's stored deliveries (rows made by
 * sums_add()) */
static int suppress(struct db_batch *b)
{
    const char *what = "updating the suppression list";
    struct rollup_sums *s = b->db->sums;

    if (s->sent.n > 0 && (copy_sent(b) < 0 || db_exec_cmd(b->db, UNSUPPRESS_SQL, what) < 0))
        return -1;
    if (s->lost.len > 0 &&
        (copy_text(b, "COPY stg_suppress (time, sd, rcpt, reason, dsn, reply) FROM STDIN", &s->lost,
                   what) < 0 ||
         db_exec_cmd(b->db, SUPPRESS_SQL, what) < 0))
        return -1;
    return 0;
}

/* copy_sums - COPY the sums of rollup r into its staging table and add them to the table */
static int copy_sums(struct db_batch *b, enum rollup_id r)
{
    const struct rollup *ru = &rollups[r];
    const struct delta *d = &b->db->sums->d[r];
    const char *what = "adding up the rollups";
    char col[32];
    bool failed = false;
    PGresult *res;

    buf_reset(&b->sql);
    buf_printf(&b->sql, "COPY stg_%s (%s, %s%s) FROM STDIN", ru->table, ru->keys, ru->counts,
               ru->example ? ", example" : "");
    if (copy_begin(b, what) < 0)
        return -1;
    for (size_t i = 0; i < d->n && !failed; i++) {
        const char *key, *ex;
        const struct delta_row *row = delta_row(d, i, &key, &ex);

        buf_append(&b->copy, key, row->key_len);
        for (int k = 0; k < (ru->per_kind ? ru->per_kind : 1); k++)
            buf_printf(&b->copy, "\t%lld", (long long)row->c[k]);
        if (ru->example) {
            buf_putc(&b->copy, '\t');
            if (ex != NULL)
                buf_append(&b->copy, ex, row->ex_len);
            else
                buf_puts(&b->copy, "\\N");
        }
        buf_putc(&b->copy, '\n');
        if (b->copy.len >= COPY_CHUNK && copy_flush(b) < 0)
            failed = true;
    }
    if (copy_end(b, what, failed, NULL) < 0)
        return -1;

    if (ru->append) {
        buf_reset(&b->sql);
        buf_printf(&b->sql, "INSERT INTO %s (%s, %s) SELECT %s, %s FROM stg_%s", ru->table,
                   ru->keys, ru->counts, ru->keys, ru->counts, ru->table);
        return db_exec_cmd(b->db, b->sql.data, what);
    }
    /* The rows go in key order, so that two writers lock shared rollup rows in the same order
     * and wait rather than deadlock. */
    buf_reset(&b->sql);
    buf_printf(&b->sql,
               "INSERT INTO %s (%s, %s%s) SELECT %s, %s%s FROM stg_%s ORDER BY %s"
               " ON CONFLICT (%s) DO UPDATE SET ",
               ru->table, ru->keys, ru->counts, ru->example ? ", example" : "", ru->keys,
               ru->counts, ru->example ? ", example" : "", ru->table, ru->keys, ru->keys);
    for (const char *c = ru->counts; *c != 0;) {
        size_t len = strcspn(c, ",");

        str_copy(col, sizeof(col), c, len);
        buf_printf(&b->sql, "%s = %s.%s + EXCLUDED.%s%s", col, ru->table, col, col,
                   c[len] != 0 || ru->example ? ", " : "");
        c += len;
        c += strspn(c, ", ");
    }
    if (ru->example)
        buf_printf(&b->sql, "example = coalesce(%s.example, EXCLUDED.example)", ru->table);
    res = db_exec(b->db, b->sql.data, PGRES_COMMAND_OK, what);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* sums_new - empty sums */
static struct rollup_sums *sums_new(void)
{
    struct rollup_sums *s = xcalloc(1, sizeof(*s));

    s->tenmin_through = INT64_MIN;

    for (int r = 0; r < R_COUNT; r++)
        delta_init(&s->d[r]);
    buf_init(&s->f.text);
    buf_init(&s->f.key);
    buf_init(&s->f.example);
    delta_init(&s->sent);
    buf_init(&s->lost);
    buf_init(&s->scratch);
    return s;
}

/* sums_clear - every row forgotten; the memory stays */
static void sums_clear(struct rollup_sums *s)
{
    for (int r = 0; r < R_COUNT; r++)
        delta_reset(&s->d[r]);
    delta_reset(&s->sent);
    buf_reset(&s->lost);
}

/* sums_free - release sums; NULL is a no-op */
static void sums_free(struct rollup_sums *s)
{
    if (s == NULL)
        return;
    for (int r = 0; r < R_COUNT; r++)
        delta_free(&s->d[r]);
    buf_free(&s->f.text);
    buf_free(&s->f.key);
    buf_free(&s->f.example);
    delta_free(&s->sent);
    buf_free(&s->lost);
    buf_free(&s->scratch);
    x_free(s);
}

/* sums_event - one stored event of the given type into the sums */
static void sums_event(struct rollup_sums *s, const struct entry *e, unsigned char type)
{
    if (type == EV_BOUNCE_NOTICE || type == EV_SMTP)
        return;
    rollup_event(s, e);
    if (type == EV_DELIVERY)
        suppress_row(s, e);
}

/* sums_add - the sums of the events the batch stored, added to the transaction's: read from
 * the events (after a replay's conflict, or when the batch's own sums are not valid) */
static void sums_add(struct db_batch *b)
{
    sums_settle(b->db);
    for (size_t i = 0; i < b->n; i++)
        if (b->tag[i] & TAG_STORED)
            sums_event(b->db->sums, &b->v[i], b->tag[i] & TAG_TYPE);
}

/* sums_none - the sums hold no row */
static bool sums_none(const struct rollup_sums *s)
{
    for (int r = 0; r < R_COUNT; r++)
        if (s->d[r].n > 0)
            return false;
    return s->sent.n == 0 && s->lost.len == 0;
}

/* sums_merge - the rows of s added into t */
static void sums_merge(struct rollup_sums *t, const struct rollup_sums *s)
{
    for (int r = 0; r < R_COUNT; r++)
        for (size_t i = 0; i < s->d[r].n; i++) {
            const char *key, *ex;
            const struct delta_row *row = delta_row(&s->d[r], i, &key, &ex);
            int64_t *c = delta_add(&t->d[r], key, row->key_len, ex, row->ex_len);

            for (int k = 0; k < DELTA_COUNTERS; k++)
                c[k] += row->c[k];
        }
    for (size_t i = 0; i < s->sent.n; i++) {
        const char *key, *ex;
        const struct delta_row *row = delta_row(&s->sent, i, &key, &ex);

        sent_at(&t->sent, key, row->key_len, row->c[0]);
    }
    buf_append(&t->lost, s->lost.data, s->lost.len);
}

/* sums_drop - the waiting sums forgotten (added in, or their transaction rolled back) */
static void sums_drop(struct db *db)
{
    if (db->sums_wait == NULL)
        return;
    sums_clear(db->sums_wait);
    db->sums_spare = db->sums_wait;
    db->sums_wait = NULL;
}

/*
 * sums_settle - the sums of the last batch stored, when they wait, added to the transaction's.
 * The adding waits so that it runs while the server works through the next COPY (copy_end())
 * instead of between two batches, when the server has nothing to do. At most one batch's
 * sums wait: whatever adds to the transaction's sums, or reads them, settles first, so they
 * hold every batch's rows in the order of the batches, as when each was added at once.
 */
static void sums_settle(struct db *db)
{
    if (db->sums_wait != NULL)
        sums_merge(db->sums, db->sums_wait);
    sums_drop(db);
}

/*
 * sums_take - the batch's own sums (every event stored) made the transaction's: handed over
 * whole when the transaction has none yet, else left to wait (sums_settle()) while the batch
 * gets empty ones
 */
static void sums_take(struct db_batch *b)
{
    struct db *db = b->db;
    struct rollup_sums *s = b->spec;

    sums_settle(db);
    if (sums_none(db->sums)) {
        b->spec = db->sums;
        db->sums = s;
        return;
    }
    if (db->sums_spare == NULL)
        db->sums_spare = sums_new();
    b->spec = db->sums_spare;
    db->sums_spare = NULL;
    db->sums_wait = s;
}

/* sums_store - the transaction's sums into the rollups and the suppression list */
static int sums_store(struct db_batch *b)
{
    sums_settle(b->db);
    for (int r = 0; r < R_COUNT; r++)
        if (b->db->sums->d[r].n > 0 && copy_sums(b, (enum rollup_id)r) < 0)
            return -1;
    return suppress(b);
}

/* db_sums_free - release a connection's rollup sums (db_close) */
void db_sums_free(struct db *db)
{
    sums_free(db->sums);
    sums_free(db->sums_wait);
    sums_free(db->sums_spare);
    db->sums = db->sums_wait = db->sums_spare = NULL;
}

/* create_staging - the session's temporary staging tables, once per connection */
static int create_staging(struct db_batch *b)
{
    PGresult *r;
    size_t i;

    if (b->db->staging_ready)
        return 0;
    for (i = 0; i < ARRAY_LEN(tables); i++) {
        buf_reset(&b->sql);
        buf_printf(&b->sql,
                   "CREATE TEMP TABLE IF NOT EXISTS stg_%s (LIKE %s INCLUDING DEFAULTS)"
                   " ON COMMIT DELETE ROWS",
                   tables[i].name, tables[i].name);
        r = db_exec(b->db, b->sql.data, PGRES_COMMAND_OK, "creating staging tables");
        if (r == NULL)
            return -1;
        PQclear(r);
    }
    for (i = 0; i < R_COUNT; i++) {
        buf_reset(&b->sql);
        buf_printf(&b->sql,
                   "CREATE TEMP TABLE IF NOT EXISTS stg_%s (LIKE %s INCLUDING DEFAULTS)"
                   " ON COMMIT DELETE ROWS",
                   rollups[i].table, rollups[i].table);
        r = db_exec(b->db, b->sql.data, PGRES_COMMAND_OK, "creating staging tables");
        if (r == NULL)
            return -1;
        PQclear(r);
    }
    r = db_exec(b->db,
                "CREATE TEMP TABLE IF NOT EXISTS stg_suppress (time timestamptz, sd text,"
                " rcpt text, reason text, dsn text, reply text) ON COMMIT DELETE ROWS;"
                " CREATE TEMP TABLE IF NOT EXISTS stg_sent (time timestamptz, sd text, rcpt text,"
                " hit boolean) ON COMMIT DELETE ROWS",
                PGRES_COMMAND_OK, "creating staging tables");
    if (r == NULL)
        return -1;
    PQclear(r);
    b->db->staging_ready = true;
    return 0;
}

/* update_checkpoint - move the source's checkpoint forward, never back */
static int update_checkpoint(struct db_batch *b, int64_t source_id, int64_t checkpoint)
{
    char idbuf[24], cpbuf[24], lenbuf[24], hashbuf[24];
    const char *params[4] = {idbuf, cpbuf, lenbuf, hashbuf};
    PGresult *r;
    int rc = -1;

    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)source_id);
    snprintf(cpbuf, sizeof(cpbuf), "%lld", (long long)checkpoint);
    snprintf(lenbuf, sizeof(lenbuf), "%zu", b->prefix_len);
    snprintf(hashbuf, sizeof(hashbuf), "%lld", (long long)b->prefix_hash);
    /* A longer prefix replaces the one the row has, in the same statement: the row then always
     * knows the bytes before its checkpoint (up to the length a reader keeps). */
    r = PQexecParams(b->db->conn,
                     "UPDATE sources SET checkpoint = GREATEST(checkpoint, $2::bigint),"
                     " updated_at = now(),"
                     " prefix_hash = CASE WHEN $3::integer > coalesce(prefix_len, 0)"
                     " THEN $4::bigint ELSE prefix_hash END,"
                     " prefix_len = CASE WHEN $3::integer > coalesce(prefix_len, 0)"
                     " THEN $3::integer ELSE prefix_len END"
                     " WHERE id = $1::bigint",
                     4, NULL, params, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        db_warn_res(b->db, r, "updating the checkpoint");
        goto out;
    }
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        log_warn("db: updating the checkpoint: no source with id %lld", (long long)source_id);
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    return rc;
}

/* Distinct months sent to the server per statement. */
/* db_months_flush - the partitions of the collected months; the set is empty after */
int db_months_flush(struct db *db, struct buf *o, struct db_months *ms)
{
    const char *params[1];
    PGresult *r;
    int k, rc = 0;

    if (ms->n == 0)
        return 0;
    buf_reset(o);
    buf_putc(o, '{');
    for (k = 0; k < ms->n; k++)
        buf_printf(o, "%s%04d-%02d-01T00:00:00Z", k ? "," : "", ms->m[k] / 12, ms->m[k] % 12 + 1);
    buf_putc(o, '}');
    params[0] = o->data;
    r = PQexecParams(db->conn,
                     "SELECT sum(mailpulse_ensure_partitions(m, m))"
                     " FROM unnest($1::timestamptz[]) m",
                     1, NULL, params, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_warn_res(db, r, "creating partitions");
        rc = -1;
    }
    PQclear(r);
    buf_reset(o);
    ms->n = 0;
    return rc;
}

/* db_months_add - one more month to make partitions for; a full set is sent first */
int db_months_add(struct db *db, struct buf *o, struct db_months *ms, int month)
{
    for (int k = 0; k < ms->n; k++)
        if (ms->m[k] == month)
            return 0;
    if (ms->n == DB_MAX_MONTHS && db_months_flush(db, o, ms) < 0)
        return -1;
    ms->m[ms->n++] = month;
    return 0;
}

/* db_month_of - year * 12 + month - 1 of a time in microseconds (UTC) */
int db_month_of(int64_t us)
{
    time_t secs = (time_t)(us / 1000000 - (us % 1000000 < 0));
    struct tm tm;

    if (gmtime_r(&secs, &tm) == NULL)
        return 0;
    return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

/* month_made - whether the month is in the connection's ring of months ensured outside a
 * transaction */
static bool month_made(const struct db *db, int month)
{
    int n = db->nmade < (int)ARRAY_LEN(db->made) ? db->nmade : (int)ARRAY_LEN(db->made);

    for (int k = 0; k < n; k++)
        if (db->made[k] == month)
            return true;
    return false;
}

/*
 * ensure_partitions - the monthly partitions for the months the batch's events fall in, and
 * (once an hour, unless db_partitions_ahead() turned it off) this month's and the next, so
 * that live data finds its partition ready.
 * The SQL function takes no lock when they all exist (see batch_store() for where it runs). A
 * batch usually spans one month; one spanning more than DB_MAX_MONTHS takes several
 * statements.
 */
static int ensure_partitions(struct db_batch *b)
{
    struct db_months ms = {.n = 0};
    struct buf *o = &b->copy; /* free between the COPYs of a commit */
    int64_t now = time_now_us();
    bool ahead = !b->db->no_ahead && now - b->db->ahead_checked_us > 3600 * 1000000LL;
    size_t i;

    /* Months this connection made outside a transaction are there (until a rollback, which
     * forgets them): no statement. */
    for (i = 0; i < b->nmonths && month_made(b->db, b->months[i]); i++)
        ;
    if (!ahead && i == b->nmonths)
        return 0;

    if (ahead && (db_months_add(b->db, o, &ms, db_month_of(now)) < 0 ||
                  db_months_add(b->db, o, &ms, db_month_of(now) + 1) < 0))
        return -1;
    for (i = 0; i < b->nmonths; i++)
        if (db_months_add(b->db, o, &ms, b->months[i]) < 0)
            return -1;
    if (db_months_flush(b->db, o, &ms) < 0)
        return -1;
    if (ahead)
        b->db->ahead_checked_us = now;
    /* Made in a transaction of their own, they stay; made inside one, they may be rolled back. */
    for (i = 0; i < b->nmonths && !b->db->txn_open; i++)
        if (!month_made(b->db, b->months[i]))
            b->db->made[b->db->nmade++ % ARRAY_LEN(b->db->made)] = b->months[i];
    return 0;
}

/* db_batch_new_months - whether the batch has events in a month whose partitions were not
 * ensured outside a transaction on this connection (db.h) */
bool db_batch_new_months(const struct db_batch *b)
{
    for (size_t i = 0; i < b->nmonths; i++)
        if (!month_made(b->db, b->months[i]))
            return true;
    return false;
}

/* batch_clear - the batch empty, after its events went out in a transaction */
static void batch_clear(struct db_batch *b)
{
    sums_clear(b->spec);
    b->spec->tenmin_through = b->db->tenmin_through;
    b->spec_valid = true;
    b->n = 0;
    b->repaired = 0;
    b->nmonths = 0;
    b->month_lo = b->month_hi = 0;
}

/* txn_abort - roll the open transaction back; everything sent since the last commit is gone */
static void txn_abort(struct db *db)
{
    db_rollback(db);
    db->txn_open = false;
    sums_drop(db);
    /* The staging tables and partitions may have been created in the rolled back work. */
    db->staging_ready = false;
    db->ahead_checked_us = 0;
    db->nmade = 0;
}

/*
 * The memory of a sort or hash in the writer's transactions: the upserts sort the rollup rows
 * of a transaction by key and the suppression list sorts its failures, tens of thousands of
 * rows each, which PostgreSQL's default of 4MB sends to disk.
 */
#define TXN_WORK_MEM "SET LOCAL work_mem = '64MB'"

/*
 * A writing transaction holds this lock to its end: mailpulse_roll_tenmin() waits for it, so
 * "through" stays as the transaction read it (sql/031).
 */
#define TENMIN_LOCK "LOCK TABLE tenmin_rolled IN ROW EXCLUSIVE MODE"

/*
 * batch_store - the batch's events into their tables and their sums into the transaction's,
 * in the transaction open on the connection (begun here when there is none). The batch keeps
 * its events.
 */
static int batch_store(struct db_batch *b, struct db_batch_result *res)
{
    uint64_t staged[ARRAY_LEN(tables)] = {0};
    bool straight = true;
    PGresult *r;
    size_t i, j;

    if (!b->db->txn_open) {
        if (db_reconnect(b->db) < 0)
            return -1;
        /* Before the transaction, in one of its own: creating a partition locks the parent
         * table against every reader until the creating transaction ends. */
        if (ensure_partitions(b) < 0)
            return -1;
        r = db_exec(b->db,
                    b->db->async_commit ? "BEGIN; " TXN_WORK_MEM
                                          "; SET LOCAL synchronous_commit = off; " TENMIN_LOCK
                                        : "BEGIN; " TXN_WORK_MEM "; " TENMIN_LOCK,
                    PGRES_COMMAND_OK, "BEGIN");
        if (r == NULL)
            return -1;
        PQclear(r);
        b->db->txn_open = true;
        if (db_tenmin_through(b->db, &b->db->tenmin_through) < 0)
            return -1;
        if (b->db->sums == NULL)
            b->db->sums = sums_new();
        sums_clear(b->db->sums);
        b->db->sums->tenmin_through = b->db->tenmin_through;
        if (create_staging(b) < 0)
            return -1;
    } else if (b->n > 0 && ensure_partitions(b) < 0) {
        return -1;
    }
    if (b->n == 0)
        return 0;
    for (i = 0; i < b->n; i++) {
        b->tag[i] &= TAG_TYPE;
        for (j = 0; j < ARRAY_LEN(tables); j++)
            staged[j] += b->tag[i] == tables[j].type;
    }
    res->repaired = b->repaired;
    if (move_tables(b, staged, res, &straight) < 0)
        return -1;
    /* The spec counted the ten-minute rollups as "through" was when the batch was emptied
     * (batch_clear(), on this thread): the transaction may have read another since. */
    if (b->spec->tenmin_through != b->db->tenmin_through)
        b->spec_valid = false;
    if (straight && b->spec_valid)
        sums_take(b);
    else
        sums_add(b);
    /* Its sums are the transaction's now (or were not used): a retry reads the events. */
    b->spec_valid = false;
    return 0;
}

/* db_batch_send - the batch's events into the open transaction, without committing (db.h) */
int db_batch_send(struct db_batch *b, struct db_batch_result *res)
{
    struct db_batch_result tmp;

    if (res == NULL)
        res = &tmp;
    memset(res, 0, sizeof(*res));
    if (batch_store(b, res) < 0) {
        txn_abort(b->db);
        memset(res, 0, sizeof(*res));
        return -1;
    }
    batch_clear(b);
    return 0;
}

#define SUMMARIZE_EVERY_US (60 * 1000000LL)

/*
 * summarize_due - after a commit, the new BRIN ranges summarized when that was last done a
 * minute ago or more. The events are stored already: a failure here is only a warning (the
 * ranges stay unsummarized, and scans read them, until the next try).
 */
static void summarize_due(struct db *db)
{
    int64_t now = time_now_us();

    if (now - db->summarized_us < SUMMARIZE_EVERY_US && now >= db->summarized_us)
        return;
    (void)db_summarize(db, NULL);
}

/* db_batch_commit - send the batch and the checkpoint, and commit the transaction */
int db_batch_commit(struct db_batch *b, int64_t source_id, int64_t checkpoint,
                    struct db_batch_result *res)
{
    struct db_batch_result tmp;
    PGresult *r;

    if (res == NULL)
        res = &tmp;
    memset(res, 0, sizeof(*res));
    if (b->n == 0 && source_id <= 0 && !b->db->txn_open)
        return 0;
    if (batch_store(b, res) < 0 || sums_store(b) < 0)
        goto failed;
    if (source_id > 0 && update_checkpoint(b, source_id, checkpoint) < 0)
        goto failed;
    if (source_id > 0 && b->state != NULL &&
        db_state_store(b->db, source_id, checkpoint, b->state_version, b->state, b->state_len) < 0)
        goto failed;
    r = db_exec(b->db, "COMMIT", PGRES_COMMAND_OK, "COMMIT");
    b->db->txn_open = false;
    if (r == NULL)
        goto failed;
    PQclear(r);
    batch_clear(b);
    b->state = NULL;
    b->prefix_len = 0;
    summarize_due(b->db);
    return 0;

failed:
    txn_abort(b->db);
    memset(res, 0, sizeof(*res));
    return -1;
}
