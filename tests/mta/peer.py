#!/usr/bin/env python3
"""peer.py - the far side of the real-MTA tests: an SMTP server that answers per recipient.

usage: peer.py PORTFILE RECORDFILE

Listens on 127.0.0.1 and 127.0.0.3, on one port the kernel picks, and writes that port to
PORTFILE once it accepts connections. The local part of each RCPT TO decides the reply:

    ok        250 2.1.5 Ok
    full      450 4.2.2 Mailbox full, try again later
    unknown   550 5.1.1 User unknown
    blocked   554 5.7.1 Message refused by policy
    drop      the connection is closed without a reply
    anything else (the MTA's own bounces to the sender)  250 2.1.5 Ok

Every answer is appended to RECORDFILE as one JSON object per line: {"rcpt": ..., "code": N,
"dsn": "X.Y.Z"} or {"rcpt": ..., "code": null, "dropped": true}. The test compares what the
MTA logged against this record, so the expectation is what this peer really said.
Only the standard library is used; SIGTERM ends it.
"""
import asyncio
import os
import json
import signal
import sys

REPLIES = {
    "ok": (250, "2.1.5", "Ok"),
    "full": (450, "4.2.2", "Mailbox full, try again later"),
    "unknown": (550, "5.1.1", "User unknown"),
    "blocked": (554, "5.7.1", "Message refused by policy"),
}


class Peer:
    def __init__(self, record):
        self.record = record
        self.queued = 0

    def note(self, obj):
        with open(self.record, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")

    async def session(self, reader, writer):
        def say(line):
            writer.write((line + "\r\n").encode())

        say("220 peer.test ESMTP test peer")
        accepted = 0
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb in ("EHLO", "LHLO"):
                    say("250-peer.test")
                    say("250-8BITMIME")
                    say("250 SIZE 10485760")
                elif verb == "HELO":
                    say("250 peer.test")
                elif verb == "MAIL":
                    accepted = 0
                    say("250 2.1.0 Ok")
                elif verb == "RCPT":
                    addr = line[line.find("<") + 1 : line.rfind(">")]
                    local = addr.split("@", 1)[0].lower()
                    if local == "drop":
                        self.note({"rcpt": addr, "code": None, "dropped": True})
                        await writer.drain()
                        writer.close()
                        return
                    code, dsn, text = REPLIES.get(local, REPLIES["ok"])
                    self.note({"rcpt": addr, "code": code, "dsn": dsn})
                    if code == 250:
                        accepted += 1
                    say("%d %s %s" % (code, dsn, text))
                elif verb == "DATA":
                    if accepted == 0:
                        say("554 5.5.1 No valid recipients")
                        continue
                    say("354 End data with <CR><LF>.<CR><LF>")
                    await writer.drain()
                    while True:
                        body = await reader.readline()
                        if not body or body in (b".\r\n", b".\n"):
                            break
                    self.queued += 1
                    # Not "queued as": mailpulse reads a Postfix delivery to a loopback relay
                    # that answers so as a content filter's hop (amavis at 127.0.0.1:10024).
                    say("250 2.0.0 Ok: id=PEER%06d" % self.queued)
                elif verb == "RSET":
                    accepted = 0
                    say("250 2.0.0 Ok")
                elif verb == "NOOP":
                    say("250 2.0.0 Ok")
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    await writer.drain()
                    break
                else:
                    say("502 5.5.2 Command not implemented")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        writer.close()


async def main():
    portfile, record = sys.argv[1], sys.argv[2]
    peer = Peer(record)
    server = await asyncio.start_server(peer.session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # A second address, same port: an MTA keeps a host's failure for the rest of a queue run,
    # so the dropped connection is routed here, apart from the other recipients.
    second = await asyncio.start_server(peer.session, "127.0.0.3", port)
    with open(portfile + ".tmp", "w", encoding="utf-8") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server, second:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
