#!/usr/bin/env python3
"""submit.py - hand every scenario of the matrix to an MTA, one SMTP transaction each.

usage: submit.py MATRIX HOST PORT MTA [FILTERPORT]
       submit.py MATRIX --cli MTA COMMAND...

One message per scenario, from the matrix's sender (or the scenario's own) to all of the scenario's recipients in
one transaction; recipients the MTA refuses at RCPT are left out of it (that refusal is the
scenario's point), and a transaction with none accepted ends at RSET. Prints one line per
scenario: name, the SMTP codes the MTA gave to each RCPT, and the name in its EHLO reply.
A scenario that names its MTAs ("mtas") is left out for the others; one with "port": "filter" goes to FILTERPORT, the MTA's
listener whose mail passes through a content filter. A sender the MTA refuses at MAIL ends
the transaction at RSET.

Scenarios with "via": "cli" are left out of SMTP: with --cli, each of them is piped instead
to COMMAND -t -f SENDER (the MTA's command-line sendmail), which must exit within 60 s.
"""
import json
import smtplib
import subprocess
import sys


def message(sc, sender):
    """The text of scenario SC's message, from SENDER."""
    return ("From: %s\r\nTo: %s\r\nSubject: mailpulse matrix %s\r\n"
            "Message-ID: <%s@matrix.test>\r\n\r\nscenario %s\r\n"
            % (sender or "mailer-daemon@client.test", ", ".join(r["rcpt"] for r in sc["rcpts"]),
               sc["name"], sc["name"], sc["name"]))


def cli(m, mta, command):
    """Pipe each command-line scenario of MTA to COMMAND -t -f SENDER."""
    for sc in m["scenarios"]:
        if sc.get("via") != "cli" or mta not in sc.get("mtas", [mta]):
            continue
        sender = sc.get("sender", m["sender"])
        text = message(sc, sender).replace("\r\n", "\n")
        p = subprocess.run(command + ["-t", "-f", sender], input=text.encode(),
                           capture_output=True, timeout=60, check=False)
        print("%s cli exit %d %s" % (sc["name"], p.returncode,
                                     p.stderr.decode("utf-8", "replace").replace("\n", " ")))


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        m = json.load(f)
    if sys.argv[2] == "--cli":
        cli(m, sys.argv[3], sys.argv[4:])
        return
    host, port, mta = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    fport = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    for sc in m["scenarios"]:
        if mta not in sc.get("mtas", [mta]) or sc.get("via") == "cli":
            continue
        to = fport if sc.get("port") == "filter" else port
        s = smtplib.SMTP(host, to, local_hostname="client.test", timeout=30)
        s.ehlo()
        # the name the server gave in its EHLO reply: which MTA took the scenario
        who = ((s.ehlo_resp or b"?").split() or [b"?"])[0].decode("utf-8", "replace")
        sender = sc.get("sender", m["sender"])
        code, _ = s.mail(sender)
        codes, took = [code], 0
        for r in sc["rcpts"] if code // 100 == 2 else []:
            code, _ = s.rcpt(r["rcpt"])
            codes.append(code)
            took += code // 100 == 2
        if took:
            code, _ = s.data(message(sc, sender).encode())
            codes.append(code)
        else:
            s.rset()
        s.quit()
        print("%s %s (%s)" % (sc["name"], " ".join(str(c) for c in codes), who))


if __name__ == "__main__":
    main()
