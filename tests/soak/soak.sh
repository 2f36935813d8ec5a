#!/bin/sh
# soak.sh - the long fault test (`make soak`): chkseq.py with at least a million lines.
#   SOAK_LINES (default 1000000), SOAK_RATE lines/s (default 20000), SOAK_EVERY mean seconds
#   between faults (default 3), SOAK_SEED to replay a schedule.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
WORK=$(mktemp -d /tmp/mailpulse-soak.XXXXXX)
chmod 755 "$WORK"
trap 'sh scripts/pg.sh stop "$WORK/pg" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
start=$(date +%s)
python3 tests/soak/chkseq.py --bin "$BUILD/mailpulse" --pgdir "$WORK/pg" --work "$WORK" \
    --lines "${SOAK_LINES:-1000000}" --rate "${SOAK_RATE:-20000}" --every "${SOAK_EVERY:-3}" \
    ${SOAK_SEED:+--seed "$SOAK_SEED"}
rc=$?
echo "soak: $(( $(date +%s) - start )) s, $([ $rc -eq 0 ] && echo PASS || echo FAIL)"
[ $rc -eq 0 ] || tail -30 "$WORK/serve.err"
exit $rc
