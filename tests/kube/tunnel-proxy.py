#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Proxies for the kubeconfig's proxy-url and tls-server-name tests, on
loopback only:

    tunnel-proxy.py connect PORT_FILE LOG_FILE          an HTTP CONNECT proxy
    tunnel-proxy.py socks5  PORT_FILE LOG_FILE          a SOCKS5 proxy (no auth)
    tunnel-proxy.py forward PORT_FILE LOG_FILE HOST:PORT  a TCP forwarder on [::1]

Each listens on a free port (written to PORT_FILE once it listens) and
appends one JSON line per connection to LOG_FILE: {"mode", "target"} for
the proxies (the host:port the client asked for), {"mode", "sni"} for the
forwarder (the server name of the TLS ClientHello it passed on, read from
the bytes, not terminated: the client talks TLS with the real server). The
proxies connect only to loopback targets; anything else is refused.

Why written for the test: it records exactly what the client asked its
proxy for and what name it sent, which no off-the-shelf proxy reports in a
form a test can read. Python standard library only.
"""
import ipaddress
import json
import os
import socket
import struct
import sys
import threading

LOCK = threading.Lock()


def log(entry):
    with LOCK, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


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


def loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def dial(host, port):
    if not loopback(host):
        raise ConnectionRefusedError("not a loopback target: %s" % host)
    return socket.create_connection((host, port), timeout=10)


def split_host_port(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


# ---- HTTP CONNECT ---------------------------------------------------------------

def serve_connect(client):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(4096)
        if not chunk:
            return
        head += chunk
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    method, target, _ = line.split(" ", 2)
    log({"mode": "connect", "method": method, "target": target})
    if method != "CONNECT":
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        return
    try:
        upstream = dial(*split_host_port(target))
    except OSError as e:
        client.sendall(("HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\n\r\n%s" % (len(str(e)), e)).encode())
        return
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        upstream.sendall(rest)
    pipe(client, upstream)


# ---- SOCKS5 (RFC 1928), no authentication, CONNECT only -----------------------------

def serve_socks5(client):
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
    log({"mode": "socks5", "target": "%s:%d" % (host, port), "atyp": atyp})
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


# ---- TCP forwarder that reads the ClientHello's server name -------------------------

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


def serve_forward(client):
    first = b""
    while len(first) < 5 or len(first) < 5 + struct.unpack("!H", first[3:5])[0]:
        chunk = client.recv(65536)
        if not chunk:
            return
        first += chunk
    log({"mode": "forward", "sni": client_hello_sni(first)})
    upstream = dial(*TARGET)
    upstream.sendall(first)
    pipe(client, upstream)


def handle(client, serve):
    try:
        serve(client)
    except (OSError, ValueError, ConnectionError):
        pass
    finally:
        client.close()


if __name__ == "__main__":
    MODE, PORT_FILE, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
    TARGET = split_host_port(sys.argv[4]) if MODE == "forward" else None
    serve = {"connect": serve_connect, "socks5": serve_socks5, "forward": serve_forward}[MODE]
    family, addr = (socket.AF_INET6, "::1") if MODE == "forward" else (socket.AF_INET, "127.0.0.1")
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, 0))
    srv.listen(64)
    with open(PORT_FILE + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(PORT_FILE + ".tmp", PORT_FILE)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c, serve), daemon=True).start()
