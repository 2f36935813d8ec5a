#!/bin/sh
# alerts_complaints.sh - the complaint-rate rule on stored complaints. A log in which
# news.example and shop.example each send 2000 messages between 10:00 and 11:00 and the log
# goes on to 15:52, and ARF reports dated hours after the sending (12:30 to 14:40, as
# feedback loops report), imported with `mailpulse import --bounces` while `serve` runs
# (clock = log, every 2 s): 2 complaints about news.example (0.10 %) fire a warning, 3
# (0.15 %) keep it, 7 (0.35 %) raise it to critical (one "escalated" notification), 1 about
# shop.example (0.05 %) raises nothing. The alert is on /api/v1/alerts, /metrics and the
# webhook receiver, and clears the next day, when news.example sends without complaints; the
# ended alert keeps the numbers that fired it and shows the ones that ended it. The truth is
# written here, from the generator's counts, not read from mailpulse.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GEN="$ROOT/tests/integration/alerts_complaints.py"
DSN=$(new_db alerts_complaints) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
sql() { psql "$DSN" -qAt -c "$1"; }

python3 "$GEN" log send >"$WORK/mail.log"
PORT=$(free_port)
HPORT=$(free_port)
URL="http://127.0.0.1:$PORT"
: >"$WORK/hook.txt"
python3 "$ROOT/tests/integration/alerts_hook.py" "$HPORT" "$WORK/hook.txt" &
SERVE_PIDS="$SERVE_PIDS $!"
cat >"$WORK/mailpulse.conf" <<CONF
[serve]
db = $DSN
listen = 127.0.0.1:$PORT
state_dir = $WORK
[source main]
type = file
path = $WORK/mail.log
backfill = yes
[alerts]
interval = 2
clock = log
complaint_clear_periods = 2
webhook = http://127.0.0.1:$HPORT/hook
webhook_timeout = 2
CONF
"$BIN" serve --config "$WORK/mailpulse.conf" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"
stored() { [ "$(sql "SELECT count(*) FROM deliveries WHERE status = 'sent'")" = "$1" ]; }
check "the log is stored: 4100 sent" wait_for 60 stored 4100

# complaints N FIRST HH:MM SENDER: import N reports about messages FIRST.. of SENDER
complaints() {
    d=$(mktemp -d "$WORK/arf.XXXXXX")
    python3 "$GEN" arf "$d" "$2" "$1" "$3" "$4"
    "$BIN" import --db "$DSN" --bounces "$d" >/dev/null 2>>"$WORK/import.err"
}
# alert FIELD: a field of the complaint alert about news.example ("" when there is none)
alert() {
    curl -s "$URL/api/v1/alerts" | python3 -c '
import json, sys
d = json.load(sys.stdin)
a = [a for a in d["alerts"] if a["rule"] == "complaint" and a["subject"] == "news.example"]
v = a[0] if a else ""
for k in sys.argv[1].split(".") if v else []:
    v = v[k] if v is not None else None
print("null" if v is None else v)' "$1" 2>/dev/null
}
sev_is() { [ "$(alert severity)" = "$1" ]; }

check "2 complaints (0.10 % of 2000 is 2) are stored" complaints 2 0 12:30 news.example
sleep 3 # a full evaluation period with 2 complaints in 2000: the line is 0.1 %
check_eq "2 in 2000 is exactly the warning line: a warning fires" warning "$(alert severity)"
check "1 complaint about shop.example is stored" complaints 1 0 12:30 shop.example
check_eq "rollups_complaint_hour: 2 about news.example, 1 about shop.example" \
    "news.example 2|shop.example 1" \
    "$(sql "SELECT string_agg(sender_domain || ' ' || n, '|' ORDER BY sender_domain) FROM rollups_complaint_hour")"
check "1 more complaint (0.15 %)" complaints 1 2 13:35 news.example
num3() { [ "$(alert numbers.complaints)" = 3 ]; }
check "the alert's numbers follow: 3 complaints" wait_for 10 num3
check_eq "severity warning at 0.15 %" warning "$(alert severity)"
check_eq "numbers: 2000 sent" 2000 "$(alert numbers.sent)"
check_eq "numbers: rate 0.15 %" 0.15 "$(alert numbers.rate_percent)"
check_eq "it started at the log's time (the end of its newest minute)" \
    2026-12-01T15:52:00+00:00 "$(alert started)"
check_eq "the link is the complaints of news.example over the day's window" \
    "/api/v1/complaints?from=2026-11-30T15%3A00%3A00%2B00%3A00&to=2026-12-01T15%3A52%3A00%2B00%3A00&sender_domain=news.example" \
    "$(alert link)"
check_eq "the link answers with the 3 complaints" 3 \
    "$(curl -s "$URL$(alert link)" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["complaints"]))')"
check_eq "shop.example (1 in 2000, 0.05 %) raises nothing" 0 \
    "$(sql "SELECT count(*) FROM alerts WHERE subject = 'shop.example'")"
metric() { curl -s "$URL/metrics" | grep -qx "mailpulse_alerts_active{rule=\"complaint\",severity=\"$1\"} 1"; }
check "/metrics: mailpulse_alerts_active{rule=complaint,severity=warning} 1" wait_for 10 metric warning
fired() { grep -c '"event":"fired".*"rule":"complaint","subject":"news.example"' "$WORK/hook.txt"; }
fired_once() { [ "$(fired)" = 1 ]; }
check "the webhook got the fire" wait_for 10 fired_once
check "the fire's body has the numbers of 2 complaints in 2000 sent" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["event"] == "fired" and d["alert"]["rule"] == "complaint":
        n = d["alert"]["numbers"]
        assert d["alert"]["severity"] == "warning" and d["alert"]["ended"] is None, d
        assert (n["sent"], n["complaints"], n["rate_percent"]) == (2000, 2, 0.1), n
        sys.exit(0)
sys.exit(1)' "$WORK/hook.txt"

check "4 more complaints (7 in 2000, 0.35 %)" complaints 4 3 14:40 news.example
check "the alert rises to critical" wait_for 10 sev_is critical
check_eq "numbers: 7 complaints" 7 "$(alert numbers.complaints)"
check_eq "numbers: rate 0.35 %" 0.35 "$(alert numbers.rate_percent)"
check_eq "still the one alert (started unchanged)" "1 2026-12-01T15:52:00+00:00" \
    "$(sql "SELECT count(*) FROM alerts WHERE rule = 'complaint'") $(alert started)"
check "/metrics: the complaint alert is critical now" wait_for 10 metric critical
check_eq "the fire was sent once" 1 "$(fired)"
escalated() { grep -c '"event":"escalated".*"rule":"complaint","subject":"news.example"' "$WORK/hook.txt"; }
esc_once() { [ "$(escalated)" = 1 ]; }
check "the webhook got the escalation" wait_for 10 esc_once
check "the escalation's body: critical, 7 in 2000, no end yet" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["event"] == "escalated":
        a, n = d["alert"], d["alert"]["numbers"]
        assert a["severity"] == "critical" and a["ended"] is None and a["end_numbers"] is None, a
        assert a["started"] == "2026-12-01T15:52:00+00:00", a
        assert (n["sent"], n["complaints"], n["rate_percent"]) == (2000, 7, 0.35), n
        sys.exit(0)
sys.exit(1)' "$WORK/hook.txt"
check_eq "while active there are no end numbers" null "$(alert end_numbers)"

# A restart while the alert is active continues it: no second fire, and the clear still
# carries the numbers that fired it (read back from the table).
SPID=${SERVE_PIDS##* }
kill "$SPID"
gone_pid() { ! kill -0 "$SPID" 2>/dev/null; }
check "serve stops on SIGTERM" wait_for 20 gone_pid
"$BIN" serve --config "$WORK/mailpulse.conf" 2>>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers again" wait_http "$URL/healthz"
sleep 5 # two evaluations and more
check_eq "after the restart: still one complaint alert, critical, started as before" \
    "1 critical 2026-12-01T15:52:00+00:00" \
    "$(sql "SELECT count(*) FROM alerts WHERE rule = 'complaint'") $(alert severity) $(alert started)"
check_eq "after the restart: no second fire" 1 "$(fired)"

python3 "$GEN" log recovery >>"$WORK/mail.log"
check "the next day's sending without complaints is stored" wait_for 60 stored 6100
gone() { [ "$(alert ended)" != null ] && [ -n "$(alert ended)" ]; }
check "the alert clears" wait_for 30 gone
check_eq "it ended at the log's time" 2026-12-02T16:54:00+00:00 "$(alert ended)"
check_eq "the ended alert keeps its severity" critical "$(alert severity)"
cleared() { grep -q '"event":"cleared".*"rule":"complaint","subject":"news.example"' "$WORK/hook.txt"; }
check "the webhook got the clear" wait_for 10 cleared
check_eq "and the fire still once" 1 "$(fired)"
check_eq "and the escalation once" 1 "$(escalated)"
check_eq "the ended alert keeps the numbers that fired it: 7 complaints" 7 \
    "$(alert numbers.complaints)"
check_eq "and 2000 sent, 0.35 %" "2000 0.35" "$(alert numbers.sent) $(alert numbers.rate_percent)"
check_eq "the numbers that ended it: no complaints in the window" "0 0" \
    "$(alert end_numbers.complaints) $(alert end_numbers.rate_percent)"
# The evaluation that ends it may see the next day's sending partly stored: up to 2000 sent.
check "and what was sent in the window then (1 to 2000)" \
    sh -c "[ '$(alert end_numbers.sent)' -ge 1 ] && [ '$(alert end_numbers.sent)' -le 2000 ]"
check "the clear's body has both" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["event"] == "cleared" and d["alert"]["rule"] == "complaint":
        a = d["alert"]
        assert a["severity"] == "critical" and a["ended"] == "2026-12-02T16:54:00+00:00", a
        assert a["numbers"]["complaints"] == 7 and a["numbers"]["sent"] == 2000, a
        assert a["end_numbers"]["complaints"] == 0, a
        sys.exit(0)
sys.exit(1)' "$WORK/hook.txt"
curl -s "$URL/api/v1/alerts?format=csv" >"$WORK/alerts.csv"
check_eq "CSV: end_numbers is the last column" \
    "id,rule,subject,severity,started,ended,numbers,link,end_numbers" \
    "$(head -1 "$WORK/alerts.csv" | tr -d '\r')"
check "CSV: the ended alert's row has both numbers" \
    grep -q ',complaint,news.example,critical,.*"{""sent"": 2000, .*""complaints"": 7.*""complaints"": 0' \
    "$WORK/alerts.csv"
curl -s "$URL/?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z" >"$WORK/dash.html"
check "the dashboard lists the ended alert with what ended it" \
    grep -q 'complaints <b>7</b>.*<br>ended with: sent <b>[0-9]*</b> &middot; complaints <b>0</b>' \
    "$WORK/dash.html"
check "the dashboard links the complaint alert to its complaints" \
    grep -q 'ended with: .*<a href="/api/v1/complaints?from=[^"]*sender_domain=news.example">complaints</a>' \
    "$WORK/dash.html"
nom() { ! curl -s "$URL/metrics" | grep -q 'mailpulse_alerts_active{rule="complaint"'; }
check "/metrics: no complaint alert active" wait_for 10 nom
check "the import logged no error" sh -c "! grep -q . '$WORK/import.err'"
check "serve is still running" kill -0 "${SERVE_PIDS##* }"
