# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the reconcile integration tests (tests/reconcile/).

The tests drive the real `nap-agent` binary from the outside, as an operator
would, against the harness's kube-apiserver and PostgreSQL (started by
tests/harness/with-harness.sh, which exports KUBECONFIG, KUBE_API_URL,
KUBE_TOKEN, KUBE_CA_FILE, NAP_AUDIT_LOG, KUBECTL, DATABASE_URL and PG*).

Witnesses:
  - the apiserver audit log: every request the agent made (its User-Agent is
    "nap-agent/VERSION"), read between two marks; a fence request (a GET with
    a unique path) makes sure the log holds everything before the mark;
  - oauth_clients rows with their xmin (a row rewritten gets a new xmin);
  - the live objects, compared with `nap-agent render --show-secrets` on
    every field the agent sets and every field its managedFields entry owns.

Python 3 standard library only.
"""
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import secret_digest  # noqa: E402

AGENT = None          # path of nap-agent, set by init()
SRCDIR = None         # the source tree's root
WORK = None           # scratch dir of this test file
API = os.environ.get("KUBE_API_URL", "")
TOKEN = os.environ.get("KUBE_TOKEN", "")
AUDIT = os.environ.get("NAP_AUDIT_LOG", "")
KUBECTL = os.environ.get("KUBECTL", "kubectl")
_CTX = None

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

# resource (plural, as in the audit log) <-> kind, and API paths
KINDS = {
    "secrets": ("Secret", "/api/v1"),
    "services": ("Service", "/api/v1"),
    "deployments": ("Deployment", "/apis/apps/v1"),
    "daemonsets": ("DaemonSet", "/apis/apps/v1"),
}
RESOURCE_OF = {v[0]: k for k, v in KINDS.items()}
RANK = {"secrets": 0, "services": 1, "deployments": 2, "daemonsets": 3}


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def init(argv):
    """argv: [script, NAP_AGENT, SRCDIR, ...]."""
    global AGENT, SRCDIR, WORK, _CTX
    if len(argv) < 3:
        sys.exit("usage: %s NAP_AGENT SRCDIR" % argv[0])
    AGENT = os.path.realpath(argv[1])
    SRCDIR = os.path.realpath(argv[2])
    for k in ("KUBE_API_URL", "KUBE_TOKEN", "KUBE_CA_FILE", "NAP_AUDIT_LOG", "DATABASE_URL"):
        if not os.environ.get(k):
            sys.exit("%s is not set: run me under tests/harness/with-harness.sh" % k)
    _CTX = ssl.create_default_context(cafile=os.environ["KUBE_CA_FILE"])
    WORK = tempfile.mkdtemp(prefix="nap-reconcile.")
    os.environ["NAP_TEMPLATES_DIR"] = os.path.join(SRCDIR, "agent", "templates")
    os.environ["NAP_TEMPLATES_OVERRIDE_DIR"] = "/nonexistent/nap-reconcile"
    os.environ.pop("NAP_VALUES", None)
    os.environ.pop("STATE_DIRECTORY", None)
    if not psql("SELECT to_regclass('oauth_clients')").strip():
        p = subprocess.run(["psql", "-Xq", "-v", "ON_ERROR_STOP=1", "-f",
                            os.path.join(SRCDIR, "tests", "oauth", "schema.sql")],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            sys.exit("loading tests/oauth/schema.sql failed: " + p.stderr)
    psql("INSERT INTO users(id, email, role, created_at) VALUES "
         "('u-admin-old', 'old@example.com', 'admin', now() - interval '2 days'), "
         "('u-admin-new', 'new@example.com', 'admin', now()), "
         "('u-user', 'user@example.com', 'user', now() - interval '3 days') ON CONFLICT DO NOTHING")


def cleanup():
    if WORK and not os.environ.get("NAP_RECONCILE_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


# ---- running the agent ----------------------------------------------------

class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return "exit %d\n--- stdout\n%s--- stderr\n%s" % (self.rc, self.out, self.err)


ALL_OUTPUT = []  # every stdout/stderr of the agent, scanned for secrets at the end


def agent(*args, cwd=None, timeout=60, env=None):
    p = subprocess.run([AGENT] + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       env=env)
    ALL_OUTPUT.append(p.stdout + p.stderr)
    return Run(p.returncode, p.stdout, p.stderr)


def spawn(*args, env=None):
    return subprocess.Popen([AGENT] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


class Site:
    """One values.env + state dir: what one operator's node holds."""

    def __init__(self, name, values):
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir, exist_ok=True)
        self.values = os.path.join(self.dir, "values.env")
        self.state = os.path.join(self.dir, "state")
        self.vals = dict(values)  # ordered KEY -> value (None: line absent)
        self.extra = ""           # text appended verbatim
        self.write()

    def text(self):
        lines = ["# values.env written by tests/reconcile"]
        for k, v in self.vals.items():
            if v is not None:
                lines.append("%s=%s" % (k, v))
        return "\n".join(lines) + "\n" + self.extra

    def write(self, text=None):
        with open(self.values + ".tmp", "w") as f:
            f.write(self.text() if text is None else text)
        os.rename(self.values + ".tmp", self.values)

    def args(self, *more):
        return ["--values", self.values, "--state-dir", self.state] + list(more)

    def apply(self, *more, **kw):
        return agent("apply", *self.args(*more), **kw)

    def plan(self, *more):
        return agent("plan", *self.args(*more))

    def render(self):
        r = agent("render", "--format", "json", "--show-secrets", "--values", self.values)
        check(r.rc == 0, "render failed: %r" % r)
        return json.loads(r.out)

    def secrets(self):
        return [v for k, v in self.vals.items()
                if v and any(w in k for w in ("SECRET", "SERVICE_KEY", "PASSWORD")) and len(v) >= 8]


# ---- the API --------------------------------------------------------------

def api(method, path, body=None, ctype="application/json", agent_name="nap-reconcile-test"):
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    req.add_header("User-Agent", agent_name)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, context=_CTX, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def obj_path(resource, ns, name=None):
    base = KINDS[resource][1]
    return "%s/namespaces/%s/%s%s" % (base, ns, resource, "/" + name if name else "")


def get_obj(resource, ns, name):
    code, body = api("GET", obj_path(resource, ns, name))
    return body if code == 200 else None


def list_managed(ns):
    """(resource, name) of every object in ns labelled managed-by=nap-agent."""
    out = set()
    for res in KINDS:
        code, body = api("GET", obj_path(res, ns) + "?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dnap-agent")
        check(code == 200, "list %s in %s: %s" % (res, ns, code))
        out |= {(res, i["metadata"]["name"]) for i in body.get("items", [])}
    return out


def list_all(ns):
    out = set()
    for res in KINDS:
        code, body = api("GET", obj_path(res, ns))
        check(code == 200, "list %s in %s: %s" % (res, ns, code))
        out |= {(res, i["metadata"]["name"]) for i in body.get("items", [])
                if not (res == "secrets" and i.get("type") == "kubernetes.io/service-account-token")
                and not (res == "services" and i["metadata"]["name"] == "kubernetes")}
    return out


def ensure_namespace(ns):
    code, _ = api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    check(code in (201, 409), "create namespace %s: %s" % (ns, code))


def kubectl(*args, input=None):
    p = subprocess.run([KUBECTL] + list(args), capture_output=True, text=True, input=input, timeout=60)
    check(p.returncode == 0, "kubectl %s failed: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


# ---- the audit log --------------------------------------------------------

def _fence():
    """A GET with a unique path; returns once the audit log holds it, so
    every request made before it is in the log too."""
    name = "fence-" + uuid.uuid4().hex[:12]
    api("GET", "/api/v1/namespaces/default/configmaps/" + name, agent_name="nap-fence")
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(AUDIT, "rb") as f:
            f.seek(max(0, os.path.getsize(AUDIT) - 65536))
            if name.encode() in f.read():
                return
        time.sleep(0.02)
    raise Failure("audit log never showed the fence request %s" % name)


def mark():
    _fence()
    return os.path.getsize(AUDIT)


def requests_since(m, writes_only=False):
    """The agent's requests since mark m: list of (verb, resource, namespace, name, uri)."""
    _fence()
    out = []
    with open(AUDIT, "rb") as f:
        f.seek(m)
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if not e.get("userAgent", "").startswith("nap-agent/") or e.get("stage") != "ResponseComplete":
                continue
            if writes_only and e["verb"] not in WRITE_VERBS:
                continue
            ref = e.get("objectRef", {})
            out.append((e["verb"], ref.get("resource", ""), ref.get("namespace", ""), ref.get("name", ""),
                        e.get("requestURI", ""), e.get("responseStatus", {}).get("code")))
    return out


def writes_since(m):
    return [w for w in requests_since(m, writes_only=True) if "dryRun" not in w[4]]


def fmt_reqs(reqs):
    return "\n".join("    %s %s %s/%s (%s)" % (v, r, ns, n, c) for v, r, ns, n, _u, c in reqs) or "    (none)"


# ---- the database ---------------------------------------------------------

def psql(sql):
    p = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise Failure("psql failed: %s: %s" % (sql, p.stderr))
    return p.stdout


def rows():
    """id -> dict of the oauth_clients row, with xmin."""
    out = {}
    for line in psql("SELECT id, xmin::text, updated_at::text, name, array_to_json(redirect_uris), "
                     "coalesce(secret_hash, '<null>'), created_by FROM oauth_clients ORDER BY id").splitlines():
        f = line.split("\x1f")
        out[f[0]] = {"xmin": f[1], "updated_at": f[2], "name": f[3], "redirect_uris": json.loads(f[4]),
                     "secret_hash": f[5], "created_by": f[6]}
    return out


def row_changes(before, after):
    """id -> 'insert' | 'update' | 'delete' for rows that were written."""
    ch = {}
    for i in set(before) | set(after):
        if i not in before:
            ch[i] = "insert"
        elif i not in after:
            ch[i] = "delete"
        elif before[i]["xmin"] != after[i]["xmin"] or before[i]["updated_at"] != after[i]["updated_at"]:
            ch[i] = "update"
    return ch


# ---- the invariant --------------------------------------------------------

def _leaf_diffs(want, have, path, out):
    if isinstance(want, dict):
        if not isinstance(have, dict):
            out.append("%s: live is %r, want an object" % (path or ".", have))
            return
        for k, v in want.items():
            if k not in have:
                if v in ("", [], {}):  # the API omits empty values
                    continue
                out.append("%s.%s: missing in the live object (want %r)" % (path, k, v))
            else:
                _leaf_diffs(v, have[k], path + "." + k, out)
    elif isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            out.append("%s: live %r, want %r" % (path, have, want))
            return
        for i, (w, h) in enumerate(zip(want, have)):
            _leaf_diffs(w, h, "%s[%d]" % (path, i), out)
    elif want != have:
        out.append("%s: live %r, want %r" % (path, have, want))


def _owned_diffs(fields, want, path, out):
    """Every field the agent's managedFields entry owns must be in want."""
    for key, sub in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            name = key[2:]
            if not isinstance(want, dict) or name not in want:
                out.append("%s.%s: owned by nap-agent but not desired (a stale field)" % (path, name))
                continue
            _owned_diffs(sub, want[name], path + "." + name, out)
        elif key.startswith("k:"):
            sel = json.loads(key[2:])
            match = [w for w in (want if isinstance(want, list) else [])
                     if isinstance(w, dict) and all(w.get(a) == b for a, b in sel.items())]
            if len(match) != 1:
                out.append("%s[%s]: owned by nap-agent but not desired (a stale list item)" % (path, key[2:]))
                continue
            _owned_diffs(sub, match[0], "%s[%s]" % (path, key[2:]), out)
        elif key.startswith("v:"):
            if not isinstance(want, list) or json.loads(key[2:]) not in want:
                out.append("%s[%s]: owned by nap-agent but not desired" % (path, key[2:]))


DIGEST_ANNOTATION, DIGEST_KEY_SECRET = secret_digest.ANNOTATION, secret_digest.KEY_SECRET


def expected_digests(items):
    """The rendered items with the secret digests an apply gives (tests/secret_digest.py)."""
    missing = secret_digest.fill_in(items, lambda ns: get_obj("secrets", ns, DIGEST_KEY_SECRET))
    check(not missing, "Secret %s does not exist for %s" % (DIGEST_KEY_SECRET, missing))


def invariant(site, namespaces=None, kept=()):
    """Live objects and rows equal the desired set of site's values.env.

    namespaces: where to look for strays (default: the desired namespace);
    kept: (resource, name) the agent must keep although not desired (a
    module whose toggle line is missing)."""
    d = site.render()
    expected_digests(d["items"])
    desired = {}
    for item in d["items"]:
        res = RESOURCE_OF[item["kind"]]
        desired[(res, item["metadata"]["namespace"], item["metadata"]["name"])] = item
    errs = []
    for (res, ns, name), want in desired.items():
        live = get_obj(res, ns, name)
        if live is None:
            errs.append("%s %s/%s: missing" % (res, ns, name))
            continue
        diffs = []
        _leaf_diffs(want, live, "", diffs)
        mine = [m for m in live["metadata"].get("managedFields", []) if m.get("manager") == "nap-agent"]
        if len(mine) != 1 or mine[0].get("operation") != "Apply":
            diffs.append("managedFields: want one Apply entry of nap-agent, have %r" % mine)
        else:
            _owned_diffs(mine[0].get("fieldsV1", {}), want, "", diffs)
        others = [m["manager"] for m in live["metadata"].get("managedFields", [])
                  if m.get("operation") == "Apply" and m.get("manager") != "nap-agent"]
        if others:
            diffs.append("other Apply managers left: %r" % others)
        errs += ["%s %s/%s: %s" % (res, ns, name, x) for x in diffs]
    nss = set(namespaces or []) | {ns for (_r, ns, _n) in desired}
    if not nss:
        nss = {site.vals.get("NAMESPACE") or "nap"}
    for ns in nss:
        have = list_managed(ns) - {("secrets", DIGEST_KEY_SECRET)}  # made once, kept (manager-digest.c)
        want = {(r, n) for (r, n2, n) in desired if n2 == ns} | {k for k in kept if isinstance(k, tuple)}
        if have != want:
            errs.append("objects in %s: extra %s, missing %s" % (ns, sorted(have - want), sorted(want - have)))
    want_rows = {c["id"]: c for c in d.get("oauthClients", [])}
    have_rows = rows()
    for cid, c in want_rows.items():
        r = have_rows.get(cid)
        if not r:
            errs.append("oauth client %s: no row" % cid)
            continue
        if r["name"] != c["name"] or r["redirect_uris"] != c["redirect_uris"]:
            errs.append("oauth client %s: row %r, want %r" % (cid, r, c))
        if r["secret_hash"] != "<null>" or r["created_by"] != "u-admin-old":
            errs.append("oauth client %s: secret_hash %s, created_by %s (want NULL, u-admin-old)"
                        % (cid, r["secret_hash"], r["created_by"]))
    # A row that is not desired (its module is off) stays: deleting it would
    # cascade to the client's tokens. The agent never deletes rows.
    check(not errs, "invariant broken:\n  " + "\n  ".join(errs))


# ---- a tiny test runner -----------------------------------------------------

class Runner:
    def __init__(self, name):
        self.name = name
        self.passed = self.failed = 0
        self.t0 = time.time()

    def case(self, name, fn, *args):
        t = time.time()
        try:
            fn(*args)
        except Failure as e:
            self.failed += 1
            print("FAIL %s (%.1fs)\n  %s" % (name, time.time() - t, str(e).replace("\n", "\n  ")), flush=True)
            return False
        except Exception:
            self.failed += 1
            print("FAIL %s: exception\n%s" % (name, traceback.format_exc()), flush=True)
            return False
        self.passed += 1
        print("ok   %s (%.1fs)" % (name, time.time() - t), flush=True)
        return True

    def finish(self, secrets=()):
        leaks = [s for s in secrets if any(s in out for out in ALL_OUTPUT)]
        if leaks:
            self.failed += 1
            print("FAIL no-secret-in-output: %d secret(s) printed by the agent" % len(leaks))
        print("%s: %d passed, %d failed (%.1fs)" % (self.name, self.passed, self.failed, time.time() - self.t0))
        cleanup()
        return 1 if self.failed else 0


def hexsecret(tag):
    """A deterministic 64-hex-char secret, distinct per tag."""
    import hashlib
    return hashlib.sha256(tag.encode()).hexdigest()


def base_values(tag, **over):
    """Both modules on, NodePorts, every secret set: the starting values.env."""
    v = [
        ("NAMESPACE", "nap"), ("APP_PREFIX", "nap"), ("REGISTRY", "registry.test/platform"), ("IMAGE_TAG", "v1.0.0"),
        ("TOS_HOST", "192.0.2.10"), ("TOS_NODE_PORT", "30080"), ("INGRESS_MODE", "nodeport"),
        ("PG_USERNAME", "nap"), ("DB_NAME", "nap"),
        ("SANDBOX_ENABLED", "true"), ("SANDBOX_NODE_PORT", "30086"),
        ("SANDBOX_JWT_SECRET", hexsecret(tag + "-sjwt")), ("SANDBOX_SERVICE_KEY", hexsecret(tag + "-skey")),
        ("SANDBOX_DOMAIN", ""), ("SANDBOX_PUBLIC_URL", ""),
        ("BROWSER_ENABLED", "true"), ("BROWSER_NODE_PORT", "30085"),
        ("BROWSER_JWT_SECRET", hexsecret(tag + "-bjwt")), ("TURN_AUTH_SECRET", hexsecret(tag + "-turn")),
        ("TURN_HOST", "192.0.2.20"), ("TURN_PORT", "3478"), ("BROWSER_PUBLIC_URL", ""),
    ]
    d = dict(v)
    d.update(over)
    return list(d.items())


def proxy_kubeconfig(path, port):
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n"
                "    server: http://127.0.0.1:%d\nusers:\n- name: u\n  user:\n    token: %s\n"
                "contexts:\n- name: c\n  context:\n    cluster: proxy\n    user: u\ncurrent-context: c\n"
                % (port, TOKEN))


def status_json(site):
    r = agent("status", "--json", "--state-dir", site.state)
    check(r.rc == 0, "status --json: %r" % r)
    return json.loads(r.out)
