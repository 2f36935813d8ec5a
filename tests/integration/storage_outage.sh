#!/bin/sh
# storage_outage.sh - the database goes away during an import of 200k lines: a crash
# restart (pg_ctl restart -m immediate), a 60-second stop, and pg_terminate_backend. Each
# time the importer waits, reconnects and ends with exactly the rows of a clean import.
#
# The server is a private cluster of this test (scripts/pg.sh), since it is stopped and
# restarted; the suite's shared cluster is not touched. STORAGE_STOP_SECONDS (default 60)
# sets the length of the stop.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin
STOP_S=${STORAGE_STOP_SECONDS:-60}
need_genlog

chmod 755 "$WORK"
CL=$WORK/cluster
DSN0=$(sh "$ROOT/scripts/pg.sh" start "$CL") || { not_ok "start a private cluster"; exit 1; }
stop_cluster() { sh "$ROOT/scripts/pg.sh" stop "$CL" >/dev/null 2>&1; }
trap 'stop_cluster; lib_cleanup' EXIT
if [ "$(id -u)" -eq 0 ]; then as_pg() { runuser -u postgres -- "$@"; }; else as_pg() { "$@"; }; fi
pgctl() { as_pg "$PGBIN/pg_ctl" -D "$CL/pg" "$@" >/dev/null 2>&1; }

mkdb() {
    psql "$DSN0" -qAt -c "CREATE DATABASE $1" >/dev/null || return 1
    d=$(echo "$DSN0" | sed "s/dbname=[^ ]*/dbname=$1/")
    "$BIN" db migrate --db "$d" >/dev/null || return 1
    echo "$d"
}

LOG=$WORK/mail.log
"$GENLOG" --messages 18500 --seed 11 >"$LOG"
check "the log has 200k lines" [ "$(wc -l <"$LOG")" -ge 200000 ]

fingerprint() {
    psql "$1" -qAt -c "
        SELECT (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM deliveries)
            || ' ' || (SELECT count(*) FROM rejects) || ' '
            || (SELECT count(*) FROM bounce_notices) || ' '
            || (SELECT coalesce(sum(n), 0) FROM rollups) || ' '
            || (SELECT md5(coalesce(string_agg(r, E'\n' ORDER BY r), '')) FROM (
                SELECT 'm' || t::text AS r FROM messages t
                UNION ALL SELECT 'd' || t::text FROM deliveries t
                UNION ALL SELECT 'r' || t::text FROM rejects t
                UNION ALL SELECT 'b' || t::text FROM bounce_notices t) x)"
}

REF=$(mkdb ref) || { not_ok "create database"; exit 1; }
"$BIN" import --db "$REF" "$LOG" >/dev/null
want=$(fingerprint "$REF")
check "clean import of 200k lines" [ "$(echo "$want" | cut -d' ' -f2)" -gt 50000 ]

# some_rows DSN: the import has committed something
some_rows() { [ "$(psql "$1" -qAt -c 'SELECT count(*) > 0 FROM deliveries' 2>/dev/null)" = t ]; }

# outage NAME ACTION...: import in the background, run ACTION once rows arrive, then check
outage() {
    nm=$1
    shift
    db=$(mkdb "$nm") || { not_ok "$nm: create database"; return; }
    MAILPULSE_IMPORT_BATCH=200 "$BIN" import --db "$db" "$LOG" >"$WORK/$nm.out" \
        2>"$WORK/$nm.err" &
    pid=$!
    if ! wait_for 60 some_rows "$db"; then
        not_ok "$nm: the import started"
        kill "$pid" 2>/dev/null
        return
    fi
    done_before=$(kill -0 "$pid" 2>/dev/null && echo no || echo yes)
    "$@"
    wait "$pid"
    rc=$?
    check_eq "$nm: the import was still running when the outage began" no "$done_before"
    check_eq "$nm: the import waited and finished (exit 0)" 0 "$rc"
    check_eq "$nm: exactly the rows of a clean import" "$want" "$(fingerprint "$db")"
    check_eq "$nm: one warning about the outage" 1 "$(grep -c 'warning' "$WORK/$nm.err")"
    check "$nm: ... that says so" grep -q 'database is unavailable' "$WORK/$nm.err"
    sed 's/^/#   /' "$WORK/$nm.err"
}

long_stop() {
    pgctl stop -m fast -w
    sleep "$STOP_S"
    sh "$ROOT/scripts/pg.sh" start "$CL" >/dev/null
}
terminate() {
    psql "$DSN0" -qAt -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                          WHERE application_name = 'mailpulse'" >/dev/null
}

outage crash pgctl restart -m immediate -w -l "$CL/run/postgresql.log"
outage stopped long_stop
outage killed terminate
