#!/bin/sh
# web_export.sh - an export larger than the server's address-space limit streams in flat
# memory: 400,000 generated attempts (~420 MB of CSV) through a daemon run under
# `prlimit --as` with far less room than that, and its peak RSS stays small.
set -u
. "$(dirname "$0")/lib.sh"

ROWS=${WEB_EXPORT_ROWS:-400000}
AS_LIMIT=$((384 * 1024 * 1024)) # the daemon idles at ~260 MB of address space (thread stacks, 2 arenas)
RSS_LIMIT_KB=65536
PRLIMIT="prlimit --as=$AS_LIMIT"
# AddressSanitizer reserves terabytes of shadow memory, so an address-space limit cannot
# apply to a sanitizer build; its peak RSS is checked, against a sanitizer's budget.
if grep -q __asan_init "$BIN" 2>/dev/null; then
    PRLIMIT=""
    RSS_LIMIT_KB=$((128 * 1024))
    # its quarantine keeps freed memory (256 MB by default): keep that small here
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8"
fi
RANGE="from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z"

DSN=$(new_db webexport) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
"$BIN" import --db "$DSN" samples/mail.log >/dev/null 2>&1 || { not_ok "import sample"; exit 1; }
# Generated rows in October 2026 (the sample is in November), one source, distinct positions.
psql "$DSN" -qAt -v ON_ERROR_STOP=1 >/dev/null <<EOF || { not_ok "generate $ROWS rows"; exit 1; }
SELECT mailpulse_ensure_partitions('2026-10-01', '2026-10-31');
INSERT INTO deliveries (time, host, mta, queue_id, sender, sender_domain, recipient,
    recipient_domain, relay, status, dsn, smtp_code, reply, reason, hard, source_id, pos, seq)
SELECT '2026-10-01'::timestamptz + i * interval '5 seconds', 'mx' || (i % 3), 'postfix',
    'Q' || i, 'news@example.org', 'example.org', 'user' || i || '@d' || (i % 50) || '.example',
    'd' || (i % 50) || '.example', 'mx.d' || (i % 50) || '.example[192.0.2.1]:25',
    CASE WHEN i % 10 = 0 THEN 'bounced' ELSE 'sent' END,
    CASE WHEN i % 10 = 0 THEN '5.1.1' ELSE '2.0.0' END, 250,
    '250 2.0.0 "quoted, with comma" ' || repeat('x', 860), NULL, false,
    (SELECT min(id) FROM sources), 1000000000 + i, 0
FROM generate_series(1, $ROWS) i;
EOF
check_eq "generated rows are there" "$ROWS" \
    "$(psql "$DSN" -qAt -c "select count(*) from deliveries where time < '2026-11-01'")"

: >"$WORK/empty.log"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
$PRLIMIT "$BIN" serve --db "$DSN" --log "$WORK/empty.log" \
    --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SPID=$!
SERVE_PIDS="$SERVE_PIDS $SPID"
check "serve runs${PRLIMIT:+ under $PRLIMIT}" wait_http "$URL/healthz"

curl -sS -o "$WORK/export.csv" -w '%{http_code}' \
    "$URL/api/v1/export?what=deliveries&format=csv&$RANGE" >"$WORK/code" 2>"$WORK/curl.err"
rc=$?
check_eq "export completes (curl exit 0, status 200)" "0 200" "$rc $(cat "$WORK/code")"
[ "$rc" = 0 ] || { echo "# curl: $(cat "$WORK/curl.err")"; sed 's/^/# serve: /' "$WORK/serve.err" | tail -5; }
size=$(stat -c %s "$WORK/export.csv")
check "the export ($size bytes) is larger than the address-space limit ($AS_LIMIT)" \
    [ "$size" -gt "$AS_LIMIT" ] || [ "$ROWS" -lt 400000 ]
check_eq "header + $ROWS rows" $((ROWS + 1)) "$(wc -l <"$WORK/export.csv")"
check "every row is quoted per RFC 4180" sh -c \
    "tail -n +2 \"\$1\" | grep -vc '\"250 2.0.0 \"\"quoted, with comma\"\" x*\"' | grep -qx 0" \
    _ "$WORK/export.csv"
hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$SPID/status)
check "peak RSS stayed under $RSS_LIMIT_KB kB (was ${hwm} kB)" [ "$hwm" -lt $RSS_LIMIT_KB ]

curl -sS -o "$WORK/export.ndjson" "$URL/api/v1/export?what=bounces&format=ndjson&$RANGE"
check_eq "bounces ndjson: every 10th row" $((ROWS / 10)) "$(wc -l <"$WORK/export.ndjson")"
hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$SPID/status)
check "peak RSS still under $RSS_LIMIT_KB kB after a second export (${hwm} kB)" \
    [ "$hwm" -lt $RSS_LIMIT_KB ]

# A client that goes away mid-stream: the server closes the cursor and keeps serving.
curl -s "$URL/api/v1/export?format=json&$RANGE" | head -c 100000 >/dev/null
check "the server answers after an abandoned export" wait_http "$URL/healthz" 5
# The server learns of the hang-up at its next write, so give it a moment.
exports_idle() {
    [ "$(curl -s "$URL/metrics" | grep '^mailpulse_http_exports_running')" = \
        "mailpulse_http_exports_running 0" ]
}
check "no export is left running" wait_for 15 exports_idle
