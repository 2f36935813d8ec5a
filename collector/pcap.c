/*
 * pcap - capture with libpcap, decode link/IP/TCP headers, and join TCP reassembly to the
 * SMTP dialogue parser
 *
 * Link types: Ethernet (with any number of 802.1Q/802.1ad tags), Linux cooked v1 and v2,
 * BSD loopback (NULL and LOOP), raw IP. IPv4 (fragments are counted and skipped: SMTP
 * segments are not fragmented in practice) and IPv6 (extension headers walked). The payload
 * length comes from the IP header, so Ethernet padding is ignored and a snaplen cut is
 * known and reported to the TCP layer as a gap. Events wait in a queue until sniff_next()
 * takes them. See sniff.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector/sniff.h"
#include "util/util.h"

#define DEFAULT_SNAPLEN 65535              /* a whole TCP segment, even on loopback */
#define CAPTURE_BUFFER  (32 * 1024 * 1024) /* the kernel ring: ~0.25 s of 1 Gbit/s */

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

struct sniff {
    pcap_t *pc;
    int live;
    int dlt;
    int done;   /* no more packets: end of file or a capture error */
    int failed; /* a capture error to report once from sniff_next() */
    char err[PCAP_ERRBUF_SIZE + 128];
    uint16_t ports[SNIFF_MAX_PORTS];
    int nports;
    struct tcp_table *tcp;
    struct sniff_stats st;
    struct event *q; /* ring of events waiting for sniff_next() */
    size_t qcap, qhead, qlen;
};

/* sniff_parse_ports - "25,465,587" into ports[]; the count, or -1 on bad text */
int sniff_parse_ports(const char *list, uint16_t *ports, size_t max)
{
    size_t n = 0;
    const char *p = list;

    while (*p) {
        long v = 0;
        int digits = 0;

        while (*p == ' ')
            p++;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        while (*p == ' ')
            p++;
        if (digits == 0 || v < 1 || v > 65535 || n == max || (*p && *p != ','))
            return -1;
        ports[n++] = (uint16_t)v;
        if (*p == ',')
            p++;
    }
    return n > 0 ? (int)n : -1;
}

/* ---- events and the SMTP side of the TCP callbacks ---- */

/* on_event - queue an event from the SMTP parser */
static void on_event(void *arg, const struct event *ev)
{
    struct sniff *s = arg;

    if (s->qlen == s->qcap) {
        size_t ncap = s->qcap ? s->qcap * 2 : 64;
        struct event *nq = xmalloc(ncap * sizeof(*nq));

        for (size_t i = 0; i < s->qlen; i++)
            nq[i] = s->q[(s->qhead + i) % s->qcap];
        x_free(s->q);
        s->q = nq;
        s->qcap = ncap;
        s->qhead = 0;
    }
    s->q[(s->qhead + s->qlen) % s->qcap] = *ev;
    s->qlen++;
    s->st.events++;
    if (ev->tls && (strcmp(ev->stage, "starttls") == 0 || strcmp(ev->stage, "connect") == 0))
        s->st.tls_sessions++;
}

/* format_endpoint - "192.0.2.7:25" or "[2001:db8::1]:25" */
static void format_endpoint(int af, const struct tcp_endpoint *e, char *out, size_t outlen)
{
    char a[INET6_ADDRSTRLEN];

    inet_ntop(af == 6 ? AF_INET6 : AF_INET, e->addr, a, sizeof(a));
    snprintf(out, outlen, af == 6 ? "[%s]:%u" : "%s:%u", a, (unsigned)e->port);
}

static void *cb_open(void *arg, const struct tcp_flow_info *info)
{
    struct sniff *s = arg;
    char c[EV_CLIENT_LEN], v[EV_CLIENT_LEN];

    format_endpoint(info->af, &info->client, c, sizeof(c));
    format_endpoint(info->af, &info->server, v, sizeof(v));
    s->st.sessions++;
    return smtp_sess_create(c, v, info->server.port == 465, on_event, s);
}

static void cb_data(void *arg, void *user, int from_client, const uint8_t *p, size_t n, int64_t ts)
{
    (void)arg;
    smtp_sess_data(user, from_client, p, n, ts);
}

static void cb_gap(void *arg, void *user, int from_client, size_t len, int64_t ts)
{
    (void)arg;
    smtp_sess_gap(user, from_client, len, ts);
}

static void cb_close(void *arg, void *user, int64_t ts)
{
    (void)arg;
    smtp_sess_end(user, ts);
    smtp_sess_free(user);
}

/* ---- packet decoding ---- */

/* port_index - whether a port is one of ours */
static int is_port(const struct sniff *s, uint16_t port)
{
    for (int i = 0; i < s->nports; i++)
        if (s->ports[i] == port)
            return 1;
    return 0;
}

/* decode_tcp - the TCP header and payload; cap bytes captured, wire bytes on the wire */
static void decode_tcp(struct sniff *s, struct tcp_seg *sg, const uint8_t *p, size_t cap,
                       size_t wire)
{
    size_t doff;
    int src_ours, dst_ours;

    if (cap < 20 || wire < 20) {
        s->st.undecodable++;
        return;
    }
    doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20 || doff > cap || doff > wire) {
        s->st.undecodable++;
        return;
    }
    sg->src.port = (uint16_t)(p[0] << 8 | p[1]);
    sg->dst.port = (uint16_t)(p[2] << 8 | p[3]);
    src_ours = is_port(s, sg->src.port);
    dst_ours = is_port(s, sg->dst.port);
    if (!src_ours && !dst_ours) {
        s->st.not_tcp++;
        return;
    }
    if (src_ours && dst_ours) {
        /* Both ends on SMTP ports: the lower port (then address) is the server, the same
         * for both directions. */
        int c = sg->src.port != sg->dst.port ? (sg->src.port < sg->dst.port ? -1 : 1)
                                             : memcmp(sg->src.addr, sg->dst.addr, 16);
        sg->to_server = c > 0;
    } else {
        sg->to_server = dst_ours;
    }
    sg->seq = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    sg->ack = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    sg->flags = p[13];
    sg->data = p + doff;
    sg->len = wire - doff;
    sg->caplen = cap - doff < sg->len ? cap - doff : sg->len;
    if (sg->caplen < sg->len)
        s->st.snap_cut++;
    tcp_segment(s->tcp, sg);
}

/* decode_ip - an IPv4 or IPv6 packet; wire is its length on the wire when known */
static void decode_ip(struct sniff *s, struct tcp_seg *sg, const uint8_t *p, size_t cap)
{
    if (cap < 1) {
        s->st.undecodable++;
        return;
    }
    if ((p[0] >> 4) == 4) {
        size_t ihl = (size_t)(p[0] & 15) * 4, total;

        if (cap < 20 || ihl < 20 || cap < ihl) {
            s->st.undecodable++;
            return;
        }
        total = (size_t)(p[2] << 8 | p[3]);
        if (total < ihl)
            total = cap; /* offloaded segments may carry 0 */
        if (p[9] != 6) {
            s->st.not_tcp++;
            return;
        }
        if ((p[6] & 0x20) || ((p[6] & 0x1f) | p[7])) {
            s->st.undecodable++; /* a fragment */
            return;
        }
        sg->af = 4;
        memset(sg->src.addr, 0, 16);
        memset(sg->dst.addr, 0, 16);
        memcpy(sg->src.addr, p + 12, 4);
        memcpy(sg->dst.addr, p + 16, 4);
        decode_tcp(s, sg, p + ihl, (cap < total ? cap : total) - ihl, total - ihl);
    } else if ((p[0] >> 4) == 6) {
        size_t off = 40, total;
        uint8_t nh;

        if (cap < 40) {
            s->st.undecodable++;
            return;
        }
        total = 40 + (size_t)(p[4] << 8 | p[5]);
        nh = p[6];
        while (nh != 6) {
            size_t hl;

            if (nh == 44) {
                s->st.undecodable++; /* a fragment */
                return;
            }
            if (nh != 0 && nh != 43 && nh != 60 && nh != 51) {
                s->st.not_tcp++;
                return;
            }
            if (off + 2 > cap) {
                s->st.undecodable++;
                return;
            }
            hl = nh == 51 ? ((size_t)p[off + 1] + 2) * 4 : ((size_t)p[off + 1] + 1) * 8;
            nh = p[off];
            off += hl;
        }
        if (off > cap || off > total) {
            s->st.undecodable++;
            return;
        }
        sg->af = 6;
        memcpy(sg->src.addr, p + 8, 16);
        memcpy(sg->dst.addr, p + 24, 16);
        decode_tcp(s, sg, p + off, (cap < total ? cap : total) - off, total - off);
    } else {
        s->st.undecodable++;
    }
}

/* handle_packet - one captured frame */
static void handle_packet(struct sniff *s, const struct pcap_pkthdr *h, const uint8_t *p)
{
    size_t cap = h->caplen, off;
    unsigned etype;
    struct tcp_seg sg;

    s->st.packets++;
    s->st.bytes += h->len;
    memset(&sg, 0, sizeof(sg));
    sg.ts_us = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
    switch (s->dlt) {
    case DLT_EN10MB:
        if (cap < 14)
            goto bad;
        etype = (unsigned)(p[12] << 8 | p[13]);
        off = 14;
        while (etype == 0x8100 || etype == 0x88a8 || etype == 0x9100) {
            if (cap < off + 4)
                goto bad;
            etype = (unsigned)(p[off + 2] << 8 | p[off + 3]);
            off += 4;
        }
        break;
    case DLT_LINUX_SLL:
        if (cap < 16)
            goto bad;
        etype = (unsigned)(p[14] << 8 | p[15]);
        off = 16;
        break;
    case DLT_LINUX_SLL2:
        if (cap < 20)
            goto bad;
        etype = (unsigned)(p[0] << 8 | p[1]);
        off = 20;
        break;
    case DLT_NULL:
    case DLT_LOOP: {
        /* The address family, in the byte order of the machine that wrote the file. */
        uint32_t le, be;

        if (cap < 4)
            goto bad;
        le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        be = (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
        le = le < 256 ? le : be;
        etype = le == 2 ? 0x0800 : (le == 10 || le == 24 || le == 28 || le == 30) ? 0x86dd : 0;
        off = 4;
        break;
    }
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        if (cap < 1)
            goto bad;
        etype = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
        off = 0;
        break;
    default:
        goto bad;
    }
    if (etype != 0x0800 && etype != 0x86dd) {
        s->st.not_tcp++;
        return;
    }
    decode_ip(s, &sg, p + off, cap - off);
    return;
bad:
    s->st.undecodable++;
}

/* ---- opening, reading, closing ---- */

/* dlt_supported - the link types handle_packet() decodes */
static int dlt_supported(int dlt)
{
    return dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2 || dlt == DLT_NULL ||
           dlt == DLT_LOOP || dlt == DLT_RAW || dlt == DLT_IPV4 || dlt == DLT_IPV6;
}

/* sniff_new - the parts shared by file and live capture */
static struct sniff *sniff_new(const struct sniff_opts *o, char *err, size_t errlen)
{
    struct sniff *s = xcalloc(1, sizeof(*s));
    static const struct tcp_ops ops = {cb_open, cb_data, cb_gap, cb_close};
    const char *ports = o && o->ports ? o->ports : SNIFF_DEFAULT_PORTS;

    s->nports = sniff_parse_ports(ports, s->ports, SNIFF_MAX_PORTS);
    if (s->nports < 0) {
        snprintf(err, errlen, "bad port list \"%s\" (want e.g. 25,465,587)", ports);
        x_free(s);
        return NULL;
    }
    s->tcp = tcp_table_create(o ? &o->limits : NULL, &ops, s);
    return s;
}

/* sniff_open_file - read a pcap or pcapng file */
struct sniff *sniff_open_file(const char *path, const struct sniff_opts *o, char *err,
                              size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE];
    struct sniff *s = sniff_new(o, err, errlen);

    if (s == NULL)
        return NULL;
    s->pc = pcap_open_offline(path, ebuf);
    if (s->pc == NULL) {
        snprintf(err, errlen, "%s", ebuf); /* libpcap names the file */
        sniff_close(s);
        return NULL;
    }
    s->dlt = pcap_datalink(s->pc);
    if (!dlt_supported(s->dlt)) {
        snprintf(err, errlen, "%s: link type %s is not supported", path,
                 pcap_datalink_val_to_name(s->dlt) ? pcap_datalink_val_to_name(s->dlt) : "?");
        sniff_close(s);
        return NULL;
    }
    return s;
}

/* sniff_open_live - capture on an interface, non-blocking, filtered to the SMTP ports */
struct sniff *sniff_open_live(const char *iface, const struct sniff_opts *o, char *err,
                              size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE], filter[SNIFF_MAX_PORTS * 16 + 32];
    struct bpf_program prog;
    struct sniff *s = sniff_new(o, err, errlen);
    size_t n;
    int rc;

    if (s == NULL)
        return NULL;
    s->live = 1;
    s->pc = pcap_create(iface, ebuf);
    if (s->pc == NULL) {
        snprintf(err, errlen, "%s: %s", iface, ebuf);
        sniff_close(s);
        return NULL;
    }
    pcap_set_snaplen(s->pc, o && o->snaplen > 0 ? o->snaplen : DEFAULT_SNAPLEN);
    pcap_set_promisc(s->pc, o ? o->promisc : 0);
    /* Packets come in blocks, at the latest after 100 ms: cheap, and the ring is big enough
     * for a reader that polls a few times a second (the daemon's main loop). */
    pcap_set_timeout(s->pc, 100);
    pcap_set_buffer_size(s->pc, CAPTURE_BUFFER);
    rc = pcap_activate(s->pc);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", iface,
                 rc == PCAP_ERROR ? pcap_geterr(s->pc) : pcap_statustostr(rc));
        sniff_close(s);
        return NULL;
    }
    n = (size_t)snprintf(filter, sizeof(filter), "tcp and (");
    for (int i = 0; i < s->nports; i++)
        n += (size_t)snprintf(filter + n, sizeof(filter) - n, "%sport %u", i ? " or " : "",
                              (unsigned)s->ports[i]);
    snprintf(filter + n, sizeof(filter) - n, ")");
    if (pcap_compile(s->pc, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(s->pc, &prog) != 0) {
        snprintf(err, errlen, "%s: filter \"%s\": %s", iface, filter, pcap_geterr(s->pc));
        pcap_freecode(&prog);
        sniff_close(s);
        return NULL;
    }
    pcap_freecode(&prog);
    if (pcap_setnonblock(s->pc, 1, ebuf) != 0) {
        snprintf(err, errlen, "%s: %s", iface, ebuf);
        sniff_close(s);
        return NULL;
    }
    s->dlt = pcap_datalink(s->pc);
    if (!dlt_supported(s->dlt)) {
        snprintf(err, errlen, "%s: link type %d is not supported", iface, s->dlt);
        sniff_close(s);
        return NULL;
    }
    return s;
}

/* sniff_fd - a descriptor to poll for packets (live), -1 for a file */
int sniff_fd(struct sniff *s)
{
    return s->live ? pcap_get_selectable_fd(s->pc) : -1;
}

/* sniff_next - the next event: 1, 0 none (now, or any more), -1 capture error (once) */
int sniff_next(struct sniff *s, struct event *ev)
{
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int r;

        if (s->qlen > 0) {
            *ev = s->q[s->qhead];
            s->qhead = (s->qhead + 1) % s->qcap;
            s->qlen--;
            return 1;
        }
        if (s->done) {
            if (s->failed) {
                s->failed = 0;
                return -1;
            }
            return 0;
        }
        r = pcap_next_ex(s->pc, &h, &data);
        if (r == 1) {
            handle_packet(s, h, data);
        } else if (r == 0) {
            /* live and nothing pending: let idle flows time out by the clock */
            tcp_expire(s->tcp, time_now_us());
            if (s->qlen == 0)
                return 0;
        } else {
            if (r != PCAP_ERROR_BREAK) {
                snprintf(s->err, sizeof(s->err), "%s", pcap_geterr(s->pc));
                s->failed = 1;
            }
            tcp_flush(s->tcp);
            s->done = 1;
        }
    }
}

/* sniff_flush - end every open flow; their events follow from sniff_next() */
void sniff_flush(struct sniff *s)
{
    tcp_flush(s->tcp);
}

/* sniff_stats - the counters, with libpcap's for a live capture */
const struct sniff_stats *sniff_stats(struct sniff *s)
{
    struct pcap_stat ps;

    s->st.tcp = *tcp_table_stats(s->tcp);
    if (s->live && pcap_stats(s->pc, &ps) == 0) {
        s->st.pcap_recv = ps.ps_recv;
        s->st.pcap_drop = ps.ps_drop;
        s->st.pcap_ifdrop = ps.ps_ifdrop;
    }
    return &s->st;
}

/* sniff_error - the message of the last capture error */
const char *sniff_error(struct sniff *s)
{
    return s->err;
}

/* sniff_close - end the capture; open flows are dropped without events */
void sniff_close(struct sniff *s)
{
    if (s == NULL)
        return;
    tcp_table_free(s->tcp);
    if (s->pc)
        pcap_close(s->pc);
    x_free(s->q);
    x_free(s);
}

/* sniff_drop_privileges - clear the capabilities only opening a capture needed */
int sniff_drop_privileges(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    const uint32_t drop = 1u << CAP_NET_RAW | 1u << CAP_NET_ADMIN;
    int rc = 0;

    if (syscall(SYS_capget, &hdr, d) != 0)
        return -1;
    d[0].effective &= ~drop;
    d[0].permitted &= ~drop;
    d[0].inheritable &= ~drop;
    if (syscall(SYS_capset, &hdr, d) != 0)
        rc = -1;
    /* The ambient set would hand them to a child; the bounding set would let them back. */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_RAW, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_ADMIN, 0, 0);
    prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0);
    prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0);
    return rc;
}
