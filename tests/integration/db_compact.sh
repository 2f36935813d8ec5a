#!/bin/sh
# db_compact.sh - `mailpulse db compact` rebuilds the indexes of the months that have ended,
# once: they come out smaller (B-trees full), valid and answering the same reports, a second
# run does nothing, a month whose B-tree is not full is due again, and so is one whose rebuild
# was cut short, a late log's rows go in, a month too recent for --days is left alone, and an
# invalid index an interrupted rebuild left behind is dropped by the next run.
set -u
. "$(dirname "$0")/lib.sh"
need_genlog

DSN=$(migrated_db db_compact) || exit 1
q() { psql "$DSN" -qAt -c "$1"; }

# October 2026: an ended month, whatever day the test runs on after it.
"$GENLOG" --messages 5000 --seed 7 --rfc3339 --start 2026-10-01T00:00:00Z >"$WORK/oct.log"
"$BIN" import --db "$DSN" "$WORK/oct.log" >/dev/null 2>&1 || not_ok "import October's log"
check "the import made October's partitions" [ "$(q "SELECT to_regclass('deliveries_p202610') IS NOT NULL")" = t ]

sizes() {
    q "SELECT string_agg(c.relname || ' ' || pg_relation_size(x.indexrelid), '|' ORDER BY c.relname)
       FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
       WHERE x.indrelid = 'deliveries_p202610'::regclass"
}
report() {
    q "SELECT count(*), count(DISTINCT recipient), sum(length(queue_id)) FROM deliveries
       WHERE recipient LIKE 'a%'"
}
before_oids=$(q "SELECT string_agg(indexrelid::text, ',' ORDER BY indexrelid) FROM pg_index WHERE indrelid = 'deliveries_p202610'::regclass")
before_report=$(report)
before_recipient=$(q "SELECT pg_relation_size('deliveries_p202610_recipient_idx')")
before_time=$(q "SELECT pg_relation_size('deliveries_p202610_time_idx')")
summary() {
    "$BIN" report --db "$DSN" --format json --from 2026-10-01T00:00:00Z --to 2026-11-01T00:00:00Z
}
before_summary=$(summary)

# --days 40000: no month ended that long ago.
check_eq "db compact --days 40000: nothing that old" "nothing to compact: every month that ended more than 40000 days ago is compacted already" \
    "$("$BIN" db compact --db "$DSN" --days 40000 2>&1)"

out=$("$BIN" db compact --db "$DSN" --days 1 2>"$WORK/compact.err")
check "db compact rebuilt October's partitions" sh -c "echo '$out' | grep -Eq '^compacted [4-9] partitions: indexes'"
check_eq "each October partition is recorded, none twice" \
    "$(q "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname ~ '_p202610\$'")" \
    "$(q "SELECT count(DISTINCT name) FROM partition_compactions WHERE name ~ '_p202610\$'")"
check "the rebuilt indexes are new ones" [ "$before_oids" != "$(q "SELECT string_agg(indexrelid::text, ',' ORDER BY indexrelid) FROM pg_index WHERE indrelid = 'deliveries_p202610'::regclass")" ]
check_eq "every index is valid and attached" "0 0" \
    "$(q "SELECT (SELECT count(*) FROM pg_index WHERE NOT indisvalid) || ' ' || (SELECT count(*) FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid WHERE x.indrelid = 'deliveries_p202610'::regclass AND NOT c.relispartition)")"
after_recipient=$(q "SELECT pg_relation_size('deliveries_p202610_recipient_idx')")
check "the recipient index is smaller ($before_recipient -> $after_recipient bytes)" \
    [ "$after_recipient" -lt "$before_recipient" ]
after_time=$(q "SELECT pg_relation_size('deliveries_p202610_time_idx')")
check "the time index, built in order, is smaller too: filled ($before_time -> $after_time bytes)" \
    [ "$after_time" -lt "$before_time" ]
check_eq "every B-tree of an October partition fills its pages" "0" \
    "$(q "SELECT count(*) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
          JOIN pg_am a ON a.oid = c.relam JOIN pg_class t ON t.oid = x.indrelid
          WHERE t.relname ~ '_p202610\$' AND a.amname = 'btree'
            AND NOT coalesce(c.reloptions @> ARRAY['fillfactor=100'], false)")"
check "no other index is changed" [ "$(q "SELECT count(*) FROM pg_class WHERE reloptions @> ARRAY['fillfactor=100'] AND relname !~ '_p202610'")" = 0 ]
check_eq "the recorded sizes are the indexes' own" "$(q "SELECT pg_indexes_size('deliveries_p202610')")" \
    "$(q "SELECT index_bytes_after FROM partition_compactions WHERE name = 'deliveries_p202610'")"
check_eq "lookups through the rebuilt indexes answer the same" "$before_report" "$(report)"
check_eq "the report over October is the same" "$before_summary" \
    "$(summary)"
check_eq "a second run does nothing" "nothing to compact: every month that ended more than 1 day ago is compacted already" \
    "$("$BIN" db compact --db "$DSN" --days 1 2>&1)"
sizes >"$WORK/sizes.after"

# A month compacted before its B-trees were rebuilt full (or given a new index since) is due
# again, once.
q "ALTER INDEX deliveries_p202610_queue_id_idx RESET (fillfactor)"
check_eq "a month with a B-tree not yet full is compacted again" "compacted 1 partition" \
    "$("$BIN" db compact --db "$DSN" --days 1 2>/dev/null | sed 's/:.*//')"
check_eq "its B-trees are full again" "fillfactor=100" \
    "$(q "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'deliveries_p202610_queue_id_idx'")"
check_eq "and then it is not due" "nothing to compact: every month that ended more than 1 day ago is compacted already" \
    "$("$BIN" db compact --db "$DSN" --days 1 2>&1)"

# A rebuild cut short after its B-trees were set full (a lock it waits for past lock_timeout)
# leaves the month due: the next run rebuilds it.
q "ALTER INDEX deliveries_p202610_queue_id_idx RESET (fillfactor)"
psql "$DSN" -qAt -c "BEGIN" -c "LOCK TABLE deliveries_p202610 IN SHARE MODE" \
    -c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null 2>&1 &
locker=$!
sleep 1
PGOPTIONS="-c lock_timeout=500" "$BIN" db compact --db "$DSN" --days 1 >/dev/null 2>"$WORK/cut.err"
check "a rebuild that cannot take its lock fails" grep -q "lock timeout" "$WORK/cut.err"
wait "$locker"
check_eq "the month it cut short is compacted by the next run" "compacted 1 partition" \
    "$("$BIN" db compact --db "$DSN" --days 1 2>/dev/null | sed 's/:.*//')"

# A late log for the compacted month: its rows go into the full pages, which split.
"$GENLOG" --messages 500 --seed 8 --rfc3339 --start 2026-10-20T00:00:00Z >"$WORK/late.log"
late=$(grep -c 'status=' "$WORK/late.log")
n0=$(q "SELECT count(*) FROM deliveries WHERE time < '2026-11-01'")
"$BIN" import --db "$DSN" "$WORK/late.log" >/dev/null 2>&1 || not_ok "import a late October log"
check_eq "the late log's $late attempts are stored in October" "$late" \
    "$(q "SELECT count(*) - $n0 FROM deliveries WHERE time < '2026-11-01'")"
# The recipients of the late rows, counted through the recipient index and by reading the rows.
by() {
    q "SET enable_seqscan = $1; SET enable_indexscan = $2; SET enable_bitmapscan = $2;
       SELECT count(*) FROM deliveries WHERE recipient IN (SELECT recipient FROM deliveries
       WHERE time >= '2026-10-20' AND time < '2026-11-01' AND source_id = (SELECT max(id) FROM sources) ORDER BY recipient LIMIT 20)" | tail -1
}
check "the late rows are found through the recipient index as by reading them ($(by off on))" \
    sh -c "[ '$(by off on)' = '$(by on off)' ] && [ '$(by on off)' -gt 0 ]"
check_eq "every index is still valid after the late rows" "0" "$(q "SELECT count(*) FROM pg_index WHERE NOT indisvalid")"

# --config: the database of serve's configuration, as the shipped timer runs it; --db wins.
printf '[serve]\ndb = %s\nlisten = 127.0.0.1:1\n\n[source mail]\npath = /nonexistent\n' "$DSN" \
    >"$WORK/mailpulse.conf"
check_eq "db compact --config takes serve's database" \
    "nothing to compact: every month that ended more than 1 day ago is compacted already" \
    "$("$BIN" db compact --config "$WORK/mailpulse.conf" --days 1 2>&1)"
printf '[serve]\ndb = host=/nonexistent dbname=none\n' >"$WORK/other.conf"
check_eq "--db wins over the configuration's" \
    "nothing to compact: every month that ended more than 1 day ago is compacted already" \
    "$("$BIN" db compact --config "$WORK/other.conf" --db "$DSN" --days 1 2>&1)"
printf '[web]\nlisten = 127.0.0.1:1\n' >"$WORK/nodb.conf"
check_eq "a configuration without a database is refused by name" \
    "mailpulse: error: $WORK/nodb.conf names no database: its [serve] section has no db = line" \
    "$("$BIN" db compact --config "$WORK/nodb.conf" 2>&1)"

# An interrupted rebuild leaves an invalid index named *_ccnew: made here by a unique index
# that the rows break, built concurrently, which fails and stays behind invalid.
q "CREATE UNIQUE INDEX CONCURRENTLY deliveries_p202610_host_idx_ccnew ON deliveries_p202610 (host)" \
    2>/dev/null && not_ok "the unique index on host was refused"
check_eq "the leftover is there, invalid" "f" \
    "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'deliveries_p202610_host_idx_ccnew'::regclass")"
q "DELETE FROM partition_compactions WHERE name = 'deliveries_p202610'"
out=$("$BIN" db compact --db "$DSN" --days 1 2>/dev/null)
check_eq "the next run drops the leftover and rebuilds the month again" \
    "compacted 1 partition|dropped 1 index an interrupted rebuild had left" \
    "$(echo "$out" | sed 's/:.*//' | paste -sd'|')"
check_eq "no invalid index is left" "0" "$(q "SELECT count(*) FROM pg_index WHERE NOT indisvalid")"

# Two at once: the one that finds the lock held does nothing.
psql "$DSN" -qAt -c "SELECT pg_advisory_lock(7236051971), pg_sleep(4)" >/dev/null &
holder=$!
n=0
until [ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" = 1 ] ||
    [ $n -ge 50 ]; do
    sleep 0.1
    n=$((n + 1))
done
check_eq "while another process compacts: nothing done" "another process is compacting; nothing done" \
    "$("$BIN" db compact --db "$DSN" --days 1 2>&1)"
wait $holder
