#!/usr/bin/env python3
"""gen_crafted - crafted SMTP captures for `mailpulse sniff`, each with the events it must give.

usage: gen_crafted.py OUT_DIR

Writes OUT_DIR/NAME.pcap and OUT_DIR/NAME.want (JSON: the event summaries "stage code
sender recipient queue_id tls" in order, the exit status, and stats that must be non-zero).
Packets are built with scapy (Debian python3-scapy); the pcap files are written here, record
by record, so that a record can claim more bytes than it holds (a snaplen cut) or the file
can end inside a record (a truncated capture).

Cases: one clean dialogue in every supported link type (Ethernet, 802.1Q VLAN, Linux
cooked v1 and v2, BSD loopback, raw IPv4, IPv6), then retransmitted segments, reordered
segments, a lost segment, a snaplen-cut packet, a truncated file, and an implicit-TLS
session on port 465.
"""
import json
import os
import struct
import sys

from scapy.all import IP, IPv6, TCP, Dot1Q, Ether  # Debian python3-scapy

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)

CLIENT, SERVER = ("192.0.2.10", 41000), ("198.51.100.25", 25)
CLIENT6, SERVER6 = ("2001:db8::10", 41000), ("2001:db8::25", 25)

# The dialogue: (from_client, payload). The client pipelines MAIL/RCPT/RCPT/DATA.
DIALOGUE = [
    (False, b"220 mx.example.net ESMTP\r\n"),
    (True, b"EHLO client.example.com\r\n"),
    (False, b"250-mx.example.net\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
    (True, b"MAIL FROM:<alice@example.com>\r\n"),
    (True, b"RCPT TO:<bob@example.net>\r\n"),
    (True, b"RCPT TO:<carol@example.net>\r\n"),
    (True, b"DATA\r\n"),
    (False, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <carol@example.net>: unknown\r\n"
            b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    (True, b"Subject: crafted\r\n\r\n" + b"line of the body, long enough to matter\r\n" * 30),
    (True, b"last line\r\n.\r\n"),
    (False, b"250 2.0.0 Ok: queued as 4ZCRAFT1\r\n"),
    (True, b"QUIT\r\n"),
    (False, b"221 2.0.0 Bye\r\n"),
]

WANT = [
    "connect 220 - - - false",
    "helo 250 - - - false",
    "mail 250 alice@example.com - - false",
    "rcpt 250 alice@example.com bob@example.net - false",
    "rcpt 550 alice@example.com carol@example.net - false",
    "data 250 alice@example.com - 4ZCRAFT1 false",
]


def segments(dialogue, v6=False, client=None, server=None):
    """TCP segments of a whole connection: handshake, the dialogue, FIN both ways.
    Each is [from_client, scapy packet]."""
    c, s = (client or (CLIENT6 if v6 else CLIENT)), (server or (SERVER6 if v6 else SERVER))
    ipc = (lambda: IPv6(src=c[0], dst=s[0])) if v6 else (lambda: IP(src=c[0], dst=s[0]))
    ips = (lambda: IPv6(src=s[0], dst=c[0])) if v6 else (lambda: IP(src=s[0], dst=c[0]))
    cseq, sseq = 1000, 0xFFFFFF00  # the server's sequence numbers wrap around zero
    out = [[True, ipc() / TCP(sport=c[1], dport=s[1], flags="S", seq=cseq)],
           [False, ips() / TCP(sport=s[1], dport=c[1], flags="SA", seq=sseq, ack=cseq + 1)]]
    cseq, sseq = cseq + 1, (sseq + 1) & 0xFFFFFFFF
    out.append([True, ipc() / TCP(sport=c[1], dport=s[1], flags="A", seq=cseq, ack=sseq)])
    for from_client, data in dialogue:
        if from_client:
            out.append([True, ipc() / TCP(sport=c[1], dport=s[1], flags="PA", seq=cseq,
                                          ack=sseq) / data])
            cseq = (cseq + len(data)) & 0xFFFFFFFF
            out.append([False, ips() / TCP(sport=s[1], dport=c[1], flags="A", seq=sseq,
                                           ack=cseq)])
        else:
            out.append([False, ips() / TCP(sport=s[1], dport=c[1], flags="PA", seq=sseq,
                                           ack=cseq) / data])
            sseq = (sseq + len(data)) & 0xFFFFFFFF
            out.append([True, ipc() / TCP(sport=c[1], dport=s[1], flags="A", seq=cseq,
                                          ack=sseq)])
    out.append([True, ipc() / TCP(sport=c[1], dport=s[1], flags="FA", seq=cseq, ack=sseq)])
    out.append([False, ips() / TCP(sport=s[1], dport=c[1], flags="FA", seq=sseq,
                                   ack=cseq + 1)])
    out.append([True, ipc() / TCP(sport=c[1], dport=s[1], flags="A", seq=cseq + 1,
                                  ack=sseq + 1)])
    return out


def link(kind, pkt, from_client):
    """The frame of an IP packet in a link type; returns (linktype, bytes)."""
    raw = bytes(pkt)
    v6 = IPv6 in pkt
    etype = 0x86DD if v6 else 0x0800
    if kind == "ether":
        return 1, bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt)
    if kind == "vlan":
        return 1, bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") /
                        Dot1Q(vlan=125) / pkt)
    if kind == "sll":
        hdr = struct.pack(">HHH8sH", 0 if from_client else 4, 1, 6, b"\x02" * 6 + b"\0\0",
                          etype)
        return 113, hdr + raw
    if kind == "sll2":
        hdr = struct.pack(">HHIHBB8s", etype, 0, 2, 1, 0 if from_client else 4, 6,
                          b"\x02" * 6 + b"\0\0")
        return 276, hdr + raw
    if kind == "null":
        return 0, struct.pack("<I", 30 if v6 else 2) + raw  # host order of the writer
    if kind == "raw":
        return 101, raw
    raise ValueError(kind)


def write_pcap(name, frames, linktype, snaplen=262144, cut=None, truncate_at=None):
    """frames: list of bytes. cut: {index: captured length}. truncate_at: file size."""
    data = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))
    t = 1764350000
    for i, fr in enumerate(frames):
        cap = fr[:cut[i]] if cut and i in cut else fr
        usec = i * 1000
        data += struct.pack("<IIII", t + usec // 1000000, usec % 1000000, len(cap), len(fr))
        data += cap
    if truncate_at is not None:
        data = data[:truncate_at]
    with open(os.path.join(OUT, name + ".pcap"), "wb") as f:
        f.write(data)


def case(name, segs, want, kind="ether", status=0, stats=(), cut=None, truncate_at=None,
         snaplen=262144):
    lt = None
    frames = []
    for from_client, pkt in segs:
        lt, fr = link(kind, pkt, from_client)
        frames.append(fr)
    write_pcap(name, frames, lt, snaplen=snaplen, cut=cut, truncate_at=truncate_at)
    with open(os.path.join(OUT, name + ".want"), "w") as f:
        json.dump({"events": want, "status": status, "stats": list(stats)}, f)
    return frames


def find(segs, needle):
    for i, (_, p) in enumerate(segs):
        if needle in bytes(p[TCP].payload):
            return i
    raise KeyError(needle)


# Every link type, IPv4 and IPv6.
for kind in ("ether", "vlan", "sll", "sll2", "null", "raw"):
    case("linktype-" + kind, segments(DIALOGUE), WANT, kind=kind)
case("ipv6", segments(DIALOGUE, v6=True), WANT)
case("ipv6-vlan", segments(DIALOGUE, v6=True), WANT, kind="vlan")

# Retransmission: the RCPT segment and the server's 250/354 reply are sent twice.
s = segments(DIALOGUE)
i, j = find(s, b"RCPT TO:<bob"), find(s, b"354 End")
s = s[:j + 1] + [s[j]] + s[j + 1:]
s = s[:i + 1] + [s[i]] + s[i + 1:]
case("retransmission", s, WANT, stats=["retransmitted bytes"])

# Reordering: the two RCPT segments arrive swapped (their ACKs dropped in between).
s = segments(DIALOGUE)
i, j = find(s, b"RCPT TO:<bob"), find(s, b"RCPT TO:<carol")
ri, rj = s[i], s[j]
s = [x for k, x in enumerate(s) if k not in (i, i + 1, j, j + 1)]
s[i:i] = [rj, ri]
case("reordering", s, WANT, stats=["out-of-order"])

# A lost segment: "RCPT TO:<bob...>" never reaches the capture; the server's ACK shows the
# hole. Its reply pairs with nothing, the dialogue resumes at the next command, and the
# data result is still reported.
s = segments(DIALOGUE)
i = find(s, b"RCPT TO:<bob")
del s[i]
case("lost-segment", s, [
    "connect 220 - - - false",
    "helo 250 - - - false",
    "mail 250 alice@example.com - - false",
    "data 250 alice@example.com - 4ZCRAFT1 false",
], stats=["gaps"])

# A snaplen cut inside the message content: the rest of that packet is a gap in the body,
# and the next reply is taken as the data result.
s = segments(DIALOGUE)
i = find(s, b"Subject: crafted")
frames = case("snaplen-cut", s, WANT, cut={i: 60 + 40}, snaplen=262144,
              stats=["snaplen-cut", "gaps"])

# A truncated file: it ends inside the record of the 354 reply. Everything before it is
# reported (commands waiting for replies without a code), and the exit status says so.
s = segments(DIALOGUE)
i = find(s, b"354 End")
size = 24 + sum(16 + len(link("ether", p, c)[1]) for c, p in s[:i]) + 16 + 30
case("truncated-file", s, [
    "connect 220 - - - false",
    "helo 250 - - - false",
    "mail -1 alice@example.com - - false",
    "rcpt -1 alice@example.com bob@example.net - false",
    "rcpt -1 alice@example.com carol@example.net - false",
], status=1, truncate_at=size)

# Implicit TLS on 465: a TLS session without a dialogue.
tls = [(True, b"\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03" + b"\x11" * 40),
       (False, b"\x16\x03\x03\x00\x31\x02\x00\x00\x2d\x03\x03" + b"\x22" * 40)]
case("implicit-tls", segments(tls, server=("198.51.100.25", 465)),
     ["connect -1 - - - true"])

print("wrote crafted captures to", OUT)
