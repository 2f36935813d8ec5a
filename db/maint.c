/*
 * maint - maintenance of the stored data: retention by whole partitions, rollup rebuilds,
 * packing the indexes of months that have ended
 *
 * Retention and rebuilds call the SQL functions of sql/002 (mailpulse_drop_partitions and
 * mailpulse_rebuild_rollups), each in one transaction of its own, so that an interrupted run
 * changes nothing. Compaction (sql/017) sets the B-trees of a partition to fill their pages
 * (sql/027) and runs REINDEX CONCURRENTLY, which cannot run in a transaction: an interrupted
 * one leaves an invalid index behind, which the next run drops.
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

/* db_summarize - summarize the new page ranges of the BRIN indexes (db.h) */
int db_summarize(struct db *db, int64_t *ranges)
{
    db->summarized_us = time_now_us();
    return one_value(db, "SELECT mailpulse_summarize_brin()", 0, NULL, "summarizing BRIN ranges",
                     ranges);
}

/* The ten-minute buckets are added up once they ended this long ago, and this much time of
 * events (from the first after "through") per transaction. */
#define ROLL_LAG_US (10 * MINUTE_US)
#define ROLL_SPAN   "1 hour"

/* db_roll_tenmin - the passed ten-minute buckets added up from the events (db.h) */
int db_roll_tenmin(struct db *db, int64_t budget_us, int64_t *through_us)
{
    char until[48];
    const char *params[1] = {until};
    int64_t start = time_now_us(), target = db_floor_to(start - ROLL_LAG_US, DB_TENMIN_US), w;

    if (db->txn_open) { /* the roll must not run in, nor hold locks for, a batch's transaction */
        log_warn("db: the ten-minute rollups cannot be added up inside a batch transaction");
        return -1;
    }
    time_format_rfc3339(target, until, sizeof(until));
    do {
        if (one_value(
                db,
                "SELECT " DB_TIME_US_OR_MIN("w") " FROM mailpulse_roll_tenmin($1::timestamptz,"
                                                 " interval '" ROLL_SPAN "') w",
                1, params, "adding up the ten-minute rollups", &w) < 0)
            /* No right to write, or a read-only server (a standby): trying again is no use. */
            return strcmp(db->sqlstate, "42501") == 0 || strcmp(db->sqlstate, "25006") == 0 ? -2
                                                                                            : -1;
    } while (w < target && (budget_us <= 0 || time_now_us() - start < budget_us));
    if (through_us != NULL)
        *through_us = w;
    return 0;
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

/* Held for the session while one process compacts, so that two never rebuild at once. */
#define COMPACT_LOCK "7236051971"

/* qualified - "schema"."name" into out; -1 when libpq cannot quote them */
static int qualified(struct db *db, const char *nsp, const char *rel, char *out, size_t len)
{
    char *a = PQescapeIdentifier(db->conn, nsp, strlen(nsp));
    char *b = PQescapeIdentifier(db->conn, rel, strlen(rel));
    int n = a != NULL && b != NULL ? snprintf(out, len, "%s.%s", a, b) : -1;

    PQfreemem(a);
    PQfreemem(b);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* index_bytes - the size of the indexes of the named partition, or -1 */
static int64_t index_bytes(struct db *db, const char *qname)
{
    const char *params[1] = {qname};
    PGresult *res = db_run(db, "SELECT pg_indexes_size($1::regclass)", 1, params, "sizing indexes");
    int64_t n = res != NULL && PQntuples(res) == 1 ? db_get_i64(res, 0, 0) : -1;

    PQclear(res);
    return n;
}

/* drop_leftovers - drop what interrupted rebuilds left; the number dropped, or -1 */
static int drop_leftovers(struct db *db)
{
    PGresult *res = db_exec(db, "SELECT * FROM mailpulse_compaction_leftovers()", PGRES_TUPLES_OK,
                            "looking for interrupted index rebuilds");
    int n = 0;

    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && n >= 0; i++) {
        char q[300], sql[340];

        if (qualified(db, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), q, sizeof(q)) < 0) {
            n = -1;
            break;
        }
        snprintf(sql, sizeof(sql), "DROP INDEX CONCURRENTLY IF EXISTS %s", q);
        if (db_exec_cmd(db, sql, "dropping an interrupted index rebuild") < 0)
            n = -1;
        else
            n++;
    }
    PQclear(res);
    return n;
}

/* compact_one - rebuild the indexes of one partition and record it; 0 or -1 */
static int compact_one(struct db *db, const char *nsp, const char *rel, struct db_compaction *out)
{
    char q[300], sql[340];
    const char *params[3];
    char before_s[24], after_s[24];
    int64_t before, after;
    PGresult *res;

    if (qualified(db, nsp, rel, q, sizeof(q)) < 0 || (before = index_bytes(db, q)) < 0)
        return -1;
    /* Not recorded until rebuilt: a rebuild cut short after the fill below would otherwise
     * leave a recorded month whose B-trees all say full, which is due no more. */
    params[0] = rel;
    res = db_run(db, "DELETE FROM partition_compactions WHERE name = $1 RETURNING name", 1, params,
                 "forgetting a compaction");
    if (res == NULL)
        return -1;
    PQclear(res);
    /* Its B-trees rebuilt full: a month that has ended takes almost no rows (sql/027). */
    params[0] = q;
    res = db_run(db, "SELECT mailpulse_fill_indexes($1::regclass)", 1, params,
                 "setting a month's indexes to fill their pages");
    if (res == NULL)
        return -1;
    PQclear(res);
    snprintf(sql, sizeof(sql), "REINDEX TABLE CONCURRENTLY %s", q);
    if (db_exec_cmd(db, sql, "rebuilding a month's indexes") < 0 ||
        (after = index_bytes(db, q)) < 0)
        return -1;
    snprintf(before_s, sizeof(before_s), "%lld", (long long)before);
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    params[0] = rel;
    params[1] = before_s;
    params[2] = after_s;
    res = db_run(db,
                 "INSERT INTO partition_compactions (name, index_bytes_before, index_bytes_after)"
                 " VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET compacted_at = now(),"
                 " index_bytes_before = EXCLUDED.index_bytes_before,"
                 " index_bytes_after = EXCLUDED.index_bytes_after RETURNING name",
                 3, params, "recording a compaction");
    if (res == NULL)
        return -1;
    PQclear(res);
    out->partitions++;
    out->bytes_before += before;
    out->bytes_after += after;
    log_info("compacted %s: indexes %lld -> %lld bytes", rel, (long long)before, (long long)after);
    return 0;
}

/*
 * db_compact - rebuild the indexes of the monthly partitions whose month ended more than days
 * ago and that were not rebuilt yet, oldest first; what was done in *out. Another process
 * compacting at the same time makes this one do nothing (out->busy).
 */
int db_compact(struct db *db, int days, struct db_compaction *out)
{
    char cutoff[48];
    const char *params[1] = {cutoff};
    PGresult *res;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (days < 0) {
        log_warn("db: compact: %d days is not an age", days);
        return -1;
    }
    if (db_reconnect(db) < 0)
        return -1;
    res =
        db_exec(db, "SELECT pg_try_advisory_lock(" COMPACT_LOCK ")", PGRES_TUPLES_OK, "compacting");
    if (res == NULL)
        return -1;
    out->busy = PQgetvalue(res, 0, 0)[0] != 't';
    PQclear(res);
    if (out->busy)
        return 0;

    /* The records of months retention dropped go: a month a late log makes again is packed
     * again. */
    if (db_exec_cmd(
            db, "DELETE FROM partition_compactions WHERE to_regclass(quote_ident(name)) IS NULL",
            "compacting") < 0 ||
        (out->leftovers = drop_leftovers(db)) < 0) {
        rc = -1;
        goto unlock;
    }
    time_format_rfc3339(time_now_us() - (int64_t)days * 86400 * 1000000LL, cutoff, sizeof(cutoff));
    res = db_run(db, "SELECT * FROM mailpulse_compaction_due($1::timestamptz)", 1, params,
                 "finding the months to compact");
    rc = res != NULL ? 0 : -1;
    for (int i = 0; res != NULL && i < PQntuples(res) && rc == 0; i++)
        rc = compact_one(db, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), out);
    PQclear(res);
unlock:
    res = PQexec(db->conn, "SELECT pg_advisory_unlock(" COMPACT_LOCK ")");
    PQclear(res);
    return rc;
}
