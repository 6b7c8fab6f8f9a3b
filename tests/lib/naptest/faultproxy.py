#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The tests' one proxy, on loopback only, with the fault models as options.

As a program (the C tests run it so):

    faultproxy.py http --upstream URL --ca FILE --port-file FILE [--log FILE]
                       [--delay S] [--write-delay S] [--answer-delay S]
    faultproxy.py connect --port-file FILE --log FILE     an HTTP CONNECT proxy
    faultproxy.py socks5  --port-file FILE --log FILE     a SOCKS5 proxy (no auth)
    faultproxy.py forward --target HOST:PORT --port-file FILE --log FILE
                                                         a TCP forwarder on [::1]

In a Python test's own process (tests/lib on PYTHONPATH):

    from naptest.faultproxy import FaultProxy
    p = FaultProxy().start()   # upstream and CA from KUBE_API_URL, KUBE_CA_FILE
    p.write_delay = 4.0; p.queue({"type": "drop"}); p.requests; p.stop()

Each listens on a free port (PORT_FILE is written once it listens; or a
port given to FaultProxy, e.g. one a kubeconfig names already).

Mode http: plain HTTP/1.1 with keep-alive to the client, HTTPS (verified
with the CA) to the upstream, every request forwarded unchanged and
recorded -- (method, path, body, time.monotonic()) in `requests`, a JSON
line {"method", "path", "fault"} in the log file -- except for these faults:

  standing (0: off): `delay` holds every request before forwarding it (a
    slow server); `write_delay` holds every write before forwarding it;
    `answer_delay` forwards a write at once and holds its answer (the write
    is done, the client does not learn it in time); `hold` (True: on) holds
    every request no queued fault takes, as {"type": "hold"} would: a
    server that answers nothing (release() frees those held; turn it off
    first, or the next ones are held again);
  queued, one per request (`queue()`, or `POST /__fault__` with a JSON
    list): the first queued fault whose filter matches the request is
    taken. Filter keys, all optional: "methods" (a list), "path" and
    "not_path" (regular expressions), "skip" (let that many matching
    requests through first). Faults:
      {"type": "status", "code": 503}                   answer 503 (a Status)
      {"type": "status", "code": 429, "retry_after": 1} ... with Retry-After
      {"type": "drop"}                                  close, no answer
      {"type": "delay", "seconds": 3}                   wait, then forward
      {"type": "delay", "seconds": 3, "when": "after"}  forward, wait, answer
      {"type": "hold"}                                  never forwarded;
      {"type": "hold", "when": "after"}                 or forwarded with the
          answer withheld: either way held until release() (`POST
          /__release__`, at most 60 s, or "limit" seconds), then the
          connection is closed;
      {"type": "hold", "then": "forward"}               held until release(),
          then forwarded and answered (a server that answers when told);
    `holding` is how many requests are held now with their client still
    waiting (one whose client gave up and closed its connection stays held
    but is no longer counted), `held_at_once` the most that were at the
    same moment, both since the last reset: requests a client sends at
    once are all held together, one it sends only after the answer to
    another never is (a fact, where timing their answers would only
    suggest it);
  echo (`echo()`, `POST /__echo__` with a rule; it holds until reset):
      {"code": 422, "methods": ["PATCH"], "paths": ["regex", ...],
       "remember": true, "extra": ["text", ...], "form": "base64",
       "headers": true}
    answers every matching request as an admission webhook that quotes too
    much would: a Status whose message and cause hold the request body as
    it came, and every value it knows in plain, base64, JSON-escaped
    (Python's ASCII form and UTF-8 form) and Go-escaped (< > & as
    \\u003c...) text (only one of these forms with "form": plain, base64,
    json, json-utf8, go). With "remember", the data of every Secret in a
    request body is known from then on; "extra" adds values by hand, and
    "headers" the bearer token of the request's Authorization header.

A response without a length (a watch: `watch=1`, chunked) is streamed to
the client as it comes, never buffered. `GET /__stats__` returns
{"requests", "connections", "queued", "held", "holding", "held_at_once",
"echoed"}; `POST /__reset__` empties the queue, drops the echo rule and
what it saw, and zeroes the counters (a request held at that moment stays
held until released, no longer counted). stop() waits for the writes in
flight (a held one reaches the server after its client left), not for
reads: a watch lasts until the server ends it.

Modes connect, socks5, forward: a JSON line per connection in the log:
{"mode", "target"} for the proxies (the host:port the client asked for),
{"mode", "sni"} for the forwarder (the server name of the TLS ClientHello
it passed on, read from the bytes, not terminated: the client talks TLS
with the real server). They connect only to loopback targets.

Why written for the tests: a real kube-apiserver gives 429 only under its
max-in-flight limit and 503 only while etcd or an aggregated API is down,
neither of which a test can switch on and off per request; it never stalls
an answer, holds a write or drops a connection on request; the echo is what
an admission webhook or a proxy may do, which the harness has neither of;
and no off-the-shelf proxy reports what its client asked for in a form a
test can read. Python standard library only, no import of the rest of
naptest, so that it runs as a program by its path.
"""
import argparse
import base64
import collections
import http.client
import http.server
import ipaddress
import json
import os
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
HOP_HEADERS = ("transfer-encoding", "connection", "content-length", "keep-alive")
HOLD_LIMIT = 60.0

Request = collections.namedtuple("Request", "method path body time")


class JsonLog:
    """Entries kept in memory and, with a path, appended as JSON lines."""

    def __init__(self, path=None):
        self.path = path
        self.entries = []
        self.lock = threading.Lock()

    def add(self, entry):
        with self.lock:
            self.entries.append(entry)
            if self.path:
                with open(self.path, "a") as f:
                    f.write(json.dumps(entry) + "\n")


def status_body(code, message, reason=None):
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason or "InternalError", "code": code}


# ---- the echoing webhook ------------------------------------------------------------

def go_escape(v):
    """A string as Go's encoding/json writes it inside quotes."""
    out = json.dumps(v, ensure_ascii=False)[1:-1]
    return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


ECHO_FORMS = {
    "plain": lambda vs: " ".join(vs),
    "base64": lambda vs: " ".join(base64.b64encode(v.encode()).decode() for v in vs),
    "json": json.dumps,
    "json-utf8": lambda vs: json.dumps(vs, ensure_ascii=False),
    "go": lambda vs: " ".join(go_escape(v) for v in vs),
}


def secret_values(body):
    """The values of a Secret in a request body (none for anything else)."""
    try:
        obj = json.loads(body)
    except ValueError:
        return []
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return []
    values = [base64.b64decode(v).decode("utf-8", "replace") for v in (obj.get("data") or {}).values()]
    return values + list((obj.get("stringData") or {}).values())


def echo_status(rule, seen, body, authorization):
    """The values first (a server cuts long messages, so do we), then the body."""
    values = seen + rule.get("extra", [])
    if rule.get("headers") and authorization:
        values = values + [authorization.split(" ", 1)[-1]]
    forms = [rule["form"]] if rule.get("form") else list(ECHO_FORMS)
    parts = ['admission webhook "echo.fault-proxy" denied the request']
    if values:
        parts += ["%s: %s" % (f, ECHO_FORMS[f](values)) for f in forms]
    parts.append("body: " + body.decode("utf-8", "replace"))
    msg = "; ".join(parts)
    code = rule.get("code", 422)
    st = status_body(code, msg, "Invalid")
    st["details"] = {"causes": [{"reason": "FieldValueForbidden", "message": msg, "field": "metadata"}]}
    return code, st


def client_gone(sock):
    """Whether the client closed its connection (it sends nothing more
    while it waits for an answer: HTTP/1.1 without pipelining)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def matches(rule, method, path, paths_key="path"):
    if rule.get("methods") and method not in rule["methods"]:
        return False
    if rule.get("not_path") and re.search(rule["not_path"], path):
        return False
    want = rule.get(paths_key)
    if isinstance(want, list):
        return not want or any(re.search(p, path) for p in want)
    return not want or re.search(want, path) is not None


# ---- mode http -----------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.proxy.opened(self.connection)

    def finish(self):
        self.server.proxy.closed(self.connection)
        super().finish()

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

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__"):
            return self.reply(200, self.server.proxy.control(self.command, self.path, body))
        self.server.proxy.serve(self, body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out, was killed or left a watch: expected here


class FaultProxy:
    """Mode http, in the calling process (see the module's docstring)."""

    def __init__(self, upstream=None, cafile=None, port=0, log=None):
        self.upstream = urllib.parse.urlsplit(upstream or os.environ["KUBE_API_URL"])
        self.ctx = ssl.create_default_context(cafile=cafile or os.environ["KUBE_CA_FILE"])
        self.port = port
        self.log = JsonLog(log)
        self.delay = self.write_delay = self.answer_delay = 0.0
        self.hold = False
        self.lock = threading.Lock()
        self.server = None
        self.inflight = 0
        self.epoch = 0         # reset() starts a new one: what was held before is no longer counted
        self.sockets = set()   # client connections and upstream streams, closed by stop()
        self._release = threading.Event()
        self.reset()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.proxy = self
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def reset(self):
        with self.lock:
            self.faults, self.echo_rule, self.echo_seen = [], None, []
            self.requests, self.connections, self.held, self.echoed = [], 0, 0, 0
            self.epoch += 1
            self.holding = self.held_at_once = 0

    def queue(self, *faults):
        with self.lock:
            self.faults.extend(faults)

    def echo(self, rule):
        with self.lock:
            self.echo_rule = rule

    def release(self):
        """Frees every held request (they close their connections, or are
        forwarded: "then": "forward")."""
        with self.lock:
            self._release.set()
            self._release = threading.Event()

    def writes(self):
        with self.lock:
            return [r for r in self.requests if r.method in WRITE_METHODS]

    def stats(self):
        with self.lock:
            return {"requests": len(self.requests), "connections": self.connections, "queued": len(self.faults),
                    "held": self.held, "holding": self.holding, "held_at_once": self.held_at_once,
                    "echoed": self.echoed}

    def stop(self, timeout=15):
        """Stops listening once the writes in flight are done (see above)."""
        self.release()
        end = time.monotonic() + timeout
        while self.inflight and time.monotonic() < end:
            time.sleep(0.02)
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            socks, self.sockets = list(self.sockets), set()
        for s in socks:  # ends the streams (watches) still open
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- the handler's side ----

    def opened(self, sock):
        with self.lock:
            self.connections += 1
            self.sockets.add(sock)

    def closed(self, sock):
        with self.lock:
            self.sockets.discard(sock)

    def control(self, method, path, body):
        if path == "/__fault__" and method == "POST":
            self.queue(*json.loads(body or b"[]"))
        elif path == "/__echo__" and method == "POST":
            self.echo(json.loads(body or b"{}"))
        elif path == "/__reset__":
            self.reset()
        elif path == "/__release__":
            self.release()
        return self.stats()

    def _take(self, method, path, body, authorization):
        """Records the request; returns (echo answer or None, fault or None)."""
        with self.lock:
            self.requests.append(Request(method, path, body, time.monotonic()))
            rule = self.echo_rule
            if rule is not None and rule.get("remember"):
                self.echo_seen += [v for v in secret_values(body) if v and v not in self.echo_seen]
            if rule is not None and matches(rule, method, path, "paths"):
                self.echoed += 1
                return echo_status(rule, self.echo_seen, body, authorization), None
            for i, f in enumerate(self.faults):
                if matches(f, method, path):
                    if f.get("skip"):
                        f["skip"] -= 1
                        return None, None
                    return None, self.faults.pop(i)
        return None, None

    def serve(self, h, body):
        write = h.command in WRITE_METHODS
        echoed, fault = self._take(h.command, h.path, body, h.headers.get("Authorization"))
        if not echoed and not fault and self.hold:
            fault = {"type": "hold"}
        self.log.add({"method": h.command, "path": h.path,
                      "fault": "echo" if echoed else (fault or {}).get("type")})
        with self.lock:
            self.inflight += write
            before = max(self.write_delay if write else 0, self.delay)
            after = self.answer_delay if write else 0
        try:
            if echoed:
                return h.reply(*echoed)
            self._faulted(h, body, fault or {}, before, after)
        except OSError:
            h.close_connection = True
        finally:
            with self.lock:
                self.inflight -= write

    def _faulted(self, h, body, fault, before, after):
        kind, late = fault.get("type"), fault.get("when") == "after"
        if kind == "drop":
            h.close_connection = True
            return
        if kind == "status":
            code = fault["code"]
            headers = [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault else []
            return h.reply(code, status_body(code, "fault-proxy: injected %d" % code,
                                             "ServiceUnavailable" if code == 503 else "TooManyRequests"), headers)
        limit = fault.get("limit", HOLD_LIMIT)
        if kind == "hold" and fault.get("then") == "forward":
            self._wait_release(h, limit)
            return self._forward(h, body, after, hold=None)
        if kind == "hold" and not late:
            return self._hold(h, limit)
        if kind == "delay":
            after, before = (after + fault["seconds"], before) if late else (after, before + fault["seconds"])
        if before:
            time.sleep(before)
        self._forward(h, body, after, hold=limit if kind == "hold" else None)

    def _wait_release(self, h, limit):
        with self.lock:
            self.held += 1
            self.holding += 1
            self.held_at_once = max(self.held_at_once, self.holding)
            release, epoch = self._release, self.epoch
        counted, end = True, time.monotonic() + limit
        try:
            while not release.wait(max(0.0, min(0.05, end - time.monotonic()))) and time.monotonic() < end:
                if counted and client_gone(h.connection):
                    counted = False
                    self._unhold(epoch)
        finally:
            if counted:
                self._unhold(epoch)

    def _unhold(self, epoch):
        with self.lock:
            if epoch == self.epoch:
                self.holding -= 1

    def _hold(self, h, limit):
        self._wait_release(h, limit)
        h.close_connection = True

    def _forward(self, h, body, after, hold):
        """hold: None, or the limit of a hold of the answer."""
        conn = http.client.HTTPSConnection(self.upstream.hostname, self.upstream.port, context=self.ctx, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        try:
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            passed = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_HEADERS]
            if resp.length is None and resp.status not in (204, 304) and not after and hold is None:
                return self._stream(h, resp, passed)
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            return h.reply(502, status_body(502, "fault-proxy: upstream: %s" % e))
        finally:
            conn.close()
        if hold is not None:
            return self._hold(h, hold)
        if after:
            time.sleep(after)
        h.reply(resp.status, data, passed)

    def _stream(self, h, resp, headers):
        """Chunk by chunk as the upstream sends them; an upstream that breaks
        off breaks the client's connection too (no clean end)."""
        sock = getattr(getattr(resp.fp, "raw", None), "_sock", None)
        if sock is not None:
            sock.settimeout(None)  # a watch may be quiet for minutes
            with self.lock:
                self.sockets.add(sock)
        h.send_response(resp.status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException):
            h.close_connection = True
        finally:
            with self.lock:
                self.sockets.discard(sock)


# ---- modes connect, socks5, forward ------------------------------------------------------

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def pipe(a, b):
    def one_way(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
    t = threading.Thread(target=one_way, args=(b, a), daemon=True)
    t.start()
    one_way(a, b)
    t.join()


def dial(host, port):
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not loopback:
        raise ConnectionRefusedError("not a loopback target: %s" % host)
    return socket.create_connection((host, port), timeout=10)


def split_host_port(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def client_hello_sni(data):
    """The server_name of a TLS ClientHello record, or None."""
    try:
        if data[0] != 0x16 or data[5] != 1:
            return None
        p = 5 + 4 + 2 + 32           # record header, handshake header, version, random
        p += 1 + data[p]             # session id
        p += 2 + struct.unpack("!H", data[p:p + 2])[0]   # cipher suites
        p += 1 + data[p]             # compression methods
        end = p + 2 + struct.unpack("!H", data[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            etype, elen = struct.unpack("!HH", data[p:p + 4])
            if etype == 0:           # server_name: list length, type 0, name length, name
                nlen = struct.unpack("!H", data[p + 7:p + 9])[0]
                return data[p + 9:p + 9 + nlen].decode()
            p += 4 + elen
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return None


class Tunnel:
    """Modes connect, socks5 and forward (see the module's docstring)."""

    def __init__(self, mode, target=None, log=None):
        self.mode = mode
        self.target = split_host_port(target) if target else None
        self.log = JsonLog(log)
        self.serve = {"connect": self.serve_connect, "socks5": self.serve_socks5, "forward": self.serve_forward}[mode]
        self.sock = None
        self.port = 0

    def start(self):
        family, addr = (socket.AF_INET6, "::1") if self.mode == "forward" else (socket.AF_INET, "127.0.0.1")
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(c,), daemon=True).start()

    def _handle(self, client):
        try:
            self.serve(client)
        except (OSError, ValueError, ConnectionError):
            pass
        finally:
            client.close()

    def serve_connect(self, client):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        self.log.add({"mode": "connect", "method": method, "target": target})
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            upstream = dial(*split_host_port(target))
        except OSError as e:
            client.sendall(("HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(str(e)), e)).encode())
            return
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        pipe(client, upstream)

    def serve_socks5(self, client):
        """RFC 1928, no authentication, CONNECT only."""
        ver, n = recv_exact(client, 2)
        methods = recv_exact(client, n)
        if ver != 5 or 0 not in methods:
            client.sendall(b"\x05\xff")
            return
        client.sendall(b"\x05\x00")
        ver, cmd, _rsv, atyp = recv_exact(client, 4)
        if atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, recv_exact(client, 4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, recv_exact(client, 16))
        elif atyp == 3:
            host = recv_exact(client, recv_exact(client, 1)[0]).decode()
        else:
            client.sendall(b"\x05\x08\x00\x01" + b"\0" * 6)
            return
        port = struct.unpack("!H", recv_exact(client, 2))[0]
        self.log.add({"mode": "socks5", "target": "%s:%d" % (host, port), "atyp": atyp})
        if cmd != 1:
            client.sendall(b"\x05\x07\x00\x01" + b"\0" * 6)
            return
        try:
            upstream = dial(host, port)
        except OSError:
            client.sendall(b"\x05\x05\x00\x01" + b"\0" * 6)
            return
        client.sendall(b"\x05\x00\x00\x01" + b"\0" * 6)
        pipe(client, upstream)

    def serve_forward(self, client):
        first = b""
        while len(first) < 5 or len(first) < 5 + struct.unpack("!H", first[3:5])[0]:
            chunk = client.recv(65536)
            if not chunk:
                return
            first += chunk
        self.log.add({"mode": "forward", "sni": client_hello_sni(first)})
        upstream = dial(*self.target)
        upstream.sendall(first)
        pipe(client, upstream)


# ---- the program ----------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description="The tests' fault proxy (see the file's docstring).")
    ap.add_argument("mode", choices=("http", "connect", "socks5", "forward"))
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--upstream", help="http: the server's https:// URL")
    ap.add_argument("--ca", help="http: the CA file that verifies the upstream")
    ap.add_argument("--target", help="forward: HOST:PORT on loopback")
    for opt in ("delay", "write-delay", "answer-delay"):
        ap.add_argument("--" + opt, type=float, default=0.0, help="http: seconds (a standing fault)")
    a = ap.parse_args(argv)
    if a.mode == "http":
        if not a.upstream or not a.ca:
            ap.error("mode http needs --upstream and --ca")
        srv = FaultProxy(a.upstream, a.ca, log=a.log)
        srv.delay, srv.write_delay, srv.answer_delay = a.delay, a.write_delay, a.answer_delay
    else:
        if (a.mode == "forward") != bool(a.target):
            ap.error("--target goes with mode forward, and only with it")
        srv = Tunnel(a.mode, a.target, a.log)
    srv.start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.port)
    os.rename(a.port_file + ".tmp", a.port_file)
    threading.Event().wait()  # until a signal ends the process


if __name__ == "__main__":
    main(sys.argv[1:])
