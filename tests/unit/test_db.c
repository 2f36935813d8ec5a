/*
 * test_db - db/ against a real PostgreSQL
 *
 * The server is named by MAILPULSE_TEST_DSN (tests/run.sh starts a throwaway cluster with
 * scripts/pg.sh and sets it). Without it the test fails: a database module whose tests were
 * silently skipped is not tested.
 *
 * Every test runs in a schema of its own (mailpulse_test_PID), created fresh in setup and
 * dropped in teardown; PGOPTIONS puts it first on the search_path of every connection the
 * test (and db/) opens. Two runs against one server therefore do not meet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db/db.h"
#include "db/db_int.h" /* white-box: the test kills this very connection */
#include "db/migrations.h"
#include "parser/event.h"
#include "util/util.h"

#define T0  1764350000000000LL /* 2025-11-28T17:13:20Z */
#define SEC 1000000LL

static const char *dsn;
static char schema[64]; /* mailpulse_test_PID: concurrent runs on one server do not meet */

struct fixture {
    PGconn *admin; /* the test's own connection, same schema */
    struct db *db;
};

/* sql_exec - run SQL on the test connection; fail the test on error */
static void sql_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* sql_str - the one value a query returns, as text in out ("NULL" for NULL) */
static void sql_str(PGconn *c, const char *sql, char *out, size_t outlen)
{
    PGresult *r = PQexec(c, sql);

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s (%d rows)", sql, PQresultErrorMessage(r), PQntuples(r));
    snprintf(out, outlen, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* sql_int - the one integer a query returns */
static long long sql_int(PGconn *c, const char *sql)
{
    char v[64];

    sql_str(c, sql, v, sizeof(v));
    return strtoll(v, NULL, 10);
}

/* setup_empty - a fresh, empty schema and a db connection to it */
static int setup_empty(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    char err[256];

    char sql[128];

    snprintf(sql, sizeof(sql), "-c search_path=%s", schema);
    setenv("PGOPTIONS", sql, 1);
    f->admin = PQconnectdb(dsn);
    if (PQstatus(f->admin) != CONNECTION_OK)
        fail_msg("connecting to MAILPULSE_TEST_DSN: %s", PQerrorMessage(f->admin));
    sql_exec(f->admin, "SET client_min_messages = warning");
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    sql_exec(f->admin, sql);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    sql_exec(f->admin, sql);
    f->db = db_open(dsn, err, sizeof(err));
    if (f->db == NULL)
        fail_msg("db_open: %s", err);
    *state = f;
    return 0;
}

/* setup_migrated - setup_empty, then the schema migrated */
static int setup_migrated(void **state)
{
    struct fixture *f;

    setup_empty(state);
    f = *state;
    assert_int_equal(db_migrate(f->db, NULL), 0);
    return 0;
}

/* teardown - close, drop the schema */
static int teardown(void **state)
{
    struct fixture *f = *state;
    char sql[128];

    db_close(f->db);
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    sql_exec(f->admin, sql);
    PQfinish(f->admin);
    x_free(f);
    return 0;
}

/* capture - run fn(db, FILE *) and return what it printed (caller frees) */
static char *capture(int (*fn)(struct db *, FILE *), struct db *db, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    assert_non_null(fp);
    *rc = fn(db, fp);
    fclose(fp);
    return text;
}

/* mk_event - an event of a type at a time on a host */
static void mk_event(struct event *ev, enum event_type type, int64_t t, const char *host)
{
    event_clear(ev);
    ev->type = type;
    ev->mta = MTA_POSTFIX;
    ev->time_us = t;
    EVENT_SET(ev, host, host, strlen(host));
}

/* mk_delivery - a delivery attempt with a status and a reply */
static void mk_delivery(struct event *ev, int64_t t, const char *host, const char *rcpt,
                        enum event_status st, const char *reply)
{
    mk_event(ev, EV_DELIVERY, t, host);
    ev->status = st;
    EVENT_SET(ev, queue_id, "4ZxY2l3Xr9z1", 12);
    EVENT_SET(ev, recipient, rcpt, strlen(rcpt));
    EVENT_SET(ev, reply, reply, strlen(reply));
}

/* add_sample - a small mixed batch: 2 messages, 3 deliveries, 1 reject, 1 bounce notice */
static void add_sample(struct db_batch *b, int64_t src)
{
    struct event ev;

    mk_event(&ev, EV_MESSAGE, T0, "mx1");
    EVENT_SET(&ev, queue_id, "4ZxY2l3Xr9z1", 12);
    EVENT_SET(&ev, sender, "news@example.org", 16);
    ev.size = 1234;
    ev.nrcpt = 3;
    db_batch_add(b, src, 0, &ev);
    mk_event(&ev, EV_MESSAGE, T0 + SEC, "mx1");
    db_batch_add(b, src, 100, &ev);

    mk_delivery(&ev, T0 + 2 * SEC, "mx1", "bob@Gmail.COM", ST_SENT, "250 2.0.0 OK");
    ev.has_delay = true;
    ev.delay = 1.3;
    ev.has_delays = true;
    ev.delays[0] = 0.1;
    ev.delays[1] = 0;
    ev.delays[2] = 0.4;
    ev.delays[3] = 0.8;
    ev.smtp_code = 250;
    EVENT_SET(&ev, dsn, "2.0.0", 5);
    db_batch_add(b, src, 200, &ev);
    mk_delivery(&ev, T0 + 3 * SEC, "mx1", "x@example.com", ST_BOUNCED, "550 5.1.1 unknown");
    ev.smtp_code = 550;
    ev.hard = true;
    EVENT_SET(&ev, dsn, "5.1.1", 5);
    EVENT_SET(&ev, reason, "userunknown", 11);
    db_batch_add(b, src, 300, &ev);
    mk_delivery(&ev, T0 + 4 * SEC, "mx1", "y@example.com", ST_DEFERRED, "451 try later");
    db_batch_add(b, src, 400, &ev);

    mk_event(&ev, EV_REJECT, T0 + 5 * SEC, "mx1");
    EVENT_SET(&ev, client, "bad.example[192.0.2.9]", 22);
    ev.smtp_code = 554;
    db_batch_add(b, src, 500, &ev);

    mk_event(&ev, EV_BOUNCE_NOTICE, T0 + 6 * SEC, "mx1");
    EVENT_SET(&ev, queue_id, "4ZxY2l3Xr9z1", 12);
    EVENT_SET(&ev, notice_queue_id, "4ZxY2l3Xr9z2", 12);
    db_batch_add(b, src, 600, &ev);
}

/* test_open_bad - a server that is not there gives NULL and one line of why */
static void test_open_bad(void **state)
{
    char err[256];
    struct db *db;

    (void)state;
    db = db_open("host=/nonexistent/mailpulse port=1 dbname=x connect_timeout=2", err, sizeof(err));
    assert_null(db);
    assert_true(err[0] != 0);
    assert_null(strchr(err, '\n'));
}

/* test_ping - an open connection answers */
static void test_ping(void **state)
{
    struct fixture *f = *state;
    char v[32];

    assert_int_equal(db_ping(f->db), 0);
    sql_str(f->admin,
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'mailpulse'"
            " AND pid <> pg_backend_pid()",
            v, sizeof(v));
    assert_string_equal(v, "t");
}

/* test_migrate_empty - from nothing: pending, migrate, applied, migrate again is a no-op */
static void test_migrate_empty(void **state)
{
    struct fixture *f = *state;
    char err[256], want[128];
    char *text;
    int rc;

    assert_true(migrations_count >= 1);
    assert_int_equal(db_schema_ok(f->db, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mailpulse db migrate"));

    text = capture(db_status, f->db, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "pending"));
    free(text);

    text = capture(db_migrate, f->db, &rc);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof(want), "applied %03d_%s\n", migrations[0].version, migrations[0].name);
    assert_non_null(strstr(text, want));
    free(text);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM schema_migrations"), migrations_count);

    text = capture(db_status, f->db, &rc);
    assert_int_equal(rc, 0);
    assert_null(strstr(text, "pending"));
    snprintf(want, sizeof(want), "%03d_%s\tapplied\t", migrations[0].version, migrations[0].name);
    assert_non_null(strstr(text, want));
    free(text);

    text = capture(db_migrate, f->db, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(text, "");
    free(text);

    assert_int_equal(db_schema_ok(f->db, err, sizeof(err)), 0);
    assert_string_equal(err, "");
}

/* test_schema_behind - unknown newer versions are shown; a missing one is refused */
static void test_schema_behind(void **state)
{
    struct fixture *f = *state;
    char err[256];
    char *text;
    int rc;

    assert_int_equal(db_migrate(f->db, NULL), 0);
    /* Versions from a newer mailpulse are shown, and do not make the schema too old. */
    sql_exec(f->admin, "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')");
    assert_int_equal(db_schema_ok(f->db, err, sizeof(err)), 0);
    text = capture(db_status, f->db, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "999_future\tapplied\t"));
    assert_non_null(strstr(text, "unknown to this mailpulse"));
    free(text);

    sql_exec(f->admin, "DELETE FROM schema_migrations WHERE version = (SELECT max(version) "
                       "FROM schema_migrations WHERE version < 999)");
    assert_int_equal(db_schema_ok(f->db, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "out of date"));
    assert_non_null(strstr(err, "mailpulse db migrate"));
    sql_exec(f->admin, "DELETE FROM schema_migrations");
    assert_int_equal(db_schema_ok(f->db, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no mailpulse schema"));
}

static void *migrate_thread(void *arg)
{
    struct db *db = arg;

    return (void *)(intptr_t)db_migrate(db, NULL);
}

/* test_migrate_concurrent - two migrators at once: both succeed, each version once */
static void test_migrate_concurrent(void **state)
{
    struct fixture *f = *state;
    struct db *db2;
    pthread_t t1, t2;
    void *r1, *r2;
    char err[256];

    db2 = db_open(dsn, err, sizeof(err));
    assert_non_null(db2);
    assert_int_equal(pthread_create(&t1, NULL, migrate_thread, f->db), 0);
    assert_int_equal(pthread_create(&t2, NULL, migrate_thread, db2), 0);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    db_close(db2);
    assert_int_equal((intptr_t)r1, 0);
    assert_int_equal((intptr_t)r2, 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM schema_migrations"), migrations_count);
}

/* test_source - find-or-create by identity; the checkpoint only moves forward */
static void test_source(void **state)
{
    struct fixture *f = *state;
    int64_t id1, id2, id3, cp;
    struct db_batch *b = db_batch_create(f->db);

    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", &id1, &cp), 0);
    assert_true(id1 > 0);
    assert_int_equal(cp, 0);
    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", &id2, &cp), 0);
    assert_int_equal(id2, id1);
    assert_int_equal(db_source_open(f->db, "mail.log.\xff", "dev1:ino8:def", &id3, &cp), 0);
    assert_true(id3 != id1);

    /* An empty batch still moves the checkpoint. */
    assert_int_equal(db_batch_commit(b, id1, 4096, NULL), 0);
    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", &id2, &cp), 0);
    assert_int_equal(cp, 4096);
    assert_int_equal(db_batch_commit(b, id1, 100, NULL), 0);
    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", &id2, &cp), 0);
    assert_int_equal(cp, 4096);
    db_batch_free(b);

    /* A source that does not exist is an error, not a silent success. */
    b = db_batch_create(f->db);
    assert_int_equal(db_batch_commit(b, id3 + 1000, 1, NULL), -1);
    db_batch_free(b);
}

/* test_batch_insert - every kind of event lands in its table with its columns */
static void test_batch_insert(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct event smtp;
    int64_t src, cp;
    char v[256];

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", &src, &cp), 0);
    add_sample(b, src);
    mk_event(&smtp, EV_SMTP, T0, "mx1"); /* not stored */
    db_batch_add(b, src, 700, &smtp);
    mk_event(&smtp, EV_DELIVERY, T0, "mx1"); /* no status: not stored */
    db_batch_add(b, src, 710, &smtp);
    assert_int_equal(db_batch_count(b), 7);
    assert_int_equal(db_batch_commit(b, src, 701, &res), 0);
    assert_int_equal(res.inserted, 7);
    assert_int_equal(res.duplicates, 0);
    assert_int_equal(res.repaired, 0);
    assert_int_equal(db_batch_count(b), 0);

    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM messages"), 2);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 3);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM rejects"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM bounce_notices"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT checkpoint FROM sources"), 701);

    sql_str(f->admin,
            "SELECT concat_ws('|', to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),"
            " host, mta, queue_id, recipient, recipient_domain, delay, delays::text, status,"
            " dsn, smtp_code, reply, coalesce(reason, 'null'), hard,"
            " coalesce(sender, 'null'), truncated, pos, seq)"
            " FROM deliveries WHERE pos = 200",
            v, sizeof(v));
    assert_string_equal(v, "2025-11-28 17:13:22|mx1|postfix|4ZxY2l3Xr9z1|bob@Gmail.COM|gmail.com|"
                           "1.3|{0.1,0,0.4,0.8}|sent|2.0.0|250|250 2.0.0 OK|null|f|null|f|200|0");
    sql_str(f->admin,
            "SELECT concat_ws('|', status, dsn, smtp_code, reason, hard, coalesce(delay, -1))"
            " FROM deliveries WHERE pos = 300",
            v, sizeof(v));
    assert_string_equal(v, "bounced|5.1.1|550|userunknown|t|-1");
    sql_str(f->admin, "SELECT concat_ws('|', size, nrcpt, sender) FROM messages WHERE pos = 0", v,
            sizeof(v));
    assert_string_equal(v, "1234|3|news@example.org");
    sql_str(f->admin,
            "SELECT concat_ws('|', coalesce(size, -1), coalesce(nrcpt, -1)) FROM messages"
            " WHERE pos = 100",
            v, sizeof(v));
    assert_string_equal(v, "-1|-1");
    sql_str(f->admin, "SELECT concat_ws('|', client, smtp_code) FROM rejects", v, sizeof(v));
    assert_string_equal(v, "bad.example[192.0.2.9]|554");
    sql_str(f->admin, "SELECT concat_ws('|', queue_id, notice_queue_id) FROM bounce_notices", v,
            sizeof(v));
    assert_string_equal(v, "4ZxY2l3Xr9z1|4ZxY2l3Xr9z2");
    db_batch_free(b);
}

/* test_replay - the same events at the same positions again insert nothing */
static void test_replay(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct event ev;
    int64_t src, cp;

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", &src, &cp), 0);
    add_sample(b, src);
    assert_int_equal(db_batch_commit(b, src, 601, &res), 0);
    assert_int_equal(res.inserted, 7);
    db_batch_free(b);

    /* A restart from checkpoint 0 replays everything, plus one new line. */
    b = db_batch_create(f->db);
    add_sample(b, src);
    mk_delivery(&ev, T0 + 9 * SEC, "mx1", "new@example.net", ST_SENT, "250 ok");
    db_batch_add(b, src, 900, &ev);
    assert_int_equal(db_batch_commit(b, src, 901, &res), 0);
    assert_int_equal(res.inserted, 1);
    assert_int_equal(res.duplicates, 7);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 4);

    /* Two events of one line are two rows (seq 0 and 1), and replay as duplicates. */
    mk_delivery(&ev, T0 + 10 * SEC, "mx1", "a@example.net", ST_SENT, "250 ok");
    db_batch_add(b, src, 1000, &ev);
    mk_delivery(&ev, T0 + 10 * SEC, "mx1", "b@example.net", ST_SENT, "250 ok");
    db_batch_add(b, src, 1000, &ev);
    assert_int_equal(db_batch_commit(b, src, 1001, &res), 0);
    assert_int_equal(res.inserted, 2);
    db_batch_add(b, src, 1000, &ev); /* freeing a batch that holds events is fine */
    db_batch_free(b);
    b = db_batch_create(f->db);
    mk_delivery(&ev, T0 + 10 * SEC, "mx1", "a@example.net", ST_SENT, "250 ok");
    db_batch_add(b, src, 1000, &ev);
    mk_delivery(&ev, T0 + 10 * SEC, "mx1", "b@example.net", ST_SENT, "250 ok");
    db_batch_add(b, src, 1000, &ev);
    assert_int_equal(db_batch_commit(b, src, 1001, &res), 0);
    assert_int_equal(res.inserted, 0);
    assert_int_equal(res.duplicates, 2);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE pos = 1000"), 2);
    db_batch_free(b);
}

/* test_bad_bytes - invalid UTF-8 is repaired and counted; COPY specials round-trip */
static void test_bad_bytes(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct event ev;
    int64_t src, cp;
    char v[256];
    static const char tricky[] = "tab\there\nnew\\line\rcr \\N \\. \xc3\xa9t\xc3\xa9 end";

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", &src, &cp), 0);
    mk_delivery(&ev, T0, "mx1", "a@example.com", ST_BOUNCED, "550 bad \xff\xfe bytes \xc3");
    EVENT_SET(&ev, sender, "s\x80@example.com", 14);
    db_batch_add(b, src, 10, &ev);
    mk_delivery(&ev, T0, "mx1", "b@example.com", ST_SENT, tricky);
    db_batch_add(b, src, 20, &ev);
    mk_delivery(&ev, T0, "mx1", "c@example.com", ST_SENT, "250 ok");
    ev.flags |= EVF_BAD_BYTES; /* the parser repaired this one already */
    db_batch_add(b, src, 30, &ev);
    mk_event(&ev, EV_MESSAGE, T0, "mx\xe2\x82");
    db_batch_add(b, src, 40, &ev);
    mk_event(&ev, EV_MESSAGE, INT64_MAX, "mx1"); /* no timestamptz can hold it: NULL */
    db_batch_add(b, src, 50, &ev);

    assert_int_equal(db_batch_commit(b, src, 51, &res), 0);
    assert_int_equal(res.inserted, 5);
    assert_int_equal(res.repaired, 4); /* reply + sender, parser's flag, host */

    sql_str(f->admin, "SELECT reply FROM deliveries WHERE pos = 10", v, sizeof(v));
    assert_string_equal(v, "550 bad ?? bytes ?");
    sql_str(f->admin, "SELECT sender FROM deliveries WHERE pos = 10", v, sizeof(v));
    assert_string_equal(v, "s?@example.com");
    sql_str(f->admin, "SELECT reply FROM deliveries WHERE pos = 20", v, sizeof(v));
    assert_string_equal(v, tricky);
    sql_str(f->admin, "SELECT host FROM messages WHERE pos = 40", v, sizeof(v));
    assert_string_equal(v, "mx??");
    sql_str(f->admin, "SELECT time FROM messages WHERE pos = 50", v, sizeof(v));
    assert_string_equal(v, "NULL");
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 3);
    db_batch_free(b);
}

/* test_killed_connection - a dead connection fails the commit, keeps the batch, reconnects */
static void test_killed_connection(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    int64_t src, cp;
    char sql[64], v[8];

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", &src, &cp), 0);
    add_sample(b, src);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 5000)", PQbackendPID(f->db->conn));
    sql_str(f->admin, sql, v, sizeof(v));
    assert_string_equal(v, "t");

    assert_int_equal(db_batch_commit(b, src, 601, &res), -1);
    assert_int_equal(db_batch_count(b), 7);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 0);
    assert_int_equal(sql_int(f->admin, "SELECT checkpoint FROM sources"), 0);

    assert_int_equal(db_batch_commit(b, src, 601, &res), 0);
    assert_int_equal(res.inserted, 7);
    assert_int_equal(db_batch_count(b), 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 3);
    assert_int_equal(sql_int(f->admin, "SELECT checkpoint FROM sources"), 601);

    /* The reconnected session serves further commits (staging tables made again). */
    add_sample(b, src);
    assert_int_equal(db_batch_commit(b, src, 601, &res), 0);
    assert_int_equal(res.duplicates, 7);
    db_batch_free(b);
}

/* test_commit_error_keeps_batch - a server-side error rolls back; the batch stays */
static void test_commit_error_keeps_batch(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    int64_t src, cp;

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", &src, &cp), 0);
    add_sample(b, src);
    /* A constraint the sample's reject breaks makes the INSERT fail mid-transaction. */
    sql_exec(f->admin, "ALTER TABLE rejects ADD CONSTRAINT no_554 CHECK (smtp_code <> 554)");
    assert_int_equal(db_batch_commit(b, src, 601, &res), -1);
    assert_int_equal(db_batch_count(b), 7);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM messages"), 0);
    assert_int_equal(sql_int(f->admin, "SELECT checkpoint FROM sources"), 0);
    sql_exec(f->admin, "ALTER TABLE rejects DROP CONSTRAINT no_554");
    assert_int_equal(db_batch_commit(b, src, 601, &res), 0);
    assert_int_equal(res.inserted, 7);
    db_batch_free(b);
}

/* test_summary - totals over a known set: range boundaries, host filter, open ends */
static void test_summary(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_summary s;
    struct db_range r;
    struct event ev;
    int64_t src, cp, pos = 0;
    static const struct {
        enum event_type type;
        enum event_status st;
        int64_t t;
        const char *host;
    } rows[] = {
        {EV_MESSAGE, ST_NONE, T0 - 1, "mx1"}, /* before the range */
        {EV_MESSAGE, ST_NONE, T0, "mx1"},     /* on the lower bound: in */
        {EV_MESSAGE, ST_NONE, T0 + SEC, "mx2"},
        {EV_DELIVERY, ST_SENT, T0, "mx1"},
        {EV_DELIVERY, ST_SENT, T0 + SEC, "mx1"},
        {EV_DELIVERY, ST_SENT, T0 + 2 * SEC, "mx2"},
        {EV_DELIVERY, ST_DEFERRED, T0 + 3 * SEC, "mx1"},
        {EV_DELIVERY, ST_BOUNCED, T0 + 4 * SEC, "mx2"},
        {EV_DELIVERY, ST_EXPIRED, T0 + 5 * SEC, "mx1"},
        {EV_DELIVERY, ST_SENT, T0 + 60 * SEC, "mx1"}, /* on the upper bound: out */
        {EV_REJECT, ST_NONE, T0 + 6 * SEC, "mx1"},
        {EV_REJECT, ST_NONE, T0 + 7 * SEC, "mx2"},
        {EV_REJECT, ST_NONE, T0 + 61 * SEC, "mx2"},
    };
    size_t i;

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", &src, &cp), 0);
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        if (rows[i].type == EV_DELIVERY)
            mk_delivery(&ev, rows[i].t, rows[i].host, "r@example.com", rows[i].st, "x");
        else
            mk_event(&ev, rows[i].type, rows[i].t, rows[i].host);
        db_batch_add(b, src, pos += 100, &ev);
    }
    assert_int_equal(db_batch_commit(b, src, pos, NULL), 0);

    memset(&r, 0, sizeof(r));
    r.from_us = T0;
    r.to_us = T0 + 60 * SEC;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.received, 2);
    assert_int_equal(s.sent, 3);
    assert_int_equal(s.deferred, 1);
    assert_int_equal(s.bounced, 1);
    assert_int_equal(s.expired, 1);
    assert_int_equal(s.rejected, 2);

    strcpy(r.host, "mx2");
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.received, 1);
    assert_int_equal(s.sent, 1);
    assert_int_equal(s.deferred, 0);
    assert_int_equal(s.bounced, 1);
    assert_int_equal(s.expired, 0);
    assert_int_equal(s.rejected, 1);

    strcpy(r.host, "nosuchhost");
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.received + s.sent + s.rejected, 0);

    /* Open on both sides: everything. */
    r.host[0] = 0;
    r.from_us = 0;
    r.to_us = INT64_MAX;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.received, 3);
    assert_int_equal(s.sent, 4);
    assert_int_equal(s.rejected, 3);

    /* An empty range. */
    r.from_us = T0 + SEC;
    r.to_us = T0 + SEC;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.received + s.sent + s.deferred + s.bounced + s.expired + s.rejected, 0);
    db_batch_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_bad),
        cmocka_unit_test_setup_teardown(test_ping, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_empty, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_schema_behind, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_concurrent, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_source, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_batch_insert, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bytes, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_killed_connection, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_commit_error_keeps_batch, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_summary, setup_migrated, teardown),
    };

    dsn = getenv("MAILPULSE_TEST_DSN");
    if (dsn == NULL || dsn[0] == 0) {
        fprintf(stderr, "test_db: FAIL: MAILPULSE_TEST_DSN is not set; start a server with\n"
                        "  DSN=$(sh scripts/pg.sh start /tmp/dbt) && "
                        "MAILPULSE_TEST_DSN=\"$DSN\" build/tests/test_db\n");
        return 1;
    }
    /* The failure tests log warnings on purpose; MAILPULSE_TEST_VERBOSE=1 shows them. */
    if (getenv("MAILPULSE_TEST_VERBOSE") == NULL)
        log_set_level(LOG_LEVEL_ERROR);
    snprintf(schema, sizeof(schema), "mailpulse_test_%ld", (long)getpid());
    return cmocka_run_group_tests(tests, NULL, NULL);
}
