/*
 * test_util - util/: JSON string text, UTF-8 scrubbing, RFC 3339 and relative times, civil
 * dates, bounded copies
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "util/util.h"

static void test_json_string(void **state)
{
    static const struct {
        const char *in;
        const char *want;
    } rows[] = {
        {"", "\"\""},
        {"plain", "\"plain\""},
        {"q\"uote\\back", "\"q\\\"uote\\\\back\""},
        {"tab\tnl\ncr\r", "\"tab\\tnl\\ncr\\r\""},
        {"\x01\x1f", "\"\\u0001\\u001f\""},
        {"caf\xc3\xa9", "\"caf\xc3\xa9\""},                           /* valid UTF-8 kept */
        {"bad\xff", "\"bad\xef\xbf\xbd\""},                           /* invalid byte -> U+FFFD */
        {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""},                 /* overlong form refused */
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* surrogate */
        {"cut\xe2\x82", "\"cut\xef\xbf\xbd\xef\xbf\xbd\""},           /* truncated sequence */
    };
    struct buf b;

    (void)state;
    buf_init(&b);
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        buf_reset(&b);
        buf_json_string(&b, rows[i].in);
        assert_string_equal(b.data, rows[i].want);
    }
    buf_free(&b);
}

static void test_utf8_scrub(void **state)
{
    static const struct {
        const char *in;
        const char *want;
        size_t bad;
    } rows[] = {
        {"ok", "ok", 0},
        {"caf\xc3\xa9", "caf\xc3\xa9", 0},
        {"a\xff"
         "b",
         "a?b", 1},
        {"\xe2\x82", "??", 2},
        {"\xf4\x90\x80\x80", "????", 4}, /* past U+10FFFF */
        {"caf\xc3", "caf?", 1},          /* cut by the end of the string */
        {"\xf0\x9f\x98", "???", 3},
        {"", "", 0},
        {"\x7f\x01 \xc3\xa9\xc3", "\x7f\x01 \xc3\xa9?", 1},
    };
    char s[32];

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        strcpy(s, rows[i].in);
        assert_int_equal(utf8_scrub(s), rows[i].bad);
        assert_string_equal(s, rows[i].want);
    }
}

static void test_buf_grows(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b);
    for (int i = 0; i < 10000; i++)
        buf_printf(&b, "%d,", i);
    assert_int_equal(b.len, strlen(b.data));
    assert_memory_equal(b.data, "0,1,2,", 6);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
    buf_free(&b); /* a freed buffer is empty and may be freed again */
}

static void test_rfc3339(void **state)
{
    static const struct {
        const char *in;
        int ok;
        int64_t us;
        const char *back;
    } rows[] = {
        {"2026-11-28T17:30:17+00:00", 0, 1795887017000000LL, "2026-11-28T17:30:17+00:00"},
        {"2026-11-28T17:30:17Z", 0, 1795887017000000LL, "2026-11-28T17:30:17+00:00"},
        {"2026-11-28T18:30:17.5+01:00", 0, 1795887017500000LL, "2026-11-28T17:30:17.500000+00:00"},
        {"2026-11-28 17:30:17.123456-02:30", 0, 1795896017123456LL,
         "2026-11-28T20:00:17.123456+00:00"},
        {"1970-01-01T00:00:00Z", 0, 0, "1970-01-01T00:00:00+00:00"},
        {"2024-02-29T00:00:00Z", 0, 1709164800000000LL, "2024-02-29T00:00:00+00:00"},
        {"2026-11-28T17:30:17", -1, 0, NULL},      /* no offset */
        {"2026-13-28T17:30:17Z", -1, 0, NULL},     /* month 13 */
        {"2026-11-28T17:30:17+0000", -1, 0, NULL}, /* offset without colon */
        {"2026-11-28T17:30:17Zjunk", -1, 0, NULL},
        {"2026-11-28T17:30:17.Z", -1, 0, NULL},
        {"yesterday", -1, 0, NULL},
        {"", -1, 0, NULL},
    };
    char text[64];

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        int64_t us = -1;
        int r = time_parse_rfc3339(rows[i].in, strlen(rows[i].in), &us);

        assert_int_equal(r, rows[i].ok);
        if (r != 0)
            continue;
        assert_int_equal(us, rows[i].us);
        time_format_rfc3339(us, text, sizeof(text));
        assert_string_equal(text, rows[i].back);
    }
}

/* The formatter agrees with gmtime_r() and snprintf() from the year 0 to 9999, whole seconds
 * and fractions, before 1970 and after, and cuts its text to the buffer as snprintf() does. */
static void test_time_format_gmtime(void **state)
{
    const int64_t lo = -62167219200LL, hi = 253402300799LL; /* 0000-01-01 .. 9999-12-31 */
    char got[64], want[64];
    uint64_t x = 88172645463325252ULL;

    (void)state;
    for (int i = 0; i < 200000; i++) {
        int64_t secs, frac, us;
        time_t t;
        struct tm tm;

        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: a fixed sequence */
        secs = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
        frac = i % 3 == 0 ? 0 : (int64_t)(x >> 40) % 1000000;
        if (i < 6) /* the edges, and midnights before 1970 */
            secs = i == 0 ? lo : i == 1 ? hi : i == 2 ? -1 : i == 3 ? 0 : -86400LL * (i - 3);
        else if (i % 7 == 0)
            secs -= secs % 86400;
        us = secs * 1000000 + frac;
        t = (time_t)secs;
        gmtime_r(&t, &tm);
        if (frac)
            snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long long)frac);
        else
            snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        time_format_rfc3339(us, got, sizeof(got));
        if (strcmp(got, want) != 0)
            fail_msg("%lld us: got %s, want %s", (long long)us, got, want);
    }
    time_format_rfc3339(1795887017500000LL, got, 11);
    assert_string_equal(got, "2026-11-28");
    time_format_rfc3339(-1, got, sizeof(got));
    assert_string_equal(got, "1969-12-31T23:59:59.999999+00:00");
}

static void test_local_time(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    assert_int_equal(time_local_to_utc_us(2026, 11, 28, 17, 30, 17), 1795887017000000LL);
    setenv("TZ", "Europe/Prague", 1);
    tzset();
    /* Winter: UTC+1. Summer: UTC+2. The hour cache must not carry one into the other. */
    assert_int_equal(time_local_to_utc_us(2026, 11, 28, 18, 30, 17), 1795887017000000LL);
    assert_int_equal(time_local_to_utc_us(2026, 7, 1, 12, 0, 0), 1782900000000000LL);
    /* Within one cached hour only minutes and seconds move; the next day's same hour is new. */
    assert_int_equal(time_local_to_utc_us(2026, 7, 1, 12, 59, 59), 1782903599000000LL);
    assert_int_equal(time_local_to_utc_us(2026, 7, 2, 12, 0, 0), 1782986400000000LL);
    /* The hour after the autumn change: UTC+1 again. */
    assert_int_equal(time_local_to_utc_us(2026, 10, 25, 3, 0, 0), 1792893600000000LL);
    setenv("TZ", "UTC", 1);
    tzset();
}

static void test_str_copy(void **state)
{
    char dst[6];

    (void)state;
    assert_int_equal(str_copy(dst, sizeof(dst), "abc", 3), 0);
    assert_string_equal(dst, "abc");
    assert_int_equal(str_copy(dst, sizeof(dst), "abcdefgh", 8), 3);
    assert_string_equal(dst, "abcde");
    assert_int_equal(str_copy(dst, sizeof(dst), "", 0), 0);
    assert_string_equal(dst, "");
}

static void test_xgrow(void **state)
{
    int *v = NULL;
    size_t n, cap = 0;

    (void)state;
    for (n = 0; n < 1000; n++) {
        v = xgrow(v, &cap, n, sizeof(*v), 4);
        assert_true(cap > n);
        v[n] = (int)n;
    }
    assert_int_equal(cap, 1024); /* 4, 8, ... doubling */
    for (n = 0; n < 1000; n++)
        assert_int_equal(v[n], (int)n);
    assert_ptr_equal(xgrow(v, &cap, 10, sizeof(*v), 4), v); /* room left: unchanged */
    x_free(v);
}

static void test_hash(void **state)
{
    (void)state;
    /* Published FNV-1a 64-bit test vectors. */
    assert_true(hash_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(hash_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(hash_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
}

#define NOW_US ((int64_t)1800000000 * 1000000) /* 2027-01-15T08:00:00Z */
#define SEC    ((int64_t)1000000)

/* ---- time_parse_relative ---- */

struct time_case {
    const char *in;
    int ret;
    int64_t want;
};

static const struct time_case time_cases[] = {
    {"-1d", 0, NOW_US - 86400 * SEC},
    {"now", 0, NOW_US},
    {"-24h", 0, NOW_US - 24 * 3600 * SEC},
    {"-7d", 0, NOW_US - 7 * 86400 * SEC},
    {"-30m", 0, NOW_US - 30 * 60 * SEC},
    {"-90s", 0, NOW_US - 90 * SEC},
    {"-2w", 0, NOW_US - 2 * 604800 * SEC},
    {"-0s", 0, NOW_US},
    {"-0024h", 0, NOW_US - 24 * 3600 * SEC},
    {"-1000w", 0, NOW_US - 1000 * 604800 * SEC},
    {"2026-11-28T17:30:17Z", 0, 1795887017 * SEC},
    {"2026-11-28T17:30:17+00:00", 0, 1795887017 * SEC},
    {"2026-11-28T17:30:17+02:00", 0, 1795879817 * SEC},
    {"2026-11-28 17:30:17.25Z", 0, 1795887017 * SEC + 250000},
    {"1970-01-01T00:00:00Z", 0, 0},
    {"0001-01-01T00:00:00Z", 0, TIME_MIN_US},
    {"9999-12-31T23:59:59Z", 0, TIME_MAX_US},
    {"0001-01-01T00:00:00+00:01", -1, 0}, /* a minute before year 1 */
    {"", -1, 0},
    {"-", -1, 0},
    {"-h", -1, 0},
    {"24h", -1, 0},
    {"+24h", -1, 0},
    {"-24", -1, 0},
    {"-24x", -1, 0},
    {"-24H", -1, 0},
    {"-24hh", -1, 0},
    {"-24h ", -1, 0},
    {" -24h", -1, 0},
    {"--24h", -1, 0},
    {"-2.5h", -1, 0},
    {"NOW", -1, 0},
    {"now ", -1, 0},
    {"nowx", -1, 0},
    {"-9223372036854775808s", -1, 0}, /* the number overflows */
    {"-99999999999999999999999h", -1, 0},
    {"-9223372036854775807s", -1, 0}, /* the product overflows */
    {"-15250284452w", -1, 0},
    {"-9223372036854s", -1, 0}, /* fits, but lands before year 1 */
    {"-2000000w", -1, 0},
    {"2026-11-28T17:30:17", -1, 0},
    {"2026-11-28T17:30:17Zjunk", -1, 0},
    {"2026-11-28T17:30:17+02:00x", -1, 0},
    {"2026-13-01T00:00:00Z", -1, 0},
    {"2026-11-28", -1, 0},
    {"yesterday", -1, 0},
};

/* test_parse_relative - every row of time_cases */
static void test_parse_relative(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(time_cases); i++) {
        const struct time_case *c = &time_cases[i];
        int64_t got = -12345;
        int ret = time_parse_relative(c->in, NOW_US, &got);

        if (ret != c->ret || (ret == 0 && got != c->want))
            fail_msg("time_parse_relative(\"%s\") = %d, %lld; want %d, %lld", c->in, ret,
                     (long long)got, c->ret, (long long)c->want);
        if (ret != 0 && got != -12345)
            fail_msg("time_parse_relative(\"%s\") failed but wrote its result", c->in);
    }
}

/* test_parse_relative_null - NULL is not a time */
static void test_parse_relative_null(void **state)
{
    int64_t got;

    (void)state;
    assert_int_equal(time_parse_relative(NULL, NOW_US, &got), -1);
}

/* ---- civil dates ---- */

/* fmt_text - fmt_double() of d as a string */
static const char *fmt_text(char *out, double d, int digits)
{
    *fmt_double(out, d, digits) = 0;
    return out;
}

/* test_fmt_numbers - integers in decimal; doubles short, and read back as the same double */
static void test_fmt_numbers(void **state)
{
    char t[64];
    uint64_t x = 88172645463325252ULL;

    (void)state;
    *fmt_i64(t, INT64_MIN) = 0;
    assert_string_equal(t, "-9223372036854775808");
    *fmt_i64(t, 0) = 0;
    assert_string_equal(t, "0");
    *fmt_u64(t, UINT64_MAX) = 0;
    assert_string_equal(t, "18446744073709551615");
    assert_string_equal(fmt_text(t, 0, 17), "0");
    assert_string_equal(fmt_text(t, 455, 17), "455");
    assert_string_equal(fmt_text(t, 1.3, 17), "1.3");
    assert_string_equal(fmt_text(t, 0.01, 17), "0.01");
    assert_string_equal(fmt_text(t, 0.1 + 0.2, 17), "0.30000000000000004");
    assert_string_equal(fmt_text(t, -1.5, 17), "-1.5");
    assert_string_equal(fmt_text(t, 1e20, 17), "1e+20");
    assert_string_equal(fmt_text(t, 0.27, 15), "0.27");
    /* Every kind of double, from a xorshift sequence: the text reads back exactly. */
    for (int i = 0; i < 200000; i++) {
        double d;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        switch (i % 4) {
        case 0: /* a delay as logged: up to four decimals */
            d = (double)(x % 100000000) / (double)(1 + 9 * (x >> 60 & 1) + 990 * (x >> 61 & 1));
            break;
        case 1: /* any finite double */
            memcpy(&d, &x, sizeof(d));
            if (d != d || d - d != 0)
                continue;
            break;
        case 2: /* near 2^53 and the 1e9 limit */
            d = (double)(x % 2000000000) / 2 + (double)(x >> 40) / 4096;
            break;
        default:
            d = (double)(x >> 11) / 9007199254740992.0;
            break;
        }
        fmt_text(t, d, 17);
        if (strtod(t, NULL) != d)
            fail_msg("%s does not read back as %.17g", t, d);
    }
}

/* test_civil_days - both directions of the civil-date routine, against known dates */
static void test_civil_days(void **state)
{
    static const struct {
        int y, m, d;
        int64_t days;
    } rows[] = {
        {1970, 1, 1, 0},         {1969, 12, 31, -1},    {2000, 2, 29, 11016},  {2000, 3, 1, 11017},
        {1900, 2, 28, -25509},   {1900, 3, 1, -25508},  {2100, 2, 28, 47540},  {2100, 3, 1, 47541},
        {1600, 2, 29, -135081},  {2026, 11, 28, 20785}, {2024, 12, 31, 20088}, {1, 1, 1, -719162},
        {9999, 12, 31, 2932896}, {1972, 3, 1, 790},     {2038, 1, 19, 24855},
    };
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(rows); i++) {
        int64_t y;
        int m, d;

        if (time_days_from_civil(rows[i].y, rows[i].m, rows[i].d) != rows[i].days)
            fail_msg("time_days_from_civil(%d, %d, %d) = %lld; want %lld", rows[i].y, rows[i].m,
                     rows[i].d, (long long)time_days_from_civil(rows[i].y, rows[i].m, rows[i].d),
                     (long long)rows[i].days);
        time_civil_from_days(rows[i].days, &y, &m, &d);
        if (y != rows[i].y || m != rows[i].m || d != rows[i].d)
            fail_msg("time_civil_from_days(%lld) = %lld-%d-%d; want %d-%d-%d",
                     (long long)rows[i].days, (long long)y, m, d, rows[i].y, rows[i].m, rows[i].d);
    }
}

/* test_civil_walk - day by day over 1899..2101, the date moves by one and reads back */
static void test_civil_walk(void **state)
{
    int64_t day = time_days_from_civil(1899, 1, 1), last = time_days_from_civil(2101, 12, 31);
    int64_t y, py;
    int m, d, pm, pd;

    (void)state;
    time_civil_from_days(day, &py, &pm, &pd);
    for (day++; day <= last; day++) {
        time_civil_from_days(day, &y, &m, &d);
        assert_int_equal(time_days_from_civil(y, m, d), day);
        if (d == pd + 1)
            assert_true(m == pm && y == py);
        else
            assert_true(d == 1 &&
                        ((m == pm + 1 && y == py) || (m == 1 && pm == 12 && y == py + 1)));
        py = y;
        pm = m;
        pd = d;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_utf8_scrub),
        cmocka_unit_test(test_buf_grows),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_time_format_gmtime),
        cmocka_unit_test(test_local_time),
        cmocka_unit_test(test_str_copy),
        cmocka_unit_test(test_xgrow),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_parse_relative),
        cmocka_unit_test(test_parse_relative_null),
        cmocka_unit_test(test_civil_days),
        cmocka_unit_test(test_civil_walk),
        cmocka_unit_test(test_fmt_numbers),
    };

    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
