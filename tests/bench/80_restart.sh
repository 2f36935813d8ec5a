#!/bin/sh
# 80_restart.sh - `make bench`: how long `mailpulse serve` takes, restarted on a big live log,
# until the first new event is stored: without a stored parser state (the daemon reads the
# log from byte 0 to rebuild its open queue ids, as every restart did before the state was
# stored) and with one (it seeks to the state's byte).
#
# BENCH_RESTART_BYTES (default 2 GB) sizes the log: build/tools/genlog writes a busy relay's
# Postfix log of about that many bytes. The daemon's checkpoint is seeded at the end of all
# but the last 2,000 lines (a source row with the log's identity, made by importing its
# first line, and its checkpoint moved there): the rows of the early part play no role in a
# restart, which never stores lines before the checkpoint, and the log's events need not be
# stored first. Then:
#   before  1,000 new lines appended, the parser state row deleted, serve started: it reads
#           from byte 0, parsing without storing up to the checkpoint, then stores the new
#           lines; stopped (storing its state with the checkpoint)
#   after   1,000 more lines appended, serve started: it loads the state and reads from there
# Each figure is the wall time from starting serve until the checkpoint reaches the end of
# the log (the new lines' events committed), and the bytes the daemon read (/healthz).
set -eu
cd "$(dirname "$0")/../.."
BIN=./build/mailpulse
GENLOG=./build/tools/genlog
BYTES=${BENCH_RESTART_BYTES:-2000000000}
TMP=$(mktemp -d /tmp/mailpulse-bench80.XXXXXX)
chmod 755 "$TMP"
export TZ=UTC
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    sh scripts/pg.sh stop "$TMP/pg" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# genlog writes about 1,800 bytes per message
messages=$((BYTES / 1800 + 1))
"$GENLOG" --messages "$messages" --seed 8 >"$TMP/big.log"
lines=$(wc -l <"$TMP/big.log")
head -n $((lines - 2000)) "$TMP/big.log" >"$TMP/mail.log"
tail -n 2000 "$TMP/big.log" | head -n 1000 >"$TMP/new1.log"
tail -n 1000 "$TMP/big.log" >"$TMP/new2.log"
rm "$TMP/big.log"
early=$(wc -c <"$TMP/mail.log")
echo "input: genlog --messages $messages: $lines lines, $early bytes before the checkpoint"

DSN=$(sh scripts/pg.sh start "$TMP/pg")
"$BIN" db migrate --db "$DSN" >/dev/null
head -n 1 "$TMP/mail.log" >"$TMP/first.log"
"$BIN" import --db "$DSN" --year 2026 "$TMP/first.log" >/dev/null
psql "$DSN" -qAt -c "UPDATE sources SET checkpoint = $early" >/dev/null

# restart LABEL: append the next new lines, start serve, time it to the end; prints a line
# and sets MS
restart() {
    cat "$TMP/$2" >>"$TMP/mail.log"
    size=$(wc -c <"$TMP/mail.log")
    port=$(free_port)
    t0=$(now_ms)
    "$BIN" serve --db "$DSN" --log "$TMP/mail.log" --listen "127.0.0.1:$port" \
        --state-dir "$TMP" --year 2026 --poll-interval 20 2>"$TMP/serve-$1.err" &
    SPID=$!
    # bounded: 30 minutes
    i=0
    while [ "$(psql "$DSN" -qAt -c "SELECT checkpoint FROM sources")" != "$size" ]; do
        i=$((i + 1))
        [ $i -lt 36000 ] || { echo "$1: serve did not reach the end" >&2; exit 1; }
        kill -0 "$SPID" 2>/dev/null || { cat "$TMP/serve-$1.err" >&2; exit 1; }
        sleep 0.05
    done
    MS=$(($(now_ms) - t0))
    read_bytes=$(curl -s "http://127.0.0.1:$port/healthz" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ingest"]["read_bytes"])')
    # the state stored at the end: the next start goes on from it
    j=0
    until [ "$(psql "$DSN" -qAt -c "SELECT position FROM parser_state")" = "$size" ]; do
        j=$((j + 1))
        [ $j -lt 600 ] || { echo "$1: no state stored" >&2; exit 1; }
        sleep 0.05
    done
    state=$(psql "$DSN" -qAt -c "SELECT length(state) FROM parser_state")
    kill "$SPID"
    wait "$SPID" || true
    SPID=""
    echo "$1: $MS ms to the first new events stored; read $read_bytes bytes; state $state bytes"
}

psql "$DSN" -qAt -c "DELETE FROM parser_state" >/dev/null
restart before new1.log
before=$MS
restart after new2.log
after=$MS
grep -q "parser state of byte" "$TMP/serve-after.err" || {
    echo "after: the stored state was not used" >&2
    cat "$TMP/serve-after.err" >&2
    exit 1
}
echo "restart on a $early-byte log: before $before ms, after $after ms," \
    "$(echo "scale=1; $before / ($after + 0.001)" | bc -l)x faster"
