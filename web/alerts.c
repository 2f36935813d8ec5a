/*
 * alerts - what the web shows of the alerts table: GET /api/v1/alerts (JSON or CSV), the
 * banner on every page, the list on the dashboard, and the /metrics gauges
 *
 * The daemon's evaluator (cmd/alerts.c) writes the table; this file only reads it, through
 * db_alert_list(). A database without the alerts table (an older schema behind a web-only
 * server) shows no banner and no gauges rather than an error.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "db/db.h"
#include "util/util.h"
#include "web/web_int.h"

#define WEB_ALERT_SHOWN   20   /* alerts listed on the dashboard */
#define WEB_ALERT_KEYS    64   /* distinct (rule, severity) gauges */
#define WEB_ALERT_COUNTED 1000 /* active alerts the banner counts */

/* web_check_alerts - state= (active or all) and format= (json or csv) */
int web_check_alerts(struct web_req *r, char *err, size_t errlen)
{
    size_t len;
    const char *v = web_param(&r->p, "state", &len);

    if (v != NULL && !(len == 6 && memcmp(v, "active", 6) == 0) &&
        !(len == 3 && memcmp(v, "all", 3) == 0)) {
        snprintf(err, errlen, "state wants active or all");
        return -1;
    }
    return web_check_format(r, err, errlen);
}

/* alerts_csv - the rows as CSV, cells guarded against formulas */
static enum MHD_Result alerts_csv(struct web_req *r, const struct web_rows *rows)
{
    enum MHD_Result ret;
    struct buf b;
    char t[40];

    buf_init(&b);
    buf_puts(&b, "id,rule,subject,severity,started,ended,numbers,link,end_numbers\r\n");
    for (size_t i = 0; i < rows->n; i++) {
        const struct db_alert *a = (const void *)(rows->data + i * rows->size);

        buf_printf(&b, "%lld,", (long long)a->id);
        web_csv_field(&b, a->rule, 1);
        buf_putc(&b, ',');
        web_csv_field(&b, a->subject, 1);
        buf_printf(&b, ",%s,", a->severity);
        time_format_rfc3339(a->started_us, t, sizeof(t));
        buf_printf(&b, "%s,", t);
        if (a->ended_us > 0) {
            time_format_rfc3339(a->ended_us, t, sizeof(t));
            buf_puts(&b, t);
        }
        buf_putc(&b, ',');
        web_csv_field(&b, a->numbers, 1);
        buf_putc(&b, ',');
        web_csv_field(&b, a->link, 1);
        buf_putc(&b, ',');
        web_csv_field(&b, a->end_numbers, 1);
        buf_puts(&b, "\r\n");
    }
    ret = web_reply_csv(r->conn, &b);
    buf_free(&b);
    return ret;
}

/* web_api_alerts - GET /api/v1/alerts[?state=active|all][&format=json|csv][&limit=N] */
enum MHD_Result web_api_alerts(struct web_req *r)
{
    const char *state = web_param(&r->p, "state", NULL);
    int active_only = state != NULL && state[0] == 'a' && state[1] == 'c';
    struct web_rows rows;
    cJSON *body, *arr;
    enum MHD_Result ret;
    int64_t active = 0;

    web_rows_init(&rows, sizeof(struct db_alert));
    if (db_alert_list(r->db, active_only, r->limit, web_rows_alert, &rows) != 0) {
        web_rows_free(&rows);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the alerts cannot be read now");
    }
    if (r->format == WEB_FMT_CSV) {
        ret = alerts_csv(r, &rows);
        web_rows_free(&rows);
        return ret;
    }
    body = cJSON_CreateObject();
    arr = cJSON_CreateArray();
    for (size_t i = 0; i < rows.n; i++) {
        const struct db_alert *a = (const void *)(rows.data + i * rows.size);
        cJSON *o = cJSON_CreateObject(), *nums = cJSON_Parse(a->numbers);
        cJSON *end = a->end_numbers[0] ? cJSON_Parse(a->end_numbers) : NULL;

        active += a->ended_us == 0;
        cJSON_AddNumberToObject(o, "id", (double)a->id);
        cJSON_AddStringToObject(o, "rule", a->rule);
        cJSON_AddStringToObject(o, "subject", a->subject);
        cJSON_AddStringToObject(o, "severity", a->severity);
        web_add_time(o, "started", a->started_us, 1);
        web_add_time(o, "ended", a->ended_us, 1);
        cJSON_AddItemToObject(o, "numbers", nums != NULL ? nums : cJSON_CreateObject());
        cJSON_AddItemToObject(o, "end_numbers", end != NULL ? end : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "link", a->link);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON_AddNumberToObject(body, "active", (double)active);
    cJSON_AddItemToObject(body, "alerts", arr);
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* web_alert_banner - the active alerts in one line above a page; nothing when none */
void web_alert_banner(struct buf *b, struct db *db)
{
    struct web_rows rows;
    int critical = 0;

    if (db == NULL)
        return;
    web_rows_init(&rows, sizeof(struct db_alert));
    db_quiet(db, 1); /* a schema without the table: no banner, no warning per page */
    if (db_alert_list(db, 1, WEB_ALERT_COUNTED, web_rows_alert, &rows) == 0 && rows.n > 0) {
        const struct db_alert *a = (const void *)rows.data;

        /* The newest critical alert is named; else the newest one. */
        for (size_t i = 0; i < rows.n && !critical; i++) {
            const struct db_alert *x = (const void *)(rows.data + i * rows.size);

            if (strcmp(x->severity, "critical") == 0) {
                a = x;
                critical = 1;
            }
        }
        buf_printf(b, "<div class=\"alert-banner %s\" role=\"alert\"><strong>%zu%s active alert%s",
                   critical ? "critical" : "warning", rows.n,
                   rows.n == WEB_ALERT_COUNTED ? "+" : "", rows.n == 1 ? "" : "s");
        buf_puts(b, "</strong>: ");
        web_html_esc(b, a->rule);
        buf_puts(b, " · ");
        web_html_esc(b, a->subject);
        buf_puts(b, " · <a href=\"/#alerts\">see the list</a></div>");
    }
    db_quiet(db, 0);
    web_rows_free(&rows);
}

/* alert_time - "2026-11-27 10:30" (UTC) */
static void alert_time(struct buf *b, int64_t us)
{
    char t[40];

    time_format_rfc3339(us, t, sizeof(t));
    t[10] = ' ';
    t[16] = 0;
    buf_puts(b, t);
}

/* alert_numbers - the numbers that fired an alert as "name value" pairs, rates with "%" */
static void alert_numbers(struct buf *b, const char *json)
{
    cJSON *nums = cJSON_Parse(json), *n;
    int first = 1;

    if (nums == NULL || !cJSON_IsObject(nums)) {
        web_html_esc(b, json);
        cJSON_Delete(nums);
        return;
    }
    cJSON_ArrayForEach(n, nums)
    {
        char name[64];
        size_t len = strlen(n->string);
        int pct = len > 8 && strcmp(n->string + len - 8, "_percent") == 0;

        snprintf(name, sizeof(name), "%.*s", (int)(pct ? len - 8 : len), n->string);
        for (char *c = name; *c; c++)
            if (*c == '_')
                *c = ' ';
        buf_puts(b, first ? "" : " &middot; ");
        first = 0;
        web_html_esc(b, name);
        buf_puts(b, " <b>");
        if (cJSON_IsNumber(n) && pct)
            buf_printf(b, "%.2f%%", n->valuedouble);
        else if (cJSON_IsNumber(n) && n->valuedouble == (double)(long long)n->valuedouble)
            buf_printf(b, "%lld", (long long)n->valuedouble);
        else if (cJSON_IsNumber(n))
            buf_printf(b, "%.2f", n->valuedouble);
        else if (cJSON_IsString(n))
            web_html_esc(b, n->valuestring);
        else
            buf_puts(b, "?");
        buf_puts(b, "</b>");
    }
    cJSON_Delete(nums);
}

/* web_alert_list - the dashboard's section: active alerts, then the latest ended ones */
void web_alert_list(struct buf *b, struct db *db)
{
    struct web_rows rows;

    if (db == NULL)
        return;
    web_rows_init(&rows, sizeof(struct db_alert));
    db_quiet(db, 1);
    if (db_alert_list(db, 0, WEB_ALERT_SHOWN, web_rows_alert, &rows) == 0 && rows.n > 0) {
        buf_puts(b, "<section class=\"card\" id=\"alerts\"><h2>Alerts</h2><table class=\"alerts\">"
                    "<thead><tr><th>Severity</th><th>Rule</th><th>Subject</th><th>Started</th>"
                    "<th>Ended</th><th>Numbers</th><th></th></tr></thead><tbody>");
        for (size_t i = 0; i < rows.n; i++) {
            const struct db_alert *a = (const void *)(rows.data + i * rows.size);

            buf_printf(b, "<tr class=\"%s\"><td>", a->ended_us ? "ended" : "active");
            web_html_esc(b, a->severity);
            buf_puts(b, "</td><td>");
            web_html_esc(b, a->rule);
            buf_puts(b, "</td><td>");
            web_html_esc(b, a->subject);
            buf_puts(b, "</td><td>");
            alert_time(b, a->started_us);
            buf_puts(b, "</td><td>");
            if (a->ended_us)
                alert_time(b, a->ended_us);
            else
                buf_puts(b, "active");
            buf_puts(b, "</td><td class=\"numbers\">");
            alert_numbers(b, a->numbers);
            if (a->ended_us && a->end_numbers[0]) {
                buf_puts(b, "<br>ended with: ");
                alert_numbers(b, a->end_numbers);
            }
            buf_puts(b, "</td><td><a href=\"");
            web_html_esc(b, a->link);
            /* The complaint rule links to the complaints themselves, the others to attempts. */
            buf_printf(b, "\">%s</a></td></tr>",
                       strcmp(a->rule, "complaint") == 0 ? "complaints" : "attempts");
        }
        buf_puts(b, "</tbody></table></section>");
    }
    db_quiet(db, 0);
    web_rows_free(&rows);
}

/* web_alert_metrics - mailpulse_alerts_active{rule,severity}; nothing without the table */
void web_alert_metrics(struct buf *b, struct db *db)
{
    struct web_rows rows;
    struct {
        char rule[32], severity[16];
        int64_t n;
    } keys[WEB_ALERT_KEYS];
    size_t nkeys = 0;

    if (db == NULL)
        return;
    web_rows_init(&rows, sizeof(struct db_alert));
    db_quiet(db, 1);
    if (db_alert_list(db, 1, 10000, web_rows_alert, &rows) == 0) {
        for (size_t i = 0; i < rows.n; i++) {
            const struct db_alert *a = (const void *)(rows.data + i * rows.size);
            size_t k;

            for (k = 0; k < nkeys; k++)
                if (strcmp(keys[k].rule, a->rule) == 0 &&
                    strcmp(keys[k].severity, a->severity) == 0)
                    break;
            if (k == nkeys) {
                if (nkeys == WEB_ALERT_KEYS)
                    continue;
                memcpy(keys[k].rule, a->rule, sizeof(keys[k].rule));
                memcpy(keys[k].severity, a->severity, sizeof(keys[k].severity));
                keys[k].n = 0;
                nkeys++;
            }
            keys[k].n++;
        }
        buf_puts(b, "# HELP mailpulse_alerts_active Alerts active now, by rule and severity.\n"
                    "# TYPE mailpulse_alerts_active gauge\n");
        for (size_t k = 0; k < nkeys; k++)
            buf_printf(b, "mailpulse_alerts_active{rule=\"%s\",severity=\"%s\"} %lld\n",
                       keys[k].rule, keys[k].severity, (long long)keys[k].n);
        buf_printf(b,
                   "# HELP mailpulse_alerts_open Alerts active now, all rules together.\n"
                   "# TYPE mailpulse_alerts_open gauge\n"
                   "mailpulse_alerts_open %zu\n",
                   rows.n);
    }
    db_quiet(db, 0);
    web_rows_free(&rows);
}
