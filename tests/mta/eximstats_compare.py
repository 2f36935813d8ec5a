#!/usr/bin/env python3
"""eximstats_compare.py - `mailpulse report` beside Debian's eximstats, log by log.

usage: eximstats_compare.py MAILPULSE EXIMSTATS LOG...

For each Exim main log, runs `perl EXIMSTATS -nr -t0 -h0 LOG` (its "Grand total summary") and
`MAILPULSE report --format json --year 2026 LOG`, and prints an "ok - " / "not ok - " line per
count. The counts must agree; where the two tools count differently on purpose, the
difference is computed from the log and the rest must agree:

  received   eximstats counts every "<=" line; mailpulse reads the "<= <> R=parent" lines Exim
             writes for its own bounces as bounce notices, so received + notices must match;
             and a message a content filter handed back (its id named by a hop, below) is
             the same message, received once.
  delivered  eximstats' delivered addresses ("=>" lines): mailpulse's delivered recipients,
             but for a content filter's hops: "=>" and "->" lines to a loopback host whose reply
             (C="... id=X") names an Exim id X that arrives ("<=") in the same log.
  delayed    eximstats: messages with at least one "==" line; mailpulse: distinct deferred
             messages. The same.
  failed     eximstats: messages with at least one "**" line; mailpulse splits them into
             bounced and expired ("retry timeout exceeded"): the messages (queue ids) among
             its bounced and expired events from `mailpulse parse` must match.
  rejects    eximstats counts any other line that says "rejected", "refused" or "dropped";
             lines that only say "refused" or "dropped" (a remote host refusing the
             connection during delivery, "Connection refused") are delivery trouble that
             mailpulse reports as deferrals of that delivery. eximstats also counts each
             "=> blackhole" line (recipients an ACL discarded) as a reject besides a delivery;
             mailpulse, like eximstats' Delivered, sees a delivery. Without both the counts
             match.
"""
import json
import os
import re
import shutil
import subprocess
import sys

MARKERS = ("<=", "=>", "->", "==", "**", "*>", ">>")
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?( [-+]\d{4})?( \[\d+\])? ")


def eximstats(tool, log):
    # The log goes in on stdin: eximstats unpacks any file whose path holds ".gz" or ".Z"
    # anywhere, as a temporary directory made by mktemp (".../it.ZqX3aB/...") can.
    with open(log, "rb") as f:
        out = subprocess.run(["perl", tool, "-nr", "-t0", "-h0"], stdin=f, capture_output=True,
                             check=True).stdout.decode("utf-8", "replace")
    got = {"received": 0, "delivered": 0, "delayed": 0, "failed": 0, "rejects": 0}
    m = re.search(r"^\s*Received\s+\S+\s+(\d+)\s+\d+\s+(\d+)\s+[\d.]+%\s+(\d+)", out, re.M)
    if m:
        got["received"], got["delayed"], got["failed"] = map(int, m.groups())
    m = re.search(r"^\s*Delivered\s+\S+\s+\d+\s+(\d+)", out, re.M)
    if m:
        got["delivered"] = int(m.group(1))
    m = re.search(r"^\s*Rejects\s+(\d+)", out, re.M)
    if m:
        got["rejects"] = int(m.group(1))
    return got


def not_rejects(log):
    """Lines eximstats takes for rejects that are not: delivery errors, blackhole deliveries."""
    n = 0
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            rest = STAMP.sub("", line, count=1).split(" ", 3)
            if len(rest) > 2 and rest[1] == "=>" and rest[2] == "blackhole":
                n += 1
                continue
            if len(rest) > 1 and rest[1] in MARKERS:
                continue
            if "rejected" not in line and ("refused" in line or "dropped" in line):
                n += 1
    return n


def filter_hops(log):
    """Content-filter hops and the arrivals they name: (hop deliveries, re-injected messages)."""
    arrived, hops = set(), []
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            rest = STAMP.sub("", line, count=1).split(" ", 2)
            if len(rest) < 3:
                continue
            if rest[1] == "<=":
                arrived.add(rest[0])
            elif rest[1] in ("=>", "->") and re.search(r" H=\S* \[(127\.[\d.]+|::1)\]", line):
                m = re.search(r'C="[^"]*\bid=([0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4})\b',
                              line)
                if m and m.group(1) != rest[0]:
                    hops.append(m.group(1))
    named = [x for x in hops if x in arrived]
    return len(named), len(set(named))


def failed_messages(bin_, log):
    """The queue ids of mailpulse's bounced and expired events on LOG."""
    out = subprocess.run([bin_, "parse", "--mta", "exim", "--year", "2026", log],
                         capture_output=True, text=True, check=True).stdout
    ids = set()
    for line in out.splitlines():
        ev = json.loads(line)
        if ev.get("type") == "delivery" and ev.get("status") in ("bounced", "expired"):
            ids.add(ev.get("queue_id"))
    return len(ids)


def why(err):
    """What a failed run of a tool said: its command, exit status and first stderr lines."""
    if isinstance(err, subprocess.CalledProcessError):
        stderr = err.stderr or ""
        if isinstance(stderr, bytes):
            stderr = stderr.decode("utf-8", "replace")
        said = " / ".join(stderr.strip().splitlines()[:3])
        return "%s exited %d: %s" % (" ".join(err.cmd[:2]), err.returncode, said or "(no stderr)")
    return "%s: %s" % (type(err).__name__, err)


def keep(log):
    """A copy of LOG beside the test's files, named in the failure, to find out why later."""
    base = os.environ.get("MAILPULSE_TEST_TMP")
    if not base:
        return log
    dest = os.path.join(base, "eximstats-failed-" + os.path.basename(log))
    try:
        shutil.copyfile(log, dest)
    except OSError:
        return log
    return dest


def main():
    bin_, tool = sys.argv[1], sys.argv[2]
    bad = 0
    for log in sys.argv[3:]:
        try:
            bad += compare(bin_, tool, log)
        except (subprocess.CalledProcessError, OSError, ValueError, KeyError) as err:
            bad += 1
            print("not ok - eximstats %s: could not compare: %s (log kept as %s)"
                  % (os.path.basename(log), why(err), keep(log)))
    return 1 if bad else 0


def compare(bin_, tool, log):
    """The ok / not ok lines for one log; returns how many were not ok."""
    bad = 0
    es = eximstats(tool, log)
    rep = subprocess.run([bin_, "report", "--format", "json", "--year", "2026", log],
                         capture_output=True, text=True, check=True).stdout
    t = json.loads(rep)["totals"]
    hops, reinjected = filter_hops(log)
    pairs = [
        ("received", es["received"] - reinjected, t["received"] + t["notices"]),
        ("delivered", es["delivered"] - hops, t["delivered"]),
        ("delayed", es["delayed"], t["deferred"]),
        ("failed", es["failed"], failed_messages(bin_, log)),
        ("rejects", es["rejects"] - not_rejects(log), t["rejected"]),
    ]
    name = log.rsplit("/", 1)[-1]
    for what, want, got in pairs:
        if want == got:
            print("ok - eximstats %s: %s %d" % (name, what, got))
        else:
            bad += 1
            print("not ok - eximstats %s: %s: eximstats %d, mailpulse %d"
                  % (name, what, want, got))
    return bad


if __name__ == "__main__":
    sys.exit(main())
