#!/bin/sh
# serve_fleet.sh - the fleet deployment: two hosts each run a collector (`serve --log`) into
# one PostgreSQL, and a third `serve` with no source (web-only) shows both. The truth is the
# sample log's own counts (web_api.sh reads them off by hand), once per host.
set -u
. "$(dirname "$0")/lib.sh"

RANGE="from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z"
DSN=$(new_db fleet) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }

# Two hosts' logs: the sample as mx1 wrote it, and the same traffic written by mx2.
cp samples/mail.log "$WORK/mx1.log"
sed 's/^\([^ ]*\) mx1 /\1 mx2 /' samples/mail.log >"$WORK/mx2.log"

for h in mx1 mx2; do
    p=$(free_port)
    mkdir -p "$WORK/state-$h"
    "$BIN" serve --db "$DSN" --log "$WORK/$h.log" --listen "127.0.0.1:$p" \
        --state-dir "$WORK/state-$h" 2>"$WORK/serve-$h.err" &
    SERVE_PIDS="$SERVE_PIDS $!"
    eval "PORT_$h=$p"
done
WPORT=$(free_port)
WURL="http://127.0.0.1:$WPORT"
"$BIN" serve --db "$DSN" --listen "127.0.0.1:$WPORT" --state-dir "$WORK" 2>"$WORK/web.err" &
WPID=$!
SERVE_PIDS="$SERVE_PIDS $WPID"

check "the web-only server answers" wait_http "$WURL/healthz"
both_in() { [ "$(json_get "$(curl -s "$WURL/api/v1/summary?$RANGE")" sent)" = 10 ]; }
check "the web-only server sees both collectors' rows" wait_for 20 both_in

# The servers add up the ten-minute rollups of the buckets that have passed (every minute,
# the first time at the start), each attempt once, whichever server rolled or collector
# committed first.
q() { psql "$DSN" -qAt -c "$1"; }
rolled() {
    [ "$(q "SELECT through > now() - interval '1 hour' FROM tenmin_rolled")" = t ] &&
        [ "$(q "SELECT sum(sent + deferred + bounced + expired) FROM rollups_domain_tenmin")" = \
            "$(q "SELECT count(*) FROM deliveries")" ] &&
        [ "$(q "SELECT sum(n) FROM rollups_sender_tenmin WHERE axis = 'sasl_user'")" = \
            "$(q "SELECT (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM rejects)")" ]
}
check "the servers added up every attempt into the ten-minute rollups, once" wait_for 20 rolled
check_eq "db roll: nothing left but to say so" "ten-minute rollups added up to" \
    "$("$BIN" db roll --db "$DSN" | cut -d' ' -f1-5)"

summary() { curl -s "$WURL/api/v1/summary?$RANGE$1"; }
s=$(summary "")
check_eq "fleet: received 8 (4 per host)" 8 "$(json_get "$s" received)"
check_eq "fleet: deferred 6" 6 "$(json_get "$s" deferred)"
check_eq "fleet: bounced 4" 4 "$(json_get "$s" bounced)"
check_eq "fleet: expired 2" 2 "$(json_get "$s" expired)"
check_eq "fleet: rejected 2" 2 "$(json_get "$s" rejected)"
for h in mx1 mx2; do
    s=$(summary "&host=$h")
    check_eq "host=$h: sent 5 of its own" 5 "$(json_get "$s" sent)"
    check_eq "host=$h: received 4" 4 "$(json_get "$s" received)"
done
code=$(curl -s -o "$WORK/page.html" -w '%{http_code}' "$WURL/?$RANGE")
check_eq "the web-only dashboard page is served" 200 "$code"
check "the web-only server says it is web-only" grep -q "web-only mode" "$WORK/web.err"
check "the web-only server takes no source lock" sh -c "! ls '$WORK'/*.lock >/dev/null 2>&1"
h=$(curl -s "$WURL/healthz")
check_eq "web-only /healthz: no lines read of its own" 0 "$(printf '%s' "$h" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ingest"]["lines"])')"
check "--check-config says web only" sh -c "'$BIN' serve --db '$DSN' --config /dev/null --check-config | grep -q 'web only'"

kill "$WPID"
wait "$WPID"
check_eq "the web-only server exits 0 on SIGTERM" 0 "$?"

# A web-only server whose role may only read (a dashboard's own login) serves the reports and
# leaves the ten-minute rollups to the others, saying so once.
psql "$DSN" -qAt -c "DROP ROLE IF EXISTS fleet_ro" -c "CREATE ROLE fleet_ro LOGIN" \
    -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO fleet_ro" >/dev/null 2>&1
RO_DSN=$(echo "$DSN" | sed 's/user=[^ ]*/user=fleet_ro/')
case $RO_DSN in *user=fleet_ro*) ;; *) RO_DSN="$RO_DSN user=fleet_ro" ;; esac
ROPORT=$(free_port)
"$BIN" serve --db "$RO_DSN" --listen "127.0.0.1:$ROPORT" --state-dir "$WORK" 2>"$WORK/ro.err" &
ROPID=$!
SERVE_PIDS="$SERVE_PIDS $ROPID"
check "a read-only web-only server answers" wait_http "http://127.0.0.1:$ROPORT/healthz"
check_eq "  ... with the fleet's counts" 10 \
    "$(json_get "$(curl -s "http://127.0.0.1:$ROPORT/api/v1/summary?$RANGE")" sent)"
said() { grep -q "may not write the database" "$WORK/ro.err"; }
check "  ... and leaves the ten-minute rollups to the others, saying so" wait_for 10 said
check_eq "  ... once" 1 "$(grep -c "may not write the database" "$WORK/ro.err")"
kill "$ROPID"
wait "$ROPID"
psql "$DSN" -qAt -c "DROP OWNED BY fleet_ro" -c "DROP ROLE fleet_ro" >/dev/null
