/*
 * test_parser - cmocka tests of parser/: envelope, Postfix lines, correlation, JSON, reasons
 *
 * Tests are tables: one row per input line with the fields it must give. Two tests read the
 * shared corpora (MAILPULSE_CORPORA, default ../shared/corpora from the repo root): every
 * Postfix line is checked against a plain independent extraction, and the Sisimai table is
 * used to measure how often reason_classify() agrees with Sisimai.
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
#include <strings.h>
#include <time.h>

#include "parser/parser.h"
#include "parser/tally.h"

/* The share of Sisimai's verdicts that reason_classify() must reproduce, in percent. */
#define REASON_AGREEMENT_MIN      48 /* all rows; measured 50.2% */
#define REASON_AGREEMENT_REAL_MIN 60 /* rows with real status codes; measured 62.0% */

/* corpora_dir - where the shared corpora live */
static const char *corpora_dir(void)
{
    const char *d = getenv("MAILPULSE_CORPORA");

    return d && *d ? d : "../shared/corpora";
}

/* utc - every test reads RFC 3164 stamps as UTC */
static int utc(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

/* fmt_time - an event time as RFC 3339 text */
static const char *fmt_time(int64_t us)
{
    static char out[40];

    time_format_rfc3339(us, out, sizeof(out));
    return out;
}

/* new_parser - a parser fixed on 2026 */
static struct parser *new_parser(void)
{
    struct parser_opts o = {.year = 2026};

    return parser_create(&o);
}

/* line_of - parser_line on a C string */
static enum parse_result line_of(struct parser *p, const char *s, struct event *ev)
{
    return parser_line(p, s, strlen(s), ev);
}

/* ---- envelope ---- */

static const struct {
    const char *line;
    int ok;
    const char *time, *host, *prog;
    long pid;
    const char *msg;
} env_rows[] = {
    {"Nov 28 17:30:17 mx1 postfix/smtp[123]: hello", 0, "2026-11-28T17:30:17+00:00", "mx1",
     "postfix/smtp", 123, "hello"},
    {"Jun  3 10:40:57 mail postfix/submission/smtpd[9708]: connect from x", 0,
     "2026-06-03T10:40:57+00:00", "mail", "postfix/submission/smtpd", 9708, "connect from x"},
    {"Sep 25 18:26:34 smtpnode16 postfix-239.58.50.50/smtpd[4546]: a", 0,
     "2026-09-25T18:26:34+00:00", "smtpnode16", "postfix-239.58.50.50/smtpd", 4546, "a"},
    {"Jun  3 10:40:57 mail postfix/sender-cleanup/cleanup[9709]: b", 0, "2026-06-03T10:40:57+00:00",
     "mail", "postfix/sender-cleanup/cleanup", 9709, "b"},
    {"Jun  3 10:40:59 mail dovecot: lmtp(9956): Connect", 0, "2026-06-03T10:40:59+00:00", "mail",
     "dovecot", -1, "lmtp(9956): Connect"},
    {"2026-11-28T17:30:17.123456+00:00 mx1 postfix/qmgr[9]: x", 0,
     "2026-11-28T17:30:17.123456+00:00", "mx1", "postfix/qmgr", 9, "x"},
    {"2026-11-28T19:30:17+02:00 mx1 postfix/qmgr[9]: x", 0, "2026-11-28T17:30:17+00:00", "mx1",
     "postfix/qmgr", 9, "x"},
    {"2013 Jun 10 06:27:30.123 gds39d postfix/smtpd[5530]: connect", 0,
     "2013-06-10T06:27:30.123000+00:00", "gds39d", "postfix/smtpd", 5530, "connect"},
    {"", -1, NULL, NULL, NULL, 0, NULL},
    {"garbage", -1, NULL, NULL, NULL, 0, NULL},
    {"Nov 28 17:30:17 mx1", -1, NULL, NULL, NULL, 0, NULL},
    {"Nov 28 17:30:17 mx1 postfix/smtp[12: x", -1, NULL, NULL, NULL, 0, NULL},
    {"Foo 28 17:30:17 mx1 postfix/smtp[1]: x", -1, NULL, NULL, NULL, 0, NULL},
    {"2026-13-28T17:30:17Z mx1 postfix/smtp[1]: x", -1, NULL, NULL, NULL, 0, NULL},
};

/* test_envelope - the stamp forms, program shapes and bad envelopes */
static void test_envelope(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(env_rows); i++) {
        struct year_infer yi;
        struct syslog_env env;
        const char *l = env_rows[i].line;
        int r;

        year_infer_init(&yi, 2026, 0);
        r = syslog_envelope(l, strlen(l), &env, &yi);
        assert_int_equal(r, env_rows[i].ok);
        if (r != 0)
            continue;
        assert_string_equal(fmt_time(env.time_us), env_rows[i].time);
        assert_int_equal(env.host_len, strlen(env_rows[i].host));
        assert_memory_equal(env.host, env_rows[i].host, env.host_len);
        assert_int_equal(env.prog_len, strlen(env_rows[i].prog));
        assert_memory_equal(env.prog, env_rows[i].prog, env.prog_len);
        assert_int_equal(env.pid, env_rows[i].pid);
        assert_int_equal(env.msg_len, strlen(env_rows[i].msg));
        assert_memory_equal(env.msg, env_rows[i].msg, env.msg_len);
    }
}

/* test_year_inference - clock year, last year for a future stamp, Dec -> Jan rollover */
static void test_year_inference(void **state)
{
    static const struct {
        const char *line;
        const char *time;
    } seq[] = {
        /* now is 2027-01-05: a December stamp is last year's */
        {"Dec 31 23:59:58 h p[1]: x", "2026-12-31T23:59:58+00:00"},
        {"Dec 30 10:00:00 h p[1]: x", "2026-12-30T10:00:00+00:00"},
        {"Jan  1 00:00:01 h p[1]: x", "2027-01-01T00:00:01+00:00"},
        {"Jan  1 00:00:00 h p[1]: x", "2027-01-01T00:00:00+00:00"},
        {"Feb  3 00:00:00 h p[1]: x", "2027-02-03T00:00:00+00:00"},
        {"Jan 31 00:00:00 h p[1]: x", "2027-01-31T00:00:00+00:00"}, /* small step back */
    };
    struct year_infer yi;
    struct syslog_env env;
    int64_t now;
    size_t i;

    (void)state;
    assert_int_equal(time_parse_rfc3339("2027-01-05T12:00:00Z", 20, &now), 0);
    year_infer_init(&yi, 0, now);
    for (i = 0; i < ARRAY_LEN(seq); i++) {
        assert_int_equal(syslog_envelope(seq[i].line, strlen(seq[i].line), &env, &yi), 0);
        assert_string_equal(fmt_time(env.time_us), seq[i].time);
    }
    /* A stamp not in the future stays in the clock's year. */
    year_infer_init(&yi, 0, now);
    assert_int_equal(syslog_envelope("Jan  5 13:00:00 h p: x", 22, &env, &yi), 0);
    assert_string_equal(fmt_time(env.time_us), "2027-01-05T13:00:00+00:00");
    /* A fixed year never moves. */
    year_infer_init(&yi, 2026, 0);
    assert_int_equal(syslog_envelope(seq[0].line, strlen(seq[0].line), &env, &yi), 0);
    assert_int_equal(syslog_envelope(seq[2].line, strlen(seq[2].line), &env, &yi), 0);
    assert_string_equal(fmt_time(env.time_us), "2026-01-01T00:00:01+00:00");
}

/* ---- single lines ---- */

#define P "Nov 28 17:30:17 mx1 "
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

/* test_eviction - a full table drops its oldest entry and counts it */
static void test_eviction(void **state)
{
    struct parser_opts o = {.year = 2026, .max_open_queue = 4};
    struct parser *p = parser_create(&o);
    struct event ev;
    char line[256];
    int i;

    (void)state;
    for (i = 0; i < 6; i++) {
        snprintf(line, sizeof(line), P "postfix/cleanup[1]: ABCDE%05d: message-id=<m%d@x>", i, i);
        assert_int_equal(line_of(p, line, &ev), PARSE_SKIP);
    }
    assert_int_equal(parser_stats(p)->queue_evicted, 2);
    for (i = 0; i < 6; i++) {
        snprintf(line, sizeof(line),
                 P "postfix/smtp[1]: ABCDE%05d: to=<a@b>, relay=r, delay=1, delays=0/0/0/1, "
                   "dsn=2.0.0, status=sent (ok)",
                 i);
        assert_int_equal(line_of(p, line, &ev), PARSE_EVENT);
        if (i < 2) {
            assert_string_equal(ev.message_id, "");
        } else {
            char want[32];

            snprintf(want, sizeof(want), "<m%d@x>", i);
            assert_string_equal(ev.message_id, want);
        }
    }
    parser_free(p);
}

/* ---- telemetry, aging, content filters ---- */

/* test_prog_stats - per program name: lines, parsed, skipped, not understood, samples */
static void test_prog_stats(void **state)
{
    static const struct {
        const char *line;
        enum parse_result r;
    } rows[] = {
        {P "postfix/smtpd[1]: connect from a[1.2.3.4]", PARSE_SKIP},
        {P "postfix/smtpd[1]: ABCDE12345: client=a[1.2.3.4]", PARSE_SKIP},
        {P "postfix/smtpd[1]: something Postfix never says", PARSE_MALFORMED},
        {P "postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[1.2.3.4]: 554 5.7.1 <x@y>: Relay "
           "access denied; from=<s@t> to=<x@y> proto=ESMTP helo=<h>",
         PARSE_EVENT},
        {P "postfix-out/smtp[2]: ABCDE12345: to=<x@y>, relay=none, delay=1, delays=1/0/0/0, "
           "dsn=4.4.1, status=deferred (connect to y[1.1.1.1]:25: Connection refused)",
         PARSE_EVENT},
        {P "postfix-out/smtp[2]: connect to y[1.1.1.1]:25: Connection refused", PARSE_SKIP},
        {P "postfix/postscreen[3]: PASS OLD [1.2.3.4]:5", PARSE_SKIP},
        {P "dovecot: imap-login: Login: user=<a>", PARSE_SKIP},
    };
    struct parser *p = new_parser();
    const struct parser_prog_stats *ps;
    struct event ev;
    size_t i, n;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++)
        assert_int_equal(line_of(p, rows[i].line, &ev), rows[i].r);
    n = parser_prog_stats(p, &ps);
    assert_int_equal(n, 4);
    assert_string_equal(ps[0].prog, "postfix/smtpd");
    assert_int_equal(ps[0].lines, 4);
    assert_int_equal(ps[0].events, 1);
    assert_int_equal(ps[0].skipped, 2);
    assert_int_equal(ps[0].malformed, 1);
    assert_int_equal(ps[0].nsamples, 1);
    assert_non_null(strstr(ps[0].samples[0], "something Postfix never says"));
    assert_string_equal(ps[1].prog, "postfix-out/smtp");
    assert_int_equal(ps[1].events, 1);
    assert_int_equal(ps[1].skipped, 1);
    assert_string_equal(ps[3].prog, "dovecot");
    assert_int_equal(ps[3].skipped, 1);
    parser_free(p);
}

/* test_queue_age - an entry whose "removed" was lost leaves after max_queue_age_s */
static void test_queue_age(void **state)
{
    struct parser_opts o = {.year = 2026, .max_queue_age_s = 3600};
    struct parser *p = parser_create(&o);
    struct event ev;

    (void)state;
    line_of(p, "Nov 28 10:00:00 mx postfix/cleanup[1]: AAAAA11111: message-id=<old@x>", &ev);
    line_of(p, "Nov 28 10:30:00 mx postfix/cleanup[1]: BBBBB22222: message-id=<mid@x>", &ev);
    /* 11:10: AAAAA11111 is 70 minutes old and goes when the next entry is made */
    line_of(p, "Nov 28 11:10:00 mx postfix/cleanup[1]: CCCCC33333: message-id=<new@x>", &ev);
    assert_int_equal(parser_stats(p)->queue_aged, 1);
    assert_int_equal(line_of(p,
                             "Nov 28 11:10:01 mx postfix/smtp[1]: AAAAA11111: to=<a@b>, relay=r, "
                             "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)",
                             &ev),
                     PARSE_EVENT);
    assert_string_equal(ev.message_id, "");
    assert_int_equal(line_of(p,
                             "Nov 28 11:10:01 mx postfix/smtp[1]: BBBBB22222: to=<a@b>, relay=r, "
                             "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)",
                             &ev),
                     PARSE_EVENT);
    assert_string_equal(ev.message_id, "<mid@x>");
    parser_free(p);
}

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

/* ---- JSON ---- */

/* test_json_delivery - the exact NDJSON of a bounced delivery */
static void test_json_delivery(void **state)
{
    static const char *const lines[] = {
        P "postfix/cleanup[2]: 4ZxY2l3Xr9z1: message-id=<a1@example.org>",
        P "postfix/qmgr[3]: 4ZxY2l3Xr9z1: from=<news@example.org>, size=1234, nrcpt=1 (queue "
          "active)",
        P "postfix/smtp[4]: 4ZxY2l3Xr9z1: to=<bob@gmail.com>, relay=gmail-smtp-in.l.google.com"
          "[142.250.1.26]:25, delay=1.3, delays=0.1/0/0.4/0.8, dsn=5.1.1, status=bounced (host "
          "gmail-smtp-in.l.google.com[142.250.1.26] said: 550-5.1.1 The email account \"x\" "
          "does not exist. (in reply to RCPT TO command))",
    };
    static const char want[] =
        "{\"type\":\"delivery\",\"time\":\"2026-11-28T17:30:17+00:00\",\"host\":\"mx1\","
        "\"mta\":\"postfix\",\"queue_id\":\"4ZxY2l3Xr9z1\",\"message_id\":\"<a1@example.org>\","
        "\"sender\":\"news@example.org\",\"recipient\":\"bob@gmail.com\",\"orig_recipient\":null,"
        "\"recipient_domain\":\"gmail.com\",\"relay\":\"gmail-smtp-in.l.google.com[142.250.1.26]"
        ":25\",\"delay\":1.3,\"delays\":[0.1,0,0.4,0.8],\"status\":\"bounced\",\"dsn\":\"5.1.1\","
        "\"smtp_code\":550,\"reply\":\"host gmail-smtp-in.l.google.com[142.250.1.26] said: "
        "550-5.1.1 The email account \\\"x\\\" does not exist. (in reply to RCPT TO command)\","
        "\"reason\":\"userunknown\",\"hard\":true}";
    static const char want_message[] =
        "{\"type\":\"message\",\"time\":\"2026-11-28T17:30:17+00:00\",\"host\":\"mx1\","
        "\"mta\":\"postfix\",\"queue_id\":\"4ZxY2l3Xr9z1\",\"message_id\":\"<a1@example.org>\","
        "\"sender\":\"news@example.org\",\"size\":1234,\"nrcpt\":1,\"client\":null,"
        "\"sasl_username\":null}";
    struct parser *p = new_parser();
    struct event ev;
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(line_of(p, lines[0], &ev), PARSE_SKIP);
    assert_int_equal(line_of(p, lines[1], &ev), PARSE_EVENT);
    event_format_json(&ev, &b);
    assert_string_equal(b.data, want_message);
    assert_int_equal(line_of(p, lines[2], &ev), PARSE_EVENT);
    buf_reset(&b);
    event_format_json(&ev, &b);
    assert_string_equal(b.data, want);
    buf_free(&b);
    parser_free(p);
}

/* test_json_other_types - the key sets of reject, bounce_notice, smtp and an empty event */
static void test_json_other_types(void **state)
{
    struct event ev;
    struct buf b;

    (void)state;
    buf_init(&b);
    event_clear(&ev);
    ev.type = EV_BOUNCE_NOTICE;
    ev.mta = MTA_POSTFIX;
    EVENT_SET(&ev, queue_id, "ABC", 3);
    EVENT_SET(&ev, notice_queue_id, "DEF", 3);
    event_format_json(&ev, &b);
    assert_string_equal(b.data, "{\"type\":\"bounce_notice\",\"time\":null,\"host\":null,"
                                "\"mta\":\"postfix\",\"queue_id\":\"ABC\","
                                "\"notice_queue_id\":\"DEF\"}");
    buf_reset(&b);
    event_clear(&ev);
    ev.type = EV_SMTP;
    ev.tls = true;
    ev.smtp_code = 250;
    EVENT_SET(&ev, stage, "rcpt", 4);
    event_format_json(&ev, &b);
    assert_string_equal(b.data, "{\"type\":\"smtp\",\"time\":null,\"client\":null,\"server\":null,"
                                "\"helo\":null,\"sender\":null,\"recipient\":null,"
                                "\"stage\":\"rcpt\",\"smtp_code\":250,\"dsn\":null,"
                                "\"reply\":null,\"queue_id\":null,\"tls\":true}");
    buf_reset(&b);
    event_clear(&ev);
    ev.type = EV_REJECT;
    event_format_json(&ev, &b);
    assert_string_equal(b.data, "{\"type\":\"reject\",\"time\":null,\"host\":null,\"mta\":null,"
                                "\"client\":null,\"helo\":null,\"sender\":null,"
                                "\"recipient\":null,\"smtp_code\":null,\"dsn\":null,"
                                "\"reply\":null,\"reason\":null}");
    buf_free(&b);
}

/* json_plausible - an object with no raw control bytes and balanced quotes */
static void json_plausible(const char *s)
{
    size_t n = strlen(s), i;
    bool in_str = false;

    assert_true(n >= 2 && s[0] == '{' && s[n - 1] == '}');
    for (i = 0; i < n; i++) {
        assert_true((unsigned char)s[i] >= 0x20);
        if (in_str && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            in_str = !in_str;
    }
    assert_false(in_str);
}

/* test_bad_bytes - NUL, invalid UTF-8, control bytes and overlong fields */
static void test_bad_bytes(void **state)
{
    static const char with_nul[] =
        P "postfix/smtp[1]: 1A2B3C4D5E: to=<a\0b@x.com>, relay=none, delay=1, delays=0/0/0/1, "
          "dsn=5.0.0, status=bounced (bad \xff\xfe bytes \x01 here)";
    static const char bad_utf8[] =
        P "postfix/smtp[1]: 1A2B3C4D5E: to=<\xc3\x28@x.com>, relay=none, delay=1, "
          "delays=0/0/0/1, dsn=5.0.0, status=bounced (\xed\xa0\x80 \xf0\x28\x8c\x28 \"q\" \\)";
    struct parser *p = new_parser();
    struct event ev;
    struct buf b;
    char *longline;
    size_t i, n;

    (void)state;
    buf_init(&b);
    assert_int_equal(parser_line(p, with_nul, sizeof(with_nul) - 1, &ev), PARSE_EVENT);
    event_format_json(&ev, &b);
    json_plausible(b.data);
    buf_reset(&b);
    assert_int_equal(parser_line(p, bad_utf8, sizeof(bad_utf8) - 1, &ev), PARSE_EVENT);
    event_format_json(&ev, &b);
    json_plausible(b.data);
    assert_non_null(strstr(b.data, "\xef\xbf\xbd"));

    /* An address longer than its field is cut and flagged. */
    n = 4000;
    longline = malloc(n + 200);
    i = (size_t)sprintf(longline, P "postfix/smtp[1]: 1A2B3C4D5E: to=<");
    memset(longline + i, 'a', 1000);
    i += 1000;
    i += (size_t)sprintf(longline + i, "@x.com>, relay=r, delay=1, delays=0/0/0/1, dsn=5.1.1, "
                                       "status=bounced (");
    memset(longline + i, 'r', 2000);
    i += 2000;
    longline[i++] = ')';
    assert_int_equal(parser_line(p, longline, i, &ev), PARSE_EVENT);
    assert_true(ev.flags & EVF_TRUNCATED);
    assert_int_equal(strlen(ev.recipient), EV_ADDR_LEN - 1);
    assert_int_equal(strlen(ev.reply), EV_REPLY_LEN - 1);
    buf_reset(&b);
    event_format_json(&ev, &b);
    json_plausible(b.data);
    assert_non_null(strstr(b.data, ",\"truncated\":true}"));
    assert_true(parser_stats(p)->truncated >= 1);

    /* Every prefix of a line, without a terminator after it, must be safe to read. */
    for (i = 0; i < 200; i++) {
        char *copy = malloc(i ? i : 1);

        memcpy(copy, longline, i);
        (void)parser_line(p, copy, i, &ev);
        free(copy);
    }
    free(longline);
    buf_free(&b);
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

/* ---- reasons ---- */

static const struct {
    int code;
    const char *dsn, *text;
    enum event_status status;
    const char *reason;
    bool hard;
} reason_rows[] = {
    {250, "2.0.0", "250 ok", ST_SENT, "", false},
    {550, "5.1.1", "550 5.1.1 <a@b> User unknown", ST_BOUNCED, "userunknown", true},
    {450, "4.1.1", "450 4.1.1 <a@b> User unknown", ST_DEFERRED, "userunknown", false},
    {550, "5.1.2", "", ST_BOUNCED, "hostunknown", true},
    {-1, "5.4.4", "Host or domain name not found. Name service error", ST_BOUNCED, "hostunknown",
     true},
    {552, "5.2.2", "mailbox full", ST_BOUNCED, "mailboxfull", false},
    {452, "4.2.2", "user is over quota, please try again later", ST_DEFERRED, "mailboxfull", false},
    {551, "5.1.6", "", ST_BOUNCED, "hasmoved", true},
    {550, "5.2.1", "", ST_BOUNCED, "suspend", false},
    {554, "5.7.1", "blocked using zen.spamhaus.org", ST_BOUNCED, "blocked", false},
    {550, "5.7.1", "message identified as spam", ST_BOUNCED, "spamdetected", false},
    {550, "5.7.1", "poor sender reputation", ST_BOUNCED, "badreputation", false},
    {554, "5.7.1", "Relay access denied", ST_BOUNCED, "norelaying", false},
    {550, "5.7.26", "", ST_BOUNCED, "authfailure", false},
    {550, "5.7.25", "", ST_BOUNCED, "requireptr", false},
    {552, "5.3.4", "", ST_BOUNCED, "mesgtoobig", false},
    {-1, "4.4.1", "connect to x: Connection refused", ST_DEFERRED, "networkerror", false},
    {-1, "4.4.7", "", ST_BOUNCED, "expired", false},
    {-1, "", "", ST_EXPIRED, "expired", false},
    {554, "5.7.1", "Virus found", ST_BOUNCED, "virusdetected", false},
    {421, "4.7.0", "Too many connections", ST_DEFERRED, "toomanyconn", false},
    {530, "5.7.0", "Must issue a STARTTLS command first", ST_BOUNCED, "failedstarttls", false},
    {451, "4.7.1", "Greylisted, try again in 5 minutes", ST_DEFERRED, "blocked", false},
    {-1, "", "", ST_BOUNCED, "undefined", false},
};

/* test_reason_rows - the rule table on hand-picked replies */
static void test_reason_rows(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(reason_rows); i++) {
        struct reason_result rr;

        reason_classify(reason_rows[i].code, reason_rows[i].dsn, reason_rows[i].text,
                        reason_rows[i].status, &rr);
        if (strcmp(rr.reason, reason_rows[i].reason) != 0 || rr.hard != reason_rows[i].hard)
            fail_msg("row %zu: %s/%d, want %s/%d", i, rr.reason, rr.hard, reason_rows[i].reason,
                     reason_rows[i].hard);
    }
}

/*
 * diagnostic_code - the nth (1-based) Diagnostic-Code of a bounce message, unfolded, into out.
 * Returns false when the message has none.
 */
static bool diagnostic_code(const char *path, int nth, char *out, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool in = false, done = false;
    size_t len = 0;
    int seen = 0;

    out[0] = 0;
    if (f == NULL)
        return false;
    while (!done && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (in) {
            if (line[0] == ' ' || line[0] == '\t') {
                len += (size_t)snprintf(out + len, n - len, " %s", line + strspn(line, " \t"));
                if (len >= n)
                    len = n - 1;
                continue;
            }
            in = false;
            if (seen == nth)
                done = true;
        }
        if (strncasecmp(line, "Diagnostic-Code:", 16) == 0) {
            seen++;
            if (seen == nth || (seen < nth && nth > 0)) {
                len = (size_t)snprintf(out, n, "%s", line + 16);
                if (len >= n)
                    len = n - 1;
                in = true;
            }
        }
    }
    fclose(f);
    return seen > 0;
}

/* test_reason_sisimai - agreement with Sisimai on its own table of real bounces */
static void test_reason_sisimai(void **state)
{
    char path[1024], row[4096], text[2048];
    FILE *f;
    int total = 0, agree = 0, agree_codes = 0, with_text = 0, real = 0, agree_real = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/expected.tsv", corpora_dir());
    f = fopen(path, "r");
    if (f == NULL) {
        print_message("%s not found (set MAILPULSE_CORPORA)\n", path);
        skip();
    }
    assert_non_null(fgets(row, sizeof(row), f)); /* the header */
    while (fgets(row, sizeof(row), f)) {
        char *col[8] = {0}, *s = row, eml[1200];
        struct reason_result rr, rc;
        int i, code, is_real;

        row[strcspn(row, "\r\n")] = 0;
        for (i = 0; i < 8 && s; i++) {
            col[i] = s;
            s = strchr(s, '\t');
            if (s)
                *s++ = 0;
        }
        if (col[5] == NULL)
            continue;
        /* delivered and feedback rows are not failures */
        if (strcmp(col[4], "delivered") == 0 || strcmp(col[4], "feedback") == 0)
            continue;
        code = col[3][0] ? atoi(col[3]) : -1;
        snprintf(eml, sizeof(eml), "%s/sisimai-set-of-emails/%s", corpora_dir(), col[0]);
        if (diagnostic_code(eml, atoi(col[1]), text, sizeof(text)))
            with_text++;
        reason_classify(code, col[2], text, ST_BOUNCED, &rr);
        reason_classify(code, col[2], "", ST_BOUNCED, &rc);
        total++;
        /* X.0.9xx codes are Sisimai's own stand-ins, never seen in a log */
        is_real = strncmp(col[2] + 1, ".0.9", 4) != 0;
        real += is_real;
        if (strcmp(rr.reason, col[4]) == 0 && rr.hard == (strcmp(col[5], "true") == 0)) {
            agree++;
            agree_real += is_real;
        }
        if (getenv("REASON_DEBUG") && strcmp(rr.reason, col[4]) != 0)
            print_message("want %s got %s | %s %d | %.150s\n", col[4], rr.reason, col[2], code,
                          text);
        if (strcmp(rc.reason, col[4]) == 0 && rc.hard == (strcmp(col[5], "true") == 0))
            agree_codes++;
    }
    fclose(f);
    print_message("sisimai: %d rows (%d with Diagnostic-Code text): reason+hard agree %d "
                  "(%.1f%%); codes only %d (%.1f%%)\n",
                  total, with_text, agree, 100.0 * agree / total, agree_codes,
                  100.0 * agree_codes / total);
    print_message("sisimai: without Sisimai's X.0.9xx stand-in codes: %d rows, agree %d (%.1f%%)\n",
                  real, agree_real, 100.0 * agree_real / real);
    assert_true(total > 150);
    assert_true(agree * 100 >= total * REASON_AGREEMENT_MIN);
    assert_true(agree_real * 100 >= real * REASON_AGREEMENT_REAL_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope),      cmocka_unit_test(test_year_inference),
        cmocka_unit_test(test_lines),         cmocka_unit_test(test_correlation),
        cmocka_unit_test(test_eviction),      cmocka_unit_test(test_prog_stats),
        cmocka_unit_test(test_queue_age),     cmocka_unit_test(test_content_filter),
        cmocka_unit_test(test_tally),         cmocka_unit_test(test_tally_deferred_set),
        cmocka_unit_test(test_json_delivery), cmocka_unit_test(test_json_other_types),
        cmocka_unit_test(test_bad_bytes),     cmocka_unit_test(test_corpora),
        cmocka_unit_test(test_reason_rows),   cmocka_unit_test(test_reason_sisimai),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
