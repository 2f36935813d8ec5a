/*
 * params - query parameters: the allowed names of a route, and the checks on each value
 *
 * A route lists the names it takes; a name it does not take, a name given twice, or a
 * value with a NUL byte stops the reading with a message. The values are then checked one
 * by one against what they may be (a time, a known reason, a DSN code, a status, a domain,
 * a bounded number), never passed on as they came: what reaches the database is always a
 * bounded, validated string in a struct db_query, and it goes there as a bind parameter.
 * The reason names and the DSN syntax are the event's (parser/event.h), the time syntax
 * util's.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "parser/event.h"
#include "parser/provider.h"
#include "util/util.h"
#include "web/web_int.h"

/* web_plain_name - true when a parameter name is short and harmless to echo in a message */
static int web_plain_name(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 32)
        return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* web_param_iter - record one query parameter, or stop at the first unacceptable one */
static enum MHD_Result web_param_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    struct web_params *p = cls;
    size_t i;

    (void)kind;
    for (i = 0; p->names[i] != NULL; i++)
        if (strlen(p->names[i]) == key_size && memcmp(p->names[i], key, key_size) == 0)
            break;
    if (p->names[i] == NULL) {
        if (p->names[0] == NULL)
            snprintf(p->error, sizeof(p->error), "this endpoint takes no parameters");
        else if (web_plain_name(key, key_size))
            snprintf(p->error, sizeof(p->error), "unknown parameter '%.*s'; allowed: %s",
                     (int)key_size, key, p->allowed);
        else
            snprintf(p->error, sizeof(p->error), "unknown parameter; allowed: %s", p->allowed);
        return MHD_NO;
    }
    ASSERT(i < WEB_MAX_PARAMS);
    if (p->seen[i]) {
        snprintf(p->error, sizeof(p->error), "parameter '%s' given more than once", p->names[i]);
        return MHD_NO;
    }
    if (value == NULL) {
        value = "";
        value_size = 0;
    }
    if (strlen(value) != value_size) {
        snprintf(p->error, sizeof(p->error), "parameter '%s' contains a NUL byte", p->names[i]);
        return MHD_NO;
    }
    p->seen[i] = 1;
    p->value[i] = value;
    p->len[i] = value_size;
    return MHD_YES;
}

/* web_params_read - fill p from the request's query string; -1 with p->error when bad */
int web_params_read(struct MHD_Connection *conn, struct web_params *p)
{
    p->error[0] = 0;
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, web_param_iter, p);
    return p->error[0] ? -1 : 0;
}

/* web_param - the value given for name, or NULL when the request did not give it */
const char *web_param(const struct web_params *p, const char *name, size_t *len)
{
    size_t i;

    for (i = 0; p->names[i] != NULL; i++) {
        if (strcmp(p->names[i], name) == 0) {
            if (!p->seen[i])
                return NULL;
            if (len != NULL)
                *len = p->len[i];
            return p->value[i];
        }
    }
    return NULL;
}

/*
 * web_time_param - parse from= or to=. An unencoded '+' in a query string means a space,
 * so "...T10:00:00+02:00" arrives as "...T10:00:00 02:00"; the offset's sign is put back.
 */
static int web_time_param(const char *s, size_t len, int64_t now_us, int64_t *out_us)
{
    char tmp[64];

    if (len >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, len + 1);
    if (len >= 25 && tmp[len - 6] == ' ' && tmp[len - 3] == ':')
        tmp[len - 6] = '+';
    return time_parse_relative(tmp, now_us, out_us);
}

/* web_text_ok - fits in cap bytes (with the NUL) and is printable UTF-8 */
static int web_text_ok(const char *s, size_t len, size_t cap)
{
    char tmp[EV_ADDR_LEN + EV_MSGID_LEN];
    size_t i;

    if (len > cap - 1 || len >= sizeof(tmp))
        return 0;
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    return utf8_scrub(tmp) == 0;
}

/* web_domain_ok - a domain name: letters, digits, '.', '-', '_', '[' ']' ':' for literals */
static int web_domain_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > 255)
        return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '[' || c == ']' || c == ':'))
            return 0;
    }
    return 1;
}

/* web_lower_copy - copy len bytes into dst, lower-casing ASCII */
static void web_lower_copy(char *dst, const char *s, size_t len)
{
    static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z')
            dst[i] = lower[s[i] - 'A'];
        else
            dst[i] = s[i];
    }
    dst[len] = 0;
}

/*
 * web_query_read - the range and filters a route takes, into q. Parameters the route does
 * not list are simply absent here. to defaults to now, from to 24 hours before to.
 */
int web_query_read(const struct web_params *p, int64_t now_us, struct db_query *q, char *err,
                   size_t errlen)
{
    const char *v;
    size_t len;

    memset(q, 0, sizeof(*q));
    q->status = ST_NONE;
    q->range.to_us = now_us;
    if ((v = web_param(p, "to", &len)) != NULL &&
        web_time_param(v, len, now_us, &q->range.to_us) != 0) {
        snprintf(err, errlen, "'to' is not an RFC 3339 time or a relative time like -24h");
        return -1;
    }
    q->range.from_us = q->range.to_us - WEB_DEFAULT_SPAN_US;
    if ((v = web_param(p, "from", &len)) != NULL &&
        web_time_param(v, len, now_us, &q->range.from_us) != 0) {
        snprintf(err, errlen, "'from' is not an RFC 3339 time or a relative time like -24h");
        return -1;
    }
    if (q->range.from_us >= q->range.to_us) {
        snprintf(err, errlen, "'from' must be earlier than 'to'");
        return -1;
    }
    if ((v = web_param(p, "host", &len)) != NULL && len > 0) {
        if (!web_text_ok(v, len, EV_HOST_LEN)) {
            snprintf(err, errlen, "'host' must be at most 63 bytes of printable UTF-8");
            return -1;
        }
        memcpy(q->range.host, v, len + 1);
    }
    if ((v = web_param(p, "sender_domain", &len)) != NULL && len > 0) {
        if (!web_domain_ok(v, len)) {
            snprintf(err, errlen, "'sender_domain' must be a domain name");
            return -1;
        }
        web_lower_copy(q->range.sender_domain, v, len);
    }
    if ((v = web_param(p, "domain", &len)) != NULL && len > 0) {
        if (!web_domain_ok(v, len)) {
            snprintf(err, errlen, "'domain' must be a domain name");
            return -1;
        }
        web_lower_copy(q->domain, v, len);
    }
    if ((v = web_param(p, "provider", &len)) != NULL && len > 0) {
        const char *const *names;
        size_t i, n = provider_names(&names);

        for (i = 0; i < n && !(strlen(names[i]) == len && memcmp(names[i], v, len) == 0); i++)
            ;
        if (i == n || len >= sizeof(q->provider)) {
            snprintf(err, errlen, "'provider' must be a provider name (google, microsoft, ...)");
            return -1;
        }
        memcpy(q->provider, v, len + 1);
    }
    if ((v = web_param(p, "sasl_user", &len)) != NULL && len > 0) {
        if (!web_text_ok(v, len, sizeof(q->sasl_user))) {
            snprintf(err, errlen, "'sasl_user' must be at most 127 bytes of printable UTF-8");
            return -1;
        }
        memcpy(q->sasl_user, v, len + 1);
    }
    if ((v = web_param(p, "client", &len)) != NULL && len > 0) {
        if (!web_text_ok(v, len, sizeof(q->client_ip))) {
            snprintf(err, errlen, "'client' must be at most 255 bytes of printable UTF-8");
            return -1;
        }
        memcpy(q->client_ip, v, len + 1);
    }
    if ((v = web_param(p, "reason", &len)) != NULL && len > 0) {
        enum event_reason reason;

        if (len >= sizeof(q->reason) || event_reason_parse(v, len, &reason) != 0) {
            snprintf(err, errlen,
                     "'reason' must be one of the reason names (userunknown, "
                     "blocked, mailboxfull, ...)");
            return -1;
        }
        memcpy(q->reason, v, len + 1);
    }
    if ((v = web_param(p, "dsn", &len)) != NULL && len > 0) {
        if (event_dsn_len(v, v + len) != len) {
            snprintf(err, errlen, "'dsn' must be an enhanced status code like 5.1.1");
            return -1;
        }
        memcpy(q->dsn, v, len + 1);
    }
    if ((v = web_param(p, "status", &len)) != NULL && len > 0) {
        if (event_status_parse(v, len, &q->status) != 0 || q->status == ST_NONE) {
            snprintf(err, errlen, "'status' must be sent, deferred, bounced or expired");
            return -1;
        }
    }
    return 0;
}

/* web_limit_read - limit=N, 1..WEB_MAX_LIMIT, def when absent */
int web_limit_read(const struct web_params *p, int def, int *out, char *err, size_t errlen)
{
    const char *v;
    size_t len, i;
    int n = 0;

    *out = def;
    if ((v = web_param(p, "limit", &len)) == NULL)
        return 0;
    for (i = 0; i < len && i < 5 && v[i] >= '0' && v[i] <= '9'; i++)
        n = n * 10 + (v[i] - '0');
    if (len == 0 || i != len || n < 1 || n > WEB_MAX_LIMIT) {
        snprintf(err, errlen, "'limit' must be a number from 1 to %d", WEB_MAX_LIMIT);
        return -1;
    }
    *out = n;
    return 0;
}

/* web_bucket_us - the width of a bucket */
int64_t web_bucket_us(enum db_bucket b)
{
    switch (b) {
    case DB_BUCKET_MINUTE:
        return (int64_t)60 * 1000000;
    case DB_BUCKET_HOUR:
        return (int64_t)3600 * 1000000;
    case DB_BUCKET_DAY:
        return (int64_t)86400 * 1000000;
    }
    return (int64_t)3600 * 1000000;
}

/* web_bucket_name - "minute", "hour", "day" */
const char *web_bucket_name(enum db_bucket b)
{
    return b == DB_BUCKET_MINUTE ? "minute" : b == DB_BUCKET_DAY ? "day" : "hour";
}

/*
 * web_bucket_read - bucket=minute|hour|day; absent, days for more than 8 days, hours from
 * 6 hours, else minutes (between 6 and a few hundred bars for a chart). A range that would
 * need more than WEB_MAX_BUCKETS buckets is refused.
 */
int web_bucket_read(const struct web_params *p, const struct db_query *q, enum db_bucket *out,
                    char *err, size_t errlen)
{
    static const struct {
        const char *name;
        enum db_bucket b;
    } names[] = {{"minute", DB_BUCKET_MINUTE}, {"hour", DB_BUCKET_HOUR}, {"day", DB_BUCKET_DAY}};
    int64_t span = q->range.to_us - q->range.from_us;
    const char *v;
    size_t len, i;

    v = web_param(p, "bucket", &len);
    if (v == NULL || len == 0) {
        if (span > 8 * web_bucket_us(DB_BUCKET_DAY))
            *out = DB_BUCKET_DAY;
        else if (span >= 6 * web_bucket_us(DB_BUCKET_HOUR))
            *out = DB_BUCKET_HOUR;
        else
            *out = DB_BUCKET_MINUTE;
    } else {
        for (i = 0; i < ARRAY_LEN(names); i++)
            if (strlen(names[i].name) == len && memcmp(names[i].name, v, len) == 0)
                break;
        if (i == ARRAY_LEN(names)) {
            snprintf(err, errlen, "'bucket' must be minute, hour or day");
            return -1;
        }
        *out = names[i].b;
    }
    if (span / web_bucket_us(*out) >= WEB_MAX_BUCKETS) {
        snprintf(err, errlen, "the range holds more than %d %s buckets; choose a wider bucket",
                 WEB_MAX_BUCKETS, web_bucket_name(*out));
        return -1;
    }
    return 0;
}

/*
 * web_trail_read - the key of a message trail: queue_id, message_id or recipient, exactly
 * one of them, non-empty.
 */
int web_trail_read(const struct web_params *p, struct db_query *q, char *err, size_t errlen)
{
    const char *qid, *mid, *rcpt;
    size_t ql = 0, ml = 0, rl = 0, i;

    memset(q, 0, sizeof(*q));
    q->status = ST_NONE;
    q->range.to_us = INT64_MAX;
    qid = web_param(p, "queue_id", &ql);
    mid = web_param(p, "message_id", &ml);
    rcpt = web_param(p, "recipient", &rl);
    if ((qid && ql) + (mid && ml) + (rcpt && rl) != 1) {
        snprintf(err, errlen, "give exactly one of queue_id, message_id, recipient");
        return -1;
    }
    if (qid != NULL && ql > 0) {
        for (i = 0; i < ql; i++)
            if (!((qid[i] >= '0' && qid[i] <= '9') || (qid[i] >= 'A' && qid[i] <= 'Z') ||
                  (qid[i] >= 'a' && qid[i] <= 'z') || qid[i] == '-' || qid[i] == '_'))
                break;
        if (i != ql || ql >= sizeof(q->queue_id)) {
            snprintf(err, errlen, "'queue_id' must be letters and digits, at most 31");
            return -1;
        }
        memcpy(q->queue_id, qid, ql + 1);
    } else if (mid != NULL && ml > 0) {
        if (!web_text_ok(mid, ml, sizeof(q->message_id))) {
            snprintf(err, errlen, "'message_id' must be at most 255 bytes of printable UTF-8");
            return -1;
        }
        memcpy(q->message_id, mid, ml + 1);
    } else {
        if (!web_text_ok(rcpt, rl, sizeof(q->recipient)) || memchr(rcpt, ' ', rl) != NULL) {
            snprintf(err, errlen, "'recipient' must be an address of at most 319 bytes");
            return -1;
        }
        memcpy(q->recipient, rcpt, rl + 1);
    }
    return 0;
}
