#!/bin/sh
# mta_sendmail.sh - a real Sendmail (Debian's sendmail-bin) on loopback, its own syslog lines
# read by mailpulse, each recipient's outcome checked against what tests/mta/peer.py answered.
#
# Sendmail is unpacked, not installed (tests/mta/fetch.sh, cached in build/mta-cache), and its
# sendmail.cf is built here with m4 from Debian's sendmail-cf. Sendmail logs only through
# syslog(3), so it runs inside a private mount namespace with a /dev of its own whose /dev/log
# is tests/mta/syslogd.py, writing a mail.log as rsyslog would. It runs as root, as Sendmail
# expects of a daemon; deliveries go to the peer through a mailertable, and one domain to a
# loopback address where nothing listens. Then one queue run (-q) tries the deferred again.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../mta/setup.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${1:-}" = "--inner" ]; then
    # Inside the namespace: $2 the work dir, $3 the unpacked tree.
    D=$2 R=$3
    SM=$R/usr/libexec/sendmail/sendmail
    hostname mx-sendmail.test || exit 1
    mta_private_dev "$D" || exit 1
    mta_syslogd "$D" mx-sendmail || { echo "syslogd did not start" >&2; exit 1; }
    "$SM" -C "$D/sendmail.cf" -L sm-mta -bD &
    daemon=$!
    wait_for 10 mta_listening "$(cat "$D/port")" ||
        { echo "sendmail did not listen" >&2; kill $SYSLOGD; exit 1; }
    for r in $(cat "$D/rcpts"); do
        swaks --silent 2 --server 127.0.0.1 --port "$(cat "$D/port")" --from sender@client.test \
            --to "$r" --helo client.test --header "Subject: mailpulse test $r" >>"$D/swaks.out" 2>&1
    done
    # The first attempts: one to= line per recipient.
    wait_for 30 sh -c "[ \$(grep -cE ' to=<(ok|full|unknown|blocked|drop|nobody)@' '$D/maillog') -ge $(wc -l <"$D/rcpts") ]" ||
        echo "sendmail: not every first attempt logged" >&2
    "$SM" -C "$D/sendmail.cf" -L sm-mta -q
    kill "$daemon"
    wait "$daemon"
    sleep 0.2
    kill "$SYSLOGD"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ok - # SKIP mta_sendmail: needs root for the mount namespace"
    exit 0
fi
R=$(sh "$ROOT/tests/mta/fetch.sh" "$ROOT/build/mta-cache" sendmail-base sendmail-cf sendmail-bin) ||
    { not_ok "sendmail: fetch and unpack sendmail-bin"; exit 1; }
ok "sendmail: sendmail-bin unpacked from Debian's package"

D=$WORK/sendmail
mkdir -p "$D/mqueue"
chmod 700 "$D/mqueue"
PORT=$(free_port)
echo "$PORT" >"$D/port"
printf '%s\n' ok@peer.test full@peer.test unknown@peer.test blocked@peer.test drop@drop.test \
    nobody@nolistener.test >"$D/rcpts"

python3 "$ROOT/tests/mta/peer.py" "$D/peerport" "$D/record.jsonl" &
PEER=$!
SERVE_PIDS="$SERVE_PIDS $PEER"
wait_for 10 test -s "$D/peerport" || { not_ok "sendmail: peer started"; exit 1; }
PEERPORT=$(cat "$D/peerport")

# The peer listens on 127.0.0.1 and .3: 127.0.0.2 on the same port refuses the connection.
printf '%s\tesmtp:[%s]\n' peer.test 127.0.0.1 client.test 127.0.0.1 drop.test 127.0.0.3 \
    nolistener.test 127.0.0.2 >"$D/mailertable"
printf '127.0.0.1\tmx-sendmail.test mx-sendmail localhost\n' >"$D/hosts"
printf 'hosts\tfiles\naliases\tfiles\n' >"$D/service.switch"
printf 'postmaster: root\n' >"$D/aliases"
: >"$D/local-host-names"
: >"$D/statistics"
cat >"$D/sendmail.mc" <<EOF
divert(0)dnl
VERSIONID(\`mailpulse real-MTA test')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx-sendmail.test')dnl
define(\`confHOSTS_FILE', \`$D/hosts')dnl
define(\`confSERVICE_SWITCH_FILE', \`$D/service.switch')dnl
define(\`QUEUE_DIR', \`$D/mqueue')dnl
define(\`STATUS_FILE', \`$D/statistics')dnl
define(\`ALIAS_FILE', \`$D/aliases')dnl
define(\`confCW_FILE', \`$D/local-host-names')dnl
define(\`confPID_FILE', \`$D/sendmail.pid')dnl
define(\`confDEF_USER_ID', \`65534:65534')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confTO_CONNECT', \`5s')dnl
define(\`confTO_ICONNECT', \`5s')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
# No cached connections: the dropped one must not take the next recipient's attempt with it.
define(\`confMCI_CACHE_SIZE', \`0')dnl
# The test's files live under /tmp, a world-writable directory that Sendmail distrusts.
define(\`confDONT_BLAME_SENDMAIL', \`MapInUnsafeDirPath')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $PEERPORT')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $PEERPORT')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`promiscuous_relay')dnl
FEATURE(\`mailertable', \`hash -o $D/mailertable')dnl
DAEMON_OPTIONS(\`Port=$PORT, Addr=127.0.0.1, Name=MTA')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
CF=$R/usr/share/sendmail/cf
m4 -D_CF_DIR_="$CF/" "$CF/m4/cf.m4" "$D/sendmail.mc" >"$D/sendmail.cf" 2>"$D/m4.err"
rc=$?
check "sendmail: sendmail.cf built with m4 from sendmail-cf" [ "$rc" -eq 0 ] && [ -s "$D/sendmail.cf" ]
"$R/usr/libexec/sendmail/makemap" -C "$D/sendmail.cf" hash "$D/mailertable" <"$D/mailertable" \
    2>"$D/makemap.err" ||
    { not_ok "sendmail: makemap mailertable"; exit 1; }

started=$(date +%s)
unshare --mount --uts --fork sh "$0" --inner "$D" "$R" 2>"$D/inner.err"
check "sendmail: ran, received and queue-ran in a private namespace" [ $? -eq 0 ]
kill "$PEER" 2>/dev/null
check "sendmail: the test took under 60 s" [ $(($(date +%s) - started)) -lt 60 ]
sed 's/^/# /' "$D/inner.err"

"$BIN" parse --mta sendmail --stats "$D/maillog" >"$D/events.ndjson" 2>"$D/stats"
check "sendmail: mailpulse parse reads the log" [ $? -eq 0 ]
check_eq "sendmail: no line of the log is not understood" 0 \
    "$(sed -n 's/.*not understood \([0-9]*\).*/\1/p' "$D/stats")"
tap_run "sendmail: check.py" python3 "$ROOT/tests/mta/check.py" sendmail sender@client.test "$D/record.jsonl" \
    "$D/events.ndjson" $(cat "$D/rcpts")
if [ -n "${MAILPULSE_KEEP_MTA_LOG:-}" ]; then
    cp "$D/maillog" "$MAILPULSE_KEEP_MTA_LOG"
fi
