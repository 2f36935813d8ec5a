/*
 * domains - the busiest recipient domains of a range without adding up every domain
 *
 * A range over a long tail of recipient domains touches about one rollup row per attempt
 * for the small domains, so adding them all up takes seconds where a report should take
 * milliseconds. This reads only a few candidates and proves that no other domain could
 * rank among them, so the answer stays what the count over the attempt rows gives.
 *
 * The bound. The range touches some units: UTC days when it touches at most BOUND_MAX_DAYS
 * of them, else UTC months. For each unit, rollups_domain_day or rollups_domain_month
 * gives its L busiest domains by their index on (unit, n DESC); a unit with fewer than L
 * domains gives them all. Those domains are the candidates. A domain that is none of them
 * had at most the L-th count of each unit, so in the range it has at most B, the sum of
 * those L-th counts (0 for a unit that gave all its domains).
 *
 * The exact counts of the candidates come from three parts of the range, for those domains
 * only: whole days from rollups_domain_day, the whole hours before the first and after the
 * last whole day from rollups_domain_hour (one row per domain, hour and host, whatever the
 * senders and reasons), and the partial hours at the two ends (or an end's whole hour from
 * rollups_domain_hour less the rest of it: db_range_units()) from rollups_domain_tenmin where
 * its buckets are added up, and the rest, five minutes at most, from the deliveries
 * themselves (db_range_tenmin()).
 * The hours of a domain are found by its key, whatever their number, so no day that is not
 * whole inside the range is read (DB_DAYS_INSIDE).
 *
 * With a host filter the candidates and B are the same (a domain has no more attempts on one
 * host than on all of them), and the exact counts are that host's: whole days from
 * rollups_domain_host_day, whole hours from rollups_domain_hour's rows of the host, partial
 * hours from the host's deliveries. The attempts that set V are the host's.
 *
 * The proof. By volume, the answer is final when the limit-th candidate has more than B
 * attempts (or B is 0, every domain being a candidate). A rate ordering lists only domains
 * with at least V attempts, one thousandth of the range's attempts (rounded up; so any
 * domain when there are fewer than 1000): final when B < V. Otherwise L grows fourfold and
 * the steps run again, up to BOUND_MAX_L; past that, db_domains() adds up every domain.
 *
 * A listed domain has a bound of its own: its counts where it is listed and the L-th counts
 * of the other units. A rate ordering reads exact counts only for the domains whose own
 * bound reaches V, and none at all in a round whose B is not below V.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db_int.h"
#include "util/util.h"

#define BOUND_MAX_DAYS 8
#define BOUND_MAX_L    20000
#define MAX_UNITS      1300 /* a century of months; longer ranges add up every domain */

/* month_start - the first microsecond of the UTC month holding us, moved by add months */
static int64_t month_start(int64_t us, int add)
{
    time_t s = (time_t)(db_floor_to(us, 1000000) / 1000000);
    struct tm tm;

    gmtime_r(&s, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mon += add;
    return (int64_t)timegm(&tm) * 1000000;
}

/* put_time - "t" as an element of a timestamptz[] literal */
static void put_time(struct buf *b, int64_t us)
{
    char t[48];

    time_format_rfc3339(us, t, sizeof(t));
    buf_printf(b, "%s\"%s\"", b->len > 1 ? "," : "", t);
}

/* units_array - the days or months [from, to) touches as a timestamptz[] literal; -1: too many */
static int units_array(int64_t from, int64_t to, bool *months, struct buf *out)
{
    int64_t t;
    int n = 0;

    buf_reset(out);
    buf_putc(out, '{');
    *months = db_floor_to(to - 1, DAY_US) - db_floor_to(from, DAY_US) >= BOUND_MAX_DAYS * DAY_US;
    if (!*months) {
        for (t = db_floor_to(from, DAY_US); t < to; t += DAY_US)
            put_time(out, t);
    } else {
        for (t = month_start(from, 0); t < to && n < MAX_UNITS; t = month_start(t, 1), n++)
            put_time(out, t);
        if (t < to)
            return -1;
    }
    buf_putc(out, '}');
    return 0;
}

/* put_domain - a domain as an element of a text[] literal, quoted and escaped */
static void put_domain(struct buf *b, const char *s)
{
    buf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* $1 units, $2 L: the L busiest domains of each unit, unit by unit, busiest first. */
static const char *const top_sql[] = {
    "SELECT u.t, x.recipient_domain, x.n FROM unnest($1::timestamptz[]) u (t)"
    " CROSS JOIN LATERAL (SELECT recipient_domain, n FROM rollups_domain_day"
    "  WHERE day = u.t ORDER BY n DESC LIMIT $2::integer) x ORDER BY 1, 3 DESC",
    "SELECT u.t, x.recipient_domain, x.n FROM unnest($1::timestamptz[]) u (t)"
    " CROSS JOIN LATERAL (SELECT recipient_domain, n FROM rollups_domain_month"
    "  WHERE month = u.t ORDER BY n DESC LIMIT $2::integer) x ORDER BY 1, 3 DESC",
};

/*
 * The candidates' exact counts. $1 domains, $2 from, $3 to, $4 h1, $5 h2 (the hours from
 * rollups, db_range_units()), $6 d1, $7 d2 (the whole days; both h2 when there are none), $8
 * V (1 by volume; the sums of a domain whose events there cancel its hour rows are 0), $9 limit
 * plus what the proof needs, $10 t1, $11 t2 (the ten minutes from rollups_domain_tenmin,
 * db_range_tenmin()); with a host filter, $12 the host. Rows in the order of the report. The
 * whole days come from rollups_domain_day over all hosts, from rollups_domain_host_day for one.
 */
#define ONE_HOST " AND host = $12::text"
/* The hours of the candidates between a and b from rollups_domain_hour, a row per domain, hour
 * and host, with their sign (DB_SIGNED_FROM). */
#define EDGE_HOURS(a, b, host)                                                                     \
    " UNION ALL SELECT recipient_domain, s * sent, s * deferred, s * bounced, s * "                \
    "expired" DB_SIGNED_FROM("rollups_domain_hour", "hour", a, b,                                  \
                             " AND recipient_domain = ANY ($1::text[])" host)
/* The ten minutes of the candidates between a and b from rollups_domain_tenmin, with their
 * sign (DB_SIGNED_FROM). */
#define EDGE_TENMIN(a, b, host)                                                                    \
    " UNION ALL SELECT recipient_domain, s * sent, s * deferred, s * bounced, s * "                \
    "expired" DB_SIGNED_FROM("rollups_domain_tenmin", "tenmin", a, b,                              \
                             " AND recipient_domain = ANY ($1::text[])" host)
/* The attempts of the candidates at one end, between a and b, with their sign (DB_EDGE_FROM). */
#define EDGE_EVENTS(a, b, host)                                                                    \
    " UNION ALL SELECT recipient_domain," DB_EDGE_STATUS_COUNTS DB_EDGE_FROM(                      \
        "deliveries", a, b, " AND recipient_domain = ANY ($1::text[])" host)

#define EXACT_SQL(order, days, host)                                                               \
    "SELECT recipient_domain, st, df, bo, ex, bo::float8 / greatest(total, 1),"                    \
    " df::float8 / greatest(total, 1), total FROM ("                                               \
    " SELECT recipient_domain, sum(st) st, sum(df) df, sum(bo) bo, sum(ex) ex,"                    \
    "  sum(st + df + bo + ex) total FROM ("                                                        \
    "  SELECT recipient_domain, sent st, deferred df, bounced bo, expired ex"                      \
    "   FROM " days " WHERE recipient_domain = ANY ($1::text[])"                                   \
    "   AND day >= $6::timestamptz AND day < $7::timestamptz" host EDGE_HOURS("$4", "$6", host)    \
        EDGE_HOURS("$7", "$5", host) EDGE_TENMIN("$10", "$4", host) EDGE_TENMIN("$5", "$11", host) \
            EDGE_EVENTS("$2", "$10", host)                                                         \
                EDGE_EVENTS("$11", "$3", host) ") x GROUP BY 1) d"                                 \
                                               " WHERE total >= $8::bigint ORDER BY " order        \
                                               ", recipient_domain LIMIT $9::integer"
#define EXACT_ALL(order)     EXACT_SQL(order, "rollups_domain_day", "")
#define EXACT_ON_HOST(order) EXACT_SQL(order, "rollups_domain_host_day", ONE_HOST)

/* [host filter][order] */
static const char *const exact_sql[2][3] = {
    {
        [DB_ORDER_VOLUME] = EXACT_ALL("total DESC"),
        [DB_ORDER_BOUNCE_RATE] = EXACT_ALL("6 DESC, total DESC"),
        [DB_ORDER_DEFERRAL_RATE] = EXACT_ALL("7 DESC, total DESC"),
    },
    {
        [DB_ORDER_VOLUME] = EXACT_ON_HOST("total DESC"),
        [DB_ORDER_BOUNCE_RATE] = EXACT_ON_HOST("6 DESC, total DESC"),
        [DB_ORDER_DEFERRAL_RATE] = EXACT_ON_HOST("7 DESC, total DESC"),
    },
};

struct top_row { /* one row of top_sql */
    const char *domain;
    int unit;     /* index of its unit */
    int64_t n;    /* its count in the unit */
    int64_t last; /* the unit's L-th count, or 0 when the unit gave all its domains */
};

/* top_row_cmp - by domain, for adding up each domain's rows */
static int top_row_cmp(const void *a, const void *b)
{
    return strcmp(((const struct top_row *)a)->domain, ((const struct top_row *)b)->domain);
}

/*
 * candidates - the domains of top_sql's rows that may have min_volume attempts in the range,
 * as a text[] literal in out (initialized here); returns B, what any other domain has at most.
 * A listed domain has at most B, less the L-th counts of its units, plus its own counts there.
 */
static int64_t candidates(const PGresult *res, int per_unit, int64_t min_volume, struct buf *out)
{
    int rows = PQntuples(res), i, j, unit = -1, in_unit = 0;
    struct top_row *t = xcalloc((size_t)rows + 1, sizeof(*t));
    int64_t bound = 0;

    /* Rows come unit by unit, busiest first: a unit's L-th count is its last row's. */
    for (i = 0; i < rows; i++) {
        if (i == 0 || strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, i - 1, 0)) != 0) {
            unit++;
            in_unit = 0;
        }
        t[i].domain = PQgetvalue(res, i, 1);
        t[i].unit = unit;
        t[i].n = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        if (++in_unit == per_unit) {
            bound += t[i].n;
            for (j = i; j >= 0 && t[j].unit == unit; j--)
                t[j].last = t[i].n;
        }
    }
    qsort(t, (size_t)rows, sizeof(*t), top_row_cmp);
    buf_init(out);
    buf_putc(out, '{');
    for (i = 0; i < rows; i = j) {
        int64_t most = bound;

        for (j = i; j < rows && strcmp(t[j].domain, t[i].domain) == 0; j++)
            most += t[j].n - t[j].last;
        if (most >= min_volume)
            put_domain(out, t[i].domain);
    }
    buf_putc(out, '}');
    x_free(t);
    return bound;
}

/*
 * bounded_round - one round with L candidates per unit: 1 and the rows handed to fn when
 * the proof holds, 0 when it does not, -1 on error.
 */
static int bounded_round(struct db *db, const struct db_range *r, enum db_domain_order order,
                         int limit, int64_t min_volume, int per_unit, struct buf *units,
                         bool months, int (*fn)(void *arg, const struct db_domain_row *row),
                         void *arg)
{
    char from[48], to[48], lv[24], lim[16], vol[24], host[EV_HOST_LEN];
    struct db_units u;
    const char *v[12];
    int on_host = r->host[0] != 0;
    int64_t through;
    struct buf doms;
    PGresult *res;
    int64_t bound;
    int i, n, rc = -1;

    snprintf(lv, sizeof(lv), "%d", per_unit);
    v[0] = units->data;
    v[1] = lv;
    res = db_run(db, top_sql[months], 2, v, "domains");
    if (res == NULL)
        return -1;
    bound = candidates(res, per_unit, min_volume, &doms);
    PQclear(res);
    /* A rate ordering that cannot be proved this round needs no exact counts yet. */
    if (order != DB_ORDER_VOLUME && bound >= min_volume) {
        buf_free(&doms);
        return 0;
    }

    db_range_time(r->from_us, true, from, sizeof(from));
    db_range_time(r->to_us, false, to, sizeof(to));
    db_range_units(r, DB_DAYS_INSIDE, &u);
    if (db_tenmin_through(db, &through) < 0) {
        buf_free(&doms);
        return -1;
    }
    db_range_tenmin(r, through, &u);
    snprintf(vol, sizeof(vol), "%lld", (long long)min_volume);
    snprintf(lim, sizeof(lim), "%d", limit);
    v[0] = doms.data;
    v[1] = from;
    v[2] = to;
    v[3] = u.h1;
    v[4] = u.h2;
    v[5] = u.d1;
    v[6] = u.d2;
    v[7] = vol;
    v[8] = lim;
    v[9] = u.t1;
    v[10] = u.t2;
    DB_QCOPY(host, r->host);
    v[11] = host;
    res = db_run(db, exact_sql[on_host][order], 11 + on_host, v, "domains");
    buf_free(&doms);
    if (res == NULL)
        return -1;
    n = PQntuples(res);
    if (bound > 0) {
        /* By volume, an outsider has at most bound attempts; by rate, too few to be listed. */
        if (order == DB_ORDER_VOLUME
                ? n < limit || strtoll(PQgetvalue(res, n - 1, 7), NULL, 10) <= bound
                : bound >= min_volume) {
            rc = 0;
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        struct db_domain_row row;

        memset(&row, 0, sizeof(row));
        str_copy(row.domain, sizeof(row.domain), PQgetvalue(res, i, 0),
                 (size_t)PQgetlength(res, i, 0));
        row.sent = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        row.deferred = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        row.bounced = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        row.expired = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        row.bounce_rate = strtod(PQgetvalue(res, i, 5), NULL);
        row.deferral_rate = strtod(PQgetvalue(res, i, 6), NULL);
        if (fn(arg, &row) < 0)
            break;
    }
    rc = 1;
out:
    PQclear(res);
    return rc;
}

/*
 * db_domains_bounded - db_domains() for a closed range with no filter but a host: 1 when it
 * answered (rows handed to fn), 0 when the caller must add up every domain, -1 on error.
 * attempts: the range's attempts on that host (on all hosts when r->host is "").
 */
int db_domains_bounded(struct db *db, const struct db_range *r, enum db_domain_order order,
                       int limit, int64_t attempts,
                       int (*fn)(void *arg, const struct db_domain_row *row), void *arg)
{
    struct buf units;
    bool months;
    int64_t min_volume = 1;
    int per_unit, rc = 0;

    if (r->from_us <= 0 || r->to_us == INT64_MAX || r->to_us - r->from_us < HOUR_US || limit < 1 ||
        r->sender_domain[0] != 0 || (unsigned)order >= ARRAY_LEN(exact_sql[0]))
        return 0;
    if (order != DB_ORDER_VOLUME)
        min_volume = attempts > 1000 ? (attempts + 999) / 1000 : 1;
    buf_init(&units);
    if (units_array(r->from_us, r->to_us, &months, &units) == 0) {
        for (per_unit = 4 * limit; per_unit <= BOUND_MAX_L && rc == 0; per_unit *= 4)
            rc = bounded_round(db, r, order, limit, min_volume, per_unit, &units, months, fn, arg);
    }
    buf_free(&units);
    return rc;
}
