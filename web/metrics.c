/*
 * metrics - GET /metrics: Prometheus text exposition format (version 0.0.4)
 *
 * Stored outcomes come from db_metric_counts() (all-time counts, which is what a Prometheus
 * counter is); the daemon's own figures from the ingest callback; the server's own from
 * struct web. Label values are bounded sets: status (four values), reason (the fixed list
 * of names; anything else becomes "other"), DSN class (2, 4, 5 or ""), and host, the MTA
 * host label, of which at most WEB_METRIC_HOSTS distinct values are shown (the rest are
 * summed under host="other") so that a flood of odd host names cannot blow up a scrape.
 * No domain or address is ever a label.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "db/db.h"
#include "parser/event.h"
#include "parser/provider.h"
#include "util/util.h"
#include "web/web_int.h"

#define WEB_METRIC_HOSTS 64
#define WEB_METRIC_ROWS  4096

struct web_metric_acc {
    struct web_rows rows;
    char hosts[WEB_METRIC_HOSTS][EV_HOST_LEN];
    size_t nhosts;
};

/* web_label - append a label value, escaped as the format wants (\\, \", \n) */
static void web_label(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(b, '\\');
        if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *s);
    }
}

/* web_metric_row - db_metric_counts() callback: bound the labels, merge equal rows */
static int web_metric_row(void *arg, const struct db_metric_row *in)
{
    struct web_metric_acc *acc = arg;
    struct db_metric_row r = *in;
    enum event_reason reason;
    size_t i;

    if (r.reason[0] && event_reason_parse(r.reason, strlen(r.reason), &reason) != 0)
        str_copy(r.reason, sizeof(r.reason), "other", 5);
    if (strcmp(r.dsn_class, "2") != 0 && strcmp(r.dsn_class, "4") != 0 &&
        strcmp(r.dsn_class, "5") != 0)
        r.dsn_class[0] = 0;
    for (i = 0; i < acc->nhosts; i++)
        if (strcmp(acc->hosts[i], r.host) == 0)
            break;
    if (i == acc->nhosts) {
        if (acc->nhosts < WEB_METRIC_HOSTS)
            memcpy(acc->hosts[acc->nhosts++], r.host, sizeof(r.host));
        else
            str_copy(r.host, sizeof(r.host), "other", 5);
    }
    for (i = 0; i < acc->rows.n; i++) {
        struct db_metric_row *m = (void *)(acc->rows.data + i * acc->rows.size);

        if (m->type == r.type && m->status == r.status && strcmp(m->host, r.host) == 0 &&
            strcmp(m->reason, r.reason) == 0 && strcmp(m->dsn_class, r.dsn_class) == 0) {
            m->count += r.count;
            return 0;
        }
    }
    if (acc->rows.n >= WEB_METRIC_ROWS)
        return -1;
    acc->rows.data = xgrow(acc->rows.data, &acc->rows.cap, acc->rows.n, acc->rows.size, 64);
    memcpy(acc->rows.data + acc->rows.n * acc->rows.size, &r, sizeof(r));
    acc->rows.n++;
    return 0;
}

/* web_metric_head - # HELP and # TYPE lines */
static void web_metric_head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const syslog_drop_names[WEB_SYSLOG_DROPS] = {
    "oversized", "bad_count", "malformed", "refused", "evicted", "timed_out",
};

/* web_syslog_metrics - each syslog listener's messages, connections and drops by kind */
static void web_syslog_metrics(struct buf *b, const struct web_ingest_status *st)
{
    size_t i, k;

    if (st->nsyslog == 0)
        return;
    web_metric_head(b, "mailpulse_syslog_messages_total", "counter",
                    "Messages a syslog listener received and handed to the parser.");
    for (i = 0; i < st->nsyslog; i++) {
        buf_puts(b, "mailpulse_syslog_messages_total{listener=\"");
        web_label(b, st->syslog[i].name);
        buf_printf(b, "\"} %llu\n", (unsigned long long)st->syslog[i].messages);
    }
    web_metric_head(b, "mailpulse_syslog_connections_total", "counter",
                    "TCP connections a syslog listener accepted.");
    for (i = 0; i < st->nsyslog; i++) {
        buf_puts(b, "mailpulse_syslog_connections_total{listener=\"");
        web_label(b, st->syslog[i].name);
        buf_printf(b, "\"} %llu\n", (unsigned long long)st->syslog[i].connections);
    }
    web_metric_head(b, "mailpulse_syslog_connections_open", "gauge",
                    "TCP connections open on a syslog listener.");
    for (i = 0; i < st->nsyslog; i++) {
        buf_puts(b, "mailpulse_syslog_connections_open{listener=\"");
        web_label(b, st->syslog[i].name);
        buf_printf(b, "\"} %llu\n", (unsigned long long)st->syslog[i].open);
    }
    web_metric_head(b, "mailpulse_syslog_dropped_total", "counter",
                    "Syslog input dropped, by listener and kind: oversized frames, octet counts "
                    "the bytes did not match, malformed messages, refused, evicted and "
                    "timed-out connections.");
    for (i = 0; i < st->nsyslog; i++)
        for (k = 0; k < WEB_SYSLOG_DROPS; k++) {
            buf_puts(b, "mailpulse_syslog_dropped_total{listener=\"");
            web_label(b, st->syslog[i].name);
            buf_printf(b, "\",kind=\"%s\"} %llu\n", syslog_drop_names[k],
                       (unsigned long long)st->syslog[i].drops[k]);
        }
}

/* web_syslog_json - the syslog listeners' figures as ingest.syslog of /healthz */
void web_syslog_json(cJSON *ingest, const struct web_ingest_status *st)
{
    cJSON *arr, *o, *d;

    if (st->nsyslog == 0)
        return;
    arr = cJSON_AddArrayToObject(ingest, "syslog");
    for (size_t i = 0; i < st->nsyslog; i++) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "listener", st->syslog[i].name);
        cJSON_AddNumberToObject(o, "messages", (double)st->syslog[i].messages);
        cJSON_AddNumberToObject(o, "connections", (double)st->syslog[i].connections);
        cJSON_AddNumberToObject(o, "open_connections", (double)st->syslog[i].open);
        d = cJSON_AddObjectToObject(o, "dropped");
        for (size_t k = 0; k < WEB_SYSLOG_DROPS; k++)
            cJSON_AddNumberToObject(d, syslog_drop_names[k], (double)st->syslog[i].drops[k]);
        cJSON_AddItemToArray(arr, o);
    }
}

/* The all-time attempts per provider name of provider_names(), by status. */
struct web_provider_acc {
    const char *const *names;
    size_t n;
    int64_t count[PROVIDER_MAX_NAMES + 1][4];
};

/* web_provider_row - db_providers() callback: a name no rule gives now counts as "other" */
static int web_provider_row(void *arg, const struct db_provider_row *p)
{
    struct web_provider_acc *acc = arg;
    size_t i;

    for (i = 0; i < acc->n && strcmp(acc->names[i], p->provider) != 0; i++)
        ;
    if (i == acc->n)
        for (i = 0; i < acc->n && strcmp(acc->names[i], PROVIDER_OTHER) != 0; i++)
            ;
    if (i == acc->n)
        return 0;
    acc->count[i][0] += p->sent;
    acc->count[i][1] += p->deferred;
    acc->count[i][2] += p->bounced;
    acc->count[i][3] += p->expired;
    return 0;
}

/* web_provider_metrics - mailpulse_provider_deliveries_total{provider,status}; -1 on failure */
static int web_provider_metrics(struct buf *b, struct db *db)
{
    static const char *const statuses[4] = {"sent", "deferred", "bounced", "expired"};
    struct db_range all = {.from_us = 0, .to_us = INT64_MAX};
    struct web_provider_acc *acc = xcalloc(1, sizeof(*acc));
    size_t i;
    int k;

    acc->n = provider_names(&acc->names);
    if (acc->n > PROVIDER_MAX_NAMES + 1)
        acc->n = PROVIDER_MAX_NAMES + 1;
    if (db_providers(db, &all, 10000, web_provider_row, acc) != 0) {
        x_free(acc);
        return -1;
    }
    web_metric_head(b, "mailpulse_provider_deliveries_total", "counter",
                    "Delivery attempts stored, by mailbox provider and status.");
    for (i = 0; i < acc->n; i++)
        for (k = 0; k < 4; k++)
            if (acc->count[i][k] > 0) {
                buf_puts(b, "mailpulse_provider_deliveries_total{provider=\"");
                web_label(b, acc->names[i]);
                buf_printf(b, "\",status=\"%s\"} %lld\n", statuses[k], (long long)acc->count[i][k]);
            }
    x_free(acc);
    return 0;
}

/* complaint_metric - one mailpulse_complaints_total line */
static int complaint_metric(void *arg, const char *feedback_type, const char *host, int64_t n)
{
    struct buf *b = arg;

    buf_puts(b, "mailpulse_complaints_total{feedback_type=\"");
    web_label(b, feedback_type);
    buf_puts(b, "\",host=\"");
    web_label(b, host);
    buf_printf(b, "\"} %lld\n", (long long)n);
    return 0;
}

/* web_report_metrics - what arrived by mail: complaints by type and host; -1 on failure */
static int web_report_metrics(struct buf *b, struct db *db)
{
    web_metric_head(b, "mailpulse_complaints_total", "counter",
                    "Complaint (ARF) reports stored, by feedback type and sending host.");
    return db_complaint_metrics(db, complaint_metric, b);
}

/* web_metrics - GET /metrics */
enum MHD_Result web_metrics(struct web_req *r)
{
    struct web_metric_acc *acc;
    struct web_ingest_status st;
    struct db *db;
    struct buf b;
    size_t i;
    int up, kind;
    enum MHD_Result ret;

    acc = xcalloc(1, sizeof(*acc));
    web_rows_init(&acc->rows, sizeof(struct db_metric_row));
    db = web_db(r->w);
    up = db != NULL && db_metric_counts(db, web_metric_row, acc) == 0;
    if (!up)
        web_db_failed(r->w);
    buf_init(&b);
    if (up)
        web_alert_metrics(&b, db);

    web_metric_head(&b, "mailpulse_up", "gauge",
                    "1 when the web server could read the database for this scrape.");
    buf_printf(&b, "mailpulse_up %d\n", up);
    for (kind = 0; up && kind < 2; kind++) {
        enum event_type type = kind == 0 ? EV_DELIVERY : EV_REJECT;

        if (kind == 0)
            web_metric_head(&b, "mailpulse_delivery_attempts_total", "counter",
                            "Delivery attempts stored, by host, status, reason and DSN class.");
        else
            web_metric_head(&b, "mailpulse_rejects_total", "counter",
                            "SMTP-time rejects stored, by host, reason and DSN class.");
        for (i = 0; i < acc->rows.n; i++) {
            const struct db_metric_row *m = (const void *)(acc->rows.data + i * acc->rows.size);

            if (m->type != type)
                continue;
            buf_puts(&b, kind == 0 ? "mailpulse_delivery_attempts_total{host=\""
                                   : "mailpulse_rejects_total{host=\"");
            web_label(&b, m->host);
            if (kind == 0)
                buf_printf(&b, "\",status=\"%s",
                           m->status != ST_NONE ? event_status_name(m->status) : "");
            buf_puts(&b, "\",reason=\"");
            web_label(&b, m->reason);
            buf_printf(&b, "\",dsn_class=\"%s\"} %lld\n", m->dsn_class, (long long)m->count);
        }
    }
    web_rows_free(&acc->rows);
    x_free(acc);
    if (up && web_provider_metrics(&b, db) < 0)
        web_db_failed(r->w);
    if (up && web_report_metrics(&b, db) < 0)
        web_db_failed(r->w);

    if (r->w->ingest != NULL) {
        web_ingest_read(r->w, up, &st);
        web_metric_head(&b, "mailpulse_ingest_lines_total", "counter", "Log lines read.");
        buf_printf(&b, "mailpulse_ingest_lines_total %llu\n", (unsigned long long)st.lines);
        web_metric_head(&b, "mailpulse_ingest_events_total", "counter",
                        "Events the parser made from the lines.");
        buf_printf(&b, "mailpulse_ingest_events_total %llu\n", (unsigned long long)st.events);
        web_metric_head(&b, "mailpulse_ingest_parse_failures_total", "counter",
                        "Lines a parser claimed but could not read.");
        buf_printf(&b, "mailpulse_ingest_parse_failures_total %llu\n",
                   (unsigned long long)st.malformed);
        web_metric_head(&b, "mailpulse_ingest_read_bytes_total", "counter",
                        "Bytes read from the logs since the start.");
        buf_printf(&b, "mailpulse_ingest_read_bytes_total %llu\n",
                   (unsigned long long)st.read_bytes);
        web_metric_head(&b, "mailpulse_ingest_resumed_total", "counter",
                        "Files that went on from a stored parser state at the start.");
        buf_printf(&b, "mailpulse_ingest_resumed_total %llu\n", (unsigned long long)st.resumed);
        web_metric_head(&b, "mailpulse_ingest_db_up", "gauge",
                        "1 when the ingest connection's last commit worked.");
        buf_printf(&b, "mailpulse_ingest_db_up %d\n", st.db_up != 0);
        if (st.lag_bytes >= 0) {
            web_metric_head(&b, "mailpulse_ingest_lag_bytes", "gauge",
                            "Bytes written to the log and not yet committed.");
            buf_printf(&b, "mailpulse_ingest_lag_bytes %lld\n", (long long)st.lag_bytes);
        }
        if (st.last_commit_us > 0) {
            web_metric_head(&b, "mailpulse_ingest_last_commit_timestamp_seconds", "gauge",
                            "When the last batch was committed.");
            buf_printf(&b, "mailpulse_ingest_last_commit_timestamp_seconds %.3f\n",
                       (double)st.last_commit_us / 1e6);
        }
        if (st.pcap_drops >= 0) {
            web_metric_head(&b, "mailpulse_pcap_dropped_packets_total", "counter",
                            "Packets the capture dropped.");
            buf_printf(&b, "mailpulse_pcap_dropped_packets_total %lld\n", (long long)st.pcap_drops);
        }
        web_syslog_metrics(&b, &st);
        web_metric_head(&b, "mailpulse_bounce_messages_total", "counter",
                        "Messages the Maildir sources read: all, not a bounce, unreadable.");
        buf_printf(&b,
                   "mailpulse_bounce_messages_total{outcome=\"read\"} %llu\n"
                   "mailpulse_bounce_messages_total{outcome=\"not_bounce\"} %llu\n"
                   "mailpulse_bounce_messages_total{outcome=\"malformed\"} %llu\n",
                   (unsigned long long)st.bounce_messages, (unsigned long long)st.bounce_not_bounce,
                   (unsigned long long)st.bounce_malformed);
        web_metric_head(&b, "mailpulse_bounce_records_total", "counter",
                        "DSN and complaint records from the Maildir sources: stored, already "
                        "stored (a message read again).");
        buf_printf(&b,
                   "mailpulse_bounce_records_total{outcome=\"stored\"} %llu\n"
                   "mailpulse_bounce_records_total{outcome=\"duplicate\"} %llu\n",
                   (unsigned long long)st.bounce_records, (unsigned long long)st.bounce_duplicates);
        if (st.alerts_on) {
            web_metric_head(&b, "mailpulse_alert_evaluations_total", "counter",
                            "Rounds of the alert rules.");
            buf_printf(&b, "mailpulse_alert_evaluations_total %llu\n",
                       (unsigned long long)st.alert_evaluations);
            web_metric_head(&b, "mailpulse_alert_evaluation_failures_total", "counter",
                            "Rounds of the alert rules that the database cut short.");
            buf_printf(&b, "mailpulse_alert_evaluation_failures_total %llu\n",
                       (unsigned long long)st.alert_eval_failures);
            web_metric_head(&b, "mailpulse_alert_webhook_total", "counter",
                            "Alert notifications: delivered, given up after retries, "
                            "dropped for a full queue.");
            buf_printf(&b, "mailpulse_alert_webhook_total{outcome=\"sent\"} %llu\n",
                       (unsigned long long)st.alert_hook_sent);
            buf_printf(&b, "mailpulse_alert_webhook_total{outcome=\"failed\"} %llu\n",
                       (unsigned long long)st.alert_hook_failed);
            buf_printf(&b, "mailpulse_alert_webhook_total{outcome=\"dropped\"} %llu\n",
                       (unsigned long long)st.alert_hook_dropped);
        }
    }
    web_metric_head(&b, "mailpulse_http_requests_total", "counter",
                    "Requests answered by a route of this server.");
    buf_printf(&b, "mailpulse_http_requests_total %llu\n",
               (unsigned long long)atomic_load(&r->w->requests));
    web_metric_head(&b, "mailpulse_http_cache_hits_total", "counter",
                    "Report requests answered from the short-lived reply cache.");
    buf_printf(&b, "mailpulse_http_cache_hits_total %llu\n",
               (unsigned long long)atomic_load(&r->w->cache_hits));
    web_metric_head(&b, "mailpulse_http_unauthorized_total", "counter",
                    "Requests refused for a missing or wrong access token.");
    buf_printf(&b, "mailpulse_http_unauthorized_total %llu\n",
               (unsigned long long)atomic_load(&r->w->unauthorized));
    web_metric_head(&b, "mailpulse_http_head_timeouts_total", "counter",
                    "Connections closed because their request head took too long.");
    buf_printf(&b, "mailpulse_http_head_timeouts_total %llu\n",
               (unsigned long long)atomic_load(&r->w->head_timeouts));
    web_metric_head(&b, "mailpulse_http_exports_running", "gauge", "Export streams running.");
    buf_printf(&b, "mailpulse_http_exports_running %d\n", atomic_load(&r->w->exports));

    ret = web_reply_buf(r->conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data,
                        b.len);
    buf_free(&b);
    return ret;
}
