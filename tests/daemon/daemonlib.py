# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the daemon tests and the benchmark: run `nap-agent run`
against the harness (tests/harness/with-harness.sh exports KUBECONFIG,
DATABASE_URL, PG*, NAP_AUDIT_LOG, KUBECTL), listen on a NOTIFY_SOCKET the way
systemd does, read the apiserver's audit log, and put a recording,
delaying HTTP proxy in front of the apiserver.

Python standard library only.
"""
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import secret_digest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
EXAMPLE_VALUES = os.path.join(SRC, "etc", "nap", "values.env")
SCHEMA = os.path.join(SRC, "tests", "oauth", "schema.sql")

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def env(name):
    v = os.environ.get(name)
    if not v:
        raise SystemExit("%s is not set: run under tests/harness/with-harness.sh" % name)
    return v


# ---- checks -----------------------------------------------------------------

class Results:
    """Counts checks; prints `N passed, N failed` at the end."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % what, flush=True)
        else:
            self.failed += 1
            print("FAIL %s%s" % (what, (": " + str(detail)) if detail != "" else ""), flush=True)
        return bool(cond)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def wait_until(pred, timeout, step=0.02):
    """Polls pred until it returns something true or timeout seconds pass."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


# ---- the control plane --------------------------------------------------------

def psql(sql, check=True):
    p = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise RuntimeError("psql %r: %s" % (sql, p.stderr))
    return p.stdout


def setup_database():
    """The control plane's schema and first admin, as install.sh leaves them."""
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", SCHEMA],
                   check=True, capture_output=True, timeout=60)
    psql("INSERT INTO users (id, email, role) VALUES ('admin', 'admin@example.com', 'admin') "
         "ON CONFLICT DO NOTHING")


def oauth_rows():
    """{id: (name, [redirect_uris])} of oauth_clients."""
    out = psql("SELECT json_agg(json_build_object('id', id, 'name', name, 'uris', redirect_uris)) "
               "FROM oauth_clients")
    rows = json.loads(out.strip() or "null") or []
    return {r["id"]: (r["name"], r["uris"]) for r in rows}


def kubectl(*args, check=True, timeout=60):
    p = subprocess.run([env("KUBECTL"), "--kubeconfig", env("KUBECONFIG")] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def kube_get(kind, namespace, name):
    p = kubectl("get", kind, "-n", namespace, name, "-o", "json", check=False)
    if p.returncode != 0:
        if "NotFound" in p.stderr or "not found" in p.stderr:
            return None
        raise RuntimeError("kubectl get %s/%s: %s" % (kind, name, p.stderr.strip()))
    return json.loads(p.stdout)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_kubeconfig(path, server):
    """A kubeconfig for the harness's apiserver, or for a plain-HTTP proxy in
    front of it, with the harness's token."""
    cluster = "    server: %s\n" % server
    if server.startswith("https:"):
        with open(env("KUBE_CA_FILE"), "rb") as f:
            cluster += "    certificate-authority-data: %s\n" % base64.b64encode(f.read()).decode()
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n" + cluster +
                "users:\n- name: u\n  user:\n    token: %s\n" % env("KUBE_TOKEN") +
                "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                "current-context: x\n")
    return path


# ---- values.env -------------------------------------------------------------

def set_key(text, key, value):
    """text with KEY=... replaced (or appended); the comment after a value goes."""
    line = "%s=%s" % (key, value)
    new, n = re.subn(r"(?m)^%s=.*$" % re.escape(key), lambda _: line, text)
    return new if n else text.rstrip("\n") + "\n" + line + "\n"


def base_values(**keys):
    """The example values.env with the browser's secrets filled, so every
    module can be switched on, and the given keys set.

    SANDBOX_DOMAIN is set because an empty one renders the env entry
    {"name": "SANDBOX_DOMAIN", "value": ""}, which the apiserver stores
    without "value": server-side apply then sees the field set differ on
    every apply, bumps resourceVersion and managedFields time, and every
    resync reports false drift on the Deployment (a template bug, reported;
    not what these tests are about)."""
    with open(EXAMPLE_VALUES) as f:
        text = f.read()
    defaults = {
        "BROWSER_JWT_SECRET": "b" * 64,
        "TURN_AUTH_SECRET": "c" * 64,
        "TURN_HOST": "192.0.2.20",
        "SANDBOX_JWT_SECRET": "d" * 64,
        "SANDBOX_SERVICE_KEY": "e" * 64,
        "SANDBOX_DOMAIN": "sandbox.example.com",
    }
    defaults.update(keys)
    for k, v in defaults.items():
        text = set_key(text, k, v)
    return text


def write_in_place(path, text):
    """What most editors without backup copies do: open O_TRUNC, write, close."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o640)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_rename(path, text):
    """vim/emacs/sed -i: a temp file in the same directory renamed over."""
    tmp = os.path.join(os.path.dirname(path), ".%s.swp" % os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# ---- sd_notify --------------------------------------------------------------

class NotifySocket:
    """An AF_UNIX datagram socket like systemd's notify socket; every
    datagram is kept with its arrival time (time.monotonic())."""

    serial = 0

    def __init__(self, directory):
        NotifySocket.serial += 1
        self.path = os.path.join(directory, "notify-%d.sock" % NotifySocket.serial)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def snapshot(self, start=0):
        with self.lock:
            return list(self.messages[start:])

    def count(self):
        with self.lock:
            return len(self.messages)

    def wait_for(self, pred, timeout, start=0):
        """The index of the first message at or after start for which pred
        (on the text) is true, or None."""
        def find():
            for i, (_, m) in enumerate(self.snapshot(start)):
                if pred(m):
                    return start + i + 1  # +1: 0 would read as false
            return None
        i = wait_until(find, timeout)
        return i - 1 if i else None

    def sync(self, timeout=10):
        """Returns once every datagram sent to the socket before this call
        has been recorded: a datagram of our own, sent now, comes after them
        (a Unix datagram socket keeps the order); it is not kept."""
        marker = "X-TEST-SYNC=%d" % time.monotonic_ns()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(marker.encode(), self.path)
        finally:
            s.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                for i, (_, m) in enumerate(self.messages):
                    if m == marker:
                        del self.messages[i]
                        return
            time.sleep(0.01)
        raise RuntimeError("the notify socket never received our own datagram")

    def close(self):
        self.closed = True
        self.thread.join(2)
        self.sock.close()
        os.unlink(self.path)


def fields(message):
    """KEY=VALUE lines of one notification, as an ordered list of pairs."""
    return [tuple(line.split("=", 1)) for line in message.split("\n") if line]


# ---- the agent --------------------------------------------------------------

NET_LIBS = ("libcurl.", "libpq.", "libldap", "libkrb5.", "libgssapi_krb5.", "libgnutls.", "libnghttp2.")


class Agent:
    """One `nap-agent run` process, its stderr in a file."""

    def __init__(self, binary, workdir, values, state, kubeconfig, args=(), extra_env=None, notify=None, prefix=()):
        self.binary = binary
        self.log_path = os.path.join(workdir, "agent-%d.log" % int(time.monotonic() * 1000))
        e = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS"):
            e.pop(k, None)
        if notify:
            e["NOTIFY_SOCKET"] = notify.path
        e.update(extra_env or {})
        self.log = open(self.log_path, "wb")
        # prefix: a command that runs the agent as another user (setpriv ... --), which execs it
        self.proc = subprocess.Popen(
            list(prefix) + [binary, "run", "--values", values, "--state-dir", state, "--kubeconfig", kubeconfig]
            + list(args),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.pid = self.proc.pid

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def libraries(self):
        """The basenames of the shared libraries mapped in the process."""
        with open("/proc/%d/maps" % self.pid) as f:
            return {os.path.basename(p) for p in (line.split()[-1] for line in f if ".so" in line)}

    def net_libs(self):
        """libcurl, libpq and what they bring with them (on Debian and Fedora;
        not libssl and p11-kit, which pin themselves in memory), if mapped."""
        return sorted(lib for lib in self.libraries() if lib.startswith(NET_LIBS))

    def status(self, key):
        """A field of /proc/PID/status as an int (VmRSS in KiB, ctxt switches)."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return None


# ---- the audit log ----------------------------------------------------------

class Audit:
    """The apiserver's audit log (JSON lines, one event per stage)."""

    def __init__(self, path=None):
        self.path = path or env("NAP_AUDIT_LOG")

    def mark(self):
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def events(self, since=0):
        out = []
        with open(self.path, "rb") as f:
            f.seek(since)
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def agent_writes(self, since=0):
        """The agent's write requests (ResponseComplete) since the mark:
        [(verb, resource, namespace, name, code, stageTimestamp)]."""
        out = []
        for e in self.events(since):
            if e.get("stage") != "ResponseComplete" or e.get("verb") not in WRITE_VERBS:
                continue
            if not (e.get("userAgent") or "").startswith("nap-agent"):
                continue
            o = e.get("objectRef") or {}
            out.append((e["verb"], o.get("resource"), o.get("namespace"), o.get("name"),
                        (e.get("responseStatus") or {}).get("code"), e.get("stageTimestamp")))
        return out

    def fence(self, timeout=10):
        """A GET with a unique name, sent by the test; returns once the audit
        log holds it, so every request the apiserver answered before it is
        in the log too."""
        import uuid
        name = "fence-" + uuid.uuid4().hex[:12]
        kubectl("get", "configmap", "-n", "default", name, "--ignore-not-found")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(self.path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.path) - 262144))
                if name.encode() in f.read():
                    return
            time.sleep(0.02)
        raise RuntimeError("the audit log never showed the fence request %s" % name)

    def writes_since(self, since):
        """The agent's writes since the mark, up to a fence request."""
        self.fence()
        return self.agent_writes(since)


def parse_ts(ts):
    """RFC 3339 with microseconds (the audit log's) to seconds since the epoch."""
    import datetime
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# ---- a stand-in kubelet -------------------------------------------------------

class Kubelet:
    """There is no kubelet (nor scheduler) in the harness: kube-controller-
    manager makes ReplicaSets and Pods (HARNESS_COMPONENTS="kube kcm pg"),
    and this sets their status through the status subresource the way a
    kubelet would: Ready, or a container waiting for a reason
    (ImagePullBackOff...). A Node object gives DaemonSets a node to run on."""

    def __init__(self, namespace="nap"):
        self.ns = namespace
        self.url = env("KUBE_API_URL")
        self.token = env("KUBE_TOKEN")
        self.ctx = ssl.create_default_context(cafile=env("KUBE_CA_FILE"))

    def api(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def ensure_node(self, name="node-a"):
        code, body = self.api("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {"kubernetes.io/hostname": name}}})
        if code not in (201, 409):
            raise RuntimeError("create node %s: %s %r" % (name, code, body))

    def get(self, path):
        code, body = self.api("GET", path)
        if code != 200:
            raise RuntimeError("GET %s: %s %r" % (path, code, body))
        return body

    def current_pods(self, kind, name):
        """The live pods of the workload's current template: of the
        Deployment's ReplicaSet of its revision, or of the DaemonSet's
        template generation (not being deleted)."""
        if kind == "Deployment":
            dep = self.get("/apis/apps/v1/namespaces/%s/deployments/%s" % (self.ns, name))
            rev = dep["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
            rss = self.get("/apis/apps/v1/namespaces/%s/replicasets?labelSelector=app%%3D%s" % (self.ns, name))
            owners = {rs["metadata"]["uid"] for rs in rss["items"]
                      if rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == rev}
            gen = None
        else:
            ds = self.get("/apis/apps/v1/namespaces/%s/daemonsets/%s" % (self.ns, name))
            owners = {ds["metadata"]["uid"]}
            gen = ds["metadata"].get("annotations", {}).get("deprecated.daemonset.template.generation")
        pods = self.get("/api/v1/namespaces/%s/pods?labelSelector=app%%3D%s" % (self.ns, name))["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")
                and any(o.get("uid") in owners for o in p["metadata"].get("ownerReferences", []))
                and (gen is None or p["metadata"].get("labels", {}).get("pod-template-generation") == gen)]

    def wait_pods(self, kind, name, exclude=(), timeout=30):
        """The current pods once there is one whose name is not in exclude."""
        found = wait_until(lambda: [p for p in self.current_pods(kind, name)
                                    if p["metadata"]["name"] not in exclude], timeout, 0.1)
        if not found:
            raise RuntimeError("no new pod of %s %s after %d s" % (kind, name, timeout))
        return found

    def patch_status(self, pod, status):
        path = "/api/v1/namespaces/%s/pods/%s/status" % (self.ns, pod["metadata"]["name"])
        code, body = self.api("PATCH", path, {"status": status}, "application/merge-patch+json")
        if code != 200:
            raise RuntimeError("PATCH %s: %s %r" % (path, code, body))
        return body

    def ready(self, pod):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        running = [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True, "restartCount": 0,
                    "started": True, "state": {"running": {"startedAt": now}}} for c in pod["spec"]["containers"]]
        return self.patch_status(pod, {"phase": "Running", "containerStatuses": running, "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}]})

    def waiting(self, pod, container, reason, init=False):
        """container (an init container with init) waiting for reason, as
        the kubelet reports an image it cannot pull or a crash loop."""
        spec = pod["spec"]["initContainers" if init else "containers"]
        image = [c["image"] for c in spec if c["name"] == container][0]
        key = "initContainerStatuses" if init else "containerStatuses"
        return self.patch_status(pod, {"phase": "Pending", key: [{
            "name": container, "image": image, "imageID": "", "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": "Back-off pulling image \"%s\"" % image}}}]})

    def start_auto(self, interval=0.2):
        """A thread that makes every pod of the namespace Ready soon after
        it appears, as kubelets do when images pull and containers start
        (the benchmark: rollouts complete, and settle). stop_auto() ends it."""
        self.auto_stop = threading.Event()

        def is_ready(p):
            return any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in p.get("status", {}).get("conditions", []))

        def run():
            while not self.auto_stop.wait(interval):
                try:
                    pods = self.get("/api/v1/namespaces/%s/pods" % self.ns)["items"]
                    for p in pods:
                        if not p["metadata"].get("deletionTimestamp") and not is_ready(p):
                            self.ready(p)
                except (OSError, RuntimeError, ValueError):
                    continue  # a pod deleted meanwhile, the server busy: the next round

        self.auto_thread = threading.Thread(target=run, daemon=True)
        self.auto_thread.start()

    def stop_auto(self):
        self.auto_stop.set()
        self.auto_thread.join(5)

    def roll_out(self, kind, name, exclude=(), timeout=30):
        """Makes the workload's new pods Ready; returns their names."""
        pods = self.wait_pods(kind, name, exclude, timeout)
        for p in pods:
            self.ready(p)
        return [p["metadata"]["name"] for p in pods]


# ---- a recording, delaying proxy ----------------------------------------------

class Proxy:
    """Plain HTTP on 127.0.0.1 in front of the harness's apiserver (HTTPS).
    Records every request (method, path, body, time.monotonic()). Faults,
    each off when 0: `write_delay` holds a write before forwarding it,
    `delay` holds every request before forwarding it (a slow server),
    `answer_delay` forwards a write at once and holds its answer (the write
    is done, the client does not learn it in time). Can listen on a chosen
    port, e.g. one a kubeconfig already names, from start() on."""

    def __init__(self, port=0):
        self.port = port
        self.upstream = urllib.parse.urlsplit(env("KUBE_API_URL"))
        self.ctx = ssl.create_default_context(cafile=env("KUBE_CA_FILE"))
        self.write_delay = 0.0
        self.delay = 0.0
        self.answer_delay = 0.0
        self.requests = []
        self.inflight = 0
        self.lock = threading.Lock()
        self.server = None

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, body, time.monotonic()))
                    write = self.command not in ("GET", "HEAD")
                    delay = max(proxy.write_delay if write else 0, proxy.delay)
                    after = proxy.answer_delay if write else 0
                    proxy.inflight += write
                try:
                    self.forward(body, delay, after)
                finally:
                    with proxy.lock:
                        proxy.inflight -= write

            def forward(self, body, delay, after=0):
                if delay:
                    time.sleep(delay)
                conn = http.client.HTTPSConnection(proxy.upstream.hostname, proxy.upstream.port,
                                                   context=proxy.ctx, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError as e:
                    data = json.dumps({"kind": "Status", "code": 502, "message": str(e)}).encode()
                    resp = None
                finally:
                    conn.close()
                if after:
                    time.sleep(after)
                try:
                    self.send_response(resp.status if resp else 502)
                    skip = ("transfer-encoding", "connection", "content-length", "keep-alive")
                    for k, v in (resp.getheaders() if resp else [("Content-Type", "application/json")]):
                        if k.lower() not in skip:
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def writes(self):
        with self.lock:
            return [r for r in self.requests if r[0] not in ("GET", "HEAD")]

    def stop(self, timeout=15):
        """Stops listening, and waits for the writes still being forwarded
        (a held one reaches the apiserver after its client left); not for
        reads, of which a watch (the daemon following a rollout) lasts
        until the apiserver ends it."""
        wait_until(lambda: self.inflight == 0, timeout)
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


# ---- comparing the cluster with the rendering -------------------------------

def render(binary, values):
    p = subprocess.run([binary, "render", "--format", "json", "--show-secrets", "--values", values],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("render failed: %s" % p.stderr)
    return json.loads(p.stdout)


def leaf_diff(want, got, path=""):
    """Paths where a leaf of want is missing from or different in got (got
    may hold more: the server's defaults)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path or "/"]
        out = []
        for k, v in want.items():
            out += leaf_diff(v, got.get(k), "%s/%s" % (path, k)) if k in got else ["%s/%s (missing)" % (path, k)]
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return ["%s (list length)" % path]
        out = []
        for i, (a, b) in enumerate(zip(want, got)):
            out += leaf_diff(a, b, "%s[%d]" % (path, i))
        return out
    return [] if want == got else ["%s: want %r, got %r" % (path, want, got)]


def cluster_diff(rendered):
    """Differences between the rendered objects and the live ones (the
    secret digests as an apply gives them, tests/secret_digest.py)."""
    missing = secret_digest.fill_in(rendered["items"],
                                    lambda ns: kube_get("secret", ns, secret_digest.KEY_SECRET))
    out = ["%s %s: no Secret %s" % (k, n, secret_digest.KEY_SECRET) for k, n in missing]
    for obj in rendered["items"]:
        md = obj["metadata"]
        live = kube_get(obj["kind"].lower(), md["namespace"], md["name"])
        if live is None:
            out.append("%s %s/%s is missing" % (obj["kind"], md["namespace"], md["name"]))
            continue
        out += ["%s %s%s" % (obj["kind"], md["name"], d) for d in leaf_diff(obj, live)]
    return out


def oauth_diff(rendered):
    """The rows of the rendered clients as rendered. Rows of modules turned
    off stay as they were (the agent never deletes a row: it would cascade
    to the client's tokens), so they are not compared."""
    want = {c["id"]: (c["name"], c["redirect_uris"]) for c in rendered.get("oauthClients", [])}
    got = {k: v for k, v in oauth_rows().items() if k in want}
    return [] if want == got else ["oauth rows: want %r, got %r" % (want, got)]


class Workdir:
    """A temp dir for one test file, removed at the end."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp"))

    def __enter__(self):
        return self.path

    def __exit__(self, *a):
        if not os.environ.get("NAP_TEST_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)
