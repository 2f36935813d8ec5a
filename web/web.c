/*
 * web - the HTTP server: libmicrohttpd daemon, routing, replies, the database connections
 *
 * libmicrohttpd runs a pool of WEB_THREADS polling threads; each connection stays on one of
 * them. Each thread has a database connection of its own (struct web_worker, taken on the
 * thread's first use of web_db()), opened on first use, pinged before use when it has not
 * answered for a second or a query on it failed, and reopened when it was lost; failed
 * attempts are spaced by WEB_DB_RETRY_US so that an outage costs one connection attempt per
 * second and thread, not one per request. A slow report on one thread does not hold up the
 * others. Exports have a connection of their own (export.c), because the cursor lives in a
 * transaction for as long as the stream runs.
 *
 * Routing is one table, matched exactly against the decoded path. Each route says which
 * query parameters it accepts and what it needs (a range, a message key, a limit, a
 * database connection, checks of its own); web_route_open() reads and checks them once for
 * all routes and answers 400 or 503 in the route's kind of reply (JSON or a page) before
 * the route's answer function runs. Before any route runs, the request must be well formed
 * (one Host header in HTTP/1.1, no NUL byte in the request line), pass the access check
 * (auth.c) when a token is set, and its raw target must hold no encoded NUL
 * (libmicrohttpd decodes "%00" and would cut the path there). No route takes a request
 * body: a request that announces one is answered as soon as its headers are in, and
 * libmicrohttpd discards the body and closes the connection; other requests keep the
 * connection alive.
 *
 * Connections are tracked from accept to close (web_conn_notify()) so that a sweeper
 * thread can hold every request head to a deadline that a trickle of bytes cannot extend.
 * Errors that libmicrohttpd answers by itself (a request line or headers larger than the
 * connection memory limit, a malformed request) get its own short replies.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "db/db.h"
#include "parser/event.h"
#include "util/util.h"
#include "web/web.h"
#include "web/web_int.h"

#define WEB_DEFAULT_LISTEN   "127.0.0.1:8025"
#define WEB_CONN_LIMIT       4096u
#define WEB_PER_IP_LIMIT     32u
#define WEB_CONN_TIMEOUT_S   10u
#define WEB_HEAD_DEADLINE_US ((int64_t)10 * 1000000)
#define WEB_SWEEP_US         ((int64_t)250 * 1000)
#define WEB_CONN_MEMORY      ((size_t)32 * 1024)
#define WEB_DB_RETRY_US      ((int64_t)1000000)

/*
 * TLS 1.2 and 1.3 only; for 1.2 forward-secret ECDHE key exchange and AEAD ciphers only
 * (AES-GCM, ChaCha20-Poly1305), the cipher set of Mozilla's "intermediate" profile.
 */
#define WEB_TLS_PRIORITIES                                                                         \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

/* The pages need no script, no inline style and no other origin. */
#define WEB_CSP                                                                                    \
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "         \
    "base-uri 'none'; form-action 'self'"

/*
 * Request markers, kept in libmicrohttpd's per-request pointer: whether the handler has
 * been called once, and whether the raw target carried an encoded NUL in its path.
 */
static int mark_new_ok, mark_new_bad, mark_seen_ok, mark_seen_bad;

/* The query parameters of each route. */
static const char *const no_params[] = {NULL};
static const char *const range_params[] = {"from", "to", "host", "limit", NULL};
static const char *const summary_params[] = {"from", "to", "host", "sender_domain", NULL};
static const char *const timeseries_params[] = {"from", "to", "host", "bucket", "by", NULL};
static const char *const domains_params[] = {"from", "to", "host", "limit", "order", NULL};
static const char *const provider_params[] = {"from", "to", "host", "limit", "format", NULL};
static const char *const bounces_params[] = {
    "from",  "to",     "host",     "domain",        "reason",    "dsn",    "status",
    "limit", "cursor", "provider", "sender_domain", "sasl_user", "client", NULL};
static const char *const senders_page_params[] = {"from",  "to", "host", "limit",
                                                  "order", "by", NULL};
static const char *const senders_params[] = {"from",  "to", "host",   "limit",
                                             "order", "by", "format", NULL};
static const char *const messages_params[] = {"queue_id", "message_id", "recipient", "limit", NULL};
static const char *const dash_params[] = {"from", "to", "host", "bucket", NULL};
static const char *const message_page_params[] = {"queue_id", "message_id", "recipient", NULL};
static const char *const alerts_params[] = {"state", "format", "limit", NULL};
static const char *const complaints_params[] = {"from",          "to",     "host",  "sender_domain",
                                                "feedback_type", "format", "limit", NULL};
static const char *const suppressions_params[] = {"from",   "to",    "sender_domain",
                                                  "format", "limit", NULL};
static const char *const export_params[] = {"what",      "format",   "from",     "to",
                                            "host",      "domain",   "reason",   "dsn",
                                            "status",    "formulas", "provider", "sender_domain",
                                            "sasl_user", "client",   NULL};

#define CACHED WEB_ROUTE_CACHED
#define RANGE  WEB_ROUTE_RANGE
#define TRAIL  WEB_ROUTE_TRAIL
#define DB     WEB_ROUTE_DB
#define HTML   WEB_ROUTE_HTML

/*
 * Every route, matched exactly against the decoded path. The page /message reads its
 * message key itself, because without one it shows the empty form; /healthz and /metrics
 * ask for the database themselves, because they answer when it is down; an export opens
 * a connection of its own.
 */
static const struct web_route web_routes[] = {
    {"/", dash_params, CACHED | RANGE | DB | HTML, 0, web_check_bucket, web_page_dashboard},
    {"/bounces", bounces_params, RANGE | DB | HTML, 50, web_check_bounces_page, web_page_bounces},
    {"/blocks", range_params, RANGE | DB | HTML, 100, NULL, web_page_blocks},
    {"/senders", senders_page_params, RANGE | DB | HTML, 50, web_check_senders, web_page_senders},
    {"/message", message_page_params, HTML, 0, NULL, web_page_message},
    {"/static/style.css", no_params, 0, 0, NULL, web_page_style},
    {"/api/v1/summary", summary_params, CACHED | RANGE | DB, 0, NULL, web_api_summary},
    {"/api/v1/timeseries", timeseries_params, CACHED | RANGE | DB, 0, web_check_timeseries,
     web_api_timeseries},
    {"/api/v1/domains", domains_params, CACHED | RANGE | DB, 20, web_check_order, web_api_domains},
    {"/api/v1/providers", provider_params, CACHED | RANGE | DB, 50, web_check_format,
     web_api_providers},
    {"/api/v1/senders", senders_params, CACHED | RANGE | DB, 50, web_check_senders,
     web_api_senders},
    {"/api/v1/blocks", provider_params, CACHED | RANGE | DB, 100, web_check_format, web_api_blocks},
    {"/api/v1/bounces", bounces_params, RANGE | DB, 100, web_check_bounces, web_api_bounces},
    {"/api/v1/reasons", range_params, CACHED | RANGE | DB, 50, NULL, web_api_reasons},
    {"/api/v1/messages", messages_params, TRAIL | DB, 200, NULL, web_api_messages},
    {"/api/v1/wire", range_params, CACHED | RANGE | DB, 20, NULL, web_api_wire},
    {"/api/v1/alerts", alerts_params, DB, 100, web_check_alerts, web_api_alerts},
    {"/api/v1/complaints", complaints_params, RANGE | DB, 100, web_check_complaints,
     web_api_complaints},
    {"/api/v1/suppressions", suppressions_params, RANGE | DB, 1000, web_check_format,
     web_api_suppressions},
    {"/api/v1/export", export_params, RANGE, 0, web_check_export, web_export},
    {"/metrics", no_params, 0, 0, NULL, web_metrics},
    {"/healthz", no_params, 0, 0, NULL, web_api_healthz},
};

#undef CACHED
#undef RANGE
#undef TRAIL
#undef DB
#undef HTML

static pthread_once_t web_cjson_once = PTHREAD_ONCE_INIT;

/* web_cjson_hooks - cJSON allocates with the x-allocators, so it never returns NULL */
static void web_cjson_hooks(void)
{
    cJSON_Hooks hooks = {xmalloc, x_free};

    cJSON_InitHooks(&hooks);
}

/* web_mhd_log - libmicrohttpd's messages: debug, and kept for web_start()'s error */
__attribute__((format(printf, 2, 0))) static void web_mhd_log(void *cls, const char *fmt,
                                                              va_list ap)
{
    struct web *w = cls;
    char msg[256];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    if (atomic_load(&w->starting))
        str_copy(w->start_err, sizeof(w->start_err), msg, n);
    log_debug("web: libmicrohttpd: %s", msg);
}

/* web_port - the port the daemon listens on */
int web_port(const struct web *w)
{
    return w ? w->port : -1;
}

/* web_add_headers - the security headers every reply carries */
void web_add_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

/*
 * web_reply_buf - queue a reply body (copied) with the headers every reply carries. ctype
 * must be a string literal: the cache keeps the pointer.
 */
enum MHD_Result web_reply_buf(struct MHD_Connection *conn, unsigned int status, const char *ctype,
                              const char *data, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    web_add_headers(resp);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"mailpulse\", charset=\"UTF-8\"");
    web_cache_capture(status, ctype, data, len);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* web_reply_json - queue a JSON reply */
enum MHD_Result web_reply_json(struct MHD_Connection *conn, unsigned int status, const cJSON *body)
{
    static const char fallback[] = "{\"error\":\"internal error\"}";
    const char *ctype = "application/json; charset=utf-8";
    char *text = cJSON_PrintUnformatted(body);
    enum MHD_Result ret;

    if (text == NULL)
        return web_reply_buf(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, ctype, fallback,
                             sizeof(fallback) - 1);
    ret = web_reply_buf(conn, status, ctype, text, strlen(text));
    cJSON_free(text);
    return ret;
}

/* web_reply_error - {"error":"msg"} with the given status */
enum MHD_Result web_reply_error(struct MHD_Connection *conn, unsigned int status, const char *msg)
{
    cJSON *body = cJSON_CreateObject();
    enum MHD_Result ret;

    cJSON_AddStringToObject(body, "error", msg);
    ret = web_reply_json(conn, status, body);
    cJSON_Delete(body);
    return ret;
}

/* The worker of the calling server thread; NULL until the thread takes one. */
static _Thread_local struct web_worker *web_me;

/* web_worker_self - this thread's worker, taken from w->workers on first use */
static struct web_worker *web_worker_self(struct web *w)
{
    if (web_me == NULL) {
        int i = atomic_fetch_add(&w->nworkers, 1);

        ASSERT(i < (int)ARRAY_LEN(w->workers));
        web_me = &w->workers[i];
    }
    return web_me;
}

/* web_db - this thread's database connection, (re)opened as needed; NULL when down */
struct db *web_db(struct web *w)
{
    struct web_worker *me = web_worker_self(w);
    char err[256];
    int64_t now;

    now = time_now_us();
    if (me->db != NULL) {
        /* A connection that answered within the last second is taken as it is: a ping per
         * request would double the round trips. A failed query calls web_db_failed(). */
        if (now - me->db_checked_us < WEB_DB_RETRY_US)
            return me->db;
        if (db_ping(me->db) == 0) {
            me->db_checked_us = now;
            return me->db;
        }
        log_warn("web: database connection lost; reconnecting");
        db_close(me->db);
        me->db = NULL;
        me->db_retry_us = 0;
    }
    if (now < me->db_retry_us)
        return NULL;
    err[0] = 0;
    me->db = db_open_reports(w->dsn, err, sizeof(err));
    if (me->db == NULL) {
        if (!me->db_down)
            log_warn("web: database unavailable: %s", err);
        else
            log_debug("web: database still unavailable: %s", err);
        me->db_down = 1;
        me->db_retry_us = now + WEB_DB_RETRY_US;
        return NULL;
    }
    if (me->db_down)
        log_info("web: database connection restored");
    me->db_down = 0;
    me->db_checked_us = now;
    return me->db;
}

/* web_db_failed - a query failed: check the connection before its next use */
void web_db_failed(struct web *w)
{
    web_worker_self(w)->db_checked_us = 0;
}

/* web_add_time - a time as RFC 3339 text, or null when unknown (<= 0) */
void web_add_time(cJSON *obj, const char *name, int64_t us, int null_when_unset)
{
    char text[40];

    if (null_when_unset && us <= 0) {
        cJSON_AddNullToObject(obj, name);
        return;
    }
    time_format_rfc3339(us, text, sizeof(text));
    cJSON_AddStringToObject(obj, name, text);
}

/* web_has_body - the request announces a body */
static int web_has_body(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) !=
               NULL ||
           (cl != NULL && strcmp(cl, "0") != 0);
}

/* web_conn_of - the struct web_conn of a connection; NULL when it has none */
static struct web_conn *web_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

/*
 * web_conn_notify - a connection opens (track it, its head deadline running) or closes
 * (forget it). libmicrohttpd tells of the close before it closes the socket, so the
 * sweeper, under the same lock, never touches a descriptor that has been reused.
 */
static void web_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                            enum MHD_ConnectionNotificationCode code)
{
    struct web *w = cls;
    struct web_conn *c = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        c = xcalloc(1, sizeof(*c));
        c->fd = ci != NULL ? ci->connect_fd : -1;
        atomic_init(&c->head_from_us, time_now_us());
        pthread_mutex_lock(&w->conns_lock);
        c->next = w->conns;
        if (w->conns != NULL)
            w->conns->prev = c;
        w->conns = c;
        pthread_mutex_unlock(&w->conns_lock);
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c != NULL) {
        pthread_mutex_lock(&w->conns_lock);
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            w->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&w->conns_lock);
        x_free(c);
        *socket_context = NULL;
    }
}

/* web_request_done - a request has been answered: the next request head starts now */
static void web_request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                             enum MHD_RequestTerminationCode toe)
{
    struct web_conn *c = web_conn_of(conn);

    (void)cls;
    (void)req_cls;
    (void)toe;
    if (c != NULL) {
        c->target = NULL;
        atomic_store(&c->head_from_us, time_now_us());
    }
}

/*
 * web_sweep - the request-head deadline. libmicrohttpd's timeout counts idle time only, so
 * a client that sends a byte now and then could hold a connection for ever; here each
 * request head must be complete within WEB_HEAD_DEADLINE_US of its start, however the
 * bytes trickle in. A connection past it is shut down; libmicrohttpd then reads the end
 * of the stream and closes it as its own.
 */
static void *web_sweep(void *arg)
{
    struct web *w = arg;
    struct web_conn *c;
    struct timespec ts;
    int64_t now, from;

    pthread_mutex_lock(&w->conns_lock);
    while (w->sweeping) {
        now = time_now_us();
        for (c = w->conns; c != NULL; c = c->next) {
            from = atomic_load(&c->head_from_us);
            if (from > 0 && now - from > WEB_HEAD_DEADLINE_US && c->fd >= 0) {
                atomic_store(&c->head_from_us, 0);
                shutdown(c->fd, SHUT_RDWR);
                atomic_fetch_add(&w->head_timeouts, 1);
            }
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(WEB_SWEEP_US * 1000);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->sweep_wake, &w->conns_lock, &ts);
    }
    pthread_mutex_unlock(&w->conns_lock);
    return NULL;
}

/* web_host_count - MHD_get_connection_values() iterator: count Host headers */
static enum MHD_Result web_host_count(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

/*
 * web_request_line_bad - why a request is malformed, or NULL: its request line held a NUL
 * byte, or it is HTTP/1.1 without exactly one Host header (RFC 9112 section 3.2).
 * libmicrohttpd splits the line in its buffer into target and version, so the version
 * starts right after the target's end; a NUL inside the target ends the string that
 * web_uri_log() measured before that.
 */
static const char *web_request_line_bad(struct MHD_Connection *conn, const char *version)
{
    struct web_conn *c = web_conn_of(conn);
    int hosts = 0;

    if (c != NULL && c->target != NULL && version != NULL && version[0] != 0 &&
        version != c->target + c->target_len + 1)
        return "NUL byte in the request line";
    if (version != NULL && strcmp(version, MHD_HTTP_VERSION_1_1) == 0) {
        MHD_get_connection_values(conn, MHD_HEADER_KIND, web_host_count, &hosts);
        if (hosts != 1)
            return "an HTTP/1.1 request needs exactly one Host header";
    }
    return NULL;
}

/*
 * web_uri_log - libmicrohttpd shows us the raw request target before it decodes it; an
 * encoded NUL in the path would cut the decoded path short, so such a request is marked
 * and refused by the handler.
 */
static void *web_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct web_conn *c = web_conn_of(conn);
    const char *q, *p;

    (void)cls;
    if (c != NULL) {
        c->target = uri;
        c->target_len = uri != NULL ? strlen(uri) : 0;
    }
    if (uri == NULL)
        return &mark_new_ok;
    q = strchr(uri, '?');
    for (p = uri; *p && (q == NULL || p < q); p++)
        if (p[0] == '%' && p[1] == '0' && p[2] == '0')
            return &mark_new_bad;
    return &mark_new_ok;
}

/* web_route_error - a 400 or 503 in the route's kind of reply */
static enum MHD_Result web_route_error(const struct web_req *r, unsigned int status,
                                       const char *msg)
{
    if (r->route->flags & WEB_ROUTE_HTML)
        return web_page_error(r->conn, status, msg);
    return web_reply_error(r->conn, status, msg);
}

/*
 * web_route_open - what every route does before it answers: read its parameters, check
 * them, take a database connection. A bad parameter is a 400, no database a 503.
 */
static enum MHD_Result web_route_open(struct web_req *r)
{
    const struct web_route *rt = r->route;
    size_t i, n = 0;
    char err[256];

    for (i = 0; rt->params[i] != NULL; i++)
        n += (size_t)snprintf(r->allowed + n, sizeof(r->allowed) - n, "%s%s", i ? ", " : "",
                              rt->params[i]);
    ASSERT(n < sizeof(r->allowed));
    r->p.names = rt->params;
    r->p.allowed = r->allowed;
    r->limit = rt->limit;
    r->cursor = "";
    err[0] = 0;
    if (web_params_read(r->conn, &r->p) != 0)
        return web_route_error(r, MHD_HTTP_BAD_REQUEST, r->p.error);
    if (((rt->flags & WEB_ROUTE_RANGE) &&
         web_query_read(&r->p, r->now_us, &r->q, err, sizeof(err)) != 0) ||
        ((rt->flags & WEB_ROUTE_TRAIL) && web_trail_read(&r->p, &r->q, err, sizeof(err)) != 0) ||
        (rt->limit > 0 && web_limit_read(&r->p, rt->limit, &r->limit, err, sizeof(err)) != 0) ||
        (rt->check != NULL && rt->check(r, err, sizeof(err)) != 0))
        return web_route_error(r, MHD_HTTP_BAD_REQUEST, err);
    if (rt->flags & WEB_ROUTE_DB) {
        r->db = web_db(r->w);
        if (r->db == NULL)
            return web_route_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    return rt->answer(r);
}

/* web_route_serve - answer a request for a route, from the cache when it may */
static enum MHD_Result web_route_serve(struct web *w, struct MHD_Connection *conn,
                                       const struct web_route *rt)
{
    struct web_req *r;
    struct web_capture cap;
    enum MHD_Result ret;
    int c = -1;

    r = xcalloc(1, sizeof(*r));
    r->w = w;
    r->conn = conn;
    r->url = rt->path;
    r->route = rt;
    r->now_us = time_now_us();
    atomic_fetch_add(&w->requests, 1);
    if (rt->flags & WEB_ROUTE_CACHED)
        c = web_cache_lookup(w->cache, conn, rt->path, r->now_us, &cap, &ret);
    if (c == 1) {
        atomic_fetch_add(&w->cache_hits, 1);
        x_free(r);
        return ret;
    }
    if (c == 0)
        web_cache_arm(&cap);
    ret = web_route_open(r);
    if (c == 0)
        web_cache_done(&cap);
    x_free(r);
    return ret;
}

/*
 * web_handler - route one request. libmicrohttpd calls it once the headers are in and again
 * once the request is complete. A request without a body is answered on the second call,
 * so the connection can be kept alive; one with a body (no route takes one) is answered
 * at once, and libmicrohttpd then discards the body and closes the connection.
 */
static enum MHD_Result web_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **req_cls)
{
    struct web *w = cls;
    struct web_conn *c;
    const char *bad;
    int bad_path;
    size_t i;

    (void)upload_data;
    if (*req_cls == &mark_new_ok || *req_cls == &mark_new_bad || *req_cls == NULL) {
        /* The head is complete: its deadline no longer applies. */
        c = web_conn_of(conn);
        if (c != NULL)
            atomic_store(&c->head_from_us, 0);
        bad = web_request_line_bad(conn, version);
        if (bad != NULL) {
            *req_cls = &mark_seen_bad;
            return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, bad);
        }
        *req_cls = *req_cls == &mark_new_bad ? &mark_seen_bad : &mark_seen_ok;
        if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
            if (!web_has_body(conn))
                return MHD_YES;
        }
    } else if (*upload_data_size != 0) {
        *upload_data_size = 0; /* not reached: a body is answered on the first call */
        return MHD_YES;
    }
    bad_path = *req_cls == &mark_seen_bad;
    if (w->token != NULL && !web_auth_check(w, conn)) {
        atomic_fetch_add(&w->unauthorized, 1);
        return web_reply_error(conn, MHD_HTTP_UNAUTHORIZED, "access token required");
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return web_reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    if (bad_path)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad request path");
    for (i = 0; i < ARRAY_LEN(web_routes); i++)
        if (strcmp(url, web_routes[i].path) == 0)
            return web_route_serve(w, conn, &web_routes[i]);
    return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not found");
}

/*
 * web_parse_listen - "a.b.c.d:port" or "[ipv6]:port" into a socket address. Host names
 * are refused: what a name resolves to can change, and the bind must be exactly what the
 * operator wrote.
 */
static int web_parse_listen(const char *listen, struct sockaddr_storage *ss, unsigned int *flags,
                            char *err, size_t errlen)
{
    char host[80];
    const char *port, *end;
    size_t hlen;
    unsigned long pnum = 0;
    const char *c;

    memset(ss, 0, sizeof(*ss));
    if (listen[0] == '[') {
        end = strchr(listen, ']');
        if (end == NULL || end[1] != ':')
            goto bad;
        c = listen + 1;
        hlen = (size_t)(end - c);
        port = end + 2;
    } else {
        end = strchr(listen, ':');
        if (end == NULL || strchr(end + 1, ':') != NULL)
            goto bad;
        c = listen;
        hlen = (size_t)(end - c);
        port = end + 1;
    }
    if (hlen == 0 || hlen >= sizeof(host) || *port == 0 || strlen(port) > 5)
        goto bad;
    memcpy(host, c, hlen);
    host[hlen] = 0;
    for (c = port; *c; c++) {
        if (*c < '0' || *c > '9')
            goto bad;
        pnum = pnum * 10 + (unsigned long)(*c - '0');
    }
    if (pnum > 65535)
        goto bad;

    if (listen[0] == '[') {
        struct addrinfo hints, *ai = NULL;
        struct sockaddr_in6 *sin6;

        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_INET6;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
        if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL ||
            ai->ai_addrlen > sizeof(*ss)) {
            if (ai != NULL)
                freeaddrinfo(ai);
            goto bad;
        }
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        sin6 = (struct sockaddr_in6 *)ss;
        *flags |= IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            goto bad;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)pnum);
    }
    return 0;

bad:
    snprintf(err, errlen, "bad listen address '%s': want IPv4:PORT or [IPv6]:PORT", listen);
    return -1;
}

/* web_free - everything web_start() made but the daemon; each part may be missing */
static void web_free(struct web *w)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(w->workers); i++)
        db_close(w->workers[i].db);
    web_auth_free(w);
    web_cache_free(w->cache);
    pthread_cond_destroy(&w->sweep_wake);
    pthread_mutex_destroy(&w->conns_lock);
    x_free(w->dsn);
    x_free(w);
}

/*
 * web_raise_nofile - let the process hold WEB_CONN_LIMIT connections: raise the soft limit
 * of open files towards the hard one when it is lower than that and some to spare
 */
static void web_raise_nofile(void)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)WEB_CONN_LIMIT + 1024;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_debug("web: cannot raise the open-file limit: %s", strerror(errno));
}

/* web_start - bind opts->listen and serve on libmicrohttpd's thread */
struct web *web_start(const struct web_opts *opts, char *err, size_t errlen)
{
    const char *listen = opts->listen && opts->listen[0] ? opts->listen : WEB_DEFAULT_LISTEN;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem mo[20];
    size_t n = 0;
    struct web *w;

    if (web_parse_listen(listen, &ss, &flags, err, errlen) != 0)
        return NULL;
    pthread_once(&web_cjson_once, web_cjson_hooks);

    w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->conns_lock, NULL);
    pthread_cond_init(&w->sweep_wake, NULL);
    if (web_auth_load(w, opts, err, errlen) != 0)
        goto failed;
    if (w->token == NULL && !web_listen_loopback(listen)) {
        snprintf(err, errlen,
                 "refusing to listen on %s without an access token: set a token file "
                 "(--token-file, [web] token_file) or listen on 127.0.0.1",
                 listen);
        goto failed;
    }
    if (w->tls_cert != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "this libmicrohttpd was built without TLS");
            goto failed;
        }
        flags |= MHD_USE_TLS;
    }
    w->dsn = xstrdup(opts->dsn ? opts->dsn : "");
    w->ingest = opts->ingest;
    w->ingest_arg = opts->ingest_arg;
    atomic_init(&w->starting, 1);
    atomic_init(&w->exports, 0);
    atomic_init(&w->nworkers, 0);
    atomic_init(&w->requests, 0);
    atomic_init(&w->cache_hits, 0);
    atomic_init(&w->unauthorized, 0);
    atomic_init(&w->head_timeouts, 0);
    w->cache = web_cache_create();
    /* epoll: a waiting connection costs nothing per poll, so the limit can be high. */
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_AUTO;
    web_raise_nofile();

    /* The logger comes first so that it also hears about the options that follow. */
#define OPT(o, v, p) (mo[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
    OPT(MHD_OPTION_EXTERNAL_LOGGER, web_mhd_log, w);
    OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
    OPT(MHD_OPTION_CONNECTION_LIMIT, WEB_CONN_LIMIT, NULL);
    OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, WEB_PER_IP_LIMIT, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, WEB_CONN_TIMEOUT_S, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, WEB_CONN_MEMORY, NULL);
    OPT(MHD_OPTION_THREAD_POOL_SIZE, WEB_THREADS, NULL);
    OPT(MHD_OPTION_URI_LOG_CALLBACK, web_uri_log, w);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, web_conn_notify, w);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, web_request_done, w);
    if (w->tls_cert != NULL) {
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, w->tls_cert);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, w->tls_key);
        OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, WEB_TLS_PRIORITIES);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    ASSERT(n <= ARRAY_LEN(mo));
    w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, web_handler, w, MHD_OPTION_ARRAY, mo,
                                 MHD_OPTION_END);
    if (w->daemon == NULL) {
        /* No daemon thread is running now, so start_err is ours to read. */
        snprintf(err, errlen, "cannot listen on %s: %s", listen,
                 w->start_err[0] ? w->start_err : "libmicrohttpd failed to start");
        goto failed;
    }
    atomic_store(&w->starting, 0);
    w->sweeping = 1;
    if (pthread_create(&w->sweeper, NULL, web_sweep, w) != 0) {
        w->sweeping = 0;
        MHD_stop_daemon(w->daemon);
        snprintf(err, errlen, "cannot start the web server's sweeper thread");
        goto failed;
    }
    info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_BIND_PORT);
    w->port = info ? info->port : -1;
    log_debug("web: listening on %s (port %d%s%s)", listen, w->port, w->tls_cert ? ", TLS" : "",
              w->token ? ", token required" : "");
    return w;

failed:
    web_free(w);
    return NULL;
}

/* web_stop - stop the threads, then close the database connections they used */
void web_stop(struct web *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->conns_lock);
    w->sweeping = 0;
    pthread_cond_signal(&w->sweep_wake);
    pthread_mutex_unlock(&w->conns_lock);
    pthread_join(w->sweeper, NULL);
    MHD_stop_daemon(w->daemon);
    web_free(w);
}
