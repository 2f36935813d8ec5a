/*
 * NAME
 *	util - tiny shared helpers: logging, allocation, byte buffers, time, JSON text
 *
 * SYNOPSIS
 *	#include "util/util.h"
 *
 *	void log_set_level(enum log_level);
 *	void log_debug(fmt, ...); log_info(fmt, ...); log_warn(fmt, ...);
 *	void fatal(fmt, ...);			exits 1
 *	ASSERT(cond)
 *
 *	void *xmalloc(size_t); void *xcalloc(size_t, size_t); void *xrealloc(void *, size_t);
 *	char *xstrdup(const char *); void x_free(void *);
 *	void *xgrow(void *arr, size_t *cap, size_t n, size_t elem, size_t initial);
 *
 *	void buf_init(struct buf *); void buf_free(struct buf *); void buf_reset(struct buf *);
 *	void buf_reserve(struct buf *, size_t extra);
 *	void buf_append(struct buf *, const void *, size_t); void buf_puts(struct buf *, const char *);
 *	void buf_putc(struct buf *, int); void buf_printf(struct buf *, const char *fmt, ...);
 *	void buf_json_string(struct buf *, const char *); size_t utf8_scrub(char *);
 *
 *	int64_t time_now_us(void);
 *	void time_format_rfc3339(int64_t us, char *out, size_t outlen);
 *	int time_parse_rfc3339(const char *s, size_t len, int64_t *us);
 *	int64_t time_local_to_utc_us(int year, int mon, int mday, int hour, int min, int sec);
 *	int time_parse_relative(const char *s, int64_t now_us, int64_t *out_us);
 *	int64_t time_days_from_civil(int64_t y, int m, int d);
 *	void time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
 *	int time_put_date(char *w, int64_t days); void time_put_clock(char *w, int sod);
 *	char *time_put_frac(char *w, int64_t frac);
 *
 *	size_t str_copy(char *dst, size_t dstlen, const char *src, size_t srclen);
 *	uint64_t hash_fnv1a64(const void *, size_t);
 *	char *fmt_u64(char *w, uint64_t v); char *fmt_i64(char *w, int64_t v);
 *	char *fmt_double(char *w, double d, int digits);
 *
 * DESCRIPTION
 *	Logging goes to stderr, one line per call, prefixed with the level; the format string is
 *	printf-checked. fatal() is for start-up errors only: it logs and exits with status 1.
 *
 *	The x-allocators never return NULL: on exhaustion they log and abort. x_free(NULL) is a
 *	no-op. xgrow() makes room for element n of an array of *cap elements of elem bytes:
 *	when n == *cap it doubles the array (to initial elements the first time) and updates
 *	*cap; it returns the array, moved or not.
 *
 *	struct buf is a growable byte buffer that is always NUL-terminated (data[len] == 0 once
 *	anything was appended). buf_reset() keeps the allocation, so a buffer reused per line costs
 *	no allocation after it has grown once. buf_reserve() makes room for extra more bytes (and
 *	the terminator) in one step. buf_json_string() appends a quoted JSON string with
 *	RFC 8259 escaping; bytes that are not valid UTF-8 become U+FFFD. utf8_scrub() replaces,
 *	in place, every byte that is not part of valid UTF-8 with '?' and returns how many.
 *
 *	Times are microseconds since the Unix epoch, UTC. time_format_rfc3339() writes
 *	"2026-11-28T17:30:17+00:00" (with ".123456" when the microseconds are non-zero), from
 *	its pieces, which the JSON writer of events uses too (no NUL after any of them):
 *	time_put_date() "2026-11-28" (10 bytes) for a day count, or -1 and nothing written when
 *	the year has not four digits; time_put_clock() "17:30:17" (8 bytes) for a second of the
 *	day; time_put_frac() ".123456" (7 bytes) for the microseconds, returning the byte after.
 *	time_parse_rfc3339() accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" (a space
 *	instead of T too) and returns 0, or -1 when the text is not such a time.
 *	time_local_to_utc_us() converts a broken-down wall-clock time of the local time zone (TZ)
 *	into UTC; it caches the zone offset per hour, so it is cheap to call per log line.
 *	time_parse_relative() reads an RFC 3339 time or one relative to now_us ("now", "-90s",
 *	"-30m", "-24h", "-7d", "-2w"); it returns 0, or -1 when the text is neither, has
 *	trailing bytes, overflows, or falls outside TIME_MIN_US..TIME_MAX_US (the years
 *	0001-9999). On -1, *out_us is left alone.
 *
 *	time_days_from_civil() counts the days from 1970-01-01 to a date of the proleptic
 *	Gregorian calendar (month 1-12, day 1-31; negative before 1970), and
 *	time_civil_from_days() is its inverse.
 *
 *	str_copy() copies at most dstlen-1 bytes, always terminates dst, and returns the number
 *	of bytes of src that did not fit (0 when nothing was cut).
 *
 *	fmt_u64(), fmt_i64() and fmt_double() write a number as text at w, without a
 *	terminator, and return the end: at most 20, 21 and 32 bytes. fmt_double() takes a
 *	finite number and writes the shortest decimals (up to nine) that read back as exactly
 *	that double, else "%.*g" with the given significant digits (17 keeps every double).
 *
 * OWNERSHIP
 *	A struct buf owns its data; buf_free() releases it. Nothing else here keeps pointers.
 *
 * DIAGNOSTICS
 *	Parsers return -1 on bad text; allocation failure aborts.
 */
#ifndef MAILPULSE_UTIL_H
#define MAILPULSE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define ASSERT(cond)   ((cond) ? (void)0 : assert_fail(#cond, __FILE__, __LINE__))

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
void x_free(void *ptr);
void *xgrow(void *arr, size_t *cap, size_t n, size_t elem, size_t initial);

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, int c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_json_string(struct buf *b, const char *s);
size_t utf8_scrub(char *s);

int64_t time_now_us(void);
void time_format_rfc3339(int64_t us, char *out, size_t outlen);
int time_put_date(char *w, int64_t days);
void time_put_clock(char *w, int sod);
char *time_put_frac(char *w, int64_t frac);
int time_parse_rfc3339(const char *s, size_t len, int64_t *us);
int64_t time_local_to_utc_us(int year, int mon, int mday, int hour, int min, int sec);
int time_parse_relative(const char *s, int64_t now_us, int64_t *out_us);
int64_t time_days_from_civil(int64_t y, int m, int d);
void time_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#define TIME_MIN_US ((int64_t)-62135596800 * 1000000) /* 0001-01-01T00:00:00Z */
#define TIME_MAX_US ((int64_t)253402300799 * 1000000) /* 9999-12-31T23:59:59Z */

size_t str_copy(char *dst, size_t dstlen, const char *src, size_t srclen);
uint64_t hash_fnv1a64(const void *data, size_t len);
char *fmt_u64(char *w, uint64_t v);
char *fmt_i64(char *w, int64_t v);
char *fmt_double(char *w, double d, int digits);

/* word_hash_finish - the last mix of word_hash(); of the seed alone, the hash of 0 bytes */
static inline uint64_t word_hash_finish(uint64_t h)
{
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

/*
 * word_hash - a hash of len bytes eight at a time (multiply and fold), seeded; the byte-wise
 * FNV-1a it replaces was a twentieth of the parse time, run several times per line. The last
 * 1 to 7 bytes are a word of their own, zero above them; when 8 bytes or more came before,
 * they are read as the last 8 bytes, shifted down, not byte by byte. The values are those
 * of the saved parser states (see parser_state_save()): they must not change. Also the hash of db/delta.c's keys.
 */
static inline uint64_t word_hash(const char *s, size_t len, uint64_t h)
{
    const size_t all = len;
    uint64_t w;

    h ^= len * 0xff51afd7ed558ccdULL;
    for (; len >= 8; s += 8, len -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    if (len) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (all >= 8) {
            memcpy(&w, s + len - 8, 8);
            w >>= 8 * (8 - len);
        } else
#endif
        {
            w = 0;
            memcpy(&w, s, len);
        }
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    (void)all;
    return word_hash_finish(h);
}

#endif
