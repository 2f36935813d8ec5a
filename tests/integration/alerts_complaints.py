#!/usr/bin/env python3
"""alerts_complaints.py - mail sent and the complaints about it, for alerts_complaints.sh.

  log PHASE          Postfix lines on stdout. "send": 2026-12-01 10:00-10:54, news.example
                     sends 20 messages of 100 recipients (2000 sent) and shop.example 20 of
                     100 (2000 sent); at 15:53 other.example sends one message of 100 (the
                     log goes on while the complaints come in). "recovery": the next day,
                     2026-12-02 16:00-16:54, news.example sends 2000 more.
  arf DIR FIRST N HH:MM SENDER
                     N ARF abuse reports, one file each in DIR, about the message
                     <mFIRST+i@SENDER> (i = 0 .. N-1), dated 2026-12-01 HH:MM UTC.

The messages of "send" have the Message-IDs <m0@news.example> .. <m19@news.example> and
<m0@shop.example> .. <m19@shop.example>; recipient j of message i is u<i>x<j>@<domain>."""
import os
import sys

DOMS = [("gmail.com", "gmail-smtp-in.l.google.com", "142.250.1.26"),
        ("yahoo.com", "mta5.am0.yahoodns.net", "67.195.204.72"),
        ("outlook.com", "outlook-com.olc.protection.outlook.com", "52.101.42.0"),
        ("web.de", "mx-ha03.web.de", "212.227.17.8")]
qn = [0]


def ts(day, hour, sec):
    return "2026-12-%02dT%02d:%02d:%02d.000000+00:00" % (day, hour + sec // 3600, sec // 60 % 60,
                                                       sec % 60)


def message(day, hour, i, sender_domain, base):
    qn[0] += 1
    qid = "%s%07X" % ({"news.example": "C", "shop.example": "D"}.get(sender_domain, "E"), qn[0])
    sec = i * 170 + (1 if sender_domain == "shop.example" else 0)
    t = ts(day, hour, sec)
    print("%s mx1 postfix/cleanup[301]: %s: message-id=<m%d@%s>" % (t, qid, base + i, sender_domain))
    print("%s mx1 postfix/qmgr[302]: %s: from=<news@%s>, size=4000, nrcpt=100 (queue active)"
          % (t, qid, sender_domain))
    for j in range(100):
        dom, relay, ip = DOMS[j % len(DOMS)]
        print("%s mx1 postfix/smtp[303]: %s: to=<u%dx%d@%s>, relay=%s[%s]:25, delay=1, "
              "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)"
              % (ts(day, hour, sec + 1), qid, base + i, j, dom, relay, ip))
    print("%s mx1 postfix/qmgr[302]: %s: removed" % (ts(day, hour, sec + 2), qid))


def arf(d, first, n, hhmm, sender):
    for k in range(n):
        i = first + k
        dom = DOMS[k % len(DOMS)][0]
        with open(os.path.join(d, "arf-%s-%d.eml" % (sender, i)), "w") as f:
            f.write("""Return-Path: <fbl@fbl.%(dom)s>
Date: Tue, 01 Dec 2026 %(hhmm)s:00 +0000
From: Feedback Loop <fbl@fbl.%(dom)s>
To: abuse@%(sender)s
Subject: Complaint about a message from %(sender)s
Message-ID: <arf-%(i)d-%(sender)s@fbl.%(dom)s>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="fb"

--fb
Content-Type: text/plain

A recipient marked a message from your network as spam.

--fb
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/2.0
Version: 1
Original-Mail-From: <news@%(sender)s>
Original-Rcpt-To: <u%(i)dx%(k)d@%(dom)s>
Arrival-Date: Tue, 01 Dec 2026 10:00:00 +0000
Source-IP: 192.0.2.10

--fb
Content-Type: text/rfc822-headers

From: News <news@%(sender)s>
To: u%(i)dx%(k)d@%(dom)s
Subject: December news
Message-ID: <m%(i)d@%(sender)s>

--fb--
""" % {"dom": dom, "hhmm": hhmm, "sender": sender, "i": i, "k": k})


if sys.argv[1] == "log":
    if sys.argv[2] == "send":
        for i in range(20):
            message(1, 10, i, "news.example", 0)
            message(1, 10, i, "shop.example", 0)
        message(1, 15, 18, "other.example", 0)
    else:
        for i in range(20):
            message(2, 16, i, "news.example", 100)
else:
    arf(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
