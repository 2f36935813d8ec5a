#!/usr/bin/env python3
"""sniff_peer - a small SMTP server for the live capture test (sniff_live.sh).

usage: sniff_peer.py PORT

Listens on 127.0.0.1:PORT, answers EHLO/HELO, MAIL, RCPT (550 5.1.1 for local parts that
start with "unknown"), DATA (250 ... queued as LIVEn), RSET, NOOP, QUIT; pipelined commands
are answered in order. Serves until killed.
"""
import socket
import sys
import threading

PORT = int(sys.argv[1])
counter = [0]
lock = threading.Lock()


def serve(conn):
    f = conn.makefile("rb")
    conn.sendall(b"220 peer.test ESMTP sniff-peer\r\n")
    while True:
        line = f.readline()
        if not line:
            break
        cmd = line.strip().decode("latin-1")
        verb = cmd.split(" ", 1)[0].upper()
        if verb in ("EHLO", "HELO"):
            conn.sendall(b"250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elif verb == "MAIL":
            conn.sendall(b"250 2.1.0 Ok\r\n")
        elif verb == "RCPT":
            if "<unknown" in cmd.lower():
                conn.sendall(b"550 5.1.1 <%s>: Recipient address rejected\r\n"
                             % cmd.split("<", 1)[1].split(">", 1)[0].encode())
            else:
                conn.sendall(b"250 2.1.5 Ok\r\n")
        elif verb == "DATA":
            conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            while True:
                body = f.readline()
                if not body or body in (b".\r\n", b".\n"):
                    break
            with lock:
                counter[0] += 1
                n = counter[0]
            conn.sendall(b"250 2.0.0 Ok: queued as LIVE%d\r\n" % n)
        elif verb in ("RSET", "NOOP"):
            conn.sendall(b"250 2.0.0 Ok\r\n")
        elif verb == "QUIT":
            conn.sendall(b"221 2.0.0 Bye\r\n")
            break
        else:
            conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")
    conn.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", PORT))
srv.listen(16)
print("listening on %d" % PORT, flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
