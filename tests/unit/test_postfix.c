/*
 * test_postfix - cmocka tests of parser/postfix.c: single lines of each daemon, correlation
 * of a message over several lines, content-filter hops, and the Postfix corpora
 *
 * Tests are tables: one row per input line with the fields it must give. The corpus test
 * reads the corpora (corpora_dir(): MAILPULSE_CORPORA, default tests/corpora) and checks every
 * Postfix line against a plain independent extraction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parser/parser.h"
#include "tests/unit/unit.h"

#define P "Nov 28 17:30:17 mx1 "

/* ---- single lines ---- */

static const struct {
    const char *line;
    enum parse_result result;
    enum event_type type;
    enum event_status status;
    const char *recipient, *relay, *dsn;
    int smtp_code;
    const char *reply, *reason;
    bool hard;
} line_rows[] = {
    {P "postfix/smtp[1]: 4AA091855DA0: to=<a@example.com>, relay=mx.example.com[1.2.3.4]:25, "
       "delay=1.9, delays=0/0/1.5/0.37, dsn=5.1.1, status=bounced (host mx.example.com[1.2.3.4] "
       "said: 550 5.1.1 <a@example.com> User unknown (in reply to RCPT TO command))",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "a@example.com", "mx.example.com[1.2.3.4]:25", "5.1.1",
     550,
     "host mx.example.com[1.2.3.4] said: 550 5.1.1 <a@example.com> User unknown (in reply to "
     "RCPT TO command)",
     "userunknown", true},
    /* unknown keys (conn_use=, tls=) are skipped */
    {P "postfix/smtp[1]: 4AA091855DA0: to=<b@gmail.com>, relay=g.com[1.1.1.1]:25, conn_use=2, "
       "delay=0.27, delays=0.01/0/0.1/0.16, tls=yes, dsn=2.0.0, status=sent (250 2.0.0 OK)",
     PARSE_EVENT, EV_DELIVERY, ST_SENT, "b@gmail.com", "g.com[1.1.1.1]:25", "2.0.0", 250,
     "250 2.0.0 OK", "", false},
    /* Google's multi-line reply */
    {P "postfix/smtp[1]: 4ZxY2l3Xr9z1: to=<bob@gmail.com>, relay=gmail-smtp-in.l.google.com"
       "[142.250.1.26]:25, delay=1.3, delays=0.1/0/0.4/0.8, dsn=5.1.1, status=bounced (host "
       "gmail-smtp-in.l.google.com[142.250.1.26] said: 550-5.1.1 The email account that you "
       "tried to reach does not exist. 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser "
       "x1si - gsmtp (in reply to RCPT TO command))",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "bob@gmail.com",
     "gmail-smtp-in.l.google.com[142.250.1.26]:25", "5.1.1", 550, NULL, "userunknown", true},
    /* nested parentheses: the reply runs to the last ')' */
    {P "postfix/smtp[1]: ABCDEF1234: to=<c@x.org>, relay=none, delay=30, delays=0/0/30/0, "
       "dsn=4.4.1, status=deferred (connect to mx.x.org[5.6.7.8]:25: Connection timed out "
       "(port 25 (smtp)))",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "c@x.org", "none", "4.4.1", -1,
     "connect to mx.x.org[5.6.7.8]:25: Connection timed out (port 25 (smtp))", "networkerror",
     false},
    {P "postfix/lmtp[1]: A48191855DA0: to=<u@s.com>, relay=s.com[/var/run/dovecot/lmtp], "
       "delay=0.03, delays=0.01/0/0.02/0.01, dsn=2.0.0, status=sent (250 2.0.0 <u@s.com> Saved)",
     PARSE_EVENT, EV_DELIVERY, ST_SENT, "u@s.com", "s.com[/var/run/dovecot/lmtp]", "2.0.0", 250,
     "250 2.0.0 <u@s.com> Saved", "", false},
    {P "postfix/local[1]: A7E673C067: to=<h@x.com>, relay=local, delay=0.14, "
       "delays=0.01/0/0.11/0.02, dsn=2.0.0, status=sent (delivered to command: procmail -a "
       "\"$EXTENSION\")",
     PARSE_EVENT, EV_DELIVERY, ST_SENT, "h@x.com", "local", "2.0.0", -1,
     "delivered to command: procmail -a \"$EXTENSION\"", "", false},
    {P "postfix/virtual[1]: 199041033BE: to=<me@domain.fr>, relay=virtual, delay=0.08, "
       "delays=0.08/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
     PARSE_EVENT, EV_DELIVERY, ST_SENT, "me@domain.fr", "virtual", "2.0.0", -1,
     "delivered to maildir", "", false},
    {P "postfix/pipe[1]: 1A2B3C4D5E: to=<x@y.z>, orig_to=<alias@y.z>, relay=dovecot, delay=0.1, "
       "delays=0/0/0/0.1, dsn=5.2.2, status=bounced (user over quota)",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "x@y.z", "dovecot", "5.2.2", -1, "user over quota",
     "mailboxfull", false},
    {P "postfix/error[1]: 1A2B3C4D5E: to=<x@y.z>, relay=none, delay=9, delays=9/0/0/0, "
       "dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to y.z[1.2.3.4]:25: "
       "Connection refused)",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "x@y.z", "none", "4.4.1", -1, NULL, "networkerror",
     false},
    {P "postfix-out/smtp[1]: 1A2B3C4D5E: to=<x@y.z>, relay=y.z[1.2.3.4]:25, delay=1, "
       "delays=0/0/0/1, dsn=5.7.1, status=bounced (host y.z[1.2.3.4] said: 554 5.7.1 Service "
       "unavailable; Client host [9.9.9.9] blocked using zen.spamhaus.org (in reply to RCPT TO "
       "command))",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "x@y.z", "y.z[1.2.3.4]:25", "5.7.1", 554, NULL,
     "blocked", false},
    /* qmgr expiry */
    {P "postfix/qmgr[3663]: BACE842E72: from=<noreply@domain.com>, status=expired, returned to "
       "sender",
     PARSE_EVENT, EV_DELIVERY, ST_EXPIRED, "", "", "", -1, "", "expired", false},
    {P "postfix/qmgr[3663]: BACE842E73: from=<noreply@domain.com>, status=force-expired, "
       "returned to sender",
     PARSE_EVENT, EV_DELIVERY, ST_EXPIRED, "", "", "", -1, "", "expired", false},
    {P "postfix/qmgr[1]: 4AA091855DA0: from=<u@s.com>, size=391, nrcpt=1 (queue active)",
     PARSE_EVENT, EV_MESSAGE, ST_NONE, "", "", "", -1, "", "", false},
    {P "postfix/qmgr[1]: 4AA091855DA0: removed", PARSE_SKIP, EV_NONE, ST_NONE, NULL, NULL, NULL, -1,
     NULL, NULL, false},
    {P "postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[1.2.3.4]: 554 5.7.1 <x@y.z>: Relay "
       "access denied; from=<a@b.c> to=<x@y.z> proto=ESMTP helo=<helo.example>",
     PARSE_EVENT, EV_REJECT, ST_NONE, "x@y.z", "", "5.7.1", 554,
     "554 5.7.1 <x@y.z>: Relay access denied", "norelaying", false},
    /* cleanup's header check: the reply follows the helo's '>' */
    {P "postfix/cleanup[2]: 207A7BF0134: reject: header Subject: mailpulse matrix header-reject "
       "from localhost[127.0.0.1]; from=<h@client.test> to=<ok-h@peer.test> proto=ESMTP "
       "helo=<client.test>: 5.7.1 Header refused",
     PARSE_EVENT, EV_REJECT, ST_NONE, "ok-h@peer.test", "", "5.7.1", -1, "5.7.1 Header refused",
     "rejected", false},
    /* ... and with no helo, after the protocol */
    {P "postfix/cleanup[2]: 207A7BF0134: reject: body spam-word from localhost[127.0.0.1]; "
       "from=<h@client.test> to=<ok-h@peer.test> proto=SMTP: 5.7.1 Body refused",
     PARSE_EVENT, EV_REJECT, ST_NONE, "ok-h@peer.test", "", "5.7.1", -1, "5.7.1 Body refused",
     "rejected", false},
    {P "postfix/bounce[1]: 776E41855DB2: sender non-delivery notification: A48191855DA0",
     PARSE_EVENT, EV_BOUNCE_NOTICE, ST_NONE, "", "", "", -1, "", "", false},
    /* not about a delivery */
    {P "postfix/smtp[1]: 732BB407C3: host mail.domain.com[1.1.1.1] said: 451 try later (in "
       "reply to end of DATA command)",
     PARSE_SKIP, EV_NONE, ST_NONE, NULL, NULL, NULL, -1, NULL, NULL, false},
    {P "postfix/smtp[1]: Trusted TLS connection established to x[1.2.3.4]:25: TLSv1.2", PARSE_SKIP,
     EV_NONE, ST_NONE, NULL, NULL, NULL, -1, NULL, NULL, false},
    {P "postfix/qmgr[1]: warning: lots of deferred mail", PARSE_SKIP, EV_NONE, ST_NONE, NULL, NULL,
     NULL, -1, NULL, NULL, false},
    {P "postfix/anvil[1]: statistics: max cache size 1", PARSE_SKIP, EV_NONE, ST_NONE, NULL, NULL,
     NULL, -1, NULL, NULL, false},
    {P "dovecot: imap(u@x): Logged out", PARSE_SKIP, EV_NONE, ST_NONE, NULL, NULL, NULL, -1, NULL,
     NULL, false},
    {P "amavis[1]: (1) Passed CLEAN, to=<a@b>, status=sent", PARSE_SKIP, EV_NONE, ST_NONE, NULL,
     NULL, NULL, -1, NULL, NULL, false},
    /* malformed */
    {P "postfix/smtp[1]: 1A2B3C4D5E: to=<x@y.z>, relay=none, delay=1", PARSE_MALFORMED, EV_NONE,
     ST_NONE, NULL, NULL, NULL, -1, NULL, NULL, false},
    {P "postfix/smtp[1]: 1A2B3C4D5E: to=<x@y.z, relay=none", PARSE_MALFORMED, EV_NONE, ST_NONE,
     NULL, NULL, NULL, -1, NULL, NULL, false},
    {P "postfix/qmgr[1]: 1A2B3C4D5E: from=<a@b>, size=big, nrcpt=1 (queue active)", PARSE_MALFORMED,
     EV_NONE, ST_NONE, NULL, NULL, NULL, -1, NULL, NULL, false},
    {"", PARSE_SKIP, EV_NONE, ST_NONE, NULL, NULL, NULL, -1, NULL, NULL, false},
    {"ir/)", PARSE_SKIP, EV_NONE, ST_NONE, NULL, NULL, NULL, -1, NULL, NULL, false},
};

/* test_lines - one line at a time, each against its row */
static void test_lines(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(line_rows); i++) {
        struct parser *p = new_parser();
        struct event ev;
        enum parse_result r = line_of(p, line_rows[i].line, &ev);

        if (r != line_rows[i].result)
            fail_msg("row %zu: result %d, want %d: %s", i, r, line_rows[i].result,
                     line_rows[i].line);
        if (r == PARSE_EVENT) {
            assert_int_equal(ev.type, line_rows[i].type);
            assert_int_equal(ev.mta, MTA_POSTFIX);
            assert_string_equal(ev.host, "mx1");
            assert_string_equal(fmt_time(ev.time_us), "2026-11-28T17:30:17+00:00");
            assert_int_equal(ev.status, line_rows[i].status);
            assert_string_equal(ev.recipient, line_rows[i].recipient);
            assert_string_equal(ev.relay, line_rows[i].relay);
            assert_string_equal(ev.dsn, line_rows[i].dsn);
            assert_int_equal(ev.smtp_code, line_rows[i].smtp_code);
            if (line_rows[i].reply)
                assert_string_equal(ev.reply, line_rows[i].reply);
            assert_string_equal(ev.reason, line_rows[i].reason);
            assert_int_equal(ev.hard, line_rows[i].hard);
            assert_int_equal(ev.flags & EVF_TRUNCATED, 0);
        }
        parser_free(p);
    }
}

/* ---- correlation over several lines ---- */

/* test_correlation - smtpd, cleanup, qmgr, delivery, removed, and reuse of the queue id */
static void test_correlation(void **state)
{
    static const char *const lines[] = {
        P "postfix/submission/smtpd[1]: 4AA091855DA0: client=c.example[1.2.3.4], "
          "sasl_method=PLAIN, sasl_username=user@sender.com",
        P "postfix/sender-cleanup/cleanup[2]: 4AA091855DA0: message-id=<m1@sender.com>",
        P "postfix/qmgr[3]: 4AA091855DA0: from=<user@sender.com>, size=391, nrcpt=2 (queue "
          "active)",
        P "postfix/smtp[4]: 4AA091855DA0: to=<a@x.com>, relay=x[1.1.1.1]:25, delay=1, "
          "delays=0/0/0/1, dsn=4.2.2, status=deferred (host x said: 452 4.2.2 mailbox full)",
        P "postfix/qmgr[3]: 4AA091855DA0: from=<user@sender.com>, size=391, nrcpt=2 (queue "
          "active)",
        P "postfix/smtp[4]: 4AA091855DA0: to=<a@x.com>, relay=x[1.1.1.1]:25, delay=1, "
          "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        P "postfix/qmgr[3]: 4AA091855DA0: removed",
        P "postfix/smtp[4]: 4AA091855DA0: to=<b@x.com>, relay=x[1.1.1.1]:25, delay=1, "
          "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        /* the same queue id on another host is another message */
        "Nov 28 17:30:17 mx2 postfix/smtp[4]: 4AA091855DA0: to=<c@x.com>, relay=x[1.1.1.1]:25, "
        "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
    };
    static const struct {
        enum parse_result r;
        enum event_type type;
        const char *sender, *message_id;
    } want[] = {
        {PARSE_SKIP, EV_NONE, NULL, NULL},
        {PARSE_SKIP, EV_NONE, NULL, NULL},
        {PARSE_EVENT, EV_MESSAGE, "user@sender.com", "<m1@sender.com>"},
        {PARSE_EVENT, EV_DELIVERY, "user@sender.com", "<m1@sender.com>"},
        {PARSE_SKIP, EV_NONE, NULL, NULL}, /* the second qmgr line: no second message */
        {PARSE_EVENT, EV_DELIVERY, "user@sender.com", "<m1@sender.com>"},
        {PARSE_SKIP, EV_NONE, NULL, NULL},
        {PARSE_EVENT, EV_DELIVERY, "", ""}, /* after removed: nothing known */
        {PARSE_EVENT, EV_DELIVERY, "", ""},
    };
    struct parser *p = new_parser();
    struct event ev;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(lines); i++) {
        enum parse_result r = line_of(p, lines[i], &ev);

        assert_int_equal(r, want[i].r);
        if (r != PARSE_EVENT)
            continue;
        assert_int_equal(ev.type, want[i].type);
        assert_string_equal(ev.sender, want[i].sender);
        assert_string_equal(ev.message_id, want[i].message_id);
        if (ev.type == EV_MESSAGE) {
            assert_int_equal(ev.size, 391);
            assert_int_equal(ev.nrcpt, 2);
            assert_string_equal(ev.client, "c.example[1.2.3.4]");
            assert_string_equal(ev.sasl_username, "user@sender.com");
        }
    }
    assert_int_equal(parser_stats(p)->lines, ARRAY_LEN(lines));
    assert_int_equal(parser_stats(p)->events, 5);
    parser_free(p);
}

/* ---- content filters ---- */

/* test_content_filter - amavis: the hop is no delivery, the re-injection no new message */
static void test_content_filter(void **state)
{
    static const struct {
        const char *line;
        enum parse_result r;
        enum event_type type;
    } rows[] = {
        {P "postfix/smtpd[1]: 4AA091855DA0: client=c.example[1.2.3.4]", PARSE_SKIP, EV_NONE},
        {P "postfix/cleanup[2]: 4AA091855DA0: message-id=<m1@x>", PARSE_SKIP, EV_NONE},
        {P "postfix/qmgr[3]: 4AA091855DA0: from=<u@s.com>, size=391, nrcpt=1 (queue active)",
         PARSE_EVENT, EV_MESSAGE},
        {P "postfix/smtpd[4]: 776E41855DB2: client=localhost[127.0.0.1]", PARSE_SKIP, EV_NONE},
        {P "postfix/cleanup[2]: 776E41855DB2: message-id=<m1@x>", PARSE_SKIP, EV_NONE},
        /* the same message back from amavis: not a second message */
        {P "postfix/qmgr[3]: 776E41855DB2: from=<u@s.com>, size=1111, nrcpt=1 (queue active)",
         PARSE_SKIP, EV_NONE},
        /* the hop: not a delivery */
        {P "postfix/smtp[5]: 4AA091855DA0: to=<i@e.com>, relay=127.0.0.1[127.0.0.1]:10024, "
           "delay=0.23, delays=0.15/0/0/0.08, dsn=2.0.0, status=sent (250 2.0.0 from "
           "MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 776E41855DB2)",
         PARSE_SKIP, EV_NONE},
        /* the real delivery, with the message's sender and message-id */
        {P "postfix/smtp[6]: 776E41855DB2: to=<i@e.com>, relay=mx.e.com[11.22.33.44]:25, "
           "delay=1.9, delays=0/0/1.5/0.37, dsn=2.0.0, status=sent (250 ok)",
         PARSE_EVENT, EV_DELIVERY},
        /* a local app submitting through localhost with a fresh message-id is a message */
        {P "postfix/smtpd[4]: 9C0FFEE0001: client=localhost[127.0.0.1]", PARSE_SKIP, EV_NONE},
        {P "postfix/cleanup[2]: 9C0FFEE0001: message-id=<app@x>", PARSE_SKIP, EV_NONE},
        {P "postfix/qmgr[3]: 9C0FFEE0001: from=<app@s.com>, size=5, nrcpt=1 (queue active)",
         PARSE_EVENT, EV_MESSAGE},
    };
    struct parser *p = new_parser();
    struct event ev;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        assert_int_equal(line_of(p, rows[i].line, &ev), rows[i].r);
        if (rows[i].r == PARSE_EVENT)
            assert_int_equal(ev.type, rows[i].type);
        if (rows[i].type == EV_DELIVERY) {
            assert_string_equal(ev.message_id, "<m1@x>");
            assert_string_equal(ev.sender, "u@s.com");
        }
    }
    assert_int_equal(parser_stats(p)->reinjected, 1);
    parser_free(p);
}

/* test_loopback_relay - a loopback relay that says "queued as" an id never seen here delivered */
static void test_loopback_relay(void **state)
{
    struct parser *p = new_parser();
    struct event ev;

    (void)state;
    assert_int_equal(line_of(p,
                             P "postfix/qmgr[3]: 5AB0C1855DA0: from=<u@s.com>, size=391, nrcpt=1 "
                               "(queue active)",
                             &ev),
                     PARSE_EVENT);
    /* a smarthost or SMTP tunnel on loopback: its id is its own, the message left; held
     * until it is clear that no message SMH000001 comes back, then a delivery */
    parser_set_pos(p, 4242);
    assert_int_equal(line_of(p,
                             P "postfix/smtp[5]: 5AB0C1855DA0: to=<i@e.com>, "
                               "relay=127.0.0.7[127.0.0.7]:2525, delay=0.2, "
                               "delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: "
                               "queued as SMH000001)",
                             &ev),
                     PARSE_SKIP);
    assert_int_equal(parser_held(p), 1);
    assert_int_equal(parser_release(p), 1);
    assert_true(parser_next(p, &ev));
    assert_false(parser_next(p, &ev));
    assert_int_equal(ev.held_pos, 4243);
    assert_int_equal(ev.type, EV_DELIVERY);
    assert_int_equal(ev.status, ST_SENT);
    assert_string_equal(ev.recipient, "i@e.com");
    /* the id handed back is this Postfix's own, logged before the hop: a filter's hop */
    assert_int_equal(
        line_of(p, P "postfix/smtpd[4]: 6CD0E1855DB2: client=localhost[127.0.0.1]", &ev),
        PARSE_SKIP);
    assert_int_equal(line_of(p,
                             P "postfix/smtp[5]: 5AB0C1855DA0: to=<j@e.com>, "
                               "relay=127.0.0.1[127.0.0.1]:10026, delay=0.2, "
                               "delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: "
                               "queued as 6CD0E1855DB2)",
                             &ev),
                     PARSE_SKIP);
    /* re-injected, delivered and removed before the filter's reply reached the hop's line */
    assert_int_equal(
        line_of(p, P "postfix/smtpd[4]: 7EF0E1855DB3: client=localhost[127.0.0.1]", &ev),
        PARSE_SKIP);
    assert_int_equal(line_of(p, P "postfix/qmgr[3]: 7EF0E1855DB3: removed", &ev), PARSE_SKIP);
    assert_int_equal(line_of(p,
                             P "postfix/smtp[5]: 5AB0C1855DA0: to=<k@e.com>, "
                               "relay=127.0.0.11[127.0.0.11]:10026, delay=0.2, "
                               "delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok: "
                               "queued as 7EF0E1855DB3)",
                             &ev),
                     PARSE_SKIP);
    assert_int_equal(parser_stats(p)->reinjected, 2);
    parser_free(p);
}

/* drain - the events parser_next() hands out now, counted; the last one in *ev */
static int drain(struct parser *p, struct event *ev)
{
    int n = 0;

    while (parser_next(p, ev))
        n++;
    return n;
}

/* test_hold_claimed - a hop read before its re-injection is held, then dropped when the
 * re-injected message appears; that message is not received twice and takes the submitter */
static void test_hold_claimed(void **state)
{
    struct parser *p = new_parser();
    struct event ev;

    (void)state;
    line_of(p, P "postfix/smtpd[4]: 5AB0C1855DA0: client=app[192.0.2.9], sasl_username=ann", &ev);
    line_of(p, P "postfix/cleanup[6]: 5AB0C1855DA0: message-id=<h1@x>", &ev);
    assert_int_equal(line_of(p,
                             P "postfix/qmgr[3]: 5AB0C1855DA0: from=<u@s.com>, size=391, "
                               "nrcpt=2 (queue active)",
                             &ev),
                     PARSE_EVENT);
    /* both recipients' hops, and the first copy gone, before the copy is logged */
    for (int i = 0; i < 2; i++) {
        char line[400];

        snprintf(line, sizeof(line),
                 P "postfix/smtp[5]: 5AB0C1855DA0: to=<%c@e.com>, "
                   "relay=127.0.0.1[127.0.0.1]:10024, delay=0.2, delays=0.1/0/0/0.1, "
                   "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F00C1855DB9)",
                 'a' + i);
        assert_int_equal(line_of(p, line, &ev), PARSE_SKIP);
        assert_int_equal(drain(p, &ev), 0);
    }
    assert_int_equal(line_of(p, P "postfix/qmgr[3]: 5AB0C1855DA0: removed", &ev), PARSE_SKIP);
    assert_int_equal(parser_held(p), 2);
    line_of(p, P "postfix/smtpd[7]: 9F00C1855DB9: client=localhost[127.0.0.1]", &ev);
    line_of(p, P "postfix/cleanup[6]: 9F00C1855DB9: message-id=<h1@x>", &ev);
    assert_int_equal(line_of(p,
                             P "postfix/qmgr[3]: 9F00C1855DB9: from=<u@s.com>, size=900, "
                               "nrcpt=2 (queue active)",
                             &ev),
                     PARSE_SKIP);
    assert_int_equal(parser_held(p), 0);
    assert_int_equal(parser_stats(p)->reinjected, 2);
    assert_int_equal(line_of(p,
                             P "postfix/smtp[8]: 9F00C1855DB9: to=<a@e.com>, "
                               "relay=mx.e.com[192.0.2.1]:25, delay=1, delays=0/0/0/1, "
                               "dsn=2.0.0, status=sent (250 ok)",
                             &ev),
                     PARSE_EVENT);
    assert_string_equal(ev.client, "app[192.0.2.9]");
    assert_string_equal(ev.sasl_username, "ann");
    assert_int_equal(parser_release(p), 0);
    parser_free(p);
}

/* test_hold_released - no re-injection: released after five minutes of log time, in order
 * of holding, and by a full table (the oldest first) */
static void test_hold_released(void **state)
{
    struct parser *p = new_parser();
    struct event ev;
    char line[400];

    (void)state;
    assert_int_equal(line_of(p,
                             "Nov 28 17:30:17 mx1 postfix/smtp[5]: 1A0001855DA0: to=<x@e.com>, "
                             "relay=127.0.0.7[127.0.0.7]:2525, delay=0.2, dsn=2.0.0, "
                             "status=sent (250 2.0.0 Ok: queued as 6F0001855DA0)",
                             &ev),
                     PARSE_SKIP);
    /* under five minutes: still held */
    assert_int_equal(line_of(p, "Nov 28 17:35:17 mx1 postfix/qmgr[3]: 2B0001855DA0: removed", &ev),
                     PARSE_SKIP);
    assert_int_equal(drain(p, &ev), 0);
    /* past them: the line (a delivery of its own) first, then the released hop */
    assert_int_equal(line_of(p,
                             "Nov 28 17:35:18 mx1 postfix/smtp[5]: 3C0001855DA0: to=<y@e.com>, "
                             "relay=mx.e.com[192.0.2.1]:25, delay=1, dsn=2.0.0, "
                             "status=sent (250 ok)",
                             &ev),
                     PARSE_EVENT);
    assert_string_equal(ev.recipient, "y@e.com");
    assert_int_equal(drain(p, &ev), 1);
    assert_string_equal(ev.recipient, "x@e.com");
    assert_int_equal(ev.status, ST_SENT);
    assert_int_equal(parser_stats(p)->held_released, 1);
    /* a full table lets the oldest go */
    for (int i = 0; i < 513; i++) {
        snprintf(line, sizeof(line),
                 "Nov 28 17:40:00 mx1 postfix/smtp[5]: 4D0001855DA0: to=<r%d@e.com>, "
                 "relay=127.0.0.7[127.0.0.7]:2525, delay=0.2, dsn=2.0.0, "
                 "status=sent (250 2.0.0 Ok: queued as 5E%06dA)",
                 i, i);
        assert_int_equal(line_of(p, line, &ev), PARSE_SKIP);
        assert_int_equal(drain(p, &ev), i == 512);
    }
    assert_string_equal(ev.recipient, "r0@e.com");
    assert_int_equal(parser_held(p), 512);
    parser_free(p);
}

/* test_expiry_per_recipient - qmgr's expiry: one expired per recipient still deferred */
static void test_expiry_per_recipient(void **state)
{
    static const char *const lines[] = {
        P "postfix/qmgr[3]: 7EE0C1855DA0: from=<u@s.com>, size=391, nrcpt=3 (queue active)",
        P "postfix/smtp[5]: 7EE0C1855DA0: to=<a@e.com>, relay=mx.e.com[1.2.3.4]:25, delay=1, "
          "delays=0/0/0/1, dsn=4.2.2, status=deferred (host mx.e.com[1.2.3.4] said: 452 4.2.2 "
          "Mailbox full (in reply to RCPT TO command))",
        P "postfix/smtp[5]: 7EE0C1855DA0: to=<b@e.com>, relay=mx.e.com[1.2.3.4]:25, delay=1, "
          "delays=0/0/0/1, dsn=4.3.0, status=deferred (host mx.e.com[1.2.3.4] said: 451 4.3.0 "
          "Try later (in reply to RCPT TO command))",
        P "postfix/smtp[5]: 7EE0C1855DA0: to=<c@e.com>, relay=mx.e.com[1.2.3.4]:25, delay=1, "
          "delays=0/0/0/1, dsn=4.3.0, status=deferred (host mx.e.com[1.2.3.4] said: 451 4.3.0 "
          "Try later (in reply to RCPT TO command))",
        P "postfix/smtp[5]: 7EE0C1855DA0: to=<c@e.com>, relay=mx.e.com[1.2.3.4]:25, delay=9, "
          "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
    };
    struct parser *p = new_parser();
    struct event ev;
    size_t i;
    int seen_a = 0, seen_b = 0;

    (void)state;
    for (i = 0; i < ARRAY_LEN(lines); i++)
        assert_int_equal(line_of(p, lines[i], &ev), PARSE_EVENT);
    assert_int_equal(line_of(p,
                             P "postfix/qmgr[3]: 7EE0C1855DA0: from=<u@s.com>, status=expired, "
                               "returned to sender",
                             &ev),
                     PARSE_EVENT);
    do {
        assert_int_equal(ev.status, ST_EXPIRED);
        assert_string_equal(ev.sender, "u@s.com");
        if (strcmp(ev.recipient, "a@e.com") == 0) {
            seen_a++;
            assert_string_equal(ev.dsn, "4.2.2");
            assert_int_equal(ev.smtp_code, 452);
            assert_string_equal(ev.reason, "mailboxfull");
        } else {
            seen_b++;
            assert_string_equal(ev.recipient, "b@e.com");
            assert_string_equal(ev.dsn, "4.3.0");
        }
    } while (parser_next(p, &ev));
    assert_int_equal(seen_a, 1);
    assert_int_equal(seen_b, 1);
    /* without deferrals seen (the log began later): one expiry for the message */
    assert_int_equal(line_of(p,
                             P "postfix/qmgr[3]: 8FF0C1855DA0: from=<u@s.com>, status=expired, "
                               "returned to sender",
                             &ev),
                     PARSE_EVENT);
    assert_string_equal(ev.recipient, "");
    assert_false(parser_next(p, &ev));
    parser_free(p);
}

/* test_expiry_many - 1,800 deferred recipients, a third delivered later: the rest expire */
static void test_expiry_many(void **state)
{
    struct parser *p = new_parser();
    struct event ev;
    char line[512];
    int q, r, n;

    (void)state;
    for (q = 0; q < 60; q++)
        for (r = 0; r < 30; r++) {
            snprintf(line, sizeof(line),
                     P "postfix/smtp[5]: %010X: to=<r%d@q%d.test>, relay=mx[1.2.3.4]:25, "
                       "delay=1, delays=0/0/0/1, dsn=4.3.%d, status=deferred (host mx[1.2.3.4] "
                       "said: 451 4.3.%d later (in reply to RCPT TO command))",
                     0xA000 + q, r, q, r % 10, r % 10);
            assert_int_equal(line_of(p, line, &ev), PARSE_EVENT);
        }
    for (q = 0; q < 60; q++)
        for (r = 0; r < 30; r += 3) {
            snprintf(line, sizeof(line),
                     P "postfix/smtp[5]: %010X: to=<r%d@q%d.test>, relay=mx[1.2.3.4]:25, "
                       "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
                     0xA000 + q, r, q);
            assert_int_equal(line_of(p, line, &ev), PARSE_EVENT);
        }
    for (q = 0; q < 60; q++) {
        snprintf(line, sizeof(line),
                 P "postfix/qmgr[3]: %010X: from=<u@s.com>, status=expired, returned to sender",
                 0xA000 + q);
        assert_int_equal(line_of(p, line, &ev), PARSE_EVENT);
        n = 0;
        do {
            char want[32];

            assert_int_equal(sscanf(ev.recipient, "r%d@", &r), 1);
            assert_true(r % 3 != 0);
            snprintf(want, sizeof(want), "4.3.%d", r % 10);
            assert_string_equal(ev.dsn, want);
            n++;
        } while (parser_next(p, &ev));
        assert_int_equal(n, 20);
    }
    parser_free(p);
}

/* ---- corpora ---- */

/* extract - the text after key up to any of stop, into out; false when key is absent */
static bool extract(const char *line, const char *key, const char *stop, char *out, size_t n)
{
    const char *s = strstr(line, key);
    size_t len;

    if (s == NULL)
        return false;
    s += strlen(key);
    len = strcspn(s, stop);
    if (len >= n)
        len = n - 1;
    memcpy(out, s, len);
    out[len] = 0;
    return true;
}

/* is_delivery_line - an independent test: a Postfix delivery agent's status= line */
static bool is_delivery_line(const char *line)
{
    static const char *const agents[] = {"/smtp[", "/lmtp[",  "/local[", "/virtual[",
                                         "/pipe[", "/error[", "/retry[", "/discard["};
    size_t i;
    bool agent = false;

    if (strstr(line, " postfix") == NULL)
        return false;
    for (i = 0; i < ARRAY_LEN(agents); i++)
        agent = agent || strstr(line, agents[i]) != NULL;
    /* a content filter's hop (sent to a loopback relay, "queued as" a new id) is no delivery */
    const char *relay = strstr(line, ", relay=");
    const char *comma = relay ? strchr(relay + 8, ',') : NULL;

    if (strstr(line, "status=sent ") && strstr(line, "queued as ") && comma &&
        ((memmem(relay, (size_t)(comma - relay), "[127.", 5) != NULL) ||
         memmem(relay, (size_t)(comma - relay), "[::1]", 5) != NULL))
        return false;
    return agent && strstr(line, ": to=<") &&
           (strstr(line, "status=sent ") || strstr(line, "status=deferred ") ||
            strstr(line, "status=bounced "));
}

/* check_corpus_file - every line through the parser; deliveries against plain extraction */
static void check_corpus_file(const char *path, size_t *lines, size_t *expected, size_t *got)
{
    FILE *f = fopen(path, "r");
    struct parser *p = new_parser();
    struct event ev;
    struct buf b;
    char *line = NULL, want[1024];
    size_t cap = 0;
    ssize_t n;

    assert_non_null(f);
    buf_init(&b);
    while ((n = getline(&line, &cap, f)) > 0) {
        enum parse_result r;

        if (line[n - 1] == '\n')
            line[--n] = 0;
        (*lines)++;
        r = parser_line(p, line, (size_t)n, &ev);
        if (is_delivery_line(line))
            (*expected)++;
        if (r != PARSE_EVENT) {
            if (is_delivery_line(line))
                fail_msg("%s: no event for: %s", path, line);
            continue;
        }
        buf_reset(&b);
        event_format_json(&ev, &b);
        json_plausible(b.data);
        if (ev.type != EV_DELIVERY || ev.status == ST_EXPIRED)
            continue;
        (*got)++;
        if (!is_delivery_line(line))
            fail_msg("%s: unexpected delivery from: %s", path, line);
        assert_true(extract(line, ": to=<", ">", want, sizeof(want)));
        assert_string_equal(ev.recipient, want);
        assert_true(extract(line, "status=", " ", want, sizeof(want)));
        assert_string_equal(event_status_name(ev.status), want);
        if (extract(line, ", dsn=", ",", want, sizeof(want)))
            assert_string_equal(ev.dsn, want);
        else
            assert_string_equal(ev.dsn, "");
        if (extract(line, ", relay=", ",", want, sizeof(want)))
            assert_string_equal(ev.relay, want);
        assert_true(ev.status == ST_SENT ? ev.reason[0] == 0 : ev.reason[0] != 0);
    }
    free(line);
    buf_free(&b);
    parser_free(p);
    fclose(f);
}

/* test_corpora - the lightmeter scenario logs and the postfix_exporter test lines */
static void test_corpora(void **state)
{
    char pattern[1024];
    glob_t g;
    size_t i, lines = 0, expected = 0, got = 0;

    (void)state;
    snprintf(pattern, sizeof(pattern), "%s/lightmeter-postfix/individual_files/*.log",
             corpora_dir());
    if (glob(pattern, 0, NULL, &g) != 0) {
        print_message("corpora not found at %s (set MAILPULSE_CORPORA)\n", corpora_dir());
        skip();
    }
    for (i = 0; i < g.gl_pathc; i++)
        check_corpus_file(g.gl_pathv[i], &lines, &expected, &got);
    globfree(&g);
    snprintf(pattern, sizeof(pattern), "%s/kumina-postfix-exporter/postfix_exporter_test_lines.log",
             corpora_dir());
    check_corpus_file(pattern, &lines, &expected, &got);
    print_message("corpora: %zu lines, %zu delivery lines, %zu delivery events\n", lines, expected,
                  got);
    assert_true(expected > 100);
    assert_int_equal(got, expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_correlation),
        cmocka_unit_test(test_content_filter),
        cmocka_unit_test(test_loopback_relay),
        cmocka_unit_test(test_hold_claimed),
        cmocka_unit_test(test_hold_released),
        cmocka_unit_test(test_expiry_per_recipient),
        cmocka_unit_test(test_expiry_many),
        cmocka_unit_test(test_corpora),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
