# kept.sh - sourced by the web benches: a PostgreSQL cluster kept between runs, and a
# `mailpulse serve` over it.
#
#   kept_cluster NAME DIR   starts (or reuses) the cluster under DIR/pg, sets DSN, migrates
#                           it with $BIN, and stops serve and the cluster on exit. A kept
#                           cluster keeps its port; when another took it meanwhile, it moves
#                           to a free one.
#   kept_serve NAME DIR     starts `serve` (web only) on a free loopback port, sets URL and
#                           SPID, and waits up to 10 s for /healthz; NAME prefixes errors.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

kept_cluster() {
    mkdir -p "$2"
    KEPT_DIR=$2
    DSN=$(sh scripts/pg.sh start "$2/pg" 2>/dev/null) ||
        DSN=$(PG_PORT=$(free_port) sh scripts/pg.sh start "$2/pg") ||
        { echo "$1: cannot start PostgreSQL under $2/pg" >&2; exit 1; }
    SPID=""
    trap kept_cleanup EXIT
    trap 'exit 130' INT TERM
    "$BIN" db migrate --db "$DSN" >/dev/null
}

kept_cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    sh scripts/pg.sh stop "$KEPT_DIR/pg" >/dev/null 2>&1 || true
}

kept_serve() {
    PORT=$(free_port)
    URL="http://127.0.0.1:$PORT"
    "$BIN" serve --db "$DSN" --listen "127.0.0.1:$PORT" 2>"$2/serve.err" &
    SPID=$!
    n=0
    until curl -s -o /dev/null "$URL/healthz"; do
        n=$((n + 1))
        [ $n -lt 100 ] || { echo "$1: serve did not start" >&2; cat "$2/serve.err" >&2; exit 1; }
        sleep 0.1
    done
}
