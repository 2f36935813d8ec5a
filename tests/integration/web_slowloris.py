#!/usr/bin/env python3
"""web_slowloris.py - slow clients from several loopback addresses against `mailpulse serve`,
and a further address timing /healthz and the dashboard meanwhile.

usage: web_slowloris.py PORT SECONDS ADDRS PER_ADDR SLOW_READ_ADDR PROBE_ADDR EXPORT_PATH PAGE_PATH

Each of ADDRS (comma-separated, e.g. 127.0.0.2,127.0.0.3) opens PER_ADDR connections bound to
it and sends a request head one header line a second, never finishing it; a connection the
server closes is opened again at the next second (as slowhttptest does). held_peak counts the
connections that lived through a second; refused, those closed before (a connection limit);
cut_by_deadline, those closed after five lines or more. SLOW_READ_ADDR asks for EXPORT_PATH and
reads 256 bytes every half second through a small receive buffer. After two seconds of that,
PROBE_ADDR gets /healthz and PAGE_PATH once a second on a new connection each, with a 2 s
limit. Everything stops after SECONDS. Three probes before the attack and three after it
("quiet") give what the same requests take without it. PAGE_PATH's "{s}" is replaced by a
number from 00 to 59 that changes with every probe, so that the server's reply cache does not
answer a probe from the one before. Prints one JSON object with what it saw.
"""
import json
import select
import socket
import sys
import time


def slow_socket(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((addr, 0))
    try:
        s.connect((addr_server, port))
    except BlockingIOError:
        pass
    return s


def probe(addr, port, path, limit):
    """GET path from addr; (status, milliseconds) or (None, ms) when it failed or timed out."""
    start = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(limit)
    data = b""
    try:
        s.bind((addr, 0))
        s.connect((addr_server, port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n" % path).encode())
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if time.monotonic() - start > limit:
                break
    except OSError:
        pass
    finally:
        s.close()
    ms = (time.monotonic() - start) * 1000
    if data.startswith(b"HTTP/1.1 "):
        return int(data[9:12]), ms
    return None, ms


addr_server = "127.0.0.1"


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    addrs = sys.argv[3].split(",")
    per_addr = int(sys.argv[4])
    slow_addr, probe_addr, export_path, page_path = sys.argv[5:9]

    pages = 0

    def page():
        """PAGE_PATH with its next number: a request the reply cache has not seen."""
        nonlocal pages
        pages += 1
        return page_path.replace("{s}", "%02d" % (pages % 60))

    def quiet_probes():
        """Three probes of each path with no attack running: what this machine gives now."""
        got = []
        for _ in range(3):
            got.append({"healthz_ms": round(probe(probe_addr, port, "/healthz", 2.0)[1], 1),
                        "page_ms": round(probe(probe_addr, port, page(), 2.0)[1], 1)})
        return got

    quiet = quiet_probes()
    t0 = time.monotonic()
    end = t0 + seconds

    # per slot: [socket or None when the server closed it, addr, header lines sent]
    slow = []
    for a in addrs:
        for _ in range(per_addr):
            slow.append([slow_socket(a, port), a, 0])
    opened = len(slow)
    refused = 0  # closed before a second line: a connection limit
    cut = 0  # closed after five lines or more: the request-head deadline
    peak = 0

    def closed(st):
        nonlocal refused, cut
        st[0].close()
        st[0] = None
        if st[2] >= 5:
            cut += 1
        else:
            refused += 1

    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.bind((slow_addr, 0))
    reader.settimeout(2)
    reader.connect((addr_server, port))
    reader.sendall(("GET %s HTTP/1.1\r\nHost: slow\r\n\r\n" % export_path).encode())
    reader.setblocking(False)
    read_bytes = 0
    reader_alive = True
    next_read = time.monotonic()

    probes = []
    next_line = time.monotonic()
    next_probe = t0 + 2.0
    n = 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_line:
            # once a second: one more header line on every slow connection, and the ones
            # the server closed opened again
            held = 0
            for st in slow:
                if st[0] is None:
                    st[0] = slow_socket(st[1], port)
                    st[2] = 0
                    opened += 1
                try:
                    if st[2] == 0:
                        st[0].send(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
                    else:
                        st[0].send(b"X-Slow-%d: %d\r\n" % (st[2], n))
                    st[2] += 1
                except BlockingIOError:
                    pass  # still connecting, or the buffer is full: still held
                except OSError:
                    closed(st)
                    continue
                if st[2] >= 2:
                    held += 1
            peak = max(peak, held)
            n += 1
            next_line = now + 1.0
        # the server's side: an error reply, or the end of the stream
        rl = [st[0] for st in slow if st[0] is not None]
        try:
            ready, _, _ = select.select(rl, [], [], 0)
        except (OSError, ValueError):
            ready = []
        ready = set(ready)
        for st in slow:
            if st[0] is not None and st[0] in ready:
                try:
                    if st[0].recv(4096) == b"":
                        closed(st)
                except BlockingIOError:
                    pass
                except OSError:
                    closed(st)
        if reader_alive and now >= next_read:
            try:
                chunk = reader.recv(256)
                if chunk == b"":
                    reader_alive = False
                read_bytes += len(chunk)
            except BlockingIOError:
                pass
            except OSError:
                reader_alive = False
            next_read = now + 0.5
        if now >= next_probe:
            hs, hms = probe(probe_addr, port, "/healthz", 2.0)
            ps, pms = probe(probe_addr, port, page(), 2.0)
            probes.append({"t": round(now - t0, 1), "healthz": hs, "healthz_ms": round(hms, 1),
                           "page": ps, "page_ms": round(pms, 1)})
            next_probe = time.monotonic() + 1.0
        time.sleep(0.02)

    for st in slow:
        if st[0] is not None:
            st[0].close()
    reader.close()
    time.sleep(0.5)  # the server closes what the attack left
    quiet += quiet_probes()
    print(json.dumps({"quiet": quiet, "slow_opened": opened, "slow_refused": refused, "slow_cut_by_deadline": cut,
                      "slow_held_peak": peak,
                      "slow_read_bytes": read_bytes, "slow_read_alive": reader_alive,
                      "probes": probes}))


if __name__ == "__main__":
    main()
