#!/usr/bin/env python3
"""mkseeds_smtp - seeds for tests/fuzz/fuzz_smtp.c from the SMTP captures of the corpora.

usage: mkseeds_smtp.py CORPORA_DIR OUT_DIR

For each capture, the payloads of its first SMTP flow, in capture order, become records of
the fuzz input format (see fuzz_smtp.c): once fed straight to the dialogue parser (mode 0)
and once through TCP reassembly (mode 2), the first 4 KB of each. Needs python3-scapy.
"""
import glob
import gzip
import hashlib
import os
import sys
import tempfile

from scapy.all import IP, IPv6, TCP, PcapReader  # noqa: E402  (Debian python3-scapy)

PORTS = {25, 465, 587, 2525}
LIMIT = 4096


def records(path):
    flow, out = None, bytearray()
    try:
        for pkt in PcapReader(path):
            if TCP not in pkt:
                continue
            ip = pkt[IP] if IP in pkt else pkt[IPv6] if IPv6 in pkt else None
            if ip is None:
                continue
            tcp = pkt[TCP]
            if tcp.dport in PORTS:
                key, client = (ip.src, tcp.sport, ip.dst, tcp.dport), True
            elif tcp.sport in PORTS:
                key, client = (ip.dst, tcp.dport, ip.src, tcp.sport), False
            else:
                continue
            payload = bytes(tcp.payload)
            if not payload:
                continue
            if flow is None:
                flow = key
            if key != flow:
                continue
            for i in range(0, len(payload), 127):
                piece = payload[i:i + 127]
                rec = bytes([(0x80 if client else 0) | (len(piece) - 1)]) + piece
                if len(out) + len(rec) > LIMIT:
                    return bytes(out)
                out += rec
    except Exception:  # a damaged capture: keep what was read
        pass
    return bytes(out)


def main():
    corpora, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for pat in ("**/*.pcap", "**/*.pcapng", "**/*.pcap.gz"):
        paths += glob.glob(os.path.join(corpora, pat), recursive=True)
    n = 0
    for path in sorted(paths):
        src = path
        if path.endswith(".gz"):
            tmp = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False)
            with gzip.open(path) as f:
                tmp.write(f.read())
            tmp.close()
            src = tmp.name
        rec = records(src)
        if src != path:
            os.unlink(src)
        if not rec:
            continue
        for mode in (0, 2):
            seed = bytes([mode | (1 if b"\x16\x03" == rec[1:3] else 0)]) + rec
            name = hashlib.sha1(seed).hexdigest()[:16]
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(seed)
            n += 1
    print("%d seeds" % n)


main()
