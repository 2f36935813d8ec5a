#!/bin/sh
# foundation.sh - migrations, import (twice), serve: follow, summary API, restart, errors.
set -u
. "$(dirname "$0")/lib.sh"

SAMPLE=samples/mail.log
# What samples/mail.log holds (read off the log by hand).
RANGE="from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z"

DSN=$(new_db found) || { not_ok "create database"; exit 1; }

# --- migrations
out=$("$BIN" db status --db "$DSN")
check "db status on an empty database lists pending migrations" \
    sh -c "printf '%s' \"\$1\" | grep -q pending" _ "$out"
out=$("$BIN" import --db "$DSN" "$SAMPLE" 2>&1)
check "import refuses an unmigrated database" [ $? -ne 0 ]
check "  ... and names the command that fixes it" \
    sh -c "printf '%s' \"\$1\" | grep -q 'mailpulse db migrate'" _ "$out"
check "db migrate" "$BIN" db migrate --db "$DSN"
out=$("$BIN" db migrate --db "$DSN")
check "db migrate again applies nothing" sh -c "! printf '%s' \"\$1\" | grep -qi 'applied 0*[1-9]'" _ "$out"
out=$("$BIN" db status --db "$DSN")
check "db status shows no pending migration" sh -c "! printf '%s' \"\$1\" | grep -q pending" _ "$out"

# --- import, twice
count() { psql "$DSN" -qAt -c "$1"; }
check "import the sample" "$BIN" import --db "$DSN" "$SAMPLE"
d1=$(count "select count(*) from deliveries")
m1=$(count "select count(*) from messages")
check_eq "sample gives 11 delivery attempts" 11 "$d1"
check_eq "sample gives 5 messages" 5 "$m1"
check_eq "bounced rows carry dsn and sender" "5.1.1|news@example.org|<20261127090001.a1@example.org>" \
    "$(count "select dsn, sender, message_id from deliveries where recipient='nosuch.user@gmail.com'")"
check "import the same file again" "$BIN" import --db "$DSN" "$SAMPLE"
check_eq "second import adds no delivery" "$d1" "$(count "select count(*) from deliveries")"
check_eq "second import adds no message" "$m1" "$(count "select count(*) from messages")"
gzip -c "$SAMPLE" >"$WORK/mail.log.1.gz"
check "import the same log gzipped" "$BIN" import --db "$DSN" "$WORK/mail.log.1.gz"
check_eq "a gzipped copy adds nothing either" "$d1" "$(count "select count(*) from deliveries")"

# --- serve: summary over the imported rows, following a log
PORT=$(free_port)
LOG="$WORK/follow.log"
: >"$LOG"
"$BIN" serve --db "$DSN" --log "$LOG" --listen "127.0.0.1:$PORT" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
SPID=$!
check "serve answers /healthz" wait_http "http://127.0.0.1:$PORT/healthz"
body=$(curl -s "http://127.0.0.1:$PORT/api/v1/summary?$RANGE")
check_eq "summary: received" 4 "$(json_get "$body" received)"
check_eq "summary: sent" 5 "$(json_get "$body" sent)"
check_eq "summary: deferred" 3 "$(json_get "$body" deferred)"
check_eq "summary: bounced" 2 "$(json_get "$body" bounced)"
check_eq "summary: expired" 1 "$(json_get "$body" expired)"
code=$(curl -s -o "$WORK/bad.json" -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/summary?from=yesterday")
check_eq "bad from gets 400" 400 "$code"
check "  ... with a JSON error" python3 -c 'import json,sys; assert "error" in json.load(open(sys.argv[1]))' "$WORK/bad.json"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1/summary?from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z")
check_eq "reversed range gets 400" 400 "$code"

# Append two sent deliveries and one bounce to the followed log.
cat >>"$LOG" <<'LINES'
2026-11-27T12:00:00.000001+00:00 mx2 postfix/qmgr[77]: 1111AAAA2222: from=<a@example.org>, size=100, nrcpt=2 (queue active)
2026-11-27T12:00:01.000001+00:00 mx2 postfix/smtp[78]: 1111AAAA2222: to=<x@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)
2026-11-27T12:00:01.000002+00:00 mx2 postfix/smtp[78]: 1111AAAA2222: to=<y@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.com[192.0.2.1] said: 550 5.1.1 no such user (in reply to RCPT TO command))
LINES
summary_has() { # key value [host]
    b=$(curl -s "http://127.0.0.1:$PORT/api/v1/summary?$RANGE${3:+&host=$3}")
    [ "$(json_get "$b" "$1")" = "$2" ]
}
check "serve ingests appended lines (sent 5 -> 6)" wait_for 10 summary_has sent 6
check "  ... and the bounce (bounced 2 -> 3)" wait_for 5 summary_has bounced 3
check "host filter: mx2 sent 1" summary_has sent 1 mx2
check "host filter: mx2 received 1" summary_has received 1 mx2

# A partial line waits for its newline.
printf '2026-11-27T12:05:00.000001+00:00 mx2 postfix/smtp[78]: 1111AAAA2222: to=<z@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, dsn=2.0.0, status=sent (250' >>"$LOG"
sleep 1.5
check "a partial last line is not ingested" summary_has sent 6
printf ' ok)\n' >>"$LOG"
check "  ... until its newline arrives" wait_for 10 summary_has sent 7

# SIGTERM: exit 0; a restart reads nothing twice and picks up what came meanwhile.
kill -TERM "$SPID"
wait "$SPID"
check_eq "serve exits 0 on SIGTERM" 0 "$?"
cat >>"$LOG" <<'LINES'
2026-11-27T12:10:00.000001+00:00 mx2 postfix/smtp[79]: 1111AAAA2222: to=<w@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)
LINES
"$BIN" serve --db "$DSN" --log "$LOG" --listen "127.0.0.1:$PORT" 2>>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
SPID=$!
wait_http "http://127.0.0.1:$PORT/healthz"
check "restart picks up the line written while stopped" wait_for 10 summary_has sent 8
sleep 1
check "restart stores nothing twice" summary_has sent 8
check_eq "delivery rows after restart" $((d1 + 4)) "$(count "select count(*) from deliveries")"
check_eq "the late line still carries its sender" "a@example.org" \
    "$(count "select sender from deliveries where recipient='w@example.com'")"
body=$(curl -s "http://127.0.0.1:$PORT/healthz")
check_eq "healthz says the database is up" up "$(json_get "$body" database)"
kill -TERM "$SPID"
wait "$SPID"

# retention_days: serve drops the months that ended longer ago, and nothing newer.
cat >"$WORK/old.log" <<'LINES'
2020-01-05T10:00:00.000001+00:00 old postfix/smtp[9]: 0123ABCDEF: to=<o@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)
LINES
"$BIN" import --db "$DSN" "$WORK/old.log" >/dev/null
check_eq "an old row is there before retention" 1 "$(count "select count(*) from deliveries where host='old'")"
before=$(count "select count(*) from deliveries where host<>'old'")
"$BIN" serve --db "$DSN" --log "$LOG" --listen "127.0.0.1:$PORT" --retention-days 1500 \
    2>"$WORK/retention.err" &
SERVE_PIDS="$SERVE_PIDS $!"
SPID=$!
old_gone() { [ "$(count "select count(*) from deliveries where host='old'")" = 0 ]; }
check "serve --retention-days drops the 2020 partition" wait_for 10 old_gone
kill -TERM "$SPID"
wait "$SPID"
check_eq "  ... and keeps every newer row" "$before" \
    "$(count "select count(*) from deliveries where host<>'old'")"

# A second port in use: serve refuses with a clear message and non-zero status.
# The holder says when it listens (python can take longer than a fixed sleep to start on a
# busy machine, and serve would then take the port itself and never exit).
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",'"$PORT"')); s.listen(); open(sys.argv[1], "w").close(); time.sleep(10)' "$WORK/held" &
HOLD=$!
wait_for 10 test -f "$WORK/held"
timeout 20 "$BIN" serve --db "$DSN" --log "$LOG" --listen "127.0.0.1:$PORT" 2>"$WORK/busy.err"
check "serve refuses a port in use" [ $? -ne 0 ]
kill "$HOLD" 2>/dev/null
check "serve's log has no error line from normal operation" \
    sh -c "! grep -q 'error' \"\$1\"" _ "$WORK/serve.err"
exit 0
