#!/bin/sh
# report_db.sh - `mailpulse report --db` (the storage read side) against `mailpulse report FILE`
# (in memory) on the same log: the same delivered, deferrals, bounced, expired and rejected.
# "received" differs by the notices Postfix generates itself (sender <> and no client): the
# database counts every message, the in-memory report follows pflogsumm and leaves them out.
. "$(dirname "$0")/lib.sh"

export TZ=UTC
LM="$MAILPULSE_CORPORA/lightmeter-postfix/complete/logs_sample"
cat "$LM/mail.log.1" "$LM/mail.log" >"$WORK/lm.log"
"$(dirname "$BIN")/tools/genlog" --messages 3000 --seed 5 >"$WORK/gen.log"

# totals MODE-ARGS... : "received delivered deferrals bounced expired rejected notices"
totals() {
    "$BIN" report --format csv "$@" | awk -F, '
        $1 == "totals" { v[$3] = $4 }
        END { print v["received"], v["delivered"], v["deferrals"], v["bounced"], v["expired"],
                    v["rejected"], v["notices"] }'
}

for log in lm gen; do
    DSN=$(new_db "report_$log") || { not_ok "report --db $log: cannot create a database"; continue; }
    "$BIN" db migrate --db "$DSN" >/dev/null 2>&1
    "$BIN" import --db "$DSN" --year 2026 "$WORK/$log.log" >/dev/null 2>&1
    set -- $(totals --year 2026 "$WORK/$log.log")
    f_rcv=$1 f_rest="$2 $3 $4 $5 $6" f_notices=$7
    set -- $(totals --db "$DSN")
    d_rcv=$1 d_rest="$2 $3 $4 $5 $6"
    check_eq "report --db equals report FILE on $log (delivered deferrals bounced expired rejected)" \
        "$f_rest" "$d_rest"
    check_eq "report --db received = report FILE received on $log ($f_notices notices counted apart)" \
        "$f_rcv" "$d_rcv"
    "$BIN" report --db "$DSN" --top 3 >"$WORK/$log.txt" 2>&1
    check "report --db text lists domains and reasons on $log" \
        grep -q "Recipients by Domain" "$WORK/$log.txt"
done

# --config FILE names the database by serve's configuration ([serve] db =), for import and
# report as for db; --db wins over it, and a configuration without a database is refused.
if DSN=$(new_db report_conf); then
    printf '[serve]\ndb = %s\n' "$DSN" >"$WORK/with_db.conf"
    printf '[serve]\nlisten = 127.0.0.1:8025\n' >"$WORK/no_db.conf"
    "$BIN" db migrate --config "$WORK/with_db.conf" >/dev/null 2>&1
    "$BIN" import --config "$WORK/with_db.conf" --year 2026 "$WORK/gen.log" >"$WORK/conf.out" 2>&1
    check "import --config stores into the configuration's database" \
        grep -q " stored, " "$WORK/conf.out"
    check_eq "report --config equals report --db" "$(totals --db "$DSN")" \
        "$(totals --config "$WORK/with_db.conf")"
    check_eq "report --config equals report FILE (delivered deferrals bounced expired rejected)" \
        "$(totals --year 2026 "$WORK/gen.log" | cut -d' ' -f2-6)" \
        "$(totals --config "$WORK/with_db.conf" | cut -d' ' -f2-6)"
    "$BIN" import --config "$WORK/no_db.conf" --db "$DSN" --year 2026 "$WORK/gen.log" \
        >"$WORK/conf2.out" 2>&1
    check "import --db wins over --config (the same log again: nothing new)" \
        grep -q " 0 stored, " "$WORK/conf2.out"
    "$BIN" report --config "$WORK/no_db.conf" >"$WORK/conf3.out" 2>&1
    check "report --config without a db = line is refused by name" \
        grep -q "no_db.conf names no database" "$WORK/conf3.out"
else
    not_ok "report --config: cannot create a database"
fi
