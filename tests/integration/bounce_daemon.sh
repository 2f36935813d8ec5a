#!/bin/sh
# bounce_daemon.sh - `serve` reads bounces and complaints from a Maildir beside a log: the
# messages arrive over time, the daemon is restarted (once with SIGKILL) and PostgreSQL is
# restarted in the middle; in the end every record is stored exactly once, the done messages
# sit in cur/ with the Seen flag, the unreadable one in the failed directory, and the API
# gives the counts of bounce_fixture.inc. The log comes last, so the DSNs stored before it
# are linked to its deliveries afterwards. The cluster is this test's own (it is restarted).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bounce_fixture.inc"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
chmod 755 "$WORK"
CL=$WORK/cluster
DSN0=$(sh "$ROOT/scripts/pg.sh" start "$CL") || { not_ok "start a private cluster"; exit 1; }
trap 'sh "$ROOT/scripts/pg.sh" stop "$CL" >/dev/null 2>&1; lib_cleanup' EXIT
if [ "$(id -u)" -eq 0 ]; then as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi
psql "$DSN0" -qAt -c "CREATE DATABASE bd" >/dev/null
DSN=$(echo "$DSN0" | sed "s/dbname=[^ ]*/dbname=bd/")
"$BIN" db migrate --db "$DSN" >/dev/null || not_ok "migrate"
q() { psql "$DSN" -qAt -c "$1" 2>/dev/null; }

BOX=$WORK/bounces
mkdir -p "$BOX/new" "$BOX/cur" "$BOX/tmp" "$WORK/all" "$WORK/state"
fixture_messages "$WORK/all"
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
cat >"$WORK/serve.conf" <<EOF
state_dir = $WORK/state
year = 2026
[source mail]
path = $WORK/mail.log
[source bounces]
type = maildir
path = $BOX
failed = $WORK/failed
EOF
check "--check-config shows the Maildir source" sh -c \
    "'$BIN' serve --config '$WORK/serve.conf' --db '$DSN' --check-config | grep -q 'bounces: maildir $BOX done=move failed=$WORK/failed'"

start() {
    "$BIN" serve --config "$WORK/serve.conf" --db "$DSN" --listen "127.0.0.1:$PORT" \
        2>>"$WORK/serve.err" &
    PID=$!
    SERVE_PIDS="$SERVE_PIDS $PID"
    wait_http "$URL/healthz" 20
}
# deliver NAME: as an MDA does, write in tmp/ and rename into new/
deliver() { cp "$WORK/all/$1" "$BOX/tmp/$1" && mv "$BOX/tmp/$1" "$BOX/new/$1"; }
in_cur() { [ "$(ls "$BOX/cur" | wc -l)" -eq "$1" ]; }
dsn_rows() { [ "$(q 'SELECT count(*) FROM dsn_reports')" = "$1" ]; }

check "serve starts with a Maildir source" start
deliver 1001.a.relay
deliver 1002.b.relay
check "two messages read and moved to cur/" wait_for 15 in_cur 2
check_eq "their two DSNs stored, unseen: the log is not there yet" "2 unseen" \
    "$(q "SELECT count(*) || ' ' || min(link) FROM dsn_reports")"
check "the moved names carry the Seen flag" test -f "$BOX/cur/1001.a.relay:2,S"

# A restart: nothing is read twice.
kill "$PID"; wait "$PID"
check "serve restarts" start
deliver 1003.c.relay
check "after a restart the third message is read" wait_for 15 in_cur 3
check_eq "three DSNs, none twice" 3 "$(q 'SELECT count(*) FROM dsn_reports')"

# PostgreSQL goes away while messages arrive; they wait in new/ and are stored after.
as_pg "$PGBIN/pg_ctl" -D "$CL/pg" stop -m fast >/dev/null 2>&1
deliver 1004.d.relay
deliver 1005.e.relay
sleep 3
check_eq "while the database is down, the messages stay in new/" 2 "$(ls "$BOX/new" | wc -l)"
sh "$ROOT/scripts/pg.sh" start "$CL" >/dev/null
check "after the database returns, they are stored and moved" wait_for 40 in_cur 5
check_eq "four DSNs" 4 "$(q 'SELECT count(*) FROM dsn_reports')"
check_eq "one complaint" 1 "$(q 'SELECT count(*) FROM complaints')"

# A crash after the commit and before the move, played by putting a done message back.
kill -9 "$PID"; wait "$PID" 2>/dev/null
mv "$BOX/cur/1004.d.relay:2,S" "$BOX/new/1004.d.relay"
check "serve starts after SIGKILL" start
deliver 1006.f.relay
deliver 1007.g.relay
check "the auto-reply and the message read again are done" wait_for 15 in_cur 6
check "the unreadable message is in the failed directory" wait_for 10 test -f "$WORK/failed/1007.g.relay"
check_eq "the message read again stored nothing" "4 1" \
    "$(q "SELECT (SELECT count(*) FROM dsn_reports) || ' ' || (SELECT count(*) FROM complaints)")"
h=$(curl -s "$URL/healthz")
check_eq "/healthz: the Maildir's figures since this start" "3 1 1 0 1" \
    "$(printf '%s' "$h" | python3 -c 'import json,sys; b=json.load(sys.stdin)["ingest"]["bounces"]; print(b["messages"], b["not_bounce"], b["malformed"], b["records"], b["duplicates"])')"
check "/metrics: bounce message counters" sh -c \
    "curl -s '$URL/metrics' | grep -q '^mailpulse_bounce_messages_total{outcome=\"malformed\"} 1'"

# The log arrives last: the DSNs stored before it are linked now.
fixture_log "$WORK/mail.tmp"
mv "$WORK/mail.tmp" "$WORK/mail.log"
have_log() { [ "$(json_get "$(curl -s "$URL/api/v1/summary?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z")" sent)" = 5 ]; }
check "the log is in" wait_for 15 have_log
linked() { [ "$(q "SELECT count(*) FROM dsn_reports WHERE link = 'unseen'")" = 1 ]; }
check "every DSN whose delivery is logged gets linked (only zed stays unseen)" wait_for 25 linked
check_eq "links" "alice@ms.example async|bob@ms.example delayed|carol@gm.example logged|zed@unknown.example unseen" \
    "$(q "SELECT string_agg(recipient || ' ' || link, '|' ORDER BY recipient) FROM dsn_reports")"
check_eq "rollups_dsn_hour follows the links" "async 1|delayed 1|logged 1|unseen 1" \
    "$(q "SELECT string_agg(link || ' ' || n, '|' ORDER BY link) FROM (SELECT link, sum(n) AS n FROM rollups_dsn_hour GROUP BY 1) x")"
s=$(curl -s "$URL/api/v1/summary?from=2026-11-30T00:00:00Z&to=2026-12-01T00:00:00Z")
check_eq "summary: async_bounced" 2 "$(json_get "$s" async_bounced)"
check_eq "summary: complaints" 1 "$(json_get "$s" complaints)"
check_eq "suppressions" "alice@ms.example|frank@other.example|zed@unknown.example" \
    "$(q "SELECT string_agg(recipient, '|' ORDER BY recipient) FROM suppressions")"
# Hostile entries: a symbolic link and a FIFO are never followed or waited on.
ln -s /etc/passwd "$BOX/new/2001.link.relay"
mkfifo "$BOX/new/2002.fifo.relay"
both_failed() { [ -L "$WORK/failed/2001.link.relay" ] && [ -p "$WORK/failed/2002.fifo.relay" ]; }
check "a symbolic link and a FIFO in new/ go to the failed directory" wait_for 15 both_failed
check "serve still answers" wait_http "$URL/healthz" 5
kill "$PID"; wait "$PID"
check_eq "serve exits 0" 0 "$?"
check "no crash or sanitizer report in the log" sh -c "! grep -q 'AddressSanitizer\|runtime error' '$WORK/serve.err'"
