/*
 * fuzz_syslog - the syslog listener's TCP framing and message conversion on arbitrary bytes
 *
 * The input is one TCP stream as a listener would receive it, delivered in pieces: the
 * first byte seeds the piece sizes (1 to 64 bytes, so that counts and frames split
 * anywhere). syslog_frame() cuts messages from the bytes received so far, as the listener
 * does; each message goes through syslog_convert() and parser_line(). The framing's answers
 * must stay inside the bytes it was given and always make progress; an out-of-step or
 * oversized stream ends the input, as it closes a connection. Any crash, sanitizer report
 * or broken invariant is a finding.
 */
#include <stdint.h>
#include <string.h>

#include "collector/collector.h"
#include "parser/parser.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct parser_opts opts = {.year = 2026, .max_open_queue = 8};
    struct parser *p;
    struct event ev;
    struct buf line;
    const char *s;
    size_t have = 0, start = 0, off, mlen, used;
    unsigned seed;
    int octet = 0, r = 0;

    if (size < 1)
        return 0;
    seed = data[0];
    s = (const char *)data + 1;
    size--;
    p = parser_create(&opts);
    buf_init(&line);
    while (have < size) {
        seed = seed * 1103515245u + 12345u;
        have += 1 + (seed >> 16) % 64; /* the next piece arrives */
        if (have > size)
            have = size;
        while ((r = syslog_frame(s + start, have - start, &octet, &off, &mlen, &used)) == 1) {
            ASSERT(used > 0 && off + mlen <= used && used <= have - start);
            syslog_convert(&line, s + start + off, mlen);
            ASSERT(line.len <= mlen + 8); /* at most "[]: " and spaces added */
            (void)parser_line(p, line.data ? line.data : "", line.len, &ev);
            start += used;
        }
        if (r < 0)
            break;
        ASSERT(used <= have - start);
        start += used;
    }
    if (r == 0 && start < size && !octet) { /* a last line without its newline */
        syslog_convert(&line, s + start, size - start);
        (void)parser_line(p, line.data ? line.data : "", line.len, &ev);
    }
    buf_free(&line);
    parser_free(p);
    return 0;
}
