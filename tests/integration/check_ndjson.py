"""check_ndjson.py LOG NDJSON - the events mailpulse printed for LOG are valid JSON, and each
Postfix delivery line of LOG (status=sent|deferred|bounced|expired from a delivery agent) has
one delivery event with the same recipient, status and dsn, in order."""
import gzip
import json
import re
import sys

log, ndjson = sys.argv[1], sys.argv[2]
opener = gzip.open if open(log, "rb").read(2) == b"\x1f\x8b" else open
with opener(log, "rb") as fh:
    lines = fh.read().decode("utf-8", "replace").split("\n")

DELIVERY = re.compile(
    r" postfix[^ /]*(?:/[^ /\[]+)*/(smtp|lmtp|local|virtual|pipe|error|retry|discard)\[\d+\]: "
    r"[0-9A-Za-z]+: to=<([^>]*)>.*? dsn=([0-9.]+), status=(sent|deferred|bounced)")
# A content filter's hop (sent to a loopback relay, "queued as" a new queue id) is folded into
# the message it carries and gives no delivery event (parser.h).
HOP = re.compile(r", relay=[^,]*\[(?:127\.[0-9.]+|::1)\][^,]*, .*status=sent .*queued as ")
want = []
for line in lines:
    m = DELIVERY.search(line)
    if m and not HOP.search(line):
        want.append((m.group(2), m.group(4), m.group(3)))

got = []
bad = 0
for n, text in enumerate(open(ndjson, encoding="utf-8"), 1):
    try:
        ev = json.loads(text)
    except ValueError as e:
        print(f"line {n}: not JSON: {e}: {text[:200]}")
        bad += 1
        continue
    for key in ("type", "time", "mta"):
        if key not in ev:
            print(f"line {n}: no {key}")
            bad += 1
    if ev.get("type") == "delivery" and ev.get("status") != "expired":
        got.append((ev.get("recipient") or "", ev.get("status"), ev.get("dsn") or ""))

if got != want:
    print(f"{len(want)} delivery lines in the log, {len(got)} delivery events")
    for i, (w, g) in enumerate(zip(want, got)):
        if w != g:
            print(f"first difference at delivery {i}: log {w}, event {g}")
            break
    bad += 1
sys.exit(1 if bad else 0)
