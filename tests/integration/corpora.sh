#!/bin/sh
# corpora.sh - `mailpulse parse` over the real Postfix logs of tests/corpora: no crash,
# valid NDJSON, and delivery events that agree with the raw lines.
set -u
. "$(dirname "$0")/lib.sh"

C=$MAILPULSE_CORPORA
if [ ! -d "$C/lightmeter-postfix" ]; then
    not_ok "corpora not found at $C (set MAILPULSE_CORPORA)"
    exit 0
fi
for f in "$C"/lightmeter-postfix/individual_files/*.log "$C"/lightmeter-postfix/go_test_lines/*.log \
    "$C"/lightmeter-postfix/complete/logs_sample/mail* "$C"/lightmeter-postfix/logparser_corpus/* \
    "$C"/kumina-postfix-exporter/*.log; do
    [ -f "$f" ] || continue
    name=${f#"$C"/}
    case "$name" in *LICENSE*) continue ;; esac
    if ! "$BIN" parse --year 2026 "$f" >"$WORK/out.ndjson" 2>"$WORK/err"; then
        not_ok "parse $name (exit status $?)"
        continue
    fi
    if python3 tests/integration/check_ndjson.py "$f" "$WORK/out.ndjson"; then
        ok "parse $name"
    else
        not_ok "parse $name"
    fi
done
exit 0
