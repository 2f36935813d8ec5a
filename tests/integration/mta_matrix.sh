#!/bin/sh
# mta_matrix.sh - the real-MTA scenario matrix: Postfix, Exim and Sendmail (Debian's packages,
# unpacked, on loopback) each play every scenario of tests/mta/matrix.json against the
# scripted peer (tests/mta/peer.py); mailpulse parses each MTA's log and every recipient's
# outcome, DSN and reason is checked against the truth the matrix wrote down beforehand.
#
# The three MTAs run at once, each in its own mount namespace with its own peer, with short
# queue lifetimes (the matrix's "lifetime") and frequent queue runs, so that temporary
# failures reach expiry within the run. Each MTA is stopped once its queue is empty (bounded
# by the lifetime plus 150 s). After the SMTP submissions each MTA also takes the command-line
# ones (sendmail -t), is restarted, and its held or frozen message is released (the matrix's
# "via" and "act"). Prints the table MTA x scenario x right/wrong and the time the whole
# matrix took. With MAILPULSE_KEEP_MTA_LOG=PREFIX each MTA's log is kept as PREFIX.MTA.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../mta/setup.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
M=$ROOT/tests/mta/matrix.json

# queue_empty DIR PATTERN: no file matching PATTERN left under DIR
queue_empty() {
    [ -z "$(find "$1" -type f -name "$2" 2>/dev/null | head -1)" ]
}

# queue_left DIR PATTERN: one line per queue file still there, with what it says of its
# recipients and state (Sendmail's qf lines R, N, T, K and M; Exim's -H addresses), so that a
# queue that did not drain says which message held it
queue_left() {
    find "$1" -type f -name "$2" 2>/dev/null | while read -r f; do
        printf 'left: %s %s\n' "$(basename "$f")" \
            "$(grep -a '^[RNTKM]\|^[0-9]* [^ ]*@' "$f" 2>/dev/null | tr '\n' ' ' | cut -c1-400)"
    done
}

# add_local_users D: the matrix's local users (matrix_conf.py's "user NAME UID") appended to
# D/passwd, for mta_bind_accounts
add_local_users() {
    python3 "$ROOT/tests/mta/matrix_conf.py" "$M" postfix 0 |
        sed -n 's#^user \([^ ]*\) \([0-9]*\)$#\1:x:\2:\2:Matrix mailbox:/nonexistent:/usr/sbin/nologin#p' \
            >>"$1/passwd"
}

# after_submit MTA: 3 s after the submissions, the MTA's restart (the inner script's
# restart_mta) and the release of what it holds (release_held)
after_submit() {
    sleep 3
    restart_mta || echo "$1: the restart failed" >&2
    release_held || echo "$1: releasing the held message failed" >&2
}

LIFETIME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lifetime"])' "$M")
LIMIT=$((LIFETIME + 150))

case "${1:-}" in
--postfix)
    D=$2 R=$3
    mta_bind_accounts "$D" || exit 1
    mount --bind "$(dirname "$D")/resolv.conf" /etc/resolv.conf || exit 1
    export LD_LIBRARY_PATH="$R/usr/lib/postfix"
    PF="$R/usr/sbin/postfix -c $D/conf"
    $PF set-permissions create-missing >"$D/setup.out" 2>&1
    $PF start >>"$D/setup.out" 2>&1 || { cat "$D/setup.out" >&2; exit 1; }
    wait_for 10 mta_listening "$(cat "$D/port")" || { echo "postfix did not listen" >&2; $PF stop; exit 1; }
    python3 "$ROOT/tests/mta/submit.py" "$M" 127.0.0.1 "$(cat "$D/port")" postfix \
        "$(cat "$D/fport")" >"$D/submit.out" 2>&1
    python3 "$ROOT/tests/mta/submit.py" "$M" --cli postfix "$R/usr/sbin/sendmail.postfix" -C "$D/conf" \
        >>"$D/submit.out" 2>&1
    restart_mta() {
        $PF stop >>"$D/setup.out" 2>&1
        wait_for 20 sh -c '! kill -0 $(cat "$1") 2>/dev/null' sh "$D/spool/pid/master.pid"
        $PF start >>"$D/setup.out" 2>&1
    }
    release_held() {
        "$R/usr/sbin/postsuper" -c "$D/conf" -H ALL >>"$D/setup.out" 2>&1
    }
    after_submit postfix
    wait_for $LIMIT queue_empty "$D/spool" '[0-9A-F]*' ||
        { echo "postfix: queue not empty at the limit" >&2; queue_left "$D/spool" '[0-9A-F]*' >&2; }
    $PF stop >>"$D/setup.out" 2>&1
    exit 0
    ;;
--exim)
    D=$2 R=$3
    mta_bind_accounts "$D" || exit 1
    mount --bind "$(dirname "$D")/resolv.conf" /etc/resolv.conf || exit 1
    EXIM="setpriv --reuid nobody --regid nogroup --clear-groups $R/usr/sbin/exim4 -C $D/exim.conf"
    $EXIM -bdf -q5s &
    daemon=$!
    wait_for 10 mta_listening "$(cat "$D/port")" || { echo "exim did not listen" >&2; exit 1; }
    python3 "$ROOT/tests/mta/submit.py" "$M" 127.0.0.1 "$(cat "$D/port")" exim \
        "$(cat "$D/fport")" >"$D/submit.out" 2>&1
    # shellcheck disable=SC2086 # EXIM is a command with its arguments
    python3 "$ROOT/tests/mta/submit.py" "$M" --cli exim $EXIM >>"$D/submit.out" 2>&1
    restart_mta() {
        kill "$daemon" && wait "$daemon"
        $EXIM -bdf -q5s &
        daemon=$!
        wait_for 10 mta_listening "$(cat "$D/port")"
    }
    release_held() {
        for h in $(grep -l '^-frozen' "$D"/spool/input/*-H 2>/dev/null); do
            $EXIM -Mt "$(basename "$h" -H)" >>"$D/setup.out" 2>&1 || return 1
        done
    }
    after_submit exim
    wait_for $LIMIT queue_empty "$D/spool/input" '*-H' ||
        { echo "exim: queue not empty at the limit" >&2; queue_left "$D/spool/input" '*-H' >&2; }
    kill "$daemon"
    wait "$daemon"
    exit 0
    ;;
--sendmail)
    D=$2 R=$3
    SM=$R/usr/libexec/sendmail/sendmail
    hostname mx-sendmail.test || exit 1
    mta_bind_accounts "$D" || exit 1
    mount --bind "$(dirname "$D")/resolv.conf" /etc/resolv.conf || exit 1
    # mail.local delivers into /var/mail, here the test's own
    mount --bind "$D/mail" /var/mail || exit 1
    # the alias database, built here where the host name resolves at once
    "$SM" -C "$D/sendmail.cf" -bi >"$D/newaliases.out" 2>&1 || { echo "newaliases failed" >&2; exit 1; }
    mta_private_dev "$D" || exit 1
    mta_syslogd "$D" mx-sendmail || { echo "syslogd did not start" >&2; exit 1; }
    "$SM" -C "$D/sendmail.cf" -L sm-mta -bD -q5s -O Timeout.queuereturn=${LIFETIME}s &
    daemon=$!
    "$SM" -C "$D/sendmail-f.cf" -L sm-mta -bD -q5s -O Timeout.queuereturn=${LIFETIME}s &
    fdaemon=$!
    wait_for 10 mta_listening "$(cat "$D/port")" && wait_for 10 mta_listening "$(cat "$D/fport")" ||
        { echo "sendmail did not listen" >&2; kill "$daemon" "$fdaemon" $SYSLOGD; exit 1; }
    python3 "$ROOT/tests/mta/submit.py" "$M" 127.0.0.1 "$(cat "$D/port")" sendmail \
        "$(cat "$D/fport")" >"$D/submit.out" 2>&1
    # -odi: delivered by the submitting process, as the error mailer's refusal is
    python3 "$ROOT/tests/mta/submit.py" "$M" --cli sendmail "$SM" -C "$D/sendmail.cf" -odi \
        >>"$D/submit.out" 2>&1
    restart_mta() {
        kill "$daemon" && wait "$daemon"
        "$SM" -C "$D/sendmail.cf" -L sm-mta -bD -q5s -O Timeout.queuereturn=${LIFETIME}s &
        daemon=$!
        wait_for 10 mta_listening "$(cat "$D/port")"
    }
    release_held() {
        "$SM" -C "$D/sendmail.cf" -qQ -Q -qRhold.test >>"$D/setup.out" 2>&1
    }
    after_submit sendmail
    wait_for $LIMIT queue_empty "$D/mqueue" 'qf*' ||
        { echo "sendmail: queue not empty at the limit" >&2; queue_left "$D/mqueue" 'qf*' >&2; }
    wait_for 20 queue_empty "$D/mqueue-f" 'qf*' ||
        { echo "sendmail: filter-side queue not empty" >&2; queue_left "$D/mqueue-f" 'qf*' >&2; }
    kill "$daemon" "$fdaemon"
    wait "$daemon" "$fdaemon"
    sleep 0.2
    kill "$SYSLOGD"
    exit 0
    ;;
esac

# agree_all DIR: the agreement checks of tests/mta/agree.sh on DIR/postfix.log, exim.log and
# sendmail.log
agree_all() {
    . "$ROOT/tests/mta/agree.sh"
    agree_pflogsumm "$1/postfix.log"
    agree_eximstats "$1/exim.log" "$R/usr/sbin/eximstats"
    for mta in postfix exim sendmail; do
        agree_summary "$mta" "$1/$mta.log"
    done
}

# --agree DIR: only the agreement checks, on the logs an earlier run kept in DIR
if [ "${1:-}" = --agree ]; then
    R=$(sh "$ROOT/tests/mta/fetch.sh" "$ROOT/build/mta-cache" exim4-base) ||
        { not_ok "agree: fetch and unpack exim4-base"; exit 1; }
    agree_all "$2"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ok - # SKIP mta_matrix: needs root for the mount namespaces"
    exit 0
fi
started=$(date +%s)
R=$(sh "$ROOT/tests/mta/fetch.sh" "$ROOT/build/mta-cache" postfix exim4-base exim4-daemon-light \
    sendmail-base sendmail-cf sendmail-bin) ||
    { not_ok "matrix: fetch and unpack the MTAs"; exit 1; }
chmod 755 "$WORK"
TABLE=$WORK/table
: >"$TABLE"
# The MTAs' resolver: tests/mta/dns.py on 127.0.0.153, named in each namespace's resolv.conf.
printf 'nameserver 127.0.0.153\noptions attempts:1 timeout:2\n' >"$WORK/resolv.conf"
python3 "$ROOT/tests/mta/dns.py" 127.0.0.153 "$WORK/dns.ready" 2>"$WORK/dns.err" &
SERVE_PIDS="$SERVE_PIDS $!"
wait_for 10 test -s "$WORK/dns.ready" || not_ok "matrix: the DNS server on 127.0.0.153 started"
# The milter Postfix and Sendmail consult (python3-milter is Debian's, hence /usr/bin/python3).
/usr/bin/python3 "$ROOT/tests/mta/matrix_milter.py" "$WORK/milterport" milter-reject held-released \
    2>"$WORK/milter.err" &
SERVE_PIDS="$SERVE_PIDS $!"
wait_for 10 test -s "$WORK/milterport" || not_ok "matrix: the milter started"
MILTERPORT=$(cat "$WORK/milterport" 2>/dev/null)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=peer.test -keyout "$WORK/peer.key" \
    -out "$WORK/peer.crt" >/dev/null 2>&1 || not_ok "matrix: a certificate for the TLS peer"

# start_peer D: the scripted peer of one MTA, its port in D/peerport; its content filter
# re-injects into 127.0.0.1 at the port in D/rport (each MTA listens there)
start_peer() {
    free_port >"$1/rport"
    python3 "$ROOT/tests/mta/peer.py" "$1/peerport" "$1/record.jsonl" \
        $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["peer"]))' "$M") \
        --tls "$WORK/peer.crt" "$WORK/peer.key" --reinject "127.0.0.1:$(cat "$1/rport")" \
        2>"$1/peer.err" &
    SERVE_PIDS="$SERVE_PIDS $!"
    echo $! >"$1/peer.pid"
    wait_for 10 test -s "$1/peerport"
}

# ---- Postfix
run_postfix() {
    D=$WORK/postfix
    mkdir -p "$D/conf/dynamicmaps.cf.d" "$D/postfix-files.d" "$D/spool" "$D/data" "$D/mail"
    chown 64990 "$D/data"
    chmod 1777 "$D/mail"
    free_port >"$D/port"
    mta_postfix_accounts "$D"
    add_local_users "$D"
    printf '/^Subject: .*header-reject/ REJECT 5.7.1 Header refused\n' >"$D/conf/header_checks"
    free_port >"$D/fport"
    start_peer "$D" || { echo "peer did not start" >"$D/inner.err"; return 1; }
    cp "$R/etc/postfix/postfix-files" "$D/conf/"
    {
        cat <<MAINCF
# The matrix's Postfix: routes from tests/mta/matrix.json, short queue lifetimes.
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
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = $D/maillog
maillog_file_prefixes = $D
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=$R/usr/lib/postfix
# sendmail(1) runs postdrop with this environment only
export_environment = TZ MAIL_CONFIG LANG LD_LIBRARY_PATH=$R/usr/lib/postfix
smtp_dns_support_level = disabled
smtp_tls_security_level = may
smtp_connect_timeout = 5s
alias_database =
mail_spool_directory = $D/mail
maximal_queue_lifetime = ${LIFETIME}s
bounce_queue_lifetime = ${LIFETIME}s
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = check_recipient_access \$matrix_reject, permit
smtpd_sender_restrictions = check_sender_access \$matrix_sender
smtpd_milters = inet:127.0.0.1:$MILTERPORT
milter_default_action = accept
header_checks = regexp:$D/conf/header_checks
MAINCF
        python3 "$ROOT/tests/mta/matrix_conf.py" "$M" postfix "$(cat "$D/peerport")" |
            grep -v '^\(lifetime\|user\) '
    } >"$D/conf/main.cf"
    cat >"$D/conf/master.cf" <<MASTERCF
127.0.0.1:$(cat "$D/port") inet n - n - - smtpd
# Mail received here passes the peer's content filter, which re-injects it below.
127.0.0.1:$(cat "$D/fport") inet n - n - - smtpd -o content_filter=smtp:[127.0.0.11]:$(cat "$D/peerport")
127.0.0.1:$(cat "$D/rport") inet n - n - - smtpd -o content_filter=
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
dnssmtp   unix  - - n - - smtp -o smtp_dns_support_level=enabled
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
local     unix  - n n - - local
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
MASTERCF
    unshare --mount --fork sh "$0" --postfix "$D" "$R" 2>"$D/inner.err"
    echo $? >"$D/rc"
    kill "$(cat "$D/peer.pid")" 2>/dev/null
    cp "$D/maillog" "$D/log" 2>/dev/null
}

# ---- Exim
run_exim() {
    D=$WORK/exim
    mkdir -p "$D/spool" "$D/log" "$D/mail"
    free_port >"$D/port"
    free_port >"$D/fport"
    mta_accounts "$D" 'Debian-exim:x:65534:65534:Exim test:/nonexistent:/usr/sbin/nologin' \
        'Debian-exim:x:65534:'
    add_local_users "$D"
    start_peer "$D" || { echo "peer did not start" >"$D/inner.err"; return 1; }
    python3 "$ROOT/tests/mta/matrix_conf.py" "$M" exim 0 >"$D/conf.txt"
    eval "$(grep '^[A-Z]*=' "$D/conf.txt" | sed "s/=\(.*\)/='\1'/")"
    sed -n 's/^alias //p' "$D/conf.txt" >"$D/aliases"
    cat >"$D/exim.conf" <<EOF
# The matrix's Exim: routes from tests/mta/matrix.json, a short retry cutoff.
primary_hostname = mx-exim.test
exim_path = $R/usr/sbin/exim4
spool_directory = $D/spool
log_file_path = $D/log/%slog
log_selector = +pid +received_recipients +smtp_confirmation
# Mail received on the second port passes the peer's content filter (127.0.0.11), which
# re-injects it on the third.
daemon_smtp_ports = $(cat "$D/port") : $(cat "$D/fport") : $(cat "$D/rport")
local_interfaces = 127.0.0.1
never_users =
host_lookup =
rfc1413_hosts =
acl_smtp_rcpt = acl_rcpt
acl_smtp_mail = acl_mail
acl_smtp_data = acl_data
delay_warning =
keep_environment =
tls_advertise_hosts =
queue_run_max = 20
# A message from the null sender that fails cannot bounce: discarded, not kept frozen.
ignore_bounce_errors_after = 0s
# A frozen message is cancelled after the lifetime: the held-released scenario's message, frozen
# by the DATA ACL, must outlive the submissions and the restart before release_held thaws it
# (10 s was sometimes too short on a busy machine), and nothing frozen outlives the queue check.
timeout_frozen_after = ${LIFETIME}s

begin acl
acl_mail:
  deny senders = $BADSENDERS
       message = 5.7.1 Sender refused
  accept
acl_rcpt:
  deny domains = $DENIED
       message = 5.7.1 Relay access denied
  warn domains = $HOLD
       control = freeze/no_tell
  accept
acl_data:
  deny condition = \${if match{\$h_subject:}{header-reject}}
       message = 5.7.1 Header refused
  accept

begin routers
content_filter:
  driver = manualroute
  condition = \${if ={\$received_port}{$(cat "$D/fport")}}
  route_list = * 127.0.0.11
  transport = peer_smtp
  self = send
failing:
  driver = redirect
  domains = $FAILING
  allow_fail
  data = :fail: 5.1.2 Domain not found
aliases:
  driver = redirect
  domains = $LOCALDOMAINS
  data = \${lookup{\$local_part}lsearch{$D/aliases}}
localuser:
  driver = accept
  domains = $LOCALDOMAINS
  check_local_user
  transport = local_delivery
dnsfail:
  driver = dnslookup
  domains = $DNSDOMAINS
  transport = peer_smtp
  no_more
peer:
  driver = manualroute
  route_list = $ROUTES
  transport = peer_smtp
  self = send

begin transports
peer_smtp:
  driver = smtp
  port = $(cat "$D/peerport")
  allow_localhost
  hosts_try_fastopen =
  connect_timeout = 5s
local_delivery:
  driver = appendfile
  file = $D/mail/\$local_part_data
  home_directory = $D/mail
  current_directory = $D/mail
  user = Debian-exim
  group = nogroup
  mode = 0600

begin retry
* * F,$((LIFETIME - 15))s,5s
EOF
    chown -R nobody:nogroup "$D"
    unshare --mount --fork sh "$0" --exim "$D" "$R" 2>"$D/inner.err"
    echo $? >"$D/rc"
    kill "$(cat "$D/peer.pid")" 2>/dev/null
    cp "$D/log/mainlog" "$D/log.main" 2>/dev/null
}

# ---- Sendmail
run_sendmail() {
    D=$WORK/sendmail
    mkdir -p "$D/mqueue" "$D/mqueue-f" "$D/mail"
    chmod 700 "$D/mqueue" "$D/mqueue-f"
    chmod 1777 "$D/mail"
    free_port >"$D/port"
    free_port >"$D/fport"
    mta_accounts "$D" 'smmsp:x:64992:64992:Sendmail test:/nonexistent:/usr/sbin/nologin' \
        'smmsp:x:64992:'
    add_local_users "$D"
    start_peer "$D" || { echo "peer did not start" >"$D/inner.err"; return 1; }
    python3 "$ROOT/tests/mta/matrix_conf.py" "$M" sendmail 0 >"$D/conf.txt"
    sed -n 's/^mailertable \([^ ]*\) /\1\t/p' "$D/conf.txt" >"$D/mailertable"
    sed -n 's/^access \([^ ]*\) /\1\t/p' "$D/conf.txt" >"$D/access"
    printf '127.0.0.1\tmx-sendmail.test mx-sendmail localhost\n' >"$D/hosts"
    printf 'hosts\tfiles dns\naliases\tfiles\n' >"$D/service.switch"
    { printf 'postmaster: root\n'; sed -n 's/^alias //p' "$D/conf.txt"; } >"$D/aliases"
    sed -n 's/^localdomain //p' "$D/conf.txt" >"$D/local-host-names"
    : >"$D/statistics"
    PEERPORT=$(cat "$D/peerport")
    cat >"$D/sendmail.mc" <<EOF
divert(0)dnl
VERSIONID(\`mailpulse real-MTA matrix')dnl
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
dnl queue runs and deliveries not held back by the load of a shared test machine
define(\`confQUEUE_LA', \`1000')dnl
define(\`confREFUSE_LA', \`1000')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confMCI_CACHE_SIZE', \`0')dnl
define(\`confDOUBLE_BOUNCE_ADDRESS', \`')dnl
dnl A command-line submission's {daemon_flags} is "c u" unless this is set: its addresses, and
dnl those of the DSNs it makes, are then canonified through DNS despite nocanonify, which the
dnl test's DNS server refuses (a temporary failure, dsn=4.4.3), so they stayed queued until
dnl they expired. Without "c", as for SMTP, no lookup is made.
define(\`confDIRECT_SUBMISSION_MODIFIERS', \`u')dnl
define(\`confDONT_BLAME_SENDMAIL', \`MapInUnsafeDirPath,ClassFileInUnsafeDirPath')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $PEERPORT')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $PEERPORT')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`promiscuous_relay')dnl
FEATURE(\`mailertable', \`hash -o $D/mailertable')dnl
FEATURE(\`access_db', \`hash -o -T<TMPF> $D/access')dnl
FEATURE(\`blocklist_recipients')dnl
FEATURE(\`use_cw_file')dnl
FEATURE(\`local_lmtp', \`$R/usr/libexec/sendmail/mail.local')dnl
DAEMON_OPTIONS(\`Port=$(cat "$D/port"), Addr=127.0.0.1, Name=MTA')dnl
DAEMON_OPTIONS(\`Port=$(cat "$D/rport"), Addr=127.0.0.1, Name=MTA-R')dnl
INPUT_MAIL_FILTER(\`matrix', \`S=inet:$MILTERPORT@127.0.0.1, T=C:5s;S:5s;R:5s;E:10s')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
LOCAL_RULESETS
HSubject: \$>CheckSubject
SCheckSubject
R\$* header-reject \$*	\$#error \$: 553 5.7.1 Header refused
EOF
    # A second Sendmail, as in a dual-Sendmail content-filter setup: what it receives on the
    # filter port goes to the peer's content filter (127.0.0.11), which re-injects it into
    # the first one's MTA-R listener. Both log to the same syslog as sm-mta.
    cat >"$D/sendmail-f.mc" <<EOF
divert(0)dnl
VERSIONID(\`mailpulse real-MTA matrix, filter side')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx-sendmail.test')dnl
define(\`confHOSTS_FILE', \`$D/hosts')dnl
define(\`confSERVICE_SWITCH_FILE', \`$D/service.switch')dnl
define(\`QUEUE_DIR', \`$D/mqueue-f')dnl
define(\`STATUS_FILE', \`$D/statistics')dnl
define(\`ALIAS_FILE', \`$D/aliases')dnl
define(\`confPID_FILE', \`$D/sendmail-f.pid')dnl
define(\`confDEF_USER_ID', \`65534:65534')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confTO_CONNECT', \`5s')dnl
define(\`confQUEUE_LA', \`1000')dnl
define(\`confREFUSE_LA', \`1000')dnl
define(\`confHOST_STATUS_DIRECTORY', \`')dnl
define(\`confMCI_CACHE_SIZE', \`0')dnl
define(\`confDONT_BLAME_SENDMAIL', \`MapInUnsafeDirPath,ClassFileInUnsafeDirPath')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $PEERPORT')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $PEERPORT')dnl
define(\`SMART_HOST', \`esmtp:[127.0.0.11]')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`promiscuous_relay')dnl
FEATURE(\`no_default_msa')dnl
DAEMON_OPTIONS(\`Port=$(cat "$D/fport"), Addr=127.0.0.1, Name=MTA-F')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
EOF
    CF=$R/usr/share/sendmail/cf
    for mc in sendmail sendmail-f; do
        m4 -D_CF_DIR_="$CF/" "$CF/m4/cf.m4" "$D/$mc.mc" >"$D/$mc.cf" 2>>"$D/m4.err" ||
            { echo "m4 $mc failed" >"$D/inner.err"; return 1; }
    done
    for map in mailertable access; do
        "$R/usr/libexec/sendmail/makemap" -C "$D/sendmail.cf" hash "$D/$map" <"$D/$map" \
            2>>"$D/makemap.err" || { echo "makemap $map failed" >"$D/inner.err"; return 1; }
    done
    unshare --mount --uts --fork sh "$0" --sendmail "$D" "$R" 2>"$D/inner.err"
    echo $? >"$D/rc"
    kill "$(cat "$D/peer.pid")" 2>/dev/null
    cp "$D/maillog" "$D/log" 2>/dev/null
}

run_postfix &
P1=$!
run_exim &
P2=$!
run_sendmail &
P3=$!
wait $P1 $P2 $P3

for mta in postfix exim sendmail; do
    D=$WORK/$mta
    log=$D/log
    [ "$mta" = exim ] && log=$D/log.main
    check "matrix: $mta ran the scenarios in a private namespace" [ "$(cat "$D/rc" 2>/dev/null)" = 0 ]
    # An outcome still deferred at the end says more next to this: whether the MTA had
    # finished its queue when it was stopped
    check "matrix: $mta finished its queue within the lifetime + 150 s" \
        sh -c '! grep -q "queue not empty" "$1"' sh "$D/inner.err"
    grep -v 'lost privilege for using -C' "$D/inner.err" 2>/dev/null | sed "s/^/# $mta: /"
    "$BIN" parse --mta "$mta" --stats "$log" >"$D/events.ndjson" 2>"$D/stats"
    check "matrix: mailpulse parse reads the $mta log" [ $? -eq 0 ]
    sed -n "1s/^lines /# $mta log: lines /p" "$D/stats"
    check_eq "matrix: no line of the $mta log is not understood" 0 \
        "$(sed -n 's/.*not understood \([0-9]*\).*/\1/p' "$D/stats")"
    tap_run "matrix: matrix_check.py $mta" python3 "$ROOT/tests/mta/matrix_check.py" "$mta" "$M" "$D/events.ndjson" "$TABLE"
    # A scenario the log has nothing of: what the submissions were told, and the log's end
    if printf '%s\n' "$tap_out" | grep -q '^not ok.*: no event'; then
        tail -n 15 "$D/submit.out" 2>/dev/null | sed "s/^/# $mta submit: /"
        tail -n 15 "$log" 2>/dev/null | sed "s/^/# $mta log: /"
    fi
    if [ -n "${MAILPULSE_KEEP_MTA_LOG:-}" ]; then
        cp "$log" "$MAILPULSE_KEEP_MTA_LOG.$mta"
    fi
    # kept for later tests (mta_matrix.sh --agree DIR reads them again)
    mkdir -p "$MAILPULSE_TEST_TMP/mta-matrix"
    cp "$log" "$MAILPULSE_TEST_TMP/mta-matrix/$mta.log"
done

# The table: one row per scenario, one column per MTA.
python3 "$ROOT/tests/mta/matrix_table.py" "$TABLE" "$M"
echo "# matrix: the whole run took $(($(date +%s) - started)) s"
check "matrix: the whole run took under 600 s" [ $(($(date +%s) - started)) -lt 600 ]

# Agreement: pflogsumm and eximstats on the matrix's logs, and the daemon's stored counts.
agree_all "$MAILPULSE_TEST_TMP/mta-matrix"
