/*
 * test_bounce - cmocka tests of bounce/: one message per recogniser family, ARF complaints,
 * auto-replies and ordinary mail, mbox and Maildir reading, the limits, and agreement with
 * Sisimai on its own set of bounce messages
 *
 * The family tests are a table: a whole message, and the records it must give. The Sisimai
 * test reads sisimai-set-of-emails (MAILPULSE_CORPORA, default tests/corpora) the way bounces
 * arrive, message by message, and compares reason and hard with expected.tsv; rows where
 * mailpulse disagrees on purpose are listed in deliberate[] with the reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounce/bounce.h"

/* Measured on the Sisimai set: 174 of 214 rows (81.3%); the floor sits a little under. */
#define SISIMAI_AGREEMENT_MIN 80
/* Agreeing or differing on purpose (deliberate[]): 209 of 214 (97.7%). */
#define SISIMAI_EXPLAINED_MIN 96

/* corpora_dir - where the corpora live */
static const char *corpora_dir(void)
{
    const char *d = getenv("MAILPULSE_CORPORA");

    return d && *d ? d : "tests/corpora";
}

/* What a test keeps of the records of a message. */
#define MAX_GOT 16
struct got {
    int n;
    struct bounce_rec rec[MAX_GOT];
};

/* keep - the sink of the tests: copy each record */
static void keep(const struct bounce_rec *rec, void *ctx)
{
    struct got *g = ctx;

    if (g->n < MAX_GOT)
        g->rec[g->n] = *rec;
    g->n++;
}

/*
 * guarded - a copy of s placed right before a PROT_NONE page, so that a read past its end
 * crashes the test; free with unguard()
 */
static char *guarded(const char *s, size_t len, void **map, size_t *maplen)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (len + page - 1) / page + 1;
    char *base;

    *maplen = pages * page;
    base = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    assert_int_equal(mprotect(base + (pages - 1) * page, page, PROT_NONE), 0);
    *map = base;
    memcpy(base + (pages - 1) * page - len, s, len);
    return base + (pages - 1) * page - len;
}

/* unguard - release a guarded() copy */
static void unguard(void *map, size_t maplen)
{
    munmap(map, maplen);
}

/* run - the records and result of one message held in memory */
static int run(const char *msg, struct got *g, struct bounce_stats *st)
{
    struct bounce_sink sink = {keep, g, st, NULL};
    void *map;
    size_t maplen;
    char *copy = guarded(msg, strlen(msg), &map, &maplen);
    int rc;

    memset(g, 0, sizeof(*g));
    rc = bounce_message(copy, strlen(msg), &sink);
    unguard(map, maplen);
    return rc;
}

/* One message per family: what it must give. */
struct family_row {
    const char *name;
    const char *msg;
    int records;
    const char *recipient; /* of the first record */
    const char *status;
    const char *reason;
    bool hard;
    const char *family;
};

static const struct family_row family_rows[] = {
    {"rfc3464 from Postfix",
     "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
     "To: sender@example.com\n"
     "Subject: Undelivered Mail Returned to Sender\n"
     "MIME-Version: 1.0\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
     "\n"
     "--B\n"
     "Content-Type: text/plain\n"
     "\n"
     "This is the mail system at host mx.example.org.\n"
     "\n"
     "<nobody@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1\n"
     "    <nobody@example.net>: Recipient address rejected: User unknown (in reply to\n"
     "    RCPT TO command)\n"
     "--B\n"
     "Content-Type: message/delivery-status\n"
     "\n"
     "Reporting-MTA: dns; mx.example.org\n"
     "Arrival-Date: Thu, 29 Apr 2026 23:34:45 +0900 (JST)\n"
     "\n"
     "Final-Recipient: rfc822; nobody@example.net\n"
     "Original-Recipient: rfc822;nobody@example.net\n"
     "Action: failed\n"
     "Status: 5.1.1\n"
     "Remote-MTA: dns; mx.example.net\n"
     "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address\n"
     "    rejected: User unknown\n"
     "\n"
     "--B\n"
     "Content-Type: text/rfc822-headers\n"
     "\n"
     "From: Sender <sender@example.com>\n"
     "To: nobody@example.net\n"
     "Subject: Hello\n"
     "Message-ID: <m1@example.com>\n"
     "\n"
     "--B--\n",
     1, "nobody@example.net", "5.1.1", "userunknown", true, "rfc3464"},
    {"qmail",
     "From: MAILER-DAEMON@mx.example.jp\n"
     "Subject: failure notice\n"
     "\n"
     "Hi. This is the qmail-send program at mx.example.jp.\n"
     "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
     "This is a permanent error; I've given up. Sorry it didn't work out.\n"
     "\n"
     "<full@example.ne.jp>:\n"
     "192.0.2.32 said: 552 5.2.2 Mailbox is full\n"
     "\n"
     "--- Below this line is a copy of the message.\n"
     "\n"
     "From: sender@example.jp\n"
     "To: full@example.ne.jp\n"
     "Message-ID: <q1@example.jp>\n"
     "Subject: Hi\n"
     "\n"
     "text\n",
     1, "full@example.ne.jp", "5.2.2", "mailboxfull", false, "qmail"},
    {"Exim, two addresses",
     "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\n"
     "Subject: Mail delivery failed: returning message to sender\n"
     "Auto-Submitted: auto-replied\n"
     "\n"
     "This message was created automatically by mail delivery software.\n"
     "\n"
     "A message that you sent could not be delivered to one or more of its\n"
     "recipients. This is a permanent error. The following address(es) failed:\n"
     "\n"
     "  one@example.ed.jp\n"
     "    SMTP error from remote mail server after RCPT TO:<one@example.ed.jp>:\n"
     "    host mx.example.ed.jp [192.0.2.20]: 550 5.1.1 No such user\n"
     "  two@example.ed.jp\n"
     "    retry timeout exceeded\n"
     "\n"
     "------ This is a copy of the message, including all the headers. ------\n"
     "\n"
     "From: sender@example.org\n"
     "Message-ID: <e1@example.org>\n"
     "Subject: Hi\n"
     "\n"
     "text\n",
     2, "one@example.ed.jp", "5.1.1", "userunknown", true, "exim"},
    {"Gmail",
     "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
     "Subject: Delivery Status Notification (Failure)\n"
     "\n"
     "Delivery to the following recipient failed permanently:\n"
     "\n"
     "     nobody@example.jp\n"
     "\n"
     "Technical details of permanent failure:\n"
     "Google tried to deliver your message, but it was rejected by the server for the\n"
     "recipient domain example.jp by mx.example.jp. [192.0.2.153].\n"
     "\n"
     "The error that the other server returned was:\n"
     "550 5.1.1 <nobody@example.jp>... User Unknown\n"
     "\n"
     "----- Original message -----\n"
     "\n"
     "From: sender@gmail.com\n"
     "Message-Id: <g1@gmail.com>\n"
     "Subject: Hi\n"
     "\n"
     "text\n",
     1, "nobody@example.jp", "5.1.1", "userunknown", true, "gmail"},
    {"Yahoo",
     "From: MAILER-DAEMON@yahoo.com\n"
     "Subject: Failure Notice\n"
     "\n"
     "Sorry, we were unable to deliver your message to the following address.\n"
     "\n"
     "<nobody@example.org>:\n"
     "Remote host said: 554 5.7.1 Service unavailable; client [192.0.2.1] blocked using\n"
     "zen.spamhaus.org [RCPT_TO]\n"
     "\n"
     "--- Below this line is a copy of the message.\n"
     "\n"
     "Subject: Hi\n"
     "\n",
     1, "nobody@example.org", "5.7.1", "blocked", false, "yahoo"},
    {"Exchange 2003",
     "From: postmaster@example.com\n"
     "Subject: Undeliverable: Hi\n"
     "\n"
     "Your message\n"
     "\n"
     "  To:      sender@example.com\n"
     "  Subject: Hi\n"
     "\n"
     "did not reach the following recipient(s):\n"
     "\n"
     "nobody@example.jp on Thu, 29 Apr 2010 00:00:00 -0000\n"
     "    The e-mail account does not exist at the organization this message was sent to.\n"
     "    <mx.example.jp #5.1.1 smtp;550 5.1.1 <nobody@example.jp>... User Unknown>\n",
     1, "nobody@example.jp", "5.1.1", "userunknown", true, "exchange2003"},
    {"OpenSMTPD, a delay",
     "From: MAILER-DAEMON@mx.example.jp\n"
     "Subject: Warning: delivery delayed\n"
     "\n"
     "    Hi!\n"
     "\n"
     "    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n"
     "\n"
     "    An error has occurred while attempting to deliver a message for\n"
     "    the following list of recipients:\n"
     "\n"
     "late@example.jp: Network error on destination MXs\n"
     "\n"
     "    Please note that this is only a temporary failure report.\n"
     "\n"
     "    Below is a copy of the original message:\n"
     "\n"
     "Subject: Hi\n",
     1, "late@example.jp", "", "networkerror", false, "opensmtpd"},
    {"Sendmail without a DSN part",
     "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\n"
     "Subject: Returned mail: see transcript for details\n"
     "\n"
     "The original message was received at Thu, 29 Apr 2000 23:34:45 +0900 (JST)\n"
     "\n"
     "   ----- The following addresses had permanent fatal errors -----\n"
     "<nobody@example.net>\n"
     "\n"
     "   ----- Transcript of session follows -----\n"
     "... while talking to mx.example.net.:\n"
     ">>> RCPT To:<nobody@example.net>\n"
     "<<< 550 5.1.1 <nobody@example.net>... User unknown\n"
     "550 5.1.1 <nobody@example.net>... User unknown\n"
     "\n"
     "   ----- Original message follows -----\n"
     "\n"
     "Subject: Hi\n",
     1, "nobody@example.net", "5.1.1", "userunknown", true, "sendmail"},
    {"Courier, refused after DATA",
     "From: Courier mail server at mx.example.jp <@>\n"
     "Subject: NOTICE: mail delivery status.\n"
     "\n"
     "This is a delivery status notification from mx.example.jp,\n"
     "running the Courier mail server.\n"
     "\n"
     "<nobody@example.jp>:\n"
     "    mfsmax.example.jp [192.0.2.45]:\n"
     ">>> DATA\n"
     "<<< 550 Unknown user nobody@example.jp\n"
     "\n",
     1, "nobody@example.jp", "", "filtered", false, "courier"},
    {"Postfix without a DSN part",
     "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n"
     "Subject: Undelivered Mail Returned to Sender\n"
     "\n"
     "This is the mail system at host mx.example.org.\n"
     "\n"
     "I'm sorry to have to inform you that your message could not\n"
     "be delivered to one or more recipients. It's attached below.\n"
     "\n"
     "<gone@example.net>: host mx.example.net[192.0.2.1] said: 550 5.1.1 <gone@example.net>:\n"
     "    Recipient address rejected: User unknown in virtual mailbox table (in reply to\n"
     "    RCPT TO command)\n"
     "\n"
     "--- Below this line is a copy of the message.\n"
     "\n"
     "Subject: Hi\n",
     1, "gone@example.net", "5.1.1", "userunknown", true, "postfix"},
    {"Exchange 2007 and later",
     "From: postmaster@outlook.example.com\n"
     "Subject: Undeliverable: Hi\n"
     "\n"
     "Delivery has failed to these recipients or groups:\n"
     "\n"
     "full@example.com\n"
     "The recipient's mailbox is full and can't accept messages now.\n"
     "\n"
     "Diagnostic information for administrators:\n"
     "\n"
     "Remote Server returned '554 5.2.2 mailbox full'\n",
     1, "full@example.com", "5.2.2", "mailboxfull", false, "exchange"},
    {"Lotus Notes",
     "From: Postmaster@notes.example.co.jp\n"
     "Subject: DELIVERY FAILURE: User kijitora not listed in public Name & Address Book\n"
     "\n"
     "Your message\n"
     "\n"
     "  Subject: Hi\n"
     "\n"
     "was not delivered to:\n"
     "\n"
     "  kijitora@notes.example.co.jp\n"
     "\n"
     "because:\n"
     "\n"
     "  User kijitora (kijitora@notes.example.co.jp) not listed in public Name & Address Book\n",
     1, "kijitora@notes.example.co.jp", "", "userunknown", true, "notes"},
    {"a provider's \"Unable to deliver\"",
     "From: MAILER-DAEMON@mx.example.com\n"
     "Subject: Delivery failure\n"
     "\n"
     "Message from example.com.\n"
     "Unable to deliver message to the following address(es).\n"
     "\n"
     "<moved@example.com>:\n"
     "Sorry your message to moved@example.com cannot be delivered. This account has been disabled "
     "or discontinued [#102].\n"
     "\n"
     "--- Original message follows.\n"
     "\n"
     "Subject: Hi\n",
     1, "moved@example.com", "", "suspend", false, "x2"},
    {"MailFoundry",
     "From: MAILER-DAEMON@mf.example.org\n"
     "Subject: Message delivery has failed\n"
     "\n"
     "Unable to deliver message to: <big@example.org>\n"
     "Delivery failed for the following reason:\n"
     "Server mx.example.org[192.0.2.222] failed with: 552 5.3.4 Message size exceeds fixed limit\n"
     "\n"
     "This has been a permanent failure.  No further delivery attempts will be made.\n",
     1, "big@example.org", "5.3.4", "mesgtoobig", false, "mailfoundry"},
    {"KDDI",
     "From: MAILER-DAEMON@ezweb.example.jp\n"
     "Subject: Mail Error\n"
     "\n"
     "Your mail sent on: Thu, 29 Apr 2013 23:45:22 +0900\n"
     "     Could not be delivered to: <full@ezweb.example.jp>\n"
     "     As their mailbox is full.\n",
     1, "full@ezweb.example.jp", "", "mailboxfull", false, "kddi"},
    {"IMail",
     "From: postmaster@imail.example.jp\n"
     "Subject: Undeliverable Mail\n"
     "\n"
     "undeliverable to nobody@imail.example.jp\n"
     "Body of message generated response:\n"
     "550 5.1.1 Unknown user nobody@imail.example.jp\n",
     1, "nobody@imail.example.jp", "5.1.1", "userunknown", true, "imail"},
    {"Mail.ru",
     "From: Mail Delivery System <mailer-daemon@corp.mail.example.ru>\n"
     "Subject: Mail failure.\n"
     "\n"
     "Message was not delivered to: <nomx@example.org>\n"
     "The following reason was given: an MX or SRV record indicated no SMTP service\n",
     1, "nomx@example.org", "", "notaccept", true, "mailru"},
    {"Verizon, the address below the reason",
     "From: post_master@vtext.example.com\n"
     "Subject: Undeliverable Message\n"
     "\n"
     "Message could not be delivered to mobile.\n"
     "Error: No valid recipients for this MM\n"
     "\n"
     "Original Message:\n"
     "To: 0000000000@vtext.example.com\n"
     "Subject: Hi\n",
     1, "0000000000@vtext.example.com", "", "userunknown", true, "verizon"},
    {"Amazon WorkMail",
     "From: MAILER-DAEMON@amazonses.example.com\n"
     "Subject: Delivery Status Notification (Failure)\n"
     "\n"
     "An error occurred while trying to deliver the mail to the following recipients:\n"
     "full@example.org\n"
     "552 5.2.2 Mailbox is full\n",
     1, "full@example.org", "5.2.2", "mailboxfull", false, "workmail"},
    {"DragonFly Mail Agent",
     "From: MAILER-DAEMON <>\n"
     "Subject: Mail delivery failed\n"
     "\n"
     "This is the DragonFly Mail Agent v0.13 at df.example.jp.\n"
     "\n"
     "There was an error delivering your mail to <nobody@example.net>.\n"
     "\n"
     "mx.example.net [192.0.2.25] did not like our RCPT TO:\n"
     "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown\n"
     "\n"
     "Message headers follow.\n"
     "\n"
     "Subject: Hi\n",
     1, "nobody@example.net", "5.1.1", "userunknown", true, "dragonfly"},
    {"no family: from MAILER-DAEMON",
     "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.net>\n"
     "Subject: Undeliverable message\n"
     "\n"
     "Your message could not be delivered.\n"
     "\n"
     "<relay@example.com>: 554 5.7.1 Relay access denied\n",
     1, "relay@example.com", "5.7.1", "norelaying", false, "generic"},
    {"X-Unix pipe",
     "From: MAILER-DAEMON@mx.example.org\n"
     "Subject: Undelivered Mail Returned to Sender\n"
     "MIME-Version: 1.0\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
     "\n"
     "--B\n"
     "Content-Type: message/delivery-status\n"
     "\n"
     "Reporting-MTA: dns; mx.example.org\n"
     "\n"
     "Final-Recipient: rfc822; local@example.org\n"
     "Action: failed\n"
     "Status: 5.3.0\n"
     "Diagnostic-Code: X-Unix; 255\n"
     "--B--\n",
     1, "local@example.org", "5.3.0", "mailererror", false, "rfc3464"},
    {"two recipients in one block",
     "From: MAILER-DAEMON@mx.example.org\n"
     "Subject: Returned mail\n"
     "MIME-Version: 1.0\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
     "\n"
     "--B\n"
     "Content-Type: message/delivery-status\n"
     "\n"
     "Reporting-MTA: dns; mx.example.org\n"
     "\n"
     "Final-Recipient: rfc822; full@example.jp\n"
     "Action: failed\n"
     "Status: 5.2.2\n"
     "Diagnostic-Code: smtp; 550 5.2.2 <full@example.jp>... Mailbox Full\n"
     "Final-Recipient: rfc822; gone@example.jp\n"
     "Action: failed\n"
     "Status: 5.1.1\n"
     "Diagnostic-Code: smtp; 550 5.1.1 <gone@example.jp>... User Unknown\n"
     "--B--\n",
     2, "full@example.jp", "5.2.2", "mailboxfull", false, "rfc3464"},
    {"delayed DSN",
     "From: MAILER-DAEMON@mx.example.org\n"
     "Subject: Delayed Mail (still being retried)\n"
     "MIME-Version: 1.0\n"
     "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n"
     "\n"
     "--B\n"
     "Content-Type: message/delivery-status\n"
     "\n"
     "Reporting-MTA: dns; mx.example.org\n"
     "\n"
     "Final-Recipient: rfc822; slow@example.jp\n"
     "Action: delayed\n"
     "Status: 4.4.1\n"
     "Diagnostic-Code: X-Postfix; connect to mx.example.jp[192.0.2.9]:25: Connection\n"
     "    timed out\n"
     "--B--\n",
     1, "slow@example.jp", "4.4.1", "networkerror", false, "rfc3464"},
};

/* test_families - each family's message gives its records */
static void test_families(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(family_rows); i++) {
        const struct family_row *r = &family_rows[i];
        struct bounce_stats st = {0};
        struct got g;
        int rc = run(r->msg, &g, &st);

        if (rc != BOUNCE_FOUND || g.n != r->records)
            fail_msg("%s: result %d, %d records, want %d", r->name, rc, g.n, r->records);
        if (strcmp(g.rec[0].recipient, r->recipient) != 0 ||
            strcmp(g.rec[0].status, r->status) != 0 || strcmp(g.rec[0].reason, r->reason) != 0 ||
            g.rec[0].hard != r->hard || strcmp(g.rec[0].family, r->family) != 0)
            fail_msg("%s: got %s %s %s %d %s, want %s %s %s %d %s", r->name, g.rec[0].recipient,
                     g.rec[0].status, g.rec[0].reason, g.rec[0].hard, g.rec[0].family, r->recipient,
                     r->status, r->reason, r->hard, r->family);
        assert_int_equal(st.bounces, 1);
        assert_int_equal(st.records, (uint64_t)r->records);
    }
}

/* test_fields - the message-level fields: reporting MTA, dates, the returned message */
static void test_fields(void **state)
{
    struct got g;
    struct buf b;

    (void)state;
    assert_int_equal(run(family_rows[0].msg, &g, NULL), BOUNCE_FOUND);
    assert_string_equal(g.rec[0].reporting_mta, "mx.example.org");
    assert_string_equal(g.rec[0].orig_recipient, "nobody@example.net");
    assert_string_equal(g.rec[0].remote_mta, "mx.example.net");
    assert_string_equal(g.rec[0].action, "failed");
    assert_int_equal(g.rec[0].smtp_code, 550);
    assert_true(g.rec[0].arrival_us == (int64_t)1777473285 * 1000000); /* 14:34:45 UTC */
    assert_string_equal(g.rec[0].message_id, "m1@example.com");
    assert_string_equal(g.rec[0].sender, "sender@example.com");
    assert_string_equal(g.rec[0].subject, "Hello");
    buf_init(&b);
    bounce_format_json(&g.rec[0], &b);
    assert_non_null(strstr(b.data, "{\"type\":\"dsn\",\"family\":\"rfc3464\","
                                   "\"recipient\":\"nobody@example.net\""));
    assert_non_null(strstr(b.data, "\"arrival\":\"2026-04-29T14:34:45+00:00\""));
    assert_non_null(strstr(b.data, "\"last_attempt\":null"));
    assert_non_null(strstr(b.data, "\"reason\":\"userunknown\",\"hard\":true"));
    buf_free(&b);
    /* the qmail copy of the message gives its Message-ID */
    assert_int_equal(run(family_rows[1].msg, &g, NULL), BOUNCE_FOUND);
    assert_string_equal(g.rec[0].message_id, "q1@example.jp");
}

/* A bounce that returns nothing and names no recipient: the VERP address it went to does. */
static void test_verp_and_key(void **state)
{
    static const char verp[] = "Return-Path: <>\n"
                               "Date: Mon, 30 Nov 2026 12:30:00 +0000\n"
                               "From: MAILER-DAEMON@mx.example.net\n"
                               "To: <bounces+zoe=example.net@news.example>\n"
                               "Subject: Undelivered Mail Returned to Sender\n"
                               "\n"
                               "This is the mail system at host mx.example.net.\n\n"
                               "I'm sorry to have to inform you that your message could not\n"
                               "be delivered to one or more recipients.\n\n"
                               "The mail system said: 550 5.1.1 mailbox unavailable\n";
    static const char no_verp_eq[] = "To: <bounces+zoe@news.example>\n";
    struct got g;
    char *crlf;
    uint64_t key;
    size_t n = 0;

    (void)state;
    assert_int_equal(run(verp, &g, NULL), BOUNCE_FOUND);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.rec[0].recipient, "zoe@example.net");
    assert_true(g.rec[0].date_us == (int64_t)1796041800 * 1000000);
    assert_int_equal(g.rec[0].seq, 0);
    key = g.rec[0].msg_key;
    assert_true(key < ((uint64_t)1 << 63));
    /* The same message with CRLF line ends and a trailing blank line has the same key. */
    crlf = xmalloc(2 * sizeof(verp) + 4);
    for (const char *p = verp; *p; p++) {
        if (*p == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *p;
    }
    memcpy(crlf + n, "\r\n", 3);
    assert_int_equal(run(crlf, &g, NULL), BOUNCE_FOUND);
    assert_true(g.rec[0].msg_key == key);
    x_free(crlf);
    /* A plus address without "user=domain" encodes nobody. */
    {
        char other[sizeof(verp) + 64];

        snprintf(other, sizeof(other), "%.*s%s%s", (int)(strstr(verp, "To:") - verp), verp,
                 no_verp_eq, strstr(verp, "Subject:"));
        assert_int_equal(run(other, &g, NULL), BOUNCE_NOT_BOUNCE);
    }
}

static const char arf_msg[] =
    "From: <staff@hotmail.example.com>\n"
    "To: <abuse@example.jp>\n"
    "Subject: complaint about message from 192.0.2.1\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"A\"\n"
    "\n"
    "--A\n"
    "Content-Type: text/plain\n"
    "\n"
    "This is an email abuse report for an email message received from IP 192.0.2.1\n"
    "--A\n"
    "Content-Type: message/feedback-report\n"
    "\n"
    "Feedback-Type: abuse\n"
    "User-Agent: SomeGenerator/1.0\n"
    "Version: 1\n"
    "Original-Mail-From: <somespammer@example.net>\n"
    "Original-Rcpt-To: <user@example.com>\n"
    "Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\n"
    "Reporting-MTA: dns; mail.example.com\n"
    "Source-IP: 192.0.2.1\n"
    "\n"
    "--A\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: <somespammer@example.net>\n"
    "To: <user@example.com>\n"
    "Subject: Earn money\n"
    "Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@example.net>\n"
    "\n"
    "Spam Spam Spam\n"
    "--A--\n";

/* test_arf - a feedback report gives one complaint with its fields */
static void test_arf(void **state)
{
    struct bounce_stats st = {0};
    struct got g;
    struct buf b;

    (void)state;
    assert_int_equal(run(arf_msg, &g, &st), BOUNCE_FOUND);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.rec[0].kind, BK_COMPLAINT);
    assert_string_equal(g.rec[0].feedback_type, "abuse");
    assert_string_equal(g.rec[0].orig_recipient, "user@example.com");
    assert_string_equal(g.rec[0].sender, "somespammer@example.net");
    assert_string_equal(g.rec[0].source_ip, "192.0.2.1");
    assert_string_equal(g.rec[0].reporting_mta, "mail.example.com");
    assert_string_equal(g.rec[0].user_agent, "SomeGenerator/1.0");
    assert_string_equal(g.rec[0].message_id, "8787KJKJ3K4J3K4J3K4J3.mail@example.net");
    assert_true(g.rec[0].arrival_us == (int64_t)1110304800 * 1000000);
    assert_int_equal(st.complaints, 1);
    assert_int_equal(st.bounces, 0);
    buf_init(&b);
    bounce_format_json(&g.rec[0], &b);
    assert_non_null(strstr(b.data,
                           "{\"type\":\"complaint\",\"family\":\"arf\","
                           "\"feedback_type\":\"abuse\",\"recipient\":\"user@example.com\""));
    buf_free(&b);
}

/* Messages that are not bounces. */
static const char *const not_bounces[] = {
    /* a vacation notice, RFC 3834 */
    "From: user@example.jp\n"
    "Subject: Out of Office: Hi\n"
    "Auto-Submitted: auto-replied\n"
    "\n"
    "I am out of the office until Monday. Your message to user@example.jp was received.\n",
    /* a vacation notice without the header, from its words */
    "From: user@example.jp\n"
    "Subject: Re: Hi\n"
    "\n"
    "This is an automatic reply. I am on vacation.\n"
    "\n"
    "user@example.jp\n",
    /* challenge-response */
    "From: guard@example.jp\n"
    "Subject: Please confirm your message\n"
    "\n"
    "Please confirm your email address by replying; your message is being held until you do.\n",
    /* ordinary mail that mentions an address at the head of a line */
    "From: friend@example.jp\n"
    "Subject: lunch\n"
    "\n"
    "bob@example.jp: are you coming? The delivery failed last time, so I am asking.\n",
};

/* test_not_bounces - auto-replies and ordinary mail give nothing and count as not a bounce */
static void test_not_bounces(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(not_bounces); i++) {
        struct bounce_stats st = {0};
        struct got g;

        if (run(not_bounces[i], &g, &st) != BOUNCE_NOT_BOUNCE || g.n != 0)
            fail_msg("row %zu: %d records", i, g.n);
        assert_int_equal(st.not_bounce, 1);
    }
}

/* test_limits - too big, too deeply nested, too many parts, garbage */
static void test_limits(void **state)
{
    struct bounce_stats st = {0};
    struct bounce_sink sink = {keep, NULL, &st, NULL};
    struct got g = {0};
    struct buf b;
    size_t big = BOUNCE_MAX_MESSAGE + 1;
    char *huge = xmalloc(big);

    (void)state;
    sink.ctx = &g;
    memset(huge, 'a', big);
    assert_int_equal(bounce_message(huge, big, &sink), BOUNCE_MALFORMED);
    assert_int_equal(st.too_big, 1);
    x_free(huge);

    /* 5000 nested multiparts, the type spelled with a comment: refused before GMime
     * recurses into them */
    buf_init(&b);
    buf_puts(&b, "From: MAILER-DAEMON@x.example\nSubject: Undeliverable\nMIME-Version: 1.0\n");
    for (int i = 0; i < 5000; i++)
        buf_printf(&b, "Content-Type: multipart (x)/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
    buf_puts(&b, "Content-Type: text/plain\n\n<x@example.org>: 550 5.1.1 unknown\n");
    assert_int_equal(run(b.data, &g, &st), BOUNCE_MALFORMED);
    assert_int_equal(g.n, 0);

    /* 40 nested levels pass the mention count but not the depth limit */
    buf_reset(&b);
    buf_puts(&b, "From: MAILER-DAEMON@x.example\nSubject: Undeliverable\nMIME-Version: 1.0\n");
    for (int i = 0; i < 40; i++)
        buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
    buf_puts(&b, "Content-Type: text/plain\n\n<x@example.org>: 550 5.1.1 unknown\n");
    assert_int_equal(run(b.data, &g, &st), BOUNCE_MALFORMED);

    /* a base64 part decodes to less than it is, and at most BOUNCE_MAX_TEXT is kept */
    buf_reset(&b);
    buf_puts(&b, "From: MAILER-DAEMON@x.example\nSubject: Undeliverable\nMIME-Version: 1.0\n"
                 "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n");
    for (int i = 0; i < 30000; i++)
        buf_puts(&b, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n");
    assert_int_equal(run(b.data, &g, &st), BOUNCE_NOT_BOUNCE);

    /* empty parts: nothing to decode, nothing to copy */
    assert_int_equal(
        run("From: MAILER-DAEMON@x.example\nSubject: Undeliverable\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report; boundary=\"B\"\n\n--B\n"
            "Content-Type: message/delivery-status\n\n--B\n"
            "Content-Type: text/plain\n\n--B--\n",
            &g, &st),
        BOUNCE_NOT_BOUNCE);

    /* bytes that are no message at all */
    assert_int_not_equal(run("\x01\x02\x03 not mail", &g, &st), BOUNCE_FOUND);
    assert_int_not_equal(run("", &g, &st), BOUNCE_FOUND);
    buf_free(&b);
}

/* test_mbox_maildir - an mbox is cut into messages; a Maildir's new/ and cur/ are read */
static void test_mbox_maildir(void **state)
{
    struct bounce_stats st = {0};
    struct got g = {0};
    struct bounce_sink sink = {keep, &g, &st, NULL};
    char dir[] = "/tmp/test_bounce.XXXXXX", path[256];
    struct buf b;
    FILE *f;

    (void)state;
    buf_init(&b);
    buf_printf(&b,
               "From MAILER-DAEMON Thu Apr 29 23:34:45 2026\n%s\nFrom x Thu Apr 29 "
               "23:34:46 2026\n%s\nFrom y Thu Apr 29 23:34:47 2026\n%s",
               family_rows[1].msg, not_bounces[0], arf_msg);
    f = fmemopen(b.data, b.len, "r");
    assert_non_null(f);
    assert_int_equal(bounce_read_stream(f, "mbox", &sink), 0);
    fclose(f);
    assert_int_equal(st.messages, 3);
    assert_int_equal(st.bounces, 1);
    assert_int_equal(st.not_bounce, 1);
    assert_int_equal(st.complaints, 1);
    assert_int_equal(g.n, 2);

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/new", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/cur", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/new/1.eml", dir);
    f = fopen(path, "w");
    fputs(family_rows[2].msg, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/cur/2.eml:2,S", dir);
    f = fopen(path, "w");
    fputs(family_rows[3].msg, f);
    fclose(f);
    memset(&st, 0, sizeof(st));
    memset(&g, 0, sizeof(g));
    assert_int_equal(bounce_read_path(dir, &sink), 0);
    assert_int_equal(st.messages, 2);
    assert_int_equal(g.n, 3); /* two from Exim, one from Gmail */
    assert_string_equal(g.rec[2].family, "gmail");
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
    assert_int_equal(bounce_read_path("/nonexistent/bounces", &sink), -1);
    buf_free(&b);
}

/*
 * Rows of expected.tsv where mailpulse disagrees with Sisimai on purpose. Most are Sisimai's
 * per-provider overrides (its rhost/lhost modules) that the text of the bounce does not
 * support; mailpulse classifies by what the message says.
 */
static const struct {
    const char *file;
    int index;
    const char *why;
} deliberate[] = {
    {"lhost-amazonses-11.eml", 1, "an Amazon SNS JSON notification, not a bounce message"},
    {"lhost-amazonses-12.eml", 1, "an Amazon SNS JSON notification, not a bounce message"},
    {"rfc3834-01.eml", 1, "a vacation auto-reply: never a bounce (auto-replies are none)"},
    {"rhost-cox-01.eml", 2, "the second report is inside the returned message, a copy"},
    {"lhost-postfix-64.eml", 1, "'Delivery report unavailable': reason words exist, so onhold"},
    {"rfc3464-01.eml", 1, "'550 5.1.1 User Unknown' is userunknown, not Sisimai's mailboxfull"},
    {"lhost-mcafee-01.eml", 1, "'Unknown user' with no command shown is userunknown"},
    {"lhost-mxlogic-03.eml", 1, "'unknown user' with no command shown is userunknown"},
    {"lhost-x1-01.eml", 1, "'User unknown' with no command shown is userunknown"},
    {"lhost-yahoo-06.eml", 1, "'User unknown' with no command shown is userunknown"},
    {"lhost-mailfoundry-01.eml", 1, "'No such user here' with no command shown is userunknown"},
    {"lhost-exchange2003-04.eml", 1, "'Recipient Not Found' is userunknown"},
    {"lhost-amazonses-02.eml", 1, "'Unknown user' is userunknown, not filtered"},
    {"rhost-nttdocomo-02.eml", 1, "'Unknown user' is userunknown; Sisimai's docomo rule says so"},
    {"lhost-ezweb-02.eml", 1, "'user unknown (in reply to RCPT TO)' is userunknown"},
    {"rhost-cox-01.eml", 1, "'sender rejected' with 5.1.0: Cox's error-code table, not text"},
    {"rhost-spectrum-01.eml", 1, "'sender rejected' with 5.1.0: Spectrum's table, not text"},
    {"rhost-mimecast-02.eml", 1, "'MCSpamSignature' is a spam signature, not a virus"},
    {"rhost-aol-06.eml", 1, "'Malformed or unexpected name server reply' is a network error"},
    {"lhost-powermta-01.eml", 1, "'5.2.1 User Unknown' is userunknown, not suspend"},
    {"lhost-zoho-02.eml", 1, "'5.2.1 User Unknown' is userunknown, not filtered"},
    {"lhost-apachejames-01.eml", 1, "'no such user here' is userunknown, not filtered"},
    {"lhost-x2-02.eml", 1, "'This user doesn't have an account' is userunknown, not filtered"},
    {"lhost-x2-02.eml", 3, "'This user doesn't have an account' is userunknown, not filtered"},
    {"lhost-amazonses-01.eml", 1, "the report's own '5.1.0 Unknown address error' is userunknown"},
    {"lhost-gmail-03.eml", 1, "'554 Header error (state 18)': Sisimai's table of Gmail states"},
    {"lhost-gmail-05.eml", 1, "'Access denied (state 13)': Sisimai's table of Gmail states"},
    {"lhost-googlegroups-01.eml", 1, "Google Groups' Japanese text: no rule reads Japanese"},
    {"lhost-yahoo-13.eml", 1, "'giving up after multiple retries' says too little: onhold"},
    {"lhost-opensmtpd-12.eml", 1, "a temporary (4.x.x) report is never a hard bounce"},
    {"lhost-postfix-40.eml", 1, "a 4.x.x status reported as final: the message expired"},
    {"lhost-sendmail-11.eml", 1, "a 4.x.x status reported as final: the message expired"},
    {"lhost-sendmail-13.eml", 1, "'X-Unix; 77' is a local program's failure: mailererror"},
    {"lhost-fml-03.eml", 1, "a mailing list's loop alert names no failed recipient"},
};

/* deliberate_why - why a row is deliberately different, or NULL */
static const char *deliberate_why(const char *file, int index)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;

    for (size_t i = 0; i < ARRAY_LEN(deliberate); i++)
        if (strcmp(deliberate[i].file, base) == 0 && deliberate[i].index == index)
            return deliberate[i].why;
    return NULL;
}

/* test_sisimai - reason and hard against Sisimai's labels, message by message */
static void test_sisimai(void **state)
{
    char path[1024], row[2048], last[1024] = "";
    FILE *f;
    struct got *g = xcalloc(1, sizeof(*g));
    struct bounce_stats st = {0};
    struct bounce_sink sink = {keep, g, &st, NULL};
    int total = 0, agree = 0, found = 0, on_purpose = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/expected.tsv", corpora_dir());
    f = fopen(path, "r");
    if (f == NULL) {
        print_message("%s not found (set MAILPULSE_CORPORA)\n", path);
        x_free(g);
        skip();
    }
    assert_non_null(fgets(row, sizeof(row), f)); /* the header */
    while (fgets(row, sizeof(row), f)) {
        char *col[8] = {0}, *s = row;
        int i, index;
        const struct bounce_rec *r;
        bool ok;

        row[strcspn(row, "\r\n")] = 0;
        for (i = 0; i < 8 && s; i++) {
            col[i] = s;
            s = strchr(s, '\t');
            if (s)
                *s++ = 0;
        }
        if (col[5] == NULL)
            continue;
        if (strcmp(col[0], last) != 0) { /* a new message: read it */
            snprintf(last, sizeof(last), "%s", col[0]);
            snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/%s", corpora_dir(), col[0]);
            memset(g, 0, sizeof(*g));
            assert_int_equal(bounce_read_path(path, &sink), 0);
        }
        index = atoi(col[1]);
        total++;
        if (index < 1 || index > g->n || index > MAX_GOT) {
            ok = false;
        } else {
            r = &g->rec[index - 1];
            found++;
            if (r->kind == BK_COMPLAINT)
                ok = strcmp(col[4], "feedback") == 0 && strcmp(col[6], r->feedback_type) == 0;
            else
                ok = strcmp(r->reason, col[4]) == 0 && r->hard == (strcmp(col[5], "true") == 0);
        }
        if (ok) {
            agree++;
        } else if (deliberate_why(col[0], index)) {
            on_purpose++;
        } else if (getenv("BOUNCE_DEBUG")) {
            print_message("differ: %s %d want %s/%s got %s\n", col[0], index, col[4], col[5],
                          index >= 1 && index <= g->n && index <= MAX_GOT ? g->rec[index - 1].reason
                                                                          : "(no record)");
        }
    }
    fclose(f);
    print_message("sisimai: %d rows, a record for %d, reason+hard agree %d (%.1f%%); "
                  "%d differ on purpose, %d differ otherwise\n",
                  total, found, agree, 100.0 * agree / total, on_purpose,
                  total - agree - on_purpose);
    x_free(g);
    assert_true(total > 200);
    assert_true(found * 100 >= total * 97);
    assert_true(agree * 100 >= total * SISIMAI_AGREEMENT_MIN);
    assert_true((agree + on_purpose) * 100 >= total * SISIMAI_EXPLAINED_MIN);
}

/* test_not_bounce_corpus - Sisimai's two non-bounces give nothing */
static void test_not_bounce_corpus(void **state)
{
    char path[1024];
    struct got g = {0};
    struct bounce_stats st = {0};
    struct bounce_sink sink = {keep, &g, &st, NULL};

    (void)state;
    snprintf(path, sizeof(path), "%s/sisimai-set-of-emails/maildir/not", corpora_dir());
    if (access(path, R_OK) != 0)
        skip();
    assert_int_equal(bounce_read_path(path, &sink), 0);
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.not_bounce, 2);
    assert_int_equal(g.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families),          cmocka_unit_test(test_fields),
        cmocka_unit_test(test_verp_and_key),      cmocka_unit_test(test_arf),
        cmocka_unit_test(test_not_bounces),       cmocka_unit_test(test_limits),
        cmocka_unit_test(test_mbox_maildir),      cmocka_unit_test(test_sisimai),
        cmocka_unit_test(test_not_bounce_corpus),
    };

    setenv("TZ", "UTC", 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
