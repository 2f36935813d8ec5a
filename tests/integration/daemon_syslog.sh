#!/bin/sh
# daemon_syslog.sh - the syslog listener: RFC 3164 and RFC 5424 over UDP, and over TCP with
# octet counting (several frames in one write, one frame split over writes) and with newlines.
set -u
. "$(dirname "$0")/lib.sh"

DSN=$(new_db dsyslog) || { not_ok "create database"; exit 1; }
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

python3 - "$SP" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
tail = (": to=<%s@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, "
        "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)")
m3164 = lambda who: ("<22>Nov 28 10:00:00 mx5 postfix/smtp[9]: C0000000001" + tail % who)
m5424 = lambda who: ('<22>1 2026-11-28T10:00:00.5Z mx5 postfix/smtp 9 - '
                     '[meta sequenceId="1" note="a \\] b"] \xef\xbb\xbfC0000000002' + tail % who)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(m3164("udp3164").encode("latin-1"), ("127.0.0.1", port))
u.sendto(m5424("udp5424").encode("latin-1"), ("127.0.0.1", port))
t = socket.create_connection(("127.0.0.1", port))
frames = b"".join(b"%d %s" % (len(m), m) for m in
                  (m5424("tcp1").encode("latin-1"), m3164("tcp2").encode("latin-1")))
t.sendall(frames)
last = b"%d %s" % (len(m5424("tcp3")), m5424("tcp3").encode("latin-1"))
t.sendall(last[:20]); time.sleep(0.3); t.sendall(last[20:])
t.close()
t = socket.create_connection(("127.0.0.1", port))
t.sendall((m3164("lf1") + "\n" + m3164("lf2") + "\n").encode())
t.close()
PY
rows() { [ "$(count "select count(*) from deliveries where host = 'mx5'")" = "$1" ]; }
check "every message is stored" wait_for 10 rows 7
for who in udp3164 udp5424 tcp1 tcp2 tcp3 lf1 lf2; do
    check_eq "message $who: one sent delivery from mx5" "1" \
        "$(count "select count(*) from deliveries where recipient = '$who@example.com' and status = 'sent' and host = 'mx5'")"
done
check_eq "RFC 5424 keeps its timestamp" "2026-11-28 10:00:00.5+00" \
    "$(count "select time from deliveries where recipient = 'tcp1@example.com'")"
check_eq "the listener is its own source" 1 "$(count "select count(*) from sources where identity like 'syslog:syslog:%'")"
kill -TERM "$SPID"
wait "$SPID"
check_eq "serve exits 0 on SIGTERM" 0 "$?"
"$BIN" serve --db "$DSN" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" \
    --syslog-listen "udp://localhost:$SP" 2>"$WORK/bad.err"
check "a host name instead of an address is refused" grep -q "numeric address" "$WORK/bad.err"
exit 0
