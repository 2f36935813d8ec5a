#!/usr/bin/env python3
"""alerts_log.py PART - Postfix lines for alerts.sh, written to stdout.

baseline: 2026-11-25, 300 attempts to hotmail.com and 300 to gmail.com, 1 % deferred.
incident: 2026-11-27 10:00-10:30, hotmail.com (Microsoft) answers 421 to 70 of 100
  attempts, and two replies name a blocklist (Spamhaus); gmail.com goes on as before.
recovery: 2026-11-27 13:00-13:30, 100 attempts to each, all sent."""
import sys

RELAY = {
    "hotmail.com": ("hotmail-com.olc.protection.outlook.com", "52.101.42.0"),
    "gmail.com": ("gmail-smtp-in.l.google.com", "142.250.1.26"),
}
SENT = "250 2.0.0 OK <x@example.org> [Hostname=AM0PR01MB0001]"
DEFER = "421 4.7.0 Temporary server error. Please try again later. PRX4"
BLOCK = ("550 5.7.1 Service unavailable; Client host [198.51.100.2] blocked using "
         "Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/198.51.100.2 "
         "(AS3130) [AM0PR01MB0001.eurprd01.prod.exchangelabs.com]")
n = 0


def line(day, sec, dom, status):
    global n
    n += 1
    host, ip = RELAY[dom]
    qid = "A%09X" % n
    h, m, s = sec // 3600, sec // 60 % 60, sec % 60
    ts = "2026-11-%sT%02d:%02d:%02d.000000+00:00" % (day, h, m, s)
    if status == "sent":
        tail = "dsn=2.0.0, status=sent (%s)" % SENT
    elif status == "deferred":
        tail = ("dsn=4.7.0, status=deferred (host %s[%s] said: %s (in reply to MAIL FROM command))"
                % (host, ip, DEFER))
    else:
        tail = ("dsn=5.7.1, status=bounced (host %s[%s] said: %s (in reply to RCPT TO command))"
                % (host, ip, BLOCK))
    print("%s mx1 postfix/qmgr[1022]: %s: from=<news@example.org>, size=2000, nrcpt=1 (queue active)"
          % (ts, qid))
    print("%s mx1 postfix/smtp[2111]: %s: to=<u%d@%s>, relay=%s[%s]:25, delay=1, "
          "delays=0/0/0.5/0.5, %s" % (ts, qid, n, dom, host, ip, tail))


part = sys.argv[1]
if part == "baseline":
    for i in range(300):
        for dom in ("hotmail.com", "gmail.com"):
            line("25", 8 * 3600 + i * 30, dom, "deferred" if i % 100 == 0 else "sent")
elif part == "incident":
    for i in range(100):
        st = "bounced" if i in (17, 27) else "deferred" if i % 10 < 7 else "sent"
        line("27", 10 * 3600 + i * 18, "hotmail.com", st)
        line("27", 10 * 3600 + i * 18 + 1, "gmail.com", "deferred" if i == 50 else "sent")
else:
    for i in range(100):
        for dom in ("hotmail.com", "gmail.com"):
            line("27", 13 * 3600 + i * 18, dom, "sent")
