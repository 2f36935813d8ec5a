/*
 * export - GET /api/v1/export: deliveries, bounces, complaints or the suppression list, streamed
 *
 * The reply is a libmicrohttpd callback response: each time the socket can take more, the
 * callback turns the next rows of a server-side cursor (db_export_*, on a database
 * connection of its own, opened for this stream and closed when it ends) into text until
 * the block is full. The text waiting to be sent never holds more than one block plus one
 * row, so memory stays flat however many rows there are. At most WEB_MAX_EXPORTS streams
 * run at once; more get 503.
 *
 * Formats: json (one array), ndjson (one event per line; the keys of docs/architecture.md)
 * and csv (RFC 4180: a header line, CRLF line ends, fields with a comma, quote, CR or LF
 * quoted and their quotes doubled; a text field that begins like a spreadsheet formula
 * gets a leading single quote unless formulas=keep asks for the values as they are). A database
 * error in the middle of a stream can only cut the stream short: the status line has gone out
 * already; the connection is closed without the final chunk, so a client sees an incomplete
 * transfer, never a clean end.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "db/db.h"
#include "parser/event.h"
#include "util/util.h"
#include "web/web_int.h"

#define WEB_EXPORT_BLOCK ((size_t)32 * 1024)

struct web_export {
    struct web *w;
    struct db *db;
    struct db_export *x;
    int fmt;        /* WEB_FMT_* */
    int guard;      /* CSV: formulas neutralised */
    struct buf out; /* text made and not yet handed to libmicrohttpd */
    size_t off;
    uint64_t rows;
    int done; /* the cursor is exhausted and the closing text is in out */
    struct event ev;
};

/*
 * web_csv_field - one RFC 4180 field. With guard set, a field that a spreadsheet would take
 * for a formula (it begins with =, +, -, @, tab or CR) gets a leading single quote, the
 * OWASP rule, so that it shows as text.
 */
void web_csv_field(struct buf *b, const char *s, int guard)
{
    const char *c;
    int formula = guard && s[0] != 0 && strchr("=+-@\t\r", s[0]) != NULL;

    if (strpbrk(s, ",\"\r\n") == NULL) {
        if (formula)
            buf_putc(b, '\'');
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    if (formula)
        buf_putc(b, '\'');
    for (c = s; *c; c++) {
        if (*c == '"')
            buf_putc(b, '"');
        buf_putc(b, *c);
    }
    buf_putc(b, '"');
}

static const char csv_header[] =
    "time,type,host,mta,queue_id,message_id,sender,recipient,recipient_domain,relay,delay,"
    "status,dsn,smtp_code,reason,hard,reply\r\n";

/* web_csv_row - one delivery as a CSV line in the columns of csv_header; guard: see above */
static void web_csv_row(struct buf *b, const struct event *ev, int guard)
{
    char t[40];

    if (ev->time_us > 0)
        time_format_rfc3339(ev->time_us, t, sizeof(t));
    else
        t[0] = 0;
    buf_puts(b, t);
    buf_putc(b, ',');
    buf_puts(b, event_type_name(ev->type));
    buf_putc(b, ',');
    web_csv_field(b, ev->host, guard);
    buf_putc(b, ',');
    buf_puts(b, event_mta_name(ev->mta));
    buf_putc(b, ',');
    web_csv_field(b, ev->queue_id, guard);
    buf_putc(b, ',');
    web_csv_field(b, ev->message_id, guard);
    buf_putc(b, ',');
    web_csv_field(b, ev->sender, guard);
    buf_putc(b, ',');
    web_csv_field(b, ev->recipient, guard);
    buf_putc(b, ',');
    web_csv_field(b, event_recipient_domain(ev), guard);
    buf_putc(b, ',');
    web_csv_field(b, ev->relay, guard);
    buf_putc(b, ',');
    if (ev->has_delay)
        buf_printf(b, "%.3f", ev->delay);
    buf_putc(b, ',');
    if (ev->status != ST_NONE)
        buf_puts(b, event_status_name(ev->status));
    buf_putc(b, ',');
    web_csv_field(b, ev->dsn, guard);
    buf_putc(b, ',');
    if (ev->smtp_code >= 0)
        buf_printf(b, "%d", ev->smtp_code);
    buf_putc(b, ',');
    web_csv_field(b, ev->reason, guard);
    buf_putc(b, ',');
    buf_puts(b, ev->hard ? "true" : "false");
    buf_putc(b, ',');
    web_csv_field(b, ev->reply, guard);
    buf_puts(b, "\r\n");
}

/* The names of the exports, by enum db_export_what. */
static const char *const what_names[] = {"deliveries", "bounces", "complaints", "suppressions"};

#define WEB_EXPORT_COLS 16

/* web_row_out - one row of a row export (named text columns) in the stream's format */
static void web_row_out(struct web_export *e, const char *const *names, int ncols,
                        const char *const *vals)
{
    if (e->fmt == WEB_FMT_CSV) {
        for (int i = 0; i < ncols; i++) {
            if (i)
                buf_putc(&e->out, ',');
            web_csv_field(&e->out, vals[i] ? vals[i] : "", e->guard);
        }
        buf_puts(&e->out, "\r\n");
        return;
    }
    if (e->fmt == WEB_FMT_JSON)
        buf_puts(&e->out, e->rows ? ",\n" : "\n");
    buf_putc(&e->out, '{');
    for (int i = 0; i < ncols; i++) {
        buf_puts(&e->out, i ? "," : "");
        buf_json_string(&e->out, names[i]);
        buf_putc(&e->out, ':');
        if (vals[i] == NULL)
            buf_puts(&e->out, "null");
        else if (strcmp(names[i], "count") == 0)
            buf_puts(&e->out, vals[i]); /* an integer from the database */
        else
            buf_json_string(&e->out, vals[i]);
    }
    buf_putc(&e->out, '}');
    if (e->fmt == WEB_FMT_NDJSON)
        buf_putc(&e->out, '\n');
}

/* web_export_fill - make text until out holds at least want bytes or the rows end */
static int web_export_fill(struct web_export *e, size_t want)
{
    const char *const *names;
    const char *vals[WEB_EXPORT_COLS];
    int ncols = db_export_columns(e->x, &names);

    while (!e->done && e->out.len - e->off < want) {
        int r = ncols > 0 ? db_export_next_row(e->x, vals, WEB_EXPORT_COLS)
                          : db_export_next(e->x, &e->ev);

        if (r < 0)
            return -1;
        if (r == 0) {
            if (e->fmt == WEB_FMT_JSON)
                buf_puts(&e->out, e->rows ? "\n]\n" : "]\n");
            e->done = 1;
            break;
        }
        if (ncols > 0) {
            web_row_out(e, names, ncols, vals);
            e->rows++;
            continue;
        }
        switch (e->fmt) {
        case WEB_FMT_JSON:
            buf_puts(&e->out, e->rows ? ",\n" : "\n");
            event_format_json(&e->ev, &e->out);
            break;
        case WEB_FMT_NDJSON:
            event_format_json(&e->ev, &e->out);
            buf_putc(&e->out, '\n');
            break;
        case WEB_FMT_CSV:
            web_csv_row(&e->out, &e->ev, e->guard);
            break;
        }
        e->rows++;
    }
    return 0;
}

/* web_export_read - libmicrohttpd asks for up to max more bytes */
static ssize_t web_export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct web_export *e = cls;
    size_t n;

    (void)pos;
    if (e->off == e->out.len) {
        buf_reset(&e->out);
        e->off = 0;
    } else if (e->off > WEB_EXPORT_BLOCK) {
        memmove(e->out.data, e->out.data + e->off, e->out.len - e->off);
        e->out.len -= e->off;
        e->off = 0;
    }
    if (web_export_fill(e, max) != 0) {
        log_warn("web: export stopped after %llu rows: database error",
                 (unsigned long long)e->rows);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    n = e->out.len - e->off;
    if (n == 0)
        return e->done ? MHD_CONTENT_READER_END_OF_STREAM : 0;
    if (n > max)
        n = max;
    memcpy(buf, e->out.data + e->off, n);
    e->off += n;
    return (ssize_t)n;
}

/* web_export_free - the stream ended (or the client went away): close everything */
static void web_export_free(void *cls)
{
    struct web_export *e = cls;

    db_export_close(e->x);
    db_close(e->db);
    buf_free(&e->out);
    atomic_fetch_sub(&e->w->exports, 1);
    log_debug("web: export done, %llu rows", (unsigned long long)e->rows);
    x_free(e);
}

/* web_check_export - what=deliveries|bounces|complaints|suppressions, format=json|ndjson|csv */
int web_check_export(struct web_req *r, char *err, size_t errlen)
{
    const char *v;

    r->what = DB_EXPORT_DELIVERIES;
    r->format = WEB_FMT_JSON;
    v = web_param(&r->p, "what", NULL);
    for (size_t i = 0; v != NULL && i < ARRAY_LEN(what_names); i++)
        if (strcmp(v, what_names[i]) == 0) {
            r->what = (int)i;
            v = NULL;
        }
    if (v != NULL) {
        snprintf(err, errlen, "'what' must be deliveries, bounces, complaints or suppressions");
        return -1;
    }
    v = web_param(&r->p, "format", NULL);
    if (v != NULL && strcmp(v, "ndjson") == 0) {
        r->format = WEB_FMT_NDJSON;
    } else if (v != NULL && strcmp(v, "csv") == 0) {
        r->format = WEB_FMT_CSV;
    } else if (v != NULL && strcmp(v, "json") != 0) {
        snprintf(err, errlen, "'format' must be json, ndjson or csv");
        return -1;
    }
    v = web_param(&r->p, "formulas", NULL);
    r->guard = 1;
    if (v != NULL && r->format != WEB_FMT_CSV) {
        snprintf(err, errlen, "'formulas' applies to format=csv only");
        return -1;
    } else if (v != NULL && strcmp(v, "keep") == 0) {
        r->guard = 0;
    } else if (v != NULL && strcmp(v, "neutralise") != 0) {
        snprintf(err, errlen, "'formulas' must be neutralise or keep");
        return -1;
    }
    if (r->what == DB_EXPORT_BOUNCES && r->q.status == ST_SENT) {
        snprintf(err, errlen, "'status' must be deferred, bounced or expired for bounces");
        return -1;
    }
    return 0;
}

/* web_export - GET /api/v1/export?what=deliveries|bounces&format=json|ndjson|csv&from&to... */
enum MHD_Result web_export(struct web_req *r)
{
    static const char *const ctypes[] = {"application/json; charset=utf-8",
                                         "application/x-ndjson; charset=utf-8",
                                         "text/csv; charset=utf-8; header=present"};
    static const char *const exts[] = {"json", "ndjson", "csv"};
    const struct db_query *q = &r->q;
    enum db_export_what what = r->what;
    int fmt = r->format;
    struct MHD_Response *resp;
    struct web_export *e;
    char err[256], disp[128], from[40];
    enum MHD_Result ret;

    if (atomic_fetch_add(&r->w->exports, 1) >= WEB_MAX_EXPORTS) {
        atomic_fetch_sub(&r->w->exports, 1);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "too many exports running; try again later");
    }
    e = xcalloc(1, sizeof(*e));
    e->w = r->w;
    e->fmt = fmt;
    e->guard = r->guard;
    buf_init(&e->out);
    err[0] = 0;
    e->db = db_open(r->w->dsn, err, sizeof(err));
    if (e->db != NULL)
        e->x = db_export_open(e->db, what, q);
    if (e->x == NULL) {
        if (e->db == NULL)
            log_warn("web: export: database unavailable: %s", err);
        web_export_free(e);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    if (fmt == WEB_FMT_JSON) {
        buf_putc(&e->out, '[');
    } else if (fmt == WEB_FMT_CSV) {
        const char *const *names;
        int ncols = db_export_columns(e->x, &names);

        for (int i = 0; i < ncols; i++)
            buf_printf(&e->out, "%s%s", i ? "," : "", names[i]);
        buf_puts(&e->out, ncols > 0 ? "\r\n" : csv_header);
    }

    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, WEB_EXPORT_BLOCK, web_export_read, e,
                                             web_export_free);
    if (resp == NULL) {
        web_export_free(e);
        return MHD_NO;
    }
    time_format_rfc3339(q->range.from_us, from, sizeof(from));
    from[10] = 0; /* the date is enough for a file name */
    snprintf(disp, sizeof(disp), "attachment; filename=\"mailpulse-%s-%s.%s\"", what_names[what],
             from, exts[fmt]);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctypes[fmt]);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, disp);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    web_add_headers(resp);
    ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}
