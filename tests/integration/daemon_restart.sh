#!/bin/sh
# daemon_restart.sh - a restarted `mailpulse serve` goes on from the parser state it stored with
# its checkpoint instead of reading the log again from byte 0:
#   1. serve reads 90 % of a log, stops; the rest is appended; the restarted daemon reads only
#      the new bytes (/healthz read_bytes) and what is stored equals a one-go import row for
#      row, and `mailpulse report` on the whole file;
#   2. a live log written in chunks, the daemon killed with SIGKILL in the middle of one and
#      restarted: the same;
#   3. a corrupt stored state, and one of another version: the daemon says why, reads the
#      log from byte 0, and nothing changes;
#   4. lines appended, the log rotated and gzipped while the daemon is stopped: it finishes
#      mail.log.1.gz from its stored state (decompressing, not parsing, the part before it),
#      then the new mail.log, and the totals equal `mailpulse report` of both files.
set -u
. "$(dirname "$0")/lib.sh"

export TZ=UTC
need_genlog
mkdir -p "$WORK/state"

# totals ARGS... : "received delivered deferrals bounced expired rejected notices"
totals() {
    "$BIN" report --format csv "$@" | awk -F, '
        $1 == "totals" { v[$3] = $4 }
        END { print v["received"], v["delivered"], v["deferrals"], v["bounced"], v["expired"],
                    v["rejected"], v["notices"] }'
}

# rows DSN: a digest of every stored event row, without the source id
rows() {
    psql "$1" -qAt -v ON_ERROR_STOP=1 -c "
        SELECT count(*) || ' ' || md5(string_agg(r, E'\n' ORDER BY r)) FROM (
            SELECT 'm' || (to_jsonb(t) - 'source_id')::text AS r FROM messages t
            UNION ALL SELECT 'd' || (to_jsonb(t) - 'source_id')::text FROM deliveries t
            UNION ALL SELECT 'r' || (to_jsonb(t) - 'source_id')::text FROM rejects t
            UNION ALL SELECT 'b' || (to_jsonb(t) - 'source_id')::text FROM bounce_notices t) x"
}

# ingest FIELD: a figure of /healthz's ingest object
ingest() {
    curl -s "$URL/healthz" | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["ingest"][sys.argv[1]])' "$1" 2>/dev/null
}

# caught_up DSN FILE: the checkpoint and the stored parser state are both at the file's end
caught_up() {
    size=$(wc -c <"$2")
    [ "$(psql "$1" -qAt -c "SELECT s.checkpoint || ' ' || coalesce(p.position, -1)
                             FROM sources s LEFT JOIN parser_state p ON p.source_id = s.id")" \
        = "$size $size" ]
}

# read_all FILE: the daemon has read as many bytes as FILE has
read_all() {
    [ "$(ingest read_bytes)" = "$(wc -c <"$1")" ]
}

# start DSN LOG: a daemon following LOG; SPID, URL
start() {
    PORT=$(free_port)
    URL="http://127.0.0.1:$PORT"
    "$BIN" serve --db "$1" --log "$2" --listen "127.0.0.1:$PORT" --state-dir "$WORK/state" \
        --year 2026 --poll-interval 50 2>>"$WORK/serve.err" &
    SPID=$!
    SERVE_PIDS="$SERVE_PIDS $SPID"
    wait_http "$URL/healthz" 20
}

# stop: SIGTERM, and wait for the exit
stop() {
    kill "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
}

# --- 1. most of a log, a stop, the rest
"$GENLOG" --messages 20000 --seed 11 >"$WORK/full.log"
nl=$(wc -l <"$WORK/full.log")
head -n $((nl * 9 / 10)) "$WORK/full.log" >"$WORK/mail.log"
early=$(wc -c <"$WORK/mail.log")
REF=$(new_db restart_ref) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$REF" >/dev/null
"$BIN" import --db "$REF" --year 2026 "$WORK/full.log" >/dev/null
want_rows=$(rows "$REF")
set -- $(totals --year 2026 "$WORK/full.log")
want_totals="$1 $2 $3 $4 $5 $6"

DSN=$(new_db restart_a) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null
start "$DSN" "$WORK/mail.log"
check "serve reads 90 % of the log and stores its state at the end" \
    wait_for 120 caught_up "$DSN" "$WORK/mail.log"
check_eq "the first run read the whole first part" "$early" "$(ingest read_bytes)"
check_eq "the first run had no state to go on from" 0 "$(ingest resumed)"
stop
tail -n +$((nl * 9 / 10 + 1)) "$WORK/full.log" >>"$WORK/mail.log"
late=$(($(wc -c <"$WORK/mail.log") - early))
: >"$WORK/serve.err"
start "$DSN" "$WORK/mail.log"
check "the restarted daemon reads to the end" wait_for 120 caught_up "$DSN" "$WORK/mail.log"
check_eq "the restart went on from the stored state" 1 "$(ingest resumed)"
check_eq "the restart read only the $late new bytes, not the $early before" "$late" \
    "$(ingest read_bytes)"
check "  ... and says where it started" grep -q "from byte $early, parsing only up to" \
    "$WORK/serve.err"
check_eq "stored rows equal a one-go import of the whole log" "$want_rows" "$(rows "$DSN")"
set -- $(totals --db "$DSN")
check_eq "report --db equals report FILE on the whole log" "$want_totals" "$1 $2 $3 $4 $5 $6"
s=$(curl -s "$URL/api/v1/summary?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z")
set -- $want_totals
check_eq "/api/v1/summary equals report FILE (received sent deferred bounced expired rejected)" \
    "$*" "$(for k in received sent deferred bounced expired rejected; do json_get "$s" $k; done |
        tr '\n' ' ' | sed 's/ $//')"
stop

# --- 3. (on the same database) a state that cannot be used: read from byte 0, nothing changes
for bad in "state = set_byte(state, 40, get_byte(state, 40) # 1)|checksum" \
    "state = overlay(state placing '\\x09'::bytea from 5 for 1)|version 9"; do
    what=${bad#*|}
    psql "$DSN" -qAt -c "UPDATE parser_state SET ${bad%|*}" >/dev/null
    : >"$WORK/serve.err"
    start "$DSN" "$WORK/mail.log"
    check "a stored state with a bad $what: read again to the end" \
        wait_for 120 read_all "$WORK/mail.log"
    check "  ... and a new state stored" wait_for 30 caught_up "$DSN" "$WORK/mail.log"
    check "  ... the daemon says why it is not used ($what)" \
        grep -q "stored parser state is not used (.*$what" "$WORK/serve.err"
    check_eq "  ... it read the log from byte 0" "$(wc -c <"$WORK/mail.log")" "$(ingest read_bytes)"
    check_eq "  ... and the rows are the same" "$want_rows" "$(rows "$DSN")"
    stop
done

# --- 2. a live log in chunks, SIGKILL in the middle of the last
"$GENLOG" --messages 20000 --seed 12 >"$WORK/full2.log"
REF2=$(new_db restart_ref2) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$REF2" >/dev/null
"$BIN" import --db "$REF2" --year 2026 "$WORK/full2.log" >/dev/null
want_rows=$(rows "$REF2")
set -- $(totals --year 2026 "$WORK/full2.log")
want_totals="$1 $2 $3 $4 $5 $6"
DSN=$(new_db restart_b) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null
rm -rf "$WORK/state"
mkdir -p "$WORK/state"
nl=$(wc -l <"$WORK/full2.log")
chunk=$((nl / 8 + 1))
: >"$WORK/live.log"
start "$DSN" "$WORK/live.log"
i=0
while [ $i -lt 4 ]; do
    tail -n +$((i * chunk + 1)) "$WORK/full2.log" | head -n $chunk >>"$WORK/live.log"
    wait_for 60 caught_up "$DSN" "$WORK/live.log" || break
    i=$((i + 1))
done
check_eq "four chunks of a live log read, each caught up" 4 "$i"
before=$(wc -c <"$WORK/live.log")
tail -n +$((4 * chunk + 1)) "$WORK/full2.log" >>"$WORK/live.log"
# SIGKILL once the daemon is into the last chunk (half the log), before it caught up
into() { [ "$(ingest read_bytes)" -gt "$before" ] 2>/dev/null; }
wait_for 30 into
kill -9 "$SPID"
wait "$SPID" 2>/dev/null
cp=$(psql "$DSN" -qAt -c "SELECT checkpoint FROM sources")
st=$(psql "$DSN" -qAt -c "SELECT position FROM parser_state")
echo "# killed at checkpoint $cp, state of byte $st, log $(wc -c <"$WORK/live.log") bytes"
check "the kill left a stored state at or before the checkpoint" \
    [ "$st" -gt 0 ] && [ "$st" -le "$cp" ]
cmp -s "$WORK/live.log" "$WORK/full2.log" || not_ok "the chunks make the whole log"
: >"$WORK/serve.err"
start "$DSN" "$WORK/live.log"
check "after SIGKILL the daemon reads to the end" wait_for 120 caught_up "$DSN" "$WORK/live.log"
check_eq "after SIGKILL it went on from the stored state" 1 "$(ingest resumed)"
check_eq "after SIGKILL it read from the state's byte on, not the $st before" \
    "$(($(wc -c <"$WORK/live.log") - st))" "$(ingest read_bytes)"
check_eq "after SIGKILL the stored rows equal a one-go import" "$want_rows" "$(rows "$DSN")"
set -- $(totals --db "$DSN")
check_eq "after SIGKILL report --db equals report FILE" "$want_totals" "$1 $2 $3 $4 $5 $6"
stop

# --- 4. appended, rotated and gzipped while stopped
"$GENLOG" --messages 20000 --seed 13 >"$WORK/full3.log"
nl=$(wc -l <"$WORK/full3.log")
DSN=$(new_db restart_c) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null
rm -rf "$WORK/state" "$WORK/rot"
mkdir -p "$WORK/state" "$WORK/rot"
head -n $((nl / 2)) "$WORK/full3.log" >"$WORK/rot/mail.log"
start "$DSN" "$WORK/rot/mail.log"
check "rotation: the first half read" wait_for 120 caught_up "$DSN" "$WORK/rot/mail.log"
stop
tail -n +$((nl / 2 + 1)) "$WORK/full3.log" | head -n $((nl / 5)) >>"$WORK/rot/mail.log"
first=$(wc -c <"$WORK/rot/mail.log")
mv "$WORK/rot/mail.log" "$WORK/rot/mail.log.1"
gzip "$WORK/rot/mail.log.1"
tail -n +$((nl / 2 + nl / 5 + 1)) "$WORK/full3.log" >"$WORK/rot/mail.log"
second=$(wc -c <"$WORK/rot/mail.log")
: >"$WORK/serve.err"
start "$DSN" "$WORK/rot/mail.log"
both_done() {
    [ "$(psql "$DSN" -qAt -c "SELECT count(*) FROM sources
                               WHERE checkpoint IN ($first, $second)")" = 2 ]
}
check "rotation: mail.log.1.gz finished and the new mail.log read" wait_for 120 both_done
check_eq "rotation: mail.log.1.gz went on from the stored state" 1 "$(ingest resumed)"
check_eq "rotation: only the lines after the state were parsed" \
    "$((nl - nl / 2))" "$(ingest lines)"
check "  ... and the log says it finished the rotated file" grep -q "finished .*mail.log.1.gz" \
    "$WORK/serve.err"
set -- $(totals --year 2026 "$WORK/rot/mail.log.1.gz" "$WORK/rot/mail.log")
want_totals="$1 $2 $3 $4 $5 $6"
set -- $(totals --db "$DSN")
check_eq "rotation: report --db equals report of both files" "$want_totals" "$1 $2 $3 $4 $5 $6"
stop
exit 0
