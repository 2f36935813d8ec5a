/*
 * dbbench - time the report queries of db/ (the read side web/ calls) on a database
 *
 * SYNOPSIS
 *	dbbench DSN [ROUNDS]
 *
 * DESCRIPTION
 *	Runs each report query ROUNDS times (default 5) over the whole stored time range and
 *	over its last 30 days (from a time that is not on an hour, so the partial hours at the
 *	ends are read from the events too), and prints the median and worst latency in
 *	milliseconds, and what the query returned, so that a run that read nothing shows.
 *
 * DIAGNOSTICS
 *	Exits 1 when the database cannot be reached or a query fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/util.h"

#define MAX_ROUNDS 50

static int64_t rows_seen;

/* count - a callback for every kind of row: counts them */
static int count_point(void *arg, const struct db_point *p)
{
    (void)arg;
    (void)p;
    rows_seen++;
    return 0;
}

static int count_domain(void *arg, const struct db_domain_row *r)
{
    (void)arg;
    (void)r;
    rows_seen++;
    return 0;
}

static int count_reason(void *arg, const struct db_reason_row *r)
{
    (void)arg;
    (void)r;
    rows_seen++;
    return 0;
}

static int count_metric(void *arg, const struct db_metric_row *r)
{
    (void)arg;
    (void)r;
    rows_seen++;
    return 0;
}

static int count_event(void *arg, const struct event *ev)
{
    (void)arg;
    (void)ev;
    rows_seen++;
    return 0;
}

enum which { Q_SUMMARY, Q_TS_HOUR, Q_TS_DAY, Q_DOMAINS, Q_REASONS, Q_BOUNCES, Q_METRICS };

static const struct {
    enum which q;
    const char *name;
} queries[] = {
    {Q_SUMMARY, "summary"},        {Q_TS_HOUR, "timeseries hour"}, {Q_TS_DAY, "timeseries day"},
    {Q_DOMAINS, "domains top 10"}, {Q_REASONS, "reasons top 20"},  {Q_BOUNCES, "bounces page 50"},
    {Q_METRICS, "metric counts"},
};

/* run_one - one query; -1 on failure */
static int run_one(struct db *db, enum which q, const struct db_query *dq)
{
    struct db_summary s;
    char cur[DB_CURSOR_LEN], err[128];

    switch (q) {
    case Q_SUMMARY:
        if (db_summary(db, &dq->range, &s) != 0)
            return -1;
        rows_seen = s.sent + s.deferred + s.bounced + s.expired;
        return 0;
    case Q_TS_HOUR:
        return db_timeseries(db, dq, DB_BUCKET_HOUR, count_point, NULL);
    case Q_TS_DAY:
        return db_timeseries(db, dq, DB_BUCKET_DAY, count_point, NULL);
    case Q_DOMAINS:
        return db_domains(db, dq, DB_ORDER_VOLUME, 10, count_domain, NULL);
    case Q_REASONS:
        return db_reasons(db, dq, 20, count_reason, NULL);
    case Q_BOUNCES:
        return db_bounces(db, dq, 50, "", cur, count_event, NULL, err, sizeof(err));
    case Q_METRICS:
        return db_metric_counts(db, count_metric, NULL);
    }
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* bench - every query ROUNDS times over one range */
static int bench(struct db *db, const char *label, const struct db_query *dq, int rounds)
{
    double ms[MAX_ROUNDS];
    size_t i;
    int k;

    for (i = 0; i < ARRAY_LEN(queries); i++) {
        for (k = 0; k < rounds; k++) {
            int64_t t0 = time_now_us();

            rows_seen = 0;
            if (run_one(db, queries[i].q, dq) != 0) {
                fprintf(stderr, "dbbench: %s failed\n", queries[i].name);
                return -1;
            }
            ms[k] = (double)(time_now_us() - t0) / 1000.0;
        }
        qsort(ms, (size_t)rounds, sizeof(ms[0]), cmp_double);
        printf("%-12s %-18s %9.1f %9.1f %12lld\n", label, queries[i].name, ms[rounds / 2],
               ms[rounds - 1], (long long)rows_seen);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct db_query q;
    struct db *db;
    char err[256];
    const char *end_env = getenv("BENCH_END_US");
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;

    if (argc < 2) {
        fprintf(stderr, "usage: dbbench DSN [ROUNDS]\n");
        return 2;
    }
    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 5;
    db = db_open(argv[1], err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "dbbench: %s\n", err);
        return 1;
    }
    printf("%-12s %-18s %9s %9s %12s\n", "range", "query", "median ms", "max ms", "rows/total");
    memset(&q, 0, sizeof(q));
    q.range.to_us = INT64_MAX;
    if (bench(db, "all time", &q, rounds) != 0)
        return 1;
    /* The last 30 days of the generated data (it ends at BENCH_END_US), off the hour. */
    q.range.to_us = end_env != NULL ? strtoll(end_env, NULL, 10) : 0;
    if (q.range.to_us > 0) {
        q.range.to_us += 1234567;
        q.range.from_us = q.range.to_us - 30LL * 86400 * 1000000 - 2345678;
        if (bench(db, "30 days", &q, rounds) != 0)
            return 1;
    }
    db_close(db);
    return 0;
}
