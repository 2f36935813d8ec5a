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
#include <math.h>
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

/* test_unexpected_result - a statement that returns rows where none were expected is named,
 * not reported as an unknown error */
static void test_unexpected_result(void **state)
{
    struct fixture *f = *state;

    db_quiet(f->db, 1);
    assert_int_equal(db_exec_cmd(f->db, "SELECT 1", "probe"), -1);
    assert_string_equal(db_error(f->db), "probe: unexpected result PGRES_TUPLES_OK");
    assert_int_equal(db_exec_cmd(f->db, "SELECT 1/0", "probe"), -1);
    assert_string_equal(db_error(f->db), "probe: division by zero");
    db_quiet(f->db, 0);
}

/* setting - the value of a server setting on conn */
static void setting(PGconn *conn, const char *name, char *out, size_t outlen)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT current_setting('%s')", name);
    sql_str(conn, sql, out, outlen);
}

/*
 * test_open_reports - a connection for reports plans without parallel workers and JIT, also
 * after it was reset; an ordinary one keeps the server's settings; both keep the environment's
 * options
 */
static void test_open_reports(void **state)
{
    struct fixture *f = *state;
    struct db *r;
    char err[256], v[64], sql[64];

    r = db_open_reports(dsn, err, sizeof(err));
    assert_non_null(r);
    setting(r->conn, "max_parallel_workers_per_gather", v, sizeof(v));
    assert_string_equal(v, "0");
    setting(r->conn, "jit", v, sizeof(v));
    assert_string_equal(v, "off");
    setting(r->conn, "search_path", v, sizeof(v));
    assert_string_equal(v, schema);
    setting(f->db->conn, "max_parallel_workers_per_gather", v, sizeof(v));
    assert_string_not_equal(v, "0");
    setting(f->db->conn, "jit", v, sizeof(v));
    assert_string_equal(v, "on");
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 5000)", PQbackendPID(r->conn));
    sql_str(f->admin, sql, v, sizeof(v));
    assert_string_equal(v, "t");
    assert_int_equal(db_ping(r), -1);
    assert_int_equal(db_reconnect(r), 0);
    setting(r->conn, "max_parallel_workers_per_gather", v, sizeof(v));
    assert_string_equal(v, "0");
    setting(r->conn, "jit", v, sizeof(v));
    assert_string_equal(v, "off");
    db_close(r);
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

    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", NULL, 0, &id1, &cp), 0);
    assert_true(id1 > 0);
    assert_int_equal(cp, 0);
    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", NULL, 0, &id2, &cp), 0);
    assert_int_equal(id2, id1);
    assert_int_equal(db_source_open(f->db, "mail.log.\xff", "dev1:ino8:def", NULL, 0, &id3, &cp),
                     0);
    assert_true(id3 != id1);

    /* An empty batch still moves the checkpoint. */
    assert_int_equal(db_batch_commit(b, id1, 4096, NULL), 0);
    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", NULL, 0, &id2, &cp), 0);
    assert_int_equal(cp, 4096);
    assert_int_equal(db_batch_commit(b, id1, 100, NULL), 0);
    assert_int_equal(db_source_open(f->db, "mail.log", "dev1:ino7:abc", NULL, 0, &id2, &cp), 0);
    assert_int_equal(cp, 4096);
    db_batch_free(b);

    /* A source that does not exist is an error, not a silent success. */
    b = db_batch_create(f->db);
    assert_int_equal(db_batch_commit(b, id3 + 1000, 1, NULL), -1);
    db_batch_free(b);
}

/* test_source_prefix - files with the same first line are one source only when they start with
 * the bytes the source recorded; a longer prefix goes with the checkpoint */
static void test_source_prefix(void **state)
{
    struct fixture *f = *state;
    const char *g1 = "HDR\na1\na2\n", *g2 = "HDR\nb1\n";
    int64_t a, b2, c, d, e, cp;
    struct db_batch *b = db_batch_create(f->db);
    char sql[256];

    /* The first generation, seen when it had one line. */
    assert_int_equal(db_source_open(f->db, "mail.log", "id-hdr", g1, 4, &a, &cp), 0);
    /* More of it read: the same source, and the row learns the longer prefix. */
    assert_int_equal(db_source_open(f->db, "mail.log", "id-hdr", g1, 7, &c, &cp), 0);
    assert_int_equal(c, a);
    db_batch_prefix(b, strlen(g1), hash_fnv1a64(g1, strlen(g1)));
    assert_int_equal(db_batch_commit(b, a, (int64_t)strlen(g1), NULL), 0);
    snprintf(sql, sizeof(sql), "SELECT prefix_len FROM sources WHERE id = %lld", (long long)a);
    assert_int_equal(sql_int(f->admin, sql), (int)strlen(g1));

    /* A second generation with the same first line: a source of its own, from byte 0. */
    assert_int_equal(db_source_open(f->db, "mail.log", "id-hdr", g2, strlen(g2), &b2, &cp), 0);
    assert_true(b2 != a);
    assert_int_equal(cp, 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM sources WHERE id = %lld AND identity = "
             "'id-hdr/2'",
             (long long)b2);
    assert_int_equal(sql_int(f->admin, sql), 1);
    /* Each finds its own again; a copy of the first shorter than its prefix is not it. */
    assert_int_equal(db_source_open(f->db, "mail.log.1", "id-hdr", g1, strlen(g1), &d, &cp), 0);
    assert_int_equal(d, a);
    assert_int_equal(cp, (int64_t)strlen(g1));
    assert_int_equal(db_source_open(f->db, "mail.log", "id-hdr", g2, strlen(g2), &d, &cp), 0);
    assert_int_equal(d, b2);
    assert_int_equal(db_source_open(f->db, "mail.log", "id-hdr", g1, 7, &e, &cp), 0);
    assert_true(e != a && e != b2);

    /* A row from before prefixes were kept matches by its identity. */
    assert_int_equal(sql_int(f->admin, "WITH i AS (INSERT INTO sources (name, identity, "
                                       "checkpoint) VALUES ('old.log', 'id-old', 5) RETURNING 1) "
                                       "SELECT count(*) FROM i"),
                     1);
    assert_int_equal(db_source_open(f->db, "old.log", "id-old", g2, strlen(g2), &d, &cp), 0);
    assert_int_equal(cp, 5);
    assert_int_equal(sql_int(f->admin, "SELECT prefix_len FROM sources WHERE identity = 'id-old'"),
                     (int)strlen(g2));
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

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", NULL, 0, &src, &cp), 0);
    add_sample(b, src);
    mk_event(&smtp, EV_SMTP, T0, ""); /* sniffed: smtp_events */
    EVENT_SET(&smtp, client, "192.0.2.7:53211", 15);
    EVENT_SET(&smtp, server, "198.51.100.2:25", 15);
    EVENT_SET(&smtp, stage, "rcpt", 4);
    EVENT_SET(&smtp, recipient, "x@example.com", 13);
    smtp.smtp_code = 550;
    smtp.tls = true;
    db_batch_add(b, src, 700, &smtp);
    mk_event(&smtp, EV_DELIVERY, T0, "mx1"); /* no status: not stored */
    db_batch_add(b, src, 710, &smtp);
    assert_int_equal(db_batch_count(b), 8);
    assert_int_equal(db_batch_commit(b, src, 701, &res), 0);
    assert_int_equal(res.inserted, 8);
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
                           "1.3|0.1/0/0.4/0.8|sent|2.0.0|250|250 2.0.0 OK|null|f|null|f|200|0");
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
    sql_str(f->admin,
            "SELECT concat_ws('|', host, client, server, stage, recipient, smtp_code, tls)"
            " FROM smtp_events",
            v, sizeof(v));
    assert_string_equal(v, "|192.0.2.7:53211|198.51.100.2:25|rcpt|x@example.com|550|t");
    /* The rollups of the same transaction: 1 received, 1 notice (no sender, no client: the
     * MTA's own), 3 attempts, 1 reject in one hour. */
    sql_str(f->admin,
            "SELECT string_agg(concat_ws(':', kind, sender_domain, reason, dsn,"
            " n, coalesce(example, '-')), ' ' ORDER BY kind) FROM rollups"
            " WHERE hour = '2025-11-28 17:00:00+00'",
            v, sizeof(v));
    assert_string_equal(v, "bounced::userunknown:5.1.1:1:550 5.1.1 unknown "
                           "deferred::::1:451 try later "
                           "notice::::1:- received:example.org:::1:- "
                           "rejected::::1:- sent:::2.0.0:1:-");
    /* The attempts by recipient domain and host. */
    sql_str(f->admin,
            "SELECT string_agg(concat_ws(':', recipient_domain, host, sent, deferred, bounced,"
            " expired), ' ' ORDER BY recipient_domain) FROM rollups_domain_hour"
            " WHERE hour = '2025-11-28 17:00:00+00'",
            v, sizeof(v));
    assert_string_equal(v, "example.com:mx1:0:1:1:0 gmail.com:mx1:1:0:0:0");
    db_batch_free(b);
}

/* rollups_exact - every rollup equals the count of the events it adds up */
static void rollups_exact(PGconn *admin)
{
    int64_t events = sql_int(admin, "SELECT count(*) FROM facts WHERE time IS NOT NULL");

    assert_int_equal(sql_int(admin, "SELECT sum(n) FROM rollups"), events);
    assert_int_equal(sql_int(admin, "SELECT sum(n) FROM rollups_host"), events);
    assert_int_equal(sql_int(admin, "SELECT sum(n) FROM rollups_host_minute"), events);
    assert_int_equal(sql_int(admin, "SELECT sum(sent + deferred + bounced + expired + rejected)"
                                    " FROM rollups_sender_day WHERE axis = 'sasl_user'"),
                     sql_int(admin, "SELECT count(*) FROM facts WHERE time IS NOT NULL"
                                    " AND kind NOT IN ('received', 'notice')"));
    assert_int_equal(sql_int(admin, "SELECT sum(sent + deferred + bounced + expired)"
                                    " FROM rollups_domain_day"),
                     sql_int(admin, "SELECT count(*) FROM deliveries"
                                    " WHERE time IS NOT NULL AND recipient_domain <> ''"));
    assert_int_equal(sql_int(admin, "SELECT sum(n) FROM rollups_domain_month"),
                     sql_int(admin, "SELECT count(*) FROM deliveries"
                                    " WHERE time IS NOT NULL AND recipient_domain <> ''"));
    assert_int_equal(sql_int(admin, "SELECT count(*) FROM (SELECT recipient_domain, host, day,"
                                    " sent, deferred, bounced, expired"
                                    " FROM rollups_domain_host_day"
                                    " EXCEPT SELECT recipient_domain, host, date_trunc('day', time,"
                                    " 'UTC'), count(*) FILTER (WHERE status = 'sent'),"
                                    " count(*) FILTER (WHERE status = 'deferred'),"
                                    " count(*) FILTER (WHERE status = 'bounced'),"
                                    " count(*) FILTER (WHERE status = 'expired') FROM deliveries"
                                    " WHERE time IS NOT NULL AND recipient_domain <> ''"
                                    " GROUP BY 1, 2, 3) x"),
                     0);
    assert_int_equal(sql_int(admin, "SELECT sum(sent + deferred + bounced + expired)"
                                    " FROM rollups_domain_host_day"),
                     sql_int(admin, "SELECT count(*) FROM deliveries"
                                    " WHERE time IS NOT NULL AND recipient_domain <> ''"));
    /* The hour rows count the attempts without a recipient domain too, under "". */
    assert_int_equal(sql_int(admin, "SELECT count(*) FROM (SELECT recipient_domain, hour, host,"
                                    " sent, deferred, bounced, expired FROM rollups_domain_hour"
                                    " EXCEPT SELECT coalesce(recipient_domain, ''),"
                                    " date_trunc('hour', time, 'UTC'), host,"
                                    " count(*) FILTER (WHERE status = 'sent'),"
                                    " count(*) FILTER (WHERE status = 'deferred'),"
                                    " count(*) FILTER (WHERE status = 'bounced'),"
                                    " count(*) FILTER (WHERE status = 'expired') FROM deliveries"
                                    " WHERE time IS NOT NULL GROUP BY 1, 2, 3) x"),
                     0);
    assert_int_equal(sql_int(admin, "SELECT sum(sent + deferred + bounced + expired)"
                                    " FROM rollups_domain_hour"),
                     sql_int(admin, "SELECT count(*) FROM deliveries WHERE time IS NOT NULL"));
}

/* test_replay - the same events at the same positions again insert nothing */
static void test_replay(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct event ev;
    int64_t src, cp;

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", NULL, 0, &src, &cp), 0);
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
    /* Only the new row reached the rollups: each still counts every event once. */
    rollups_exact(f->admin);

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

/* fail_hard - a delivery to rcpt (sender news@example.org) that bounced for good at t */
static void fail_hard(struct db_batch *b, int64_t src, int64_t pos, int64_t t, const char *rcpt)
{
    struct event ev;

    mk_delivery(&ev, t, "mx1", rcpt, ST_BOUNCED, "550 5.1.1 user unknown");
    EVENT_SET(&ev, sender, "news@example.org", 16);
    EVENT_SET(&ev, dsn, "5.1.1", 5);
    EVENT_SET(&ev, reason, "userunknown", 11);
    ev.hard = true;
    db_batch_add(b, src, pos, &ev);
}

/* sent_to - a delivery to rcpt (sender news@example.org) sent at t */
static void sent_to(struct db_batch *b, int64_t src, int64_t pos, int64_t t, const char *rcpt)
{
    struct event ev;

    mk_delivery(&ev, t, "mx1", rcpt, ST_SENT, "250 ok");
    EVENT_SET(&ev, sender, "news@example.org", 16);
    db_batch_add(b, src, pos, &ev);
}

/*
 * test_log_suppressions - hard failures in the log enter the suppression list unless a later
 * delivery in the batch was sent; a later batch's sent delivery takes an entry off, an earlier
 * one does not; recipients compare in lower case; a replay adds nothing
 */
static void test_log_suppressions(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    int64_t src, cp;
    char list[512];
    const char *q = "SELECT coalesce(string_agg(recipient || ' ' || n || ' ' || reason || ' ' || "
                    "dsn, '|' ORDER BY recipient), '') FROM suppressions";

    assert_int_equal(db_source_open(f->db, "mail.log", "id-sup", NULL, 0, &src, &cp), 0);
    fail_hard(b, src, 10, T0, "a@x.example");
    fail_hard(b, src, 20, T0 + SEC, "A@X.example"); /* the same recipient: n 2 */
    fail_hard(b, src, 30, T0, "b@x.example");
    sent_to(b, src, 40, T0 + 2 * SEC, "B@x.example"); /* sent later: b is not listed */
    sent_to(b, src, 50, T0, "c@x.example");
    fail_hard(b, src, 60, T0 + SEC, "c@x.example"); /* failed after it was sent: listed */
    fail_hard(b, src, 70, T0, "d@x.example");
    /* Sent twice around a failure: the later sending counts. */
    sent_to(b, src, 72, T0 + 3 * SEC, "e@x.example");
    fail_hard(b, src, 73, T0 + 2 * SEC, "E@x.example");
    sent_to(b, src, 74, T0 + SEC, "e@x.example");
    /* Not ASCII: compared by lower() alone. */
    fail_hard(b, src, 75, T0, "\xc3\xbc@x.example");
    sent_to(b, src, 76, T0 + SEC, "\xc3\xbc@x.example");
    assert_int_equal(db_batch_commit(b, src, 77, &res), 0);
    sql_str(f->admin, q, list, sizeof(list));
    assert_string_equal(list, "a@x.example 2 userunknown 5.1.1|c@x.example 1 userunknown 5.1.1|"
                              "d@x.example 1 userunknown 5.1.1");

    /* A later batch: sent to d after its failure (off), to c before its failure (stays). */
    sent_to(b, src, 80, T0 + 5 * SEC, "D@x.example");
    sent_to(b, src, 90, T0 + SEC / 2, "c@x.example");
    assert_int_equal(db_batch_commit(b, src, 91, &res), 0);
    sql_str(f->admin, q, list, sizeof(list));
    assert_string_equal(list, "a@x.example 2 userunknown 5.1.1|c@x.example 1 userunknown 5.1.1");

    /* The first batch again: every row a duplicate, the list as it was. */
    fail_hard(b, src, 10, T0, "a@x.example");
    fail_hard(b, src, 20, T0 + SEC, "A@X.example");
    assert_int_equal(db_batch_commit(b, src, 91, &res), 0);
    assert_int_equal(res.duplicates, 2);
    sql_str(f->admin, q, list, sizeof(list));
    assert_string_equal(list, "a@x.example 2 userunknown 5.1.1|c@x.example 1 userunknown 5.1.1");
    db_batch_free(b);
}

/* dsn_with_db - dsn with its database replaced by name, as a conninfo string (caller frees) */
static char *dsn_with_db(const char *name)
{
    PQconninfoOption *opts = PQconninfoParse(dsn, NULL);
    struct buf o;

    assert_non_null(opts);
    buf_init(&o);
    for (PQconninfoOption *k = opts; k->keyword != NULL; k++) {
        const char *v = strcmp(k->keyword, "dbname") == 0 ? name : k->val;

        if (v == NULL)
            continue;
        buf_printf(&o, "%s='", k->keyword);
        for (; *v != 0; v++)
            buf_printf(&o, "%s%c", *v == '\'' || *v == '\\' ? "\\" : "", *v);
        buf_puts(&o, "' ");
    }
    PQconninfoFree(opts);
    return o.data;
}

/*
 * test_suppressions_icu - in a database whose collation lower()s beyond ASCII (ICU), a failure
 * to a recipient that lower() takes to the same text as a later sent one is not listed: the
 * Kelvin sign K (U+212A) lowers to k there
 */
static void test_suppressions_icu(void **state)
{
    char name[80], sql[256], err[256], *d;
    const char *saved = getenv("PGOPTIONS");
    char *saved_copy = saved != NULL ? xstrdup(saved) : NULL;
    struct db_batch_result res;
    struct db_batch *b;
    struct db *db;
    PGconn *admin, *c;
    PGresult *r;
    int64_t src, cp;

    (void)state;
    unsetenv("PGOPTIONS"); /* the new database has only its public schema */
    admin = PQconnectdb(dsn);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    sql_exec(admin, "SET client_min_messages = warning");
    snprintf(name, sizeof(name), "%s_icu", schema);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
    sql_exec(admin, sql);
    snprintf(sql, sizeof(sql),
             "CREATE DATABASE %s TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und' "
             "LOCALE 'C'",
             name);
    r = PQexec(admin, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    d = dsn_with_db(name);
    db = db_open(d, err, sizeof(err));
    if (db == NULL)
        fail_msg("db_open: %s", err);
    assert_int_equal(db_migrate(db, NULL), 0);
    b = db_batch_create(db);
    assert_int_equal(db_source_open(db, "mail.log", "id-icu", NULL, 0, &src, &cp), 0);
    fail_hard(b, src, 10, T0, "\xe2\x84\xaa@x.example");
    sent_to(b, src, 20, T0 + SEC, "k@x.example");
    fail_hard(b, src, 30, T0, "z@x.example");
    assert_int_equal(db_batch_commit(b, src, 31, &res), 0);
    db_batch_free(b);
    db_close(db);
    c = PQconnectdb(d);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    assert_int_equal(sql_int(c, "SELECT count(*) FROM deliveries"), 3);
    sql_str(c, "SELECT string_agg(recipient, '|') FROM suppressions", err, sizeof(err));
    assert_string_equal(err, "z@x.example");
    PQfinish(c);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s", name);
    sql_exec(admin, sql);
    PQfinish(admin);
    x_free(d);
    if (saved_copy != NULL) {
        setenv("PGOPTIONS", saved_copy, 1);
        x_free(saved_copy);
    }
}

/*
 * test_batch_send - a transaction over several batches: their rows and rollups commit
 * together (a duplicate of an earlier batch of the same transaction adds nothing), and a
 * failure takes back the batches sent before it
 */
static void test_batch_send(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b1 = db_batch_create(f->db), *b2 = db_batch_create(f->db);
    struct db_batch_result res;
    struct event ev;
    int64_t src, cp;
    char list[256];

    assert_int_equal(db_source_open(f->db, "mail.log", "id-send", NULL, 0, &src, &cp), 0);
    add_sample(b1, src);
    fail_hard(b1, src, 700, T0 + 5 * SEC, "gone@x.example");
    assert_int_equal(db_batch_send(b1, &res), 0);
    assert_int_equal(res.inserted, 8);
    assert_int_equal(db_batch_count(b1), 0);
    /* Nothing is visible before the commit, and readers are not kept waiting meanwhile: the
     * month's partitions were made in a transaction of their own. */
    sql_exec(f->admin, "SET lock_timeout = '5s'");
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 0);
    sql_exec(f->admin, "RESET lock_timeout");
    /* The second batch repeats a row of the first (its table then goes through staging),
     * sends to the recipient that failed, later, and adds one more. */
    mk_delivery(&ev, T0 + 2 * SEC, "mx1", "bob@Gmail.COM", ST_SENT, "250 2.0.0 OK");
    db_batch_add(b2, src, 200, &ev);
    sent_to(b2, src, 800, T0 + 6 * SEC, "gone@x.example");
    mk_delivery(&ev, T0 + 7 * SEC, "mx1", "new@example.net", ST_SENT, "250 ok");
    db_batch_add(b2, src, 900, &ev);
    assert_int_equal(db_batch_commit(b2, src, 901, &res), 0);
    assert_int_equal(res.inserted, 2);
    assert_int_equal(res.duplicates, 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 6);
    assert_int_equal(sql_int(f->admin, "SELECT checkpoint FROM sources WHERE name = 'mail.log'"),
                     901);
    rollups_exact(f->admin);
    /* The failure was followed by a sent delivery in the transaction: not listed. */
    sql_str(f->admin,
            "SELECT coalesce(string_agg(recipient, '|' ORDER BY recipient), '')"
            " FROM suppressions",
            list, sizeof(list));
    assert_string_equal(list, "x@example.com");

    /* A failing commit takes back what the transaction sent before it, too. */
    mk_delivery(&ev, T0 + 8 * SEC, "mx1", "lost@example.net", ST_SENT, "250 ok");
    db_batch_add(b1, src, 1000, &ev);
    assert_int_equal(db_batch_send(b1, &res), 0);
    mk_delivery(&ev, T0 + 9 * SEC, "mx1", "kept@example.net", ST_SENT, "250 ok");
    db_batch_add(b2, src, 1100, &ev);
    assert_int_equal(db_batch_commit(b2, src + 1000, 1101, &res), -1); /* no such source */
    assert_int_equal(db_batch_count(b2), 1);
    assert_int_equal(db_batch_commit(b2, src, 1101, &res), 0);
    assert_int_equal(res.inserted, 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE pos = 1000"), 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE pos = 1100"), 1);
    rollups_exact(f->admin);

    /* Three batches whose rows are all new: the second's and third's sums are added to the
     * first's (the second's while the third's rows are copied, the third's at the commit). */
    mk_delivery(&ev, T0 + 10 * SEC, "mx2", "one@example.net", ST_DEFERRED, "451 later");
    db_batch_add(b1, src, 1200, &ev);
    assert_int_equal(db_batch_send(b1, &res), 0);
    mk_delivery(&ev, T0 + 11 * SEC, "mx2", "two@example.net", ST_DEFERRED, "451 later");
    db_batch_add(b2, src, 1300, &ev);
    mk_event(&ev, EV_MESSAGE, T0 + 11 * SEC, "mx2");
    db_batch_add(b2, src, 1301, &ev);
    assert_int_equal(db_batch_send(b2, &res), 0);
    mk_delivery(&ev, T0 + 11 * SEC, "mx2", "three@example.net", ST_DEFERRED, "451 later");
    db_batch_add(b1, src, 1350, &ev);
    mk_event(&ev, EV_MESSAGE, T0 + 11 * SEC, "mx2");
    db_batch_add(b1, src, 1351, &ev);
    assert_int_equal(db_batch_commit(b1, src, 1352, &res), 0);
    assert_int_equal(sql_int(f->admin, "SELECT n FROM rollups_host WHERE host = 'mx2'"
                                       " AND kind = 'deferred'"),
                     3);
    rollups_exact(f->admin);
    /* One subtransaction per batch, whatever its tables: rows keep the id of the one that
     * wrote them. */
    assert_int_equal(sql_int(f->admin,
                             "SELECT count(DISTINCT xmin::text) FROM ("
                             " SELECT xmin FROM deliveries WHERE pos BETWEEN 1200 AND 1351"
                             " UNION ALL"
                             " SELECT xmin FROM messages WHERE pos BETWEEN 1200 AND 1351) s"),
                     3);

    /* A batch reaching the next month, while a transaction is open: its writer commits the
     * open one alone (a batch without events), and the next transaction makes the month's
     * partitions before BEGIN, so readers do not wait on them either. */
    struct db_batch *none = db_batch_create(f->db);

    mk_delivery(&ev, T0 + 12 * SEC, "mx1", "dec@example.net", ST_SENT, "250 ok");
    db_batch_add(b1, src, 1400, &ev);
    assert_false(db_batch_new_months(b1));
    assert_int_equal(db_batch_send(b1, &res), 0);
    mk_delivery(&ev, T0 + 5 * 86400 * SEC, "mx1", "next@example.net", ST_SENT, "250 ok");
    db_batch_add(b2, src, 1500, &ev);
    assert_true(db_batch_new_months(b2));
    assert_int_equal(db_batch_commit(none, src, 1401, &res), 0);
    assert_int_equal(sql_int(f->admin, "SELECT checkpoint FROM sources WHERE name = 'mail.log'"),
                     1401);
    assert_int_equal(db_batch_send(b2, &res), 0);
    sql_exec(f->admin, "SET lock_timeout = '5s'");
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE pos >= 1400"), 1);
    sql_exec(f->admin, "RESET lock_timeout");
    /* Partitions made inside a transaction might be rolled back: a batch in that month still
     * counts as new. */
    mk_delivery(&ev, T0 + 40 * 86400 * SEC, "mx1", "jan@example.net", ST_SENT, "250 ok");
    db_batch_add(b1, src, 1600, &ev);
    assert_int_equal(db_batch_commit(b1, src, 1601, &res), 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE pos >= 1400"), 3);
    mk_delivery(&ev, T0 + 41 * 86400 * SEC, "mx1", "jan2@example.net", ST_SENT, "250 ok");
    db_batch_add(b1, src, 1700, &ev);
    assert_true(db_batch_new_months(b1));
    mk_delivery(&ev, T0 + 6 * 86400 * SEC, "mx1", "dec2@example.net", ST_SENT, "250 ok");
    db_batch_add(b2, src, 1800, &ev);
    assert_false(db_batch_new_months(b2));
    rollups_exact(f->admin);
    db_batch_free(none);
    db_batch_free(b1);
    db_batch_free(b2);
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

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", NULL, 0, &src, &cp), 0);
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

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", NULL, 0, &src, &cp), 0);
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

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", NULL, 0, &src, &cp), 0);
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

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", NULL, 0, &src, &cp), 0);
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        if (rows[i].type == EV_DELIVERY)
            mk_delivery(&ev, rows[i].t, rows[i].host, "r@example.com", rows[i].st, "x");
        else
            mk_event(&ev, rows[i].type, rows[i].t, rows[i].host);
        if (rows[i].type == EV_MESSAGE) /* a sender: a received message, not a notice */
            EVENT_SET(&ev, sender, "s@example.org", 13);
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

/*
 * The read side. One data set for all of it: rows[] below, loaded by load_read_set().
 * Times are T0 + minutes; hosts mx1/mx2; queue ids Q1.. name messages.
 */
static const struct read_row {
    enum event_type type;
    enum event_status st;
    int64_t t;
    const char *host, *qid, *msgid, *sender, *rcpt, *reason, *dsn, *reply;
} read_rows[] = {
    {EV_MESSAGE, ST_NONE, T0, "mx1", "Q1", "<m1@x>", "a@Sender.org", "", "", "", ""},
    {EV_DELIVERY, ST_SENT, T0 + 1 * SEC, "mx1", "Q1", "<m1@x>", "a@sender.org", "u1@gmail.com", "",
     "2.0.0", "250 ok"},
    {EV_DELIVERY, ST_BOUNCED, T0 + 2 * SEC, "mx1", "Q1", "<m1@x>", "a@sender.org", "u2@Gmail.com",
     "userunknown", "5.1.1", "550 5.1.1 no such user"},
    {EV_MESSAGE, ST_NONE, T0 + 60 * SEC, "mx1", "Q2", "<m2@x>", "b@other.org", "", "", "", ""},
    {EV_DELIVERY, ST_DEFERRED, T0 + 61 * SEC, "mx1", "Q2", "<m2@x>", "b@other.org", "v@yahoo.com",
     "blocked", "4.7.0", "421 4.7.0 try later"},
    {EV_DELIVERY, ST_DEFERRED, T0 + 3600 * SEC, "mx1", "Q2", "<m2@x>", "b@other.org", "v@yahoo.com",
     "blocked", "4.7.0", "421 4.7.0 still no"},
    {EV_DELIVERY, ST_EXPIRED, T0 + 7200 * SEC, "mx1", "Q2", "<m2@x>", "b@other.org", "v@yahoo.com",
     "expired", "4.4.7", "gave up"},
    {EV_BOUNCE_NOTICE, ST_NONE, T0 + 7201 * SEC, "mx1", "Q2", "", "", "", "", "", ""},
    {EV_MESSAGE, ST_NONE, T0 + 3 * SEC, "mx2", "Q1", "<m3@x>", "c@sender.org", "", "", "", ""},
    {EV_DELIVERY, ST_SENT, T0 + 4 * SEC, "mx2", "Q1", "<m3@x>", "c@sender.org", "w@gmail.com", "",
     "2.0.0", "250 ok"},
    {EV_DELIVERY, ST_BOUNCED, T0 + 5 * SEC, "mx2", "Q1", "<m3@x>", "c@sender.org", "z@yahoo.com",
     "userunknown", "5.1.1", "550 unknown"},
    {EV_REJECT, ST_NONE, T0 + 6 * SEC, "mx2", "", "", "spam@bad.org", "u2@Gmail.com", "blocked",
     "5.7.1", "554 go away"},
};

/* ss - EVENT_SET for a C string */
#define SS(ev, field, s) EVENT_SET((ev), field, (s), strlen(s))

/* load_read_set - read_rows[] into the database, one line each */
static void load_read_set(struct fixture *f)
{
    struct db_batch *b = db_batch_create(f->db);
    struct event ev;
    int64_t src, cp;
    size_t i;

    assert_int_equal(db_source_open(f->db, "mail.log", "read-set", NULL, 0, &src, &cp), 0);
    for (i = 0; i < ARRAY_LEN(read_rows); i++) {
        const struct read_row *r = &read_rows[i];

        mk_event(&ev, r->type, r->t, r->host);
        ev.status = r->st;
        SS(&ev, queue_id, r->qid);
        SS(&ev, message_id, r->msgid);
        SS(&ev, sender, r->sender);
        SS(&ev, recipient, r->rcpt);
        SS(&ev, reason, r->reason);
        SS(&ev, dsn, r->dsn);
        SS(&ev, reply, r->reply);
        if (r->type == EV_BOUNCE_NOTICE)
            SS(&ev, notice_queue_id, "QN");
        db_batch_add(b, src, (int64_t)i * 100, &ev);
    }
    assert_int_equal(db_batch_commit(b, src, 10000, NULL), 0);
    db_batch_free(b);
}

/* query_all - a query over all time and all hosts */
static void query_all(struct db_query *q)
{
    memset(q, 0, sizeof(*q));
    q->range.from_us = 0;
    q->range.to_us = INT64_MAX;
}

struct collect {
    int n, stop_after;
    struct db_point pts[16];
    struct db_domain_row doms[16];
    struct db_reason_row reasons[16];
    struct db_metric_row metrics[32];
    struct event evs[32];
};

static int got_point(void *arg, const struct db_point *p)
{
    struct collect *c = arg;

    if (c->n < 16)
        c->pts[c->n] = *p;
    return ++c->n == c->stop_after ? -1 : 0;
}

static int got_domain(void *arg, const struct db_domain_row *r)
{
    struct collect *c = arg;

    if (c->n < 16)
        c->doms[c->n] = *r;
    c->n++;
    return 0;
}

static int got_reason(void *arg, const struct db_reason_row *r)
{
    struct collect *c = arg;

    if (c->n < 16)
        c->reasons[c->n] = *r;
    c->n++;
    return 0;
}

static int got_metric(void *arg, const struct db_metric_row *r)
{
    struct collect *c = arg;

    if (c->n < 32)
        c->metrics[c->n] = *r;
    c->n++;
    return 0;
}

static int got_event(void *arg, const struct event *ev)
{
    struct collect *c = arg;

    if (c->n < 32)
        c->evs[c->n] = *ev;
    return ++c->n == c->stop_after ? -1 : 0;
}

/* test_read_delays - a delivery's four delays are read back as they were stored, an empty
 * one as NaN */
static void test_read_delays(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct db_query q;
    struct collect c;
    const struct event *d = NULL;
    int64_t src, cp;
    int i;

    assert_int_equal(db_source_open(f->db, "mail.log", "id-1", NULL, 0, &src, &cp), 0);
    add_sample(b, src);
    assert_int_equal(db_batch_commit(b, src, 700, &res), 0);
    db_batch_free(b);
    sql_exec(f->admin, "INSERT INTO deliveries (time, host, queue_id, recipient, status, delays,"
                       " source_id, pos, seq) VALUES ('2025-11-28 17:13:30+00', 'mx1', 'QD1',"
                       " 'd@example.com', 'sent', '0.1//123456.78/', 1, 900, 0)");
    memset(&q, 0, sizeof(q));
    strcpy(q.recipient, "bob@Gmail.COM");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 100, got_event, &c), 0);
    for (i = 0; i < c.n && i < 32; i++)
        if (c.evs[i].type == EV_DELIVERY && c.evs[i].has_delays)
            d = &c.evs[i];
    assert_non_null(d);
    assert_true(d->delays[0] == 0.1 && d->delays[1] == 0 && d->delays[2] == 0.4 &&
                d->delays[3] == 0.8);
    strcpy(q.recipient, "d@example.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 100, got_event, &c), 0);
    assert_int_equal(c.n, 1);
    assert_true(c.evs[0].has_delays);
    assert_true(c.evs[0].delays[0] == 0.1 && isnan(c.evs[0].delays[1]) &&
                c.evs[0].delays[2] == 123456.78 && isnan(c.evs[0].delays[3]));
}

/* test_read_timeseries - buckets by hour, minute and day; filters; stopping early */
static void test_read_timeseries(void **state)
{
    struct fixture *f = *state;
    struct db_query q;
    struct collect c;

    load_read_set(f);
    query_all(&q);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_HOUR, got_point, &c), 0);
    /* T0 is 17:13:20: hours 17 (most), 18 (one deferral), 19 (expired). */
    assert_int_equal(c.n, 3);
    assert_int_equal(c.pts[0].bucket_us, T0 - 800 * SEC);
    assert_int_equal(c.pts[0].received, 3);
    assert_int_equal(c.pts[0].sent, 2);
    assert_int_equal(c.pts[0].bounced, 2);
    assert_int_equal(c.pts[0].deferred, 1);
    assert_int_equal(c.pts[0].rejected, 1);
    assert_int_equal(c.pts[1].bucket_us, T0 - 800 * SEC + 3600 * SEC);
    assert_int_equal(c.pts[1].deferred, 1);
    assert_int_equal(c.pts[2].expired, 1);

    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_MINUTE, got_point, &c), 0);
    assert_int_equal(c.n, 4); /* 17:13, 17:14, 18:13, 19:13 */
    assert_int_equal(c.pts[0].bucket_us, T0 - 20 * SEC);

    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_DAY, got_point, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.pts[0].bucket_us, T0 - (17 * 3600 + 800) * SEC);
    assert_int_equal(c.pts[0].sent + c.pts[0].deferred + c.pts[0].bounced + c.pts[0].expired, 7);

    /* Filters: one host; a recipient domain (messages have none); a status. */
    memset(&c, 0, sizeof(c));
    strcpy(q.range.host, "mx2");
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_DAY, got_point, &c), 0);
    assert_int_equal(c.pts[0].received, 1);
    assert_int_equal(c.pts[0].sent + c.pts[0].bounced, 2);
    assert_int_equal(c.pts[0].rejected, 1);
    q.range.host[0] = 0;
    strcpy(q.domain, "GMAIL.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_DAY, got_point, &c), 0);
    assert_int_equal(c.pts[0].received, 0);
    assert_int_equal(c.pts[0].sent, 2);
    assert_int_equal(c.pts[0].bounced, 1);
    assert_int_equal(c.pts[0].rejected, 1);
    q.domain[0] = 0;
    strcpy(q.range.sender_domain, "sender.org");
    q.status = ST_BOUNCED;
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_DAY, got_point, &c), 0);
    assert_int_equal(c.pts[0].bounced, 2);
    assert_int_equal(c.pts[0].received + c.pts[0].sent + c.pts[0].rejected, 0);

    /* The callback stops the walk; that is not an error. */
    query_all(&q);
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_HOUR, got_point, &c), 0);
    assert_int_equal(c.n, 1);

    /* A range that ends before the data. */
    q.range.to_us = T0;
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_HOUR, got_point, &c), 0);
    assert_int_equal(c.n, 0);
}

/* test_read_domains - per domain counts, rates, the three orders, the limit */
static void test_read_domains(void **state)
{
    struct fixture *f = *state;
    struct db_query q;
    struct collect c;

    load_read_set(f);
    query_all(&q);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_domains(f->db, &q, DB_ORDER_VOLUME, 10, got_domain, &c), 0);
    assert_int_equal(c.n, 2);
    /* yahoo.com: 4 attempts (2 deferred, 1 expired, 1 bounced); gmail.com: 3 (2 sent). */
    assert_string_equal(c.doms[0].domain, "yahoo.com");
    assert_int_equal(c.doms[0].deferred, 2);
    assert_int_equal(c.doms[0].expired, 1);
    assert_int_equal(c.doms[0].bounced, 1);
    assert_true(c.doms[0].deferral_rate > 0.49 && c.doms[0].deferral_rate < 0.51);
    assert_string_equal(c.doms[1].domain, "gmail.com");
    assert_int_equal(c.doms[1].sent, 2);
    assert_int_equal(c.doms[1].bounced, 1);
    assert_true(c.doms[1].bounce_rate > 0.33 && c.doms[1].bounce_rate < 0.34);

    memset(&c, 0, sizeof(c));
    assert_int_equal(db_domains(f->db, &q, DB_ORDER_BOUNCE_RATE, 1, got_domain, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.doms[0].domain, "gmail.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_domains(f->db, &q, DB_ORDER_DEFERRAL_RATE, 10, got_domain, &c), 0);
    assert_string_equal(c.doms[0].domain, "yahoo.com");

    strcpy(q.range.host, "mx2");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_domains(f->db, &q, DB_ORDER_VOLUME, 10, got_domain, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.doms[0].sent + c.doms[0].bounced + c.doms[1].sent + c.doms[1].bounced, 2);
}

/* test_read_reasons - counts by reason, DSN and status, with an example reply */
static void test_read_reasons(void **state)
{
    struct fixture *f = *state;
    struct db_query q;
    struct collect c;

    load_read_set(f);
    query_all(&q);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_reasons(f->db, &q, 10, got_reason, &c), 0);
    assert_int_equal(c.n, 3);
    /* Two of each of the first two (ties by name), sent attempts never appear. */
    assert_string_equal(c.reasons[0].reason, "blocked");
    assert_string_equal(c.reasons[0].dsn, "4.7.0");
    assert_int_equal(c.reasons[0].status, ST_DEFERRED);
    assert_int_equal(c.reasons[0].count, 2);
    assert_non_null(strstr(c.reasons[0].example, "421 4.7.0"));
    assert_string_equal(c.reasons[1].reason, "userunknown");
    assert_int_equal(c.reasons[1].count, 2);
    assert_int_equal(c.reasons[1].status, ST_BOUNCED);
    assert_string_equal(c.reasons[2].reason, "expired");
    assert_int_equal(c.reasons[2].count, 1);

    strcpy(q.reason, "userunknown");
    strcpy(q.domain, "gmail.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_reasons(f->db, &q, 10, got_reason, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.reasons[0].count, 1);
    assert_string_equal(c.reasons[0].example, "550 5.1.1 no such user");
}

/* message_scans - the scans of the messages' partitions so far, the reports' connection's
 * pending statistics flushed first */
static long long message_scans(struct fixture *f)
{
    PQclear(PQexec(f->db->conn, "SELECT pg_stat_force_next_flush()"));
    sql_exec(f->admin, "SELECT pg_stat_clear_snapshot()");
    return sql_int(f->admin, "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)"
                             " FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                             " AND relname LIKE 'messages%'");
}

/* test_attempts_skip_messages - the aggregates of attempts alone do not scan the messages of
 * their range's ends; one that counts received messages does */
static void test_attempts_skip_messages(void **state)
{
    struct fixture *f = *state;
    struct db_summary sum;
    struct db_query q;
    struct collect c;
    long long n0, n1;

    load_read_set(f);
    memset(&q, 0, sizeof(q));
    /* Ends inside a minute: the events between them and the next minute are read. */
    q.range.from_us = T0 - 30 * SEC;
    q.range.to_us = T0 + 7230 * SEC;
    n0 = message_scans(f);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_reasons(f->db, &q, 10, got_reason, &c), 0);
    assert_int_equal(c.n, 3);
    strcpy(q.range.sender_domain, "other.org"); /* not the bounded search: the events' query */
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_domains(f->db, &q, DB_ORDER_VOLUME, 10, got_domain, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.doms[0].domain, "yahoo.com");
    n1 = message_scans(f);
    assert_int_equal(n1, n0);

    /* The control: the summary counts the messages received, so it reads them. */
    q.range.sender_domain[0] = 0;
    assert_int_equal(db_summary(f->db, &q.range, &sum), 0);
    assert_int_equal(sum.received, 3);
    assert_true(message_scans(f) > n1);
}

/* index_count - the indexes of one table whose definition matches a LIKE pattern */
static long long index_count(struct fixture *f, const char *table, const char *like)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()"
             " AND tablename = '%s' AND indexdef LIKE '%s'",
             table, like);
    return sql_int(f->admin, sql);
}

/* test_read_bounces - cursor paging visits every non-sent attempt once, newest first */
static void test_read_bounces(void **state)
{
    struct fixture *f = *state;
    char cur[DB_CURSOR_LEN], next[DB_CURSOR_LEN], err[128];
    static const char *const bad[] = {
        "x", "1.2.3", "1.2.3.4.5", "1.0.3.4", "1.2.3.4x", "99999999999999999999.1.1.1", "1..3.4"};
    struct db_query q;
    struct collect c;
    int pages = 0;
    size_t i;

    load_read_set(f);
    query_all(&q);
    memset(&c, 0, sizeof(c));
    cur[0] = 0;
    do {
        assert_int_equal(db_bounces(f->db, &q, 2, cur, next, got_event, &c, err, sizeof(err)), 0);
        strcpy(cur, next);
        pages++;
    } while (cur[0] != 0 && pages < 10);
    /* 2 bounced, 2 deferred, 1 expired: pages of 2, 2, 1. */
    assert_int_equal(pages, 3);
    assert_int_equal(c.n, 5);
    for (i = 1; i < 5; i++)
        assert_true(c.evs[i - 1].time_us > c.evs[i].time_us);
    assert_int_equal(c.evs[0].status, ST_EXPIRED);
    assert_string_equal(c.evs[0].reply, "gave up");
    assert_string_equal(c.evs[4].recipient, "u2@Gmail.com");
    assert_string_equal(c.evs[4].dsn, "5.1.1");
    assert_int_equal(c.evs[4].mta, MTA_POSTFIX);
    assert_int_equal(c.evs[4].type, EV_DELIVERY);

    /* Exactly one page: no cursor. One status; one domain. */
    memset(&c, 0, sizeof(c));
    q.status = ST_DEFERRED;
    assert_int_equal(db_bounces(f->db, &q, 2, "", next, got_event, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(next, "");
    q.status = ST_NONE;
    strcpy(q.domain, "gmail.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_bounces(f->db, &q, 10, "", next, got_event, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 1);

    /* One provider (the recipient domain names it here): yahoo's four, google's one, none of
     * a provider that never failed; a partial index holds the failures by provider. */
    q.domain[0] = 0;
    strcpy(q.provider, "yahoo");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_bounces(f->db, &q, 10, "", next, got_event, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 4);
    strcpy(q.provider, "google");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_bounces(f->db, &q, 10, "", next, got_event, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.evs[0].recipient, "u2@Gmail.com");
    strcpy(q.provider, "apple");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_bounces(f->db, &q, 10, "", next, got_event, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(index_count(f, "deliveries",
                                 "%btree (provider, \"time\") WHERE (status <> ''sent''::text)"),
                     1);
    q.provider[0] = 0;

    for (i = 0; i < ARRAY_LEN(bad); i++) {
        err[0] = 0;
        assert_int_equal(db_bounces(f->db, &q, 2, bad[i], next, got_event, &c, err, sizeof(err)),
                         -1);
        assert_true(err[0] != 0);
    }
}

/* test_read_trail - by queue id, message-id and recipient; queue id reuse across hosts */
static void test_read_trail(void **state)
{
    struct fixture *f = *state;
    struct db_query q;
    struct collect c;

    load_read_set(f);
    memset(&q, 0, sizeof(q));
    strcpy(q.message_id, "<m2@x>");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 100, got_event, &c), 0);
    /* Q2: message, 3 deliveries, bounce notice, oldest first. */
    assert_int_equal(c.n, 5);
    assert_int_equal(c.evs[0].type, EV_MESSAGE);
    assert_string_equal(c.evs[0].sender, "b@other.org");
    assert_int_equal(c.evs[3].status, ST_EXPIRED);
    assert_int_equal(c.evs[4].type, EV_BOUNCE_NOTICE);
    assert_string_equal(c.evs[4].notice_queue_id, "QN");

    /* Q1 exists on both hosts: both messages' events. */
    memset(&q, 0, sizeof(q));
    strcpy(q.queue_id, "Q1");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 100, got_event, &c), 0);
    assert_int_equal(c.n, 6);

    /* By recipient: the message it belongs to, and the reject of that address. */
    memset(&q, 0, sizeof(q));
    strcpy(q.recipient, "u2@Gmail.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 100, got_event, &c), 0);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.evs[3].type, EV_REJECT);
    assert_string_equal(c.evs[3].reason, "blocked");
    assert_int_equal(c.evs[3].smtp_code, -1);

    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 2, got_event, &c), 0);
    assert_int_equal(c.n, 2);
    memset(&q, 0, sizeof(q));
    strcpy(q.queue_id, "NOPE");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 100, got_event, &c), 0);
    assert_int_equal(c.n, 0);
}

/* test_read_metrics - all-time counts with DSN classes */
static void test_read_metrics(void **state)
{
    struct fixture *f = *state;
    struct collect c;
    int64_t total = 0, bounced_5 = 0, rejects = 0;
    int i;

    load_read_set(f);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_metric_counts(f->db, got_metric, &c), 0);
    assert_true(c.n > 0 && c.n <= 32);
    for (i = 0; i < c.n; i++) {
        total += c.metrics[i].count;
        if (c.metrics[i].type == EV_DELIVERY && c.metrics[i].status == ST_BOUNCED &&
            strcmp(c.metrics[i].dsn_class, "5") == 0)
            bounced_5 += c.metrics[i].count;
        if (c.metrics[i].type == EV_REJECT)
            rejects += c.metrics[i].count;
    }
    assert_int_equal(total, 8); /* 7 deliveries + 1 reject */
    assert_int_equal(bounced_5, 2);
    assert_int_equal(rejects, 1);
}

/* test_read_export - more rows than one FETCH, in time order, memory per batch */
static void test_read_export(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_export *x;
    struct db_query q;
    struct event ev;
    int64_t src, cp, last = 0;
    int i, n = 0, nb = 0, rc;

    assert_int_equal(db_source_open(f->db, "mail.log", "export", NULL, 0, &src, &cp), 0);
    for (i = 0; i < 2500; i++) {
        mk_delivery(&ev, T0 + (2500 - i) * SEC, "mx1", "r@example.com",
                    i % 5 == 0 ? ST_BOUNCED : ST_SENT, "x");
        db_batch_add(b, src, i, &ev);
    }
    assert_int_equal(db_batch_commit(b, src, 2500, NULL), 0);
    db_batch_free(b);
    query_all(&q);
    x = db_export_open(f->db, DB_EXPORT_DELIVERIES, &q);
    assert_non_null(x);
    while ((rc = db_export_next(x, &ev)) == 1) {
        assert_true(ev.time_us > last);
        last = ev.time_us;
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(db_export_next(x, &ev), 0);
    db_export_close(x);
    assert_int_equal(n, 2500);

    x = db_export_open(f->db, DB_EXPORT_BOUNCES, &q);
    assert_non_null(x);
    while (db_export_next(x, &ev) == 1) {
        assert_int_equal(ev.status, ST_BOUNCED);
        nb++;
    }
    db_export_close(x);
    assert_int_equal(nb, 500);
    /* The connection is usable afterwards. */
    assert_int_equal(db_ping(f->db), 0);
}

/* lossy_pages - the heap pages the bitmap scan of EXPLAIN ANALYZE q read ("lossy=N") */
static long lossy_pages(struct fixture *f, const char *q)
{
    PGresult *r = PQexec(f->admin, q);
    long n = -1;

    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *p = strstr(PQgetvalue(r, i, 0), "lossy=");

        if (p != NULL)
            n = strtol(p + 6, NULL, 10);
    }
    PQclear(r);
    assert_true(n >= 0);
    return n;
}

/*
 * test_read_export_range - a bounded export: every attempt of [from, to) once, in time order,
 * those on an hour's edge and a microsecond before it included, across a gap of two years, and
 * nothing at "to" or before "from"
 */
static void test_read_export_range(void **state)
{
    struct fixture *f = *state;
    static const int64_t H = 3600 * SEC, Y = 365 * 24 * 3600 * SEC;
    struct db_batch *b = db_batch_create(f->db);
    struct db_export *x;
    struct db_query q;
    struct event ev;
    char sql[256], a[48], z[48];
    int64_t src, cp, from = T0 - 3 * H, to = T0 + 2 * Y + 5 * H, t;
    PGresult *r;
    int i, n = 0, rc;

    assert_int_equal(db_source_open(f->db, "mail.log", "export-range", NULL, 0, &src, &cp), 0);
    for (i = 0; i < 1200; i++) {
        /* Hours from "from" on, their edges and a microsecond before them, then the next
         * year's and the one after, and one at "to" and one before "from". */
        int k = i % 12;

        t = from + (i / 12) * (H / 4) + (k < 4 ? 0 : k < 8 ? -1 : 17 * SEC);
        if (i % 100 == 1)
            t += Y;
        if (i % 100 == 2)
            t += 2 * Y;
        if (i == 3)
            t = to;
        if (i == 4)
            t = from - 1;
        mk_delivery(&ev, t, "mx1", "r@example.com", i % 5 == 0 ? ST_BOUNCED : ST_SENT, "x");
        db_batch_add(b, src, i, &ev);
    }
    assert_int_equal(db_batch_commit(b, src, 1200, NULL), 0);
    db_batch_free(b);
    memset(&q, 0, sizeof(q));
    q.range.from_us = from;
    q.range.to_us = to;
    time_format_rfc3339(from, a, sizeof(a));
    time_format_rfc3339(to, z, sizeof(z));
    snprintf(sql, sizeof(sql),
             "SELECT (extract(epoch FROM time) * 1000000)::bigint FROM deliveries"
             " WHERE time >= '%s' AND time < '%s' ORDER BY time, source_id, pos, seq",
             a, z);
    r = PQexec(f->admin, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_true(PQntuples(r) > 1100 && PQntuples(r) < 1200);
    x = db_export_open(f->db, DB_EXPORT_DELIVERIES, &q);
    assert_non_null(x);
    while ((rc = db_export_next(x, &ev)) == 1) {
        assert_true(n < PQntuples(r));
        assert_int_equal(ev.time_us, strtoll(PQgetvalue(r, n, 0), NULL, 10));
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, PQntuples(r));
    db_export_close(x);
    PQclear(r);
    assert_int_equal(db_ping(f->db), 0);
}

/*
 * test_summarize - rollups_domain_hour's hour has a BRIN index of minmax-multi ranges, the
 * messages' and the attempts' time a B-tree; rows commits add leave page ranges unsummarized,
 * which every scan of the index reads, until db_summarize() summarizes them (once: a second
 * call finds none)
 */
static void test_summarize(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    static const char q[] =
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)"
        " SELECT count(*) FROM rollups_domain_hour"
        " WHERE hour >= '2025-11-29T13:00:00Z' AND hour < '2025-11-29T14:00:00Z'";
    struct event ev;
    int64_t src, cp, ranges = -1, pages;
    char rcpt[96];
    int h, i;

    assert_int_equal(
        index_count(f, "rollups_domain_hour", "%USING brin (hour timestamptz_minmax_multi_ops)%"),
        1);
    assert_int_equal(index_count(f, "messages", "%USING brin%"), 0);
    assert_int_equal(index_count(f, "messages", "%btree (\"time\")"), 1);
    assert_int_equal(index_count(f, "deliveries", "%btree (\"time\")"), 1);
    assert_int_equal(db_source_open(f->db, "mail.log", "brin", NULL, 0, &src, &cp), 0);
    /* The first commit summarizes (none was done yet); later ones within a minute do not. */
    mk_event(&ev, EV_DELIVERY, T0, "mx1");
    ev.status = ST_SENT;
    EVENT_SET(&ev, recipient, "u@first.example", 15);
    db_batch_add(b, src, 0, &ev);
    assert_int_equal(db_batch_commit(b, src, 1, NULL), 0);
    sql_exec(f->admin, "ALTER TABLE rollups_domain_hour SET (autovacuum_enabled = off)");
    /* 40 hours, a commit each, of 1000 attempts to domains of their own: a rollup row each,
     * stored in the order of the hours as a live ingest stores them. */
    for (h = 0; h < 40; h++) {
        for (i = 0; i < 1000; i++) {
            mk_event(&ev, EV_DELIVERY, T0 + (int64_t)h * 3600 * SEC + i * 3 * SEC, "mx1");
            ev.status = ST_SENT;
            snprintf(rcpt, sizeof(rcpt), "u@domain-%02d-%04d.a-rather-long-name.example", h, i);
            EVENT_SET(&ev, recipient, rcpt, strlen(rcpt));
            db_batch_add(b, src, 1 + h * 1000 + i, &ev);
        }
        assert_int_equal(db_batch_commit(b, src, 2 + h * 1000 + i, NULL), 0);
    }
    db_batch_free(b);
    pages = sql_int(f->admin, "SELECT pg_relation_size('rollups_domain_hour') / 8192");
    assert_true(pages > 512);

    /* One hour of the 40: unsummarized, the scan reads every page but those of the first
     * range (summarized by the first commit, and kept so by each insert into it);
     * summarized, the range or two that hold the hour. */
    sql_exec(f->admin, "SET enable_seqscan = off");
    assert_true(lossy_pages(f, q) >= pages - 128);
    assert_int_equal(db_summarize(f->db, &ranges), 0);
    assert_true(ranges > 3);
    assert_true(lossy_pages(f, q) <= 256);
    sql_exec(f->admin, "RESET enable_seqscan");
    assert_int_equal(db_summarize(f->db, &ranges), 0);
    assert_int_equal(ranges, 0);
}

/* facts_count - the events of a kind in [a, b) counted directly, to check the reports by */
static long long facts_count(struct fixture *f, const char *kind, int64_t a, int64_t b)
{
    char ta[48], tb[48], sql[256];

    time_format_rfc3339(a, ta, sizeof(ta));
    time_format_rfc3339(b, tb, sizeof(tb));
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM facts WHERE kind = '%s' AND time >= '%s' AND time < '%s'", kind,
             ta, tb);
    return sql_int(f->admin, sql);
}

/* facts_check - each count of s against the events of its kind in [a, b) */
static void facts_check(struct fixture *f, const struct db_summary *s, int64_t a, int64_t b)
{
    assert_int_equal(s->received, facts_count(f, "received", a, b));
    assert_int_equal(s->sent, facts_count(f, "sent", a, b));
    assert_int_equal(s->deferred, facts_count(f, "deferred", a, b));
    assert_int_equal(s->bounced, facts_count(f, "bounced", a, b));
    assert_int_equal(s->expired, facts_count(f, "expired", a, b));
    assert_int_equal(s->rejected, facts_count(f, "rejected", a, b));
}

/* test_rollup_ranges - any range, hour-aligned or not, adds up exactly like the events */
static void test_rollup_ranges(void **state)
{
    struct fixture *f = *state;
    static const int64_t H = 3600 * SEC, h0 = T0 - 800 * SEC; /* the hour of T0 */
    static const int64_t ranges[][2] = {
        {T0, T0 + 60 * SEC},                    /* inside one hour: events only */
        {h0, h0 + H},                           /* one whole hour: rollups only */
        {h0 - H, h0 + 3 * H},                   /* whole hours around everything */
        {T0 + 2 * SEC, T0 + 7201 * SEC},        /* partial at both ends, whole hours between */
        {h0 + 30 * SEC, h0 + 2 * H},            /* partial start */
        {h0, T0 + 3600 * SEC},                  /* partial end: the deferral at T0+1h is out */
        {T0 + 7200 * SEC, T0 + 7200 * SEC + 1}, /* one microsecond */
    };
    struct db_summary s;
    struct db_range r;
    size_t i;

    load_read_set(f);
    for (i = 0; i < ARRAY_LEN(ranges); i++) {
        memset(&r, 0, sizeof(r));
        r.from_us = ranges[i][0];
        r.to_us = ranges[i][1];
        assert_int_equal(db_summary(f->db, &r, &s), 0);
        facts_check(f, &s, r.from_us, r.to_us);
    }
}

/* minute_check - each minute bucket of q's range against the events of its part of the range */
static void minute_check(struct fixture *f, const struct db_query *q, const struct collect *c)
{
    static const int64_t M = 60 * SEC;
    struct db_summary total = {0, 0, 0, 0, 0, 0};
    int i;

    assert_true(c->n <= 16);
    for (i = 0; i < c->n; i++) {
        const struct db_point *p = &c->pts[i];
        const struct db_summary s = {p->received, p->sent,    p->deferred,
                                     p->bounced,  p->expired, p->rejected};
        int64_t a = p->bucket_us < q->range.from_us ? q->range.from_us : p->bucket_us;
        int64_t b = p->bucket_us + M > q->range.to_us ? q->range.to_us : p->bucket_us + M;

        assert_int_equal(p->bucket_us % M, 0);
        facts_check(f, &s, a, b);
        total.received += s.received;
        total.sent += s.sent;
        total.deferred += s.deferred;
        total.bounced += s.bounced;
        total.expired += s.expired;
        total.rejected += s.rejected;
    }
    /* No bucket with events is missing. */
    facts_check(f, &total, q->range.from_us, q->range.to_us);
}

/*
 * test_minute_series - minute buckets add up like the events over ragged ranges: the whole
 * minutes come from rollups_host_minute (spoiling it shows), the partial ones at the ends from
 * the events, and the rebuild restores the rollup.
 */
static void test_minute_series(void **state)
{
    struct fixture *f = *state;
    static const int64_t m0 = T0 - 20 * SEC; /* the minute of T0 */
    static const int64_t ranges[][2] = {
        {T0 + 2 * SEC, T0 + 62 * SEC},          /* partial minutes only */
        {m0 - 3600 * SEC, m0 + 7320 * SEC},     /* whole minutes around everything */
        {T0 + 3 * SEC, T0 + 7201 * SEC},        /* partial at both ends */
        {m0 + 60 * SEC, T0 + 3600 * SEC + 1},   /* whole start, partial end */
        {T0 + 7200 * SEC, T0 + 7200 * SEC + 1}, /* one microsecond */
    };
    struct db_query q;
    struct collect c;
    size_t i;

    load_read_set(f);
    for (i = 0; i < ARRAY_LEN(ranges); i++) {
        memset(&q, 0, sizeof(q));
        q.range.from_us = ranges[i][0];
        q.range.to_us = ranges[i][1];
        memset(&c, 0, sizeof(c));
        assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_MINUTE, got_point, &c), 0);
        minute_check(f, &q, &c);
    }
    /* The host filter: mx2's minute 17:13 holds its message, two attempts and its reject. */
    memset(&q, 0, sizeof(q));
    q.range.from_us = ranges[1][0];
    q.range.to_us = ranges[1][1];
    strcpy(q.range.host, "mx2");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_MINUTE, got_point, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.pts[0].bucket_us, m0);
    assert_int_equal(c.pts[0].received + c.pts[0].sent + c.pts[0].bounced + c.pts[0].rejected, 4);

    /* The whole minutes are the rollup's: spoiled, they show; the partial ones are not. */
    sql_exec(f->admin, "UPDATE rollups_host_minute SET n = n + 1000 WHERE kind = 'sent'");
    q.range.host[0] = 0;
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_MINUTE, got_point, &c), 0);
    assert_true(c.n >= 1 && c.pts[0].sent >= 1000);
    q.range.from_us = ranges[0][0];
    q.range.to_us = ranges[0][1];
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_MINUTE, got_point, &c), 0);
    minute_check(f, &q, &c);
    /* A sender-domain filter reads the events alone. */
    q.range.from_us = ranges[1][0];
    q.range.to_us = ranges[1][1];
    strcpy(q.range.sender_domain, "sender.org");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_MINUTE, got_point, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.pts[0].sent, 2);
    assert_int_equal(c.pts[0].bounced, 2);
    {
        int64_t rows = 0;

        assert_int_equal(db_rebuild_rollups(f->db, &rows), 0);
    }
    q.range.sender_domain[0] = 0;
    for (i = 0; i < ARRAY_LEN(ranges); i++) {
        q.range.from_us = ranges[i][0];
        q.range.to_us = ranges[i][1];
        memset(&c, 0, sizeof(c));
        assert_int_equal(db_timeseries(f->db, &q, DB_BUCKET_MINUTE, got_point, &c), 0);
        minute_check(f, &q, &c);
    }
}

/* provider_sum - db_providers() callback: add up all providers' counts */
static int provider_sum(void *arg, const struct db_provider_row *p)
{
    int64_t *t = arg;

    t[0] += p->sent;
    t[1] += p->deferred;
    t[2] += p->bounced;
    t[3] += p->expired;
    return 0;
}

/* deliveries_count - attempts with a provider of one status in [a, b), from the events */
static long long deliveries_count(struct fixture *f, const char *status, int64_t a, int64_t b)
{
    char ta[48], tb[48], sql[256];

    time_format_rfc3339(a, ta, sizeof(ta));
    time_format_rfc3339(b, tb, sizeof(tb));
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM deliveries WHERE provider IS NOT NULL AND status = '%s'"
             " AND time >= '%s' AND time < '%s'",
             status, ta, tb);
    return sql_int(f->admin, sql);
}

/*
 * test_provider_ranges - db_providers() adds up like the events over any range, whole hours
 * from rollups_provider_hour (spoiling them shows), and the rebuild restores that table.
 */
static void test_provider_ranges(void **state)
{
    struct fixture *f = *state;
    static const int64_t H = 3600 * SEC, h0 = T0 - 800 * SEC;
    static const int64_t ranges[][2] = {
        {T0, T0 + 60 * SEC},
        {h0, h0 + H},
        {h0 - H, h0 + 3 * H},
        {T0 + 2 * SEC, T0 + 7201 * SEC},
        {h0 + 30 * SEC, h0 + 2 * H},
        {h0, T0 + 3600 * SEC},
        {h0 - H + 600 * SEC, h0 + 2 * H + 2700 * SEC},
        {h0 - 2400 * SEC, h0 + 2 * H + 1200 * SEC},
    };
    static const char *const st[4] = {"sent", "deferred", "bounced", "expired"};
    struct db_range r;
    int64_t t[4];
    int64_t rows = 0;
    size_t i, k;

    load_read_set(f);
    assert_true(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE provider IS NULL") == 0);
    for (i = 0; i < ARRAY_LEN(ranges); i++) {
        memset(&r, 0, sizeof(r));
        memset(t, 0, sizeof(t));
        r.from_us = ranges[i][0];
        r.to_us = ranges[i][1];
        assert_int_equal(db_providers(f->db, &r, 100, provider_sum, t), 0);
        for (k = 0; k < 4; k++)
            assert_int_equal(t[k], deliveries_count(f, st[k], r.from_us, r.to_us));
    }
    sql_exec(f->admin, "UPDATE rollups_provider_hour SET sent = sent + 1000");
    memset(&r, 0, sizeof(r));
    r.from_us = h0 - H;
    r.to_us = h0 + 3 * H;
    memset(t, 0, sizeof(t));
    assert_int_equal(db_providers(f->db, &r, 100, provider_sum, t), 0);
    assert_true(t[0] >= 1000 + deliveries_count(f, "sent", r.from_us, r.to_us));
    assert_int_equal(db_rebuild_rollups(f->db, &rows), 0);
    memset(t, 0, sizeof(t));
    assert_int_equal(db_providers(f->db, &r, 100, provider_sum, t), 0);
    assert_int_equal(t[0], deliveries_count(f, "sent", r.from_us, r.to_us));
}

/* provider_point_sum - db_provider_series() callback: add up every point's counts */
static int provider_point_sum(void *arg, const struct db_provider_point *p)
{
    struct db_provider_row row = {
        .sent = p->sent, .deferred = p->deferred, .bounced = p->bounced, .expired = p->expired};

    return provider_sum(arg, &row);
}

/* The range and bucket width of a provider series, and what prov_point_check() saw. */
struct prov_check {
    struct fixture *f;
    int64_t from_us, to_us, unit_us, total;
    int n;
};

/* prov_point_check - db_provider_series() callback: a point against the attempts it counts */
static int prov_point_check(void *arg, const struct db_provider_point *p)
{
    struct prov_check *c = arg;
    static const char *const st[4] = {"sent", "deferred", "bounced", "expired"};
    const int64_t got[4] = {p->sent, p->deferred, p->bounced, p->expired};
    int64_t a = p->bucket_us < c->from_us ? c->from_us : p->bucket_us;
    int64_t b = p->bucket_us + c->unit_us > c->to_us ? c->to_us : p->bucket_us + c->unit_us;
    char ta[48], tb[48], sql[320];

    time_format_rfc3339(a, ta, sizeof(ta));
    time_format_rfc3339(b, tb, sizeof(tb));
    for (int k = 0; k < 4; k++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM deliveries WHERE provider = '%s' AND status = '%s'"
                 " AND time >= '%s' AND time < '%s'",
                 p->provider, st[k], ta, tb);
        assert_int_equal(got[k], sql_int(c->f->admin, sql));
        c->total += got[k];
    }
    c->n++;
    return 0;
}

/*
 * test_provider_minutes - provider series by minute, hour and day add up like the attempts over
 * ragged ranges: whole minutes from rollups_provider_minute (spoiling it shows in a minute
 * series and at a report's ends), and the rebuild restores it.
 */
static void test_provider_minutes(void **state)
{
    struct fixture *f = *state;
    static const int64_t M = 60 * SEC, H = 3600 * SEC, m0 = T0 - 20 * SEC, h0 = T0 - 800 * SEC;
    static const int64_t ranges[][2] = {
        {T0 + 2 * SEC, T0 + 62 * SEC},                /* partial minutes only */
        {m0 - H, m0 + 2 * H + 5 * M},                 /* whole minutes around everything */
        {T0 + 3 * SEC, T0 + 7201 * SEC},              /* partial at both ends */
        {h0 + 20 * M + 5 * SEC, h0 + 2 * H + 14 * M}, /* an end's hour less the rest of it */
        {h0 - 40 * M, h0 + H + 50 * M},
        {T0 + 7200 * SEC, T0 + 7200 * SEC + 1},
    };
    static const int64_t units[] = {60 * SEC, 3600 * SEC, 86400 * SEC};
    static const enum db_bucket buckets[] = {DB_BUCKET_MINUTE, DB_BUCKET_HOUR, DB_BUCKET_DAY};
    struct db_range r;
    struct prov_check c;
    int64_t t[4], rows = 0;
    size_t i, k;

    load_read_set(f);
    for (int round = 0; round < 2; round++) {
        for (i = 0; i < ARRAY_LEN(ranges); i++) {
            for (k = 0; k < ARRAY_LEN(buckets); k++) {
                memset(&r, 0, sizeof(r));
                r.from_us = ranges[i][0];
                r.to_us = ranges[i][1];
                memset(&c, 0, sizeof(c));
                c.f = f;
                c.from_us = r.from_us;
                c.to_us = r.to_us;
                c.unit_us = units[k];
                assert_int_equal(db_provider_series(f->db, &r, buckets[k], prov_point_check, &c),
                                 0);
                assert_int_equal(c.total, deliveries_count(f, "sent", r.from_us, r.to_us) +
                                              deliveries_count(f, "deferred", r.from_us, r.to_us) +
                                              deliveries_count(f, "bounced", r.from_us, r.to_us) +
                                              deliveries_count(f, "expired", r.from_us, r.to_us));
            }
            memset(t, 0, sizeof(t));
            assert_int_equal(db_providers(f->db, &r, 100, provider_sum, t), 0);
            assert_int_equal(t[0], deliveries_count(f, "sent", r.from_us, r.to_us));
            assert_int_equal(t[2], deliveries_count(f, "bounced", r.from_us, r.to_us));
        }
        if (round == 1)
            break;
        /* Spoiled, the minute rollup shows in a minute series and at a report's ends: a range
         * that ends at 17:20:05 reads 17:00 .. 17:20 from it. */
        sql_exec(f->admin, "UPDATE rollups_provider_minute SET sent = sent + 1000");
        memset(&r, 0, sizeof(r));
        r.from_us = h0 - 2 * H;
        r.to_us = h0 + 20 * M + 5 * SEC;
        memset(t, 0, sizeof(t));
        assert_int_equal(db_providers(f->db, &r, 100, provider_sum, t), 0);
        assert_true(t[0] >= 1000 + deliveries_count(f, "sent", r.from_us, r.to_us));
        memset(t, 0, sizeof(t));
        assert_int_equal(db_provider_series(f->db, &r, DB_BUCKET_MINUTE, provider_point_sum, t), 0);
        assert_true(t[0] >= 1000 + deliveries_count(f, "sent", r.from_us, r.to_us));
        assert_int_equal(db_rebuild_rollups(f->db, &rows), 0);
    }
}

/*
 * test_rebuild_order - a rebuild writes each rollup table in time order, as the ingest does,
 * so that a range's rows share pages. enable_sort off makes the planner aggregate by hash,
 * whose output has no order of its own.
 */
static void test_rebuild_order(void **state)
{
    struct fixture *f = *state;
    static const char *const checks[] = {
        "SELECT count(*) FROM (SELECT hour, lag(hour) OVER (ORDER BY ctid) p FROM rollups) x"
        " WHERE hour < p",
        "SELECT count(*) FROM (SELECT minute, lag(minute) OVER (ORDER BY ctid) p"
        " FROM rollups_host_minute) x WHERE minute < p",
        "SELECT count(*) FROM (SELECT day, lag(day) OVER (ORDER BY ctid) p"
        " FROM rollups_domain_day) x WHERE day < p",
        "SELECT count(*) FROM (SELECT hour, lag(hour) OVER (ORDER BY ctid) p"
        " FROM rollups_domain_hour) x WHERE hour < p",
    };

    sql_exec(f->admin, "SELECT mailpulse_ensure_partitions('2025-11-28', '2025-12-10')");
    sql_exec(f->admin, "INSERT INTO sources (name, identity) VALUES ('gen', 'gen')");
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, recipient, recipient_domain, status, source_id,"
             " pos) SELECT timestamptz '2025-11-28T00:00:00Z' + i * interval '7 minutes',"
             " 'mx' || (i % 3), 'u@d' || (i % 41) || '.example', 'd' || (i % 41) || '.example',"
             " (ARRAY['sent', 'deferred', 'bounced'])[i % 3 + 1], (SELECT id FROM sources),"
             " i FROM generate_series(1, 2000) i");
    sql_exec(f->db->conn, "SET enable_sort = off");
    assert_int_equal(db_rebuild_rollups(f->db, NULL), 0);
    sql_exec(f->db->conn, "RESET enable_sort");
    assert_true(sql_int(f->admin, "SELECT count(*) FROM rollups_host_minute") > 1000);
    for (size_t i = 0; i < ARRAY_LEN(checks); i++)
        assert_int_equal(sql_int(f->admin, checks[i]), 0);
}

/* test_rollups_read_and_rebuilt - whole hours come from rollups; rebuild restores them */
static void test_rollups_read_and_rebuilt(void **state)
{
    struct fixture *f = *state;
    struct db_summary s, s0;
    struct db_range r;
    struct db_query q;
    struct collect c;
    long long before;
    int64_t rows = 0;

    load_read_set(f);
    before = sql_int(f->admin, "SELECT count(*) FROM rollups");
    /* Spoil the rollups: the whole-hour reports show it, a sub-hour range does not. */
    sql_exec(f->admin, "UPDATE rollups SET n = n + 1000 WHERE kind = 'sent'");
    sql_exec(f->admin, "UPDATE rollups_host SET n = n + 1000 WHERE kind = 'sent'");
    sql_exec(f->admin, "UPDATE rollups_domain_hour SET sent = sent + 1000 WHERE sent > 0");
    memset(&r, 0, sizeof(r));
    r.to_us = INT64_MAX;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, 2002);
    r.from_us = T0;
    r.to_us = T0 + 60 * SEC;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, 2);
    query_all(&q);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_domains(f->db, &q, DB_ORDER_VOLUME, 10, got_domain, &c), 0);
    assert_string_equal(c.doms[0].domain, "gmail.com");
    assert_int_equal(c.doms[0].sent, 2002); /* two rollup rows: mx1 and mx2 */
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_metric_counts(f->db, got_metric, &c), 0);

    assert_int_equal(db_rebuild_rollups(f->db, &rows), 0);
    assert_int_equal(rows, before);
    memset(&r, 0, sizeof(r));
    r.to_us = INT64_MAX;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, 2);
    assert_int_equal(s.received, 3);
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups"), 11); /* not the notice */
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups_host"), 11);

    /* A replay of the whole set adds nothing to the rollups. */
    load_read_set(f);
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups"), 11);
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups_host"), 11);
    /* With a sender domain the sender rollups answer for the attempts, and the received rows
     * of "rollups" for the messages: spoiled, they show; the others do not. */
    strcpy(r.sender_domain, "sender.org");
    assert_int_equal(db_summary(f->db, &r, &s0), 0);
    assert_true(s0.sent > 0 && s0.received > 0);
    sql_exec(f->admin, "UPDATE rollups SET n = n + 1000 WHERE kind = 'sent'");
    sql_exec(f->admin, "UPDATE rollups SET n = n + 1000 WHERE kind = 'received'"
                       " AND sender_domain = 'sender.org'");
    sql_exec(f->admin, "UPDATE rollups_sender_day SET sent = sent + 1000"
                       " WHERE axis = 'sender_domain' AND key = 'sender.org' AND sent > 0");
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, s0.sent + 1000 * sql_int(f->admin, "SELECT count(*)"
                                                                " FROM rollups_sender_day"
                                                                " WHERE key = 'sender.org'"
                                                                " AND axis = 'sender_domain'"
                                                                " AND sent > 0"));
    assert_int_equal(s.received, s0.received + 1000 * sql_int(f->admin, "SELECT count(*)"
                                                                        " FROM rollups WHERE"
                                                                        " kind = 'received' AND"
                                                                        " sender_domain ="
                                                                        " 'sender.org'"));
    r.sender_domain[0] = 0;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, 2);
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, 2);
}

/*
 * The long-tail set of test_domain_grains: N_TAIL deliveries between 2026-10-20 and
 * 2026-11-10 (across a month boundary) at times with arbitrary microseconds, on two hosts,
 * 30 % to one big domain and the rest to a domain of rank 1..80 drawn log-uniformly; every
 * fifth rank bounces and every seventh defers more than the others.
 */
#define N_TAIL  6000
#define OCT20   (1792454400LL * SEC)
#define NOV01   (1793491200LL * SEC)
#define TAIL_US (21 * 86400 * SEC)

/* lcg - a deterministic random number in [0, 1) */
static double lcg(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*x >> 11) / 9007199254740992.0;
}

/* load_tail - the long-tail set, through the ingest (so its rollups are the ingest's) */
static void load_tail(struct fixture *f)
{
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct event ev;
    int64_t src, ck;
    uint64_t x = 42;
    char rcpt[64];
    int i;

    assert_int_equal(db_source_open(f->db, "tail", "tail", NULL, 0, &src, &ck), 0);
    for (i = 0; i < N_TAIL; i++) {
        int64_t t = OCT20 + (int64_t)(lcg(&x) * (double)TAIL_US);
        int rank = (int)exp(lcg(&x) * log(81.0));
        double u = lcg(&x);
        enum event_status st = ST_SENT;

        if (lcg(&x) < 0.3)
            rank = 0;
        snprintf(rcpt, sizeof(rcpt), "u%d@%s%d.example", i % 97, rank ? "tail" : "big", rank);
        if (u < 0.01)
            st = ST_EXPIRED;
        else if (u < 0.05 + (rank % 5 == 4 ? 0.3 : 0))
            st = ST_BOUNCED;
        else if (u < 0.1 + (rank % 7 == 6 ? 0.4 : 0))
            st = ST_DEFERRED;
        mk_delivery(&ev, t, i % 2 ? "mx1" : "mx2", rcpt, st, "250 2.0.0 OK");
        db_batch_add(b, src, i, &ev);
        if (db_batch_count(b) == 1000)
            assert_int_equal(db_batch_commit(b, src, i, &res), 0);
    }
    assert_int_equal(db_batch_commit(b, src, N_TAIL, &res), 0);
    db_batch_free(b);
}

/* got_domain_line - db_domains() callback: "domain sent deferred bounced expired" lines */
static int got_domain_line(void *arg, const struct db_domain_row *r)
{
    buf_printf(arg, "%s%s %lld %lld %lld %lld", ((struct buf *)arg)->len ? "\n" : "", r->domain,
               (long long)r->sent, (long long)r->deferred, (long long)r->bounced,
               (long long)r->expired);
    return 0;
}

/* domains_counted - what db_domains() must answer, counted over the attempt rows */
static void domains_counted(struct fixture *f, int64_t a, int64_t b, const char *host,
                            enum db_domain_order o, int limit, char *out, size_t outlen)
{
    static const char *const order[] = {
        [DB_ORDER_VOLUME] = "total DESC",
        [DB_ORDER_BOUNCE_RATE] = "bo::float8 / total DESC, total DESC",
        [DB_ORDER_DEFERRAL_RATE] = "df::float8 / total DESC, total DESC",
    };
    char ta[48], tb[48], sql[1300];

    time_format_rfc3339(a, ta, sizeof(ta));
    time_format_rfc3339(b, tb, sizeof(tb));
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(string_agg(format('%%s %%s %%s %%s %%s', recipient_domain, st, df,"
             " bo, ex), E'\\n' ORDER BY k), '') FROM (SELECT *, row_number() OVER (ORDER BY %s,"
             " recipient_domain) k FROM (SELECT recipient_domain,"
             " count(*) FILTER (WHERE status = 'sent') st,"
             " count(*) FILTER (WHERE status = 'deferred') df,"
             " count(*) FILTER (WHERE status = 'bounced') bo,"
             " count(*) FILTER (WHERE status = 'expired') ex, count(*) total,"
             " sum(count(*)) OVER () everything FROM deliveries"
             " WHERE time >= '%s' AND time < '%s' AND ('%s' = '' OR host = '%s') GROUP BY 1) d"
             " WHERE recipient_domain IS NOT NULL AND (%s OR total * 1000 >= everything)) o"
             " WHERE k <= %d",
             order[o], ta, tb, host, host, o == DB_ORDER_VOLUME ? "true" : "false", limit);
    sql_str(f->admin, sql, out, outlen);
}

/*
 * test_domain_grains - per-domain reports (day and month rollups, the bound) and totals (hour
 * and minute rollups) equal the counts over the attempt rows, for ranges with ragged edges:
 * mid-hour, mid-day, mid-month, across the month boundary, on whole hours, days, a month.
 */
static void test_domain_grains(void **state)
{
    struct fixture *f = *state;
    static const int64_t H = 3600 * SEC, D = 86400 * SEC;
    static const int64_t ranges[][2] = {
        {NOV01 - 2 * H - 1234567, NOV01 + 3 * H + 7654321},         /* mid-hour, across months */
        {NOV01 - 30 * H - 17 * SEC, NOV01 + 40 * H + 3 * SEC},      /* mid-day, days between */
        {NOV01 + 5 * D + 13 * H + 5 * SEC, NOV01 + 6 * D + 14 * H}, /* 25 hours, one month */
        {OCT20 + 5 * D + 611 * SEC, NOV01 + 7 * D + 8 * H + 59},    /* mid-month to mid-month */
        {OCT20 + 2 * D, NOV01 + 3 * D},                             /* whole days */
        {NOV01 + 4 * H, NOV01 + 28 * H},                            /* a 24-hour range */
        {NOV01 - 31 * D, NOV01},                                    /* the whole of October */
        {OCT20 - 9 * D, OCT20 + 40 * D},                            /* beyond both ends */
        {NOV01 + 100, NOV01 + H + 100},                             /* one hour, no whole hour */
        /* Ends whose hour comes whole from the rollups, less the rest of it: the last,
         * both, and a last hour before midnight, which takes the whole day. */
        {NOV01 + 2 * D + 5 * H + 3000 * SEC + 7, NOV01 + 3 * D + 9 * H + 2460 * SEC + 3},
        {NOV01 + 5 * D + 1200 * SEC, NOV01 + 6 * D + 2 * H + 2700 * SEC},
        {NOV01 + 12 * H + 600 * SEC, NOV01 + 3 * D - 600 * SEC},
    };
    static const int limits[] = {1, 3, 10, 200};
    static const char *const hosts[] = {"", "mx1", "mx2", "mx9"};
    char want[8192];
    struct db_query q;
    struct db_summary s;
    struct buf got;
    size_t i, k, h;
    int o, rc;

    load_tail(f);
    buf_init(&got);
    for (i = 0; i < ARRAY_LEN(ranges) * ARRAY_LEN(hosts); i++) {
        const char *host = hosts[i % ARRAY_LEN(hosts)];

        h = i % ARRAY_LEN(hosts);
        memset(&q, 0, sizeof(q));
        q.range.from_us = ranges[i / ARRAY_LEN(hosts)][0];
        q.range.to_us = ranges[i / ARRAY_LEN(hosts)][1];
        snprintf(q.range.host, sizeof(q.range.host), "%s", host);
        assert_int_equal(db_summary(f->db, &q.range, &s), 0);
        if (h == 0) {
            assert_int_equal(s.sent, facts_count(f, "sent", q.range.from_us, q.range.to_us));
            assert_int_equal(s.deferred,
                             facts_count(f, "deferred", q.range.from_us, q.range.to_us));
            assert_int_equal(s.bounced, facts_count(f, "bounced", q.range.from_us, q.range.to_us));
            assert_int_equal(s.expired, facts_count(f, "expired", q.range.from_us, q.range.to_us));
        }
        for (o = DB_ORDER_VOLUME; o <= DB_ORDER_DEFERRAL_RATE; o++) {
            for (k = 0; k < ARRAY_LEN(limits); k++) {
                domains_counted(f, q.range.from_us, q.range.to_us, host, (enum db_domain_order)o,
                                limits[k], want, sizeof(want));
                /* Through the public entry ... */
                buf_reset(&got);
                assert_int_equal(db_domains(f->db, &q, (enum db_domain_order)o, limits[k],
                                            got_domain_line, &got),
                                 0);
                buf_putc(&got, 0);
                if (strcmp(got.data, want) != 0)
                    fail_msg("range %zu host '%s' order %d limit %d:\n%s\nwant:\n%s",
                             i / ARRAY_LEN(hosts), host, o, limits[k], got.data, want);
                /* ... and the bounded path itself, which must answer these (no fallback). */
                buf_reset(&got);
                rc = db_domains_bounded(f->db, &q.range, (enum db_domain_order)o, limits[k],
                                        s.sent + s.deferred + s.bounced + s.expired,
                                        got_domain_line, &got);
                /* A host without attempts proves nothing: its counts are all below B. */
                if (q.range.to_us - q.range.from_us < H || (h == 3 && rc == 0))
                    continue;
                if (rc != 1)
                    fail_msg("bounded: range %zu host '%s' order %d limit %d: rc %d",
                             i / ARRAY_LEN(hosts), host, o, limits[k], rc);
                buf_putc(&got, 0);
                if (strcmp(got.data, want) != 0)
                    fail_msg("bounded: range %zu host '%s' order %d limit %d:\n%s\nwant:\n%s",
                             i / ARRAY_LEN(hosts), host, o, limits[k], got.data, want);
            }
        }
    }
    /* The rollups the ingest kept are those a rebuild makes. */
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups_domain_day"), N_TAIL);
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups_domain_month"), N_TAIL);
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups_host_minute"), N_TAIL);
    sql_exec(f->admin, "CREATE TEMP TABLE before AS SELECT * FROM rollups_domain_day");
    sql_exec(f->admin, "CREATE TEMP TABLE before_m AS SELECT * FROM rollups_host_minute");
    assert_int_equal(db_rebuild_rollups(f->db, &(int64_t){0}), 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM (SELECT * FROM before EXCEPT ALL"
                                       " SELECT * FROM rollups_domain_day) x"),
                     0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM (SELECT * FROM rollups_domain_day"
                                       " EXCEPT ALL SELECT * FROM before) x"),
                     0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM (SELECT * FROM before_m EXCEPT ALL"
                                       " SELECT * FROM rollups_host_minute) x"),
                     0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM (SELECT * FROM rollups_host_minute"
                                       " EXCEPT ALL SELECT * FROM before_m) x"),
                     0);
    buf_free(&got);
}

/* got_sender_line - db_senders() callback: "key sent deferred bounced expired rejected" lines,
 * then "reason n" for each of the key's top reasons */
static int got_sender_line(void *arg, const struct db_sender_row *r)
{
    int i;

    buf_printf(arg, "%s%s %lld %lld %lld %lld %lld", ((struct buf *)arg)->len ? "\n" : "", r->key,
               (long long)r->sent, (long long)r->deferred, (long long)r->bounced,
               (long long)r->expired, (long long)r->rejected);
    for (i = 0; i < r->nreasons; i++)
        buf_printf(arg, " %s %lld", r->reasons[i].reason, (long long)r->reasons[i].n);
    return 0;
}

/* sender_summary_is_counted - db_summary() of r (with its sender domain) equals the count
 * over the events; label names the case in a failure */
static void sender_summary_is_counted(struct fixture *f, const struct db_range *r,
                                      const char *label)
{
    struct db_summary s;
    char got[256], want[256], sql[1024], ta[48], tb[48];

    assert_int_equal(db_summary(f->db, r, &s), 0);
    snprintf(got, sizeof(got), "%lld %lld %lld %lld %lld %lld", (long long)s.received,
             (long long)s.sent, (long long)s.deferred, (long long)s.bounced, (long long)s.expired,
             (long long)s.rejected);
    db_range_time(r->from_us, true, ta, sizeof(ta));
    db_range_time(r->to_us, false, tb, sizeof(tb));
    snprintf(sql, sizeof(sql),
             "SELECT format('%%s %%s %%s %%s %%s %%s',"
             " count(*) FILTER (WHERE kind = 'received'),"
             " count(*) FILTER (WHERE kind = 'sent'),"
             " count(*) FILTER (WHERE kind = 'deferred'),"
             " count(*) FILTER (WHERE kind = 'bounced'),"
             " count(*) FILTER (WHERE kind = 'expired'),"
             " count(*) FILTER (WHERE kind = 'rejected')) FROM facts"
             " WHERE time >= '%s' AND time < '%s' AND sender_domain = lower('%s')"
             " AND ('%s' = '' OR host = '%s')",
             ta, tb, r->sender_domain, r->host, r->host);
    sql_str(f->admin, sql, want, sizeof(want));
    if (strcmp(got, want) != 0)
        fail_msg("%s, host '%s' sender domain %s: %s, want %s", label, r->host, r->sender_domain,
                 got, want);
}

/* senders_counted - what db_senders() by volume must answer for r, counted over the events,
 * whose key is the SQL expression dkey over the attempts and rkey over the rejects */
static void senders_counted(struct fixture *f, const char *dkey, const char *rkey,
                            const struct db_range *r, char *out, size_t outlen)
{
    char sql[2048], ta[48], tb[48];

    db_range_time(r->from_us, true, ta, sizeof(ta));
    db_range_time(r->to_us, false, tb, sizeof(tb));
    snprintf(sql, sizeof(sql),
             "WITH x AS (SELECT %s k, (status = 'sent')::int st,"
             " (status = 'deferred')::int df, (status = 'bounced')::int bo,"
             " (status = 'expired')::int ex, 0 rj, CASE WHEN status <> 'sent' THEN reason END rs"
             " FROM deliveries"
             " WHERE time >= '%s' AND time < '%s' AND ('%s' = '' OR host = '%s')"
             " UNION ALL SELECT %s, 0, 0, 0, 0, 1, reason FROM rejects"
             " WHERE time >= '%s' AND time < '%s' AND ('%s' = '' OR host = '%s'))"
             "SELECT coalesce(string_agg(format('%%s %%s %%s %%s %%s %%s%%s', k, st, df, bo, ex,"
             " rj, (SELECT coalesce(string_agg(' ' || rs || ' ' || n, '' ORDER BY n DESC, rs),"
             " '') FROM (SELECT rs, count(*) n FROM x WHERE x.k = y.k AND rs <> ''"
             " GROUP BY rs ORDER BY n DESC, rs LIMIT %d) z)),"
             " E'\\n' ORDER BY st + df + bo + ex DESC, rj DESC, k), '') FROM ("
             " SELECT k, sum(st) st, sum(df) df, sum(bo) bo, sum(ex) ex, sum(rj) rj FROM x"
             " GROUP BY k) y",
             dkey, ta, tb, r->host, r->host, rkey, ta, tb, r->host, r->host, DB_SENDER_REASONS);
    sql_str(f->admin, sql, out, outlen);
}

/* units_are - db_range_units() of [from, to) with days gives hours [h1, h2) and days [d1, d2) */
static void units_are(int64_t from, int64_t to, int64_t h1, int64_t h2, int64_t d1, int64_t d2)
{
    struct db_range r;
    struct db_units u, want;

    memset(&r, 0, sizeof(r));
    r.from_us = from;
    r.to_us = to;
    db_range_units(&r, DB_DAYS_NEAREST, &u);
    db_range_time(h1, true, want.h1, sizeof(want.h1));
    db_range_time(h2, false, want.h2, sizeof(want.h2));
    db_range_time(d1, true, want.d1, sizeof(want.d1));
    db_range_time(d2, false, want.d2, sizeof(want.d2));
    if (strcmp(u.h1, want.h1) != 0 || strcmp(u.h2, want.h2) != 0 || strcmp(u.d1, want.d1) != 0 ||
        strcmp(u.d2, want.d2) != 0)
        fail_msg("hours %s %s days %s %s, want %s %s, %s %s", u.h1, u.h2, u.d1, u.d2, want.h1,
                 want.h2, want.d1, want.d2);
}

/*
 * test_range_units - the units a range is read in: at each end the partial hour or the rest
 * of it, then the hours up to the next day or the rest of that day, whichever spans less
 */
static void test_range_units(void **state)
{
    static const int64_t M = 60 * SEC, H = 3600 * SEC, D = 86400 * SEC;
    int64_t now = time_now_us(), today = now - (now % D), hour = now - (now % H);

    (void)state;
    /* 05:50 to 09:41 the next day: the first day whole less its first 6 hours; 9 hours
     * after the second day's start and the rest of 09:00 from the events; the last hour
     * whole less its last 19 minutes. */
    units_are(NOV01 + 2 * D + 5 * H + 50 * M, NOV01 + 3 * D + 9 * H + 41 * M, NOV01 + 2 * D + 6 * H,
              NOV01 + 3 * D + 10 * H, NOV01 + 2 * D, NOV01 + 3 * D);
    /* 17:59:43 to 16:00:03 two days later: 6 hours to the first whole day, the last day whole
     * less its last 8 hours. */
    units_are(NOV01 - 30 * H - 17 * SEC, NOV01 + 40 * H + 3 * SEC, NOV01 - 30 * H, NOV01 + 40 * H,
              NOV01 - D, NOV01 + 2 * D);
    /* Two hours inside a day: hours only (no day read: both days are the hours' end). */
    units_are(NOV01 + 10 * H, NOV01 + 12 * H, NOV01 + 10 * H, NOV01 + 12 * H, NOV01 + 12 * H,
              NOV01 + 12 * H);
    /* Whole days, and an open start: days only. */
    units_are(NOV01 - 2 * D, NOV01 + 3 * D, NOV01 - 2 * D, NOV01 + 3 * D, NOV01 - 2 * D,
              NOV01 + 3 * D);
    units_are(0, NOV01 + 3 * D, 0, NOV01 + 3 * D, 0, NOV01 + 3 * D);
    /* From 03:00 on: that day whole less its first 3 hours. */
    units_are(NOV01 + 3 * H, INT64_MAX, NOV01 + 3 * H, INT64_MAX, NOV01, INT64_MAX);
    /* The last 24 hours, to now: today whole (no later hour has rows), and yesterday's hours
     * from the start's hour (whole when more than half of it is in the range), or yesterday
     * whole less its hours before it, whichever are fewer. */
    if (now - hour > 2 * M && now - hour < H - 2 * M) {
        int64_t a = hour + H - D - (now - hour < H / 2 ? H : 0);
        int64_t d1 = (a - (today - D)) * 2 < D ? today - D : today;

        units_are(now - D, now, a, hour + H, d1, today + D);
    }
}

/*
 * tenmin_is - db_range_tenmin() of [from, to), with the buckets before through added up, gives
 * the ten-minute boundaries t1 and t2
 */
static void tenmin_is(int64_t from, int64_t to, int64_t through, int64_t t1, int64_t t2)
{
    struct db_range r;
    struct db_units u;
    char w1[48], w2[48];

    memset(&r, 0, sizeof(r));
    r.from_us = from;
    r.to_us = to;
    db_range_units(&r, DB_DAYS_NEAREST, &u);
    db_range_tenmin(&r, through, &u);
    db_range_time(t1, true, w1, sizeof(w1));
    db_range_time(t2, false, w2, sizeof(w2));
    if (strcmp(u.t1, w1) != 0 || strcmp(u.t2, w2) != 0)
        fail_msg("ten minutes %s %s, want %s %s", u.t1, u.t2, w1, w2);
}

/*
 * test_range_tenmin - each end reads the events of at most five minutes: the partial ten
 * minutes, or the rest of them when that is shorter, and only buckets already added up
 */
static void test_range_tenmin(void **state)
{
    static const int64_t M = 60 * SEC, H = 3600 * SEC, D = 86400 * SEC;
    const int64_t later = NOV01 + 10 * D;

    (void)state;
    /* 05:01:37 to 21:42:37: the first hour whole less its first 97 seconds (not the 8.4
     * minutes to 05:10), and the last ten minutes from 21:40. */
    tenmin_is(NOV01 + 5 * H + 97 * SEC, NOV01 + 3 * D + 21 * H + 42 * M + 37 * SEC, later,
              NOV01 + 5 * H, NOV01 + 3 * D + 21 * H + 40 * M);
    /* 05:08 to 21:02: from 05:10 less two minutes, to 21:00 and two minutes more. */
    tenmin_is(NOV01 + 5 * H + 8 * M, NOV01 + 3 * D + 21 * H + 2 * M, later, NOV01 + 5 * H + 10 * M,
              NOV01 + 3 * D + 21 * H);
    /* 05:34 to 21:57: the nearer boundary inside each end's hour. */
    tenmin_is(NOV01 + 5 * H + 34 * M, NOV01 + 3 * D + 21 * H + 57 * M, later,
              NOV01 + 5 * H + 30 * M, NOV01 + 3 * D + 22 * H);
    /* Buckets not yet added up are not read: the hour boundary, or the farther boundary
     * when the nearer one is not added up. */
    tenmin_is(NOV01 + 5 * H + 8 * M, NOV01 + 3 * D + 21 * H + 2 * M, NOV01 + 5 * H + 5 * M,
              NOV01 + 5 * H, NOV01 + 3 * D + 21 * H);
    tenmin_is(NOV01 + 5 * H + 34 * M, NOV01 + 3 * D + 21 * H + 57 * M, NOV01 + 3 * D + 21 * H,
              NOV01 + 5 * H + 30 * M, NOV01 + 3 * D + 22 * H);
    tenmin_is(NOV01 + 5 * H + 34 * M, NOV01 + 3 * D + 21 * H + 57 * M, NOV01, NOV01 + 6 * H,
              NOV01 + 3 * D + 22 * H);
}

/*
 * test_edges_now - ranges that end around now, with attempts stored after their end: the
 * domains report still equals the count over the attempt rows, whichever way each end's
 * partial hour is read (the events after the end, up to now, count negative when the last
 * hour comes whole from the rollup)
 */
static void test_edges_now(void **state)
{
    struct fixture *f = *state;
    static const int64_t M = 60 * SEC, H = 3600 * SEC;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    int64_t now = time_now_us(), src, ck, ranges[4][2];
    char want[1024];
    struct db_query q;
    struct event ev;
    struct buf got;
    size_t i;
    int k;

    assert_int_equal(db_source_open(f->db, "now", "now", NULL, 0, &src, &ck), 0);
    /* One attempt every 3 minutes from 5 hours ago to just now, and one a minute ahead. */
    for (k = 0; k <= 100; k++) {
        mk_delivery(&ev, now - 5 * H + k * 3 * M - (k == 100 ? 5 * SEC : 0), k % 2 ? "mx1" : "mx2",
                    k % 3 ? "a@one.example" : "b@two.example", k % 7 ? ST_SENT : ST_DEFERRED,
                    "250 ok");
        db_batch_add(b, src, k, &ev);
    }
    mk_delivery(&ev, now + M, "mx1", "c@two.example", ST_SENT, "250 ok");
    db_batch_add(b, src, 101, &ev);
    assert_int_equal(db_batch_commit(b, src, 102, &res), 0);
    db_batch_free(b);
    ranges[0][0] = now - 3 * H - 20 * M;
    ranges[0][1] = now - 10 * M;
    ranges[1][0] = now - 4 * H - 50 * M;
    ranges[1][1] = now;
    ranges[2][0] = now - 2 * H - 5 * M;
    ranges[2][1] = now + H;
    ranges[3][0] = now - 4 * H;
    ranges[3][1] = now - 40 * M;
    buf_init(&got);
    for (i = 0; i < ARRAY_LEN(ranges); i++) {
        memset(&q, 0, sizeof(q));
        q.range.from_us = ranges[i][0];
        q.range.to_us = ranges[i][1];
        domains_counted(f, q.range.from_us, q.range.to_us, "", DB_ORDER_VOLUME, 10, want,
                        sizeof(want));
        buf_reset(&got);
        assert_int_equal(db_domains(f->db, &q, DB_ORDER_VOLUME, 10, got_domain_line, &got), 0);
        buf_putc(&got, 0);
        if (strcmp(got.data, want) != 0)
            fail_msg("range %zu:\n%s\nwant:\n%s", i, got.data, want);
        assert_true(want[0] != 0);
    }
    buf_free(&got);
}

/*
 * test_summary_sender - a summary for one sender domain (from the sender rollups, the received
 * rows of "rollups" and the events of the partial hours) equals the counts over the events,
 * for every host or one, over ranges with ragged and open ends.
 */
static void test_summary_sender(void **state)
{
    struct fixture *f = *state;
    static const int64_t H = 3600 * SEC, D = 86400 * SEC;
    static const char *const senders[] = {"news@a.example", "x@B.Example", "y@c.example", ""};
    static const char *const domains[] = {"a.example", "b.example", "B.EXAMPLE", "none.example"};
    static const char *const hosts[] = {"", "mx1", "mx2"};
    static const int64_t ranges[][2] = {
        {NOV01 - 2 * H - 1234567, NOV01 + 3 * H + 7654321},      /* mid-hour, across months */
        {NOV01 - 30 * H - 17 * SEC, NOV01 + 40 * H + 3 * SEC},   /* mid-day, days between */
        {OCT20 + 5 * D + 611 * SEC, NOV01 + 7 * D + 8 * H + 59}, /* mid-month to mid-month */
        {OCT20 + 2 * D, NOV01 + 3 * D},                          /* whole days */
        {NOV01 + 4 * H, NOV01 + 28 * H},                         /* a 24-hour range */
        {NOV01 + 100, NOV01 + H + 100},                          /* no whole hour */
        {NOV01 + 2 * D + 5 * H + 3000 * SEC + 7, NOV01 + 3 * D + 9 * H + 2460 * SEC + 3},
        {NOV01 + 5 * D + 1200 * SEC, NOV01 + 6 * D + 2 * H + 2700 * SEC},
        {NOV01 + 12 * H + 600 * SEC, NOV01 + 3 * D - 600 * SEC},
        {0, NOV01 + 5 * H + 99},        /* open start */
        {NOV01 - 3 * D - 7, INT64_MAX}, /* open end */
    };
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct db_range r;
    struct event ev;
    int64_t src, ck;
    uint64_t x = 7;
    char label[64];
    struct buf lines;
    size_t i, k, h;
    int n;

    assert_int_equal(db_source_open(f->db, "senders", "senders", NULL, 0, &src, &ck), 0);
    for (n = 0; n < 4000; n++) {
        int64_t t = OCT20 + (int64_t)(lcg(&x) * (double)TAIL_US);
        const char *sender = senders[(int)(lcg(&x) * 4)];
        const char *host = lcg(&x) < 0.7 ? "mx1" : "mx2";
        double u = lcg(&x);

        static const char *const reasons[] = {"blocked", "userunknown", "mailboxfull", "speeding"};
        const char *reason = reasons[(int)(lcg(&x) * 4)];

        if (u < 0.25) {
            mk_event(&ev, EV_MESSAGE, t, host);
            EVENT_SET(&ev, queue_id, "4ZxY2l3Xr9z1", 12);
            if (sender[0] != 0 || lcg(&x) < 0.5)
                EVENT_SET(&ev, client, "localhost[127.0.0.1]", 20);
        } else if (u < 0.35) {
            mk_event(&ev, EV_REJECT, t, host);
            EVENT_SET(&ev, client, "bad.example[192.0.2.9]", 22);
            EVENT_SET(&ev, recipient, "r@d.example", 11);
            EVENT_SET(&ev, reason, reason, strlen(reason));
            ev.smtp_code = 554;
        } else {
            static const enum event_status st[] = {ST_SENT,     ST_SENT,    ST_SENT,
                                                   ST_DEFERRED, ST_BOUNCED, ST_EXPIRED};

            /* Submitters as Postfix names them, a bare address, and none. */
            static const char *const clients[] = {"app1[10.0.0.1]", "app2.example[10.0.0.2]",
                                                  "unknown[10.0.0.1]", "10.0.0.3", NULL};
            const char *client = clients[(int)(lcg(&x) * 5)];

            mk_delivery(&ev, t, host, "r@d.example", st[(int)(lcg(&x) * 6)], "250 2.0.0 OK");
            if (ev.status != ST_SENT)
                EVENT_SET(&ev, reason, reason, strlen(reason));
            if (client != NULL)
                EVENT_SET(&ev, client, client, strlen(client));
        }
        EVENT_SET(&ev, sender, sender, strlen(sender));
        db_batch_add(b, src, n, &ev);
        if (db_batch_count(b) == 700)
            assert_int_equal(db_batch_commit(b, src, n, &res), 0);
    }
    assert_int_equal(db_batch_commit(b, src, n, &res), 0);
    db_batch_free(b);
    rollups_exact(f->admin);

    for (i = 0; i < ARRAY_LEN(ranges); i++) {
        for (h = 0; h < ARRAY_LEN(hosts); h++) {
            for (k = 0; k < ARRAY_LEN(domains); k++) {
                memset(&r, 0, sizeof(r));
                r.from_us = ranges[i][0];
                r.to_us = ranges[i][1];
                snprintf(r.host, sizeof(r.host), "%s", hosts[h]);
                snprintf(r.sender_domain, sizeof(r.sender_domain), "%s", domains[k]);
                snprintf(label, sizeof(label), "range %zu", i);
                sender_summary_is_counted(f, &r, label);
            }
        }
    }
    /* The senders report by sender domain (days, hours and events), by host (hours,
     * minutes and events) and by client address (days, hours and events, whose key is made
     * of the client's name and address) adds up like the events too, ends included, and so
     * do the top reasons of each key. */
    buf_init(&lines);
    for (i = 0; i < 3 * ARRAY_LEN(ranges); i++) {
        for (h = 0; h < ARRAY_LEN(hosts); h++) {
            static const struct {
                enum db_sender_axis axis;
                const char *key; /* its key over the events */
            } axes[] = {{DB_AXIS_SENDER_DOMAIN, "coalesce(sender_domain, '')"},
                        {DB_AXIS_HOST, "host"},
                        {DB_AXIS_CLIENT_IP, "mailpulse_client_ip(client)"}};
            enum db_sender_axis axis = axes[i % ARRAY_LEN(axes)].axis;
            const char *key = axes[i % ARRAY_LEN(axes)].key;
            char all[2048];

            memset(&r, 0, sizeof(r));
            r.from_us = ranges[i / 3][0];
            r.to_us = ranges[i / 3][1];
            snprintf(r.host, sizeof(r.host), "%s", hosts[h]);
            buf_reset(&lines);
            assert_int_equal(
                db_senders(f->db, &r, axis, DB_ORDER_VOLUME, 10, got_sender_line, &lines), 0);
            buf_putc(&lines, 0);
            senders_counted(f, key, key, &r, all, sizeof(all));
            if (strcmp(lines.data, all) != 0)
                fail_msg("senders by %s: range %zu host '%s':\n%s\nwant:\n%s",
                         db_sender_axis_name(axis), i / 3, hosts[h], lines.data, all);
        }
    }
    buf_free(&lines);
    /* The sender's own rows were counted: the check is not vacuous. */
    assert_true(sql_int(f->admin, "SELECT count(*) FROM facts WHERE sender_domain = 'a.example'"
                                  " AND kind = 'received'") > 100);
}

/* tenmin_exact - the ten-minute rollups hold what the events before "before" add up to, and
 * nothing after it */
static void tenmin_exact(struct fixture *f, const char *before)
{
    char sql[2048];

    snprintf(sql, sizeof(sql),
             "WITH t AS (SELECT recipient_domain, tenmin, host, sum(sent), sum(deferred),"
             " sum(bounced), sum(expired) FROM rollups_domain_tenmin GROUP BY 1, 2, 3),"
             " e AS (SELECT coalesce(recipient_domain, ''), mailpulse_tenmin(time), host,"
             " count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status ="
             " 'deferred'), count(*) FILTER (WHERE status = 'bounced'), count(*) FILTER (WHERE"
             " status = 'expired') FROM deliveries WHERE time < '%s' GROUP BY 1, 2, 3)"
             " SELECT count(*) FROM ((SELECT * FROM t WHERE tenmin < '%s' EXCEPT ALL"
             " SELECT * FROM e) UNION ALL (SELECT * FROM e EXCEPT ALL SELECT * FROM t)) x",
             before, before);
    assert_int_equal(sql_int(f->admin, sql), 0);
    snprintf(sql, sizeof(sql),
             "WITH e AS (SELECT time, host, coalesce(sender_domain, '') sd, client,"
             " coalesce(sasl_username, '') sasl, status kind, coalesce(reason, '') reason"
             " FROM deliveries WHERE time < '%s' UNION ALL SELECT time, host,"
             " coalesce(sender_domain, ''), client, '', 'rejected', coalesce(reason, '')"
             " FROM rejects WHERE time < '%s' UNION ALL SELECT time, host, sender_domain,"
             " NULL, NULL, kind, '' FROM facts WHERE kind = 'received' AND time < '%s'),"
             " w AS (SELECT mailpulse_tenmin(time) tenmin, host, g.axis, g.key, kind, reason,"
             " count(*)::int n FROM e CROSS JOIN LATERAL (VALUES ('sender_domain', sd),"
             " ('sasl_user', sasl), ('client_ip', mailpulse_client_ip(client))) g (axis, key)"
             " WHERE kind <> 'received' OR g.axis = 'sender_domain' GROUP BY 1, 2, 3, 4, 5, 6),"
             " t AS (SELECT tenmin, host, axis, key, kind, reason, sum(n)::int"
             " FROM rollups_sender_tenmin GROUP BY 1, 2, 3, 4, 5, 6)"
             " SELECT count(*) FROM ((SELECT * FROM t WHERE tenmin < '%s'"
             " EXCEPT ALL SELECT * FROM w) UNION ALL (SELECT * FROM w EXCEPT ALL"
             " SELECT * FROM t)) x",
             before, before, before, before);
    assert_int_equal(sql_int(f->admin, sql), 0);
    snprintf(sql, sizeof(sql),
             "SELECT (SELECT count(*) FROM rollups_domain_tenmin WHERE tenmin >= '%s')"
             " + (SELECT count(*) FROM rollups_sender_tenmin WHERE tenmin >= '%s')",
             before, before);
    assert_int_equal(sql_int(f->admin, sql), 0);
}

/* tenmin_reports - the senders (three axes) and domains reports over ranges with ragged ends
 * equal the counts over the events */
static void tenmin_reports(struct fixture *f, const int64_t (*ranges)[2], size_t nranges)
{
    static const struct {
        enum db_sender_axis axis;
        const char *dkey, *rkey;
    } axes[] = {
        {DB_AXIS_SENDER_DOMAIN, "coalesce(sender_domain, '')", "coalesce(sender_domain, '')"},
        {DB_AXIS_SASL_USER, "coalesce(sasl_username, '')", "''"},
        {DB_AXIS_CLIENT_IP, "mailpulse_client_ip(client)", "mailpulse_client_ip(client)"}};
    static const char *const hosts[] = {"", "mx1"};
    char want[8192];
    struct db_query q;
    struct buf got;

    buf_init(&got);
    for (size_t i = 0; i < nranges; i++) {
        for (size_t h = 0; h < ARRAY_LEN(hosts); h++) {
            memset(&q, 0, sizeof(q));
            q.range.from_us = ranges[i][0];
            q.range.to_us = ranges[i][1];
            snprintf(q.range.host, sizeof(q.range.host), "%s", hosts[h]);
            for (size_t a = 0; a < ARRAY_LEN(axes); a++) {
                buf_reset(&got);
                assert_int_equal(db_senders(f->db, &q.range, axes[a].axis, DB_ORDER_VOLUME, 10,
                                            got_sender_line, &got),
                                 0);
                buf_putc(&got, 0);
                senders_counted(f, axes[a].dkey, axes[a].rkey, &q.range, want, sizeof(want));
                if (strcmp(got.data, want) != 0)
                    fail_msg("senders by %s: range %zu host '%s':\n%s\nwant:\n%s",
                             db_sender_axis_name(axes[a].axis), i, hosts[h], got.data, want);
            }
            for (size_t k = 0; k < 2; k++) { /* a sender domain's summary */
                static const char *const sd[] = {"a.example", "b.example"};
                char label[64];

                snprintf(q.range.sender_domain, sizeof(q.range.sender_domain), "%s", sd[k]);
                snprintf(label, sizeof(label), "summary: range %zu", i);
                sender_summary_is_counted(f, &q.range, label);
                q.range.sender_domain[0] = 0;
            }
            for (int o = DB_ORDER_VOLUME; o <= DB_ORDER_BOUNCE_RATE; o++) {
                domains_counted(f, q.range.from_us, q.range.to_us, hosts[h],
                                (enum db_domain_order)o, 10, want, sizeof(want));
                buf_reset(&got);
                assert_int_equal(
                    db_domains(f->db, &q, (enum db_domain_order)o, 10, got_domain_line, &got), 0);
                buf_putc(&got, 0);
                if (strcmp(got.data, want) != 0)
                    fail_msg("domains: range %zu host '%s' order %d:\n%s\nwant:\n%s", i, hosts[h],
                             o, got.data, want);
            }
        }
    }
    buf_free(&got);
}

/*
 * test_tenmin_rollups - the ten-minute rollups (sql/031): added up once a bucket has passed,
 * a span at a time; an event stored later for a bucket added up already is added to it by its
 * own commit, and one for a later bucket is not; the senders and domains reports read whole
 * ten minutes from them at their ends where they are added up, the events elsewhere, and stay
 * exact on both sides of "through" and across it.
 */
static void test_tenmin_rollups(void **state)
{
    struct fixture *f = *state;
    static const int64_t M = 60 * SEC, H = 3600 * SEC, D = 86400 * SEC;
    static const int64_t THROUGH = NOV01 + 3 * D + 50 * M; /* "through" after the first roll */
    static const int64_t ranges[][2] = {
        {NOV01 + 2 * D + 5 * H + 3000 * SEC + 7, NOV01 + 3 * D + 9 * H + 2460 * SEC + 3},
        {NOV01 + 5 * H + 17 * M + 3, NOV01 + 3 * D + 47 * M},    /* across "through" */
        {NOV01 + 5 * H + 23 * M + 1, NOV01 + 3 * D + 6 * M},     /* both ends before it */
        {NOV01 + 3 * D + 2 * H + 4 * M, NOV01 + 5 * D + 31 * M}, /* after it */
        {OCT20 + 2 * D + 1, NOV01 + 7 * D + 8 * H + 59},         /* days between */
        {NOV01 + 10 * H + 12 * M, NOV01 + 10 * H + 48 * M},      /* no whole hour */
        {NOV01 + 20 * M, NOV01 + 2 * H},                         /* on ten minutes */
    };
    static const char *const senders[] = {"news@a.example", "x@B.Example", ""};
    static const char *const sasl[] = {"alice", "bob@b.example", ""};
    static const char *const clients[] = {"app1[10.0.0.1]", "10.0.0.3", ""};
    static const char *const reasons[] = {"blocked", "userunknown", "mailboxfull"};
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct db_query q;
    struct event ev;
    int64_t src, ck, through = 0, got0, got1;
    uint64_t x = 11;
    char when[48], rcpt[64], sql[512];
    struct buf lines;
    int n;

    assert_int_equal(db_source_open(f->db, "tenmin", "tenmin", NULL, 0, &src, &ck), 0);
    for (n = 0; n < 7000; n++) {
        /* The last thousand come after the first roll: most for buckets added up already. */
        int64_t t = OCT20 + (int64_t)(lcg(&x) * (double)TAIL_US);
        int rank = lcg(&x) < 0.4 ? 0 : (int)exp(lcg(&x) * log(300.0));
        const char *host = lcg(&x) < 0.6 ? "mx1" : "mx2";
        const char *sender = senders[(int)(lcg(&x) * 3)], *client = clients[(int)(lcg(&x) * 3)];
        const char *reason = reasons[(int)(lcg(&x) * 3)];
        double u = lcg(&x);

        if (n == 6000) {
            assert_int_equal(db_batch_commit(b, src, n, &res), 0);
            time_format_rfc3339(THROUGH + 7 * M, when, sizeof(when));
            snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM generate_series(1, 40) WHERE"
                     " mailpulse_roll_tenmin('%s', '2 days') < '%s'",
                     when, when);
            sql_int(f->admin, sql);
            time_format_rfc3339(THROUGH, when, sizeof(when));
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM tenmin_rolled WHERE through = '%s'",
                     when);
            assert_int_equal(sql_int(f->admin, sql), 1);
            tenmin_exact(f, when);
        }
        if (u < 0.1) {
            mk_event(&ev, EV_REJECT, t, host);
            EVENT_SET(&ev, recipient, "r@d.example", 11);
            ev.smtp_code = 554;
            EVENT_SET(&ev, reason, reason, strlen(reason));
        } else if (u < 0.3) { /* a message received, or (no sender, no client) a notice */
            mk_event(&ev, EV_MESSAGE, t, host);
            EVENT_SET(&ev, queue_id, "4ZxY2l3Xr9z1", 12);
        } else {
            static const enum event_status st[] = {ST_SENT,     ST_SENT,    ST_SENT,
                                                   ST_DEFERRED, ST_BOUNCED, ST_EXPIRED};
            const char *s = sasl[(int)(lcg(&x) * 3)];

            snprintf(rcpt, sizeof(rcpt), "u%d@%s%d.example", n % 31, rank ? "tail" : "big", rank);
            mk_delivery(&ev, t, host, rcpt, st[(int)(lcg(&x) * 6)], "250 2.0.0 OK");
            if (ev.status != ST_SENT)
                EVENT_SET(&ev, reason, reason, strlen(reason));
            EVENT_SET(&ev, sasl_username, s, strlen(s));
        }
        EVENT_SET(&ev, client, client, strlen(client));
        EVENT_SET(&ev, sender, sender, strlen(sender));
        db_batch_add(b, src, n, &ev);
        if (db_batch_count(b) == 500)
            assert_int_equal(db_batch_commit(b, src, n, &res), 0);
    }
    assert_int_equal(db_batch_commit(b, src, n, &res), 0);
    db_batch_free(b);

    /* The late events before "through" were added by their commits, the others not. */
    time_format_rfc3339(THROUGH, when, sizeof(when));
    tenmin_exact(f, when);
    tenmin_reports(f, ranges, ARRAY_LEN(ranges));

    /* The reports read the rollup: a count changed there shows in them. The first range
     * starts at 5:50:00.000007, so its start reads [5:50, 6:00) from the ten minutes. */
    memset(&q, 0, sizeof(q));
    q.range.from_us = ranges[0][0];
    q.range.to_us = ranges[0][1];
    buf_init(&lines);
    assert_int_equal(db_senders(f->db, &q.range, DB_AXIS_SASL_USER, DB_ORDER_VOLUME, 10,
                                got_sender_line, &lines),
                     0);
    got0 = (int64_t)lines.len;
    assert_int_equal(sql_int(f->admin, "WITH u AS (UPDATE rollups_sender_tenmin SET n = n + 100000"
                                       " WHERE (tableoid, ctid) = (SELECT tableoid, ctid"
                                       " FROM rollups_sender_tenmin"
                                       " WHERE axis = 'sasl_user' AND kind = 'sent'"
                                       " AND tenmin = '2026-11-03 05:50:00+00' LIMIT 1)"
                                       " RETURNING 1) SELECT count(*) FROM u"),
                     1);
    buf_reset(&lines);
    assert_int_equal(db_senders(f->db, &q.range, DB_AXIS_SASL_USER, DB_ORDER_VOLUME, 10,
                                got_sender_line, &lines),
                     0);
    got1 = (int64_t)lines.len;
    assert_true(got1 > got0); /* a key's sent count grew by six digits */
    sql_exec(f->admin, "UPDATE rollups_sender_tenmin SET n = n - 100000 WHERE n > 100000");
    buf_free(&lines);

    /* The rest is added up (every bucket has passed by now), and a rebuild makes the same. */
    assert_int_equal(db_roll_tenmin(f->db, 0, &through), 0);
    assert_true(through >= NOV01 + 30 * D);
    time_format_rfc3339(through, when, sizeof(when));
    tenmin_exact(f, when);
    tenmin_reports(f, ranges, ARRAY_LEN(ranges));
    assert_int_equal(db_rebuild_rollups(f->db, &(int64_t){0}), 0);
    tenmin_exact(f, when);
}

/* test_null_time_replay - an event without a time is stored once, and replays as a duplicate */
static void test_null_time_replay(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct db_batch_result res;
    struct event ev;
    int64_t src, cp;
    int round;

    assert_int_equal(db_source_open(f->db, "mail.log", "id-null", NULL, 0, &src, &cp), 0);
    for (round = 0; round < 2; round++) {
        mk_delivery(&ev, 0, "mx1", "a@example.com", ST_SENT, "250 ok");
        db_batch_add(b, src, 10, &ev);
        mk_event(&ev, EV_MESSAGE, 0, "mx1");
        db_batch_add(b, src, 20, &ev);
        assert_int_equal(db_batch_commit(b, src, 30, &res), 0);
        assert_int_equal(res.inserted, round == 0 ? 2 : 0);
        assert_int_equal(res.duplicates, round == 0 ? 0 : 2);
    }
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries_pnull"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM rollups"), 0);
    db_batch_free(b);
}

/* test_partitions_retention - partitions appear for old and current months; retention drops */
static void test_partitions_retention(void **state)
{
    struct fixture *f = *state;
    struct db_batch *b = db_batch_create(f->db);
    struct event ev;
    int64_t src, cp, now = time_now_us();
    static const int64_t old = 1548979200LL * SEC; /* 2019-02-01T00:00:00Z: on a boundary */
    int dropped = -1;

    assert_int_equal(db_source_open(f->db, "mail.log", "id-part", NULL, 0, &src, &cp), 0);
    mk_delivery(&ev, old, "mx1", "a@example.com", ST_SENT, "250 ok");
    db_batch_add(b, src, 10, &ev);
    mk_delivery(&ev, old - 1, "mx1", "a@example.com", ST_SENT, "250 ok"); /* January */
    db_batch_add(b, src, 20, &ev);
    mk_delivery(&ev, now, "mx1", "a@example.com", ST_SENT, "250 ok");
    db_batch_add(b, src, 30, &ev);
    assert_int_equal(db_batch_commit(b, src, 40, NULL), 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries_p201902"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries_p201901"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries_pnull"), 0);
    /* This month and the next exist for every event table. */
    assert_int_equal(sql_int(f->admin,
                             "SELECT count(*) FROM pg_class WHERE relname IN ("
                             " 'messages_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM'),"
                             " 'smtp_events_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM'),"
                             " 'complaints_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM'),"
                             " 'rejects_p' || to_char((now() AT TIME ZONE 'UTC')"
                             "  + interval '1 month', 'YYYYMM'))"
                             " AND relnamespace = current_schema()::regnamespace"),
                     4);
    assert_int_equal(db_ensure_partitions(f->db), 0);

    /* Keep 30 days: the 2019 months go (9 tables x 2 months: 7 of events, 2 of ten-minute
     * rollups), this month stays. */
    assert_int_equal(db_retention(f->db, 30, &dropped), 0);
    assert_int_equal(dropped, 18);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT to_regclass('deliveries_p201902') IS NULL::int"
                                       " FROM (SELECT 1) x"),
                     1);
    /* The rollups of the dropped months stay, and a rebuild keeps them. */
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups WHERE hour < '2020-01-01'"), 2);
    assert_int_equal(db_rebuild_rollups(f->db, NULL), 0);
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups"), 3);
    assert_int_equal(db_retention(f->db, 0, &dropped), -1);
    /* Only the months that have events were created, not the years between. */
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM pg_class WHERE relname ~ "
                                       "'^deliveries_p20(19|20|21)'"
                                       " AND relnamespace = current_schema()::regnamespace"),
                     0);
    db_batch_free(b);
}

/* test_migrate_from_001 - rows stored under 001 move into the partitioned tables */
static void test_migrate_from_001(void **state)
{
    struct fixture *f = *state;
    struct db_summary s;
    struct db_range r;

    assert_true(migrations_count >= 2);
    sql_exec(f->admin, "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                       " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    sql_exec(f->admin, migrations[0].sql);
    sql_exec(f->admin, "INSERT INTO schema_migrations (version, name) VALUES (1, 'initial')");
    sql_exec(f->admin, "INSERT INTO sources (name, identity) VALUES ('l', 'i')");
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, sender, recipient, recipient_domain, status,"
             " source_id, pos, seq) VALUES"
             " ('2025-11-28 17:13:20+00', 'mx1', 'a@Ex.org', 'b@y.com', 'y.com', 'sent', 1, 0, 0),"
             " ('2025-10-01 00:00:00+00', 'mx1', 'a@ex.org', 'b@y.com', 'y.com', 'bounced', 1,"
             " 10, 0), (NULL, 'mx1', NULL, NULL, NULL, 'sent', 1, 20, 0)");
    sql_exec(f->admin, "INSERT INTO messages (time, host, sender, source_id, pos)"
                       " VALUES ('2025-11-28 17:13:00+00', 'mx1', 'a@ex.org', 1, 30)");
    assert_int_equal(db_migrate(f->db, NULL), 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 3);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries_p202510"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE sender_domain"
                                       " = 'ex.org'"),
                     2);
    memset(&r, 0, sizeof(r));
    r.to_us = INT64_MAX;
    strcpy(r.sender_domain, "EX.org");
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, 1);
    assert_int_equal(s.bounced, 1);
    assert_int_equal(s.received, 1);
}

/* got_sender - db_senders() callback: the first rows, copied */
struct got_senders {
    int n;
    struct db_sender_row rows[4];
};

static int got_sender(void *arg, const struct db_sender_row *row)
{
    struct got_senders *g = arg;

    if (g->n < (int)ARRAY_LEN(g->rows))
        g->rows[g->n] = *row;
    g->n++;
    return 0;
}

/* migrate_upto - an empty database migrated as db_migrate() would, up to version last; the
 * index of the first migration not applied */
static int migrate_upto(struct fixture *f, int last)
{
    int i;

    sql_exec(f->admin, "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                       " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    for (i = 0; i < migrations_count && migrations[i].version <= last; i++) {
        char sql[256];

        sql_exec(f->admin, migrations[i].sql);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')",
                 migrations[i].version, migrations[i].name);
        sql_exec(f->admin, sql);
    }
    return i;
}

/*
 * migrate_old - a database as an older mailpulse left it: migrated up to version last (the
 * next migration being last + 1), with the partitions of [from, to] and one source, id 1
 */
static void migrate_old(struct fixture *f, int last, const char *from, const char *to)
{
    char sql[256];
    int i = migrate_upto(f, last);

    assert_true(i < migrations_count);
    assert_int_equal(migrations[i].version, last + 1);
    snprintf(sql, sizeof(sql), "SELECT mailpulse_ensure_partitions('%s', '%s')", from, to);
    sql_exec(f->admin, sql);
    sql_exec(f->admin, "INSERT INTO sources (name, identity) VALUES ('l', 'i')");
}

/*
 * test_migrate_sender_history - a database from before migration 009 whose oldest months
 * retention dropped: 019 counts the sender domain's attempts of those months from "rollups",
 * and the stored events', so that the summary of a sender domain and the senders report see
 * them (the summary reads the sender rollups).
 */
static void test_migrate_sender_history(void **state)
{
    struct fixture *f = *state;
    struct db_summary s;
    struct db_range r;
    struct got_senders g;

    migrate_old(f, 8, "2025-08-01", "2025-11-30");
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, sender, sender_domain, recipient,"
             " recipient_domain, status, reason, source_id, pos, seq) VALUES"
             " ('2025-08-10 10:00+00', 'mx1', 'a@s.example', 's.example', 'b@y.com', 'y.com',"
             " 'sent', NULL, 1, 0, 0),"
             " ('2025-08-10 10:05+00', 'mx1', 'a@s.example', 's.example', 'c@y.com', 'y.com',"
             " 'bounced', 'userunknown', 1, 10, 0),"
             " ('2025-08-12 23:59+00', 'mx2', 'a@s.example', 's.example', 'd@y.com', 'y.com',"
             " 'bounced', 'userunknown', 1, 20, 0),"
             " ('2025-11-10 10:00+00', 'mx1', 'a@s.example', 's.example', 'b@y.com', 'y.com',"
             " 'sent', NULL, 1, 30, 0)");
    sql_exec(f->admin, "INSERT INTO rejects (time, host, sender, sender_domain, recipient, reason,"
                       " source_id, pos) VALUES ('2025-08-11 09:00+00', 'mx1', 'a@s.example',"
                       " 's.example', 'e@y.com', 'blocked', 1, 40)");
    sql_exec(f->admin, "INSERT INTO messages (time, host, sender, sender_domain, client, source_id,"
                       " pos) VALUES ('2025-08-10 09:59+00', 'mx1', 'a@s.example', 's.example',"
                       " 'h[192.0.2.1]', 1, 50)");
    sql_exec(f->admin, "SELECT mailpulse_rebuild_rollups()");
    sql_exec(f->admin, "SELECT mailpulse_drop_partitions('2025-10-01')");
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 1);
    assert_int_equal(db_migrate(f->db, NULL), 0);

    memset(&r, 0, sizeof(r));
    r.from_us = 1754006400LL * SEC; /* 2025-08-01 */
    r.to_us = 1756684800LL * SEC;   /* 2025-09-01 */
    strcpy(r.sender_domain, "S.example");
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.received, 1);
    assert_int_equal(s.sent, 1);
    assert_int_equal(s.bounced, 2);
    assert_int_equal(s.rejected, 1);
    r.to_us = INT64_MAX;
    assert_int_equal(db_summary(f->db, &r, &s), 0);
    assert_int_equal(s.sent, 2);
    assert_int_equal(s.bounced, 2);
    /* The senders report over August (whole days, and the hours of the 12th on mx2). */
    r.from_us = 1754006400LL * SEC;
    r.to_us = 1756684800LL * SEC;
    r.sender_domain[0] = 0;
    memset(&g, 0, sizeof(g));
    assert_int_equal(
        db_senders(f->db, &r, DB_AXIS_SENDER_DOMAIN, DB_ORDER_VOLUME, 10, got_sender, &g), 0);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.rows[0].key, "s.example");
    assert_int_equal(g.rows[0].sent, 1);
    assert_int_equal(g.rows[0].bounced, 2);
    assert_int_equal(g.rows[0].rejected, 1);
    /* Each attempt and reject once: the hours from "rollups" and those from the events do
     * not overlap. */
    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups_sender_hour"
                                       " WHERE axis = 'sender_domain'"),
                     5);
}

/*
 * test_migrate_rollups_sender - migration 021 sums "rollups" over the recipient domains and
 * gives rollups_domain_hour the attempts without one, for the hours whose events retention
 * dropped too; a rebuild keeps those hours, and the reports read them (and 022 turns the
 * delays into text)
 */
static void test_migrate_rollups_sender(void **state)
{
    struct fixture *f = *state;
    char v[64];
    struct db_query q;
    struct collect c;
    struct db_summary s;

    migrate_old(f, 20, "2025-11-01", "2025-11-30");
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, sender, sender_domain, recipient,"
             " recipient_domain, status, reason, dsn, reply, delays, source_id, pos, seq) VALUES"
             " ('2025-11-10 10:00+00', 'mx1', 'a@s.example', 's.example', 'b@y.com', 'y.com',"
             " 'sent', NULL, '2.0.0', NULL, '{0.1,NULL,0.04,123456.78}', 1, 0, 0),"
             " ('2025-11-10 10:05+00', 'mx1', 'a@s.example', 's.example', 'c@z.com', 'z.com',"
             " 'bounced', 'userunknown', '5.1.1', '550 no', NULL, 1, 10, 0),"
             " ('2025-11-10 10:07+00', 'mx1', 'a@s.example', 's.example', 'root', NULL,"
             " 'bounced', 'userunknown', '5.1.1', '550 none', NULL, 1, 20, 0)");
    sql_exec(f->admin, "SELECT mailpulse_rebuild_rollups()");
    /* An hour whose events retention dropped: only its rollup rows are left. */
    sql_exec(f->admin,
             "INSERT INTO rollups (hour, host, sender_domain, recipient_domain, kind, reason,"
             " dsn, n, example) VALUES"
             " ('2025-09-01 08:00+00', 'mx1', 's.example', 'old.example', 'sent', '', '', 5, NULL),"
             " ('2025-09-01 08:00+00', 'mx1', 's.example', 'new.example', 'sent', '', '', 2, NULL),"
             " ('2025-09-01 08:00+00', 'mx1', 's.example', '', 'deferred', 'x', '', 3, '451 a')");
    sql_exec(f->admin, "INSERT INTO rollups_domain_hour (recipient_domain, hour, host, sent)"
                       " VALUES ('old.example', '2025-09-01 08:00+00', 'mx1', 5),"
                       " ('new.example', '2025-09-01 08:00+00', 'mx1', 2)");
    assert_int_equal(db_migrate(f->db, NULL), 0);
    /* Migration 022: the delays as Postfix writes them, the same numbers. */
    sql_str(f->admin, "SELECT delays FROM deliveries WHERE pos = 0", v, sizeof(v));
    assert_string_equal(v, "0.1//0.04/123456.78");

    assert_int_equal(sql_int(f->admin, "SELECT sum(n) FROM rollups"), 13);
    assert_int_equal(sql_int(f->admin, "SELECT n FROM rollups WHERE hour = '2025-09-01 08:00+00'"
                                       " AND kind = 'sent'"),
                     7);
    assert_int_equal(sql_int(f->admin, "SELECT n FROM rollups WHERE hour = '2025-11-10 10:00+00'"
                                       " AND kind = 'bounced'"),
                     2);
    assert_int_equal(sql_int(f->admin,
                             "SELECT deferred FROM rollups_domain_hour"
                             " WHERE recipient_domain = '' AND hour = '2025-09-01 08:00+00'"),
                     3);
    assert_int_equal(sql_int(f->admin,
                             "SELECT bounced FROM rollups_domain_hour"
                             " WHERE recipient_domain = '' AND hour = '2025-11-10 10:00+00'"),
                     1);
    /* A rebuild makes the hours of the stored events again and keeps the older ones. */
    sql_exec(f->admin, "UPDATE rollups_domain_hour SET sent = sent + 100"
                       " WHERE hour = '2025-11-10 10:00+00'");
    assert_int_equal(db_rebuild_rollups(f->db, NULL), 0);
    assert_int_equal(sql_int(f->admin, "SELECT sent FROM rollups_domain_hour"
                                       " WHERE recipient_domain = 'y.com'"),
                     1);
    assert_int_equal(sql_int(f->admin, "SELECT sum(sent + deferred + bounced + expired)"
                                       " FROM rollups_domain_hour"),
                     13);
    /* Every domain of all time, the dropped hour's included, from the hour rows. */
    query_all(&q);
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_domains(f->db, &q, DB_ORDER_VOLUME, 10, got_domain, &c), 0);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.doms[0].domain, "old.example");
    assert_int_equal(c.doms[0].sent, 5);
    assert_string_equal(c.doms[1].domain, "new.example");
    /* A summary for one recipient domain counts its events; for all, the rollups. */
    memset(&s, 0, sizeof(s));
    assert_int_equal(db_summary(f->db, &q.range, &s), 0);
    assert_int_equal(s.sent, 8);
    assert_int_equal(s.deferred, 3);
    assert_int_equal(s.bounced, 2);
    strcpy(q.domain, "Z.com");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_reasons(f->db, &q, 10, got_reason, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.reasons[0].count, 1);
}

/*
 * test_migrate_positions - migration 023 keeps every event and its place, makes the sources'
 * ids and the events' source_id integers, and orders the position key without padding; an
 * event stored again is still refused, one without a time too, and the sources' sequence
 * stops at the integers' end
 */
static void test_migrate_positions(void **state)
{
    struct fixture *f = *state;
    static const char *const tables[] = {"messages", "deliveries", "rejects", "bounce_notices",
                                         "smtp_events"};
    char sql[512], v[256];
    PGresult *res;
    size_t i;

    migrate_upto(f, 22);
    sql_exec(f->admin, "SELECT mailpulse_ensure_partitions('2025-11-01', '2025-11-30')");
    sql_exec(f->admin, "INSERT INTO sources (name, identity) VALUES ('l', 'i'), ('m', 'j')");
    sql_exec(f->admin, "INSERT INTO messages (time, host, queue_id, source_id, pos, seq) VALUES"
                       " ('2025-11-10 10:00+00', 'mx1', 'Q1', 2, 4294967296, 0)");
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, queue_id, recipient, status, source_id, pos,"
             " seq) VALUES ('2025-11-10 10:01+00', 'mx1', 'Q1', 'a@y.com', 'sent', 2,"
             " 4294967400, 0), ('2025-11-10 10:01+00', 'mx1', 'Q1', 'b@y.com', 'sent', 2,"
             " 4294967400, 1), (NULL, 'mx1', 'Q1', 'c@y.com', 'deferred', 1, 7, 0)");
    sql_exec(f->admin, "INSERT INTO rejects (time, host, recipient, source_id, pos) VALUES"
                       " ('2025-11-10 10:02+00', 'mx1', 'd@y.com', 1, 9)");
    sql_exec(f->admin, "INSERT INTO bounce_notices (time, host, queue_id, source_id, pos) VALUES"
                       " ('2025-11-10 10:03+00', 'mx1', 'Q1', 1, 11)");
    sql_exec(f->admin, "INSERT INTO smtp_events (time, host, stage, source_id, pos) VALUES"
                       " ('2025-11-10 10:04+00', 'mx1', 'connect', 2, 13)");
    sql_exec(f->admin, "INSERT INTO parser_state (source_id, identity, position, version, state)"
                       " VALUES (2, 'j', 1, 1, 'x')");
    assert_int_equal(db_migrate(f->db, NULL), 0);

    /* Every source id an integer, sources' own included (and their count: none missed). */
    assert_int_equal(sql_int(f->admin,
                             "SELECT count(*) FILTER (WHERE atttypid = 'integer'::regtype)"
                             " - count(*) FROM pg_attribute WHERE (attname = 'source_id'"
                             " AND attrelid IN ('messages'::regclass, 'deliveries'::regclass,"
                             " 'rejects'::regclass, 'bounce_notices'::regclass,"
                             " 'smtp_events'::regclass, 'dsn_reports'::regclass,"
                             " 'complaints'::regclass, 'parser_state'::regclass))"
                             " OR (attrelid = 'sources'::regclass AND attname = 'id')"
                             " HAVING count(*) = 9"),
                     0);
    for (i = 0; i < ARRAY_LEN(tables); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                 " WHERE conname = '%s_position_key'"
                 " AND connamespace = current_schema()::regnamespace",
                 tables[i]);
        sql_str(f->admin, sql, v, sizeof(v));
        assert_string_equal(v, "UNIQUE NULLS NOT DISTINCT (source_id, seq, pos, \"time\")");
    }
    assert_int_equal(sql_int(f->admin, "SELECT max_value FROM pg_sequences"
                                       " WHERE sequencename = 'sources_id_seq'"
                                       " AND schemaname = current_schema()"),
                     2147483647);

    /* Every event where it was, its place whole. */
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries WHERE source_id = 2"
                                       " AND pos = 4294967400"),
                     2);
    assert_int_equal(sql_int(f->admin, "SELECT pos FROM messages WHERE queue_id = 'Q1'"),
                     4294967296LL);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM rejects") +
                         sql_int(f->admin, "SELECT count(*) FROM bounce_notices") +
                         sql_int(f->admin, "SELECT count(*) FROM smtp_events") +
                         sql_int(f->admin, "SELECT count(*) FROM parser_state"),
                     4);

    /* Stored again, as the ingest does: refused, with and without a time. */
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, queue_id, recipient, status, source_id, pos,"
             " seq) VALUES ('2025-11-10 10:01+00', 'mx1', 'Q1', 'b@y.com', 'sent', 2,"
             " 4294967400, 1), (NULL, 'mx1', 'Q1', 'c@y.com', 'deferred', 1, 7, 0),"
             " ('2025-11-10 10:01+00', 'mx1', 'Q1', 'e@y.com', 'sent', 2, 4294967400, 2)"
             " ON CONFLICT (source_id, pos, seq, time) DO NOTHING");
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM deliveries"), 4);

    /* The sequence runs out before an event could carry an id it cannot hold. */
    sql_exec(f->admin, "SELECT setval('sources_id_seq', 2147483647)");
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM sources"), 2);
    res = PQexec(f->admin, "INSERT INTO sources (name, identity) VALUES ('n', 'k')");
    assert_int_not_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
}

/*
 * test_migrate_time_indexes - a database with rows stored before 013 ends with a B-tree on
 * the messages' time in every partition, old and new, and no BRIN index there (013 made one,
 * 029 took it back); the attempts keep theirs; the bounces page and a mid-minute summary
 * (messages included) stay exact
 */
static void test_migrate_time_indexes(void **state)
{
    struct fixture *f = *state;
    static const char *const parts[] = {"messages_p202510", "messages_p202511", "messages_p202601"};
    char sql[256], cur[DB_CURSOR_LEN], next[DB_CURSOR_LEN], err[128];
    struct db_query q;
    struct db_summary s;
    struct collect c;
    int64_t rows;
    int i;

    migrate_old(f, 12, "2025-10-31", "2025-11-01");
    /* 600 attempts a minute apart from 2025-10-31 20:00, every seventh failed. */
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, sender, sender_domain, recipient,"
             " recipient_domain, status, reply, source_id, pos, seq)"
             " SELECT timestamptz '2025-10-31 20:00:00+00' + i * interval '1 minute', 'mx1',"
             " 'a@ex.org', 'ex.org', 'u' || i || '@y.com', 'y.com',"
             " CASE WHEN i % 7 = 0 THEN 'bounced' ELSE 'sent' END, 'r' || i, 1, i, 0"
             " FROM generate_series(0, 599) i");
    /* 300 messages two minutes apart, on the half minute. */
    sql_exec(f->admin,
             "INSERT INTO messages (time, host, queue_id, message_id, sender, sender_domain,"
             " client, source_id, pos, seq) SELECT timestamptz '2025-10-31 20:00:30+00'"
             " + i * interval '2 minutes', 'mx1', 'Q' || i, '<m' || i || '@ex.org>', 'a@ex.org',"
             " 'ex.org', 'c[192.0.2.1]', 1, 1000 + i, 0"
             " FROM generate_series(0, 299) i");
    assert_int_equal(db_migrate(f->db, NULL), 0);
    assert_int_equal(db_rebuild_rollups(f->db, &rows), 0);
    assert_true(rows > 0);
    sql_exec(f->admin, "SELECT mailpulse_ensure_partitions('2026-01-01', '2026-01-01')");

    for (i = 0; i < (int)ARRAY_LEN(parts); i++) {
        assert_int_equal(index_count(f, parts[i], "%USING brin%"), 0);
        assert_int_equal(index_count(f, parts[i], "%btree (\"time\")"), 1);
    }
    assert_int_equal(index_count(f, "deliveries_p202510", "%btree (\"time\")"), 1);
    assert_int_equal(index_count(f, "deliveries_p202601", "%btree (\"time\")"), 1);
    assert_int_equal(index_count(f, "rollups", "%(host, hour)%"), 0);
    assert_int_equal(index_count(f, "messages_p202510", "%USING hash (message_id)%"), 1);
    assert_int_equal(index_count(f, "messages_p202601", "%USING hash (message_id)%"), 1);

    /* The newest failed attempts first, across the month boundary, as the rows say. */
    query_all(&q);
    memset(&c, 0, sizeof(c));
    cur[0] = 0;
    assert_int_equal(db_bounces(f->db, &q, 3, cur, next, got_event, &c, err, sizeof(err)), 0);
    assert_int_equal(c.n, 3);
    assert_true(next[0] != 0);
    for (i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT (extract(epoch FROM time) * 1000000)::bigint FROM deliveries"
                 " WHERE status <> 'sent' ORDER BY time DESC OFFSET %d LIMIT 1",
                 i);
        assert_int_equal(c.evs[i].time_us, sql_int(f->admin, sql));
    }
    /* A range that starts and ends mid-minute, over the boundary, read through the BRIN. */
    q.range.from_us = (int64_t)1761946230 * 1000000; /* 2025-10-31 21:30:30 */
    q.range.to_us = (int64_t)1761978645 * 1000000;   /* 2025-11-01 06:30:45 */
    assert_int_equal(db_summary(f->db, &q.range, &s), 0);
    assert_int_equal(s.sent + s.bounced,
                     facts_count(f, "sent", q.range.from_us, q.range.to_us) +
                         facts_count(f, "bounced", q.range.from_us, q.range.to_us));
    assert_int_equal(s.bounced, facts_count(f, "bounced", q.range.from_us, q.range.to_us));
    assert_true(s.bounced > 0);
    assert_int_equal(s.received, facts_count(f, "received", q.range.from_us, q.range.to_us));
    assert_true(s.received > 0);

    /* A message stored before 013 is found by its message-id through the hash index. */
    memset(&q, 0, sizeof(q));
    strcpy(q.message_id, "<m123@ex.org>");
    memset(&c, 0, sizeof(c));
    assert_int_equal(db_message_trail(f->db, &q, 100, got_event, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.evs[0].type, EV_MESSAGE);
    assert_string_equal(c.evs[0].queue_id, "Q123");
}

/*
 * test_migrate_tenmin_partitions - ten-minute rollups made before 032 move into monthly
 * partitions, row for row, except those of a month whose events retention had dropped; then
 * retention drops a month's ten-minute rows with its events, and a later month gets its
 * partitions when its buckets are added up
 */
static void test_migrate_tenmin_partitions(void **state)
{
    struct fixture *f = *state;
    static const char digest[] =
        "SELECT md5(string_agg(r, ',' ORDER BY r)) FROM ("
        " SELECT concat_ws('/', tenmin, recipient_domain, host, sent, deferred, bounced, expired)"
        " r FROM rollups_domain_tenmin WHERE tenmin >= '2025-10-01'"
        " UNION ALL SELECT concat_ws('/', tenmin, host, axis, key, kind, reason, n)"
        " FROM rollups_sender_tenmin WHERE tenmin >= '2025-10-01') x";
    char before[64], after[64];

    migrate_old(f, 31, "2025-09-30", "2025-10-01");
    /* Attempts every 7 minutes from 2025-09-30 12:00 to 2025-10-01 12:00, every fifth
     * deferred, and messages received; all added up, then September's events dropped. */
    sql_exec(f->admin,
             "INSERT INTO deliveries (time, host, sender, sender_domain, recipient,"
             " recipient_domain, status, reply, source_id, pos, seq, sasl_username)"
             " SELECT timestamptz '2025-09-30 12:00:00+00' + i * interval '7 minutes',"
             " 'mx' || i % 2, 'a@ex.org', 'ex.org', 'u' || i || '@y' || i % 3 || '.com',"
             " 'y' || i % 3 || '.com', CASE WHEN i % 5 = 0 THEN 'deferred' ELSE 'sent' END,"
             " 'r' || i, 1, i, 0, 'user' || i % 4 FROM generate_series(0, 205) i");
    sql_exec(f->admin, "INSERT INTO messages (time, host, queue_id, sender, sender_domain, client,"
                       " source_id, pos, seq) SELECT timestamptz '2025-09-30 12:03:00+00'"
                       " + i * interval '11 minutes', 'mx1', 'Q' || i, 'a@ex.org', 'ex.org',"
                       " 'c[192.0.2.1]', 1, 1000 + i, 0 FROM generate_series(0, 130) i");
    assert_int_equal(sql_int(f->admin, "SELECT (mailpulse_roll_tenmin('2025-10-02', '3 days')"
                                       " = '2025-10-02')::int"),
                     1);
    assert_true(sql_int(f->admin, "SELECT count(*) FROM rollups_domain_tenmin"
                                  " WHERE tenmin < '2025-10-01'") > 0);
    assert_int_equal(sql_int(f->admin, "SELECT mailpulse_drop_partitions('2025-10-01')"), 7);
    sql_str(f->admin, digest, before, sizeof(before));

    assert_int_equal(db_migrate(f->db, NULL), 0);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM pg_class WHERE relkind = 'p'"
                                       " AND relname IN ('rollups_domain_tenmin',"
                                       " 'rollups_sender_tenmin')"),
                     2);
    sql_str(f->admin, digest, after, sizeof(after));
    assert_string_equal(after, before);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM rollups_domain_tenmin"
                                       " WHERE tenmin < '2025-10-01'"),
                     0);
    assert_int_equal(sql_int(f->admin,
                             "SELECT count(*) FROM pg_class"
                             " WHERE relkind = 'r' AND relname LIKE 'rollups\\_%\\_tenmin\\_p%'"),
                     2);

    /* November's attempts, added up: November's partitions are made for them. */
    sql_exec(f->admin, "SELECT mailpulse_ensure_partitions('2025-11-05', '2025-11-05')");
    sql_exec(f->admin, "INSERT INTO deliveries (time, host, recipient_domain, status,"
                       " source_id, pos, seq) VALUES ('2025-11-05 10:00:00+00', 'mx1',"
                       " 'z.com', 'sent', 1, 5000, 0)");
    sql_exec(f->admin, "DROP TABLE rollups_domain_tenmin_p202511, rollups_sender_tenmin_p202511");
    assert_int_equal(sql_int(f->admin, "SELECT (mailpulse_roll_tenmin('2025-11-06', '60 days')"
                                       " = '2025-11-06')::int"),
                     1);
    assert_int_equal(sql_int(f->admin, "SELECT sum(sent) FROM rollups_domain_tenmin_p202511"), 1);
    /* Retention takes October's ten-minute rows with its events. */
    assert_int_equal(sql_int(f->admin, "SELECT mailpulse_drop_partitions('2025-11-01')"), 9);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM rollups_domain_tenmin"), 1);
    assert_int_equal(sql_int(f->admin, "SELECT count(*) FROM rollups_sender_tenmin"
                                       " WHERE tenmin < '2025-11-01'"),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_bad),
        cmocka_unit_test(test_range_units),
        cmocka_unit_test(test_range_tenmin),
        cmocka_unit_test_setup_teardown(test_unexpected_result, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_ping, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_empty, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_schema_behind, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_concurrent, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_source, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_source_prefix, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_batch_insert, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_log_suppressions, setup_migrated, teardown),
        cmocka_unit_test(test_suppressions_icu),
        cmocka_unit_test_setup_teardown(test_batch_send, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bytes, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_killed_connection, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_open_reports, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_commit_error_keeps_batch, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_summary, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_timeseries, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_domains, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_reasons, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_attempts_skip_messages, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_bounces, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_trail, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_delays, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_metrics, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_export, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_read_export_range, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_summarize, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_rollup_ranges, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_minute_series, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_rollups_read_and_rebuilt, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_order, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_provider_ranges, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_provider_minutes, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_domain_grains, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_summary_sender, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_null_time_replay, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_partitions_retention, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_001, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_sender_history, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_rollups_sender, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_time_indexes, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_tenmin_partitions, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_positions, setup_empty, teardown),
        cmocka_unit_test_setup_teardown(test_edges_now, setup_migrated, teardown),
        cmocka_unit_test_setup_teardown(test_tenmin_rollups, setup_migrated, teardown),
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
