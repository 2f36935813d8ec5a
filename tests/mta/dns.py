#!/usr/bin/env python3
"""dns.py - a loopback DNS server that fails on purpose, for the real-MTA matrix.

usage: dns.py ADDR READYFILE

Answers every UDP query on ADDR port 53: a name under nxdomain.test with NXDOMAIN (RCODE 3),
under servfail.test with SERVFAIL (RCODE 2), anything else with REFUSED (RCODE 5). The MTAs'
resolv.conf names ADDR in their private mount namespaces. Writes READYFILE once bound;
SIGTERM ends it. Only the standard library is used.
"""
import signal
import socket
import sys


def qname(msg):
    """The first question's name, lower case, from a DNS query."""
    labels, i = [], 12
    while i < len(msg) and msg[i] != 0:
        n = msg[i]
        labels.append(msg[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels).lower(), i + 5  # past the root label, QTYPE and QCLASS


def main():
    addr, ready = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(ready, "w", encoding="utf-8") as f:
        f.write("ready\n")
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        name, end = qname(msg)
        if name == "nxdomain.test" or name.endswith(".nxdomain.test"):
            rcode = 3
        elif name == "servfail.test" or name.endswith(".servfail.test"):
            rcode = 2
        else:
            rcode = 5
        # The id, QR + the query's opcode and RD, RA, rcode; one question, no answers.
        flags = 0x8000 | (msg[2] & 0x79) << 8 | 0x80 | rcode
        s.sendto(msg[:2] + flags.to_bytes(2, "big") + b"\x00\x01\x00\x00\x00\x00\x00\x00"
                 + msg[12:end], peer)


if __name__ == "__main__":
    main()
