#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fault-injecting HTTP proxy in front of the harness's kube-apiserver.

    fault-proxy.py UPSTREAM_URL CA_FILE PORT_FILE

Listens on 127.0.0.1 only (a free port, written to PORT_FILE), speaks plain
HTTP/1.1 with keep-alive to the client and HTTPS (verified with CA_FILE) to
UPSTREAM_URL, and forwards every request unchanged -- except when a fault is
queued. The test queues faults with `POST /__fault__` and a JSON list; each
forwarded request pops one:

  {"type": "status", "code": 503}                   answer 503 (a Status body)
  {"type": "status", "code": 429, "retry_after": 1} answer 429 with Retry-After
  {"type": "drop"}                                  close without any answer
  {"type": "delay", "seconds": 3}                   wait, then forward

`GET /__stats__` returns {"requests": N, "connections": M, "queued": K};
`POST /__reset__` empties the queue and zeroes the counters.

Why fake them: a real kube-apiserver gives 429 only under its max-in-flight
limit and 503 only while etcd or an aggregated API is down, neither of which a
test can switch on and off per request; and it never stalls an answer or drops
a connection on request. These are the failures the client must retry.
"""
import http.client
import http.server
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()
faults = []
stats = {"requests": 0, "connections": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with lock:
            stats["connections"] += 1

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        if not any(k.lower() == "content-type" for k, _ in headers):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def control(self, body):
        global faults
        if self.path == "/__fault__":
            with lock:
                faults.extend(json.loads(body or b"[]"))
            return self.reply(200, {"queued": len(faults)})
        if self.path == "/__reset__":
            with lock:
                faults = []
                stats["requests"] = stats["connections"] = 0
            return self.reply(200, {})
        with lock:
            return self.reply(200, dict(stats, queued=len(faults)))

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__"):
            return self.control(body)
        with lock:
            stats["requests"] += 1
            fault = faults.pop(0) if faults else None
        if fault and fault["type"] == "drop":
            self.close_connection = True
            return
        if fault and fault["type"] == "status":
            code = fault["code"]
            headers = [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault else []
            return self.reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "message": "fault-proxy: injected %d" % code,
                                     "reason": "ServiceUnavailable" if code == 503 else "TooManyRequests",
                                     "code": code}, headers)
        if fault and fault["type"] == "delay":
            time.sleep(fault["seconds"])
        self.forward(body)

    def forward(self, body):
        conn = http.client.HTTPSConnection(UPSTREAM.hostname, UPSTREAM.port, context=CTX, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            return self.reply(502, {"kind": "Status", "message": "fault-proxy: upstream: %s" % e, "code": 502})
        finally:
            conn.close()
        skip = ("transfer-encoding", "connection", "content-length", "keep-alive")
        self.reply(resp.status, data, [(k, v) for k, v in resp.getheaders() if k.lower() not in skip])

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out and closed: expected here


if __name__ == "__main__":
    UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
    CTX = ssl.create_default_context(cafile=sys.argv[2])
    server = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[3] + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(sys.argv[3] + ".tmp", sys.argv[3])
    server.serve_forever()
