/*
 * ingest - sources and their checkpoints; batched, exactly-once insertion of events
 *
 * A batch holds copies of the events with their source position. db_batch_add() repairs the
 * copy at once (utf8_scrub on every string), so a commit that is retried sends the same bytes
 * and counts the same repairs. One commit is one transaction:
 *
 *	BEGIN
 *	CREATE TEMP TABLE IF NOT EXISTS stg_<table> (LIKE <table>) ON COMMIT DELETE ROWS
 *	SELECT mailpulse_ensure_partitions(...)	the months of the batch (see ensure_partitions)
 *	COPY stg_<table> (...) FROM STDIN		text format, for each kind of event present
 *	INSERT INTO <table> SELECT ... FROM stg_<table>
 *	    ON CONFLICT (source_id, pos, seq, time) DO NOTHING
 *	INSERT INTO rollups, rollups_host, rollups_host_minute, rollups_domain_day,
 *	    rollups_domain_month, rollups_provider_hour, rollups_block_hour,
 *	    rollups_sender_hour, rollups_sender_day, rollups_sender_reason_day
 *	    ... ON CONFLICT DO UPDATE		(see move_table)
 *	INSERT INTO suppressions ...		a hard bounce or expiry
 *	DELETE FROM suppressions ...		a later delivery to the recipient was sent
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
    bool have_last; /* the position of the last event added, for seq */
    int64_t last_source, last_pos;
    int32_t last_seq;
    struct buf copy;   /* COPY data, reused */
    struct buf sql;    /* statement text, reused */
    const void *state; /* a parser state for the next commit (borrowed), NULL none */
    size_t state_len;
    int state_version;
    size_t prefix_len; /* the source's first bytes known, for the next commit; 0 none */
    uint64_t prefix_hash;
};

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
    const char *run = s;

    for (;; s++) {
        const char *esc;

        switch (*s) {
        case '\\':
            esc = "\\\\";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case 0:
            buf_append(o, run, (size_t)(s - run));
            return;
        default:
            continue;
        }
        buf_append(o, run, (size_t)(s - run));
        buf_puts(o, esc);
        run = s + 1;
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

/* put_int - an integer column; NULL unless known */
static void put_int(struct buf *o, int64_t v, bool known)
{
    if (known)
        buf_printf(o, "\t%lld", (long long)v);
    else
        buf_puts(o, "\t\\N");
}

/* put_double - a float column; NULL unless known and finite */
static void put_double(struct buf *o, double d, bool known)
{
    if (known && isfinite(d))
        buf_printf(o, "\t%.17g", d);
    else
        buf_puts(o, "\t\\N");
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
    buf_printf(o, "\t%lld\t%lld\t%ld\n", (long long)e->source_id, (long long)e->pos, (long)e->seq);
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
        /* An array literal; a non-finite element becomes NULL. */
        buf_puts(o, "\t{");
        for (i = 0; i < 4; i++) {
            if (i)
                buf_putc(o, ',');
            if (isfinite(ev->delays[i]))
                buf_printf(o, "%.17g", ev->delays[i]);
            else
                buf_puts(o, "NULL");
        }
        buf_putc(o, '}');
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
 * What each kind of event becomes: its table, its columns in COPY order, its row writer, and
 * for the tables that feed the rollups, the rollup row of one inserted row (the expressions
 * over the RETURNING columns: hour, host, sender domain, recipient domain, kind, reason, dsn,
 * example reply, as the view "facts" of sql/002 has them; then provider and block, and the
 * recipient in lower case and "hard" for the suppression list).
 */
static const struct table {
    enum event_type type;
    const char *name;
    const char *cols;
    void (*row)(struct buf *, const struct entry *);
    const char *facts; /* NULL: no rollups */
} tables[] = {
    {EV_MESSAGE, "messages",
     "time, host, mta, queue_id, message_id, sender, sender_domain, size, nrcpt, client, "
     "sasl_username, truncated, source_id, pos, seq",
     row_message,
     "time, host, coalesce(sender_domain, ''), '',"
     " CASE WHEN coalesce(sender, '') = '' AND coalesce(client, '') = '' THEN 'notice'"
     " ELSE 'received' END, '', '', NULL::text, NULL::text,"
     " NULL::text, NULL::text, false, NULL::text AS cli, ''::text AS sasl"},
    {EV_DELIVERY, "deliveries",
     "time, host, mta, queue_id, message_id, sender, sender_domain, recipient, orig_recipient, "
     "recipient_domain, relay, delay, delays, status, dsn, smtp_code, reply, reason, hard, "
     "provider, block, client, sasl_username, truncated, source_id, pos, seq",
     row_delivery,
     "time, host, coalesce(sender_domain, ''), coalesce(recipient_domain, ''), status,"
     " coalesce(reason, ''), coalesce(dsn, ''), CASE WHEN status <> 'sent' THEN reply END,"
     " provider, block, lower(recipient), hard, client AS cli,"
     " coalesce(sasl_username, '') AS sasl"},
    {EV_REJECT, "rejects",
     "time, host, mta, queue_id, client, helo, sender, sender_domain, recipient, "
     "recipient_domain, smtp_code, dsn, reply, reason, provider, block, truncated, source_id, pos,"
     " seq",
     row_reject,
     "time, host, coalesce(sender_domain, ''), coalesce(recipient_domain, ''), 'rejected',"
     " coalesce(reason, ''), coalesce(dsn, ''), reply, provider, block, NULL::text, false,"
     " client AS cli, ''::text AS sasl"},
    {EV_BOUNCE_NOTICE, "bounce_notices",
     "time, host, mta, queue_id, notice_queue_id, truncated, source_id, pos, seq",
     row_bounce_notice, NULL},
    {EV_SMTP, "smtp_events",
     "time, host, client, server, helo, sender, recipient, stage, smtp_code, dsn, reply, "
     "queue_id, tls, truncated, source_id, pos, seq",
     row_smtp, NULL},
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
    return b;
}

/* db_batch_free - release the batch and the events it still holds; NULL is a no-op */
void db_batch_free(struct db_batch *b)
{
    if (b == NULL)
        return;
    x_free(b->v);
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
    e->provider = NULL;
    e->block = NULL;
    if (ev->type == EV_DELIVERY || ev->type == EV_REJECT) {
        const struct block *bl = NULL;

        e->provider = provider_of(e->ev.relay, event_recipient_domain(&e->ev));
        if (ev->type == EV_REJECT || ev->status != ST_SENT)
            bl = block_match(e->ev.reply, strlen(e->ev.reply));
        e->block = bl != NULL ? bl->name : NULL;
    }
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

/* stage_table - COPY the batch's events of one kind into the staging table */
static int stage_table(struct db_batch *b, const struct table *t)
{
    PGconn *conn = b->db->conn;
    PGresult *res;
    char what[64];
    bool failed = false;
    size_t i;
    int guard = 0;

    snprintf(what, sizeof(what), "COPY into %s", t->name);
    buf_reset(&b->sql);
    buf_printf(&b->sql, "COPY stg_%s (%s) FROM STDIN", t->name, t->cols);
    res = db_exec(b->db, b->sql.data, PGRES_COPY_IN, what);
    if (res == NULL)
        return -1;
    PQclear(res);

    buf_reset(&b->copy);
    for (i = 0; i < b->n && !failed; i++) {
        if (b->v[i].ev.type != t->type)
            continue;
        t->row(&b->copy, &b->v[i]);
        if (b->copy.len >= COPY_CHUNK && copy_flush(b) < 0)
            failed = true;
    }
    if (!failed && copy_flush(b) < 0)
        failed = true;
    if (failed)
        db_warn_res(b->db, NULL, what);
    if (PQputCopyEnd(conn, failed ? "mailpulse: sending COPY data failed" : NULL) != 1 && !failed) {
        db_warn_res(b->db, NULL, what);
        failed = true;
    }
    /*
     * Read every result, so that the connection is ready for the next command. The guard
     * stops the loop should libpq keep reporting the COPY as in progress after an error.
     */
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !failed) {
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

/*
 * rollups_sender_hour, rollups_sender_day and rollups_sender_reason_day: every attempt and
 * reject once under each axis (sql/009), from the facts' columns cli and sasl (the
 * submitting client and SASL user).
 */
#define SENDER_UPSERT                                                                              \
    " sx AS (SELECT f.time, f.host, g.axis, g.key, f.kind, f.reason"                               \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard, cli, "     \
    "sasl)"                                                                                        \
    "  CROSS JOIN LATERAL (VALUES ('sender_domain', f.sd), ('sasl_user', f.sasl),"                 \
    "  ('client_ip', mailpulse_client_ip(f.cli))) g (axis, key)"                                   \
    "  WHERE f.time IS NOT NULL AND f.kind NOT IN ('received', 'notice')),"                        \
    " ups AS (INSERT INTO rollups_sender_hour (hour, host, axis, key, kind, reason, n)"            \
    "  SELECT date_trunc('hour', time, 'UTC'), host, axis, key, kind, reason, count(*) FROM sx"    \
    "  GROUP BY 3, 1, 4, 2, 5, 6 ORDER BY 3, 1, 4, 2, 5, 6"                                        \
    "  ON CONFLICT (axis, hour, key, host, kind, reason) DO UPDATE"                                \
    "  SET n = rollups_sender_hour.n + EXCLUDED.n),"                                               \
    " upsd AS (INSERT INTO rollups_sender_day (day, host, axis, key, sent, deferred, bounced,"     \
    "  expired, rejected)"                                                                         \
    "  SELECT date_trunc('day', time, 'UTC'), host, axis, key,"                                    \
    "  count(*) FILTER (WHERE kind = 'sent'), count(*) FILTER (WHERE kind = 'deferred'),"          \
    "  count(*) FILTER (WHERE kind = 'bounced'), count(*) FILTER (WHERE kind = 'expired'),"        \
    "  count(*) FILTER (WHERE kind = 'rejected') FROM sx"                                          \
    "  GROUP BY 3, 1, 4, 2 ORDER BY 3, 1, 4, 2"                                                    \
    "  ON CONFLICT (axis, day, key, host) DO UPDATE"                                               \
    "  SET sent = rollups_sender_day.sent + EXCLUDED.sent,"                                        \
    "  deferred = rollups_sender_day.deferred + EXCLUDED.deferred,"                                \
    "  bounced = rollups_sender_day.bounced + EXCLUDED.bounced,"                                   \
    "  expired = rollups_sender_day.expired + EXCLUDED.expired,"                                   \
    "  rejected = rollups_sender_day.rejected + EXCLUDED.rejected),"                               \
    " upsr AS (INSERT INTO rollups_sender_reason_day (day, host, axis, key, reason, n)"            \
    "  SELECT date_trunc('day', time, 'UTC'), host, axis, key, reason, count(*) FROM sx"           \
    "  WHERE kind <> 'sent' AND reason <> '' GROUP BY 3, 4, 1, 2, 5 ORDER BY 3, 4, 1, 2, 5"        \
    "  ON CONFLICT (axis, key, day, host, reason) DO UPDATE"                                       \
    "  SET n = rollups_sender_reason_day.n + EXCLUDED.n)"

/*
 * The rollup upserts of one table, after a first CTE "ins" that yields the new rows' facts
 * (see tables[]). The groups go in key order, so that two writers lock shared rollup rows
 * in the same order and wait rather than deadlock.
 */
#define ROLLUP_UPSERTS                                                                             \
    " up AS (INSERT INTO rollups (hour, host, sender_domain, recipient_domain,"                    \
    "  kind, reason, dsn, n, example)"                                                             \
    "  SELECT date_trunc('hour', time, 'UTC'), host, sd, rd, kind, reason, dsn,"                   \
    "  count(*), min(reply)"                                                                       \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE time IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7"                                        \
    "  ORDER BY 1, 2, 3, 4, 5, 6, 7"                                                               \
    "  ON CONFLICT (hour, host, sender_domain, recipient_domain, kind, reason, dsn)"               \
    "  DO UPDATE SET n = rollups.n + EXCLUDED.n,"                                                  \
    "  example = coalesce(rollups.example, EXCLUDED.example)),"                                    \
    " uph AS (INSERT INTO rollups_host (hour, host, kind, reason, dsn, n, example)"                \
    "  SELECT date_trunc('hour', time, 'UTC'), host, kind, reason, dsn,"                           \
    "  count(*), min(reply)"                                                                       \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE time IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"                       \
    "  ON CONFLICT (hour, host, kind, reason, dsn)"                                                \
    "  DO UPDATE SET n = rollups_host.n + EXCLUDED.n,"                                             \
    "  example = coalesce(rollups_host.example, EXCLUDED.example)),"                               \
    " uphm AS (INSERT INTO rollups_host_minute (minute, host, kind, reason, dsn, n, example)"      \
    "  SELECT date_trunc('minute', time, 'UTC'), host, kind, reason, dsn,"                         \
    "  count(*), min(reply)"                                                                       \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE time IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"                       \
    "  ON CONFLICT (minute, host, kind, reason, dsn)"                                              \
    "  DO UPDATE SET n = rollups_host_minute.n + EXCLUDED.n,"                                      \
    "  example = coalesce(rollups_host_minute.example, EXCLUDED.example)),"                        \
    " upd AS (INSERT INTO rollups_domain_day (day, recipient_domain, sent, deferred, bounced,"     \
    "  expired)"                                                                                   \
    "  SELECT date_trunc('day', time, 'UTC'), rd, count(*) FILTER (WHERE kind = 'sent'),"          \
    "  count(*) FILTER (WHERE kind = 'deferred'), count(*) FILTER (WHERE kind = 'bounced'),"       \
    "  count(*) FILTER (WHERE kind = 'expired')"                                                   \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE time IS NOT NULL AND rd <> ''"                                                        \
    "  AND kind IN ('sent', 'deferred', 'bounced', 'expired') GROUP BY 2, 1 ORDER BY 2, 1"         \
    "  ON CONFLICT (recipient_domain, day) DO UPDATE"                                              \
    "  SET sent = rollups_domain_day.sent + EXCLUDED.sent,"                                        \
    "  deferred = rollups_domain_day.deferred + EXCLUDED.deferred,"                                \
    "  bounced = rollups_domain_day.bounced + EXCLUDED.bounced,"                                   \
    "  expired = rollups_domain_day.expired + EXCLUDED.expired),"                                  \
    " upm AS (INSERT INTO rollups_domain_month (month, recipient_domain, n)"                       \
    "  SELECT date_trunc('month', time, 'UTC'), rd, count(*)"                                      \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE time IS NOT NULL AND rd <> ''"                                                        \
    "  AND kind IN ('sent', 'deferred', 'bounced', 'expired') GROUP BY 1, 2 ORDER BY 1, 2"         \
    "  ON CONFLICT (month, recipient_domain) DO UPDATE"                                            \
    "  SET n = rollups_domain_month.n + EXCLUDED.n),"                                              \
    " upp AS (INSERT INTO rollups_provider_hour (hour, host, provider, sent, deferred, bounced,"   \
    "  expired)"                                                                                   \
    "  SELECT date_trunc('hour', time, 'UTC'), host, prov, count(*) FILTER (WHERE kind = 'sent')," \
    "  count(*) FILTER (WHERE kind = 'deferred'), count(*) FILTER (WHERE kind = 'bounced'),"       \
    "  count(*) FILTER (WHERE kind = 'expired')"                                                   \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE time IS NOT NULL AND prov IS NOT NULL"                                                \
    "  AND kind IN ('sent', 'deferred', 'bounced', 'expired') GROUP BY 3, 2, 1 ORDER BY 3, 2, 1"   \
    "  ON CONFLICT (provider, host, hour) DO UPDATE"                                               \
    "  SET sent = rollups_provider_hour.sent + EXCLUDED.sent,"                                     \
    "  deferred = rollups_provider_hour.deferred + EXCLUDED.deferred,"                             \
    "  bounced = rollups_provider_hour.bounced + EXCLUDED.bounced,"                                \
    "  expired = rollups_provider_hour.expired + EXCLUDED.expired),"                               \
    " upb AS (INSERT INTO rollups_block_hour (hour, host, provider, block, n)"                     \
    "  SELECT date_trunc('hour', time, 'UTC'), host, coalesce(prov, 'other'), blk, count(*)"       \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE time IS NOT NULL AND blk IS NOT NULL GROUP BY 4, 2, 3, 1 ORDER BY 4, 2, 3, 1"         \
    "  ON CONFLICT (block, host, provider, hour) DO UPDATE"                                        \
    "  SET n = rollups_block_hour.n + EXCLUDED.n),"                                                \
    " sup AS (INSERT INTO suppressions (recipient, sender_domain, last_time, origin, reason, dsn," \
    "  reply, n)"                                                                                  \
    "  SELECT DISTINCT ON (rcpt, sd) rcpt, sd, time, 'log', reason, nullif(dsn, ''), reply,"       \
    "  count(*) OVER (PARTITION BY rcpt, sd)"                                                      \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE hard AND kind IN ('bounced', 'expired') AND rcpt IS NOT NULL AND time IS NOT NULL"    \
    "  AND NOT EXISTS (SELECT 1 FROM ins g (time, host, sd, rd, kind, reason, dsn, reply, prov,"   \
    "  blk, rcpt, hard) WHERE g.kind = 'sent' AND g.rcpt = f.rcpt AND g.sd = f.sd"                 \
    "  AND g.time > f.time)"                                                                       \
    "  ORDER BY rcpt, sd, time DESC" DB_SUPPRESSION_UPSERT "),"                                    \
    " unsup AS (DELETE FROM suppressions s"                                                        \
    "  USING (SELECT rcpt, sd, max(time) AS t"                                                     \
    "  FROM ins f (time, host, sd, rd, kind, reason, dsn, reply, prov, blk, rcpt, hard)"           \
    "  WHERE kind = 'sent' AND rcpt IS NOT NULL GROUP BY 1, 2) x"                                  \
    "  WHERE s.recipient = x.rcpt AND s.sender_domain = x.sd AND s.last_time < "                   \
    "x.t)," SENDER_UPSERT " SELECT count(*) FROM ins"

/* exec_count - run sql expecting status; the count it reports (rows or its one value) */
static int exec_count(struct db_batch *b, const char *what, ExecStatusType st, uint64_t *n)
{
    PGresult *r = db_exec(b->db, b->sql.data, st, what);

    if (r == NULL)
        return -1;
    *n = strtoull(st == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/*
 * move_table - INSERT the staged rows of one table; count new rows and duplicates.
 *
 * Only the rows really inserted may reach the rollups (a replay adds nothing). Usually that
 * is all of them: the rows are inserted plainly, and when every staged row went in, the
 * rollups are added up from the staging table. When some were already there, the insert is
 * undone (to a savepoint) and done again with RETURNING, and the rollups come from what it
 * returns: slower, and only on a replay.
 */
static int move_table(struct db_batch *b, const struct table *t, uint64_t staged,
                      struct db_batch_result *res)
{
    char what[64];
    uint64_t n, m;
    PGresult *r;

    snprintf(what, sizeof(what), "inserting into %s", t->name);
    if (t->facts != NULL) {
        r = db_exec(b->db, "SAVEPOINT mailpulse_move", PGRES_COMMAND_OK, what);
        if (r == NULL)
            return -1;
        PQclear(r);
    }
    buf_reset(&b->sql);
    buf_printf(&b->sql,
               "INSERT INTO %s (%s) SELECT %s FROM stg_%s"
               " ON CONFLICT (source_id, pos, seq, time) DO NOTHING",
               t->name, t->cols, t->cols, t->name);
    if (exec_count(b, what, PGRES_COMMAND_OK, &n) < 0)
        return -1;
    if (t->facts != NULL && n == staged) {
        buf_reset(&b->sql);
        buf_printf(&b->sql, "WITH ins AS (SELECT %s FROM stg_%s)," ROLLUP_UPSERTS, t->facts,
                   t->name);
        if (exec_count(b, what, PGRES_TUPLES_OK, &m) < 0)
            return -1;
    } else if (t->facts != NULL) {
        r = db_exec(b->db, "ROLLBACK TO SAVEPOINT mailpulse_move", PGRES_COMMAND_OK, what);
        if (r == NULL)
            return -1;
        PQclear(r);
        buf_reset(&b->sql);
        buf_printf(
            &b->sql,
            "WITH ins AS (INSERT INTO %s (%s) SELECT %s FROM stg_%s"
            " ON CONFLICT (source_id, pos, seq, time) DO NOTHING RETURNING %s)," ROLLUP_UPSERTS,
            t->name, t->cols, t->cols, t->name, t->facts);
        if (exec_count(b, what, PGRES_TUPLES_OK, &n) < 0)
            return -1;
    }
    res->inserted += n;
    res->duplicates += staged > n ? staged - n : 0;
    return 0;
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

/*
 * ensure_partitions - the monthly partitions for the months the batch's events fall in, and
 * (once an hour) this month's and the next, so that live data finds its partition ready.
 * Inside the batch's transaction; the SQL function takes no lock when they all exist. A
 * batch usually spans one month; one spanning more than DB_MAX_MONTHS takes several
 * statements.
 */
static int ensure_partitions(struct db_batch *b)
{
    struct db_months ms = {.n = 0};
    struct buf *o = &b->copy; /* free between the COPYs of a commit */
    int64_t now = time_now_us();
    bool ahead = now - b->db->ahead_checked_us > 3600 * 1000000LL;
    size_t i;

    if (ahead && (db_months_add(b->db, o, &ms, db_month_of(now)) < 0 ||
                  db_months_add(b->db, o, &ms, db_month_of(now) + 1) < 0))
        return -1;
    for (i = 0; i < b->n; i++)
        if (time_known(b->v[i].ev.time_us) &&
            db_months_add(b->db, o, &ms, db_month_of(b->v[i].ev.time_us)) < 0)
            return -1;
    if (db_months_flush(b->db, o, &ms) < 0)
        return -1;
    if (ahead)
        b->db->ahead_checked_us = now;
    return 0;
}

/* db_batch_commit - send the batch and the checkpoint in one transaction */
int db_batch_commit(struct db_batch *b, int64_t source_id, int64_t checkpoint,
                    struct db_batch_result *res)
{
    struct db_batch_result tmp;
    uint64_t staged[ARRAY_LEN(tables)] = {0};
    PGresult *r;
    size_t i, j;

    if (res == NULL)
        res = &tmp;
    memset(res, 0, sizeof(*res));
    if (b->n == 0 && source_id <= 0)
        return 0;
    if (db_reconnect(b->db) < 0)
        goto failed;
    r = db_exec(b->db, b->db->async_commit ? "BEGIN; SET LOCAL synchronous_commit = off" : "BEGIN",
                PGRES_COMMAND_OK, "BEGIN");
    if (r == NULL)
        goto failed;
    PQclear(r);
    if (create_staging(b) < 0 || ensure_partitions(b) < 0)
        goto failed;
    for (i = 0; i < b->n; i++) {
        for (j = 0; j < ARRAY_LEN(tables); j++)
            staged[j] += b->v[i].ev.type == tables[j].type;
        res->repaired += b->v[i].repaired;
    }
    for (j = 0; j < ARRAY_LEN(tables); j++) {
        if (staged[j] == 0)
            continue;
        if (stage_table(b, &tables[j]) < 0 || move_table(b, &tables[j], staged[j], res) < 0)
            goto failed;
    }
    if (source_id > 0 && update_checkpoint(b, source_id, checkpoint) < 0)
        goto failed;
    if (source_id > 0 && b->state != NULL &&
        db_state_store(b->db, source_id, checkpoint, b->state_version, b->state, b->state_len) < 0)
        goto failed;
    r = db_exec(b->db, "COMMIT", PGRES_COMMAND_OK, "COMMIT");
    if (r == NULL)
        goto failed;
    PQclear(r);
    b->n = 0;
    b->state = NULL;
    b->prefix_len = 0;
    return 0;

failed:
    db_rollback(b->db);
    /* The staging tables and partitions may have been created in the rolled back work. */
    b->db->staging_ready = false;
    b->db->ahead_checked_us = 0;
    memset(res, 0, sizeof(*res));
    return -1;
}
