/*
 * NAME
 *	senders - GET /api/v1/senders: who submits what, and who is bouncing, in JSON or CSV
 *
 * SYNOPSIS
 *	#include "web/web_int.h"
 *
 *	int web_check_senders(struct web_req *r, char *err, size_t errlen);
 *	enum MHD_Result web_api_senders(struct web_req *r);
 *
 * DESCRIPTION
 *	web_check_senders() reads by= (sender_domain, the default; sasl_user, client_ip or
 *	host) into r->axis, order= (volume, bounce_rate, deferral_rate) into r->order and,
 *	when the route takes it, format= (json or csv) into r->format. The /senders page
 *	shares it.
 *
 *	web_api_senders() answers, per key of the axis over the range (from=, to=, host=,
 *	limit=): attempts (sent + deferred + bounced + expired), each of those, rejects, the
 *	bounce and deferral rates over the attempts, and the most frequent reasons of the
 *	attempts that failed and of the rejects. The key "" gathers what the log did not say
 *	(no SASL login, no client).
 *
 *	CSV replies have a header line (its first column named after the axis) and CRLF line
 *	ends; cells that a spreadsheet would take for a formula are neutralised. The reasons
 *	go in one cell as "reason:count" words separated by spaces.
 *
 * OWNERSHIP
 *	Replies are built and queued here; nothing is kept.
 *
 * DIAGNOSTICS
 *	503 when the database cannot answer; 400 (from the route table) for a bad by=, order=
 *	or format=.
 */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "util/util.h"
#include "web/web_int.h"

/* rate - part / whole, 0 when whole is 0 */
static double rate(int64_t part, int64_t whole)
{
    return whole > 0 ? (double)part / (double)whole : 0.0;
}

/* web_check_senders - by=, order= and format= */
int web_check_senders(struct web_req *r, char *err, size_t errlen)
{
    const char *v = web_param(&r->p, "by", NULL);

    r->axis = DB_AXIS_SENDER_DOMAIN;
    if (v != NULL && db_sender_axis_parse(v, &r->axis) != 0) {
        snprintf(err, errlen, "'by' must be sender_domain, sasl_user, client_ip or host");
        return -1;
    }
    if (web_check_order(r, err, errlen) != 0)
        return -1;
    return web_check_format(r, err, errlen);
}

/* web_sender_complaints - the complaints of each sender domain row over the range */
int web_sender_complaints(struct db *db, const struct db_range *range, const struct web_rows *rows,
                          int64_t *out)
{
    const char **names = xcalloc(rows->n + 1, sizeof(*names));
    int rc;

    for (size_t i = 0; i < rows->n; i++)
        names[i] = ((const struct db_sender_row *)(const void *)(rows->data + i * rows->size))->key;
    rc = db_report_counts_for(db, range, DB_RK_COMPLAINT_SENDER, names, rows->n, out);
    x_free(names);
    return rc;
}

/* web_api_senders - GET /api/v1/senders?by=&from=&to=&host=&limit=&order=&format= */
enum MHD_Result web_api_senders(struct web_req *r)
{
    struct web_rows rows;
    enum MHD_Result ret;
    cJSON *body, *arr;
    struct buf b;
    size_t i;
    int k, by_domain = r->axis == DB_AXIS_SENDER_DOMAIN;
    int64_t *complaints;

    web_rows_init(&rows, sizeof(struct db_sender_row));
    if (db_senders(r->db, &r->q.range, r->axis, r->order, r->limit, web_rows_sender, &rows) != 0) {
        web_rows_free(&rows);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    /* Complaints name the sender domain of the message complained about. */
    complaints = xcalloc(rows.n + 1, sizeof(*complaints));
    if (by_domain && web_sender_complaints(r->db, &r->q.range, &rows, complaints) != 0) {
        x_free(complaints);
        web_rows_free(&rows);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    if (r->format == WEB_FMT_CSV) {
        buf_init(&b);
        buf_printf(&b,
                   "%s,attempts,sent,deferred,bounced,expired,rejected,bounce_rate,"
                   "deferral_rate,top_reasons%s\r\n",
                   db_sender_axis_name(r->axis), by_domain ? ",complaints,complaint_rate" : "");
        for (i = 0; i < rows.n; i++) {
            const struct db_sender_row *s = (const void *)(rows.data + i * rows.size);
            int64_t n = s->sent + s->deferred + s->bounced + s->expired;

            web_csv_field(&b, s->key, 1);
            buf_printf(&b, ",%lld,%lld,%lld,%lld,%lld,%lld,%.6f,%.6f,", (long long)n,
                       (long long)s->sent, (long long)s->deferred, (long long)s->bounced,
                       (long long)s->expired, (long long)s->rejected, rate(s->bounced, n),
                       rate(s->deferred, n));
            for (k = 0; k < s->nreasons; k++)
                buf_printf(&b, "%s%s:%lld", k ? " " : "", s->reasons[k].reason,
                           (long long)s->reasons[k].n);
            if (by_domain)
                buf_printf(&b, ",%lld,%.6f", (long long)complaints[i],
                           rate(complaints[i], s->sent));
            buf_puts(&b, "\r\n");
        }
        ret = web_reply_csv(r->conn, &b);
        buf_free(&b);
        x_free(complaints);
        web_rows_free(&rows);
        return ret;
    }
    body = cJSON_CreateObject();
    web_add_time(body, "from", r->q.range.from_us, 0);
    web_add_time(body, "to", r->q.range.to_us, 0);
    cJSON_AddStringToObject(body, "by", db_sender_axis_name(r->axis));
    arr = cJSON_AddArrayToObject(body, "senders");
    for (i = 0; i < rows.n; i++) {
        const struct db_sender_row *s = (const void *)(rows.data + i * rows.size);
        int64_t n = s->sent + s->deferred + s->bounced + s->expired;
        cJSON *o = cJSON_CreateObject(), *rs;

        cJSON_AddStringToObject(o, "key", s->key);
        cJSON_AddNumberToObject(o, "attempts", (double)n);
        cJSON_AddNumberToObject(o, "sent", (double)s->sent);
        cJSON_AddNumberToObject(o, "deferred", (double)s->deferred);
        cJSON_AddNumberToObject(o, "bounced", (double)s->bounced);
        cJSON_AddNumberToObject(o, "expired", (double)s->expired);
        cJSON_AddNumberToObject(o, "rejected", (double)s->rejected);
        cJSON_AddNumberToObject(o, "bounce_rate", rate(s->bounced, n));
        cJSON_AddNumberToObject(o, "deferral_rate", rate(s->deferred, n));
        rs = cJSON_AddArrayToObject(o, "top_reasons");
        for (k = 0; k < s->nreasons; k++) {
            cJSON *x = cJSON_CreateObject();

            cJSON_AddStringToObject(x, "reason", s->reasons[k].reason);
            cJSON_AddNumberToObject(x, "count", (double)s->reasons[k].n);
            cJSON_AddItemToArray(rs, x);
        }
        if (by_domain) {
            cJSON_AddNumberToObject(o, "complaints", (double)complaints[i]);
            cJSON_AddNumberToObject(o, "complaint_rate", rate(complaints[i], s->sent));
        }
        cJSON_AddItemToArray(arr, o);
    }
    x_free(complaints);
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}
