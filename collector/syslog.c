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
#include <sys/socket.h>
#include <unistd.h>

#include "collector/collector.h"
#include "util/util.h"

#define SL_MAX_SOCKS 8
#define SL_MAX_CONNS 64
#define SL_DGRAM     65536

struct sl_conn {
    int fd;
    char *buf;
    size_t len;
};

struct syslog_in {
    char *name;
    int udp[SL_MAX_SOCKS], tcp[SL_MAX_SOCKS];
    size_t nudp, ntcp;
    struct sl_conn conns[SL_MAX_CONNS];
    size_t nconns;
    int64_t source_id, counter;
    int opened;
    int (*open_source)(void *, const char *, const char *, int64_t *, int64_t *);
    void *arg;
    char *dgram;
    struct buf line;
};

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
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || (tcp && listen(fd, 16) != 0)) {
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
    s->open_source = o->open_source;
    s->arg = o->arg;
    s->dgram = xmalloc(SL_DGRAM + 1);
    buf_init(&s->line);
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
        log_info("syslog %s: listening on %s", s->name, u);
    }
    x_free(list);
    return s;
}

/* syslog_watch - add the listening sockets to n */
void syslog_watch(struct syslog_in *s, struct notify *n)
{
    for (size_t i = 0; i < s->nudp; i++)
        notify_add_fd(n, s->udp[i]);
    for (size_t i = 0; i < s->ntcp; i++)
        notify_add_fd(n, s->tcp[i]);
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

/* sl_frame - a complete message at the start of c->buf: its length, and the frame's */
static int sl_frame(struct sl_conn *c, size_t *off, size_t *mlen, size_t *used)
{
    if (c->len == 0)
        return 0;
    if (c->buf[0] >= '1' && c->buf[0] <= '9') { /* octet counting */
        size_t i = 0, n = 0;

        while (i < c->len && i < 8 && c->buf[i] >= '0' && c->buf[i] <= '9')
            n = n * 10 + (size_t)(c->buf[i++] - '0');
        if (i < c->len && c->buf[i] == ' ') {
            if (n > SL_DGRAM)
                return -1;
            if (c->len < i + 1 + n)
                return 0;
            *off = i + 1;
            *mlen = n;
            *used = i + 1 + n;
            return 1;
        }
        if (i == c->len)
            return 0; /* the length is still arriving */
    }
    {
        char *nl = memchr(c->buf, '\n', c->len);

        if (nl == NULL)
            return c->len >= SL_DGRAM ? -1 : 0;
        *off = 0;
        *mlen = (size_t)(nl - c->buf);
        *used = *mlen + 1;
        return 1;
    }
}

static void sl_drop(struct syslog_in *s, size_t i)
{
    close(s->conns[i].fd);
    x_free(s->conns[i].buf);
    s->conns[i] = s->conns[--s->nconns];
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
    return 1;
}

/* syslog_next - 1 and the next message received, 0 none now, -1 retry later */
int syslog_next(struct syslog_in *s, struct follow_line *out)
{
    if (!s->opened) {
        char ident[128];
        int64_t ckpt;

        snprintf(ident, sizeof(ident), "syslog:%s:%lld", s->name, (long long)time_now_us());
        if (s->open_source(s->arg, ident, ident, &s->source_id, &ckpt) != 0)
            return -1;
        s->opened = 1;
    }
    /* Messages already buffered on a connection first. */
    for (size_t i = 0; i < s->nconns; i++) {
        struct sl_conn *c = &s->conns[i];
        size_t off, mlen, used;
        int r = sl_frame(c, &off, &mlen, &used);

        if (r < 0) {
            log_warn("syslog %s: a frame over %d bytes; connection closed", s->name, SL_DGRAM);
            sl_drop(s, i--);
            continue;
        }
        if (r == 1) {
            syslog_convert(&s->line, c->buf + off, mlen);
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return sl_emit(s, out);
        }
    }
    for (size_t i = 0; i < s->nudp; i++) {
        ssize_t n = recv(s->udp[i], s->dgram, SL_DGRAM, 0);

        if (n > 0) {
            syslog_convert(&s->line, s->dgram, (size_t)n);
            return sl_emit(s, out);
        }
    }
    for (size_t i = 0; i < s->ntcp; i++) {
        int fd = accept4(s->tcp[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0)
            continue;
        if (s->nconns == SL_MAX_CONNS) {
            log_warn("syslog %s: more than %d connections; refusing one", s->name, SL_MAX_CONNS);
            close(fd);
            continue;
        }
        s->conns[s->nconns].fd = fd;
        s->conns[s->nconns].buf = xmalloc(SL_DGRAM + 16);
        s->conns[s->nconns++].len = 0;
    }
    for (size_t i = 0; i < s->nconns; i++) {
        struct sl_conn *c = &s->conns[i];
        ssize_t n = read(c->fd, c->buf + c->len, SL_DGRAM + 16 - c->len);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (c->len > 0) { /* a last line without its newline */
                syslog_convert(&s->line, c->buf, c->len);
                c->len = 0;
                sl_drop(s, i);
                return sl_emit(s, out);
            }
            sl_drop(s, i--);
            continue;
        }
        if (n > 0) {
            c->len += (size_t)n;
            return syslog_next(s, out);
        }
    }
    return 0;
}

/* syslog_close - close every socket and free */
void syslog_close(struct syslog_in *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nudp; i++)
        close(s->udp[i]);
    for (size_t i = 0; i < s->ntcp; i++)
        close(s->tcp[i]);
    while (s->nconns > 0)
        sl_drop(s, s->nconns - 1);
    buf_free(&s->line);
    x_free(s->dgram);
    x_free(s->name);
    x_free(s);
}
