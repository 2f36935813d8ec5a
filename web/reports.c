/*
 * NAME
 *	reports - GET /api/v1/complaints and /api/v1/suppressions, in JSON or CSV
 *
 * SYNOPSIS
 *	#include "web/web_int.h"
 *
 *	int web_check_complaints(struct web_req *r, char *err, size_t errlen);
 *	enum MHD_Result web_api_complaints(struct web_req *r);
 *	enum MHD_Result web_api_suppressions(struct web_req *r);
 *
 * DESCRIPTION
 *	web_api_complaints() answers the complaint (ARF) reports of the range, newest first,
 *	filtered by sender_domain=, host= (the host that sent the message, when it was matched)
 *	and feedback_type= (abuse, fraud, virus, auth-failure, not-spam, opt-out, other), which
 *	web_check_complaints() checks together with format=.
 *
 *	web_api_suppressions() answers the suppression list: per recipient and sender domain,
 *	the last hard failure (a hard bounce or expiry in the log, a failed hard DSN that the log
 *	did not show, a complaint) when no later delivery to the recipient was sent; from= and
 *	to= select by the time of that last failure, sender_domain= filters.
 *
 *	CSV replies have a header line and CRLF line ends; cells that a spreadsheet would take
 *	for a formula are neutralised.
 *
 * OWNERSHIP
 *	Replies are built and queued here; nothing is kept.
 *
 * DIAGNOSTICS
 *	503 when the database cannot answer; 400 (from the route table) for a bad parameter.
 */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "util/util.h"
#include "web/web_int.h"

static const char *const feedback_types[] = {"abuse",    "fraud",   "virus", "auth-failure",
                                             "not-spam", "opt-out", "other"};

/* web_check_complaints - format= and feedback_type= */
int web_check_complaints(struct web_req *r, char *err, size_t errlen)
{
    const char *v = web_param(&r->p, "feedback_type", NULL);

    if (web_check_format(r, err, errlen) != 0)
        return -1;
    if (v == NULL || *v == 0)
        return 0;
    for (size_t i = 0; i < ARRAY_LEN(feedback_types); i++)
        if (strcmp(v, feedback_types[i]) == 0)
            return 0;
    snprintf(err, errlen,
             "'feedback_type' must be abuse, fraud, virus, auth-failure, not-spam, opt-out or "
             "other");
    return -1;
}

/* csv_cell - one guarded CSV field and its comma */
static void csv_cell(struct buf *b, const char *s, int last)
{
    web_csv_field(b, s, 1);
    buf_puts(b, last ? "\r\n" : ",");
}

/* web_api_complaints - GET /api/v1/complaints */
enum MHD_Result web_api_complaints(struct web_req *r)
{
    const char *ft = web_param(&r->p, "feedback_type", NULL);
    struct web_rows rows;
    enum MHD_Result ret;
    cJSON *body, *arr;
    char t[48];
    struct buf b;

    web_rows_init(&rows, sizeof(struct db_complaint_row));
    if (db_complaints(r->db, &r->q.range, ft, r->limit, web_rows_complaint, &rows) != 0) {
        web_rows_free(&rows);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    if (r->format == WEB_FMT_CSV) {
        buf_init(&b);
        buf_puts(&b, "time,feedback_type,recipient,sender_domain,source_ip,reporting_mta,"
                     "user_agent,message_id,host,queue_id\r\n");
        for (size_t i = 0; i < rows.n; i++) {
            const struct db_complaint_row *c = (const void *)(rows.data + i * rows.size);

            time_format_rfc3339(c->time_us, t, sizeof(t));
            buf_printf(&b, "%s,", t);
            csv_cell(&b, c->feedback_type, 0);
            csv_cell(&b, c->recipient, 0);
            csv_cell(&b, c->sender_domain, 0);
            csv_cell(&b, c->source_ip, 0);
            csv_cell(&b, c->reporting_mta, 0);
            csv_cell(&b, c->user_agent, 0);
            csv_cell(&b, c->message_id, 0);
            csv_cell(&b, c->host, 0);
            csv_cell(&b, c->queue_id, 1);
        }
        ret = web_reply_csv(r->conn, &b);
        buf_free(&b);
        web_rows_free(&rows);
        return ret;
    }
    body = cJSON_CreateObject();
    web_add_time(body, "from", r->q.range.from_us, 0);
    web_add_time(body, "to", r->q.range.to_us, 0);
    arr = cJSON_AddArrayToObject(body, "complaints");
    for (size_t i = 0; i < rows.n; i++) {
        const struct db_complaint_row *c = (const void *)(rows.data + i * rows.size);
        cJSON *o = cJSON_CreateObject();

        web_add_time(o, "time", c->time_us, 0);
        cJSON_AddStringToObject(o, "feedback_type", c->feedback_type);
        web_add_str_or_null(o, "recipient", c->recipient);
        web_add_str_or_null(o, "sender_domain", c->sender_domain);
        web_add_str_or_null(o, "source_ip", c->source_ip);
        web_add_str_or_null(o, "reporting_mta", c->reporting_mta);
        web_add_str_or_null(o, "user_agent", c->user_agent);
        web_add_str_or_null(o, "message_id", c->message_id);
        web_add_str_or_null(o, "host", c->host);
        web_add_str_or_null(o, "queue_id", c->queue_id);
        cJSON_AddItemToArray(arr, o);
    }
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* web_api_suppressions - GET /api/v1/suppressions */
enum MHD_Result web_api_suppressions(struct web_req *r)
{
    struct web_rows rows;
    enum MHD_Result ret;
    cJSON *body, *arr;
    char t[48];
    struct buf b;

    web_rows_init(&rows, sizeof(struct db_suppression_row));
    if (db_suppressions(r->db, &r->q.range, r->limit, web_rows_suppression, &rows) != 0) {
        web_rows_free(&rows);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    if (r->format == WEB_FMT_CSV) {
        buf_init(&b);
        buf_puts(&b, "recipient,sender_domain,last_time,origin,reason,dsn,reply,count\r\n");
        for (size_t i = 0; i < rows.n; i++) {
            const struct db_suppression_row *x = (const void *)(rows.data + i * rows.size);

            csv_cell(&b, x->recipient, 0);
            csv_cell(&b, x->sender_domain, 0);
            time_format_rfc3339(x->last_us, t, sizeof(t));
            buf_printf(&b, "%s,%s,", t, x->origin);
            csv_cell(&b, x->reason, 0);
            csv_cell(&b, x->dsn, 0);
            csv_cell(&b, x->reply, 0);
            buf_printf(&b, "%lld\r\n", (long long)x->n);
        }
        ret = web_reply_csv(r->conn, &b);
        buf_free(&b);
        web_rows_free(&rows);
        return ret;
    }
    body = cJSON_CreateObject();
    web_add_time(body, "from", r->q.range.from_us, 0);
    web_add_time(body, "to", r->q.range.to_us, 0);
    arr = cJSON_AddArrayToObject(body, "suppressions");
    for (size_t i = 0; i < rows.n; i++) {
        const struct db_suppression_row *x = (const void *)(rows.data + i * rows.size);
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "recipient", x->recipient);
        web_add_str_or_null(o, "sender_domain", x->sender_domain);
        web_add_time(o, "last_time", x->last_us, 0);
        cJSON_AddStringToObject(o, "origin", x->origin);
        web_add_str_or_null(o, "reason", x->reason);
        web_add_str_or_null(o, "dsn", x->dsn);
        web_add_str_or_null(o, "reply", x->reply);
        cJSON_AddNumberToObject(o, "count", (double)x->n);
        cJSON_AddItemToArray(arr, o);
    }
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}
