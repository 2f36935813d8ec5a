#!/usr/bin/python3
"""matrix_milter.py - the real-MTA matrix's milter: rejects the messages its scenario names.

usage: matrix_milter.py PORTFILE SUBJECTWORD

A milter (Debian's python3-milter, libmilter's protocol) listening on 127.0.0.1 at a port
it picks and writes to PORTFILE once bound. At end of message it rejects with "550 5.7.1
Message rejected by milter" any message whose Subject: holds SUBJECTWORD, and accepts every
other. Postfix (smtpd_milters) and Sendmail (INPUT_MAIL_FILTER) both talk to it. SIGTERM
ends it.
"""
import os
import signal
import socket
import sys

import Milter


class Matrix(Milter.Base):
    """One connection's state: whether its message's subject names the word."""

    word = ""

    def __init__(self):
        self.hit = False

    def envfrom(self, mailfrom, *params):
        self.hit = False
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "subject" and Matrix.word in value:
            self.hit = True
        return Milter.CONTINUE

    def eom(self):
        if self.hit:
            self.setreply("550", "5.7.1", "Message rejected by milter")
            return Milter.REJECT
        return Milter.ACCEPT


def main():
    portfile, Matrix.word = sys.argv[1], sys.argv[2]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    Milter.factory = Matrix
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    with open(portfile + ".tmp", "w", encoding="utf-8") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)
    Milter.runmilter("matrix", "inet:%d@127.0.0.1" % port, 10)


if __name__ == "__main__":
    main()
