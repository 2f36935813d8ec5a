#!/usr/bin/env python3
"""check.py - compare mailpulse's events from a real MTA's log with what the peer answered.

usage: check.py MTA SENDER RECORD EVENTS RCPT...

RECORD is peer.py's log of its answers, EVENTS the NDJSON of `mailpulse parse` over the
MTA's own log, RCPT the recipients the test sent to (one message each). For every recipient
the last delivery event must have the final status the peer dictated:

    250 -> sent; 4xx -> deferred with that DSN; 5xx -> bounced with that DSN, hard for 5.1.1;
    connection dropped -> deferred; a recipient the peer never saw (no listener) -> deferred,
    reason networkerror; at expire.test (no listener, retries given up) -> expired, with the
    reason of its last failure (networkerror).

Where the event carries an SMTP code it must be the peer's. Every delivery must also carry
the sender of its message (correlation with the arrival line) and the event's mta must be
MTA. Prints TAP-like "ok - " / "not ok - " lines.
"""
import json
import sys


def main():
    mta, sender, record, events = sys.argv[1:5]
    rcpts = sys.argv[5:]
    told = {}
    try:
        with open(record, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                told[r["rcpt"].lower()] = r  # the last answer is the final one
    except FileNotFoundError:
        print("not ok - %s: the peer recorded nothing" % mta)
    last = {}
    messages = 0
    with open(events, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("mta") != mta:
                print("not ok - %s: event of mta %s" % (mta, ev.get("mta")))
                continue
            if ev["type"] == "message":
                messages += 1
            if ev["type"] == "delivery" and (ev.get("recipient") or "").lower() in rcpts:
                last[ev["recipient"].lower()] = ev
    print(("ok" if messages >= len(rcpts) else "not ok")
          + " - %s: %d message events for %d messages sent" % (mta, messages, len(rcpts)))
    for rcpt in rcpts:
        ev = last.get(rcpt)
        if ev is None:
            print("not ok - %s %s: no delivery event" % (mta, rcpt))
            continue
        r = told.get(rcpt)
        problems = []
        if rcpt.endswith("@expire.test"):
            # An expiry carries its last temporary failure's reason: no listener.
            want_status, want_dsn, want_code = "expired", None, None
            if ev.get("reason") != "networkerror":
                problems.append("reason %s, want networkerror" % ev.get("reason"))
            what = "no listener, retry time over"
        elif r is None:
            want_status, want_dsn, want_code = "deferred", None, None
            if ev.get("reason") != "networkerror":
                problems.append("reason %s, want networkerror" % ev.get("reason"))
            what = "no listener"
        elif r.get("dropped"):
            want_status, want_dsn, want_code = "deferred", None, None
            what = "dropped connection"
        else:
            code = r["code"]
            want_code, want_dsn = code, r["dsn"]
            want_status = {2: "sent", 4: "deferred", 5: "bounced"}[code // 100]
            if code == 250:
                want_dsn = None  # the delivery's DSN is the reply to DATA, not to RCPT
            what = "%d %s" % (code, r["dsn"])
            if want_dsn == "5.1.1" and not ev.get("hard"):
                problems.append("not hard")
        if ev.get("status") != want_status:
            problems.append("status %s, want %s" % (ev.get("status"), want_status))
        if want_dsn and ev.get("dsn") != want_dsn:
            problems.append("dsn %s, want %s" % (ev.get("dsn"), want_dsn))
        if want_dsn is None and ev.get("dsn") and want_status == "deferred" and ev["dsn"][0] != "4":
            problems.append("dsn %s of a deferral" % ev.get("dsn"))
        if want_code and ev.get("smtp_code") is not None and ev["smtp_code"] != want_code \
                and want_code != 250:
            problems.append("smtp_code %s, want %s" % (ev.get("smtp_code"), want_code))
        if ev.get("sender") != sender:
            problems.append("sender %s, want %s" % (ev.get("sender"), sender))
        if problems:
            print("not ok - %s %s (peer: %s): %s" % (mta, rcpt, what, "; ".join(problems)))
        else:
            print("ok - %s %s: %s as the peer said (%s)" % (mta, rcpt, ev["status"], what))


if __name__ == "__main__":
    main()
