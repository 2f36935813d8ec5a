#!/bin/sh
# web_api.sh - every HTTP endpoint over the wire against samples/mail.log: the numbers
# (read off the log by hand), paging, filters, exports, /metrics, and the error cases.
set -u
. "$(dirname "$0")/lib.sh"

SAMPLE=samples/mail.log
RANGE="from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z"

DSN=$(new_db webapi) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
cp "$SAMPLE" "$WORK/mail.log"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DSN" --log "$WORK/mail.log" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"
summary_ready() { [ "$(json_get "$(curl -s "$URL/api/v1/summary?$RANGE")" expired)" = 1 ]; }
check "serve ingested the sample" wait_for 15 summary_ready

# jcheck NAME URL PYTHON-EXPRESSION: ok when the expression over the JSON body (j) is true
jcheck() {
    name=$1 url=$2 expr=$3
    curl -s "$URL$url" >"$WORK/body.json"
    if python3 - "$WORK/body.json" "$expr" <<'EOF'; then ok "$name"; else not_ok "$name"; fi
import json, sys
j = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
if not ok:
    sys.stderr.write("body: %s\n" % json.dumps(j)[:600])
sys.exit(0 if ok else 1)
EOF
}

# status NAME URL WANT [ERROR-SUBSTRING]: the HTTP status, and for 4xx a JSON error naming it
status() {
    code=$(curl -s -o "$WORK/st.out" -w '%{http_code}' "$URL$2")
    if [ "$code" != "$3" ]; then
        not_ok "$1 (want $3, got $code: $(head -c 200 "$WORK/st.out"))"
        return
    fi
    if [ -n "${4:-}" ] && ! grep -qF -- "$4" "$WORK/st.out"; then
        not_ok "$1 (no '$4' in $(head -c 200 "$WORK/st.out"))"
        return
    fi
    ok "$1"
}

# --- summary
jcheck "summary: received 4 (the bounce notice Postfix wrote is not), attempts 11" "/api/v1/summary?$RANGE" \
    'j["received"] == 4 and j["attempts"] == 11'
jcheck "summary: sent 5 deferred 3 bounced 2 expired 1 rejected 1" "/api/v1/summary?$RANGE" \
    '[j[k] for k in ("sent","deferred","bounced","expired","rejected")] == [5,3,2,1,1]'
jcheck "summary: rates are numbers (2/11, 3/11)" "/api/v1/summary?$RANGE" \
    'abs(j["bounce_rate"] - 2/11) < 1e-9 and abs(j["deferral_rate"] - 3/11) < 1e-9'
jcheck "summary: host filter mx1 keeps all" "/api/v1/summary?$RANGE&host=mx1" 'j["sent"] == 5'
jcheck "summary: host filter mx9 keeps none" "/api/v1/summary?$RANGE&host=mx9" \
    'j["sent"] == 0 and j["received"] == 0'
jcheck "summary: sender_domain=Example.ORG (3 of the 5 messages)" \
    "/api/v1/summary?$RANGE&sender_domain=Example.ORG" \
    '[j[k] for k in ("received","sent","deferred","bounced","expired","rejected")] == [3,3,3,2,1,0] and j["sender_domain"] == "example.org"'
jcheck "summary: an offset time, 09:00Z-10:00Z written as +01:00" \
    "/api/v1/summary?from=2026-11-27T10:00:00%2B01:00&to=2026-11-27T10:00:00Z" \
    '[j[k] for k in ("received","sent","deferred","bounced")] == [2,4,3,1]'

# --- timeseries
jcheck "timeseries: 24 hourly points" "/api/v1/timeseries?$RANGE&bucket=hour" \
    'len(j["points"]) == 24 and j["bucket"] == "hour"'
jcheck "timeseries: 09:00 holds 2 received, 4 sent, 3 deferred, 1 bounced" \
    "/api/v1/timeseries?$RANGE&bucket=hour" \
    '[p for p in j["points"] if p["time"] == "2026-11-27T09:00:00+00:00"][0] == {"time": "2026-11-27T09:00:00+00:00", "received": 2, "sent": 4, "deferred": 3, "bounced": 1, "expired": 0, "rejected": 0}'
jcheck "timeseries: sums match the summary" "/api/v1/timeseries?$RANGE&bucket=minute&by=status" \
    '[sum(p[k] for p in j["points"]) for k in ("received","sent","deferred","bounced","expired","rejected")] == [4,5,3,2,1,1] and len(j["points"]) == 1440'
jcheck "timeseries: one day bucket" "/api/v1/timeseries?$RANGE&bucket=day" \
    'len(j["points"]) == 1 and j["points"][0]["sent"] == 5'

# --- domains
jcheck "domains: 6 recipient domains" "/api/v1/domains?$RANGE" 'len(j["domains"]) == 6'
jcheck "domains: gmail.com 2 attempts, 1 bounced, rate 0.5" "/api/v1/domains?$RANGE" \
    '[d for d in j["domains"] if d["domain"] == "gmail.com"][0] == {"domain": "gmail.com", "attempts": 2, "sent": 1, "deferred": 0, "bounced": 1, "expired": 0, "bounce_rate": 0.5, "deferral_rate": 0, "async_bounced": 0, "total_bounce_rate": 0.5}'
jcheck "domains: order=bounce_rate puts mailbox-full.example first" \
    "/api/v1/domains?$RANGE&order=bounce_rate" 'j["domains"][0]["domain"] == "mailbox-full.example"'
jcheck "domains: order=deferral_rate puts example.net first" \
    "/api/v1/domains?$RANGE&order=deferral_rate&limit=2" \
    'j["domains"][0]["domain"] == "example.net" and j["domains"][0]["deferred"] == 2 and j["domains"][0]["expired"] == 1 and len(j["domains"]) == 2'

# --- reasons
jcheck "reasons: networkerror 4.4.1 x2 first" "/api/v1/reasons?$RANGE" \
    'j["reasons"][0]["reason"] == "networkerror" and j["reasons"][0]["dsn"] == "4.4.1" and j["reasons"][0]["count"] == 2'
jcheck "reasons: userunknown 5.1.1 bounced, with the reply as example" "/api/v1/reasons?$RANGE" \
    'any(r["reason"] == "userunknown" and r["dsn"] == "5.1.1" and r["status"] == "bounced" and "does not exist" in r["example"] for r in j["reasons"])'
jcheck "reasons: counts add up to the 6 failures" "/api/v1/reasons?$RANGE" \
    'sum(r["count"] for r in j["reasons"]) == 6'

# --- bounces and paging
jcheck "bounces: 6 failed attempts, no next page" "/api/v1/bounces?$RANGE" \
    'j["count"] == 6 and len(j["bounces"]) == 6 and j["next_cursor"] is None'
jcheck "bounces: newest first" "/api/v1/bounces?$RANGE" \
    '[b["time"] for b in j["bounces"]] == sorted([b["time"] for b in j["bounces"]], reverse=True)'
curl -s "$URL/api/v1/bounces?$RANGE&limit=4" >"$WORK/p1.json"
cursor=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["next_cursor"])' "$WORK/p1.json")
check "bounces: page 1 of 4 rows gives a cursor" [ -n "$cursor" ] && [ "$cursor" != None ]
jcheck "bounces: page 2 holds the other 2, no further cursor" \
    "/api/v1/bounces?$RANGE&limit=4&cursor=$cursor" \
    'len(j["bounces"]) == 2 and j["next_cursor"] is None'
curl -s "$URL/api/v1/bounces?$RANGE&limit=4&cursor=$cursor" >"$WORK/p2.json"
check "bounces: pages do not overlap and cover all 6" python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["bounces"] + json.load(open(sys.argv[2]))["bounces"]
keys = set((b["time"], b["recipient"], b["status"]) for b in a)
assert len(a) == 6 and len(keys) == 6, keys' "$WORK/p1.json" "$WORK/p2.json"
jcheck "bounces: status=bounced" "/api/v1/bounces?$RANGE&status=bounced" \
    'sorted(b["recipient"] for b in j["bounces"]) == ["nosuch.user@gmail.com", "someone@mailbox-full.example"]'
jcheck "bounces: domain=gmail.com" "/api/v1/bounces?$RANGE&domain=GMail.com" \
    'len(j["bounces"]) == 1 and j["bounces"][0]["dsn"] == "5.1.1" and j["bounces"][0]["reason"] == "userunknown"'
jcheck "bounces: reason=networkerror" "/api/v1/bounces?$RANGE&reason=networkerror" \
    'sorted(b["status"] for b in j["bounces"]) == ["deferred", "deferred", "expired"]'
jcheck "bounces: dsn=5.2.2" "/api/v1/bounces?$RANGE&dsn=5.2.2" \
    'len(j["bounces"]) == 1 and j["bounces"][0]["recipient"] == "someone@mailbox-full.example"'
jcheck "bounces: event keys are the NDJSON contract" "/api/v1/bounces?$RANGE&limit=1" \
    'set(["type","time","host","mta","queue_id","message_id","sender","recipient","recipient_domain","relay","status","dsn","smtp_code","reply","reason","hard"]) <= set(j["bounces"][0])'

# --- message trail
jcheck "messages: queue id 4ZxY2l3Xr9z1 has 5 events" "/api/v1/messages?queue_id=4ZxY2l3Xr9z1" \
    '[e["type"] for e in j["events"]] == ["message","delivery","delivery","delivery","bounce_notice"]'
jcheck "messages: by message-id, the same trail" \
    "/api/v1/messages?message_id=%3C20261127090001.a1@example.org%3E" \
    'j["count"] == 5 and j["events"][0]["size"] == 18231'
jcheck "messages: by recipient" "/api/v1/messages?recipient=nosuch.user@gmail.com" \
    'any(e.get("recipient") == "nosuch.user@gmail.com" and e["status"] == "bounced" for e in j["events"])'
jcheck "messages: unknown queue id gives an empty trail" "/api/v1/messages?queue_id=NOPE123" \
    'j["count"] == 0 and j["events"] == []'

# --- exports
hdr() { curl -s -D - -o "$WORK/export.out" "$URL$1" | tr -d '\r'; }
h=$(hdr "/api/v1/export?what=deliveries&format=csv&$RANGE")
check "export csv: Content-Disposition attachment" \
    sh -c "printf '%s' \"\$1\" | grep -q '^Content-Disposition: attachment; filename=\"mailpulse-deliveries-2026-11-27.csv\"'" _ "$h"
check "export csv: text/csv" sh -c "printf '%s' \"\$1\" | grep -qi '^Content-Type: text/csv'" _ "$h"
check "export csv: header + 11 rows, CRLF, RFC 4180 parse" python3 -c '
import csv, sys
raw = open(sys.argv[1], "rb").read()
assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
rows = list(csv.reader(raw.decode().splitlines()))
assert rows[0][:3] == ["time", "type", "host"], rows[0]
assert len(rows) == 12, len(rows)
st = [r[rows[0].index("status")] for r in rows[1:]]
assert sorted(st).count("sent") == 5 and st.count("deferred") == 3, st
r = [x for x in rows[1:] if x[7] == "ops@outlook.com" and x[11] == "deferred"][0]
assert "rate limited" in r[-1] and r[12] == "4.7.650", r' "$WORK/export.out"
hdr "/api/v1/export?what=bounces&format=ndjson&$RANGE" >/dev/null
check "export ndjson bounces: 6 lines, each an event" python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
evs = [json.loads(l) for l in lines]
assert len(evs) == 6 and all(e["status"] != "sent" for e in evs), len(evs)' "$WORK/export.out"
hdr "/api/v1/export?$RANGE" >/dev/null
check "export json (default deliveries): an array of 11" python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
assert isinstance(a, list) and len(a) == 11' "$WORK/export.out"
hdr "/api/v1/export?from=1999-01-01T00:00:00Z&to=1999-01-02T00:00:00Z" >/dev/null
check "export json of an empty range is []" python3 -c '
import json, sys
assert json.load(open(sys.argv[1])) == []' "$WORK/export.out"
hdr "/api/v1/export?what=bounces&format=csv&domain=gmail.com&$RANGE" >/dev/null
check_eq "export csv filtered by domain: header + 1 row" 2 "$(grep -c . "$WORK/export.out")"

# --- metrics
curl -s "$URL/metrics" >"$WORK/metrics.txt"
check "metrics: sent counter for mx1" \
    grep -qx 'mailpulse_delivery_attempts_total{host="mx1",status="sent",reason="",dsn_class="2"} 5' "$WORK/metrics.txt"
check "metrics: userunknown bounce, class 5" \
    grep -qx 'mailpulse_delivery_attempts_total{host="mx1",status="bounced",reason="userunknown",dsn_class="5"} 1' "$WORK/metrics.txt"
check "metrics: reject counter" \
    grep -qx 'mailpulse_rejects_total{host="mx1",reason="blocked",dsn_class="5"} 1' "$WORK/metrics.txt"
check_eq "metrics: delivery counters sum to 11" 11 \
    "$(awk '/^mailpulse_delivery_attempts_total\{/ { s += $2 } END { print s }' "$WORK/metrics.txt")"
check "metrics: ingest lines (37 in the sample)" grep -qx 'mailpulse_ingest_lines_total 37' "$WORK/metrics.txt"
check "metrics: no domain or address in any label" sh -c '! grep -E "@|gmail|example\." "$1"' _ "$WORK/metrics.txt"
check "metrics: every sample line has HELP and TYPE" python3 -c '
import sys, re
typed = set()
for line in open(sys.argv[1]):
    m = re.match(r"# TYPE (\S+) (counter|gauge)$", line)
    if m: typed.add(m.group(1)); continue
    if line.startswith("#"): continue
    name = re.match(r"([a-z_]+)[{ ]", line).group(1)
    assert name in typed, name
    assert re.match(r"^[a-z_]+(\{([a-z_]+=\"[^\"]*\",?)*\})? -?[0-9.e+]+$", line.strip()), line' "$WORK/metrics.txt"

# --- HTML pages over curl (the browser test looks at them rendered)
curl -s "$URL/?$RANGE" >"$WORK/dash.html"
check "dashboard: sent KPI 5" grep -q 'id="kpi-sent"><span class="label">Sent</span><span class="value" data-value="5">' "$WORK/dash.html"
check "dashboard: chart with 24 hourly buckets" grep -q 'data-total="11" data-buckets="24"' "$WORK/dash.html"
check "dashboard: bar titles" grep -q '<title>2026-11-27 09:00 UTC — 4 sent, 3 deferred, 1 bounced, 0 expired</title>' "$WORK/dash.html"
check "dashboard: no script anywhere" sh -c '! grep -qi "<script" "$1"' _ "$WORK/dash.html"
# The cards add up the chart's buckets: they must equal the summary over the same range, for
# minute, hour and day buckets, ends off the hour and off the minute, and one host.
for rq in "from=2026-11-27T09:12:30Z&to=2026-11-27T10:47:10Z" \
    "from=2026-11-27T08:59:59Z&to=2026-11-27T19:00:01Z" \
    "from=2026-11-20T00:00:00Z&to=2026-11-30T00:00:00Z" "$RANGE&host=mx1"; do
    curl -s "$URL/?$rq" >"$WORK/dash2.html"
    curl -s "$URL/api/v1/summary?$rq" >"$WORK/sum2.json"
    if python3 - "$WORK/dash2.html" "$WORK/sum2.json" <<'EOF'; then ok "dashboard cards = summary ($rq)"; else not_ok "dashboard cards = summary ($rq)"; fi
import json, re, sys
page = open(sys.argv[1]).read()
j = json.load(open(sys.argv[2]))
got = {k: int(v) for k, v in re.findall(
    r'id="kpi-([a-z]+)"><span class="label">[^<]*</span><span class="value" data-value="(-?[0-9]+)"',
    page)}
want = {k: j[k] for k in ("received", "sent", "deferred", "bounced", "expired", "rejected")}
want["attempts"] = j["sent"] + j["deferred"] + j["bounced"] + j["expired"]
bad = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
if bad or want["attempts"] == 0:
    sys.stderr.write("cards vs summary: %r %r\n" % (bad, want))
sys.exit(1 if bad or want["attempts"] == 0 else 0)
EOF
done
curl -s "$URL/bounces?$RANGE&status=bounced" >"$WORK/b.html"
check "bounces page: 2 rows for status=bounced" grep -q 'id="bounces" data-rows="2"' "$WORK/b.html"
check "bounces page: CSV link keeps the filters" \
    grep -q 'href="/api/v1/export?what=bounces&amp;format=csv&amp;from=2026-11-27T00%3A00%3A00Z&amp;to=2026-11-28T00%3A00%3A00Z&amp;status=bounced"' "$WORK/b.html"
curl -s "$URL/bounces?$RANGE&limit=4" >"$WORK/b.html"
next=$(sed -n 's/.*id="next-page" href="\([^"]*\)".*/\1/p' "$WORK/b.html" | sed 's/&amp;/\&/g')
check "bounces page: an Older link when there is more" [ -n "$next" ]
curl -s "$URL$next" >"$WORK/b2.html"
check "bounces page: the Older page holds the last 2" grep -q 'id="bounces" data-rows="2"' "$WORK/b2.html"
curl -s "$URL/message?queue_id=4ZxY2l3Xr9z1" >"$WORK/m.html"
check "message page: 5 events" grep -q 'id="trail" data-rows="5"' "$WORK/m.html"

# --- errors
status "unknown path 404" "/api/v2/summary" 404 '"error"'
status "reversed range 400" "/api/v1/domains?from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z" 400 earlier
status "unknown reason 400" "/api/v1/bounces?reason=gremlins" 400 "'reason'"
status "absurd limit 400" "/api/v1/bounces?limit=1000000" 400 "'limit'"
status "unknown order 400" "/api/v1/domains?order=name" 400 "'order'"
status "years are not a relative unit 400" "/api/v1/timeseries?from=-1y" 400 "'from'"
status "minute buckets over 30 days 400" "/api/v1/timeseries?from=-30d&bucket=minute" 400 buckets
status "forged cursor 400" "/api/v1/bounces?cursor=9.9.9" 400 "'cursor'"
status "cursor with SQL 400" "/api/v1/bounces?cursor=1%27%3BDROP%20TABLE%20deliveries--" 400 "'cursor'"
status "SQL in domain 400" "/api/v1/bounces?domain=x%27%20OR%201%3D1--" 400 "'domain'"
status "SQL in queue id 400" "/api/v1/messages?queue_id=1%27%20OR%20%271%27%3D%271" 400 "'queue_id'"
status "huge parameter 400" "/api/v1/messages?message_id=$(head -c 3000 /dev/zero | tr '\0' a)" 400 "'message_id'"
status "export bad format 400" "/api/v1/export?format=xlsx" 400 "'format'"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/api/v1/summary")
check_eq "POST is 405" 405 "$code"
check_eq "the deliveries table is still there" 11 "$(psql "$DSN" -qAt -c 'select count(*) from deliveries')"
check "no SQL text or server detail in any error body" sh -c '! grep -qiE "select|postgres|syntax|pq|stack" "$1"' _ "$WORK/st.out"
