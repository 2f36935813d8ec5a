/*
 * test_event - parser/event.c: the names of the closed sets, the DSN syntax, the NDJSON form
 *
 * Tables: each name with the value it must parse to, then texts that must name nothing, and
 * enhanced status codes with the length event_dsn_len() must give. The JSON tests parse
 * Postfix lines and compare the exact text event_format_json() writes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "parser/event.h"
#include "parser/parser.h"
#include "tests/unit/unit.h"

#define P "Nov 28 17:30:17 mx1 "

/* test_reason_names - every reason by name, both ways, and texts that are no reason */
static void test_reason_names(void **state)
{
    static const struct {
        const char *name;
        enum event_reason reason;
    } rows[] = {
        {"userunknown", REASON_USERUNKNOWN},
        {"hostunknown", REASON_HOSTUNKNOWN},
        {"mailboxfull", REASON_MAILBOXFULL},
        {"hasmoved", REASON_HASMOVED},
        {"suspend", REASON_SUSPEND},
        {"blocked", REASON_BLOCKED},
        {"badreputation", REASON_BADREPUTATION},
        {"spamdetected", REASON_SPAMDETECTED},
        {"virusdetected", REASON_VIRUSDETECTED},
        {"policyviolation", REASON_POLICYVIOLATION},
        {"authfailure", REASON_AUTHFAILURE},
        {"rejected", REASON_REJECTED},
        {"norelaying", REASON_NORELAYING},
        {"notaccept", REASON_NOTACCEPT},
        {"requireptr", REASON_REQUIREPTR},
        {"speeding", REASON_SPEEDING},
        {"toomanyconn", REASON_TOOMANYCONN},
        {"mesgtoobig", REASON_MESGTOOBIG},
        {"exceedlimit", REASON_EXCEEDLIMIT},
        {"contenterror", REASON_CONTENTERROR},
        {"notcompliantrfc", REASON_NOTCOMPLIANTRFC},
        {"filtered", REASON_FILTERED},
        {"securityerror", REASON_SECURITYERROR},
        {"failedstarttls", REASON_FAILEDSTARTTLS},
        {"systemerror", REASON_SYSTEMERROR},
        {"systemfull", REASON_SYSTEMFULL},
        {"mailererror", REASON_MAILERERROR},
        {"networkerror", REASON_NETWORKERROR},
        {"syntaxerror", REASON_SYNTAXERROR},
        {"expired", REASON_EXPIRED},
        {"onhold", REASON_ONHOLD},
        {"undefined", REASON_UNDEFINED},
    };
    static const char *const bad[] = {
        "", "UserUnknown", "userunknown ", " blocked", "block", "blockedx", "none", "other",
    };
    enum event_reason got;
    size_t i;

    (void)state;
    /* one row per reason: the table above is the whole set */
    assert_int_equal(ARRAY_LEN(rows), EVENT_REASON_COUNT - 1);
    assert_string_equal(event_reason_name(REASON_NONE), "");
    assert_string_equal(event_reason_name((enum event_reason)EVENT_REASON_COUNT), "");
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        assert_string_equal(event_reason_name(rows[i].reason), rows[i].name);
        got = REASON_NONE;
        assert_int_equal(event_reason_parse(rows[i].name, strlen(rows[i].name), &got), 0);
        assert_int_equal(got, rows[i].reason);
    }
    for (i = 0; i < ARRAY_LEN(bad); i++) {
        got = REASON_ONHOLD;
        if (event_reason_parse(bad[i], strlen(bad[i]), &got) != -1)
            fail_msg("event_reason_parse(\"%s\") accepted it", bad[i]);
        assert_int_equal(got, REASON_ONHOLD);
    }
    /* len bounds the text: a prefix of a longer buffer is read as itself */
    assert_int_equal(event_reason_parse("blockedxyz", 7, &got), 0);
    assert_int_equal(got, REASON_BLOCKED);
}

/* test_stage_names - every SMTP stage by name, both ways */
static void test_stage_names(void **state)
{
    static const struct {
        const char *name;
        enum event_stage stage;
    } rows[] = {
        {"connect", STAGE_CONNECT}, {"helo", STAGE_HELO}, {"mail", STAGE_MAIL},
        {"rcpt", STAGE_RCPT},       {"data", STAGE_DATA}, {"starttls", STAGE_STARTTLS},
    };
    static const char *const bad[] = {"", "HELO", "ehlo", "rcpt to", "dat", "quit"};
    enum event_stage got;
    size_t i;

    (void)state;
    assert_string_equal(event_stage_name(STAGE_NONE), "");
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        assert_string_equal(event_stage_name(rows[i].stage), rows[i].name);
        got = STAGE_NONE;
        assert_int_equal(event_stage_parse(rows[i].name, strlen(rows[i].name), &got), 0);
        assert_int_equal(got, rows[i].stage);
    }
    for (i = 0; i < ARRAY_LEN(bad); i++)
        if (event_stage_parse(bad[i], strlen(bad[i]), &got) != -1)
            fail_msg("event_stage_parse(\"%s\") accepted it", bad[i]);
}

/* test_status_mta_type_names - the older closed sets keep their names */
static void test_status_mta_type_names(void **state)
{
    static const struct {
        const char *name;
        enum event_status status;
    } rows[] = {
        {"sent", ST_SENT},
        {"deferred", ST_DEFERRED},
        {"bounced", ST_BOUNCED},
        {"expired", ST_EXPIRED},
    };
    enum event_status got;
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        assert_string_equal(event_status_name(rows[i].status), rows[i].name);
        assert_int_equal(event_status_parse(rows[i].name, strlen(rows[i].name), &got), 0);
        assert_int_equal(got, rows[i].status);
    }
    assert_int_equal(event_status_parse("", 0, &got), -1);
    assert_int_equal(event_status_parse("Sent", 4, &got), -1);
    assert_string_equal(event_status_name(ST_NONE), "");
    assert_string_equal(event_mta_name(MTA_POSTFIX), "postfix");
    assert_string_equal(event_mta_name(MTA_EXIM), "exim");
    assert_string_equal(event_mta_name(MTA_SENDMAIL), "sendmail");
    assert_string_equal(event_mta_name(MTA_UNKNOWN), "");
    assert_string_equal(event_type_name(EV_BOUNCE_NOTICE), "bounce_notice");
    assert_string_equal(event_type_name(EV_NONE), "none");
}

/* test_dsn_len - enhanced status codes at the head of a text, and whole-string checks */
static void test_dsn_len(void **state)
{
    static const struct {
        const char *in;
        size_t want; /* the code's length at the head of in, 0 when there is none */
    } rows[] = {
        {"5.1.1", 5},     {"4.7.0", 5},   {"2.0.0", 5},     {"5.7.1 Service unavailable", 5},
        {"5.7.26", 6},    {"4.4.7", 5},   {"5.123.456", 9}, {"5.123.456 x", 9},
        {"5.1.10", 6},    {"3.1.1", 0}, /* class 2, 4 or 5 only */
        {"1.1.1", 0},                   /* likewise */
        {"5.1234.1", 0},                /* subject of at most three digits */
        {"5.1.1234", 0},                /* detail likewise */
        {"5.1.", 0},      {"5..1", 0},    {"5.1", 0},       {"5", 0},
        {"", 0},          {"5.1.1,", 0}, /* a code ends at a space or the end */
        {"5.1.1:", 0},    {"5.1.1.1", 0}, {"x5.1.1", 0},    {"5-1-1", 0},
        {"550 5.1.1", 0}, /* the reply code comes first: not a DSN at the head */
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        const char *s = rows[i].in;
        size_t got = event_dsn_len(s, s + strlen(s));

        if (got != rows[i].want)
            fail_msg("event_dsn_len(\"%s\") = %zu; want %zu", s, got, rows[i].want);
    }
    /* end bounds the scan: the same bytes cut short are read as what is left */
    assert_int_equal(event_dsn_len("5.1.1", "5.1.1" + 4), 0);
    assert_int_equal(event_dsn_len("5.1.12", "5.1.12" + 5), 5);
}

/* ---- the NDJSON form ---- */

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

/*
 * test_json_string_edges - every length of a string field, with bytes to escape and bytes of
 * 0x80 and up at every place, and stale bytes after the NUL: the "reply" value is the text
 * buf_json_string() writes, or null when empty
 */
static void test_json_string_edges(void **state)
{
    static const char specials[] = {'"', '\\', '\n', '\x01', '\xc3', '\xff', 'a'};
    struct event ev;
    struct buf b, want;

    (void)state;
    buf_init(&b);
    buf_init(&want);
    for (size_t len = 0; len < sizeof(ev.dsn) + 40; len++) {
        for (size_t at = 0; at <= len; at++) {
            for (size_t k = 0; k < sizeof(specials); k++) {
                char text[128];
                const char *got;

                memset(text, 'x', len);
                text[len] = 0;
                if (at < len)
                    text[at] = specials[k];
                if (at < len && specials[k] == '\xc3' && at + 1 < len)
                    text[at + 1] = '\xa9'; /* a whole two-byte sequence */
                event_clear(&ev);
                memset(ev.reply, '"', sizeof(ev.reply)); /* stale bytes after the NUL */
                memcpy(ev.reply, text, len + 1);
                memset(ev.dsn, '\\', sizeof(ev.dsn));
                if (len < sizeof(ev.dsn)) /* up to a string that fills its field */
                    memcpy(ev.dsn, text, len + 1);
                ev.type = EV_DELIVERY;
                buf_reset(&b);
                event_format_json(&ev, &b);
                got = strstr(b.data, ",\"reply\":");
                assert_non_null(got);
                buf_reset(&want);
                buf_puts(&want, ",\"reply\":");
                if (len)
                    buf_json_string(&want, text);
                else
                    buf_puts(&want, "null");
                buf_puts(&want, ",\"reason\":");
                assert_memory_equal(got, want.data, want.len);
                if (len < sizeof(ev.dsn)) {
                    got = strstr(b.data, ",\"dsn\":");
                    assert_non_null(got);
                    buf_reset(&want);
                    buf_puts(&want, ",\"dsn\":");
                    if (len)
                        buf_json_string(&want, text);
                    else
                        buf_puts(&want, "null");
                    buf_puts(&want, ",\"smtp_code\":");
                    assert_memory_equal(got, want.data, want.len);
                }
                json_plausible(b.data);
            }
        }
    }
    buf_free(&want);
    buf_free(&b);
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

/* test_json_numbers - a message's size and nrcpt as printf("%lld") writes them, for every
 * value to 1,100 and for ones of every length to 18 digits, and null when negative */
static void test_json_numbers(void **state)
{
    struct event ev;
    struct buf b;
    int64_t big = 1;

    (void)state;
    buf_init(&b);
    for (int64_t v = -2; v < 1100 + 18; v++) {
        int64_t n = v < 1100 ? v : (big *= 10) - 1 + (v % 2);
        char want[128];

        event_clear(&ev);
        ev.type = EV_MESSAGE;
        ev.size = n;
        ev.nrcpt = (int32_t)(n % 2000);
        buf_reset(&b);
        event_format_json(&ev, &b);
        if (n < 0)
            snprintf(want, sizeof(want), "\"size\":null,\"nrcpt\":null,");
        else
            snprintf(want, sizeof(want), "\"size\":%lld,\"nrcpt\":%lld,", (long long)n,
                     (long long)(n % 2000));
        if (strstr(b.data, want) == NULL)
            fail_msg("%lld: want %s in %s", (long long)n, want, b.data);
    }
    buf_free(&b);
}

/*
 * test_json_times - an event's time is time_format_rfc3339()'s text in quotes, for stamps
 * that repeat, share their second with another fraction, come back after others, lie before
 * 1970 or past year 9999: whatever the writer kept from the events before
 */
static void test_json_times(void **state)
{
    static const int64_t base = 1795887017LL * 1000000; /* 2026-11-28T17:30:17Z */
    static const int64_t stamps[] = {
        base,
        base,
        base + 250000,
        base + 250000,
        base,
        base + 1,
        base + 999999,
        base + 1000000,
        base,
        base - 1,
        -1,
        -1000000,
        -86400000001LL,
        253402300800LL * 1000000,
        base + 250000,
        base,
    };
    struct event ev;
    struct buf b;

    (void)state;
    buf_init(&b);
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        char when[64], want[96];

        event_clear(&ev);
        ev.type = EV_REJECT;
        ev.time_us = stamps[i];
        time_format_rfc3339(stamps[i], when, sizeof(when));
        snprintf(want, sizeof(want), "\"time\":\"%s\",\"host\"", when);
        buf_reset(&b);
        event_format_json(&ev, &b);
        if (strstr(b.data, want) == NULL)
            fail_msg("stamp %zu (%lld): want %s in %s", i, (long long)stamps[i], want, b.data);
    }
    buf_free(&b);
}

/* test_event_copy - event_copy() moves the n bytes memcpy() would, for every n to 100 at
 * every alignment of both sides, and writes no byte before d or from d + n on */
static void test_event_copy(void **state)
{
    char src[128], dst[160];

    (void)state;
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (char)('A' + i % 50);
    for (size_t n = 0; n <= 100; n++) {
        for (size_t so = 0; so < 8; so++) {
            for (size_t dof = 0; dof < 8; dof++) {
                memset(dst, '#', sizeof(dst));
                event_copy(dst + 16 + dof, src + so, n);
                assert_memory_equal(dst + 16 + dof, src + so, n);
                for (size_t k = 0; k < 16 + dof; k++)
                    assert_int_equal(dst[k], '#');
                for (size_t k = 16 + dof + n; k < sizeof(dst); k++)
                    assert_int_equal(dst[k], '#');
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_stage_names),
        cmocka_unit_test(test_status_mta_type_names),
        cmocka_unit_test(test_dsn_len),
        cmocka_unit_test(test_json_delivery),
        cmocka_unit_test(test_json_other_types),
        cmocka_unit_test(test_json_string_edges),
        cmocka_unit_test(test_json_numbers),
        cmocka_unit_test(test_json_times),
        cmocka_unit_test(test_event_copy),
    };

    return cmocka_run_group_tests_name("event", tests, utc, NULL);
}
