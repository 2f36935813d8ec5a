/*
 * NAME
 *	providers - GET /api/v1/providers and /api/v1/blocks, in JSON or CSV
 *
 * SYNOPSIS
 *	#include "web/web_int.h"
 *
 *	int web_check_format(struct web_req *r, char *err, size_t errlen);
 *	enum MHD_Result web_api_providers(struct web_req *r);
 *	enum MHD_Result web_api_blocks(struct web_req *r);
 *
 * DESCRIPTION
 *	web_check_format() reads format= (json, the default, or csv) into r->format.
 *
 *	web_api_providers() answers the delivery attempts per mailbox provider over the
 *	range (from=, to=, host=, limit=): sent, deferred, bounced, expired, their sum and the
 *	bounce and deferral rates, most attempts first. web_api_blocks() answers, per sending
 *	host x block rule x provider, when a reply first and last named the block, how many
 *	did, the rule's operator and kind, and up to three example replies.
 *
 *	CSV replies have a header line and CRLF line ends; cells that a spreadsheet would take
 *	for a formula are neutralised.
 *
 * OWNERSHIP
 *	Replies are built and queued here; nothing is kept.
 *
 * DIAGNOSTICS
 *	503 when the database cannot answer; 400 (from the route table) for a bad format.
 */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "parser/provider.h"
#include "util/util.h"
#include "web/web_int.h"

/* rate - part / whole, 0 when whole is 0 */
static double rate(int64_t part, int64_t whole)
{
    return whole > 0 ? (double)part / (double)whole : 0.0;
}

/* web_check_format - format=json|csv */
int web_check_format(struct web_req *r, char *err, size_t errlen)
{
    const char *v = web_param(&r->p, "format", NULL);

    r->format = WEB_FMT_JSON;
    if (v == NULL || strcmp(v, "json") == 0)
        return 0;
    if (strcmp(v, "csv") == 0) {
        r->format = WEB_FMT_CSV;
        return 0;
    }
    snprintf(err, errlen, "'format' must be json or csv");
    return -1;
}

/* web_api_providers - GET /api/v1/providers?from=&to=&host=&limit=&format= */
enum MHD_Result web_api_providers(struct web_req *r)
{
    struct web_rows rows;
    enum MHD_Result ret;
    cJSON *body, *arr;
    struct buf b;
    size_t i;

    web_rows_init(&rows, sizeof(struct db_provider_row));
    if (db_providers(r->db, &r->q.range, r->limit, web_rows_provider, &rows) != 0) {
        web_rows_free(&rows);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    if (r->format == WEB_FMT_CSV) {
        buf_init(&b);
        buf_puts(&b,
                 "provider,attempts,sent,deferred,bounced,expired,bounce_rate,deferral_rate\r\n");
        for (i = 0; i < rows.n; i++) {
            const struct db_provider_row *p = (const void *)(rows.data + i * rows.size);
            int64_t n = p->sent + p->deferred + p->bounced + p->expired;

            web_csv_field(&b, p->provider, 1);
            buf_printf(&b, ",%lld,%lld,%lld,%lld,%lld,%.6f,%.6f\r\n", (long long)n,
                       (long long)p->sent, (long long)p->deferred, (long long)p->bounced,
                       (long long)p->expired, rate(p->bounced, n), rate(p->deferred, n));
        }
        ret = web_reply_csv(r->conn, &b);
        buf_free(&b);
        web_rows_free(&rows);
        return ret;
    }
    body = cJSON_CreateObject();
    web_add_time(body, "from", r->q.range.from_us, 0);
    web_add_time(body, "to", r->q.range.to_us, 0);
    arr = cJSON_AddArrayToObject(body, "providers");
    for (i = 0; i < rows.n; i++) {
        const struct db_provider_row *p = (const void *)(rows.data + i * rows.size);
        int64_t n = p->sent + p->deferred + p->bounced + p->expired;
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "provider", p->provider);
        cJSON_AddNumberToObject(o, "attempts", (double)n);
        cJSON_AddNumberToObject(o, "sent", (double)p->sent);
        cJSON_AddNumberToObject(o, "deferred", (double)p->deferred);
        cJSON_AddNumberToObject(o, "bounced", (double)p->bounced);
        cJSON_AddNumberToObject(o, "expired", (double)p->expired);
        cJSON_AddNumberToObject(o, "bounce_rate", rate(p->bounced, n));
        cJSON_AddNumberToObject(o, "deferral_rate", rate(p->deferred, n));
        cJSON_AddItemToArray(arr, o);
    }
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}

/* web_api_blocks - GET /api/v1/blocks?from=&to=&host=&limit=&format= */
enum MHD_Result web_api_blocks(struct web_req *r)
{
    struct web_rows rows;
    enum MHD_Result ret;
    cJSON *body, *arr;
    char t1[48], t2[48];
    struct buf b;
    size_t i;
    int k;

    web_rows_init(&rows, sizeof(struct db_block_row));
    if (db_blocks(r->db, &r->q.range, r->limit, web_rows_block, &rows) != 0) {
        web_rows_free(&rows);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    if (r->format == WEB_FMT_CSV) {
        buf_init(&b);
        buf_puts(&b, "host,block,operator,kind,provider,first_seen,last_seen,count,example\r\n");
        for (i = 0; i < rows.n; i++) {
            const struct db_block_row *x = (const void *)(rows.data + i * rows.size);
            const struct block *rule = block_named(x->block);

            web_csv_field(&b, x->host, 1);
            buf_putc(&b, ',');
            web_csv_field(&b, x->block, 1);
            buf_putc(&b, ',');
            web_csv_field(&b, rule != NULL ? rule->operator : "", 1);
            buf_printf(&b, ",%s,", rule != NULL ? block_kind_name(rule->kind) : "");
            web_csv_field(&b, x->provider, 1);
            time_format_rfc3339(x->first_us, t1, sizeof(t1));
            time_format_rfc3339(x->last_us, t2, sizeof(t2));
            buf_printf(&b, ",%s,%s,%lld,", t1, t2, (long long)x->n);
            web_csv_field(&b, x->nexamples > 0 ? x->examples[0] : "", 1);
            buf_puts(&b, "\r\n");
        }
        ret = web_reply_csv(r->conn, &b);
        buf_free(&b);
        web_rows_free(&rows);
        return ret;
    }
    body = cJSON_CreateObject();
    web_add_time(body, "from", r->q.range.from_us, 0);
    web_add_time(body, "to", r->q.range.to_us, 0);
    arr = cJSON_AddArrayToObject(body, "blocks");
    for (i = 0; i < rows.n; i++) {
        const struct db_block_row *x = (const void *)(rows.data + i * rows.size);
        const struct block *rule = block_named(x->block);
        cJSON *o = cJSON_CreateObject(), *ex;

        cJSON_AddStringToObject(o, "host", x->host);
        cJSON_AddStringToObject(o, "block", x->block);
        if (rule != NULL) {
            cJSON_AddStringToObject(o, "operator", rule->operator);
            cJSON_AddStringToObject(o, "kind", block_kind_name(rule->kind));
        } else {
            cJSON_AddNullToObject(o, "operator");
            cJSON_AddNullToObject(o, "kind");
        }
        cJSON_AddStringToObject(o, "provider", x->provider);
        web_add_time(o, "first_seen", x->first_us, 0);
        web_add_time(o, "last_seen", x->last_us, 0);
        cJSON_AddNumberToObject(o, "count", (double)x->n);
        ex = cJSON_AddArrayToObject(o, "examples");
        for (k = 0; k < x->nexamples; k++)
            cJSON_AddItemToArray(ex, cJSON_CreateString(x->examples[k]));
        cJSON_AddItemToArray(arr, o);
    }
    web_rows_free(&rows);
    ret = web_reply_json(r->conn, MHD_HTTP_OK, body);
    cJSON_Delete(body);
    return ret;
}
