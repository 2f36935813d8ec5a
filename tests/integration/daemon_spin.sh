#!/bin/sh
# daemon_spin.sh - a socket that stays readable while its reader cannot go on does not make
# serve spin: (1) the database stops, a syslog source added by SIGHUP then cannot open its
# source row, and a datagram waits on it; (2) serve runs out of descriptors (ulimit -n) while
# TCP syslog connections wait to be accepted. Each time serve's CPU over 3 s is read from
# /proc (a spinning daemon uses all of it, a waiting one almost none), and what waited is
# stored once it can be.
#
# The database is a private cluster of this test (scripts/pg.sh), since it is stopped.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
chmod 755 "$WORK"
CL=$WORK/cluster
DSN=$(sh "$ROOT/scripts/pg.sh" start "$CL") || { not_ok "start a private cluster"; exit 1; }
trap 'sh "$ROOT/scripts/pg.sh" stop "$CL" >/dev/null 2>&1; lib_cleanup' EXIT
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }

# cpu_ticks PID: user + system time so far, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)

# busy_share PID: the percentage of one CPU used over the next 3 s
busy_share() {
    t0=$(cpu_ticks "$1")
    sleep 3
    t1=$(cpu_ticks "$1")
    echo $(((t1 - t0) * 100 / (3 * TICKS)))
}

stored_lines() { psql "$DSN" -qAt -c "SELECT coalesce(sum(checkpoint), 0) FROM sources WHERE identity LIKE 'syslog:$1:%'"; }

MX='mx postfix/smtp[1]: 4XbT1: to=<a@example.org>, relay=r[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)'

# 1: a source whose row cannot be opened, with a datagram waiting
WEB=$(free_port) UDP=$(free_port)
CONF=$WORK/one.conf
printf '[serve]\ndb = %s\nstate_dir = %s\n[web]\nlisten = 127.0.0.1:%s\n[source a]\ntype = file\npath = %s/mail.log\n' \
    "$DSN" "$WORK" "$WEB" "$WORK" >"$CONF"
: >"$WORK/mail.log"
"$BIN" serve --config "$CONF" >"$WORK/serve1.log" 2>&1 &
P=$!
SERVE_PIDS="$P"
wait_http "http://127.0.0.1:$WEB/healthz" 10 || not_ok "serve answers"
sh "$ROOT/scripts/pg.sh" stop "$CL" >/dev/null 2>&1
printf '[source b]\ntype = syslog\nlisten = udp://127.0.0.1:%s\n' "$UDP" >>"$CONF"
kill -HUP "$P"
wait_for 10 grep -q "listening on udp://127.0.0.1:$UDP" "$WORK/serve1.log"
python3 -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(("<22>Dec  5 10:00:00 " + sys.argv[2]).encode(), ("127.0.0.1", int(sys.argv[1])))' "$UDP" "$MX"
wait_for 10 grep -q "cannot look up the source of syslog:b" "$WORK/serve1.log"
share=$(busy_share "$P")
check "database down, a datagram waiting for a new source: serve waits (${share}% of a CPU)" [ "$share" -lt 30 ]
DSN2=$(sh "$ROOT/scripts/pg.sh" start "$CL") || not_ok "restart the cluster"
check_eq "the cluster came back on the same address" "$DSN" "$DSN2"
wait_for 20 sh -c "[ \"\$(psql '$DSN' -qAt -c \"SELECT count(*) FROM sources WHERE identity LIKE 'syslog:b:%' AND checkpoint = 1\")\" = 1 ]"
check_eq "the datagram is stored once the database is back" 1 "$(stored_lines b)"
kill "$P"
wait "$P"
check_eq "serve exits 0 on SIGTERM" 0 $?

# 2: no descriptor left to accept a TCP connection with
WEB=$(free_port) TCP=$(free_port)
CONF=$WORK/two.conf
printf '[serve]\ndb = %s\nstate_dir = %s\n[web]\nlisten = 127.0.0.1:%s\n[source t]\ntype = syslog\nlisten = tcp://127.0.0.1:%s\n' \
    "$DSN" "$WORK" "$WEB" "$TCP" >"$CONF"
(
    ulimit -n 48
    exec "$BIN" serve --config "$CONF" >"$WORK/serve2.log" 2>&1
) &
P=$!
SERVE_PIDS="$P"
wait_http "http://127.0.0.1:$WEB/healthz" 10 || not_ok "serve answers"
# 80 connections held for 8 s; the last one sends a message once some of the others close
python3 - "$TCP" "$MX" <<'EOF' &
import socket, sys, time
port, line = int(sys.argv[1]), sys.argv[2]
held = []
for _ in range(80):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), 2))
    except OSError:
        pass
time.sleep(8)
for c in held[:60]:
    c.close()
time.sleep(1)
held[-1].sendall(("<22>Dec  5 10:00:00 " + line + "\n").encode())
time.sleep(3)
EOF
Q=$!
wait_for 10 grep -q "cannot accept a connection: Too many open files" "$WORK/serve2.log"
share=$(busy_share "$P")
check "no descriptor to accept with: serve waits (${share}% of a CPU)" [ "$share" -lt 30 ]
wait "$Q"
wait_for 10 sh -c "[ \"\$(psql '$DSN' -qAt -c \"SELECT coalesce(sum(checkpoint), 0) FROM sources WHERE identity LIKE 'syslog:t:%'\")\" = 1 ]"
check_eq "a connection accepted once descriptors are free is read" 1 "$(stored_lines t)"
refused=$(curl -s "http://127.0.0.1:$WEB/metrics" |
    sed -n 's/^mailpulse_syslog_dropped_total{listener="t",kind="refused"} \([0-9]*\)$/\1/p')
check "the refusals are counted (${refused:-none})" [ "${refused:-0}" -gt 0 ]
kill "$P"
wait "$P"
check_eq "serve exits 0 on SIGTERM" 0 $?
