#!/bin/sh
# daemon_service.sh - serve as a service: INI configuration with the command line on top,
# backfill of rotated files on first start, readiness (sd_notify), the per-source lock,
# SIGHUP (reopen and reload: a new source starts), overlong lines, configuration errors,
# SIGTERM -> exit 0.
set -u
. "$(dirname "$0")/lib.sh"

DSN=$(new_db dservice) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
count() { psql "$DSN" -qAt -c "$1"; }
L="$WORK/logs"
mkdir -p "$L" "$WORK/state"
# line N RCPT: one sent delivery to RCPT@example.com
line() {
    printf '2026-11-28T10:00:%02d.000001+00:00 mx3 postfix/smtp[11]: B%010d: to=<%s@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)\n' \
        $(($1 % 60)) "$1" "$2"
}
# Rotated files, oldest first: mail.log.2.gz, mail.log.1, then the live mail.log; and a
# dated one, maillog-20261127, before the live maillog (found by a glob that leaves rotated
# names out).
{ line 1 old1; line 2 old2; } | gzip -c >"$L/mail.log.2.gz"
{ line 3 mid1; line 4 mid2; } >"$L/mail.log.1"
{ line 5 live1; } >"$L/mail.log"
{ line 6 dated1; } >"$L/maillog-20261127"
{ line 7 dlive1; } >"$L/maillog"
touch -d '2026-11-26 00:00' "$L/mail.log.2.gz"
touch -d '2026-11-27 00:00' "$L/mail.log.1" "$L/maillog-20261127"

PORT=$(free_port)
CONF="$WORK/mailpulse.conf"
cat >"$CONF" <<CONF
; mailpulse test configuration
[serve]
db = $DSN
listen = 127.0.0.1:1
state_dir = $WORK/state
poll_interval_ms = 100
log_level = info

[source mail]
type = file
path = $L/mail.log
backfill = yes

[source dated]
type = file
path = $L/maillog*
backfill = true

[source again]
path = $L/mail.log
CONF

# A datagram socket standing in for systemd's notify socket.
python3 - "$WORK/notify.sock" "$WORK/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2], "a").close()  # bound: the test may start serve
s.settimeout(60)
with open(sys.argv[2], "a") as out:
    try:
        while True:
            out.write(s.recv(4096).decode() + "\n")
            out.flush()
    except socket.timeout:
        pass
PY
NPID=$!
SERVE_PIDS="$SERVE_PIDS $NPID"
wait_for 10 test -f "$WORK/notify.out"

NOTIFY_SOCKET="$WORK/notify.sock" "$BIN" serve --config "$CONF" --listen "127.0.0.1:$PORT" \
    --foreground 2>"$WORK/serve.err" &
SPID=$!
SERVE_PIDS="$SERVE_PIDS $SPID"
check "the command line overrides the configured listen address" \
    wait_http "http://127.0.0.1:$PORT/healthz"
check "readiness is notified (READY=1)" wait_for 5 grep -q '^READY=1' "$WORK/notify.out"
rows() { [ "$(count "select count(*) from deliveries where host = 'mx3'")" = "$1" ]; }
check "backfill reads mail.log.2.gz, mail.log.1, maillog-20261127 and the live files" \
    wait_for 10 rows 7
check_eq "each backfilled line once, in file order" "old1 old2 mid1 mid2 live1" \
    "$(count "select string_agg(split_part(recipient, '@', 1), ' ' order by s.id, d.pos) from deliveries d join sources s on s.id = d.source_id where s.name like '%mail.log%' and recipient not like 'dated%'" | tr -d '\n' | sed 's/ *$//')"
check_eq "rotated files are sources of their own" 5 \
    "$(count "select count(*) from sources where name like '$L/%'")"

check "a file two sources name is followed once" \
    grep -q "already followed by source mail" "$WORK/serve.err"

# The lock: a second daemon on the same sources refuses.
P2=$(free_port)
"$BIN" serve --config "$CONF" --listen "127.0.0.1:$P2" 2>"$WORK/second.err"
rc=$?
check "a second instance on the same source refuses to start" [ $rc -ne 0 ]
check "  ... and says why" grep -q 'already being read by another mailpulse (pid '"$SPID" "$WORK/second.err"

# An overlong line is cut, flagged and counted, and following goes on.
{
    printf '2026-11-28T10:01:00.000001+00:00 mx3 postfix/smtp[11]: B0000000100: to=<long@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 '
    head -c 70000 /dev/zero | tr '\0' x
    printf ')\n'
    line 101 afterlong
} >>"$L/mail.log"
check "the line after an overlong one is stored" wait_for 10 rows 9
check_eq "the overlong line's row is flagged truncated" t \
    "$(count "select truncated from deliveries where recipient = 'long@example.com'")"
check "the cut is logged" grep -q 'longer than 65536 bytes, cut' "$WORK/serve.err"

# SIGHUP: reload adds new sources, also those after one that cannot start (its address is
# the web server's); rename rotation then reopen keeps everything once.
SYSP=$(free_port)
printf '\n[source busy]\ntype = syslog\nlisten = tcp://127.0.0.1:%s\n' "$PORT" >>"$CONF"
printf '\n[source net]\ntype = syslog\nlisten = udp://127.0.0.1:%s\n' "$SYSP" >>"$CONF"
printf '\n[source extra]\npath = %s\n' "$L/extra.log" >>"$CONF"
line 200 extra1 >"$L/extra.log"
kill -HUP "$SPID"
check "SIGHUP reloads the configuration: a new source is read" wait_for 10 rows 10
check "  ... a listener after one that cannot start starts too" \
    wait_for 10 grep -q "syslog net: listening on udp://127.0.0.1:$SYSP" "$WORK/serve.err"
check "  ... and the one that cannot is said" \
    grep -q "a source could not start (see above); the others run" "$WORK/serve.err"
check "  ... and systemd hears RELOADING=1 then READY=1" \
    sh -c "grep -q '^RELOADING=1' \"\$1\"" _ "$WORK/notify.out"
mv "$L/mail.log" "$L/mail.log.0"
line 102 afterhup >>"$L/mail.log.0" # a writer that has not reopened yet
kill -HUP "$SPID"
line 103 newfile >"$L/mail.log"
check "lines written to the renamed file and to the new one are stored" wait_for 10 rows 12
sleep 0.5
check_eq "nothing twice" "12 12" "$(count "select count(*) || ' ' || count(distinct recipient) from deliveries where host = 'mx3'")"
check "serve still answers after SIGHUP" wait_http "http://127.0.0.1:$PORT/healthz" 2
m=$(curl -s "http://127.0.0.1:$PORT/metrics")
check "/metrics carries the daemon's own figures (lines read, database up)" \
    sh -c "printf '%s' \"\$1\" | grep -Eq '^mailpulse_ingest_lines_total [1-9]' &&
           printf '%s' \"\$1\" | grep -q '^mailpulse_ingest_db_up 1'" _ "$m"

# SIGTERM: exit 0, promptly.
t0=$(date +%s)
kill -TERM "$SPID"
wait "$SPID"
rc=$?
check_eq "SIGTERM: exit 0" 0 "$rc"
check "  ... within the stop timeout" [ $(($(date +%s) - t0)) -le 10 ]
check "  ... and systemd hears STOPPING=1" grep -q '^STOPPING=1' "$WORK/notify.out"

# Configuration errors are start-up errors with the line.
printf '[serve]\nno_such_option = 1\n' >"$WORK/bad.conf"
"$BIN" serve --config "$WORK/bad.conf" --log "$L/mail.log" 2>"$WORK/bad.err"
check "an unknown option is refused" [ $? -eq 2 ]
check "  ... naming the file and line" grep -q "bad.conf line 2" "$WORK/bad.err"
"$BIN" serve --config "$WORK/missing.conf" --log "$L/mail.log" 2>"$WORK/bad.err"
check "a missing --config file is refused" [ $? -eq 2 ]
printf '[source x]\ntype = file\n' >"$WORK/bad2.conf"
"$BIN" serve --config "$WORK/bad2.conf" 2>"$WORK/bad.err"
check "a file source without path is refused" grep -q "needs path=" "$WORK/bad.err"
kill "$NPID" 2>/dev/null
exit 0
