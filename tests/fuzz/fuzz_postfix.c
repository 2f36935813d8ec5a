/*
 * fuzz_postfix - the log-line parser on arbitrary bytes
 *
 * The input is split on newlines and each piece goes through parser_line() and, when it
 * gives an event, event_format_json(); one parser lives across the pieces, so the queue-id
 * table sees sequences too. Any crash, sanitizer report or broken invariant is a finding.
 */
#include <stdint.h>
#include <string.h>

#include "parser/parser.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parser_opts opts = {.year = 2026, .max_open_queue = 8};
    struct parser *p = parser_create(&opts);
    const char *s = (const char *)data, *end = s + size;
    struct event ev;
    struct buf out;

    buf_init(&out);
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);

        if (parser_line(p, s, len, &ev) == PARSE_EVENT) {
            buf_reset(&out);
            event_format_json(&ev, &out);
            ASSERT(out.len > 0 && out.data[0] == '{' && out.data[out.len - 1] == '}');
        }
        s += len + 1;
    }
    buf_free(&out);
    parser_free(p);
    return 0;
}
