# bounce_fixture.sh - a Postfix log and the bounce and complaint messages that came back
# for it (sourced by bounce_store.sh and bounce_daemon.sh).
#
# The truth, written here and not read back from mailpulse:
#   log: m1 to alice, bob (sent), carol (bounced 550 5.1.1, hard); m2 to erin, frank (sent);
#        m3 to carol (sent, later: carol leaves the suppression list); 5 sent, 1 bounced
#   dsn-alice    failed 5.1.1 for alice, m1: the log said sent    -> async
#   dsn-carol    the MTA's own notice for carol, m1               -> logged (counted once)
#   dsn-bob      delayed 4.4.1 for bob, m1                        -> delayed
#   dsn-zed      failed 5.1.1 for zed@unknown.example, m9 (never logged) -> unseen
#   arf-frank    abuse complaint about m2 for frank               -> complaint, host mx1
#   vacation     an auto-reply                                    -> not a bounce
#   broken       600 nested parts                                 -> malformed
# So: async_bounced 2, complaints 1, suppressions alice (dsn), zed (dsn), frank (complaint).

# fixture_log FILE
fixture_log() {
    cat >"$1" <<'EOF'
Nov 30 10:00:00 mx1 postfix/cleanup[101]: 1A1A1A1A1A: message-id=<m1@news.example>
Nov 30 10:00:00 mx1 postfix/qmgr[102]: 1A1A1A1A1A: from=<news@news.example>, size=1000, nrcpt=3 (queue active)
Nov 30 10:00:01 mx1 postfix/smtp[103]: 1A1A1A1A1A: to=<alice@ms.example>, relay=mx.ms.example[192.0.2.1]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK queued as AAA)
Nov 30 10:00:01 mx1 postfix/smtp[103]: 1A1A1A1A1A: to=<bob@ms.example>, relay=mx.ms.example[192.0.2.1]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK queued as AAA)
Nov 30 10:00:02 mx1 postfix/smtp[104]: 1A1A1A1A1A: to=<carol@gm.example>, relay=mx.gm.example[192.0.2.2]:25, delay=2, delays=0.1/0/0.4/1.5, dsn=5.1.1, status=bounced (host mx.gm.example[192.0.2.2] said: 550 5.1.1 The email account that you tried to reach does not exist (in reply to RCPT TO command))
Nov 30 10:00:02 mx1 postfix/qmgr[102]: 1A1A1A1A1A: removed
Nov 30 11:00:00 mx1 postfix/cleanup[101]: 2B2B2B2B2B: message-id=<m2@news.example>
Nov 30 11:00:00 mx1 postfix/qmgr[102]: 2B2B2B2B2B: from=<news@news.example>, size=1000, nrcpt=2 (queue active)
Nov 30 11:00:01 mx1 postfix/smtp[103]: 2B2B2B2B2B: to=<erin@ms.example>, relay=mx.ms.example[192.0.2.1]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK queued as BBB)
Nov 30 11:00:01 mx1 postfix/smtp[105]: 2B2B2B2B2B: to=<frank@other.example>, relay=mx.other.example[192.0.2.3]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK queued as CCC)
Nov 30 11:00:01 mx1 postfix/qmgr[102]: 2B2B2B2B2B: removed
Nov 30 13:00:00 mx1 postfix/cleanup[101]: 3C3C3C3C3C: message-id=<m3@news.example>
Nov 30 13:00:00 mx1 postfix/qmgr[102]: 3C3C3C3C3C: from=<news@news.example>, size=1000, nrcpt=1 (queue active)
Nov 30 13:00:01 mx1 postfix/smtp[104]: 3C3C3C3C3C: to=<carol@gm.example>, relay=mx.gm.example[192.0.2.2]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK 1764507601 x1si1.2 - gsmtp)
Nov 30 13:00:01 mx1 postfix/qmgr[102]: 3C3C3C3C3C: removed
EOF
}

# fixture_dsn FILE DATE RECIPIENT ACTION STATUS MESSAGE-ID DIAGNOSTIC
fixture_dsn() {
    cat >"$1" <<EOF
Return-Path: <>
Date: $2
From: Mail Delivery System <MAILER-DAEMON@relay.example>
To: news@news.example
Subject: Delivery Status Notification
Message-ID: <dsn-$3-$4@relay.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

This is the mail system at host relay.example.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example

Final-Recipient: rfc822; $3
Action: $4
Status: $5
Remote-MTA: dns; mx.$(echo "$3" | cut -d@ -f2)
Diagnostic-Code: smtp; $7

--b1
Content-Type: text/rfc822-headers

From: News <news@news.example>
To: $3
Subject: November news
Message-ID: $6

--b1--
EOF
}

# fixture_arf FILE
fixture_arf() {
    cat >"$1" <<'EOF'
Return-Path: <fbl@isp.example>
Date: Mon, 30 Nov 2026 15:00:00 +0000
From: Feedback Loop <fbl@isp.example>
To: abuse@news.example
Subject: Abuse report
Message-ID: <arf-1@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b2"

--b2
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.10.

--b2
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <news@news.example>
Original-Rcpt-To: <frank@other.example>
Arrival-Date: Mon, 30 Nov 2026 11:00:02 +0000
Source-IP: 192.0.2.10
Reported-Domain: news.example

--b2
Content-Type: text/rfc822-headers

From: News <news@news.example>
To: frank@other.example
Subject: November news
Message-ID: <m2@news.example>

--b2--
EOF
}

# fixture_messages DIR: every message, one file each, named in delivery order
fixture_messages() {
    d=$1
    fixture_dsn "$d/1001.a.relay" "Mon, 30 Nov 2026 12:00:00 +0000" alice@ms.example failed 5.1.1 \
        "<m1@news.example>" "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found"
    fixture_dsn "$d/1002.b.relay" "Mon, 30 Nov 2026 10:00:03 +0000" carol@gm.example failed 5.1.1 \
        "<m1@news.example>" "550 5.1.1 The email account that you tried to reach does not exist"
    fixture_dsn "$d/1003.c.relay" "Mon, 30 Nov 2026 14:00:00 +0000" bob@ms.example delayed 4.4.1 \
        "<m1@news.example>" "421 4.4.1 Connection timed out"
    fixture_dsn "$d/1004.d.relay" "Mon, 30 Nov 2026 14:30:00 +0000" zed@unknown.example failed \
        5.1.1 "<m9@news.example>" "550 5.1.1 User unknown"
    fixture_arf "$d/1005.e.relay"
    cat >"$d/1006.f.relay" <<'EOF'
Date: Mon, 30 Nov 2026 16:00:00 +0000
From: Erin <erin@ms.example>
To: news@news.example
Subject: Out of Office: November news
Auto-Submitted: auto-replied

I am away until Monday.
EOF
    {
        printf 'Date: Mon, 30 Nov 2026 16:30:00 +0000\nFrom: x@y.example\nSubject: broken\n'
        printf 'MIME-Version: 1.0\n'
        i=0
        while [ $i -lt 600 ]; do
            printf 'Content-Type: multipart/mixed; boundary="x%d"\n\n--x%d\n' $i $i
            i=$((i + 1))
        done
    } >"$d/1007.g.relay"
}
