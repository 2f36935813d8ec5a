#!/bin/sh
# daemon_glob.sh - a file source whose path is a glob: a file that appears later is followed
# without a SIGHUP, a matched file that is deleted is closed once read (its descriptor and
# its state file go), and one that appears again under that name is followed again. Rows are
# compared with what `mailpulse parse` finds in the same files.
set -u
. "$(dirname "$0")/lib.sh"

need_genlog
DB=$(migrated_db dglob) || exit 1
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/state"

messages_in() { cat "$@" | "$BIN" parse --year 2026 - | grep -c '"type":"message"'; }
stored() { psql "$DB" -qAt -c "SELECT count(*) FROM messages"; }
# open_logs PID: the followed logs the process holds open (a deleted one says so)
open_logs() { ls -l "/proc/$1/fd" 2>/dev/null | grep -c "$LOGS/"; }

"$GENLOG" --messages 30 --seed 21 >"$LOGS/a.log"
WEB=$(free_port)
"$BIN" serve --db "$DB" --listen "127.0.0.1:$WEB" --log "$LOGS/*.log" --state-dir "$WORK/state" \
    --poll-interval 200 --year 2026 >"$WORK/serve.log" 2>&1 &
P=$!
SERVE_PIDS="$P"
wait_http "http://127.0.0.1:$WEB/healthz" 10 || not_ok "serve answers"
want=$(messages_in "$LOGS/a.log")
wait_for 20 sh -c "[ \"\$(psql '$DB' -qAt -c 'SELECT count(*) FROM messages')\" = $want ]"
check_eq "the file the glob matched at start is stored" "$want" "$(stored)"

# A file that appears while serve runs: followed within the 5 s between looks, no SIGHUP.
"$GENLOG" --messages 20 --seed 22 >"$LOGS/b.log"
want=$(messages_in "$LOGS/a.log" "$LOGS/b.log")
wait_for 20 sh -c "[ \"\$(psql '$DB' -qAt -c 'SELECT count(*) FROM messages')\" = $want ]"
check_eq "a file that appears later is followed without a reload" "$want" "$(stored)"
check "serve says it follows the new file" grep -q "following $LOGS/b.log" "$WORK/serve.log"
check_eq "both files are open" 2 "$(open_logs "$P")"

# Deleted: closed after the next looks, its state file removed.
states=$(ls "$WORK/state"/*.state | wc -l)
rm "$LOGS/a.log"
wait_for 20 grep -q "$LOGS/a.log is gone and was read to its end; closed" "$WORK/serve.log"
check "a deleted file is closed" grep -q "$LOGS/a.log is gone and was read to its end; closed" \
    "$WORK/serve.log"
check_eq "its descriptor is given back" 1 "$(open_logs "$P")"
check_eq "its state file is removed" $((states - 1)) "$(ls "$WORK/state"/*.state | wc -l)"
check_eq "nothing stored twice or lost" "$want" "$(stored)"

# The same name again, with new content: a new file to follow.
"$GENLOG" --messages 10 --seed 23 >"$LOGS/a.log"
want=$((want + $(messages_in "$LOGS/a.log")))
wait_for 20 sh -c "[ \"\$(psql '$DB' -qAt -c 'SELECT count(*) FROM messages')\" = $want ]"
check_eq "a file created again under a closed name is followed again" "$want" "$(stored)"
kill "$P"
wait "$P"
check_eq "serve exits 0 on SIGTERM" 0 $?
