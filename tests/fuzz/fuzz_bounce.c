/*
 * fuzz_bounce - the bounce message reader (GMime, the DSN and ARF fields, the family
 * recognisers) on arbitrary bytes taken as one message, and again as an mbox
 *
 * Every record must be well formed and print as one JSON object. The seeds in
 * tests/fuzz/corpus_bounce/ are bounce messages of every family, ARF reports, auto-replies
 * and broken MIME.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bounce/bounce.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_rec - a record is well formed and prints as one JSON object */
static void check_rec(const struct bounce_rec *rec, void *arg)
{
    struct buf *out = arg;

    ASSERT(rec->kind == BK_DSN || rec->kind == BK_COMPLAINT);
    ASSERT(rec->recipient[0] != 0);
    ASSERT(rec->family != NULL && rec->reason != NULL);
    ASSERT(rec->smtp_code >= -1 && rec->smtp_code <= 599);
    buf_reset(out);
    bounce_format_json(rec, out);
    ASSERT(out->len > 0 && out->data[0] == '{' && out->data[out->len - 1] == '}');
    ASSERT(strlen(out->data) == out->len); /* no NUL inside */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf out;
    struct bounce_stats st = {0};
    struct bounce_sink sink = {check_rec, &out, &st, NULL};
    FILE *f;

    buf_init(&out);
    bounce_message((const char *)data, size, &sink);
    ASSERT(st.messages == 1);
    ASSERT(st.bounces + st.complaints + st.not_bounce + st.malformed == 1);
    /* the same bytes as a stream: one message, or an mbox when they start with "From " */
    if (size > 0 && (f = fmemopen((void *)data, size, "r")) != NULL) {
        bounce_read_stream(f, "fuzz", &sink);
        fclose(f);
    }
    buf_free(&out);
    return 0;
}
