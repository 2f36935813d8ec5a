#!/usr/bin/env python3
"""alerts_hook.py PORT FILE [FAILS] - a webhook receiver on loopback for alerts.sh: the
first FAILS POSTs (default 0) are answered 503 and their bodies appended to FILE.refused;
every other body is appended to FILE as one line and answered 200. It exits after 120 s at
the latest."""
import http.server
import sys
import threading


FAILS = [int(sys.argv[3]) if len(sys.argv) > 3 else 0]


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if 0 < n <= 65536 else b""
        refuse = FAILS[0] > 0
        FAILS[0] -= 1
        with open(sys.argv[2] + (".refused" if refuse else ""), "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(503 if refuse else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook)
threading.Timer(120, srv.shutdown).start()
srv.serve_forever()
