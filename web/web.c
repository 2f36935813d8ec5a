/*
 * web - the HTTP server: libmicrohttpd daemon, routing, JSON replies, query parameters
 *
 * One internal polling thread serves every connection in turn, so the request handlers run
 * one at a time and share a single database connection owned by that thread (w->db). The
 * connection is opened on first use, checked with db_ping() before each use, and reopened
 * when it was lost; failed attempts are spaced by WEB_DB_RETRY_US so that an outage costs
 * one connection attempt per second, not one per request.
 *
 * Every reply is JSON built with cJSON and carries the same three headers (content type,
 * no-store, nosniff). No route takes a request body: a request that announces one is
 * answered as soon as its headers are in, and libmicrohttpd discards the body and closes
 * the connection; other requests keep the connection alive.
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
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "db/db.h"
#include "parser/event.h"
#include "util/util.h"
#include "web/web.h"

#define WEB_DEFAULT_LISTEN  "127.0.0.1:8025"
#define WEB_CONN_LIMIT      64u
#define WEB_PER_IP_LIMIT    16u
#define WEB_CONN_TIMEOUT_S  10u
#define WEB_CONN_MEMORY     ((size_t)32 * 1024)
#define WEB_DB_RETRY_US     ((int64_t)1000000)
#define WEB_DEFAULT_SPAN_US ((int64_t)24 * 3600 * 1000000)
#define WEB_TIME_MIN_US     ((int64_t)-62135596800 * 1000000) /* 0001-01-01T00:00:00Z */
#define WEB_TIME_MAX_US     ((int64_t)253402300799 * 1000000) /* 9999-12-31T23:59:59Z */
#define WEB_MAX_PARAMS      4

struct web {
    struct MHD_Daemon *daemon;
    int port;
    char *dsn;
    void (*ingest)(void *arg, struct web_ingest_status *out);
    void *ingest_arg;

    /* Used only by the web thread once the daemon runs. */
    struct db *db;
    int64_t db_retry_us; /* no connection attempt before this time */
    int db_down;         /* the last attempt failed and was logged */

    /* The last message libmicrohttpd logged while web_start() was starting it. */
    atomic_int starting;
    char start_err[256];
};

/* The query parameters a route accepts, and what a request gave for each. */
struct web_params {
    const char *const *names; /* NULL-terminated */
    const char *allowed;      /* the names for error messages: "from, to, host" */
    const char *value[WEB_MAX_PARAMS];
    size_t len[WEB_MAX_PARAMS];
    int seen[WEB_MAX_PARAMS];
    char error[160]; /* "" while the parameters are acceptable */
};

static const char *const summary_params[] = {"from", "to", "host", NULL};
static const char *const healthz_params[] = {NULL};

enum { P_FROM, P_TO, P_HOST };

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

/* web_parse_time - RFC 3339, "now", or "-N" + s|m|h|d|w before now_us */
int web_parse_time(const char *s, int64_t now_us, int64_t *out_us)
{
    static const struct {
        char unit;
        int64_t us;
    } units[] = {
        {'s', (int64_t)1000000},          {'m', (int64_t)60 * 1000000},
        {'h', (int64_t)3600 * 1000000},   {'d', (int64_t)86400 * 1000000},
        {'w', (int64_t)604800 * 1000000},
    };
    size_t len, i, u;
    int64_t n = 0, v;

    if (s == NULL)
        return -1;
    len = strlen(s);
    if (len == 3 && memcmp(s, "now", 3) == 0) {
        v = now_us;
    } else if (s[0] == '-') {
        for (i = 1; s[i] >= '0' && s[i] <= '9'; i++) {
            int d = s[i] - '0';

            if (n > (INT64_MAX - d) / 10)
                return -1;
            n = n * 10 + d;
        }
        if (i == 1 || i + 1 != len)
            return -1;
        for (u = 0; u < ARRAY_LEN(units) && units[u].unit != s[i]; u++)
            ;
        if (u == ARRAY_LEN(units) || n > INT64_MAX / units[u].us)
            return -1;
        /* now_us - n * unit, without overflow: WEB_TIME_MIN_US + delta cannot overflow */
        if (now_us < WEB_TIME_MIN_US + n * units[u].us)
            return -1;
        v = now_us - n * units[u].us;
    } else if (time_parse_rfc3339(s, len, &v) != 0) {
        return -1;
    }
    if (v < WEB_TIME_MIN_US || v > WEB_TIME_MAX_US)
        return -1;
    *out_us = v;
    return 0;
}

/* web_port - the port the daemon listens on */
int web_port(const struct web *w)
{
    return w ? w->port : -1;
}

/* web_reply - queue a JSON reply with the headers every reply carries */
static enum MHD_Result web_reply(struct MHD_Connection *conn, unsigned int status,
                                 const cJSON *body)
{
    static const char fallback[] = "{\"error\":\"internal error\"}";
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = cJSON_PrintUnformatted(body);

    if (text == NULL) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp = MHD_create_response_from_buffer(sizeof(fallback) - 1, (void *)fallback,
                                               MHD_RESPMEM_MUST_COPY);
    } else {
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
        cJSON_free(text);
    }
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* web_reply_error - {"error":"msg"} with the given status */
static enum MHD_Result web_reply_error(struct MHD_Connection *conn, unsigned int status,
                                       const char *msg)
{
    cJSON *body = cJSON_CreateObject();
    enum MHD_Result ret;

    cJSON_AddStringToObject(body, "error", msg);
    ret = web_reply(conn, status, body);
    cJSON_Delete(body);
    return ret;
}

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
static int web_params_read(struct MHD_Connection *conn, struct web_params *p)
{
    p->error[0] = 0;
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, web_param_iter, p);
    return p->error[0] ? -1 : 0;
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
    return web_parse_time(tmp, now_us, out_us);
}

/* web_host_ok - a host label fits a struct event field and is printable UTF-8 */
static int web_host_ok(const char *s, size_t len)
{
    char tmp[EV_HOST_LEN];
    size_t i;

    if (len > EV_HOST_LEN - 1)
        return 0;
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    memcpy(tmp, s, len + 1);
    return utf8_scrub(tmp) == 0;
}

/* web_db - the web thread's database connection, (re)opened as needed; NULL when down */
static struct db *web_db(struct web *w)
{
    char err[256];
    int64_t now;

    if (w->db != NULL) {
        if (db_ping(w->db) == 0)
            return w->db;
        log_warn("web: database connection lost; reconnecting");
        db_close(w->db);
        w->db = NULL;
        w->db_retry_us = 0;
    }
    now = time_now_us();
    if (now < w->db_retry_us)
        return NULL;
    err[0] = 0;
    w->db = db_open(w->dsn, err, sizeof(err));
    if (w->db == NULL) {
        if (!w->db_down)
            log_warn("web: database unavailable: %s", err);
        else
            log_debug("web: database still unavailable: %s", err);
        w->db_down = 1;
        w->db_retry_us = now + WEB_DB_RETRY_US;
        return NULL;
    }
    if (w->db_down)
        log_info("web: database connection restored");
    w->db_down = 0;
    return w->db;
}

/* web_add_time - a time as RFC 3339 text, or null when unknown (<= 0) */
static void web_add_time(cJSON *obj, const char *name, int64_t us, int null_when_unset)
{
    char text[40];

    if (null_when_unset && us <= 0) {
        cJSON_AddNullToObject(obj, name);
        return;
    }
    time_format_rfc3339(us, text, sizeof(text));
    cJSON_AddStringToObject(obj, name, text);
}

/* web_summary - GET /api/v1/summary?from=&to=&host= */
static enum MHD_Result web_summary(struct web *w, struct MHD_Connection *conn)
{
    struct web_params p = {.names = summary_params, .allowed = "from, to, host"};
    struct db_range r;
    struct db_summary s;
    struct db *db;
    int64_t now = time_now_us(), attempts;
    double rate = 0;
    cJSON *body;
    enum MHD_Result ret;

    if (web_params_read(conn, &p) != 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, p.error);
    memset(&r, 0, sizeof(r));
    r.to_us = now;
    if (p.seen[P_TO] && web_time_param(p.value[P_TO], p.len[P_TO], now, &r.to_us) != 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST,
                               "'to' is not an RFC 3339 time or a relative time like -24h");
    r.from_us = r.to_us - WEB_DEFAULT_SPAN_US;
    if (p.seen[P_FROM] && web_time_param(p.value[P_FROM], p.len[P_FROM], now, &r.from_us) != 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST,
                               "'from' is not an RFC 3339 time or a relative time like -24h");
    if (r.from_us >= r.to_us)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "'from' must be earlier than 'to'");
    if (p.seen[P_HOST]) {
        if (!web_host_ok(p.value[P_HOST], p.len[P_HOST]))
            return web_reply_error(conn, MHD_HTTP_BAD_REQUEST,
                                   "'host' must be at most 63 bytes of printable UTF-8");
        memcpy(r.host, p.value[P_HOST], p.len[P_HOST] + 1);
    }

    db = web_db(w);
    if (db == NULL)
        return web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    memset(&s, 0, sizeof(s));
    if (db_summary(db, &r, &s) != 0) {
        /* db_summary() logged the server's message; the client learns nothing of it. */
        log_debug("web: summary query failed");
        return web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }

    attempts = s.sent + s.deferred + s.bounced + s.expired;
    if (attempts > 0)
        rate = (double)s.bounced / (double)attempts;
    body = cJSON_CreateObject();
    web_add_time(body, "from", r.from_us, 0);
    web_add_time(body, "to", r.to_us, 0);
    if (r.host[0])
        cJSON_AddStringToObject(body, "host", r.host);
    else
        cJSON_AddNullToObject(body, "host");
    cJSON_AddNumberToObject(body, "received", (double)s.received);
    cJSON_AddNumberToObject(body, "sent", (double)s.sent);
    cJSON_AddNumberToObject(body, "deferred", (double)s.deferred);
    cJSON_AddNumberToObject(body, "bounced", (double)s.bounced);
    cJSON_AddNumberToObject(body, "expired", (double)s.expired);
    cJSON_AddNumberToObject(body, "rejected", (double)s.rejected);
    cJSON_AddNumberToObject(body, "bounce_rate", rate);
    ret = web_reply(conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* web_healthz - GET /healthz: database reachability and the ingest figures */
static enum MHD_Result web_healthz(struct web *w, struct MHD_Connection *conn)
{
    struct web_params p = {.names = healthz_params, .allowed = ""};
    int up;
    cJSON *body, *ing;
    enum MHD_Result ret;

    if (web_params_read(conn, &p) != 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, p.error);
    up = web_db(w) != NULL;
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", up ? "ok" : "unavailable");
    cJSON_AddStringToObject(body, "database", up ? "up" : "down");
    if (w->ingest != NULL) {
        struct web_ingest_status st;

        memset(&st, 0, sizeof(st));
        st.lag_bytes = -1;
        w->ingest(w->ingest_arg, &st);
        ing = cJSON_AddObjectToObject(body, "ingest");
        cJSON_AddNumberToObject(ing, "lines", (double)st.lines);
        cJSON_AddNumberToObject(ing, "events", (double)st.events);
        cJSON_AddNumberToObject(ing, "malformed", (double)st.malformed);
        if (st.lag_bytes < 0)
            cJSON_AddNullToObject(ing, "lag_bytes");
        else
            cJSON_AddNumberToObject(ing, "lag_bytes", (double)st.lag_bytes);
        cJSON_AddBoolToObject(ing, "db_up", st.db_up != 0);
        web_add_time(ing, "last_commit", st.last_commit_us, 1);
    }
    ret = web_reply(conn, up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
    cJSON_Delete(body);
    return ret;
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
    static int seen_marker;
    struct web *w = cls;

    (void)version;
    (void)upload_data;
    if (*req_cls == NULL) {
        *req_cls = &seen_marker;
        if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
            if (!web_has_body(conn))
                return MHD_YES;
        }
    } else if (*upload_data_size != 0) {
        *upload_data_size = 0; /* not reached: a body is answered on the first call */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return web_reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    if (strcmp(url, "/api/v1/summary") == 0)
        return web_summary(w, conn);
    if (strcmp(url, "/healthz") == 0)
        return web_healthz(w, conn);
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

/* web_start - bind opts->listen and serve on libmicrohttpd's thread */
struct web *web_start(const struct web_opts *opts, char *err, size_t errlen)
{
    const char *listen = opts->listen && opts->listen[0] ? opts->listen : WEB_DEFAULT_LISTEN;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    struct web *w;

    if (web_parse_listen(listen, &ss, &flags, err, errlen) != 0)
        return NULL;
    pthread_once(&web_cjson_once, web_cjson_hooks);

    w = xcalloc(1, sizeof(*w));
    w->dsn = xstrdup(opts->dsn ? opts->dsn : "");
    w->ingest = opts->ingest;
    w->ingest_arg = opts->ingest_arg;
    atomic_init(&w->starting, 1);
    /* The logger comes first so that it also hears about the options that follow. */
    w->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, web_handler, w, MHD_OPTION_EXTERNAL_LOGGER, web_mhd_log, w,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, WEB_CONN_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, WEB_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        WEB_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, WEB_CONN_MEMORY, MHD_OPTION_END);
    if (w->daemon == NULL) {
        /* No daemon thread is running now, so start_err is ours to read. */
        snprintf(err, errlen, "cannot listen on %s: %s", listen,
                 w->start_err[0] ? w->start_err : "libmicrohttpd failed to start");
        x_free(w->dsn);
        x_free(w);
        return NULL;
    }
    atomic_store(&w->starting, 0);
    info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_BIND_PORT);
    w->port = info ? info->port : -1;
    log_debug("web: listening on %s (port %d)", listen, w->port);
    return w;
}

/* web_stop - stop the thread, then close the database connection it used */
void web_stop(struct web *w)
{
    if (w == NULL)
        return;
    MHD_stop_daemon(w->daemon);
    if (w->db != NULL)
        db_close(w->db);
    x_free(w->dsn);
    x_free(w);
}
