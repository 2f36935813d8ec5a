/*
 * bounces - storing DSN recipients and complaint reports, exactly once, linked to deliveries
 *
 * A db_reports batch holds copies of bounce records (bounce/bounce.h) with the source they
 * came from and a fallback time. The commit is one transaction: one statement per record,
 *
 *	WITH s AS (the record's values),
 *	     m AS (the delivery of that Message-ID to that recipient, bounced or sent, if any),
 *	     ins AS (INSERT INTO dsn_reports | complaints ... ON CONFLICT DO NOTHING RETURNING ...),
 *	     rollups_dsn_hour | rollups_complaint_hour += the inserted row,
 *	     suppressions: a failed hard DSN not already in the log, or a complaint
 *	SELECT count(*) FROM ins
 *
 * so a record already stored (the same message read again: same msg_key, seq and time) adds
 * nothing anywhere. The record's time is the report's Date header, else its last attempt or
 * arrival date, else the caller's fallback (the file's modification time).
 *
 * A DSN's "link" says what the log showed for the same message and recipient when it was
 * stored (see sql/007): logged, async, unseen, or delayed when its action is not "failed".
 * mailpulse_rebuild_rollups() links every DSN again, for logs read after their bounces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bounce/bounce.h"
#include "db/db_int.h"
#include "util/util.h"

struct report {
    int64_t source_id;
    int64_t time_us;
    struct bounce_rec rec;
};

struct db_reports {
    struct db *db;
    struct report *v;
    size_t n, cap;
};

/* The record's values, shared by both statements: $1 time in microseconds since the epoch. */
#define US_TIME(p)    "'epoch'::timestamptz + " p "::bigint * interval '1 microsecond'"
#define US_OR_NULL(p) "CASE WHEN " p " = '0' THEN NULL ELSE " US_TIME(p) " END"

/*
 * The delivery a report is about was attempted before the report was written, and not long
 * before: reports come within days (a message stays queued five days by default). The window
 * lets PostgreSQL read only the partitions of those months.
 */
#define DELIVERY_WINDOW "s.time - interval '45 days', s.time + interval '1 day'"

/* The delivery a DSN is about (sql/007's mailpulse_dsn_delivery()). */
#define DSN_MATCH                                                                                  \
    " m AS (SELECT d.* FROM s,"                                                                    \
    " mailpulse_dsn_delivery(s.message_id, s.raw, s.recipient, s.orig_recipient, s.time) d),"

/* No later delivery to the recipient from the same sender domain was sent (within a year). */
#define NOT_SENT_LATER                                                                             \
    " NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.recipient IN (ins.raw, ins.recipient)"        \
    " AND d.status = 'sent' AND coalesce(d.sender_domain, '') = ins.sender_domain"                 \
    " AND d.time > ins.time AND d.time < ins.time + interval '400 days')"

static const char sql_dsn[] = "WITH s AS (SELECT " US_TIME(
    "$1") " AS time, $2::text AS family, $3::text AS raw,"
          " lower($3) AS recipient, nullif($4, '') AS orig_recipient,"
          " $5::text AS action, nullif($6, '') AS dsn, nullif($7, '')::integer AS smtp_code,"
          " nullif($8, '') AS diagnostic, $9::text AS reason, $10::boolean AS hard,"
          " nullif($11, '') AS remote_mta, nullif($12, '') AS reporting_mta,"
          " " US_OR_NULL("$13") " AS arrival, " US_OR_NULL(
              "$14") " AS last_attempt,"
                     " nullif($15, '') AS message_id, nullif($16, '') AS sender, nullif($17, '') "
                     "AS subject,"
                     " $18::bigint AS source_id, $19::bigint AS msg_key, $20::integer AS "
                     "seq)," DSN_MATCH
                     " ins AS (INSERT INTO dsn_reports (time, family, recipient, orig_recipient,"
                     " recipient_domain, action, dsn, smtp_code, diagnostic, reason, hard, "
                     "remote_mta,"
                     " reporting_mta, arrival, last_attempt, message_id, sender, sender_domain, "
                     "subject, link,"
                     " host, queue_id, source_id, msg_key, seq)"
                     " SELECT s.time, s.family, s.recipient, s.orig_recipient,"
                     " coalesce(nullif(split_part(s.recipient, '@', 2), ''), ''), s.action, s.dsn, "
                     "s.smtp_code,"
                     " s.diagnostic, s.reason, s.hard, s.remote_mta, s.reporting_mta, s.arrival, "
                     "s.last_attempt,"
                     " s.message_id, s.sender,"
                     " coalesce(nullif(split_part(lower(s.sender), '@', 2), ''), m.sender_domain, "
                     "''),"
                     " s.subject,"
                     " CASE WHEN s.action <> 'failed' THEN 'delayed'"
                     " WHEN m.status IN ('bounced', 'expired') THEN 'logged'"
                     " WHEN m.status IS NOT NULL THEN 'async' ELSE 'unseen' END,"
                     " coalesce(m.host, ''), m.queue_id, s.source_id, s.msg_key, s.seq"
                     " FROM s LEFT JOIN m ON true"
                     " ON CONFLICT (msg_key, seq, time) DO NOTHING"
                     " RETURNING time, host, sender_domain, recipient_domain, recipient, link, "
                     "hard, action,"
                     " reason, dsn, diagnostic, $3::text AS raw),"
                     " up AS (INSERT INTO rollups_dsn_hour (hour, host, sender_domain, "
                     "recipient_domain, link, n,"
                     " hard)"
                     " SELECT date_trunc('hour', time, 'UTC'), host, sender_domain, "
                     "recipient_domain, link, 1,"
                     " CASE WHEN hard AND action = 'failed' THEN 1 ELSE 0 END FROM ins"
                     " ON CONFLICT (hour, host, sender_domain, recipient_domain, link) DO UPDATE"
                     " SET n = rollups_dsn_hour.n + 1, hard = rollups_dsn_hour.hard + "
                     "EXCLUDED.hard),"
                     " sup AS (INSERT INTO suppressions (recipient, sender_domain, last_time, "
                     "origin, reason, dsn,"
                     " reply)"
                     " SELECT recipient, sender_domain, time, 'dsn', reason, dsn, diagnostic FROM "
                     "ins"
                     " WHERE action = 'failed' AND hard AND link <> 'logged' AND" NOT_SENT_LATER
                         DB_SUPPRESSION_UPSERT ")"
                     " SELECT count(*) FROM ins";

static const char sql_complaint[] = "WITH s AS (SELECT " US_TIME(
    "$1") " AS time,"
          " CASE WHEN lower($2) IN ('abuse', 'fraud', 'virus', 'auth-failure', 'not-spam', "
          "'opt-out')"
          " THEN lower($2) END AS feedback_type,"
          " $3::text AS raw, nullif(lower($3), '') AS recipient, nullif($4, '') AS sender,"
          " nullif($5, '') AS source_ip, nullif($6, '') AS reporting_mta, nullif($7, '') AS "
          "user_agent,"
          " " US_OR_NULL(
              "$8") " AS arrival, nullif($9, '') AS message_id, nullif($10, '') AS subject,"
                    " $11::bigint AS source_id, $12::bigint AS msg_key, $13::integer AS seq),"
                    " m AS (SELECT d.host, d.queue_id, d.sender_domain FROM s,"
                    " LATERAL (SELECT host, queue_id, sender_domain"
                    " FROM mailpulse_message_deliveries(s.message_id, " DELIVERY_WINDOW ")"
                    " WHERE status = 'sent'"
                    " ORDER BY recipient IN (s.raw, s.recipient) DESC, time DESC LIMIT 1) d),"
                    " ins AS (INSERT INTO complaints (time, feedback_type, recipient, "
                    "recipient_domain, sender,"
                    " sender_domain, source_ip, reporting_mta, user_agent, arrival, message_id, "
                    "subject, host,"
                    " queue_id, source_id, msg_key, seq)"
                    " SELECT s.time, coalesce(s.feedback_type, 'other'), s.recipient,"
                    " coalesce(nullif(split_part(s.recipient, '@', 2), ''), ''), s.sender,"
                    " coalesce(nullif(split_part(lower(s.sender), '@', 2), ''), m.sender_domain, "
                    "''),"
                    " s.source_ip, s.reporting_mta, s.user_agent, s.arrival, s.message_id, "
                    "s.subject,"
                    " coalesce(m.host, ''), m.queue_id, s.source_id, s.msg_key, s.seq"
                    " FROM s LEFT JOIN m ON true"
                    " ON CONFLICT (msg_key, seq, time) DO NOTHING"
                    " RETURNING time, host, sender_domain, recipient, feedback_type, $3::text AS "
                    "raw),"
                    " up AS (INSERT INTO rollups_complaint_hour (hour, sender_domain, "
                    "feedback_type, host, n)"
                    " SELECT date_trunc('hour', time, 'UTC'), sender_domain, feedback_type, host, "
                    "1 FROM ins"
                    " ON CONFLICT (sender_domain, feedback_type, host, hour) DO UPDATE"
                    " SET n = rollups_complaint_hour.n + 1),"
                    " sup AS (INSERT INTO suppressions (recipient, sender_domain, last_time, "
                    "origin, reason)"
                    " SELECT recipient, sender_domain, time, 'complaint', feedback_type FROM ins"
                    " WHERE recipient IS NOT NULL AND feedback_type <> 'not-spam' "
                    "AND" NOT_SENT_LATER DB_SUPPRESSION_UPSERT ")"
                    " SELECT count(*) FROM ins";

/* db_reports_create - an empty batch of bounce records */
struct db_reports *db_reports_create(struct db *db)
{
    struct db_reports *b = xcalloc(1, sizeof(*b));

    b->db = db;
    return b;
}

/* db_reports_free - release a batch and the records it still holds */
void db_reports_free(struct db_reports *b)
{
    if (b == NULL)
        return;
    x_free(b->v);
    x_free(b);
}

/* db_reports_count - the records waiting for a commit */
size_t db_reports_count(const struct db_reports *b)
{
    return b->n;
}

/* record_time - the report's own date, else the dates it states, else the fallback */
static int64_t record_time(const struct bounce_rec *rec, int64_t fallback_us)
{
    if (rec->date_us > 0)
        return rec->date_us;
    if (rec->last_attempt_us > 0)
        return rec->last_attempt_us;
    if (rec->arrival_us > 0)
        return rec->arrival_us;
    return fallback_us;
}

/* bracketed - the Message-ID in angle brackets, as the log readers store it */
static void bracketed(char *s, size_t size)
{
    size_t len = strlen(s);

    if (len == 0 || (s[0] == '<' && s[len - 1] == '>') || len + 3 > size)
        return;
    memmove(s + 1, s, len);
    s[0] = '<';
    s[len + 1] = '>';
    s[len + 2] = 0;
}

/* db_reports_add - copy one record into the batch; its strings are repaired in the copy */
void db_reports_add(struct db_reports *b, int64_t source_id, const struct bounce_rec *rec,
                    int64_t fallback_us)
{
    struct report *r;

    b->v = xgrow(b->v, &b->cap, b->n, sizeof(*b->v), 64);
    r = &b->v[b->n++];
    r->source_id = source_id;
    r->rec = *rec;
    r->time_us = record_time(rec, fallback_us);
    bracketed(r->rec.message_id, sizeof(r->rec.message_id));
    utf8_scrub(r->rec.recipient);
    utf8_scrub(r->rec.orig_recipient);
    utf8_scrub(r->rec.action);
    utf8_scrub(r->rec.status);
    utf8_scrub(r->rec.remote_mta);
    utf8_scrub(r->rec.diagnostic);
    utf8_scrub(r->rec.reporting_mta);
    utf8_scrub(r->rec.message_id);
    utf8_scrub(r->rec.sender);
    utf8_scrub(r->rec.subject);
    utf8_scrub(r->rec.feedback_type);
    utf8_scrub(r->rec.source_ip);
    utf8_scrub(r->rec.user_agent);
}

/* store_one - one record's statement; 1 inserted, 0 already there, -1 error */
static int store_one(struct db *db, const struct report *r)
{
    const struct bounce_rec *rec = &r->rec;
    char t[24], arr[24], last[24], code[16], src[24], key[24], seq[16];
    const char *v[20];
    PGresult *res;
    int n;

    snprintf(t, sizeof(t), "%lld", (long long)r->time_us);
    snprintf(arr, sizeof(arr), "%lld", (long long)rec->arrival_us);
    snprintf(last, sizeof(last), "%lld", (long long)rec->last_attempt_us);
    snprintf(src, sizeof(src), "%lld", (long long)r->source_id);
    snprintf(key, sizeof(key), "%lld", (long long)rec->msg_key); /* below 2^63 */
    snprintf(seq, sizeof(seq), "%d", rec->seq);
    if (rec->kind == BK_COMPLAINT) {
        const char *cv[13] = {t,
                              rec->feedback_type,
                              rec->orig_recipient[0] ? rec->orig_recipient : rec->recipient,
                              rec->sender,
                              rec->source_ip,
                              rec->reporting_mta,
                              rec->user_agent,
                              arr,
                              rec->message_id,
                              rec->subject,
                              src,
                              key,
                              seq};

        res = PQexecPrepared(db->conn, "mailpulse_complaint", 13, cv, NULL, NULL, 0);
    } else {
        if (rec->smtp_code > 0)
            snprintf(code, sizeof(code), "%d", rec->smtp_code);
        else
            code[0] = 0;
        v[0] = t;
        v[1] = rec->family ? rec->family : "";
        v[2] = rec->recipient;
        v[3] = rec->orig_recipient;
        v[4] = rec->action[0] ? rec->action : "failed";
        v[5] = rec->status;
        v[6] = code;
        v[7] = rec->diagnostic;
        v[8] = rec->reason ? rec->reason : "";
        v[9] = rec->hard ? "true" : "false";
        v[10] = rec->remote_mta;
        v[11] = rec->reporting_mta;
        v[12] = arr;
        v[13] = last;
        v[14] = rec->message_id;
        v[15] = rec->sender;
        v[16] = rec->subject;
        v[17] = src;
        v[18] = key;
        v[19] = seq;
        res = PQexecPrepared(db->conn, "mailpulse_dsn", 20, v, NULL, NULL, 0);
    }
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_warn_res(db, res, rec->kind == BK_COMPLAINT ? "storing a complaint" : "storing a DSN");
        PQclear(res);
        return -1;
    }
    n = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n > 0;
}

/*
 * prepare - the two statements, once per connection: planned once, with the partitions of
 * the delivery window chosen when each runs
 */
static int prepare(struct db *db)
{
    static const struct {
        const char *name, *sql;
        int n;
    } st[] = {{"mailpulse_dsn", sql_dsn, 20}, {"mailpulse_complaint", sql_complaint, 13}};

    if (db->reports_ready)
        return 0;
    for (size_t i = 0; i < ARRAY_LEN(st); i++) {
        PGresult *res = PQprepare(db->conn, st[i].name, st[i].sql, st[i].n, NULL);

        if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
            db_warn_res(db, res, "preparing the report statements");
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    db->reports_ready = true;
    return 0;
}

/* db_reports_commit - store the batch in one transaction; on failure keep it and return -1 */
int db_reports_commit(struct db_reports *b, struct db_reports_result *res)
{
    struct db_reports_result tmp;
    struct db_months ms = {.n = 0};
    struct buf scratch;
    PGresult *r;
    size_t i;

    if (res == NULL)
        res = &tmp;
    memset(res, 0, sizeof(*res));
    if (b->n == 0)
        return 0;
    if (db_reconnect(b->db) < 0)
        goto failed;
    if (prepare(b->db) < 0)
        goto failed;
    r = db_exec(b->db, "BEGIN", PGRES_COMMAND_OK, "BEGIN");
    if (r == NULL)
        goto failed;
    PQclear(r);
    buf_init(&scratch);
    for (i = 0; i < b->n; i++)
        if (b->v[i].time_us > 0 &&
            db_months_add(b->db, &scratch, &ms, db_month_of(b->v[i].time_us)) < 0)
            break;
    if (i < b->n || db_months_flush(b->db, &scratch, &ms) < 0) {
        buf_free(&scratch);
        goto failed;
    }
    buf_free(&scratch);
    for (i = 0; i < b->n; i++) {
        int n;

        n = store_one(b->db, &b->v[i]);
        if (n < 0)
            goto failed;
        if (n == 0)
            res->duplicates++;
        else if (b->v[i].rec.kind == BK_COMPLAINT)
            res->complaints++;
        else
            res->dsn++;
    }
    r = db_exec(b->db, "COMMIT", PGRES_COMMAND_OK, "COMMIT");
    if (r == NULL)
        goto failed;
    PQclear(r);
    b->n = 0;
    return 0;

failed:
    db_rollback(b->db);
    memset(res, 0, sizeof(*res));
    return -1;
}

/* The read side: lists and counts over the stored reports. $1 from, $2 to, $3 sender domain
 * ("" any), then what each query adds. Times come back as microseconds. */
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

static const char complaints_sql[] = "SELECT " US_OF(
    "time") ", feedback_type, coalesce(recipient, ''), sender_domain,"
            " coalesce(source_ip, ''), coalesce(reporting_mta, ''), coalesce(user_agent, ''),"
            " coalesce(message_id, ''), host, coalesce(queue_id, '')"
            " FROM complaints WHERE time >= $1::timestamptz AND time < $2::timestamptz"
            " AND ($3 = '' OR sender_domain = $3) AND ($4 = '' OR feedback_type = $4)"
            " AND ($5 = '' OR host = $5)"
            " ORDER BY time DESC, msg_key, seq LIMIT nullif($6::integer, 0)";

static const char suppressions_sql[] = "SELECT recipient, sender_domain, " US_OF(
    "last_time") ", origin, reason, coalesce(dsn, ''),"
                 " coalesce(reply, ''), n"
                 " FROM suppressions WHERE last_time >= $1::timestamptz AND last_time < "
                 "$2::timestamptz"
                 " AND ($3 = '' OR sender_domain = $3)"
                 " ORDER BY last_time DESC, recipient, sender_domain LIMIT nullif($4::integer, 0)";

static const char counts_sql[] =
    "SELECT (SELECT count(*) FROM complaints WHERE time >= $1::timestamptz"
    "  AND time < $2::timestamptz AND ($3 = '' OR sender_domain = $3)"
    "  AND ($4 = '' OR host = $4)),"
    " count(*) FILTER (WHERE link IN ('async', 'unseen')),"
    " count(*) FILTER (WHERE link = 'logged'),"
    " count(*) FILTER (WHERE link = 'delayed')"
    " FROM dsn_reports WHERE time >= $1::timestamptz AND time < $2::timestamptz"
    " AND ($3 = '' OR sender_domain = $3) AND ($4 = '' OR host = $4)";

/* col - a result cell into a fixed buffer */
static void col(char *dst, size_t size, const PGresult *res, int row, int c)
{
    str_copy(dst, size, PQgetvalue(res, row, c), (size_t)PQgetlength(res, row, c));
}

/* range_params - $1 from, $2 to, $3 sender domain (lower case) of a range */
static void range_params(const struct db_range *r, char *from, char *to, char *sd, size_t sdlen)
{
    db_range_time(r->from_us, true, from, 48);
    db_range_time(r->to_us, false, to, 48);
    str_copy(sd, sdlen, r->sender_domain, strnlen(r->sender_domain, sizeof(r->sender_domain)));
    db_fold_lower(sd);
    utf8_scrub(sd);
}

/* db_complaints - the complaint reports of the range, newest first */
int db_complaints(struct db *db, const struct db_range *r, const char *feedback_type, int limit,
                  int (*fn)(void *arg, const struct db_complaint_row *row), void *arg)
{
    char from[48], to[48], sd[EV_ADDR_LEN], ft[32], host[EV_HOST_LEN], lim[16];
    const char *v[6] = {from, to, sd, ft, host, lim};
    struct db_complaint_row *row = xcalloc(1, sizeof(*row));
    PGresult *res;

    range_params(r, from, to, sd, sizeof(sd));
    str_copy(ft, sizeof(ft), feedback_type ? feedback_type : "",
             feedback_type ? strlen(feedback_type) : 0);
    utf8_scrub(ft);
    DB_QCOPY(host, r->host);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    res = db_run(db, complaints_sql, 6, v, "complaints");
    if (res == NULL) {
        x_free(row);
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        row->time_us = db_get_i64(res, i, 0);
        col(row->feedback_type, sizeof(row->feedback_type), res, i, 1);
        col(row->recipient, sizeof(row->recipient), res, i, 2);
        col(row->sender_domain, sizeof(row->sender_domain), res, i, 3);
        col(row->source_ip, sizeof(row->source_ip), res, i, 4);
        col(row->reporting_mta, sizeof(row->reporting_mta), res, i, 5);
        col(row->user_agent, sizeof(row->user_agent), res, i, 6);
        col(row->message_id, sizeof(row->message_id), res, i, 7);
        col(row->host, sizeof(row->host), res, i, 8);
        col(row->queue_id, sizeof(row->queue_id), res, i, 9);
        if (fn(arg, row) < 0)
            break;
    }
    PQclear(res);
    x_free(row);
    return 0;
}

/* db_suppressions - the suppression list, last failure in the range, newest first */
int db_suppressions(struct db *db, const struct db_range *r, int limit,
                    int (*fn)(void *arg, const struct db_suppression_row *row), void *arg)
{
    char from[48], to[48], sd[EV_ADDR_LEN], lim[16];
    const char *v[4] = {from, to, sd, lim};
    struct db_suppression_row *row = xcalloc(1, sizeof(*row));
    PGresult *res;

    range_params(r, from, to, sd, sizeof(sd));
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    res = db_run(db, suppressions_sql, 4, v, "suppressions");
    if (res == NULL) {
        x_free(row);
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        col(row->recipient, sizeof(row->recipient), res, i, 0);
        col(row->sender_domain, sizeof(row->sender_domain), res, i, 1);
        row->last_us = db_get_i64(res, i, 2);
        col(row->origin, sizeof(row->origin), res, i, 3);
        col(row->reason, sizeof(row->reason), res, i, 4);
        col(row->dsn, sizeof(row->dsn), res, i, 5);
        col(row->reply, sizeof(row->reply), res, i, 6);
        row->n = db_get_i64(res, i, 7);
        if (fn(arg, row) < 0)
            break;
    }
    PQclear(res);
    x_free(row);
    return 0;
}

/* db_report_counts - complaints and DSNs by link over the range (sender domain, host) */
int db_report_counts(struct db *db, const struct db_range *r, struct db_report_counts *out)
{
    char from[48], to[48], sd[EV_ADDR_LEN], host[EV_HOST_LEN];
    const char *v[4] = {from, to, sd, host};
    PGresult *res;

    memset(out, 0, sizeof(*out));
    range_params(r, from, to, sd, sizeof(sd));
    DB_QCOPY(host, r->host);
    res = db_run(db, counts_sql, 4, v, "report counts");
    if (res == NULL)
        return -1;
    out->complaints = db_get_i64(res, 0, 0);
    out->async_bounced = db_get_i64(res, 0, 1);
    out->dsn_logged = db_get_i64(res, 0, 2);
    out->dsn_delayed = db_get_i64(res, 0, 3);
    PQclear(res);
    return 0;
}

/* db_complaint_metrics - all-time complaints per feedback type and host */
int db_complaint_metrics(struct db *db,
                         int (*fn)(void *arg, const char *feedback_type, const char *host,
                                   int64_t n),
                         void *arg)
{
    PGresult *res = db_run(db,
                           "SELECT feedback_type, host, sum(n) FROM rollups_complaint_hour"
                           " GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 10000",
                           0, NULL, "complaint metrics");

    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        if (fn(arg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), db_get_i64(res, i, 2)) < 0)
            break;
    PQclear(res);
    return 0;
}

/* db_reports_relink - link the "unseen" DSNs of the last week of DSNs to deliveries since */
int db_reports_relink(struct db *db, int64_t *linked)
{
    PGresult *res;

    res = db_run(db, "SELECT mailpulse_relink_unseen(NULL)", 0, NULL, "linking DSNs");
    if (res == NULL)
        return -1;
    if (linked != NULL)
        *linked = db_get_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

static const char dsns_sql[] = "SELECT " US_OF(
    "time") ", recipient, action, coalesce(dsn, ''), reason, hard,"
            " coalesce(diagnostic, ''), link, host, coalesce(queue_id, ''), coalesce(message_id, "
            "''),"
            " coalesce(remote_mta, ''), sender_domain"
            " FROM dsn_reports WHERE time >= $1::timestamptz AND time < $2::timestamptz"
            " AND ($3 = '' OR sender_domain = $3) AND ($4 = '' OR recipient_domain = $4)"
            " AND ($5 = '' OR reason = $5) AND ($6 = '' OR message_id = $6)"
            " AND ($7 = '' OR recipient = $7) AND ($8 = '' OR host = $8)"
            " AND (NOT $9::boolean OR (action = 'failed' AND link IN ('async', 'unseen')))"
            " ORDER BY time DESC, msg_key, seq LIMIT nullif($10::integer, 0)";

/* db_dsns - the stored DSN recipients that f selects, newest first */
int db_dsns(struct db *db, const struct db_dsn_filter *f, int limit,
            int (*fn)(void *arg, const struct db_dsn_row *row), void *arg)
{
    char from[48], to[48], sd[EV_ADDR_LEN], dom[EV_ADDR_LEN], reason[EV_REASON_LEN];
    char mid[EV_MSGID_LEN], rcpt[EV_ADDR_LEN], host[EV_HOST_LEN], lim[16];
    const char *v[10] = {from, to, sd, dom, reason, mid, rcpt, host, f->async_only ? "t" : "f",
                         lim};
    struct db_dsn_row *row = xcalloc(1, sizeof(*row));
    PGresult *res;

    range_params(&f->range, from, to, sd, sizeof(sd));
#define FCOPY(dst, s)                                                                              \
    str_copy(dst, sizeof(dst), (s) ? (s) : "", (s) ? strlen(s) : 0), utf8_scrub(dst)
    FCOPY(dom, f->domain);
    FCOPY(reason, f->reason);
    FCOPY(mid, f->message_id);
    FCOPY(rcpt, f->recipient);
    FCOPY(host, f->range.host);
#undef FCOPY
    db_fold_lower(rcpt);
    db_fold_lower(dom);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    res = db_run(db, dsns_sql, 10, v, "DSN list");
    if (res == NULL) {
        x_free(row);
        return -1;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        row->time_us = db_get_i64(res, i, 0);
        col(row->recipient, sizeof(row->recipient), res, i, 1);
        col(row->action, sizeof(row->action), res, i, 2);
        col(row->dsn, sizeof(row->dsn), res, i, 3);
        col(row->reason, sizeof(row->reason), res, i, 4);
        row->hard = PQgetvalue(res, i, 5)[0] == 't';
        col(row->diagnostic, sizeof(row->diagnostic), res, i, 6);
        col(row->link, sizeof(row->link), res, i, 7);
        col(row->host, sizeof(row->host), res, i, 8);
        col(row->queue_id, sizeof(row->queue_id), res, i, 9);
        col(row->message_id, sizeof(row->message_id), res, i, 10);
        col(row->remote_mta, sizeof(row->remote_mta), res, i, 11);
        col(row->sender_domain, sizeof(row->sender_domain), res, i, 12);
        if (fn(arg, row) < 0)
            break;
    }
    PQclear(res);
    x_free(row);
    return 0;
}

/* What db_report_counts_for() counts per key: $1 from, $2 to, $3 the keys, $4 host. */
static const char *const counts_for_sql[] = {
    [DB_RK_ASYNC_DOMAIN] = "SELECT recipient_domain, count(*) FROM dsn_reports"
                           " WHERE recipient_domain = ANY($3::text[]) AND time >= $1::timestamptz"
                           " AND time < $2::timestamptz AND action = 'failed'"
                           " AND link IN ('async', 'unseen') AND ($4 = '' OR host = $4) GROUP BY 1",
    [DB_RK_COMPLAINT_SENDER] = "SELECT sender_domain, count(*) FROM complaints"
                               " WHERE sender_domain = ANY($3::text[]) AND time >= $1::timestamptz"
                               " AND time < $2::timestamptz AND ($4 = '' OR host = $4) GROUP BY 1",
};

/*
 * db_report_counts_for - per key of names[], in the range: the failed DSNs the log did not
 * show, by recipient domain, or the complaints, by sender domain
 */
int db_report_counts_for(struct db *db, const struct db_range *r, enum db_report_key key,
                         const char *const *names, size_t n, int64_t *counts)
{
    char from[48], to[48], host[EV_HOST_LEN];
    const char *v[4] = {from, to, NULL, host};
    struct buf arr;
    PGresult *res;

    for (size_t i = 0; i < n; i++)
        counts[i] = 0;
    if (n == 0 || (unsigned)key >= ARRAY_LEN(counts_for_sql))
        return 0;
    db_range_time(r->from_us, true, from, sizeof(from));
    db_range_time(r->to_us, false, to, sizeof(to));
    DB_QCOPY(host, r->host);
    buf_init(&arr);
    buf_putc(&arr, '{');
    for (size_t i = 0; i < n; i++) {
        buf_puts(&arr, i ? ",\"" : "\"");
        for (const char *p = names[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_putc(&arr, '\\');
            buf_putc(&arr, *p);
        }
        buf_putc(&arr, '"');
    }
    buf_putc(&arr, '}');
    v[2] = arr.data;
    res = db_run(db, counts_for_sql[key], 4, v, "report counts per key");
    buf_free(&arr);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        for (size_t k = 0; k < n; k++)
            if (strcmp(names[k], PQgetvalue(res, i, 0)) == 0)
                counts[k] = db_get_i64(res, i, 1);
    PQclear(res);
    return 0;
}
