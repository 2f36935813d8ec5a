#!/bin/sh
# daemon_journal.sh - journald as a source without a running journald: a real journal file
# made by systemd-journal-remote from export-format text, read with journal_directory=,
# appended to while the daemon runs and while it is stopped, and a second file that appears
# while it runs (what a journald rotation does); the daemon wakes for them although its poll
# interval is 30 s; the cursor (sequence-number id and number) resumes across a restart and
# nothing is stored twice.
set -u
. "$(dirname "$0")/lib.sh"

REMOTE=/lib/systemd/systemd-journal-remote
[ -x "$REMOTE" ] || REMOTE=/usr/lib/systemd/systemd-journal-remote
JDIR="$WORK/journal"
mkdir -p "$JDIR"
DSN=$(new_db djournal) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
count() { psql "$DSN" -qAt -c "$1"; }

# export FROM TO [IDENT [FILE]]: export-format entries numbered FROM..TO into the journal file
export_entries() {
    python3 - "$1" "$2" "${3:-postfix/smtp}" >"$WORK/in.export" <<'PY'
import sys
a, b, ident = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for n in range(a, b + 1):
    sys.stdout.write(
        "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n"
        "_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx7\n"
        "SYSLOG_IDENTIFIER=%s\nSYSLOG_PID=4242\nPRIORITY=6\n"
        "MESSAGE=A%010X: to=<j%d@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, "
        "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)\n\n"
        % (1795860000000000 + n * 1000, n, ident, n, n))
PY
    "$REMOTE" -o "$JDIR/${4:-remote}.journal" "$WORK/in.export" 2>>"$WORK/remote.err"
}

check "systemd-journal-remote writes a journal file from export text" export_entries 1 5
export_entries 100 102 sshd # another program: filtered out by the default match
PORT=$(free_port)
start() {
    "$BIN" serve --db "$DSN" --journal-directory "$JDIR" --listen "127.0.0.1:$PORT" \
        --state-dir "$WORK/state" --poll-interval 30000 2>>"$WORK/serve.err" &
    SPID=$!
    SERVE_PIDS="$SERVE_PIDS $SPID"
}
rows() { [ "$(count "select count(*) from deliveries where recipient like 'j%@example.com'")" = "$1" ]; }
start
check "journal entries are stored" wait_for 10 rows 5
check_eq "the journal line keeps host and program" "mx7|postfix|sent" \
    "$(count "select host, mta, status from deliveries where recipient='j3@example.com'")"
check_eq "the default match leaves other programs out" 0 \
    "$(count "select count(*) from deliveries where recipient like 'j10_@example.com'")"
export_entries 6 7
check "entries appended while running are stored" wait_for 10 rows 7
export_entries 20 21 postfix/smtp second
check "a journal file that appears while running is read" wait_for 10 rows 9
kill -TERM "$SPID"
wait "$SPID"
check_eq "serve exits 0 on SIGTERM" 0 "$?"
sid=$(count "select identity from sources where identity like 'journal:%' and checkpoint = 11")
check "the source is named by the journal's sequence-number id" \
    sh -c "printf '%s' \"\$1\" | grep -Eq '^journal:journal:[0-9a-f]{32}$'" _ "$sid"
check_eq "each file's writer is a source, its checkpoint its next number (7 + 3 filtered + 1, and 2 + 1)" "3 11" \
    "$(count "select string_agg(checkpoint::text, ' ' order by checkpoint) from sources where identity like 'journal:%'")"
export_entries 8 9
start
check "entries appended while stopped are stored after the restart" wait_for 10 rows 11
sleep 1
check_eq "nothing is stored twice" "11 11" \
    "$(count "select count(*) || ' ' || count(distinct recipient) from deliveries where recipient like 'j%'")"
grep -q "resuming at s=" "$WORK/serve.err"
check "the restart seeks to the cursor" [ $? -eq 0 ]
kill -TERM "$SPID"
wait "$SPID"
exit 0
