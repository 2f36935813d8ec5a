#!/usr/bin/env python3
"""peer.py - the far side of the real-MTA tests: a scripted SMTP server.

usage: peer.py PORTFILE RECORDFILE [ADDR=MODE ...] [--tls CERT KEY] [--reinject HOST:PORT]

Listens on one port the kernel picks, on 127.0.0.1 and 127.0.0.3 (both in mode "normal")
and on every ADDR given, and writes that port to PORTFILE once it accepts connections.

The listening address sets the connection's script (MODE):

    normal     the recipient decides (below); the reply to DATA is "250 2.0.0 Ok: id=PEERn"
    smarthost  as normal, but DATA is answered "250 2.0.0 Ok: queued as SMHn", as a relay
               or an SMTP tunnel says it: a real delivery, not a content filter's hop
    tls        as normal, and STARTTLS is offered (needs --tls CERT KEY)
    busy       "421 4.3.2 Service not available, closing channel" instead of a greeting
    hangup     the greeting, then the connection closed at the first command
    dataloss   the message is read to its end, then the connection closed without a reply
    filter     a content filter: the message is handed on, same envelope, to the MTA's
               re-injection listener (--reinject), and that listener's reply to DATA
               ("250 2.0.0 Ok: queued as QID2") is the answer, as amavis and its kin do

The local part of each RCPT TO decides the reply to it (and, for some, to DATA):

    ok         250 2.1.5 Ok
    full       450 4.2.2 Mailbox full, try again later
    quota      452 4.2.2 Mailbox full, try again later
    unknown    550 5.1.1 User unknown
    blocked    554 5.7.1 Message refused by policy
    tempfail   451 4.3.0 Temporary local problem, try again later (at every attempt)
    grey       450 4.7.1 Greylisted, try again later the first time, then 250
    throttle   421 4.7.0 Too many connections, slow down (and the connection closed) the first
               two times, then 250
    datatemp   250 at RCPT; the reply to DATA is 451 4.3.0 Temporary failure after DATA
    datareject 250 at RCPT; the reply to DATA is 554 5.7.1 Message content rejected
    drop       the connection is closed without a reply
    anything else (the MTA's own bounces to the sender)  250 2.1.5 Ok

Every answer is appended to RECORDFILE as one JSON object per line: {"addr": listener,
"rcpt": ..., "code": N, "dsn": "X.Y.Z", "stage": "rcpt"|"data"|"connect"|"greeting"} or
{"rcpt": ..., "code": null, "dropped": true}. The tests write their expectations down
beforehand; this record says what was really answered, for the diagnostics.
Only the standard library is used; SIGTERM ends it.
"""
import asyncio
import json
import os
import signal
import smtplib
import ssl
import sys

REPLIES = {
    "ok": (250, "2.1.5", "Ok"),
    "full": (450, "4.2.2", "Mailbox full, try again later"),
    "quota": (452, "4.2.2", "Mailbox full, try again later"),
    "unknown": (550, "5.1.1", "User unknown"),
    "blocked": (554, "5.7.1", "Message refused by policy"),
    "tempfail": (451, "4.3.0", "Temporary local problem, try again later"),
    "grey": (450, "4.7.1", "Greylisted, try again later"),
    "throttle": (421, "4.7.0", "Too many connections, slow down"),
}
DATA_REPLIES = {
    "datatemp": (451, "4.3.0", "Temporary failure after DATA"),
    "datareject": (554, "5.7.1", "Message content rejected"),
}
# How many times a recipient is refused before it is taken.
ONCE = {"grey": 1, "throttle": 2}
MODES = ("normal", "smarthost", "tls", "busy", "hangup", "dataloss", "filter")


def reinject(target, sender, rcpts, body):
    """Hand a message to the MTA's re-injection listener; its reply to DATA, or a 451."""
    host, port = target.rsplit(":", 1)
    try:
        s = smtplib.SMTP(host, int(port), local_hostname="filter.test", timeout=30)
        s.ehlo()
        s.mail(sender)
        for r in rcpts:
            s.rcpt(r)
        code, text = s.data(body)
        s.quit()
        return "%d %s" % (code, text.decode("utf-8", "replace"))
    except (OSError, smtplib.SMTPException) as e:
        return "451 4.3.0 Re-injection failed: %s" % str(e).replace("\r", " ").replace("\n", " ")


class Peer:
    def __init__(self, record, tls, target=None):
        self.record = record
        self.tls = tls
        self.target = target
        self.queued = 0
        self.seen = {}  # recipient -> times refused so far, for grey and throttle

    def note(self, obj):
        with open(self.record, "a", encoding="utf-8") as f:
            f.write(json.dumps(obj) + "\n")

    def handler(self, addr, mode):
        async def run(reader, writer):
            try:
                await self.session(addr, mode, reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            try:
                writer.close()
            except (ConnectionError, ssl.SSLError):
                pass

        return run

    async def session(self, addr, mode, reader, writer):
        def say(line):
            writer.write((line + "\r\n").encode())

        if mode == "busy":
            self.note({"addr": addr, "stage": "connect", "code": 421, "dsn": "4.3.2"})
            say("421 4.3.2 Service not available, closing channel")
            await writer.drain()
            return
        say("220 peer.test ESMTP test peer")
        await writer.drain()
        rcpts = []
        sender = ""
        data_reply = None
        while True:
            raw = await reader.readline()
            if not raw:
                return
            if mode == "hangup":
                self.note({"addr": addr, "stage": "greeting", "code": None, "dropped": True})
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "LHLO"):
                say("250-peer.test")
                if mode == "tls" and self.tls is not None:
                    say("250-STARTTLS")
                say("250-8BITMIME")
                say("250 SIZE 10485760")
            elif verb == "STAR" and mode == "tls" and self.tls is not None:
                say("220 2.0.0 Ready to start TLS")
                await writer.drain()
                await writer.start_tls(self.tls)
            elif verb == "HELO":
                say("250 peer.test")
            elif verb == "MAIL":
                rcpts, data_reply = [], None
                sender = line[line.find("<") + 1 : line.rfind(">")]
                say("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpt = line[line.find("<") + 1 : line.rfind(">")]
                local = rcpt.split("@", 1)[0].split("-", 1)[0].lower()
                if local == "drop":
                    self.note({"addr": addr, "rcpt": rcpt, "code": None, "dropped": True})
                    await writer.drain()
                    return
                code, dsn, text = REPLIES.get(local, REPLIES["ok"])
                key = rcpt.lower()
                if local in ONCE:
                    if self.seen.get(key, 0) >= ONCE[local]:
                        code, dsn, text = REPLIES["ok"]
                    else:
                        self.seen[key] = self.seen.get(key, 0) + 1
                self.note({"addr": addr, "rcpt": rcpt, "stage": "rcpt", "code": code, "dsn": dsn})
                say("%d %s %s" % (code, dsn, text))
                if code == 421:
                    await writer.drain()
                    return
                if code == 250:
                    rcpts.append(rcpt)
                    if local in DATA_REPLIES:
                        data_reply = DATA_REPLIES[local]
            elif verb == "DATA":
                if not rcpts:
                    say("554 5.5.1 No valid recipients")
                    await writer.drain()
                    continue
                say("354 End data with <CR><LF>.<CR><LF>")
                await writer.drain()
                lines = []
                while True:
                    body = await reader.readline()
                    if not body or body in (b".\r\n", b".\n"):
                        break
                    lines.append(body[1:] if body.startswith(b"..") else body)
                if mode == "dataloss":
                    for r in rcpts:
                        self.note({"addr": addr, "rcpt": r, "stage": "data", "code": None,
                                   "dropped": True})
                    return
                if mode == "filter" and self.target:
                    answer = await asyncio.to_thread(reinject, self.target, sender, rcpts,
                                                     b"".join(lines))
                    code, dsn = int(answer[:3]), answer[4:9]
                    say(answer)
                elif data_reply is not None:
                    code, dsn, text = data_reply
                    say("%d %s %s" % data_reply)
                else:
                    self.queued += 1
                    code, dsn = 250, "2.0.0"
                    if mode == "smarthost":
                        say("250 2.0.0 Ok: queued as SMH%06d" % self.queued)
                    else:
                        # Not "queued as": that form is the smarthost mode's.
                        say("250 2.0.0 Ok: id=PEER%06d" % self.queued)
                for r in rcpts:
                    self.note({"addr": addr, "rcpt": r, "stage": "data", "code": code,
                               "dsn": dsn})
                rcpts, data_reply = [], None
            elif verb == "RSET":
                rcpts, data_reply = [], None
                say("250 2.0.0 Ok")
            elif verb == "NOOP":
                say("250 2.0.0 Ok")
            elif verb == "QUIT":
                say("221 2.0.0 Bye")
                await writer.drain()
                return
            else:
                say("502 5.5.2 Command not implemented")
            await writer.drain()


async def main():
    portfile, record = sys.argv[1], sys.argv[2]
    listeners = [("127.0.0.1", "normal"), ("127.0.0.3", "normal")]
    tls = None
    target = None
    args = sys.argv[3:]
    while args:
        a = args.pop(0)
        if a == "--tls":
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(args.pop(0), args.pop(0))
            continue
        if a == "--reinject":
            target = args.pop(0)
            continue
        host, mode = a.split("=", 1)
        if mode not in MODES:
            sys.exit("peer.py: unknown mode %s" % mode)
        listeners.append((host, mode))
    peer = Peer(record, tls, target)
    servers = []
    port = 0
    for host, mode in listeners:
        s = await asyncio.start_server(peer.handler(host, mode), host, port)
        port = s.sockets[0].getsockname()[1]
        servers.append(s)
    with open(portfile + ".tmp", "w", encoding="utf-8") as f:
        f.write("%d\n" % port)
    os.rename(portfile + ".tmp", portfile)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
