/*
 * db - the connection: open, close, ping, reconnect, and the helpers the rest of db/ shares
 *
 * The connection always runs with application_name=mailpulse and client_encoding=UTF8 (the
 * ingest path sends UTF-8 it has checked), whatever the DSN says. Server notices (such as
 * "relation already exists, skipping") go to the debug log rather than to stderr.
 */
#include <stdio.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/* db_first_line - the first line of a libpq message, without its severity prefix */
void db_first_line(const char *msg, char *out, size_t outlen)
{
    size_t n;

    if (outlen == 0)
        return;
    if (msg == NULL)
        msg = "";
    if (strncmp(msg, "ERROR:  ", 8) == 0 || strncmp(msg, "FATAL:  ", 8) == 0)
        msg += 8;
    n = strcspn(msg, "\r\n");
    str_copy(out, outlen, msg, n);
    if (out[0] == 0)
        str_copy(out, outlen, "unknown error", 13);
}

/* db_notice - libpq notice processor: server notices are debug chatter */
static void db_notice(void *arg, const char *message)
{
    char line[256];

    (void)arg;
    db_first_line(message, line, sizeof(line));
    log_debug("db: server: %s", line);
}

/* session_set - run the connection's session settings (db->session); 0 or -1 */
static int session_set(PGconn *conn, const char *session, char *err, size_t errlen)
{
    PGresult *res;
    int rc = 0;

    if (session == NULL)
        return 0;
    res = PQexec(conn, session);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        if (errlen)
            db_first_line(PQresultErrorMessage(res), err, errlen);
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/*
 * connect_with - connect with a libpq connection string ("" means the PG* environment), then
 * run session (SET commands; NULL for none), as again after each reconnect
 */
static struct db *connect_with(const char *dsn, const char *session, char *err, size_t errlen)
{
    /*
     * Settings before the DSN are defaults it may override (a connect that hangs would stall
     * the web thread and the ingest loop); those after it always win.
     */
    const char *keys[] = {"connect_timeout", "dbname", "application_name", "client_encoding", NULL};
    const char *vals[] = {"5", dsn ? dsn : "", "mailpulse", "UTF8", NULL};
    struct db *db = NULL;
    PGconn *conn;

    if (errlen)
        err[0] = 0;
    conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL) {
        if (errlen)
            str_copy(err, errlen, "out of memory", 13);
        goto out;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        if (errlen)
            db_first_line(PQerrorMessage(conn), err, errlen);
        PQfinish(conn);
        goto out;
    }
    PQsetNoticeProcessor(conn, db_notice, NULL);
    if (session_set(conn, session, err, errlen) < 0) {
        PQfinish(conn);
        goto out;
    }
    db = xcalloc(1, sizeof(*db));
    db->tenmin_through = INT64_MIN;
    db->conn = conn;
    db->session = session;
out:
    return db;
}

/* db_open - connect with a libpq connection string ("" means the PG* environment) */
struct db *db_open(const char *dsn, char *err, size_t errlen)
{
    return connect_with(dsn, NULL, err, errlen);
}

/*
 * db_open_reports - db_open() for a connection that answers reports. Its queries read a few
 * thousand rows each, in milliseconds, so its session plans without what pays off only for
 * long queries: parallel workers, whose start costs more than they save (55_scale at 10M on
 * two cores: the domains report over 30 days 11.4 -> 6.3 ms at p50, and nothing slower), and
 * JIT compilation, which the planner starts once a plan's cost estimate passes
 * jit_above_cost and which takes tens of milliseconds (55_scale at 30M, with a BRIN index on
 * the attempts' time, whose bitmap scans are estimated high: the SASL-user report over 7 days
 * mid-hour 80 -> 45 ms).
 */
struct db *db_open_reports(const char *dsn, char *err, size_t errlen)
{
    return connect_with(dsn, "SET max_parallel_workers_per_gather = 0; SET jit = off", err, errlen);
}

/* db_close - disconnect and free; db_close(NULL) is a no-op */
void db_close(struct db *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    db_sums_free(db);
    x_free(db);
}

/* db_reconnect - reset a connection that went bad, once */
int db_reconnect(struct db *db)
{
    char line[256] = "";

    if (PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    db->staging_ready = false; /* temporary tables die with the session */
    db->reports_ready = false; /* and prepared statements */
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        db_first_line(PQerrorMessage(db->conn), line, sizeof(line));
    } else {
        /* Fails only with a connection that dropped again, which the next call resets. */
        session_set(db->conn, db->session, line, sizeof(line));
    }
    if (PQstatus(db->conn) != CONNECTION_OK || line[0] != 0) {
        snprintf(db->error, sizeof(db->error), "reconnect failed: %.500s", line);
        db->sqlstate[0] = 0;
        log_msg(db->quiet ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "db: %s", db->error);
        return -1;
    }
    /* PQreset keeps the notice processor; say that the connection is back. */
    log_msg(db->quiet ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "db: reconnected");
    return 0;
}

/* db_warn_res - log one warning with the server's message for a failed result */
void db_warn_res(struct db *db, const PGresult *res, const char *what)
{
    char line[512];
    const char *msg = NULL, *state = NULL;

    if (res != NULL) {
        msg = PQresultErrorMessage(res);
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    }
    snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state != NULL ? state : "");
    if (msg == NULL || msg[0] == 0)
        msg = PQerrorMessage(db->conn);
    db_first_line(msg, line, sizeof(line));
    /* A result that is no error but not the kind expected (rows from a statement that was to
     * return none, say) has no message of its own: name what came instead. */
    if ((msg == NULL || msg[0] == 0) && res != NULL)
        snprintf(line, sizeof(line), "unexpected result %s", PQresStatus(PQresultStatus(res)));
    snprintf(db->error, sizeof(db->error), "%.64s: %.500s", what, line);
    log_msg(db->quiet ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "db: %s", db->error);
}

/*
 * db_transient - the last failure may pass if the work is simply tried again: a deadlock or
 * serialization failure (class 40), a lock not available (55P03), an operator intervention
 * such as a shutdown or pg_terminate_backend (class 57), a connection failure (class 08),
 * or no SQLSTATE at all (the connection broke before the server said anything)
 */
int db_transient(const struct db *db)
{
    const char *s = db->sqlstate;

    return s[0] == 0 || strncmp(s, "40", 2) == 0 || strcmp(s, "55P03") == 0 ||
           strncmp(s, "57", 2) == 0 || strncmp(s, "08", 2) == 0;
}

/* db_error - the text of the last warning of db/ (logged or quiet), "" when none */
const char *db_error(const struct db *db)
{
    return db->error;
}

/* db_quiet - while quiet, the warnings of db/ go to the debug log */
void db_quiet(struct db *db, int quiet)
{
    db->quiet = quiet != 0;
}

/* db_exec - run sql, expect a status; NULL and one warning otherwise */
PGresult *db_exec(struct db *db, const char *sql, ExecStatusType expect, const char *what)
{
    PGresult *res = PQexec(db->conn, sql);

    if (res != NULL && PQresultStatus(res) == expect)
        return res;
    db_warn_res(db, res, what);
    PQclear(res);
    return NULL;
}

/* db_exec_cmd - run a statement that returns no rows; 0, or -1 after one warning */
int db_exec_cmd(struct db *db, const char *sql, const char *what)
{
    PGresult *res = db_exec(db, sql, PGRES_COMMAND_OK, what);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* db_rollback - abandon an open or failed transaction, quietly */
void db_rollback(struct db *db)
{
    PGTransactionStatusType ts = PQtransactionStatus(db->conn);

    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR || ts == PQTRANS_ACTIVE)
        PQclear(PQexec(db->conn, "ROLLBACK"));
}

/* db_ping - 0 when the server answers a trivial query (reconnecting once if needed) */
int db_ping(struct db *db)
{
    PGresult *res;
    int rc = -1;

    if (db_reconnect(db) < 0)
        goto out;
    res = PQexec(db->conn, "SELECT 1");
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
        rc = 0;
    PQclear(res);
out:
    return rc;
}

/* db_state - whether the server answers, and whether the connection had to be reset */
enum db_state db_state(struct db *db)
{
    bool was_bad = PQstatus(db->conn) != CONNECTION_OK;

    if (db_ping(db) != 0)
        return DB_DOWN;
    return was_bad ? DB_RESET : DB_UP;
}

/* db_async_commit - batch commits with synchronous_commit off (see db.h) */
void db_async_commit(struct db *db, int on)
{
    db->async_commit = on != 0;
}

/* db_partitions_ahead - whether batch commits ensure next month's partitions (see db.h) */
void db_partitions_ahead(struct db *db, int on)
{
    db->no_ahead = on == 0;
}
