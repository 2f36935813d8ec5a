/*
 * NAME
 *	genlog - a deterministic generator of a large, realistic Postfix log
 *
 * SYNOPSIS
 *	genlog [--messages N] [--seed S] [--start 2026-11-01T00:00:00Z] [--rfc3339] [--hosts K]
 *	       [--rate R]
 *
 * DESCRIPTION
 *	Writes to stdout the log a busy Postfix relay would write while it accepts N messages:
 *	smtpd connect/client=/disconnect, cleanup message-id=, qmgr from=/removed, one delivery
 *	line per recipient and attempt (smtp, lmtp, local), deferrals retried with back-off,
 *	hard bounces followed by a bounce notice (bounce + the notice's own queue life), messages
 *	that expire ("status=expired, returned to sender"), NOQUEUE rejects at RCPT, and the noise
 *	a real log has (TLS lines, anvil, postscreen). Messages overlap in time as on a busy
 *	server: all lines go through one time-ordered heap, so the output is sorted by time and
 *	the lines of many messages interleave.
 *
 *	The same options give the same bytes. Times start at --start (UTC) and advance with
 *	arrivals every 1/R seconds on average (R, default 40 messages per second). RFC 3164
 *	stamps ("Nov  1 00:00:01") are written in UTC wall-clock time, so read the log with
 *	TZ=UTC; --rfc3339 writes "2026-11-01T00:00:01.123456+00:00" instead. --hosts K spreads the
 *	messages over K server names (mx1..mxK) with their own pids and queue ids.
 *
 *	The planned mix per recipient: ~84% sent at once, ~7% deferred then sent, ~6% bounced
 *	(some after deferrals), ~1% expired; 2% of messages go to a local mailbox, some via LMTP.
 *	About one NOQUEUE reject per 16 messages. Expired messages use a queue lifetime of 3 h
 *	(Postfix's default is 5 days), so they finish inside a log of a few hours.
 *
 *	Output is fully deterministic and uses only libc; memory is bounded by the number of
 *	messages in flight (deferred ones live up to the queue lifetime), not by N.
 *
 * DIAGNOSTICS
 *	Bad options: a one-line message on stderr and exit status 2. --help prints the usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RCPT       8
#define US             ((int64_t)1000000)
#define QUEUE_LIFETIME (3 * 3600 * US)

/* ---- deterministic randomness ------------------------------------------------------------ */

static uint64_t rng_state;

/* rng_next - splitmix64: fast, good enough, and the same everywhere */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* rng_below - a uniform integer in [0, n) */
static uint32_t rng_below(uint32_t n)
{
    return (uint32_t)(((rng_next() >> 32) * (uint64_t)n) >> 32);
}

/* rng_unit - a uniform double in [0, 1) */
static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0;
}

/* rng_exp - an exponential variate with the given mean */
static double rng_exp(double mean)
{
    return -mean * log(1.0 - rng_unit());
}

/* ---- the world: domains, relays, replies --------------------------------------------------- */

enum outcome { OUT_SENT, OUT_DEFER_SENT, OUT_BOUNCE, OUT_DEFER_BOUNCE, OUT_EXPIRE };

struct domain {
    const char *name;
    unsigned weight;
    const char *relay;  /* "name[ip]:port" */
    const char *mxname; /* for "host X said:" */
    const char *sent;   /* the 250 reply */
    const char *bounce; /* "dsn|text" of a hard failure (with "host .. said:" added) */
    const char *defer;  /* "dsn|text" of a temporary failure */
    const char *bounce_cmd;
    const char *defer_cmd; /* the command replied to, or NULL for a connection-level text */
};

/* Replies as real servers give them; multi-line replies are joined with spaces, as Postfix
 * logs them. */
static const struct domain domains[] = {
    {"gmail.com", 30, "gmail-smtp-in.l.google.com[142.250.102.27]:25",
     "gmail-smtp-in.l.google.com[142.250.102.27]",
     "250 2.0.0 OK  1764547200 a640c23a62f3a-b7a1f0c1d2esi1234567966b.123 - gsmtp",
     "5.1.1|550-5.1.1 The email account that you tried to reach does not exist. Please try "
     "550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 "
     "unnecessary spaces. For more information, go to 550 5.1.1  "
     "https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-b7a1si966b.456 - gsmtp",
     "4.2.1|450-4.2.1 The user you are trying to contact is receiving mail too quickly. "
     "Please 450-4.2.1 resend your message at a later time. For more information, go to "
     "450 4.2.1  https://support.google.com/mail/?p=ReceivingRate a640c23a62si966b.78 - gsmtp",
     "RCPT TO", "RCPT TO"},
    {"outlook.com", 12, "outlook-com.olc.protection.outlook.com[52.101.68.6]:25",
     "outlook-com.olc.protection.outlook.com[52.101.68.6]",
     "250 2.6.0 <MSGID> [InternalId=9019431216134, Hostname=AM9P193MB1234.EURP193.PROD."
     "OUTLOOK.COM] 21486 bytes in 0.182, 114.732 KB/sec Queued mail for delivery",
     "5.5.0|550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
     "[AM4PEPF00027A5F.eurprd04.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD0A1B2C3D4E5F]",
     "4.7.650|451 4.7.650 The mail server [198.51.100.25] has been temporarily rate limited "
     "due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster "
     "(S775) [Name=Protocol Filter Agent][AGT=PFA][MxId=11BA1C2D3E4F5A6B] "
     "[DB5PEPF00014B8F.eurprd02.prod.outlook.com 2026-11-01T00:00:00.000Z 08DD0A1B2C3D4E5F]",
     "RCPT TO", "MAIL FROM"},
    {"hotmail.com", 6, "hotmail-com.olc.protection.outlook.com[52.101.73.31]:25",
     "hotmail-com.olc.protection.outlook.com[52.101.73.31]",
     "250 2.6.0 <MSGID> [InternalId=2783138594912, Hostname=PAXP193MB2056.EURP193.PROD."
     "OUTLOOK.COM] 19003 bytes in 0.120, 154.421 KB/sec Queued mail for delivery",
     "5.2.2|552 5.2.2 Requested action not taken: mailbox full (S2017062303). "
     "[VI1EUR04FT050.eop-eur04.prod.protection.outlook.com]",
     "4.7.650|451 4.7.650 The mail server [198.51.100.25] has been temporarily rate limited "
     "due to IP reputation. (S775)",
     "RCPT TO", "MAIL FROM"},
    {"yahoo.com", 8, "mta6.am0.yahoodns.net[67.195.204.77]:25",
     "mta6.am0.yahoodns.net[67.195.204.77]", "250 ok dirdel",
     "5.0.0|554 delivery error: dd This user doesn't have a yahoo.com account (RCPT) [0] - "
     "mta4020.mail.gq1.yahoo.com",
     "4.7.0|421 4.7.0 [TSS04] Messages from 198.51.100.25 temporarily deferred due to "
     "unexpected volume or user complaints - 4.16.55.1; see "
     "https://postmaster.yahooinc.com/error-codes",
     "end of DATA", "MAIL FROM"},
    {"gmx.de", 5, "mx00.emig.gmx.net[212.227.15.9]:25", "mx00.emig.gmx.net[212.227.15.9]",
     "250 Requested mail action okay, completed: id=1MfYv3-1tFHo93rBj-00gRzT",
     "5.1.1|550 Requested action not taken: mailbox unavailable",
     "4.7.1|421 gmx.net (mxgmx017) Nemesis ESMTP Service not available No SMTP service Bad "
     "DNS PTR resource record. For explanation visit https://postmaster.gmx.net/en/case?c=r0601",
     "RCPT TO", NULL},
    {"web.de", 4, "mx-ha02.web.de[212.227.17.8]:25", "mx-ha02.web.de[212.227.17.8]",
     "250 Requested mail action okay, completed: id=1N0Ipm-1sq6Kb2F8S-00x6Tq",
     "5.1.1|550 Requested action not taken: mailbox unavailable",
     "4.2.2|452 4.2.2 Requested mail action aborted: exceeded storage allocation", "RCPT TO",
     "RCPT TO"},
    {"seznam.cz", 4, "mx1.seznam.cz[77.75.78.42]:25", "mx1.seznam.cz[77.75.78.42]",
     "250 2.0.0 Mail 631227068 queued for delivery in session d6600000008.",
     "5.1.1|550 5.1.1 Sorry, no mailbox here by that name. (#5.1.1)",
     "4.7.1|450 4.7.1 Error: too much mail from 198.51.100.25", "RCPT TO", "MAIL FROM"},
    {"corp-a.example", 6, "mx.corp-a.example[198.51.100.40]:25", "mx.corp-a.example[198.51.100.40]",
     "250 2.0.0 Ok: queued as 4ZxY2l3Xr9z1",
     "5.1.1|550 5.1.1 <RCPT>: Recipient address rejected: User unknown in virtual mailbox "
     "table",
     "4.4.1|connect to mx.corp-a.example[198.51.100.40]:25: Connection refused", "RCPT TO", NULL},
    {"corp-b.example", 5, "mail.corp-b.example[203.0.113.80]:25",
     "mail.corp-b.example[203.0.113.80]",
     "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3F2A1B2C9D",
     "5.7.1|554 5.7.1 <RCPT>: Recipient address rejected: Access denied",
     "4.4.2|lost connection with mail.corp-b.example[203.0.113.80] while receiving the initial "
     "server greeting",
     "RCPT TO", NULL},
    {"corp-c.example", 4, "smtp.corp-c.example[192.0.2.61]:25", "smtp.corp-c.example[192.0.2.61]",
     "250 2.0.0 Ok: queued as 9C1B25E0A7",
     "5.2.2|552 5.2.2 <RCPT>: Recipient address rejected: Mailbox full (quota exceeded)",
     "4.7.5|Cannot start TLS: handshake failure", "RCPT TO", NULL},
    {"uni-d.example", 3, "mx2.uni-d.example[192.0.2.133]:25", "mx2.uni-d.example[192.0.2.133]",
     "250 2.0.0 Ok: queued as 4Jk9Xw1Tq0z3mP7",
     "5.7.1|550 5.7.1 Message rejected as spam by Content Filtering.",
     "4.2.0|450 4.2.0 <RCPT>: Recipient address rejected: Greylisted, see "
     "http://postgrey.schweikert.ch/help/uni-d.example.html",
     "end of DATA", "RCPT TO"},
    {"gone-e.example", 1, "none", "", "",
     "5.4.4|Host or domain name not found. Name service error for name=gone-e.example type=A: "
     "Host not found",
     "4.4.3|Host or domain name not found. Name service error for name=gone-e.example type=MX: "
     "Host not found, try again",
     NULL, NULL},
};

/* Our own domain: local deliveries and bounce notices to local senders go here. */
static const char *const local_domain = "relay.example.net";

static const char *const first_names[] = {
    "anna", "bob",   "carla",  "dave",  "erik", "fatima", "georg", "hana",   "ivan",
    "jana", "karel", "lena",   "marek", "nina", "oskar",  "petra", "quinn",  "radek",
    "sara", "tomas", "ursula", "vera",  "wim",  "xenia",  "yusuf", "zuzana",
};
static const char *const last_names[] = {
    "novak",  "svoboda",  "muller",  "schmidt", "smith", "jones",  "garcia", "rossi",
    "dubois", "kowalski", "nielsen", "horvat",  "silva", "tanaka", "okafor", "larsen",
};
static const char *const senders[] = {
    "newsletter@shop.example",  "noreply@app.example",       "billing@saas.example",
    "alerts@monitor.example",   "info@relay.example.net",    "jobs@relay.example.net",
    "support@helpdesk.example", "bounce-7731@lists.example", "orders@store.example",
};
static const char *const clients[] = {
    "app1.relay.example.net[10.0.0.11]", "app2.relay.example.net[10.0.0.12]",
    "web.relay.example.net[10.0.0.21]",  "localhost[127.0.0.1]",
    "lists.example[192.0.2.200]",        "client.example.com[89.247.252.52]",
};
struct reject_kind {
    const char *client;
    const char *text; /* <RCPT> stands for the recipient */
    const char *helo;
};
static const struct reject_kind rejects[] = {
    {"unknown[203.0.113.7]", "554 5.7.1 <RCPT>: Relay access denied", "User"},
    {"unknown[198.18.0.91]",
     "450 4.7.1 Client host rejected: cannot find your reverse hostname, [198.18.0.91]", "ylmf-pc"},
    {"mail.spamhost.example[192.0.2.250]",
     "554 5.7.1 Service unavailable; Client host [192.0.2.250] blocked using zen.spamhaus.org; "
     "https://www.spamhaus.org/query/ip/192.0.2.250",
     "mail.spamhost.example"},
    {"mx.partner.example[198.51.100.77]",
     "550 5.1.1 <RCPT>: Recipient address rejected: User unknown in local recipient table",
     "mx.partner.example"},
    {"unknown[203.0.113.66]", "450 4.7.1 <RCPT>: Recipient address rejected: Greylisted",
     "[203.0.113.66]"},
};

/* ---- messages and the time-ordered heap ---------------------------------------------------- */

enum step {
    S_CONNECT,
    S_CLIENT,
    S_CLEANUP,
    S_QMGR_FROM,
    S_DISCONNECT,
    S_ROUND,
    S_BOUNCE,
    S_REMOVED,
    S_REJECT,
};

struct rcpt {
    char addr[80];
    uint8_t dom; /* index into domains, or 255 for a local mailbox */
    uint8_t outcome;
    uint8_t defers_left;
    uint8_t done;
    uint8_t lmtp;
};

struct msg {
    char qid[16];
    char sender[80];
    char msgid[96];
    unsigned host;
    unsigned client;
    unsigned smtpd_pid;
    int64_t t0; /* arrival, microseconds */
    int64_t size;
    unsigned nrcpt;
    struct rcpt rcpt[MAX_RCPT];
    unsigned notice;  /* 1: a bounce notice (from=<>) */
    unsigned bounces; /* recipients bounced in the last round, waiting for the notice */
    unsigned expired; /* the message expired in the last round */
    unsigned round;
    unsigned reject; /* index into rejects for an S_REJECT pseudo message */
    uint32_t next_free;
};

struct item {
    int64_t t;
    uint64_t seq;
    uint32_t slot;
    uint32_t step;
};

static struct msg *pool;
static uint32_t pool_len, pool_cap, pool_free;
static struct item *heap;
static size_t heap_len, heap_cap;
static uint64_t seq_counter;

/* msg_new - a zeroed message slot; slots are reused once a message is done */
static uint32_t msg_new(void)
{
    uint32_t s;

    if (pool_free != 0) {
        s = pool_free - 1;
        pool_free = pool[s].next_free;
    } else {
        if (pool_len == pool_cap) {
            pool_cap = pool_cap ? pool_cap * 2 : 1024;
            pool = realloc(pool, pool_cap * sizeof(*pool));
            if (pool == NULL) {
                perror("genlog");
                exit(1);
            }
        }
        s = pool_len++;
    }
    memset(&pool[s], 0, sizeof(pool[s]));
    return s;
}

/* msg_release - put a slot back on the free list */
static void msg_release(uint32_t s)
{
    pool[s].next_free = pool_free;
    pool_free = s + 1;
}

/* item_less - heap order: time, then insertion order */
static int item_less(const struct item *a, const struct item *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

/* heap_push - schedule a step of a message */
static void heap_push(int64_t t, uint32_t slot, enum step step)
{
    size_t i;

    if (heap_len == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 4096;
        heap = realloc(heap, heap_cap * sizeof(*heap));
        if (heap == NULL) {
            perror("genlog");
            exit(1);
        }
    }
    i = heap_len++;
    heap[i] = (struct item){t, seq_counter++, slot, (uint32_t)step};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        struct item tmp;

        if (!item_less(&heap[i], &heap[up]))
            break;
        tmp = heap[i];
        heap[i] = heap[up];
        heap[up] = tmp;
        i = up;
    }
}

/* heap_pop - the earliest scheduled step */
static struct item heap_pop(void)
{
    struct item top = heap[0];
    size_t i = 0;

    heap[0] = heap[--heap_len];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        struct item tmp;

        if (l < heap_len && item_less(&heap[l], &heap[m]))
            m = l;
        if (r < heap_len && item_less(&heap[r], &heap[m]))
            m = r;
        if (m == i)
            break;
        tmp = heap[i];
        heap[i] = heap[m];
        heap[m] = tmp;
        i = m;
    }
    return top;
}

/* ---- output -------------------------------------------------------------------------------- */

static int opt_rfc3339;
static unsigned opt_hosts = 1;
static char outbuf[1 << 16];
static uint64_t queue_counter;

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* line_start - print the syslog envelope of one line: stamp, host, program[pid]: */
static void line_start(int64_t t, unsigned host, const char *prog, unsigned pid)
{
    static int64_t last_t;
    time_t secs;
    struct tm tm;

    /* a step may log a few lines a little later than its own time; keep the log sorted */
    if (t < last_t)
        t = last_t;
    last_t = t;
    secs = (time_t)(t / US);

    gmtime_r(&secs, &tm);
    if (opt_rfc3339)
        printf("%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00 ", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % US));
    else
        printf("%s %2d %02d:%02d:%02d ", months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
               tm.tm_sec);
    printf("mx%u postfix/%s[%u]: ", host + 1, prog, pid);
}

/* pretty_delay - a delay the way Postfix writes it: two significant digits, no exponent */
static void pretty_delay(double v, char *out, size_t len)
{
    if (v < 0.005)
        snprintf(out, len, "0");
    else if (v < 0.1)
        snprintf(out, len, "%.2f", v);
    else if (v < 1)
        snprintf(out, len, "%.2g", v);
    else if (v < 10)
        snprintf(out, len, "%.1f", v);
    else
        snprintf(out, len, "%.0f", v);
    /* "1.0" -> "1", "0.50" -> "0.5" */
    if (strchr(out, '.') != NULL) {
        size_t n = strlen(out);

        while (n > 0 && out[n - 1] == '0')
            out[--n] = 0;
        if (n > 0 && out[n - 1] == '.')
            out[--n] = 0;
    }
}

/* pid_of - a stable-looking pid for a program on a host, varying over time like a pool */
static unsigned pid_of(unsigned host, unsigned base, unsigned spread)
{
    return 1000 + host * 7919 % 20000 + base + rng_below(spread);
}

/* new_qid - an 11-digit hex queue id, unique over the run (a bijection of a counter) */
static void new_qid(char *out)
{
    uint64_t x = (++queue_counter * 0x9E3779B97F4A7C15ULL) & ((1ULL << 44) - 1);

    snprintf(out, 16, "%011" PRIX64, x);
}

/* ---- planning a message -------------------------------------------------------------------- */

static unsigned domain_weight_total;

/* pick_domain - a recipient domain by weight */
static unsigned pick_domain(void)
{
    uint32_t w = rng_below(domain_weight_total);
    unsigned i;

    for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
        if (w < domains[i].weight)
            return i;
        w -= domains[i].weight;
    }
    return 0;
}

/* plan_message - a fresh accepted message with its recipients and their fates */
static void plan_message(uint32_t s, int64_t t)
{
    struct msg *m = &pool[s];
    uint32_t r = rng_below(100);
    unsigned i;

    new_qid(m->qid);
    m->host = rng_below(opt_hosts);
    m->client = rng_below(sizeof(clients) / sizeof(clients[0]));
    m->smtpd_pid = pid_of(m->host, 3000, 900);
    m->t0 = t;
    m->size = 1200 + (int64_t)rng_exp(24000);
    snprintf(m->sender, sizeof(m->sender), "%s",
             senders[rng_below(sizeof(senders) / sizeof(senders[0]))]);
    snprintf(m->msgid, sizeof(m->msgid), "<%" PRIx64 ".%s@%s>",
             (uint64_t)(rng_next() & 0xffffffffffffULL), m->qid, strchr(m->sender, '@') + 1);
    m->nrcpt = r < 45 ? 1 : r < 65 ? 2 : r < 80 ? 3 : r < 90 ? 4 : 5 + rng_below(MAX_RCPT - 4);
    for (i = 0; i < m->nrcpt; i++) {
        struct rcpt *rc = &m->rcpt[i];
        uint32_t o = rng_below(1000);
        const char *fn = first_names[rng_below(sizeof(first_names) / sizeof(first_names[0]))];
        const char *ln = last_names[rng_below(sizeof(last_names) / sizeof(last_names[0]))];

        if (rng_below(100) < 2) {
            rc->dom = 255;
            rc->lmtp = rng_below(2);
            snprintf(rc->addr, sizeof(rc->addr), "%s@%s", fn, local_domain);
        } else {
            rc->dom = (uint8_t)pick_domain();
            snprintf(rc->addr, sizeof(rc->addr), "%s.%s%u@%s", fn, ln, rng_below(100),
                     domains[rc->dom].name);
        }
        if (rc->dom != 255 && strcmp(domains[rc->dom].relay, "none") == 0)
            o = 900 + rng_below(100); /* a dead domain never delivers */
        if (o < 840) {
            rc->outcome = OUT_SENT;
        } else if (o < 910) {
            rc->outcome = OUT_DEFER_SENT;
            rc->defers_left = 1 + rng_below(3);
        } else if (o < 955) {
            rc->outcome = OUT_BOUNCE;
        } else if (o < 970) {
            rc->outcome = OUT_DEFER_BOUNCE;
            rc->defers_left = 1 + rng_below(2);
        } else if (o < 980) {
            rc->outcome = OUT_EXPIRE;
            rc->defers_left = 255;
        } else {
            rc->outcome = OUT_SENT;
        }
        if (rc->dom == 255 && rc->outcome != OUT_SENT)
            rc->outcome = OUT_SENT, rc->defers_left = 0;
    }
}

/* plan_notice - the bounce notice for message s, returned to its sender */
static uint32_t plan_notice(uint32_t s, int64_t t)
{
    uint32_t n = msg_new();
    struct msg *m = &pool[s], *nm = &pool[n];

    new_qid(nm->qid);
    nm->notice = 1;
    nm->host = m->host;
    nm->t0 = t;
    nm->size = 2800 + rng_below(3000) + m->size / 20;
    nm->sender[0] = 0;
    snprintf(nm->msgid, sizeof(nm->msgid), "<%" PRId64 ".%s@mx%u.%s>", t / US, nm->qid, m->host + 1,
             local_domain);
    nm->nrcpt = 1;
    snprintf(nm->rcpt[0].addr, sizeof(nm->rcpt[0].addr), "%s", m->sender);
    nm->rcpt[0].dom = 255;
    nm->rcpt[0].outcome = OUT_SENT;
    nm->rcpt[0].lmtp = strstr(m->sender, local_domain) != NULL ? 1 : 2;
    return n;
}

/* subst_rcpt - copy a reply template, with "<RCPT>" replaced by <addr> */
static void subst_rcpt(char *out, size_t len, const char *tmpl, const char *addr)
{
    const char *rp = strstr(tmpl, "<RCPT>");

    if (rp != NULL)
        snprintf(out, len, "%.*s<%s>%s", (int)(rp - tmpl), tmpl, addr, rp + 6);
    else
        snprintf(out, len, "%s", tmpl);
}

/* ---- emitting the steps -------------------------------------------------------------------- */

/* emit_delivery - one delivery line for recipient rc of message m at time t */
static void emit_delivery(struct msg *m, struct rcpt *rc, int64_t t, int final)
{
    double d_queue = (double)(t - m->t0) / US;
    double d_conn = rng_exp(0.3), d_xfer = rng_exp(0.2), d_mgr = rng_exp(0.003);
    double total = d_queue + d_mgr + d_conn + d_xfer;
    char delay[16], dq[16], dm[16], dc[16], dx[16];
    const struct domain *d = rc->dom == 255 ? NULL : &domains[rc->dom];
    const char *prog, *relay, *dsn, *status;
    char reply[768], relaybuf[128];

    pretty_delay(total, delay, sizeof(delay));
    pretty_delay(d_queue, dq, sizeof(dq));
    pretty_delay(d_mgr, dm, sizeof(dm));
    pretty_delay(d_conn, dc, sizeof(dc));
    pretty_delay(d_xfer, dx, sizeof(dx));

    if (d == NULL) {
        /* local mailbox: local(8), or LMTP to Dovecot; bounce notices to outside senders
         * leave by smtp through the relay of their sender's domain */
        if (rc->lmtp == 2) {
            prog = "smtp";
            snprintf(relaybuf, sizeof(relaybuf), "mx.%s[192.0.2.45]:25", strchr(rc->addr, '@') + 1);
            relay = relaybuf;
            snprintf(reply, sizeof(reply), "250 2.0.0 Ok: queued as 7B3C%07X", rng_below(1u << 28));
        } else if (rc->lmtp) {
            prog = "lmtp";
            relay = "mail.relay.example.net[private/dovecot-lmtp]";
            snprintf(reply, sizeof(reply), "250 2.0.0 <%s> IkiQKTt+117kJgAAWP5Hkg Saved", rc->addr);
        } else {
            prog = "local";
            relay = "local";
            snprintf(reply, sizeof(reply), "delivered to mailbox");
        }
        line_start(t, m->host, prog, pid_of(m->host, 9000, 200));
        printf("%s: to=<%s>, relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=2.0.0, status=sent (%s)\n",
               m->qid, rc->addr, relay, delay, dq, dm, dc, dx, reply);
        return;
    }

    if (final && (rc->outcome == OUT_SENT || rc->outcome == OUT_DEFER_SENT)) {
        const char *p = strstr(d->sent, "<MSGID>");

        dsn = "2.0.0";
        status = "sent";
        if (p != NULL)
            snprintf(reply, sizeof(reply), "%.*s%s%s", (int)(p - d->sent), d->sent, m->msgid,
                     p + 7);
        else
            snprintf(reply, sizeof(reply), "%s", d->sent);
    } else {
        const char *spec = final ? d->bounce : d->defer;
        const char *bar = strchr(spec, '|');
        const char *cmd = final ? d->bounce_cmd : d->defer_cmd;
        const char *text = bar + 1;
        static char dsnbuf[16];
        char body[640];

        snprintf(dsnbuf, sizeof(dsnbuf), "%.*s", (int)(bar - spec), spec);
        dsn = dsnbuf;
        status = final ? "bounced" : "deferred";
        subst_rcpt(body, sizeof(body), text, rc->addr);
        if (cmd != NULL)
            snprintf(reply, sizeof(reply), "host %s said: %s (in reply to %s command)", d->mxname,
                     body, cmd);
        else
            snprintf(reply, sizeof(reply), "%s", body);
    }
    relay = d->relay;
    if (strcmp(d->relay, "none") == 0 ||
        (strcmp(status, "sent") != 0 &&
         (strncmp(reply, "connect to", 10) == 0 || strncmp(reply, "Host or", 7) == 0)))
        relay = "none";
    prog = "smtp";
    line_start(t, m->host, prog, pid_of(m->host, 5000, 2000));
    printf("%s: to=<%s>, relay=%s, %sdelay=%s, delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)\n",
           m->qid, rc->addr, relay, rng_below(4) == 0 ? "conn_use=2, " : "", delay, dq, dm, dc, dx,
           dsn, status, reply);
}

/* run_step - print what one scheduled step of a message logs, and schedule what follows */
static void run_step(struct item it)
{
    struct msg *m = &pool[it.slot];
    int64_t t = it.t;
    unsigned qmgr_pid = 700 + m->host * 13;

    switch ((enum step)it.step) {
    case S_REJECT: {
        const struct reject_kind *rk = &rejects[m->reject];
        char text[400];

        line_start(t, m->host, "smtpd", m->smtpd_pid);
        if (m->round == 0) {
            printf("connect from %s\n", rk->client);
        } else if (m->round == 1) {
            subst_rcpt(text, sizeof(text), rk->text, m->rcpt[0].addr);
            printf("NOQUEUE: reject: RCPT from %s: %s; from=<%s> to=<%s> proto=ESMTP "
                   "helo=<%s>\n",
                   rk->client, text, m->sender, m->rcpt[0].addr, rk->helo);
        } else {
            printf("disconnect from %s ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4\n", rk->client);
            msg_release(it.slot);
            return;
        }
        m->round++;
        heap_push(t + 50000 + rng_below(200000), it.slot, S_REJECT);
        return;
    }
    case S_CONNECT:
        line_start(t, m->host, "smtpd", m->smtpd_pid);
        printf("connect from %s\n", clients[m->client]);
        if (m->client >= 4) {
            line_start(t, m->host, "smtpd", m->smtpd_pid);
            printf("Anonymous TLS connection established from %s: TLSv1.3 with cipher "
                   "TLS_AES_256_GCM_SHA384 (256/256 bits)\n",
                   clients[m->client]);
        }
        heap_push(t + 20000 + rng_below(80000), it.slot, S_CLIENT);
        return;
    case S_CLIENT:
        line_start(t, m->host, "smtpd", m->smtpd_pid);
        if (m->client == 5)
            printf("%s: client=%s, sasl_method=PLAIN, sasl_username=%s\n", m->qid,
                   clients[m->client], m->sender);
        else
            printf("%s: client=%s\n", m->qid, clients[m->client]);
        heap_push(t + 5000 + rng_below(50000), it.slot, S_CLEANUP);
        return;
    case S_CLEANUP:
        line_start(t, m->host, "cleanup", pid_of(m->host, 4000, 300));
        printf("%s: message-id=%s\n", m->qid, m->msgid);
        if (m->notice) {
            heap_push(t + 1000 + rng_below(5000), it.slot, S_QMGR_FROM);
            return;
        }
        heap_push(t + 2000 + rng_below(20000), it.slot, S_QMGR_FROM);
        heap_push(t + 30000 + rng_below(100000), it.slot, S_DISCONNECT);
        return;
    case S_DISCONNECT:
        line_start(t, m->host, "smtpd", m->smtpd_pid);
        printf("disconnect from %s ehlo=1 mail=1 rcpt=%u data=1 quit=1 commands=%u\n",
               clients[m->client], m->nrcpt, m->nrcpt + 4);
        return;
    case S_QMGR_FROM:
        line_start(t, m->host, "qmgr", qmgr_pid);
        printf("%s: from=<%s>, size=%" PRId64 ", nrcpt=%u (queue active)\n", m->qid, m->sender,
               m->size, m->nrcpt);
        heap_push(t + 50000 + (int64_t)(rng_exp(0.8) * US), it.slot, S_ROUND);
        return;
    case S_ROUND: {
        unsigned i, pending = 0;
        int expire = t - m->t0 >= QUEUE_LIFETIME;
        int64_t tt = t;

        m->bounces = 0;
        for (i = 0; i < m->nrcpt; i++) {
            struct rcpt *rc = &m->rcpt[i];

            if (rc->done)
                continue;
            if (rc->outcome == OUT_EXPIRE && expire) {
                rc->done = 1;
                m->expired = 1;
                continue;
            }
            if (rc->defers_left > 0) {
                if (rc->defers_left != 255)
                    rc->defers_left--;
                emit_delivery(m, rc, tt, 0);
                pending++;
            } else {
                emit_delivery(m, rc, tt, 1);
                rc->done = 1;
                if (rc->outcome == OUT_BOUNCE || rc->outcome == OUT_DEFER_BOUNCE)
                    m->bounces++;
            }
            tt += rng_below(40000);
        }
        if (m->expired) {
            line_start(tt, m->host, "qmgr", qmgr_pid);
            printf("%s: from=<%s>, status=expired, returned to sender\n", m->qid, m->sender);
        }
        if ((m->bounces || m->expired) && !m->notice && m->sender[0] != 0) {
            heap_push(tt + 1000 + rng_below(20000), it.slot, S_BOUNCE);
        } else if (pending == 0) {
            heap_push(tt + 500 + rng_below(3000), it.slot, S_REMOVED);
        }
        if (pending != 0) {
            /* Postfix backs off: 5 min, then doubling, up to about an hour */
            int64_t backoff = (300LL << (m->round < 4 ? m->round : 4)) * US;

            m->round++;
            heap_push(tt + backoff + rng_below(60 * US), it.slot, S_QMGR_FROM);
        }
        return;
    }
    case S_BOUNCE: {
        uint32_t n = plan_notice(it.slot, t);
        unsigned pending = 0, i;

        m = &pool[it.slot]; /* plan_notice may have moved the pool */
        heap_push(t, n, S_CLEANUP);
        line_start(t + 2000, m->host, "bounce", pid_of(m->host, 6000, 100));
        printf("%s: sender non-delivery notification: %s\n", m->qid, pool[n].qid);
        for (i = 0; i < m->nrcpt; i++)
            pending += !m->rcpt[i].done;
        if (pending == 0)
            heap_push(t + 3000 + rng_below(3000), it.slot, S_REMOVED);
        return;
    }
    case S_REMOVED:
        line_start(t, m->host, "qmgr", qmgr_pid);
        printf("%s: removed\n", m->qid);
        msg_release(it.slot);
        return;
    }
}

/* noise - a line a busy server logs that is not about any message's delivery */
static void noise(int64_t t)
{
    unsigned host = rng_below(opt_hosts);
    uint32_t k = rng_below(4);

    if (k == 0) {
        line_start(t, host, "postscreen", pid_of(host, 2000, 10));
        printf("CONNECT from [203.0.113.%u]:%u to [198.51.100.25]:25\n", rng_below(250) + 1,
               40000 + rng_below(20000));
    } else if (k == 1) {
        line_start(t, host, "postscreen", pid_of(host, 2000, 10));
        printf("PASS OLD [192.0.2.%u]:%u\n", rng_below(250) + 1, 40000 + rng_below(20000));
    } else if (k == 2) {
        line_start(t, host, "smtp", pid_of(host, 5000, 2000));
        printf("Trusted TLS connection established to gmail-smtp-in.l.google.com"
               "[142.250.102.27]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
               "key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256\n");
    } else {
        line_start(t, host, "anvil", pid_of(host, 100, 10));
        printf("statistics: max connection rate 3/60s for (smtp:203.0.113.%u) at %s\n",
               rng_below(250) + 1, "Nov  1 00:00:00");
    }
}

/* usage - the command line, on stdout for --help and stderr for mistakes */
static void usage(FILE *f)
{
    fprintf(f, "usage: genlog [--messages N] [--seed S] [--start 2026-11-01T00:00:00Z] "
               "[--rfc3339] [--hosts K] [--rate R]\n"
               "  --messages N  accepted messages to generate (default 1000)\n"
               "  --seed S      randomness seed; the same options give the same bytes "
               "(default 1)\n"
               "  --start T     time of the first line, UTC (default 2026-11-01T00:00:00Z)\n"
               "  --rfc3339     RFC 3339 stamps with microseconds (default: RFC 3164, UTC "
               "wall clock)\n"
               "  --hosts K     spread the traffic over K servers mx1..mxK (default 1)\n"
               "  --rate R      mean arrivals per second (default 40)\n"
               "Writes the log to stdout, sorted by time.\n");
}

/* parse_start - "YYYY-MM-DDTHH:MM:SSZ" (UTC) to microseconds */
static int parse_start(const char *s, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    char z = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) < 6 ||
        (z != 0 && z != 'Z'))
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (int64_t)timegm(&tm) * US;
    return 0;
}

/* parse_num - a non-negative decimal option value */
static int parse_num(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    return (errno != 0 || end == s || *end != 0 || s[0] == '-') ? -1 : 0;
}

int main(int argc, char **argv)
{
    uint64_t messages = 1000, seed = 1, started = 0, v;
    int64_t start = 0, next_arrival;
    double rate = 40;
    int i;

    parse_start("2026-11-01T00:00:00Z", &start);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--rfc3339") == 0) {
            opt_rfc3339 = 1;
        } else if (val != NULL && strcmp(a, "--messages") == 0 && parse_num(val, &messages) == 0) {
            i++;
        } else if (val != NULL && strcmp(a, "--seed") == 0 && parse_num(val, &seed) == 0) {
            i++;
        } else if (val != NULL && strcmp(a, "--hosts") == 0 && parse_num(val, &v) == 0 && v >= 1 &&
                   v <= 1000) {
            opt_hosts = (unsigned)v;
            i++;
        } else if (val != NULL && strcmp(a, "--rate") == 0 && parse_num(val, &v) == 0 && v >= 1) {
            rate = (double)v;
            i++;
        } else if (val != NULL && strcmp(a, "--start") == 0 && parse_start(val, &start) == 0) {
            i++;
        } else {
            fprintf(stderr, "genlog: bad option or value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    rng_state = seed * 0x2545F4914F6CDD1DULL + 1;
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    for (size_t k = 0; k < sizeof(domains) / sizeof(domains[0]); k++)
        domain_weight_total += domains[k].weight;

    next_arrival = start;
    while (started < messages || heap_len > 0) {
        if (started < messages && (heap_len == 0 || next_arrival <= heap[0].t)) {
            uint32_t s = msg_new();

            if (rng_below(16) == 0) {
                /* a rejected attempt; it does not count as a message */
                const char *fn =
                    first_names[rng_below(sizeof(first_names) / sizeof(first_names[0]))];

                pool[s].host = rng_below(opt_hosts);
                pool[s].reject = rng_below(sizeof(rejects) / sizeof(rejects[0]));
                pool[s].smtpd_pid = pid_of(pool[s].host, 3000, 900);
                snprintf(pool[s].sender, sizeof(pool[s].sender), "%s@spammer.example", fn);
                snprintf(pool[s].rcpt[0].addr, sizeof(pool[s].rcpt[0].addr), "%s@%s", fn,
                         pool[s].reject == 0 ? "victim.example" : local_domain);
                heap_push(next_arrival, s, S_REJECT);
            } else {
                plan_message(s, next_arrival);
                heap_push(next_arrival, s, S_CONNECT);
                started++;
            }
            if (rng_below(8) == 0)
                noise(next_arrival);
            next_arrival += 1 + (int64_t)(rng_exp(1.0 / rate) * US);
            continue;
        }
        run_step(heap_pop());
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("genlog: stdout");
        return 1;
    }
    free(pool);
    free(heap);
    return 0;
}
