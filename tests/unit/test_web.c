/*
 * test_web - CSV cells as a table, and the HTTP server spoken to over a plain socket
 *
 * The live group needs no database: its DSN names one that cannot exist, so /healthz and a
 * valid summary request must answer 503. The "pg" group runs only when MAILPULSE_TEST_DSN
 * names a PostgreSQL database; it migrates it and expects a summary of zeros for a range in
 * 1971, which no test data reaches.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "db/db.h"
#include "util/util.h"
#include "web/web.h"
#include "web/web_int.h"

#define NOW_US   ((int64_t)1800000000 * 1000000) /* 2027-01-15T08:00:00Z */
#define SEC      ((int64_t)1000000)
#define RESP_MAX (256 * 1024)

/* ---- CSV cells ---- */

/* test_csv_field - RFC 4180 quoting, and formula cells neutralised unless told not to */
static void test_csv_field(void **state)
{
    static const struct {
        const char *in;
        int guard;
        const char *want;
    } cases[] = {
        {"plain", 1, "plain"},    {"", 1, ""},
        {"=1+2", 1, "'=1+2"},     {"+cmd", 1, "'+cmd"},
        {"-2+3", 1, "'-2+3"},     {"@SUM(A1)", 1, "'@SUM(A1)"},
        {"\tx", 1, "'\tx"},       {"\rx", 1, "\"'\rx\""},
        {"=a,b", 1, "\"'=a,b\""}, {"=\"q\"", 1, "\"'=\"\"q\"\"\""},
        {"a=b", 1, "a=b"},        {" =x", 1, " =x"},
        {"'=x", 1, "'=x"},        {"a,b", 1, "\"a,b\""},
        {"=1+2", 0, "=1+2"},      {"-2+3", 0, "-2+3"},
        {"\rx", 0, "\"\rx\""},    {"say \"hi\"", 0, "\"say \"\"hi\"\"\""},
    };
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        buf_reset(&b);
        web_csv_field(&b, cases[i].in, cases[i].guard);
        buf_putc(&b, 0);
        if (strcmp(b.data, cases[i].want) != 0)
            fail_msg("case %zu: got [%s], want [%s]", i, b.data, cases[i].want);
    }
    buf_free(&b);
}

/* ---- a raw HTTP client ---- */

struct resp {
    int status; /* -1 when the server closed without a status line */
    char *head; /* status line and headers */
    char *body;
    size_t body_len;
    char raw[RESP_MAX];
};

/* http_raw - send bytes to 127.0.0.1:port and read until the server closes */
static void http_raw(int port, const void *req, size_t reqlen, struct resp *r)
{
    struct sockaddr_in sin;
    struct timeval tv = {5, 0};
    size_t off = 0, len = 0;
    char *sep;
    int fd;

    memset(r, 0, sizeof(*r) - sizeof(r->raw));
    r->status = -1;
    r->head = r->raw;
    r->body = r->raw;
    r->raw[0] = 0;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    /* The server may answer and close early (a huge request); that is not our failure. */
    while (off < reqlen) {
        ssize_t n = send(fd, (const char *)req + off, reqlen - off, MSG_NOSIGNAL);

        if (n <= 0)
            break;
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(fd, r->raw + len, sizeof(r->raw) - 1 - len, 0);

        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof(r->raw) - 1)
            break;
    }
    close(fd);
    r->raw[len] = 0;
    if (len >= 12 && memcmp(r->raw, "HTTP/1.", 7) == 0)
        r->status = atoi(r->raw + 9);
    sep = strstr(r->raw, "\r\n\r\n");
    if (sep != NULL) {
        *sep = 0;
        r->body = sep + 4;
        r->body_len = len - (size_t)(r->body - r->raw);
    }
    if (getenv("TEST_WEB_VERBOSE"))
        fprintf(stderr, "-> %.60s\n<- %d %.200s\n", (const char *)req, r->status, r->body);
}

/* HTTP_LIT - send a string literal, NULs included */
#define HTTP_LIT(port, lit, r) http_raw((port), (lit), sizeof(lit) - 1, (r))

/* http_req - one request with the given method and target, Connection: close */
static void http_req(int port, const char *method, const char *target, struct resp *r)
{
    char req[8192];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
                     method, target);

    assert_true(n > 0 && (size_t)n < sizeof(req));
    http_raw(port, req, (size_t)n, r);
}

/* has_header - the response carries "Name: value" (case-sensitive value, any name case) */
static int has_header(const struct resp *r, const char *name, const char *value)
{
    const char *line = strstr(r->head, "\r\n");
    size_t nlen = strlen(name);

    while (line != NULL) {
        line += 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;

            while (*v == ' ')
                v++;
            if (strncmp(v, value, strlen(value)) == 0 &&
                (v[strlen(value)] == '\r' || v[strlen(value)] == 0))
                return 1;
        }
        line = strstr(line, "\r\n");
    }
    return 0;
}

/* assert_json_reply - our reply: status, the common headers, and a JSON object body */
static cJSON *assert_json_reply(const struct resp *r, int status)
{
    cJSON *json;

    if (r->status != status)
        fail_msg("status %d, want %d; response:\n%s\n\n%s", r->status, status, r->head, r->body);
    assert_true(has_header(r, "Content-Type", "application/json; charset=utf-8"));
    assert_true(has_header(r, "Cache-Control", "no-store"));
    assert_true(has_header(r, "X-Content-Type-Options", "nosniff"));
    json = cJSON_Parse(r->body);
    if (json == NULL || !cJSON_IsObject(json))
        fail_msg("body is not a JSON object: %s", r->body);
    return json;
}

/* assert_error_reply - status and {"error":"..."} containing want */
static void assert_error_reply(const struct resp *r, int status, const char *want)
{
    cJSON *json = assert_json_reply(r, status);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(json, "error");

    assert_true(cJSON_IsString(e));
    if (strstr(e->valuestring, want) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", e->valuestring, want);
    assert_int_equal(cJSON_GetArraySize(json), 1);
    cJSON_Delete(json);
}

/* ---- the server without a database ---- */

#define DSN_NONE "host=/nonexistent dbname=x connect_timeout=2"

struct live {
    struct web *w;
    int port;
    struct resp r;
};

/* fake_ingest - the daemon's figures, as the tests expect to see them */
static void fake_ingest(void *arg, struct web_ingest_status *out)
{
    (void)arg;
    out->lines = 12;
    out->events = 10;
    out->malformed = 2;
    out->lag_bytes = 345;
    out->db_up = 0;
    out->last_commit_us = 0;
}

/* live_setup - a server on a free loopback port whose database does not exist */
static int live_setup(void **state)
{
    struct web_opts o = {.listen = "127.0.0.1:0", .dsn = DSN_NONE, .ingest = fake_ingest};
    struct live *l = xcalloc(1, sizeof(*l));
    char err[256] = "";

    l->w = web_start(&o, err, sizeof(err));
    if (l->w == NULL) {
        fprintf(stderr, "web_start: %s\n", err);
        x_free(l);
        return -1;
    }
    l->port = web_port(l->w);
    if (l->port <= 0)
        return -1;
    *state = l;
    return 0;
}

/* live_teardown - stop the server */
static int live_teardown(void **state)
{
    struct live *l = *state;

    web_stop(l->w);
    x_free(l);
    return 0;
}

/* test_not_found - unknown paths get 404 JSON */
static void test_not_found(void **state)
{
    struct live *l = *state;

    http_req(l->port, "GET", "/nope", &l->r);
    assert_error_reply(&l->r, 404, "not found");
    http_req(l->port, "GET", "/api/v1/summary/", &l->r);
    assert_error_reply(&l->r, 404, "not found");
    http_req(l->port, "GET", "/index.html", &l->r);
    assert_error_reply(&l->r, 404, "not found");
}

/* test_path_tricks - dot segments, encoded variants and NUL never reach a route */
static void test_path_tricks(void **state)
{
    static const struct {
        const char *target;
        int status;
    } cases[] = {
        {"/../etc/passwd", 404},
        {"/api/v1/../../etc/passwd", 404},
        {"/%2e%2e/%2e%2e/etc/passwd", 404},
        {"/%2E%2E%2Fetc%2Fpasswd", 404},
        {"/static/../web/web.c", 404},
        {"/static/%2e%2e/web/web.c", 404},
        {"/static/style.css/..", 404},
        {"/static/", 404},
        {"/api/v1/summary%00", 400},
        {"/healthz%00.html", 400},
        {"/%00", 400},
        {"/api/v1/summary%2500", 404},
        {"//etc/passwd", 404},
        {"/healthz/", 404},
        {"/HEALTHZ", 404},
    };
    struct live *l = *state;
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        http_req(l->port, "GET", cases[i].target, &l->r);
        if (l->r.status != cases[i].status)
            fail_msg("%s: status %d, want %d", cases[i].target, l->r.status, cases[i].status);
        assert_error_reply(&l->r, cases[i].status,
                           cases[i].status == 404 ? "not found" : "bad request path");
        assert_null(strstr(l->r.body, "root:"));
    }
}

/* test_pages_database_down - the HTML pages answer 503 as a page; the stylesheet needs no db */
static void test_pages_database_down(void **state)
{
    static const char *const pages[] = {"/", "/bounces", "/message?queue_id=ABC123"};
    struct live *l = *state;
    size_t i;

    for (i = 0; i < ARRAY_LEN(pages); i++) {
        http_req(l->port, "GET", pages[i], &l->r);
        assert_int_equal(l->r.status, 503);
        assert_true(has_header(&l->r, "Content-Type", "text/html; charset=utf-8"));
        assert_non_null(strstr(l->r.body, "database unavailable"));
    }
    /* without a key the trail page is just its form */
    http_req(l->port, "GET", "/message", &l->r);
    assert_int_equal(l->r.status, 200);
    assert_non_null(strstr(l->r.body, "id=\"trail-form\""));
    http_req(l->port, "GET", "/static/style.css", &l->r);
    assert_int_equal(l->r.status, 200);
    assert_true(has_header(&l->r, "Content-Type", "text/css; charset=utf-8"));
    assert_non_null(strstr(l->r.body, ".kpi"));
    /* a bad parameter on a page is a 400 page that shows the message, escaped */
    http_req(l->port, "GET", "/bounces?domain=%3Cscript%3E", &l->r);
    assert_int_equal(l->r.status, 400);
    assert_non_null(strstr(l->r.body, "&#39;domain&#39; must be a domain name"));
    http_req(l->port, "GET", "/?%3Cscript%3Ealert(1)%3C/script%3E=1", &l->r);
    assert_int_equal(l->r.status, 400);
    assert_null(strstr(l->r.body, "<script>"));
}

/* test_method_not_allowed - POST, DELETE, OPTIONS get 405 with Allow */
static void test_method_not_allowed(void **state)
{
    static const char post[] = "POST /api/v1/summary HTTP/1.1\r\nHost: test\r\n"
                               "Content-Type: application/json\r\nContent-Length: 11\r\n"
                               "Connection: close\r\n\r\n{\"a\":\"b\"}\r\n";
    struct live *l = *state;

    http_raw(l->port, post, sizeof(post) - 1, &l->r);
    assert_error_reply(&l->r, 405, "method not allowed");
    assert_true(has_header(&l->r, "Allow", "GET, HEAD"));
    http_req(l->port, "DELETE", "/healthz", &l->r);
    assert_error_reply(&l->r, 405, "method not allowed");
    assert_true(has_header(&l->r, "Allow", "GET, HEAD"));
    http_req(l->port, "OPTIONS", "/nope", &l->r);
    assert_error_reply(&l->r, 405, "method not allowed");
}

/* test_bad_parameters - every bad query gets 400 and a message that names the problem */
static void test_bad_parameters(void **state)
{
    static const struct {
        const char *target;
        const char *want;
    } cases[] = {
        {"/api/v1/summary?from=yesterday", "'from'"},
        {"/api/v1/summary?from=", "'from'"},
        {"/api/v1/summary?from", "'from'"},
        {"/api/v1/summary?to=-24x", "'to'"},
        {"/api/v1/summary?from=-1h&to=-2h", "earlier"},
        {"/api/v1/summary?from=-1h&to=-1h", "earlier"},
        {"/api/v1/summary?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "earlier"},
        {"/api/v1/summary?to=-25h&from=-24h", "earlier"},
        {"/api/v1/summary?from=now%00junk", "NUL"},
        {"/api/v1/summary?foo=1", "unknown parameter 'foo'; allowed: from, to, host"},
        {"/api/v1/summary?from=-1h&sender=x", "allowed: from, to, host"},
        {"/api/v1/summary?%ff%fe=1", "unknown parameter; allowed: from, to, host"},
        {"/api/v1/summary?fr%00om=-1h", "unknown parameter; allowed"},
        {"/api/v1/summary?from=-1h&from=-2h", "more than once"},
        {"/api/v1/summary?host=a&host=b", "more than once"},
        {"/api/v1/summary?host=mx%01", "'host'"},
        {"/api/v1/summary?host=mx%0a", "'host'"},
        {"/api/v1/summary?host=mx%7f", "'host'"},
        {"/api/v1/summary?host=mx%00", "NUL"},
        {"/api/v1/summary?host=mx%ff", "'host'"},
        {"/api/v1/summary?host=1234567890123456789012345678901234567890123456789012345678901234",
         "'host'"},
        {"/healthz?verbose=1", "no parameters"},
        {"/metrics?x=1", "no parameters"},
        {"/api/v1/summary?sender_domain=a%20b", "'sender_domain'"},
        {"/api/v1/timeseries?bucket=week", "'bucket'"},
        {"/api/v1/timeseries?by=domain", "'by'"},
        {"/api/v1/timeseries?from=-30d&bucket=minute", "more than 5000 minute buckets"},
        {"/api/v1/timeseries?from=-20y", "'from'"},
        {"/api/v1/timeseries?from=-1h&to=-2h", "earlier"},
        {"/api/v1/domains?limit=0", "'limit'"},
        {"/api/v1/domains?limit=1001", "'limit'"},
        {"/api/v1/domains?limit=99999999999999999999", "'limit'"},
        {"/api/v1/domains?limit=-5", "'limit'"},
        {"/api/v1/domains?limit=10abc", "'limit'"},
        {"/api/v1/domains?limit=", "'limit'"},
        {"/api/v1/domains?order=random", "'order'"},
        {"/api/v1/domains?order=domain%3BDROP%20TABLE%20deliveries", "'order'"},
        {"/api/v1/domains?domain=gmail.com", "unknown parameter 'domain'"},
        {"/api/v1/bounces?reason=nosuchreason", "'reason'"},
        {"/api/v1/bounces?reason=userunknown'%20OR%20'1'='1", "'reason'"},
        {"/api/v1/bounces?dsn=5.1", "'dsn'"},
        {"/api/v1/bounces?dsn=6.1.1", "'dsn'"},
        {"/api/v1/bounces?dsn=5.1.1.1", "'dsn'"},
        {"/api/v1/bounces?dsn=5.1111.1", "'dsn'"},
        {"/api/v1/bounces?status=sent", "'status'"},
        {"/api/v1/bounces?status=lost", "'status'"},
        {"/api/v1/bounces?domain=gmail.com'--", "'domain'"},
        {"/api/v1/bounces?domain=%3Cscript%3E", "'domain'"},
        {"/api/v1/bounces?cursor=abc", "'cursor'"},
        {"/api/v1/bounces?cursor=1.2.3.4%27", "'cursor'"},
        {"/api/v1/bounces?limit=100000", "'limit'"},
        {"/api/v1/bounces?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "earlier"},
        {"/api/v1/reasons?limit=0", "'limit'"},
        {"/api/v1/reasons?from=junk", "'from'"},
        {"/api/v1/messages", "exactly one of"},
        {"/api/v1/messages?queue_id=", "exactly one of"},
        {"/api/v1/messages?queue_id=A&recipient=b@c", "exactly one of"},
        {"/api/v1/messages?queue_id=A%20B", "'queue_id'"},
        {"/api/v1/messages?queue_id=ABC'%20OR%201=1--", "'queue_id'"},
        {"/api/v1/messages?recipient=a%0ab", "'recipient'"},
        {"/api/v1/messages?message_id=%ff%fe", "'message_id'"},
        {"/api/v1/export?what=everything", "'what'"},
        {"/api/v1/export?format=xml", "'format'"},
        {"/api/v1/export?what=bounces&status=sent", "'status'"},
        {"/api/v1/export?from=-1h&to=-2h", "earlier"},
        {"/api/v1/export?limit=5", "unknown parameter 'limit'"},
    };
    struct live *l = *state;
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        http_req(l->port, "GET", cases[i].target, &l->r);
        if (l->r.status != 400)
            fail_msg("%s: status %d, want 400", cases[i].target, l->r.status);
        assert_error_reply(&l->r, 400, cases[i].want);
    }
}

/* test_summary_database_down - valid summary requests get 503 and nothing more */
static void test_summary_database_down(void **state)
{
    static const char *const targets[] = {
        "/api/v1/summary",
        "/api/v1/summary?from=-7d",
        "/api/v1/summary?from=-2h&to=-1h&host=mx1",
        "/api/v1/summary?host=",
        "/api/v1/summary?host=123456789012345678901234567890123456789012345678901234567890123",
        "/api/v1/summary?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00%2B01:00",
        /* an unencoded '+' arrives as a space; the offset is still understood */
        "/api/v1/summary?from=2026-01-01T00:00:00+01:00&to=2026-01-02T00:00:00+01:00",
        "/api/v1/summary?to=2026-01-01T00:00:00Z",
    };
    struct live *l = *state;
    size_t i;

    for (i = 0; i < ARRAY_LEN(targets); i++) {
        http_req(l->port, "GET", targets[i], &l->r);
        if (l->r.status != 503)
            fail_msg("%s: status %d, want 503: %s", targets[i], l->r.status, l->r.body);
        assert_error_reply(&l->r, 503, "database unavailable");
        assert_string_equal(l->r.body, "{\"error\":\"database unavailable\"}");
    }
}

/* test_healthz_down - /healthz says the database is down and shows the ingest figures */
static void test_healthz_down(void **state)
{
    struct live *l = *state;
    const cJSON *ing;
    cJSON *json;

    http_req(l->port, "GET", "/healthz", &l->r);
    json = assert_json_reply(&l->r, 503);
    assert_string_equal(cJSON_GetObjectItem(json, "database")->valuestring, "down");
    assert_string_not_equal(cJSON_GetObjectItem(json, "status")->valuestring, "ok");
    ing = cJSON_GetObjectItem(json, "ingest");
    assert_true(cJSON_IsObject(ing));
    assert_int_equal(cJSON_GetObjectItem(ing, "lines")->valuedouble, 12);
    assert_int_equal(cJSON_GetObjectItem(ing, "events")->valuedouble, 10);
    assert_int_equal(cJSON_GetObjectItem(ing, "malformed")->valuedouble, 2);
    assert_int_equal(cJSON_GetObjectItem(ing, "lag_bytes")->valuedouble, 345);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(ing, "db_up")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(ing, "last_commit")));
    cJSON_Delete(json);
}

/* test_head - HEAD answers with headers only */
static void test_head(void **state)
{
    struct live *l = *state;

    http_req(l->port, "HEAD", "/healthz", &l->r);
    assert_int_equal(l->r.status, 503);
    assert_true(has_header(&l->r, "Content-Type", "application/json; charset=utf-8"));
    assert_int_equal(l->r.body_len, 0);
    http_req(l->port, "HEAD", "/nope", &l->r);
    assert_int_equal(l->r.status, 404);
    assert_int_equal(l->r.body_len, 0);
}

/* test_get_with_body - a body on a GET is ignored */
static void test_get_with_body(void **state)
{
    static const char req[] = "GET /nope HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                              "Connection: close\r\n\r\nhello";
    struct live *l = *state;

    http_raw(l->port, req, sizeof(req) - 1, &l->r);
    assert_error_reply(&l->r, 404, "not found");
}

/* test_keep_alive - two requests on one connection both get their answer */
static void test_keep_alive(void **state)
{
    static const char two[] =
        "GET /nope HTTP/1.1\r\nHost: test\r\n\r\n"
        "GET /healthz?x=1 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    struct live *l = *state;
    const char *second;

    HTTP_LIT(l->port, two, &l->r);
    assert_int_equal(l->r.status, 404);
    assert_false(has_header(&l->r, "Connection", "close"));
    second = strstr(l->r.body, "HTTP/1.1 400 ");
    if (second == NULL)
        fail_msg("no second response on a kept-alive connection: %s", l->r.body);
    assert_non_null(strstr(second, "no parameters"));
}

/* test_hostile_requests - nothing a client sends stops the server from answering the next */
static void test_hostile_requests(void **state)
{
    struct live *l = *state;
    struct buf b;
    char garbage[4096];
    size_t i;

    buf_init(&b);

    /* a 200 kB request target */
    buf_puts(&b, "GET /api/v1/summary?from=");
    for (i = 0; i < 200000; i++)
        buf_putc(&b, 'a');
    buf_puts(&b, " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    http_raw(l->port, b.data, b.len, &l->r);
    assert_true(l->r.status != 200);

    /* 5000 headers */
    buf_reset(&b);
    buf_puts(&b, "GET /healthz HTTP/1.1\r\nHost: test\r\n");
    for (i = 0; i < 5000; i++)
        buf_printf(&b, "X-Header-%zu: %zu\r\n", i, i);
    buf_puts(&b, "Connection: close\r\n\r\n");
    http_raw(l->port, b.data, b.len, &l->r);
    assert_true(l->r.status != 200);

    /* one header line longer than the connection's memory */
    buf_reset(&b);
    buf_puts(&b, "GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ");
    for (i = 0; i < 100000; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\r\nConnection: close\r\n\r\n");
    http_raw(l->port, b.data, b.len, &l->r);
    assert_true(l->r.status != 200);

    /* binary garbage, NULs included, ending like a request */
    for (i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)((i * 7919 + 13) & 0xff);
    memcpy(garbage + sizeof(garbage) - 4, "\r\n\r\n", 4);
    http_raw(l->port, garbage, sizeof(garbage), &l->r);
    assert_true(l->r.status != 200);

    /* assorted malformed request lines */
    HTTP_LIT(l->port, "GET\r\n\r\n", &l->r);
    HTTP_LIT(l->port, "GET /healthz\r\n\r\n", &l->r);
    HTTP_LIT(l->port, "GET /healthz HTTP/9.9\r\n\r\n", &l->r);
    HTTP_LIT(l->port, "GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &l->r);
    HTTP_LIT(l->port,
             "GET /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", &l->r);
    HTTP_LIT(l->port, "\0\0\0\0\r\n\r\n", &l->r);
    HTTP_LIT(l->port, "GET /%%%%%00%ZZ?%%=%%&&&==&a HTTP/1.1\r\nConnection: close\r\n\r\n", &l->r);
    /* a request cut short: the client gives up before the headers end */
    HTTP_LIT(l->port, "GET /healthz HTTP/1.1\r\nHost:", &l->r);
    buf_free(&b);

    /* still serving */
    http_req(l->port, "GET", "/nope", &l->r);
    assert_error_reply(&l->r, 404, "not found");
    http_req(l->port, "GET", "/healthz", &l->r);
    assert_int_equal(l->r.status, 503);
}

/*
 * test_slow_headers - a client that sends half a request and waits is cut off after the
 * connection timeout, and other clients are served meanwhile
 */
static void test_slow_headers(void **state)
{
    struct live *l = *state;
    struct sockaddr_in sin;
    struct timeval tv = {20, 0};
    int64_t start, took;
    char buf[256];
    ssize_t n;
    int fd[8], i;

    for (i = 0; i < 8; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)l->port);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
        setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_true(write(fd[i], "GET /healthz HTTP/1.1\r\nHost: sl", 32) == 32);
    }
    start = time_now_us();
    for (i = 0; i < 20; i++) {
        http_req(l->port, "GET", "/static/style.css", &l->r);
        assert_int_equal(l->r.status, 200);
    }
    /* the server closes the slow ones: read() returns 0 (or an error), never a response */
    for (i = 0; i < 8; i++) {
        n = read(fd[i], buf, sizeof(buf));
        assert_true(n <= 0);
        close(fd[i]);
    }
    took = time_now_us() - start;
    if (took > 15 * SEC || took < 5 * SEC)
        fail_msg("slow connections closed after %lld ms; want about the 10 s timeout",
                 (long long)(took / 1000));
}

/*
 * test_strict_requests - RFC 9112's Host rule, and a NUL byte inside the request line, which
 * must not be served as the path before it
 */
static void test_strict_requests(void **state)
{
    static const struct {
        const char *req;
        size_t len;
        int status;
        const char *error; /* in the JSON error; NULL: not an error reply */
    } cases[] = {
#define REQ(lit) (lit), sizeof(lit) - 1
        {REQ("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"), 400, "Host"},
        {REQ("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"), 400,
         "Host"},
        {REQ("GET /healthz HTTP/1.1\r\nhOsT: a\r\nConnection: close\r\n\r\n"), 503, NULL},
        {REQ("GET /healthz HTTP/1.0\r\n\r\n"), 503, NULL},
        {REQ("GET /healthz\0junk HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 400, "NUL"},
        {REQ("GET /healthz\0 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 400, "NUL"},
        {REQ("GET /static/style.css\0.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 400,
         "NUL"},
        {REQ("GET /healthz?x\0y HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 400, "NUL"},
        {REQ("GET /healthz\0junk HTTP/1.0\r\n\r\n"), 400, "NUL"},
        {REQ("GET /static/style.css?%41=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 400,
         "no parameters"},
        {REQ("GET /a%20b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 404, "not found"},
#undef REQ
    };
    struct live *l = *state;
    size_t i;

    for (i = 0; i < ARRAY_LEN(cases); i++) {
        http_raw(l->port, cases[i].req, cases[i].len, &l->r);
        if (l->r.status != cases[i].status)
            fail_msg("case %zu: status %d, want %d", i, l->r.status, cases[i].status);
        if (cases[i].error != NULL)
            assert_error_reply(&l->r, cases[i].status, cases[i].error);
    }
}

/* test_security_headers - every kind of reply carries the policy headers */
static void test_security_headers(void **state)
{
    static const char *const targets[] = {"/healthz", "/nope", "/static/style.css", "/",
                                          "/bounces?limit=x"};
    struct live *l = *state;
    size_t i;

    for (i = 0; i < ARRAY_LEN(targets); i++) {
        http_req(l->port, "GET", targets[i], &l->r);
        if (!has_header(&l->r, "Content-Security-Policy",
                        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'") ||
            !has_header(&l->r, "X-Content-Type-Options", "nosniff") ||
            !has_header(&l->r, "X-Frame-Options", "DENY") ||
            !has_header(&l->r, "Referrer-Policy", "no-referrer"))
            fail_msg("%s: headers incomplete:\n%s", targets[i], l->r.head);
    }
    /* the pages need no inline style for that policy */
    http_req(l->port, "GET", "/message", &l->r);
    assert_int_equal(l->r.status, 200);
    assert_null(strstr(l->r.body, " style="));
    assert_null(strstr(l->r.body, "<style"));
    assert_null(strstr(l->r.body, "<script"));
}

/*
 * test_head_deadline - a client that sends a byte of its request head every second never
 * lets the idle timeout fire, but the head deadline closes it about 10 s after it came
 */
static void test_head_deadline(void **state)
{
    struct live *l = *state;
    struct sockaddr_in sin;
    int64_t start, took = -1;
    char c;
    int fd, i;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)l->port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    start = time_now_us();
    assert_true(write(fd, "GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ", 42) == 42);
    for (i = 0; i < 16 && took < 0; i++) {
        struct timeval tv = {1, 0};
        fd_set rd;

        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        if (select(fd + 1, &rd, NULL, NULL, &tv) > 0) {
            if (read(fd, &c, 1) <= 0)
                took = time_now_us() - start; /* closed, no reply */
            else
                fail_msg("the server answered a request whose head never ended");
        } else if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) {
            took = time_now_us() - start;
        }
    }
    close(fd);
    if (took < 0)
        fail_msg("a trickling request head was still open after 16 s");
    if (took < 9 * SEC || took > 13 * SEC)
        fail_msg("a trickling request head was closed after %lld ms; want about 10 s",
                 (long long)(took / 1000));
    /* still serving */
    http_req(l->port, "GET", "/nope", &l->r);
    assert_error_reply(&l->r, 404, "not found");
}

/* ingest_claims_up - a daemon whose last commit worked, some time ago */
static void ingest_claims_up(void *arg, struct web_ingest_status *out)
{
    (void)arg;
    out->lines = 5;
    out->db_up = 1;
    out->last_commit_us = NOW_US;
}

/*
 * test_healthz_one_truth - when this server finds the database down, the ingest figures do
 * not say it is up: the daemon's flag is older than the probe
 */
static void test_healthz_one_truth(void **state)
{
    struct web_opts o = {.listen = "127.0.0.1:0", .dsn = DSN_NONE, .ingest = ingest_claims_up};
    struct resp *r = xmalloc(sizeof(*r));
    char err[256] = "";
    const cJSON *ing;
    cJSON *json;
    struct web *w;

    (void)state;
    w = web_start(&o, err, sizeof(err));
    if (w == NULL)
        fail_msg("web_start: %s", err);
    http_req(web_port(w), "GET", "/healthz", r);
    json = assert_json_reply(r, 503);
    assert_string_equal(cJSON_GetObjectItem(json, "database")->valuestring, "down");
    ing = cJSON_GetObjectItem(json, "ingest");
    assert_true(cJSON_IsObject(ing));
    assert_int_equal(cJSON_GetObjectItem(ing, "lines")->valuedouble, 5);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(ing, "db_up")));
    cJSON_Delete(json);
    http_req(web_port(w), "GET", "/metrics", r);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "\nmailpulse_up 0\n"));
    assert_non_null(strstr(r->body, "\nmailpulse_ingest_db_up 0\n"));
    web_stop(w);
    x_free(r);
}

/* test_listen_errors - malformed addresses and a port already taken */
static void test_listen_errors(void **state)
{
    static const char *const bad[] = {
        "127.0.0.1",  "127.0.0.1:",  "127.0.0.1:99999",  "127.0.0.1:80a",  "127.0.0.1:-1",
        ":8025",      "::1:8025",    "[::1]8025",        "[::1]:",         "[::1",
        "[]:8025",    "[nope]:8025", "[127.0.0.1]:80",   "localhost:8025", "1.2.3:80",
        "127.1:8025", "1.2.3.4.5:1", "127.0.0.1:123456",
    };
    struct live *l = *state;
    struct web_opts o = {.dsn = DSN_NONE};
    char listen[64], err[256];
    size_t i;

    for (i = 0; i < ARRAY_LEN(bad); i++) {
        o.listen = bad[i];
        err[0] = 0;
        if (web_start(&o, err, sizeof(err)) != NULL)
            fail_msg("web_start accepted \"%s\"", bad[i]);
        assert_non_null(strstr(err, "bad listen address"));
    }
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", l->port);
    o.listen = listen;
    err[0] = 0;
    assert_null(web_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot listen on"));
    assert_int_equal(web_port(NULL), -1);
}

/* test_ipv6 - a [::1] server answers; skipped where the host has no IPv6 loopback */
static void test_ipv6(void **state)
{
    struct web_opts o = {.listen = "[::1]:0", .dsn = DSN_NONE};
    struct sockaddr_in6 sin6;
    struct web *w;
    char err[256] = "", buf[512];
    ssize_t n;
    int fd;

    (void)state;
    w = web_start(&o, err, sizeof(err));
    if (w == NULL) {
        fprintf(stderr, "no IPv6 loopback here (%s); skipped\n", err);
        skip();
    }
    fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons((uint16_t)web_port(w));
    sin6.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
    assert_true(write(fd, "GET /x HTTP/1.0\r\n\r\n", 19) == 19);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 12);
    buf[n] = 0;
    assert_memory_equal(buf + 9, "404", 3);
    web_stop(w);
}

/* ---- access token and TLS ---- */

#define TOKEN "s3cret-token-0123456789abcdef"

/* write_file - a file under the temporary directory with the given text; its path */
static const char *write_file(const char *name, const char *text)
{
    static char path[4][256];
    static int next;
    const char *dir = getenv("MAILPULSE_TEST_TMP") ? getenv("MAILPULSE_TEST_TMP") : "/tmp";
    char *out = path[next++ % 4];
    FILE *f;

    snprintf(out, sizeof(path[0]), "%s/test_web.%d.%s", dir, (int)getpid(), name);
    f = fopen(out, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return out;
}

/* http_auth - GET target with an Authorization header (NULL: none) */
static void http_auth(int port, const char *target, const char *auth, struct resp *r)
{
    char req[1024];
    int n;

    if (auth != NULL)
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: t\r\nAuthorization: %s\r\nConnection: close\r\n\r\n",
                     target, auth);
    else
        n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     target);
    http_raw(port, req, (size_t)n, r);
}

/* test_token_required_off_loopback - any bind but 127.0.0.1 / [::1] needs a token */
static void test_token_required_off_loopback(void **state)
{
    static const char *const refused[] = {"0.0.0.0:0", "127.0.0.2:0", "[::]:0"};
    struct web_opts o = {.dsn = DSN_NONE};
    struct web *w;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(refused); i++) {
        o.listen = refused[i];
        err[0] = 0;
        w = web_start(&o, err, sizeof(err));
        if (w != NULL)
            fail_msg("web_start(%s) without a token started", refused[i]);
        assert_non_null(strstr(err, "without an access token"));
    }
    /* a token file that is missing, or whose token is too short, is an error too */
    o.listen = "127.0.0.1:0";
    o.token_file = "/nonexistent/token";
    assert_null(web_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read token file"));
    o.token_file = write_file("short", "abc\n");
    assert_null(web_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "must be 16 to 256 bytes"));
    /* TLS wants both files */
    o.token_file = NULL;
    o.tls_cert = "/nonexistent/cert.pem";
    assert_null(web_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "both a certificate and a key"));
}

/* test_token - 127.0.0.2 with a token: 401 without or with a wrong one, served with it */
static void test_token(void **state)
{
    static const struct {
        const char *auth;
        int status;
    } cases[] = {
        {NULL, 401},
        {"Bearer", 401},
        {"Bearer ", 401},
        {"Bearer wrong", 401},
        {"Bearer " TOKEN "x", 401},
        {"Bearer s3cret-token-0123456789abcdeF", 401},
        {"Bearer s3cret-token-0123456789abcde", 401},
        {"Token " TOKEN, 401},
        {"Basic !!!!", 401},
        {"Basic dXNlcg==", 401},         /* "user" */
        {"Basic dXNlcjp3cm9uZw==", 401}, /* user:wrong */
        {"Bearer " TOKEN, 503},          /* in: the db is down */
        {"bearer   " TOKEN, 503},
        {"Basic YWRtaW46czNjcmV0LXRva2VuLTAxMjM0NTY3ODlhYmNkZWY=", 503}, /* admin:TOKEN */
        {"Basic OnMzY3JldC10b2tlbi0wMTIzNDU2Nzg5YWJjZGVm", 503},         /* :TOKEN */
    };
    struct web_opts o = {.listen = "127.0.0.2:0", .dsn = DSN_NONE};
    struct resp *r = xmalloc(sizeof(*r));
    struct sockaddr_in sin;
    struct web *w;
    char err[256] = "";
    size_t i;
    int fd;

    (void)state;
    o.token_file = write_file("token", "  " TOKEN "  \nsecond line ignored\n");
    w = web_start(&o, err, sizeof(err));
    if (w == NULL)
        fail_msg("web_start(127.0.0.2) with a token: %s", err);
    /* the raw client speaks to 127.0.0.1; this server is on 127.0.0.2 */
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        char req[512];
        int n;

        if (cases[i].auth != NULL)
            n = snprintf(req, sizeof(req),
                         "GET /api/v1/summary HTTP/1.1\r\nHost: t\r\nAuthorization: %s\r\n"
                         "Connection: close\r\n\r\n",
                         cases[i].auth);
        else
            n = snprintf(req, sizeof(req),
                         "GET /api/v1/summary HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        fd = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)web_port(w));
        inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_true(write(fd, req, (size_t)n) == n);
        memset(r->raw, 0, 16);
        n = (int)read(fd, r->raw, sizeof(r->raw) - 1);
        close(fd);
        assert_true(n > 12);
        r->raw[n] = 0;
        if (atoi(r->raw + 9) != cases[i].status)
            fail_msg("Authorization: %s -> %.40s, want %d",
                     cases[i].auth ? cases[i].auth : "(none)", r->raw, cases[i].status);
        if (cases[i].status == 401) {
            assert_non_null(strstr(r->raw, "WWW-Authenticate: Basic realm=\"mailpulse\""));
            assert_null(strstr(r->raw, TOKEN));
        }
    }
    web_stop(w);

    /* a token on a loopback bind is enforced too */
    o.listen = "127.0.0.1:0";
    w = web_start(&o, err, sizeof(err));
    assert_non_null(w);
    http_auth(web_port(w), "/healthz", NULL, r);
    assert_error_reply(r, 401, "access token required");
    http_auth(web_port(w), "/static/style.css", "Bearer nope", r);
    assert_int_equal(r->status, 401);
    http_auth(web_port(w), "/static/style.css", "Bearer " TOKEN, r);
    assert_int_equal(r->status, 200);
    web_stop(w);
    x_free(r);
}

/* run_capture - the first line a shell command prints */
static void run_capture(const char *cmd, char *out, size_t outlen)
{
    FILE *p = popen(cmd, "r");

    out[0] = 0;
    assert_non_null(p);
    if (fgets(out, (int)outlen, p) == NULL)
        out[0] = 0;
    pclose(p);
    out[strcspn(out, "\n")] = 0;
}

/* test_tls - a throwaway certificate: HTTPS is served, plain HTTP is not */
static void test_tls(void **state)
{
    const char *dir = getenv("MAILPULSE_TEST_TMP") ? getenv("MAILPULSE_TEST_TMP") : "/tmp";
    struct web_opts o = {.listen = "127.0.0.1:0", .dsn = DSN_NONE};
    struct resp *r = xmalloc(sizeof(*r));
    char cert[256], key[256], cmd[1024], got[256], err[256] = "";
    struct web *w;

    (void)state;
    snprintf(cert, sizeof(cert), "%s/test_web.%d.cert.pem", dir, (int)getpid());
    snprintf(key, sizeof(key), "%s/test_web.%d.key.pem", dir, (int)getpid());
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-keyout %s -out %s >/dev/null 2>&1 && echo made",
             key, cert);
    run_capture(cmd, got, sizeof(got));
    if (strcmp(got, "made") != 0) {
        fprintf(stderr, "openssl could not make a certificate; TLS test SKIPPED\n");
        x_free(r);
        skip();
    }
    o.tls_cert = cert;
    o.tls_key = key;
    o.tls_key = "/nonexistent/key.pem";
    assert_null(web_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read TLS key"));
    o.tls_key = key;
    w = web_start(&o, err, sizeof(err));
    if (w == NULL)
        fail_msg("web_start with TLS: %s", err);
    snprintf(cmd, sizeof(cmd),
             "curl -s --cacert %s -o /dev/null -w '%%{http_code} %%{ssl_verify_result}' "
             "https://127.0.0.1:%d/static/style.css",
             cert, web_port(w));
    run_capture(cmd, got, sizeof(got));
    assert_string_equal(got, "200 0");
    snprintf(cmd, sizeof(cmd), "curl -sk https://127.0.0.1:%d/healthz", web_port(w));
    run_capture(cmd, got, sizeof(got));
    assert_non_null(strstr(got, "\"database\":\"down\""));
    /* plain HTTP to the TLS port gets no HTTP answer */
    http_req(web_port(w), "GET", "/healthz", r);
    assert_int_equal(r->status, -1);
    web_stop(w);
    unlink(cert);
    unlink(key);
    x_free(r);
}

/* ---- with PostgreSQL ---- */

/* pg_dsn - the PostgreSQL test DSN, or skip the test */
static const char *pg_dsn(void)
{
    const char *dsn = getenv("MAILPULSE_TEST_DSN");

    if (dsn == NULL || dsn[0] == 0) {
        fprintf(stderr, "MAILPULSE_TEST_DSN is not set: the PostgreSQL tests are SKIPPED\n");
        skip();
    }
    return dsn;
}

/* test_pg_summary_zeros - a migrated database answers 200 and zeros for 1971 */
static void test_pg_summary_zeros(void **state)
{
    static const char *const zero_keys[] = {"received", "sent",     "deferred",   "bounced",
                                            "expired",  "rejected", "bounce_rate"};
    const char *dsn = pg_dsn();
    struct web_opts o = {.listen = "127.0.0.1:0", .dsn = dsn};
    struct resp *r = xmalloc(sizeof(*r));
    char err[256] = "";
    struct db *db;
    struct web *w;
    cJSON *json;
    size_t i;

    (void)state;
    db = db_open(dsn, err, sizeof(err));
    if (db == NULL)
        fail_msg("db_open(%s): %s", dsn, err);
    assert_int_equal(db_migrate(db, stderr), 0);
    db_close(db);

    w = web_start(&o, err, sizeof(err));
    if (w == NULL)
        fail_msg("web_start: %s", err);

    http_req(web_port(w), "GET", "/healthz", r);
    json = assert_json_reply(r, 200);
    assert_string_equal(cJSON_GetObjectItem(json, "status")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItem(json, "database")->valuestring, "up");
    assert_null(cJSON_GetObjectItem(json, "ingest"));
    cJSON_Delete(json);

    http_req(web_port(w), "GET",
             "/api/v1/summary?from=1971-01-01T00:00:00Z&to=1971-01-02T00:00:00Z", r);
    json = assert_json_reply(r, 200);
    assert_string_equal(cJSON_GetObjectItem(json, "from")->valuestring,
                        "1971-01-01T00:00:00+00:00");
    assert_string_equal(cJSON_GetObjectItem(json, "to")->valuestring, "1971-01-02T00:00:00+00:00");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(json, "host")));
    for (i = 0; i < ARRAY_LEN(zero_keys); i++) {
        const cJSON *v = cJSON_GetObjectItem(json, zero_keys[i]);

        if (!cJSON_IsNumber(v) || v->valuedouble != 0)
            fail_msg("\"%s\" is not the number 0 in %s", zero_keys[i], r->body);
    }
    cJSON_Delete(json);

    http_req(web_port(w), "GET",
             "/api/v1/summary?from=1971-01-01T00:00:00Z&to=1971-01-02T00:00:00Z&host=mx1", r);
    json = assert_json_reply(r, 200);
    assert_string_equal(cJSON_GetObjectItem(json, "host")->valuestring, "mx1");
    cJSON_Delete(json);

    /* the default range: the last 24 hours */
    http_req(web_port(w), "GET", "/api/v1/summary", r);
    json = assert_json_reply(r, 200);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(json, "from")));
    cJSON_Delete(json);

    web_stop(w);
    x_free(r);
}

/* pg_migrated - a migrated database's DSN, or skip */
static const char *pg_migrated(void)
{
    const char *dsn = pg_dsn();
    char err[256] = "";
    struct db *db = db_open(dsn, err, sizeof(err));

    if (db == NULL)
        fail_msg("db_open(%s): %s", dsn, err);
    assert_int_equal(db_migrate(db, stderr), 0);
    db_close(db);
    return dsn;
}

/* test_pg_hostile_strings - what a log says comes back escaped in HTML, quoted in CSV */
static void test_pg_hostile_strings(void **state)
{
    static const char sender[] = "\"<script>alert(1)</script>\"@evil.example";
    static const char reply[] = "550 5.1.1 <img src=x onerror=alert(2)> \"quoted\", comma";
    const char *dsn = pg_migrated();
    struct web_opts o = {.listen = "127.0.0.1:0", .dsn = dsn};
    struct resp *r = xmalloc(sizeof(*r));
    struct db_batch_result res;
    struct db_batch *b;
    struct event ev;
    struct web *w;
    struct db *db;
    char err[256] = "";

    (void)state;
    db = db_open(dsn, err, sizeof(err));
    assert_non_null(db);
    b = db_batch_create(db);
    event_clear(&ev);
    ev.type = EV_DELIVERY;
    ev.mta = MTA_POSTFIX;
    ev.status = ST_BOUNCED;
    ev.time_us = (int64_t)68256000 * 1000000 + 3600 * SEC; /* 1972-03-01T01:00:00Z */
    EVENT_SET(&ev, host, "mx-test", 7);
    EVENT_SET(&ev, queue_id, "XSS1Q", 5);
    EVENT_SET(&ev, sender, sender, strlen(sender));
    EVENT_SET(&ev, recipient, "victim@xss.example", 18);
    EVENT_SET(&ev, dsn, "5.1.1", 5);
    EVENT_SET(&ev, reply, reply, strlen(reply));
    EVENT_SET(&ev, reason, "userunknown", 11);
    ev.smtp_code = 550;
    db_batch_add(b, 0, 1000001, &ev);
    assert_int_equal(db_batch_commit(b, 0, 0, &res), 0);
    db_batch_free(b);
    db_close(db);

    w = web_start(&o, err, sizeof(err));
    assert_non_null(w);
    http_req(web_port(w), "GET", "/bounces?from=1972-03-01T00:00:00Z&to=1972-03-02T00:00:00Z", r);
    assert_int_equal(r->status, 200);
    assert_non_null(
        strstr(r->body, "&quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;@evil.example"));
    assert_non_null(strstr(r->body, "&lt;img src=x onerror=alert(2)&gt;"));
    assert_null(strstr(r->body, "<script"));
    assert_null(strstr(r->body, "<img"));
    http_req(web_port(w), "GET", "/message?queue_id=XSS1Q", r);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "&lt;img src=x onerror=alert(2)&gt;"));
    assert_null(strstr(r->body, "<script"));
    assert_null(strstr(r->body, "<img"));
    http_req(web_port(w), "GET", "/?from=1972-03-01T00:00:00Z&to=1972-03-02T00:00:00Z", r);
    assert_int_equal(r->status, 200);
    assert_null(strstr(r->body, "<img"));
    assert_non_null(strstr(r->body, "data-domain=\"xss.example\""));
    http_req(
        web_port(w), "GET",
        "/api/v1/export?what=bounces&format=csv&from=1972-03-01T00:00:00Z&to=1972-03-02T00:00:00Z",
        r);
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, ",\"\"\"<script>alert(1)</script>\"\"@evil.example\","));
    assert_non_null(
        strstr(r->body, ",\"550 5.1.1 <img src=x onerror=alert(2)> \"\"quoted\"\", comma\"\r\n"));
    web_stop(w);
    x_free(r);
}

/* add_bounce - store one bounced attempt at time t (source 0, position pos) */
static void add_bounce(const char *dsn, int64_t t, int64_t pos)
{
    struct db_batch_result res;
    struct db_batch *b;
    struct event ev;
    char err[256] = "";
    struct db *db = db_open(dsn, err, sizeof(err));

    assert_non_null(db);
    b = db_batch_create(db);
    event_clear(&ev);
    ev.type = EV_DELIVERY;
    ev.mta = MTA_POSTFIX;
    ev.status = ST_BOUNCED;
    ev.time_us = t;
    EVENT_SET(&ev, host, "mx-cache", 8);
    EVENT_SET(&ev, recipient, "a@cache.example", 15);
    db_batch_add(b, 0, pos, &ev);
    assert_int_equal(db_batch_commit(b, 0, 0, &res), 0);
    db_batch_free(b);
    db_close(db);
}

/* bounced_now - the "bounced" figure a summary request answers */
static int bounced_now(int port, struct resp *r)
{
    cJSON *json;
    int n;

    http_req(port, "GET",
             "/api/v1/summary?from=1973-05-01T00:00:00Z&to=1973-05-02T00:00:00Z&host=mx-cache", r);
    json = assert_json_reply(r, 200);
    n = (int)cJSON_GetObjectItem(json, "bounced")->valuedouble;
    cJSON_Delete(json);
    return n;
}

/* test_pg_reply_cache - a report is answered from the cache for at most its 2 s */
static void test_pg_reply_cache(void **state)
{
    const char *dsn = pg_migrated();
    struct web_opts o = {.listen = "127.0.0.1:0", .dsn = dsn};
    struct resp *r = xmalloc(sizeof(*r));
    int64_t t = (int64_t)105062400 * 1000000 + 7200 * SEC; /* 1973-05-01T02:00:00Z */
    int64_t start;
    char err[256] = "";
    struct web *w;
    int n0, n;

    (void)state;
    w = web_start(&o, err, sizeof(err));
    assert_non_null(w);
    start = time_now_us();
    n0 = bounced_now(web_port(w), r);
    add_bounce(dsn, t, 2000000 + time_now_us() % 1000000);
    n = bounced_now(web_port(w), r);
    /* within the TTL the old answer may come back; after it, the new one must */
    if (time_now_us() - start < 1500000)
        assert_int_equal(n, n0);
    usleep(2100000);
    assert_int_equal(bounced_now(web_port(w), r), n0 + 1);
    /* another parameter order is another key, answered fresh */
    http_req(web_port(w), "GET",
             "/api/v1/summary?host=mx-cache&from=1973-05-01T00:00:00Z&to=1973-05-02T00:00:00Z", r);
    assert_non_null(strstr(r->body, "\"bounced\":"));
    /* a NUL byte never reads as the cached shorter request */
    http_req(web_port(w), "GET",
             "/api/v1/summary?from=1973-05-01T00:00:00Z&to=1973-05-02T00:00:00Z&host=mx-cache%00x",
             r);
    assert_error_reply(r, 400, "NUL");
    /* the cache hits are counted */
    http_req(web_port(w), "GET", "/metrics", r);
    assert_non_null(strstr(r->body, "\nmailpulse_http_cache_hits_total "));
    assert_null(strstr(r->body, "\nmailpulse_http_cache_hits_total 0\n"));
    web_stop(w);
    x_free(r);
}

/* main - four groups; the PostgreSQL one skips without MAILPULSE_TEST_DSN */
int main(void)
{
    const struct CMUnitTest csv_tests[] = {
        cmocka_unit_test(test_csv_field),
    };
    const struct CMUnitTest live_tests[] = {
        cmocka_unit_test(test_not_found),           cmocka_unit_test(test_path_tricks),
        cmocka_unit_test(test_pages_database_down), cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_bad_parameters),      cmocka_unit_test(test_summary_database_down),
        cmocka_unit_test(test_healthz_down),        cmocka_unit_test(test_head),
        cmocka_unit_test(test_get_with_body),       cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_hostile_requests),    cmocka_unit_test(test_slow_headers),
        cmocka_unit_test(test_listen_errors),       cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_strict_requests),     cmocka_unit_test(test_security_headers),
        cmocka_unit_test(test_head_deadline),       cmocka_unit_test(test_healthz_one_truth),
    };
    const struct CMUnitTest auth_tests[] = {
        cmocka_unit_test(test_token_required_off_loopback),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_tls),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_pg_summary_zeros),
        cmocka_unit_test(test_pg_hostile_strings),
        cmocka_unit_test(test_pg_reply_cache),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("web_csv", csv_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("web_live", live_tests, live_setup, live_teardown);
    failed += cmocka_run_group_tests_name("web_auth", auth_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("web_pg", pg_tests, NULL, NULL);
    return failed ? 1 : 0;
}
