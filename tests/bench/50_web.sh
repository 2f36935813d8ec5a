#!/bin/sh
# 50_web.sh - HTTP throughput of the report endpoints over 10M generated delivery attempts,
# next to a static endpoint of the same server in the same run.
#
# wrk, 2 threads, 100 connections, WEB_BENCH_SECONDS (10) per endpoint. The data is made in
# SQL (generate_series) in a private PostgreSQL under $WEB_BENCH_DIR (build/bench-web),
# which is kept between runs: generating 10M rows takes minutes, so a second run with the
# same WEB_BENCH_ROWS reuses them. The rollups are rebuilt once after the rows are in, as
# the ingest path would have kept them. Prints req/s and p99 latency per endpoint and each
# report endpoint's req/s as a share of the static one's (goal: >= 50 %).
set -eu
cd "$(dirname "$0")/../.."
ROWS=${WEB_BENCH_ROWS:-10000000}
SECS=${WEB_BENCH_SECONDS:-10}
DIR=${WEB_BENCH_DIR:-$(pwd)/build/bench-web}
BIN=$(pwd)/build/mailpulse
command -v wrk >/dev/null || { echo "50_web: wrk is not installed (scripts/setup.sh)" >&2; exit 1; }

. tests/bench/lib/kept.sh
kept_cluster 50_web "$DIR"

have=$(psql "$DSN" -qAt -c "SELECT rows FROM bench_info" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
    echo "generating $ROWS delivery attempts (and $((ROWS / 3)) messages) in SQL ..."
    t0=$(date +%s)
    psql "$DSN" -qAt -v ON_ERROR_STOP=1 >/dev/null <<EOF
DROP TABLE IF EXISTS bench_info;
TRUNCATE deliveries, messages, rejects, bounce_notices, rollups;
INSERT INTO sources (name, identity) VALUES ('bench', 'bench') ON CONFLICT DO NOTHING;
SELECT mailpulse_ensure_partitions('2026-10-01', '2026-10-31');
-- 30 days of October 2026, 3 hosts, 200 recipient domains (a few large ones), 5 % bounced,
-- 10 % deferred, 0.1 % expired.
INSERT INTO deliveries (time, host, mta, queue_id, sender, sender_domain, recipient,
    recipient_domain, relay, status, dsn, smtp_code, reply, reason, hard, source_id, pos, seq)
SELECT '2026-10-01'::timestamptz + i * (2592000.0 / $ROWS) * interval '1 second',
    'mx' || (i % 3), 'postfix', 'Q' || i, 'news@example.org', 'example.org',
    'u' || i || '@' || d, d, 'mx.' || d || '[192.0.2.1]:25', st,
    CASE st WHEN 'sent' THEN '2.0.0' WHEN 'deferred' THEN '4.4.1' WHEN 'bounced' THEN '5.1.1' END,
    CASE st WHEN 'sent' THEN 250 WHEN 'deferred' THEN 451 WHEN 'bounced' THEN 550 END,
    CASE st WHEN 'sent' THEN '250 2.0.0 OK' WHEN 'deferred' THEN 'connect: Connection refused'
        WHEN 'bounced' THEN '550 5.1.1 user unknown' END,
    CASE st WHEN 'deferred' THEN 'networkerror' WHEN 'bounced' THEN 'userunknown'
        WHEN 'expired' THEN 'expired' END,
    st = 'bounced', (SELECT id FROM sources WHERE identity = 'bench'), i, 0
FROM (SELECT i,
        CASE WHEN i % 5 < 2 THEN (ARRAY['gmail.com','outlook.com','yahoo.com'])[1 + i % 3]
             ELSE 'd' || (i * 7 % 197) || '.example' END AS d,
        CASE WHEN i % 1000 = 7 THEN 'expired' WHEN i % 20 = 3 THEN 'bounced'
             WHEN i % 10 = 5 THEN 'deferred' ELSE 'sent' END AS st
      FROM generate_series(1, $ROWS) i) g;
INSERT INTO messages (time, host, mta, queue_id, message_id, sender, sender_domain, size,
    nrcpt, source_id, pos, seq)
SELECT '2026-10-01'::timestamptz + i * (7776000.0 / $ROWS) * interval '1 second',
    'mx' || (i % 3), 'postfix', 'M' || i, '<' || i || '@example.org>', 'news@example.org',
    'example.org', 2000 + i % 5000, 3, (SELECT id FROM sources WHERE identity = 'bench'),
    $ROWS + i, 0
FROM generate_series(1, $ROWS / 3) i;
SELECT mailpulse_rebuild_rollups();
ANALYZE;
CREATE TABLE bench_info AS SELECT $ROWS::bigint AS rows;
EOF
    echo "generated in $(($(date +%s) - t0)) s"
fi
echo "data: $(psql "$DSN" -qAt -c 'SELECT count(*) FROM deliveries') attempts," \
    "$(psql "$DSN" -qAt -c 'SELECT count(*) FROM rollups') rollup rows"

kept_serve 50_web "$DIR"

DAY="from=2026-10-30T00:00:00Z&to=2026-10-31T00:00:00Z"
MONTH="from=2026-10-01T00:00:00Z&to=2026-10-31T00:00:00Z"
# The answers are checked once, so a fast error page cannot pass for a fast report.
for u in "/api/v1/summary?$DAY" "/api/v1/summary?$MONTH" "/api/v1/domains?$DAY" \
    "/api/v1/domains?$MONTH"; do
    code=$(curl -s -o "$DIR/check.json" -w '%{http_code}' "$URL$u")
    [ "$code" = 200 ] || { echo "50_web: $u answered $code: $(cat "$DIR/check.json")" >&2; exit 1; }
done
echo "summary over the month: $(curl -s "$URL/api/v1/summary?$MONTH")"

# A wrk script that makes every request's range end a different microsecond, so that no
# request is answered from the reply cache: the figures of the database path itself.
cat >"$DIR/uncached.lua" <<'EOF'
local n = 0
request = function()
    n = n + 1
    local path = wrk.path:gsub("to=([^&]*)T00:00:00Z", function(d)
        return string.format("to=%sT00:00:00.%06dZ", d, n % 1000000)
    end)
    return wrk.format(nil, path)
end
EOF

# settle: let the server drain what the last run left queued
settle() {
    n=0
    while [ "$(curl -s -o /dev/null -w '%{time_total}' "$URL/static/style.css" | cut -d. -f1)" != 0 ] ||
        [ $n -lt 5 ]; do
        n=$((n + 1))
        sleep 1
    done
}

# bench NAME PATH [wrk options]: one wrk run; prints "req/s p99_ms"
bench() {
    name=$1 path=$2
    shift 2
    settle
    wrk -t2 -c100 -d"${SECS}s" --latency "$@" "$URL$path" >"$DIR/wrk.$name.txt" 2>&1
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$DIR/wrk.$name.txt")
    p99=$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
               else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
               print v + 0 }' "$DIR/wrk.$name.txt")
    non2xx=$(awk '/Non-2xx/ { print $NF }' "$DIR/wrk.$name.txt")
    [ -z "$non2xx" ] || echo "  warning: $name: $non2xx non-2xx answers" >&2
    echo "$rps $p99"
}

set -- $(bench static "/static/style.css")
static_rps=$1
printf '%-32s %12s %10s %8s\n' endpoint "req/s" "p99 ms" "share"
printf '%-32s %12.0f %10.2f %8s\n' "/static/style.css" "$1" "$2" "100 %"
for spec in "summary_24h /api/v1/summary?$DAY" "summary_30d /api/v1/summary?$MONTH" \
    "domains_24h /api/v1/domains?$DAY" "domains_30d /api/v1/domains?$MONTH"; do
    name=${spec%% *}
    path=${spec#* }
    for mode in cached uncached; do
        if [ $mode = cached ]; then
            set -- $(bench "$name" "$path")
        else
            set -- $(bench "$name.uncached" "$path" -s "$DIR/uncached.lua")
        fi
        share=$(echo "scale=1; 100 * $1 / $static_rps" | bc)
        printf '%-32s %12.0f %10.2f %7s%%\n' "${path%%\?*} ${name#*_} $mode" "$1" "$2" "$share"
    done
done
echo "(wrk -t2 -c100 -d${SECS}s; $ROWS attempts; 4 libmicrohttpd threads, a database"
echo " connection each; 'cached': repeats of one URL, answered by the 2 s reply cache except"
echo " for one query per expiry; 'uncached': every request a different URL, so every one"
echo " queries PostgreSQL)"
