#!/bin/sh
# web_hardening.sh - `mailpulse serve` under the attacks that used to work: slow request heads
# from several loopback addresses plus a slow reader of an export, while a further address
# must still get /healthz and the dashboard in under 100 ms (or three times their time with no
# attack, when the machine is busier than that); CSV cells that a spreadsheet
# would run as formulas; TLS 1.0 and 1.1 and non-AEAD ciphers; pages that must render under
# a Content-Security-Policy without inline style.
set -u
. "$(dirname "$0")/lib.sh"

SLOW_ADDRS=${WEB_SLOW_ADDRS:-127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5}
SLOW_PER_ADDR=${WEB_SLOW_PER_ADDR:-150}
SLOW_SECONDS=${WEB_SLOW_SECONDS:-14}
LATENCY_MS=100
RANGE="from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z"
# The dashboard is timed over the sample's day: what is measured is the web side under
# attack, not PostgreSQL summing the 20,000 generated rows that the slow export reads. The
# probes end it a second later each time (…T00:00:01Z, :02Z, …), so that none is a repeat
# the reply cache answers.
PAGE_RANGE="from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z"

DSN=$(new_db webhard) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
"$BIN" import --db "$DSN" samples/mail.log >/dev/null 2>&1 || { not_ok "import sample"; exit 1; }
# 20,000 attempts on 2026-10-01 (enough CSV to outlast the socket buffers of a slow reader),
# and five whose text fields begin like spreadsheet formulas.
psql "$DSN" -qAt -v ON_ERROR_STOP=1 >/dev/null <<'EOF' || { not_ok "generate rows"; exit 1; }
SELECT mailpulse_ensure_partitions('2026-10-01', '2026-10-31');
INSERT INTO deliveries (time, host, mta, queue_id, sender, sender_domain, recipient,
    recipient_domain, relay, status, dsn, smtp_code, reply, reason, hard, source_id, pos, seq)
SELECT '2026-10-01'::timestamptz + i * interval '4 seconds', 'mx1', 'postfix', 'Q' || i,
    'news@example.org', 'example.org', 'user' || i || '@d' || (i % 50) || '.example',
    'd' || (i % 50) || '.example', 'mx.d' || (i % 50) || '.example[192.0.2.1]:25',
    CASE WHEN i % 10 = 0 THEN 'bounced' ELSE 'sent' END,
    CASE WHEN i % 10 = 0 THEN '5.1.1' ELSE '2.0.0' END, 250, '250 2.0.0 ok ' || repeat('x', 100),
    NULL, false, (SELECT min(id) FROM sources), 2000000000 + i, 0
FROM generate_series(1, 20000) i;
INSERT INTO deliveries (time, host, mta, queue_id, sender, sender_domain, recipient,
    recipient_domain, relay, status, dsn, smtp_code, reply, reason, hard, source_id, pos, seq)
VALUES
 ('2026-10-01T23:00:01Z', 'mx1', 'postfix', 'F1', 'a@x.example', 'x.example',
  '=HYPERLINK("http://evil.example")@evil.example', 'evil.example', 'none', 'bounced', '5.1.1',
  550, 'plain reply', 'userunknown', true, (SELECT min(id) FROM sources), 3000000001, 0),
 ('2026-10-01T23:00:02Z', 'mx1', 'postfix', 'F2', '+cmd@x.example', 'x.example',
  'b@evil.example', 'evil.example', 'none', 'bounced', '5.1.1', 550, '-2+3,4', 'userunknown',
  true, (SELECT min(id) FROM sources), 3000000002, 0),
 ('2026-10-01T23:00:03Z', 'mx1', 'postfix', 'F3', 'c@x.example', 'x.example',
  'c@evil.example', 'evil.example', '@SUM(1+1)', 'bounced', '5.1.1', 550, E'\tTAB',
  'userunknown', true, (SELECT min(id) FROM sources), 3000000003, 0),
 ('2026-10-01T23:00:04Z', 'mx1', 'postfix', 'F4', 'd@x.example', 'x.example',
  'd@evil.example', 'evil.example', 'none', 'bounced', '5.1.1', 550, E'\rCR',
  'userunknown', true, (SELECT min(id) FROM sources), 3000000004, 0),
 ('2026-10-01T23:00:05Z', 'mx1', 'postfix', 'F5', 'e@x.example', 'x.example',
  'e@evil.example', 'evil.example', 'mx.evil.example', 'bounced', '5.1.1', 550, 'a=b, not a formula',
  'userunknown', true, (SELECT min(id) FROM sources), 3000000005, 0);
EOF

: >"$WORK/empty.log"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DSN" --log "$WORK/empty.log" --listen "127.0.0.1:$PORT" \
    --state-dir "$WORK/state" 2>"$WORK/serve.err" &
SPID=$!
SERVE_PIDS="$SERVE_PIDS $SPID"
check "serve runs" wait_http "$URL/healthz"

# --- CSV formulas
F="what=bounces&format=csv&from=2026-10-01T22:00:00Z&to=2026-10-02T00:00:00Z&domain=evil.example"
curl -s "$URL/api/v1/export?$F" >"$WORK/guarded.csv"
curl -s "$URL/api/v1/export?$F&formulas=keep" >"$WORK/raw.csv"
check_eq "the export holds the 5 hostile rows" 6 "$(grep -c '' "$WORK/guarded.csv")"
check "=... recipient gets a leading quote" \
    grep -qF ",\"'=HYPERLINK(\"\"http://evil.example\"\")@evil.example\"," "$WORK/guarded.csv"
check "+... sender gets a leading quote" grep -qF ",'+cmd@x.example," "$WORK/guarded.csv"
check "-... reply gets a leading quote (and stays quoted for its comma)" \
    grep -qF ",\"'-2+3,4\"" "$WORK/guarded.csv"
check "@... relay gets a leading quote" grep -qF ",'@SUM(1+1)," "$WORK/guarded.csv"
check "tab-led reply gets a leading quote" grep -qF "$(printf ",'\tTAB")" "$WORK/guarded.csv"
check "CR-led reply gets a leading quote inside its quotes" grep -qF "$(printf ",\"'\rCR\"")" \
    "$WORK/guarded.csv"
check "a = later in a cell is left alone" grep -qF ',"a=b, not a formula"' "$WORK/guarded.csv"
check "no cell of the guarded export begins with = + - @ tab or CR" python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
bad = [c for r in rows[1:] for c in r if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
sys.exit(1 if bad or len(rows) != 6 else 0)' "$WORK/guarded.csv"
check "formulas=keep gives the values as stored" python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
cells = {c for r in rows[1:] for c in r}
want = {"=HYPERLINK(\"http://evil.example\")@evil.example", "+cmd@x.example", "-2+3,4",
        "@SUM(1+1)", "\tTAB", "\rCR"}
sys.exit(0 if want <= cells else 1)' "$WORK/raw.csv"
check_eq "formulas= with JSON: 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/export?format=json&formulas=keep")"
check_eq "formulas=bogus: 400" 400 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/export?format=csv&formulas=bogus")"

# --- slow heads from several addresses, a slow reader, and a client that must be served
curl -s -o /dev/null "$URL/?$PAGE_RANGE" # the first dashboard query warms the cache of plans
python3 "$(dirname "$0")/web_slowloris.py" "$PORT" "$SLOW_SECONDS" "$SLOW_ADDRS" "$SLOW_PER_ADDR" \
    127.0.0.6 127.0.0.7 "/api/v1/export?format=csv&$RANGE" "/?${PAGE_RANGE%00Z}{s}Z" >"$WORK/slow.json"
echo "# slowloris: $(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
p = j["probes"]
print("opened %d, refused %d, cut by the deadline %d, held at peak %d, slow read %d bytes; "
      "%d probes, healthz max %.1f ms, dashboard max %.1f ms" % (j["slow_opened"],
      j["slow_refused"], j["slow_cut_by_deadline"], j["slow_held_peak"], j["slow_read_bytes"], len(p),
      max([x["healthz_ms"] for x in p] or [0]), max([x["page_ms"] for x in p] or [0])))' \
    "$WORK/slow.json")"
slowq() { python3 -c "import json, sys; j = json.load(open(sys.argv[1])); p = j['probes']; sys.exit(0 if ($1) else 1)" "$WORK/slow.json"; }
check "the attack held at least 100 slow connections at once" slowq 'j["slow_held_peak"] >= 100'
check "the head deadline cut slow connections that kept sending" slowq 'j["slow_cut_by_deadline"] > 0'
check "the slow reader was being served" slowq 'j["slow_read_bytes"] > 0'
check "at least 10 probes ran during the attack" slowq 'len(p) >= 10'
check "every /healthz from a further address: 200" slowq 'all(x["healthz"] == 200 for x in p)'
check "every dashboard from a further address: 200" slowq 'all(x["page"] == 200 for x in p)'
# Every probe is answered well within a second (before the fix they waited out the 2 s limit);
# nine in ten within $LATENCY_MS ms or three times what the same request took with no attack
# (the median of six probes, three before and three after it), whichever is more: on this
# shared 2-core machine a dashboard query alone can take over 100 ms while other work runs,
# and the question here is whether the attack slows the server, not how fast the machine is.
check "every /healthz and dashboard within 1 s" slowq "all(x['healthz_ms'] < 1000 and x['page_ms'] < 1000 for x in p)"
quiet_ms() { python3 -c "import json, statistics, sys; print(round(max($LATENCY_MS, 3 * statistics.median(q['$1'] for q in json.load(open(sys.argv[1]))['quiet']))))" "$WORK/slow.json"; }
HEALTHZ_MS=$(quiet_ms healthz_ms)
PAGE_MS=$(quiet_ms page_ms)
check "/healthz under $HEALTHZ_MS ms in 9 of 10 probes" slowq "sum(x['healthz_ms'] < $HEALTHZ_MS for x in p) >= 0.9 * len(p)"
check "dashboard under $PAGE_MS ms in 9 of 10 probes" slowq "sum(x['page_ms'] < $PAGE_MS for x in p) >= 0.9 * len(p)"
check "/metrics counts the connections cut" sh -c \
    "curl -s \"\$1/metrics\" | awk '/^mailpulse_http_head_timeouts_total / { n = \$2 } END { exit !(n > 0) }'" _ "$URL"
check "still serving after the attack" wait_http "$URL/healthz"

# --- the pages under the Content-Security-Policy: no violation in Chromium's console
check "every reply carries the Content-Security-Policy" sh -c \
    "curl -s -D - -o /dev/null \"\$1/bounces\" | tr -d '\r' | grep -qx \"Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'\"" _ "$URL"
check "and Referrer-Policy" sh -c \
    "curl -s -D - -o /dev/null \"\$1/static/style.css\" | tr -d '\r' | grep -qx 'Referrer-Policy: no-referrer'" _ "$URL"
for p in "/?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z" \
    "/bounces?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z" "/message?queue_id=F1"; do
    check "page $p: no inline style attribute" sh -c '! curl -s "$1" | grep -q " style="' _ "$URL$p"
done
CHROMIUM=$(command -v chromium || true)
if [ -n "$CHROMIUM" ]; then
    for p in "/?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z" \
        "/bounces?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z" "/message?queue_id=F1"; do
        timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --disable-dev-shm-usage --user-data-dir="$(mktemp -d "$WORK/chrome.XXXXXX")" \
            --enable-logging=stderr --v=0 --dump-dom "$URL$p" >"$WORK/dom.html" 2>"$WORK/chrome.err"
        check "Chromium renders $p with no Content-Security-Policy violation" sh -c \
            'grep -q "</html>" "$1" && ! grep -qi "Content Security Policy" "$2"' _ "$WORK/dom.html" "$WORK/chrome.err"
    done
fi
kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null

# --- TLS 1.2 and 1.3 only, AEAD ciphers only
if openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    >/dev/null 2>&1; then
    PORT=$(free_port)
    "$BIN" serve --db "$DSN" --log "$WORK/empty.log" --listen "127.0.0.1:$PORT" \
        --state-dir "$WORK/state" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
        2>"$WORK/tls.err" &
    SPID=$!
    SERVE_PIDS="$SERVE_PIDS $SPID"
    check "serve with TLS answers" \
        wait_for 10 curl -s -o /dev/null --cacert "$WORK/cert.pem" "https://127.0.0.1:$PORT/healthz"
    check "the log says serving https://" grep -q "serving https://127.0.0.1:$PORT/" "$WORK/tls.err"
    # The client's own floor is lowered (SECLEVEL=0), so only the server can refuse.
    sclient() { echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" \
        -cipher 'DEFAULT:@SECLEVEL=0' "$@" >"$WORK/sclient.out" 2>&1; }
    refused() { ! sclient "$@"; }
    check "TLS 1.0 is refused" refused -tls1
    check "TLS 1.1 is refused" refused -tls1_1
    check "TLS 1.2 is accepted" sclient -tls1_2
    check "  ... with an AEAD cipher" grep -qE 'Cipher is ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)' "$WORK/sclient.out"
    check "TLS 1.3 is accepted" sclient -tls1_3
    check "TLS 1.2 with a CBC cipher is refused" refused -tls1_2 \
        -cipher 'ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA:AES256-SHA:@SECLEVEL=0'
    check "TLS 1.2 with plain RSA key exchange is refused" refused -tls1_2 \
        -cipher 'AES256-GCM-SHA384:AES128-GCM-SHA256:@SECLEVEL=0'
    kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
else
    not_ok "openssl could not make a throwaway certificate"
fi
