/*
 * query - report queries; parameters always travel separately from the SQL (PQexecParams)
 *
 * Times are sent as RFC 3339 text cast to timestamptz. A from_us of 0 or less means "from
 * the beginning" and a to_us of INT64_MAX means "until the end" (PostgreSQL's -infinity and
 * infinity), so a caller can leave either side of a range open.
 *
 * Aggregates read the hourly rollups for the whole hours of a range and the view "facts"
 * (the events themselves) for the partial hours at its two ends, so any range is exact and
 * no more than two hours of events are scanned; without a domain filter, the minute rollups
 * answer the whole minutes of those hours and two minutes of events at most are scanned.
 * Minute buckets read every whole minute from the minute rollups (no hours), the same way.
 * A summary for one sender domain reads the sender rollups by day and hour instead.
 * Lists (bounces, trail, export) read the event tables.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/* db_range_time - a range end as timestamptz text; open ends are -infinity and infinity */
void db_range_time(int64_t us, bool is_from, char *out, size_t outlen)
{
    if (is_from && us <= 0)
        snprintf(out, outlen, "-infinity");
    else if (!is_from && us == INT64_MAX)
        snprintf(out, outlen, "infinity");
    else
        time_format_rfc3339(us, out, outlen);
}

/*
 * The read side. Every query's first eight parameters are the same (struct qparams), so that
 * the SQL fragments below can share them:
 *
 *	$1 from  $2 to  $3 host  $4 sender domain  $5 recipient domain  $6 reason  $7 dsn  $8 status
 *
 * Strings are "" for "any". Domains are compared in lower case (the ingest folds
 * recipient_domain; the sender's domain is folded in the query).
 */
#define NQP 8

struct qparams {
    char from[48], to[48];
    char host[EV_HOST_LEN];
    char sender_domain[EV_ADDR_LEN];
    char domain[EV_ADDR_LEN];
    char reason[EV_REASON_LEN];
    char dsn[EV_DSN_LEN];
    char status[16];
    char h1[48], h2[48];    /* aggregates: the whole hours [h1, h2) the rollups answer */
    char m1[48], m2[48];    /* and the whole minutes [m1, h1) and [h2, m2) around them */
    const char *v[NQP + 8]; /* the eight, and room for a query's own */
};

/* The sender's domain, folded: what $4 is compared with. */
#define SENDER_DOMAIN "sender_domain"

/* The filters of a deliveries query; $8 "" means any status. */
#define WHERE_DELIVERIES                                                                           \
    " time >= $1::timestamptz AND time < $2::timestamptz"                                          \
    " AND ($3::text = '' OR host = $3::text)"                                                      \
    " AND ($4::text = '' OR " SENDER_DOMAIN " = $4::text)"                                         \
    " AND ($5::text = '' OR recipient_domain = $5::text)"                                          \
    " AND ($6::text = '' OR reason = $6::text)"                                                    \
    " AND ($7::text = '' OR dsn = $7::text)"

/* db_fold_lower - ASCII lower case in place */
void db_fold_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + ('a' - 'A'));
}

/* qparams_set - the eight shared parameters from a query (or a bare range when q is NULL) */
static void qparams_set(struct qparams *p, const struct db_range *r, const struct db_query *q)
{
    memset(p, 0, sizeof(*p));
    db_range_time(r->from_us, true, p->from, sizeof(p->from));
    db_range_time(r->to_us, false, p->to, sizeof(p->to));
    DB_QCOPY(p->host, r->host);
    DB_QCOPY(p->sender_domain, r->sender_domain);
    db_fold_lower(p->sender_domain);
    if (q != NULL) {
        DB_QCOPY(p->domain, q->domain);
        db_fold_lower(p->domain);
        DB_QCOPY(p->reason, q->reason);
        DB_QCOPY(p->dsn, q->dsn);
        str_copy(p->status, sizeof(p->status), event_status_name(q->status),
                 strlen(event_status_name(q->status)));
    }
    p->v[0] = p->from;
    p->v[1] = p->to;
    p->v[2] = p->host;
    p->v[3] = p->sender_domain;
    p->v[4] = p->domain;
    p->v[5] = p->reason;
    p->v[6] = p->dsn;
    p->v[7] = p->status;
}

/* ceil_to - the first boundary of units of unit_us at or after us */
static int64_t ceil_to(int64_t us, int64_t unit_us)
{
    int64_t f = db_floor_to(us, unit_us);

    return f == us ? us : f + unit_us;
}

/* hours_cost - the time in [x, y) (or [y, x)) before lim: what reading its hours costs */
static int64_t hours_cost(int64_t x, int64_t y, int64_t lim)
{
    int64_t lo = x < y ? x : y, hi = x < y ? y : x;

    if (hi > lim)
        hi = lim;
    return hi > lo ? hi - lo : 0;
}

/*
 * range_days - the days [*d1, *d2) read from day rollups for the hours [a, z), each end of
 * which is read as its hours up to the next whole day, or (DB_DAYS_NEAREST) as that day whole
 * less the rest of its hours (counted negative), whichever spans less time up to lim;
 * *d1 == *d2 == z when no day is read. An open end (a == 0, z == INT64_MAX) takes the days up
 * to it.
 */
static void range_days(int64_t a, int64_t z, int64_t lim, enum db_days days, int64_t *d1,
                       int64_t *d2)
{
    int64_t s[2], e[2], best = hours_cost(a, z, lim);
    int i, j, n = days == DB_DAYS_NEAREST ? 2 : days == DB_DAYS_INSIDE;

    *d1 = *d2 = z;
    s[0] = a == 0 ? a : ceil_to(a, DAY_US);
    s[1] = a == 0 ? a : db_floor_to(a, DAY_US);
    e[0] = z == INT64_MAX ? z : db_floor_to(z, DAY_US);
    e[1] = z == INT64_MAX ? z : ceil_to(z, DAY_US);
    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            int64_t cost = hours_cost(a, s[i], lim) + hours_cost(e[j], z, lim);

            /* At equal cost the earlier option: days within the range before others. */
            if (s[i] < e[j] && cost < best) {
                best = cost;
                *d1 = s[i];
                *d2 = e[j];
            }
        }
    }
}

/*
 * db_range_units - the hours of r read from rollups, and the days among them when days. Each
 * end's partial hour is read from the events, or the whole hour from the rollup less the
 * events of the rest of it, whichever spans less time with events in it (after the end of a
 * range, those up to now: a range that ends now takes its last hour whole). The same choice
 * is made again a grain up: the hours from the end's hour to the next whole day, or that day
 * whole from the day rollups less the rest of its hours, counted negative (range_days()).
 */
void db_range_units(const struct db_range *r, enum db_days days, struct db_units *u)
{
    bool from_open = r->from_us <= 0, to_open = r->to_us == INT64_MAX;
    int64_t a = 0, z = INT64_MAX, d1, d2, now = time_now_us();

    if (!from_open)
        a = ceil_to(r->from_us, HOUR_US);
    if (!to_open)
        z = db_floor_to(r->to_us, HOUR_US);
    if (!from_open && !to_open && a < z) {
        /* The events after the end are those up to now at most. */
        int64_t rest = z + HOUR_US - r->to_us;

        if (now - r->to_us < rest)
            rest = now > r->to_us ? now - r->to_us : 0;
        if (a - r->from_us > HOUR_US / 2)
            a -= HOUR_US;
        if (r->to_us != z && rest < r->to_us - z)
            z += HOUR_US;
    }
    u->h1_us = a;
    u->h2_us = z;
    if (!from_open && !to_open && a >= z) {
        u->h1_us = u->h2_us = r->to_us;
        db_range_time(r->to_us, false, u->h1, sizeof(u->h1));
        snprintf(u->h2, sizeof(u->h2), "%s", u->h1);
        snprintf(u->d1, sizeof(u->d1), "%s", u->h1);
        snprintf(u->d2, sizeof(u->d2), "%s", u->h1);
        snprintf(u->m1, sizeof(u->m1), "%s", u->h1);
        snprintf(u->m2, sizeof(u->m2), "%s", u->h1);
        return;
    }
    db_range_time(a, true, u->h1, sizeof(u->h1));
    db_range_time(z, false, u->h2, sizeof(u->h2));
    /* The minute boundary next to each end on the side of its hour boundary. */
    db_range_time(from_open         ? a
                  : r->from_us <= a ? ceil_to(r->from_us, MINUTE_US)
                                    : db_floor_to(r->from_us, MINUTE_US),
                  true, u->m1, sizeof(u->m1));
    db_range_time(to_open         ? z
                  : z <= r->to_us ? db_floor_to(r->to_us, MINUTE_US)
                                  : ceil_to(r->to_us, MINUTE_US),
                  false, u->m2, sizeof(u->m2));
    /* The hours after the current one have no rows. */
    range_days(a, z, ceil_to(now + 1, HOUR_US), days, &d1, &d2);
    if (d1 >= d2) {
        snprintf(u->d1, sizeof(u->d1), "%s", u->h2);
        snprintf(u->d2, sizeof(u->d2), "%s", u->h2);
    } else {
        db_range_time(d1, true, u->d1, sizeof(u->d1));
        db_range_time(d2, false, u->d2, sizeof(u->d2));
    }
}

/*
 * tenmin_end - the ten-minute boundary next to end e (a range's from or to) whose buckets up to
 * hour boundary h all lie before through, the nearest of the two around e; h when neither
 * does, or when e is open or on h.
 */
static int64_t tenmin_end(int64_t e, int64_t h, int64_t through)
{
    int64_t lo, hi;
    bool lo_ok, hi_ok;

    /* Open ends, and times so far out that the next boundary would not fit. */
    if (e <= 0 || e > INT64_MAX - DB_TENMIN_US || e == h)
        return h;
    lo = db_floor_to(e, DB_TENMIN_US);
    hi = lo == e ? e : lo + DB_TENMIN_US;
    lo_ok = (lo > h ? lo : h) <= through;
    hi_ok = (hi > h ? hi : h) <= through;
    /* lo may be h itself (an end just after an hour boundary): still the nearer one when
     * e is nearer to it than to hi. */
    if (hi_ok && (!lo_ok || hi - e < e - lo))
        return hi;
    return lo_ok ? lo : h;
}

/* db_range_tenmin - see db_int.h */
void db_range_tenmin(const struct db_range *r, int64_t through, struct db_units *u)
{
    if (u->h1_us == r->to_us) { /* no whole hour: the events answer it all */
        snprintf(u->t1, sizeof(u->t1), "%s", u->h1);
        snprintf(u->t2, sizeof(u->t2), "%s", u->h2);
        return;
    }
    db_range_time(tenmin_end(r->from_us, u->h1_us, through), true, u->t1, sizeof(u->t1));
    db_range_time(tenmin_end(r->to_us, u->h2_us, through), false, u->t2, sizeof(u->t2));
}

/* db_tenmin_through - tenmin_rolled.through (sql/031), INT64_MIN when none is added up */
int db_tenmin_through(struct db *db, int64_t *through)
{
    PGresult *res = db_run(db, "SELECT " DB_TIME_US_OR_MIN("through") " FROM tenmin_rolled", 0,
                           NULL, "reading the ten-minute rollups' progress");

    if (res == NULL)
        return -1;
    *through = PQntuples(res) == 1 ? db_get_i64(res, 0, 0) : INT64_MIN;
    PQclear(res);
    return 0;
}

/* db_minute_units - see db_int.h */
void db_minute_units(const struct db_range *r, struct db_units *u)
{
    int64_t m1 = r->from_us <= 0 ? r->from_us : ceil_to(r->from_us, MINUTE_US);
    int64_t m2 = r->to_us == INT64_MAX ? r->to_us : db_floor_to(r->to_us, MINUTE_US);

    if (m1 >= m2)
        m1 = m2 = r->to_us;
    db_range_time(m1, true, u->m1, sizeof(u->m1));
    db_range_time(m2, false, u->m2, sizeof(u->m2));
    snprintf(u->h1, sizeof(u->h1), "%s", u->m2);
    snprintf(u->h2, sizeof(u->h2), "%s", u->m2);
    snprintf(u->d1, sizeof(u->d1), "%s", u->m2);
    snprintf(u->d2, sizeof(u->d2), "%s", u->m2);
}

/*
 * qparams_hours - $9 .. $12 of an aggregate. [$9, $10) are the whole hours inside the range,
 * read from the hourly rollups; [$11, $9) and [$10, $12) the whole minutes around them, read
 * from the minute rollups when no domain filter is set; the rest from the events. A span
 * without whole units is empty, and all four are the range's end when no rollup may be used.
 */
static void qparams_hours(struct qparams *p, const struct db_range *r, bool use_rollups)
{
    bool from_open = r->from_us <= 0, to_open = r->to_us == INT64_MAX;
    int64_t m1 = 0, m2 = INT64_MAX, h1 = 0, h2 = INT64_MAX;

    if (!from_open) {
        m1 = ceil_to(r->from_us, MINUTE_US);
        h1 = ceil_to(r->from_us, HOUR_US);
    }
    if (!to_open) {
        m2 = db_floor_to(r->to_us, MINUTE_US);
        h2 = db_floor_to(r->to_us, HOUR_US);
    }
    if (!use_rollups || (!from_open && !to_open && m1 >= m2)) {
        snprintf(p->h1, sizeof(p->h1), "%s", p->to);
        snprintf(p->h2, sizeof(p->h2), "%s", p->to);
        snprintf(p->m1, sizeof(p->m1), "%s", p->to);
        snprintf(p->m2, sizeof(p->m2), "%s", p->to);
    } else {
        if (!from_open && !to_open && h1 >= h2)
            h1 = h2 = m2;
        db_range_time(h1, true, p->h1, sizeof(p->h1));
        db_range_time(h2, false, p->h2, sizeof(p->h2));
        db_range_time(m1, true, p->m1, sizeof(p->m1));
        db_range_time(m2, false, p->m2, sizeof(p->m2));
    }
    p->v[NQP] = p->h1;
    p->v[NQP + 1] = p->h2;
    p->v[NQP + 2] = p->m1;
    p->v[NQP + 3] = p->m2;
}

/* db_run - PQexecParams expecting rows; NULL after one warning */
PGresult *db_run(struct db *db, const char *sql, int n, const char *const *v, const char *what)
{
    PGresult *res;

    if (db_reconnect(db) < 0)
        return NULL;
    res = PQexecParams(db->conn, sql, n, NULL, v, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_warn_res(db, res, what);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* db_get_i64 - an integer column; 0 when NULL */
int64_t db_get_i64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* get_str - a text column into a fixed array; "" when NULL */
static void get_str(const PGresult *res, int row, int col, char *out, size_t outlen)
{
    const char *s = PQgetvalue(res, row, col);

    str_copy(out, outlen, s, (size_t)PQgetlength(res, row, col));
}

/* The time of a row as microseconds since the epoch (exact: numeric arithmetic). */
#define TIME_US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"
#define RFC3339(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"')"

/*
 * Events read back: every event table as the same 28 columns, in this order, so that one
 * function turns any of them into a struct event.
 */
enum ecol {
    C_TYPE,
    C_TIME,
    C_HOST,
    C_MTA,
    C_QID,
    C_NQID,
    C_MSGID,
    C_SENDER,
    C_RCPT,
    C_ORCPT,
    C_RELAY,
    C_CLIENT,
    C_HELO,
    C_SASL,
    C_DSN,
    C_REPLY,
    C_REASON,
    C_STATUS,
    C_CODE,
    C_HARD,
    C_DELAY,
    C_DELAYS,
    C_SIZE,
    C_NRCPT,
    C_TRUNC,
    C_SRC,
    C_POS,
    C_SEQ,
    C_NCOLS
};

#define EV_COLS_TAIL " truncated, source_id, pos, seq"

#define EV_COLS_DELIVERY                                                                           \
    " 2, " TIME_US("time") ", host, mta, queue_id, NULL, message_id, sender, recipient,"           \
                           " orig_recipient, relay, NULL, NULL, NULL, dsn, reply, reason, "        \
                           "status, smtp_code, hard,"                                              \
                           " delay, delays, NULL::bigint, NULL::integer," EV_COLS_TAIL
#define EV_COLS_MESSAGE                                                                            \
    " 1, " TIME_US(                                                                                \
        "time") ", host, mta, queue_id, NULL, message_id, sender, NULL, NULL, NULL,"               \
                " client, NULL, sasl_username, NULL, NULL, NULL, NULL, NULL::integer, false,"      \
                " NULL::double precision, NULL, size, nrcpt," EV_COLS_TAIL
#define EV_COLS_REJECT                                                                             \
    " 3, " TIME_US("time") ", host, mta, queue_id, NULL, NULL, sender, recipient, NULL, NULL,"     \
                           " client, helo, NULL, dsn, reply, reason, NULL, smtp_code, false, "     \
                           "NULL::double precision,"                                               \
                           " NULL, NULL::bigint, NULL::integer," EV_COLS_TAIL
#define EV_COLS_BOUNCE_NOTICE                                                                      \
    " 4, " TIME_US(                                                                                \
        "time") ", host, mta, queue_id, notice_queue_id, NULL, NULL, NULL, NULL,"                  \
                " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL::integer, false,"           \
                " NULL::double precision, NULL, NULL::bigint, NULL::integer," EV_COLS_TAIL

/* parse_delays - "0.1/0//0.8" into four doubles (NaN for an empty one) */
static void parse_delays(const char *s, double d[4])
{
    int i;

    for (i = 0; i < 4; i++) {
        char *end;

        d[i] = strtod(s, &end);
        if (end == s)
            d[i] = NAN;
        s = end + strcspn(end, "/");
        if (*s == '/')
            s++;
    }
}

/* row_event - row i of an event result (the 28 columns) as a struct event */
static void row_event(const PGresult *res, int i, struct event *ev)
{
    static const enum event_mta mtas[] = {MTA_POSTFIX, MTA_EXIM, MTA_SENDMAIL};
    const char *s;
    size_t k;

    event_clear(ev);
    ev->type = (enum event_type)db_get_i64(res, i, C_TYPE);
    ev->time_us = db_get_i64(res, i, C_TIME);
    get_str(res, i, C_HOST, ev->host, sizeof(ev->host));
    s = PQgetvalue(res, i, C_MTA);
    for (k = 0; k < ARRAY_LEN(mtas); k++)
        if (strcmp(s, event_mta_name(mtas[k])) == 0)
            ev->mta = mtas[k];
    get_str(res, i, C_QID, ev->queue_id, sizeof(ev->queue_id));
    get_str(res, i, C_NQID, ev->notice_queue_id, sizeof(ev->notice_queue_id));
    get_str(res, i, C_MSGID, ev->message_id, sizeof(ev->message_id));
    get_str(res, i, C_SENDER, ev->sender, sizeof(ev->sender));
    get_str(res, i, C_RCPT, ev->recipient, sizeof(ev->recipient));
    get_str(res, i, C_ORCPT, ev->orig_recipient, sizeof(ev->orig_recipient));
    get_str(res, i, C_RELAY, ev->relay, sizeof(ev->relay));
    get_str(res, i, C_CLIENT, ev->client, sizeof(ev->client));
    get_str(res, i, C_HELO, ev->helo, sizeof(ev->helo));
    get_str(res, i, C_SASL, ev->sasl_username, sizeof(ev->sasl_username));
    get_str(res, i, C_DSN, ev->dsn, sizeof(ev->dsn));
    get_str(res, i, C_REPLY, ev->reply, sizeof(ev->reply));
    get_str(res, i, C_REASON, ev->reason, sizeof(ev->reason));
    s = PQgetvalue(res, i, C_STATUS);
    if (event_status_parse(s, strlen(s), &ev->status) < 0)
        ev->status = ST_NONE;
    if (!PQgetisnull(res, i, C_CODE))
        ev->smtp_code = (int)db_get_i64(res, i, C_CODE);
    ev->hard = PQgetvalue(res, i, C_HARD)[0] == 't';
    if (!PQgetisnull(res, i, C_DELAY)) {
        ev->has_delay = true;
        ev->delay = strtod(PQgetvalue(res, i, C_DELAY), NULL);
    }
    if (!PQgetisnull(res, i, C_DELAYS)) {
        ev->has_delays = true;
        parse_delays(PQgetvalue(res, i, C_DELAYS), ev->delays);
    }
    if (!PQgetisnull(res, i, C_SIZE))
        ev->size = db_get_i64(res, i, C_SIZE);
    if (!PQgetisnull(res, i, C_NRCPT))
        ev->nrcpt = (int32_t)db_get_i64(res, i, C_NRCPT);
    if (PQgetvalue(res, i, C_TRUNC)[0] == 't')
        ev->flags |= EVF_TRUNCATED;
}

/* bucket_name - the date_trunc unit of a bucket */
static const char *bucket_name(enum db_bucket bucket)
{
    switch (bucket) {
    case DB_BUCKET_MINUTE:
        return "minute";
    case DB_BUCKET_DAY:
        return "day";
    case DB_BUCKET_HOUR:
        break;
    }
    return "hour";
}

/*
 * The rows an aggregate adds up: rollup rows for the whole hours [$9, $10), event rows (n = 1)
 * for [$1, $9) and [$10, $2), filtered by the eight shared parameters. Without a sender-domain
 * filter the minute rollups answer the whole minutes [$11, $9) and [$10, $12) of those
 * edges, and the events only [$1, $11) and [$12, $2). A status filter keeps
 * only that kind, so it leaves out received and rejected.
 *
 * The rollup rows come from rollups_host (no domains, far fewer rows) without a sender-domain
 * filter, else from rollups, which knows the sender domain but not the recipient's; the
 * planner drops the branch whose condition is false before it runs. No rollup is keyed by
 * recipient domain and reason, so an aggregate filtered by recipient domain has no whole
 * hours or minutes: the events answer all of it (agg_hours()). db_domains() reads the whole
 * hours from rollups_domain_hour, a row per domain, hour and host with a count per kind, when
 * it filters on nothing those rows do not have (domains_hours()).
 */
#define ROLLUPS_FULL(cond)                                                                         \
    " SELECT hour AS t, host, sender_domain, '' AS recipient_domain, kind, reason, dsn, n,"        \
    " example FROM rollups WHERE hour >= $9::timestamptz AND hour < $10::timestamptz AND " cond
#define ROLLUPS_HOST                                                                               \
    " SELECT hour, host, '', '', kind, reason, dsn, n, example FROM rollups_host"                  \
    " WHERE hour >= $9::timestamptz AND hour < $10::timestamptz"                                   \
    " AND $4::text = ''"
#define ROLLUPS_DOMAIN_HOUR                                                                        \
    " SELECT hour AS t, host, '' AS sender_domain, recipient_domain, k.kind, '' AS reason,"        \
    " '' AS dsn, k.n::bigint, NULL::text FROM rollups_domain_hour, LATERAL (VALUES"                \
    " ('sent', sent), ('deferred', deferred), ('bounced', bounced), ('expired', expired))"         \
    " k (kind, n) WHERE hour >= $9::timestamptz AND hour < $10::timestamptz AND k.n > 0"
#define FACTS_CTE_WITH(rollup_rows, minutes, events)                                               \
    "WITH f AS (" rollup_rows " UNION ALL"                                                         \
    " SELECT minute, host, '', '', kind, reason, dsn, n, example FROM rollups_host_minute"         \
    " WHERE " minutes " AND ((minute >= $11::timestamptz AND minute < $9::timestamptz)"            \
    "  OR (minute >= $10::timestamptz AND minute < $12::timestamptz))"                             \
    " UNION ALL"                                                                                   \
    " SELECT time, host, sender_domain, recipient_domain, kind, reason, dsn, 1, reply "            \
    "FROM " events " WHERE CASE WHEN " minutes                                                     \
    "  THEN (time >= $1::timestamptz AND time < $11::timestamptz)"                                 \
    "   OR (time >= $12::timestamptz AND time < $2::timestamptz)"                                  \
    "  ELSE (time >= $1::timestamptz AND time < $9::timestamptz)"                                  \
    "   OR (time >= $10::timestamptz AND time < $2::timestamptz) END)"
#define FACTS_ROLLUPS ROLLUPS_FULL("$4::text <> ''") " UNION ALL" ROLLUPS_HOST
#define FACTS_CTE     FACTS_CTE_WITH(FACTS_ROLLUPS, "$4::text = ''", "facts")
/* For an aggregate of the attempts alone: their events without the messages' (sql/028). */
#define FACTS_CTE_ATTEMPTS FACTS_CTE_WITH(FACTS_ROLLUPS, "$4::text = ''", "attempt_facts")
#define FACTS_CTE_DOMAINS  FACTS_CTE_WITH(ROLLUPS_DOMAIN_HOUR, "false", "attempt_facts")
#define FACTS_WHERE                                                                                \
    " ($3::text = '' OR host = $3::text)"                                                          \
    " AND ($4::text = '' OR sender_domain = $4::text)"                                             \
    " AND ($5::text = '' OR recipient_domain = $5::text)"                                          \
    " AND ($6::text = '' OR reason = $6::text)"                                                    \
    " AND ($7::text = '' OR dsn = $7::text)"                                                       \
    " AND ($8::text = '' OR kind = $8::text)"
/* Sums that are 0, not NULL, when no row has the kind (a NULL rate would sort first). */
#define KIND_SUM(k) " coalesce(sum(n) FILTER (WHERE kind = '" k "'), 0)"
#define KIND_SUMS_ATTEMPTS                                                                         \
    KIND_SUM("sent") "," KIND_SUM("deferred") "," KIND_SUM("bounced") "," KIND_SUM("expired")
#define KIND_SUMS     KIND_SUM("received") "," KIND_SUMS_ATTEMPTS "," KIND_SUM("rejected")
#define ATTEMPT_KINDS " kind IN ('sent', 'deferred', 'bounced', 'expired')"

/* agg_hours - whether an aggregate's whole hours may come from the rollups: not when it
 * filters by recipient domain, which neither rollups nor rollups_host is keyed by */
static bool agg_hours(const struct db_query *q)
{
    return q->domain[0] == 0;
}

/* domains_hours - whether the domains report's whole hours may come from rollups_domain_hour:
 * when it filters on nothing but host, recipient domain and status */
static bool domains_hours(const struct db_query *q)
{
    return q->range.sender_domain[0] == 0 && q->reason[0] == 0 && q->dsn[0] == 0;
}

static const char summary_sql[] = FACTS_CTE " SELECT" KIND_SUMS " FROM f WHERE" FACTS_WHERE;

/*
 * The totals of one sender domain. "rollups" holds its rows among those of every recipient
 * domain (about one row per two attempts of a long tail), so the attempts and rejects come
 * from the sender rollups instead: days from rollups_sender_day, the whole hours around them
 * from rollups_sender_hour with their sign (DB_SIGNED_FROM), each read as plain ranges of their
 * keys; the messages it sent from the received rows of "rollups" (a partial index on sender
 * domain and hour, sql/019); the whole ten minutes at the ends from rollups_sender_tenmin
 * (attempts, rejects and messages received), the rest of the ends from the events, with
 * their sign (DB_SIGNED_FROM, DB_EDGE_FROM). $1 from, $2 to, $3 host, $4 the sender domain,
 * [$5, $6) the hours from rollups, [$7, $8) the days (db_range_units()), $9 and $10 the
 * ten-minute boundaries next to the ends (db_range_tenmin()).
 */
#define SENDER_HOST " AND ($3::text = '' OR host = $3::text)"
#define SENDER_HOURS(a, b)                                                                         \
    " UNION ALL SELECT 0, s * (kind = 'sent')::int * n, s * (kind = 'deferred')::int * n,"         \
    " s * (kind = 'bounced')::int * n, s * (kind = 'expired')::int * n,"                           \
    " s * (kind = 'rejected')::int * n" DB_SIGNED_FROM(                                            \
        "rollups_sender_hour", "hour", a, b,                                                       \
        " AND axis = 'sender_domain' AND key = $4::text" SENDER_HOST)
#define SENDER_TENMIN(a, b)                                                                        \
    " UNION ALL SELECT s * (kind = 'received')::int * n, s * (kind = 'sent')::int * n,"            \
    " s * (kind = 'deferred')::int * n, s * (kind = 'bounced')::int * n,"                          \
    " s * (kind = 'expired')::int * n, s * (kind = 'rejected')::int * n" DB_SIGNED_FROM(           \
        "rollups_sender_tenmin", "tenmin", a, b,                                                   \
        " AND axis = 'sender_domain' AND key = $4::text" SENDER_HOST)
#define SENDER_EVENTS(a, b)                                                                        \
    " UNION ALL SELECT s * (kind = 'received')::int, s * (kind = 'sent')::int,"                    \
    " s * (kind = 'deferred')::int, s * (kind = 'bounced')::int, s * (kind = 'expired')::int,"     \
    " s * (kind = 'rejected')::int" DB_EDGE_FROM("facts", a, b,                                    \
                                                 " AND sender_domain = $4::text" SENDER_HOST)
static const char summary_sender_sql[] =
    "SELECT coalesce(sum(rc), 0), coalesce(sum(st), 0), coalesce(sum(df), 0),"
    " coalesce(sum(bo), 0), coalesce(sum(ex), 0), coalesce(sum(rj), 0) FROM ("
    " SELECT 0 rc, sent st, deferred df, bounced bo, expired ex, rejected rj"
    " FROM rollups_sender_day WHERE axis = 'sender_domain' AND day >= $7::timestamptz"
    " AND day < $8::timestamptz AND key = $4::text" SENDER_HOST SENDER_HOURS("$5", "$7")
        SENDER_HOURS("$8",
                     "$6") " UNION ALL SELECT n, 0, 0, 0, 0, 0 FROM rollups"
                           " WHERE kind = 'received' AND sender_domain = $4::text"
                           " AND hour >= $5::timestamptz AND hour < $6::timestamptz" SENDER_HOST
                               SENDER_TENMIN("$9", "$5") SENDER_TENMIN("$6", "$10")
                                   SENDER_EVENTS("$1", "$9") SENDER_EVENTS("$10", "$2") ") c";

/* db_summary - totals over [from, to), for one host or all, one sender domain or all */
int db_summary(struct db *db, const struct db_range *r, struct db_summary *out)
{
    struct qparams p;
    int64_t *fields[6] = {&out->received, &out->sent,    &out->deferred,
                          &out->bounced,  &out->expired, &out->rejected};
    PGresult *res;
    int i;

    memset(out, 0, sizeof(*out));
    qparams_set(&p, r, NULL);
    if (p.sender_domain[0] != 0) {
        struct db_units u;
        const char *v[10] = {p.from, p.to, p.host, p.sender_domain, u.h1, u.h2, u.d1,
                             u.d2,   u.t1, u.t2};
        int64_t through;

        db_range_units(r, DB_DAYS_NEAREST, &u);
        if (db_tenmin_through(db, &through) < 0)
            return -1;
        db_range_tenmin(r, through, &u);
        res = db_run(db, summary_sender_sql, 10, v, "summary");
    } else {
        qparams_hours(&p, r, true);
        res = db_run(db, summary_sql, NQP + 4, p.v, "summary");
    }
    if (res == NULL)
        return -1;
    for (i = 0; i < 6 && PQntuples(res) == 1; i++)
        *fields[i] = db_get_i64(res, 0, i);
    PQclear(res);
    return 0;
}

/* $13: the date_trunc unit (from a fixed list, never from a request). */
static const char timeseries_sql[] = FACTS_CTE
    " SELECT " TIME_US("date_trunc($13::text, t, 'UTC')") "," KIND_SUMS " FROM f WHERE" FACTS_WHERE
                                                          " GROUP BY 1 ORDER BY 1";

/* db_timeseries - counts per bucket over the range, oldest first; empty buckets are absent */
int db_timeseries(struct db *db, const struct db_query *q, enum db_bucket bucket,
                  int (*fn)(void *arg, const struct db_point *p), void *arg)
{
    struct qparams p;
    struct db_point pt;
    PGresult *res;
    int i;

    qparams_set(&p, &q->range, q);
    qparams_hours(&p, &q->range, agg_hours(q));
    if (bucket == DB_BUCKET_MINUTE && agg_hours(q)) {
        struct db_units u;

        db_minute_units(&q->range, &u);
        snprintf(p.h1, sizeof(p.h1), "%s", u.h1);
        snprintf(p.h2, sizeof(p.h2), "%s", u.h2);
        snprintf(p.m1, sizeof(p.m1), "%s", u.m1);
        snprintf(p.m2, sizeof(p.m2), "%s", u.m2);
    }
    p.v[NQP + 4] = bucket_name(bucket);
    res = db_run(db, timeseries_sql, NQP + 5, p.v, "timeseries");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        pt.bucket_us = db_get_i64(res, i, 0);
        pt.received = db_get_i64(res, i, 1);
        pt.sent = db_get_i64(res, i, 2);
        pt.deferred = db_get_i64(res, i, 3);
        pt.bounced = db_get_i64(res, i, 4);
        pt.expired = db_get_i64(res, i, 5);
        pt.rejected = db_get_i64(res, i, 6);
        if (fn(arg, &pt) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

/*
 * The ORDER BY of db_domains, by enum: a fixed list, so no request text reaches the SQL. A
 * rate ordering lists only domains with at least a thousandth of the attempts counted
 * (those with an unknown domain included): the minimum volume of db/domains.c.
 */
#define DOMAINS_SQL(order, rule)                                                                   \
    FACTS_CTE_DOMAINS " SELECT recipient_domain, st, df, bo, ex,"                                  \
                      " bo::float8 / greatest(total, 1), df::float8 / greatest(total, 1) FROM ("   \
                      " SELECT recipient_domain," KIND_SUMS_ATTEMPTS                               \
                      ", sum(n), sum(sum(n)) OVER () FROM f WHERE" FACTS_WHERE                     \
                      " AND" ATTEMPT_KINDS " GROUP BY 1)"                                          \
                      " d (recipient_domain, st, df, bo, ex, total, everything)"                   \
                      " WHERE recipient_domain <> '' AND " rule " ORDER BY " order                 \
                      ", recipient_domain LIMIT $13::integer"
#define MIN_VOLUME "total * 1000 >= everything"

static const char *const domains_sql[] = {
    [DB_ORDER_VOLUME] = DOMAINS_SQL("total DESC", "true"),
    [DB_ORDER_BOUNCE_RATE] = DOMAINS_SQL("6 DESC, total DESC", MIN_VOLUME),
    [DB_ORDER_DEFERRAL_RATE] = DOMAINS_SQL("7 DESC, total DESC", MIN_VOLUME),
};

/* domains_boundable - the query filters on nothing but its range and host (db/domains.c) */
static bool domains_boundable(const struct db_query *q)
{
    return q->range.sender_domain[0] == 0 && q->domain[0] == 0 && q->reason[0] == 0 &&
           q->dsn[0] == 0 && q->status == ST_NONE;
}

/* db_domains - per recipient domain: counts by status and rates, in the order asked */
int db_domains(struct db *db, const struct db_query *q, enum db_domain_order order, int limit,
               int (*fn)(void *arg, const struct db_domain_row *r), void *arg)
{
    struct qparams p;
    struct db_domain_row row;
    char lim[16];
    PGresult *res;
    int i;

    if ((unsigned)order >= ARRAY_LEN(domains_sql))
        order = DB_ORDER_VOLUME;
    if (domains_boundable(q)) {
        struct db_summary s;
        int rc;

        /* Only the rate orders' minimum volume needs the range's attempts. */
        memset(&s, 0, sizeof(s));
        if (order != DB_ORDER_VOLUME && db_summary(db, &q->range, &s) < 0)
            return -1;
        rc = db_domains_bounded(db, &q->range, order, limit,
                                s.sent + s.deferred + s.bounced + s.expired, fn, arg);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    qparams_set(&p, &q->range, q);
    qparams_hours(&p, &q->range, domains_hours(q));
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    p.v[NQP + 4] = lim;
    res = db_run(db, domains_sql[order], NQP + 5, p.v, "domains");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        memset(&row, 0, sizeof(row));
        get_str(res, i, 0, row.domain, sizeof(row.domain));
        row.sent = db_get_i64(res, i, 1);
        row.deferred = db_get_i64(res, i, 2);
        row.bounced = db_get_i64(res, i, 3);
        row.expired = db_get_i64(res, i, 4);
        row.bounce_rate = strtod(PQgetvalue(res, i, 5), NULL);
        row.deferral_rate = strtod(PQgetvalue(res, i, 6), NULL);
        if (fn(arg, &row) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

/* Non-sent attempts, of one status when one is asked for (never "sent": the routes refuse it).
 * The first condition is the predicate of the partial indexes of sql/020, stated as they are. */
#define WHERE_NOT_SENT " AND status <> 'sent' AND ($8::text = '' OR status = $8::text)"

static const char reasons_sql[] = FACTS_CTE_ATTEMPTS
    " SELECT reason, dsn, kind, sum(n), coalesce(min(example), '') FROM f"
    " WHERE" FACTS_WHERE " AND" ATTEMPT_KINDS " AND ($8::text <> '' OR kind <> 'sent')"
    " GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT $13::integer";

/* db_reasons - non-sent attempts counted by reason, DSN code and status, most frequent first */
int db_reasons(struct db *db, const struct db_query *q, int limit,
               int (*fn)(void *arg, const struct db_reason_row *r), void *arg)
{
    struct qparams p;
    struct db_reason_row row;
    char lim[16];
    PGresult *res;
    const char *s;
    int i;

    qparams_set(&p, &q->range, q);
    qparams_hours(&p, &q->range, agg_hours(q));
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    p.v[NQP + 4] = lim;
    res = db_run(db, reasons_sql, NQP + 5, p.v, "reasons");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        memset(&row, 0, sizeof(row));
        get_str(res, i, 0, row.reason, sizeof(row.reason));
        get_str(res, i, 1, row.dsn, sizeof(row.dsn));
        s = PQgetvalue(res, i, 2);
        if (event_status_parse(s, strlen(s), &row.status) < 0)
            row.status = ST_NONE;
        row.count = db_get_i64(res, i, 3);
        get_str(res, i, 4, row.example, sizeof(row.example));
        if (fn(arg, &row) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

/*
 * Bounces, newest first, paged by keyset: the cursor is the position of the last row shown,
 * "TIME_US.SOURCE.POS.SEQ", and the next page starts strictly after it. $9..$12 are NULL on
 * the first page; $13 is the limit plus one, which tells whether a next page exists; $14 the
 * mailbox provider, $15 the submitter's SASL user, $16 the submitting client's IP address,
 * each "" for any.
 */
static const char bounces_sql[] =
    "SELECT" EV_COLS_DELIVERY " FROM deliveries WHERE" WHERE_DELIVERIES WHERE_NOT_SENT
    " AND ($9::bigint IS NULL OR (time, source_id, pos, seq) <"
    "  ('epoch'::timestamptz + $9::bigint * interval '1 microsecond', $10::bigint, $11::bigint,"
    "   $12::integer))"
    " AND ($14::text = '' OR provider = $14::text)"
    " AND ($15::text = '' OR sasl_username = $15::text)"
    " AND ($16::text = '' OR mailpulse_client_ip(client) = $16::text)"
    " ORDER BY time DESC, source_id DESC, pos DESC, seq DESC LIMIT $13::integer";

/* parse_cursor - "T.S.P.Q" into four numbers; -1 when it is anything else */
static int parse_cursor(const char *s, long long out[4])
{
    int i;

    for (i = 0; i < 4; i++) {
        char *end;

        if (!(*s == '-' || (*s >= '0' && *s <= '9')))
            return -1;
        errno = 0;
        out[i] = strtoll(s, &end, 10);
        if (errno != 0 || end == s || (i < 3 && *end != '.') || (i == 3 && *end != 0))
            return -1;
        s = end + (i < 3);
    }
    return out[1] > 0 && out[2] >= 0 && out[3] >= 0 && out[3] <= INT32_MAX ? 0 : -1;
}

/* db_bounces - one page of non-sent attempts, newest first, and the cursor of the next */
int db_bounces(struct db *db, const struct db_query *q, int limit, const char *cursor_in,
               char *cursor_out, int (*fn)(void *arg, const struct event *ev), void *arg, char *err,
               size_t errlen)
{
    struct qparams p;
    struct event ev;
    char cur[4][24], lim[16];
    long long c[4];
    PGresult *res;
    int i, n, k;

    if (errlen)
        err[0] = 0;
    cursor_out[0] = 0;
    qparams_set(&p, &q->range, q);
    if (cursor_in != NULL && cursor_in[0] != 0) {
        if (strlen(cursor_in) >= DB_CURSOR_LEN || parse_cursor(cursor_in, c) < 0) {
            snprintf(err, errlen, "malformed cursor");
            return -1;
        }
        for (k = 0; k < 4; k++) {
            snprintf(cur[k], sizeof(cur[k]), "%lld", c[k]);
            p.v[NQP + k] = cur[k];
        }
    }
    if (limit < 1)
        limit = 1;
    if (limit > 100000)
        limit = 100000;
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    {
        const char *v[NQP + 8];
        char prov[sizeof(q->provider)], sasl[sizeof(q->sasl_user)], cli[sizeof(q->client_ip)];

        DB_QCOPY(prov, q->provider);
        DB_QCOPY(sasl, q->sasl_user);
        DB_QCOPY(cli, q->client_ip);
        memcpy(v, p.v, sizeof(*v) * (NQP + 4));
        v[NQP + 4] = lim;
        v[NQP + 5] = prov;
        v[NQP + 6] = sasl;
        v[NQP + 7] = cli;
        res = db_run(db, bounces_sql, NQP + 8, v, "bounces");
    }
    if (res == NULL) {
        snprintf(err, errlen, "database error");
        return -1;
    }
    n = PQntuples(res);
    for (i = 0; i < n && i < limit; i++) {
        row_event(res, i, &ev);
        if (fn(arg, &ev) < 0) {
            n = 0; /* stopped early: no next page to offer */
            break;
        }
    }
    if (n > limit)
        snprintf(cursor_out, DB_CURSOR_LEN, "%lld.%lld.%lld.%lld",
                 (long long)db_get_i64(res, limit - 1, C_TIME),
                 (long long)db_get_i64(res, limit - 1, C_SRC),
                 (long long)db_get_i64(res, limit - 1, C_POS),
                 (long long)db_get_i64(res, limit - 1, C_SEQ));
    PQclear(res);
    return 0;
}

/*
 * A message trail: the (host, queue id) pairs the key names, then every event of those
 * pairs. $1 queue id, $2 message-id, $3 recipient: exactly one is non-empty. A Message-ID
 * names the queue ids of its messages (the attempts have no index on it: sql/016). Rejects
 * have no queue id as a rule (NOQUEUE), so for a recipient they are matched directly.
 */
static const char trail_sql[] =
    "WITH k AS ("
    " SELECT host, queue_id FROM messages WHERE queue_id IS NOT NULL"
    "  AND (queue_id = $1::text OR message_id = $2::text)"
    " UNION SELECT host, queue_id FROM deliveries WHERE queue_id IS NOT NULL"
    "  AND (queue_id = $1::text OR recipient = $3::text)"
    " UNION SELECT host, queue_id FROM rejects WHERE queue_id = $1::text"
    " UNION SELECT host, queue_id FROM bounce_notices WHERE queue_id = $1::text)"
    "SELECT * FROM ("
    " SELECT" EV_COLS_MESSAGE " FROM messages WHERE (host, queue_id) IN (SELECT * FROM k)"
    " UNION ALL SELECT" EV_COLS_DELIVERY " FROM deliveries"
    "  WHERE (host, queue_id) IN (SELECT * FROM k)"
    " UNION ALL SELECT" EV_COLS_REJECT " FROM rejects"
    "  WHERE (host, queue_id) IN (SELECT * FROM k) OR recipient = $3::text"
    " UNION ALL SELECT" EV_COLS_BOUNCE_NOTICE " FROM bounce_notices"
    "  WHERE (host, queue_id) IN (SELECT * FROM k)"
    ") e ORDER BY 2 NULLS FIRST, 26, 27, 28 LIMIT $4::integer";

/* db_message_trail - every event of the messages one key names, oldest first */
int db_message_trail(struct db *db, const struct db_query *q, int limit,
                     int (*fn)(void *arg, const struct event *ev), void *arg)
{
    char qid[EV_QID_LEN] = "", msgid[EV_MSGID_LEN] = "", rcpt[EV_ADDR_LEN] = "", lim[16];
    const char *v[4] = {qid, msgid, rcpt, lim};
    struct event ev;
    PGresult *res;
    int i;

    /* The first non-empty key; "" never matches a stored value (absent strings are NULL). */
    if (q->queue_id[0] != 0)
        DB_QCOPY(qid, q->queue_id);
    else if (q->message_id[0] != 0)
        DB_QCOPY(msgid, q->message_id);
    else
        DB_QCOPY(rcpt, q->recipient);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    res = db_run(db, trail_sql, 4, v, "message trail");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        row_event(res, i, &ev);
        if (fn(arg, &ev) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

#define DSN_CLASS "CASE WHEN left(dsn, 1) IN ('2', '4', '5') THEN left(dsn, 1) ELSE '' END"

static const char metric_sql[] =
    "SELECT host, CASE WHEN kind = 'rejected' THEN 3 ELSE 2 END,"
    " CASE WHEN kind = 'rejected' THEN '' ELSE kind END, reason, " DSN_CLASS ", sum(n)"
    " FROM rollups_host WHERE kind NOT IN ('received', 'notice')"
    " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5";

/* db_metric_counts - all-time counts by host, kind, status, reason and DSN class */
int db_metric_counts(struct db *db, int (*fn)(void *arg, const struct db_metric_row *r), void *arg)
{
    struct db_metric_row row;
    PGresult *res;
    const char *s;
    int i;

    res = db_run(db, metric_sql, 0, NULL, "metric counts");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        memset(&row, 0, sizeof(row));
        get_str(res, i, 0, row.host, sizeof(row.host));
        row.type = (enum event_type)db_get_i64(res, i, 1);
        s = PQgetvalue(res, i, 2);
        if (event_status_parse(s, strlen(s), &row.status) < 0)
            row.status = ST_NONE;
        get_str(res, i, 3, row.reason, sizeof(row.reason));
        get_str(res, i, 4, row.dsn_class, sizeof(row.dsn_class));
        row.count = db_get_i64(res, i, 5);
        if (fn(arg, &row) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

/*
 * Export: a server-side cursor in a transaction of its own, fetched EXPORT_FETCH rows at a
 * time, so that memory stays flat however many rows there are.
 */
#define EXPORT_FETCH 1000 /* as in the FETCH statement below */

struct db_export {
    struct db *db;
    enum db_export_what what;
    PGresult *res; /* the current batch */
    int row;       /* next row of res */
    bool done;     /* the cursor is exhausted, or failed */
};

/* $10 the submitter's SASL user, $11 the submitting client's IP address; "" for any */
#define EXPORT_SUBMITTER                                                                           \
    " AND ($10::text = '' OR sasl_username = $10::text)"                                           \
    " AND ($11::text = '' OR mailpulse_client_ip(client) = $11::text)"

static const char *const export_sql[] = {
    [DB_EXPORT_DELIVERIES] =
        "DECLARE mailpulse_export NO SCROLL CURSOR FOR SELECT" EV_COLS_DELIVERY
        " FROM deliveries WHERE" WHERE_DELIVERIES " AND ($8::text = '' OR status = $8::text)"
        " AND ($9::text = '' OR provider = $9::text)" EXPORT_SUBMITTER
        " ORDER BY time, source_id, pos, seq",
    [DB_EXPORT_BOUNCES] = "DECLARE mailpulse_export NO SCROLL CURSOR FOR SELECT" EV_COLS_DELIVERY
                          " FROM deliveries WHERE" WHERE_DELIVERIES WHERE_NOT_SENT
                          " AND ($9::text = '' OR provider = $9::text)" EXPORT_SUBMITTER
                          " ORDER BY time, source_id, pos, seq",
    [DB_EXPORT_COMPLAINTS] = "DECLARE mailpulse_export NO SCROLL CURSOR FOR SELECT " RFC3339(
        "time") ", feedback_type,"
                " recipient, sender_domain, sender, source_ip, reporting_mta, user_agent, "
                "message_id,"
                " subject, nullif(host, ''), queue_id FROM complaints"
                " WHERE time >= $1::timestamptz AND time < $2::timestamptz"
                " AND ($3::text = '' OR host = $3::text) AND ($4::text = '' OR sender_domain = "
                "$4::text)"
                " ORDER BY time, msg_key, seq",
    [DB_EXPORT_SUPPRESSIONS] =
        "DECLARE mailpulse_export NO SCROLL CURSOR FOR SELECT recipient, sender_domain, " RFC3339(
            "last_time") ", origin, nullif(reason, ''), dsn, reply, n::text FROM suppressions"
                         " WHERE last_time >= $1::timestamptz AND last_time < $2::timestamptz"
                         " AND ($3::text = '' OR true) AND ($4::text = '' OR sender_domain = "
                         "$4::text)"
                         " ORDER BY recipient, sender_domain",
};

/* The columns of the row exports, as their SELECT lists them. */
static const char *const complaint_cols[] = {
    "time",          "feedback_type", "recipient",  "sender_domain", "mail_from", "source_ip",
    "reporting_mta", "user_agent",    "message_id", "subject",       "host",      "queue_id"};
static const char *const suppression_cols[] = {"recipient", "sender_domain", "last_time", "origin",
                                               "reason",    "dsn",           "reply",     "count"};

/* db_export_columns - the column names of a row export and how many (0 for events) */
int db_export_columns(const struct db_export *x, const char *const **names)
{
    if (x->what == DB_EXPORT_COMPLAINTS) {
        *names = complaint_cols;
        return (int)ARRAY_LEN(complaint_cols);
    }
    if (x->what == DB_EXPORT_SUPPRESSIONS) {
        *names = suppression_cols;
        return (int)ARRAY_LEN(suppression_cols);
    }
    *names = NULL;
    return 0;
}

/* db_export_open - begin a transaction and declare the export cursor; NULL on failure */
struct db_export *db_export_open(struct db *db, enum db_export_what what, const struct db_query *q)
{
    struct db_export *x;
    struct qparams p;
    char prov[sizeof(q->provider)], sasl[sizeof(q->sasl_user)], cli[sizeof(q->client_ip)];
    PGresult *res;

    if ((unsigned)what >= ARRAY_LEN(export_sql))
        return NULL;
    qparams_set(&p, &q->range, q);
    DB_QCOPY(prov, q->provider);
    DB_QCOPY(sasl, q->sasl_user);
    DB_QCOPY(cli, q->client_ip);
    p.v[NQP] = prov; /* $9: the mailbox provider, "" for any */
    p.v[NQP + 1] = sasl;
    p.v[NQP + 2] = cli;
    if (db_reconnect(db) < 0)
        return NULL;
    res =
        db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, "export");
    if (res == NULL)
        return NULL;
    PQclear(res);
    res = PQexecParams(db->conn, export_sql[what], what >= DB_EXPORT_COMPLAINTS ? 4 : NQP + 3, NULL,
                       p.v, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        db_warn_res(db, res, "export");
        PQclear(res);
        db_rollback(db);
        return NULL;
    }
    PQclear(res);
    x = xcalloc(1, sizeof(*x));
    x->db = db;
    x->what = what;
    return x;
}

/* export_fetch - the next batch of the cursor: 1 when a row is ready, 0 at the end, -1 */
static int export_fetch(struct db_export *x)
{
    if (x->res != NULL && x->row < PQntuples(x->res))
        return 1;
    PQclear(x->res);
    x->res = NULL;
    if (x->done)
        return 0;
    x->res = db_exec(x->db, "FETCH 1000 FROM mailpulse_export", PGRES_TUPLES_OK, "export");
    if (x->res == NULL) {
        x->done = true;
        return -1;
    }
    x->row = 0;
    if (PQntuples(x->res) < EXPORT_FETCH)
        x->done = true;
    return PQntuples(x->res) > 0;
}

/* db_export_next - the next row: 1 and ev, 0 at the end, -1 on error */
int db_export_next(struct db_export *x, struct event *ev)
{
    int r = export_fetch(x);

    if (r <= 0)
        return r;
    row_event(x->res, x->row++, ev);
    return 1;
}

/* db_export_next_row - the next row of a row export: its values, NULL for none */
int db_export_next_row(struct db_export *x, const char **vals, int cap)
{
    int r = export_fetch(x);

    if (r <= 0)
        return r;
    for (int i = 0; i < cap && i < PQnfields(x->res); i++)
        vals[i] = PQgetisnull(x->res, x->row, i) ? NULL : PQgetvalue(x->res, x->row, i);
    x->row++;
    return 1;
}

/* db_export_close - end the export's transaction and free it; NULL is a no-op */
void db_export_close(struct db_export *x)
{
    if (x == NULL)
        return;
    PQclear(x->res);
    db_rollback(x->db); /* read only: nothing to keep */
    x_free(x);
}

/*
 * Wire-level outcomes: the sniffer's smtp_events in the range, per TCP session
 * (host, client ip:port, server ip:port) first, then per client IP without its port, and
 * all of them together (the ROLLUP row, whose ip is NULL; it comes first). A session is a
 * connect event (greeting seen, or an implicit-TLS session); it used TLS when any of its
 * events says tls (a 220 to STARTTLS, or implicit TLS). Replies: 2xx/3xx accepted, 4xx and
 * 5xx rejected; steps without a reply count in neither. $4 is the limit plus one (the
 * total row). An IPv6 client is "[addr]:port"; an IPv4 one "addr:port".
 */
static const char wire_sql[] =
    "WITH f AS (SELECT CASE WHEN client LIKE '[%' THEN substring(client FROM '^\\[([^]]*)\\]')"
    "   ELSE regexp_replace(coalesce(client, ''), ':[0-9]+$', '') END AS ip,"
    "  count(*) FILTER (WHERE stage = 'connect') AS sessions,"
    "  count(*) FILTER (WHERE stage = 'connect' AND smtp_code >= 400) AS greet_rej,"
    "  count(*) FILTER (WHERE stage = 'rcpt' AND smtp_code BETWEEN 200 AND 399) AS rcpt_ok,"
    "  count(*) FILTER (WHERE stage = 'rcpt' AND smtp_code BETWEEN 400 AND 499) AS rcpt_4,"
    "  count(*) FILTER (WHERE stage = 'rcpt' AND smtp_code >= 500) AS rcpt_5,"
    "  count(*) FILTER (WHERE stage = 'data' AND smtp_code BETWEEN 200 AND 399) AS data_ok,"
    "  count(*) FILTER (WHERE stage = 'data' AND smtp_code BETWEEN 400 AND 499) AS data_4,"
    "  count(*) FILTER (WHERE stage = 'data' AND smtp_code >= 500) AS data_5,"
    "  bool_or(tls) AS tls"
    " FROM smtp_events WHERE time >= $1::timestamptz AND time < $2::timestamptz"
    "  AND ($3::text = '' OR host = $3::text)"
    " GROUP BY host, client, server)"
    " SELECT coalesce(ip, '') AS ip, GROUPING(ip) AS total, sum(sessions), sum(greet_rej),"
    "  sum(rcpt_ok), sum(rcpt_4), sum(rcpt_5), sum(data_ok), sum(data_4), sum(data_5),"
    "  coalesce(sum(sessions) FILTER (WHERE tls), 0)"
    " FROM f GROUP BY ROLLUP (ip)"
    " ORDER BY GROUPING(ip) DESC, sum(sessions) DESC, ip LIMIT $4::integer";

/* wire_row - columns 2.. of a wire row as counts */
static void wire_row(const PGresult *res, int i, struct db_wire *w)
{
    w->sessions = db_get_i64(res, i, 2);
    w->greeting_rejected = db_get_i64(res, i, 3);
    w->rcpt_accepted = db_get_i64(res, i, 4);
    w->rcpt_rejected_4xx = db_get_i64(res, i, 5);
    w->rcpt_rejected_5xx = db_get_i64(res, i, 6);
    w->data_accepted = db_get_i64(res, i, 7);
    w->data_rejected_4xx = db_get_i64(res, i, 8);
    w->data_rejected_5xx = db_get_i64(res, i, 9);
    w->tls_sessions = db_get_i64(res, i, 10);
    w->tls_share = w->sessions > 0 ? (double)w->tls_sessions / (double)w->sessions : 0.0;
}

/* db_wire - totals of the sniffed sessions in the range, and the top source IPs */
int db_wire(struct db *db, const struct db_query *q, int limit, struct db_wire *out,
            int (*fn)(void *arg, const struct db_wire_ip *r), void *arg)
{
    struct qparams p;
    struct db_wire_ip row;
    char lim[16];
    const char *v[4];
    PGresult *res;
    int i;

    memset(out, 0, sizeof(*out));
    qparams_set(&p, &q->range, q);
    snprintf(lim, sizeof(lim), "%d", (limit > 0 ? limit : 0) + 1);
    v[0] = p.from;
    v[1] = p.to;
    v[2] = p.host;
    v[3] = lim;
    res = db_run(db, wire_sql, 4, v, "wire");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        if (db_get_i64(res, i, 1) == 1) {
            wire_row(res, i, out);
            continue;
        }
        memset(&row, 0, sizeof(row));
        get_str(res, i, 0, row.ip, sizeof(row.ip));
        wire_row(res, i, &row.w);
        if (fn != NULL && fn(arg, &row) < 0)
            break;
    }
    PQclear(res);
    return 0;
}
