/*
 * test_pstate - cmocka tests of the parser's saved state (parser_state_save/_load): a log read
 * in two parts with the state carried between two parsers gives the same events as one read
 * of it; deferrals, removed queue ids and the year of a yearless log survive; every cut and
 * every flipped byte of a blob is refused and leaves the parser as it was; another version is
 * refused by name; the cap drops the oldest open queue ids and counts them.
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
#include "util/util.h"

#define P "Nov 28 17:30:17 mx1 "

/* A small log whose second half needs its first: a deferral expired later, a content-filter
 * hop whose re-injected id was removed before the hop's line, a message-id and a sender. */
static const char *const small_log[] = {
    P "postfix/smtpd[1]: AAAAA11111: client=a.example[192.0.2.1]",
    P "postfix/cleanup[2]: AAAAA11111: message-id=<m1@a.example>",
    P "postfix/qmgr[3]: AAAAA11111: from=<s@a.example>, size=1200, nrcpt=2 (queue active)",
    P "postfix/smtp[4]: AAAAA11111: to=<x@b.example>, relay=mx.b.example[198.51.100.1]:25, "
      "delay=1, delays=0/0/0/1, dsn=4.2.2, status=deferred (host mx.b.example[198.51.100.1] "
      "said: 452 4.2.2 mailbox full (in reply to RCPT TO command))",
    P "postfix/smtp[4]: AAAAA11111: to=<y@b.example>, relay=mx.b.example[198.51.100.1]:25, "
      "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 ok)",
    P "postfix/smtpd[1]: BBBBB22222: client=c.example[192.0.2.3]",
    P "postfix/cleanup[2]: BBBBB22222: message-id=<m2@c.example>",
    P "postfix/qmgr[3]: BBBBB22222: from=<t@c.example>, size=900, nrcpt=1 (queue active)",
    P "postfix/smtpd[5]: CCCCC33333: client=localhost[127.0.0.1]",
    P "postfix/cleanup[2]: CCCCC33333: message-id=<m2@c.example>",
    P "postfix/qmgr[3]: CCCCC33333: from=<t@c.example>, size=1000, nrcpt=1 (queue active)",
    P "postfix/smtp[6]: CCCCC33333: to=<z@d.example>, relay=mx.d.example[203.0.113.9]:25, "
      "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
    P "postfix/qmgr[3]: CCCCC33333: removed",
    /* the state is carried over here in the split test, among other places */
    P "postfix/smtp[7]: BBBBB22222: to=<z@d.example>, relay=127.0.0.1[127.0.0.1]:10024, "
      "delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as CCCCC33333)",
    P "postfix/qmgr[3]: BBBBB22222: removed",
    "Nov 30 09:00:00 mx1 postfix/qmgr[3]: AAAAA11111: from=<s@a.example>, status=expired, "
    "returned to sender",
    "Nov 30 09:00:01 mx1 postfix/qmgr[3]: AAAAA11111: removed",
    "Dec 1 00:00:01 mx1 postfix/smtp[4]: DDDDD44444: to=<q@e.example>, relay=none, delay=1, "
    "delays=0/0/0/1, dsn=5.1.1, status=bounced (unknown user)",
};

/* read_lines - parse lines [from, to) and append each event's JSON, one per line, to out */
static void read_lines(struct parser *p, char *const *lines, size_t from, size_t to,
                       struct buf *out)
{
    struct event ev;

    for (size_t i = from; i < to; i++) {
        if (parser_line(p, lines[i], strlen(lines[i]), &ev) != PARSE_EVENT)
            continue;
        do {
            event_format_json(&ev, out);
            buf_putc(out, '\n');
        } while (parser_next(p, &ev));
    }
}

/* split_equal - read lines whole, and at each split point in two parsers with the state
 * carried over; the events must be the same. Returns how many split points were tried. */
static size_t split_equal(char *const *lines, size_t n, size_t step)
{
    struct buf whole, parts, blob;
    struct parser *p = new_parser();
    size_t tried = 0;
    char why[200];

    buf_init(&whole);
    buf_init(&parts);
    buf_init(&blob);
    read_lines(p, lines, 0, n, &whole);
    parser_free(p);
    for (size_t cut = 0; cut <= n; cut += step) {
        struct parser *a = new_parser(), *b = new_parser();

        buf_reset(&parts);
        buf_reset(&blob);
        read_lines(a, lines, 0, cut, &parts);
        assert_true(parser_state_save(a, &blob) == blob.len);
        if (parser_state_load(b, blob.data, blob.len, why, sizeof(why)) != 0)
            fail_msg("cut at line %zu: %s", cut, why);
        read_lines(b, lines, cut, n, &parts);
        if (parts.len != whole.len || memcmp(parts.data, whole.data, whole.len) != 0)
            fail_msg("cut at line %zu: the events differ from one read of the log", cut);
        parser_free(a);
        parser_free(b);
        tried++;
    }
    buf_free(&whole);
    buf_free(&parts);
    buf_free(&blob);
    return tried;
}

/* test_split_small - the crafted log, cut at every line */
static void test_split_small(void **state)
{
    struct buf whole;
    struct parser *p = new_parser();

    (void)state;
    assert_int_equal(split_equal((char *const *)small_log, ARRAY_LEN(small_log), 1),
                     ARRAY_LEN(small_log) + 1);
    /* and the log is one where the state matters: the expiry carries the deferral, the hop
     * is folded, the delivery carries its sender */
    buf_init(&whole);
    read_lines(p, (char *const *)small_log, 0, ARRAY_LEN(small_log), &whole);
    assert_non_null(strstr(whole.data, "\"status\":\"expired\""));
    assert_non_null(strstr(whole.data, "452 4.2.2 mailbox full"));
    assert_null(strstr(whole.data, "127.0.0.1]:10024"));
    assert_non_null(strstr(whole.data, "\"sender\":\"t@c.example\""));
    assert_int_equal(parser_stats(p)->reinjected, 1);
    buf_free(&whole);
    parser_free(p);
}

/* load_lines - a file's lines (NUL-terminated in *data); NULL when it cannot be read */
static char **load_lines(const char *path, char **data, size_t *n)
{
    size_t cap = 1024, len;
    char **lines;
    FILE *fp = fopen(path, "rb");
    long sz;

    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    sz = ftell(fp);
    rewind(fp);
    *data = xmalloc((size_t)sz + 1);
    len = fread(*data, 1, (size_t)sz, fp);
    fclose(fp);
    (*data)[len] = 0;
    lines = xmalloc(cap * sizeof(*lines));
    *n = 0;
    for (char *s = *data, *nl; *s; s = nl + 1) {
        nl = strchr(s, '\n');
        if (nl == NULL)
            nl = s + strlen(s) - 1;
        else
            *nl = 0;
        lines = xgrow(lines, &cap, *n, sizeof(*lines), 1024);
        lines[(*n)++] = s;
    }
    return lines;
}

/* test_split_corpus - a real Postfix log, cut at a few hundred places */
static void test_split_corpus(void **state)
{
    char path[4096], *data;
    char **lines;
    size_t n = 0;

    (void)state;
    snprintf(path, sizeof(path), "%s/lightmeter-postfix/complete/logs_sample/mail.log",
             corpora_dir());
    lines = load_lines(path, &data, &n);
    if (lines == NULL) {
        print_message("no corpus at %s\n", path);
        skip();
    }
    assert_true(n > 1000);
    assert_true(split_equal(lines, n, n / 200) >= 200);
    x_free(lines);
    x_free(data);
}

/* test_split_golden - every golden log of the three MTAs (Sendmail's refusals after DATA,
 * Exim's, Postfix's), cut at every line or at a hundred places */
static void test_split_golden(void **state)
{
    glob_t g;
    size_t files = 0;

    (void)state;
    assert_int_equal(glob("tests/golden/*.log", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *data, **lines;
        size_t n = 0;

        lines = load_lines(g.gl_pathv[i], &data, &n);
        assert_non_null(lines);
        if (n > 0)
            split_equal(lines, n, n > 100 ? n / 100 : 1);
        files++;
        x_free(lines);
        x_free(data);
    }
    globfree(&g);
    assert_true(files >= 20);
}

/* test_split_full - more deferred recipients than the parser keeps (it evicts some), and more
 * message-ids than its cache holds: cut anywhere, the same recipients are evicted and the
 * same expiries carry their last deferral */
static void test_split_full(void **state)
{
    enum { N = 3000 };
    char **lines = xcalloc(4 * N, sizeof(*lines));
    size_t n = 0;

    (void)state;
    for (int i = 0; i < N; i++) {
        char buf[400];

        snprintf(buf, sizeof(buf),
                 "Nov 28 10:%02d:%02d mx1 postfix/cleanup[2]: D%09d: message-id=<m%d@a.example>",
                 i / 60 % 60, i % 60, i, i % 5000);
        lines[n++] = xstrdup(buf);
        snprintf(buf, sizeof(buf),
                 "Nov 28 10:%02d:%02d mx1 postfix/qmgr[3]: D%09d: from=<s%d@a.example>, size=%d, "
                 "nrcpt=1 (queue active)",
                 i / 60 % 60, i % 60, i, i, 100 + i);
        lines[n++] = xstrdup(buf);
        snprintf(buf, sizeof(buf),
                 "Nov 28 10:%02d:%02d mx1 postfix/smtp[4]: D%09d: to=<r%d@b.example>, "
                 "relay=mx.b.example[198.51.100.1]:25, delay=1, delays=0/0/0/1, dsn=4.2.%d, "
                 "status=deferred (host mx.b.example[198.51.100.1] said: 45%d 4.2.%d try %d)",
                 i / 60 % 60, i % 60, i, i, i % 3, i % 3, i % 3, i);
        lines[n++] = xstrdup(buf);
    }
    for (int i = 0; i < N; i++) {
        char buf[400];

        snprintf(buf, sizeof(buf),
                 "Nov 30 11:%02d:%02d mx1 postfix/qmgr[3]: D%09d: from=<s%d@a.example>, "
                 "status=expired, returned to sender",
                 i / 60 % 60, i % 60, i, i);
        lines[n++] = xstrdup(buf);
    }
    assert_true(split_equal(lines, n, 499) >= 24);
    for (size_t i = 0; i < n; i++)
        x_free(lines[i]);
    x_free(lines);
}

/* saved - the state of a parser that read the whole small log but its last three lines */
static void saved(struct buf *blob)
{
    struct parser *p = new_parser();
    struct buf ignore;

    buf_init(&ignore);
    read_lines(p, (char *const *)small_log, 0, ARRAY_LEN(small_log) - 3, &ignore);
    buf_free(&ignore);
    parser_state_save(p, blob);
    parser_free(p);
}

/* untouched - a parser whose load failed reads like a new one: no sender for BBBBB22222 */
static void untouched(struct parser *p)
{
    const struct parser_stats *st = parser_stats(p);
    struct event ev;

    assert_int_equal(st->lines, 0);
    assert_int_equal(line_of(p,
                             P "postfix/smtp[4]: AAAAA11111: to=<y@b.example>, relay=r[1.2.3.4], "
                               "dsn=2.0.0, status=sent (250 ok)",
                             &ev),
                     PARSE_EVENT);
    assert_string_equal(ev.sender, "");
    assert_string_equal(ev.message_id, "");
}

/* test_corrupt - every cut and every flipped byte is refused; the parser stays new */
static void test_corrupt(void **state)
{
    struct buf blob;
    char why[200];
    size_t i;

    (void)state;
    buf_init(&blob);
    saved(&blob);
    assert_true(blob.len > 24);
    for (i = 0; i < blob.len; i++) {
        struct parser *p = new_parser();

        why[0] = 0;
        assert_int_equal(parser_state_load(p, blob.data, i, why, sizeof(why)), -1);
        assert_true(why[0] != 0);
        untouched(p);
        parser_free(p);
    }
    for (i = 0; i < blob.len; i++) {
        struct parser *p = new_parser();

        blob.data[i] ^= 0x20;
        if (parser_state_load(p, blob.data, blob.len, why, sizeof(why)) == 0)
            fail_msg("byte %zu flipped: the blob was taken", i);
        blob.data[i] ^= 0x20;
        untouched(p);
        parser_free(p);
    }
    {
        struct parser *p = new_parser();

        assert_int_equal(parser_state_load(p, "MPPS", 4, why, sizeof(why)), -1);
        assert_int_equal(parser_state_load(p, "", 0, why, sizeof(why)), -1);
        assert_int_equal(parser_state_load(p, blob.data, blob.len, why, sizeof(why)), 0);
        parser_free(p);
    }
    buf_free(&blob);
}

/* test_version - a blob of another version is refused, and says which */
static void test_version(void **state)
{
    struct parser *p = new_parser();
    struct buf blob;
    char why[200];

    (void)state;
    buf_init(&blob);
    saved(&blob);
    blob.data[4] = (char)(PARSER_STATE_VERSION + 1);
    assert_int_equal(parser_state_load(p, blob.data, blob.len, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "version 4"));
    untouched(p);
    parser_free(p);
    buf_free(&blob);
}

/* test_in_use - a parser that has read lines takes no state */
static void test_in_use(void **state)
{
    struct parser *p = new_parser();
    struct buf blob;
    struct event ev;
    char why[200];

    (void)state;
    buf_init(&blob);
    saved(&blob);
    line_of(p, small_log[0], &ev);
    assert_int_equal(parser_state_load(p, blob.data, blob.len, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "read lines"));
    parser_free(p);
    buf_free(&blob);
}

/* test_year - a yearless log keeps the year it was given at its first stamps */
static void test_year(void **state)
{
    /* read in June 2026, "Nov 28" lies in the future: it was 2025 */
    struct parser_opts o1 = {.now_us = 1781136000000000LL}; /* 2026-06-11 */
    struct parser_opts o2 = {.now_us = 1812672000000000LL}; /* 2027-06-10 */
    struct parser *a = parser_create(&o1), *b = parser_create(&o2), *c = parser_create(&o2);
    struct buf blob;
    struct event ev;
    char why[200];

    (void)state;
    buf_init(&blob);
    assert_int_equal(line_of(a, small_log[4], &ev), PARSE_EVENT);
    assert_string_equal(fmt_time(ev.time_us), "2025-11-28T17:30:17+00:00");
    parser_state_save(a, &blob);
    assert_int_equal(parser_state_load(b, blob.data, blob.len, why, sizeof(why)), 0);
    /* a year later the log goes on where it was: 2025, where a new parser would say 2026 */
    assert_int_equal(line_of(b, small_log[4], &ev), PARSE_EVENT);
    assert_string_equal(fmt_time(ev.time_us), "2025-11-28T17:30:17+00:00");
    assert_int_equal(line_of(c, small_log[4], &ev), PARSE_EVENT);
    assert_string_equal(fmt_time(ev.time_us), "2026-11-28T17:30:17+00:00");
    parser_free(a);
    parser_free(b);
    parser_free(c);
    buf_free(&blob);
}

/* test_cap - over the cap the oldest open queue ids are left out, and counted */
static void test_cap(void **state)
{
    struct parser_opts o = {.year = 2026, .max_open_queue = 200000};
    struct parser *a = parser_create(&o), *b = parser_create(&o);
    const size_t n = 100050;
    struct buf blob;
    struct event ev;
    char line[200], why[200];

    (void)state;
    buf_init(&blob);
    for (size_t i = 0; i < n; i++) {
        snprintf(line, sizeof(line),
                 P "postfix/qmgr[3]: Q%09zu: from=<s%zu@a.example>, size=1, nrcpt=1 "
                   "(queue active)",
                 i, i);
        line_of(a, line, &ev);
    }
    parser_state_save(a, &blob);
    assert_int_equal(parser_stats(a)->state_dropped, 50);
    assert_true(blob.len < 16 * 1024 * 1024);
    assert_int_equal(parser_state_load(b, blob.data, blob.len, why, sizeof(why)), 0);
    /* the 50 oldest are gone, the 51st and the newest are there */
    const size_t probe[] = {0, 49, 50, 51, n / 2, n - 1};
    for (size_t k = 0; k < ARRAY_LEN(probe); k++) {
        size_t i = probe[k];

        snprintf(line, sizeof(line),
                 P "postfix/smtp[4]: Q%09zu: to=<x@b.example>, relay=r[1.2.3.4], dsn=2.0.0, "
                   "status=sent (250 ok)",
                 i);
        assert_int_equal(line_of(b, line, &ev), PARSE_EVENT);
        snprintf(line, sizeof(line), "s%zu@a.example", i);
        assert_string_equal(ev.sender, i < 50 ? "" : line);
    }
    parser_free(a);
    parser_free(b);
    buf_free(&blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_small),  cmocka_unit_test(test_split_corpus),
        cmocka_unit_test(test_split_golden), cmocka_unit_test(test_split_full),
        cmocka_unit_test(test_corrupt),      cmocka_unit_test(test_version),
        cmocka_unit_test(test_in_use),       cmocka_unit_test(test_year),
        cmocka_unit_test(test_cap),
    };

    return cmocka_run_group_tests(tests, utc, NULL);
}
