/*
 * test_dbalert - db/alerts.c against a real PostgreSQL: the windows the rules read, the
 * rollup tables of other migrations read only when present, and the alerts table's life
 * (one active alert per rule and subject, closed, listed)
 *
 * MAILPULSE_TEST_DSN names the server (tests/run.sh sets it); each run works in a schema of
 * its own (mailpulse_alert_PID) on the search_path of every connection, dropped at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "db/db.h"
#include "util/util.h"

#define HOUR (3600LL * 1000000)
#define NOW  1795773600000000LL /* 2026-11-27T10:00:00Z; the evaluation runs at 10:30 */

static char schema[64];

struct fixture {
    PGconn *admin;
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

static int setup(void **state)
{
    const char *dsn = getenv("MAILPULSE_TEST_DSN");
    struct fixture *f = xcalloc(1, sizeof(*f));
    char sql[128], err[256];

    if (dsn == NULL || dsn[0] == 0)
        fail_msg("MAILPULSE_TEST_DSN is not set (tests/run.sh sets it)");
    snprintf(schema, sizeof(schema), "mailpulse_alert_%ld", (long)getpid());
    snprintf(sql, sizeof(sql), "-c search_path=%s", schema);
    setenv("PGOPTIONS", sql, 1);
    f->admin = PQconnectdb(dsn);
    if (PQstatus(f->admin) != CONNECTION_OK)
        fail_msg("connecting: %s", PQerrorMessage(f->admin));
    sql_exec(f->admin, "SET client_min_messages = warning");
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    sql_exec(f->admin, sql);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    sql_exec(f->admin, sql);
    f->db = db_open(dsn, err, sizeof(err));
    if (f->db == NULL)
        fail_msg("db_open: %s", err);
    assert_int_equal(db_migrate(f->db, NULL), 0);
    *state = f;
    return 0;
}

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

/* The rows one gather returned, by subject. */
struct got {
    struct db_alert_row rows[16];
    int n;
};

static int got_row(void *arg, const struct db_alert_row *r)
{
    struct got *g = arg;

    if (g->n < 16)
        g->rows[g->n++] = *r;
    return 0;
}

static const struct db_alert_row *find_row(const struct got *g, const char *subject)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->rows[i].subject, subject) == 0)
            return &g->rows[i];
    fail_msg("no row for %s", subject);
    return NULL;
}

/* Without the providers', blocks' and complaints' tables those gathers are skips (1). */
static void test_missing_tables_skip(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};

    /* The migrations may have made some of them: this is the schema without. */
    sql_exec(f->admin, "DROP TABLE IF EXISTS rollups_provider_hour, rollups_block_hour,"
                       " rollups_complaint_hour");
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_PROVIDER, NOW, 60, 7, got_row, &g), 1);
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_BLOCK, NOW, 60, 7, got_row, &g), 1);
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_COMPLAINT, NOW, 60, 7, got_row, &g), 1);
    assert_int_equal(g.n, 0);
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_DOMAIN, NOW, 60, 7, got_row, &g), 0);
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_HOST, NOW, 60, 7, got_row, &g), 0);
    assert_int_equal(g.n, 0);
}

/*
 * The windows at 10:30 with window = 60 min: the current one is the buckets 09:00 and 10:00,
 * the baseline everything from 7 days back up to 09:00 (whole days only for the domains).
 */
static void test_windows(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    const struct db_alert_row *r;
    int64_t now = NOW + HOUR / 2;

    sql_exec(f->admin,
             "INSERT INTO rollups_domain_hour (hour, host, recipient_domain, sent, deferred,"
             " bounced, expired) VALUES"
             " ('2026-11-27 10:00Z', 'mx1', 'hotmail.com', 30, 60, 0, 0),"
             " ('2026-11-27 09:00Z', 'mx1', 'hotmail.com', 0, 0, 10, 0),"
             " ('2026-11-27 11:00Z', 'mx1', 'hotmail.com', 0, 99, 0, 0),"
             " ('2026-11-27 10:00Z', 'mx1', 'gmail.com', 5, 0, 0, 0),"
             " ('2026-11-27 10:00Z', 'mx1', '', 700, 0, 0, 0)"); /* no recipient domain */
    sql_exec(f->admin,
             "INSERT INTO rollups_domain_day (day, recipient_domain, sent, deferred, bounced,"
             " expired) VALUES"
             " ('2026-11-25', 'hotmail.com', 297, 3, 0, 0),"
             " ('2026-11-19', 'hotmail.com', 1000, 1000, 0, 0),"  /* before the baseline */
             " ('2026-11-27', 'hotmail.com', 1000, 1000, 0, 0)"); /* not a whole day before */
    sql_exec(f->admin, "INSERT INTO rollups_host (hour, host, kind, reason, dsn, n) VALUES"
                       " ('2026-11-27 10:00Z', 'mx1', 'expired', 'x', '4.4.1', 4),"
                       " ('2026-11-27 10:00Z', 'mx1', 'sent', '', '2.0.0', 96),"
                       " ('2026-11-24 10:00Z', 'mx2', 'sent', '', '2.0.0', 3360),"
                       " ('2026-11-24 10:00Z', 'mx1', 'sent', '', '2.0.0', 1000)");
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_DOMAIN, now, 60, 7, got_row, &g), 0);
    assert_int_equal(g.n, 2);
    r = find_row(&g, "hotmail.com");
    assert_int_equal(r->cur[0], 100); /* 60 + 30 + 10: 11:00 is later */
    assert_int_equal(r->cur[1], 60);
    assert_int_equal(r->cur[2], 10);
    assert_int_equal(r->cur[3], 0);
    assert_int_equal(r->base[0], 300);
    assert_int_equal(r->base[1], 3);
    r = find_row(&g, "gmail.com");
    assert_int_equal(r->cur[0], 5);
    assert_int_equal(r->base[0], 0);

    g.n = 0;
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_HOST, now, 60, 7, got_row, &g), 0);
    assert_int_equal(g.n, 2);
    r = find_row(&g, "mx1");
    assert_int_equal(r->cur[0], 100);
    assert_int_equal(r->cur[3], 4);
    assert_int_equal(r->base[0], 1000);
    r = find_row(&g, "mx2");
    assert_int_equal(r->cur[0], 0);
    assert_int_equal(r->base[0], 3360);
    assert_true(r->base_hours > 166.4 && r->base_hours < 166.6); /* 7 days - 1.5 h */
}

/* The contract tables, once some migration made them, are read (made here when none did). */
static void test_contract_tables(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    const struct db_alert_row *r;
    int64_t now = NOW + HOUR / 2;

    sql_exec(
        f->admin,
        "CREATE TABLE IF NOT EXISTS rollups_provider_hour (hour timestamptz, host text, provider "
        "text,"
        " sent bigint, deferred bigint, bounced bigint, expired bigint);"
        "CREATE TABLE IF NOT EXISTS rollups_block_hour (hour timestamptz, host text, provider text,"
        " block text, n bigint);"
        "CREATE TABLE IF NOT EXISTS rollups_complaint_hour (hour timestamptz, sender_domain text,"
        " feedback_type text, host text NOT NULL DEFAULT '', n integer);"
        "INSERT INTO rollups_provider_hour VALUES"
        " ('2026-11-27 10:00Z', 'mx1', 'microsoft', 28, 70, 2, 0),"
        " ('2026-11-27 10:00Z', 'mx2', 'microsoft', 10, 0, 0, 0),"
        " ('2026-11-25 08:00Z', 'mx1', 'microsoft', 297, 3, 0, 0);"
        "INSERT INTO rollups_block_hour VALUES"
        " ('2026-11-27 10:00Z', 'mx1', 'microsoft', 'spamhaus-zen', 2),"
        " ('2026-11-27 10:00Z', 'mx1', 'microsoft', 'spamcop', 4),"
        " ('2026-11-25 08:00Z', 'mx1', 'microsoft', 'spamcop', 1);"
        "INSERT INTO rollups_complaint_hour (hour, sender_domain, feedback_type, n) VALUES"
        " ('2026-11-27 10:00Z', 'news.example', 'abuse', 3);"
        "INSERT INTO rollups (hour, host, sender_domain, kind, reason, dsn, n) VALUES"
        " ('2026-11-27 10:00Z', 'mx1', 'news.example', 'sent', '', '2.0.0', 1000)");
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_PROVIDER, now, 60, 7, got_row, &g), 0);
    r = find_row(&g, "microsoft");
    assert_int_equal(r->cur[0], 110);
    assert_int_equal(r->cur[1], 70);
    assert_int_equal(r->cur[2], 2);
    assert_int_equal(r->base[0], 300);
    assert_int_equal(r->base[1], 3);

    g.n = 0;
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_BLOCK, now, 60, 7, got_row, &g), 0);
    assert_int_equal(g.n, 2);
    r = find_row(&g, "mx1/spamhaus-zen");
    assert_string_equal(r->extra, "microsoft");
    assert_int_equal(r->cur[1], 2);
    assert_int_equal(r->base[1], 0);
    r = find_row(&g, "mx1/spamcop");
    assert_int_equal(r->cur[1], 4);
    assert_int_equal(r->base[1], 1);

    g.n = 0;
    assert_int_equal(db_alert_gather(f->db, DB_ALERT_COMPLAINT, now, 60, 7, got_row, &g), 0);
    r = find_row(&g, "news.example");
    assert_int_equal(r->cur[0], 1000); /* sent */
    assert_int_equal(r->cur[1], 3);    /* complaints */
}

static int got_alert(void *arg, const struct db_alert *a)
{
    struct db_alert *out = arg;

    for (int i = 0; i < 8; i++)
        if (out[i].id == 0) {
            out[i] = *a;
            return 0;
        }
    return -1;
}

/* One active alert per rule and subject; closed it stays listed, and a new one may start. */
static void test_alert_rows(void **state)
{
    struct fixture *f = *state;
    struct db_alert got[8];
    int64_t id1 = 0, id2 = 0, id3 = 0, now = 0;

    assert_int_equal(db_alert_now(f->db, &now), 0);
    assert_int_equal(now, 0); /* nothing stored */
    sql_exec(f->admin, "INSERT INTO rollups_host_minute (minute, host, kind, reason, dsn, n)"
                       " VALUES ('2026-11-27 10:29Z', 'mx1', 'sent', '', '2.0.0', 1)");
    assert_int_equal(db_alert_now(f->db, &now), 0);
    assert_int_equal(now, NOW + HOUR / 2);

    assert_int_equal(db_alert_open(f->db, "deferral_domain", "hotmail.com", "warning", NOW,
                                   "{\"attempts\":100}", "/bounces?domain=hotmail.com", &id1),
                     0);
    assert_true(id1 > 0);
    assert_int_equal(db_alert_open(f->db, "deferral_domain", "hotmail.com", "critical", NOW,
                                   "{\"attempts\":200}", "/bounces?domain=hotmail.com", &id2),
                     0);
    assert_int_equal(id2, id1);
    assert_int_equal(db_alert_update(f->db, id1, "critical", "{\"attempts\":300}"), 0);
    memset(got, 0, sizeof(got));
    assert_int_equal(db_alert_list(f->db, 1, 10, got_alert, got), 0);
    assert_int_equal(got[0].id, id1);
    assert_int_equal(got[1].id, 0);
    assert_string_equal(got[0].severity, "critical");
    assert_string_equal(got[0].numbers, "{\"attempts\": 300}");
    assert_int_equal(got[0].started_us, NOW);
    assert_int_equal(got[0].ended_us, 0);

    assert_string_equal(got[0].end_numbers, ""); /* active: no end yet */

    assert_int_equal(db_alert_close(f->db, id1, NOW + HOUR, "{\"attempts\":100,\"deferred\":2}"),
                     0);
    memset(got, 0, sizeof(got));
    assert_int_equal(db_alert_list(f->db, 1, 10, got_alert, got), 0);
    assert_int_equal(got[0].id, 0);
    assert_int_equal(db_alert_open(f->db, "deferral_domain", "hotmail.com", "warning",
                                   NOW + 2 * HOUR, "{}", "/bounces", &id3),
                     0);
    assert_true(id3 != id1);
    memset(got, 0, sizeof(got));
    assert_int_equal(db_alert_list(f->db, 0, 10, got_alert, got), 0);
    assert_int_equal(got[0].id, id3); /* the active one first */
    assert_int_equal(got[1].id, id1);
    assert_int_equal(got[1].ended_us, NOW + HOUR);
    assert_string_equal(got[1].numbers, "{\"attempts\": 300}"); /* what fired it, kept */
    assert_string_equal(got[1].end_numbers, "{\"attempts\": 100, \"deferred\": 2}");
    assert_int_equal(db_alert_open(f->db, "x", "y", "loud", NOW, "{}", "/", &id2), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_tables_skip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contract_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_rows, setup, teardown),
    };

    log_set_level(LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
