/*
 * api - the JSON endpoints (docs/api.md) and /healthz
 *
 * web.c's route table says what each endpoint accepts; by the time a handler runs its
 * parameters are read and checked (the check functions here do the ones of a single
 * route) and it holds a database connection, so it asks db/ and builds the body. Aggregates are
 * built with cJSON; lists of events (bounces, a message's trail) are written with
 * event_format_json(), the same serializer as `mailpulse parse`, so an event has the same keys
 * everywhere. A database error is logged by db/ and the client sees only {"error":"database
 * unavailable"} and 503.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "db/db.h"
#include "parser/event.h"
#include "util/util.h"
#include "web/web_int.h"

#define JSON_CT "application/json; charset=utf-8"

/* web_reply_csv - queue a 200 with a CSV body */
enum MHD_Result web_reply_csv(struct MHD_Connection *conn, const struct buf *b)
{
    return web_reply_buf(conn, MHD_HTTP_OK, "text/csv; charset=utf-8", b->data, b->len);
}

/* ---- collecting rows ---- */

/* web_rows_init - an empty list of rows of the given size */
void web_rows_init(struct web_rows *rows, size_t size)
{
    memset(rows, 0, sizeof(*rows));
    rows->size = size;
}

/* web_rows_free - free the rows */
void web_rows_free(struct web_rows *rows)
{
    x_free(rows->data);
    memset(rows, 0, sizeof(*rows));
}

/* web_rows_add - append one row (copied) */
static void web_rows_add(struct web_rows *rows, const void *row)
{
    rows->data = xgrow(rows->data, &rows->cap, rows->n, rows->size, 16);
    memcpy(rows->data + rows->n * rows->size, row, rows->size);
    rows->n++;
}

/* web_rows_domain - db_domains() callback that collects */
int web_rows_domain(void *arg, const struct db_domain_row *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_rows_reason - db_reasons() callback that collects */
int web_rows_reason(void *arg, const struct db_reason_row *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_rows_provider - db_providers() callback that collects */
int web_rows_provider(void *arg, const struct db_provider_row *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_rows_complaint - db_complaints() callback that collects */
int web_rows_complaint(void *arg, const struct db_complaint_row *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_rows_suppression - db_suppressions() callback that collects */
int web_rows_suppression(void *arg, const struct db_suppression_row *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_rows_block - db_blocks() callback that collects */
int web_rows_block(void *arg, const struct db_block_row *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_rows_sender - db_senders() callback that collects */
int web_rows_sender(void *arg, const struct db_sender_row *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_rows_alert - db_alert_list() callback that collects */
int web_rows_alert(void *arg, const struct db_alert *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* The timeseries being filled: every bucket of the range, empty ones included. */
struct web_series_fill {
    struct db_point *pts;
    size_t n;
    int64_t first_us, width_us;
};

/* web_series_point - db_timeseries() callback: add a point into its bucket */
static int web_series_point(void *arg, const struct db_point *p)
{
    struct web_series_fill *f = arg;
    int64_t i;
    struct db_point *d;

    if (p->bucket_us < f->first_us)
        return 0;
    i = (p->bucket_us - f->first_us) / f->width_us;
    if (i < 0 || (size_t)i >= f->n)
        return 0;
    d = &f->pts[i];
    d->received += p->received;
    d->sent += p->sent;
    d->deferred += p->deferred;
    d->bounced += p->bounced;
    d->expired += p->expired;
    d->rejected += p->rejected;
    return 0;
}

/*
 * web_series - every bucket from the one holding q's from up to to, zeros where the
 * database has no row. *out is allocated (free with x_free); -1 when the query failed.
 */
int web_series(struct db *db, const struct db_query *q, enum db_bucket b, struct db_point **out,
               size_t *n, int64_t *first_us)
{
    struct web_series_fill f;
    int64_t w = web_bucket_us(b), from = q->range.from_us, i;

    f.width_us = w;
    f.first_us = from / w * w;
    if (from < 0 && from % w != 0)
        f.first_us -= w;
    f.n = (size_t)((q->range.to_us - 1 - f.first_us) / w + 1);
    f.pts = xcalloc(f.n, sizeof(*f.pts));
    for (i = 0; (size_t)i < f.n; i++)
        f.pts[i].bucket_us = f.first_us + i * w;
    if (db_timeseries(db, q, b, web_series_point, &f) != 0) {
        x_free(f.pts);
        return -1;
    }
    *out = f.pts;
    *n = f.n;
    *first_us = f.first_us;
    return 0;
}

/* ---- helpers ---- */

/* web_unavailable - 503, the database did not answer */
static enum MHD_Result web_unavailable(struct web_req *r)
{
    web_db_failed(r->w);
    return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
}

/* web_add_str_or_null - a string member, null when empty */
void web_add_str_or_null(cJSON *obj, const char *name, const char *s)
{
    if (s[0])
        cJSON_AddStringToObject(obj, name, s);
    else
        cJSON_AddNullToObject(obj, name);
}

/* web_add_range - "from" and "to" of a query */
static void web_add_range(cJSON *obj, const struct db_query *q)
{
    web_add_time(obj, "from", q->range.from_us, 0);
    web_add_time(obj, "to", q->range.to_us, 0);
}

/* web_rate - part / whole, 0 when whole is 0 */
static double web_rate(int64_t part, int64_t whole)
{
    return whole > 0 ? (double)part / (double)whole : 0.0;
}

/* ---- the endpoints ---- */

/* web_api_summary - GET /api/v1/summary?from=&to=&host=&sender_domain= */
enum MHD_Result web_api_summary(struct web_req *r)
{
    const struct db_query *q = &r->q;
    struct db_report_counts rc;
    struct db_summary s;
    int64_t attempts;
    cJSON *body;
    enum MHD_Result ret;

    memset(&s, 0, sizeof(s));
    if (db_summary(r->db, &q->range, &s) != 0 || db_report_counts(r->db, &q->range, &rc) != 0) {
        /* db/ logged the server's message; the client learns nothing of it. */
        log_debug("web: summary query failed");
        return web_unavailable(r);
    }
    attempts = s.sent + s.deferred + s.bounced + s.expired;
    body = cJSON_CreateObject();
    web_add_range(body, q);
    web_add_str_or_null(body, "host", q->range.host);
    web_add_str_or_null(body, "sender_domain", q->range.sender_domain);
    cJSON_AddNumberToObject(body, "received", (double)s.received);
    cJSON_AddNumberToObject(body, "attempts", (double)attempts);
    cJSON_AddNumberToObject(body, "sent", (double)s.sent);
    cJSON_AddNumberToObject(body, "deferred", (double)s.deferred);
    cJSON_AddNumberToObject(body, "bounced", (double)s.bounced);
    cJSON_AddNumberToObject(body, "expired", (double)s.expired);
    cJSON_AddNumberToObject(body, "rejected", (double)s.rejected);
    cJSON_AddNumberToObject(body, "bounce_rate", web_rate(s.bounced, attempts));
    cJSON_AddNumberToObject(body, "deferral_rate", web_rate(s.deferred, attempts));
    cJSON_AddNumberToObject(body, "async_bounced", (double)rc.async_bounced);
    cJSON_AddNumberToObject(body, "complaints", (double)rc.complaints);
    cJSON_AddNumberToObject(body, "complaint_rate", web_rate(rc.complaints, s.sent));
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* web_check_bucket - bucket= against the range */
int web_check_bucket(struct web_req *r, char *err, size_t errlen)
{
    return web_bucket_read(&r->p, &r->q, &r->bucket, err, errlen);
}

/* web_check_timeseries - bucket= and by=status|provider */
int web_check_timeseries(struct web_req *r, char *err, size_t errlen)
{
    const char *by;

    if (web_check_bucket(r, err, errlen) != 0)
        return -1;
    by = web_param(&r->p, "by", NULL);
    if (by != NULL && strcmp(by, "status") != 0 && strcmp(by, "provider") != 0) {
        snprintf(err, errlen, "'by' must be status or provider");
        return -1;
    }
    return 0;
}

/* web_api_timeseries - GET /api/v1/timeseries?from=&to=&host=&bucket=&by=status|provider */
enum MHD_Result web_api_timeseries(struct web_req *r)
{
    const char *by = web_param(&r->p, "by", NULL);
    struct db_point *pts;
    size_t n, i;
    int64_t first;
    cJSON *body, *arr;
    enum MHD_Result ret;

    if (by != NULL && strcmp(by, "provider") == 0)
        return web_api_provider_series(r); /* web/providers.c */

    if (web_series(r->db, &r->q, r->bucket, &pts, &n, &first) != 0)
        return web_unavailable(r);
    body = cJSON_CreateObject();
    web_add_range(body, &r->q);
    web_add_str_or_null(body, "host", r->q.range.host);
    cJSON_AddStringToObject(body, "bucket", web_bucket_name(r->bucket));
    cJSON_AddStringToObject(body, "by", "status");
    arr = cJSON_AddArrayToObject(body, "points");
    for (i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();

        web_add_time(o, "time", pts[i].bucket_us, 0);
        cJSON_AddNumberToObject(o, "received", (double)pts[i].received);
        cJSON_AddNumberToObject(o, "sent", (double)pts[i].sent);
        cJSON_AddNumberToObject(o, "deferred", (double)pts[i].deferred);
        cJSON_AddNumberToObject(o, "bounced", (double)pts[i].bounced);
        cJSON_AddNumberToObject(o, "expired", (double)pts[i].expired);
        cJSON_AddNumberToObject(o, "rejected", (double)pts[i].rejected);
        cJSON_AddItemToArray(arr, o);
    }
    x_free(pts);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* web_check_order - order=volume|bounce_rate|deferral_rate */
int web_check_order(struct web_req *r, char *err, size_t errlen)
{
    const char *v = web_param(&r->p, "order", NULL);

    r->order = DB_ORDER_VOLUME;
    if (v == NULL || strcmp(v, "volume") == 0)
        return 0;
    if (strcmp(v, "bounce_rate") == 0) {
        r->order = DB_ORDER_BOUNCE_RATE;
    } else if (strcmp(v, "deferral_rate") == 0) {
        r->order = DB_ORDER_DEFERRAL_RATE;
    } else {
        snprintf(err, errlen, "'order' must be volume, bounce_rate or deferral_rate");
        return -1;
    }
    return 0;
}

/* web_api_domains - GET /api/v1/domains?from=&to=&host=&limit=&order= */
enum MHD_Result web_api_domains(struct web_req *r)
{
    const char **names;
    int64_t *async;
    struct web_rows rows;
    size_t i;
    cJSON *body, *arr;
    enum MHD_Result ret;

    web_rows_init(&rows, sizeof(struct db_domain_row));
    if (db_domains(r->db, &r->q, r->order, r->limit, web_rows_domain, &rows) != 0) {
        web_rows_free(&rows);
        return web_unavailable(r);
    }
    names = xcalloc(rows.n + 1, sizeof(*names));
    async = xcalloc(rows.n + 1, sizeof(*async));
    for (i = 0; i < rows.n; i++)
        names[i] =
            ((const struct db_domain_row *)(const void *)(rows.data + i * rows.size))->domain;
    if (db_report_counts_for(r->db, &r->q.range, DB_RK_ASYNC_DOMAIN, names, rows.n, async) != 0) {
        x_free(names);
        x_free(async);
        web_rows_free(&rows);
        return web_unavailable(r);
    }
    body = cJSON_CreateObject();
    web_add_range(body, &r->q);
    arr = cJSON_AddArrayToObject(body, "domains");
    for (i = 0; i < rows.n; i++) {
        const struct db_domain_row *d = (const void *)(rows.data + i * rows.size);
        int64_t attempts = d->sent + d->deferred + d->bounced + d->expired;
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "domain", d->domain);
        cJSON_AddNumberToObject(o, "attempts",
                                (double)(d->sent + d->deferred + d->bounced + d->expired));
        cJSON_AddNumberToObject(o, "sent", (double)d->sent);
        cJSON_AddNumberToObject(o, "deferred", (double)d->deferred);
        cJSON_AddNumberToObject(o, "bounced", (double)d->bounced);
        cJSON_AddNumberToObject(o, "expired", (double)d->expired);
        cJSON_AddNumberToObject(o, "bounce_rate", d->bounce_rate);
        cJSON_AddNumberToObject(o, "deferral_rate", d->deferral_rate);
        cJSON_AddNumberToObject(o, "async_bounced", (double)async[i]);
        cJSON_AddNumberToObject(o, "total_bounce_rate", web_rate(d->bounced + async[i], attempts));
        cJSON_AddItemToArray(arr, o);
    }
    x_free(names);
    x_free(async);
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* The JSON array being written by an event callback. */
struct web_event_list {
    struct buf *b;
    size_t n;
};

/* web_event_json - db_bounces()/db_message_trail() callback: one more array element */
static int web_event_json(void *arg, const struct event *ev)
{
    struct web_event_list *l = arg;

    if (l->n++ > 0)
        buf_putc(l->b, ',');
    event_format_json(ev, l->b);
    return 0;
}

/* web_cursor_ok - a cursor is what db_bounces() hands out: digits, '.', '-', short */
int web_cursor_ok(const char *s, size_t len)
{
    size_t i;

    if (len >= DB_CURSOR_LEN)
        return 0;
    for (i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

/*
 * web_cursor_read - status= a failure and cursor= one this server gave; bad_cursor is the
 * message for a cursor that is not
 */
int web_cursor_read(struct web_req *r, const char *bad_cursor, char *err, size_t errlen)
{
    size_t clen = 0;

    if (r->q.status == ST_SENT) {
        snprintf(err, errlen, "'status' must be deferred, bounced or expired here");
        return -1;
    }
    r->cursor = web_param(&r->p, "cursor", &clen);
    if (r->cursor == NULL)
        r->cursor = "";
    if (!web_cursor_ok(r->cursor, clen)) {
        snprintf(err, errlen, "%s", bad_cursor);
        return -1;
    }
    return 0;
}

/* web_check_bounces - status= and cursor= of /api/v1/bounces */
int web_check_bounces(struct web_req *r, char *err, size_t errlen)
{
    return web_cursor_read(r, "'cursor' is not a cursor this server gave", err, errlen);
}

/* web_api_bounces - GET /api/v1/bounces?from&to&host&domain&reason&dsn&status&limit&cursor */
enum MHD_Result web_api_bounces(struct web_req *r)
{
    struct web_event_list l;
    struct buf b;
    char err[192], next[DB_CURSOR_LEN];
    enum MHD_Result ret;

    buf_init(&b);
    buf_puts(&b, "{\"bounces\":[");
    l.b = &b;
    l.n = 0;
    err[0] = 0;
    next[0] = 0;
    if (db_bounces(r->db, &r->q, r->limit, r->cursor, next, web_event_json, &l, err, sizeof(err)) !=
        0) {
        buf_free(&b);
        if (strstr(err, "cursor") != NULL)
            return web_reply_error(r->conn, MHD_HTTP_BAD_REQUEST,
                                   "'cursor' is not a cursor this server gave");
        return web_unavailable(r);
    }
    buf_printf(&b, "],\"count\":%zu,\"next_cursor\":", l.n);
    if (next[0])
        buf_json_string(&b, next);
    else
        buf_puts(&b, "null");
    buf_putc(&b, '}');
    ret = web_reply_buf(r->conn, MHD_HTTP_OK, JSON_CT, b.data, b.len);
    buf_free(&b);
    return ret;
}

/* web_api_reasons - GET /api/v1/reasons?from=&to=&host=&limit= */
enum MHD_Result web_api_reasons(struct web_req *r)
{
    struct web_rows rows;
    size_t i;
    cJSON *body, *arr;
    enum MHD_Result ret;

    web_rows_init(&rows, sizeof(struct db_reason_row));
    if (db_reasons(r->db, &r->q, r->limit, web_rows_reason, &rows) != 0) {
        web_rows_free(&rows);
        return web_unavailable(r);
    }
    body = cJSON_CreateObject();
    web_add_range(body, &r->q);
    arr = cJSON_AddArrayToObject(body, "reasons");
    for (i = 0; i < rows.n; i++) {
        const struct db_reason_row *x = (const void *)(rows.data + i * rows.size);
        cJSON *o = cJSON_CreateObject();

        web_add_str_or_null(o, "reason", x->reason);
        web_add_str_or_null(o, "dsn", x->dsn);
        if (x->status != ST_NONE)
            cJSON_AddStringToObject(o, "status", event_status_name(x->status));
        else
            cJSON_AddNullToObject(o, "status");
        cJSON_AddNumberToObject(o, "count", (double)x->count);
        web_add_str_or_null(o, "example", x->example);
        cJSON_AddItemToArray(arr, o);
    }
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* web_api_messages - GET /api/v1/messages?queue_id=|message_id=|recipient=[&limit=] */
enum MHD_Result web_api_messages(struct web_req *r)
{
    struct web_event_list l;
    struct buf b;
    enum MHD_Result ret;

    buf_init(&b);
    buf_puts(&b, "{\"events\":[");
    l.b = &b;
    l.n = 0;
    if (db_message_trail(r->db, &r->q, r->limit, web_event_json, &l) != 0) {
        buf_free(&b);
        return web_unavailable(r);
    }
    buf_printf(&b, "],\"count\":%zu}", l.n);
    ret = web_reply_buf(r->conn, MHD_HTTP_OK, JSON_CT, b.data, b.len);
    buf_free(&b);
    return ret;
}

/* web_rows_wire - db_wire() callback that collects */
int web_rows_wire(void *arg, const struct db_wire_ip *r)
{
    web_rows_add(arg, r);
    return 0;
}

/* web_wire_counts - the counts of db_wire() as members of obj */
static void web_wire_counts(cJSON *obj, const struct db_wire *w)
{
    cJSON_AddNumberToObject(obj, "sessions", (double)w->sessions);
    cJSON_AddNumberToObject(obj, "greeting_rejected", (double)w->greeting_rejected);
    cJSON_AddNumberToObject(obj, "rcpt_accepted", (double)w->rcpt_accepted);
    cJSON_AddNumberToObject(obj, "rcpt_rejected_4xx", (double)w->rcpt_rejected_4xx);
    cJSON_AddNumberToObject(obj, "rcpt_rejected_5xx", (double)w->rcpt_rejected_5xx);
    cJSON_AddNumberToObject(obj, "data_accepted", (double)w->data_accepted);
    cJSON_AddNumberToObject(obj, "data_rejected_4xx", (double)w->data_rejected_4xx);
    cJSON_AddNumberToObject(obj, "data_rejected_5xx", (double)w->data_rejected_5xx);
    cJSON_AddNumberToObject(obj, "tls_sessions", (double)w->tls_sessions);
    cJSON_AddNumberToObject(obj, "tls_share", w->tls_share);
}

/* web_api_wire - GET /api/v1/wire?from=&to=&host=&limit=: sniffed SMTP outcomes */
enum MHD_Result web_api_wire(struct web_req *r)
{
    struct db_wire tot;
    struct web_rows rows;
    size_t i;
    cJSON *body, *arr;
    enum MHD_Result ret;

    web_rows_init(&rows, sizeof(struct db_wire_ip));
    if (db_wire(r->db, &r->q, r->limit, &tot, web_rows_wire, &rows) != 0) {
        web_rows_free(&rows);
        return web_unavailable(r);
    }
    body = cJSON_CreateObject();
    web_add_range(body, &r->q);
    web_add_str_or_null(body, "host", r->q.range.host);
    web_wire_counts(cJSON_AddObjectToObject(body, "totals"), &tot);
    arr = cJSON_AddArrayToObject(body, "sources");
    for (i = 0; i < rows.n; i++) {
        const struct db_wire_ip *x = (const void *)(rows.data + i * rows.size);
        cJSON *o = cJSON_CreateObject();

        web_add_str_or_null(o, "ip", x->ip);
        web_wire_counts(o, &x->w);
        cJSON_AddItemToArray(arr, o);
    }
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/*
 * web_ingest_read - the daemon's figures; lag and pcap drops are -1 unless it knows them.
 * db_up is what this server found when it asked the database just now: the daemon's
 * db_up dates from its last commit, so when the database has not answered since, that
 * is the newer truth and the ingest figures say so too.
 */
void web_ingest_read(struct web *w, int db_up, struct web_ingest_status *st)
{
    memset(st, 0, sizeof(*st));
    st->lag_bytes = -1;
    st->pcap_drops = -1;
    if (w->ingest != NULL)
        w->ingest(w->ingest_arg, st);
    if (!db_up)
        st->db_up = 0;
}

/* web_api_healthz - GET /healthz: database reachability and the ingest figures */
enum MHD_Result web_api_healthz(struct web_req *r)
{
    int up;
    cJSON *body, *ing;
    enum MHD_Result ret;

    web_db_failed(r->w); /* a health check always asks the server */
    up = web_db(r->w) != NULL;
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", up ? "ok" : "unavailable");
    cJSON_AddStringToObject(body, "database", up ? "up" : "down");
    if (r->w->ingest != NULL) {
        struct web_ingest_status st;

        web_ingest_read(r->w, up, &st);
        ing = cJSON_AddObjectToObject(body, "ingest");
        cJSON_AddNumberToObject(ing, "lines", (double)st.lines);
        cJSON_AddNumberToObject(ing, "events", (double)st.events);
        cJSON_AddNumberToObject(ing, "malformed", (double)st.malformed);
        cJSON_AddNumberToObject(ing, "read_bytes", (double)st.read_bytes);
        cJSON_AddNumberToObject(ing, "resumed", (double)st.resumed);
        if (st.lag_bytes < 0)
            cJSON_AddNullToObject(ing, "lag_bytes");
        else
            cJSON_AddNumberToObject(ing, "lag_bytes", (double)st.lag_bytes);
        cJSON_AddBoolToObject(ing, "db_up", st.db_up != 0);
        web_add_time(ing, "last_commit", st.last_commit_us, 1);
        if (st.pcap_drops < 0)
            cJSON_AddNullToObject(ing, "pcap_drops");
        else
            cJSON_AddNumberToObject(ing, "pcap_drops", (double)st.pcap_drops);
        web_syslog_json(ing, &st);
        if (st.bounce_messages > 0) {
            cJSON *bo = cJSON_AddObjectToObject(ing, "bounces");

            cJSON_AddNumberToObject(bo, "messages", (double)st.bounce_messages);
            cJSON_AddNumberToObject(bo, "not_bounce", (double)st.bounce_not_bounce);
            cJSON_AddNumberToObject(bo, "malformed", (double)st.bounce_malformed);
            cJSON_AddNumberToObject(bo, "records", (double)st.bounce_records);
            cJSON_AddNumberToObject(bo, "duplicates", (double)st.bounce_duplicates);
        }
    }
    ret = web_reply_json(r->conn, up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
    cJSON_Delete(body);
    return ret;
}
