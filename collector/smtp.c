/*
 * smtp - the SMTP dialogue of one TCP connection, both directions, to EV_SMTP events
 *
 * Client bytes are cut into command lines (or skipped as message content after DATA and
 * BDAT); server bytes into replies (multi-line replies are joined). Each command waits in a
 * ring until the reply that answers it, in order, so pipelined commands pair correctly. The
 * sender is kept per transaction in a small ring too, because a pipelining client may send
 * the next MAIL FROM before the reply to the previous message's data arrives. See sniff.h.
 */
#include <ctype.h>
#include <string.h>

#include "collector/sniff.h"
#include "parser/remoteid.h"
#include "util/util.h"

#define SMTP_LINE_MAX 1024 /* longer command or reply lines are cut; RFC 5321 says 512 */
#define SMTP_PENDING  32   /* commands awaiting a reply; beyond, the oldest is reported */
#define SMTP_TXNS     4    /* transactions whose sender is remembered */

enum cmd_kind {
    C_CONNECT,
    C_HELO,
    C_MAIL,
    C_RCPT,
    C_DATA,
    C_DOT,
    C_BDAT,
    C_BDAT_LAST,
    C_RSET,
    C_QUIT,
    C_STARTTLS,
    C_AUTH,
    C_OTHER
};

enum client_mode { CM_CMD, CM_BODY, CM_CHUNK, CM_AUTH };

/* states of the scan for the "\r\n.\r\n" that ends DATA content */
enum body_state { B_BOL, B_MID, B_CR, B_DOT, B_DOTCR };

struct pending {
    enum cmd_kind kind;
    unsigned txn;
    int uncertain;         /* its reply may be one to a command lost in a gap: report nothing */
    char arg[EV_ADDR_LEN]; /* the helo name or the address; never an AUTH argument */
};

struct linebuf {
    char data[SMTP_LINE_MAX];
    size_t len;
    int skip; /* drop bytes up to the next LF (after a gap) */
};

struct smtp_sess {
    smtp_emit_fn *emit;
    void *arg;
    char client[EV_CLIENT_LEN];
    char server[EV_CLIENT_LEN];
    char helo[EV_HELO_LEN];
    char sender[SMTP_TXNS][EV_ADDR_LEN];
    unsigned txn;
    int implicit_tls;
    int tls;       /* STARTTLS succeeded, or implicit TLS: events say tls */
    int stopped;   /* encrypted: nothing more is parsed */
    int await_tls; /* after the 220 to STARTTLS: TLS, or a decrypted capture in clear? */
    int body_gap;  /* bytes of DATA content were lost: the next reply ends the content */
    int greeted;   /* a reply was seen, or a gap: a greeting can come no more */
    int cl_resync; /* after a client gap: a line starts at the next command verb or LF */
    int desync;    /* after a gap, until the pending commands are answered: see gap() */
    int saw_data;  /* any payload at all */
    struct linebuf cl, sv;
    enum client_mode cmode;
    enum body_state bstate;
    uint64_t chunk_left;
    /* the reply being assembled */
    char reply[EV_REPLY_LEN];
    size_t replylen;
    int reply_code;
    char reply_dsn[EV_DSN_LEN];
    int in_reply;
    struct pending ring[SMTP_PENDING];
    unsigned head, count;
};

/* smtp_sess_create - a new session between two "ip:port" endpoints */
struct smtp_sess *smtp_sess_create(const char *client, const char *server, int implicit_tls,
                                   smtp_emit_fn *emit, void *arg)
{
    struct smtp_sess *s = xcalloc(1, sizeof(*s));

    s->emit = emit;
    s->arg = arg;
    str_copy(s->client, sizeof(s->client), client, strlen(client));
    str_copy(s->server, sizeof(s->server), server, strlen(server));
    s->implicit_tls = implicit_tls;
    return s;
}

/* smtp_sess_free - release a session (call smtp_sess_end first to get pending events) */
void smtp_sess_free(struct smtp_sess *s)
{
    x_free(s);
}

/* emit_step - one event for a command and the reply it got (code -1: none seen) */
static void emit_step(struct smtp_sess *s, enum event_stage stage, const struct pending *p,
                      int code, int64_t ts)
{
    struct event ev;
    const char *sender = p ? s->sender[p->txn % SMTP_TXNS] : "";

    event_clear(&ev);
    ev.type = EV_SMTP;
    ev.time_us = ts;
    EVENT_SET(&ev, client, s->client, strlen(s->client));
    EVENT_SET(&ev, server, s->server, strlen(s->server));
    EVENT_SET(&ev, helo, s->helo, strlen(s->helo));
    EVENT_SET(&ev, stage, event_stage_name(stage), strlen(event_stage_name(stage)));
    ev.tls = s->tls != 0;
    ev.smtp_code = code;
    if (p && (p->kind == C_MAIL || p->kind == C_RCPT || p->kind == C_DATA || p->kind == C_DOT ||
              p->kind == C_BDAT || p->kind == C_BDAT_LAST))
        EVENT_SET(&ev, sender, sender, strlen(sender));
    if (p && p->kind == C_RCPT)
        EVENT_SET(&ev, recipient, p->arg, strlen(p->arg));
    if (code >= 0) {
        EVENT_SET(&ev, reply, s->reply, s->replylen);
        EVENT_SET(&ev, dsn, s->reply_dsn, strlen(s->reply_dsn));
        if (p && (p->kind == C_DOT || p->kind == C_BDAT_LAST) && code / 100 == 2)
            (void)remote_id(s->reply, s->replylen, ev.queue_id, sizeof(ev.queue_id));
    }
    s->emit(s->arg, &ev);
}

/* stage_of - the event stage a command reports, or STAGE_NONE when it reports none */
static enum event_stage stage_of(enum cmd_kind k)
{
    switch (k) {
    case C_CONNECT:
        return STAGE_CONNECT;
    case C_HELO:
        return STAGE_HELO;
    case C_MAIL:
        return STAGE_MAIL;
    case C_RCPT:
        return STAGE_RCPT;
    case C_DATA:
    case C_DOT:
    case C_BDAT:
    case C_BDAT_LAST:
        return STAGE_DATA;
    case C_STARTTLS:
        return STAGE_STARTTLS;
    default:
        return STAGE_NONE;
    }
}

/* pop_unanswered - report the oldest pending command without a reply and drop it */
static void pop_unanswered(struct smtp_sess *s, int64_t ts)
{
    const struct pending *p = &s->ring[s->head];
    enum event_stage stage = stage_of(p->kind);

    if (stage != STAGE_NONE && p->kind != C_DATA && p->kind != C_BDAT)
        emit_step(s, stage, p, -1, ts);
    s->head = (s->head + 1) % SMTP_PENDING;
    s->count--;
}

/* push - queue a command until its reply */
static struct pending *push(struct smtp_sess *s, enum cmd_kind kind, const char *arg, size_t arglen,
                            int64_t ts)
{
    struct pending *p;

    if (s->count == SMTP_PENDING)
        pop_unanswered(s, ts);
    p = &s->ring[(s->head + s->count) % SMTP_PENDING];
    s->count++;
    p->kind = kind;
    p->txn = s->txn;
    p->uncertain = s->desync;
    str_copy(p->arg, sizeof(p->arg), arg, arglen);
    return p;
}

/* new_txn - start a transaction (MAIL, RSET, HELO, end of data) with sender s */
static void new_txn(struct smtp_sess *s, const char *sender, size_t len)
{
    s->txn++;
    str_copy(s->sender[s->txn % SMTP_TXNS], EV_ADDR_LEN, sender, len);
}

/* path_arg - the address of "FROM:<a@b> SIZE=1" (brackets and parameters removed) */
static void path_arg(const char *p, const char *end, const char **out, size_t *outlen)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    const char *lt, *gt;

    p = colon ? colon + 1 : p;
    while (p < end && *p == ' ')
        p++;
    lt = (p < end && *p == '<') ? p : NULL;
    if (lt) {
        gt = memchr(lt, '>', (size_t)(end - lt));
        *out = lt + 1;
        *outlen = (size_t)((gt ? gt : end) - lt - 1);
        return;
    }
    *out = p;
    while (p < end && *p != ' ')
        p++;
    *outlen = (size_t)(p - *out);
}

/* verb_is - case-insensitive match of the command word */
static int verb_is(const char *line, size_t vlen, const char *verb)
{
    return strlen(verb) == vlen && strncasecmp(line, verb, vlen) == 0;
}

/* parse_size - the decimal chunk size of BDAT; -1 when it is not a sane number */
static int parse_size(const char *p, const char *end, uint64_t *out, const char **after)
{
    uint64_t v = 0;
    const char *start;

    while (p < end && *p == ' ')
        p++;
    start = p;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p == start || (p < end && *p != ' '))
        return -1;
    *out = v;
    *after = p;
    return 0;
}

/* client_line - one command line from the client (without its line end) */
static void client_line(struct smtp_sess *s, const char *line, size_t len, int64_t ts)
{
    const char *end = line + len, *sp, *a;
    size_t vlen, alen;

    if (len == 0)
        return;
    if (s->cmode == CM_AUTH)
        return; /* a SASL response: credentials, never looked at */
    sp = memchr(line, ' ', len);
    vlen = (size_t)((sp ? sp : end) - line);
    a = sp ? sp + 1 : end;
    while (a < end && *a == ' ')
        a++;
    alen = (size_t)(end - a);

    if (verb_is(line, vlen, "EHLO") || verb_is(line, vlen, "HELO")) {
        str_copy(s->helo, sizeof(s->helo), a, alen);
        new_txn(s, "", 0);
        push(s, C_HELO, a, alen, ts);
    } else if (verb_is(line, vlen, "MAIL")) {
        const char *addr;
        size_t addrlen;

        path_arg(a, end, &addr, &addrlen);
        new_txn(s, addr, addrlen);
        push(s, C_MAIL, addr, addrlen, ts);
    } else if (verb_is(line, vlen, "RCPT")) {
        const char *addr;
        size_t addrlen;

        path_arg(a, end, &addr, &addrlen);
        push(s, C_RCPT, addr, addrlen, ts);
    } else if (verb_is(line, vlen, "DATA")) {
        push(s, C_DATA, "", 0, ts);
        s->cmode = CM_BODY;
        s->bstate = B_BOL;
    } else if (verb_is(line, vlen, "BDAT")) {
        uint64_t n;
        const char *after;

        int last;

        if (parse_size(a, end, &n, &after) != 0) {
            push(s, C_BDAT, "", 0, ts); /* refused: no content follows */
            return;
        }
        while (after < end && *after == ' ')
            after++;
        last = (size_t)(end - after) == 4 && strncasecmp(after, "LAST", 4) == 0;
        if (!last && after < end) {
            push(s, C_BDAT, "", 0, ts); /* "BDAT 5 X": refused, no content follows */
            return;
        }
        push(s, last ? C_BDAT_LAST : C_BDAT, "", 0, ts);
        if (n > 0) {
            s->cmode = CM_CHUNK;
            s->chunk_left = n;
        }
    } else if (verb_is(line, vlen, "RSET")) {
        new_txn(s, "", 0);
        push(s, C_RSET, "", 0, ts);
    } else if (verb_is(line, vlen, "QUIT")) {
        push(s, C_QUIT, "", 0, ts);
    } else if (verb_is(line, vlen, "STARTTLS")) {
        push(s, C_STARTTLS, "", 0, ts);
    } else if (verb_is(line, vlen, "AUTH")) {
        push(s, C_AUTH, "", 0, ts); /* the mechanism and initial response are not kept */
    } else {
        push(s, C_OTHER, "", 0, ts);
    }
}

/* enhanced_code - "5.1.1" at the start of reply text, copied to out; "" when absent */
static void enhanced_code(const char *p, const char *end, char *out, size_t outlen)
{
    const char *q = p;
    int parts = 0;

    out[0] = 0;
    if (q >= end || (*q != '2' && *q != '4' && *q != '5'))
        return;
    q++;
    while (parts < 2) {
        int digits = 0;

        if (q >= end || *q != '.')
            return;
        q++;
        while (q < end && isdigit((unsigned char)*q) && digits < 3) {
            q++;
            digits++;
        }
        if (digits == 0)
            return;
        parts++;
    }
    if (q < end && *q != ' ')
        return;
    str_copy(out, outlen, p, (size_t)(q - p));
}

/* reply_done - a complete reply: pair it with the oldest pending command */
static void reply_done(struct smtp_sess *s, int64_t ts)
{
    int code = s->reply_code;
    struct pending *p;
    enum event_stage stage;

    /* The first reply is the greeting when nothing waits for a reply, or when it is a 220
     * that does not answer STARTTLS (a client that talks first, as with PIPE_CONNECT). A
     * capture that starts later has its first reply answer a command instead. */
    if (!s->greeted && ((s->count == 0 && (code == 220 || code == 421 || code == 554)) ||
                        (code == 220 && s->count > 0 && s->ring[s->head].kind != C_STARTTLS))) {
        struct pending g;

        s->greeted = 1;
        g.kind = C_CONNECT;
        g.txn = s->txn;
        g.arg[0] = 0;
        emit_step(s, STAGE_CONNECT, &g, code, ts);
        return;
    }
    if (s->count == 0 && s->cmode == CM_BODY && s->body_gap) {
        struct pending d = {C_DOT, s->txn, 0, ""};

        /* The end of the content was in the lost bytes: this reply is the result. */
        s->cmode = CM_CMD;
        s->body_gap = 0;
        emit_step(s, STAGE_DATA, &d, code, ts);
        return;
    }
    s->greeted = 1;
    if (s->count == 0) {
        s->desync = 0;
        return; /* a reply to nothing we saw: a one-sided or mid-session capture */
    }
    p = &s->ring[s->head];
    if (p->kind == C_AUTH && code == 334) {
        s->cmode = CM_AUTH; /* a SASL challenge: the client's next line is a response */
        return;
    }
    s->head = (s->head + 1) % SMTP_PENDING;
    s->count--;
    if (s->count == 0)
        s->desync = 0;
    if (p->uncertain)
        return; /* no event, and no change of state on a reply that may not be its own */
    switch (p->kind) {
    case C_AUTH:
        s->cmode = CM_CMD;
        return;
    case C_DATA:
        if (code == 354)
            return;
        if (s->cmode == CM_BODY)
            s->cmode = CM_CMD; /* DATA refused: no content follows */
        break;
    case C_BDAT:
        if (code < 400)
            return;
        break;
    case C_STARTTLS:
        if (code == 220) {
            s->tls = 1;
            s->await_tls = 1;
        }
        break;
    default:
        break;
    }
    stage = stage_of(p->kind);
    if (stage == STAGE_NONE)
        return;
    emit_step(s, stage, p, code, ts);
}

/* server_line - one reply line from the server (without its line end) */
static void server_line(struct smtp_sess *s, const char *line, size_t len, int64_t ts)
{
    int code;
    int last;

    if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
        !isdigit((unsigned char)line[2]) || (len > 3 && line[3] != ' ' && line[3] != '-'))
        return; /* not a reply line */
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    last = len == 3 || line[3] == ' ';
    if (!s->in_reply) {
        s->in_reply = 1;
        s->reply_code = code;
        s->replylen = 0;
        enhanced_code(line + (len > 3 ? 4 : 3), line + len, s->reply_dsn, sizeof(s->reply_dsn));
    }
    if (s->replylen > 0 && s->replylen < sizeof(s->reply) - 1)
        s->reply[s->replylen++] = ' ';
    if (s->replylen < sizeof(s->reply) - 1) {
        size_t room = sizeof(s->reply) - 1 - s->replylen, c = len < room ? len : room;

        memcpy(s->reply + s->replylen, line, c);
        s->replylen += c;
    }
    if (last) {
        s->in_reply = 0;
        reply_done(s, ts);
    }
}

/* feed_lines - cut bytes into lines for fn; returns the bytes consumed, which is fewer than n
 * when a client command switched the stream to message content */
static size_t feed_lines(struct smtp_sess *s, struct linebuf *lb, const uint8_t *p, size_t n,
                         int64_t ts, void (*fn)(struct smtp_sess *, const char *, size_t, int64_t))
{
    const uint8_t *start = p, *end = p + n;

    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t take = (size_t)((nl ? nl : end) - p), len;

        if (!lb->skip) {
            size_t room = sizeof(lb->data) - 1 - lb->len;

            take = take < room ? take : room;
            memcpy(lb->data + lb->len, p, take);
            lb->len += take;
        }
        if (nl == NULL)
            return n;
        p = nl + 1;
        if (lb->skip) {
            lb->skip = 0;
            lb->len = 0;
            continue;
        }
        if (lb->len > 0 && lb->data[lb->len - 1] == '\r')
            lb->len--;
        lb->data[lb->len] = 0;
        len = lb->len;
        lb->len = 0;
        fn(s, lb->data, len, ts);
        if (s->stopped || s->await_tls ||
            (lb == &s->cl && s->cmode != CM_CMD && s->cmode != CM_AUTH))
            return (size_t)(p - start);
    }
    return n;
}

/* body_scan - skip DATA content up to the line "."; returns bytes consumed */
static size_t body_scan(struct smtp_sess *s, const uint8_t *p, size_t n, int64_t ts)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = p[i];

        switch (s->bstate) {
        case B_MID: {
            const uint8_t *nl = memchr(p + i, '\n', n - i);

            if (nl == NULL)
                return n;
            i = (size_t)(nl - p);
            s->bstate = B_BOL;
            break;
        }
        case B_BOL:
            s->bstate = c == '.' ? B_DOT : c == '\n' ? B_BOL : c == '\r' ? B_CR : B_MID;
            break;
        case B_CR:
            s->bstate = c == '\n' ? B_BOL : c == '\r' ? B_CR : B_MID;
            break;
        case B_DOT:
        case B_DOTCR:
            if (c == '\n') {
                s->cmode = CM_CMD;
                s->body_gap = 0;
                push(s, C_DOT, "", 0, ts);
                return i + 1;
            }
            s->bstate = (c == '\r' && s->bstate == B_DOT) ? B_DOTCR : B_MID;
            break;
        }
        i++;
    }
    return n;
}

/* starts_with_verb - whether bytes begin like an SMTP command ("DATA\r\n", "MAIL FROM:") */
static int starts_with_verb(const uint8_t *p, size_t n)
{
    static const char *const verbs[] = {"EHLO", "HELO", "MAIL", "RCPT",     "DATA", "BDAT",
                                        "RSET", "QUIT", "NOOP", "STARTTLS", "AUTH", "VRFY"};

    for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
        size_t l = strlen(verbs[i]);

        if (n > l && strncasecmp((const char *)p, verbs[i], l) == 0 &&
            (p[l] == ' ' || p[l] == '\r' || p[l] == '\n'))
            return 1;
    }
    return 0;
}

/* smtp_sess_data - bytes of one direction, in order */
void smtp_sess_data(struct smtp_sess *s, int from_client, const uint8_t *p, size_t n, int64_t ts_us)
{
    if (s->stopped || n == 0)
        return;
    if (!s->saw_data) {
        s->saw_data = 1;
        /* Implicit TLS, unless the server opens in clear text after all. */
        if (s->implicit_tls && !(!from_client && isdigit(p[0]))) {
            s->tls = 1;
            s->stopped = 1;
            emit_step(s, STAGE_CONNECT, NULL, -1, ts_us);
            return;
        }
    }
    if (s->await_tls) {
        /* A TLS ClientHello starts with 0x16; RFC 3207 has the client say EHLO first. */
        s->await_tls = 0;
        if (!from_client || (p[0] != 'E' && p[0] != 'e' && p[0] != 'H' && p[0] != 'h')) {
            s->stopped = 1;
            return;
        }
    }
    if (!from_client) {
        feed_lines(s, &s->sv, p, n, ts_us, server_line);
        return;
    }
    if (s->cl_resync) {
        /* After a gap: a line starts here if the bytes begin with a command word. */
        s->cl_resync = 0;
        s->cl.skip = !starts_with_verb(p, n);
    }
    while (n > 0 && !s->stopped && !s->await_tls) {
        size_t used;

        switch (s->cmode) {
        case CM_BODY:
            used = body_scan(s, p, n, ts_us);
            break;
        case CM_CHUNK:
            used = n < s->chunk_left ? n : (size_t)s->chunk_left;
            s->chunk_left -= used;
            if (s->chunk_left == 0)
                s->cmode = CM_CMD;
            break;
        default:
            used = feed_lines(s, &s->cl, p, n, ts_us, client_line);
            break;
        }
        p += used;
        n -= used;
    }
}

/* smtp_sess_gap - bytes of one direction are missing: resynchronise at the next reply */
void smtp_sess_gap(struct smtp_sess *s, int from_client, size_t len, int64_t ts_us)
{
    struct linebuf *lb = from_client ? &s->cl : &s->sv;

    (void)ts_us;
    if (s->stopped || s->await_tls)
        return;
    if (from_client && s->cmode == CM_CHUNK && len > 0 && len <= s->chunk_left) {
        s->chunk_left -= len; /* the lost bytes were content of the chunk */
        if (s->chunk_left == 0)
            s->cmode = CM_CMD;
        return;
    }
    if (from_client && s->cmode == CM_BODY) {
        s->body_gap = 1;
        s->bstate = B_MID;
        return;
    }
    /* Commands lost with client bytes still get replies, and replies lost with server bytes
     * leave their commands waiting: either way the pairing after the gap is unknown. So,
     * until the commands pending now (and those parsed meanwhile) are answered, replies
     * are consumed without events: the dialogue resumes at the first reply that finds
     * nothing pending. Commands sent before a client gap still pair with the first replies,
     * because a server answers in order. The direction with the gap resumes at its next
     * line (a client line also where the bytes begin with a command word). */
    lb->len = 0;
    if (from_client) {
        lb->skip = 0;
        s->cl_resync = 1;
        s->cmode = CM_CMD;
    } else {
        lb->skip = 1;
        s->in_reply = 0;
        for (unsigned i = 0; i < s->count; i++)
            s->ring[(s->head + i) % SMTP_PENDING].uncertain = 1;
    }
    s->desync = 1;
    s->greeted = 1;
}

/* smtp_sess_end - the connection ended: report commands that never got a reply */
void smtp_sess_end(struct smtp_sess *s, int64_t ts_us)
{
    while (s->count > 0)
        pop_unanswered(s, ts_us);
}
