#!/bin/sh
# daemon_deadline.sh - SIGTERM while the database hangs (a proxy that stops forwarding, so a
# commit blocks): serve still exits 0 within --stop-timeout, and after a restart every line
# is stored once (the unfinished batch is read again from the checkpoint).
set -u
. "$(dirname "$0")/lib.sh"

DB=$(migrated_db ddeadline) || exit 1
count() { psql "$DB" -qAt -c "$1"; }
PGPORT_=$(printf '%s' "$DB" | sed -n 's/.*port=\([0-9]*\).*/\1/p')
PX=$(free_port)
# A TCP proxy to the server on 127.0.0.1; touching $WORK/freeze makes it stop forwarding.
python3 - "$PX" "$PGPORT_" "$WORK/freeze" <<'PY' &
import os, select, socket, sys, threading
lport, pport, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport)); ls.listen(16)
open(flag + ".ready", "w").close()
def pump(a, b):
    try:
        while True:
            r, _, _ = select.select([a, b], [], [], 0.1)
            if os.path.exists(flag):
                continue
            for s in r:
                d = s.recv(65536)
                if not d:
                    return
                (b if s is a else a).sendall(d)
    except OSError:
        pass
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", pport))
    threading.Thread(target=pump, args=(c, u), daemon=True).start()
PY
PXPID=$!
SERVE_PIDS="$SERVE_PIDS $PXPID"
wait_for 10 test -f "$WORK/freeze.ready"
VIA=$(printf '%s' "$DB" | sed "s|host=[^ ]*|host=127.0.0.1|; s|port=[0-9]*|port=$PX|")
LOG="$WORK/mail.log"
line() {
    printf '2026-11-28T11:00:00.%06d+00:00 mx4 postfix/smtp[11]: D%010d: to=<dl%d@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)\n' "$1" "$1" "$1"
}
line 1 >"$LOG"
PORT=$(free_port)
start() {
    "$BIN" serve --db "$VIA" --log "$LOG" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" \
        --poll-interval 100 --stop-timeout 2 2>>"$WORK/serve.err" &
    SPID=$!
    SERVE_PIDS="$SERVE_PIDS $SPID"
}
rows() { [ "$(count "select count(*) from deliveries where host = 'mx4'")" = "$1" ]; }
start
check "serve stores through the proxy" wait_for 10 rows 1
touch "$WORK/freeze"
line 2 >>"$LOG"
line 3 >>"$LOG"
sleep 1 # the commit of lines 2 and 3 now hangs
t0=$(date +%s)
kill -TERM "$SPID"
wait "$SPID"
rc=$?
t=$(($(date +%s) - t0))
check_eq "SIGTERM with a hung database: exit 0" 0 "$rc"
check "  ... within the stop timeout (2 s; took ${t} s)" [ "$t" -le 4 ]
check "  ... saying the uncommitted lines come again" grep -q "stop deadline passed" "$WORK/serve.err"
rm -f "$WORK/freeze"
start
check "after the restart the unfinished lines are stored" wait_for 15 rows 3
sleep 1
check_eq "each once" "3 3" "$(count "select count(*) || ' ' || count(distinct recipient) from deliveries where host = 'mx4'")"
kill -TERM "$SPID"
wait "$SPID"
kill "$PXPID" 2>/dev/null
exit 0
