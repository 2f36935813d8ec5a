/*
 * postfix - the message text of Postfix log lines (prefix pfx_)
 *
 * The daemon is the last component of the program name ("postfix/submission/smtpd" is
 * smtpd); the first component must start with "postfix" (postfix-out, postfix-239.58.50.50).
 * What each daemon says that matters:
 *
 *	smtp lmtp local virtual pipe error retry discard
 *			QID: to=<r>, [orig_to=<o>,] relay=..., delay=..., delays=a/b/c/d,
 *			dsn=X.Y.Z, status=S (reply)			-> delivery
 *	qmgr		QID: from=<s>, size=N, nrcpt=N (queue active)	-> message (first time)
 *			QID: from=<s>, status=expired, returned to sender -> delivery (expired)
 *			QID: removed					-> forget QID
 *	cleanup		QID: message-id=<m>				-> remember
 *	smtpd		QID: client=h[ip][, sasl_username=u]		-> remember
 *	smtpd cleanup	NOQUEUE: reject: ... / QID: milter-reject: ...	-> reject
 *	bounce		QID: sender non-delivery notification: QID2	-> bounce_notice
 *
 * The field tail is read as "key=value, " pairs and keys not known here are skipped: Postfix
 * adds fields over time (conn_use=, tls=). The status word ends at a space or comma; the
 * reply is what the outer parentheses hold, up to the last ')' of the line.
 */
#include <string.h>

#include "parser/parser_int.h"
#include "parser/scan.h"

enum pfx_daemon {
    D_OTHER, /* a name not known here: read by what the text looks like */
    D_DELIVERY,
    D_QMGR,
    D_CLEANUP,
    D_SMTPD,
    D_BOUNCE,
    D_PICKUP,
    D_POSTSCREEN,
    D_POSTSUPER,
    D_QUIET, /* daemons that never log about one message's delivery */
};

/* D - a daemons[] row: the name, its length and its kind */
#define D(name, kind)                                                                              \
    {                                                                                              \
        name, sizeof(name) - 1, kind                                                               \
    }

static const struct {
    const char *name;
    size_t len;
    enum pfx_daemon daemon;
} daemons[] = {
    D("smtp", D_DELIVERY),       D("lmtp", D_DELIVERY),
    D("local", D_DELIVERY),      D("virtual", D_DELIVERY),
    D("pipe", D_DELIVERY),       D("error", D_DELIVERY),
    D("retry", D_DELIVERY),      D("discard", D_DELIVERY),
    D("qmgr", D_QMGR),           D("cleanup", D_CLEANUP),
    D("smtpd", D_SMTPD),         D("bounce", D_BOUNCE),
    D("oqmgr", D_QMGR),          D("nqmgr", D_QMGR),
    D("pickup", D_PICKUP),       D("defer", D_BOUNCE),
    D("trace", D_BOUNCE),        D("postscreen", D_POSTSCREEN),
    D("postsuper", D_POSTSUPER), D("anvil", D_QUIET),
    D("scache", D_QUIET),        D("master", D_QUIET),
    D("tlsmgr", D_QUIET),        D("dnsblog", D_QUIET),
    D("tlsproxy", D_QUIET),      D("verify", D_QUIET),
    D("proxymap", D_QUIET),      D("trivial-rewrite", D_QUIET),
    D("postdrop", D_QUIET),      D("sendmail", D_QUIET),
    D("flush", D_QUIET),         D("showq", D_QUIET),
    D("postqueue", D_QUIET),     D("postlog", D_QUIET),
    D("spawn", D_QUIET),         D("postfix-script", D_QUIET),
    D("script", D_QUIET),        D("postmap", D_QUIET),
    D("postconf", D_QUIET),      D("postmulti", D_QUIET),
    D("policy-spf", D_QUIET),    D("local-dkim", D_QUIET),
};

#undef D

/*
 * What Postfix daemons say that is understood and has nothing to do with one message's
 * delivery: connections, TLS, per-attempt chatter of the smtp client before the status line,
 * header/body actions that do not refuse mail. Checked only after the lines that matter.
 */
static const char *const quiet_prefixes[] = {
    "connect from ",
    "disconnect from ",
    "lost connection ",
    "timeout after ",
    "warning: ",
    "error: ",
    "fatal: ",
    "panic: ",
    "statistics: ",
    "Anonymous TLS ",
    "Trusted TLS ",
    "Untrusted TLS ",
    "Verified TLS ",
    "SSL_accept error ",
    "SSL_connect error ",
    "TLS ",
    "improper command pipelining ",
    "too many errors ",
    "Host offered STARTTLS",
    "host ",
    "connect to ",
    "enabling PIX workarounds",
    "discarding EHLO keywords",
    "SASL authentication failed",
    "SASL ",
    "bare <LF> received",
    "conversation with ",
    "lost connection with ",
    "reject_warning: ",
    "hold: ",
    "discard: ",
    "redirect: ",
    "filter: ",
    "replace: ",
    "prepend: ",
    "info: ",
    "skipped, still being delivered",
    "resent-message-id=",
    "proxy-accept: ",
    "proxy-reject: ",
    "client=",
    "sender non-delivery",
    "breakdown ",
    "daemon started",
    "reload ",
    "terminating on signal",
    "refreshing the Postfix",
    "starting the Postfix",
    "stopping the Postfix",
    "Postfix is ",
    "mail system is ",
    "cannot ",
    "dict_",
    "table ",
    "using backwards-compatible",
    "To disable backwards",
    "Deleted: ",
    "Requeued: ",
    "Placed on hold: ",
    "Released from hold: ",
    "placed on hold",
    "released from hold",
    "requeued",
    "uid=",
    "sender=",
    "message-id=",
    "milter-",
    "reject: ",
    "NOQUEUE: ",
    "queue file size limit exceeded",
    "bad address syntax",
    "address not listed ",
    "Server certificate ",
    "server certificate ",
    "certificate ",
    "setting up TLS",
    "initializing the ",
    "unknown ",
    "input attribute name",
    "verify ",
    "passed ",
};

/* daemon_of - the daemon kind of a program name */
static enum pfx_daemon daemon_of(const char *prog, size_t len)
{
    const char *slash = memrchr(prog, '/', len);
    const char *name = slash ? slash + 1 : prog;
    size_t n = (size_t)(prog + len - name), i;

    for (i = 0; i < ARRAY_LEN(daemons); i++) {
        if (daemons[i].len == n && daemons[i].name[0] == name[0] &&
            memcmp(daemons[i].name, name, n) == 0)
            return daemons[i].daemon;
    }
    return D_OTHER;
}

/*
 * read_qid - the queue id at the start of the text, followed by ": ". Short ids are upper
 * case hex, long ids mix digits and letters; "warning:" and "NOQUEUE:" are not ids.
 * Returns the id length, or 0.
 */
static size_t read_qid(const char *s, const char *end)
{
    enum { DIGIT = 1, LOWER = 2, UPPER = 4 };
    /* qid_class - the kind of each byte that may be in a queue id, 0 for the others */
    static const unsigned char qid_class[256] = {
        ['0'] = DIGIT, ['1'] = DIGIT, ['2'] = DIGIT, ['3'] = DIGIT, ['4'] = DIGIT, ['5'] = DIGIT,
        ['6'] = DIGIT, ['7'] = DIGIT, ['8'] = DIGIT, ['9'] = DIGIT, ['a'] = LOWER, ['b'] = LOWER,
        ['c'] = LOWER, ['d'] = LOWER, ['e'] = LOWER, ['f'] = LOWER, ['g'] = LOWER, ['h'] = LOWER,
        ['i'] = LOWER, ['j'] = LOWER, ['k'] = LOWER, ['l'] = LOWER, ['m'] = LOWER, ['n'] = LOWER,
        ['o'] = LOWER, ['p'] = LOWER, ['q'] = LOWER, ['r'] = LOWER, ['s'] = LOWER, ['t'] = LOWER,
        ['u'] = LOWER, ['v'] = LOWER, ['w'] = LOWER, ['x'] = LOWER, ['y'] = LOWER, ['z'] = LOWER,
        ['A'] = UPPER, ['B'] = UPPER, ['C'] = UPPER, ['D'] = UPPER, ['E'] = UPPER, ['F'] = UPPER,
        ['G'] = UPPER, ['H'] = UPPER, ['I'] = UPPER, ['J'] = UPPER, ['K'] = UPPER, ['L'] = UPPER,
        ['M'] = UPPER, ['N'] = UPPER, ['O'] = UPPER, ['P'] = UPPER, ['Q'] = UPPER, ['R'] = UPPER,
        ['S'] = UPPER, ['T'] = UPPER, ['U'] = UPPER, ['V'] = UPPER, ['W'] = UPPER, ['X'] = UPPER,
        ['Y'] = UPPER, ['Z'] = UPPER,
    };
    const char *p = s;
    unsigned seen = 0, c;

    for (; p < end && (c = qid_class[(unsigned char)*p]) != 0; p++)
        seen |= c;
    if (p - s < 5 || p - s >= EV_QID_LEN || end - p < 2 || p[0] != ':' || p[1] != ' ')
        return 0;
    if (!(seen & DIGIT) && ((seen & LOWER) || memcmp(s, "NOQUEUE", 7) == 0))
        return 0;
    return (size_t)(p - s);
}

/* key_stop - the bytes that end a key: '=', ' ' and ',' */
static const bool key_stop[256] = {['='] = true, [' '] = true, [','] = true};

/*
 * kv_next - read the next "key=value" at *pp. A value in <> ends at the '>' that is followed
 * by ',', ' ' or the end; the status word ends at ' ' or ','; other values end at ','.
 * Returns 1 with *kv filled, 0 at the end of the text, -1 when it is not key=value.
 */
static int kv_next(const char **pp, const char *end, struct scan_kv *kv)
{
    const char *p = *pp, *q;

    while (p < end && (*p == ',' || *p == ' '))
        p++;
    if (p == end) {
        *pp = p;
        return 0;
    }
    kv->key = p;
    while (p < end && !key_stop[(unsigned char)*p])
        p++;
    if (p == end || *p != '=' || p == kv->key)
        return -1;
    kv->key_len = (size_t)(p - kv->key);
    p++;
    if (p < end && *p == '<') {
        for (q = p + 1; (q = memchr(q, '>', (size_t)(end - q))) != NULL; q++) {
            if (q + 1 == end || q[1] == ',' || q[1] == ' ')
                break;
        }
        if (q == NULL)
            return -1;
        kv->val = p + 1;
        kv->val_len = (size_t)(q - p - 1);
        *pp = q + 1;
        return 1;
    }
    kv->val = p;
    if (scan_key_is(kv, "status")) {
        while (p < end && *p != ' ' && *p != ',')
            p++;
    } else {
        q = memchr(p, ',', (size_t)(end - p));
        p = q ? q : end;
    }
    kv->val_len = (size_t)(p - kv->val);
    *pp = p;
    return 1;
}

/* parse_decimal - "0.27" to a double, exactly as the nearest double; 0, or -1 */
static int parse_decimal(const char *s, size_t len, double *out)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    uint64_t mant = 0;
    size_t i = 0, ndig = 0, frac = 0;
    bool dot = false;

    for (; i < len; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (ndig >= 17)
                return -1;
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            ndig++;
            if (dot)
                frac++;
        } else if (s[i] == '.' && !dot) {
            dot = true;
        } else {
            return -1;
        }
    }
    if (ndig == 0 || frac >= ARRAY_LEN(pow10))
        return -1;
    *out = (double)mant / pow10[frac];
    return 0;
}

/* parse_count - leading digits of s ("1 (queue active)") to a number; 0, or -1 */
static int parse_count(const char *s, size_t len, int64_t *out)
{
    int64_t v = 0;
    size_t i;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0)
        return -1;
    *out = v;
    return 0;
}

/* parse_delays - "a/b/c/d" into ev->delays; 0, or -1 */
static int parse_delays(const char *s, size_t len, struct event *ev)
{
    const char *end = s + len, *p = s;
    int i;

    for (i = 0; i < 4; i++) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = (i < 3 && slash) ? slash : end;

        if ((i < 3 && slash == NULL) || parse_decimal(p, (size_t)(stop - p), &ev->delays[i]))
            return -1;
        p = stop + 1;
    }
    return 0;
}

/* is_quiet - a message text (after the queue id, if any) known to be about nothing we count */
static bool is_quiet(const char *s, const char *end)
{
    size_t i;

    if (s == end)
        return false;
    for (i = 0; i < ARRAY_LEN(quiet_prefixes); i++)
        if (quiet_prefixes[i][0] == s[0] && scan_starts(s, end, quiet_prefixes[i]))
            return true;
    return false;
}

/* add_correlation - copy what earlier lines said about the queue id into a delivery */
static void add_correlation(struct parser *p, const struct syslog_env *env, const char *qid,
                            size_t qid_len, struct event *ev)
{
    const struct pq_entry *e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, false);

    if (e == NULL)
        return;
    if (ev->sender[0] == 0 && e->has_sender)
        EVENT_SET(ev, sender, e->sender, strlen(e->sender));
    EVENT_SET(ev, message_id, e->message_id, strlen(e->message_id));
    EVENT_SET(ev, client, e->client, strlen(e->client));
    EVENT_SET(ev, sasl_username, e->sasl_username, strlen(e->sasl_username));
}

/* queued_as - the queue id a reply names with "queued as QID", or NULL; *n its length */
static const char *queued_as(const char *reply, size_t *n)
{
    const char *q = strstr(reply, "queued as "), *id;
    size_t k = 0;

    if (q == NULL)
        return NULL;
    id = q + 10;
    while ((id[k] >= '0' && id[k] <= '9') || (id[k] >= 'A' && id[k] <= 'Z') ||
           (id[k] >= 'a' && id[k] <= 'z'))
        k++;
    if (k == 0 || k >= EV_QID_LEN)
        return NULL;
    *n = k;
    return id;
}

/* find_said - the first "said: " in [s, end), or NULL; found by its ':', which is rare in a
 * reply, instead of memmem() (a twentieth of the time of a delivery line) */
static const char *find_said(const char *s, const char *end)
{
    const char *c;

    if (end - s < 6)
        return NULL;
    for (c = s + 4; c + 1 < end && (c = memchr(c, ':', (size_t)(end - c - 1))) != NULL; c++) {
        if (c[1] == ' ' && memcmp(c - 4, "said", 4) == 0)
            return c - 4;
    }
    return NULL;
}

/* handed_to_mta - does a filter's reply say it handed the message on to an MTA on loopback
 * (amavis: "250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as QID2")? */
static bool handed_to_mta(const char *reply)
{
    const char *mta = strstr(reply, "from MTA("), *q;

    if (mta == NULL || (q = strstr(mta, "queued as ")) == NULL)
        return false;
    mta = strchr(mta, '[');
    return mta && mta < q && (strncmp(mta + 1, "127.", 4) == 0 || strncmp(mta + 1, "::1]", 4) == 0);
}

/* parse_delivery - "to=<r>, ..., status=S (reply)" of a delivery agent */
static enum parse_result parse_delivery(struct parser *p, const struct syslog_env *env,
                                        const char *qid, size_t qid_len, const char *s,
                                        const char *end, struct event *ev)
{
    struct scan_kv kv;
    const char *reply, *rend, *said;
    bool have_status = false;

    scan_event_head(ev, MTA_POSTFIX, EV_DELIVERY, env, qid, qid_len);
    while (kv_next(&s, end, &kv) == 1) {
        if (scan_key_is(&kv, "to")) {
            EVENT_SET(ev, recipient, kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "orig_to")) {
            EVENT_SET(ev, orig_recipient, kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "relay")) {
            EVENT_SET(ev, relay, kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "delay")) {
            ev->has_delay = parse_decimal(kv.val, kv.val_len, &ev->delay) == 0;
        } else if (scan_key_is(&kv, "delays")) {
            ev->has_delays = parse_delays(kv.val, kv.val_len, ev) == 0;
        } else if (scan_key_is(&kv, "dsn")) {
            EVENT_SET(ev, dsn, kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "status")) {
            if (event_status_parse(kv.val, kv.val_len, &ev->status) != 0)
                return PARSE_SKIP; /* deliverable/undeliverable: address probes */
            have_status = true;
            break;
        }
    }
    if (!have_status)
        return PARSE_MALFORMED;

    /* The reply: the outer parentheses, up to the last ')' of the line. */
    s = scan_skip_spaces(s, end);
    rend = scan_trim_end(s, end);
    reply = s;
    if (reply < rend && *reply == '(') {
        reply++;
        if (rend > reply && rend[-1] == ')')
            rend--;
    }
    EVENT_SET(ev, reply, reply, (size_t)(rend - reply));

    said = find_said(reply, rend);
    ev->smtp_code = smtp_reply_code(said ? said + 6 : reply, rend);

    add_correlation(p, env, qid, qid_len, ev);
    /* A content filter's hop: the filter took the message and handed it back to this
     * Postfix under a new queue id; that message is delivered later, and this line is not a
     * delivery. Folded when the id is logged here (before this line or after it, then held
     * until its qmgr line claims it); a relay whose id is not this Postfix's (a smarthost or
     * tunnel on loopback) took the message for good. */
    if (ev->status == ST_SENT && scan_is_loopback(ev->relay)) {
        size_t n = 0;
        const char *id = queued_as(ev->reply, &n);
        bool known = handed_to_mta(ev->reply);

        if ((id != NULL && !(n == qid_len && memcmp(id, qid, n) == 0)) || known) {
            (void)parser_hop(p, ev, qid, qid_len, id ? id : "", id ? n : 0, known);
            return PARSE_SKIP;
        }
    }
    if (ev->status != ST_SENT)
        scan_classify(p, ev, ev->status);
    return PARSE_EVENT;
}

/* parse_qmgr_from - "from=<s>, size=N, nrcpt=N (queue active)" or "..., status=expired" */
static enum parse_result parse_qmgr_from(struct parser *p, const struct syslog_env *env,
                                         const char *qid, size_t qid_len, const char *s,
                                         const char *end, struct event *ev)
{
    struct scan_kv kv, from = {0};
    int64_t size = -1, nrcpt = -1;
    bool expired = false;
    struct pq_entry *e;

    while (kv_next(&s, end, &kv) == 1) {
        if (scan_key_is(&kv, "from")) {
            from = kv;
        } else if (scan_key_is(&kv, "size")) {
            if (parse_count(kv.val, kv.val_len, &size))
                return PARSE_MALFORMED;
        } else if (scan_key_is(&kv, "nrcpt")) {
            if (parse_count(kv.val, kv.val_len, &nrcpt))
                return PARSE_MALFORMED;
        } else if (scan_key_is(&kv, "status")) {
            if ((kv.val_len == 7 && memcmp(kv.val, "expired", 7) == 0) ||
                (kv.val_len == 13 && memcmp(kv.val, "force-expired", 13) == 0))
                expired = true;
            break;
        }
    }
    if (from.key == NULL)
        return PARSE_MALFORMED;

    if (expired) {
        scan_event_head(ev, MTA_POSTFIX, EV_DELIVERY, env, qid, qid_len);
        EVENT_SET(ev, sender, from.val, from.val_len);
        ev->status = ST_EXPIRED;
        add_correlation(p, env, qid, qid_len, ev);
        /* One expiry per recipient still deferred, with its last failure; none known (the
         * log began later): one for the message, without a recipient. */
        if (parser_defer_expire(p, ev) == 0)
            scan_classify(p, ev, ev->status);
        return PARSE_EVENT;
    }
    if (size < 0)
        return PARSE_SKIP;

    e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, true);
    str_copy(e->sender, sizeof(e->sender), from.val, from.val_len);
    e->has_sender = true;
    e->size = size;
    e->nrcpt = nrcpt > INT32_MAX ? -1 : (int32_t)nrcpt;
    if (e->message_done)
        return PARSE_SKIP; /* the message comes back from the deferred queue */
    e->message_done = true;
    /* The same message handed back by a content filter: counted once, by its first id. The
     * filter's reply named this queue id on a hop line read before this one, or the same
     * message-id came in from loopback while the first copy was open. */
    if (parser_hold_claim(p, e) || (e->msgid_seen && scan_is_loopback(e->client)))
        return PARSE_SKIP;

    scan_event_head(ev, MTA_POSTFIX, EV_MESSAGE, env, qid, qid_len);
    EVENT_SET(ev, sender, from.val, from.val_len);
    EVENT_SET(ev, message_id, e->message_id, strlen(e->message_id));
    EVENT_SET(ev, client, e->client, strlen(e->client));
    EVENT_SET(ev, sasl_username, e->sasl_username, strlen(e->sasl_username));
    ev->size = size;
    ev->nrcpt = e->nrcpt;
    return PARSE_EVENT;
}

/* remember_client - smtpd "client=h[ip], sasl_method=..., sasl_username=u" */
static enum parse_result remember_client(struct parser *p, const struct syslog_env *env,
                                         const char *qid, size_t qid_len, const char *s,
                                         const char *end)
{
    struct pq_entry *e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, true);
    struct scan_kv kv;

    while (kv_next(&s, end, &kv) == 1) {
        if (scan_key_is(&kv, "client"))
            str_copy(e->client, sizeof(e->client), kv.val, kv.val_len);
        else if (scan_key_is(&kv, "sasl_username"))
            str_copy(e->sasl_username, sizeof(e->sasl_username), kv.val, kv.val_len);
    }
    return PARSE_SKIP;
}

/* remember_message_id - cleanup "message-id=<m>"; an empty "<>" is no message-id */
static enum parse_result remember_message_id(struct parser *p, const struct syslog_env *env,
                                             const char *qid, size_t qid_len, const char *s,
                                             const char *end)
{
    struct pq_entry *e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, true);

    end = scan_trim_end(s, end);
    if (end - s == 2 && s[0] == '<' && s[1] == '>')
        end = s;
    str_copy(e->message_id, sizeof(e->message_id), s, (size_t)(end - s));
    e->msgid_hash = e->message_id[0] ? hash_fnv1a64(e->message_id, strlen(e->message_id)) | 1 : 0;
    e->msgid_seen = parser_queue_note_msgid(p, e);
    return PARSE_SKIP;
}

/*
 * parse_reject - "reject: RCPT from h[ip]: 554 5.7.1 <r>: text; from=<s> to=<r> proto=P
 * helo=<h>" (smtpd) or "milter-reject: END-OF-MESSAGE from h[ip]: 5.7.1 text; from=..."
 */
static enum parse_result parse_reject(const struct syslog_env *env, const char *s, const char *end,
                                      struct event *ev)
{
    const char *from, *colon, *reply, *rend, *f;
    struct reason_result rr;
    size_t n;

    from = memmem(s, (size_t)(end - s), " from ", 6);
    if (from == NULL)
        return PARSE_MALFORMED;
    from += 6;
    colon = memmem(from, (size_t)(end - from), ": ", 2);
    if (colon == NULL)
        return PARSE_MALFORMED;
    scan_event_head(ev, MTA_POSTFIX, EV_REJECT, env, "", 0);
    EVENT_SET(ev, client, from, (size_t)(colon - from));

    /* The envelope tail starts at the last "; from=<" (or "; to=<" / "; proto=" when the
     * command had no sender: VRFY, CONNECT). */
    reply = colon + 2;
    rend = end;
    for (f = reply; (f = memmem(f, (size_t)(end - f), "; from=<", 8)) != NULL; f++)
        rend = f;
    if (rend == end)
        for (f = reply; (f = memmem(f, (size_t)(end - f), "; to=<", 6)) != NULL; f++)
            rend = f;
    if (rend == end)
        for (f = reply; (f = memmem(f, (size_t)(end - f), "; proto=", 8)) != NULL; f++)
            rend = f;
    EVENT_SET(ev, reply, reply, (size_t)(scan_trim_end(reply, rend) - reply));

    ev->smtp_code = smtp_reply_code(reply, rend);
    f = ev->smtp_code > 0 ? reply + 4 : reply;
    n = f < rend ? event_dsn_len(f, rend) : 0;
    if (n)
        EVENT_SET(ev, dsn, f, n);

    /* The tail is space separated: from=<s> to=<r> proto=ESMTP helo=<h> */
    for (f = rend + 2; f < end;) {
        struct scan_kv kv;

        if (kv_next(&f, end, &kv) != 1)
            break;
        if (scan_key_is(&kv, "from"))
            EVENT_SET(ev, sender, kv.val, kv.val_len);
        else if (scan_key_is(&kv, "to"))
            EVENT_SET(ev, recipient, kv.val, kv.val_len);
        else if (scan_key_is(&kv, "helo"))
            EVENT_SET(ev, helo, kv.val, kv.val_len);
        if (kv.val[-1] != '<') {
            /* an unbracketed value ran to the next ','; step to its next word instead */
            const char *sp = memchr(kv.val, ' ', (size_t)(end - kv.val));

            f = sp ? sp : end;
        }
    }
    reason_classify(ev->smtp_code, ev->dsn, ev->reply, ST_NONE, &rr);
    EVENT_SET(ev, reason, rr.reason, strlen(rr.reason));
    return PARSE_EVENT;
}

/*
 * parse_content_reject - cleanup "reject: header Subject: x from h[ip]; from=<s> to=<r>
 * proto=ESMTP helo=<h>: 5.7.1 text" (also "body"); the reply comes last, after the helo.
 */
static enum parse_result parse_content_reject(const struct syslog_env *env, const char *qid,
                                              size_t qid_len, const char *s, const char *end,
                                              struct event *ev)
{
    const char *semi = NULL, *f, *from, *reply = NULL, *tail_end = end, *h;
    struct reason_result rr;
    size_t n;

    for (f = s; (f = memmem(f, (size_t)(end - f), "; from=<", 8)) != NULL; f++)
        semi = f;
    if (semi == NULL)
        return PARSE_MALFORMED;
    scan_event_head(ev, MTA_POSTFIX, EV_REJECT, env, qid, qid_len);
    /* the client: the last " from " before the envelope */
    for (f = s, from = NULL; (f = memmem(f, (size_t)(semi - f), " from ", 6)) != NULL; f++)
        from = f + 6;
    if (from != NULL)
        EVENT_SET(ev, client, from, (size_t)(semi - from));
    /* "helo=<h>: reply": a '>' followed by ':' does not end a bracketed value for kv_next,
     * so the envelope ends at the helo's '>' and the reply starts after its ": " */
    h = memmem(semi, (size_t)(end - semi), " helo=<", 7);
    if (h != NULL && (h = memmem(h, (size_t)(end - h), ">: ", 3)) != NULL) {
        tail_end = h + 1;
        reply = h + 3;
    }
    for (f = semi + 2; f < tail_end;) {
        struct scan_kv kv;

        if (kv_next(&f, tail_end, &kv) != 1)
            break;
        if (scan_key_is(&kv, "from"))
            EVENT_SET(ev, sender, kv.val, kv.val_len);
        else if (scan_key_is(&kv, "to"))
            EVENT_SET(ev, recipient, kv.val, kv.val_len);
        else if (scan_key_is(&kv, "helo"))
            EVENT_SET(ev, helo, kv.val, kv.val_len);
        if (kv.val[-1] != '<') {
            /* an unbracketed value ran to the next ','; step to its next word instead */
            const char *sp = memchr(kv.val, ' ', (size_t)(end - kv.val));

            f = sp ? sp : end;
            if (f - 1 > kv.val && f[-1] == ':') {
                reply = f + 1;
                break;
            }
        } else if (f + 1 < end && f[0] == ':' && f[1] == ' ') {
            reply = f + 2;
            break;
        }
    }
    if (reply != NULL && reply < end) {
        EVENT_SET(ev, reply, reply, (size_t)(end - reply));
        ev->smtp_code = smtp_reply_code(reply, end);
        f = ev->smtp_code > 0 ? reply + 4 : reply;
        n = f < end ? event_dsn_len(f, end) : 0;
        if (n)
            EVENT_SET(ev, dsn, f, n);
    }
    reason_classify(ev->smtp_code, ev->dsn, ev->reply[0] ? ev->reply : "content rejected", ST_NONE,
                    &rr);
    EVENT_SET(ev, reason, rr.reason, strlen(rr.reason));
    return PARSE_EVENT;
}

/* remember_pickup - pickup "QID: uid=0 from=<s>" or "QID: sender=<s>, uid=0" */
static enum parse_result remember_pickup(struct parser *p, const struct syslog_env *env,
                                         const char *qid, size_t qid_len, const char *s,
                                         const char *end)
{
    struct pq_entry *e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, true);
    struct scan_kv kv;

    while (kv_next(&s, end, &kv) == 1) {
        if (scan_key_is(&kv, "from") || scan_key_is(&kv, "sender")) {
            str_copy(e->sender, sizeof(e->sender), kv.val, kv.val_len);
            e->has_sender = true;
        }
        if (kv.val[-1] != '<') {
            const char *sp = memchr(kv.val, ' ', (size_t)(end - kv.val));

            s = sp ? sp : end;
        }
    }
    return PARSE_SKIP;
}

/* parse_bounce - bounce "QID: sender non-delivery notification: QID2" */
static enum parse_result parse_bounce(const struct syslog_env *env, const char *qid, size_t qid_len,
                                      const char *s, const char *end, struct event *ev)
{
    const char *n = memmem(s, (size_t)(end - s), "notification: ", 14);
    const char *id;

    if (n == NULL)
        return PARSE_SKIP;
    id = n + 14;
    end = scan_trim_end(id, end);
    if (id == end)
        return PARSE_MALFORMED;
    scan_event_head(ev, MTA_POSTFIX, EV_BOUNCE_NOTICE, env, qid, qid_len);
    EVENT_SET(ev, notice_queue_id, id, (size_t)(end - id));
    return PARSE_EVENT;
}

/* unknown - a line of a Postfix daemon that is neither read here nor known to be quiet */
static enum parse_result unknown(const char *s, const char *end)
{
    return is_quiet(s, end) ? PARSE_SKIP : PARSE_MALFORMED;
}

/* pfx_parse_line - the message text of one Postfix line */
enum parse_result pfx_parse_line(struct parser *p, const struct syslog_env *env, struct event *ev)
{
    enum pfx_daemon daemon = daemon_of(env->prog, env->prog_len);
    const char *s = env->msg, *end = env->msg + env->msg_len, *rest;
    size_t qid_len;

    if (daemon == D_QUIET)
        return PARSE_SKIP;
    end = scan_trim_end(s, end);
    if (scan_starts(s, end, "NOQUEUE: ")) {
        rest = s + 9;
        if (scan_starts(rest, end, "reject: ") &&
            (daemon == D_SMTPD || daemon == D_POSTSCREEN || daemon == D_OTHER))
            return parse_reject(env, rest + 8, end, ev);
        if (scan_starts(rest, end, "milter-reject: ") && (daemon == D_SMTPD || daemon == D_OTHER))
            return parse_reject(env, rest + 15, end, ev);
        return unknown(rest, end);
    }
    if (daemon == D_POSTSCREEN)
        return PARSE_SKIP; /* CONNECT, PASS, DNSBL rank, HANGUP, PREGREET ... */
    qid_len = read_qid(s, end);
    if (qid_len == 0)
        return unknown(s, end);
    rest = s + qid_len + 2;

    switch (daemon) {
    case D_DELIVERY:
        if (scan_starts(rest, end, "to="))
            return parse_delivery(p, env, s, qid_len, rest, end, ev);
        break;
    case D_QMGR:
        if (end - rest == 7 && memcmp(rest, "removed", 7) == 0) {
            parser_queue_remove(p, env->host, env->host_len, s, qid_len);
            return PARSE_SKIP;
        }
        if (scan_starts(rest, end, "from=<"))
            return parse_qmgr_from(p, env, s, qid_len, rest, end, ev);
        if (scan_starts(rest, end, "to=<")) /* qmgr's own bounces: "status=bounced" etc. */
            return parse_delivery(p, env, s, qid_len, rest, end, ev);
        break;
    case D_CLEANUP:
        if (scan_starts(rest, end, "message-id="))
            return remember_message_id(p, env, s, qid_len, rest + 11, end);
        if (scan_starts(rest, end, "milter-reject: ")) {
            enum parse_result r = parse_reject(env, rest + 15, end, ev);

            if (r == PARSE_EVENT)
                EVENT_SET(ev, queue_id, s, qid_len);
            return r;
        }
        if (scan_starts(rest, end, "reject: "))
            return parse_content_reject(env, s, qid_len, rest + 8, end, ev);
        break;
    case D_SMTPD:
        if (scan_starts(rest, end, "client="))
            return remember_client(p, env, s, qid_len, rest, end);
        if (scan_starts(rest, end, "reject: ") || scan_starts(rest, end, "milter-reject: ")) {
            const char *r0 = rest[0] == 'r' ? rest + 8 : rest + 15;
            enum parse_result r = parse_reject(env, r0, end, ev);

            if (r == PARSE_EVENT)
                EVENT_SET(ev, queue_id, s, qid_len);
            return r;
        }
        break;
    case D_BOUNCE:
        if (memmem(rest, (size_t)(end - rest), "notification: ", 14) != NULL)
            return parse_bounce(env, s, qid_len, rest, end, ev);
        break;
    case D_PICKUP:
        if (scan_starts(rest, end, "uid=") || scan_starts(rest, end, "sender="))
            return remember_pickup(p, env, s, qid_len, rest, end);
        break;
    case D_POSTSUPER:
        if (end - rest == 7 && memcmp(rest, "removed", 7) == 0)
            parser_queue_remove(p, env->host, env->host_len, s, qid_len);
        return PARSE_SKIP;
    case D_OTHER:
        /* a service with its own name in master.cf: go by what the text says */
        if (scan_starts(rest, end, "to=<"))
            return parse_delivery(p, env, s, qid_len, rest, end, ev);
        if (scan_starts(rest, end, "client="))
            return remember_client(p, env, s, qid_len, rest, end);
        if (scan_starts(rest, end, "message-id="))
            return remember_message_id(p, env, s, qid_len, rest + 11, end);
        break;
    case D_POSTSCREEN:
    case D_QUIET:
        return PARSE_SKIP;
    }
    return unknown(rest, end);
}
