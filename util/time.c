/*
 * time - UTC microsecond times: clock, civil dates, RFC 3339 and relative text, local
 * wall-clock conversion
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

/* time_now_us - the wall clock, UTC microseconds */
int64_t time_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * time_days_from_civil - days since 1970-01-01 of a proleptic Gregorian date. The era
 * arithmetic (400-year cycles of 146097 days, years starting in March) is H. Hinnant's
 * days_from_civil; it needs no table and no branch on leap years.
 */
int64_t time_days_from_civil(int64_t y, int m, int d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* time_civil_from_days - the proleptic Gregorian date of a day count since 1970-01-01 */
void time_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468, era, doe, yoe, doy, mp;

    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* put_2d - two decimal digits */
static void put_2d(char *w, int v)
{
    w[0] = (char)('0' + v / 10);
    w[1] = (char)('0' + v % 10);
}

/* time_put_date - "2026-11-28" at w for a day count since 1970-01-01; -1 for a year that has
 * not four digits (nothing written) */
int time_put_date(char *w, int64_t days)
{
    int64_t y;
    int m, d;

    time_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return -1;
    put_2d(w, (int)(y / 100));
    put_2d(w + 2, (int)(y % 100));
    w[4] = '-';
    put_2d(w + 5, m);
    w[7] = '-';
    put_2d(w + 8, d);
    return 0;
}

/* time_put_clock - "17:30:17" at w for a second of the day */
void time_put_clock(char *w, int sod)
{
    put_2d(w, sod / 3600);
    w[2] = ':';
    put_2d(w + 3, sod / 60 % 60);
    w[5] = ':';
    put_2d(w + 6, sod % 60);
}

/* time_put_frac - ".123456" at w for microseconds 0..999999; the byte after it */
char *time_put_frac(char *w, int64_t frac)
{
    w[0] = '.';
    for (int j = 6; j >= 1; j--) {
        w[j] = (char)('0' + frac % 10);
        frac /= 10;
    }
    return w + 7;
}

/* time_format_rfc3339 - "2026-11-28T17:30:17[.123456]+00:00" */
void time_format_rfc3339(int64_t us, char *out, size_t outlen)
{
    int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    int64_t frac = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    char text[64], *p = text;
    size_t n;

    if (outlen == 0)
        return;
    if (time_put_date(p, days) == 0) {
        p += 10;
    } else { /* a year of more or fewer than four digits */
        int64_t y;
        int m, d;

        time_civil_from_days(days, &y, &m, &d);
        p += snprintf(p, 32, "%04lld-%02d-%02d", (long long)y, m, d);
    }
    *p++ = 'T';
    time_put_clock(p, (int)(secs - days * 86400));
    p += 8;
    if (frac)
        p = time_put_frac(p, frac);
    memcpy(p, "+00:00", 6);
    n = (size_t)(p - text) + 6;
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, text, n);
    out[n] = 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return days[m - 1] + (m == 2 && leap);
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* time_parse_rfc3339 - "YYYY-MM-DD(T| )HH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" to UTC us */
int time_parse_rfc3339(const char *s, size_t len, int64_t *us)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac = 0, scale = 1000000, secs;
    size_t i = 19;

    if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (s[i] == '.') {
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9')
            return -1;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (scale > 1) {
                scale /= 10;
                frac += (s[i] - '0') * scale;
            }
        }
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && !digits(s + i + 1, 2, &oh) &&
               s[i + 3] == ':' && !digits(s + i + 4, 2, &om)) {
        if (oh > 23 || om > 59)
            return -1;
        if (s[i] == '-') {
            oh = -oh;
            om = -om;
        }
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    if (sec == 60)
        sec = 59; /* a leap second is not worth a wrong day */
    secs = time_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
    secs -= (int64_t)oh * 3600 + (int64_t)om * 60;
    *us = secs * 1000000 + frac;
    return 0;
}

/*
 * time_local_to_utc_us - wall-clock time of the TZ in force to UTC. mktime() is slow and
 * the offset changes at most a few times a year, so it is cached per hour of the day.
 */
int64_t time_local_to_utc_us(int year, int mon, int mday, int hour, int min, int sec)
{
    static __thread int64_t cached_key = -1;
    static __thread int64_t cached_hour_utc;
    /* the key is the local hour itself: no day arithmetic while the hour stays the same */
    int64_t key = (((int64_t)year * 16 + mon) * 32 + mday) * 32 + hour;

    if (key != cached_key) {
        int64_t naive_hour = time_days_from_civil(year, mon, mday) * 86400 + (int64_t)hour * 3600;
        struct tm tm;
        time_t t;

        memset(&tm, 0, sizeof(tm));
        tm.tm_year = year - 1900;
        tm.tm_mon = mon - 1;
        tm.tm_mday = mday;
        tm.tm_hour = hour;
        tm.tm_isdst = -1;
        t = mktime(&tm);
        cached_hour_utc = (t == (time_t)-1) ? naive_hour : (int64_t)t;
        cached_key = key;
    }
    return (cached_hour_utc + (int64_t)min * 60 + sec) * 1000000;
}

/*
 * time_parse_relative - an RFC 3339 time, "now", or "-N" and one of s m h d w before now_us.
 * Both the result and now_us - N units are kept within the years 0001-9999, so the
 * subtraction cannot overflow and the result can always be formatted back.
 */
int time_parse_relative(const char *s, int64_t now_us, int64_t *out_us)
{
    static const struct {
        char unit;
        int64_t us;
    } units[] = {
        {'s', (int64_t)1000000},          {'m', (int64_t)60 * 1000000},
        {'h', (int64_t)3600 * 1000000},   {'d', (int64_t)86400 * 1000000},
        {'w', (int64_t)604800 * 1000000},
    };
    size_t len, i, u;
    int64_t n = 0, v;

    if (s == NULL)
        return -1;
    len = strlen(s);
    if (len == 3 && memcmp(s, "now", 3) == 0) {
        v = now_us;
    } else if (s[0] == '-') {
        for (i = 1; s[i] >= '0' && s[i] <= '9'; i++) {
            int d = s[i] - '0';

            if (n > (INT64_MAX - d) / 10)
                return -1;
            n = n * 10 + d;
        }
        if (i == 1 || i + 1 != len)
            return -1;
        for (u = 0; u < ARRAY_LEN(units) && units[u].unit != s[i]; u++)
            ;
        if (u == ARRAY_LEN(units) || n > INT64_MAX / units[u].us)
            return -1;
        /* TIME_MIN_US + n * unit cannot overflow: TIME_MIN_US is negative */
        if (now_us < TIME_MIN_US + n * units[u].us)
            return -1;
        v = now_us - n * units[u].us;
    } else if (time_parse_rfc3339(s, len, &v) != 0) {
        return -1;
    }
    if (v < TIME_MIN_US || v > TIME_MAX_US)
        return -1;
    *out_us = v;
    return 0;
}
