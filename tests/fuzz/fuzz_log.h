/*
 * fuzz_log - the body shared by the log-reader fuzz targets (fuzz_postfix, fuzz_exim,
 * fuzz_sendmail): each target only says which MTA's lines the parser reads.
 *
 * The input is split on newlines and each piece goes through parser_line() and, when it
 * gives an event, event_format_json() and tally_add(); one parser lives across the pieces,
 * so the queue-id table sees sequences too. The tally has tiny tables, so its "(other)" rows
 * and the deferred-set sweeps run; at the end it is formatted in all three forms. Any crash,
 * sanitizer report or broken invariant is a finding.
 */
#ifndef MAILPULSE_FUZZ_LOG_H
#define MAILPULSE_FUZZ_LOG_H

#include <stdint.h>
#include <string.h>

#include "parser/parser.h"
#include "report/tally.h"
#include "util/util.h"

static inline void fuzz_log(const uint8_t *data, size_t size, enum event_mta mta)
{
    struct parser_opts opts = {.year = 2026, .max_open_queue = 8, .mta = mta};
    struct parser *p = parser_create(&opts);
    struct tally_opts topts = {
        .max_domains = 3, .max_senders = 3, .max_reasons = 3, .max_hours = 3, .max_deferred = 4};
    struct tally *t = tally_create(&topts);
    struct tally_report rep;
    const char *s = (const char *)data, *end = s + size;
    struct event ev;
    struct buf out;

    buf_init(&out);
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);

        if (parser_line(p, s, len, &ev) == PARSE_EVENT) {
            do {
                buf_reset(&out);
                event_format_json(&ev, &out);
                ASSERT(out.len > 0 && out.data[0] == '{' && out.data[out.len - 1] == '}');
                ASSERT(strlen(out.data) == out.len);
                tally_add(t, &ev);
            } while (parser_next(p, &ev));
        }
        s += len + 1;
    }
    tally_report(t, &rep);
    for (int f = TALLY_TEXT; f <= TALLY_CSV; f++) {
        buf_reset(&out);
        tally_format(&rep, (enum tally_format)f, 2, &out);
    }
    buf_free(&out);
    tally_free(t);
    parser_free(p);
}

#endif
