/*
 * test_exim - cmocka tests of parser/exim.c: the mainlog stamp, each marker, rejections,
 * correlation through the open-queue table, --mta forcing, and the Exim test-suite corpus
 *
 * Tests are tables: one row per input line with the fields it must give. The corpus test
 * reads exim-testsuite/ of the corpora (corpora_dir(): MAILPULSE_CORPORA, default
 * tests/corpora) and checks, log by log, that the events of each kind match the marker counts
 * of its INDEX.tsv, which were counted by grep independently of this parser.
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
#include "parser/parser_int.h"
#include "tests/unit/unit.h"

/* ---- one line, one event ---- */

#define L_TIME "2026-11-28 17:30:17 "
#define L_ID   "1rAbCd-000ABC-Xy "

static const struct row {
    const char *line;
    enum parse_result r;
    enum event_type type;
    enum event_status status;
    const char *time, *host, *qid, *sender, *rcpt, *relay, *client, *msgid, *dsn, *reason;
    int code;
    int64_t size;
    const char *reply;
} rows[] = {
    /* arrivals */
    {L_TIME L_ID "<= alice@example.org H=mail.example.org (helo.example.org) [192.0.2.7]:53211 "
                 "I=[198.51.100.2]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no "
                 "A=dovecot_plain:alice S=2345 id=a1@example.org T=\"Hello there\" for b@x.test",
     PARSE_EVENT, EV_MESSAGE, ST_NONE, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy",
     "alice@example.org", "", "", "mail.example.org[192.0.2.7]", "<a1@example.org>", "", "", -1,
     2345, ""},
    /* a bounce Exim wrote about 1rAbCa-...: a notice, like Postfix's bounce lines */
    {L_TIME L_ID "<= <> R=1rAbCa-000ABC-Xy U=Debian-exim P=local S=1500", PARSE_EVENT,
     EV_BOUNCE_NOTICE, ST_NONE, "2026-11-28T17:30:17+00:00", "", "1rAbCa-000ABC-Xy", "", "", "", "",
     "", "", "", -1, -1, ""},
    /* a null sender from the network is a message */
    {L_TIME L_ID "<= <> H=mx.example.net [203.0.113.5] P=esmtp S=900", PARSE_EVENT, EV_MESSAGE,
     ST_NONE, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "", "", "",
     "mx.example.net[203.0.113.5]", "", "", "", -1, 900, ""},
    /* new-format id (4.97), pid and milliseconds */
    {"2026-11-28 17:30:17.250 [4711] 1rAbCd-00000000ABC-Xyzw <= bob@example.org U=bob P=local "
     "S=12",
     PARSE_EVENT, EV_MESSAGE, ST_NONE, "2026-11-28T17:30:17.250000+00:00", "",
     "1rAbCd-00000000ABC-Xyzw", "bob@example.org", "", "", "", "", "", "", -1, 12, ""},
    /* log_timezone: the stamp carries its offset */
    {"2026-11-28 18:30:17 +0100 " L_ID "<= c@example.org U=c P=local S=1", PARSE_EVENT, EV_MESSAGE,
     ST_NONE, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "c@example.org", "", "", "", "",
     "", "", -1, 1, ""},
    /* behind syslog */
    {"Nov 28 17:30:17 mx2 exim4[812]: " L_ID "=> bob@gmail.com R=dnslookup T=remote_smtp "
     "H=gmail-smtp-in.l.google.com [142.250.1.26]:25 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes "
     "K C=\"250 2.0.0 OK  1732815017 a1si\" QT=1s DT=0.4s",
     PARSE_EVENT, EV_DELIVERY, ST_SENT, "2026-11-28T17:30:17+00:00", "mx2", "1rAbCd-000ABC-Xy", "",
     "bob@gmail.com", "gmail-smtp-in.l.google.com[142.250.1.26]:25", "", "", "2.0.0", "", 250, -1,
     "250 2.0.0 OK  1732815017 a1si"},
    /* a native stamp with a syslog-like host and program after it */
    {"2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: " L_ID "-> carol@example.net R=dnslookup "
     "T=remote_smtp H=mx.example.net [203.0.113.5] C=\"250 OK\"",
     PARSE_EVENT, EV_DELIVERY, ST_SENT, "2019-10-22T03:39:17+00:00", "mx1.fqdn.local",
     "1rAbCd-000ABC-Xy", "", "carol@example.net", "mx.example.net[203.0.113.5]", "", "", "", "",
     250, -1, "250 OK"},
    /* a local delivery logs the local part and the address in brackets */
    {L_TIME L_ID "=> bob <bob@example.org> R=local_user T=mail_spool", PARSE_EVENT, EV_DELIVERY,
     ST_SENT, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "", "bob@example.org",
     "mail_spool", "", "", "", "", -1, -1, ""},
    /* deferrals */
    {L_TIME L_ID "== dave@example.com R=dnslookup T=remote_smtp defer (-44) H=mx.example.com "
                 "[203.0.113.9]: SMTP error from remote mail server after RCPT TO:"
                 "<dave@example.com>: 450 4.2.2 Mailbox full, try later",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "",
     "dave@example.com", "mx.example.com[203.0.113.9]", "", "", "4.2.2", "mailboxfull", 450, -1,
     "SMTP error from remote mail server after RCPT TO:<dave@example.com>: 450 4.2.2 Mailbox "
     "full, try later"},
    {L_TIME L_ID "== e@nolistener.test R=static T=remote_smtp defer (111): Connection refused",
     PARSE_EVENT, EV_DELIVERY, ST_DEFERRED, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "",
     "e@nolistener.test", "remote_smtp", "", "", "", "networkerror", -1, -1, "Connection refused"},
    {L_TIME L_ID "== CALLER@test.ex R=caller T=local_delivery defer (-1)", PARSE_EVENT, EV_DELIVERY,
     ST_DEFERRED, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "", "CALLER@test.ex",
     "local_delivery", "", "", "", "undefined", -1, -1, ""},
    /* failures */
    {L_TIME L_ID "** nobody@example.com R=dnslookup T=remote_smtp H=mx.example.com "
                 "[203.0.113.9] : SMTP error from remote mail server after RCPT "
                 "TO:<nobody@example.com>: 550 5.1.1 <nobody@example.com>: Recipient address "
                 "rejected: User unknown",
     PARSE_EVENT, EV_DELIVERY, ST_BOUNCED, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "",
     "nobody@example.com", "mx.example.com[203.0.113.9]", "", "", "5.1.1", "userunknown", 550, -1,
     "SMTP error from remote mail server after RCPT TO:<nobody@example.com>: 550 5.1.1 "
     "<nobody@example.com>: Recipient address rejected: User unknown"},
    {L_TIME L_ID "** userx@bad.ex : Unrouteable address", PARSE_EVENT, EV_DELIVERY, ST_BOUNCED,
     "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "", "userx@bad.ex", "", "", "", "",
     "hostunknown", -1, -1, "Unrouteable address"},
    {L_TIME L_ID "** b@known.ex: retry timeout exceeded", PARSE_EVENT, EV_DELIVERY, ST_EXPIRED,
     "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "", "b@known.ex", "", "", "", "",
     "expired", -1, -1, "retry timeout exceeded"},
    /* suppressed and bookkeeping lines */
    {L_TIME L_ID "*> f@example.org R=r T=t", PARSE_SKIP, .type = EV_NONE},
    {L_TIME L_ID "Completed QT=2s", PARSE_SKIP, .type = EV_NONE},
    {L_TIME L_ID "Message is frozen", PARSE_SKIP, .type = EV_NONE},
    {L_TIME "Start queue run: pid=1234", PARSE_SKIP, .type = EV_NONE},
    {L_TIME "SMTP connection from [192.0.2.1]:4000 (TCP/IP connection count = 1)", PARSE_SKIP,
     .type = EV_NONE},
    {L_TIME "login authenticator failed for (ylmf-pc) [120.196.140.45]: 535 Incorrect "
            "authentication data",
     PARSE_SKIP, .type = EV_NONE},
    /* rejections */
    {L_TIME "H=test.com [1.2.3.4]:53343 F=<info@test.com> rejected RCPT <toto@toto.com>: "
            "\"JunkMail rejected - test.com is in an RBL: spamhaus\"",
     PARSE_EVENT, EV_REJECT, ST_NONE, "2026-11-28T17:30:17+00:00", "", "", "info@test.com",
     "toto@toto.com", "", "test.com[1.2.3.4]", "", "", "blocked", -1, -1,
     "JunkMail rejected - test.com is in an RBL: spamhaus"},
    {L_TIME "H=(smtpclient.test) [1.136.28.14]:17125 X=TLS1.3:TLS_AES_128_GCM_SHA256:128 CV=no "
            "F=<info@toto.com.au> rejected RCPT <tutu@titi.com.au>: 550 5.7.1 relay not permitted",
     PARSE_EVENT, EV_REJECT, ST_NONE, "2026-11-28T17:30:17+00:00", "", "", "info@toto.com.au",
     "tutu@titi.com.au", "", "unknown[1.136.28.14]", "", "5.7.1", "norelaying", 550, -1,
     "550 5.7.1 relay not permitted"},
    {L_TIME L_ID "H=(test) [192.0.2.4] U=root F=<u@localhost1> rejected after DATA: there is no "
                 "valid sender in any header line",
     PARSE_EVENT, EV_REJECT, ST_NONE, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy",
     "u@localhost1", "", "", "unknown[192.0.2.4]", "", "", "undefined", -1, -1,
     "there is no valid sender in any header line"},
    {L_TIME "U=CALLER temporarily rejected MAIL <r1@domain1>: Could not complete sender verify "
            "callout",
     PARSE_EVENT, EV_REJECT, ST_NONE, "2026-11-28T17:30:17+00:00", "", "", "r1@domain1", "", "", "",
     "", "", "undefined", -1, -1, "Could not complete sender verify callout"},
    {L_TIME "H=(ylmf-pc) [120.196.140.45] rejected EHLO or HELO ylmf-pc: not a FQDN", PARSE_EVENT,
     EV_REJECT, ST_NONE, "2026-11-28T17:30:17+00:00", "", "", "", "", "", "unknown[120.196.140.45]",
     "", "", "undefined", -1, -1, "not a FQDN"},
    /* a client that talked out of turn: the connection is rejected, no recipient */
    {L_TIME "SMTP protocol synchronization error (input sent without waiting for greeting): "
            "rejected connection from H=[211.148.195.192]:25936 I=[1.2.3.4]:25 input=\"GET /\"",
     PARSE_EVENT, EV_REJECT, ST_NONE, "2026-11-28T17:30:17+00:00", "", "", "", "", "",
     "unknown[211.148.195.192]", "", "", "syntaxerror", 554, -1,
     "SMTP protocol synchronization error (input sent without waiting for greeting)"},
    {L_TIME "SMTP protocol synchronization error (next input sent too soon: pipelining was not "
            "advertised): rejected \"RSET\" H=ba77.mx83.fr [82.96.160.77]:58302 I=[1.2.3.4]:25",
     PARSE_EVENT, EV_REJECT, ST_NONE, "2026-11-28T17:30:17+00:00", "", "", "", "", "",
     "ba77.mx83.fr[82.96.160.77]", "", "", "syntaxerror", 554, -1,
     "SMTP protocol synchronization error (next input sent too soon: pipelining was not "
     "advertised)"},
    /* not Exim */
    {"2026-11-28 17:30:17", PARSE_SKIP, .type = EV_NONE},
    {"2026-13-28 17:30:17 " L_ID "<= a@b U=a P=local S=1", PARSE_SKIP, .type = EV_NONE},
    /* a local user reached through an alias: that user, in the alias's domain */
    {L_TIME L_ID "=> mbox3 <team@local.test> R=localuser T=local_delivery", PARSE_EVENT,
     EV_DELIVERY, ST_SENT, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "",
     "mbox3@local.test", "local_delivery", "", "", "", "", -1, -1, ""},
    /* a pipe reached through an alias: the bracketed address */
    {L_TIME L_ID "=> |/usr/bin/procmail <team@local.test> R=pipe T=address_pipe", PARSE_EVENT,
     EV_DELIVERY, ST_SENT, "2026-11-28T17:30:17+00:00", "", "1rAbCd-000ABC-Xy", "",
     "team@local.test", "address_pipe", "", "", "", "", -1, -1, ""},
};

/* test_lines - every row of the table through a fresh parser */
static void test_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *w = &rows[i];
        struct parser *p = new_parser_mta(MTA_UNKNOWN);
        struct event ev;
        enum parse_result r = line_of(p, w->line, &ev);

        if (r != w->r)
            fail_msg("row %zu: result %d, want %d: %s", i, r, w->r, w->line);
        if (r == PARSE_EVENT) {
            if (ev.type != w->type || ev.status != w->status || ev.mta != MTA_EXIM)
                fail_msg("row %zu: type %d status %d mta %d", i, ev.type, ev.status, ev.mta);
            check_str(i, "time", w->time, fmt_time(ev.time_us));
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
            if (ev.smtp_code != w->code || ev.size != w->size)
                fail_msg("row %zu: code %d size %lld", i, ev.smtp_code, (long long)ev.size);
        }
        parser_free(p);
    }
}

/* test_hard - a 5.1.1 bounce is hard, a 4.2.2 deferral is not */
static void test_hard(void **state)
{
    struct parser *p = new_parser_mta(MTA_UNKNOWN);
    struct event ev;

    (void)state;
    assert_int_equal(line_of(p, rows[11].line, &ev), PARSE_EVENT);
    assert_true(ev.hard);
    assert_int_equal(line_of(p, rows[8].line, &ev), PARSE_EVENT);
    assert_false(ev.hard);
    parser_free(p);
}

/* test_correlation - deliveries carry the arrival's sender and id until Completed */
static void test_correlation(void **state)
{
    static const char *const lines[] = {
        L_TIME L_ID "<= news@example.org H=a [192.0.2.1] P=esmtp S=900 id=n1@example.org",
        L_TIME "1rAbCe-000ABC-Xy <= other@example.org U=o P=local S=5",
        L_TIME L_ID "=> x@example.com R=r T=remote_smtp H=mx [203.0.113.1] C=\"250 ok\"",
        L_TIME L_ID "** y@example.com R=r T=remote_smtp H=mx [203.0.113.1] : SMTP error from "
                    "remote mail server after RCPT TO:<y@example.com>: 550 5.1.1 no such user",
        L_TIME L_ID "Completed",
        L_TIME L_ID "=> z@example.com R=r T=remote_smtp H=mx [203.0.113.1] C=\"250 ok\"",
    };
    struct parser *p = new_parser_mta(MTA_UNKNOWN);
    struct event ev;

    (void)state;
    assert_int_equal(line_of(p, lines[0], &ev), PARSE_EVENT);
    assert_int_equal(line_of(p, lines[1], &ev), PARSE_EVENT);
    assert_int_equal(line_of(p, lines[2], &ev), PARSE_EVENT);
    assert_string_equal(ev.sender, "news@example.org");
    assert_string_equal(ev.message_id, "<n1@example.org>");
    assert_int_equal(line_of(p, lines[3], &ev), PARSE_EVENT);
    assert_string_equal(ev.sender, "news@example.org");
    assert_string_equal(ev.dsn, "5.1.1");
    assert_int_equal(line_of(p, lines[4], &ev), PARSE_SKIP);
    assert_int_equal(line_of(p, lines[5], &ev), PARSE_EVENT);
    assert_string_equal(ev.sender, "");
    assert_string_equal(ev.message_id, "");
    parser_free(p);
}

/* test_force - --mta picks one reader; auto reads all of them from one stream */
static void test_force(void **state)
{
    static const char exim[] = L_TIME L_ID "<= a@example.org U=a P=local S=1";
    static const char sm[] = "Nov 28 17:30:17 mx sm-mta[1]: s1GNXHYB005133: from=<a@b.c>, "
                             "size=10, class=0, nrcpts=1, msgid=<m@b.c>, relay=[127.0.0.1]";
    static const char pfx[] = "Nov 28 17:30:17 mx postfix/qmgr[2]: 4ZxY2l3Xr9z1: from=<a@b.c>, "
                              "size=10, nrcpt=1 (queue active)";
    static const struct {
        enum event_mta mta;
        enum parse_result exim, sm, pfx;
    } want[] = {
        {MTA_UNKNOWN, PARSE_EVENT, PARSE_EVENT, PARSE_EVENT},
        {MTA_EXIM, PARSE_EVENT, PARSE_SKIP, PARSE_SKIP},
        {MTA_SENDMAIL, PARSE_SKIP, PARSE_EVENT, PARSE_SKIP},
        {MTA_POSTFIX, PARSE_SKIP, PARSE_SKIP, PARSE_EVENT},
    };
    struct event ev;

    (void)state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct parser *p = new_parser_mta(want[i].mta);

        assert_int_equal(line_of(p, exim, &ev), want[i].exim);
        if (want[i].exim == PARSE_EVENT)
            assert_int_equal(ev.mta, MTA_EXIM);
        assert_int_equal(line_of(p, sm, &ev), want[i].sm);
        if (want[i].sm == PARSE_EVENT)
            assert_int_equal(ev.mta, MTA_SENDMAIL);
        assert_int_equal(line_of(p, pfx, &ev), want[i].pfx);
        if (want[i].pfx == PARSE_EVENT)
            assert_int_equal(ev.mta, MTA_POSTFIX);
        parser_free(p);
    }
}

/* test_truncation - an over-long line is cut, flagged, and read past its end never */
static void test_truncation(void **state)
{
    static char line[8192];
    struct parser *p = new_parser_mta(MTA_UNKNOWN);
    struct event ev;
    size_t n;

    (void)state;
    n = (size_t)snprintf(line, sizeof(line), L_TIME L_ID "** x@y.z : ");
    memset(line + n, 'a', sizeof(line) - n - 1);
    assert_int_equal(parser_line(p, line, sizeof(line) - 1, &ev), PARSE_EVENT);
    assert_true(ev.flags & EVF_TRUNCATED);
    /* a prefix of a line, not NUL-terminated where it stops */
    assert_int_equal(parser_line(p, line, 30, &ev), PARSE_SKIP);
    parser_free(p);
}

/* ---- the Exim test suite's logs against a plain count of their markers ---- */

/* marker_of - the word after "date time id " of a mainlog line, by splitting on spaces */
static void marker_of(const char *line, char *out, size_t outlen)
{
    char copy[512], *save = NULL, *w;
    int i;

    size_t n = strlen(line) < sizeof(copy) - 1 ? strlen(line) : sizeof(copy) - 1;

    memcpy(copy, line, n);
    copy[n] = 0;
    out[0] = 0;
    w = strtok_r(copy, " \n", &save);
    for (i = 0; w && i < 3; i++)
        w = strtok_r(NULL, " \n", &save);
    if (w)
        snprintf(out, outlen, "%s", w);
}

/* count_marker - which log marker an event stands for: <=, =>, ** or == */
static void count_marker(const struct event *ev, long got[4])
{
    got[0] += ev->type == EV_MESSAGE || ev->type == EV_BOUNCE_NOTICE;
    got[1] += ev->type == EV_DELIVERY && ev->status == ST_SENT;
    got[2] += ev->type == EV_DELIVERY && (ev->status == ST_BOUNCED || ev->status == ST_EXPIRED);
    got[3] += ev->type == EV_DELIVERY && ev->status == ST_DEFERRED;
}
/*
 * test_corpus - per log of exim-testsuite/log: message and notice events equal the "<=" lines,
 * sent
 * deliveries the "=>", "->" and ">>" lines, bounced or expired the "**" lines, deferred the
 * "==" lines, counted by splitting each line into words; and almost nothing is malformed
 */
static void test_corpus(void **state)
{
    char path[4096], line[16384];
    FILE *index;
    int logs = 0;
    uint64_t lines = 0, malformed = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/exim-testsuite/INDEX.tsv", corpora_dir());
    index = fopen(path, "r");
    if (index == NULL) {
        skip();
        return;
    }
    while (fgets(line, sizeof(line), index)) {
        char test[64];
        long want[4] = {0}, got[4] = {0};
        struct parser *p;
        struct event ev;
        FILE *f;

        if (sscanf(line, "%63[^\t]", test) != 1 || strcmp(test, "test") == 0)
            continue; /* the header */
        snprintf(path, sizeof(path), "%s/exim-testsuite/log/%s", corpora_dir(), test);
        f = fopen(path, "r");
        assert_non_null(f);
        p = new_parser_mta(MTA_EXIM);
        while (fgets(line, sizeof(line), f)) {
            size_t len = strcspn(line, "\n");
            char m[16];

            /* The server's log, appended to the client's: a log of its own, read by a
             * parser of its own (one stream would fold the client's loopback hop to it). */
            if (strncmp(line, "******** SERVER", 15) == 0) {
                while (parser_release(p) > 0)
                    while (parser_next(p, &ev))
                        count_marker(&ev, got);
                lines += parser_stats(p)->lines;
                malformed += parser_stats(p)->malformed;
                parser_free(p);
                p = new_parser_mta(MTA_EXIM);
                continue;
            }
            marker_of(line, m, sizeof(m));
            want[0] += strcmp(m, "<=") == 0;
            want[1] += strcmp(m, "=>") == 0 || strcmp(m, "->") == 0 || strcmp(m, ">>") == 0;
            want[2] += strcmp(m, "**") == 0;
            want[3] += strcmp(m, "==") == 0;
            if (parser_line(p, line, len, &ev) == PARSE_EVENT)
                count_marker(&ev, got);
            while (parser_next(p, &ev))
                count_marker(&ev, got);
        }
        while (parser_release(p) > 0)
            while (parser_next(p, &ev))
                count_marker(&ev, got);
        fclose(f);
        lines += parser_stats(p)->lines;
        malformed += parser_stats(p)->malformed;
        parser_free(p);
        if (memcmp(want, got, sizeof(want)) != 0)
            fail_msg("log %s: <= %ld/%ld, => %ld/%ld, ** %ld/%ld, == %ld/%ld", test, got[0],
                     want[0], got[1], want[1], got[2], want[2], got[3], want[3]);
        logs++;
    }
    fclose(index);
    assert_true(logs > 250);
    print_message("exim-testsuite: %d logs, %llu lines, %llu not understood\n", logs,
                  (unsigned long long)lines, (unsigned long long)malformed);
    assert_true(malformed * 1000 <= lines); /* near zero: under 0.1% */
}

/* test_matrix_forms - a leading enhanced code is the DSN; expiry forms and their last deferral */
static void test_matrix_forms(void **state)
{
    struct parser *p = new_parser();
    struct event ev;

    (void)state;
    assert_int_equal(line_of(p,
                             L_TIME "H=(c.test) [127.0.0.1] F=<s@c.test> rejected RCPT "
                                    "<r@refused.test>: 5.7.1 Relay access denied",
                             &ev),
                     PARSE_EVENT);
    assert_int_equal(ev.type, EV_REJECT);
    assert_string_equal(ev.recipient, "r@refused.test");
    assert_string_equal(ev.dsn, "5.7.1");
    assert_int_equal(line_of(p,
                             L_TIME L_ID "== a@peer.test R=peer T=peer_smtp defer (-44) "
                                         "H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail "
                                         "server after RCPT TO:<a@peer.test>: 452 4.2.2 Mailbox "
                                         "full, try again later",
                             &ev),
                     PARSE_EVENT);
    assert_int_equal(ev.status, ST_DEFERRED);
    assert_int_equal(line_of(p,
                             L_TIME L_ID "** a@peer.test: all hosts for 'peer.test' have been "
                                         "failing for a long time (and retry time not reached)",
                             &ev),
                     PARSE_EVENT);
    assert_int_equal(ev.status, ST_EXPIRED);
    assert_string_equal(ev.dsn, "4.2.2");
    assert_int_equal(ev.smtp_code, 452);
    assert_string_equal(ev.reason, "mailboxfull");
    /* an expiry of a recipient whose deferrals the log does not hold */
    assert_int_equal(line_of(p, L_TIME L_ID "** b@peer.test: retry timeout exceeded", &ev),
                     PARSE_EVENT);
    assert_int_equal(ev.status, ST_EXPIRED);
    assert_string_equal(ev.reason, "expired");
    parser_free(p);
}

/*
 * test_message_id_bytes - the queue id of an arrival is read only when each of its parts is
 * letters and digits: one other byte at any place of a 4.96 id (or of a 4.97 one) and the line
 * is no arrival of that id; the same line with a good id is
 */
static void test_message_id_bytes(void **state)
{
    static const char *const ids[] = {"1aBcDe-000XYZ-9z", "1aBcDe-00000000ABC-Xy9z"};
    static const char bad[] = {'_', '.', '/', ':', '@', '[', '`', '{', '-', ' ', '\x80', '\xc3'};

    (void)state;
    for (size_t n = 0; n < ARRAY_LEN(ids); n++) {
        size_t len = strlen(ids[n]);

        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k <= sizeof(bad); k++) {
                struct parser *p = new_parser();
                char id[32], line[256];
                struct event ev;
                enum parse_result r;
                bool good = k == sizeof(bad) || at == len;

                memcpy(id, ids[n], len + 1);
                if (!good && (id[at] == '-'))
                    good = bad[k] == '-'; /* a dash where the form has one */
                if (!good)
                    id[at] = bad[k];
                snprintf(line, sizeof(line),
                         "2026-11-28 17:30:17 %s <= a@b.example H=h [192.0.2.1] P=esmtp S=10 "
                         "id=m@b.example",
                         id);
                r = line_of(p, line, &ev);
                if (good) {
                    assert_int_equal(r, PARSE_EVENT);
                    assert_int_equal(ev.type, EV_MESSAGE);
                    assert_string_equal(ev.queue_id, id);
                } else {
                    assert_false(r == PARSE_EVENT && ev.type == EV_MESSAGE &&
                                 strcmp(ev.queue_id, id) == 0);
                    assert_false(r == PARSE_EVENT && strncmp(ev.queue_id, id, len) == 0);
                }
                parser_free(p);
            }
        }
    }
}

/*
 * test_quoted_reply - a C="..." value of every length up to 40 with an escaped quote or a
 * backslash at every place is the reply, up to its closing quote; an unclosed one runs to
 * the end of the line
 */
static void test_quoted_reply(void **state)
{
    static const char *const escapes[] = {"\\\"", "\\\\", "x"};

    (void)state;
    for (size_t len = 0; len <= 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < ARRAY_LEN(escapes); k++) {
                struct parser *p = new_parser();
                char value[64], line[256];
                struct event ev;

                memset(value, 'a', len);
                value[len] = 0;
                if (at + strlen(escapes[k]) <= len)
                    memcpy(value + at, escapes[k], strlen(escapes[k]));
                snprintf(line, sizeof(line),
                         L_TIME L_ID "=> a@b.example R=r T=t H=h [192.0.2.1] C=\"%s\" QT=1s",
                         value);
                assert_int_equal(line_of(p, line, &ev), PARSE_EVENT);
                assert_string_equal(ev.reply, value);
                if (at == 0) {
                    snprintf(line, sizeof(line),
                             L_TIME L_ID "=> a@b.example R=r T=t H=h [192.0.2.1] C=\"%s", value);
                    assert_int_equal(line_of(p, line, &ev), PARSE_EVENT);
                    assert_string_equal(ev.reply, value);
                }
                parser_free(p);
            }
        }
    }
}

/* test_expiry_forms - each text of giving up for time is an expiry; a "long" that is not is a
 * bounce */
static void test_expiry_forms(void **state)
{
    static const struct {
        const char *text;
        enum event_status status;
    } forms[] = {
        {"retry timeout exceeded", ST_EXPIRED},
        {"all hosts for 'd.example' have been failing for a long time (and retry time not "
         "reached)",
         ST_EXPIRED},
        {"retry time not reached for any host after a long failure period", ST_EXPIRED},
        {"SMTP error from remote mail server after RCPT TO:<a@d.example>: 550 5.1.1 a long "
         "story",
         ST_BOUNCED},
        {"550 retry timeout", ST_BOUNCED},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
        struct parser *p = new_parser();
        char line[256];
        struct event ev;

        snprintf(line, sizeof(line), L_TIME L_ID "** a@d.example: %s", forms[i].text);
        assert_int_equal(line_of(p, line, &ev), PARSE_EVENT);
        assert_int_equal(ev.status, forms[i].status);
        parser_free(p);
    }
}

/* test_stamp_pid - the "[pid]" after a mainlog stamp: read at once when eight bytes follow,
 * digit by digit otherwise, with the same value and the same text after it */
static void test_stamp_pid(void **state)
{
    static const struct {
        const char *after; /* the text after the stamp's space */
        long pid;
        const char *msg;
    } forms[] = {
        {"[1] x", 1, "x"},
        {"[1]", 1, ""},
        {"[16268] Completed here", 16268, "Completed here"},
        {"[1234567] x", 1234567, "x"},
        {"[12345678] x", 12345678, "x"},
        {"[123456789012] x", 123456789, "x"}, /* digits after 10^8 are not added */
        {"[0000000000042] x", 42, "x"},
        {"[12]x", 12, "x"},
        {"[] x", -1, "[] x"},
        {"[12a] x more text", -1, "[12a] x more text"},
        {"[1234567a] x", -1, "[1234567a] x"},
        {"[12", -1, "[12"},
        {"[123456789", -1, "[123456789"},
        {"[ 12] x", -1, "[ 12] x"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        char line[128];
        struct syslog_env env;

        snprintf(line, sizeof(line), L_TIME "%s", forms[i].after);
        if (exim_envelope(line, strlen(line), &env) != 0)
            fail_msg("form %zu: no stamp read: %s", i, line);
        if (env.pid != forms[i].pid || env.msg_len != strlen(forms[i].msg) ||
            memcmp(env.msg, forms[i].msg, env.msg_len) != 0)
            fail_msg("form %zu: pid %ld, text \"%.*s\": %s", i, env.pid, (int)env.msg_len, env.msg,
                     line);
    }
}

/* host_want - what an event's client or relay is for an H= value of these parts (each NULL
 * when absent): "name[ip]", "unknown[ip]" without a name, ":port" on a relay */
static void host_want(const char *name, const char *ip, const char *port, int relay, char *out,
                      size_t outlen)
{
    if (ip == NULL)
        snprintf(out, outlen, "%s", name ? name : "");
    else
        snprintf(out, outlen, "%s[%s]%s%s", name ? name : "unknown", ip, relay && port ? ":" : "",
                 relay && port ? port : "");
}

/*
 * test_host_memo - H= values, formatted as client (arrivals) and relay (deliveries), are the
 * same text the first time and when seen again after other values took their memo slots:
 * 600 values of every combination of name, (helo), [ip] and :port, read three times over in
 * different orders
 */
static void test_host_memo(void **state)
{
    enum { N = 600 };
    static const char *const names[] = {NULL, "mx", "mail.example.org",
                                        "a-very-long-host-name.sub.example.org"};
    static const char *const ips[] = {NULL, "192.0.2.7", "2001:db8::25"};
    static const char *const ports[] = {NULL, "25", "53211"};
    struct parser *p = new_parser_mta(MTA_UNKNOWN);

    (void)state;
    for (int pass = 0; pass < 3; pass++) {
        for (int k = 0; k < N; k++) {
            int i = pass == 1 ? N - 1 - k : (k * 7 + pass) % N;
            const char *name = names[i % 4], *ip = ips[i / 4 % 3], *port = ports[i / 12 % 3];
            int helo = i / 36 % 2, relay = i / 72 % 2;
            char val[160], line[400], want[200], hw[40];
            struct event ev;

            /* a number makes each value its own: the name, or the helo when there is none */
            snprintf(hw, sizeof(hw), "h%d.test", i);
            snprintf(val, sizeof(val), "%s%s%s%s%s%s%s%s", name ? name : "",
                     helo || !name ? " (" : "", helo || !name ? hw : "", helo || !name ? ")" : "",
                     ip ? " [" : "", ip ? ip : "", ip ? "]" : "", ip && port ? ":" : "");
            if (ip && port)
                strncat(val, port, sizeof(val) - strlen(val) - 1);
            if (relay)
                snprintf(line, sizeof(line),
                         L_TIME L_ID "=> r@x.test R=dnslookup T=remote_smtp H=%s C=\"250 OK\"",
                         val[0] == ' ' ? val + 1 : val);
            else
                snprintf(line, sizeof(line), L_TIME L_ID "<= s@x.test H=%s P=esmtp S=10",
                         val[0] == ' ' ? val + 1 : val);
            if (line_of(p, line, &ev) != PARSE_EVENT)
                fail_msg("value %d pass %d: no event: %s", i, pass, line);
            host_want(name, ip, port, relay, want, sizeof(want));
            check_str((size_t)i, relay ? "relay" : "client", want, relay ? ev.relay : ev.client);
            if (!relay)
                check_str((size_t)i, "helo", helo || !name ? hw : "", ev.helo);
        }
    }
    parser_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),        cmocka_unit_test(test_hard),
        cmocka_unit_test(test_correlation),  cmocka_unit_test(test_force),
        cmocka_unit_test(test_truncation),   cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_matrix_forms), cmocka_unit_test(test_message_id_bytes),
        cmocka_unit_test(test_quoted_reply), cmocka_unit_test(test_expiry_forms),
        cmocka_unit_test(test_stamp_pid),    cmocka_unit_test(test_host_memo),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
