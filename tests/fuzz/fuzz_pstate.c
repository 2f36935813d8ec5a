/*
 * fuzz_pstate - the parser's saved state (parser_state_save/_load) on arbitrary logs: the
 * input is split on newlines and read twice, once by one parser and once by two, the state
 * carried from the first to the second at a cut the input's first byte chooses; the events
 * must be the same. The blob with one byte flipped (where the second byte says) must be
 * refused and leave its parser new. Hops still held at the end are released by both. A small open-queue table makes eviction run. Any
 * difference, crash or sanitizer report is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parser/parser.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* read_part - parse the lines of [s, end) from line number from (inclusive) to to (exclusive),
 * appending each event's JSON to out */
static void read_part(struct parser *p, const char *s, const char *end, size_t from, size_t to,
                      struct buf *out)
{
    struct event ev;

    for (size_t i = 0; s < end && i < to; i++) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);

        if (i >= from) {
            if (parser_line(p, s, len, &ev) == PARSE_EVENT) {
                event_format_json(&ev, out);
                buf_putc(out, '\n');
            }
            while (parser_next(p, &ev)) {
                event_format_json(&ev, out);
                buf_putc(out, '\n');
            }
        }
        s += len + (nl != NULL);
    }
}

/* release_all - the end of the input: the hops still held, as deliveries */
static void release_all(struct parser *p, struct buf *out)
{
    struct event ev;

    while (parser_release(p) > 0)
        while (parser_next(p, &ev)) {
            event_format_json(&ev, out);
            buf_putc(out, '\n');
        }
}

/* LLVMFuzzerTestOneInput - one input; see above */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parser_opts opts = {.year = 2026, .max_open_queue = 8};
    struct parser *whole, *a, *b, *c;
    const char *s, *end;
    struct buf w, parts, blob;
    size_t lines = 1, cut, flip;
    char why[200];

    if (size < 2)
        return 0;
    s = (const char *)data + 2;
    end = (const char *)data + size;
    for (const char *q = s; q < end; q++)
        lines += *q == '\n';
    cut = data[0] % (lines + 1);
    buf_init(&w);
    buf_init(&parts);
    buf_init(&blob);
    whole = parser_create(&opts);
    a = parser_create(&opts);
    b = parser_create(&opts);
    c = parser_create(&opts);
    read_part(whole, s, end, 0, lines, &w);
    release_all(whole, &w);
    read_part(a, s, end, 0, cut, &parts);
    parser_state_save(a, &blob);
    if (parser_state_load(b, blob.data, blob.len, why, sizeof(why)) != 0)
        abort(); /* a state just saved must load */
    read_part(b, s, end, cut, lines, &parts);
    release_all(b, &parts);
    if (parts.len != w.len || (w.len > 0 && memcmp(parts.data, w.data, w.len) != 0))
        abort(); /* carried over, the state must give the events of one pass */
    flip = data[1] % blob.len;
    blob.data[flip] ^= 0x01;
    if (parser_state_load(c, blob.data, blob.len, why, sizeof(why)) == 0 ||
        parser_stats(c)->lines != 0)
        abort(); /* a flipped byte must be refused */
    parser_free(whole);
    parser_free(a);
    parser_free(b);
    parser_free(c);
    buf_free(&w);
    buf_free(&parts);
    buf_free(&blob);
    return 0;
}
