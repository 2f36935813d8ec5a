/*
 * syslog - receive mail log lines over the network: UDP and TCP, RFC 3164 and RFC 5424
 *
 * listen is a list of "udp://ADDR:PORT" and "tcp://ADDR:PORT" (numeric addresses, IPv6 in
 * brackets), bound to loopback by default so that only a local relay (an rsyslog that
 * forwards another host's mail log) can send. TCP framing is octet counting (RFC 6587
 * "LEN SP MSG") when a frame starts with a digit, else one message per line.
 *
 * A message becomes a line in the log-file format the parser reads: an RFC 3164 message
 * loses its "<PRI>"; an RFC 5424 one ("<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG")
 * becomes "TIMESTAMP HOST APP[PROCID]: MSG".
 *
 * Holding up under hostile senders: a TCP connection that has not completed a message within
 * first_us (10 s) of its start, or none for idle_us (10 min) since its last, is closed; when
 * all SL_MAX_CONNS slots are taken, a new connection evicts the idlest one, preferring one
 * that never completed a message, so that idle connections cannot lock real senders out.
 * A connection with bytes waiting when its time is up is read first: it is closed only if
 * they do not complete a message by the next sweep.
 *
 * Every socket, listening or connected, is in one epoll set, and that set is what the
 * daemon's wait watches (syslog_watch()): a message on an open connection wakes the daemon
 * at once, not at its next poll interval.
 * Each kind of dropped input is counted (syslog_get_stats()): oversized frames, octet
 * counts the bytes did not match (the stream is out of step and the connection is closed),
 * malformed messages (empty, or a "<" without a valid "<PRI>"; plain lines without one are
 * read as log lines), refused, evicted and timed-out connections. Its warnings are
 * rate-limited: one line per kind per SL_WARN_US, with the number left unsaid since.
 *
 * There is no checkpoint: a sender cannot be asked to send again. Each run of the daemon is
 * a source of its own ("syslog:NAME:START_US"), positions count messages, and what arrives
 * while mailpulse is stopped is lost unless the sender queues it (rsyslog: an action queue
 * with TCP).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collector/collector.h"
#include "util/util.h"

#define SL_MAX_SOCKS 8
#define SL_MAX_CONNS 64
#define SL_DGRAM     65536
#define SL_FIRST_US  (10 * 1000000LL)  /* default: a new connection's first message */
#define SL_IDLE_US   (600 * 1000000LL) /* default: between messages */
#define SL_WARN_US   (60 * 1000000LL)  /* one warning per kind per minute */
#define SL_ACCEPTS   32                /* connections accepted per listening socket per call */
#define SL_SWEEP_US  200000            /* how often idle connections are looked for */

struct sl_conn {
    int fd;
    char *buf;
    size_t len;
    int64_t last_us; /* when it connected or last completed a message */
    uint64_t msgs;   /* messages completed */
    int octet;       /* its frames are octet-counted */
    int grace;       /* past its time with bytes waiting: one more sweep to complete them */
};

/* The rate limit of one kind of warning. */
struct sl_warn {
    int64_t last_us;
    uint64_t unsaid;
};

struct syslog_in {
    char *name;
    int udp[SL_MAX_SOCKS], tcp[SL_MAX_SOCKS];
    size_t nudp, ntcp;
    int ep; /* epoll: every socket above and every connection */
    struct sl_conn conns[SL_MAX_CONNS];
    size_t nconns;
    int64_t source_id, counter;
    int opened;
    open_source_fn open_source;
    void *arg;
    char *dgram;
    struct buf line;
    int64_t first_us, idle_us, sweep_us;
    struct syslog_stats st;
    struct sl_warn warn[SYSLOG_NDROPS];
};

static const char *const sl_drop_names[SYSLOG_NDROPS] = {
    "oversized", "bad_count", "malformed", "refused", "evicted", "timed_out",
};

/* syslog_drop_name - the name of a kind of dropped input, as /metrics labels it */
const char *syslog_drop_name(enum syslog_drop kind)
{
    return (unsigned)kind < SYSLOG_NDROPS ? sl_drop_names[kind] : "";
}

/* syslog_get_stats - what the listener received and dropped so far */
void syslog_get_stats(const struct syslog_in *s, struct syslog_stats *out)
{
    *out = s->st;
    out->open = s->nconns;
}

/* sl_unsaid - the number of warnings a rate limit held back, once its minute is over (or
 * at once when final) */
static void sl_unsaid(struct syslog_in *s, int64_t now, int final)
{
    for (int k = 0; k < SYSLOG_NDROPS; k++) {
        struct sl_warn *w = &s->warn[k];

        if (w->unsaid == 0 || (!final && now - w->last_us < SL_WARN_US))
            continue;
        log_warn("syslog %s: %llu more of this kind (%s) in the last %lld s", s->name,
                 (unsigned long long)w->unsaid, sl_drop_names[k],
                 (long long)((now - w->last_us) / 1000000));
        w->last_us = now;
        w->unsaid = 0;
    }
}

/* sl_dropped - count one dropped input of kind; warn, at most once per SL_WARN_US per kind */
static void sl_dropped(struct syslog_in *s, enum syslog_drop kind, const char *what)
{
    struct sl_warn *w = &s->warn[kind];
    int64_t now = time_now_us();

    s->st.drops[kind]++;
    if (w->last_us != 0 && now - w->last_us < SL_WARN_US) {
        w->unsaid++; /* said by sl_unsaid() when the minute is over */
        return;
    }
    sl_unsaid(s, now, 0);
    log_warn("syslog %s: %s", s->name, what);
    w->last_us = now;
}

/* sl_addr - "ADDR:PORT" or "[V6]:PORT" into a socket address; 0 or -1 */
static int sl_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[64];
    const char *colon;
    char *end;
    long port;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':' ||
            str_copy(host, sizeof(host), s + 1, (size_t)(close - s - 1)) != 0)
            return -1;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || str_copy(host, sizeof(host), s, (size_t)(colon - s)) != 0)
            return -1;
    }
    port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return -1;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(*a);
        return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -1;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;

        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *sslen = sizeof(*a);
        return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
    }
}

/* sl_watch - add fd to the epoll set; without it, fd is still read at each poll interval */
static void sl_watch(struct syslog_in *s, int fd)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        log_warn("syslog %s: cannot watch a socket (%s); it is read at each poll interval", s->name,
                 strerror(errno));
}

/* sl_bind - one listening socket; the descriptor, or -1 and a message */
static int sl_bind(const char *url, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int tcp = strncmp(url, "tcp://", 6) == 0, fd, one = 1;

    if (!tcp && strncmp(url, "udp://", 6) != 0) {
        snprintf(err, errlen, "syslog listen \"%s\": want udp://ADDR:PORT or tcp://ADDR:PORT", url);
        return -1;
    }
    if (sl_addr(url + 6, &ss, &sslen) != 0) {
        snprintf(err, errlen, "syslog listen \"%s\": want a numeric address and a port", url);
        return -1;
    }
    fd = socket(ss.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "syslog listen %s: %s", url, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || (tcp && listen(fd, 128) != 0)) {
        snprintf(err, errlen, "cannot listen on %s: %s", url, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* syslog_open - bind every address of listen (space or comma separated) */
struct syslog_in *syslog_open(const struct syslog_opts *o, char *err, size_t errlen)
{
    struct syslog_in *s = xcalloc(1, sizeof(*s));
    char *list = xstrdup(o->listen), *save = NULL;

    s->name = xstrdup(o->name);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    s->open_source = o->open_source;
    s->arg = o->arg;
    s->first_us = o->first_us > 0 ? o->first_us : SL_FIRST_US;
    s->idle_us = o->idle_us > 0 ? o->idle_us : SL_IDLE_US;
    s->dgram = xmalloc(SL_DGRAM + 1);
    buf_init(&s->line);
    if (s->ep < 0) {
        snprintf(err, errlen, "syslog %s: epoll: %s", o->name, strerror(errno));
        x_free(list);
        syslog_close(s);
        return NULL;
    }
    for (char *u = strtok_r(list, " ,", &save); u; u = strtok_r(NULL, " ,", &save)) {
        int fd = sl_bind(u, err, errlen);
        int tcp = strncmp(u, "tcp://", 6) == 0;

        if (fd < 0 || (tcp ? s->ntcp : s->nudp) == SL_MAX_SOCKS) {
            if (fd >= 0) {
                snprintf(err, errlen, "more than %d syslog addresses", SL_MAX_SOCKS);
                close(fd);
            }
            x_free(list);
            syslog_close(s);
            return NULL;
        }
        if (tcp)
            s->tcp[s->ntcp++] = fd;
        else
            s->udp[s->nudp++] = fd;
        sl_watch(s, fd);
        log_info("syslog %s: listening on %s", s->name, u);
    }
    x_free(list);
    return s;
}

/* syslog_watch - wake n when any socket of s, listening or connected, has input */
void syslog_watch(struct syslog_in *s, struct notify *n)
{
    notify_add_fd(n, s->ep);
}

/* syslog_convert - one message (without framing) into s->line in log-file format */
void syslog_convert(struct buf *line, const char *m, size_t len)
{
    const char *end = m + len, *f[5];
    size_t flen[5];

    buf_reset(line);
    while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == '\r' || m[len - 1] == 0))
        end = m + --len;
    if (len > 0 && m[0] == '<') { /* <PRI> */
        const char *gt = memchr(m, '>', len < 5 ? len : 5);

        if (gt)
            m = gt + 1;
    }
    if (end - m < 2 || m[0] != '1' || m[1] != ' ') {
        buf_append(line, m, (size_t)(end - m)); /* RFC 3164: already the file format */
        return;
    }
    m += 2;
    for (int i = 0; i < 5; i++) { /* TIMESTAMP HOSTNAME APP-NAME PROCID MSGID */
        const char *sp = memchr(m, ' ', (size_t)(end - m));

        f[i] = m;
        flen[i] = sp ? (size_t)(sp - m) : (size_t)(end - m);
        m = sp ? sp + 1 : end;
    }
    if (m < end && *m == '[') { /* structured data: [id k="v" ...]... with \] escapes */
        int in_quote = 0;

        while (m < end) {
            if (*m == '\\' && m + 1 < end) {
                m += 2;
                continue;
            }
            if (*m == '"')
                in_quote = !in_quote;
            else if (*m == ']' && !in_quote && (m + 1 == end || m[1] != '[')) {
                m++;
                break;
            }
            m++;
        }
    } else if (m < end && *m == '-') {
        m++;
    }
    if (m < end && *m == ' ')
        m++;
    if (end - m >= 3 && memcmp(m, "\xef\xbb\xbf", 3) == 0)
        m += 3; /* the UTF-8 BOM */
    buf_append(line, f[0], flen[0]);
    buf_putc(line, ' ');
    buf_append(line, f[1], flen[1]);
    buf_putc(line, ' ');
    buf_append(line, f[2], flen[2]);
    if (!(flen[3] == 1 && f[3][0] == '-')) {
        buf_putc(line, '[');
        buf_append(line, f[3], flen[3]);
        buf_putc(line, ']');
    }
    buf_puts(line, ": ");
    buf_append(line, m, (size_t)(end - m));
}

/* syslog_frame - the first complete message in buf[0..len); see collector.h */
int syslog_frame(const char *buf, size_t len, int *octet, size_t *off, size_t *mlen, size_t *used)
{
    size_t skip = 0;

    *used = 0;
    if (*octet) /* a line end after a counted frame is tolerated */
        while (skip < len && (buf[skip] == '\n' || buf[skip] == '\r'))
            skip++;
    *used = skip;
    if (skip == len)
        return 0;
    if (buf[skip] >= '1' && buf[skip] <= '9') { /* octet counting */
        size_t i = skip, n = 0;

        while (i < len && i - skip < 8 && buf[i] >= '0' && buf[i] <= '9')
            n = n * 10 + (size_t)(buf[i++] - '0');
        if (i < len && buf[i] == ' ') {
            if (n > SL_DGRAM)
                return -1;
            *octet = 1;
            if (len - (i + 1) < n)
                return 0;
            *off = i + 1;
            *mlen = n;
            *used = i + 1 + n;
            return 1;
        }
        if (i == len)
            return 0; /* the length is still arriving */
    }
    if (*octet)
        return -2; /* the last count was a lie: what follows is not a frame */
    {
        const char *nl = memchr(buf, '\n', len);

        if (nl == NULL)
            return len >= SL_DGRAM ? -1 : 0;
        *off = 0;
        *mlen = (size_t)(nl - buf);
        *used = *mlen + 1;
        return 1;
    }
}

/* sl_frame - syslog_frame() on a connection's buffer; the bytes it skipped are dropped */
static int sl_frame(struct sl_conn *c, size_t *off, size_t *mlen, size_t *used)
{
    int r = syslog_frame(c->buf, c->len, &c->octet, off, mlen, used);

    if (r == 0 && *used > 0) {
        memmove(c->buf, c->buf + *used, c->len - *used);
        c->len -= *used;
    }
    return r;
}

/* sl_valid - 0 when a message makes a line: not empty, and a valid "<PRI>" if it has one */
static int sl_valid(const char *m, size_t len)
{
    size_t i, pri = 0;

    while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == '\r' || m[len - 1] == 0))
        len--;
    if (len == 0)
        return -1;
    if (m[0] != '<')
        return 0; /* a plain log line, as a relay may forward it */
    for (i = 1; i < len && i <= 4 && m[i] >= '0' && m[i] <= '9'; i++)
        pri = pri * 10 + (size_t)(m[i] - '0');
    return i >= 2 && i <= 4 && i < len && m[i] == '>' && pri <= 191 ? 0 : -1;
}

/* sl_message - one message into s->line; 0, or -1 when it is malformed (counted) */
static int sl_message(struct syslog_in *s, const char *m, size_t len)
{
    if (sl_valid(m, len) != 0) {
        sl_dropped(s, SYSLOG_MALFORMED, "a malformed message dropped");
        return -1;
    }
    syslog_convert(&s->line, m, len);
    return 0;
}

/* sl_drop - close connection i (the last one takes its slot) */
static void sl_drop(struct syslog_in *s, size_t i)
{
    close(s->conns[i].fd);
    x_free(s->conns[i].buf);
    s->conns[i] = s->conns[--s->nconns];
}

/* sl_idlest - the connection to evict: the idlest without a message, else the idlest */
static size_t sl_idlest(const struct syslog_in *s)
{
    size_t best = 0;
    int best_silent = s->conns[0].msgs == 0;

    for (size_t i = 1; i < s->nconns; i++) {
        const struct sl_conn *c = &s->conns[i];
        int silent = c->msgs == 0;

        if (silent > best_silent ||
            (silent == best_silent && c->last_us < s->conns[best].last_us)) {
            best = i;
            best_silent = silent;
        }
    }
    return best;
}

/* sl_waiting - 1 when bytes have arrived on c that are not read yet */
static int sl_waiting(const struct sl_conn *c)
{
    char b;

    return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* sl_sweep - close the connections that waited too long for their first or next message;
 * one with bytes waiting gets until the next sweep to complete a message with them */
static void sl_sweep(struct syslog_in *s, int64_t now)
{
    for (size_t i = 0; i < s->nconns; i++) {
        struct sl_conn *c = &s->conns[i];

        if (now - c->last_us > (c->msgs ? s->idle_us : s->first_us)) {
            if (!c->grace && sl_waiting(c)) {
                c->grace = 1;
                continue;
            }
            sl_dropped(s, SYSLOG_TIMED_OUT, "a connection without a message for too long closed");
            sl_drop(s, i--);
        }
    }
}

/* sl_emit - the line in s->line as the next position of the run's source */
static int sl_emit(struct syslog_in *s, struct follow_line *out)
{
    if (s->line.len > COLLECT_MAX_LINE)
        s->line.len = COLLECT_MAX_LINE;
    out->line = s->line.data ? s->line.data : "";
    out->len = s->line.len;
    out->pos = s->counter++;
    out->next = s->counter;
    out->source_id = s->source_id;
    out->store = 1;
    out->cut = s->line.len == COLLECT_MAX_LINE;
    s->st.messages++;
    return 1;
}

/* sl_accept - take the waiting connections; a full table gives up its idlest */
static void sl_accept(struct syslog_in *s, int64_t now)
{
    char what[160];

    for (size_t i = 0; i < s->ntcp; i++) {
        for (int k = 0; k < SL_ACCEPTS; k++) {
            int fd = accept4(s->tcp[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            struct sl_conn *c;

            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    snprintf(what, sizeof(what), "cannot accept a connection: %s", strerror(errno));
                    sl_dropped(s, SYSLOG_REFUSED, what);
                }
                break;
            }
            if (s->nconns == SL_MAX_CONNS) {
                snprintf(what, sizeof(what), "all %d connections taken; the idlest closed",
                         SL_MAX_CONNS);
                sl_drop(s, sl_idlest(s));
                sl_dropped(s, SYSLOG_EVICTED, what);
            }
            c = &s->conns[s->nconns++];
            c->fd = fd;
            c->buf = xmalloc(SL_DGRAM + 16);
            c->len = 0;
            c->last_us = now;
            c->msgs = 0;
            c->octet = 0;
            c->grace = 0;
            s->st.connections++;
            sl_watch(s, fd);
        }
    }
}

/* syslog_next - 1 and the next message received, 0 none now, -1 retry later */
int syslog_next(struct syslog_in *s, struct follow_line *out)
{
    int64_t now;
    int budget = 256; /* inputs dropped in one call before the caller gets a turn */

    if (!s->opened) {
        char ident[128];
        int64_t ckpt;

        snprintf(ident, sizeof(ident), "syslog:%s:%lld", s->name, (long long)time_now_us());
        if (s->open_source(s->arg, ident, ident, NULL, 0, &s->source_id, &ckpt) != 0)
            return -1;
        s->opened = 1;
    }
    now = time_now_us();
    if (now >= s->sweep_us) {
        sl_sweep(s, now);
        sl_unsaid(s, now, 0);
        s->sweep_us = now + SL_SWEEP_US;
    }
again:
    if (budget-- <= 0)
        return 0;
    /* Messages already buffered on a connection first. */
    for (size_t i = 0; i < s->nconns; i++) {
        struct sl_conn *c = &s->conns[i];
        size_t off, mlen, used;
        int r = sl_frame(c, &off, &mlen, &used), ok;

        if (r == -1) {
            sl_dropped(s, SYSLOG_OVERSIZED, "a frame over 65536 bytes; connection closed");
            sl_drop(s, i--);
            continue;
        }
        if (r == -2) {
            sl_dropped(s, SYSLOG_BAD_COUNT,
                       "an octet count the frame did not match; connection closed");
            sl_drop(s, i--);
            continue;
        }
        if (r == 1) {
            ok = sl_message(s, c->buf + off, mlen);
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            if (ok == 0) {
                c->msgs++;
                c->last_us = now;
                c->grace = 0;
                return sl_emit(s, out);
            }
            goto again;
        }
    }
    for (size_t i = 0; i < s->nudp; i++) {
        ssize_t n = recv(s->udp[i], s->dgram, SL_DGRAM, 0);

        if (n >= 0) {
            if (sl_message(s, s->dgram, (size_t)n) == 0)
                return sl_emit(s, out);
            goto again;
        }
    }
    sl_accept(s, now);
    for (size_t i = 0; i < s->nconns; i++) {
        struct sl_conn *c = &s->conns[i];
        ssize_t n = read(c->fd, c->buf + c->len, SL_DGRAM + 16 - c->len);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (c->len > 0 && c->octet) { /* the count promised more than came */
                sl_dropped(s, SYSLOG_BAD_COUNT, "a connection closed inside a counted frame");
            } else if (c->len > 0) { /* a last line without its newline */
                int ok = sl_message(s, c->buf, c->len);

                sl_drop(s, i);
                if (ok == 0)
                    return sl_emit(s, out);
                goto again;
            }
            sl_drop(s, i--);
            continue;
        }
        if (n > 0) {
            c->len += (size_t)n;
            goto again;
        }
    }
    return 0;
}

/* syslog_close - close every socket and free */
void syslog_close(struct syslog_in *s)
{
    if (s == NULL)
        return;
    sl_unsaid(s, time_now_us(), 1);
    for (size_t i = 0; i < s->nudp; i++)
        close(s->udp[i]);
    for (size_t i = 0; i < s->ntcp; i++)
        close(s->tcp[i]);
    while (s->nconns > 0)
        sl_drop(s, s->nconns - 1);
    if (s->ep >= 0)
        close(s->ep);
    buf_free(&s->line);
    x_free(s->dgram);
    x_free(s->name);
    x_free(s);
}
