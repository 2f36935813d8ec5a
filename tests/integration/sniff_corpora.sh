#!/bin/sh
# sniff_corpora - `mailpulse sniff` recovers the transactions of the SMTP captures in the
# corpora that have a baseline (Zeek smtp.log, Suricata test.yaml, Arkime .test, nDPI .out):
# HELO, MAIL FROM, every RCPT, the last reply, TLS. See sniff_baselines.py.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ ! -d "$MAILPULSE_CORPORA/zeek-smtp" ]; then
    not_ok "sniff corpora: $MAILPULSE_CORPORA/zeek-smtp is missing"
    exit 0
fi
"$PY" tests/integration/sniff_baselines.py "$BIN" "$MAILPULSE_CORPORA" || true
