/*
 * test_sendmail - cmocka tests of parser/sendmail.c: from=, to= with each stat= kind, DSN
 * notices, ruleset and milter rejections, correlation, and the fail2ban Sendmail lines
 *
 * Tests are tables: one row per input line with the fields it must give. The to= and from=
 * lines follow the format of Sendmail's own documentation (op.me, "Log messages") and the
 * lines the real Sendmail of tests/mta wrote; the rejections are real lines of the corpora.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parser/parser.h"
#include "tests/unit/unit.h"

#define S_ENV "Nov 28 17:30:17 mx3 sm-mta[4242]: "
#define S_QID "4ASHUHxT004242: "

static const struct row {
    const char *line;
    enum parse_result r;
    enum event_type type;
    enum event_status status;
    const char *host, *qid, *sender, *rcpt, *relay, *client, *msgid, *dsn, *reason, *reply;
    int code;
    int64_t size;
    bool hard;
} rows[] = {
    {S_ENV S_QID "from=<alice@example.org>, size=2345, class=0, nrcpts=1, "
                 "msgid=<a1@example.org>, bodytype=8BITMIME, proto=ESMTP, daemon=MTA-v4, "
                 "relay=mail.example.org [192.0.2.7]",
     PARSE_EVENT, EV_MESSAGE, ST_NONE, "mx3", "4ASHUHxT004242", "alice@example.org", "", "",
     "mail.example.org[192.0.2.7]", "<a1@example.org>", "", "", "", -1, 2345, false},
    {"Nov 28 17:30:17 mx3 sendmail[77]: 4ASHUHxT004243: from=root, size=120, class=0, "
     "nrcpts=1, msgid=<202611281730.4ASHUHxT004243@mx3>, relay=root@localhost",
     PARSE_EVENT, EV_MESSAGE, ST_NONE, "mx3", "4ASHUHxT004243", "root", "", "", "root@localhost",
     "<202611281730.4ASHUHxT004243@mx3>", "", "", "", -1, 120, false},
    {S_ENV S_QID "to=<bob@gmail.com>, delay=00:00:02, xdelay=00:00:01, mailer=esmtp, "
                 "pri=120345, relay=gmail-smtp-in.l.google.com. [142.250.1.26], dsn=2.0.0, "
                 "stat=Sent (OK  1732815017 a1si)",
     PARSE_EVENT, EV_DELIVERY, ST_SENT, "mx3", "4ASHUHxT004242", "", "bob@gmail.com",
     "gmail-smtp-in.l.google.com[142.250.1.26]", "", "", "2.0.0", "", "OK  1732815017 a1si", -1, -1,
     false},
    {S_ENV S_QID "to=<dave@example.com>, ctladdr=<alice@example.org> (1000/1000), "
                 "delay=00:00:05, xdelay=00:00:05, mailer=esmtp, pri=120345, "
                 "relay=mx.example.com. [203.0.113.9], dsn=4.2.2, stat=Deferred: 450 4.2.2 "
                 "Mailbox full, try later",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "mx3", "4ASHUHxT004242", "", "dave@example.com",
     "mx.example.com[203.0.113.9]", "", "", "4.2.2", "mailboxfull",
     "450 4.2.2 Mailbox full, try later", 450, -1, false},
    {S_ENV S_QID "to=<nobody@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, "
                 "pri=120345, relay=mx.example.com. [203.0.113.9], dsn=5.1.1, stat=User unknown",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "mx3", "4ASHUHxT004242", "", "nobody@example.com",
     "mx.example.com[203.0.113.9]", "", "", "5.1.1", "userunknown", "User unknown", -1, -1, true},
    {S_ENV S_QID "to=<x@example.com>, delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120345, "
                 "relay=[127.0.0.1] [127.0.0.1], dsn=5.7.1, stat=Service unavailable",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "mx3", "4ASHUHxT004242", "", "x@example.com",
     "unknown[127.0.0.1]", "", "", "5.7.1", "rejected", "Service unavailable", -1, -1, false},
    {S_ENV S_QID "to=<e@nolistener.test>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, "
                 "pri=120345, relay=nolistener.test., dsn=4.0.0, stat=Deferred: Connection "
                 "refused by nolistener.test.",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "mx3", "4ASHUHxT004242", "", "e@nolistener.test",
     "nolistener.test.", "", "", "4.0.0", "networkerror", "Connection refused by nolistener.test.",
     -1, -1, false},
    {S_ENV S_QID "to=<a@x.test>,<b@x.test>, delay=1+02:00:00, xdelay=00:00:00, mailer=esmtp, "
                 "pri=30000, relay=x.test., dsn=4.4.7, stat=Deferred: Connection timed out",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "mx3", "4ASHUHxT004242", "", "a@x.test", "x.test.", "",
     "", "4.4.7", "networkerror", "Connection timed out", -1, -1, false},
    {S_ENV S_QID "to=<q@x.test>, delay=00:00:00, mailer=esmtp, pri=30000, stat=queued", PARSE_SKIP,
     .type = EV_NONE},
    {S_ENV S_QID "4ASHUHxU004242: DSN: User unknown", PARSE_EVENT, EV_BOUNCE_NOTICE, ST_NONE, "mx3",
     "4ASHUHxT004242", "", "", "", "", "", "", "", "", -1, -1, false},
    {"Feb 23 21:36:14 petermurray sm-mta[22248]: s1NLaDQT022248: ruleset=check_rcpt, "
     "arg1=<dautareuk2@hotmail.it>, relay=int0.client.access.azadnet.net [80.253.155.119] "
     "(may be forged), reject=550 5.7.1 <dautareuk2@hotmail.it>... Relaying denied. IP name "
     "possibly forged [80.253.155.119]",
     PARSE_EVENT, EV_REJECT, ST_NONE, "petermurray", "s1NLaDQT022248", "", "dautareuk2@hotmail.it",
     "", "int0.client.access.azadnet.net[80.253.155.119]", "", "5.7.1", "norelaying",
     "550 5.7.1 <dautareuk2@hotmail.it>... Relaying denied. IP name possibly forged "
     "[80.253.155.119]",
     550, -1, false},
    {S_ENV "ruleset=check_relay, arg1=[192.0.2.1], arg2=192.0.2.1, relay=[192.0.2.1], "
           "reject=554 5.7.1 Rejected 192.0.2.1 found in dnsbl.example",
     PARSE_EVENT, EV_REJECT, ST_NONE, "mx3", "", "", "", "", "unknown[192.0.2.1]", "", "5.7.1",
     "blocked", "554 5.7.1 Rejected 192.0.2.1 found in dnsbl.example", 554, -1, false},
    {S_ENV S_QID "Milter: from=<spam@example.net>, reject=554 5.7.1 Spam message rejected",
     PARSE_EVENT, EV_REJECT, ST_NONE, "mx3", "4ASHUHxT004242", "spam@example.net", "", "", "", "",
     "5.7.1", "spamdetected", "554 5.7.1 Spam message rejected", 554, -1, false},
    {"Feb 16 23:33:20 smtp1 sm-mta[5133]: s1GNXHYB005133: [190.5.230.178]: possible SMTP "
     "attack: command=AUTH, count=5",
     PARSE_SKIP, .type = EV_NONE},
    {S_ENV "starting daemon (8.17.1.9): SMTP+queueing@00:30:00", PARSE_SKIP, .type = EV_NONE},
    {S_ENV S_QID "to=<bob@x.test>, delay=00:00:00, mailer=esmtp", PARSE_MALFORMED, .type = EV_NONE},
    {S_ENV S_QID "from=<a@b>, size=12x, class=0", PARSE_MALFORMED, .type = EV_NONE},
    /* Written by the real Sendmail 8.17 of tests/integration/mta_sendmail.sh: reply= holds
     * the server's words, whose enhanced code beats Sendmail's own dsn= class */
    {"Nov 28 19:23:32 mx-sendmail sm-mta[7863]: 6ASJNWPZ007861: to=<full@peer.test>, "
     "delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30257, relay=[127.0.0.1] [127.0.0.1], "
     "dsn=4.2.0, reply=450 4.2.2 Mailbox full, try again later, stat=Deferred: 450 4.2.2 "
     "Mailbox full, try again later",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "mx-sendmail", "6ASJNWPZ007861", "", "full@peer.test",
     "unknown[127.0.0.1]", "", "", "4.2.2", "mailboxfull",
     "450 4.2.2 Mailbox full, try again later", 450, -1, false},
    {"Nov 28 19:23:32 mx-sendmail sm-mta[7880]: 6ASJNWrI007878: to=<blocked@peer.test>, "
     "delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30263, relay=[127.0.0.1] [127.0.0.1], "
     "dsn=5.0.0, reply=554 5.7.1 Message refused by policy, stat=Service unavailable",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "mx-sendmail", "6ASJNWrI007878", "", "blocked@peer.test",
     "unknown[127.0.0.1]", "", "", "5.7.1", "rejected", "554 5.7.1 Message refused by policy", 554,
     -1, false},
    {"Nov 28 19:23:32 mx-sendmail sm-mta[7886]: 6ASJNW09007883: to=<drop@peer.test>, "
     "delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30257, relay=[127.0.0.1] [127.0.0.1], "
     "dsn=4.4.2, reply=421 4.4.1 Connection reset by [127.0.0.1], stat=Deferred",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "mx-sendmail", "6ASJNW09007883", "", "drop@peer.test",
     "unknown[127.0.0.1]", "", "", "4.4.1", "networkerror",
     "421 4.4.1 Connection reset by [127.0.0.1]", 421, -1, false},
};

/* test_lines - every row of the table through a fresh parser */
static void test_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *w = &rows[i];
        struct parser *p = new_parser();
        struct event ev;
        enum parse_result r = line_of(p, w->line, &ev);

        if (r != w->r)
            fail_msg("row %zu: result %d, want %d: %s", i, r, w->r, w->line);
        if (r == PARSE_EVENT) {
            if (ev.type != w->type || ev.status != w->status || ev.mta != MTA_SENDMAIL)
                fail_msg("row %zu: type %d status %d mta %d", i, ev.type, ev.status, ev.mta);
            check_str(i, "host", w->host, ev.host);
            check_str(i, "queue_id", w->qid, ev.queue_id);
            check_str(i, "sender", w->sender, ev.sender);
            check_str(i, "recipient", w->rcpt, ev.recipient);
            check_str(i, "relay", w->relay, ev.relay);
            check_str(i, "client", w->client, ev.client);
            check_str(i, "message_id", w->msgid, ev.message_id);
            check_str(i, "dsn", w->dsn, ev.dsn);
            check_str(i, "reason", w->reason, ev.reason);
            check_str(i, "reply", w->reply, ev.reply);
            if (ev.smtp_code != w->code || ev.size != w->size || ev.hard != w->hard)
                fail_msg("row %zu: code %d size %lld hard %d", i, ev.smtp_code, (long long)ev.size,
                         ev.hard);
        }
        parser_free(p);
    }
}

/* test_notice_and_delay - the DSN's own queue id; delay= with days */
static void test_notice_and_delay(void **state)
{
    struct parser *p = new_parser();
    struct event ev;

    (void)state;
    assert_int_equal(line_of(p, rows[9].line, &ev), PARSE_EVENT);
    assert_string_equal(ev.notice_queue_id, "4ASHUHxU004242");
    assert_int_equal(line_of(p, rows[7].line, &ev), PARSE_EVENT);
    assert_true(ev.has_delay);
    assert_true(ev.delay == 93600.0);
    assert_int_equal(line_of(p, rows[2].line, &ev), PARSE_EVENT);
    assert_true(ev.has_delay && ev.delay == 2.0);
    parser_free(p);
}

/* test_relay_at_end - "relay=" as the last bytes of a line with nothing after it: the
 * value is empty and nothing past the line is read (the buffer is exactly the line) */
static void test_relay_at_end(void **state)
{
    static const char text[] =
        "Nov 28 17:30:17 mx3 sendmail[4243]: 4ASHUHxT004243: from=<a@example.org>, size=1, "
        "class=0, nrcpts=1, msgid=<x@mx3>, relay=";
    struct parser *p = new_parser();
    struct event ev;
    char *line = malloc(sizeof(text) - 1);

    (void)state;
    assert_non_null(line);
    memcpy(line, text, sizeof(text) - 1);
    assert_int_equal(parser_line(p, line, sizeof(text) - 1, &ev), PARSE_EVENT);
    assert_string_equal(ev.client, "");
    assert_string_equal(ev.sender, "a@example.org");
    free(line);
    parser_free(p);
}

/* test_correlation - to= lines carry the from= line's sender and message-id */
static void test_correlation(void **state)
{
    struct parser *p = new_parser();
    struct event ev;

    (void)state;
    assert_int_equal(line_of(p, rows[0].line, &ev), PARSE_EVENT);
    assert_int_equal(line_of(p, rows[4].line, &ev), PARSE_EVENT);
    assert_string_equal(ev.sender, "alice@example.org");
    assert_string_equal(ev.message_id, "<a1@example.org>");
    /* the from= line again on a queue run is not a second message */
    assert_int_equal(line_of(p, rows[0].line, &ev), PARSE_SKIP);
    parser_free(p);
}

/* test_matrix_forms - several recipients on one to=, a bare refusal, the queue-return DSN */
static void test_matrix_forms(void **state)
{
    struct parser *p = new_parser();
    struct event ev;
    int n = 0;

    (void)state;
    assert_int_equal(line_of(p,
                             S_ENV S_QID "from=<s@c.test>, size=9, class=0, nrcpts=3, "
                                         "msgid=<m@c>, proto=ESMTP, daemon=MTA, relay=[1.2.3.4]",
                             &ev),
                     PARSE_EVENT);
    /* two recipients that shared one delivery: two events */
    assert_int_equal(line_of(p,
                             S_ENV S_QID "to=<a@x.test>,<b@y.test>, delay=00:00:01, "
                                         "xdelay=00:00:01, mailer=esmtp, pri=1, relay=[5.6.7.8] "
                                         "[5.6.7.8], dsn=2.0.0, stat=Sent (ok)",
                             &ev),
                     PARSE_EVENT);
    assert_string_equal(ev.recipient, "a@x.test");
    assert_true(parser_next(p, &ev));
    assert_string_equal(ev.recipient, "b@y.test");
    assert_int_equal(ev.status, ST_SENT);
    assert_string_equal(ev.sender, "s@c.test");
    assert_false(parser_next(p, &ev));
    /* refused at RCPT, only the text logged */
    assert_int_equal(line_of(p, S_ENV S_QID "<nobody@x.test>... User unknown", &ev), PARSE_EVENT);
    assert_int_equal(ev.type, EV_REJECT);
    assert_string_equal(ev.recipient, "nobody@x.test");
    assert_string_equal(ev.reason, "userunknown");
    /* a deferral with the server's words, then a bare one, then the queue return time */
    assert_int_equal(line_of(p,
                             S_ENV S_QID "to=<c@x.test>, delay=00:00:01, xdelay=00:00:01, "
                                         "mailer=esmtp, pri=1, relay=[5.6.7.8], dsn=4.3.1, "
                                         "reply=452 4.2.2 Mailbox full, stat=Deferred: 452 "
                                         "4.2.2 Mailbox full",
                             &ev),
                     PARSE_EVENT);
    assert_int_equal(line_of(p,
                             S_ENV S_QID "to=<c@x.test>, delay=00:01:01, xdelay=00:00:01, "
                                         "mailer=esmtp, pri=1, relay=[5.6.7.8], dsn=4.3.0, "
                                         "stat=Deferred",
                             &ev),
                     PARSE_EVENT);
    assert_int_equal(
        line_of(p, S_ENV S_QID "4ASHUHxU004243: DSN: Cannot send message for 5 days", &ev),
        PARSE_EVENT);
    assert_int_equal(ev.type, EV_BOUNCE_NOTICE);
    while (parser_next(p, &ev)) {
        n++;
        assert_int_equal(ev.type, EV_DELIVERY);
        assert_int_equal(ev.status, ST_EXPIRED);
        assert_string_equal(ev.recipient, "c@x.test");
        assert_string_equal(ev.dsn, "4.2.2");
        assert_int_equal(ev.smtp_code, 452);
        assert_string_equal(ev.reason, "mailboxfull");
        assert_string_equal(ev.sender, "s@c.test");
    }
    assert_int_equal(n, 1);
    parser_free(p);
}

/*
 * test_refused_after_data - a milter at end of data and a header check refuse the message:
 * each recipient's following to= line (no mailer=) is a reject with the refusal's codes,
 * not a bounce; and a command-line submission's "DSN: <r>... text" is r's bounce
 */
static void test_refused_after_data(void **state)
{
    static const struct {
        const char *refusal, *from, *to, *rcpt, *dsn, *reply;
        int code;
    } refused[] = {
        {S_ENV S_QID "Milter: data, reject=550 5.7.1 Message rejected by milter",
         S_ENV S_QID "from=<m@c.test>, size=153, class=0, nrcpts=1, msgid=<m@x>, proto=ESMTP, "
                     "daemon=MTA, relay=localhost [127.0.0.1]",
         S_ENV S_QID "to=<ok-m@peer.test>, delay=00:00:00, pri=30153, stat=Message rejected by "
                     "milter",
         "ok-m@peer.test", "5.7.1", "Message rejected by milter", 550},
        /* the header check comes before the from= line */
        {S_ENV S_QID "ruleset=CheckSubject, arg1= mailpulse header-reject, relay=localhost "
                     "[127.0.0.1], reject=553 5.7.1 Header refused",
         S_ENV S_QID "from=<m@c.test>, size=156, class=0, nrcpts=2, msgid=<h@x>, proto=ESMTP, "
                     "daemon=MTA, relay=localhost [127.0.0.1]",
         S_ENV S_QID "to=<ok-h@peer.test>,<ok-i@peer.test>, delay=00:00:00, pri=30156, "
                     "stat=Header refused",
         "ok-h@peer.test", "5.7.1", "Header refused", 553},
    };
    struct event ev;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct parser *p = new_parser();
        const char *first = i == 1 ? refused[i].refusal : refused[i].from;
        const char *second = i == 1 ? refused[i].from : refused[i].refusal;

        assert_int_equal(line_of(p, first, &ev), i == 1 ? PARSE_SKIP : PARSE_EVENT);
        assert_int_equal(line_of(p, second, &ev), i == 1 ? PARSE_EVENT : PARSE_SKIP);
        assert_int_equal(line_of(p, refused[i].to, &ev), PARSE_EVENT);
        assert_int_equal(ev.type, EV_REJECT);
        assert_string_equal(ev.recipient, refused[i].rcpt);
        assert_string_equal(ev.sender, "m@c.test");
        assert_string_equal(ev.dsn, refused[i].dsn);
        assert_int_equal(ev.smtp_code, refused[i].code);
        assert_string_equal(ev.reply, refused[i].reply);
        if (i == 1) {
            assert_true(parser_next(p, &ev));
            assert_int_equal(ev.type, EV_REJECT);
            assert_string_equal(ev.recipient, "ok-i@peer.test");
        }
        assert_false(parser_next(p, &ev));
        parser_free(p);
    }
    {
        struct parser *p = new_parser();

        /* a message a milter quarantined is held, not bounced: no event until its delivery */
        assert_int_equal(line_of(p,
                                 S_ENV S_QID
                                 "to=<ok-hold@hold.test>, delay=00:00:00, mailer=esmtp, "
                                 "pri=30151, quarantine=held by the matrix, "
                                 "stat=quarantined",
                                 &ev),
                         PARSE_SKIP);
        /* Sendmail's own TLS ruleset refusing is a reject of its own, not a header check */
        assert_int_equal(line_of(p,
                                 S_ENV "4ASHUHxV004244: ruleset=tls_server, arg1=SOFTWARE, "
                                       "relay=mx.x.test, reject=403 4.7.0 TLS handshake failed.",
                                 &ev),
                         PARSE_EVENT);
        assert_int_equal(ev.type, EV_REJECT);
        /* a delivery tried (mailer=) after a refusal is still a delivery */
        assert_int_equal(line_of(p, refused[0].refusal, &ev), PARSE_SKIP);
        assert_int_equal(line_of(p,
                                 S_ENV S_QID "to=<a@x.test>, delay=00:00:01, mailer=esmtp, pri=1, "
                                             "relay=[5.6.7.8], dsn=2.0.0, stat=Sent (ok)",
                                 &ev),
                         PARSE_EVENT);
        assert_int_equal(ev.type, EV_DELIVERY);
        assert_int_equal(ev.status, ST_SENT);
        /* the error mailer in a command-line submission */
        assert_int_equal(
            line_of(p,
                    "Dec  4 21:38:14 mx3 sendmail[31010]: 6B4LcEgi031010: from=c@c.test, "
                    "size=166, class=0, nrcpts=0, msgid=<e@x>, relay=root@localhost",
                    &ev),
            PARSE_EVENT);
        assert_int_equal(
            line_of(p,
                    "Dec  4 21:38:14 mx3 sendmail[31010]: 6B4LcEgi031010: 6B4LcEgj031010: "
                    "DSN: ok-cli@error.test... Domain not found",
                    &ev),
            PARSE_EVENT);
        assert_int_equal(ev.type, EV_BOUNCE_NOTICE);
        assert_true(parser_next(p, &ev));
        assert_int_equal(ev.type, EV_DELIVERY);
        assert_int_equal(ev.status, ST_BOUNCED);
        assert_string_equal(ev.recipient, "ok-cli@error.test");
        assert_string_equal(ev.sender, "c@c.test");
        assert_string_equal(ev.reply, "Domain not found");
        assert_string_equal(ev.reason, "hostunknown");
        assert_false(parser_next(p, &ev));
        /* a notice's own text is no recipient */
        assert_int_equal(
            line_of(p,
                    "Dec  4 21:38:14 mx3 sendmail[31010]: 6B4LcEgi031010: 6B4LcEgj031011: "
                    "DSN: Service unavailable",
                    &ev),
            PARSE_EVENT);
        assert_false(parser_next(p, &ev));
        parser_free(p);
    }
}

/* events - the events of lines, drained, then those still held released: their count, the
 * recipients of deliveries and the message events in out */
static int events(struct parser *p, const char *const *lines, char *out, size_t outlen)
{
    struct event ev;
    int n = 0;

    out[0] = 0;
    for (int i = 0; lines[i]; i++) {
        bool first = line_of(p, lines[i], &ev) == PARSE_EVENT;

        for (; first || parser_next(p, &ev); first = false, n++)
            snprintf(out + strlen(out), outlen - strlen(out), "%s%s ",
                     ev.type == EV_MESSAGE ? "msg:" : "",
                     ev.type == EV_MESSAGE ? ev.queue_id : ev.recipient);
    }
    while (parser_release(p) > 0)
        for (; parser_next(p, &ev); n++)
            snprintf(out + strlen(out), outlen - strlen(out), "released:%s ", ev.recipient);
    return n;
}

/* test_filter_hop - a dual-Sendmail content filter: the filter side's delivery to loopback
 * that names the other side's queue id is a hop, whether that id is logged before or after
 * it; the copy is not received twice; a loopback smarthost's own id is a delivery */
static void test_filter_hop(void **state)
{
    static const char *const copy_first[] = {
        S_ENV "4ASHUHxT000001: from=<s@x.org>, size=300, class=0, nrcpts=2, "
              "msgid=<f1@x.org>, proto=ESMTP, daemon=MTA-F, relay=app [192.0.2.9]",
        S_ENV "4ASHUHxT000002: from=<s@x.org>, size=500, class=0, nrcpts=2, "
              "msgid=<f1@x.org>, proto=ESMTP, daemon=MTA-R, relay=filter.test [127.0.0.1]",
        S_ENV "4ASHUHxT000001: to=<a@peer.test>,<b@other.test>, delay=00:00:01, mailer=esmtp, "
              "pri=120300, relay=[127.0.0.11] [127.0.0.11], dsn=2.0.0, stat=Sent "
              "(4ASHUHxT000002 Message accepted for delivery)",
        S_ENV "4ASHUHxT000002: to=<a@peer.test>,<b@other.test>, delay=00:00:01, mailer=esmtp, "
              "pri=120500, relay=mx.peer.test. [192.0.2.1], dsn=2.0.0, stat=Sent (Ok: id=P1)",
        NULL,
    };
    static const char *const hop_first[] = {
        S_ENV "4ASHUHxT000011: from=<s@x.org>, size=300, class=0, nrcpts=2, "
              "msgid=<f2@x.org>, proto=ESMTP, daemon=MTA-F, relay=app [192.0.2.9]",
        S_ENV "4ASHUHxT000011: to=<a@peer.test>,<b@other.test>, delay=00:00:01, mailer=esmtp, "
              "pri=120300, relay=[127.0.0.11] [127.0.0.11], dsn=2.0.0, stat=Sent "
              "(4ASHUHxT000012 Message accepted for delivery)",
        S_ENV "4ASHUHxT000011: done",
        S_ENV "4ASHUHxT000012: from=<s@x.org>, size=500, class=0, nrcpts=2, "
              "msgid=<f2@x.org>, proto=ESMTP, daemon=MTA-R, relay=filter.test [127.0.0.1]",
        S_ENV "4ASHUHxT000012: to=<a@peer.test>,<b@other.test>, delay=00:00:01, mailer=esmtp, "
              "pri=120500, relay=mx.peer.test. [192.0.2.1], dsn=2.0.0, stat=Sent (Ok: id=P2)",
        NULL,
    };
    static const char *const smarthost[] = {
        S_ENV "4ASHUHxT000021: from=<s@x.org>, size=300, class=0, nrcpts=2, "
              "msgid=<f3@x.org>, proto=ESMTP, daemon=MTA, relay=app [192.0.2.9]",
        S_ENV "4ASHUHxT000021: to=<a@peer.test>,<b@other.test>, delay=00:00:01, mailer=relay, "
              "pri=120300, relay=[127.0.0.7] [127.0.0.7], dsn=2.0.0, stat=Sent "
              "(7BSHUHxT000001 Message accepted for delivery)",
        NULL,
    };
    struct parser *p;
    char out[512];

    (void)state;
    p = new_parser();
    assert_int_equal(events(p, copy_first, out, sizeof(out)), 3);
    assert_string_equal(out, "msg:4ASHUHxT000001 a@peer.test b@other.test ");
    assert_int_equal(parser_stats(p)->reinjected, 1);
    parser_free(p);

    p = new_parser();
    assert_int_equal(events(p, hop_first, out, sizeof(out)), 3);
    assert_string_equal(out, "msg:4ASHUHxT000011 a@peer.test b@other.test ");
    assert_int_equal(parser_stats(p)->held, 2);
    assert_int_equal(parser_stats(p)->reinjected, 2);
    parser_free(p);

    p = new_parser();
    assert_int_equal(events(p, smarthost, out, sizeof(out)), 3);
    assert_string_equal(out, "msg:4ASHUHxT000021 released:a@peer.test released:b@other.test ");
    parser_free(p);
}

/* test_fail2ban - every Sendmail reject line of the corpus is a reject with a code */
static void test_fail2ban(void **state)
{
    char path[4096], line[8192];
    struct parser *p;
    int rejects = 0;
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/fail2ban-mail/logs/sendmail-reject", corpora_dir());
    f = fopen(path, "r");
    if (f == NULL) {
        skip();
        return;
    }
    p = new_parser();
    while (fgets(line, sizeof(line), f)) {
        size_t len = strcspn(line, "\n");
        struct event ev;
        enum parse_result r = parser_line(p, line, len, &ev);

        /* "Jun 18 08:05:17 <mail.notice> myhost": a priority the envelope does not read */
        /* "rejecting commands ... pre-greeting traffic", "EXPN root [rejected]": a refusal
         * that is not read, so not understood rather than skipped */
        if (line[0] != '#' && !strstr(line, " <mail.") && strstr(line, "reject=") == NULL &&
            (strstr(line, "rejecting commands") || strstr(line, "[rejected]"))) {
            assert_int_equal(r, PARSE_MALFORMED);
            continue;
        }
        if (strstr(line, "reject=") == NULL || line[0] == '#' || strstr(line, " <mail.")) {
            assert_int_not_equal(r, PARSE_MALFORMED);
            continue;
        }
        if (r != PARSE_EVENT || ev.type != EV_REJECT || ev.smtp_code < 400 || ev.reason[0] == 0)
            fail_msg("not a reject: %s", line);
        rejects++;
    }
    fclose(f);
    assert_true(rejects >= 10);
    parser_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_notice_and_delay),
        cmocka_unit_test(test_relay_at_end),
        cmocka_unit_test(test_correlation),
        cmocka_unit_test(test_fail2ban),
        cmocka_unit_test(test_matrix_forms),
        cmocka_unit_test(test_refused_after_data),
        cmocka_unit_test(test_filter_hop),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
