#!/bin/sh
# pg.sh - a private PostgreSQL 15 cluster for mailpulse development and tests.
#
# Usage: sh scripts/pg.sh start DIR   create (first time) and start the cluster in DIR, create
#                                     database "mailpulse", print the libpq DSN on stdout
#        sh scripts/pg.sh stop DIR    stop it (fast shutdown); succeeds when it is not running
#        sh scripts/pg.sh dsn DIR     print the DSN
#
# Layout: DIR/pg is the data directory, DIR/run holds the Unix socket and the server log
# (DIR/run/postgresql.log). The server also listens on 127.0.0.1. The port is chosen when the
# cluster is created and kept in DIR/pg/postgresql.conf:
#   PG_PORT set             that port;
#   DIR named "var"         $PGPORT_MAILPULSE, default 5433 (the `make run` cluster);
#   otherwise               a free port from 15432 up to the kernel's ephemeral range
#                           (throwaway test clusters).
# A later start with PG_PORT set moves the cluster to that port.
#
# Debian's binaries are used by absolute path: a different pg_ctl may be first in PATH.
# initdb and the server refuse to run as root, so as root they run as the postgres user, who
# then owns DIR/pg and DIR/run. Everything but the DSN goes to stderr, and only on failure.
set -eu

PGBIN=/usr/lib/postgresql/15/bin
PGUSER_OS=postgres

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: sh scripts/pg.sh start|stop|dsn DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case $cmd in start | stop | dsn) ;; *) usage ;; esac
[ -x "$PGBIN/pg_ctl" ] || die "$PGBIN/pg_ctl not found: install postgresql-15"

# as_pg CMD... - run CMD as the cluster's owner (postgres when we are root)
if [ "$(id -u)" -eq 0 ]; then
    as_pg() { runuser -u "$PGUSER_OS" -- "$@"; }
else
    as_pg() { "$@"; }
fi

# quiet CMD... - run CMD; show its output on stderr only if it fails
quiet() {
    if _out=$("$@" 2>&1); then
        return 0
    else
        _rc=$?
        [ -z "$_out" ] || printf '%s\n' "$_out" >&2
        return $_rc
    fi
}

if [ "$cmd" = start ]; then
    mkdir -p "$dir"
fi
[ -d "$dir" ] || {
    [ "$cmd" = stop ] && exit 0
    die "$dir: no such directory"
}
abs=$(cd "$dir" && pwd -P)
data=$abs/pg
run=$abs/run
conf=$data/postgresql.conf

# conf_port - the port the cluster was configured with (the last port line wins)
conf_port() {
    as_pg sed -n 's/^port = \([0-9][0-9]*\).*/\1/p' "$conf" | tail -n 1
}

print_dsn() {
    echo "host=$run port=$1 dbname=mailpulse user=postgres"
}

# running - true when the server of this data directory is up
running() {
    [ -f "$data/PG_VERSION" ] || return 1
    as_pg "$PGBIN/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# port_free PORT - true when no TCP socket uses PORT, in any state and on any address: a
# client's connection, even closed and in TIME_WAIT, keeps the server from binding it
port_free() {
    if command -v ss >/dev/null 2>&1; then
        [ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
    else
        # Without ss: a port where pg_isready gets no answer at all (status 2) is free.
        _rc=0
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$1" -t 1 >/dev/null 2>&1 || _rc=$?
        [ $_rc -eq 2 ]
    fi
}

# pick_port - choose the port for a new cluster (see the head of this file)
pick_port() {
    if [ -n "${PG_PORT:-}" ]; then
        echo "$PG_PORT"
        return
    fi
    if [ "$(basename "$abs")" = var ]; then
        echo "${PGPORT_MAILPULSE:-5433}"
        return
    fi
    # Below the kernel's ephemeral range, which clients' connections draw their own ports
    # from: one of those could take the port between this choice and the server's bind.
    _lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$_lo" -gt 20432 ] 2>/dev/null || _lo=32768
    _i=0
    while [ $_i -lt 50 ]; do
        # awk's rand() seeded from the clock and our pid differs between concurrent runs.
        _p=$(awk -v s="$$$_i" -v lo="$_lo" \
            'BEGIN { srand(); srand(srand() + s); print 15432 + int(rand() * (lo - 15432)) }')
        if port_free "$_p"; then
            echo "$_p"
            return
        fi
        _i=$((_i + 1))
    done
    die "no free TCP port found in 15432-$((_lo - 1))"
}

case $cmd in
dsn)
    [ -f "$conf" ] || die "$data: no cluster (run: sh scripts/pg.sh start $dir)"
    print_dsn "$(conf_port)"
    exit 0
    ;;
stop)
    if running; then
        quiet as_pg "$PGBIN/pg_ctl" stop -D "$data" -m fast -w || die "could not stop the server in $data"
    fi
    exit 0
    ;;
esac

# start
if ! running; then
    # The postgres user must reach DIR through every parent directory.
    if [ "$(id -u)" -eq 0 ]; then
        chmod o+x "$abs"
        as_pg test -x "$abs" ||
            die "user $PGUSER_OS cannot traverse to $abs: a parent directory lacks o+x"
    fi
    mkdir -p "$run"
    if [ ! -f "$data/PG_VERSION" ]; then
        mkdir -p "$data"
        if [ "$(id -u)" -eq 0 ]; then
            chown "$PGUSER_OS:" "$data" "$run"
        fi
        chmod 700 "$data"
        # Unix socket paths are limited to 107 bytes.
        [ ${#run} -le 80 ] || die "$run: path too long for a Unix socket directory"
        quiet as_pg "$PGBIN/initdb" -D "$data" -U postgres -A trust --encoding UTF8 --locale C ||
            die "initdb failed in $data"
        port=$(pick_port)
        as_pg sh -c 'cat >>"$1"' sh "$conf" <<EOF

# mailpulse (scripts/pg.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$run'
port = $port
EOF
    elif [ -n "${PG_PORT:-}" ] && [ "$(conf_port)" != "$PG_PORT" ]; then
        as_pg sh -c 'echo "port = $2" >>"$1"' sh "$conf" "$PG_PORT"
    fi
    if [ "$(id -u)" -eq 0 ]; then
        chown "$PGUSER_OS:" "$run"
    fi
    port=$(conf_port)
    [ -n "$port" ] || die "$conf: no port line"
    port_free "$port" || die "port $port is in use (set PG_PORT or PGPORT_MAILPULSE)"
    quiet as_pg "$PGBIN/pg_ctl" start -D "$data" -l "$run/postgresql.log" -w -t 60 || {
        tail -n 20 "$run/postgresql.log" >&2 2>/dev/null || true
        die "could not start the server in $data (log: $run/postgresql.log)"
    }
fi

port=$(conf_port)
i=0
until "$PGBIN/pg_isready" -q -h "$run" -p "$port" -t 2; do
    i=$((i + 1))
    [ $i -lt 30 ] || die "server in $data does not answer on $run port $port"
    sleep 1
done

# psql honours PG* variables from the caller's environment; keep them out of the way.
have=$(env -u PGDATABASE -u PGSERVICE -u PGOPTIONS "$PGBIN/psql" -X -q -t -A -h "$run" -p "$port" \
    -U postgres -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'mailpulse'") ||
    die "cannot query the server on $run port $port"
if [ "$have" != 1 ]; then
    quiet env -u PGDATABASE -u PGSERVICE -u PGOPTIONS "$PGBIN/createdb" -h "$run" -p "$port" \
        -U postgres mailpulse || die "createdb mailpulse failed"
fi
print_dsn "$port"
