#!/usr/bin/env python3
"""alerts_hook.py PORT FILE - a webhook receiver on loopback for alerts.sh: each POST body
is appended to FILE as one line and answered 200; it exits after 120 s at the latest."""
import http.server
import sys
import threading


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if 0 < n <= 65536 else b""
        with open(sys.argv[2], "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook)
threading.Timer(120, srv.shutdown).start()
srv.serve_forever()
