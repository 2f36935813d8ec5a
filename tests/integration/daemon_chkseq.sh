#!/bin/sh
# daemon_chkseq.sh - the fault test, short schedule: numbered lines written while the log is
# rotated (rename, copytruncate, delete + recreate), truncated, the daemon SIGTERMed, SIGKILLed
# and restarted and PostgreSQL restarted; every line must be stored exactly once. The seed is
# printed; rerun one with: python3 tests/soak/chkseq.py --seed S ... (see tests/soak/).
# The long schedule (1M lines) is `make soak`.
set -u
. "$(dirname "$0")/lib.sh"

chmod 755 "$WORK" # the PostgreSQL server runs as postgres
out="$WORK/chkseq.out"
python3 tests/soak/chkseq.py --bin "$BIN" --pgdir "$WORK/pg" --work "$WORK" \
    --lines 40000 --rate 2500 --every 1 >"$out" 2>&1
rc=$?
grep '^# chkseq seed\|^# faults\|^# written\|^# FAIL' "$out"
if [ $rc -eq 0 ]; then
    ok "chkseq: every line stored exactly once through rotations, kills and a database restart"
else
    tail -20 "$out"
    tail -20 "$WORK/serve.err" 2>/dev/null
    not_ok "chkseq: lines missing or duplicated (seed above)"
fi
# The schedule must have exercised the faults it claims to (seeded, so normally all kinds).
for kind in rename copytruncate delete truncate term kill kill_rotate term_rotate pg; do
    check "chkseq: the schedule included $kind" grep -Eq "^# faults:.* $kind [0-9]" "$out"
done
exit 0
