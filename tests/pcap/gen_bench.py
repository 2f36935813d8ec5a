#!/usr/bin/env python3
"""gen_bench - a large SMTP capture for tests/bench/60_sniff.sh, by repeating corpus flows.

usage: gen_bench.py CORPORA_DIR OUT.pcap SESSIONS

Takes the clear-text SMTP flows of the Ethernet/IPv4 captures among the corpora (Zeek,
Arkime, Suricata), and writes them again and again, each copy with its own client address
and port (10.x.y.z:port) and later timestamps, until SESSIONS sessions are written. The
pcap records are copied and patched byte by byte (checksums are not fixed: neither mailpulse
nor tshark checks them by default), so this is fast and needs no scapy.
"""
import glob
import os
import struct
import sys

CORPORA, OUT, SESSIONS = sys.argv[1], sys.argv[2], int(sys.argv[3])
PORTS = {25, 587, 2525}


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return None
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        e = ">"
    else:
        return None  # pcapng: skipped
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        return None
    recs, off = [], 24
    while off + 16 <= len(data):
        sec, usec, cap, wire = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + cap]
        if len(frame) < cap:
            break
        recs.append((sec + usec / 1e6, frame, wire))
        off += 16 + cap
    return recs


def flows(recs):
    """The SMTP flows of a capture: {client (ip, port): [(offset_ip, client_is_src, rec)]}."""
    out = {}
    for ts, frame, wire in recs:
        off = 14
        et = struct.unpack(">H", frame[12:14])[0]
        while et == 0x8100 and len(frame) >= off + 4:
            et = struct.unpack(">H", frame[off + 2:off + 4])[0]
            off += 4
        if et != 0x0800 or len(frame) < off + 20 or frame[off + 9] != 6:
            continue
        ihl = (frame[off] & 15) * 4
        t = off + ihl
        if len(frame) < t + 20:
            continue
        sport, dport = struct.unpack(">HH", frame[t:t + 4])
        if dport in PORTS:
            key, src_is_client = (frame[off + 12:off + 16], sport), True
        elif sport in PORTS:
            key, src_is_client = (frame[off + 16:off + 20], dport), False
        else:
            continue
        out.setdefault(key, []).append((off, t, src_is_client, ts, frame, wire))
    return [v for v in out.values() if len(v) >= 8]


def main():
    paths = sorted(glob.glob(os.path.join(CORPORA, "zeek-smtp/Traces/smtp.pcap")) +
                   glob.glob(os.path.join(CORPORA, "arkime-smtp/tests/pcap/smtp-*.pcap")) +
                   glob.glob(os.path.join(CORPORA, "suricata-verify-smtp/*/*.pcap")))
    templates = []
    for p in paths:
        recs = read_pcap(p)
        if recs:
            templates += flows(recs)
    if not templates:
        sys.exit("no usable SMTP flows under %s" % CORPORA)
    t0 = 1764300000.0
    with open(OUT, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for k in range(SESSIONS):
            fl = templates[k % len(templates)]
            addr = bytes([10, (k >> 16) & 255, (k >> 8) & 255, k & 255])
            port = struct.pack(">H", 1024 + k % 60000)
            base = fl[0][3]
            for off, t, src_is_client, ts, frame, wire in fl:
                fr = bytearray(frame)
                if src_is_client:
                    fr[off + 12:off + 16] = addr
                    fr[t:t + 2] = port
                else:
                    fr[off + 16:off + 20] = addr
                    fr[t + 2:t + 4] = port
                when = t0 + k * 0.01 + (ts - base)
                f.write(struct.pack("<IIII", int(when), int((when % 1) * 1e6), len(fr), wire))
                f.write(fr)
    print("%d sessions from %d template flows" % (SESSIONS, len(templates)))


main()
