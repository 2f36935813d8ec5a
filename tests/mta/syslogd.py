#!/usr/bin/env python3
"""syslogd.py - a minimal syslog receiver for the real-MTA tests.

usage: syslogd.py SOCKET LOGFILE HOSTNAME

Binds a datagram socket at SOCKET (the test's own /dev/log inside a private mount
namespace) and appends each message to LOGFILE as a traditional syslog file line,
"Mmm dd hh:mm:ss HOSTNAME prog[pid]: text": the local syslog(3) protocol carries no host, so
the receiver adds it, as rsyslog does. The <PRI> prefix is dropped. SIGTERM ends it.
"""
import os
import re
import signal
import socket
import sys

sock_path, log_path, host = sys.argv[1], sys.argv[2], sys.argv[3]
if os.path.exists(sock_path):
    os.unlink(sock_path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
os.chmod(sock_path, 0o666)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
pri = re.compile(rb"^<\d{1,3}>")
with open(log_path, "ab", buffering=0) as out:
    open(sock_path + ".ready", "w").close()
    while True:
        data = s.recv(65536).rstrip(b"\x00\n")
        data = pri.sub(b"", data)
        if len(data) > 16 and data[15:16] == b" ":
            data = data[:16] + host.encode() + b" " + data[16:]
        out.write(data + b"\n")
