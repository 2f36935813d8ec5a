/*
 * sendmail - the message text of Sendmail log lines (prefix sm_)
 *
 * The program is sendmail, sm-mta, sm-msp-queue (or the process title sendmail sets, such
 * as sm-acceptingconnections); parser.c dispatches them here. What matters:
 *
 *	QID: from=<s>, size=N, class=0, nrcpts=N, msgid=<m>, proto=ESMTP, daemon=MTA,
 *	     relay=name [ip]					-> message, remembered
 *	QID: to=<r>[,<r2>...], [ctladdr=<c> (u/g),] delay=hh:mm:ss, xdelay=..., mailer=esmtp,
 *	     pri=N, relay=name. [ip], dsn=X.Y.Z, [reply=NNN X.Y.Z text, ]stat=Sent (reply)
 *								-> delivery
 *	QID: QID2: DSN: text					-> bounce_notice
 *	[QID: ]ruleset=check_rcpt, arg1=<r>, relay=name [ip], reject=550 5.7.1 <r>... text
 *	QID: Milter: from=<s>, reject=554 5.7.1 text		-> reject
 *	QID: Milter: data, reject=550 5.7.1 text, or QID: ruleset=<header check>, arg1=...,
 *	     reject=553 5.7.1 text: the message refused after its recipients were taken;
 *	     remembered, and each recipient's following to= line without a mailer= (no
 *	     delivery was tried) is a reject with that code	-> reject per recipient
 *	QID: QID2: DSN: <r>... text				-> bounce_notice, and a bounce of r
 *	     (a command-line submission whose recipient failed at once: the error mailer)
 *	QID: <r>... User unknown				-> reject of r
 *	QID: QID2: DSN: Cannot send message for 5 days		-> bounce_notice, and an
 *								   expiry per recipient
 *								   still deferred
 *
 * Fields are "key=value" separated by ", "; a value runs to the next ", key=" (values such
 * as "name [ip] (may be forged)" hold spaces, ctladdr= holds "<c> (0/0)" and reply= the
 * server's text, commas and all), and stat= and
 * reject= run to the end of the line. The status of a delivery follows the dsn= class
 * (2 sent, 4 deferred, 5 bounced) and, when there is none, the stat= word: Sent, Deferred
 * (and queued or quarantined, which are not counted), anything else a bounce (User unknown, Service
 * unavailable, Host unknown ...). Sendmail lists the recipients that shared one delivery on
 * one to= line; each of them is an event.
 */
#include <string.h>

#include "parser/parser_int.h"
#include "parser/scan.h"

/* key_len_at - the length of a lower-case "key=" at s (without '='), or 0 */
static size_t key_len_at(const char *s, const char *end)
{
    const char *p = s;

    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
        p++;
    return (p > s && p < end && *p == '=') ? (size_t)(p - s) : 0;
}

/*
 * kv_next - the field at *pp; a value ends at the ", " that starts the next "key=", and
 * stat= and reject= at the end of the text. 1 with *kv filled, 0 at the end, -1 when the
 * text there is not key=value.
 */
static int kv_next(const char **pp, const char *end, struct scan_kv *kv)
{
    const char *p = *pp, *q;
    size_t n;

    while (p < end && (*p == ' ' || *p == ','))
        p++;
    if (p == end)
        return 0;
    n = key_len_at(p, end);
    if (n == 0)
        return -1;
    kv->key = p;
    kv->key_len = n;
    kv->val = p + n + 1;
    if (scan_key_is(kv, "stat") || scan_key_is(kv, "reject")) {
        kv->val_len = (size_t)(end - kv->val);
        *pp = end;
        return 1;
    }
    for (q = kv->val; (q = memmem(q, (size_t)(end - q), ", ", 2)) != NULL; q += 2) {
        if (key_len_at(q + 2, end))
            break;
    }
    q = q ? q : end;
    kv->val_len = (size_t)(q - kv->val);
    *pp = q;
    return 1;
}

/* read_qid - the length of a queue id ("s1GNXHYB005133") at s followed by ": ", or 0 */
static size_t read_qid(const char *s, const char *end)
{
    const char *p = s;
    bool digit = false;

    while (p < end &&
           ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        digit |= *p >= '0' && *p <= '9';
        p++;
    }
    if (p - s < 6 || p - s >= EV_QID_LEN || !digit || end - p < 2 || p[0] != ':' || p[1] != ' ')
        return 0;
    return (size_t)(p - s);
}

/* unbracket - "<a@b>" to "a@b" in place of the pointer pair */
static void unbracket(const char **s, size_t *len)
{
    if (*len >= 2 && (*s)[0] == '<' && (*s)[*len - 1] == '>') {
        (*s)++;
        *len -= 2;
    }
}

/*
 * relay_format - "name. [ip] (may be forged)" as "name[ip]", "[ip] [ip]" and "[ip]" as
 * "unknown[ip]", as Postfix writes a client; anything else ("local", "x.test.") as it is
 */
static void relay_format(const char *s, size_t len, char *out, size_t outlen)
{
    const char *end = s + len, *sp = memchr(s, ' ', len), *ip, *cb;
    size_t n;

    if (len == 0) { /* "relay=" at the end of the line: s is past its last byte */
        out[0] = 0;
        return;
    }
    ip = (s[0] == '[') ? s : (sp ? memchr(sp, '[', (size_t)(end - sp)) : NULL);
    cb = ip ? memchr(ip, ']', (size_t)(end - ip)) : NULL;
    if (cb == NULL) {
        str_copy(out, outlen, s, len);
        return;
    }
    if (s[0] == '[') {
        n = 7;
        memcpy(out, "unknown", n); /* outlen is a struct event field, far above 8 */
    } else {
        n = (size_t)(sp - s - (sp - s > 1 && sp[-1] == '.'));
        n -= str_copy(out, outlen, s, n);
    }
    str_copy(out + n, outlen - n, ip, (size_t)(cb - ip + 1));
}

/* take_reply - "550 5.7.1 text" at s: the codes into ev (a dsn= already set wins) */
static void take_reply(const char *s, const char *end, struct event *ev)
{
    int code = smtp_reply_code(s, end);
    size_t n;

    if (code < 0)
        return;
    ev->smtp_code = code;
    s += 4;
    n = s < end ? event_dsn_len(s, end) : 0;
    if (n && ev->dsn[0] == 0)
        EVENT_SET(ev, dsn, s, n);
}

/* parse_delay - "1+02:03:04" or "02:03:04" to seconds; 0, or -1 */
static int parse_delay(const char *s, size_t len, double *out)
{
    const char *end = s + len;
    long days = 0, v = 0, total = 0;
    int parts = 0;

    for (; s < end; s++) {
        if (*s >= '0' && *s <= '9') {
            if (v > 100000)
                return -1;
            v = v * 10 + (*s - '0');
        } else if (*s == '+' && parts == 0) {
            days = v;
            v = 0;
        } else if (*s == ':' && parts < 2) {
            total = total * 60 + v;
            v = 0;
            parts++;
        } else {
            return -1;
        }
    }
    if (parts != 2)
        return -1;
    *out = (double)(days * 86400 + total * 60 + v);
    return 0;
}

/* parse_from - "from=<s>, size=N, ..., msgid=<m>, ..., relay=h [ip]" */
static enum parse_result parse_from(struct parser *p, const struct syslog_env *env, const char *qid,
                                    size_t qid_len, const char *s, const char *end,
                                    struct event *ev)
{
    const struct pq_entry *e;
    struct scan_kv kv;

    scan_event_head(ev, MTA_SENDMAIL, EV_MESSAGE, env, qid, qid_len);
    while (kv_next(&s, end, &kv) == 1) {
        if (scan_key_is(&kv, "from")) {
            unbracket(&kv.val, &kv.val_len);
            EVENT_SET(ev, sender, kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "size") || scan_key_is(&kv, "nrcpts")) {
            int64_t v = 0;
            size_t i;

            for (i = 0;
                 i < kv.val_len && kv.val[i] >= '0' && kv.val[i] <= '9' && v < INT32_MAX / 10; i++)
                v = v * 10 + (kv.val[i] - '0');
            if (i != kv.val_len || i == 0)
                return PARSE_MALFORMED;
            if (kv.key[0] == 's')
                ev->size = v;
            else
                ev->nrcpt = (int32_t)v;
        } else if (scan_key_is(&kv, "msgid")) {
            EVENT_SET(ev, message_id, kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "relay")) {
            relay_format(kv.val, kv.val_len, ev->client, sizeof(ev->client));
        } else if (scan_key_is(&kv, "auth")) {
            EVENT_SET(ev, sasl_username, kv.val, kv.val_len);
        }
    }
    if (ev->size < 0)
        return PARSE_SKIP; /* "from=" without size: a milter or a notice line */
    e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, true);
    if (e->message_done)
        return PARSE_SKIP; /* the same queue id logs its from= line again on a retry */
    /* The same message handed back by a content filter: counted once, by its first id. */
    if (parser_queue_arrival(p, env->host, env->host_len, qid, qid_len, ev))
        return PARSE_SKIP;
    return PARSE_EVENT;
}

/* more_recipients - the second and later recipients of "to=<a>,<b>,c": one event each;
 * with hold (a possible content-filter hop), held until queue id hold shows up or not */
static void more_recipients(struct parser *p, const struct event *ev, const char *s,
                            const char *end, const struct syslog_env *env, const char *hold,
                            size_t hold_len)
{
    const char *comma = memchr(s, ',', (size_t)(end - s));
    struct event held;

    while (comma != NULL) {
        const char *v = comma + 1;
        size_t n;
        struct event *more;

        comma = memchr(v, ',', (size_t)(end - v));
        n = (size_t)((comma ? comma : end) - v);
        unbracket(&v, &n);
        if (n == 0)
            continue;
        if (hold != NULL) {
            held = *ev;
            EVENT_SET(&held, recipient, v, n);
            parser_hold(p, &held, env->host, env->host_len, hold, hold_len);
            continue;
        }
        if ((more = parser_push(p)) == NULL)
            continue;
        *more = *ev;
        EVENT_SET(more, recipient, v, n);
    }
}

/* accepted_id - the queue id a Sendmail's reply names ("250 2.0.0 QID Message accepted for
 * delivery"), or NULL; *n its length */
static const char *accepted_id(const char *reply, size_t *n)
{
    const char *m = strstr(reply, " Message accepted for delivery"), *b;

    if (m == NULL)
        return NULL;
    for (b = m; b > reply && ((b[-1] >= '0' && b[-1] <= '9') || (b[-1] >= 'a' && b[-1] <= 'z') ||
                              (b[-1] >= 'A' && b[-1] <= 'Z'));
         b--)
        ;
    *n = (size_t)(m - b);
    return *n >= 6 && *n < EV_QID_LEN ? b : NULL;
}

/*
 * refused_to - a to= line of a message refused after DATA (e->refused) that names no mailer:
 * ev becomes the reject of its recipients, with the refusal's codes and the stat= text
 */
static enum parse_result refused_to(struct parser *p, const struct pq_entry *e,
                                    const struct scan_kv *to, const struct scan_kv *stat,
                                    struct event *ev)
{
    ev->type = EV_REJECT;
    ev->status = ST_NONE;
    if (e->has_sender)
        EVENT_SET(ev, sender, e->sender, strlen(e->sender));
    EVENT_SET(ev, client, e->client, strlen(e->client));
    EVENT_SET(ev, reply, stat->val, stat->val_len);
    EVENT_SET(ev, dsn, e->refusal_dsn, strlen(e->refusal_dsn));
    ev->smtp_code = e->smtp_refusal_code;
    scan_classify(p, ev, ST_NONE);
    more_recipients(p, ev, to->val, to->val + to->val_len, NULL, NULL, 0);
    return PARSE_EVENT;
}

/* parse_to - "to=<r>, ..., relay=..., dsn=X.Y.Z, stat=Word (reply)" */
static enum parse_result parse_to(struct parser *p, const struct syslog_env *env, const char *qid,
                                  size_t qid_len, const char *s, const char *end, struct event *ev)
{
    const struct pq_entry *e;
    struct scan_kv kv, stat = {0}, reply = {0}, to = {0};
    const char *stat_end;
    char sm_dsn[EV_DSN_LEN] = "";
    bool mailer = false;

    scan_event_head(ev, MTA_SENDMAIL, EV_DELIVERY, env, qid, qid_len);
    while (kv_next(&s, end, &kv) == 1) {
        if (scan_key_is(&kv, "to")) {
            const char *comma = memchr(kv.val, ',', kv.val_len);
            size_t n = comma ? (size_t)(comma - kv.val) : kv.val_len;
            const char *v = kv.val;

            to = kv;
            unbracket(&v, &n);
            EVENT_SET(ev, recipient, v, n);
        } else if (scan_key_is(&kv, "relay")) {
            relay_format(kv.val, kv.val_len, ev->relay, sizeof(ev->relay));
        } else if (scan_key_is(&kv, "dsn")) {
            str_copy(sm_dsn, sizeof(sm_dsn), kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "reply")) {
            reply = kv;
        } else if (scan_key_is(&kv, "delay")) {
            ev->has_delay = parse_delay(kv.val, kv.val_len, &ev->delay) == 0;
        } else if (scan_key_is(&kv, "stat")) {
            stat = kv;
        } else if (scan_key_is(&kv, "mailer")) {
            mailer = true;
        }
    }
    if (stat.key == NULL || ev->recipient[0] == 0)
        return PARSE_MALFORMED;
    e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, false);
    if (e && e->refused && !mailer)
        return refused_to(p, e, &to, &stat, ev);

    /* The status is what Sendmail decided: its own dsn=, else the stat= word. */
    stat_end = stat.val + stat.val_len;
    if (sm_dsn[0] == '2' || (sm_dsn[0] == 0 && scan_starts(stat.val, stat_end, "Sent")))
        ev->status = ST_SENT;
    else if (sm_dsn[0] == '4' || (sm_dsn[0] == 0 && scan_starts(stat.val, stat_end, "Deferred")))
        ev->status = ST_DEFERRED;
    else if (sm_dsn[0] == 0 && (scan_starts(stat.val, stat_end, "queued") ||
                                scan_starts(stat.val, stat_end, "quarantined")))
        return PARSE_SKIP; /* accepted into the queue (or held there) only, no attempt yet */
    else
        ev->status = ST_BOUNCED;

    /*
     * The reply: the server's own words in reply= (8.17 logs it), whose enhanced code is
     * the DSN the server gave; Sendmail's dsn= maps it to its own class (4.2.0 for a 4.2.2).
     * Without reply=: "Sent (text)" -> text; "Deferred: 450 4.2.2 text" -> after ": ".
     */
    if (reply.key) {
        EVENT_SET(ev, reply, reply.val, reply.val_len);
        take_reply(reply.val, reply.val + reply.val_len, ev);
        if (ev->dsn[0] == 0)
            EVENT_SET(ev, dsn, sm_dsn, strlen(sm_dsn));
    } else {
        const char *r = stat.val, *rend = stat.val + stat.val_len;
        const char *open = memchr(r, '(', (size_t)(rend - r));
        const char *colon = memmem(r, (size_t)(rend - r), ": ", 2);

        if (ev->status == ST_SENT && open && rend[-1] == ')') {
            r = open + 1;
            rend--;
        } else if (colon) {
            r = colon + 2;
        }
        EVENT_SET(ev, dsn, sm_dsn, strlen(sm_dsn));
        EVENT_SET(ev, reply, r, (size_t)(rend - r));
        take_reply(r, rend, ev);
    }
    if (e) {
        if (e->has_sender)
            EVENT_SET(ev, sender, e->sender, strlen(e->sender));
        EVENT_SET(ev, message_id, e->message_id, strlen(e->message_id));
        EVENT_SET(ev, client, e->client, strlen(e->client));
        EVENT_SET(ev, sasl_username, e->sasl_username, strlen(e->sasl_username));
    }
    if (ev->status != ST_SENT) {
        scan_classify(p, ev, ev->status);
    }
    /* A content filter's hop: the filter handed the message back to this Sendmail, whose
     * reply it passed on. Folded when that queue id was logged here already, held until
     * it is (or is not) otherwise; a loopback smarthost's id is never logged here. */
    if (ev->status == ST_SENT && scan_is_loopback(ev->relay)) {
        size_t n;
        const char *id = accepted_id(ev->reply, &n);

        if (id != NULL && !(n == qid_len && memcmp(id, qid, n) == 0)) {
            if (parser_hop(p, ev, qid, qid_len, id, n, false))
                more_recipients(p, ev, to.val, to.val + to.val_len, env, id, n);
            return PARSE_SKIP;
        }
    }
    more_recipients(p, ev, to.val, to.val + to.val_len, NULL, NULL, 0);
    return PARSE_EVENT;
}

/*
 * note_refusal - the message QID was refused after its recipients were taken, with ev's
 * codes: remembered for its to= lines (refused_to), and no event of its own
 */
static enum parse_result note_refusal(struct parser *p, const struct syslog_env *env,
                                      const char *qid, size_t qid_len, const struct event *ev)
{
    struct pq_entry *e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, true);

    e->refused = true;
    e->smtp_refusal_code = ev->smtp_code;
    str_copy(e->refusal_dsn, sizeof(e->refusal_dsn), ev->dsn, strlen(ev->dsn));
    return PARSE_SKIP;
}

/* own_ruleset - is the ruleset named at s one that Sendmail's configuration defines itself? */
static bool own_ruleset(const char *s, const char *end)
{
    return scan_starts(s, end, "check_") || scan_starts(s, end, "tls_") ||
           scan_starts(s, end, "try_tls") || scan_starts(s, end, "srv_features") ||
           scan_starts(s, end, "clt_features");
}

/* parse_reject - "ruleset=check_rcpt, arg1=<r>, relay=..., reject=550 5.7.1 ..." or Milter */
static enum parse_result parse_reject(struct parser *p, const struct syslog_env *env,
                                      const char *qid, size_t qid_len, const char *s,
                                      const char *end, struct event *ev)
{
    struct scan_kv kv, ruleset = {0}, arg1 = {0}, reject = {0};
    const char *r, *rend;

    scan_event_head(ev, MTA_SENDMAIL, EV_REJECT, env, qid, qid_len);
    while (kv_next(&s, end, &kv) == 1) {
        if (scan_key_is(&kv, "ruleset"))
            ruleset = kv;
        else if (scan_key_is(&kv, "arg1"))
            arg1 = kv;
        else if (scan_key_is(&kv, "from")) {
            unbracket(&kv.val, &kv.val_len);
            EVENT_SET(ev, sender, kv.val, kv.val_len);
        } else if (scan_key_is(&kv, "relay"))
            relay_format(kv.val, kv.val_len, ev->client, sizeof(ev->client));
        else if (scan_key_is(&kv, "reject"))
            reject = kv;
    }
    if (reject.key == NULL)
        return PARSE_SKIP; /* "discard=", "quarantine=": not refused at SMTP time */
    if (arg1.key) {
        unbracket(&arg1.val, &arg1.val_len);
        if (ruleset.val_len == 10 && memcmp(ruleset.val, "check_rcpt", 10) == 0)
            EVENT_SET(ev, recipient, arg1.val, arg1.val_len);
        else if (ruleset.val_len == 10 && memcmp(ruleset.val, "check_mail", 10) == 0)
            EVENT_SET(ev, sender, arg1.val, arg1.val_len);
    }
    r = reject.val;
    rend = reject.val + reject.val_len;
    EVENT_SET(ev, reply, r, (size_t)(rend - r));
    take_reply(r, rend, ev);
    /* A ruleset that is none of Sendmail's own (check_*, tls_*, try_tls, srv_features,
     * clt_features) is a header check: the message is refused after its recipients were
     * taken, and their to= lines say who they were. */
    if (qid_len && ruleset.key && !own_ruleset(ruleset.val, ruleset.val + ruleset.val_len))
        return note_refusal(p, env, qid, qid_len, ev);
    scan_classify(p, ev, ST_NONE);
    return PARSE_EVENT;
}

/* milter_stage_reject - "Milter: data, reject=550 5.7.1 text" (also eom, header, body) */
static enum parse_result milter_stage_reject(struct parser *p, const struct syslog_env *env,
                                             const char *qid, size_t qid_len, const char *s,
                                             const char *end, struct event *ev)
{
    const char *r = memmem(s, (size_t)(end - s), "reject=", 7);

    if (r == NULL)
        return PARSE_MALFORMED;
    r += 7;
    scan_event_head(ev, MTA_SENDMAIL, EV_REJECT, env, qid, qid_len);
    take_reply(r, end, ev);
    return note_refusal(p, env, qid, qid_len, ev);
}

/*
 * expire_deferred - "QID: QID2: DSN: Cannot send message for 5 days": the queue return
 * time has passed, so every recipient of QID still deferred is expired (with its last
 * deferral), each an event after the line's bounce notice
 */
static void expire_deferred(struct parser *p, const struct syslog_env *env, const char *qid,
                            size_t qid_len)
{
    const struct pq_entry *e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, false);
    struct event tmpl, *first;

    event_clear(&tmpl);
    scan_event_head(&tmpl, MTA_SENDMAIL, EV_DELIVERY, env, qid, qid_len);
    tmpl.status = ST_EXPIRED;
    if (e) {
        if (e->has_sender)
            EVENT_SET(&tmpl, sender, e->sender, strlen(e->sender));
        EVENT_SET(&tmpl, message_id, e->message_id, strlen(e->message_id));
        EVENT_SET(&tmpl, client, e->client, strlen(e->client));
        EVENT_SET(&tmpl, sasl_username, e->sasl_username, strlen(e->sasl_username));
    }
    if (parser_defer_expire(p, &tmpl) > 0 && (first = parser_push(p)) != NULL)
        *first = tmpl;
}

/*
 * parse_refusal - "QID: <r>... User unknown": a recipient refused at RCPT without a
 * ruleset (an unknown local user, the error mailer of a mailertable entry). Sendmail logs
 * the text only, not the codes it answered. A sender refused so says "Sender" or "sender".
 */
static enum parse_result parse_refusal(struct parser *p, const struct syslog_env *env,
                                       const char *qid, size_t qid_len, const char *s,
                                       const char *end, struct event *ev)
{
    const char *close = memmem(s, (size_t)(end - s), ">... ", 5), *text;

    text = close + 5;
    scan_event_head(ev, MTA_SENDMAIL, EV_REJECT, env, qid, qid_len);
    if (memmem(text, (size_t)(end - text), "ender", 5) != NULL)
        EVENT_SET(ev, sender, s + 1, (size_t)(close - s - 1));
    else
        EVENT_SET(ev, recipient, s + 1, (size_t)(close - s - 1));
    EVENT_SET(ev, reply, text, (size_t)(end - text));
    take_reply(text, end, ev);
    scan_classify(p, ev, ST_NONE);
    return PARSE_EVENT;
}

/*
 * dsn_bounce - "QID: QID2: DSN: <r>... text" (text at s): a recipient that failed at once in
 * a command-line submission (the error mailer) has no to= line; its bounce is an event after
 * the line's notice. The DSN code is not in the log.
 */
static void dsn_bounce(struct parser *p, const struct syslog_env *env, const char *qid,
                       size_t qid_len, const char *s, const char *end)
{
    const char *dots = memmem(s, (size_t)(end - s), "... ", 4), *r = s;
    const struct pq_entry *e;
    struct event *ev;
    size_t n;

    if (dots == NULL || memchr(s, ' ', (size_t)(dots - s)) != NULL ||
        memchr(s, '@', (size_t)(dots - s)) == NULL || (ev = parser_push(p)) == NULL)
        return;
    n = (size_t)(dots - s);
    unbracket(&r, &n);
    scan_event_head(ev, MTA_SENDMAIL, EV_DELIVERY, env, qid, qid_len);
    ev->status = ST_BOUNCED;
    EVENT_SET(ev, recipient, r, n);
    EVENT_SET(ev, reply, dots + 4, (size_t)(end - dots - 4));
    e = parser_queue_get(p, env->host, env->host_len, qid, qid_len, false);
    if (e) {
        if (e->has_sender)
            EVENT_SET(ev, sender, e->sender, strlen(e->sender));
        EVENT_SET(ev, message_id, e->message_id, strlen(e->message_id));
    }
    scan_classify(p, ev, ST_BOUNCED);
}

/* sm_parse_line - the message text of one Sendmail line */
enum parse_result sm_parse_line(struct parser *p, const struct syslog_env *env, struct event *ev)
{
    static const char *const outcome_marks[] = {"to=", "stat=", "reject", NULL};
    const char *s = env->msg, *end = scan_trim_end(env->msg, env->msg + env->msg_len), *rest;
    size_t qid_len = read_qid(s, end), qid2;

    if (qid_len == 0) {
        if (scan_starts(s, end, "ruleset="))
            return parse_reject(p, env, "", 0, s, end, ev);
        return scan_unread(s, end, outcome_marks);
    }
    rest = s + qid_len + 2;
    if (scan_starts(rest, end, "from="))
        return parse_from(p, env, s, qid_len, rest, end, ev);
    if (scan_starts(rest, end, "to="))
        return parse_to(p, env, s, qid_len, rest, end, ev);
    if (scan_starts(rest, end, "ruleset="))
        return parse_reject(p, env, s, qid_len, rest, end, ev);
    if (scan_starts(rest, end, "Milter: ") && memmem(rest, (size_t)(end - rest), "reject=", 7)) {
        if (key_len_at(rest + 8, end) == 0)
            return milter_stage_reject(p, env, s, qid_len, rest + 8, end, ev);
        return parse_reject(p, env, s, qid_len, rest + 8, end, ev);
    }
    if (rest < end && *rest == '<' && memmem(rest, (size_t)(end - rest), ">... ", 5) != NULL)
        return parse_refusal(p, env, s, qid_len, rest, end, ev);
    if (scan_starts(rest, end, "done") || scan_starts(rest, end, "removed")) {
        parser_queue_remove(p, env->host, env->host_len, s, qid_len);
        return PARSE_SKIP;
    }
    qid2 = read_qid(rest, end);
    if (qid2 && (scan_starts(rest + qid2 + 2, end, "DSN: ") ||
                 scan_starts(rest + qid2 + 2, end, "return to sender: "))) {
        scan_event_head(ev, MTA_SENDMAIL, EV_BOUNCE_NOTICE, env, s, qid_len);
        EVENT_SET(ev, notice_queue_id, rest, qid2);
        if (memmem(rest + qid2 + 2, (size_t)(end - rest - qid2 - 2), "Cannot send message for ",
                   24) != NULL)
            expire_deferred(p, env, s, qid_len);
        else if (scan_starts(rest + qid2 + 2, end, "DSN: "))
            dsn_bounce(p, env, s, qid_len, rest + qid2 + 7, end);
        return PARSE_EVENT;
    }
    return scan_unread(rest, end, outcome_marks);
}
