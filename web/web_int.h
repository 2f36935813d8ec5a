/*
 * NAME
 *	web_int - what the files of web/ share: the server state, a request, replies, parameters
 *
 * SYNOPSIS
 *	#include "web/web_int.h"
 *
 * DESCRIPTION
 *	Private to web/. web.c owns struct web and the routing; api.c, export.c, metrics.c,
 *	alerts.c, senders.c and html.c answer routes; params.c reads and checks query parameters; auth.c holds the
 *	access token check and the file loading for TLS; cache.c keeps report replies for
 *	a couple of seconds.
 *
 *	A route (struct web_route, the table in web.c) names the query parameters it accepts
 *	(anything else is a 400) and what it needs: the range and filters (web_query_read())
 *	or a message key (web_trail_read()) in a struct db_query, a limit, a database
 *	connection, and a check function for values of its own. web_handler() does all of
 *	that once, answering 400 or 503 itself; the route's answer function then gets a filled
 *	struct web_req and returns what MHD_queue_response() returned.
 *
 * OWNERSHIP
 *	A web_req and the parameter values it points to live for one handler call. Buffers
 *	given to web_reply_buf() are copied.
 */
#ifndef MAILPULSE_WEB_INT_H
#define MAILPULSE_WEB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "db/db.h"
#include "util/util.h"
#include "web/web.h"

#define WEB_MAX_PARAMS      16
#define WEB_DEFAULT_SPAN_US ((int64_t)24 * 3600 * 1000000)
#define WEB_MAX_LIMIT       1000
#define WEB_MAX_BUCKETS     5000
#define WEB_MAX_EXPORTS     4
#define WEB_THREADS         4
#define WEB_CACHE_SLOTS     64
#define WEB_CACHE_MAX_BODY  ((size_t)256 * 1024)
#define WEB_CACHE_TTL_US    ((int64_t)2 * 1000000)
#define WEB_CACHE_STALE_US  ((int64_t)30 * 1000000)

/* What one server thread owns: its database connection and the state of that. */
struct web_worker {
    struct db *db;
    int64_t db_retry_us;   /* no connection attempt before this time */
    int db_down;           /* the last attempt failed and was logged */
    int64_t db_checked_us; /* when the connection last answered */
};

struct web {
    struct MHD_Daemon *daemon;
    int port;
    char *dsn;
    void (*ingest)(void *arg, struct web_ingest_status *out);
    void *ingest_arg;
    char *token; /* NULL: no token needed */
    size_t token_len;
    char *tls_cert; /* PEM text, kept for libmicrohttpd's lifetime */
    char *tls_key;

    /* One per libmicrohttpd thread, each taken by its thread on first use. */
    struct web_worker workers[2 * WEB_THREADS]; /* room to spare: libmicrohttpd's own */
    atomic_int nworkers;
    atomic_int exports;         /* export streams running */
    atomic_ullong requests;     /* answered by a route */
    atomic_ullong cache_hits;   /* of those, answered from the cache */
    atomic_ullong unauthorized; /* refused for want of the token */
    struct web_cache *cache;

    /* The last message libmicrohttpd logged while web_start() was starting it. */
    atomic_int starting;
    char start_err[256];

    /* Every open connection, for the request-head deadline that web_sweep() enforces. */
    pthread_mutex_t conns_lock;
    pthread_cond_t sweep_wake;
    struct web_conn *conns;
    int sweeping; /* web_sweep() runs; cleared under conns_lock to stop it */
    pthread_t sweeper;
    atomic_ullong head_timeouts; /* connections cut for a request head too slow */
};

/*
 * One client connection, from accept to close. head_from_us is when the request head now
 * being read began (the connection's start, or the end of the previous request), 0 while a
 * request is being answered; target is the raw request target of the current request.
 */
struct web_conn {
    struct web_conn *prev, *next; /* in web.conns, under conns_lock */
    int fd;
    atomic_llong head_from_us;
    const char *target; /* in libmicrohttpd's read buffer; NULL before the request line */
    size_t target_len;  /* its length up to the first NUL, before libmicrohttpd decodes it */
};

/* The query parameters a route accepts, and what a request gave for each. */
struct web_params {
    const char *const *names; /* NULL-terminated */
    const char *allowed;      /* the names for error messages: "from, to, host" */
    const char *value[WEB_MAX_PARAMS];
    size_t len[WEB_MAX_PARAMS];
    int seen[WEB_MAX_PARAMS];
    char error[192]; /* "" while the parameters are acceptable */
};

struct web_route;

/*
 * One request as a route's answer function sees it: the parameters have been read and
 * checked, and what the route asked for (a range, a message key, a limit, a database
 * connection, its own values) is filled in.
 */
struct web_req {
    struct web *w;
    struct MHD_Connection *conn;
    const char *url;
    int64_t now_us;
    const struct web_route *route;
    struct web_params p;
    char allowed[160];
    struct db_query q; /* WEB_ROUTE_RANGE or WEB_ROUTE_TRAIL */
    int limit;         /* the route's default unless limit= was given */
    struct db *db;     /* WEB_ROUTE_DB */
    /* Set by a route's check function. */
    enum db_bucket bucket;
    enum db_domain_order order;
    enum db_sender_axis axis; /* /api/v1/senders and /senders: by= */
    enum db_export_what what;
    int format;         /* export format: WEB_FMT_JSON, WEB_FMT_NDJSON or WEB_FMT_CSV */
    int guard;          /* CSV export: cells that look like formulas are neutralised */
    const char *cursor; /* "" when none was given */
};

/* What web_handler() does for a route before its answer function runs. */
enum {
    WEB_ROUTE_CACHED = 1 << 0, /* 200 replies may come from cache.c for WEB_CACHE_TTL_US */
    WEB_ROUTE_RANGE = 1 << 1,  /* web_query_read(): the range and filters into r->q */
    WEB_ROUTE_TRAIL = 1 << 2,  /* web_trail_read(): one message key into r->q */
    WEB_ROUTE_DB = 1 << 3,     /* this thread's database connection into r->db, else 503 */
    WEB_ROUTE_HTML = 1 << 4,   /* errors are answered as a page, not as JSON */
};

enum { WEB_FMT_JSON, WEB_FMT_NDJSON, WEB_FMT_CSV };

/*
 * A route: its path, the parameters it accepts, what it needs, and the functions that
 * check its own parameters (NULL: none; -1 and a message in err for a 400) and answer.
 */
struct web_route {
    const char *path;
    const char *const *params; /* NULL-terminated */
    unsigned flags;
    int limit; /* the default of limit= (a listed parameter), 0 when not taken */
    int (*check)(struct web_req *r, char *err, size_t errlen);
    enum MHD_Result (*answer)(struct web_req *r);
};

/* web.c */
struct db *web_db(struct web *w);
void web_db_failed(struct web *w);
enum MHD_Result web_reply_json(struct MHD_Connection *conn, unsigned int status, const cJSON *body);
enum MHD_Result web_reply_error(struct MHD_Connection *conn, unsigned int status, const char *msg);
enum MHD_Result web_reply_buf(struct MHD_Connection *conn, unsigned int status, const char *ctype,
                              const char *data, size_t len);
void web_add_time(cJSON *obj, const char *name, int64_t us, int null_when_unset);
void web_add_str_or_null(cJSON *obj, const char *name, const char *s);
void web_add_headers(struct MHD_Response *resp);

/* cache.c: the capture of one request's reply, armed by web_handler() */
struct web_capture {
    struct web_cache *cache;
    struct buf key;
    uint64_t hash;
    int64_t now_us;
    int refreshing; /* this request refreshes an expired entry */
};

struct web_cache *web_cache_create(void);
void web_cache_free(struct web_cache *c);
int web_cache_lookup(struct web_cache *c, struct MHD_Connection *conn, const char *url,
                     int64_t now_us, struct web_capture *cap, enum MHD_Result *ret);
void web_cache_arm(struct web_capture *cap);
void web_cache_capture(unsigned int status, const char *ctype, const char *data, size_t len);
void web_cache_done(struct web_capture *cap);

/* params.c */
int web_params_read(struct MHD_Connection *conn, struct web_params *p);
const char *web_param(const struct web_params *p, const char *name, size_t *len);
int web_query_read(const struct web_params *p, int64_t now_us, struct db_query *q, char *err,
                   size_t errlen);
int web_limit_read(const struct web_params *p, int def, int *out, char *err, size_t errlen);
int web_bucket_read(const struct web_params *p, const struct db_query *q, enum db_bucket *out,
                    char *err, size_t errlen);
int64_t web_bucket_us(enum db_bucket b);
const char *web_bucket_name(enum db_bucket b);
int web_trail_read(const struct web_params *p, struct db_query *q, char *err, size_t errlen);

/* Rows collected from a db_* callback, for pages that need them all before rendering. */
struct web_rows {
    char *data;
    size_t n, cap, size;
};

/* providers.c */
int web_check_format(struct web_req *r, char *err, size_t errlen);
enum MHD_Result web_api_providers(struct web_req *r);
enum MHD_Result web_api_blocks(struct web_req *r);

/* senders.c */
int web_check_senders(struct web_req *r, char *err, size_t errlen);
enum MHD_Result web_api_senders(struct web_req *r);

/* api.c */
void web_rows_init(struct web_rows *rows, size_t size);
void web_rows_free(struct web_rows *rows);
int web_cursor_ok(const char *s, size_t len);
int web_rows_domain(void *arg, const struct db_domain_row *r);
int web_rows_reason(void *arg, const struct db_reason_row *r);
int web_rows_wire(void *arg, const struct db_wire_ip *r);
int web_rows_provider(void *arg, const struct db_provider_row *r);
enum MHD_Result web_reply_csv(struct MHD_Connection *conn, const struct buf *b);
int web_rows_block(void *arg, const struct db_block_row *r);
int web_rows_complaint(void *arg, const struct db_complaint_row *r);
int web_sender_complaints(struct db *db, const struct db_range *range, const struct web_rows *rows,
                          int64_t *out);
int web_rows_suppression(void *arg, const struct db_suppression_row *r);
int web_check_complaints(struct web_req *r, char *err, size_t errlen);
enum MHD_Result web_api_complaints(struct web_req *r);
enum MHD_Result web_api_suppressions(struct web_req *r);
int web_rows_sender(void *arg, const struct db_sender_row *r);
int web_rows_alert(void *arg, const struct db_alert *r);
int web_series(struct db *db, const struct db_query *q, enum db_bucket b, struct db_point **out,
               size_t *n, int64_t *first_us);
enum MHD_Result web_api_summary(struct web_req *r);
enum MHD_Result web_api_timeseries(struct web_req *r);
enum MHD_Result web_api_provider_series(struct web_req *r);
enum MHD_Result web_api_domains(struct web_req *r);
enum MHD_Result web_api_bounces(struct web_req *r);
enum MHD_Result web_api_reasons(struct web_req *r);
enum MHD_Result web_api_messages(struct web_req *r);
enum MHD_Result web_api_healthz(struct web_req *r);
enum MHD_Result web_api_wire(struct web_req *r);
int web_check_bucket(struct web_req *r, char *err, size_t errlen);
int web_check_timeseries(struct web_req *r, char *err, size_t errlen);
int web_check_order(struct web_req *r, char *err, size_t errlen);
int web_check_bounces(struct web_req *r, char *err, size_t errlen);
int web_cursor_read(struct web_req *r, const char *bad_cursor, char *err, size_t errlen);
void web_ingest_read(struct web *w, int db_up, struct web_ingest_status *st);

/* export.c */
enum MHD_Result web_export(struct web_req *r);
int web_check_export(struct web_req *r, char *err, size_t errlen);
void web_csv_field(struct buf *b, const char *s, int guard);

/* metrics.c */
enum MHD_Result web_metrics(struct web_req *r);
void web_syslog_json(cJSON *ingest, const struct web_ingest_status *st);

/* html.c */
enum MHD_Result web_page_dashboard(struct web_req *r);
enum MHD_Result web_page_bounces(struct web_req *r);
enum MHD_Result web_page_blocks(struct web_req *r);
enum MHD_Result web_page_senders(struct web_req *r);
int web_check_bounces_page(struct web_req *r, char *err, size_t errlen);
enum MHD_Result web_page_message(struct web_req *r);
enum MHD_Result web_page_style(struct web_req *r);
enum MHD_Result web_page_error(struct MHD_Connection *conn, unsigned int status, const char *msg);
void web_html_esc(struct buf *b, const char *s);
void web_url_esc(struct buf *b, const char *s);

/* alerts.c */
int web_check_alerts(struct web_req *r, char *err, size_t errlen);
enum MHD_Result web_api_alerts(struct web_req *r);
void web_alert_banner(struct buf *b, struct db *db);
void web_alert_list(struct buf *b, struct db *db);
void web_alert_metrics(struct buf *b, struct db *db);

/* auth.c */
int web_auth_load(struct web *w, const struct web_opts *opts, char *err, size_t errlen);
int web_auth_check(const struct web *w, struct MHD_Connection *conn);
int web_token_equal(const char *a, size_t alen, const char *b, size_t blen);
int web_base64_decode(const char *in, size_t inlen, char *out, size_t outlen, size_t *got);
int web_listen_loopback(const char *listen);
void web_auth_free(struct web *w);

#endif
