/*
 * event - struct event helpers: clearing, bounded field copies, names, and the NDJSON form
 *
 * The JSON writer is hand-written because it runs once per event on the hot path of
 * `mailpulse parse`: it only appends to the caller's reused buffer, so after the buffer has
 * grown once it allocates nothing. The keys and their order are a contract: see the NDJSON
 * section of docs/architecture.md.
 */
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "parser/event.h"

/* event_clear - an empty event: every string empty, every number unknown */
void event_clear(struct event *ev)
{
    /* Only what a reader looks at: the scalars and the first byte of each string. Clearing
     * the whole struct (3,664 bytes on x86-64) per line was a tenth of `mailpulse parse`'s
     * time. */
    ev->type = EV_NONE;
    ev->mta = MTA_UNKNOWN;
    ev->status = ST_NONE;
    ev->flags = 0;
    ev->time_us = 0;
    ev->host[0] = ev->queue_id[0] = ev->notice_queue_id[0] = ev->message_id[0] = 0;
    ev->sender[0] = ev->recipient[0] = ev->orig_recipient[0] = ev->relay[0] = 0;
    ev->client[0] = ev->server[0] = ev->helo[0] = ev->sasl_username[0] = 0;
    ev->dsn[0] = ev->reply[0] = ev->reason[0] = ev->stage[0] = 0;
    ev->hard = ev->tls = ev->has_delay = ev->has_delays = false;
    ev->delay = 0;
    memset(ev->delays, 0, sizeof(ev->delays));
    ev->size = -1;
    ev->nrcpt = -1;
    ev->smtp_code = -1;
    ev->held_pos = 0;
}

/* event_type_name - "delivery", "message", ... */
const char *event_type_name(enum event_type type)
{
    switch (type) {
    case EV_MESSAGE:
        return "message";
    case EV_DELIVERY:
        return "delivery";
    case EV_REJECT:
        return "reject";
    case EV_BOUNCE_NOTICE:
        return "bounce_notice";
    case EV_SMTP:
        return "smtp";
    case EV_NONE:
        break;
    }
    return "none";
}

/* event_status_name - "sent", "deferred", "bounced", "expired", or "" */
const char *event_status_name(enum event_status status)
{
    switch (status) {
    case ST_SENT:
        return "sent";
    case ST_DEFERRED:
        return "deferred";
    case ST_BOUNCED:
        return "bounced";
    case ST_EXPIRED:
        return "expired";
    case ST_NONE:
        break;
    }
    return "";
}

/* event_mta_name - "postfix", "exim", "sendmail", or "" */
const char *event_mta_name(enum event_mta mta)
{
    switch (mta) {
    case MTA_POSTFIX:
        return "postfix";
    case MTA_EXIM:
        return "exim";
    case MTA_SENDMAIL:
        return "sendmail";
    case MTA_UNKNOWN:
        break;
    }
    return "";
}

/* event_status_parse - status word to enum; 0, or -1 when it is not one of the four */
int event_status_parse(const char *s, size_t len, enum event_status *out)
{
    static const struct {
        const char *name;
        size_t len;
        enum event_status status;
    } names[] = {
        {"sent", 4, ST_SENT},
        {"deferred", 8, ST_DEFERRED},
        {"bounced", 7, ST_BOUNCED},
        {"expired", 7, ST_EXPIRED},
    };
    size_t i;

    for (i = 0; i < ARRAY_LEN(names); i++) {
        if (len == names[i].len && memcmp(s, names[i].name, len) == 0) {
            *out = names[i].status;
            return 0;
        }
    }
    return -1;
}

/* The text of each reason; the order of enum event_reason. */
static const char *const reason_names[EVENT_REASON_COUNT] = {
    [REASON_NONE] = "",
    [REASON_USERUNKNOWN] = "userunknown",
    [REASON_HOSTUNKNOWN] = "hostunknown",
    [REASON_MAILBOXFULL] = "mailboxfull",
    [REASON_HASMOVED] = "hasmoved",
    [REASON_SUSPEND] = "suspend",
    [REASON_BLOCKED] = "blocked",
    [REASON_BADREPUTATION] = "badreputation",
    [REASON_SPAMDETECTED] = "spamdetected",
    [REASON_VIRUSDETECTED] = "virusdetected",
    [REASON_POLICYVIOLATION] = "policyviolation",
    [REASON_AUTHFAILURE] = "authfailure",
    [REASON_REJECTED] = "rejected",
    [REASON_NORELAYING] = "norelaying",
    [REASON_NOTACCEPT] = "notaccept",
    [REASON_REQUIREPTR] = "requireptr",
    [REASON_SPEEDING] = "speeding",
    [REASON_TOOMANYCONN] = "toomanyconn",
    [REASON_MESGTOOBIG] = "mesgtoobig",
    [REASON_EXCEEDLIMIT] = "exceedlimit",
    [REASON_CONTENTERROR] = "contenterror",
    [REASON_NOTCOMPLIANTRFC] = "notcompliantrfc",
    [REASON_FILTERED] = "filtered",
    [REASON_SECURITYERROR] = "securityerror",
    [REASON_FAILEDSTARTTLS] = "failedstarttls",
    [REASON_SYSTEMERROR] = "systemerror",
    [REASON_SYSTEMFULL] = "systemfull",
    [REASON_MAILERERROR] = "mailererror",
    [REASON_NETWORKERROR] = "networkerror",
    [REASON_SYNTAXERROR] = "syntaxerror",
    [REASON_EXPIRED] = "expired",
    [REASON_ONHOLD] = "onhold",
    [REASON_UNDEFINED] = "undefined",
};

/* event_reason_name - "userunknown", ..., "undefined"; "" for REASON_NONE */
const char *event_reason_name(enum event_reason reason)
{
    if ((unsigned)reason >= EVENT_REASON_COUNT)
        return "";
    return reason_names[reason];
}

/* event_reason_parse - reason name to enum; 0, or -1 when it names no reason */
int event_reason_parse(const char *s, size_t len, enum event_reason *out)
{
    unsigned i;

    for (i = REASON_NONE + 1; i < EVENT_REASON_COUNT; i++) {
        if (strlen(reason_names[i]) == len && memcmp(s, reason_names[i], len) == 0) {
            *out = (enum event_reason)i;
            return 0;
        }
    }
    return -1;
}

/* The text of each SMTP stage; the order of enum event_stage. */
static const char *const stage_names[] = {
    [STAGE_NONE] = "",
    [STAGE_CONNECT] = "connect",
    [STAGE_HELO] = "helo",
    [STAGE_MAIL] = "mail",
    [STAGE_RCPT] = "rcpt",
    [STAGE_DATA] = "data",
    [STAGE_STARTTLS] = "starttls",
};

/* event_stage_name - "connect", "helo", "mail", "rcpt", "data", "starttls", or "" */
const char *event_stage_name(enum event_stage stage)
{
    if ((unsigned)stage >= ARRAY_LEN(stage_names))
        return "";
    return stage_names[stage];
}

/* event_stage_parse - stage name to enum; 0, or -1 when it names no stage */
int event_stage_parse(const char *s, size_t len, enum event_stage *out)
{
    unsigned i;

    for (i = STAGE_NONE + 1; i < ARRAY_LEN(stage_names); i++) {
        if (strlen(stage_names[i]) == len && memcmp(s, stage_names[i], len) == 0) {
            *out = (enum event_stage)i;
            return 0;
        }
    }
    return -1;
}

/* event_dsn_len - the length of an enhanced code "X.Y.Z" at s ending at a space or the end */
size_t event_dsn_len(const char *s, const char *end)
{
    const char *p = s;
    int part;

    if (p >= end || (*p != '2' && *p != '4' && *p != '5'))
        return 0;
    p++;
    for (part = 0; part < 2; part++) {
        const char *d;

        if (p >= end || *p != '.')
            return 0;
        d = ++p;
        while (p < end && *p >= '0' && *p <= '9' && p - d < 3)
            p++;
        if (p == d)
            return 0;
    }
    if (p < end && *p != ' ')
        return 0;
    return (size_t)(p - s);
}

/* event_recipient_domain - the recipient's text after the last '@', or "" */
const char *event_recipient_domain(const struct event *ev)
{
    const char *at = strrchr(ev->recipient, '@');

    return at ? at + 1 : "";
}

/*
 * The writer below formats numbers and times itself, because snprintf("%.15g") and gmtime()
 * were most of the cost of `mailpulse parse` (perf, 2026-11); the bytes it writes are those
 * of the snprintf forms. It writes through a cursor w into the buffer's data, which
 * event_format_json() first makes JSON_ROOM bytes longer: an event's text without escapes
 * never needs more (its string arrays, the recipient's domain again, keys and numbers), so no
 * field checks for room or updates out->len. A string that needs escaping goes through
 * buf_json_string(), after which the room is made again.
 */
#define JSON_ROOM (2 * sizeof(struct event))

/* PUT_LIT - append a string literal at w */
#define PUT_LIT(w, lit) (memcpy((w), (lit), sizeof(lit) - 1), (w) += sizeof(lit) - 1)

/* JSON_KEY - append ,"name": (a literal name) */
#define JSON_KEY(w, name) PUT_LIT((w), ",\"" name "\":")

/* json_sync - out->len up to the cursor w */
static inline void json_sync(struct buf *out, const char *w)
{
    out->len = (size_t)(w - out->data);
}

/* json_escaped - s through buf_json_string() at w; the new cursor, with the room made again */
static __attribute__((noinline)) char *json_escaped(struct buf *out, char *w, const char *s)
{
    json_sync(out, w);
    buf_json_string(out, s);
    buf_reserve(out, JSON_ROOM);
    return out->data + out->len;
}

/*
 * json_field - a string value at w, or null when it is empty, for a string that ends (NUL)
 * within the max bytes readable at s (the rest of its struct event array); the new cursor.
 * One pass copies it sixteen bytes at a time while it looks for the end and for bytes that
 * need escaping (control bytes, '"', '\\', and bytes of 0x80 and up, whose UTF-8 is checked):
 * no strlen() and no second copy. A string with such bytes (or no NUL within max) goes
 * through buf_json_string(). The bytes read after the NUL are within the array; those copied
 * along are overwritten by what follows, never part of the text.
 */
static inline __attribute__((always_inline)) char *json_field(struct buf *out, char *w,
                                                              const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    char *v = w + 1;
    size_t i = 0;

    if (!u[0])
        return PUT_LIT(w, "null");
    w[0] = '"';
#ifdef __SSE2__
    for (; i + 16 <= max; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);

        _mm_storeu_si128((__m128i *)(void *)(v + i), x);
        if (m) {
            i += (size_t)__builtin_ctz(m);
            if (u[i])
                return json_escaped(out, w, s);
            v[i] = '"';
            return v + i + 1;
        }
    }
#endif
    for (; i < max; i++) {
        if (!u[i]) {
            v[i] = '"';
            return v + i + 1;
        }
        if (u[i] < 0x20 || u[i] >= 0x80 || u[i] == '"' || u[i] == '\\')
            break;
        v[i] = (char)u[i];
    }
    return json_escaped(out, w, s);
}

/* JSON_FIELD - "key":"value" or "key":null for a string field of struct event */
#define JSON_FIELD(out, w, name, ev, field)                                                        \
    do {                                                                                           \
        JSON_KEY(w, name);                                                                         \
        (w) = json_field((out), (w), (ev)->field, sizeof((ev)->field));                            \
    } while (0)

/* JSON_INT - "key":n, or "key":null when n is negative (unknown) */
#define JSON_INT(w, name, n)                                                                       \
    do {                                                                                           \
        JSON_KEY(w, name);                                                                         \
        (w) = json_int_value((w), (int64_t)(n));                                                   \
    } while (0)

/* json_int_value - n, or null when negative; up to three digits (SMTP codes, counts of
 * recipients, small sizes) without the division loop of fmt_u64() */
static char *json_int_value(char *w, int64_t n)
{
    if (n < 0)
        return PUT_LIT(w, "null");
    if (n < 10) {
        w[0] = (char)('0' + n);
        return w + 1;
    }
    if (n < 100) {
        w[0] = (char)('0' + n / 10);
        w[1] = (char)('0' + n % 10);
        return w + 2;
    }
    if (n < 1000) {
        w[0] = (char)('0' + n / 100);
        w[1] = (char)('0' + n / 10 % 10);
        w[2] = (char)('0' + n % 10);
        return w + 3;
    }
    return fmt_u64(w, (uint64_t)n);
}

/* format_double - a number in the shortest form that reads back as logged (1.3, 0.27; see
 * fmt_double()), else with 15 significant digits; null when not finite or out of range */
static char *format_double(char *w, double d)
{
    if (d != d || d > 1e300 || d < -1e300)
        return PUT_LIT(w, "null");
    return fmt_double(w, d, 15);
}

/*
 * json_double - format_double() through a small cache of recent values: the delays of a log
 * take few distinct values (0, 0.01, 0.2, ...), and their formatting, division by division,
 * was a twentieth of the time of `mailpulse parse`. Per thread, so no locking.
 */
static char *json_double(char *w, double d)
{
    static _Thread_local struct {
        uint64_t bits;
        unsigned char len; /* 0: empty */
        char text[15];
    } cache[1024]; /* 24 KiB */
    uint64_t bits;
    size_t n;
    unsigned k;
    char *e;

    memcpy(&bits, &d, sizeof(bits));
    k = (unsigned)((bits * 0x9e3779b97f4a7c15ULL) >> 54);
    if (cache[k].len && cache[k].bits == bits) {
        memcpy(w, cache[k].text, cache[k].len);
        return w + cache[k].len;
    }
    e = format_double(w, d);
    n = (size_t)(e - w);
    if (n <= sizeof(cache[k].text)) {
        cache[k].bits = bits;
        cache[k].len = (unsigned char)n;
        memcpy(cache[k].text, w, n);
    }
    return e;
}

/* JSON_BOOL - "key":true|false */
#define JSON_BOOL(w, name, v)                                                                      \
    do {                                                                                           \
        JSON_KEY(w, name);                                                                         \
        if (v)                                                                                     \
            PUT_LIT(w, "true");                                                                    \
        else                                                                                       \
            PUT_LIT(w, "false");                                                                   \
    } while (0)

/* The text of the last second put_time() wrote, and its day. */
struct second_memo {
    int64_t secs, days;
    bool valid;
    char w[20];
};

/*
 * second_text - "\"2026-11-28T17:30:17" (20 bytes, no NUL) for a second since the epoch,
 * kept in *last; false when its year has not four digits. A second of the day of last takes
 * its date: working out a date from a day count was half the cost of a new second. Not
 * inlined, so that put_time(), whose stamps mostly repeat, is inlined into its caller.
 */
static __attribute__((noinline)) bool second_text(int64_t secs, char *w, struct second_memo *last)
{
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;

    if (last->valid && days == last->days) {
        memcpy(w, last->w, 12); /* '"', the date and 'T' */
    } else {
        if (time_put_date(w + 1, days) < 0)
            return false;
        w[0] = '"';
        w[11] = 'T';
    }
    time_put_clock(w + 12, (int)(secs - days * 86400));
    memcpy(last->w, w, 20);
    last->secs = secs;
    last->days = days;
    last->valid = true;
    return true;
}

/*
 * put_time - "2026-11-28T17:30:17[.123456]+00:00" at w, as time_format_rfc3339() writes it;
 * the new cursor. Events come in bursts that share their second, most often their very
 * stamp: the whole text of the last stamp written is kept, and the text up to the seconds of
 * the last second (per thread, so no locking), whose date the next seconds of its day take.
 * The room of the writer (JSON_ROOM) takes the kept text's 40 bytes copied at once, of which
 * those past the stamp are written over next.
 */
static char *put_time(char *w, int64_t us)
{
    static _Thread_local struct second_memo last;
    static _Thread_local struct {
        int64_t us;
        size_t len; /* 0: none kept */
        char text[40];
    } stamp;
    int64_t secs, frac;
    char *start = w;

    if (stamp.len && us == stamp.us) {
        memcpy(w, stamp.text, sizeof(stamp.text));
        return w + stamp.len;
    }
    secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    frac = us - secs * 1000000;
    if (last.valid && secs == last.secs) {
        memcpy(w, last.w, 20);
    } else if (!second_text(secs, w, &last)) {
        char when[64];

        time_format_rfc3339(us, when, sizeof(when));
        *w++ = '"';
        w = stpcpy(w, when);
        *w++ = '"';
        return w;
    }
    w += 20;
    if (frac)
        w = time_put_frac(w, frac);
    PUT_LIT(w, "+00:00\"");
    /* at most 34 bytes: '"', 19, ".123456", "+00:00\"" */
    memcpy(stamp.text, start, sizeof(stamp.text));
    stamp.len = (size_t)(w - start);
    stamp.us = us;
    return w;
}

/* json_mta - ,"mta":"exim" (the text of event_mta_name()), or ,"mta":null */
static char *json_mta(char *w, enum event_mta mta)
{
    switch (mta) {
    case MTA_POSTFIX:
        return PUT_LIT(w, ",\"mta\":\"postfix\"");
    case MTA_EXIM:
        return PUT_LIT(w, ",\"mta\":\"exim\"");
    case MTA_SENDMAIL:
        return PUT_LIT(w, ",\"mta\":\"sendmail\"");
    case MTA_UNKNOWN:
        break;
    }
    return PUT_LIT(w, ",\"mta\":null");
}

/* json_status - ,"status":"sent" (the text of event_status_name()), or ,"status":null */
static char *json_status(char *w, enum event_status status)
{
    switch (status) {
    case ST_SENT:
        return PUT_LIT(w, ",\"status\":\"sent\"");
    case ST_DEFERRED:
        return PUT_LIT(w, ",\"status\":\"deferred\"");
    case ST_BOUNCED:
        return PUT_LIT(w, ",\"status\":\"bounced\"");
    case ST_EXPIRED:
        return PUT_LIT(w, ",\"status\":\"expired\"");
    case ST_NONE:
        break;
    }
    return PUT_LIT(w, ",\"status\":null");
}

/* json_head - {"type":...,"time":... shared by every type */
static char *json_head(const struct event *ev, char *w)
{
    switch (ev->type) {
    case EV_MESSAGE:
        PUT_LIT(w, "{\"type\":\"message\",\"time\":");
        break;
    case EV_DELIVERY:
        PUT_LIT(w, "{\"type\":\"delivery\",\"time\":");
        break;
    default: { /* the others are rare: their names as event_type_name() gives them */
        PUT_LIT(w, "{\"type\":\"");
        w = stpcpy(w, event_type_name(ev->type)); /* its NUL is written over next */
        PUT_LIT(w, "\",\"time\":");
        break;
    }
    }
    if (ev->time_us)
        return put_time(w, ev->time_us);
    return PUT_LIT(w, "null");
}

/* json_delivery - the delivery keys after time */
static char *json_delivery(const struct event *ev, struct buf *out, char *w)
{
    const char *domain;
    int i;

    JSON_FIELD(out, w, "host", ev, host);
    w = json_mta(w, ev->mta);
    JSON_FIELD(out, w, "queue_id", ev, queue_id);
    JSON_FIELD(out, w, "message_id", ev, message_id);
    JSON_FIELD(out, w, "sender", ev, sender);
    JSON_FIELD(out, w, "recipient", ev, recipient);
    JSON_FIELD(out, w, "orig_recipient", ev, orig_recipient);
    JSON_KEY(w, "recipient_domain");
    domain = event_recipient_domain(ev);
    w = json_field(out, w, domain,
                   domain[0] ? sizeof(ev->recipient) - (size_t)(domain - ev->recipient) : 1);
    JSON_FIELD(out, w, "relay", ev, relay);
    JSON_KEY(w, "delay");
    if (ev->has_delay)
        w = json_double(w, ev->delay);
    else
        PUT_LIT(w, "null");
    JSON_KEY(w, "delays");
    if (ev->has_delays) {
        PUT_LIT(w, "[");
        for (i = 0; i < 4; i++) {
            if (i)
                PUT_LIT(w, ",");
            w = json_double(w, ev->delays[i]);
        }
        PUT_LIT(w, "]");
    } else {
        PUT_LIT(w, "null");
    }
    w = json_status(w, ev->status);
    JSON_FIELD(out, w, "dsn", ev, dsn);
    JSON_INT(w, "smtp_code", ev->smtp_code);
    JSON_FIELD(out, w, "reply", ev, reply);
    if (ev->status == ST_SENT)
        PUT_LIT(w, ",\"reason\":null");
    else
        JSON_FIELD(out, w, "reason", ev, reason);
    JSON_BOOL(w, "hard", ev->hard);
    return w;
}

/* json_message - the message keys after time */
static char *json_message(const struct event *ev, struct buf *out, char *w)
{
    JSON_FIELD(out, w, "host", ev, host);
    w = json_mta(w, ev->mta);
    JSON_FIELD(out, w, "queue_id", ev, queue_id);
    JSON_FIELD(out, w, "message_id", ev, message_id);
    JSON_FIELD(out, w, "sender", ev, sender);
    JSON_INT(w, "size", ev->size);
    JSON_INT(w, "nrcpt", ev->nrcpt);
    JSON_FIELD(out, w, "client", ev, client);
    JSON_FIELD(out, w, "sasl_username", ev, sasl_username);
    return w;
}

/* json_reject - the reject keys after time */
static char *json_reject(const struct event *ev, struct buf *out, char *w)
{
    JSON_FIELD(out, w, "host", ev, host);
    w = json_mta(w, ev->mta);
    JSON_FIELD(out, w, "client", ev, client);
    JSON_FIELD(out, w, "helo", ev, helo);
    JSON_FIELD(out, w, "sender", ev, sender);
    JSON_FIELD(out, w, "recipient", ev, recipient);
    JSON_INT(w, "smtp_code", ev->smtp_code);
    JSON_FIELD(out, w, "dsn", ev, dsn);
    JSON_FIELD(out, w, "reply", ev, reply);
    JSON_FIELD(out, w, "reason", ev, reason);
    return w;
}

/* json_bounce_notice - the bounce_notice keys after time */
static char *json_bounce_notice(const struct event *ev, struct buf *out, char *w)
{
    JSON_FIELD(out, w, "host", ev, host);
    w = json_mta(w, ev->mta);
    JSON_FIELD(out, w, "queue_id", ev, queue_id);
    JSON_FIELD(out, w, "notice_queue_id", ev, notice_queue_id);
    return w;
}

/* json_smtp - the smtp keys after time */
static char *json_smtp(const struct event *ev, struct buf *out, char *w)
{
    JSON_FIELD(out, w, "client", ev, client);
    JSON_FIELD(out, w, "server", ev, server);
    JSON_FIELD(out, w, "helo", ev, helo);
    JSON_FIELD(out, w, "sender", ev, sender);
    JSON_FIELD(out, w, "recipient", ev, recipient);
    JSON_FIELD(out, w, "stage", ev, stage);
    JSON_INT(w, "smtp_code", ev->smtp_code);
    JSON_FIELD(out, w, "dsn", ev, dsn);
    JSON_FIELD(out, w, "reply", ev, reply);
    JSON_FIELD(out, w, "queue_id", ev, queue_id);
    JSON_BOOL(w, "tls", ev->tls);
    return w;
}

/* event_format_json - append ev as one JSON object, keys as in docs/architecture.md */
void event_format_json(const struct event *ev, struct buf *out)
{
    char *w;

    buf_reserve(out, JSON_ROOM);
    w = json_head(ev, out->data + out->len);
    switch (ev->type) {
    case EV_DELIVERY:
        w = json_delivery(ev, out, w);
        break;
    case EV_MESSAGE:
        w = json_message(ev, out, w);
        break;
    case EV_REJECT:
        w = json_reject(ev, out, w);
        break;
    case EV_BOUNCE_NOTICE:
        w = json_bounce_notice(ev, out, w);
        break;
    case EV_SMTP:
        w = json_smtp(ev, out, w);
        break;
    case EV_NONE:
        break;
    }
    if (ev->flags & EVF_TRUNCATED)
        PUT_LIT(w, ",\"truncated\":true");
    PUT_LIT(w, "}");
    *w = 0;
    json_sync(out, w);
}
