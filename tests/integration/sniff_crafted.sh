#!/bin/sh
# sniff_crafted - `mailpulse sniff` on crafted captures (tests/pcap/gen_crafted.py): every
# link type, IPv4/IPv6, VLAN, retransmission, reordering, a lost segment, a snaplen-cut
# packet, a truncated file, implicit TLS. Each capture's events, exit status and counters
# are checked against the .want file the generator wrote beside it.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
DIR="$WORK/crafted"

if ! "$PY" tests/pcap/gen_crafted.py "$DIR" >"$WORK/gen.out" 2>&1; then
    cat "$WORK/gen.out"
    not_ok "sniff crafted: generator failed (needs python3-scapy)"
    exit 0
fi
for pcap in "$DIR"/*.pcap; do
    name=$(basename "$pcap" .pcap)
    "$BIN" sniff -r "$pcap" --stats >"$WORK/$name.out" 2>"$WORK/$name.err"
    echo $? >"$WORK/$name.rc"
    if diff=$("$PY" - "$DIR/$name.want" "$WORK/$name.out" "$WORK/$name.err" "$WORK/$name.rc" <<'PYEOF'
import json, re, sys
want = json.load(open(sys.argv[1]))
got = []
for line in open(sys.argv[2]):
    e = json.loads(line)
    code = e["smtp_code"] if e["smtp_code"] is not None else -1
    got.append("%s %s %s %s %s %s" % (e["stage"], code, e["sender"] or "-", e["recipient"] or "-",
                                      e["queue_id"] or "-", str(e["tls"]).lower()))
err = open(sys.argv[3]).read()
rc = int(open(sys.argv[4]).read())
problems = []
if got != want["events"]:
    problems.append("events %s, want %s" % (got, want["events"]))
if rc != want["status"]:
    problems.append("exit status %d, want %d" % (rc, want["status"]))
for stat in want["stats"]:
    m = re.search(r"%s (\d+)" % re.escape(stat), err)
    if not m or int(m.group(1)) == 0:
        problems.append("counter '%s' is zero" % stat)
if want["status"] != 0 and "warning" not in err:
    problems.append("no warning on stderr")
print("; ".join(problems))
sys.exit(1 if problems else 0)
PYEOF
    ); then
        ok "sniff crafted $name"
    else
        not_ok "sniff crafted $name: $diff"
    fi
done
