/*
 * maint - maintenance of the stored data: retention by whole partitions, rollup rebuilds
 *
 * Both call the SQL functions of sql/002 (mailpulse_drop_partitions and
 * mailpulse_rebuild_rollups), each in one transaction of its own, so that an interrupted run
 * changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/* one_value - run sql with params in its own transaction; its single value as an integer */
static int one_value(struct db *db, const char *sql, int n, const char *const *params,
                     const char *what, int64_t *out)
{
    PGresult *res;

    if (db_reconnect(db) < 0)
        return -1;
    res = PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        db_warn_res(db, res, what);
        PQclear(res);
        return -1;
    }
    if (out != NULL)
        *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* db_retention - drop the partitions wholly older than days before now */
int db_retention(struct db *db, int days, int *dropped)
{
    char cutoff[48];
    const char *params[1] = {cutoff};
    int64_t n = 0;

    if (days < 1) {
        log_warn("db: retention: %d days is not a retention", days);
        return -1;
    }
    time_format_rfc3339(time_now_us() - (int64_t)days * 86400 * 1000000LL, cutoff, sizeof(cutoff));
    if (one_value(db, "SELECT mailpulse_drop_partitions($1::timestamptz)", 1, params,
                  "applying retention", &n) < 0)
        return -1;
    if (dropped != NULL)
        *dropped = (int)n;
    if (n > 0)
        db->nmade = 0; /* the months this connection made may be among those dropped */
    return 0;
}

/* db_rebuild_rollups - recompute the rollups from the events; the number of rollup rows */
int db_rebuild_rollups(struct db *db, int64_t *rows)
{
    return one_value(db, "SELECT mailpulse_rebuild_rollups()", 0, NULL, "rebuilding rollups", rows);
}

/* db_ensure_partitions - partitions for this month and the next (startup) */
int db_ensure_partitions(struct db *db)
{
    char now[48], ahead[48];
    const char *params[2] = {now, ahead};
    int64_t t = time_now_us();

    time_format_rfc3339(t, now, sizeof(now));
    time_format_rfc3339(t + 32LL * 86400 * 1000000, ahead, sizeof(ahead));
    if (one_value(db, "SELECT mailpulse_ensure_partitions($1::timestamptz, $2::timestamptz)", 2,
                  params, "creating partitions", NULL) < 0)
        return -1;
    db->ahead_checked_us = t;
    return 0;
}
