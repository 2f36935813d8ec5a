#!/bin/sh
# daemon_syslog_attack.sh - the TCP syslog listener under hostile senders: idle connections
# cannot lock a real sender out (a full table evicts the idlest), its warnings are
# rate-limited, and every kind of dropped input is counted per listener in /metrics and
# /healthz. Bounded: 2,000 connection attempts and about 10 s.
set -u
. "$(dirname "$0")/lib.sh"

DSN=$(new_db dsyslogatk) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
count() { psql "$DSN" -qAt -c "$1"; }
PORT=$(free_port)
SP=$(free_port)
"$BIN" serve --db "$DSN" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" \
    --syslog-listen "udp://127.0.0.1:$SP,tcp://127.0.0.1:$SP" --poll-interval 100 \
    2>"$WORK/serve.err" &
SPID=$!
SERVE_PIDS="$SERVE_PIDS $SPID"
check "serve with a syslog listener starts" wait_http "http://127.0.0.1:$PORT/healthz"

# 200 idle connections are held open, then 2,000 more attempts are made (each held, the
# oldest closed beyond 300 held), while a real sender delivers 100 messages on one
# connection, one every 20 ms. The attack starts once the listener has received the
# sender's first message: until then its connection is as silent as an attacker's, and
# whether the sender's thread gets to write before 64 newer connections arrive is up to
# the scheduler, not to the listener.
timeout 60 python3 - "$SP" "$PORT" >"$WORK/attack.out" 2>&1 <<'PY'
import json, socket, sys, threading, time, urllib.request
port, web = int(sys.argv[1]), int(sys.argv[2])
held, errors = [], []
first = threading.Event()

def received():
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % web, timeout=5) as r:
        return json.load(r)["ingest"]["syslog"][0]["messages"]

def connect():
    s = socket.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s

for _ in range(200):
    held.append(connect())
time.sleep(0.5)

def sender():
    try:
        s = connect()
        for i in range(100):
            m = ("<22>Nov 28 10:00:00 mx6 postfix/smtp[9]: C%010d: to=<real%d@example.com>, "
                 "relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, "
                 "dsn=2.0.0, status=sent (250 ok)\n" % (i, i)).encode()
            s.sendall(m)
            first.set()
            time.sleep(0.02)
        s.close()
    except OSError as e:
        errors.append("sender: %s" % e)
    first.set()

t = threading.Thread(target=sender)
t.start()
first.wait(10)
deadline = time.time() + 10
while received() < 1 and time.time() < deadline:
    time.sleep(0.01)
attempts = 0
deadline = time.time() + 30
while attempts < 2000 and time.time() < deadline:
    try:
        held.append(connect())
    except OSError as e:
        errors.append("attacker: %s" % e)
    attempts += 1
    if len(held) > 300:
        held.pop(0).close()
    if attempts % 100 == 0:
        time.sleep(0.05)
t.join()
print("attempts", attempts)
for e in errors[:5]:
    print(e)
print("errors", len(errors))
PY
check "the attack ran its 2,000 attempts" grep -q "^attempts 2000$" "$WORK/attack.out"
check "the real sender was never refused" grep -q "^errors 0$" "$WORK/attack.out"
rows() { [ "$(count "select count(*) from deliveries where host = 'mx6'")" = "$1" ]; }
check "the real sender's 100 messages are stored during the attack" wait_for 10 rows 100
check_eq "each of them once" 100 \
    "$(count "select count(distinct recipient) from deliveries where host = 'mx6' and recipient like 'real%'")"
warned=$(grep -c "syslog syslog:" "$WORK/serve.err")
check "warnings are rate-limited ($warned lines)" [ "$warned" -le 10 ]

# Each kind of bad input, once or more, on fresh connections and datagrams.
timeout 20 python3 - "$SP" <<'PY'
import socket, sys, time
port = int(sys.argv[1])

def tcp(data, linger=0.2):
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(data)
        time.sleep(linger)
    except OSError:
        pass
    s.close()

tcp(b"x" * 70000)                            # oversized: no line end in 64 KiB
tcp(b"9999 short")                           # bad count: the connection ends inside it
tcp(b"5 <13>abcdefgh")                       # bad count: "fgh" is no next frame
tcp(b"<999>too high\n<13\n\n<13>fine\n")     # malformed: bad PRI, unclosed PRI, empty
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"<x>not a priority", ("127.0.0.1", port))
PY
metric() {
    curl -s "http://127.0.0.1:$PORT/metrics" |
        awk -v k="$1" '$1 == "mailpulse_syslog_dropped_total{listener=\"syslog\",kind=\"" k "\"}" { print $2 }'
}
has() { [ "$(metric "$1")" = "$2" ]; }
check "one oversized frame is counted in /metrics" wait_for 5 has oversized 1
check "two lying octet counts are counted" wait_for 5 has bad_count 2
check "four malformed messages are counted" wait_for 5 has malformed 4
ev=$(metric evicted)
check "evicted connections are counted ($ev)" [ "${ev:-0}" -ge 1000 ]
check_eq "no connection was refused" 0 "$(metric refused)"
HZ=$(curl -s "http://127.0.0.1:$PORT/healthz")
check_eq "/healthz lists the listener's drops" "1 2 4" "$(printf '%s' "$HZ" | python3 -c '
import json, sys
l = json.load(sys.stdin)["ingest"]["syslog"][0]
d = l["dropped"]
print(d["oversized"], d["bad_count"], d["malformed"]) if l["listener"] == "syslog" else print("?")')"
check "/healthz counts the messages received" [ "$(printf '%s' "$HZ" | python3 -c '
import json, sys; print(json.load(sys.stdin)["ingest"]["syslog"][0]["messages"])')" -ge 101 ]
kill -TERM "$SPID"
wait "$SPID"
check_eq "serve exits 0 on SIGTERM" 0 "$?"
check "the warnings held back are summed up (evicted)" \
    grep -q "[0-9][0-9][0-9] more of this kind (evicted)" "$WORK/serve.err"
exit 0
