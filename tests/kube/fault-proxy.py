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
`POST /__reset__` empties the queue, drops the echo rule and what it saw,
and zeroes the counters.

Echo mode, `POST /__echo__` with a rule (not a queue: it holds until reset):

  {"code": 422, "methods": ["PATCH", "POST"], "paths": ["regex", ...],
   "remember": true, "extra": ["text", ...], "form": "base64", "headers": true}

answers every matching request (method in methods, path matching one of
the regexes; none: every path) as an admission webhook that quotes too much
would: a Status whose message and cause hold the request body as it came,
and every value it knows in plain, base64, JSON-escaped (Python's ASCII
form and UTF-8 form) and Go-escaped (< > & as \\u003c...) text (only one of
these forms with "form": plain, base64, json, json-utf8, go). With
"remember", the data of every Secret in a request body is known from then
on (a webhook that keeps what it saw); "extra" adds values by hand, and
"headers" the bearer token of the request's Authorization header.
`GET /__echo__` returns {"echoed": N}.

Why fake them: a real kube-apiserver gives 429 only under its max-in-flight
limit and 503 only while etcd or an aggregated API is down, neither of which a
test can switch on and off per request; and it never stalls an answer or drops
a connection on request. These are the failures the client must retry. The
echo is what an admission webhook or a proxy may do, which the harness has
neither of (and the values a server would not quote are fed to it on purpose).
"""
import http.client
import http.server
import base64
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse

lock = threading.Lock()
faults = []
stats = {"requests": 0, "connections": 0}
echo_rule = None
echo_seen = []
echo_count = 0


def go_escape(v):
    """A string as Go's encoding/json writes it inside quotes."""
    out = json.dumps(v, ensure_ascii=False)[1:-1]
    return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def remember_secrets(body):
    try:
        obj = json.loads(body)
    except ValueError:
        return
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return
    values = [base64.b64decode(v).decode("utf-8", "replace") for v in (obj.get("data") or {}).values()]
    values += list((obj.get("stringData") or {}).values())
    for v in values:
        if v and v not in echo_seen:
            echo_seen.append(v)


def echo_matches(method, path):
    rule = echo_rule
    return (rule is not None and method in rule.get("methods", [method]) and
            (not rule.get("paths") or any(re.search(p, path) for p in rule["paths"])))


ECHO_FORMS = {
    "plain": lambda vs: " ".join(vs),
    "base64": lambda vs: " ".join(base64.b64encode(v.encode()).decode() for v in vs),
    "json": json.dumps,
    "json-utf8": lambda vs: json.dumps(vs, ensure_ascii=False),
    "go": lambda vs: " ".join(go_escape(v) for v in vs),
}


def echo_status(body, authorization):
    """The values first (a server cuts long messages, so do we), then the body."""
    values = echo_seen + echo_rule.get("extra", [])
    if echo_rule.get("headers") and authorization:
        values = values + [authorization.split(" ", 1)[-1]]
    forms = [echo_rule["form"]] if echo_rule.get("form") else list(ECHO_FORMS)
    parts = ['admission webhook "echo.fault-proxy" denied the request']
    if values:
        parts += ["%s: %s" % (f, ECHO_FORMS[f](values)) for f in forms]
    parts.append("body: " + body.decode("utf-8", "replace"))
    msg = "; ".join(parts)
    code = echo_rule.get("code", 422)
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg, "reason": "Invalid",
                  "details": {"causes": [{"reason": "FieldValueForbidden", "message": msg, "field": "metadata"}]},
                  "code": code}


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
        global faults, echo_rule, echo_seen, echo_count
        if self.path == "/__echo__" and self.command == "POST":
            with lock:
                echo_rule = json.loads(body or b"{}")
            return self.reply(200, {})
        if self.path == "/__echo__":
            with lock:
                return self.reply(200, {"echoed": echo_count})
        if self.path == "/__fault__":
            with lock:
                faults.extend(json.loads(body or b"[]"))
            return self.reply(200, {"queued": len(faults)})
        if self.path == "/__reset__":
            with lock:
                faults = []
                echo_rule, echo_seen, echo_count = None, [], 0
                stats["requests"] = stats["connections"] = 0
            return self.reply(200, {})
        with lock:
            return self.reply(200, dict(stats, queued=len(faults)))

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__"):
            return self.control(body)
        global echo_count
        with lock:
            stats["requests"] += 1
            if echo_rule is not None and echo_rule.get("remember"):
                remember_secrets(body)
            echoed = echo_status(body, self.headers.get("Authorization")) \
                if echo_matches(self.command, self.path) else None
            if echoed:
                echo_count += 1
        if echoed:
            return self.reply(echoed[0], echoed[1])
        with lock:
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
