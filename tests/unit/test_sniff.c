/*
 * test_sniff - collector/smtp.c and collector/tcp.c: the SMTP dialogue parser and TCP
 * reassembly, table-driven
 *
 * Each dialogue row is a list of (direction, bytes) steps and the events it must give, as
 * one summary line per event. Every row is fed whole, byte by byte, and in random pieces,
 * and also through TCP reassembly with random segmentation, reordering and duplication: the
 * events must be the same each time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/sniff.h"
#include "util/util.h"

#define C 1 /* from the client */
#define S 0 /* from the server */

struct step {
    int from_client;
    const char *text;
};

struct dialogue {
    const char *name;
    int implicit_tls;
    struct step steps[24];
    const char *want; /* one summary per event, each ending in '\n' */
};

/* summary - "stage code helo sender recipient dsn queue_id tls" of an event */
static void on_emit(void *arg, const struct event *ev)
{
    struct buf *b = arg;

    assert_int_equal(ev->type, EV_SMTP);
    buf_printf(b, "%s %d h=%s s=%s r=%s d=%s q=%s%s\n", ev->stage, ev->smtp_code, ev->helo,
               ev->sender, ev->recipient, ev->dsn, ev->queue_id, ev->tls ? " tls" : "");
}

static const struct dialogue dialogues[] = {
    {"plain with a rejected recipient",
     0,
     {{S, "220 mx.example.org ESMTP\r\n"},
      {C, "EHLO client.example.com\r\n"},
      {S, "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
      {C, "MAIL FROM:<alice@example.com> SIZE=100\r\n"},
      {S, "250 2.1.0 Ok\r\n"},
      {C, "RCPT TO:<bob@example.org>\r\n"},
      {S, "250 2.1.5 Ok\r\n"},
      {C, "RCPT TO:<nobody@example.org>\r\n"},
      {S, "550-5.1.1 <nobody@example.org>: Recipient address rejected\r\n550 5.1.1 see "
          "you\r\n"},
      {C, "DATA\r\n"},
      {S, "354 End data with <CR><LF>.<CR><LF>\r\n"},
      {C, "Subject: hi\r\nMAIL FROM:<not@command>\r\n..dot-stuffed\r\n.\r\n"},
      {S, "250 2.0.0 Ok: queued as 4ZxY2l3Xr9z1\r\n"},
      {C, "QUIT\r\n"},
      {S, "221 2.0.0 Bye\r\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=client.example.com s= r= d= q=\n"
     "mail 250 h=client.example.com s=alice@example.com r= d=2.1.0 q=\n"
     "rcpt 250 h=client.example.com s=alice@example.com r=bob@example.org d=2.1.5 q=\n"
     "rcpt 550 h=client.example.com s=alice@example.com r=nobody@example.org d=5.1.1 q=\n"
     "data 250 h=client.example.com s=alice@example.com r= d=2.0.0 q=4ZxY2l3Xr9z1\n"},
    {"pipelined, two transactions, Exim id=",
     0,
     {{S, "220 mx ESMTP Exim\r\n"},
      {C, "EHLO c\r\n"},
      {S, "250-mx\r\n250 PIPELINING\r\n"},
      {C, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n"},
      {S, "250 OK\r\n250 Accepted\r\n451 4.7.1 greylisted\r\n354 go\r\n"},
      {C, "body\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<d@z>\r\nDATA\r\n"},
      {S, "250 OK id=1Mugho-0003Dg-Un\r\n250 OK\r\n250 Accepted\r\n354 go\r\n"},
      {C, "x\r\n.\r\nQUIT\r\n"},
      {S, "250 OK id=1Mugho-0003Dh-AA\r\n221 bye\r\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=c s= r= d= q=\n"
     "mail 250 h=c s=a@x r= d= q=\n"
     "rcpt 250 h=c s=a@x r=b@y d= q=\n"
     "rcpt 451 h=c s=a@x r=c@y d=4.7.1 q=\n"
     "data 250 h=c s=a@x r= d= q=1Mugho-0003Dg-Un\n"
     "mail 250 h=c s= r= d= q=\n"
     "rcpt 250 h=c s= r=d@z d= q=\n"
     "data 250 h=c s= r= d= q=1Mugho-0003Dh-AA\n"},
    {"greeting refused",
     0,
     {{S, "554 5.7.1 mx.example.org: you are on a block list\r\n"},
      {C, "QUIT\r\n"},
      {S, "221 bye\r\n"}},
     "connect 554 h= s= r= d=5.7.1 q=\n"},
    {"STARTTLS ends the parse",
     0,
     {{S, "220 mx ESMTP\r\n"},
      {C, "EHLO c\r\n"},
      {S, "250-mx\r\n250 STARTTLS\r\n"},
      {C, "STARTTLS\r\n"},
      {S, "220 2.0.0 Ready to start TLS\r\n"},
      {C, "\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03"
          "MAIL FROM:<hidden@x>\r\n"},
      {S, "\x16\x03\x03\x01\x5a\x02\x01\x02\x56\x03\x03"
          "250 ok\r\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=c s= r= d= q=\n"
     "starttls 220 h=c s= r= d=2.0.0 q= tls\n"},
    {"STARTTLS refused, clear text goes on",
     0,
     {{S, "220 mx ESMTP\r\n"},
      {C, "EHLO c\r\n"},
      {S, "250 mx\r\n"},
      {C, "STARTTLS\r\n"},
      {S, "454 4.7.0 TLS not available\r\n"},
      {C, "MAIL FROM:<a@x>\r\n"},
      {S, "250 ok\r\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=c s= r= d= q=\n"
     "starttls 454 h=c s= r= d=4.7.0 q=\n"
     "mail 250 h=c s=a@x r= d= q=\n"},
    {"AUTH LOGIN: credentials are never looked at",
     0,
     {{S, "220 mx ESMTP\r\n"},
      {C, "EHLO c\r\n"},
      {S, "250-mx\r\n250 AUTH LOGIN PLAIN\r\n"},
      {C, "AUTH LOGIN\r\n"},
      {S, "334 VXNlcm5hbWU6\r\n"},
      {C, "c2VjcmV0dXNlcg==\r\n"},
      {S, "334 UGFzc3dvcmQ6\r\n"},
      {C, "c2VjcmV0cGFzcw==\r\n"},
      {S, "235 2.7.0 Authentication successful\r\n"},
      {C, "AUTH PLAIN AHNlY3JldAB0b3A=\r\nMAIL FROM:<a@x>\r\n"},
      {S, "503 5.5.1 Error: already authenticated\r\n250 ok\r\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=c s= r= d= q=\n"
     "mail 250 h=c s=a@x r= d= q=\n"},
    {"BDAT chunks with LAST",
     0,
     {{S, "220 mx ESMTP\r\n"},
      {C, "EHLO c\r\n"},
      {S, "250-mx\r\n250 CHUNKING\r\n"},
      {C, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 12\r\nRCPT TO:<z>\r\nBDAT 3 LAST\r\n.\r\n"},
      {S, "250 ok\r\n250 ok\r\n250 2.0.0 12 octets\r\n"},
      {S, "250 2.0.0 Ok: 15 bytes queued as 75A291CA025\r\n"},
      {C, "BDAT 0 LAST\r\n"},
      {S, "503 5.5.1 no transaction\r\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=c s= r= d= q=\n"
     "mail 250 h=c s=a@x r= d= q=\n"
     "rcpt 250 h=c s=a@x r=b@y d= q=\n"
     "data 250 h=c s=a@x r= d=2.0.0 q=75A291CA025\n"
     "data 503 h=c s=a@x r= d=5.5.1 q=\n"},
    {"DATA refused, the next line is a command",
     0,
     {{S, "220 mx\r\n"},
      {C, "HELO c\r\n"},
      {S, "250 mx\r\n"},
      {C, "MAIL FROM:<a@x>\r\n"},
      {S, "250 ok\r\n"},
      {C, "DATA\r\n"},
      {S, "503 5.5.1 need RCPT\r\n"},
      {C, "RSET\r\nMAIL FROM:<b@x>\r\n"},
      {S, "250 ok\r\n250 ok\r\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=c s= r= d= q=\n"
     "mail 250 h=c s=a@x r= d= q=\n"
     "data 503 h=c s=a@x r= d=5.5.1 q=\n"
     "mail 250 h=c s=b@x r= d= q=\n"},
    {"Sendmail queue id, bare LF",
     0,
     {{S, "220 mx Sendmail\n"},
      {C, "HELO c\n"},
      {S, "250 mx Hello\n"},
      {C, "MAIL FROM:<a@x>\nRCPT TO:<b@y>\nDATA\n"},
      {S, "250 2.1.0 ok\n250 2.1.5 ok\n354 go\n"},
      {C, "hello\n.\n"},
      {S, "250 2.0.0 r9KHbQ2k012345 Message accepted for delivery\n"}},
     "connect 220 h= s= r= d= q=\n"
     "helo 250 h=c s= r= d= q=\n"
     "mail 250 h=c s=a@x r= d=2.1.0 q=\n"
     "rcpt 250 h=c s=a@x r=b@y d=2.1.5 q=\n"
     "data 250 h=c s=a@x r= d=2.0.0 q=r9KHbQ2k012345\n"},
    {"client side only: commands without replies",
     0,
     {{C, "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\nbody\r\n.\r\nQUIT\r\n"}},
     "helo -1 h=c s= r= d= q=\n"
     "mail -1 h=c s=a@x r= d= q=\n"
     "rcpt -1 h=c s=a@x r=b@y d= q=\n"
     "data -1 h=c s=a@x r= d= q=\n"},
    {"client talks before the greeting (PIPE_CONNECT)",
     0,
     {{C, "EHLO c\r\nMAIL FROM:<a@x>\r\n"}, {S, "220 mx ESMTP\r\n250 mx\r\n250 ok\r\n"}},
     "connect 220 h=c s= r= d= q=\n" /* the session's HELO name is known by then */
     "helo 250 h=c s= r= d= q=\n"
     "mail 250 h=c s=a@x r= d= q=\n"},
    {"server side only, from mid-session: nothing to pair, no greeting",
     0,
     {{S, "250 2.1.5 ok\r\n354 go\r\n250 2.0.0 queued as X1\r\n221 bye\r\n"}},
     ""},
    {"implicit TLS on 465",
     1,
     {{C, "\x16\x03\x01\x01\x10\x01\x02\x03\x0c\x03\x03"}, {S, "\x16\x03\x03\x01\x02\x02"}},
     "connect -1 h= s= r= d= q= tls\n"},
};

/* run_dialogue - feed a row, each step cut into pieces of at most `piece` bytes (0: whole,
 * -1: random sizes from seed) */
static void run_dialogue(const struct dialogue *d, int piece, unsigned seed, struct buf *out)
{
    struct smtp_sess *s =
        smtp_sess_create("192.0.2.1:40000", "198.51.100.2:25", d->implicit_tls, on_emit, out);

    srand(seed);
    for (size_t i = 0; i < ARRAY_LEN(d->steps) && d->steps[i].text; i++) {
        const uint8_t *p = (const uint8_t *)d->steps[i].text;
        size_t n = strlen(d->steps[i].text);

        while (n > 0) {
            size_t k = piece == 0 ? n : piece > 0 ? (size_t)piece : (size_t)(rand() % 9 + 1);

            k = k < n ? k : n;
            smtp_sess_data(s, d->steps[i].from_client, p, k, 1000);
            p += k;
            n -= k;
        }
    }
    smtp_sess_end(s, 2000);
    smtp_sess_free(s);
}

static void test_dialogues(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(dialogues); i++) {
        const struct dialogue *d = &dialogues[i];
        static const int pieces[] = {0, 1, 2, 7, -1, -1, -1};
        struct buf out;

        buf_init(&out);
        for (size_t j = 0; j < ARRAY_LEN(pieces); j++) {
            buf_reset(&out);
            run_dialogue(d, pieces[j], (unsigned)(i * 31 + j), &out);
            if (strcmp(out.data ? out.data : "", d->want) != 0)
                fail_msg("%s (pieces %d):\nwant:\n%sgot:\n%s", d->name, pieces[j], d->want,
                         out.data ? out.data : "");
            assert_null(strstr(out.data ? out.data : "", "c2VjcmV0"));
        }
        buf_free(&out);
    }
}

/* ---- through TCP reassembly ---- */

struct sink {
    struct buf ev;     /* event summaries */
    struct buf raw[2]; /* bytes delivered per direction, "<GAP n>" for gaps */
    int opens, closes;
    int to_smtp;
    struct smtp_sess *sess;
};

static void *s_open(void *arg, const struct tcp_flow_info *info)
{
    struct sink *k = arg;

    (void)info;
    k->opens++;
    if (k->to_smtp)
        k->sess = smtp_sess_create("c", "s", 0, on_emit, &k->ev);
    return k;
}

static void s_data(void *arg, void *user, int from_client, const uint8_t *p, size_t n, int64_t ts)
{
    struct sink *k = arg;

    (void)user;
    buf_append(&k->raw[from_client], p, n);
    if (k->to_smtp)
        smtp_sess_data(k->sess, from_client, p, n, ts);
}

static void s_gap(void *arg, void *user, int from_client, size_t len, int64_t ts)
{
    struct sink *k = arg;

    (void)user;
    buf_printf(&k->raw[from_client], "<GAP %zu>", len);
    if (k->to_smtp)
        smtp_sess_gap(k->sess, from_client, len, ts);
}

static void s_close(void *arg, void *user, int64_t ts)
{
    struct sink *k = arg;

    (void)user;
    k->closes++;
    if (k->to_smtp) {
        smtp_sess_end(k->sess, ts);
        smtp_sess_free(k->sess);
        k->sess = NULL;
    }
}

static const struct tcp_ops sink_ops = {s_open, s_data, s_gap, s_close};

static void sink_init(struct sink *k, int to_smtp)
{
    memset(k, 0, sizeof(*k));
    buf_init(&k->ev);
    buf_init(&k->raw[0]);
    buf_init(&k->raw[1]);
    k->to_smtp = to_smtp;
}

static void sink_free(struct sink *k)
{
    buf_free(&k->ev);
    buf_free(&k->raw[0]);
    buf_free(&k->raw[1]);
}

#define ISN_C 1000u
#define ISN_S 0xfffffff0u /* wraps around zero */

/* mkseg - a segment of the test flow 192.0.2.1:40000 <-> 198.51.100.2:25 */
static struct tcp_seg mkseg(int from_client, uint32_t seq, uint32_t ack, uint8_t flags,
                            const char *data, size_t len, int64_t ts)
{
    struct tcp_seg sg;

    memset(&sg, 0, sizeof(sg));
    sg.ts_us = ts;
    sg.af = 4;
    memcpy(from_client ? sg.src.addr : sg.dst.addr, "\xc0\x00\x02\x01", 4);
    memcpy(from_client ? sg.dst.addr : sg.src.addr, "\xc6\x33\x64\x02", 4);
    (from_client ? &sg.src : &sg.dst)->port = 40000;
    (from_client ? &sg.dst : &sg.src)->port = 25;
    sg.to_server = from_client;
    sg.seq = seq;
    sg.ack = ack;
    sg.flags = flags;
    sg.data = (const uint8_t *)data;
    sg.len = sg.caplen = len;
    return sg;
}

/* One row: segments given as (dir, offset into the stream, length), in capture order. */
struct segrow {
    const char *name;
    struct {
        int dir, off, len;
    } segs[8];
    const char *want_client; /* the client stream as delivered */
};

static const char stream[] = "EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\n";

static const struct segrow segrows[] = {
    {"in order", {{C, 0, 8}, {C, 8, 17}, {C, 25, 16}}, stream},
    {"retransmission", {{C, 0, 8}, {C, 0, 8}, {C, 8, 17}, {C, 8, 17}, {C, 25, 16}}, stream},
    {"overlap", {{C, 0, 10}, {C, 5, 10}, {C, 12, 29}}, stream},
    {"out of order", {{C, 25, 16}, {C, 8, 17}, {C, 0, 8}}, stream},
    {"lost segment, closed by FIN",
     {{C, 0, 8}, {C, 25, 16}},
     "EHLO a\r\n<GAP 17>RCPT TO:<z@w>\r\n"},
};

static void test_tcp_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(segrows); i++) {
        const struct segrow *r = &segrows[i];
        struct sink k;
        struct tcp_table *t;
        int64_t ts = 1000000;
        struct tcp_seg sg;

        sink_init(&k, 0);
        t = tcp_table_create(NULL, &sink_ops, &k);
        sg = mkseg(C, ISN_C, 0, TCP_FSYN, NULL, 0, ts++);
        tcp_segment(t, &sg);
        sg = mkseg(S, ISN_S, ISN_C + 1, TCP_FSYN | TCP_FACK, NULL, 0, ts++);
        tcp_segment(t, &sg);
        for (size_t j = 0; j < ARRAY_LEN(r->segs) && r->segs[j].len; j++) {
            sg = mkseg(C, ISN_C + 1 + (uint32_t)r->segs[j].off, ISN_S + 1, TCP_FACK,
                       stream + r->segs[j].off, (size_t)r->segs[j].len, ts++);
            tcp_segment(t, &sg);
        }
        sg = mkseg(C, ISN_C + 1 + (uint32_t)strlen(stream), ISN_S + 1, TCP_FFIN | TCP_FACK, NULL, 0,
                   ts++);
        tcp_segment(t, &sg);
        sg = mkseg(S, ISN_S + 1, ISN_C + 2 + (uint32_t)strlen(stream), TCP_FFIN | TCP_FACK, NULL, 0,
                   ts++);
        tcp_segment(t, &sg);
        if (strcmp(k.raw[1].data ? k.raw[1].data : "", r->want_client) != 0)
            fail_msg("%s: want \"%s\", got \"%s\"", r->name, r->want_client, k.raw[1].data);
        assert_int_equal(k.opens, 1);
        assert_int_equal(k.closes, 1); /* FIN both ways closed it */
        assert_int_equal(tcp_table_stats(t)->flows_open, 0);
        tcp_table_free(t);
        sink_free(&k);
    }
}

/* A hole the server acknowledged is a gap at once; a snaplen cut is bytes then a gap. */
static void test_tcp_ack_gap_and_snaplen(void **state)
{
    struct sink k;
    struct tcp_table *t;
    struct tcp_seg sg;

    (void)state;
    sink_init(&k, 0);
    t = tcp_table_create(NULL, &sink_ops, &k);
    sg = mkseg(C, ISN_C, 0, TCP_FACK, stream, 8, 1);
    tcp_segment(t, &sg);
    sg = mkseg(S, ISN_S, ISN_C + 25, TCP_FACK, NULL, 0, 2); /* acks bytes 8..25 unseen */
    tcp_segment(t, &sg);
    assert_string_equal(k.raw[1].data, "EHLO a\r\n<GAP 17>");
    sg = mkseg(C, ISN_C + 25, ISN_S, TCP_FACK, stream + 25, 16, 3);
    sg.caplen = 6; /* the capture kept 6 of 16 bytes */
    tcp_segment(t, &sg);
    assert_string_equal(k.raw[1].data, "EHLO a\r\n<GAP 17>RCPT T<GAP 10>");
    assert_int_equal(tcp_table_stats(t)->gaps, 2);
    tcp_table_free(t);
    assert_int_equal(k.closes, 1);
    sink_free(&k);
}

/* Limits: the number of flows, the bytes held out of order, the idle timeout. */
static void test_tcp_limits(void **state)
{
    struct tcp_limits lim = {2, 20, 5000000};
    struct sink k;
    struct tcp_table *t;
    struct tcp_seg sg;

    (void)state;
    sink_init(&k, 0);
    t = tcp_table_create(&lim, &sink_ops, &k);
    for (int i = 0; i < 3; i++) {
        sg = mkseg(C, ISN_C, 0, TCP_FSYN, NULL, 0, 10 + i);
        sg.src.port = (uint16_t)(50000 + i);
        tcp_segment(t, &sg);
    }
    assert_int_equal(tcp_table_stats(t)->flows_evicted, 1);
    assert_int_equal(tcp_table_stats(t)->flows_open, 2);
    /* 30 bytes out of order in the flow of port 50002 exceed the 20 held: a gap */
    sg = mkseg(C, ISN_C + 11, 0, TCP_FACK, stream, 30, 20);
    sg.src.port = 50002;
    tcp_segment(t, &sg);
    assert_int_equal(tcp_table_stats(t)->queue_limit_hits, 1);
    assert_string_equal(k.raw[1].data, "<GAP 10>EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT ");
    tcp_expire(t, 20 + 5000001);
    assert_int_equal(tcp_table_stats(t)->flows_timed_out, 2);
    assert_int_equal(tcp_table_stats(t)->flows_open, 0);
    assert_int_equal(k.closes, 3);
    tcp_table_free(t);
    sink_free(&k);
}

/* Whole dialogues through TCP with random segmentation, reordering within a window and
 * duplicates give the same events as the dialogue fed directly. */
static void test_tcp_smtp_segmentation(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(dialogues); i++) {
        const struct dialogue *d = &dialogues[i];

        if (d->implicit_tls)
            continue;
        for (unsigned seed = 1; seed <= 20; seed++) {
            struct sink k;
            struct tcp_table *t = NULL;
            uint32_t seq[2] = {ISN_S + 1, ISN_C + 1};
            int64_t ts = 1000;
            struct tcp_seg sg;

            sink_init(&k, 1);
            t = tcp_table_create(NULL, &sink_ops, &k);
            srand(seed);
            sg = mkseg(C, ISN_C, 0, TCP_FSYN, NULL, 0, ts++);
            tcp_segment(t, &sg);
            sg = mkseg(S, ISN_S, ISN_C + 1, TCP_FSYN | TCP_FACK, NULL, 0, ts++);
            tcp_segment(t, &sg);
            for (size_t j = 0; j < ARRAY_LEN(d->steps) && d->steps[j].text; j++) {
                const char *p = d->steps[j].text;
                int dir = d->steps[j].from_client;
                size_t n = strlen(p), off = 0, nseg = 0;
                struct {
                    size_t off, len;
                } segs[256];

                while (off < n && nseg < ARRAY_LEN(segs)) {
                    size_t len = (size_t)(rand() % 12 + 1);

                    len = len < n - off ? len : n - off;
                    if (nseg == ARRAY_LEN(segs) - 1)
                        len = n - off;
                    segs[nseg].off = off;
                    segs[nseg++].len = len;
                    off += len;
                }
                /* swap neighbours and duplicate some, all within one step */
                for (size_t a = 0; a + 1 < nseg; a++)
                    if (rand() % 3 == 0) {
                        size_t o = segs[a].off, l = segs[a].len;

                        segs[a] = segs[a + 1];
                        segs[a + 1].off = o;
                        segs[a + 1].len = l;
                    }
                for (size_t a = 0; a < nseg; a++) {
                    int copies = rand() % 5 == 0 ? 2 : 1;

                    for (int c = 0; c < copies; c++) {
                        sg = mkseg(dir, seq[dir] + (uint32_t)segs[a].off, 0, 0, p + segs[a].off,
                                   segs[a].len, ts++);
                        tcp_segment(t, &sg);
                    }
                }
                seq[dir] += (uint32_t)n;
            }
            tcp_table_free(t);
            if (strcmp(k.ev.data ? k.ev.data : "", d->want) != 0)
                fail_msg("%s (seed %u):\nwant:\n%sgot:\n%s", d->name, seed, d->want,
                         k.ev.data ? k.ev.data : "");
            sink_free(&k);
        }
    }
}

/* A lost piece of DATA content: the next reply is the data result; a lost command line:
 * the dialogue resumes with the next command. */
static void test_smtp_gaps(void **state)
{
    static const struct {
        const char *name;
        struct step before[6];
        int gap_client;
        size_t gap_len;
        struct step after[6];
        const char *want;
    } rows[] = {
        {"gap in DATA content",
         {{S, "220 mx\r\n"},
          {C, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"},
          {S, "250 ok\r\n250 ok\r\n354 go\r\n"},
          {C, "Subject: x\r\n"}},
         1,
         500,
         {{C, "tail of the body\r\n.\r\n"}, {S, "250 2.0.0 queued as QQ1\r\n"}},
         "connect 220 h= s= r= d= q=\n"
         "mail 250 h= s=a@x r= d= q=\n"
         "rcpt 250 h= s=a@x r=b@y d= q=\n"
         "data 250 h= s=a@x r= d=2.0.0 q=QQ1\n"},
        {"gap in BDAT content is counted off the chunk",
         {{S, "220 mx\r\n"}, {C, "MAIL FROM:<a@x>\r\nBDAT 100 LAST\r\n0123456789"}},
         1,
         80,
         {{C, "0123456789RSET\r\n"}, {S, "250 ok\r\n250 2.0.0 queued as QQ2\r\n250 ok\r\n"}},
         "connect 220 h= s= r= d= q=\n"
         "mail 250 h= s=a@x r= d= q=\n"
         "data 250 h= s=a@x r= d=2.0.0 q=QQ2\n"},
        {"gap in a command: resume at the next command word",
         {{S, "220 mx\r\n"}, {C, "MAIL FROM:<a@x>\r\n"}, {S, "250 ok\r\n"}, {C, "RCPT TO:<b"}},
         1,
         20,
         {{C, "@y>\r\n"}, {S, "250 ok\r\n"}, {C, "RCPT TO:<c@y>\r\n"}, {S, "550 no\r\n"}},
         "connect 220 h= s= r= d= q=\n"
         "mail 250 h= s=a@x r= d= q=\n"
         "rcpt 550 h= s=a@x r=c@y d= q=\n"},
        {"gap in a reply: resume at the next reply line",
         {{S, "220 mx\r\n"}, {C, "EHLO c\r\n"}, {S, "250-mx\r\n250-PIPEL"}},
         0,
         30,
         {{S, "ING\r\n250 HELP\r\n"}, {C, "MAIL FROM:<a@x>\r\n"}, {S, "250 ok\r\n"}},
         "connect 220 h= s= r= d= q=\n"
         "mail 250 h=c s=a@x r= d= q=\n"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct buf out;
        struct smtp_sess *s;

        buf_init(&out);
        s = smtp_sess_create("c", "s", 0, on_emit, &out);
        for (size_t j = 0; j < ARRAY_LEN(rows[i].before) && rows[i].before[j].text; j++)
            smtp_sess_data(s, rows[i].before[j].from_client,
                           (const uint8_t *)rows[i].before[j].text, strlen(rows[i].before[j].text),
                           1);
        smtp_sess_gap(s, rows[i].gap_client, rows[i].gap_len, 2);
        for (size_t j = 0; j < ARRAY_LEN(rows[i].after) && rows[i].after[j].text; j++)
            smtp_sess_data(s, rows[i].after[j].from_client, (const uint8_t *)rows[i].after[j].text,
                           strlen(rows[i].after[j].text), 3);
        smtp_sess_end(s, 4);
        smtp_sess_free(s);
        if (strcmp(out.data ? out.data : "", rows[i].want) != 0)
            fail_msg("%s:\nwant:\n%sgot:\n%s", rows[i].name, rows[i].want,
                     out.data ? out.data : "");
        buf_free(&out);
    }
}

static void test_ports(void **state)
{
    static const struct {
        const char *in;
        int want;
    } rows[] = {
        {"25,465,587,2525", 4}, {"25", 1},      {" 25 , 587", 2}, {"", -1}, {"0", -1},
        {"70000", -1},          {"25,,26", -1}, {"25x", -1},
    };
    uint16_t ports[SNIFF_MAX_PORTS];

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++)
        if (sniff_parse_ports(rows[i].in, ports, SNIFF_MAX_PORTS) != rows[i].want)
            fail_msg("ports \"%s\": want %d", rows[i].in, rows[i].want);
    assert_int_equal(sniff_parse_ports("25,465", ports, SNIFF_MAX_PORTS), 2);
    assert_int_equal(ports[1], 465);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialogues),  cmocka_unit_test(test_smtp_gaps),
        cmocka_unit_test(test_tcp_rows),   cmocka_unit_test(test_tcp_ack_gap_and_snaplen),
        cmocka_unit_test(test_tcp_limits), cmocka_unit_test(test_tcp_smtp_segmentation),
        cmocka_unit_test(test_ports),
    };

    return cmocka_run_group_tests_name("sniff", tests, NULL, NULL);
}
