#!/usr/bin/env python3
"""matrix_check.py - each recipient's outcome in mailpulse's events against the matrix's truth.

usage: matrix_check.py MTA MATRIX EVENTS TABLE

EVENTS is the NDJSON of `mailpulse parse` over MTA's log after the matrix ran. A recipient's
outcome is its last delivery event (sent, bounced, expired, deferred), or "rejected" when
the only word about it is a reject event. It is compared with the matrix's "want" (or the
MTA's own override): status, DSN (an exact code, or "4.*" for the class) and reason where the
matrix names one; no recipient may be sent twice (a content filter's hop is no
delivery), and one that ends sent may not have bounced or expired before. A recipient that is an alias ("expands") is judged by the deliveries to each of its
expansions instead. In a scenario refused at MAIL or after DATA ("at"), a recipient with no
event of its own is judged by a reject that names no recipient and carries the scenario's
sender (its own, unlike any other scenario's). Scenarios for other MTAs only ("mtas") are skipped with their reason. Prints "ok - " / "not ok - " per recipient and appends one line per
scenario to TABLE: MTA, scenario, right or wrong.
"""
import json
import sys


def main():
    mta, matrix, events, table = sys.argv[1:5]
    with open(matrix, encoding="utf-8") as f:
        m = json.load(f)
    last, rejects, sent, anon, failed, times = {}, {}, {}, {}, {}, {}
    with open(events, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            rcpt = (ev.get("recipient") or "").lower()
            if not rcpt:
                if ev["type"] == "reject":
                    anon[(ev.get("sender") or "").lower()] = ev
                continue
            if ev["type"] == "delivery":
                last[rcpt] = ev
                times.setdefault(rcpt, []).append(ev.get("time") or "")
                if ev.get("status") == "sent":
                    sent[rcpt] = sent.get(rcpt, 0) + 1
                elif ev.get("status") in ("bounced", "expired"):
                    failed[rcpt] = ev["status"]
            elif ev["type"] == "reject":
                rejects[rcpt] = ev
    rows = []
    for sc in m["scenarios"]:
        if mta not in sc.get("mtas", [mta]):
            print("ok - matrix %s %s # SKIP %s" % (mta, sc["name"], sc.get("why_only", "")))
            rows.append("%s %s skip" % (mta, sc["name"]))
            continue
        right = True
        sender = sc.get("sender", m["sender"])
        judged = [(r, a) for r in sc["rcpts"] for a in r.get("expands", [r["rcpt"]])]
        for r, rcpt in judged:
            want = dict(r["want"])
            want.update(r.get(mta, {}))
            rcpt = rcpt.lower()
            ev = last.get(rcpt)
            got = ev["status"] if ev else None
            if ev is None and rcpt in rejects:
                ev, got = rejects[rcpt], "rejected"
            if ev is None and sc.get("at") and sender.lower() in anon:
                ev, got = anon[sender.lower()], "rejected"
            problems = []
            if ev is None:
                problems.append("no event")
            else:
                if got != want["status"]:
                    problems.append("status %s, want %s" % (got, want["status"]))
                dsn = ev.get("dsn") or ""
                wd = want.get("dsn")
                if wd and not (dsn == wd or (wd.endswith(".*") and dsn[:2] == wd[:2])):
                    problems.append("dsn %s, want %s" % (dsn or None, wd))
                if want.get("reason") and ev.get("reason") != want["reason"]:
                    problems.append("reason %s, want %s" % (ev.get("reason"), want["reason"]))
                if got != "rejected" and (ev.get("sender") or "") != sender:
                    problems.append("sender %s" % ev.get("sender"))
                if sent.get(rcpt, 0) > 1:
                    problems.append("sent %d times" % sent[rcpt])
                if got == "sent" and rcpt in failed:
                    problems.append("also %s" % failed[rcpt])
            if problems:
                right = False
                seen = times.get(rcpt, [])
                print("not ok - matrix %s %s %s: %s%s%s" % (
                    mta, sc["name"], rcpt, "; ".join(problems),
                    " (reply: %s)" % ev.get("reply") if ev else "",
                    " (%d attempts, %s to %s)" % (len(seen), seen[0][11:19], seen[-1][11:19])
                    if seen else ""))
            else:
                print("ok - matrix %s %s %s: %s%s" % (
                    mta, sc["name"], rcpt, got,
                    " " + ev["dsn"] if ev.get("dsn") else ""))
        rows.append("%s %s %s" % (mta, sc["name"], "right" if right else "wrong"))
    with open(table, "a", encoding="utf-8") as f:
        f.write("".join(row + "\n" for row in rows))


if __name__ == "__main__":
    main()
