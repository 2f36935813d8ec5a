/*
 * NAME
 *	unit - what the cmocka tests of the log readers share
 *
 * SYNOPSIS
 *	#include "tests/unit/unit.h"
 *
 *	const char *corpora_dir(void);
 *	int utc(void **state);
 *	const char *fmt_time(int64_t us);
 *	struct parser *new_parser(void);
 *	struct parser *new_parser_mta(enum event_mta mta);
 *	enum parse_result line_of(struct parser *p, const char *s, struct event *ev);
 *	void json_plausible(const char *s);
 *	void check_str(size_t row, const char *what, const char *want, const char *got);
 *
 * DESCRIPTION
 *	corpora_dir() names the folder of the test corpora: $MAILPULSE_CORPORA when set and not
 *	empty, else tests/corpora (the tests run from the repository root). A test that finds
 *	no corpus there skips, naming the folder it looked in.
 *
 *	utc() is a group setup that sets TZ=UTC, so stamps without an offset read as UTC.
 *	fmt_time() gives an event time as RFC 3339 text in a static buffer (one per test file,
 *	overwritten by the next call). new_parser() makes a parser fixed on the year 2026 that
 *	reads every MTA; new_parser_mta() one that reads only mta (MTA_UNKNOWN: every MTA).
 *	line_of() is parser_line() on a C string. json_plausible() fails the test unless s is
 *	one JSON object with no raw control bytes and balanced quotes; it asserts with cmocka,
 *	so <cmocka.h> comes before this header. check_str() fails the test, naming the table
 *	row and the field, when want is not NULL and got differs from it.
 *
 *	Everything is static inline, so a test file that leaves a helper unused builds without a
 *	warning, and each test binary links only the modules it tests.
 *
 * OWNERSHIP
 *	The caller frees a parser with parser_free().
 */
#ifndef MAILPULSE_TESTS_UNIT_H
#define MAILPULSE_TESTS_UNIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parser/parser.h"

/* corpora_dir - $MAILPULSE_CORPORA, or tests/corpora of this repository */
static inline const char *corpora_dir(void)
{
    const char *d = getenv("MAILPULSE_CORPORA");

    return d && *d ? d : "tests/corpora";
}

/* utc - group setup: read stamps without an offset as UTC */
static inline int utc(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

/* fmt_time - an event time as RFC 3339 text */
static inline const char *fmt_time(int64_t us)
{
    static char out[40];

    time_format_rfc3339(us, out, sizeof(out));
    return out;
}

/* new_parser_mta - a parser fixed on 2026 reading the given MTA (MTA_UNKNOWN: auto) */
static inline struct parser *new_parser_mta(enum event_mta mta)
{
    struct parser_opts o = {.year = 2026, .mta = mta};

    return parser_create(&o);
}

/* new_parser - a parser fixed on 2026 reading every MTA */
static inline struct parser *new_parser(void)
{
    return new_parser_mta(MTA_UNKNOWN);
}

/* line_of - parser_line on a C string */
static inline enum parse_result line_of(struct parser *p, const char *s, struct event *ev)
{
    return parser_line(p, s, strlen(s), ev);
}

/* json_plausible - an object with no raw control bytes and balanced quotes */
static inline void json_plausible(const char *s)
{
    size_t n = strlen(s), i;
    bool in_str = false;

    assert_true(n >= 2 && s[0] == '{' && s[n - 1] == '}');
    for (i = 0; i < n; i++) {
        assert_true((unsigned char)s[i] >= 0x20);
        if (in_str && s[i] == '\\')
            i++;
        else if (s[i] == '"')
            in_str = !in_str;
    }
    assert_false(in_str);
}

/* check_str - a string field against the expectation (NULL: not checked) */
static inline void check_str(size_t row, const char *what, const char *want, const char *got)
{
    if (want && strcmp(want, got) != 0)
        fail_msg("row %zu %s: want \"%s\", got \"%s\"", row, what, want, got);
}

#endif
