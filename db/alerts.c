/*
 * alerts - the numbers the alert rules read, and the alerts table (sql/008, sql/011)
 *
 * db_alert_gather() sums the rollups of one kind of subject over two windows in one query:
 * the current window (the hourly buckets from the one holding now - window up to now) and
 * the baseline (from now - baseline days up to the current window). Rollup tables that
 * other migrations own (providers, blocks, complaints) are read only when to_regclass()
 * finds them; a missing one makes the gather a skip (1), not an error, so the daemon runs
 * against any schema that has the alerts table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/* The two windows, from $1 (now, epoch seconds), $2 (window minutes), $3 (baseline days). */
#define ALERT_WINDOWS                                                                              \
    "WITH p AS (SELECT to_timestamp($1::double precision) AS now,"                                 \
    " date_trunc('hour', to_timestamp($1::double precision) - make_interval(mins => $2::integer)," \
    " 'UTC') AS cur_from,"                                                                         \
    " to_timestamp($1::double precision) - make_interval(days => $3::integer) AS base_from) "

/* The base window's length in hours, as the last column. */
#define ALERT_BASE_HOURS "extract(epoch FROM (min(p.cur_from) - min(p.base_from))) / 3600"

/* Attempts and three bad counts of one subject, current then baseline. */
#define ALERT_FOUR(n, d, b, e)                                                                     \
    "sum(" n ") FILTER (WHERE hour >= p.cur_from), sum(" d ") FILTER (WHERE hour >= p.cur_from),"  \
    " sum(" b ") FILTER (WHERE hour >= p.cur_from), sum(" e ") FILTER (WHERE hour >= p.cur_from)," \
    " sum(" n ") FILTER (WHERE hour < p.cur_from), sum(" d ") FILTER (WHERE hour < p.cur_from),"   \
    " sum(" b ") FILTER (WHERE hour < p.cur_from), sum(" e ") FILTER (WHERE hour < p.cur_from), "

static const struct {
    const char *table; /* needed; NULL: always there */
    const char *sql;
} gather_sql[DB_ALERT_NSOURCES] = {
    [DB_ALERT_PROVIDER] = {"rollups_provider_hour",
                           ALERT_WINDOWS "SELECT provider, ''," ALERT_FOUR(
                               "(sent + deferred + bounced + expired)", "deferred", "bounced",
                               "expired") ALERT_BASE_HOURS
                           " FROM rollups_provider_hour, p"
                           " WHERE hour >= p.base_from AND hour <= p.now"
                           " GROUP BY provider ORDER BY provider LIMIT 1000"},
    /* The window from rollups_domain_hour (its busiest 1000 domains; the hours found by its
     * BRIN index), the baseline from the whole days of rollups_domain_day before the window:
     * a week of hours holds about one row per attempt for the long tail of domains, too
     * many to sum every minute. */
    [DB_ALERT_DOMAIN] =
        {NULL, ALERT_WINDOWS
         ", c AS (SELECT recipient_domain AS d, sum(sent + deferred + bounced + expired) AS n,"
         " sum(deferred) AS def, sum(bounced) AS bnc, sum(expired) AS exp"
         " FROM rollups_domain_hour, p WHERE hour >= p.cur_from AND hour <= p.now"
         " AND recipient_domain <> '' GROUP BY 1 ORDER BY 2 DESC LIMIT 1000) "
         "SELECT c.d, '', c.n, c.def, c.bnc, c.exp, sum(dd.n), sum(dd.deferred),"
         " sum(dd.bounced), sum(dd.expired), " ALERT_BASE_HOURS
         " FROM c CROSS JOIN p LEFT JOIN rollups_domain_day dd ON dd.recipient_domain = c.d"
         " AND dd.day >= date_trunc('day', p.base_from, 'UTC')"
         " AND dd.day + interval '1 day' <= p.cur_from"
         " GROUP BY c.d, c.n, c.def, c.bnc, c.exp ORDER BY c.n DESC"},
    [DB_ALERT_HOST] = {NULL, ALERT_WINDOWS "SELECT host, ''," ALERT_FOUR(
                                 "n", "CASE WHEN kind = 'deferred' THEN n ELSE 0 END",
                                 "CASE WHEN kind = 'bounced' THEN n ELSE 0 END",
                                 "CASE WHEN kind = 'expired' THEN n ELSE 0 END") ALERT_BASE_HOURS
                       " FROM rollups_host, p WHERE hour >= p.base_from AND hour <= p.now"
                       " AND kind IN ('sent', 'deferred', 'bounced', 'expired')"
                       " GROUP BY host ORDER BY host LIMIT 1000"},
    [DB_ALERT_BLOCK] = {"rollups_block_hour", ALERT_WINDOWS
                        "SELECT host || '/' || block, min(provider)," ALERT_FOUR("0", "n", "0", "0")
                            ALERT_BASE_HOURS " FROM rollups_block_hour, p"
                                             " WHERE hour >= p.base_from AND hour <= p.now"
                                             " AND block <> ''"
                                             " GROUP BY host, block ORDER BY 1 LIMIT 1000"},
    [DB_ALERT_COMPLAINT] =
        {"rollups_complaint_hour", ALERT_WINDOWS
         "SELECT d, '', coalesce(s.cur, 0), c.cur, 0, 0, coalesce(s.base, 0), c.base, 0, 0,"
         " (SELECT extract(epoch FROM (cur_from - base_from)) / 3600 FROM p)"
         " FROM (SELECT sender_domain AS d, sum(n) FILTER (WHERE hour >= p.cur_from) AS cur,"
         " sum(n) FILTER (WHERE hour < p.cur_from) AS base"
         " FROM rollups_complaint_hour, p WHERE hour >= p.base_from AND hour <= p.now"
         " AND sender_domain <> '' GROUP BY 1) c"
         " LEFT JOIN (SELECT sender_domain AS d, sum(n) FILTER (WHERE hour >= p.cur_from) AS cur,"
         " sum(n) FILTER (WHERE hour < p.cur_from) AS base"
         " FROM rollups, p WHERE hour >= p.base_from AND hour <= p.now AND kind = 'sent'"
         " GROUP BY 1) s USING (d) ORDER BY d LIMIT 1000"},
};

/* db_alert_table - 1 when the table exists, 0 when not, -1 on error */
static int db_alert_table(struct db *db, const char *table)
{
    const char *v[1] = {table};
    PGresult *res = db_run(db, "SELECT to_regclass($1) IS NOT NULL", 1, v, "table lookup");
    int there;

    if (res == NULL)
        return -1;
    there = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return there;
}

/* db_alert_gather - one kind of subject's numbers; 0, 1 when its table is missing, -1 */
int db_alert_gather(struct db *db, enum db_alert_source src, int64_t now_us, int window_min,
                    int baseline_days, int (*fn)(void *arg, const struct db_alert_row *r),
                    void *arg)
{
    char now[32], win[16], days[16];
    const char *v[3] = {now, win, days};
    struct db_alert_row row;
    PGresult *res;
    int there;

    if ((unsigned)src >= DB_ALERT_NSOURCES)
        return -1;
    if (gather_sql[src].table != NULL) {
        there = db_alert_table(db, gather_sql[src].table);
        if (there <= 0)
            return there < 0 ? -1 : 1;
    }
    snprintf(now, sizeof(now), "%lld.%06lld", (long long)(now_us / 1000000),
             (long long)(now_us % 1000000));
    snprintf(win, sizeof(win), "%d", window_min);
    snprintf(days, sizeof(days), "%d", baseline_days);
    res = db_run(db, gather_sql[src].sql, 3, v, "alert numbers");
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        memset(&row, 0, sizeof(row));
        str_copy(row.subject, sizeof(row.subject), PQgetvalue(res, i, 0),
                 (size_t)PQgetlength(res, i, 0));
        str_copy(row.extra, sizeof(row.extra), PQgetvalue(res, i, 1),
                 (size_t)PQgetlength(res, i, 1));
        for (int k = 0; k < 4; k++) {
            row.cur[k] = db_get_i64(res, i, 2 + k);
            row.base[k] = db_get_i64(res, i, 6 + k);
        }
        row.base_hours = PQgetisnull(res, i, 10) ? 0 : strtod(PQgetvalue(res, i, 10), NULL);
        if (fn(arg, &row) < 0)
            break;
    }
    PQclear(res);
    return 0;
}

/* db_alert_now - the newest stored minute's end (the log's "now"); 0 when nothing is stored */
int db_alert_now(struct db *db, int64_t *now_us)
{
    PGresult *res = db_run(db,
                           "SELECT (extract(epoch FROM max(minute)) * 1000000)::bigint + 60000000"
                           " FROM rollups_host_minute",
                           0, NULL, "newest event time");

    if (res == NULL)
        return -1;
    *now_us = db_get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

/* time_text - microseconds as an epoch-seconds literal */
static void time_text(char *out, size_t outlen, int64_t us)
{
    snprintf(out, outlen, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000));
}

/* db_alert_open - insert an active alert (or take the active one of rule and subject) */
int db_alert_open(struct db *db, const char *rule, const char *subject, const char *severity,
                  int64_t started_us, const char *numbers, const char *link, int64_t *id)
{
    char t[32];
    const char *v[6] = {rule, subject, severity, t, numbers, link};
    PGresult *res;

    time_text(t, sizeof(t), started_us);
    res = db_run(db,
                 "INSERT INTO alerts (rule, subject, severity, started, numbers, link)"
                 " VALUES ($1, $2, $3, to_timestamp($4::double precision), $5::jsonb, $6)"
                 " ON CONFLICT (rule, subject) WHERE ended IS NULL DO UPDATE"
                 " SET severity = EXCLUDED.severity, numbers = EXCLUDED.numbers, updated = now()"
                 " RETURNING id",
                 6, v, "alert insert");
    if (res == NULL)
        return -1;
    *id = db_get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

/* db_alert_update - an active alert's severity and numbers */
int db_alert_update(struct db *db, int64_t id, const char *severity, const char *numbers)
{
    char ids[24];
    const char *v[3] = {ids, severity, numbers};
    PGresult *res;

    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    res = db_run(db,
                 "UPDATE alerts SET severity = $2, numbers = $3::jsonb, updated = now()"
                 " WHERE id = $1::bigint RETURNING id",
                 3, v, "alert update");
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* db_alert_close - an alert ends at ended_us, with the numbers that ended it (JSON) */
int db_alert_close(struct db *db, int64_t id, int64_t ended_us, const char *end_numbers)
{
    char ids[24], t[32];
    const char *v[3] = {ids, t, end_numbers};
    PGresult *res;

    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    time_text(t, sizeof(t), ended_us);
    res = db_run(db,
                 "UPDATE alerts SET ended = greatest(started, to_timestamp($2::double precision)),"
                 " end_numbers = $3::jsonb, updated = now()"
                 " WHERE id = $1::bigint AND ended IS NULL RETURNING id",
                 3, v, "alert close");
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/*
 * db_alert_list - the active alerts (all of them) and, unless active_only, the ended ones
 * newest first, limit rows in all
 */
int db_alert_list(struct db *db, int active_only, int limit,
                  int (*fn)(void *arg, const struct db_alert *a), void *arg)
{
    char lim[16];
    const char *v[2] = {lim, active_only ? "t" : "f"};
    struct db_alert a;
    PGresult *res;

    snprintf(lim, sizeof(lim), "%d", limit);
    res = db_run(db,
                 "SELECT id, rule, subject, severity,"
                 " (extract(epoch FROM started) * 1000000)::bigint,"
                 " (extract(epoch FROM ended) * 1000000)::bigint, numbers::text, link,"
                 " coalesce(end_numbers::text, '')"
                 " FROM alerts WHERE ended IS NULL OR NOT $2::boolean"
                 " ORDER BY ended IS NOT NULL, started DESC, id DESC LIMIT $1::integer",
                 2, v, "alert list");
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        memset(&a, 0, sizeof(a));
        a.id = db_get_i64(res, i, 0);
        str_copy(a.rule, sizeof(a.rule), PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
        str_copy(a.subject, sizeof(a.subject), PQgetvalue(res, i, 2),
                 (size_t)PQgetlength(res, i, 2));
        str_copy(a.severity, sizeof(a.severity), PQgetvalue(res, i, 3),
                 (size_t)PQgetlength(res, i, 3));
        a.started_us = db_get_i64(res, i, 4);
        a.ended_us = db_get_i64(res, i, 5);
        str_copy(a.numbers, sizeof(a.numbers), PQgetvalue(res, i, 6),
                 (size_t)PQgetlength(res, i, 6));
        str_copy(a.link, sizeof(a.link), PQgetvalue(res, i, 7), (size_t)PQgetlength(res, i, 7));
        str_copy(a.end_numbers, sizeof(a.end_numbers), PQgetvalue(res, i, 8),
                 (size_t)PQgetlength(res, i, 8));
        if (fn(arg, &a) < 0)
            break;
    }
    PQclear(res);
    return 0;
}
