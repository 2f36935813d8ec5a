#!/bin/sh
# attack.sh - mailpulse attacked as an outsider would, on loopback (`make attack`, not part of
# `make test`: it takes a few minutes).
#
# A private PostgreSQL cluster gets a generated log (genlog, 20,000 messages) and the sample
# log imported; `mailpulse serve` (web only) answers on 127.0.0.1 and a TCP syslog listener.
# Then, one after the other, each bounded in time:
#   sqlmap     every endpoint and every query parameter, with the User-Agent, Referer and
#              cookie (level 3, risk 2; boolean, error, union, stacked and time-based
#              techniques for PostgreSQL), each endpoint at most SQLMAP_SECONDS;
#   slowloris  slowhttptest -H from 8 client addresses x 500 connections, one header line
#              every 4 s, for ATTACK_SECONDS;
#   slow read  slowhttptest -X: 200 connections reading a CSV export 32 bytes every 3 s;
#   wrk        1,000 connections from 4 client addresses (250 each) on /api/v1/summary;
#   syslog     200 idle TCP connections and 2,000 more attempts against the listener.
# During each, probe.py (from a further address, 127.0.0.200) fetches /healthz and the
# dashboard every 0.5 s; its figures are the result. Client addresses other than 127.0.0.1
# come from srcaddr.so (an LD_PRELOAD shim), since wrk and slowhttptest cannot choose one.
# Prints a table: attack | load | what a real client saw / what the tool found.
#
# Needs root only to install sqlmap, slowhttptest and wrk when they are missing (apt-get).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${MAILPULSE_BIN:-$ROOT/build/mailpulse}
T=${ATTACK_SECONDS:-30}
SQLMAP_SECONDS=${SQLMAP_SECONDS:-60}

missing=""
for tool in sqlmap slowhttptest wrk; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "attack.sh: installing$missing" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null ||
        { echo "attack.sh: cannot install$missing" >&2; exit 1; }
fi
[ -x "$BIN" ] && [ -x "$ROOT/build/tools/genlog" ] || { echo "attack.sh: run make bins first" >&2; exit 1; }

W=$(mktemp -d /tmp/mailpulse-attack.XXXXXX)
chmod 755 "$W" # the postgres user walks into it
SERVE_PID=""
cleanup() {
    [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    sh scripts/pg.sh stop "$W/pg" >/dev/null 2>&1
}
trap cleanup EXIT
RES=$W/results
: >"$RES"
row() { printf '%s|%s|%s\n' "$1" "$2" "$3" >>"$RES"; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$W/srcaddr.so" tests/attack/srcaddr.c -ldl ||
    exit 1
DSN=$(sh scripts/pg.sh start "$W/pg") || exit 1
"$BIN" db migrate --db "$DSN" >/dev/null || exit 1
"$ROOT/build/tools/genlog" --messages 20000 --rfc3339 --start 2026-11-01T00:00:00Z >"$W/gen.log"
"$BIN" import --db "$DSN" "$W/gen.log" samples/mail.log >"$W/import.out" || exit 1
PORT=$(free_port)
SP=$(free_port)
ulimit -n 65536 2>/dev/null || ulimit -n 20000 2>/dev/null
"$BIN" serve --db "$DSN" --listen "127.0.0.1:$PORT" --state-dir "$W/state" \
    --syslog-listen "tcp://127.0.0.1:$SP" 2>"$W/serve.err" &
SERVE_PID=$!
n=0
until curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
    n=$((n + 1))
    [ $n -lt 100 ] || { echo "attack.sh: serve did not start" >&2; cat "$W/serve.err" >&2; exit 1; }
    sleep 0.1
done
URL=http://127.0.0.1:$PORT
echo "attack.sh: serve on $URL, data: $(cat "$W/import.out" | tr '\n' ' ')" >&2

# probe SECONDS: a real client's view from 127.0.0.200, in the background; its output file
probe() {
    python3 tests/attack/probe.py 127.0.0.200 "$PORT" "$1" 0.5 /healthz / >"$W/probe.$2" 2>&1 &
    PROBE_PID=$!
}
probe_wait() {
    wait "$PROBE_PID"
}
# verdict FILE...: slowhttptest's own last word on each run ("service available: YES/NO")
verdict() {
    for f in "$@"; do
        sed 's/\x1b\[[0-9;]*m//g' "$f" | awk '/service available:/ { v = $3 } END { printf "%s ", v }'
    done
}
alive() {
    if kill -0 "$SERVE_PID" 2>/dev/null; then echo "serve running"; else echo "SERVE DIED"; fi
}

# ---- sqlmap: every endpoint, every parameter ----
R="from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"
CURSOR=$(curl -s "$URL/api/v1/bounces?$R&limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("next_cursor") or "x")')
QID=$(psql "$DSN" -qAt -c "select queue_id from deliveries where queue_id <> '' limit 1")
MID=$(psql "$DSN" -qAt -c "select message_id from messages where message_id <> '' limit 1")
cat >"$W/urls" <<EOF
/?$R&host=mx1&bucket=hour
/bounces?$R&host=mx1&domain=gmail.com&reason=user_unknown&dsn=5.1.1&status=bounced&limit=10&cursor=$CURSOR
/message?queue_id=$QID&message_id=$MID&recipient=bob@gmail.com
/api/v1/summary?$R&host=mx1&sender_domain=example.org
/api/v1/timeseries?$R&host=mx1&bucket=hour&by=status
/api/v1/domains?$R&host=mx1&limit=10&order=volume
/api/v1/bounces?$R&host=mx1&domain=gmail.com&reason=user_unknown&dsn=5.1.1&status=bounced&limit=10&cursor=$CURSOR
/api/v1/reasons?$R&host=mx1&limit=10
/api/v1/messages?queue_id=$QID&message_id=$MID&recipient=bob@gmail.com&limit=10
/api/v1/wire?$R&host=mx1&limit=10
/api/v1/export?what=bounces&format=csv&$R&host=mx1&domain=gmail.com&reason=user_unknown&dsn=5.1.1&status=bounced
/api/v1/providers?$R&host=mx1&limit=10&format=json
/api/v1/blocks?$R&host=mx1&limit=10
/api/v1/alerts?state=all&limit=10
/blocks?$R&host=mx1
/metrics?x=1
/healthz?x=1
EOF
eps=0 params=0 found=0 timedout=0 tested=0
t0=$(date +%s)
while read -r path; do
    eps=$((eps + 1))
    params=$((params + $(printf '%s' "${path#*\?}" | tr '&' '\n' | grep -c .)))
    out=$W/sqlmap.$eps
    timeout "$SQLMAP_SECONDS" sqlmap -u "$URL$path" --batch --dbms=PostgreSQL --level=3 \
        --risk=2 --technique=BEUST --time-sec=1 --timeout=5 --retries=0 --threads=4 \
        --disable-coloring --flush-session --output-dir="$W/sqlmap-out" >"$out" 2>&1
    [ $? -eq 124 ] && timedout=$((timedout + 1))
    tested=$((tested + $(grep -c "parameter '.*' does not seem to be injectable" "$out")))
    if grep -q "sqlmap identified the following injection point" "$out"; then
        found=$((found + 1))
        echo "attack.sh: sqlmap found an injection in $path (see $out)" >&2
    fi
done <"$W/urls"
t1=$(date +%s)
sq="$tested parameters and headers tested, no injection found"
[ $found -gt 0 ] && sq="INJECTION FOUND on $found endpoints"
[ $timedout -gt 0 ] && sq="$sq ($timedout endpoints cut at ${SQLMAP_SECONDS} s)"
row "sqlmap (BEUST, level 3, risk 2)" "$eps endpoints, $params parameters, $((t1 - t0)) s" "$sq; $(alive)"

# ---- slowloris from several addresses ----
probe "$T" slowloris
TOOLS=""
for a in 127.0.0.11 127.0.0.12 127.0.0.13 127.0.0.14 127.0.0.15 127.0.0.16 127.0.0.17 127.0.0.18; do
    MAILPULSE_SRC=$a LD_PRELOAD=$W/srcaddr.so timeout $((T + 10)) slowhttptest -H -c 500 -r 250 \
        -i 4 -l "$T" -u "$URL/healthz" -p 3 >"$W/slowloris.$a" 2>&1 &
    TOOLS="$TOOLS $!"
done
sleep 2
ESTAB=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
wait $TOOLS
probe_wait
row "slowloris (slowhttptest -H)" "8 addresses x 500 conns, a header line / 4 s, ${T} s" \
    "healthz+dashboard from a further address: $(cat "$W/probe.slowloris"); $ESTAB conns held; slowhttptest says available: $(verdict "$W"/slowloris.*); $(alive)"

# ---- slow read of an export ----
probe "$T" slowread
MAILPULSE_SRC=127.0.0.21 LD_PRELOAD=$W/srcaddr.so timeout $((T + 10)) slowhttptest -X -c 200 -r 100 \
    -w 512 -y 1024 -n 3 -z 32 -k 3 -l "$T" \
    -u "$URL/api/v1/export?format=csv&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z" -p 3 \
    >"$W/slowread" 2>&1
probe_wait
row "slow read (slowhttptest -X)" "200 conns, window 512-1024 B, 32 B / 3 s of a CSV export, ${T} s" \
    "healthz+dashboard: $(cat "$W/probe.slowread"); slowhttptest says available: $(verdict "$W/slowread"); $(alive)"

# ---- wrk, 1,000 connections from 4 addresses ----
probe "$T" wrk
TOOLS=""
for a in 127.0.0.31 127.0.0.32 127.0.0.33 127.0.0.34; do
    MAILPULSE_SRC=$a LD_PRELOAD=$W/srcaddr.so timeout $((T + 15)) wrk -t1 -c250 -d"${T}s" \
        --timeout 5s "$URL/api/v1/summary?$R" >"$W/wrk.$a" 2>&1 &
    TOOLS="$TOOLS $!"
done
wait $TOOLS
probe_wait
reqs=$(cat "$W"/wrk.127.0.0.3* | awk '/requests in/ { n += $1 } END { print n + 0 }')
rps=$(cat "$W"/wrk.127.0.0.3* | awk '/Requests\/sec/ { n += $2 } END { printf "%.0f", n }')
sockerr=$(cat "$W"/wrk.127.0.0.3* | awk '/Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 }
    END { print n + 0 }')
non2xx=$(cat "$W"/wrk.127.0.0.3* | awk '/Non-2xx/ { n += $NF } END { print n + 0 }')
row "wrk" "4 addresses x 250 conns on /api/v1/summary, ${T} s" \
    "$reqs requests answered ($rps/s), $non2xx non-2xx; $sockerr connections over the cap of 32 per address closed (wrk socket errors); healthz+dashboard: $(cat "$W/probe.wrk"); $(alive)"

# ---- the syslog listener: idle connections and a connection flood ----
timeout 60 python3 - "$SP" >"$W/syslog.out" 2>&1 <<'PY'
import socket, sys, threading, time
port = int(sys.argv[1])
held, errors = [], []
def connect():
    s = socket.socket(); s.settimeout(5); s.connect(("127.0.0.1", port)); return s
for _ in range(200):
    held.append(connect())
def sender():
    try:
        s = connect()
        for i in range(100):
            s.sendall(b"<22>Dec  4 10:00:00 mx9 postfix/qmgr[9]: D%010d: removed\n" % i)
            time.sleep(0.02)
        s.close()
    except OSError as e:
        errors.append(str(e))
t = threading.Thread(target=sender); t.start()
for i in range(2000):
    try:
        held.append(connect())
    except OSError as e:
        errors.append(str(e))
    if len(held) > 300:
        held.pop(0).close()
t.join()
print("sender errors", len(errors))
PY
sleep 2
SLOG=$(curl -s "$URL/healthz" | python3 -c '
import json, sys
l = json.load(sys.stdin)["ingest"]["syslog"][0]
print("%d messages received, %d connections evicted" % (l["messages"], l["dropped"]["evicted"]))' 2>/dev/null)
row "syslog TCP lock-out" "200 idle conns + 2,000 attempts, a sender of 100 messages" \
    "$(tail -1 "$W/syslog.out"); ${SLOG:-no syslog figures in /healthz}; $(grep -c 'syslog syslog:' "$W/serve.err") log lines; $(alive)"

# ---- the table ----
echo
printf '| %s | %s | %s |\n' "attack" "load" "result"
printf '|---|---|---|\n'
while IFS='|' read -r a l r; do
    printf '| %s | %s | %s |\n' "$a" "$l" "$r"
done <"$RES"
echo
echo "(work files in $W)"
trap - EXIT
cleanup
