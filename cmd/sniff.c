/*
 * sniff - `mailpulse sniff`: the SMTP dialogues of a capture file or a live interface as
 * NDJSON events on stdout
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "collector/sniff.h"
#include "util/util.h"

static const char usage_sniff[] =
    "usage: mailpulse sniff (-r FILE | -i IFACE) [--ports 25,465,587,2525] [--promisc]\n"
    "                       [--stats]\n"
    "\n"
    "Follow SMTP dialogues in a capture file (pcap or pcapng, -r) or live on an interface\n"
    "(-i; needs CAP_NET_RAW, which is dropped once the capture is open) and print one JSON\n"
    "event of type smtp per transaction step: the greeting, HELO, MAIL, each RCPT with its\n"
    "reply, the data result with the queue id, STARTTLS. Live capture runs until SIGINT or\n"
    "SIGTERM. --stats prints packet, flow and gap counts to stderr at the end.\n";

static volatile sig_atomic_t sniff_stop;

/* sniff_on_signal - end a live capture */
static void sniff_on_signal(int sig)
{
    (void)sig;
    sniff_stop = 1;
}

/* sniff_print_stats - the capture's counters on stderr */
static void sniff_print_stats(struct sniff *s)
{
    const struct sniff_stats *st = sniff_stats(s);

    fprintf(stderr,
            "packets %llu, bytes %llu, sessions %llu, events %llu, tls %llu, gaps %llu, "
            "retransmitted bytes %llu, out-of-order %llu, flows evicted %llu, timed out %llu, "
            "queue limit %llu, undecodable %llu, snaplen-cut %llu, other %llu, "
            "pcap received %llu, dropped %llu, ifdropped %llu\n",
            (unsigned long long)st->packets, (unsigned long long)st->bytes,
            (unsigned long long)st->sessions, (unsigned long long)st->events,
            (unsigned long long)st->tls_sessions, (unsigned long long)st->tcp.gaps,
            (unsigned long long)st->tcp.retrans_bytes, (unsigned long long)st->tcp.ooo_segments,
            (unsigned long long)st->tcp.flows_evicted, (unsigned long long)st->tcp.flows_timed_out,
            (unsigned long long)st->tcp.queue_limit_hits, (unsigned long long)st->undecodable,
            (unsigned long long)st->snap_cut, (unsigned long long)st->not_tcp,
            (unsigned long long)st->pcap_recv, (unsigned long long)st->pcap_drop,
            (unsigned long long)st->pcap_ifdrop);
}

/* sniff_drain - print the events that are ready; 0, or -1 after a capture error */
static int sniff_drain(struct sniff *s, struct buf *out)
{
    struct event ev;
    int r;

    while ((r = sniff_next(s, &ev)) == 1) {
        event_format_json(&ev, out);
        buf_putc(out, '\n');
        if (out->len >= 65536) {
            fwrite(out->data, 1, out->len, stdout);
            buf_reset(out);
        }
    }
    if (out->len > 0) {
        fwrite(out->data, 1, out->len, stdout);
        buf_reset(out);
    }
    fflush(stdout);
    if (r < 0) {
        log_warn("capture: %s", sniff_error(s));
        return -1;
    }
    return 0;
}

/* The options of sniff. */
struct sniff_cli {
    struct sniff_opts so;
    const char *file, *iface;
    int stats;
};

enum { SNIFF_PORTS = 256, SNIFF_PROMISC, SNIFF_STATS };

static const struct cmd_opt sniff_cli_opts[] = {
    {"read", 'r', CMD_ARG_REQUIRED},          {"interface", 'i', CMD_ARG_REQUIRED},
    {"ports", SNIFF_PORTS, CMD_ARG_REQUIRED}, {"promisc", SNIFF_PROMISC, CMD_ARG_NONE},
    {"stats", SNIFF_STATS, CMD_ARG_NONE},     {NULL, 0, 0},
};

/* sniff_option - cmd_options' fn for sniff */
static int sniff_option(void *ctx, int key, const char *arg)
{
    struct sniff_cli *c = ctx;

    switch (key) {
    case 'r':
        c->file = arg;
        break;
    case 'i':
        c->iface = arg;
        break;
    case SNIFF_PORTS:
        c->so.ports = arg;
        break;
    case SNIFF_PROMISC:
        c->so.promisc = 1;
        break;
    case SNIFF_STATS:
        c->stats = 1;
        break;
    default:
        return -1;
    }
    return 0;
}

/* cmd_sniff - SMTP on the wire to NDJSON on stdout */
int cmd_sniff(int argc, char **argv)
{
    struct sniff_cli c;
    char err[512];
    struct sniff *s;
    struct buf out;
    int first, rc = 0;

    memset(&c, 0, sizeof(c));
    first = cmd_options(argc, argv, sniff_cli_opts, usage_sniff, sniff_option, &c, 0);
    if (first < 0)
        return first == CMD_HELP ? 0 : 2;
    if ((c.file == NULL) == (c.iface == NULL) || first < argc) {
        fputs(usage_sniff, stderr);
        return 2;
    }
    s = c.file ? sniff_open_file(c.file, &c.so, err, sizeof(err))
               : sniff_open_live(c.iface, &c.so, err, sizeof(err));
    if (s == NULL) {
        log_error("%s", err);
        return 1;
    }
    buf_init(&out);
    if (c.file) {
        rc = sniff_drain(s, &out) == 0 ? 0 : 1;
    } else {
        struct sigaction sa;

        if (sniff_drop_privileges() != 0)
            log_warn("capture: could not drop CAP_NET_RAW after opening %s", c.iface);
        log_info("capturing SMTP on %s", c.iface);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = sniff_on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        while (!sniff_stop && rc == 0) {
            struct pollfd pfd = {sniff_fd(s), POLLIN, 0};

            poll(&pfd, 1, 200);
            rc = sniff_drain(s, &out) == 0 ? 0 : 1;
        }
        sniff_flush(s);
        if (sniff_drain(s, &out) != 0)
            rc = 1;
    }
    if (c.stats)
        sniff_print_stats(s);
    buf_free(&out);
    sniff_close(s);
    return rc;
}
