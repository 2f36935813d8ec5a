#!/bin/sh
# daemon_same_start.sh - generations of a log that begin with the same line (here an empty
# one, as `echo > mail.log` leaves) are different files: rotated while serve runs, rotated
# while it is stopped, and imported one after the other, every message of each is stored.
# The counts to meet are what `mailpulse parse` finds in the same files.
set -u
. "$(dirname "$0")/lib.sh"

need_genlog
DB=$(migrated_db dsame) || exit 1
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/state"
LOG=$LOGS/mail.log

messages_in() { cat "$@" | "$BIN" parse --year 2026 - | grep -c '"type":"message"'; }
stored() { psql "$1" -qAt -c "SELECT count(*) FROM messages"; }
# generation SEED N: a log that starts with an empty line, then N messages
generation() { echo; "$GENLOG" --messages "$2" --seed "$1"; }
WEB=$(free_port)
start_serve() {
    "$BIN" serve --db "$DB" --listen "127.0.0.1:$WEB" --log "$LOG" --state-dir "$WORK/state" \
        --poll-interval 200 --rotate-wait 0 --year 2026 >>"$WORK/serve.log" 2>&1 &
    P=$!
    SERVE_PIDS="$P"
    wait_http "http://127.0.0.1:$WEB/healthz" 10 || not_ok "serve answers"
}
wait_stored() {
    wait_for 30 sh -c "[ \"\$(psql '$DB' -qAt -c 'SELECT count(*) FROM messages')\" = $1 ]"
}

generation 31 40 >"$LOG"
start_serve
want=$(messages_in "$LOG")
wait_stored "$want"
check_eq "the first generation is stored" "$want" "$(stored "$DB")"

# Rotated while serve runs; the new file is shorter than the old one's checkpoint.
mv "$LOG" "$LOG.1"
generation 32 10 >"$LOG"
want=$(messages_in "$LOG.1" "$LOG")
wait_stored "$want"
check_eq "a new file with the same first line is read from its start" "$want" "$(stored "$DB")"

# Stopped; the live file gets more lines, then is rotated, and a new one begins alike.
kill "$P"
wait "$P"
"$GENLOG" --messages 15 --seed 33 >>"$LOG"
mv "$LOG.1" "$LOG.2"
mv "$LOG" "$LOG.1"
generation 34 12 >"$LOG"
start_serve
want=$(messages_in "$LOG.2" "$LOG.1" "$LOG")
wait_stored "$want"
check_eq "after a rotation while stopped, the old file's rest and the new file are stored" \
    "$want" "$(stored "$DB")"
check_eq "one source per generation" 3 \
    "$(psql "$DB" -qAt -c "SELECT count(*) FROM sources WHERE identity LIKE 'fnv1a64:%'")"
check "serve says why a file got a source of its own" grep -q "a source of its own" \
    "$WORK/serve.log"
kill "$P"
wait "$P"
check_eq "serve exits 0 on SIGTERM" 0 $?

# The same by import: two files that start alike, imported one after the other, then again.
DB2=$(migrated_db dsame2) || exit 1
generation 41 30 >"$WORK/x.log"
generation 42 20 >"$WORK/y.log"
"$BIN" import --db "$DB2" --year 2026 "$WORK/x.log" >/dev/null 2>&1
"$BIN" import --db "$DB2" --year 2026 "$WORK/y.log" >/dev/null 2>&1
want=$(messages_in "$WORK/x.log" "$WORK/y.log")
check_eq "import: both files are stored" "$want" "$(stored "$DB2")"
"$BIN" import --db "$DB2" --year 2026 "$WORK/y.log" "$WORK/x.log" >/dev/null 2>&1
check_eq "import: importing them again adds nothing" "$want" "$(stored "$DB2")"
