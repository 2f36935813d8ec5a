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
 *	enum MHD_Result web_api_provider_series(struct web_req *r);
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
 *	web_api_provider_series() is GET /api/v1/timeseries?by=provider: every bucket of the
 *	range (bucket= as the status timeseries reads it), each with the attempts of every
 *	provider that has any in the range, by status. The providers are bounded: a stored name
 *	that no rule gives now (a site rule removed since) counts under "other", so the list is
 *	at most the names of provider_names().
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

/* The provider timeseries being filled: every bucket x every name of provider_names(). */
struct series {
    const char *const *names;
    size_t nnames, nb;
    int64_t first_us, width_us;
    struct db_provider_point *rows; /* as read, the name replaced by its index in names */
    size_t *idx;
    size_t n, cap, idxcap;
    int64_t total[PROVIDER_MAX_NAMES + 1];
};

/* series_name - the index of a stored provider in names; "other" for one no rule gives */
static size_t series_name(const struct series *f, const char *provider)
{
    size_t i, other = f->nnames;

    for (i = 0; i < f->nnames; i++) {
        if (strcmp(f->names[i], provider) == 0)
            return i;
        if (strcmp(f->names[i], PROVIDER_OTHER) == 0)
            other = i;
    }
    return other;
}

/* series_row - db_provider_series() callback: keep the row, add it to its name's total */
static int series_row(void *arg, const struct db_provider_point *p)
{
    struct series *f = arg;
    size_t k = series_name(f, p->provider);

    if (k == f->nnames || p->bucket_us < f->first_us ||
        (size_t)((p->bucket_us - f->first_us) / f->width_us) >= f->nb)
        return 0;
    f->rows = xgrow(f->rows, &f->cap, f->n, sizeof(*f->rows), 64);
    f->idx = xgrow(f->idx, &f->idxcap, f->n, sizeof(*f->idx), 64);
    f->rows[f->n] = *p;
    f->idx[f->n++] = k;
    f->total[k] += p->sent + p->deferred + p->bounced + p->expired;
    return 0;
}

/* series_order - the names with attempts, most first, then by name; their count */
static size_t series_order(const struct series *f, size_t *order)
{
    size_t n = 0, i, j;

    for (i = 0; i < f->nnames; i++)
        if (f->total[i] > 0)
            order[n++] = i;
    for (i = 1; i < n; i++) /* insertion sort: at most PROVIDER_MAX_NAMES + 1 */
        for (j = i; j > 0; j--) {
            size_t a = order[j - 1], b = order[j];

            if (f->total[a] > f->total[b] ||
                (f->total[a] == f->total[b] && strcmp(f->names[a], f->names[b]) <= 0))
                break;
            order[j - 1] = b;
            order[j] = a;
        }
    return n;
}

/* web_api_provider_series - GET /api/v1/timeseries?by=provider&from=&to=&host=&bucket= */
enum MHD_Result web_api_provider_series(struct web_req *r)
{
    static const char *const statuses[4] = {"sent", "deferred", "bounced", "expired"};
    size_t order[PROVIDER_MAX_NAMES + 1], nused, slot[PROVIDER_MAX_NAMES + 1], i, k;
    struct series f;
    int64_t *counts;
    enum MHD_Result ret;
    cJSON *body, *arr;

    memset(&f, 0, sizeof(f));
    f.nnames = provider_names(&f.names);
    if (f.nnames > PROVIDER_MAX_NAMES + 1)
        f.nnames = PROVIDER_MAX_NAMES + 1;
    f.width_us = web_bucket_us(r->bucket);
    f.first_us = r->q.range.from_us / f.width_us * f.width_us;
    if (r->q.range.from_us < 0 && r->q.range.from_us % f.width_us != 0)
        f.first_us -= f.width_us;
    f.nb = (size_t)((r->q.range.to_us - 1 - f.first_us) / f.width_us + 1);
    if (db_provider_series(r->db, &r->q.range, r->bucket, series_row, &f) != 0) {
        x_free(f.rows);
        x_free(f.idx);
        web_db_failed(r->w);
        return web_reply_error(r->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
    }
    nused = series_order(&f, order);
    for (i = 0; i < nused; i++)
        slot[order[i]] = i;
    /* Only the names that have attempts get columns: buckets x used names x 4 statuses. */
    counts = xcalloc(f.nb * (nused > 0 ? nused : 1) * 4, sizeof(*counts));
    for (i = 0; i < f.n; i++) {
        const struct db_provider_point *p = &f.rows[i];
        int64_t *c =
            counts +
            (((size_t)((p->bucket_us - f.first_us) / f.width_us)) * nused + slot[f.idx[i]]) * 4;

        c[0] += p->sent;
        c[1] += p->deferred;
        c[2] += p->bounced;
        c[3] += p->expired;
    }
    body = cJSON_CreateObject();
    web_add_time(body, "from", r->q.range.from_us, 0);
    web_add_time(body, "to", r->q.range.to_us, 0);
    web_add_str_or_null(body, "host", r->q.range.host);
    cJSON_AddStringToObject(body, "bucket", web_bucket_name(r->bucket));
    cJSON_AddStringToObject(body, "by", "provider");
    arr = cJSON_AddArrayToObject(body, "providers");
    for (i = 0; i < nused; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(f.names[order[i]]));
    arr = cJSON_AddArrayToObject(body, "points");
    for (size_t b = 0; b < f.nb; b++) {
        cJSON *o = cJSON_CreateObject(), *ps;

        web_add_time(o, "time", f.first_us + (int64_t)b * f.width_us, 0);
        ps = cJSON_AddObjectToObject(o, "providers");
        for (i = 0; i < nused; i++) {
            cJSON *one = cJSON_AddObjectToObject(ps, f.names[order[i]]);

            for (k = 0; k < 4; k++)
                cJSON_AddNumberToObject(one, statuses[k], (double)counts[(b * nused + i) * 4 + k]);
        }
        cJSON_AddItemToArray(arr, o);
    }
    x_free(counts);
    x_free(f.rows);
    x_free(f.idx);
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
