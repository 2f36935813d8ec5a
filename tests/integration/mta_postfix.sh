#!/bin/sh
# mta_postfix.sh - a real Postfix (Debian's postfix package) on loopback, its own log read by
# mailpulse, each recipient's outcome checked against what tests/mta/peer.py answered.
#
# Postfix is unpacked, not installed (tests/mta/fetch.sh, cached in build/mta-cache), and
# runs from there with its own main.cf and master.cf: no chroot, its shared libraries found
# through import_environment, logging to a file through postlogd (maillog_file). Its
# mail_owner and setgid_group exist only in the /etc/passwd and /etc/group of a private mount
# namespace. Six messages come in through swaks, one per recipient; transport_maps send them
# to the peer (or to a loopback address where nothing listens); `postqueue -f` then retries
# the deferred ones once.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../mta/setup.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${1:-}" = "--inner" ]; then
    # Inside the namespace: $2 the work dir, $3 the unpacked tree.
    D=$2 R=$3
    mta_bind_accounts "$D" || exit 1
    export LD_LIBRARY_PATH="$R/usr/lib/postfix"
    PF="$R/usr/sbin/postfix -c $D/conf"
    # The unpacked postqueue and postdrop are not set-gid: postfix-script says so, harmlessly.
    $PF set-permissions create-missing >"$D/setup.out" 2>&1
    $PF start >>"$D/setup.out" 2>&1 || { cat "$D/setup.out" >&2; exit 1; }
    wait_for 10 mta_listening "$(cat "$D/port")" ||
        { echo "postfix did not listen" >&2; $PF stop; exit 1; }
    for r in $(cat "$D/rcpts"); do
        swaks --silent 2 --server 127.0.0.1 --port "$(cat "$D/port")" --from sender@client.test \
            --to "$r" --helo client.test --header "Subject: mailpulse test $r" >>"$D/swaks.out" 2>&1
    done
    n=$(wc -l <"$D/rcpts")
    want="' to=<(ok|full|unknown|blocked|drop|nobody)@'"
    wait_for 30 sh -c "[ \$(grep -cE $want '$D/maillog') -ge $n ]" ||
        echo "postfix: not every first attempt logged" >&2
    "$R/usr/sbin/postqueue" -c "$D/conf" -f
    # The retries: three deferred recipients, each logged once more.
    wait_for 30 sh -c "[ \$(grep -cE $want '$D/maillog') -ge $((n + 3)) ]" ||
        echo "postfix: not every retry logged" >&2
    $PF stop >>"$D/setup.out" 2>&1
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ok - # SKIP mta_postfix: needs root for the mount namespace"
    exit 0
fi
R=$(sh "$ROOT/tests/mta/fetch.sh" "$ROOT/build/mta-cache" postfix) ||
    { not_ok "postfix: fetch and unpack postfix"; exit 1; }
ok "postfix: postfix unpacked from Debian's package"

chmod 755 "$WORK"
D=$WORK/postfix
mkdir -p "$D/conf/dynamicmaps.cf.d" "$D/postfix-files.d" "$D/spool" "$D/data"
chown 64990 "$D/data"
PORT=$(free_port)
echo "$PORT" >"$D/port"
# Postfix wants a mail_owner of its own (not nobody's uid) and a set-gid group.
mta_postfix_accounts "$D"
printf '%s\n' ok@peer.test full@peer.test unknown@peer.test blocked@peer.test drop@drop.test \
    nobody@nolistener.test >"$D/rcpts"

python3 "$ROOT/tests/mta/peer.py" "$D/peerport" "$D/record.jsonl" &
PEER=$!
SERVE_PIDS="$SERVE_PIDS $PEER"
wait_for 10 test -s "$D/peerport" || { not_ok "postfix: peer started"; exit 1; }
P=$(cat "$D/peerport")

cp "$R/etc/postfix/postfix-files" "$D/conf/"
cat >"$D/conf/main.cf" <<MAINCF
# The test's own Postfix configuration: everything is routed to the peer on loopback.
compatibility_level = 3.6
queue_directory = $D/spool
data_directory = $D/data
daemon_directory = $R/usr/lib/postfix/sbin
command_directory = $R/usr/sbin
shlib_directory = $R/usr/lib/postfix
meta_directory = $D/conf
mail_owner = pfxtest
setgid_group = pfxdrop
myhostname = mx-postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = $D/maillog
maillog_file_prefixes = $D
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$R/usr/lib/postfix
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
transport_maps = inline:{ peer.test=smtp:[127.0.0.1]:$P, client.test=smtp:[127.0.0.1]:$P,
    drop.test=smtp:[127.0.0.3]:$P, nolistener.test=smtp:[127.0.0.2]:$P }
MAINCF
cat >"$D/conf/master.cf" <<MASTERCF
127.0.0.1:$PORT inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
MASTERCF

started=$(date +%s)
unshare --mount --fork sh "$0" --inner "$D" "$R" 2>"$D/inner.err"
check "postfix: ran, received and queue-ran in a private namespace" [ $? -eq 0 ]
kill "$PEER" 2>/dev/null
check "postfix: the test took under 60 s" [ $(($(date +%s) - started)) -lt 60 ]
sed 's/^/# /' "$D/inner.err"

"$BIN" parse --mta postfix --stats "$D/maillog" >"$D/events.ndjson" 2>"$D/stats"
check "postfix: mailpulse parse reads the log" [ $? -eq 0 ]
check_eq "postfix: no line of the log is not understood" 0 \
    "$(sed -n 's/.*not understood \([0-9]*\).*/\1/p' "$D/stats")"
tap_run "postfix: check.py" python3 "$ROOT/tests/mta/check.py" postfix sender@client.test "$D/record.jsonl" \
    "$D/events.ndjson" $(cat "$D/rcpts")
if [ -n "${MAILPULSE_KEEP_MTA_LOG:-}" ]; then
    cp "$D/maillog" "$MAILPULSE_KEEP_MTA_LOG"
fi
