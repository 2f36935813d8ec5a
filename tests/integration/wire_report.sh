#!/bin/sh
# wire_report - the wire-level report: GET /api/v1/wire and the dashboard's "On the
# wire" section. Two sets of smtp events in one database:
#   - the events `mailpulse sniff -r` gives for corpus captures and a crafted implicit-TLS
#     capture, stored into smtp_events with psql under two hosts; the expected counts are
#     computed from the same NDJSON by Python, independently of the SQL;
#   - live: `mailpulse serve` with [sniff] on lo while Python smtplib talks to the test's
#     SMTP peer (one refused RCPT, one DATA) and to a peer that refuses the greeting.
# Also the parameter errors, and the section's absence from a range without smtp events.
set -u
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
chmod 755 "$WORK"
C=$MAILPULSE_CORPORA

DSN=$(new_db dwire) || { not_ok "wire: create database"; exit 0; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "wire: migrate"; exit 0; }

# ---- offline: corpus captures into smtp_events ----
"$PY" tests/pcap/gen_crafted.py "$WORK/crafted" >"$WORK/gen.out" 2>&1 ||
    not_ok "wire: crafted captures (gen_crafted.py)"
: >"$WORK/events.ndjson"
n=0
for f in "$C/ndpi-smtp/pcap/smtp.pcap" "$C/suricata-verify-smtp/smtp-errors/smtperr.pcap" \
    "$C/ndpi-smtp/pcap/smtp-starttls.pcap" "$C/zeek-smtp/Traces/tls/smtp-starttls.pcap" \
    "$C/zeek-smtp/Traces/smtp-mail-transactions-invalid.pcap" \
    "$C/zeek-smtp/Traces/smtp-one-side-only.pcap" "$WORK/crafted/implicit-tls.pcap"; do
    n=$((n + 1))
    host=wire-a
    [ $((n % 2)) -eq 0 ] && host=wire-b
    # One line per event: the host it is stored under, a tab, the event.
    "$BIN" sniff -r "$f" 2>/dev/null | sed "s/^/$host	/" >>"$WORK/events.ndjson"
done
# The rows as CSV for COPY, and the monthly partitions they need (one call per month: a
# single call over the whole span would take too many locks in one transaction).
"$PY" - "$WORK/events.ndjson" "$WORK/events.csv" "$WORK/load.sql" <<'PYEOF'
import csv, json, sys
w = csv.writer(open(sys.argv[2], "w", newline=""))
months = {}
for pos, line in enumerate(open(sys.argv[1])):
    host, js = line.rstrip("\n").split("\t", 1)
    e = json.loads(js)
    code = e.get("smtp_code")
    months.setdefault(e["time"][:7], e["time"])
    w.writerow([e["time"], host, e.get("client") or "", e.get("server") or "", e.get("stage"),
                "" if code is None else code, "t" if e.get("tls") else "f", 1, pos])
with open(sys.argv[3], "w") as f:
    for t in months.values():
        f.write("SELECT mailpulse_ensure_partitions('%s', '%s');\n" % (t, t))
    f.write("\\copy smtp_events (time, host, client, server, stage, smtp_code, tls, source_id,"
            " pos) FROM '%s' WITH (FORMAT csv, NULL '')\n" % sys.argv[2])
PYEOF
check "wire: the captures give events (sniff -r)" test "$(wc -l <"$WORK/events.ndjson")" -gt 40
psql "$DSN" -qAt -v ON_ERROR_STOP=1 -f "$WORK/load.sql" >/dev/null 2>"$WORK/psql.err"
check "wire: the events are stored" test -s "$WORK/events.csv" -a ! -s "$WORK/psql.err"

# ---- live: serve with [sniff] on lo ----
SMTP=$(free_port)
SMTP2=$(free_port)
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$PY" tests/integration/sniff_peer.py "$SMTP" >"$WORK/peer.log" 2>&1 &
SERVE_PIDS="$!"
# A peer that refuses the greeting, then says goodbye to whatever comes.
"$PY" - "$SMTP2" >"$WORK/peer2.log" 2>&1 <<'PYEOF' &
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
print("listening", flush=True)
while True:
    c, _ = srv.accept()
    c.sendall(b"554 5.7.1 no mail from you\r\n")
    f = c.makefile("rb")
    if f.readline():
        c.sendall(b"221 2.0.0 Bye\r\n")
    c.close()
PYEOF
SERVE_PIDS="$SERVE_PIDS $!"
: >"$WORK/empty.log"
printf '[sniff]\ninterface = lo\nports = %s,%s\npromisc = no\n' "$SMTP" "$SMTP2" \
    >"$WORK/mailpulse.conf"
"$BIN" serve --config "$WORK/mailpulse.conf" --db "$DSN" --log "$WORK/empty.log" \
    --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" --poll-interval 100 \
    2>"$WORK/serve.err" &
SPID=$!
SERVE_PIDS="$SERVE_PIDS $SPID"
check "wire: serve starts with [sniff]" wait_http "$URL/healthz"
check "wire: the capture runs" wait_for 10 grep -q "sniff: capturing SMTP on lo" "$WORK/serve.err"
wait_for 5 grep -q listening "$WORK/peer.log"
wait_for 5 grep -q listening "$WORK/peer2.log"
"$PY" - "$SMTP" "$SMTP2" <<'PYEOF' >"$WORK/client.out" 2>&1
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="wire.test")
s.sendmail("zoe@example.org", ["yan@example.net", "unknown7@example.net"], "Subject: x\r\n\r\nx\r\n")
s.quit()
try:
    smtplib.SMTP("127.0.0.1", int(sys.argv[2]), local_hostname="wire.test")
    print("greeting accepted?")
except smtplib.SMTPConnectError as e:
    print("refused", e.smtp_code)
PYEOF
check "wire: the second peer refused the greeting" grep -q "refused 554" "$WORK/client.out"

# jbody URL FILE: the body of a GET
jbody() { curl -s "$URL$1" >"$2"; }
# The live events: wait until both sessions and the DATA result are stored. (Each poll asks
# a new URL: cached routes keep a reply a few seconds.)
k=0
live_ready() {
    k=$((k + 1))
    jbody "/api/v1/wire?from=-1h&limit=$k" "$WORK/live.json"
    "$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]
sys.exit(0 if t["sessions"] == 2 and t["data_accepted"] == 1 else 1)' "$WORK/live.json" 2>/dev/null
}
check "wire: the live sessions are stored" wait_for 20 live_ready
check_eq "wire: live totals (sessions, greeting, rcpt ok/4xx/5xx, data ok/4xx/5xx, tls)" \
    "2 1 1 0 1 1 0 0 0 0" "$("$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]
print(*[t[k] for k in ("sessions", "greeting_rejected", "rcpt_accepted", "rcpt_rejected_4xx",
      "rcpt_rejected_5xx", "data_accepted", "data_rejected_4xx", "data_rejected_5xx",
      "tls_sessions", "tls_share")])' "$WORK/live.json")"
check_eq "wire: live per source IP" "127.0.0.1 2 1 1" "$("$PY" -c 'import json,sys
s=json.load(open(sys.argv[1]))["sources"]
print(*[(x["ip"], x["sessions"], x["greeting_rejected"], x["rcpt_rejected_5xx"]) for x in s][0]
      if len(s) == 1 else s)' "$WORK/live.json")"

# ---- the offline numbers against an independent count ----
# expect.py NDJSON FROM TO HOST LIMIT: the wanted body (totals and sources) as JSON
cat >"$WORK/expect.py" <<'PYEOF'
import json, re, sys
path, lo, hi, host, limit = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
flows = {}
for line in open(path):
    h, js = line.rstrip("\n").split("\t", 1)
    e = json.loads(js)
    if host and h != host:
        continue
    t = e["time"][:19]  # UTC, "YYYY-MM-DDTHH:MM:SS"; the bounds below are whole seconds
    if not (lo <= t < hi):
        continue
    key = (h, e.get("client"), e.get("server"))
    f = flows.setdefault(key, {"n": [0] * 8, "tls": False})
    code, st = e.get("smtp_code"), e["stage"]
    n = f["n"]
    if st == "connect":
        n[0] += 1
        n[1] += code is not None and code >= 400
    for base, stage in ((2, "rcpt"), (5, "data")):
        if st == stage and code is not None:
            n[base + (0 if code < 400 else 1 if code < 500 else 2)] += 1
    f["tls"] = f["tls"] or bool(e.get("tls"))
names = ["sessions", "greeting_rejected", "rcpt_accepted", "rcpt_rejected_4xx",
         "rcpt_rejected_5xx", "data_accepted", "data_rejected_4xx", "data_rejected_5xx"]
def ip_of(client):
    if not client:
        return ""
    m = re.match(r"^\[(.*)\]:\d+$", client)
    return m.group(1) if m else client.rsplit(":", 1)[0]
def add(acc, f):
    for i, k in enumerate(names):
        acc[k] = acc.get(k, 0) + f["n"][i]
    acc["tls_sessions"] = acc.get("tls_sessions", 0) + (f["n"][0] if f["tls"] else 0)
tot, per = {}, {}
for (h, client, server), f in flows.items():
    add(tot, f)
    add(per.setdefault(ip_of(client), {}), f)
for acc in [tot] + list(per.values()):
    for k in names + ["tls_sessions"]:
        acc.setdefault(k, 0)
    acc["tls_share"] = round(acc["tls_sessions"] / acc["sessions"], 6) if acc["sessions"] else 0.0
src = sorted(per.items(), key=lambda kv: (-kv[1]["sessions"], kv[0]))[:limit]
print(json.dumps({"totals": tot, "sources": [dict(ip=ip or None, **v) for ip, v in src]},
                 sort_keys=True))
PYEOF
# norm FILE: the body's totals and sources in the same shape
norm() {
    "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1]))
def r(d):
    d=dict(d); d["tls_share"]=round(float(d["tls_share"]), 6); return d
print(json.dumps({"totals": r(j["totals"]), "sources": [r(s) for s in j["sources"]]},
                 sort_keys=True))' "$1"
}
# wire_case NAME FROM TO HOST LIMIT
wire_case() {
    q="from=$2&to=$3&limit=$5"
    [ -n "$4" ] && q="$q&host=$4"
    jbody "/api/v1/wire?$q" "$WORK/case.json"
    want=$("$PY" "$WORK/expect.py" "$WORK/events.ndjson" "${2%Z}" "${3%Z}" "$4" "$5")
    check_eq "wire: $1" "$want" "$(norm "$WORK/case.json")"
}
wire_case "all captures, every source" 1999-01-01T00:00:00Z 2026-01-01T00:00:00Z "" 1000
wire_case "all captures, top 3 sources" 1999-01-01T00:00:00Z 2026-01-01T00:00:00Z "" 3
wire_case "one host" 1999-01-01T00:00:00Z 2026-01-01T00:00:00Z wire-b 1000
wire_case "a range that cuts the captures" 2013-01-01T00:00:00Z 2019-01-01T00:00:00Z "" 1000
wire_case "an empty range" 2001-01-01T00:00:00Z 2002-01-01T00:00:00Z "" 10
# The offline set has what the counts are about: TLS (STARTTLS and implicit) and rejections.
jbody "/api/v1/wire?from=1999-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&limit=1000" "$WORK/all.json"
check "wire: the corpus set has TLS sessions, RCPT and DATA rejections, IPv6" "$PY" -c '
import json,sys; j=json.load(open(sys.argv[1])); t=j["totals"]
ok = t["tls_sessions"] >= 4 and 0 < t["tls_share"] < 1 and t["rcpt_rejected_5xx"] >= 1 and \
     t["data_rejected_5xx"] >= 1 and t["sessions"] >= 8 and \
     any(":" in (s["ip"] or "") for s in j["sources"])
sys.exit(0 if ok else 1)' "$WORK/all.json"

# ---- errors ----
# status NAME QUERY WANT
status() {
    code=$(curl -s -o "$WORK/st.out" -w '%{http_code}' "$URL/api/v1/wire$2")
    if [ "$code" = "$3" ] && { [ "$3" = 200 ] || grep -q '"error"' "$WORK/st.out"; }; then
        ok "wire: $1"
    else
        not_ok "wire: $1 (want $3, got $code: $(head -c 200 "$WORK/st.out"))"
    fi
}
status "an unknown parameter is 400" "?from=-1h&domain=example.net" 400
status "a reversed range is 400" "?from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z" 400
status "limit 0 is 400" "?limit=0" 400
status "limit 1001 is 400" "?limit=1001" 400
status "a bad time is 400" "?from=yesterday" 400
status "limit 1000 is 200" "?limit=1000" 200

# ---- the dashboard ----
curl -s "$URL/?from=-1h" >"$WORK/dash.html"
check "wire: the dashboard has the On the wire section" grep -q '<h2>On the wire</h2>' \
    "$WORK/dash.html"
check "wire: the dashboard shows the live sessions and the source IP" "$PY" -c '
import re,sys; h=open(sys.argv[1]).read()
ok = re.search(r"id=\"kpi-wire-sessions\".*?data-value=\"2\"", h) and \
     re.search(r"id=\"kpi-wire-greeting-rejected\".*?data-value=\"1\"", h) and \
     "data-ip=\"127.0.0.1\" data-sessions=\"2\"" in h
sys.exit(0 if ok else 1)' "$WORK/dash.html"
curl -s "$URL/?from=2001-01-01T00:00:00Z&to=2002-01-01T00:00:00Z" >"$WORK/dash0.html"
check "wire: no section in a range without smtp events" test -s "$WORK/dash0.html" -a \
    "$(grep -c 'On the wire' "$WORK/dash0.html")" = 0
# HTML escaping: a source "IP" with markup (stored by hand) comes out escaped.
psql "$DSN" -qAt -c "SELECT mailpulse_ensure_partitions('2003-05-05', '2003-05-05')" \
    -c "INSERT INTO smtp_events (time, host, client, server, stage, smtp_code,
    source_id, pos) VALUES ('2003-05-05T00:00:00Z', 'wire-x', '<b>x</b>&:25', '10.0.0.1:25',
    'connect', 220, 2, 1)" >/dev/null 2>&1
curl -s "$URL/?from=2003-05-01T00:00:00Z&to=2003-06-01T00:00:00Z" >"$WORK/dash1.html"
check "wire: the dashboard escapes what it shows" "$PY" -c '
import sys; h=open(sys.argv[1]).read()
sys.exit(0 if "&lt;b&gt;x&lt;/b&gt;&amp;" in h and "<b>x</b>" not in h else 1)' \
    "$WORK/dash1.html"
kill -TERM "$SPID"
wait "$SPID"
check_eq "wire: serve exits 0 on SIGTERM" 0 "$?"
