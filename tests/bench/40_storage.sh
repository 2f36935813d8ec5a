#!/bin/sh
# 40_storage.sh - `make bench`: storage throughput and report latency.
#
#   import: `mailpulse import` of a large generated log (build/tools/genlog) against psql
#           \copy of the same rows, pre-parsed (exported from the import's own tables), into
#           the same schema (partitions, indexes, unique keys) on the same throwaway server:
#           best of BENCH_ROUNDS (default 3) each, alternating, and the ratio (goal <= 1.25).
#           Peak RSS of the importer, for the whole log and for a quarter of it: it must
#           not grow with the size of the log.
#   reports: BENCH_ATTEMPTS (default 10000000) delivery attempts generated in SQL over 7
#           days, rollups rebuilt with `mailpulse db rebuild-rollups`, then the report
#           queries of db/ (build/tools/dbbench) over all of it and over 30 days.
#
# BENCH_MESSAGES (default 60000, about 650k lines) sizes the log. BENCH_DOMAINS=N (default 0:
# genlog's two dozen) gives the recipients outside gmail.com, outlook.com and yahoo.com a
# long tail of N domains instead, log-uniform in rank (a recipient keeps its domain on every
# line), the shape a sending platform's traffic has.
set -eu
cd "$(dirname "$0")/../.."
BIN=./build/mailpulse
GENLOG=./build/tools/genlog
DBBENCH=./build/tools/dbbench
MESSAGES=${BENCH_MESSAGES:-60000}
ROUNDS=${BENCH_ROUNDS:-3}
ATTEMPTS=${BENCH_ATTEMPTS:-10000000}
TMP=$(mktemp -d /tmp/mailpulse-bench40.XXXXXX)
chmod 755 "$TMP"
trap 'sh scripts/pg.sh stop "$TMP/pg" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
export TZ=UTC
for p in time bc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        apt-get install -y -qq "$p" >/dev/null
done
for t in "$BIN" "$GENLOG" "$DBBENCH"; do
    [ -x "$t" ] || { echo "40_storage: $t is not built (make bins)" >&2; exit 1; }
done

DSN=$(sh scripts/pg.sh start "$TMP/pg")
dsn_of() { echo "$DSN" | sed "s/dbname=[^ ]*/dbname=$1/"; }
fresh() { # NAME: an empty, migrated database
    psql "$DSN" -qAt -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1
    "$BIN" db migrate --db "$(dsn_of "$1")" >/dev/null
}
now() { date +%s.%N; }

"$GENLOG" --messages "$MESSAGES" --seed 3 >"$TMP/mail.log"
if [ "${BENCH_DOMAINS:-0}" -gt 0 ]; then
    python3 - "$BENCH_DOMAINS" "$TMP/mail.log" <<'PY'
import math, re, sys, zlib
n, path = int(sys.argv[1]), sys.argv[2]
big = {b"gmail.com", b"outlook.com", b"yahoo.com"}
def tail(m):
    local, dom = m.group(2), m.group(3)
    if dom in big:
        return m.group(0)
    # rank = n ** u for u uniform in [0, 1): log-uniform, from the recipient's own hash
    u = zlib.crc32(local + b"@" + dom) / 2**32
    return m.group(1) + local + b"@d%d.example" % int(n ** u) + b">"
rx = re.compile(rb"((?:orig_)?to=<)([^@>]*)@([^>]*)>")
data = open(path, "rb").read()
open(path, "wb").write(rx.sub(tail, data))
PY
fi
lines=$(wc -l <"$TMP/mail.log")
bytes=$(wc -c <"$TMP/mail.log")
head -n $((lines / 4)) "$TMP/mail.log" >"$TMP/quarter.log"
shape=""
[ "${BENCH_DOMAINS:-0}" -gt 0 ] && shape=", recipients in a tail of $BENCH_DOMAINS domains"
echo "input: $lines lines, $bytes bytes (genlog --messages $MESSAGES --seed 3$shape)"

# The pre-parsed rows: what one import stored, table by table, in COPY text form.
fresh ref
"$BIN" import --db "$(dsn_of ref)" "$TMP/mail.log" >/dev/null
TABLES="messages deliveries rejects bounce_notices"
for t in $TABLES; do
    psql "$(dsn_of ref)" -qAt -c "\\copy (SELECT * FROM $t) TO '$TMP/$t.copy'"
done
events=$(psql "$(dsn_of ref)" -qAt -c "SELECT (SELECT count(*) FROM messages) +
    (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM rejects) +
    (SELECT count(*) FROM bounce_notices)")
range=$(psql "$(dsn_of ref)" -qAt -c "SELECT min(time) || ',' || max(time) FROM facts")

best_imp="" best_cp="" rss=0
r=0
while [ $r -lt "$ROUNDS" ]; do
    fresh imp
    /usr/bin/time -f '%e %M' -o "$TMP/time" "$BIN" import --db "$(dsn_of imp)" \
        "$TMP/mail.log" >/dev/null
    read -r s kib <"$TMP/time"
    if [ -z "$best_imp" ] || [ "$(echo "$s < $best_imp" | bc)" = 1 ]; then best_imp=$s; fi
    [ "$kib" -gt "$rss" ] && rss=$kib

    fresh raw
    # The same partitions the import made, so the copy does not pay for them either.
    psql "$(dsn_of raw)" -qAt -c "SELECT mailpulse_ensure_partitions('${range%,*}', '${range#*,}')" >/dev/null
    t0=$(now)
    for t in $TABLES; do
        psql "$(dsn_of raw)" -qAt -c "\\copy $t FROM '$TMP/$t.copy'" >/dev/null
    done
    s=$(echo "$(now) - $t0" | bc -l)
    if [ -z "$best_cp" ] || [ "$(echo "$s < $best_cp" | bc)" = 1 ]; then best_cp=$s; fi
    r=$((r + 1))
done
fresh q4
/usr/bin/time -f '%e %M' -o "$TMP/time" "$BIN" import --db "$(dsn_of q4)" "$TMP/quarter.log" >/dev/null
read -r _ rss4 <"$TMP/time"

printf '%-44s %10s %12s\n' "import ($events rows, best of $ROUNDS)" "seconds" "rows/s"
printf '%-44s %10.2f %12.0f\n' "mailpulse import (parse + COPY + upsert + rollups)" "$best_imp" "$(echo "$events / $best_imp" | bc -l)"
printf '%-44s %10.2f %12.0f\n' "psql \\copy of the same rows, same schema" "$best_cp" "$(echo "$events / $best_cp" | bc -l)"
printf 'ratio: mailpulse import takes %.2fx the time of the raw \\copy (goal <= 1.25)\n' \
    "$(echo "$best_imp / $best_cp" | bc -l)"
printf 'importer peak RSS: %.1f MiB for the whole log, %.1f MiB for a quarter of it\n' \
    "$(echo "$rss / 1024" | bc -l)" "$(echo "$rss4 / 1024" | bc -l)"

# --- report latency over generated attempts (BENCH_ATTEMPTS=0 skips it)
[ "$ATTEMPTS" -gt 0 ] || exit 0
echo
fresh rep
REP=$(dsn_of rep)
t0=$(now)
psql "$REP" -qAt -v ON_ERROR_STOP=1 -v n="$ATTEMPTS" >/dev/null <<'EOF'
SELECT mailpulse_ensure_partitions('2026-11-01T00:00:00Z', '2026-11-08T00:00:00Z');
INSERT INTO sources (name, identity) VALUES ('bench', 'bench-generated');
-- 7 days; half the traffic to three big domains, the rest over 1000; 10 sender domains,
-- 4 hosts; 90% sent, 6% deferred, 3% bounced, 1% expired.
INSERT INTO deliveries (time, host, mta, queue_id, sender, sender_domain, recipient,
                        recipient_domain, relay, status, dsn, smtp_code, reply, reason, hard,
                        source_id, pos, seq)
SELECT t, 'mx' || (i % 4 + 1), 'postfix', to_hex(i), 'news@s' || (i % 10) || '.example',
       's' || (i % 10) || '.example', 'u' || i || '@' || d, d, 'mx.' || d || '[192.0.2.1]:25',
       st,
       CASE st WHEN 'sent' THEN '2.0.0' WHEN 'deferred' THEN '4.7.0' WHEN 'bounced' THEN '5.1.1'
               ELSE '4.4.7' END,
       CASE st WHEN 'sent' THEN 250 WHEN 'bounced' THEN 550 ELSE 421 END,
       CASE st WHEN 'sent' THEN '250 2.0.0 OK' WHEN 'bounced' THEN '550 5.1.1 user unknown'
               ELSE '421 4.7.0 try again later' END,
       CASE st WHEN 'sent' THEN NULL WHEN 'deferred' THEN 'blocked'
               WHEN 'bounced' THEN 'userunknown' ELSE 'expired' END,
       st = 'bounced', 1, i, 0
FROM (SELECT i, timestamptz '2026-11-01T00:00:00Z' + (i * (604800.0 / :n)) * interval '1 second' AS t,
             CASE i % 6 WHEN 0 THEN 'gmail.com' WHEN 1 THEN 'outlook.com' WHEN 2 THEN 'yahoo.com'
                        ELSE 'd' || (i % 1000) || '.example' END AS d,
             CASE WHEN i % 100 < 90 THEN 'sent' WHEN i % 100 < 96 THEN 'deferred'
                  WHEN i % 100 < 99 THEN 'bounced' ELSE 'expired' END AS st
      FROM generate_series(1, :n) i) g;
ANALYZE;
EOF
gen_s=$(echo "$(now) - $t0" | bc -l)
t0=$(now)
"$BIN" db rebuild-rollups --db "$REP" >"$TMP/rebuild"
rb_s=$(echo "$(now) - $t0" | bc -l)
psql "$REP" -qAt -c "ANALYZE rollups"
printf 'generated %s attempts in %.0f s; rebuild-rollups %.0f s (%s)\n' "$ATTEMPTS" "$gen_s" \
    "$rb_s" "$(cat "$TMP/rebuild")"
BENCH_END_US=$(psql "$REP" -qAt -c "SELECT (extract(epoch FROM max(time)) * 1000000)::bigint FROM deliveries") \
    "$DBBENCH" "$REP" 5
