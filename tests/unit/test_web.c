/*
 * test_web - web_parse_time() as a table, and the HTTP server spoken to over a plain socket
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

#define NOW_US   ((int64_t)1800000000 * 1000000) /* 2027-01-15T08:00:00Z */
#define SEC      ((int64_t)1000000)
#define RESP_MAX (256 * 1024)

/* ---- web_parse_time ---- */

struct time_case {
    const char *in;
    int ret;
    int64_t want;
};

static const struct time_case time_cases[] = {
    {"now", 0, NOW_US},
    {"-24h", 0, NOW_US - 24 * 3600 * SEC},
    {"-7d", 0, NOW_US - 7 * 86400 * SEC},
    {"-30m", 0, NOW_US - 30 * 60 * SEC},
    {"-90s", 0, NOW_US - 90 * SEC},
    {"-2w", 0, NOW_US - 2 * 604800 * SEC},
    {"-0s", 0, NOW_US},
    {"-0024h", 0, NOW_US - 24 * 3600 * SEC},
    {"-1000w", 0, NOW_US - 1000 * 604800 * SEC},
    {"2026-11-28T17:30:17Z", 0, 1795887017 * SEC},
    {"2026-11-28T17:30:17+00:00", 0, 1795887017 * SEC},
    {"2026-11-28T17:30:17+02:00", 0, 1795879817 * SEC},
    {"2026-11-28 17:30:17.25Z", 0, 1795887017 * SEC + 250000},
    {"1970-01-01T00:00:00Z", 0, 0},
    {"", -1, 0},
    {"-", -1, 0},
    {"-h", -1, 0},
    {"24h", -1, 0},
    {"+24h", -1, 0},
    {"-24", -1, 0},
    {"-24x", -1, 0},
    {"-24H", -1, 0},
    {"-24hh", -1, 0},
    {"-24h ", -1, 0},
    {" -24h", -1, 0},
    {"--24h", -1, 0},
    {"-2.5h", -1, 0},
    {"NOW", -1, 0},
    {"now ", -1, 0},
    {"nowx", -1, 0},
    {"-9223372036854775808s", -1, 0}, /* the number overflows */
    {"-99999999999999999999999h", -1, 0},
    {"-9223372036854775807s", -1, 0}, /* the product overflows */
    {"-15250284452w", -1, 0},
    {"-9223372036854s", -1, 0}, /* fits, but lands before year 1 */
    {"-2000000w", -1, 0},
    {"2026-11-28T17:30:17", -1, 0},
    {"2026-11-28T17:30:17Zjunk", -1, 0},
    {"2026-11-28T17:30:17+02:00x", -1, 0},
    {"2026-13-01T00:00:00Z", -1, 0},
    {"2026-11-28", -1, 0},
    {"yesterday", -1, 0},
};

/* test_parse_time - every row of time_cases */
static void test_parse_time(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ARRAY_LEN(time_cases); i++) {
        const struct time_case *c = &time_cases[i];
        int64_t got = -12345;
        int ret = web_parse_time(c->in, NOW_US, &got);

        if (ret != c->ret || (ret == 0 && got != c->want))
            fail_msg("web_parse_time(\"%s\") = %d, %lld; want %d, %lld", c->in, ret, (long long)got,
                     c->ret, (long long)c->want);
        if (ret != 0 && got != -12345)
            fail_msg("web_parse_time(\"%s\") failed but wrote its result", c->in);
    }
}

/* test_parse_time_null - NULL is not a time */
static void test_parse_time_null(void **state)
{
    int64_t got;

    (void)state;
    assert_int_equal(web_parse_time(NULL, NOW_US, &got), -1);
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
    http_req(l->port, "GET", "/", &l->r);
    assert_error_reply(&l->r, 404, "not found");
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

/* main - three groups; the PostgreSQL one skips without MAILPULSE_TEST_DSN */
int main(void)
{
    const struct CMUnitTest parse_tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_time_null),
    };
    const struct CMUnitTest live_tests[] = {
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_summary_database_down),
        cmocka_unit_test(test_healthz_down),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_get_with_body),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_hostile_requests),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_ipv6),
    };
    const struct CMUnitTest pg_tests[] = {
        cmocka_unit_test(test_pg_summary_zeros),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("web_parse_time", parse_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("web_live", live_tests, live_setup, live_teardown);
    failed += cmocka_run_group_tests_name("web_pg", pg_tests, NULL, NULL);
    return failed ? 1 : 0;
}
