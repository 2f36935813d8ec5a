#!/bin/sh
# sniff_live - end to end on the wire: `mailpulse sniff -i lo` watches while swaks and Python
# smtplib talk to a small SMTP peer (sniff_peer.py) on a free loopback port; the live events
# must match what was sent: greeting, HELO, MAIL, each RCPT with its reply (one refused),
# the data result with the peer's queue id. Also: CAP_NET_RAW is gone once the capture is
# open, and SIGTERM ends the capture with exit status 0.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
PORT=$(free_port)
OUT="$WORK/live.ndjson"

"$PY" tests/integration/sniff_peer.py "$PORT" >"$WORK/peer.log" 2>&1 &
PEER=$!
SERVE_PIDS="$PEER"
"$BIN" sniff -i lo --ports "$PORT" >"$OUT" 2>"$WORK/sniff.err" &
SNIFF=$!
SERVE_PIDS="$PEER $SNIFF"

if ! wait_for 10 grep -q "capturing SMTP on lo" "$WORK/sniff.err"; then
    cat "$WORK/sniff.err"
    not_ok "sniff live: the capture on lo did not start"
    exit 0
fi
# Bit 13 of the effective set is CAP_NET_RAW.
capeff=$(awk '/^CapEff/ { print $2 }' "/proc/$SNIFF/status")
check "sniff live: CAP_NET_RAW dropped after opening the capture (CapEff $capeff)" \
    test $((0x$capeff >> 13 & 1)) -eq 0
wait_for 5 grep -q listening "$WORK/peer.log" || not_ok "sniff live: the SMTP peer did not start"

if command -v swaks >/dev/null 2>&1; then
    swaks --server 127.0.0.1 --port "$PORT" --helo live.test --from alice@example.com \
        --to bob@example.net,unknown1@example.net --pipeline >"$WORK/swaks.out" 2>&1
    SWAKS=1
else
    SWAKS=0
fi
"$PY" - "$PORT" <<'PYEOF' >"$WORK/smtplib.out" 2>&1
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="smtplib.test")
s.sendmail("carol@example.org", ["dave@example.net"], "Subject: one\r\n\r\nfirst\r\n")
s.sendmail("carol@example.org", ["erin@example.net"], "Subject: two\r\n\r\n.dot\r\nsecond\r\n")
s.quit()
PYEOF

wait_for 10 grep -q "queued as LIVE$((SWAKS + 2))" "$OUT"
kill -TERM "$SNIFF"
wait "$SNIFF"
rc=$?
check_eq "sniff live: exit status after SIGTERM" 0 "$rc"

if res=$("$PY" - "$OUT" "$SWAKS" <<'PYEOF'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
swaks = sys.argv[2] == "1"
by = {}
for e in events:
    code = e["smtp_code"] if e["smtp_code"] is not None else -1
    by.setdefault(e["client"], []).append("%s %s %s %s %s %s %s" % (
        e["stage"], code, e["helo"] or "-", e["sender"] or "-", e["recipient"] or "-",
        e["dsn"] or "-", e["queue_id"] or "-"))
want = []
if swaks:
    want.append([
        "connect 220 - - - - -",
        "helo 250 live.test - - - -",
        "mail 250 live.test alice@example.com - 2.1.0 -",
        "rcpt 250 live.test alice@example.com bob@example.net 2.1.5 -",
        "rcpt 550 live.test alice@example.com unknown1@example.net 5.1.1 -",
        "data 250 live.test alice@example.com - 2.0.0 LIVE1",
    ])
n = 2 if swaks else 1
want.append([
    "connect 220 - - - - -",
    "helo 250 smtplib.test - - - -",
    "mail 250 smtplib.test carol@example.org - 2.1.0 -",
    "rcpt 250 smtplib.test carol@example.org dave@example.net 2.1.5 -",
    "data 250 smtplib.test carol@example.org - 2.0.0 LIVE%d" % n,
    "mail 250 smtplib.test carol@example.org - 2.1.0 -",
    "rcpt 250 smtplib.test carol@example.org erin@example.net 2.1.5 -",
    "data 250 smtplib.test carol@example.org - 2.0.0 LIVE%d" % (n + 1),
])
got = sorted(by.values(), key=lambda v: v[-1])
if got != sorted(want, key=lambda v: v[-1]):
    print("got %s" % json.dumps(got))
    sys.exit(1)
for e in events:
    if e["server"] != "127.0.0.1:%s" % e["server"].rsplit(":", 1)[1] or e["tls"]:
        print("bad server or tls in %s" % e)
        sys.exit(1)
PYEOF
); then
    ok "sniff live: events on lo match the swaks and smtplib dialogues"
else
    cat "$WORK/sniff.err" "$WORK/swaks.out" | tail -20
    not_ok "sniff live: events on lo differ: $res"
fi
[ "$SWAKS" = 1 ] || not_ok "sniff live: swaks is not installed (scripts/setup.sh installs it)"
kill "$PEER" 2>/dev/null
