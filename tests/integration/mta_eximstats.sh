#!/bin/sh
# mta_eximstats.sh - `mailpulse report` on Exim logs agrees with Debian's eximstats.
#
# eximstats comes from Debian's exim4-base, unpacked (tests/mta/fetch.sh, cached in
# build/mta-cache). The logs: the mainlog the real Exim of mta_exim.sh wrote (kept as
# tests/golden/exim_mta_e2e.log), and the Exim test-suite logs whose message ids have the
# 16-character form that the eximstats of Exim 4.96 reads (it cuts ids at 16 characters, so
# logs with 4.97's longer ids mean nothing to it). tests/mta/eximstats_compare.py says which
# counts are compared and why two of eximstats' reject counts are set aside.
set -u
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=$MAILPULSE_CORPORA/exim-testsuite/log

R=$(sh "$ROOT/tests/mta/fetch.sh" "$ROOT/build/mta-cache" exim4-base) ||
    { not_ok "eximstats: fetch and unpack exim4-base"; exit 1; }
logs="$ROOT/tests/golden/exim_mta_e2e.log"
for f in "$C"/*; do
    grep -qE '^[0-9-]+ [0-9:]+ [0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2} ' "$f" &&
        ! grep -qE ' [0-9A-Za-z]{6}-[0-9A-Za-z]{11}-[0-9A-Za-z]{4} ' "$f" && logs="$logs $f"
done
check "eximstats: at least 5 logs to compare" [ "$(echo "$logs" | wc -w)" -ge 5 ]
tap_run "eximstats_compare.py" python3 "$ROOT/tests/mta/eximstats_compare.py" "$BIN" "$R/usr/sbin/eximstats" $logs
