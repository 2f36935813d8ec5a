#!/bin/sh
# mta_exim.sh - a real Exim (Debian's exim4-daemon-light) on loopback, its own mainlog read
# by mailpulse, each recipient's outcome checked against what tests/mta/peer.py answered.
#
# Exim is unpacked, not installed (tests/mta/fetch.sh, cached in build/mta-cache). It runs
# as nobody with its own configuration, inside a private mount namespace whose /etc/passwd
# also names the Debian-exim user the binary was built for. It receives seven messages from
# swaks, one per recipient, delivers them to the peer (or to a port with no listener), and
# is then forced through one queue run (-qff) so the deferred ones are tried again; by then
# the seventh, whose domain has a one-second retry rule, has expired.
set -u
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${1:-}" = "--inner" ]; then
    # Inside the namespace: $2 the work dir, $3 the unpacked tree.
    D=$2 R=$3
    mount --bind "$D/passwd" /etc/passwd && mount --bind "$D/group" /etc/group || exit 1
    as_exim() { setpriv --reuid nobody --regid nogroup --clear-groups "$@"; }
    setpriv --reuid nobody --regid nogroup --clear-groups "$R/usr/sbin/exim4" -C "$D/exim.conf" -bdf &
    daemon=$!
    wait_for 10 sh -c "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $(cat "$D/port")), 1)' 2>/dev/null" ||
        { echo "exim did not listen" >&2; exit 1; }
    for r in $(cat "$D/rcpts"); do
        swaks --silent 2 --server 127.0.0.1 --port "$(cat "$D/port")" --from sender@client.test \
            --to "$r" --helo client.test --header "Subject: mailpulse test $r" >>"$D/swaks.out" 2>&1
    done
    # The first attempts: one outcome line per recipient.
    wait_for 30 sh -c "[ \$(grep -cE ' (=>|==|\*\*) (ok|full|unknown|blocked|drop|nobody|late)@' '$D/log/mainlog') -ge $(wc -l <"$D/rcpts") ]" ||
        echo "exim: not every first attempt logged" >&2
    sleep 2 # past expire.test's retry cutoff
    as_exim "$R/usr/sbin/exim4" -C "$D/exim.conf" -qff
    kill "$daemon"
    wait "$daemon"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ok - # SKIP mta_exim: needs root for the mount namespace"
    exit 0
fi
R=$(sh "$ROOT/tests/mta/fetch.sh" "$ROOT/build/mta-cache" exim4-base exim4-daemon-light) ||
    { not_ok "exim: fetch and unpack exim4-daemon-light"; exit 1; }
ok "exim: exim4-daemon-light unpacked from Debian's package"

chmod 755 "$WORK"
D=$WORK/exim
mkdir -p "$D/spool" "$D/log"
PORT=$(free_port)
DEAD=$(free_port)
echo "$PORT" >"$D/port"
cp /etc/passwd "$D/passwd"
cp /etc/group "$D/group"
echo 'Debian-exim:x:65534:65534:Exim test:/nonexistent:/usr/sbin/nologin' >>"$D/passwd"
echo 'Debian-exim:x:65534:' >>"$D/group"
printf '%s\n' ok@peer.test full@peer.test unknown@peer.test blocked@peer.test drop@drop.test \
    nobody@nolistener.test late@expire.test >"$D/rcpts"

python3 "$ROOT/tests/mta/peer.py" "$D/peerport" "$D/record.jsonl" &
PEER=$!
SERVE_PIDS="$SERVE_PIDS $PEER"
wait_for 10 test -s "$D/peerport" || { not_ok "exim: peer started"; exit 1; }

cat >"$D/exim.conf" <<EOF
# The test's own Exim configuration: everything is routed to the peer on loopback.
primary_hostname = mx-exim.test
exim_path = $R/usr/sbin/exim4
spool_directory = $D/spool
log_file_path = $D/log/%slog
log_selector = +pid +received_recipients +smtp_confirmation
daemon_smtp_ports = $PORT
local_interfaces = 127.0.0.1
never_users =
host_lookup =
rfc1413_hosts =
acl_smtp_rcpt = acl_rcpt
delay_warning =
keep_environment =
tls_advertise_hosts =

begin acl
acl_rcpt:
  accept

begin routers
nolistener:
  driver = manualroute
  domains = nolistener.test : expire.test
  route_list = * 127.0.0.1
  transport = dead_smtp
  self = send
peer:
  driver = manualroute
  route_list = * 127.0.0.1
  transport = peer_smtp
  self = send

begin transports
peer_smtp:
  driver = smtp
  port = $(cat "$D/peerport")
  allow_localhost
  hosts_try_fastopen =
dead_smtp:
  driver = smtp
  port = $DEAD
  allow_localhost
  hosts_try_fastopen =

begin retry
# expire.test gives up one second after its first failure: the queue run finds it expired.
expire.test * F,1s,1s
* * F,2h,15m
EOF
chown -R nobody:nogroup "$D"

started=$(date +%s)
unshare --mount --fork sh "$0" --inner "$D" "$R" 2>"$D/inner.err"
check "exim: ran, received and queue-ran in a private namespace" [ $? -eq 0 ]
kill "$PEER" 2>/dev/null
check "exim: the test took under 60 s" [ $(($(date +%s) - started)) -lt 60 ]
grep -v 'lost privilege for using -C' "$D/inner.err" | sed 's/^/# /'

"$BIN" parse --mta exim --stats "$D/log/mainlog" >"$D/events.ndjson" 2>"$D/stats"
check "exim: mailpulse parse reads the mainlog" [ $? -eq 0 ]
check_eq "exim: no line of the mainlog is not understood" 0 \
    "$(sed -n 's/.*not understood \([0-9]*\).*/\1/p' "$D/stats")"
tap_run "exim: check.py" python3 "$ROOT/tests/mta/check.py" exim sender@client.test "$D/record.jsonl" "$D/events.ndjson" \
    $(cat "$D/rcpts")
# The same mainlog through Debian's eximstats (from exim4-base): the counts agree.
tap_run "exim: eximstats_compare.py" python3 "$ROOT/tests/mta/eximstats_compare.py" "$BIN" "$R/usr/sbin/eximstats" "$D/log/mainlog"
if [ -n "${MAILPULSE_KEEP_MTA_LOG:-}" ]; then
    cp "$D/log/mainlog" "$MAILPULSE_KEEP_MTA_LOG"
fi
