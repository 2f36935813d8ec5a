/*
 * test_parser - cmocka tests of the parser core (parser.c, envelope.c): the syslog envelope,
 * year inference, the open-queue table (eviction, aging), per-program telemetry, and bad
 * bytes in a line
 *
 * Tests are tables: one row per input line with what it must give. The readers of each MTA,
 * the event's JSON, the reasons and the report tally have test files of their own.
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
#include "parser/parser_int.h"
#include "parser/scan.h"
#include "parser/scan.h"
#include "tests/unit/unit.h"

#define P "Nov 28 17:30:17 mx1 "

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
    /* a day without its padding, as some relays write it */
    {"Jul 2 12:24:48 relay postfix/smtp[77]: c", 0, "2026-07-02T12:24:48+00:00", "relay",
     "postfix/smtp", 77, "c"},
    {"Jul 2 12:24:48.250 relay postfix/smtp[77]: c", 0, "2026-07-02T12:24:48.250000+00:00", "relay",
     "postfix/smtp", 77, "c"},
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

/* ---- the open-queue table ---- */

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

/*
 * test_unread_marks - scan_unread() on texts of every length up to 40 with a mark at every
 * place, at a word start or after a letter, digit or '_', and on texts without one: not
 * understood exactly when a mark starts a word
 */
static void test_unread_marks(void **state)
{
    static const char *const marks[] = {"** ", "=> ", "reject", NULL};
    static const char before[] = {' ', '(', 'a', 'Z', '5', '_'};
    char text[64];

    (void)state;
    for (size_t len = 0; len <= 40; len++) {
        memset(text, '.', len);
        assert_int_equal(scan_unread(text, text + len, marks), PARSE_SKIP);
        for (size_t m = 0; m < 3; m++) {
            size_t mlen = strlen(marks[m]);

            for (size_t at = 0; at + mlen <= len; at++) {
                for (size_t k = 0; k < sizeof(before); k++) {
                    bool word = at == 0 || before[k] == ' ' || before[k] == '(';

                    memset(text, '.', len);
                    memcpy(text + at, marks[m], mlen);
                    if (at > 0)
                        text[at - 1] = before[k];
                    assert_int_equal(scan_unread(text, text + len, marks),
                                     word ? PARSE_MALFORMED : PARSE_SKIP);
                    /* a mark cut by the end of the text is no mark */
                    if (at + mlen == len && mlen > 1)
                        assert_int_equal(scan_unread(text, text + len - 1, marks), PARSE_SKIP);
                }
            }
        }
    }
}

/* unread_simple - what scan_unread() answers, byte by byte: a mark whole before end at a
 * place not after an ASCII letter, digit or '_' */
static enum parse_result unread_simple(const char *s, const char *end, const char *const *marks)
{
    for (const char *m = s; m < end; m++) {
        unsigned char c = m > s ? (unsigned char)m[-1] : ' ';

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            continue;
        for (size_t k = 0; marks[k]; k++) {
            size_t n = strlen(marks[k]);

            if ((size_t)(end - m) >= n && memcmp(m, marks[k], n) == 0)
                return PARSE_MALFORMED;
        }
    }
    return PARSE_SKIP;
}

/*
 * test_unread_random - scan_unread() against unread_simple() on random texts of every length
 * up to 70 from an alphabet of the marks' bytes, word bytes of every class, bytes next to
 * those classes ('@', '[', '`', '{', '/', ':') and bytes of 0x80 and up, at every offset
 */
static void test_unread_random(void **state)
{
    static const char *const marks[] = {"** ", "== ", "=> ", "reject", NULL};
    static const char *const marks2[] = {"to=", "stat=", "reject", NULL};
    static const char alphabet[] = "*=> rejctRJ_09aAzZ@[`{/:stoa=\x80\xff\xc3";
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char text[96];

    (void)state;
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 71), off = (size_t)(round / 71 % 16);

        for (size_t i = 0; i < off + len; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            text[i] = alphabet[(x >> 33) % (sizeof(alphabet) - 1)];
        }
        assert_int_equal(scan_unread(text + off, text + off + len, marks),
                         unread_simple(text + off, text + off + len, marks));
        assert_int_equal(scan_unread(text + off, text + off + len, marks2),
                         unread_simple(text + off, text + off + len, marks2));
    }
}

/* word_hash_bytes - word_hash() as first written: each last partial word copied byte-wise */
static uint64_t word_hash_bytes(const char *s, size_t len, uint64_t h)
{
    uint64_t w;

    h ^= len * 0xff51afd7ed558ccdULL;
    for (; len >= 8; s += 8, len -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    if (len) {
        w = 0;
        memcpy(&w, s, len);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

/*
 * test_word_hash - word_hash() gives the values of the byte-wise version (saved parser states
 * hold them) for every length up to 80 at every alignment, with random bytes; and
 * field_len() is strnlen() for a NUL at every place of arrays of the event's sizes, and for
 * none
 */
static void test_word_hash(void **state)
{
    static const size_t sizes[] = {16, 24, 32, 64, 320, 1024};
    uint64_t x = 0x2545f4914f6cdd1dULL;
    char buf[1040];

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (char)(x >> 56);
    }
    for (size_t len = 0; len <= 80; len++)
        for (size_t off = 0; off < 8; off++)
            for (uint64_t seed = 0; seed < 3; seed++)
                assert_true(word_hash(buf + off, len, seed * 0x9e3779b97f4a7c15ULL) ==
                            word_hash_bytes(buf + off, len, seed * 0x9e3779b97f4a7c15ULL));
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char *a = malloc(sizes[k]);

        assert_non_null(a);
        for (size_t at = 0; at <= sizes[k]; at++) {
            memset(a, 'x', sizes[k]);
            if (at < sizes[k])
                a[at] = 0;
            assert_int_equal(field_len(a, sizes[k]), strnlen(a, sizes[k] - 1));
        }
        free(a);
    }
}

/* test_bytes_equal - bytes_equal() is memcmp() == 0 for every length up to 70, at every
 * alignment, with the two equal and with one byte changed at every place */
static void test_bytes_equal(void **state)
{
    char a[96], b[96];

    (void)state;
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (char)('!' + i * 7 % 90);
    for (size_t n = 0; n <= 70; n++) {
        for (size_t off = 0; off < 8; off++) {
            memcpy(b + off, a, n);
            assert_true(bytes_equal(a, b + off, n));
            for (size_t at = 0; at < n; at++) {
                b[off + at] ^= 0x20;
                assert_int_equal(bytes_equal(a, b + off, n), memcmp(a, b + off, n) == 0);
                assert_false(bytes_equal(b + off, a, n));
                b[off + at] ^= 0x20;
            }
        }
    }
}

/*
 * test_find - scan_find() against memmem() on texts of every length up to 48 with a needle,
 * or a near miss of it (its first and last bytes with another between), at every place
 */
static void test_find(void **state)
{
    static const char *const needles[] = {"a", ": ", "a l", "a long ", "retry timeout exceeded"};
    char text[64];

    (void)state;
    for (size_t len = 0; len <= 48; len++) {
        for (size_t k = 0; k < sizeof(needles) / sizeof(needles[0]); k++) {
            const char *w = needles[k];
            size_t n = strlen(w);

            memset(text, 'x', len);
            assert_ptr_equal(scan_find(text, text + len, w, n), memmem(text, len, w, n));
            for (size_t at = 0; at + n <= len; at++) {
                for (int miss = 0; miss < 2; miss++) {
                    memset(text, 'x', len);
                    memcpy(text + at, w, n);
                    if (miss && n > 2)
                        text[at + 1] = '#';
                    assert_ptr_equal(scan_find(text, text + len, w, n), memmem(text, len, w, n));
                    /* cut by the end of the text */
                    assert_ptr_equal(scan_find(text, text + at + n - 1, w, n),
                                     memmem(text, at + n - 1, w, n));
                    /* a second copy further on, the first spoiled */
                    if (at + 2 * n <= len && n > 1) {
                        memcpy(text + at + n, w, n);
                        text[at] = '#';
                        assert_ptr_equal(scan_find(text, text + len, w, n),
                                         memmem(text, len, w, n));
                    }
                }
            }
        }
    }
}

/* test_outcome_unread - a line of a known program that carries an outcome mark but is not read
 * is not understood and sampled; one without a mark stays skipped */
static void test_outcome_unread(void **state)
{
    static const struct {
        const char *line;
        enum parse_result r;
    } rows[] = {
        /* Exim: "rejected" with a verb the reader does not know, and outside a stamp's form */
        {"2026-11-28 17:30:17 H=a [1.2.3.4] rejected VRFY <x@y>: no", PARSE_MALFORMED},
        {"2026-11-28 17:30:17 SMTP protocol synchronization error (input sent without waiting "
         "for greeting): rejected connection from an unnamed host",
         PARSE_MALFORMED},
        {"2026-11-28 17:30:17 1aBcDe-000123-Ab Frozen", PARSE_SKIP},
        {"2026-11-28 17:30:17 1aBcDe-000123-Ab *> x@y R=r T=t", PARSE_SKIP},
        {"2026-11-28 17:30:17 1aBcDe-000123-Ab Completed", PARSE_SKIP},
        {"2026-11-28 17:30:17 1aBcDe-000123-Ab SMTP error from remote mail server after RCPT "
         "TO:<x@y>: 550 5.1.1 unknown",
         PARSE_SKIP},
        {"2026-11-28 17:30:17 H=a [1.2.3.4] X=TLS1.3 cipher==AES256 done", PARSE_SKIP},
        /* Sendmail: to= / stat= / reject in a form the reader does not know */
        {P "sm-mta[9]: 4ASHUHx1000123: 4ASHUHx1000124: clone: to=<x@y>, stat=Sent",
         PARSE_MALFORMED},
        {P "sm-mta[9]: 4ASHUHx1000123: rejecting commands from a [1.2.3.4] due to pre-greeting "
           "traffic after 0 seconds",
         PARSE_MALFORMED},
        {P "sm-mta[9]: STARTTLS=server, relay=a [1.2.3.4], version=TLSv1.3, verify=NO", PARSE_SKIP},
        {P "sm-mta[9]: 4ASHUHx1000123: Milter: data, discard", PARSE_SKIP},
        {P "sm-mta[9]: 4ASHUHx1000123: lost input channel from a [1.2.3.4] to MTA after rcpt",
         PARSE_SKIP},
        /* Postfix: an unread line with to= is not understood; a known quiet one stays skipped */
        {P "postfix/smtp[2]: ABCDE12345: mystery to=<x@y>, status=sent", PARSE_MALFORMED},
        {P "postfix/cleanup[3]: ABCDE12345: hold: header Subject: x from a[1.2.3.4]; "
           "from=<s@t> to=<x@y> proto=ESMTP helo=<h>",
         PARSE_SKIP},
    };
    struct parser *p = new_parser();
    const struct parser_prog_stats *ps;
    struct event ev;
    size_t i, n, k, samples = 0;
    uint64_t malformed = 0;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        enum parse_result r = line_of(p, rows[i].line, &ev);

        if (r != rows[i].r)
            fail_msg("line %zu: got %d, want %d: %s", i, (int)r, (int)rows[i].r, rows[i].line);
        if (rows[i].r == PARSE_MALFORMED)
            malformed++;
    }
    assert_int_equal(parser_stats(p)->malformed, malformed);
    n = parser_prog_stats(p, &ps);
    for (k = 0; k < n; k++)
        samples += ps[k].nsamples;
    assert_int_equal(samples, malformed);
    for (k = 0; k < n; k++)
        if (strcmp(ps[k].prog, "sm-mta") == 0)
            assert_non_null(strstr(ps[k].samples[1], "pre-greeting"));
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

/* ---- bad bytes ---- */

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
    /* The NUL is replaced, not an end: the address keeps its domain, and it is counted. */
    assert_string_equal(ev.recipient, "a?b@x.com");
    assert_string_equal(event_recipient_domain(&ev), "x.com");
    assert_true(ev.flags & EVF_BAD_BYTES);
    assert_int_equal(parser_stats(p)->repaired, 1);
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
    /* A NUL in a line far longer than the short one before: the copy grows to fit. */
    longline[i - 10] = 0;
    assert_int_equal(parser_line(p, longline, i, &ev), PARSE_EVENT);
    assert_true(ev.flags & EVF_BAD_BYTES);
    assert_int_equal(parser_stats(p)->repaired, 2);

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope),       cmocka_unit_test(test_year_inference),
        cmocka_unit_test(test_eviction),       cmocka_unit_test(test_prog_stats),
        cmocka_unit_test(test_outcome_unread), cmocka_unit_test(test_queue_age),
        cmocka_unit_test(test_bad_bytes),      cmocka_unit_test(test_unread_marks),
        cmocka_unit_test(test_unread_random),  cmocka_unit_test(test_word_hash),
        cmocka_unit_test(test_bytes_equal),    cmocka_unit_test(test_find),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
