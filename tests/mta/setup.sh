# setup.sh - the set-up the real-MTA tests share (mta_postfix.sh, mta_sendmail.sh,
# mta_matrix.sh); sourced after tests/integration/lib.sh, which gives wait_for.
#
# mta_listening PORT        does anything accept on 127.0.0.1:PORT?
# mta_accounts D USER GROUP... copy /etc/passwd and /etc/group to D/passwd and D/group and
#                           add the passwd line USER and each group line GROUP, for an MTA's
#                           own users inside a mount namespace (see mta_bind_accounts)
# mta_postfix_accounts D    the same with Postfix's mail_owner pfxtest (uid 64990) and its
#                           set-gid group pfxdrop
# mta_bind_accounts D       inside the namespace: D/passwd and D/group over /etc's
# mta_private_dev D         inside the namespace: a tmpfs /dev with only null, zero, full,
#                           random, urandom and tty bound in from the real one (D/olddev)
# mta_syslogd D TAG         inside the namespace, after mta_private_dev: tests/mta/syslogd.py
#                           on /dev/log writing D/maillog with host TAG; its pid in SYSLOGD

MTA_DIR=$(cd "$(dirname "$0")/../mta" && pwd)

mta_listening() {
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1" 2>/dev/null
}

mta_accounts() {
    mta_d=$1 mta_user=$2
    shift 2
    cp /etc/passwd "$mta_d/passwd" && cp /etc/group "$mta_d/group" || return 1
    echo "$mta_user" >>"$mta_d/passwd"
    for mta_g in "$@"; do
        echo "$mta_g" >>"$mta_d/group"
    done
}

mta_postfix_accounts() {
    mta_accounts "$1" 'pfxtest:x:64990:64990:Postfix test:/nonexistent:/usr/sbin/nologin' \
        'pfxtest:x:64990:' 'pfxdrop:x:64991:'
}

mta_bind_accounts() {
    mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group
}

mta_private_dev() {
    mkdir -p "$1/olddev"
    mount --bind /dev "$1/olddev" && mount -t tmpfs -o mode=755 tmpfs /dev || return 1
    for mta_n in null zero full random urandom tty; do
        : >"/dev/$mta_n"
        mount --bind "$1/olddev/$mta_n" "/dev/$mta_n" || return 1
    done
}

mta_syslogd() {
    python3 "$MTA_DIR/syslogd.py" /dev/log "$1/maillog" "$2" &
    # shellcheck disable=SC2034 # read by the sourcing script
    SYSLOGD=$!
    wait_for 10 test -e /dev/log.ready
}
