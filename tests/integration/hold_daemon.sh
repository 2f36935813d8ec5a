#!/bin/sh
# hold_daemon.sh - `mailpulse serve` holds a delivery to a loopback relay whose reply names a
# queue id not logged yet, until that id shows up (a content filter's hop: the message counts
# once) or the source has been quiet for --hold-seconds (a loopback smarthost: a delivery):
#   1. the hop line is read, the daemon is stopped (SIGTERM) and started again, then the
#      re-injected copy is logged: one message received, each recipient delivered once, by the
#      copy, and nothing stored for the hop; the same log imported in one go agrees;
#   2. a smarthost on loopback whose id never shows: nothing is stored while it is held, the
#      delivery is stored after the source has been quiet for --hold-seconds, once, and a
#      restart after that does not store it again;
#   3. a stop with a hop held: the stored parser state keeps it, and the restarted daemon,
#      which reads only what follows its checkpoint, releases it, keyed by its own line.
set -u
. "$(dirname "$0")/lib.sh"

export TZ=UTC
mkdir -p "$WORK/state"
DSN=$(new_db hold_daemon) || { not_ok "database"; exit 1; }
IMP=$(new_db hold_import) || { not_ok "database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null && "$BIN" db migrate --db "$IMP" >/dev/null ||
    { not_ok "migrate"; exit 1; }

# start LOG HOLD: a daemon following LOG; SPID, URL
start() {
    PORT=$(free_port)
    URL="http://127.0.0.1:$PORT"
    "$BIN" serve --db "$DSN" --log "$1" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" \
        --year 2026 --poll-interval 50 --hold-seconds "$2" 2>>"$WORK/serve.err" &
    SPID=$!
    SERVE_PIDS="$SERVE_PIDS $SPID"
    wait_http "$URL/healthz" 20
}

# stop: SIGTERM, and wait for the exit
stop() {
    kill "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
}

# q DSN SQL: one value
q() { psql "$1" -qAt -c "$2" 2>>"$WORK/psql.err"; }

# caught_up FILE: the checkpoint is at the file's end
caught_up() {
    [ "$(q "$DSN" "SELECT max(checkpoint) FROM sources")" = "$(wc -c <"$1")" ]
}

H="Nov 28 17:30"
LOG="$WORK/mail.log"
cat >"$LOG" <<LOGEOF
$H:01 mx1 postfix/smtpd[10]: 5AB0C1855DA0: client=app[192.0.2.9], sasl_method=PLAIN, sasl_username=ann
$H:01 mx1 postfix/cleanup[11]: 5AB0C1855DA0: message-id=<hold1@example.org>
$H:01 mx1 postfix/qmgr[12]: 5AB0C1855DA0: from=<news@example.org>, size=900, nrcpt=2 (queue active)
$H:02 mx1 postfix/smtp[13]: 5AB0C1855DA0: to=<a@e.example>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F00C1855DB9)
$H:02 mx1 postfix/smtp[13]: 5AB0C1855DA0: to=<b@e.example>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F00C1855DB9)
$H:02 mx1 postfix/qmgr[12]: 5AB0C1855DA0: removed
LOGEOF

# --- 1. the hop before its copy, a restart between them
start "$LOG" 3600 || not_ok "serve starts"
wait_for 20 caught_up "$LOG"
check_eq "hop held: nothing delivered yet" 0 "$(q "$DSN" "SELECT count(*) FROM deliveries")"
stop
start "$LOG" 3600 || not_ok "serve starts again"
cat >>"$LOG" <<LOGEOF
$H:03 mx1 postfix/smtpd[14]: 9F00C1855DB9: client=localhost[127.0.0.1]
$H:03 mx1 postfix/cleanup[11]: 9F00C1855DB9: message-id=<hold1@example.org>
$H:03 mx1 postfix/qmgr[12]: 9F00C1855DB9: from=<news@example.org>, size=1400, nrcpt=2 (queue active)
$H:04 mx1 postfix/smtp[15]: 9F00C1855DB9: to=<a@e.example>, relay=mx.e.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK id=A1)
$H:04 mx1 postfix/smtp[15]: 9F00C1855DB9: to=<b@e.example>, relay=mx.e.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK id=A2)
$H:04 mx1 postfix/qmgr[12]: 9F00C1855DB9: removed
LOGEOF
wait_for 20 caught_up "$LOG"
sleep 0.5
check_eq "the restart read only the new bytes" 1 \
    "$(grep -c 'parser state of byte' "$WORK/serve.err")"
check_eq "one message received" 1 "$(q "$DSN" "SELECT count(*) FROM messages")"
check_eq "each recipient delivered once, by the copy" \
    "a@e.example 9F00C1855DB9 mx.e.example[192.0.2.1]:25|b@e.example 9F00C1855DB9 mx.e.example[192.0.2.1]:25" \
    "$(q "$DSN" "SELECT string_agg(recipient || ' ' || queue_id || ' ' || relay, '|' ORDER BY recipient) FROM deliveries")"
check_eq "the copy's deliveries name the first copy's submitter" "app[192.0.2.9] ann" \
    "$(q "$DSN" "SELECT DISTINCT client || ' ' || sasl_username FROM deliveries")"
stop
"$BIN" import --db "$IMP" --year 2026 "$LOG" >/dev/null 2>&1
check_eq "import in one go agrees" \
    "$(q "$DSN" "SELECT count(*), string_agg(recipient, ',' ORDER BY recipient) FROM deliveries")" \
    "$(q "$IMP" "SELECT count(*), string_agg(recipient, ',' ORDER BY recipient) FROM deliveries")"

# --- 2. a loopback smarthost whose id never shows
cat >>"$LOG" <<LOGEOF
$H:10 mx1 postfix/qmgr[12]: 6CD0E1855DB2: from=<news@example.org>, size=900, nrcpt=1 (queue active)
$H:11 mx1 postfix/smtp[16]: 6CD0E1855DB2: to=<c@e.example>, relay=127.0.0.7[127.0.0.7]:2525, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as SMH000001)
$H:11 mx1 postfix/qmgr[12]: 6CD0E1855DB2: removed
LOGEOF
start "$LOG" 3 || not_ok "serve starts (hold 3 s)"
wait_for 20 caught_up "$LOG"
check_eq "smarthost delivery held at first" 0 \
    "$(q "$DSN" "SELECT count(*) FROM deliveries WHERE recipient = 'c@e.example'")"
delivered() {
    [ "$(q "$DSN" "SELECT count(*) FROM deliveries WHERE recipient = 'c@e.example'")" = 1 ]
}
check "smarthost delivery stored once the source was quiet for 3 s" wait_for 20 delivered
check_eq "it is a sent delivery to the smarthost" "sent 127.0.0.7[127.0.0.7]:2525 6CD0E1855DB2" \
    "$(q "$DSN" "SELECT status || ' ' || relay || ' ' || queue_id FROM deliveries WHERE recipient = 'c@e.example'")"
stop
start "$LOG" 3 || not_ok "serve starts again"
sleep 4.5
check_eq "a restart does not store it again" 1 \
    "$(q "$DSN" "SELECT count(*) FROM deliveries WHERE recipient = 'c@e.example'")"
stop
"$BIN" import --db "$IMP" --year 2026 "$LOG" >/dev/null 2>&1
check_eq "import (released at the end of the file) agrees" \
    "$(q "$DSN" "SELECT count(*), string_agg(recipient, ',' ORDER BY recipient) FROM deliveries")" \
    "$(q "$IMP" "SELECT count(*), string_agg(recipient, ',' ORDER BY recipient) FROM deliveries")"
"$BIN" import --db "$IMP" --year 2026 "$LOG" >/dev/null 2>&1
check_eq "a repeated import stores nothing new" 3 \
    "$(q "$IMP" "SELECT count(*) FROM deliveries")"
# --- 3. a stop while a hop is held: the stored state keeps it, the restarted daemon (which
# reads only the bytes after its checkpoint) releases it
cat >>"$LOG" <<LOGEOF
$H:20 mx1 postfix/qmgr[12]: 7EF0E1855DB3: from=<news@example.org>, size=900, nrcpt=1 (queue active)
$H:21 mx1 postfix/smtp[16]: 7EF0E1855DB3: to=<d@e.example>, relay=127.0.0.7[127.0.0.7]:2525, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as SMH000002)
$H:21 mx1 postfix/qmgr[12]: 7EF0E1855DB3: removed
LOGEOF
start "$LOG" 3600 || not_ok "serve starts (hold 1 h)"
wait_for 20 caught_up "$LOG"
sleep 0.5
check_eq "held while the daemon runs" 0 \
    "$(q "$DSN" "SELECT count(*) FROM deliveries WHERE recipient = 'd@e.example'")"
stop
start "$LOG" 2 || not_ok "serve starts (hold 2 s)"
delivered_d() {
    [ "$(q "$DSN" "SELECT count(*) FROM deliveries WHERE recipient = 'd@e.example'")" = 1 ]
}
check "the hop held at the stop is released by the restarted daemon" wait_for 20 delivered_d
stop
check_eq "its key is its own line's position" \
    "$(grep -b 'to=<d@e.example>' "$LOG" | cut -d: -f1)" \
    "$(q "$DSN" "SELECT pos FROM deliveries WHERE recipient = 'd@e.example'")"
check_eq "the daemon said nothing went wrong" 0 "$(grep -c -i 'error\|cannot' "$WORK/serve.err")"
