/*
 * NAME
 *	senders - delivery attempts, rejects and their reasons per sender domain, SASL user,
 *	client IP or sending host
 *
 * SYNOPSIS
 *	#include "db/db.h"
 *
 *	const char *db_sender_axis_name(enum db_sender_axis axis);
 *	int db_sender_axis_parse(const char *s, enum db_sender_axis *out);
 *	int db_senders(struct db *db, const struct db_range *r, enum db_sender_axis axis,
 *		       enum db_domain_order order, int limit,
 *		       int (*fn)(void *arg, const struct db_sender_row *row), void *arg);
 *
 *	#include "db/db_int.h"
 *
 *	int db_sender_reasons_read(const char *s, struct db_sender_row *row);
 *
 * DESCRIPTION
 *	db_sender_axis_name() gives the name of an axis as the API and rollups_sender_hour
 *	write it ("sender_domain", "sasl_user", "client_ip", "host"); db_sender_axis_parse()
 *	reads one back into *out: 0, or -1 when s names none.
 *
 *	db_senders() adds up, per key of the axis, the sent, deferred, bounced and expired
 *	delivery attempts and the rejects of the range, with the DB_SENDER_REASONS most frequent
 *	reasons of the attempts that were not sent and of the rejects. The UTC days of the
 *	range come from rollups_sender_day (their reasons, for the listed keys only, from
 *	rollups_sender_reason_day), the whole hours around them from rollups_sender_hour
 *	(every whole hour from rollups_host for the host axis), the whole ten minutes of the
 *	partial hours from rollups_sender_tenmin where they are added up (the whole minutes
 *	from rollups_host_minute for the host axis), the rest at the two ends from the
 *	deliveries and rejects themselves, so any range is exact (db_range_units() and
 *	db_range_tenmin() say how an end is read). The key
 *	is "" where the log did not say (no SASL login, a local submission). Ordered by
 *	attempts, then rejects, most first, or by bounce or deferral rate, highest first, among
 *	the keys with at least one thousandth of the range's attempts (rounded up); then by
 *	key. At most limit rows. The range's host filters every axis.
 *
 *	db_sender_reasons_read() reads the reasons column of the query, "reason n" pairs
 *	separated by spaces ("userunknown 3 mailboxfull 1"), into row->reasons.
 *
 * OWNERSHIP
 *	Each row handed to fn lives until fn returns.
 *
 * DIAGNOSTICS
 *	db_senders(): -1 (after one warning) when the database cannot answer; 0 otherwise,
 *	also when fn stopped early. db_sender_reasons_read(): the number of pairs read, -1
 *	when s is not such a list (row->reasons then holds the pairs before the fault).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_int.h"
#include "util/util.h"

/*
 * Per axis: its name, its hourly rows (key, kind, reason, n, hour, host), the columns its key
 * is made from in deliveries and in rejects, the key made of them (of "key": the events are
 * added up by those columns, and a function of them runs once per sum, not once per event),
 * and its rows of the grain below the hour (key, kind, reason, n, minute, host), which hold
 * the key itself. The sending host has no day tables of its own: its hours come from
 * rollups_host, which holds a few rows per hour, and the whole minutes at the ends of a range
 * from rollups_host_minute. The other axes read the whole ten minutes at the ends from
 * rollups_sender_tenmin, those that are added up (db_range_tenmin()).
 */
#define TENMIN(axis)                                                                               \
    "SELECT key, kind, reason, n, tenmin AS minute, host FROM rollups_sender_tenmin"               \
    " WHERE axis = '" axis "'"
static const struct {
    const char *name;
    const char *hours;
    const char *delivery_key;
    const char *reject_key;
    const char *key;
    const char *minutes;
} axes[] = {
    [DB_AXIS_SENDER_DOMAIN] = {"sender_domain",
                               "SELECT key, kind, reason, n, hour, host FROM rollups_sender_hour"
                               " WHERE axis = 'sender_domain'",
                               "coalesce(sender_domain, '')", "coalesce(sender_domain, '')", "key",
                               TENMIN("sender_domain")},
    [DB_AXIS_SASL_USER] = {"sasl_user",
                           "SELECT key, kind, reason, n, hour, host FROM rollups_sender_hour"
                           " WHERE axis = 'sasl_user'",
                           "coalesce(sasl_username, '')", "''::text", "key", TENMIN("sasl_user")},
    [DB_AXIS_CLIENT_IP] = {"client_ip",
                           "SELECT key, kind, reason, n, hour, host FROM rollups_sender_hour"
                           " WHERE axis = 'client_ip'",
                           "client", "client", "mailpulse_client_ip(key)", TENMIN("client_ip")},
    [DB_AXIS_HOST] = {"host",
                      "SELECT host AS key, kind, reason, n, hour, host FROM rollups_host"
                      " WHERE kind NOT IN ('received', 'notice')",
                      "host", "host", "key",
                      "SELECT host AS key, kind, reason, n, minute, host FROM rollups_host_minute"
                      " WHERE kind NOT IN ('received', 'notice')"},
};

/* The ORDER BY of each db_domain_order, over the columns of "t" below. */
static const char *const orders[] = {
    [DB_ORDER_VOLUME] = "att DESC, rj DESC, key",
    [DB_ORDER_BOUNCE_RATE] = "bo::float8 / att DESC, att DESC, key",
    [DB_ORDER_DEFERRAL_RATE] = "df::float8 / att DESC, att DESC, key",
};

/* The events of table at one end of the range, between a and b, with their sign
 * (DB_EDGE_FROM): their key, kind, reason and sign. */
#define RAW_END(table, key, kind, a, b)                                                            \
    " SELECT " key ", " kind ", coalesce(reason, ''), s" DB_EDGE_FROM(                             \
        table, a, b, " AND ($3::text = '' OR host = $3::text)")
/* The axis's hourly rows (3) between a and b, with their sign (DB_SIGNED_FROM); those between
 * h1 and d1, and between d2 and h2. */
#define HR_END(a, b)                                                                               \
    DB_SIGNED_FROM("(%3$s) h", "hour", a, b, " AND ($3::text = '' OR host = $3::text)")
#define HR_1 HR_END("$4", "$6")
#define HR_2 HR_END("$7", "$5")
/* The attempts and rejects at the start of the range, and at its end. */
#define RAW_D1 RAW_END("deliveries", "%1$s", "status", "$1", "$11")
#define RAW_D2 RAW_END("deliveries", "%1$s", "status", "$12", "$2")
#define RAW_R1 RAW_END("rejects", "%2$s", "'rejected'", "$1", "$11")
#define RAW_R2 RAW_END("rejects", "%2$s", "'rejected'", "$12", "$2")
/* The axis's rows below the hour (6) between m1 and h1, and between h2 and m2, with their
 * sign. */
#define MIN_END(a, b)                                                                              \
    " SELECT key, kind, reason, s * n" DB_SIGNED_FROM("(%6$s) mn", "minute", a, b,                 \
                                                      " AND ($3::text = '' OR host = $3::text)")
#define MIN_1 MIN_END("$11", "$4")
#define MIN_2 MIN_END("$5", "$12")

/*
 * Parameters: $1 from, $2 to, $3 host, [$4, $5) the hours from rollups, [$6, $7) the days
 * (empty when none: $6 = $7; db_range_units()), $8 the limit, $9 1 for a rate ordering (the
 * minimum volume applies), $10 the reasons per key, $11 and $12 the boundaries below the hour
 * next to the ends (m1 and m2 of db_range_units() for the host axis, t1 and t2 of
 * db_range_tenmin() for the others). Filled in (numbered): the axis's key columns in
 * deliveries (1) and in rejects (2), its hourly rows (3), its name (4), the ordering (5), its
 * rows below the hour (6), its key of those columns (7).
 *
 * raw is the events at the two ends with their sign (DB_EDGE_FROM), added up by the events'
 * key columns (7 makes the key of them where c and rs read raw), sub the rows below the hour
 * around them with theirs (sg is a row's signed count), hr the hours outside the days with
 * theirs (DB_SIGNED_FROM), each added up per key, kind and reason as it is read (each is read
 * twice: a few hundred rows instead of every attempt and hour row), each range read as two
 * plain ranges, which the time indexes find directly (one range with the middle excluded by
 * a filter would read every row in between, and a join to a list of ranges makes the planner
 * guess so many rows that it compiles the query); the counts add the days, hr, sub and raw;
 * the reasons of the listed keys add rollups_sender_reason_day, hr, sub and raw for those
 * keys only, once (r is materialized: as a subquery of each listed key it would read hr
 * again for every key).
 */
static const char senders_sql[] =
    "WITH ax (name) AS (VALUES ('%4$s'::text)), raw (key, kind, reason, sg) AS ("
    " SELECT key, kind, reason, sum(sg) FROM (" RAW_D1 " UNION ALL" RAW_D2 " UNION ALL" RAW_R1
    " UNION ALL" RAW_R2 ") e (key, kind, reason, sg) GROUP BY 1, 2, 3),"
    " sub (key, kind, reason, sg) AS (SELECT key, kind, reason, sum(sg) FROM (" MIN_1
    " UNION ALL" MIN_2 ") e (key, kind, reason, sg) GROUP BY 1, 2, 3),"
    " hr AS (SELECT key, kind, reason, sum(n) AS n FROM (SELECT key, kind, reason, s * n AS n" HR_1
    " UNION ALL SELECT key, kind, reason, s * n" HR_2 ") e GROUP BY 1, 2, 3),"
    " c (key, st, df, bo, ex, rj) AS ("
    " SELECT key, sent, deferred, bounced, expired, rejected FROM rollups_sender_day"
    "  WHERE axis = (SELECT name FROM ax) AND day >= $6::timestamptz AND day < $7::timestamptz"
    "  AND ($3::text = '' OR host = $3::text)"
    " UNION ALL"
    " SELECT key, (kind = 'sent')::int * n, (kind = 'deferred')::int * n,"
    "  (kind = 'bounced')::int * n, (kind = 'expired')::int * n, (kind = 'rejected')::int * n"
    "  FROM hr"
    " UNION ALL"
    " SELECT key, sg * (kind = 'sent')::int, sg * (kind = 'deferred')::int,"
    "  sg * (kind = 'bounced')::int, sg * (kind = 'expired')::int, sg * (kind = 'rejected')::int"
    "  FROM sub"
    " UNION ALL"
    " SELECT %7$s, sg * (kind = 'sent')::int, sg * (kind = 'deferred')::int,"
    "  sg * (kind = 'bounced')::int, sg * (kind = 'expired')::int, sg * (kind = 'rejected')::int"
    "  FROM raw),"
    " g AS (SELECT key, sum(st) st, sum(df) df, sum(bo) bo, sum(ex) ex, sum(rj) rj"
    "  FROM c GROUP BY key),"
    " a AS (SELECT *, st + df + bo + ex AS att, sum(st + df + bo + ex) OVER () AS total FROM g),"
    " t AS (SELECT key, st, df, bo, ex, rj, att FROM a"
    "  WHERE att + rj > 0 AND ($9::integer = 0 OR (att > 0 AND att * 1000 >= total))"
    "  ORDER BY %5$s LIMIT $8::integer),"
    " rs (key, reason, n) AS ("
    " SELECT key, reason, n FROM rollups_sender_reason_day"
    "  WHERE axis = (SELECT name FROM ax) AND key IN (SELECT key FROM t)"
    "  AND day >= $6::timestamptz AND day < $7::timestamptz"
    "  AND ($3::text = '' OR host = $3::text)"
    " UNION ALL"
    " SELECT key, reason, n FROM hr"
    "  WHERE kind <> 'sent' AND reason <> '' AND key IN (SELECT key FROM t)"
    " UNION ALL"
    " SELECT key, reason, sg FROM sub"
    "  WHERE kind <> 'sent' AND reason <> '' AND key IN (SELECT key FROM t)"
    " UNION ALL"
    " SELECT %7$s, reason, sg FROM raw"
    "  WHERE kind <> 'sent' AND reason <> '' AND %7$s IN (SELECT key FROM t)),"
    " r AS MATERIALIZED (SELECT key, reason, sum(n) AS n,"
    "  row_number() OVER (PARTITION BY key ORDER BY sum(n) DESC, reason) AS rk"
    "  FROM rs GROUP BY key, reason HAVING sum(n) > 0)"
    " SELECT key, st, df, bo, ex, rj, (SELECT string_agg(r.reason || ' ' || r.n, ' '"
    "  ORDER BY r.rk) FROM r WHERE r.key = t.key AND r.rk <= $10::integer)"
    " FROM t ORDER BY %5$s";

/* db_sender_axis_name - "sender_domain", "sasl_user", "client_ip" or "host" */
const char *db_sender_axis_name(enum db_sender_axis axis)
{
    return (unsigned)axis < ARRAY_LEN(axes) ? axes[axis].name : "";
}

/* db_sender_axis_parse - the axis s names; -1 when none */
int db_sender_axis_parse(const char *s, enum db_sender_axis *out)
{
    size_t i;

    for (i = 0; i < ARRAY_LEN(axes); i++) {
        if (strcmp(s, axes[i].name) == 0) {
            *out = (enum db_sender_axis)i;
            return 0;
        }
    }
    return -1;
}

/* db_sender_reasons_read - "reason n reason n ..." into row->reasons; pairs read or -1 */
int db_sender_reasons_read(const char *s, struct db_sender_row *row)
{
    const char *w, *e;
    char *end;
    size_t len;

    row->nreasons = 0;
    while (*s == ' ')
        s++;
    while (*s != 0) {
        if (row->nreasons == DB_SENDER_REASONS)
            return -1;
        w = s;
        e = strchr(w, ' ');
        if (e == NULL || e == w)
            return -1;
        len = (size_t)(e - w);
        if (len >= sizeof(row->reasons[0].reason))
            return -1;
        if (e[1] < '0' || e[1] > '9')
            return -1;
        row->reasons[row->nreasons].n = strtoll(e + 1, &end, 10);
        if (*end != 0 && *end != ' ')
            return -1;
        str_copy(row->reasons[row->nreasons].reason, sizeof(row->reasons[0].reason), w, len);
        row->nreasons++;
        s = end;
        while (*s == ' ')
            s++;
    }
    return row->nreasons;
}

/* db_senders - attempts, rejects and top reasons per key of one axis over a range */
int db_senders(struct db *db, const struct db_range *r, enum db_sender_axis axis,
               enum db_domain_order order, int limit,
               int (*fn)(void *arg, const struct db_sender_row *row), void *arg)
{
    char from[48], to[48], host[EV_HOST_LEN], lim[16], rate[2], nr[8];
    struct db_units u;
    const char *v[12] = {from, to, host, u.h1, u.h2, u.d1, u.d2, lim, rate, nr, u.m1, u.m2};
    int64_t through;
    struct db_sender_row *row;
    struct buf sql;
    PGresult *res;
    int i;

    if ((unsigned)axis >= ARRAY_LEN(axes) || (unsigned)order >= ARRAY_LEN(orders))
        return -1;
    db_range_time(r->from_us, true, from, sizeof(from));
    db_range_time(r->to_us, false, to, sizeof(to));
    /* The host axis reads no days, and minutes below the hour. */
    db_range_units(r, axis != DB_AXIS_HOST ? DB_DAYS_NEAREST : DB_DAYS_NONE, &u);
    if (axis != DB_AXIS_HOST) {
        if (db_tenmin_through(db, &through) < 0)
            return -1;
        db_range_tenmin(r, through, &u);
        v[10] = u.t1;
        v[11] = u.t2;
    }
    DB_QCOPY(host, r->host);
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 0);
    snprintf(rate, sizeof(rate), "%d", order != DB_ORDER_VOLUME);
    snprintf(nr, sizeof(nr), "%d", DB_SENDER_REASONS);

    buf_init(&sql);
    buf_printf(&sql, senders_sql, axes[axis].delivery_key, axes[axis].reject_key, axes[axis].hours,
               axes[axis].name, orders[order], axes[axis].minutes, axes[axis].key);
    res = db_run(db, sql.data, 12, v, "senders");
    buf_free(&sql);
    if (res == NULL)
        return -1;
    row = xcalloc(1, sizeof(*row));
    for (i = 0; i < PQntuples(res); i++) {
        memset(row, 0, sizeof(*row));
        str_copy(row->key, sizeof(row->key), PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
        row->sent = db_get_i64(res, i, 1);
        row->deferred = db_get_i64(res, i, 2);
        row->bounced = db_get_i64(res, i, 3);
        row->expired = db_get_i64(res, i, 4);
        row->rejected = db_get_i64(res, i, 5);
        if (db_sender_reasons_read(PQgetvalue(res, i, 6), row) < 0)
            log_warn("db: senders: unreadable reasons \"%s\"", PQgetvalue(res, i, 6));
        if (fn(arg, row) < 0)
            break;
    }
    PQclear(res);
    x_free(row);
    return 0;
}
