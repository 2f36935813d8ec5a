#!/bin/sh
# import_nul.sh - a NUL byte inside a log field is replaced and counted, not taken for the
# end of the field: parse prints the whole address, import stores it with its domain and
# reports the repair.
set -u
. "$(dirname "$0")/lib.sh"

LOG=$WORK/nul.log
printf '%s\n%s\n%s\n' \
    '2026-11-27T09:00:01.420873+00:00 mx7 postfix/qmgr[1022]: 4ZxY2l3Xr9z1: from=<news@example.org>, size=18231, nrcpt=2 (queue active)' \
    '2026-11-27T09:00:02.730554+00:00 mx7 postfix/smtp[2110]: 4ZxY2l3Xr9z1: to=<aNULb@b.test>, relay=mx.b.test[192.0.2.1]:25, delay=1.3, delays=0.1/0/0.4/0.8, dsn=2.0.0, status=sent (250 2.0.0 OK)' \
    '2026-11-27T09:00:02.930554+00:00 mx7 postfix/smtp[2110]: 4ZxY2l3Xr9z1: to=<c@c.test>, relay=mx.c.test[192.0.2.2]:25, delay=1.5, delays=0.1/0/0.4/1, dsn=2.0.0, status=sent (250 2.0.0 OK)' |
    sed 's/NUL/\x00/' >"$LOG"
check "the log holds a NUL byte" [ "$(tr -cd '\000' <"$LOG" | wc -c)" = 1 ]

"$BIN" parse --stats "$LOG" >"$WORK/parse.out" 2>"$WORK/parse.err"
check_eq "parse keeps the address whole, the NUL as '?'" '"a?b@b.test" "b.test"' \
    "$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["type"] == "delivery" and e["relay"].startswith("mx.b.test"):
        print(json.dumps(e["recipient"]), json.dumps(e["recipient_domain"]))' "$WORK/parse.out")"
check "parse --stats counts the repaired line" grep -q "lines with NUL bytes repaired 1" "$WORK/parse.err"

DSN=$(new_db importnul) || { not_ok "create database"; exit 1; }
"$BIN" db migrate --db "$DSN" >/dev/null || { not_ok "migrate"; exit 1; }
"$BIN" import --db "$DSN" "$LOG" >"$WORK/import.out" 2>&1
check "import reports the repaired string" grep -q "3 stored, 0 already present, 1 strings repaired" "$WORK/import.out"
check_eq "import stores the address with its domain" "a?b@b.test|b.test" \
    "$(psql "$DSN" -qAt -c "select recipient, recipient_domain from deliveries where host = 'mx7' and relay like 'mx.b.test%'")"
check_eq "both deliveries are stored" 2 \
    "$(psql "$DSN" -qAt -c "select count(*) from deliveries where host = 'mx7'")"
exit 0
