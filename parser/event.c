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
 * The writer below reserves room once per field and then copies with memcpy; it formats
 * numbers and times itself, because snprintf("%.15g") and gmtime() were most of the cost
 * of `mailpulse parse` (perf, 2026-11). The bytes it writes are those of the snprintf forms.
 */

/* room - make sure n more bytes (and the terminator) fit without a reallocation */
static inline void room(struct buf *out, size_t n)
{
    if (out->cap - out->len < n + 1)
        buf_reserve(out, n);
}

/* put - append n bytes for which room() was made */
static inline void put(struct buf *out, const char *s, size_t n)
{
    memcpy(out->data + out->len, s, n);
    out->len += n;
}

/* put_lit - append a string literal */
#define PUT_LIT(out, lit) (room((out), sizeof(lit) - 1), put((out), (lit), sizeof(lit) - 1))

/* json_key - append ,"name": (a literal name) */
#define JSON_KEY(out, name) PUT_LIT((out), ",\"" name "\":")

/*
 * json_field - a string value, or null when it is empty, for a string that ends (NUL) within
 * the max bytes readable at s (the rest of its struct event array). One pass copies it sixteen
 * bytes at a time while it looks for the end and for bytes that need escaping (control bytes,
 * '"', '\\', and bytes of 0x80 and up, whose UTF-8 is checked), with room made once: no
 * strlen() and no second copy. A string with such bytes (or no NUL within max) goes through
 * buf_json_string(). The bytes read after the NUL are within the array and are not written
 * out.
 */
static inline __attribute__((always_inline)) void json_field(struct buf *out, const char *s,
                                                             size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    char *w;
    size_t i = 0;

    if (!u[0]) {
        PUT_LIT(out, "null");
        return;
    }
    room(out, max + 2);
    w = out->data + out->len + 1;
    w[-1] = '"';
#ifdef __SSE2__
    for (; i + 16 <= max; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);

        _mm_storeu_si128((__m128i *)(void *)(w + i), x);
        if (m) {
            i += (size_t)__builtin_ctz(m);
            if (u[i])
                goto escape;
            w[i] = '"';
            out->len += i + 2;
            return;
        }
    }
#endif
    for (; i < max; i++) {
        if (!u[i]) {
            w[i] = '"';
            out->len += i + 2;
            return;
        }
        if (u[i] < 0x20 || u[i] >= 0x80 || u[i] == '"' || u[i] == '\\')
            break;
        w[i] = (char)u[i];
    }
escape:
    buf_json_string(out, s);
}

/* JSON_FIELD - "key":"value" or "key":null for a string field of struct event */
#define JSON_FIELD(out, name, ev, field)                                                           \
    do {                                                                                           \
        JSON_KEY(out, name);                                                                       \
        json_field(out, (ev)->field, sizeof((ev)->field));                                         \
    } while (0)

/* put_uint - decimal digits of v */
static void put_uint(struct buf *out, uint64_t v)
{
    uint64_t t = v;
    size_t n = 1;
    char *w;

    /* count first, then write in place from the end: no copy of a few bytes via memcpy() */
    while (t >= 10) {
        t /= 10;
        n++;
    }
    room(out, n);
    w = out->data + out->len + n;
    do {
        *--w = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out->len += n;
}

/* json_int - "key":n, or "key":null when n is negative (unknown) */
#define JSON_INT(out, name, n)                                                                     \
    do {                                                                                           \
        JSON_KEY(out, name);                                                                       \
        json_int_value(out, (int64_t)(n));                                                         \
    } while (0)

/* json_int_value - n, or null when negative */
static void json_int_value(struct buf *out, int64_t n)
{
    if (n < 0)
        PUT_LIT(out, "null");
    else
        put_uint(out, (uint64_t)n);
}

/*
 * format_double - a number in the shortest form that reads back as logged (1.3, 0.27). Delays
 * come from decimal text with few digits, so the fewest decimals k for which
 * round(d * 10^k) / 10^k == d give the same text as "%.15g" does; anything else (huge,
 * negative, more than 9 decimals) still goes through snprintf.
 */
static void format_double(struct buf *out, double d)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    char tmp[40];
    int len, k;

    if (d != d || d > 1e300 || d < -1e300) {
        PUT_LIT(out, "null");
        return;
    }
    if (d >= 0 && d < 1e9 && d == (double)(uint64_t)d) {
        put_uint(out, (uint64_t)d); /* "0", "2", "455": most delays are whole seconds */
        return;
    }
    if (d >= 0 && d < 1e9) {
        for (k = 1; k < 10; k++) {
            double scaled = d * pow10[k];
            uint64_t r = (uint64_t)(scaled + 0.5);

            if ((double)r / pow10[k] == d) {
                uint64_t ip = r / (uint64_t)pow10[k], fp = r % (uint64_t)pow10[k];
                int j;

                put_uint(out, ip);
                if (k == 0)
                    return;
                room(out, (size_t)k + 1);
                out->data[out->len++] = '.';
                for (j = k - 1; j >= 0; j--) {
                    out->data[out->len + (size_t)j] = (char)('0' + fp % 10);
                    fp /= 10;
                }
                out->len += (size_t)k;
                return;
            }
        }
    }
    len = snprintf(tmp, sizeof(tmp), "%.15g", d);
    room(out, (size_t)len);
    put(out, tmp, (size_t)len);
}

/*
 * json_double - format_double() through a small cache of recent values: the delays of a log
 * take few distinct values (0, 0.01, 0.2, ...), and their formatting, division by division,
 * was a twentieth of the time of `mailpulse parse`. Per thread, so no locking.
 */
static void json_double(struct buf *out, double d)
{
    static _Thread_local struct {
        uint64_t bits;
        unsigned char len; /* 0: empty */
        char text[15];
    } cache[1024]; /* 24 KiB */
    uint64_t bits;
    size_t start = out->len, n;
    unsigned k;

    memcpy(&bits, &d, sizeof(bits));
    k = (unsigned)((bits * 0x9e3779b97f4a7c15ULL) >> 54);
    if (cache[k].len && cache[k].bits == bits) {
        room(out, cache[k].len);
        put(out, cache[k].text, cache[k].len);
        return;
    }
    format_double(out, d);
    n = out->len - start;
    if (n <= sizeof(cache[k].text)) {
        cache[k].bits = bits;
        cache[k].len = (unsigned char)n;
        memcpy(cache[k].text, out->data + start, n);
    }
}

/* json_bool - "key":true|false */
#define JSON_BOOL(out, name, v)                                                                    \
    do {                                                                                           \
        JSON_KEY(out, name);                                                                       \
        if (v)                                                                                     \
            PUT_LIT(out, "true");                                                                  \
        else                                                                                       \
            PUT_LIT(out, "false");                                                                 \
    } while (0)

/* put_2d - two decimal digits */
static inline void put_2d(char *w, unsigned v)
{
    w[0] = (char)('0' + v / 10);
    w[1] = (char)('0' + v % 10);
}

/*
 * second_text - "\"2026-11-28T17:30:17" (20 bytes, no NUL) for a second since the epoch;
 * false when its year has not four digits.
 */
static bool second_text(int64_t secs, char *w)
{
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400, y;
    int m, d;

    time_civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return false;
    w[0] = '"';
    put_2d(w + 1, (unsigned)(y / 100));
    put_2d(w + 3, (unsigned)(y % 100));
    w[5] = '-';
    put_2d(w + 6, (unsigned)m);
    w[8] = '-';
    put_2d(w + 9, (unsigned)d);
    w[11] = 'T';
    put_2d(w + 12, (unsigned)(sod / 3600));
    w[14] = ':';
    put_2d(w + 15, (unsigned)(sod / 60 % 60));
    w[17] = ':';
    put_2d(w + 18, (unsigned)(sod % 60));
    return true;
}

/*
 * put_time - "2026-11-28T17:30:17[.123456]+00:00", as time_format_rfc3339() writes it.
 * The text up to the seconds is kept for the last second written: events come in bursts
 * that share their second (per thread, so no locking).
 */
static void put_time(struct buf *out, int64_t us)
{
    static _Thread_local struct {
        int64_t secs;
        bool valid;
        char w[20];
    } last;
    int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    int64_t frac = us - secs * 1000000;
    char w[40];
    size_t n = 20;

    if (last.valid && secs == last.secs) {
        memcpy(w, last.w, 20);
    } else if (second_text(secs, w)) {
        memcpy(last.w, w, 20);
        last.secs = secs;
        last.valid = true;
    } else {
        char when[64];

        time_format_rfc3339(us, when, sizeof(when));
        room(out, strlen(when) + 2);
        out->data[out->len++] = '"';
        put(out, when, strlen(when));
        out->data[out->len++] = '"';
        return;
    }
    if (frac) {
        int j;

        w[n++] = '.';
        for (j = 5; j >= 0; j--) {
            w[n + (size_t)j] = (char)('0' + frac % 10);
            frac /= 10;
        }
        n += 6;
    }
    memcpy(w + n, "+00:00\"", 8); /* with its NUL, which the next append overwrites */
    n += 7;
    room(out, n);
    put(out, w, n);
}

/* json_mta - ,"mta":"exim" (the text of event_mta_name()), or ,"mta":null */
static void json_mta(struct buf *out, enum event_mta mta)
{
    switch (mta) {
    case MTA_POSTFIX:
        PUT_LIT(out, ",\"mta\":\"postfix\"");
        return;
    case MTA_EXIM:
        PUT_LIT(out, ",\"mta\":\"exim\"");
        return;
    case MTA_SENDMAIL:
        PUT_LIT(out, ",\"mta\":\"sendmail\"");
        return;
    case MTA_UNKNOWN:
        break;
    }
    PUT_LIT(out, ",\"mta\":null");
}

/* json_status - ,"status":"sent" (the text of event_status_name()), or ,"status":null */
static void json_status(struct buf *out, enum event_status status)
{
    switch (status) {
    case ST_SENT:
        PUT_LIT(out, ",\"status\":\"sent\"");
        return;
    case ST_DEFERRED:
        PUT_LIT(out, ",\"status\":\"deferred\"");
        return;
    case ST_BOUNCED:
        PUT_LIT(out, ",\"status\":\"bounced\"");
        return;
    case ST_EXPIRED:
        PUT_LIT(out, ",\"status\":\"expired\"");
        return;
    case ST_NONE:
        break;
    }
    PUT_LIT(out, ",\"status\":null");
}

/* json_head - {"type":...,"time":... shared by every type */
static void json_head(const struct event *ev, struct buf *out)
{
    switch (ev->type) {
    case EV_MESSAGE:
        PUT_LIT(out, "{\"type\":\"message\",\"time\":");
        break;
    case EV_DELIVERY:
        PUT_LIT(out, "{\"type\":\"delivery\",\"time\":");
        break;
    default: /* the others are rare: their names as event_type_name() gives them */
        PUT_LIT(out, "{\"type\":\"");
        buf_puts(out, event_type_name(ev->type));
        PUT_LIT(out, "\",\"time\":");
        break;
    }
    if (ev->time_us)
        put_time(out, ev->time_us);
    else
        PUT_LIT(out, "null");
}

/* json_delivery - the delivery keys after time */
static void json_delivery(const struct event *ev, struct buf *out)
{
    const char *domain;
    int i;

    JSON_FIELD(out, "host", ev, host);
    json_mta(out, ev->mta);
    JSON_FIELD(out, "queue_id", ev, queue_id);
    JSON_FIELD(out, "message_id", ev, message_id);
    JSON_FIELD(out, "sender", ev, sender);
    JSON_FIELD(out, "recipient", ev, recipient);
    JSON_FIELD(out, "orig_recipient", ev, orig_recipient);
    JSON_KEY(out, "recipient_domain");
    domain = event_recipient_domain(ev);
    json_field(out, domain,
               domain[0] ? sizeof(ev->recipient) - (size_t)(domain - ev->recipient) : 1);
    JSON_FIELD(out, "relay", ev, relay);
    JSON_KEY(out, "delay");
    if (ev->has_delay)
        json_double(out, ev->delay);
    else
        PUT_LIT(out, "null");
    JSON_KEY(out, "delays");
    if (ev->has_delays) {
        PUT_LIT(out, "[");
        for (i = 0; i < 4; i++) {
            if (i)
                PUT_LIT(out, ",");
            json_double(out, ev->delays[i]);
        }
        PUT_LIT(out, "]");
    } else {
        PUT_LIT(out, "null");
    }
    json_status(out, ev->status);
    JSON_FIELD(out, "dsn", ev, dsn);
    JSON_INT(out, "smtp_code", ev->smtp_code);
    JSON_FIELD(out, "reply", ev, reply);
    if (ev->status == ST_SENT)
        PUT_LIT(out, ",\"reason\":null");
    else
        JSON_FIELD(out, "reason", ev, reason);
    JSON_BOOL(out, "hard", ev->hard);
}

/* json_message - the message keys after time */
static void json_message(const struct event *ev, struct buf *out)
{
    JSON_FIELD(out, "host", ev, host);
    json_mta(out, ev->mta);
    JSON_FIELD(out, "queue_id", ev, queue_id);
    JSON_FIELD(out, "message_id", ev, message_id);
    JSON_FIELD(out, "sender", ev, sender);
    JSON_INT(out, "size", ev->size);
    JSON_INT(out, "nrcpt", ev->nrcpt);
    JSON_FIELD(out, "client", ev, client);
    JSON_FIELD(out, "sasl_username", ev, sasl_username);
}

/* json_reject - the reject keys after time */
static void json_reject(const struct event *ev, struct buf *out)
{
    JSON_FIELD(out, "host", ev, host);
    json_mta(out, ev->mta);
    JSON_FIELD(out, "client", ev, client);
    JSON_FIELD(out, "helo", ev, helo);
    JSON_FIELD(out, "sender", ev, sender);
    JSON_FIELD(out, "recipient", ev, recipient);
    JSON_INT(out, "smtp_code", ev->smtp_code);
    JSON_FIELD(out, "dsn", ev, dsn);
    JSON_FIELD(out, "reply", ev, reply);
    JSON_FIELD(out, "reason", ev, reason);
}

/* json_bounce_notice - the bounce_notice keys after time */
static void json_bounce_notice(const struct event *ev, struct buf *out)
{
    JSON_FIELD(out, "host", ev, host);
    json_mta(out, ev->mta);
    JSON_FIELD(out, "queue_id", ev, queue_id);
    JSON_FIELD(out, "notice_queue_id", ev, notice_queue_id);
}

/* json_smtp - the smtp keys after time */
static void json_smtp(const struct event *ev, struct buf *out)
{
    JSON_FIELD(out, "client", ev, client);
    JSON_FIELD(out, "server", ev, server);
    JSON_FIELD(out, "helo", ev, helo);
    JSON_FIELD(out, "sender", ev, sender);
    JSON_FIELD(out, "recipient", ev, recipient);
    JSON_FIELD(out, "stage", ev, stage);
    JSON_INT(out, "smtp_code", ev->smtp_code);
    JSON_FIELD(out, "dsn", ev, dsn);
    JSON_FIELD(out, "reply", ev, reply);
    JSON_FIELD(out, "queue_id", ev, queue_id);
    JSON_BOOL(out, "tls", ev->tls);
}

/* event_format_json - append ev as one JSON object, keys as in docs/architecture.md */
void event_format_json(const struct event *ev, struct buf *out)
{
    buf_reserve(out, 2048);
    json_head(ev, out);
    switch (ev->type) {
    case EV_DELIVERY:
        json_delivery(ev, out);
        break;
    case EV_MESSAGE:
        json_message(ev, out);
        break;
    case EV_REJECT:
        json_reject(ev, out);
        break;
    case EV_BOUNCE_NOTICE:
        json_bounce_notice(ev, out);
        break;
    case EV_SMTP:
        json_smtp(ev, out);
        break;
    case EV_NONE:
        break;
    }
    if (ev->flags & EVF_TRUNCATED)
        PUT_LIT(out, ",\"truncated\":true");
    PUT_LIT(out, "}");
    out->data[out->len] = 0;
}
