/*
 * test_tally - cmocka tests of report/tally.c: pflogsumm's counts from parsed Postfix lines,
 * distinct deferrals and their aging, the caps, and the three output formats
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/parser.h"
#include "report/tally.h"
#include "tests/unit/unit.h"

#define P "Nov 28 17:30:17 mx1 "

/* ---- tally ---- */

/* tally_line - parse one line into the tally */
static void tally_line(struct parser *p, struct tally *t, const char *line)
{
    struct event ev;

    if (line_of(p, line, &ev) == PARSE_EVENT)
        tally_add(t, &ev);
}

/* test_tally - pflogsumm's counts, distinct deferrals, caps and the three formats */
static void test_tally(void **state)
{
    static const char *const lines[] = {
        P "postfix/smtpd[1]: AAAAA11111: client=a[1.2.3.4]",
        P "postfix/qmgr[1]: AAAAA11111: from=<s@x.com>, size=1000, nrcpt=3 (queue active)",
        P "postfix/smtp[1]: AAAAA11111: to=<a@gmail.com>, relay=g[1.1.1.1]:25, delay=1, "
          "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        P "postfix/smtp[1]: AAAAA11111: to=<b@yahoo.com>, relay=y[1.1.1.2]:25, delay=1, "
          "delays=0/0/0/1, dsn=4.7.0, status=deferred (host y said: 421 4.7.0 try later)",
        P "postfix/smtp[1]: AAAAA11111: to=<c@other.org>, relay=o[1.1.1.3]:25, delay=1, "
          "delays=0/0/0/1, dsn=5.1.1, status=bounced (host o said: 550 5.1.1 no such user)",
        "Nov 28 17:40:17 mx1 postfix/smtp[1]: AAAAA11111: to=<b@yahoo.com>, relay=y[1.1.1.2]:25, "
        "delay=600, delays=599/0/0/1, dsn=4.7.0, status=deferred (host y said: 421 4.7.0 again)",
        "Nov 28 18:40:17 mx1 postfix/local[1]: AAAAA11111: to=<b@yahoo.com>, relay=local, "
        "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (forwarded as BBBBB22222)",
        P "postfix/bounce[1]: AAAAA11111: sender non-delivery notification: CCCCC33333",
        P "postfix/qmgr[1]: CCCCC33333: from=<>, size=2000, nrcpt=1 (queue active)",
        P "postfix/smtpd[1]: NOQUEUE: reject: RCPT from u[9.9.9.9]: 554 5.7.1 <v@w>: Relay access "
          "denied; from=<s@t> to=<v@w> proto=ESMTP helo=<h>",
        P "postfix/qmgr[1]: DDDDD44444: from=<s@x.com>, status=expired, returned to sender",
    };
    struct tally_opts o = {.max_domains = 2};
    struct tally *t = tally_create(&o);
    struct parser *p = new_parser();
    struct tally_report r;
    struct buf b;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(lines); i++)
        tally_line(p, t, lines[i]);
    tally_report(t, &r);
    assert_int_equal(r.totals.received, 1); /* the notice from <> without a client is not */
    assert_int_equal(r.totals.bytes_received, 1000);
    assert_int_equal(r.totals.delivered, 1);
    assert_int_equal(r.totals.forwarded, 1);
    assert_int_equal(r.totals.deferrals, 2);
    assert_int_equal(r.totals.deferred, 1);
    assert_int_equal(r.totals.bounced, 1);
    assert_int_equal(r.totals.expired, 1);
    assert_int_equal(r.totals.rejected, 1);
    assert_int_equal(r.totals.notices, 1);
    /* two domain rows, then "(other)" takes the rest */
    assert_true(r.approximate);
    assert_int_equal(r.ndomains, 3);
    assert_int_equal(r.nhours, 2);
    assert_int_equal(r.hours[0].delivered, 1);
    buf_init(&b);
    tally_format(&r, TALLY_CSV, 0, &b);
    assert_non_null(strstr(b.data, "totals,,delivered,1\n"));
    assert_non_null(strstr(b.data, "domain,(other),"));
    buf_reset(&b);
    tally_format(&r, TALLY_JSON, 0, &b);
    assert_non_null(strstr(b.data, "\"totals\":{\"received\":1,\"delivered\":1,"));
    buf_reset(&b);
    tally_format(&r, TALLY_TEXT, 0, &b);
    assert_non_null(strstr(b.data, "deferred  (2 deferrals)"));
    buf_free(&b);
    tally_free(t);
    parser_free(p);
}

/* test_tally_deferred_set - distinct deferred messages with a tiny set: sweeps, no crash */
static void test_tally_deferred_set(void **state)
{
    struct tally_opts o = {.max_deferred = 8};
    struct tally *t = tally_create(&o);
    struct tally_report r;
    struct event ev;
    int i;

    (void)state;
    for (i = 0; i < 100; i++) {
        event_clear(&ev);
        ev.type = EV_DELIVERY;
        ev.status = ST_DEFERRED;
        ev.time_us = 1800000000000000LL + (int64_t)i * 8 * 86400 * 1000000LL; /* 8 days apart */
        snprintf(ev.queue_id, sizeof(ev.queue_id), "Q%d", i % 10);
        snprintf(ev.host, sizeof(ev.host), "mx");
        tally_add(t, &ev);
    }
    tally_report(t, &r);
    /* every deferral is 8 days after the last one of its id: a new message each time */
    assert_int_equal(r.totals.deferrals, 100);
    assert_int_equal(r.totals.deferred, 100);
    tally_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tally),
        cmocka_unit_test(test_tally_deferred_set),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
