/*
 * envelope - the syslog envelope of a mail log line: time, host, program[pid], message text
 *
 * Three stamp forms are read, each followed by " host prog[pid]: text" (the pid is optional):
 *
 *	Nov 28 17:30:17			RFC 3164, local time of TZ, no year
 *					("Jun  3" pads with a space)
 *	2026-11-28T17:30:17.123+00:00	RFC 3339, as rsyslog writes it
 *	2013 Jun 10 06:27:30.123	year first, local time (some syslog-ng templates)
 *
 * The year of an RFC 3164 stamp comes from struct year_infer (see parser.h). Everything is
 * pointer scanning over the caller's bytes; nothing is allocated, and only a stamp whose day
 * lacks its padding ("Jul 2 12:24:48", as some relays write) is copied, padded, to the stack.
 */
#include <string.h>
#include <time.h>

#include "parser/parser.h"

#define US_PER_DAY (86400LL * 1000000LL)

/* year_infer_init - start inferring years; year 0 means "from the clock" */
void year_infer_init(struct year_infer *yi, int year, int64_t now_us)
{
    yi->year = year;
    yi->fixed = year != 0;
    yi->last_mon = 0;
    yi->now_us = now_us ? now_us : time_now_us();
}

/* month_number - "Jan".."Dec" to 1..12, or 0 */
static int month_number(const char *s)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    size_t i;

    for (i = 0; i < 12; i++) {
        const char *n = names + i * 3;

        if (s[0] == n[0] && s[1] == n[1] && s[2] == n[2])
            return (int)i + 1;
    }
    return 0;
}

/* two_digits - "07" to 7, or -1 */
static int two_digits(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* year_of_us - the UTC calendar year of a time */
static int year_of_us(int64_t us)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    return tm.tm_year + 1900;
}

/* year_for - the year of an RFC 3164 stamp of month mon, updating the inference state */
static int year_for(struct year_infer *yi, int mon, int mday, int hour, int min, int sec)
{
    if (yi->fixed) {
        yi->last_mon = mon;
        return yi->year;
    }
    if (yi->last_mon == 0 || yi->year == 0) {
        yi->year = year_of_us(yi->now_us);
        if (time_local_to_utc_us(yi->year, mon, mday, hour, min, sec) > yi->now_us + US_PER_DAY)
            yi->year--;
    } else if (mon < yi->last_mon && yi->last_mon - mon >= 6) {
        /* Dec -> Jan: the log crossed New Year. A small step back is out-of-order lines. */
        yi->year++;
    }
    yi->last_mon = mon;
    return yi->year;
}

/*
 * stamp_3164 - "Mmm dd hh:mm:ss[.frac] " at s (year given, or 0 to infer); returns the
 * length consumed up to the space, or 0 when the text is not such a stamp.
 */
static size_t stamp_3164(const char *s, size_t len, int year, struct year_infer *yi, int64_t *us)
{
    /* The last whole-second stamp read (its 15 bytes, the year asked for, the year used and
     * its UTC time): consecutive lines mostly share their second, and then neither the
     * fields nor the local-time conversion need doing again. Per thread, so no locking. */
    static _Thread_local struct {
        uint64_t a, b;
        int year_arg, year, mon;
        int64_t base;
    } last;
    int mon, mday, hour, min, sec;
    size_t i;
    int64_t frac = 0, scale = 1000000;
    uint64_t a, b;

    if (len >= 15 && s[3] == ' ' && s[4] >= '1' && s[4] <= '9' && s[5] == ' ') {
        /* "Jul 2 12:24:48": a day without its padding, as some relays write it; read as
         * the padded form, one byte shorter */
        char pad[48];
        size_t n = len < sizeof(pad) - 1 ? len : sizeof(pad) - 1, r;

        memcpy(pad, s, 4);
        pad[4] = ' ';
        memcpy(pad + 5, s + 4, n - 4);
        r = stamp_3164(pad, n + 1, year, yi, us);
        return r ? r - 1 : 0;
    }
    if (len < 15 || s[3] != ' ')
        return 0;
    memcpy(&a, s, 8);
    memcpy(&b, s + 7, 8);
    if (a == last.a && b == last.b && year == last.year_arg && last.mon != 0 &&
        (year != 0 || (yi->last_mon == last.mon && yi->year == last.year && yi->year != 0))) {
        /* What the slow path below would do with the same stamp and state: year_for()
         * returns yi->year unchanged, and last_mon is set to the same month. */
        if (yi)
            yi->last_mon = last.mon;
        i = 15;
        if (i < len && s[i] == '.') {
            for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
                if (scale > 1) {
                    scale /= 10;
                    frac += (s[i] - '0') * scale;
                }
            }
        }
        if (i >= len || s[i] != ' ')
            return 0;
        *us = last.base + frac;
        return i;
    }
    mon = month_number(s);
    if (mon == 0)
        return 0;
    if (s[4] == ' ' && s[5] >= '1' && s[5] <= '9')
        mday = s[5] - '0';
    else
        mday = two_digits(s + 4);
    if (mday < 1 || mday > 31 || s[6] != ' ')
        return 0;
    hour = two_digits(s + 7);
    min = two_digits(s + 10);
    sec = two_digits(s + 13);
    if (hour < 0 || hour > 23 || s[9] != ':' || min < 0 || min > 59 || s[12] != ':' || sec < 0 ||
        sec > 60)
        return 0;
    i = 15;
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (scale > 1) {
                scale /= 10;
                frac += (s[i] - '0') * scale;
            }
        }
    }
    if (i >= len || s[i] != ' ')
        return 0;
    if (sec == 60)
        sec = 59;
    last.year_arg = year;
    if (year == 0)
        year = year_for(yi, mon, mday, hour, min, sec);
    else if (yi)
        yi->last_mon = mon;
    last.a = a;
    last.b = b;
    last.year = year;
    last.mon = mon;
    last.base = time_local_to_utc_us(year, mon, mday, hour, min, sec);
    *us = last.base + frac;
    return i;
}

/* prog_stop - the bytes that end a program name: '[', ':' and ' ' */
static const bool prog_stop[256] = {['['] = true, [':'] = true, [' '] = true};

/* syslog_envelope - split a line into its envelope; 0, or -1 when it has none */
int syslog_envelope(const char *line, size_t len, struct syslog_env *env, struct year_infer *yi)
{
    const char *p, *end = line + len, *sp, *q;
    size_t n;

    if (len >= 20 && line[4] == '-' && line[0] >= '0' && line[0] <= '9') {
        sp = memchr(line, ' ', len);
        if (sp == NULL || time_parse_rfc3339(line, (size_t)(sp - line), &env->time_us) != 0)
            return -1;
        p = sp;
    } else if (len >= 20 && line[4] == ' ' && line[0] >= '0' && line[0] <= '9') {
        int year = 0, i;

        for (i = 0; i < 4; i++) {
            if (line[i] < '0' || line[i] > '9')
                return -1;
            year = year * 10 + (line[i] - '0');
        }
        n = stamp_3164(line + 5, len - 5, year, yi, &env->time_us);
        if (n == 0)
            return -1;
        p = line + 5 + n;
    } else {
        struct year_infer fallback;

        if (yi == NULL) {
            year_infer_init(&fallback, 0, 0);
            yi = &fallback;
        }
        n = stamp_3164(line, len, 0, yi, &env->time_us);
        if (n == 0)
            return -1;
        p = line + n;
    }

    /* " host " */
    while (p < end && *p == ' ')
        p++;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || sp == p)
        return -1;
    env->host = p;
    env->host_len = (size_t)(sp - p);

    /* "prog[pid]: " or "prog: " */
    p = sp + 1;
    for (q = p; q < end && !prog_stop[(unsigned char)*q]; q++)
        ;
    if (q == p || q == end || *q == ' ')
        return -1;
    env->prog = p;
    env->prog_len = (size_t)(q - p);
    env->pid = -1;
    if (*q == '[') {
        long pid = 0;

        for (q++; q < end && *q >= '0' && *q <= '9'; q++) {
            if (pid < 100000000L)
                pid = pid * 10 + (*q - '0');
        }
        if (q >= end || *q != ']')
            return -1;
        env->pid = pid;
        q++;
    }
    if (q >= end || *q != ':')
        return -1;
    q++;
    if (q < end && *q == ' ')
        q++;
    env->msg = q;
    env->msg_len = (size_t)(end - q);
    return 0;
}
