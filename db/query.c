/*
 * query - report queries; parameters always travel separately from the SQL (PQexecParams)
 *
 * Times are sent as RFC 3339 text cast to timestamptz. A from_us of 0 or less means "from
 * the beginning" and a to_us of INT64_MAX means "until the end" (PostgreSQL's -infinity and
 * infinity), so a caller can leave either side of a range open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

static const char summary_sql[] = "SELECT"
                                  " (SELECT count(*) FROM messages"
                                  "   WHERE time >= $1::timestamptz AND time < $2::timestamptz"
                                  "   AND ($3::text = '' OR host = $3::text)),"
                                  " d.sent, d.deferred, d.bounced, d.expired,"
                                  " (SELECT count(*) FROM rejects"
                                  "   WHERE time >= $1::timestamptz AND time < $2::timestamptz"
                                  "   AND ($3::text = '' OR host = $3::text))"
                                  " FROM (SELECT"
                                  "   count(*) FILTER (WHERE status = 'sent') AS sent,"
                                  "   count(*) FILTER (WHERE status = 'deferred') AS deferred,"
                                  "   count(*) FILTER (WHERE status = 'bounced') AS bounced,"
                                  "   count(*) FILTER (WHERE status = 'expired') AS expired"
                                  "   FROM deliveries"
                                  "   WHERE time >= $1::timestamptz AND time < $2::timestamptz"
                                  "   AND ($3::text = '' OR host = $3::text)) d";

/* range_time - a range end as timestamptz text */
static void range_time(int64_t us, bool is_from, char *out, size_t outlen)
{
    if (is_from && us <= 0)
        snprintf(out, outlen, "-infinity");
    else if (!is_from && us == INT64_MAX)
        snprintf(out, outlen, "infinity");
    else
        time_format_rfc3339(us, out, outlen);
}

/* db_summary - totals over [from, to), for one host or all */
int db_summary(struct db *db, const struct db_range *r, struct db_summary *out)
{
    char from[48], to[48], host[EV_HOST_LEN];
    const char *params[3] = {from, to, host};
    int64_t *fields[6] = {&out->received, &out->sent,    &out->deferred,
                          &out->bounced,  &out->expired, &out->rejected};
    PGresult *res = NULL;
    int rc = -1, i;

    memset(out, 0, sizeof(*out));
    range_time(r->from_us, true, from, sizeof(from));
    range_time(r->to_us, false, to, sizeof(to));
    str_copy(host, sizeof(host), r->host, strnlen(r->host, sizeof(r->host)));
    utf8_scrub(host);
    if (db_reconnect(db) < 0)
        goto out;
    res = PQexecParams(db->conn, summary_sql, 3, NULL, params, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        db_warn_res(db, res, "summary");
        goto out;
    }
    for (i = 0; i < 6; i++)
        *fields[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
    rc = 0;
out:
    PQclear(res);
    return rc;
}
