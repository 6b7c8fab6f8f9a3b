#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A proxy that stalls one PATCH, so a test can SIGKILL the agent between
two object applies.

    slow-proxy.py UPSTREAM_URL CA_FILE CTRL_DIR NTH MODE

Listens on 127.0.0.1 (a free port, written to CTRL_DIR/port), plain HTTP to
the client and HTTPS (verified with CA_FILE) to UPSTREAM_URL. Every request is
forwarded, except the NTH PATCH that is not a dry-run:
  MODE "before": it is held and never forwarded (the object is not applied);
  MODE "after":  it is forwarded, and the answer is held (the object is
                 applied, but the agent never learns it).
While holding, CTRL_DIR/held exists; the proxy holds until CTRL_DIR/release
appears (at most 60 s), then closes the connection.
"""
import http.client
import http.server
import os
import ssl
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()
patches = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def hold(self):
        open(os.path.join(CTRL, "held"), "w").close()
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists(os.path.join(CTRL, "release")):
            time.sleep(0.05)
        self.close_connection = True

    def handle_any(self):
        global patches
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        stall = False
        if self.command == "PATCH" and "dryRun" not in self.path:
            with lock:
                patches += 1
                stall = patches == NTH
        if stall and MODE == "before":
            return self.hold()
        status, headers, data = self.forward(body)
        if stall:
            return self.hold()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self, body):
        conn = http.client.HTTPSConnection(UPSTREAM.hostname, UPSTREAM.port, context=CTX, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        skip = ("transfer-encoding", "connection", "content-length", "keep-alive")
        return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in skip], data

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the agent was killed mid-request: expected here


if __name__ == "__main__":
    UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
    CTX = ssl.create_default_context(cafile=sys.argv[2])
    CTRL, NTH, MODE = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    server = Server(("127.0.0.1", 0), Handler)
    with open(os.path.join(CTRL, "port.tmp"), "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(os.path.join(CTRL, "port.tmp"), os.path.join(CTRL, "port"))
    server.serve_forever()
