#!/usr/bin/env python3
# probe.py - what a well-behaved client sees during an attack: GET each path in turn from
# its own loopback source address, every INTERVAL seconds for SECONDS, each with a 5 s
# limit, and print "N ok/failed, p50 and max latency in ms".
# usage: probe.py SRC_ADDR PORT SECONDS INTERVAL PATH...
import socket
import sys
import time

src, port, seconds, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
paths = sys.argv[5:]
lat, failed = [], 0
end = time.time() + seconds
i = 0
while time.time() < end:
    path = paths[i % len(paths)]
    i += 1
    t0 = time.time()
    try:
        s = socket.socket()
        s.settimeout(5)
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        if data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200"):
            lat.append((time.time() - t0) * 1000)
        else:
            failed += 1
    except OSError:
        failed += 1
    time.sleep(max(0.0, interval - (time.time() - t0)))
lat.sort()
p50 = lat[len(lat) // 2] if lat else 0
mx = lat[-1] if lat else 0
print("%d ok, %d failed, p50 %.0f ms, max %.0f ms" % (len(lat), failed, p50, mx))
