/*
 * db_int - what the files of db/ share; private to db/ (the public API is db/db.h)
 *
 *	struct db: the libpq connection and per-connection state.
 *	db_reconnect(db): PQreset once when the connection is bad; 0 when it is usable.
 *	db_exec(db, sql, expect, what): PQexec and check the status; on failure log one warning
 *		"db: WHAT: server message" and return NULL, else the result (caller PQclear()s).
 *	db_rollback(db): ROLLBACK when a transaction is open or failed; never logs.
 *	db_warn_res(db, res, what): the warning of db_exec for a result the caller checked.
 *	db_first_line(msg, out, outlen): the first line of a libpq message, without "ERROR:  ".
 *	db_run(db, sql, n, v, what): PQexecParams expecting rows; NULL after one warning.
 *	db_fold_lower(s): ASCII lower case in place (domains and addresses in queries).
 *	db_month_of(us), db_months_add(), db_months_flush(): the monthly partitions a
 *		transaction's rows need (db/ingest.c).
 *	db_sender_reasons_read(s, row): the top reasons column of db_senders() (db/senders.c).
 *	db_domains_bounded(...): db_domains() over few candidates when the range allows it
 *		(db/domains.c): 1 answered, 0 not (add up every domain), -1 error.
 */
#ifndef MAILPULSE_DB_INT_H
#define MAILPULSE_DB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "db/db.h"

struct rollup_sums;

struct db {
    PGconn *conn;
    bool txn_open;                  /* a batch transaction is open (db_batch_send) */
    struct rollup_sums *sums;       /* its rollup rows, added up as its batches are stored */
    struct rollup_sums *sums_wait;  /* the last batch's, not added to them yet, or NULL */
    struct rollup_sums *sums_spare; /* empty, for the next batch; or NULL */
    bool staging_ready;             /* the temporary staging tables exist on this connection */
    bool reports_ready;             /* the bounce report statements are prepared on it */
    const char *session;            /* SET commands run on each new session, or NULL */
    int64_t ahead_checked_us;       /* when partitions ahead of now were last ensured */
    int64_t summarized_us;          /* when db_summarize() last ran, 0 never */
    /* tenmin_rolled.through as the open transaction read it (or the last one did; INT64_MIN
     * before any): its events before it are added to the ten-minute rollups (sql/031) */
    int64_t tenmin_through;
    bool no_ahead;     /* batches do not ensure them (db_partitions_ahead) */
    int made[8];       /* months whose partitions were ensured outside a transaction */
    int nmade;         /* (a ring of the latest; see db_batch_new_months()) */
    bool quiet;        /* warnings go to the debug log (a caller in a retry loop) */
    bool async_commit; /* batch commits with synchronous_commit = off */
    char error[600];   /* the last warning's text, for db_error() */
    char sqlstate[6];  /* and its SQLSTATE, "" when there was none */
};

int db_reconnect(struct db *db);
void db_sums_free(struct db *db);
PGresult *db_exec(struct db *db, const char *sql, ExecStatusType expect, const char *what);
int db_exec_cmd(struct db *db, const char *sql, const char *what);
void db_rollback(struct db *db);
void db_warn_res(struct db *db, const PGresult *res, const char *what);
void db_first_line(const char *msg, char *out, size_t outlen);
int db_state_store(struct db *db, int64_t source_id, int64_t position, int version,
                   const void *state, size_t len);
PGresult *db_run(struct db *db, const char *sql, int n, const char *const *v, const char *what);

#define MINUTE_US (60 * 1000000LL)
#define HOUR_US   (3600 * 1000000LL)
#define DAY_US    (86400 * 1000000LL)
/* The grain of rollups_domain_tenmin and rollups_sender_tenmin (sql/031). */
#define DB_TENMIN_US (600 * 1000000LL)
/* A timestamptz expression x as microseconds, -infinity as INT64_MIN (a bigint column). */
#define DB_TIME_US_OR_MIN(x)                                                                       \
    "CASE WHEN " x " = '-infinity' THEN '-9223372036854775808'::bigint"                            \
    " ELSE (extract(epoch FROM " x ") * 1000000)::bigint END"

/* DB_QCOPY - a fixed-size copy of a caller's fixed-size string, repaired so that the server
 * accepts it (a query parameter) */
#define DB_QCOPY(dst, src)                                                                         \
    do {                                                                                           \
        str_copy((dst), sizeof(dst), (src), strnlen((src), sizeof(src)));                          \
        utf8_scrub(dst);                                                                           \
    } while (0)

/*
 * The end of an INSERT INTO suppressions (sql/007): a recipient already listed for the sender
 * domain adds the new failures to its count, and the newest failure's fields win. Shared by
 * the log's hard bounces (db/ingest.c) and the reports' (db/bounces.c).
 */
#define DB_SUPPRESSION_UPSERT                                                                      \
    " ON CONFLICT (recipient, sender_domain) DO UPDATE"                                            \
    " SET n = suppressions.n + EXCLUDED.n,"                                                        \
    " last_time = greatest(suppressions.last_time, EXCLUDED.last_time),"                           \
    " origin = CASE WHEN EXCLUDED.last_time >= suppressions.last_time"                             \
    " THEN EXCLUDED.origin ELSE suppressions.origin END,"                                          \
    " reason = CASE WHEN EXCLUDED.last_time >= suppressions.last_time"                             \
    " THEN EXCLUDED.reason ELSE suppressions.reason END,"                                          \
    " dsn = CASE WHEN EXCLUDED.last_time >= suppressions.last_time"                                \
    " THEN EXCLUDED.dsn ELSE suppressions.dsn END,"                                                \
    " reply = CASE WHEN EXCLUDED.last_time >= suppressions.last_time"                              \
    " THEN EXCLUDED.reply ELSE suppressions.reply END"
void db_range_time(int64_t us, bool is_from, char *out, size_t outlen);
/* db_floor_to - the start of the unit of unit_us (a minute, an hour, a day) holding us */
static inline int64_t db_floor_to(int64_t us, int64_t unit_us)
{
    return us - (((us % unit_us) + unit_us) % unit_us);
}

/*
 * The units of a range read from rollups, as timestamptz text (db_range_time()): [h1, h2)
 * hours and [d1, d2) UTC days; the ends of the range outside the hours are read from the
 * events, [from, h1) and [h2, to), and the hours outside the days from the hourly rollups,
 * [h1, d1) and [d2, h2). An end whose partial hour is longer than the rest of its hour
 * (after the end, up to now: a range that ends now) takes that whole hour from the rollup
 * instead, and the events of the rest of the hour, [h1, from) or [to, h2), count negative:
 * h1 < from, h2 > to. Likewise a grain up: an end may take its whole day from the day
 * rollups, and the rest of that day's hours, [d1, h1) or [h2, d2), count negative: d1 < h1,
 * d2 > h2 (DB_SIGNED_FROM reads both ways). With no whole hour inside, all four are the
 * range's end (the events answer it all); with no day read (or days false), d1 = d2 = h2.
 * A reader with minute rollups may read [m1, h1) and [h2, m2) from them (signed as well), and
 * only [from, m1) and [m2, to) from the events: less than a minute at each end.
 */
struct db_units {
    char h1[48], h2[48], d1[48], d2[48];
    char m1[48], m2[48]; /* the minute boundaries nearest from and to between them and h1, h2 */
    char t1[48], t2[48]; /* the ten-minute boundaries of db_range_tenmin() */
    int64_t h1_us, h2_us;
};
/*
 * Which days a reader takes from its day rollups: none; the whole days inside the range; or
 * also an end's whole day less the rest of its hours when those span less time. The last
 * pays for readers whose hourly rows are found by hour first (their cost is in proportion to
 * the hours read), not for those that look up each key's hours (one index descent per key and
 * range, whatever its length: a day read as well only adds descents).
 */
enum db_days { DB_DAYS_NONE, DB_DAYS_INSIDE, DB_DAYS_NEAREST };
void db_range_units(const struct db_range *r, enum db_days days, struct db_units *u);
/*
 * db_range_tenmin - t1 and t2 of u (from db_range_units()) for a reader of the ten-minute
 * rollups (sql/031): [t1, h1) and [h2, t2) are read from them, signed like the rest, and only
 * [from, t1) and [t2, to) from the events, five minutes at most at each end. A boundary is
 * the nearer of the two around its end whose buckets up to h1 (h2) all lie before through
 * (db_tenmin_through()); h1 (h2) when neither does.
 */
void db_range_tenmin(const struct db_range *r, int64_t through, struct db_units *u);
int db_tenmin_through(struct db *db, int64_t *through);
/*
 * db_minute_units - the units of r for minute buckets, where an hour's rollup row would fall
 * into the hour's first minute: no hours or days, every whole minute [m1, m2) read as
 * [m1, h1) with h1 = h2 = d1 = d2 = m2, and the partial minutes at the ends from the events.
 * With no whole minute inside, all six are the range's end (the events answer it all).
 */
void db_minute_units(const struct db_range *r, struct db_units *u);

/*
 * The rows of table whose column col lies between a and b (SQL expressions of timestamptz),
 * that also meet cond (" AND ..."): FROM and WHERE, with s the sign each counts with: 1 when
 * a <= b (the rows of [a, b), in the range), else -1 (those of [b, a): the rest of a unit a
 * coarser rollup gave whole). At one end of a range, its events between the end and h1 or h2
 * of db_range_units() (DB_EDGE_FROM), and its hourly rollup rows between h1 and d1, or d2 and
 * h2 (col "hour").
 */
#define DB_SIGNED_FROM(table, col, a, b, cond)                                                     \
    " FROM " table ", (SELECT CASE WHEN " a "::timestamptz <= " b "::timestamptz THEN 1 ELSE -1"   \
    " END AS s) edge WHERE " col " >= least(" a "::timestamptz, " b "::timestamptz)"               \
    " AND " col " < greatest(" a "::timestamptz, " b "::timestamptz)" cond
#define DB_EDGE_FROM(table, a, b, cond) DB_SIGNED_FROM(table, "time", a, b, cond)
/* An attempt of DB_EDGE_FROM as its sent, deferred, bounced and expired counts, signed. */
#define DB_EDGE_STATUS_COUNTS                                                                      \
    " s * (status = 'sent')::int, s * (status = 'deferred')::int,"                                 \
    " s * (status = 'bounced')::int, s * (status = 'expired')::int"

int64_t db_get_i64(const PGresult *res, int row, int col);
int db_sender_reasons_read(const char *s, struct db_sender_row *row);
void db_fold_lower(char *s);

/*
 * The months (year * 12 + month - 1) whose partitions a transaction needs, collected with
 * db_months_add() (which sends a full set itself) and made with db_months_flush(); scratch is
 * a buffer the call may use. Both return 0, or -1 after one warning.
 */
#define DB_MAX_MONTHS 64
struct db_months {
    int m[DB_MAX_MONTHS];
    int n;
};
int db_month_of(int64_t us);
int db_months_add(struct db *db, struct buf *scratch, struct db_months *ms, int month);
int db_months_flush(struct db *db, struct buf *scratch, struct db_months *ms);
int db_domains_bounded(struct db *db, const struct db_range *r, enum db_domain_order order,
                       int limit, int64_t attempts,
                       int (*fn)(void *arg, const struct db_domain_row *row), void *arg);

#endif
