#!/usr/bin/env python3
"""submit.py - hand every scenario of the matrix to an MTA, one SMTP transaction each.

usage: submit.py MATRIX HOST PORT MTA [FILTERPORT]

One message per scenario, from the matrix's sender (or the scenario's own) to all of the scenario's recipients in
one transaction; recipients the MTA refuses at RCPT are left out of it (that refusal is the
scenario's point), and a transaction with none accepted ends at RSET. Prints one line per
scenario: name and the SMTP codes the MTA gave to each RCPT. A scenario that names its MTAs
("mtas") is left out for the others; one with "port": "filter" goes to FILTERPORT, the MTA's
listener whose mail passes through a content filter.
"""
import json
import smtplib
import sys


def main():
    matrix, host, port, mta = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    fport = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    with open(matrix, encoding="utf-8") as f:
        m = json.load(f)
    for sc in m["scenarios"]:
        if mta not in sc.get("mtas", [mta]):
            continue
        to = fport if sc.get("port") == "filter" else port
        s = smtplib.SMTP(host, to, local_hostname="client.test", timeout=30)
        s.ehlo()
        sender = sc.get("sender", m["sender"])
        s.mail(sender)
        codes, took = [], 0
        for r in sc["rcpts"]:
            code, _ = s.rcpt(r["rcpt"])
            codes.append(code)
            took += code // 100 == 2
        if took:
            body = ("From: %s\r\nTo: %s\r\nSubject: mailpulse matrix %s\r\n"
                    "Message-ID: <%s@matrix.test>\r\n\r\nscenario %s\r\n"
                    % (sender or "mailer-daemon@client.test", ", ".join(r["rcpt"] for r in sc["rcpts"]), sc["name"],
                       sc["name"], sc["name"]))
            code, _ = s.data(body.encode())
            codes.append(code)
        else:
            s.rset()
        s.quit()
        print("%s %s" % (sc["name"], " ".join(str(c) for c in codes)))


if __name__ == "__main__":
    main()
