/*
 * event - struct event helpers: clearing, bounded field copies, names, and the NDJSON form
 *
 * The JSON writer is hand-written because it runs once per event on the hot path of
 * `mailpulse parse`: it only appends to the caller's reused buffer, so after the buffer has
 * grown once it allocates nothing. The keys and their order are the contract of DESIGN.md
 * section 3.
 */
#include <stdio.h>
#include <string.h>

#include "parser/event.h"

/* event_clear - an empty event: every string empty, every number unknown */
void event_clear(struct event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->size = -1;
    ev->nrcpt = -1;
    ev->smtp_code = -1;
}

/* event_set - bounded copy into a field; a cut sets EVF_TRUNCATED */
void event_set(struct event *ev, char *field, size_t fieldlen, const char *s, size_t len)
{
    if (str_copy(field, fieldlen, s, len) != 0)
        ev->flags |= EVF_TRUNCATED;
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

/* event_recipient_domain - the recipient's text after the last '@', or "" */
const char *event_recipient_domain(const struct event *ev)
{
    const char *at = strrchr(ev->recipient, '@');

    return at ? at + 1 : "";
}

/* json_key - append ,"name": (the first key of an object has no comma) */
static void json_key(struct buf *out, const char *name)
{
    buf_putc(out, ',');
    buf_putc(out, '"');
    buf_puts(out, name);
    buf_puts(out, "\":");
}

/* json_str - "key":"value", or "key":null when the value is empty */
static void json_str(struct buf *out, const char *name, const char *value)
{
    json_key(out, name);
    if (value[0])
        buf_json_string(out, value);
    else
        buf_puts(out, "null");
}

/* json_int - "key":n, or "key":null when n is negative (unknown) */
static void json_int(struct buf *out, const char *name, int64_t n)
{
    char tmp[24];
    int len;

    json_key(out, name);
    if (n < 0) {
        buf_puts(out, "null");
        return;
    }
    len = snprintf(tmp, sizeof(tmp), "%lld", (long long)n);
    buf_append(out, tmp, (size_t)len);
}

/* json_double - a number in the shortest form that reads back as logged (1.3, 0.27) */
static void json_double(struct buf *out, double d)
{
    char tmp[40];
    int len;

    if (d != d || d > 1e300 || d < -1e300) {
        buf_puts(out, "null");
        return;
    }
    len = snprintf(tmp, sizeof(tmp), "%.15g", d);
    buf_append(out, tmp, (size_t)len);
}

/* json_bool - "key":true|false */
static void json_bool(struct buf *out, const char *name, bool v)
{
    json_key(out, name);
    buf_puts(out, v ? "true" : "false");
}

/* json_head - {"type":...,"time":... shared by every type */
static void json_head(const struct event *ev, struct buf *out)
{
    char when[40];

    buf_puts(out, "{\"type\":\"");
    buf_puts(out, event_type_name(ev->type));
    buf_putc(out, '"');
    json_key(out, "time");
    if (ev->time_us) {
        time_format_rfc3339(ev->time_us, when, sizeof(when));
        buf_putc(out, '"');
        buf_puts(out, when);
        buf_putc(out, '"');
    } else {
        buf_puts(out, "null");
    }
}

/* json_delivery - the delivery keys after time */
static void json_delivery(const struct event *ev, struct buf *out)
{
    int i;

    json_str(out, "host", ev->host);
    json_str(out, "mta", event_mta_name(ev->mta));
    json_str(out, "queue_id", ev->queue_id);
    json_str(out, "message_id", ev->message_id);
    json_str(out, "sender", ev->sender);
    json_str(out, "recipient", ev->recipient);
    json_str(out, "orig_recipient", ev->orig_recipient);
    json_str(out, "recipient_domain", event_recipient_domain(ev));
    json_str(out, "relay", ev->relay);
    json_key(out, "delay");
    if (ev->has_delay)
        json_double(out, ev->delay);
    else
        buf_puts(out, "null");
    json_key(out, "delays");
    if (ev->has_delays) {
        buf_putc(out, '[');
        for (i = 0; i < 4; i++) {
            if (i)
                buf_putc(out, ',');
            json_double(out, ev->delays[i]);
        }
        buf_putc(out, ']');
    } else {
        buf_puts(out, "null");
    }
    json_str(out, "status", event_status_name(ev->status));
    json_str(out, "dsn", ev->dsn);
    json_int(out, "smtp_code", ev->smtp_code);
    json_str(out, "reply", ev->reply);
    json_str(out, "reason", ev->status == ST_SENT ? "" : ev->reason);
    json_bool(out, "hard", ev->hard);
}

/* json_message - the message keys after time */
static void json_message(const struct event *ev, struct buf *out)
{
    json_str(out, "host", ev->host);
    json_str(out, "mta", event_mta_name(ev->mta));
    json_str(out, "queue_id", ev->queue_id);
    json_str(out, "message_id", ev->message_id);
    json_str(out, "sender", ev->sender);
    json_int(out, "size", ev->size);
    json_int(out, "nrcpt", ev->nrcpt);
    json_str(out, "client", ev->client);
    json_str(out, "sasl_username", ev->sasl_username);
}

/* json_reject - the reject keys after time */
static void json_reject(const struct event *ev, struct buf *out)
{
    json_str(out, "host", ev->host);
    json_str(out, "mta", event_mta_name(ev->mta));
    json_str(out, "client", ev->client);
    json_str(out, "helo", ev->helo);
    json_str(out, "sender", ev->sender);
    json_str(out, "recipient", ev->recipient);
    json_int(out, "smtp_code", ev->smtp_code);
    json_str(out, "dsn", ev->dsn);
    json_str(out, "reply", ev->reply);
    json_str(out, "reason", ev->reason);
}

/* json_bounce_notice - the bounce_notice keys after time */
static void json_bounce_notice(const struct event *ev, struct buf *out)
{
    json_str(out, "host", ev->host);
    json_str(out, "mta", event_mta_name(ev->mta));
    json_str(out, "queue_id", ev->queue_id);
    json_str(out, "notice_queue_id", ev->notice_queue_id);
}

/* json_smtp - the smtp keys after time */
static void json_smtp(const struct event *ev, struct buf *out)
{
    json_str(out, "client", ev->client);
    json_str(out, "server", ev->server);
    json_str(out, "helo", ev->helo);
    json_str(out, "sender", ev->sender);
    json_str(out, "recipient", ev->recipient);
    json_str(out, "stage", ev->stage);
    json_int(out, "smtp_code", ev->smtp_code);
    json_str(out, "dsn", ev->dsn);
    json_str(out, "reply", ev->reply);
    json_str(out, "queue_id", ev->queue_id);
    json_bool(out, "tls", ev->tls);
}

/* event_format_json - append ev as one JSON object, keys as in DESIGN.md section 3 */
void event_format_json(const struct event *ev, struct buf *out)
{
    buf_reserve(out, 1024);
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
        buf_puts(out, ",\"truncated\":true");
    buf_putc(out, '}');
}
