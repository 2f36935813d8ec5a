/*
 * fuzz_smtp - the SMTP dialogue parser (and TCP reassembly under it) on arbitrary bytes
 *
 * Input: one mode byte (bit 0: the session is on port 465; bit 1: go through TCP
 * reassembly), then records. A record byte h names the direction (bit 7 set: from the
 * client) and either n = (h & 0x7f) + 1 bytes of stream that follow (cut at the end of
 * the input), or, for h & 0x7f == 0x7f, a gap whose length is the next byte, or, for
 * 0x7e, a retransmission of the last segment of that direction moved back by the next
 * byte. So both directions interleave in any order and any segmentation.
 * tests/fuzz/mkseeds_smtp.py writes seeds in this form from the corpora's captures.
 */
#include <stdint.h>
#include <string.h>

#include "collector/sniff.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_event - every event is well formed and prints as one JSON object */
static void check_event(void *arg, const struct event *ev)
{
    struct buf *out = arg;

    ASSERT(ev->type == EV_SMTP);
    ASSERT(ev->stage[0] != 0);
    ASSERT(ev->smtp_code >= -1 && ev->smtp_code <= 999);
    buf_reset(out);
    event_format_json(ev, out);
    ASSERT(out->len > 0 && out->data[0] == '{' && out->data[out->len - 1] == '}');
}

struct fz {
    struct buf out;
    struct smtp_sess *sess;
    int implicit_tls;
};

static void *fz_open(void *arg, const struct tcp_flow_info *info)
{
    struct fz *z = arg;

    (void)info;
    ASSERT(z->sess == NULL);
    z->sess = smtp_sess_create("192.0.2.1:40000", "198.51.100.2:25", z->implicit_tls, check_event,
                               &z->out);
    return z->sess;
}

static void fz_data(void *arg, void *user, int from_client, const uint8_t *p, size_t n, int64_t ts)
{
    (void)arg;
    ASSERT(n > 0);
    smtp_sess_data(user, from_client, p, n, ts);
}

static void fz_gap(void *arg, void *user, int from_client, size_t len, int64_t ts)
{
    (void)arg;
    smtp_sess_gap(user, from_client, len, ts);
}

static void fz_close(void *arg, void *user, int64_t ts)
{
    struct fz *z = arg;

    smtp_sess_end(user, ts);
    smtp_sess_free(user);
    z->sess = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct tcp_ops ops = {fz_open, fz_data, fz_gap, fz_close};
    struct tcp_limits lim = {4, 4096, 1000000};
    struct fz z;
    struct tcp_table *t = NULL;
    uint32_t next[2] = {7000, 0xfffff000u};
    uint32_t last_seq[2] = {7000, 0xfffff000u};
    size_t last_len[2] = {0, 0};
    const uint8_t *last_data[2] = {NULL, NULL};
    size_t i = 1;
    int64_t ts = 1000000;

    if (size < 1)
        return 0;
    memset(&z, 0, sizeof(z));
    buf_init(&z.out);
    z.implicit_tls = data[0] & 1;
    if (data[0] & 2)
        t = tcp_table_create(&lim, &ops, &z);
    else
        z.sess = smtp_sess_create("c:1", "s:25", z.implicit_tls, check_event, &z.out);
    while (i < size) {
        uint8_t h = data[i++];
        int dir = h >> 7;
        unsigned kind = h & 0x7f;
        struct tcp_seg sg;

        memset(&sg, 0, sizeof(sg));
        sg.af = 4;
        sg.src.port = dir ? 40000 : 25;
        sg.dst.port = dir ? 25 : 40000;
        sg.to_server = dir;
        sg.flags = TCP_FACK;
        sg.ts_us = ts++;
        sg.ack = next[!dir];
        if (kind == 0x7f) {
            size_t len = i < size ? data[i++] : 1;

            if (t)
                next[dir] += (uint32_t)len; /* a hole: the peer's ACKs will reveal it */
            else
                smtp_sess_gap(z.sess, dir, len, ts);
            continue;
        }
        if (kind == 0x7e) {
            uint32_t back = i < size ? data[i++] : 0;

            if (t && last_data[dir]) {
                sg.seq = last_seq[dir] - back;
                sg.data = last_data[dir];
                sg.len = sg.caplen = last_len[dir];
                tcp_segment(t, &sg);
            }
            continue;
        }
        {
            size_t n = kind + 1;

            n = n < size - i ? n : size - i;
            if (n == 0)
                break;
            if (t) {
                sg.seq = next[dir];
                sg.data = data + i;
                sg.len = sg.caplen = n;
                tcp_segment(t, &sg);
                last_seq[dir] = next[dir];
                last_data[dir] = data + i;
                last_len[dir] = n;
                next[dir] += (uint32_t)n;
            } else {
                smtp_sess_data(z.sess, dir, data + i, n, ts);
            }
            i += n;
        }
    }
    if (t) {
        tcp_table_free(t);
        ASSERT(z.sess == NULL);
    } else {
        smtp_sess_end(z.sess, ts);
        smtp_sess_free(z.sess);
    }
    buf_free(&z.out);
    return 0;
}
