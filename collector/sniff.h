/*
 * NAME
 *	sniff - SMTP on the wire: libpcap capture, TCP reassembly, SMTP dialogue parsing
 *
 * SYNOPSIS
 *	#include "collector/sniff.h"
 *
 *	struct sniff *sniff_open_file(const char *path, const struct sniff_opts *o,
 *				      char *err, size_t errlen);
 *	struct sniff *sniff_open_live(const char *iface, const struct sniff_opts *o,
 *				      char *err, size_t errlen);
 *	int sniff_fd(struct sniff *s);
 *	int sniff_next(struct sniff *s, struct event *ev);
 *	void sniff_flush(struct sniff *s);
 *	const struct sniff_stats *sniff_stats(struct sniff *s);
 *	const char *sniff_error(struct sniff *s);
 *	void sniff_close(struct sniff *s);
 *	int sniff_drop_privileges(void);
 *	int sniff_parse_ports(const char *list, uint16_t *ports, size_t max);
 *
 *	struct tcp_table *tcp_table_create(const struct tcp_limits *l, const struct tcp_ops *ops,
 *					   void *arg);
 *	void tcp_segment(struct tcp_table *t, const struct tcp_seg *seg);
 *	void tcp_expire(struct tcp_table *t, int64_t now_us);
 *	void tcp_flush(struct tcp_table *t);
 *	const struct tcp_stats *tcp_table_stats(const struct tcp_table *t);
 *	void tcp_table_free(struct tcp_table *t);
 *
 *	struct smtp_sess *smtp_sess_create(const char *client, const char *server,
 *					   int implicit_tls, smtp_emit_fn *emit, void *arg);
 *	void smtp_sess_data(struct smtp_sess *s, int from_client, const uint8_t *p, size_t n,
 *			    int64_t ts_us);
 *	void smtp_sess_gap(struct smtp_sess *s, int from_client, size_t len, int64_t ts_us);
 *	void smtp_sess_end(struct smtp_sess *s, int64_t ts_us);
 *	void smtp_sess_free(struct smtp_sess *s);
 *
 * DESCRIPTION
 *	Three layers, each usable alone. smtp_sess_*() is a pure SMTP dialogue parser: bytes of
 *	the client and of the server stream go in, in any segmentation, and one EV_SMTP event per
 *	transaction step comes out through the emit callback (stage connect, helo, mail, rcpt,
 *	data, starttls). Commands are matched with replies in order, so PIPELINING works.
 *	smtp_sess_gap() says len bytes of one direction are missing (0: unknown). Inside BDAT
 *	content they are counted off the chunk; inside DATA content the next reply is taken as
 *	the end-of-data reply; otherwise pending commands are dropped and the dialogue resumes at
 *	the next server reply line. smtp_sess_end() reports commands
 *	still waiting for a reply (smtp_code -1) and ends the session. AUTH arguments and SASL
 *	responses are never stored. After a 220 reply to STARTTLS the session is marked tls and
 *	nothing more is parsed, unless the client's next bytes are a clear-text EHLO/HELO (a
 *	capture decrypted after the fact), which is then parsed with tls still set; an
 *	implicit-TLS session (port 465) gives one connect event with
 *	tls true.
 *
 *	tcp_*() reassembles TCP flows, both directions, and calls tcp_ops: open() when a flow
 *	starts (returns the consumer's per-flow pointer), data() with in-order bytes, gap() where
 *	bytes are missing (lost segment, snaplen cut, reassembly limit), close() once. A flow
 *	closes on RST, on FIN from both sides, after tcp_limits.timeout_us without packets
 *	(tcp_expire), when evicted to stay within max_flows, or at tcp_flush().
 *
 *	sniff_*() captures with libpcap and joins the layers. sniff_open_file() reads pcap and
 *	pcapng; sniff_open_live() opens IFACE non-promiscuous (unless o->promisc) with a BPF
 *	filter for o->ports, non-blocking. sniff_next() returns 1 and an event, 0 when there is
 *	none now (live) or no more (file: every flow is flushed at the end), -1 on a capture
 *	error (sniff_error() says which; the capture is then finished). sniff_fd() is a file
 *	descriptor to poll for input (live), -1 for a file. sniff_flush() ends every open flow;
 *	the events come from sniff_next(). sniff_drop_privileges() clears CAP_NET_RAW and
 *	CAP_NET_ADMIN after a live capture is open; 0, or -1 when they could not be cleared.
 *	sniff_parse_ports() parses "25,465,587" and returns the number of ports, -1 on bad text.
 *
 * OWNERSHIP
 *	Each create/open has its free/close. Events are copied out; no pointer outlives a call.
 *	The client/server strings passed to smtp_sess_create() are copied.
 *
 * DIAGNOSTICS
 *	Open functions return NULL and a message in err. Packet-level problems (undecodable,
 *	truncated, limits) are counted in the stats, never logged per packet.
 */
#ifndef MAILPULSE_SNIFF_H
#define MAILPULSE_SNIFF_H

#include <stddef.h>
#include <stdint.h>

#include "parser/event.h"

#define SNIFF_DEFAULT_PORTS "25,465,587,2525"
#define SNIFF_MAX_PORTS     32

/* ---- SMTP dialogue ---- */

typedef void smtp_emit_fn(void *arg, const struct event *ev);
struct smtp_sess;

struct smtp_sess *smtp_sess_create(const char *client, const char *server, int implicit_tls,
                                   smtp_emit_fn *emit, void *arg);
void smtp_sess_data(struct smtp_sess *s, int from_client, const uint8_t *p, size_t n,
                    int64_t ts_us);
void smtp_sess_gap(struct smtp_sess *s, int from_client, size_t len, int64_t ts_us);
void smtp_sess_end(struct smtp_sess *s, int64_t ts_us);
void smtp_sess_free(struct smtp_sess *s);

/* ---- TCP reassembly ---- */

struct tcp_endpoint {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    uint16_t port;
};

struct tcp_seg {
    int64_t ts_us;
    int af;                  /* 4 or 6 */
    struct tcp_endpoint src; /* the sender of this segment */
    struct tcp_endpoint dst;
    int to_server; /* 1: src is the client; 0: src is the server */
    uint32_t seq, ack;
    uint8_t flags; /* TCP_F* */
    const uint8_t *data;
    size_t caplen; /* bytes of payload captured */
    size_t len;    /* bytes of payload on the wire (> caplen when the snaplen cut it) */
};

#define TCP_FFIN 0x01
#define TCP_FSYN 0x02
#define TCP_FRST 0x04
#define TCP_FACK 0x10

struct tcp_flow_info {
    int af;
    struct tcp_endpoint client, server;
    int64_t ts_us;
};

struct tcp_ops {
    void *(*open)(void *arg, const struct tcp_flow_info *info);
    void (*data)(void *arg, void *user, int from_client, const uint8_t *p, size_t n, int64_t ts_us);
    void (*gap)(void *arg, void *user, int from_client, size_t len, int64_t ts_us);
    void (*close)(void *arg, void *user, int64_t ts_us);
};

struct tcp_limits {
    size_t max_flows;       /* open flows; the least recently active is evicted beyond */
    size_t max_queue_bytes; /* out-of-order bytes held per direction; beyond, a gap */
    int64_t timeout_us;     /* a flow without packets this long is closed */
};

struct tcp_stats {
    uint64_t segments, flows, flows_open, flows_evicted, flows_timed_out;
    uint64_t gaps, gap_bytes, retrans_bytes, ooo_segments, queue_limit_hits;
};

struct tcp_table;

struct tcp_table *tcp_table_create(const struct tcp_limits *l, const struct tcp_ops *ops,
                                   void *arg);
void tcp_segment(struct tcp_table *t, const struct tcp_seg *seg);
void tcp_expire(struct tcp_table *t, int64_t now_us);
void tcp_flush(struct tcp_table *t);
const struct tcp_stats *tcp_table_stats(const struct tcp_table *t);
void tcp_table_free(struct tcp_table *t);

/* ---- capture ---- */

struct sniff_opts {
    const char *ports;        /* "25,465,587,2525" when NULL */
    int promisc;              /* live only */
    int snaplen;              /* 0: 65535 */
    struct tcp_limits limits; /* zero fields take defaults */
};

struct sniff_stats {
    uint64_t packets, bytes, not_tcp, undecodable, snap_cut, events, sessions, tls_sessions;
    uint64_t pcap_recv, pcap_drop, pcap_ifdrop; /* live only, from pcap_stats() */
    struct tcp_stats tcp;
};

struct sniff;

struct sniff *sniff_open_file(const char *path, const struct sniff_opts *o, char *err,
                              size_t errlen);
struct sniff *sniff_open_live(const char *iface, const struct sniff_opts *o, char *err,
                              size_t errlen);
int sniff_fd(struct sniff *s);
int sniff_next(struct sniff *s, struct event *ev);
void sniff_flush(struct sniff *s);
const struct sniff_stats *sniff_stats(struct sniff *s);
const char *sniff_error(struct sniff *s);
void sniff_close(struct sniff *s);
int sniff_drop_privileges(void);
int sniff_parse_ports(const char *list, uint16_t *ports, size_t max);

#endif
