#!/bin/sh
# daemon_idle_db.sh - a daemon with nothing new to read still notices that the database went
# away and came back: /healthz's ingest block says db_up false within a few seconds of the
# stop, true again after the restart, and lines written meanwhile are stored once.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
chmod 755 "$WORK"
CL=$WORK/cluster
DSN0=$(sh "$ROOT/scripts/pg.sh" start "$CL") || { not_ok "start a private cluster"; exit 1; }
stop_cluster() { sh "$ROOT/scripts/pg.sh" stop "$CL" >/dev/null 2>&1; }
trap 'stop_cluster; lib_cleanup' EXIT
if [ "$(id -u)" -eq 0 ]; then as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi
pgctl() { as_pg "$PGBIN/pg_ctl" -D "$CL/pg" -w "$@" >/dev/null 2>&1; }

psql "$DSN0" -qAt -c "CREATE DATABASE idle" >/dev/null || { not_ok "create database"; exit 1; }
DSN=$(echo "$DSN0" | sed "s/dbname=[^ ]*/dbname=idle/")
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }

head -20 samples/mail.log >"$WORK/mail.log"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DSN" --log "$WORK/mail.log" --listen "127.0.0.1:$PORT" \
    --state-dir "$WORK" 2>"$WORK/serve.err" &
SERVE_PIDS="$SERVE_PIDS $!"
check "serve answers" wait_http "$URL/healthz"
db_up() { curl -s "$URL/healthz" | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["ingest"]["db_up"]).lower())' 2>/dev/null; }
up_is() { [ "$(db_up)" = "$1" ]; }
check "db_up is true while the database runs" wait_for 10 up_is true

pgctl stop -m fast
check "an idle daemon sees the database go: db_up false within 15 s" wait_for 15 up_is false
check "the outage is one warning, not one per check" \
    [ "$(grep -c 'the database does not answer' "$WORK/serve.err")" -le 1 ]
tail -n +21 samples/mail.log >>"$WORK/mail.log"
pgctl start
check "and back: db_up true again within 15 s" wait_for 15 up_is true
stored() { [ "$(psql "$DSN" -qAt -c 'SELECT count(*) FROM messages')" = 5 ]; }
check "the lines written during the outage are stored once" wait_for 30 stored
check "serve is still running" kill -0 "${SERVE_PIDS##* }"
