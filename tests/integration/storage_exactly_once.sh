#!/bin/sh
# storage_exactly_once.sh - import twice changes nothing; SIGKILL at random points and a
# re-run end with exactly the rows of one clean import; NUL and invalid UTF-8 lines do not
# cost their neighbours; db retention and rebuild-rollups from the command line.
#
# STORAGE_KILL_RUNS (default 20) and STORAGE_SEED (default: from the clock) steer the kill
# test; the seed is printed so that a failing run can be repeated.
set -u
. "$(dirname "$0")/lib.sh"

RUNS=${STORAGE_KILL_RUNS:-20}
SEED=${STORAGE_SEED:-$(date +%s)}
need_genlog

LOG=$WORK/mail.log
# Old enough that retention has whole months to drop.
"$GENLOG" --messages 1200 --seed 7 --start 2025-06-01T00:00:00Z >"$LOG"

# fingerprint DSN: row counts, and digests of every event row and of the rollup counts
fingerprint() {
    psql "$1" -qAt -v ON_ERROR_STOP=1 -c "
        SELECT (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM deliveries)
            || ' ' || (SELECT count(*) FROM rejects) || ' '
            || (SELECT count(*) FROM bounce_notices) || ' '
            || (SELECT coalesce(sum(n), 0) FROM rollups) || ' '
            || (SELECT md5(coalesce(string_agg(r, E'\n' ORDER BY r), '')) FROM (
                SELECT 'm' || t::text AS r FROM messages t
                UNION ALL SELECT 'd' || t::text FROM deliveries t
                UNION ALL SELECT 'r' || t::text FROM rejects t
                UNION ALL SELECT 'b' || t::text FROM bounce_notices t) x) || ' '
            || (SELECT md5(coalesce(string_agg(r, E'\n' ORDER BY r), '')) FROM (
                SELECT concat_ws(':', hour, host, sender_domain, kind, reason, dsn, n) AS r
                FROM rollups) y)"
}

# rollups_consistent DSN: the rollups and the domain hour rollups equal a recount from the
# events, and the host rollups equal the rollups summed over the sender domains
rollups_consistent() {
    [ "$(psql "$1" -qAt -c "
        SELECT count(*) FROM (
            (SELECT hour, host, sender_domain, kind, reason, dsn, n
             FROM rollups
             EXCEPT ALL
             SELECT date_trunc('hour', time, 'UTC'), host, sender_domain, kind, reason, dsn,
                    count(*)
             FROM facts WHERE time IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6)
            UNION ALL
            (SELECT date_trunc('hour', time, 'UTC'), host, sender_domain, kind, reason, dsn,
                    count(*)
             FROM facts WHERE time IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6
             EXCEPT ALL
             SELECT hour, host, sender_domain, kind, reason, dsn, n
             FROM rollups)) d")" = 0 ] &&
        [ "$(psql "$1" -qAt -c "
        SELECT count(*) FROM (
            (SELECT recipient_domain, hour, host, sent, deferred, bounced, expired
             FROM rollups_domain_hour
             EXCEPT ALL
             SELECT recipient_domain, date_trunc('hour', time, 'UTC'), host,
                    count(*) FILTER (WHERE kind = 'sent'),
                    count(*) FILTER (WHERE kind = 'deferred'),
                    count(*) FILTER (WHERE kind = 'bounced'),
                    count(*) FILTER (WHERE kind = 'expired')
             FROM facts WHERE time IS NOT NULL
              AND kind IN ('sent', 'deferred', 'bounced', 'expired') GROUP BY 1, 2, 3)
            UNION ALL
            (SELECT recipient_domain, date_trunc('hour', time, 'UTC'), host,
                    count(*) FILTER (WHERE kind = 'sent'),
                    count(*) FILTER (WHERE kind = 'deferred'),
                    count(*) FILTER (WHERE kind = 'bounced'),
                    count(*) FILTER (WHERE kind = 'expired')
             FROM facts WHERE time IS NOT NULL
              AND kind IN ('sent', 'deferred', 'bounced', 'expired') GROUP BY 1, 2, 3
             EXCEPT ALL
             SELECT recipient_domain, hour, host, sent, deferred, bounced, expired
             FROM rollups_domain_hour)) d")" = 0 ] &&
        [ "$(psql "$1" -qAt -c "
        SELECT count(*) FROM (
            (SELECT hour, host, kind, reason, dsn, n FROM rollups_host
             EXCEPT ALL
             SELECT hour, host, kind, reason, dsn, sum(n) FROM rollups GROUP BY 1, 2, 3, 4, 5)
            UNION ALL
            (SELECT hour, host, kind, reason, dsn, sum(n) FROM rollups GROUP BY 1, 2, 3, 4, 5
             EXCEPT ALL
             SELECT hour, host, kind, reason, dsn, n FROM rollups_host)) d")" = 0 ]
}

ROLLUP_TABLES="rollups rollups_host rollups_host_minute rollups_domain_hour rollups_domain_host_day rollups_domain_day
    rollups_domain_month rollups_provider_hour rollups_provider_minute rollups_block_hour rollups_sender_hour
    rollups_sender_day rollups_sender_reason_day rollups_domain_tenmin rollups_sender_tenmin"

# rollup_digest DSN: the rows of every rollup table (without the example reply), one line each;
# the ten-minute rollups' summed per key (a key may have several rows there)
rollup_digest() {
    for t in $ROLLUP_TABLES; do
        case $t in
        rollups_domain_tenmin) rows="SELECT recipient_domain, tenmin, host, sum(sent) s,
            sum(deferred) d, sum(bounced) b, sum(expired) e FROM $t GROUP BY 1, 2, 3" ;;
        rollups_sender_tenmin) rows="SELECT tenmin, host, axis, key, kind, reason, sum(n) n
            FROM $t GROUP BY 1, 2, 3, 4, 5, 6" ;;
        *) rows="SELECT * FROM $t" ;;
        esac
        psql "$1" -qAt -v ON_ERROR_STOP=1 -c "SELECT '$t ' || count(*) || ' '
            || md5(coalesce(string_agg(r, E'\n' ORDER BY r), ''))
            FROM (SELECT (to_jsonb(t) - 'example')::text AS r FROM ($rows) t) x"
    done
}

# rollups_recounted DSN: every rollup table holds what db rebuild-rollups counts from the events
rollups_recounted() {
    before=$(rollup_digest "$1")
    "$BIN" db rebuild-rollups --db "$1" >/dev/null || return 1
    after=$(rollup_digest "$1")
    [ "$before" = "$after" ] && return 0
    printf '%s\n' "$before" >"$WORK/digest.before"
    printf '%s\n' "$after" >"$WORK/digest.after"
    diff "$WORK/digest.before" "$WORK/digest.after" | sed 's/^/#   /'
    return 1
}

# --- a clean import, then the same file again
REF=$(new_db st_ref) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$REF" >/dev/null
# Every bucket counts as added up already: each commit adds its events to the ten-minute
# rollups itself, as it does for a late line, and a replay must not add them twice.
TENMIN_ALL="UPDATE tenmin_rolled SET through = '2100-01-01T00:00:00Z'"
psql "$REF" -qAt -c "$TENMIN_ALL" >/dev/null
check "clean import" sh -c '"$1" import --db "$2" "$3" >/dev/null' _ "$BIN" "$REF" "$LOG"
want=$(fingerprint "$REF")
check "the import stored rows" [ "$(echo "$want" | cut -d' ' -f2)" -gt 1000 ]
check "rollups match a recount of the events" rollups_consistent "$REF"
check "every rollup table equals db rebuild-rollups' recount" rollups_recounted "$REF"
out=$("$BIN" import --db "$REF" "$LOG")
check_eq "importing the file again changes no count and no row" "$want" "$(fingerprint "$REF")"
check "  ... and says it read nothing new" \
    sh -c 'printf "%s" "$1" | grep -q ": 0 events read after the checkpoint"' _ "$out"
# Forget the checkpoint: every line is sent again and every row is a duplicate.
psql "$REF" -qAt -c "UPDATE sources SET checkpoint = 0" >/dev/null
out=$("$BIN" import --db "$REF" "$LOG")
check_eq "a replay from byte 0 changes no count and no row" "$want" "$(fingerprint "$REF")"
check "  ... and counts every row as already present" \
    sh -c 'printf "%s" "$1" | grep -q " 0 stored, [1-9][0-9]* already present"' _ "$out"
check "  ... nor any rollup row" rollups_recounted "$REF"

# --- SIGKILL at random points, then run again to the end
echo "# kill test: $RUNS runs, seed $SEED (STORAGE_SEED=$SEED repeats it)"
KILL=$(new_db st_kill) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$KILL" >/dev/null
psql "$KILL" -qAt -c "$TENMIN_ALL" >/dev/null
export MAILPULSE_IMPORT_BATCH=300 # many commits, so kills land between and inside them
t0=$(date +%s%N)
"$BIN" import --db "$KILL" "$LOG" >/dev/null
span_ms=$((($(date +%s%N) - t0) / 1000000))
bad=0 killed=0 i=0
while [ $i -lt "$RUNS" ]; do
    psql "$KILL" -qAt -c "SET client_min_messages = warning; TRUNCATE sources, messages, deliveries, rejects, bounce_notices,
                          smtp_events, suppressions, $(echo $ROLLUP_TABLES | sed 's/ /, /g')
                          RESTART IDENTITY CASCADE" >/dev/null
    # One or two kills per run, each after a random share of the time a whole import takes.
    # A kill counts when the import had not printed its summary yet (it was mid-way); one
    # that came too late is tried again (with shorter delays), up to 6 times per run.
    kills=$(awk -v s="$SEED" -v i="$i" 'BEGIN { srand((s % 1000000) * 1000 + i); print 1 + int(rand() * 2) }')
    k=0 tries=0
    while [ $k -lt "$kills" ] && [ $tries -lt 6 ]; do
        ms=$(awk -v s="$SEED" -v i="$i" -v t="$tries" -v span="$span_ms" \
            'BEGIN { srand((s % 1000000) * 1000 + i * 10 + t + 1); printf "%d", rand() * span * 0.8 }')
        "$BIN" import --db "$KILL" "$LOG" >"$WORK/kill.out" 2>&1 &
        pid=$!
        sleep "$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        if ! grep -q "events read after the checkpoint" "$WORK/kill.out"; then
            k=$((k + 1))
            killed=$((killed + 1))
        else
            span_ms=$((span_ms * 2 / 3 + 1)) # too late: imports run faster than measured
        fi
        tries=$((tries + 1))
    done
    echo "# run $i: $k of $kills kills mid-import in $tries tries (delays up to $span_ms ms)"
    "$BIN" import --db "$KILL" "$LOG" >"$WORK/final.out" 2>&1
    got=$(fingerprint "$KILL")
    if [ "$got" != "$want" ]; then
        bad=$((bad + 1))
        echo "# run $i (seed $SEED): want $want"
        echo "#                   got  $got"
        sed 's/^/#   /' "$WORK/final.out" "$WORK/kill.out"
        psql "$KILL" -qAt -c "SELECT * FROM sources" | sed 's/^/#   /'
    fi
    i=$((i + 1))
done
unset MAILPULSE_IMPORT_BATCH
check_eq "$RUNS runs killed at random points ($killed kills mid-import) end with one import's rows" \
    0 "$bad"
check "  ... with at least one kill mid-import per run" [ "$killed" -ge "$RUNS" ]
check "  ... and consistent rollups" rollups_consistent "$KILL"
check "  ... every rollup table as db rebuild-rollups counts it" rollups_recounted "$KILL"

# --- NUL and invalid UTF-8 in some delivery lines: every other row arrives unchanged
POISON=$WORK/poison.log
python3 - "$LOG" "$POISON" >"$WORK/poisoned.pos" <<'EOF'
import re, sys
src, dst = sys.argv[1], sys.argv[2]
# A message's expiry rows carry its recipients' last deferrals, from earlier lines: the
# lines of messages that expire are left whole, so only the poisoned lines' rows change.
expired = set(re.findall(rb"(\w+): from=<[^>]*>, status=expired", open(src, "rb").read()))
out = open(dst, "wb")
pos = 0
n = 0
for line in open(src, "rb"):
    m = re.search(rb" (\w+): to=<", line)
    if b" status=" in line and m and m.group(1) not in expired:
        n += 1
        if n % 25 == 0:
            # Overwrite one byte inside the recipient: offsets stay as they were.
            i = line.index(b" to=<") + 6
            line = line[:i] + (b"\x00" if n % 50 == 0 else b"\xff") + line[i + 1:]
            print(pos)
    out.write(line)
    pos += len(line)
EOF
PDB=$(new_db st_poison) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$PDB" >/dev/null
out=$("$BIN" import --db "$PDB" "$POISON" 2>&1)
check "import a log with NUL and invalid UTF-8 bytes" [ $? -eq 0 ]
check "  ... and counts the repaired strings" \
    sh -c 'printf "%s" "$1" | grep -q " [1-9][0-9]* strings repaired"' _ "$out"
npois=$(wc -l <"$WORK/poisoned.pos")
check "  ... where there were some ($npois lines)" [ "$npois" -ge 10 ]
# Every row of a line that was not poisoned is identical in both databases.
rows() {
    psql "$1" -qAt -c "SELECT pos || ' ' || t::text FROM deliveries t
                       UNION ALL SELECT pos || ' ' || t::text FROM messages t
                       UNION ALL SELECT pos || ' ' || t::text FROM rejects t ORDER BY 1"
}
awk '{ print $1 }' "$WORK/poisoned.pos" | sort >"$WORK/p.sorted"
rows "$REF" >"$WORK/ref.rows"
rows "$PDB" >"$WORK/poison.rows"
strip() { awk 'NR == FNR { skip[$1] = 1; next } !($1 in skip)' "$WORK/p.sorted" "$1"; }
strip "$WORK/ref.rows" >"$WORK/a"
strip "$WORK/poison.rows" >"$WORK/b"
check "rows of the other lines are all there and unchanged" cmp -s "$WORK/a" "$WORK/b"
check_eq "the poisoned lines gave their rows too" \
    "$(psql "$REF" -qAt -c 'SELECT count(*) FROM deliveries')" \
    "$(psql "$PDB" -qAt -c 'SELECT count(*) FROM deliveries')"

# --- db rebuild-rollups, db retention
psql "$REF" -qAt -c "UPDATE rollups SET n = n + 7; UPDATE rollups_host SET n = n + 3;
    UPDATE rollups_domain_hour SET sent = sent + 5" >/dev/null
check "db rebuild-rollups" sh -c '"$1" db rebuild-rollups --db "$2" | grep -q "rebuilt the rollups"' \
    _ "$BIN" "$REF"
check_eq "  ... restores the counts" "$want" "$(fingerprint "$REF")"
check "  ... of both rollup tables" rollups_consistent "$REF"
out=$("$BIN" db retention --db "$REF" 2>&1)
check "db retention without --days is refused" [ $? -ne 0 ]
check "db retention --days 100000 drops nothing" \
    sh -c '"$1" db retention --days 100000 --db "$2" | grep -q "dropped 0 partitions"' _ "$BIN" "$REF"
check "db retention --days 1 drops the old months" \
    sh -c '"$1" db retention --days 1 --db "$2" | grep -q "dropped [1-9]"' _ "$BIN" "$REF"
check_eq "  ... their events are gone" 0 "$(psql "$REF" -qAt -c 'SELECT count(*) FROM deliveries')"
check "  ... their rollups stay" [ "$(psql "$REF" -qAt -c 'SELECT sum(n) FROM rollups')" -gt 0 ]
DOMAIN_SUMS="SELECT (SELECT sum(sent + deferred + bounced + expired) FROM rollups_domain_hour)
    || ' ' || (SELECT sum(n) FROM rollups_domain_day) || ' ' || (SELECT sum(n) FROM rollups)"
sums=$(psql "$REF" -qAt -c "$DOMAIN_SUMS")
"$BIN" db rebuild-rollups --db "$REF" >/dev/null 2>&1
check_eq "  ... and a rebuild without their events keeps them" "$sums" \
    "$(psql "$REF" -qAt -c "$DOMAIN_SUMS")"
