#!/usr/bin/python3
"""matrix_milter.py - the real-MTA matrix's milter: rejects the messages its scenario names.

usage: matrix_milter.py PORTFILE REJECTWORD HOLDWORD

A milter (Debian's python3-milter, libmilter's protocol) listening on 127.0.0.1 at a port
it picks and writes to PORTFILE once bound. At end of message it rejects with "550 5.7.1
Message rejected by milter" any message whose Subject: holds REJECTWORD, quarantines ("held
by the matrix": Sendmail's quarantine, Postfix's hold queue) and accepts one whose Subject:
holds HOLDWORD, and accepts every other. Postfix (smtpd_milters) and Sendmail (INPUT_MAIL_FILTER) both talk to it. SIGTERM
ends it.
"""
import os
import signal
import socket
import sys

import Milter


class Matrix(Milter.Base):
    """One connection's state: what its message's subject asks for."""

    reject_word = ""
    hold_word = ""

    def __init__(self):
        self.reject = self.hold = False

    def envfrom(self, mailfrom, *params):
        self.reject = self.hold = False
        return Milter.CONTINUE

    def header(self, name, value):
        if name.lower() == "subject":
            self.reject = Matrix.reject_word in value
            self.hold = Matrix.hold_word in value
        return Milter.CONTINUE

    def eom(self):
        if self.reject:
            self.setreply("550", "5.7.1", "Message rejected by milter")
            return Milter.REJECT
        if self.hold:
            self.quarantine("held by the matrix")
        return Milter.ACCEPT


def main():
    portfile, Matrix.reject_word, Matrix.hold_word = sys.argv[1], sys.argv[2], sys.argv[3]
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
