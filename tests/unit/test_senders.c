/*
 * test_senders - what the per-sender views rest on: the submitting client and SASL user that
 * the Postfix, Exim and Sendmail readers copy into each delivery (also past a content
 * filter's re-injection), the axis names of db/senders.c, and its reader of the top reasons
 * column
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

#include "db/db.h"
#include "db/db_int.h"
#include "parser/parser.h"
#include "tests/unit/unit.h"
#include "util/util.h"

/* A log, one row per line, and for each delivery the client and SASL user it must carry. */
static void test_delivery_submitter(void **state)
{
    static const struct {
        const char *line, *client, *sasl; /* NULL: the line yields no event */
    } rows[] = {
        {"Nov 27 09:00:00 mx1 postfix/submission/smtpd[1]: 5B0000000001: "
         "client=a.example[10.0.0.1], "
         "sasl_method=PLAIN, sasl_username=alice",
         NULL, NULL},
        {"Nov 27 09:00:01 mx1 postfix/cleanup[2]: 5B0000000001: message-id=<m1@x>", NULL, NULL},
        {"Nov 27 09:00:02 mx1 postfix/qmgr[3]: 5B0000000001: from=<s@shop.example>, size=10, "
         "nrcpt=1 "
         "(queue active)",
         "a.example[10.0.0.1]", "alice"},
        {"Nov 27 09:00:03 mx1 postfix/smtp[4]: 5B0000000001: to=<r@d.example>, relay=mx.d.example"
         "[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (550 5.1.1 no)",
         "a.example[10.0.0.1]", "alice"},
        /* Unauthenticated: an empty SASL user. */
        {"Nov 27 09:01:00 mx1 postfix/smtpd[5]: 5B0000000002: client=unknown[192.0.2.7]", NULL,
         NULL},
        {"Nov 27 09:01:01 mx1 postfix/qmgr[3]: 5B0000000002: from=<i@club.example>, size=10, "
         "nrcpt=1 "
         "(queue active)",
         "unknown[192.0.2.7]", ""},
        {"Nov 27 09:01:02 mx1 postfix/smtp[4]: 5B0000000002: to=<q@d.example>, relay=mx.d.example"
         "[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
         "unknown[192.0.2.7]", ""},
        /* Through a content filter: 5B0000000003 comes back from loopback as 5B0000000004. */
        {"Nov 27 09:02:00 mx1 postfix/smtpd[6]: 5B0000000003: client=b.example[10.0.0.2], "
         "sasl_method=PLAIN, sasl_username=bob",
         NULL, NULL},
        {"Nov 27 09:02:01 mx1 postfix/cleanup[2]: 5B0000000003: message-id=<m3@x>", NULL, NULL},
        {"Nov 27 09:02:02 mx1 postfix/qmgr[3]: 5B0000000003: from=<n@shop.example>, size=10, "
         "nrcpt=1 "
         "(queue active)",
         "b.example[10.0.0.2]", "bob"},
        {"Nov 27 09:02:03 mx1 postfix/smtpd[7]: 5B0000000004: client=localhost[127.0.0.1]", NULL,
         NULL},
        {"Nov 27 09:02:04 mx1 postfix/cleanup[2]: 5B0000000004: message-id=<m3@x>", NULL, NULL},
        {"Nov 27 09:02:05 mx1 postfix/qmgr[3]: 5B0000000004: from=<n@shop.example>, size=20, "
         "nrcpt=1 "
         "(queue active)",
         NULL, NULL},
        {"Nov 27 09:02:06 mx1 postfix/smtp[8]: 5B0000000003: to=<t@d.example>, relay=127.0.0.1"
         "[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 from "
         "MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5B0000000004)",
         NULL, NULL},
        {"Nov 27 09:02:07 mx1 postfix/smtp[4]: 5B0000000004: to=<t@d.example>, relay=mx.d.example"
         "[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
         "b.example[10.0.0.2]", "bob"},
        /* Exim: H= and the user of A= on the arrival, copied into its deliveries. */
        {"2026-11-27 09:03:00 1rAbCd-000ABC-Xy <= alice@shop.example H=c.example (helo) "
         "[10.0.0.3]:53211 P=esmtpsa A=dovecot_plain:carol S=2345 id=a1@shop.example",
         "c.example[10.0.0.3]", "carol"},
        {"2026-11-27 09:03:01 1rAbCd-000ABC-Xy => bob@d.example R=dnslookup T=remote_smtp "
         "H=mx.d.example [192.0.2.1]:25 C=\"250 2.0.0 OK\" QT=1s DT=0.4s",
         "c.example[10.0.0.3]", "carol"},
        /* Sendmail: relay= and auth= of the from= line. */
        {"Nov 27 09:04:00 mx3 sendmail[77]: 4ASHUHxT004242: from=<dan@shop.example>, size=2345, "
         "class=0, nrcpts=1, msgid=<a2@shop.example>, proto=ESMTPA, daemon=MTA, auth=dan, "
         "relay=d.example [10.0.0.4]",
         "d.example[10.0.0.4]", "dan"},
        {"Nov 27 09:04:02 mx3 sendmail[78]: 4ASHUHxT004242: to=<erin@d.example>, "
         "delay=00:00:02, xdelay=00:00:01, mailer=esmtp, pri=120345, relay=mx.d.example. "
         "[192.0.2.1], dsn=2.0.0, stat=Sent (OK)",
         "d.example[10.0.0.4]", "dan"},
    };
    struct parser *p = new_parser();
    struct event ev;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        enum parse_result r = line_of(p, rows[i].line, &ev);

        if (rows[i].client == NULL) {
            if (r == PARSE_EVENT)
                fail_msg("row %zu: an event where none was expected", i);
            continue;
        }
        if (r != PARSE_EVENT)
            fail_msg("row %zu: no event", i);
        check_str(i, "client", rows[i].client, ev.client);
        check_str(i, "sasl_username", rows[i].sasl, ev.sasl_username);
    }
    parser_free(p);
}

/* Every axis's name reads back as that axis; other words are refused. */
static void test_axis_names(void **state)
{
    static const char *const bad[] = {"", "sender", "client", "SASL_USER", "host ", "hosts"};
    enum db_sender_axis a, got;
    size_t i;

    (void)state;
    for (a = DB_AXIS_SENDER_DOMAIN; a <= DB_AXIS_HOST; a++) {
        assert_int_equal(db_sender_axis_parse(db_sender_axis_name(a), &got), 0);
        assert_int_equal(got, a);
    }
    assert_string_equal(db_sender_axis_name(DB_AXIS_CLIENT_IP), "client_ip");
    assert_string_equal(db_sender_axis_name((enum db_sender_axis)99), "");
    for (i = 0; i < ARRAY_LEN(bad); i++)
        assert_int_equal(db_sender_axis_parse(bad[i], &got), -1);
}

/* The reasons column: "reason n" pairs; at most DB_SENDER_REASONS of them. */
static void test_reasons_read(void **state)
{
    static const struct {
        const char *in;
        int want;
        const char *r0;
        int64_t n0;
        const char *r2;
        int64_t n2;
    } rows[] = {
        {"", 0, NULL, 0, NULL, 0},
        {"userunknown 3", 1, "userunknown", 3, NULL, 0},
        {"userunknown 3 mailboxfull 1 blocked 12", 3, "userunknown", 3, "blocked", 12},
        {"  norelaying 9000000000 ", 1, "norelaying", 9000000000LL, NULL, 0},
        {"a 1 b 2 c 3 d 4", -1, "a", 1, "c", 3}, /* one pair too many */
        {"userunknown", -1, NULL, 0, NULL, 0},   /* no count */
        {"userunknown x", -1, NULL, 0, NULL, 0}, /* not a count */
        {"userunknown 3x", -1, NULL, 0, NULL, 0},
        {"averyveryverylongreasonname 1", -1, NULL, 0, NULL, 0}, /* longer than a reason */
    };
    struct db_sender_row row;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        memset(&row, 0, sizeof(row));
        if (db_sender_reasons_read(rows[i].in, &row) != rows[i].want)
            fail_msg("row %zu: \"%s\" read %d pairs", i, rows[i].in, row.nreasons);
        if (rows[i].r0 != NULL) {
            check_str(i, "reason 0", rows[i].r0, row.reasons[0].reason);
            assert_int_equal(row.reasons[0].n, rows[i].n0);
        }
        if (rows[i].r2 != NULL) {
            check_str(i, "reason 2", rows[i].r2, row.reasons[2].reason);
            assert_int_equal(row.reasons[2].n, rows[i].n2);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivery_submitter),
        cmocka_unit_test(test_axis_names),
        cmocka_unit_test(test_reasons_read),
    };

    return cmocka_run_group_tests_name("senders", tests, utc, NULL);
}
