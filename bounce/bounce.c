/*
 * bounce - one message through GMime: find its delivery-status or feedback-report part, or
 * hand its text to the recognisers of family.c, and emit one record per recipient or report
 *
 * The MIME tree is walked once, depth first, with the limits of bounce.h. What the walk keeps
 * is small: the first delivery-status and feedback-report parts (decoded), the first text
 * part outside a returned message, and the headers of the returned message (a message/rfc822
 * part or a text/rfc822-headers part). The DSN and ARF fields themselves are RFC 822-style
 * header blocks; they are unfolded and split here, since they are not MIME.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "bounce/bounce_int.h"
#include "parser/parser.h"

/* bounce_init - GMime once per process */
void bounce_init(void)
{
    static bool done;

    if (!done) {
        g_mime_init();
        done = true;
    }
}

/* bounce_kind_name - "dsn" or "complaint" */
const char *bounce_kind_name(enum bounce_kind kind)
{
    return kind == BK_COMPLAINT ? "complaint" : "dsn";
}

/* bounce_copy_addr - an address without its "rfc822;" type, angle brackets and blanks */
void bounce_copy_addr(char *dst, size_t dstlen, const char *s, size_t len)
{
    const char *end = s + len, *semi;

    semi = memchr(s, ';', len);
    if (semi && semi - s < 16 && memchr(s, '@', (size_t)(semi - s)) == NULL)
        s = semi + 1;
    while (s < end && (isspace((unsigned char)*s) || *s == '<' || *s == '"'))
        s++;
    while (end > s && (isspace((unsigned char)end[-1]) || end[-1] == '>' || end[-1] == '"' ||
                       end[-1] == '.' || end[-1] == ':' || end[-1] == ','))
        end--;
    /* "addr (comment)" or "<addr> text": keep the address only */
    for (const char *p = s; p < end; p++) {
        if (*p == ' ' || *p == '>' || *p == '(') {
            end = p;
            break;
        }
    }
    str_copy(dst, dstlen, s, (size_t)(end - s));
}

/* unix_us - an RFC 5322 date as microseconds, or 0 */
static int64_t unix_us(const char *s)
{
    GDateTime *dt;
    int64_t us;

    if (s == NULL || *s == 0)
        return 0;
    dt = g_mime_utils_header_decode_date(s);
    if (dt == NULL)
        return 0;
    us = (int64_t)g_date_time_to_unix(dt) * 1000000;
    g_date_time_unref(dt);
    return us;
}

/* status_at - the length of an enhanced status code "X.Y.Z" at p (not inside a number) */
static size_t status_at(const char *start, const char *p)
{
    const char *q = p;
    int part;

    if (p > start && (isdigit((unsigned char)p[-1]) || p[-1] == '.'))
        return 0;
    if (*q != '2' && *q != '4' && *q != '5')
        return 0;
    q++;
    for (part = 0; part < 2; part++) {
        const char *d;

        if (*q != '.')
            return 0;
        d = ++q;
        while (isdigit((unsigned char)*q) && q - d < 3)
            q++;
        if (q == d)
            return 0;
    }
    if (isdigit((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1])))
        return 0;
    return (size_t)(q - p);
}

/* code_at - a 4xx/5xx/2xx SMTP reply code as a word at p, or -1 */
static int code_at(const char *start, const char *p)
{
    if (p > start && !(p[-1] == ' ' || p[-1] == '\t' || p[-1] == '(' || p[-1] == '"' ||
                       p[-1] == '\'' || p[-1] == ':' || p[-1] == '[' || p[-1] == '<'))
        return -1;
    if ((p[0] != '4' && p[0] != '5' && p[0] != '2') || !isdigit((unsigned char)p[1]) ||
        !isdigit((unsigned char)p[2]))
        return -1;
    if (p[3] != ' ' && p[3] != '-' && p[3] != 0 && p[3] != '\t' && p[3] != ']')
        return -1;
    if (p[1] > '5')
        return -1;
    return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* bounce_codes_from_text - fill an unknown status and SMTP code from the diagnostic text */
void bounce_codes_from_text(struct bounce_rec *rec)
{
    const char *t = rec->diagnostic, *p;

    for (p = t; *p && (rec->status[0] == 0 || rec->smtp_code < 0); p++) {
        size_t n;
        int code;

        if (rec->status[0] == 0 && (n = status_at(t, p)) > 0) {
            str_copy(rec->status, sizeof(rec->status), p, n);
            p += n - 1;
            continue;
        }
        if (rec->smtp_code < 0 && (code = code_at(t, p)) > 0)
            rec->smtp_code = code;
    }
}

/* action_status - the outcome that an Action field stands for, for the classifier */
static enum event_status action_status(const char *action, const char *status)
{
    if (strcasecmp(action, "delayed") == 0)
        return ST_DEFERRED;
    if (strcasecmp(action, "failed") == 0)
        return ST_BOUNCED;
    if (strcasecmp(action, "expired") == 0)
        return ST_EXPIRED;
    if (action[0])
        return ST_SENT;
    return status[0] == '4' ? ST_DEFERRED : status[0] == '2' ? ST_SENT : ST_BOUNCED;
}

/*
 * unfold_reply - drop the "550-5.1.1 " and "550 5.1.1 " heads that the lines of a multi-line
 * SMTP reply repeat after the first, so that the words of the reply read as one sentence
 */
static void unfold_reply(char *s)
{
    char *w = s;
    const char *p = s;
    bool first = true;

    while (*p) {
        if ((p == s || p[-1] == ' ') && code_at(s, p) > 0 && (p[3] == '-' || p[3] == ' ')) {
            const char *q = p + 4;
            size_t n = status_at(s, q);

            if (!first && (p[3] == '-' || n > 0)) {
                p = q + n;
                while (*p == ' ')
                    p++;
                continue;
            }
            first = false;
        }
        *w++ = *p++;
    }
    *w = 0;
}

/*
 * data_refusal - was the reply in diag given to the DATA command? A Sendmail or Courier
 * transcript in the text shows it as ">>> DATA" followed by "<<< reply"; a family record
 * carries the two lines in its diagnostic; context, the human-readable part's words about
 * the same recipient, may say it the way Postfix and Exim do.
 */
static bool data_refusal(const char *text, const char *diag, const char *context)
{
    const char *p;

    if (strstr(diag, ">>> DATA <<< ") != NULL || strstr(context, ">>> DATA <<< ") != NULL ||
        strcasestr(context, "in reply to end of DATA command") != NULL ||
        strcasestr(context, "after end of data") != NULL)
        return true;
    for (p = strstr(text, ">>> DATA"); p != NULL; p = strstr(p + 1, ">>> DATA")) {
        const char *r = strchr(p, '\n'), *eol;
        char reply[64];
        size_t n;

        if (r == NULL || strncmp(r + 1, "<<< ", 4) != 0)
            continue;
        r += 5;
        eol = r + strcspn(r, "\r\n");
        n = (size_t)(eol - r) < sizeof(reply) - 1 ? (size_t)(eol - r) : sizeof(reply) - 1;
        memcpy(reply, r, n);
        reply[n] = 0;
        if (n > 24) /* the head of the reply: code, status and the address's local part */
            reply[n = 24] = 0;
        if (n > 4 && strstr(diag, reply) != NULL)
            return true;
    }
    return false;
}

/*
 * dsn_reason - the reason and hardness of a DSN record. The classifier of parser/reason.c
 * decides from the status, code and text; around it, what a DSN adds: a generic "X.0.0"
 * status yields to a specific code in the diagnostic; a local program's failure (X-Unix, or
 * a recipient that is a pipe) is a mailer error; a failure with a transient status, or a
 * delay with no better reason, means the message expired in the queue; and a reason given
 * in words that no rule knows is "onhold" (there is information, but not enough), as
 * Sisimai has it.
 */
static void dsn_reason(struct bounce_rec *rec, const char *text, const char *context)
{
    struct reason_result rr;
    enum event_status st;
    char found[EV_DSN_LEN] = "";

    unfold_reply(rec->diagnostic);
    if (rec->status[0] && strcmp(rec->status + 1, ".0.0") == 0) {
        struct bounce_rec probe;

        memset(&probe, 0, sizeof(probe));
        probe.smtp_code = 0;
        memcpy(probe.diagnostic, rec->diagnostic, sizeof(probe.diagnostic));
        bounce_codes_from_text(&probe);
        memcpy(found, probe.status, sizeof(found));
        if (found[0] == rec->status[0] && strcmp(found + 1, ".0.0") != 0)
            memcpy(rec->status, found, sizeof(rec->status));
    }
    bounce_codes_from_text(rec);
    if (rec->action[0] == 0)
        str_copy(rec->action, sizeof(rec->action), rec->status[0] == '4' ? "delayed" : "failed",
                 rec->status[0] == '4' ? 7 : 6);
    st = action_status(rec->action, rec->status);
    rec->hard = false;
    if (st == ST_SENT) {
        rec->reason = "delivered";
        return;
    }
    if (strcmp(rec->diagnostic_type, "x-unix") == 0 || rec->recipient[0] == '|') {
        rec->reason = "mailererror";
        return;
    }
    reason_classify(rec->smtp_code, rec->status, rec->diagnostic, st, &rr);
    rec->reason = rr.reason;
    rec->hard = rr.hard;
    if (strcmp(rr.reason, "userunknown") == 0 && strcmp(rec->status + 1, ".1.1") != 0 &&
        data_refusal(text, rec->diagnostic, context)) {
        rec->reason = "filtered"; /* as reason_classify() does for Postfix's wording */
        rec->hard = false;
        return;
    }
    if ((st == ST_DEFERRED && (strcmp(rr.reason, "undefined") == 0 || rec->diagnostic[0] == 0)) ||
        (st == ST_BOUNCED && rec->status[0] == '4' &&
         (strcmp(rr.reason, "undefined") == 0 || strcmp(rr.reason, "networkerror") == 0))) {
        rec->reason = "expired";
        rec->hard = false;
    } else if (strcmp(rr.reason, "undefined") == 0 && rec->diagnostic[0]) {
        rec->reason = "onhold";
    }
}

/* bounce_emit - complete a record from the message template, classify it and pass it on */
void bounce_emit(struct bounce_msg *m, struct bounce_rec *rec)
{
    const struct bounce_rec *t = &m->tmpl;

    if (m->emitted >= BOUNCE_MAX_RCPTS || rec->recipient[0] == 0)
        return;
    rec->kind = rec->kind == BK_COMPLAINT ? BK_COMPLAINT : BK_DSN;
    if (rec->reporting_mta[0] == 0)
        memcpy(rec->reporting_mta, t->reporting_mta, sizeof(rec->reporting_mta));
    if (rec->arrival_us == 0)
        rec->arrival_us = t->arrival_us;
    if (rec->message_id[0] == 0)
        memcpy(rec->message_id, t->message_id, sizeof(rec->message_id));
    if (rec->sender[0] == 0)
        memcpy(rec->sender, t->sender, sizeof(rec->sender));
    if (rec->subject[0] == 0)
        memcpy(rec->subject, t->subject, sizeof(rec->subject));
    utf8_scrub(rec->diagnostic);
    utf8_scrub(rec->subject);
    if (rec->kind == BK_DSN)
        dsn_reason(rec, m->text, m->context ? m->context : "");
    else
        rec->reason = "";
    rec->date_us = m->date_us;
    rec->msg_key = m->key;
    rec->seq = m->emitted;
    m->emitted++;
    if (m->sink->stats)
        m->sink->stats->records++;
    if (m->sink->emit)
        m->sink->emit(rec, m->sink->ctx);
}

/*
 * A header block of a delivery-status or feedback-report part, unfolded: fields are found by
 * name. Blocks are separated by blank lines.
 */
#define BLOCK_FIELDS 48
struct field {
    const char *name;
    size_t namelen;
    char *value; /* unfolded, NUL-terminated, trimmed */
};
struct block {
    struct field f[BLOCK_FIELDS];
    int n;
};

/* trim_end - drop trailing blanks of a NUL-terminated string */
static void trim_end(char *s)
{
    size_t n = strlen(s);

    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
}

/* has_field - does the block so far hold the field? */
static bool has_field(const struct block *b, const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; i < b->n; i++)
        if (b->f[i].namelen == n && strncasecmp(b->f[i].name, name, n) == 0)
            return true;
    return false;
}

/*
 * next_block - parse the next header block of text at *pos (modified in place) into b;
 * false at the end of the text
 */
static bool next_block(char **pos, struct block *b)
{
    char *p = *pos, *w = NULL;

    b->n = 0;
    while (*p == '\r' || *p == '\n' || *p == ' ' || *p == '\t') /* blank lines before */
        p++;
    if (*p == 0)
        return false;
    while (*p) {
        char *eol = p + strcspn(p, "\n"), *next = *eol ? eol + 1 : eol;
        char *line_end = eol;

        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        if (line_end == p) { /* blank line: end of block */
            p = next;
            break;
        }
        if ((*p == ' ' || *p == '\t') && w != NULL) { /* continuation: append */
            while (p < line_end && (*p == ' ' || *p == '\t'))
                p++;
            *w++ = ' ';
            memmove(w, p, (size_t)(line_end - p));
            w += line_end - p;
            *w = 0;
        } else {
            char *colon = memchr(p, ':', (size_t)(line_end - p));

            /* a second recipient without a blank line before it starts a new block */
            if (colon && colon - p == 15 && strncasecmp(p, "Final-Recipient", 15) == 0 &&
                has_field(b, "Final-Recipient"))
                break;
            if (colon && b->n < BLOCK_FIELDS) {
                struct field *f = &b->f[b->n++];
                char *v = colon + 1;

                f->name = p;
                f->namelen = (size_t)(colon - p);
                while (f->namelen && isspace((unsigned char)p[f->namelen - 1]))
                    f->namelen--;
                while (v < line_end && (*v == ' ' || *v == '\t'))
                    v++;
                f->value = v;
                w = v + (line_end - v);
                *w = 0;
            } else {
                w = NULL;
            }
        }
        p = next;
    }
    for (int i = 0; i < b->n; i++)
        trim_end(b->f[i].value);
    *pos = p;
    return true;
}

/* field - the value of a field of the block, or NULL */
static const char *field(const struct block *b, const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; i < b->n; i++)
        if (b->f[i].namelen == n && strncasecmp(b->f[i].name, name, n) == 0)
            return b->f[i].value;
    return NULL;
}

/* copy_value - a field value, without an "dns;"/"rfc822;" type prefix, into dst */
static void copy_value(char *dst, size_t dstlen, const char *v, bool strip_type)
{
    const char *semi;

    if (v == NULL)
        return;
    if (strip_type && (semi = strchr(v, ';')) != NULL && semi - v < 16)
        v = semi + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    str_copy(dst, dstlen, v, strlen(v));
}

/* copy_type - the type before the ';' of a field ("smtp", "x-unix"), lower case */
static void copy_type(char *dst, size_t dstlen, const char *v)
{
    const char *semi = v ? strchr(v, ';') : NULL;
    size_t i = 0;

    if (semi == NULL || (size_t)(semi - v) >= dstlen)
        return;
    for (; v + i < semi; i++)
        dst[i] = (char)tolower((unsigned char)v[i]);
    dst[i] = 0;
    trim_end(dst);
}

/* copy_status - the "X.Y.Z" at the head of a Status field */
static void copy_status(char *dst, size_t dstlen, const char *v)
{
    size_t n;

    if (v == NULL)
        return;
    while (*v == ' ')
        v++;
    n = status_at(v, v);
    if (n)
        str_copy(dst, dstlen, v, n);
}

/* message_fields - the per-message DSN fields into the template */
static void message_fields(struct bounce_msg *m, const struct block *b)
{
    const char *v;

    if (m->tmpl.reporting_mta[0] == 0)
        copy_value(m->tmpl.reporting_mta, sizeof(m->tmpl.reporting_mta), field(b, "Reporting-MTA"),
                   true);
    if (m->tmpl.arrival_us == 0)
        m->tmpl.arrival_us = unix_us(field(b, "Arrival-Date"));
    if (m->tmpl.message_id[0] == 0 && (v = field(b, "X-Original-Message-ID")) != NULL)
        copy_value(m->tmpl.message_id, sizeof(m->tmpl.message_id), v, false);
}

/*
 * reason_text - the reason the human-readable part gives for a recipient, for a DSN that has
 * no Diagnostic-Code: the family record of the same address, or the only one, or the words
 * of a report that names no address
 */
static const char *reason_text(const struct bounce_msg *m, const struct bounce_rec *fam, int nfam,
                               const char *rcpt)
{
    for (int i = 0; i < nfam; i++)
        if (strcasecmp(fam[i].recipient, rcpt) == 0)
            return fam[i].diagnostic;
    if (nfam == 1)
        return fam[0].diagnostic;
    return nfam == 0 ? m->report : ""; /* a report that names no address ("save to /path") */
}

/* dsn_parse - the records of a message/delivery-status part; fam: the text's own records */
static void dsn_parse(struct bounce_msg *m, char *text, const struct bounce_rec *fam, int nfam)
{
    struct block *b = xmalloc(sizeof(*b));
    char *pos = text;

    while (next_block(&pos, b)) {
        const char *fr = field(b, "Final-Recipient"), *orc = field(b, "Original-Recipient");
        struct bounce_rec rec;

        message_fields(m, b);
        if (fr == NULL && orc == NULL)
            continue;
        memset(&rec, 0, sizeof(rec));
        rec.family = "rfc3464";
        rec.smtp_code = -1;
        if (fr)
            bounce_copy_addr(rec.recipient, sizeof(rec.recipient), fr, strlen(fr));
        if (orc)
            bounce_copy_addr(rec.orig_recipient, sizeof(rec.orig_recipient), orc, strlen(orc));
        if (rec.recipient[0] == 0)
            memcpy(rec.recipient, rec.orig_recipient, sizeof(rec.recipient));
        copy_value(rec.action, sizeof(rec.action), field(b, "Action"), false);
        for (char *a = rec.action; *a; a++)
            *a = (char)tolower((unsigned char)*a);
        copy_status(rec.status, sizeof(rec.status), field(b, "Status"));
        copy_value(rec.remote_mta, sizeof(rec.remote_mta), field(b, "Remote-MTA"), true);
        copy_value(rec.diagnostic, sizeof(rec.diagnostic), field(b, "Diagnostic-Code"), true);
        copy_type(rec.diagnostic_type, sizeof(rec.diagnostic_type), field(b, "Diagnostic-Code"));
        rec.last_attempt_us = unix_us(field(b, "Last-Attempt-Date"));
        if (field(b, "Reporting-MTA"))
            copy_value(rec.reporting_mta, sizeof(rec.reporting_mta), field(b, "Reporting-MTA"),
                       true);
        if (rec.diagnostic[0] == 0 && (nfam > 0 || strcmp(rec.action, "delayed") != 0)) {
            const char *t = reason_text(m, fam, nfam, rec.recipient);

            str_copy(rec.diagnostic, sizeof(rec.diagnostic), t, strlen(t));
        }
        m->context = reason_text(m, fam, nfam, rec.recipient);
        bounce_emit(m, &rec);
        m->context = NULL;
    }
    x_free(b);
}

/* arf_parse - the record of a message/feedback-report part */
static void arf_parse(struct bounce_msg *m, char *text)
{
    struct block *b = xmalloc(sizeof(*b));
    struct bounce_rec rec;
    char *pos = text;
    const char *v;

    memset(&rec, 0, sizeof(rec));
    rec.kind = BK_COMPLAINT;
    rec.family = "arf";
    rec.smtp_code = -1;
    while (next_block(&pos, b)) {
        if (rec.feedback_type[0] == 0)
            copy_value(rec.feedback_type, sizeof(rec.feedback_type), field(b, "Feedback-Type"),
                       false);
        for (char *a = rec.feedback_type; *a; a++)
            *a = (char)tolower((unsigned char)*a);
        if ((v = field(b, "Original-Rcpt-To")) != NULL && rec.orig_recipient[0] == 0)
            bounce_copy_addr(rec.orig_recipient, sizeof(rec.orig_recipient), v, strlen(v));
        if ((v = field(b, "Original-Mail-From")) != NULL && rec.sender[0] == 0)
            bounce_copy_addr(rec.sender, sizeof(rec.sender), v, strlen(v));
        if (rec.source_ip[0] == 0)
            copy_value(rec.source_ip, sizeof(rec.source_ip), field(b, "Source-IP"), false);
        if (rec.reporting_mta[0] == 0)
            copy_value(rec.reporting_mta, sizeof(rec.reporting_mta), field(b, "Reporting-MTA"),
                       true);
        if (rec.user_agent[0] == 0)
            copy_value(rec.user_agent, sizeof(rec.user_agent), field(b, "User-Agent"), false);
        if (rec.arrival_us == 0) {
            v = field(b, "Arrival-Date");
            rec.arrival_us = unix_us(v ? v : field(b, "Received-Date"));
        }
    }
    x_free(b);
    if (rec.feedback_type[0] == 0)
        str_copy(rec.feedback_type, sizeof(rec.feedback_type), "other", 5);
    memcpy(rec.recipient, rec.orig_recipient, sizeof(rec.recipient));
    if (rec.recipient[0] == 0)
        memcpy(rec.recipient, m->tmpl.recipient, sizeof(rec.recipient)); /* the original's To */
    if (rec.recipient[0] == 0)
        str_copy(rec.recipient, sizeof(rec.recipient), "unknown", 7);
    bounce_emit(m, &rec);
}

/* What the walk of the MIME tree keeps. */
struct walk {
    int parts;
    bool too_deep;
    char *ds;     /* first delivery-status part, decoded */
    char *ds_in;  /* first delivery-status part of a returned (forwarded) message */
    char *fb;     /* first feedback-report part, decoded */
    char *text;   /* first text/plain part outside a returned message */
    char *html;   /* first text/html part, when there is no text/plain */
    char *rfc822; /* headers of the returned message, when given as a text part */
    GMimeMessage *returned;
};

/* part_bytes - the decoded content of a leaf part, at most BOUNCE_MAX_TEXT bytes, g_malloc'd */
static char *part_bytes(GMimePart *part)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *s;
    GByteArray *ba;
    char *out;
    size_t n;

    if (w == NULL)
        return g_strdup("");
    s = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, s);
    ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
    n = ba->len < BOUNCE_MAX_TEXT ? ba->len : BOUNCE_MAX_TEXT;
    out = g_malloc(n + 1);
    if (n > 0) /* an empty GByteArray has no data pointer */
        memcpy(out, ba->data, n);
    out[n] = 0;
    /* NUL bytes would end the text early: make them blanks */
    for (size_t i = 0; i < n; i++)
        if (out[i] == 0)
            out[i] = ' ';
    g_object_unref(s);
    return out;
}

/* part_text - a text part in UTF-8, at most BOUNCE_MAX_TEXT bytes, g_malloc'd */
static char *part_text(GMimePart *part)
{
    char *t;

    if (!GMIME_IS_TEXT_PART(part))
        return part_bytes(part);
    t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
    if (t == NULL)
        return part_bytes(part);
    if (strlen(t) > BOUNCE_MAX_TEXT)
        t[BOUNCE_MAX_TEXT] = 0;
    return t;
}

/* walk - visit the MIME tree below obj; inside is true below a returned message */
static void walk(struct walk *w, GMimeObject *obj, int depth, bool inside)
{
    GMimeContentType *ct;

    if (obj == NULL || w->too_deep)
        return;
    if (depth > BOUNCE_MAX_DEPTH || ++w->parts > BOUNCE_MAX_PARTS) {
        w->too_deep = true;
        return;
    }
    ct = g_mime_object_get_content_type(obj);
    if (GMIME_IS_MULTIPART(obj)) {
        int n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));

        for (int i = 0; i < n && !w->too_deep; i++)
            walk(w, g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), depth + 1, inside);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

        if (msg == NULL)
            return;
        if (w->returned == NULL && !inside)
            w->returned = msg;
        walk(w, g_mime_message_get_mime_part(msg), depth + 1, true);
        return;
    }
    if (!GMIME_IS_PART(obj) || ct == NULL)
        return;
    if (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
        g_mime_content_type_is_type(ct, "message", "global-delivery-status")) {
        if (w->ds == NULL && !inside)
            w->ds = part_bytes(GMIME_PART(obj));
        else if (w->ds_in == NULL && inside)
            w->ds_in = part_bytes(GMIME_PART(obj));
    } else if (g_mime_content_type_is_type(ct, "message", "feedback-report")) {
        if (w->fb == NULL && !inside)
            w->fb = part_bytes(GMIME_PART(obj));
    } else if (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
               g_mime_content_type_is_type(ct, "message", "rfc822-headers") ||
               g_mime_content_type_is_type(ct, "message", "rfc822")) {
        if (w->rfc822 == NULL && !inside)
            w->rfc822 = part_bytes(GMIME_PART(obj));
    } else if (g_mime_content_type_is_type(ct, "text", "plain")) {
        if (w->text == NULL && !inside)
            w->text = part_text(GMIME_PART(obj));
    } else if (g_mime_content_type_is_type(ct, "text", "html")) {
        if (w->html == NULL && !inside)
            w->html = part_text(GMIME_PART(obj));
    }
}

/* strip_html - the text of an HTML part: tags dropped, <br>/<p> as newlines, in place */
static void strip_html(char *s)
{
    char *w = s;
    bool tag = false;

    for (char *p = s; *p; p++) {
        if (*p == '<') {
            tag = true;
            if (strncasecmp(p, "<br", 3) == 0 || strncasecmp(p, "<p", 2) == 0 ||
                strncasecmp(p, "</p", 3) == 0 || strncasecmp(p, "<div", 4) == 0 ||
                strncasecmp(p, "<tr", 3) == 0)
                *w++ = '\n';
        } else if (*p == '>' && tag) {
            tag = false;
        } else if (!tag) {
            if (strncmp(p, "&lt;", 4) == 0) {
                *w++ = '<';
                p += 3;
            } else if (strncmp(p, "&gt;", 4) == 0) {
                *w++ = '>';
                p += 3;
            } else if (strncmp(p, "&nbsp;", 6) == 0) {
                *w++ = ' ';
                p += 5;
            } else if (strncmp(p, "&amp;", 5) == 0) {
                *w++ = '&';
                p += 4;
            } else {
                *w++ = *p;
            }
        }
    }
    *w = 0;
}

/* first_mailbox - the first mailbox address of a list, or "" */
static const char *first_mailbox(InternetAddressList *list)
{
    int n = list ? internet_address_list_length(list) : 0;

    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);

        if (INTERNET_ADDRESS_IS_MAILBOX(ia))
            return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
    }
    return "";
}

/* returned_message - the Message-ID, sender, subject and To of a returned message */
static void returned_message(struct bounce_msg *m, GMimeMessage *msg)
{
    const char *v;

    if (m->tmpl.message_id[0] == 0 && (v = g_mime_message_get_message_id(msg)) != NULL)
        str_copy(m->tmpl.message_id, sizeof(m->tmpl.message_id), v, strlen(v));
    if (m->tmpl.sender[0] == 0) {
        v = first_mailbox(g_mime_message_get_from(msg));
        str_copy(m->tmpl.sender, sizeof(m->tmpl.sender), v, strlen(v));
    }
    if (m->tmpl.subject[0] == 0 && (v = g_mime_message_get_subject(msg)) != NULL)
        str_copy(m->tmpl.subject, sizeof(m->tmpl.subject), v, strlen(v));
    if (m->tmpl.recipient[0] == 0) {
        v = first_mailbox(g_mime_message_get_to(msg));
        str_copy(m->tmpl.recipient, sizeof(m->tmpl.recipient), v, strlen(v));
    }
}

/* parse_message - a GMime message of len bytes at data, or NULL */
static GMimeMessage *parse_message(const char *data, size_t len)
{
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(data, len);
    GMimeParser *p = g_mime_parser_new_with_stream(s);
    GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);

    g_object_unref(p);
    g_object_unref(s);
    return msg;
}

/* bounce_returned_headers - the fields of a returned message given as text */
void bounce_returned_headers(struct bounce_msg *m, const char *text, size_t len)
{
    GMimeMessage *msg;

    while (len && (*text == '\n' || *text == '\r' || *text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    if (len == 0)
        return;
    msg = parse_message(text, len);
    if (msg) {
        returned_message(m, msg);
        g_object_unref(msg);
    }
}

/*
 * nesting_guard - refuse before GMime parses a message whose MIME structure could nest
 * deeper than the limits. GMime's parser recurses once per nested multipart or message, and
 * every two levels of nesting need a Content-Type header at least (a digest's parts are
 * messages by default, but a message is multipart only by its own header), so the count
 * of "Content-Type" mentions bounds both depth and part count, however the type itself is
 * spelled ("multipart (x)/mixed" is one too).
 */
static bool nesting_guard(const char *data, size_t len)
{
    int n = 0;

    for (size_t i = 0; i + 12 <= len; i++) {
        if ((data[i] | 0x20) != 'c' || strncasecmp(data + i, "content-type", 12) != 0)
            continue;
        if (++n > 2 * BOUNCE_MAX_PARTS)
            return false;
        i += 11;
    }
    return true;
}

/*
 * auto_reply_header - does a header mark the message as an auto-reply (RFC 3834)? Exim marks
 * its bounces "Auto-Submitted: auto-replied" too, so this only rules out the generic scan.
 */
static bool auto_reply_header(GMimeMessage *msg)
{
    GMimeObject *o = GMIME_OBJECT(msg);
    const char *v = g_mime_object_get_header(o, "Auto-Submitted");

    if (v && strncasecmp(v, "auto-replied", 12) == 0)
        return true;
    if (g_mime_object_get_header(o, "X-Autoreply") || g_mime_object_get_header(o, "X-Autorespond"))
        return true;
    v = g_mime_object_get_header(o, "Precedence");
    return v && strncasecmp(v, "auto_reply", 10) == 0;
}

/*
 * unnamed_recipient - a bounce that names no recipient is about the recipient of the
 * returned message: one record for its To address, the report text as the reason
 */
static void unnamed_recipient(struct bounce_msg *m)
{
    struct bounce_rec rec;
    const char *t = m->report;

    if (m->tmpl.recipient[0] == 0)
        return;
    memset(&rec, 0, sizeof(rec));
    rec.family = m->family;
    rec.smtp_code = -1;
    memcpy(rec.recipient, m->tmpl.recipient, sizeof(rec.recipient));
    while (*t && isspace((unsigned char)*t))
        t++;
    str_copy(rec.diagnostic, sizeof(rec.diagnostic), t, strlen(t));
    for (char *p = rec.diagnostic; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    bounce_emit(m, &rec);
}

/*
 * verp_recipient - the recipient a VERP return address encodes: the bounce went to
 * "bounces+user=example.org@sender.example" for a message to user@example.org (Postfix's
 * and Exim's "+=" delimiters). Read from the bounce's Delivered-To, X-Original-To or To, the
 * first that encodes one; "" when none does.
 */
static void verp_recipient(GMimeMessage *msg, char *out, size_t outlen)
{
    static const char *const fields[] = {"Delivered-To", "X-Original-To", "To"};

    out[0] = 0;
    for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
        const char *v = g_mime_object_get_header(GMIME_OBJECT(msg), fields[i]);
        const char *plus, *at, *eq;

        if (v == NULL)
            continue;
        while (*v == ' ' || *v == '<')
            v++;
        plus = strchr(v, '+');
        at = plus ? strchr(plus, '@') : NULL;
        if (plus == NULL || at == NULL)
            continue;
        for (eq = at; eq > plus && *eq != '='; eq--)
            ;
        if (eq == plus || eq - plus < 2 || at - eq < 4 ||
            memchr(eq + 1, '.', (size_t)(at - eq - 1)) == NULL)
            continue;
        if ((size_t)(at - plus) >= outlen)
            continue;
        str_copy(out, outlen, plus + 1, (size_t)(eq - plus - 1));
        snprintf(out + strlen(out), outlen - strlen(out), "@%.*s", (int)(at - eq - 1), eq + 1);
        return;
    }
}

/* raw_body - the body of a message as text (after the first blank line), g_malloc'd */
static char *raw_body(const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    char *out;
    size_t n;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        if (nl == NULL) {
            p = end;
            break;
        }
        p = nl + 1;
        if (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))) {
            p += *p == '\r' ? 2 : 1;
            break;
        }
    }
    n = (size_t)(end - p) < BOUNCE_MAX_TEXT ? (size_t)(end - p) : BOUNCE_MAX_TEXT;
    out = g_malloc(n + 1);
    memcpy(out, p, n);
    out[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i] == 0)
            out[i] = ' ';
    return out;
}

/*
 * inline_dsn - the delivery-status fields written into the text of a message that has no
 * delivery-status part (old Sendmail, broken MIME): a copy from the first Reporting-MTA or
 * Final-Recipient line on, or NULL
 */
static char *inline_dsn(const char *text)
{
    static const char *const heads[] = {"Reporting-MTA:", "Final-Recipient:"};
    const char *best = NULL;

    for (size_t i = 0; i < ARRAY_LEN(heads); i++) {
        size_t n = strlen(heads[i]);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (strncasecmp(p, heads[i], n) == 0) {
                if (best == NULL || p < best)
                    best = p;
                break;
            }
        }
    }
    if (best == NULL)
        return NULL;
    return xstrdup(best);
}

/*
 * message_key - the identity of a message however it was stored: a hash of its bytes with
 * carriage returns and trailing white space left out (an mbox adds a blank line, a Maildir
 * may keep CRLF line ends)
 */
static uint64_t message_key(const char *data, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ' ||
                       data[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\r')
            continue;
        h ^= (unsigned char)data[i];
        h *= 0x100000001b3ULL;
    }
    return h >> 1;
}

/* bounce_message - the records of one message */
int bounce_message(const char *data, size_t len, const struct bounce_sink *sink)
{
    struct bounce_stats dummy = {0};
    struct bounce_stats *st = sink->stats ? sink->stats : &dummy;
    struct bounce_msg *m;
    struct walk w = {0};
    struct bounce_rec *fam = NULL;
    GMimeMessage *msg;
    const char *v;
    int result;

    bounce_init();
    st->messages++;
    if (len > BOUNCE_MAX_MESSAGE) {
        st->malformed++;
        st->too_big++;
        return BOUNCE_MALFORMED;
    }
    if (!nesting_guard(data, len) || (msg = parse_message(data, len)) == NULL) {
        st->malformed++;
        return BOUNCE_MALFORMED;
    }
    walk(&w, g_mime_message_get_mime_part(msg), 0, false);
    m = xcalloc(1, sizeof(*m));
    fam = xmalloc(BOUNCE_FAMILY_RCPTS * sizeof(*fam));
    m->sink = sink;
    m->tmpl.smtp_code = -1;
    m->key = message_key(data, len);
    m->date_us = unix_us(g_mime_object_get_header(GMIME_OBJECT(msg), "Date"));
    v = g_mime_message_get_subject(msg);
    m->subject = v ? v : "";
    v = g_mime_object_get_header(GMIME_OBJECT(msg), "From"); /* as written: may lack an '@' */
    m->from = v ? v : "";
    if (w.text == NULL && w.html != NULL) {
        strip_html(w.html);
        w.text = w.html;
        w.html = NULL;
    }
    if (w.text == NULL && w.ds == NULL && w.fb == NULL)
        w.text = raw_body(data, len); /* a broken MIME structure: read the body as text */
    m->text = w.text ? w.text : "";
    m->text_len = strlen(m->text);
    if (w.too_deep) {
        result = BOUNCE_MALFORMED;
        goto done;
    }
    if (w.returned)
        returned_message(m, w.returned);
    if (w.rfc822)
        bounce_returned_headers(m, w.rfc822, strlen(w.rfc822));
    if (m->tmpl.recipient[0] == 0) /* nothing returned: the VERP address may say */
        verp_recipient(msg, m->tmpl.recipient, sizeof(m->tmpl.recipient));
    if (w.fb) {
        arf_parse(m, w.fb);
    } else {
        bool human = !family_auto_reply(m->subject, m->text);
        int nfam = human ? family_scan(m, auto_reply_header(msg), fam, BOUNCE_FAMILY_RCPTS) : 0;
        char *ds = w.ds ? w.ds : inline_dsn(m->text);

        if (ds == NULL && w.ds_in != NULL && nfam == 0)
            ds = w.ds_in; /* a bounce forwarded as an attachment */
        if (ds)
            dsn_parse(m, ds, fam, nfam);
        if (m->emitted == 0) /* no report, or one without recipients */
            for (int i = 0; i < nfam; i++)
                bounce_emit(m, &fam[i]);
        if (m->emitted == 0 && m->is_bounce)
            unnamed_recipient(m);
        if (ds != w.ds && ds != w.ds_in)
            x_free(ds);
    }
    result = m->emitted ? BOUNCE_FOUND : BOUNCE_NOT_BOUNCE;
done:
    if (result == BOUNCE_MALFORMED)
        st->malformed++;
    else if (result == BOUNCE_NOT_BOUNCE)
        st->not_bounce++;
    else if (w.fb)
        st->complaints++;
    else
        st->bounces++;
    g_free(w.ds);
    g_free(w.ds_in);
    x_free(fam);
    g_free(w.fb);
    g_free(w.text);
    g_free(w.html);
    g_free(w.rfc822);
    x_free(m);
    g_object_unref(msg);
    return result;
}

/* put_str - "key":"value" or "key":null for an empty value */
static void put_str(struct buf *out, const char *key, const char *v)
{
    buf_printf(out, ",\"%s\":", key);
    if (v == NULL || *v == 0)
        buf_puts(out, "null");
    else
        buf_json_string(out, v);
}

/* put_time - "key":"RFC 3339" or null */
static void put_time(struct buf *out, const char *key, int64_t us)
{
    char t[40];

    if (us == 0) {
        buf_printf(out, ",\"%s\":null", key);
        return;
    }
    time_format_rfc3339(us, t, sizeof(t));
    buf_printf(out, ",\"%s\":\"%s\"", key, t);
}

/* bounce_format_json - one record as a JSON object */
void bounce_format_json(const struct bounce_rec *r, struct buf *out)
{
    buf_printf(out, "{\"type\":\"%s\"", bounce_kind_name(r->kind));
    put_str(out, "family", r->family);
    if (r->kind == BK_COMPLAINT) {
        put_str(out, "feedback_type", r->feedback_type);
        put_str(out, "recipient", r->recipient);
        put_str(out, "orig_recipient", r->orig_recipient);
        put_str(out, "mail_from", r->sender);
        put_str(out, "source_ip", r->source_ip);
        put_str(out, "reporting_mta", r->reporting_mta);
        put_str(out, "user_agent", r->user_agent);
        put_time(out, "arrival", r->arrival_us);
        put_str(out, "message_id", r->message_id);
        put_str(out, "subject", r->subject);
        buf_putc(out, '}');
        return;
    }
    put_str(out, "recipient", r->recipient);
    put_str(out, "orig_recipient", r->orig_recipient);
    put_str(out, "action", r->action);
    put_str(out, "status", r->status);
    put_str(out, "remote_mta", r->remote_mta);
    put_str(out, "diagnostic", r->diagnostic);
    if (r->smtp_code > 0)
        buf_printf(out, ",\"smtp_code\":%d", r->smtp_code);
    else
        buf_puts(out, ",\"smtp_code\":null");
    put_str(out, "reason", r->reason);
    buf_printf(out, ",\"hard\":%s", r->hard ? "true" : "false");
    put_str(out, "reporting_mta", r->reporting_mta);
    put_time(out, "arrival", r->arrival_us);
    put_time(out, "last_attempt", r->last_attempt_us);
    put_str(out, "message_id", r->message_id);
    put_str(out, "sender", r->sender);
    put_str(out, "subject", r->subject);
    buf_putc(out, '}');
}
