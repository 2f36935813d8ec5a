/*
 * log - leveled logging to stderr, fatal() and assertion failures
 */
#include <stdio.h>
#include <stdlib.h>

#include "util/util.h"

static enum log_level min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

/* log_set_level - show messages at this level and above */
void log_set_level(enum log_level level)
{
    min_level = level;
}

/* log_get_level - the level in force */
enum log_level log_get_level(void)
{
    return min_level;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    char line[2048];

    /* Every caller starts ap with va_start; the analyzer loses track across the call. */
    vsnprintf(line, sizeof(line), fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
    /* One fprintf per message, so lines from two threads do not interleave. */
    fprintf(stderr, "mailpulse: %s: %s\n", level_names[level], line);
}

/* log_msg - one line to stderr when level is shown */
void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

/* fatal - log an error and exit 1; for start-up errors only */
void fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}

/* assert_fail - report a broken invariant with its place and abort */
void assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "mailpulse: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
