# lib.sh - helpers for integration tests (sourced). Each test prints "ok - name" or
# "not ok - name" lines; tests/run.sh counts them.
#
# Needs: MAILPULSE_BIN, MAILPULSE_TEST_DSN (a throwaway cluster), MAILPULSE_TEST_TMP; run
# from the repository's root. MAILPULSE_CORPORA defaults to the corpora in tests/corpora.

BIN=$MAILPULSE_BIN
GENLOG=$(dirname "$BIN")/tools/genlog # build/tools/genlog: generated Postfix logs
MAILPULSE_CORPORA=${MAILPULSE_CORPORA:-$(pwd)/tests/corpora}
export MAILPULSE_CORPORA
WORK=$(mktemp -d "$MAILPULSE_TEST_TMP/it.XXXXXX")
SERVE_PIDS=""

lib_cleanup() {
    for pid in $SERVE_PIDS; do
        kill "$pid" 2>/dev/null
    done
}
trap lib_cleanup EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }

# check NAME COMMAND... : ok when the command succeeds
check() {
    name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# tap_run NAME COMMAND... : runs a checker that prints its own ok / not ok lines; if it exits
# non-zero without a "not ok" line (a crash, a traceback), that is reported as one, so no
# check can vanish silently
tap_run() {
    name=$1
    shift
    tap_out=$("$@")
    tap_rc=$?
    [ -n "$tap_out" ] && printf '%s\n' "$tap_out"
    if [ $tap_rc -ne 0 ] && ! printf '%s\n' "$tap_out" | grep -q '^not ok'; then
        not_ok "$name: exited $tap_rc without saying what failed"
    fi
}

# check_eq NAME WANT GOT
check_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1 (want '$2', got '$3')"
    fi
}

# new_db NAME: create an empty database on the throwaway cluster, print its DSN
new_db() {
    psql "$MAILPULSE_TEST_DSN" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $1" \
        -c "CREATE DATABASE $1" >/dev/null || return 1
    echo "$MAILPULSE_TEST_DSN" | sed "s/dbname=[^ ]*/dbname=$1/"
}

# migrated_db NAME: new_db with the schema migrated, print its DSN; a failure is a not ok
migrated_db() {
    _db=$(new_db "$1") || { not_ok "create database $1" >&2; return 1; }
    "$BIN" db migrate --db "$_db" >/dev/null || { not_ok "migrate $1" >&2; return 1; }
    echo "$_db"
}

# need_genlog: stop the test when genlog is not built
need_genlog() {
    [ -x "$GENLOG" ] || { not_ok "genlog is built ($GENLOG)"; exit 1; }
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on, for a server the test starts
# later. It lies outside the kernel's ephemeral range, so that no socket bound to port 0 (a
# peer's listener, an outgoing connection) can take it before that server binds it, and
# outside 15432 up to that range, where scripts/pg.sh puts throwaway clusters; it is never
# handed out twice in one test (WORK/.ports, under a lock: MTAs are set up in parallel).
free_port() {
    flock "$WORK/.ports.lock" python3 -c '
import os, random, socket, sys
given = set()
if os.path.exists(sys.argv[1]):
    given = {int(p) for p in open(sys.argv[1]).read().split()}
lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
pool = [p for p in list(range(10000, min(lo, 15432))) + list(range(hi + 1, 65536)) if p not in given]
random.shuffle(pool)
for port in pool:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    with open(sys.argv[1], "a") as f:
        f.write("%d\n" % port)
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port outside the ephemeral range")
' "$WORK/.ports"
}

# json_get JSON KEY: the value of a top-level key (numbers and strings as text)
json_get() {
    printf '%s' "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("null" if v is None else v)' "$2"
}

# wait_http URL [SECONDS]: until the URL answers at all
wait_http() {
    n=0
    while [ $n -lt $((${2:-10} * 10)) ]; do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# wait_for SECONDS COMMAND...: until the command succeeds
wait_for() {
    limit=$(($1 * 10))
    shift
    n=0
    while [ $n -lt $limit ]; do
        "$@" && return 0
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}
