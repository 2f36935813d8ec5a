#!/bin/sh
# 55_scale.sh - report latency and storage at a sending platform's cardinality.
#
# SCALE (default 10000000) delivery attempts over SCALE_DAYS days (default 30: 2026-10-15 to
# 2026-11-14, across a month boundary; the set always ends on 2026-11-14) from 3 hosts to a long
# tail of 100,000 recipient domains: 40 % go to three big providers, the rest to a domain whose rank
# is log-uniform on 1..100000 (rank r drawn with probability about 1 / (r ln 100000), so a few tail
# domains are large and most are small), with SCALE / 3 messages received and SCALE / 100 rejects.
# Attempts come from 8 submitting clients and, nine in ten, from one of 200 SASL users (the rest
# without a login). Some domains bounce (every 13th rank: +20 %) or defer (every 17th: +30 %) more
# than the rest, so that the rate orderings have something to find. The rows are as wide as the
# ingest's: an attempt carries a Message-ID of about 40 bytes (the parser copies its message's onto
# it), Postfix's four delays and the mailbox provider its recipient domain names (google, microsoft,
# yahoo for the three big ones, other for the rest), a message a Message-ID as long.
#
# A set of fewer days has the traffic per hour of a month of SCALE * 30 / SCALE_DAYS attempts:
# SCALE=40000000 SCALE_DAYS=12 has the density of 100M attempts a month, for the ranges of 24
# hours and of 7 days mid-hour (the 30-day range needs 30 days and is left out); what it does
# not have is a month's total size, its caches and the depth of its indexes.
#
# The rows are generated in SQL and the rollups rebuilt by `mailpulse db rebuild-rollups`,
# which gives the rollups the ingest path would have kept. The database is kept under
# $SCALE_BENCH_DIR (build/bench-scale) and reused while SCALE stays the same (a newer
# binary migrates it); generating 10M rows takes about 10 minutes on two shared cores.
#
# Then `mailpulse serve` answers SCALE_REQUESTS (default 20) requests per endpoint and kind
# of range, one at a time, every request with a range of its own (so that the 2-second
# reply cache never answers): a 30-day range on whole hours, a 24-hour range on whole hours,
# and a 7-day range that starts and ends mid-hour (minute buckets: the 24-hour range only, as a
# request may ask for at most 5,000 of them); the domains report and the dashboard also for
# one sending host (the dashboard's host picker), the summary for one sender domain, and the
# delivery errors of a tail domain, of one SASL user, of a client, of a provider and of a
# reason that have none. Prints p50 and p95 per endpoint and range
# against the goals (API <= 100 ms, dashboard <= 300 ms, /bounces <= 100 ms), then bytes per
# attempt (pg_total_relation_size of every table, index and rollup over the attempts): as
# the set was written, and after `db compact` has packed the indexes of its ended months.
set -eu
cd "$(dirname "$0")/../.."
SCALE=${SCALE:-10000000}
DAYS=${SCALE_DAYS:-30}
REQS=${SCALE_REQUESTS:-20}
DIR=${SCALE_BENCH_DIR:-$(pwd)/build/bench-scale}
BIN=${MAILPULSE_BIN:-$(pwd)/build/mailpulse}
[ -x "$BIN" ] || { echo "55_scale: $BIN is not built (make bins)" >&2; exit 1; }

. tests/bench/lib/kept.sh
kept_cluster 55_scale "$DIR"

# Bytes on disk: every table, its indexes and TOAST, rollups included.
STORAGE_SQL="SELECT sum(pg_total_relation_size(c.oid))
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    WHERE s.nspname = 'public' AND c.relkind IN ('r', 'm') AND c.relname <> 'bench_info'"
psql "$DSN" -qAt -c "ALTER TABLE IF EXISTS bench_info ADD COLUMN IF NOT EXISTS written bigint" \
    -c "ALTER TABLE IF EXISTS bench_info ADD COLUMN IF NOT EXISTS days integer" >/dev/null

# SHAPE names the generator's version: a kept set of an older one is made anew.
SHAPE=2
have=$(psql "$DSN" -qAt -c "SELECT rows || '/' || shape || '/' || coalesce(days, 30) FROM bench_info" \
    2>/dev/null || echo 0)
if [ "$have" != "$SCALE/$SHAPE/$DAYS" ]; then
    echo "generating $SCALE delivery attempts over $DAYS days to 100000 domains in SQL ..."
    t0=$(date +%s)
    psql "$DSN" -qAt -v ON_ERROR_STOP=1 -v n="$SCALE" -v days="$DAYS" >/dev/null <<'EOF'
DROP TABLE IF EXISTS bench_info;
TRUNCATE deliveries, messages, rejects, bounce_notices;
-- The rollups too: rebuilt over a set made before, they would keep its rows' dead space.
DO $$ DECLARE t text; BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'rollups%'
    LOOP EXECUTE format('TRUNCATE %I', t); END LOOP;
END $$;
INSERT INTO sources (name, identity) VALUES ('bench', 'bench-scale') ON CONFLICT DO NOTHING;
\set t0 '(timestamptz ''2026-11-14T00:00:00Z'' - ' :days ' * interval ''1 day'')'
\set span '(' :days ' * 86400.0)'
SELECT mailpulse_ensure_partitions(:t0, '2026-11-14');
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SELECT setseed(0.55);
INSERT INTO deliveries (time, host, mta, queue_id, message_id, sender, sender_domain, recipient,
    recipient_domain, relay, delay, delays, status, dsn, smtp_code, reply, reason, hard,
    source_id, pos, seq, client, sasl_username, provider)
SELECT t, 'mx' || (i % 3 + 1), 'postfix', upper(to_hex(i * 7919 % 1048576 + 1048576 * (i % 3))),
    '<' || to_char(t, 'YYYYMMDDHH24MISS') || '.' || upper(to_hex(i / 3 * 2654435761 % 4294967296))
        || '@s' || (i / 3 % 20) || '.example>',
    'news@s' || (i % 20) || '.example', 's' || (i % 20) || '.example',
    'u' || (i % 50000) || '@' || d, d, 'mx.' || d || '[192.0.2.' || (r % 250 + 1) || ']:25',
    (i % 97) / 10.0,
    concat_ws('/', (i % 31) / 100.0::float8, 0::float8, (i % 7) / 100.0::float8,
              (i % 89) / 100.0::float8), st,
    CASE st WHEN 'sent' THEN '2.0.0' WHEN 'deferred' THEN '4.7.0' WHEN 'bounced' THEN '5.1.1'
            ELSE '4.4.7' END,
    CASE st WHEN 'sent' THEN 250 WHEN 'bounced' THEN 550 ELSE 421 END,
    CASE st WHEN 'sent' THEN '250 2.0.0 Ok: queued as ' || to_hex(i)
            WHEN 'bounced' THEN '550 5.1.1 <u' || (i % 50000) || '@' || d || '>: user unknown'
            ELSE '421 4.7.0 try again later' END,
    CASE st WHEN 'sent' THEN NULL WHEN 'deferred' THEN 'blocked'
            WHEN 'bounced' THEN 'userunknown' ELSE 'expired' END,
    st = 'bounced', (SELECT id FROM sources WHERE identity = 'bench-scale'), i, 0,
    'app' || (i % 8) || '[10.0.0.' || (i % 8 + 1) || ']',
    CASE WHEN i % 10 < 9 THEN 'user' || (i % 200) || '@s' || (i % 20) || '.example' END,
    CASE r WHEN -1 THEN 'google' WHEN -2 THEN 'microsoft' WHEN -3 THEN 'yahoo' ELSE 'other' END
FROM (SELECT i, t, r,
             CASE WHEN r < 0 THEN (ARRAY['gmail.com', 'outlook.com', 'yahoo.com'])[-r]
                  ELSE 'tail' || r || '.example' END AS d,
             CASE WHEN u < 0.002 THEN 'expired'
                  WHEN u < 0.03 + CASE WHEN r % 13 = 0 THEN 0.2 ELSE 0 END THEN 'bounced'
                  WHEN u < 0.09 + CASE WHEN r % 13 = 0 THEN 0.2 ELSE 0 END
                             + CASE WHEN r % 17 = 0 THEN 0.3 ELSE 0 END THEN 'deferred'
                  ELSE 'sent' END AS st
      FROM (SELECT i, :t0 + (i * (:span / :n)) * interval '1 second' AS t,
                   CASE WHEN i % 5 < 2 THEN -(i % 3 + 1)
                        ELSE least(100000, floor(exp(random() * ln(100001)))::integer) END AS r,
                   random() AS u
            FROM generate_series(0::bigint, :n - 1) i) g0) g;
INSERT INTO messages (time, host, mta, queue_id, message_id, sender, sender_domain, size,
    nrcpt, client, source_id, pos, seq)
SELECT :t0 + (i * (:span / (:n / 3))) * interval '1 second',
    'mx' || (i % 3 + 1), 'postfix', upper(to_hex(i)),
    '<' || to_char(:t0 + (i * (:span / (:n / 3))) * interval '1 second', 'YYYYMMDDHH24MISS')
        || '.' || upper(to_hex(i * 2654435761 % 4294967296)) || '@s' || (i % 20) || '.example>',
    'news@s' || (i % 20) || '.example', 's' || (i % 20) || '.example', 2000 + i % 50000, 3,
    'app' || (i % 8) || '[10.0.0.' || (i % 8 + 1) || ']', (SELECT id FROM sources WHERE identity = 'bench-scale'),
    :n + i, 0
FROM generate_series(0::bigint, :n / 3 - 1) i;
INSERT INTO rejects (time, host, mta, client, helo, sender, sender_domain, recipient,
    recipient_domain, smtp_code, dsn, reply, reason, source_id, pos, seq)
SELECT :t0 + (i * (:span / (:n / 100))) * interval '1 second',
    'mx' || (i % 3 + 1), 'postfix', 'unknown[198.51.100.' || (i % 200) || ']', 'spam' || (i % 50),
    'x' || i || '@spam' || (i % 50) || '.example', 'spam' || (i % 50) || '.example',
    'u' || i || '@s1.example', 's1.example', 554, '5.7.1',
    '554 5.7.1 Service unavailable; client blocked', 'blocked',
    (SELECT id FROM sources WHERE identity = 'bench-scale'), 2 * :n + i, 0
FROM generate_series(0::bigint, :n / 100 - 1) i;
EOF
    echo "rows generated in $(($(date +%s) - t0)) s; rebuilding the rollups ..."
    t1=$(date +%s)
    "$BIN" db migrate --db "$DSN" >/dev/null # a binary rebuilt meanwhile may bring more
    "$BIN" db rebuild-rollups --db "$DSN"
    "$BIN" db roll --db "$DSN"
    psql "$DSN" -qAt -v ON_ERROR_STOP=1 -c "VACUUM ANALYZE" \
        -c "CREATE TABLE bench_info AS SELECT $SCALE::bigint AS rows, $SHAPE AS shape,
                NULL::bigint AS written, $DAYS AS days" >/dev/null
    psql "$DSN" -qAt -c "UPDATE bench_info SET written = ($STORAGE_SQL)" >/dev/null
    echo "rollups rebuilt in $(($(date +%s) - t1)) s; generated in $(($(date +%s) - t0)) s"
fi

# The ten-minute rollups are added up once a bucket has passed (serve does it every
# minute; a set made in SQL has every bucket passed): before the reports, and after a newer
# binary migrated a kept set.
"$BIN" db roll --db "$DSN" | sed 's/^/db roll: /'
attempts=$(psql "$DSN" -qAt -c "SELECT count(*) FROM deliveries")
echo "data: $attempts attempts to $(psql "$DSN" -qAt -c \
    "SELECT count(DISTINCT recipient_domain) FROM deliveries") recipient domains"
# A partitioned rollup (the ten-minute ones) as one line: its partitions summed.
psql "$DSN" -qAt -F ' ' -c "
    SELECT coalesce(p.relname, c.relname) t, sum(pg_total_relation_size(c.oid))
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent
    WHERE s.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'rollups%'
    GROUP BY 1 ORDER BY 1" |
    while read -r t b; do
        printf '  %-24s %8.1f MB %10s rows\n' "$t" "$(echo "$b / 1048576" | bc -l)" \
            "$(psql "$DSN" -qAt -c "SELECT count(*) FROM $t")"
    done
# The months of the set have ended: `db compact` packs their indexes, as the shipped timer
# does a week after a month ends. The size as written is kept from when the set was made.
"$BIN" db compact --db "$DSN" --days 1 | sed 's/^/db compact: /'
written=$(psql "$DSN" -qAt -c "SELECT coalesce(written, 0) FROM bench_info")
if [ "$written" -gt 0 ]; then
    printf 'storage as written: %.0f MB in all, %.0f bytes per attempt\n' \
        "$(echo "$written / 1048576" | bc -l)" "$(echo "$written / $attempts" | bc -l)"
fi
# What the ten-minute rollups take (in the figure below; a set kept from before they existed
# has them added later, not in the figure above).
tenmin=$(psql "$DSN" -qAt -c "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
    FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE 'rollups_%_tenmin%'")
printf 'of which ten-minute rollups: %.0f MB, %.1f bytes per attempt\n' \
    "$(echo "$tenmin / 1048576" | bc -l)" "$(echo "$tenmin / $attempts" | bc -l)"
bytes=$(psql "$DSN" -qAt -c "$STORAGE_SQL")
printf 'storage: %.0f MB in all, %.0f bytes per attempt (tables, indexes, rollups; ended months compacted)\n' \
    "$(echo "$bytes / 1048576" | bc -l)" "$(echo "$bytes / $attempts" | bc -l)"

kept_serve 55_scale "$DIR"

# One request at a time; every request its own range, each shifted by whole hours (30 and 1
# days) or by hours and minutes (7 days, mid-hour at both ends). A reply that is not 200 stops
# the bench: a fast error page must not pass for a fast report.
python3 - "$URL" "$REQS" "$DAYS" <<'EOF'
import sys, time, urllib.request, datetime as dt
url, reqs, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
end = dt.datetime(2026, 11, 14, tzinfo=dt.timezone.utc)
def iso(t):
    return t.strftime('%Y-%m-%dT%H:%M:%SZ')
def ranges(kind, i):
    if kind == '30d':
        to = end - dt.timedelta(hours=i)
        return to - dt.timedelta(days=30), to
    if kind == '24h':
        to = end - dt.timedelta(hours=7 * i + 1)
        return to - dt.timedelta(hours=24), to
    to = end - dt.timedelta(hours=5 * i + 2, minutes=17 + i, seconds=23)
    return to - dt.timedelta(days=7, minutes=41), to
goals = [('/api/v1/summary', 100), ('/api/v1/summary?sender_domain=s3.example', 100),
         ('/api/v1/timeseries?bucket=hour', 100),
         ('/api/v1/timeseries?bucket=day', 100), ('/api/v1/timeseries?bucket=minute', 100),
         ('/api/v1/timeseries?by=provider&bucket=hour', 100),
         ('/api/v1/timeseries?by=provider&bucket=minute', 100), ('/api/v1/providers', 100),
         ('/api/v1/domains?limit=10', 100),
         ('/api/v1/domains?limit=10&order=bounce_rate', 100),
         ('/api/v1/domains?limit=10&order=deferral_rate', 100),
         ('/api/v1/domains?limit=10&host=mx1', 100),
         ('/api/v1/domains?limit=10&order=bounce_rate&host=mx2', 100),
         ('/api/v1/reasons?limit=10', 100), ('/api/v1/wire', 100),
         ('/api/v1/senders?by=sender_domain&limit=20', 100),
         ('/api/v1/senders?by=sasl_user&limit=20&order=bounce_rate', 100),
         ('/api/v1/senders?by=client_ip&limit=20', 100), ('/api/v1/senders?by=host', 100),
         ('/', 300), ('/?host=mx1', 300), ('/bounces', 100),
         ('/bounces?domain=tail3000.example', 100), ('/bounces?provider=apple', 100),
         ('/api/v1/bounces?sasl_user=user32@s12.example', 100),
         ('/api/v1/bounces?client=192.0.2.200', 100),
         ('/api/v1/bounces?reason=mailboxfull', 100)]
print('%-46s %5s %9s %9s %6s' % ('endpoint (uncached, %d requests each)' % reqs, 'range',
                                 'p50 ms', 'p95 ms', 'goal'))
worst = 0
for path, goal in goals:
    for kind in ('30d', '24h', '7d-mid'):
        if kind == '30d' and days < 30:
            continue  # longer than the set
        if 'bucket=minute' in path and kind != '24h':
            continue  # more minutes than a request may ask for
        ms = []
        for i in range(reqs):
            f, t = ranges(kind, i)
            sep = '&' if '?' in path else '?'
            u = '%s%s%sfrom=%s&to=%s' % (url, path, sep, iso(f), iso(t))
            t0 = time.monotonic()
            with urllib.request.urlopen(u, timeout=120) as r:
                r.read()
                if r.status != 200:
                    sys.exit('55_scale: %s answered %d' % (u, r.status))
            ms.append((time.monotonic() - t0) * 1000)
        ms.sort()
        p50 = ms[len(ms) // 2]
        p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
        print('%-46s %5s %9.1f %9.1f %6s' % (path, kind, p50, p95,
                                              ('<=%d' % goal) + (' ' if p95 <= goal else '!')))
EOF
echo "(SCALE=$SCALE over $DAYS days: $((SCALE / DAYS)) attempts a day; one client, requests in sequence; '!' marks a p95 over its goal)"
