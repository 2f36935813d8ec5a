#!/bin/sh
# sniff_serve - the daemon's [sniff] section: `mailpulse serve` captures on lo while Python
# smtplib talks to the test's SMTP peer, and the smtp events land in the smtp_events table;
# a capture that cannot be opened turns sniffing off with one warning and serve goes on.
set -u
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
chmod 755 "$WORK"

DSN=$(new_db dsniff) || { not_ok "sniff serve: create database"; exit 0; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "sniff serve: migrate"; exit 0; }
SMTP=$(free_port)
PORT=$(free_port)
"$PY" tests/integration/sniff_peer.py "$SMTP" >"$WORK/peer.log" 2>&1 &
SERVE_PIDS="$!"
printf '[sniff]\ninterface = lo\nports = %s\npromisc = no\n' "$SMTP" >"$WORK/mailpulse.conf"
"$BIN" serve --config "$WORK/mailpulse.conf" --db "$DSN" --listen "127.0.0.1:$PORT" \
    --state-dir "$WORK/state" --poll-interval 100 2>"$WORK/serve.err" &
SPID=$!
SERVE_PIDS="$SERVE_PIDS $SPID"
check "sniff serve: serve starts with [sniff]" wait_http "http://127.0.0.1:$PORT/healthz"
check "sniff serve: the capture runs" wait_for 10 grep -q "sniff: capturing SMTP on lo" \
    "$WORK/serve.err"
wait_for 5 grep -q listening "$WORK/peer.log"
"$PY" - "$SMTP" <<'PYEOF' >"$WORK/client.out" 2>&1
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="serve.test")
try:
    s.sendmail("zoe@example.org", ["yan@example.net", "unknown7@example.net"], "Subject: x\r\n\r\nx\r\n")
except smtplib.SMTPRecipientsRefused:
    pass
s.quit()
PYEOF
q() { psql "$DSN" -qAt -c "$1"; }
rows() { [ "$(q "SELECT count(*) FROM smtp_events WHERE stage = 'data'")" -ge 1 ]; }
check "sniff serve: the events are stored" wait_for 15 rows
check_eq "sniff serve: the refused RCPT with its code and DSN" "550|5.1.1|zoe@example.org" \
    "$(q "SELECT smtp_code, dsn, sender FROM smtp_events WHERE recipient = 'unknown7@example.net'")"
check_eq "sniff serve: the data result with the peer's queue id" "250|LIVE1|serve.test" \
    "$(q "SELECT smtp_code, queue_id, helo FROM smtp_events WHERE stage = 'data'")"
kill -TERM "$SPID"
wait "$SPID"
check_eq "sniff serve: serve exits 0 on SIGTERM" 0 "$?"

# A capture that cannot start: one warning, and the daemon still serves.
PORT=$(free_port)
"$BIN" serve --db "$DSN" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state2" \
    --sniff no-such-if0 --sniff-ports 25 --poll-interval 100 2>"$WORK/serve2.err" &
SPID=$!
SERVE_PIDS="$SERVE_PIDS $SPID"
check "sniff serve: serve runs on without the capture" wait_http "http://127.0.0.1:$PORT/healthz"
check_eq "sniff serve: one warning turns sniffing off" 1 \
    "$(grep -c 'sniffing is off' "$WORK/serve2.err")"
kill -TERM "$SPID"
wait "$SPID"
"$BIN" serve --db "$DSN" --sniff-ports 25,x --state-dir "$WORK/state3" 2>"$WORK/serve3.err"
check "sniff serve: a bad --sniff-ports is refused" test $? -ne 0
