/*
 * NAME
 *	providers - delivery attempts per mailbox provider, and the blocks that replies name
 *
 * SYNOPSIS
 *	#include "db/db.h"
 *
 *	int db_providers(struct db *db, const struct db_range *r, int limit,
 *			 int (*fn)(void *arg, const struct db_provider_row *row), void *arg);
 *	int db_provider_series(struct db *db, const struct db_range *r, enum db_bucket bucket,
 *			       int (*fn)(void *arg, const struct db_provider_point *p),
 *			       void *arg);
 *	int db_blocks(struct db *db, const struct db_range *r, int limit,
 *		      int (*fn)(void *arg, const struct db_block_row *row), void *arg);
 *
 * DESCRIPTION
 *	db_providers() adds up sent, deferred, bounced and expired attempts per provider: the
 *	whole hours of the range from rollups_provider_hour, the whole minutes of the partial
 *	hours at its ends from rollups_provider_minute (or an end's whole hour less the rest
 *	of it, db_range_units()), and less than a minute at each end from the deliveries
 *	themselves, so that any range is exact. Rows are ordered by attempts, most first, then
 *	by name; at most limit of them.
 *
 *	db_provider_series() gives the same counts per bucket (minute, hour or day, UTC) and
 *	provider, oldest bucket first, then by provider name; a bucket or provider without
 *	attempts has no row. Hour and day buckets read as db_providers() does; minute buckets
 *	read every whole minute from rollups_provider_minute and the partial minutes at the
 *	ends from the deliveries.
 *
 *	db_blocks() reads the deliveries and rejects whose reply named a block rule (a partial
 *	index holds just those) and groups them by host, block and provider: the first and
 *	last time, the count and up to DB_BLOCK_EXAMPLES distinct replies, newest first.
 *	Groups are ordered by count, most first; at most limit of them.
 *
 *	Both filter on the range's host when it is set. Events stored before migration 006
 *	have no provider and are not counted.
 *
 * OWNERSHIP
 *	Each row handed to fn lives until fn returns.
 *
 * DIAGNOSTICS
 *	-1 (after one warning) when the database cannot answer; 0 otherwise, also when fn
 *	stopped early.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

#define PROV_HOST " AND ($3::text = '' OR host = $3::text)"
/* The attempts with a provider between a and b, with their sign (DB_EDGE_FROM). */
#define PROV_EVENTS(a, b)                                                                          \
    " SELECT time, provider," DB_EDGE_STATUS_COUNTS DB_EDGE_FROM(                                  \
        "deliveries", a, b, " AND provider IS NOT NULL" PROV_HOST)
/* The whole minutes between a and b from rollups_provider_minute, with their sign. */
#define PROV_MINUTES(a, b)                                                                         \
    " SELECT minute, provider, s * sent, s * deferred, s * bounced, s * expired" DB_SIGNED_FROM(   \
        "rollups_provider_minute", "minute", a, b, PROV_HOST)
/*
 * The rows both provider queries add up, (time, provider, sent, deferred, bounced, expired):
 * $1 from, $2 to, $3 host, [$4, $5) the whole hours from rollups_provider_hour, the minutes
 * between $7 and $4 and between $5 and $8 from rollups_provider_minute, and the attempts
 * between $1 and $7 and between $8 and $2 (db_range_units(): each signed, so that an end may
 * take its hour whole less the rest of it).
 */
#define PROV_ROWS                                                                                  \
    "WITH f (t, provider, st, df, bo, ex) AS ("                                                    \
    " SELECT hour, provider, sent, deferred, bounced, expired FROM rollups_provider_hour"          \
    "  WHERE hour >= $4::timestamptz AND hour < $5::timestamptz" PROV_HOST                         \
    " UNION ALL" PROV_MINUTES("$7", "$4") " UNION ALL" PROV_MINUTES(                               \
        "$5", "$8") " UNION ALL" PROV_EVENTS("$1", "$7") " UNION ALL" PROV_EVENTS("$8", "$2") ")"

/* PROV_ROWS per provider; $6 the limit. */
static const char providers_sql[] =
    PROV_ROWS " SELECT provider, sum(st), sum(df), sum(bo), sum(ex) FROM f GROUP BY 1"
              " HAVING sum(st) + sum(df) + sum(bo) + sum(ex) > 0"
              " ORDER BY sum(st) + sum(df) + sum(bo) + sum(ex) DESC, 1 LIMIT $6::integer";

/* PROV_ROWS per bucket and provider; $6 the date_trunc unit. */
static const char provider_series_sql[] =
    PROV_ROWS " SELECT (extract(epoch FROM date_trunc($6::text, t, 'UTC')) * 1000000)::bigint,"
              " provider, sum(st), sum(df), sum(bo), sum(ex) FROM f GROUP BY 1, 2"
              " HAVING sum(st) + sum(df) + sum(bo) + sum(ex) > 0 ORDER BY 1, 2";

/* Parameters: $1 from, $2 to, $3 host, $4 the limit. */
static const char blocks_sql[] =
    "WITH b AS ("
    " SELECT time, host, coalesce(provider, 'other') AS provider, block, reply FROM deliveries"
    "  WHERE block IS NOT NULL AND time >= $1::timestamptz AND time < $2::timestamptz"
    "  AND ($3::text = '' OR host = $3::text)"
    " UNION ALL"
    " SELECT time, host, coalesce(provider, 'other'), block, reply FROM rejects"
    "  WHERE block IS NOT NULL AND time >= $1::timestamptz AND time < $2::timestamptz"
    "  AND ($3::text = '' OR host = $3::text))"
    " SELECT host, block, provider, t1, t2, n, ex[1], ex[2], ex[3] FROM ("
    " SELECT host, block, provider, (extract(epoch FROM min(time)) * 1000000)::bigint t1,"
    "  (extract(epoch FROM max(time)) * 1000000)::bigint t2, count(*) n,"
    "  ARRAY(SELECT e.reply FROM b e"
    "   WHERE e.host = g.host AND e.block = g.block AND e.provider = g.provider"
    "   AND e.reply IS NOT NULL GROUP BY e.reply ORDER BY max(e.time) DESC, e.reply"
    "   LIMIT 3) ex"
    " FROM b g GROUP BY 1, 2, 3 ORDER BY 6 DESC, 1, 2, 3 LIMIT $4::integer) s"
    " ORDER BY n DESC, host, block, provider";

/* The parameters both provider queries share: the range, its host and its units, and v
 * pointing at them as $1 .. $8 of PROV_ROWS; $6 (v[5]) is each query's own. */
struct prov_params {
    char from[48], to[48], host[EV_HOST_LEN];
    struct db_units u;
    const char *v[8];
};

/*
 * prov_params_set - the range as text and its units: db_range_units(), or for minute buckets
 * db_minute_units(); own is $6
 */
static void prov_params_set(struct prov_params *p, const struct db_range *r, bool minutes,
                            const char *own)
{
    db_range_time(r->from_us, true, p->from, sizeof(p->from));
    db_range_time(r->to_us, false, p->to, sizeof(p->to));
    if (minutes)
        db_minute_units(r, &p->u);
    else
        db_range_units(r, DB_DAYS_NONE, &p->u);
    DB_QCOPY(p->host, r->host);
    p->v[0] = p->from;
    p->v[1] = p->to;
    p->v[2] = p->host;
    p->v[3] = p->u.h1;
    p->v[4] = p->u.h2;
    p->v[5] = own;
    p->v[6] = p->u.m1;
    p->v[7] = p->u.m2;
}

/* db_providers - attempts per provider over a range, most first */
int db_providers(struct db *db, const struct db_range *r, int limit,
                 int (*fn)(void *arg, const struct db_provider_row *row), void *arg)
{
    struct prov_params p;
    char lim[16];
    struct db_provider_row row;
    PGresult *res;
    int i;

    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    prov_params_set(&p, r, false, lim);
    res = db_run(db, providers_sql, 8, p.v, "providers");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        memset(&row, 0, sizeof(row));
        str_copy(row.provider, sizeof(row.provider), PQgetvalue(res, i, 0),
                 (size_t)PQgetlength(res, i, 0));
        row.sent = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        row.deferred = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        row.bounced = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        row.expired = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        if (fn(arg, &row) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

/* db_provider_series - attempts per bucket and provider over a range, oldest first */
int db_provider_series(struct db *db, const struct db_range *r, enum db_bucket bucket,
                       int (*fn)(void *arg, const struct db_provider_point *p), void *arg)
{
    struct prov_params p;
    const char *unit = bucket == DB_BUCKET_MINUTE ? "minute"
                       : bucket == DB_BUCKET_DAY  ? "day"
                                                  : "hour";
    struct db_provider_point pt;
    PGresult *res;
    int i;

    prov_params_set(&p, r, bucket == DB_BUCKET_MINUTE, unit);
    res = db_run(db, provider_series_sql, 8, p.v, "provider series");
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        memset(&pt, 0, sizeof(pt));
        pt.bucket_us = db_get_i64(res, i, 0);
        str_copy(pt.provider, sizeof(pt.provider), PQgetvalue(res, i, 1),
                 (size_t)PQgetlength(res, i, 1));
        pt.sent = db_get_i64(res, i, 2);
        pt.deferred = db_get_i64(res, i, 3);
        pt.bounced = db_get_i64(res, i, 4);
        pt.expired = db_get_i64(res, i, 5);
        if (fn(arg, &pt) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

/* db_blocks - per host x block rule x provider: first and last seen, count, examples */
int db_blocks(struct db *db, const struct db_range *r, int limit,
              int (*fn)(void *arg, const struct db_block_row *row), void *arg)
{
    char from[48], to[48], host[EV_HOST_LEN], lim[16];
    const char *v[4] = {from, to, host, lim};
    struct db_block_row *row = xcalloc(1, sizeof(*row));
    PGresult *res;
    int i, j;

    db_range_time(r->from_us, true, from, sizeof(from));
    db_range_time(r->to_us, false, to, sizeof(to));
    DB_QCOPY(host, r->host);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    res = db_run(db, blocks_sql, 4, v, "blocks");
    if (res == NULL) {
        x_free(row);
        return -1;
    }
    for (i = 0; i < PQntuples(res); i++) {
        memset(row, 0, sizeof(*row));
        str_copy(row->host, sizeof(row->host), PQgetvalue(res, i, 0),
                 (size_t)PQgetlength(res, i, 0));
        str_copy(row->block, sizeof(row->block), PQgetvalue(res, i, 1),
                 (size_t)PQgetlength(res, i, 1));
        str_copy(row->provider, sizeof(row->provider), PQgetvalue(res, i, 2),
                 (size_t)PQgetlength(res, i, 2));
        row->first_us = strtoll(PQgetvalue(res, i, 3), NULL, 10);
        row->last_us = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        row->n = strtoll(PQgetvalue(res, i, 5), NULL, 10);
        for (j = 0; j < DB_BLOCK_EXAMPLES; j++) {
            if (PQgetisnull(res, i, 6 + j))
                break;
            str_copy(row->examples[j], EV_REPLY_LEN, PQgetvalue(res, i, 6 + j),
                     (size_t)PQgetlength(res, i, 6 + j));
            row->nexamples++;
        }
        if (fn(arg, row) < 0)
            break;
    }
    PQclear(res);
    x_free(row);
    return 0;
}
