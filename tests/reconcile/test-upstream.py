#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Taking over what the platform's install.sh deployed, against the harness
(issue 12): the real nap-agent binary, a real kube-apiserver and PostgreSQL.

  - an install.sh-shaped deployment of every module object (installsh.py,
    from docs/platform-objects.json), applied with `kubectl apply --server-side` (field
    manager kubectl), then install.sh's nodeSelector, tolerations and pull
    secret `kubectl patch`es: `nap-agent apply` adopts it, the live objects
    keep what the patches set and equal the render, and an immediately
    following apply writes nothing (the audit log);
  - a coturn Deployment with the RollingUpdate strategy (an older install):
    replaced (deleted, waited for, created), logged once, the pass succeeds;
  - the control plane's nap-cp, made with kubectl, with other env entries
    and other managers: it gets exactly SANDBOX_PUBLIC_URL and
    BROWSER_PUBLIC_URL (modules off too) and keeps every other field and
    manager; an edit of a public URL updates it, and only it; without a
    nap-cp the pass succeeds with a warning and creates nothing;
  - oauth_refresh_tokens referencing oauth_clients(id) ON DELETE CASCADE
    (tokens.sql): turning a module off leaves its client row and tokens;
  - install.sh's second APP_PREFIX guard: a namespace holding another
    prefix's control plane (acme-cp) is refused by `apply`, `plan --live`
    and the daemon, with nothing applied; the daemon lists the Deployments
    once per APP_PREFIX, not on every pass.

    with-harness.sh test-upstream.py NAP_AGENT
"""
import json
import os
import re
import signal
import sys
import threading
import time

from naptest import agent, platform
from naptest.agent import spawn
from naptest.audit import WRITE_VERBS, audit, fmt_reqs
from naptest.checks import Results, check
from naptest.compare import invariant
from naptest.db import new_installation, psql, psql_file, rows
from naptest.harness import init
from naptest.kube import ensure_namespace, get, kubectl
from naptest.platform import resolve
from naptest.values import Site
from installsh import control_plane, install_sh, installsh_values

HERE = os.path.dirname(os.path.abspath(__file__))


def managers(obj):
    return [(m["manager"], m["operation"]) for m in obj["metadata"].get("managedFields", [])]


def no_write_on_second_apply(site):
    m = audit().mark()
    r = site.apply_ok()
    writes = audit().writes_since(m)
    check(not writes, "an immediately following apply wrote:\n%s\n%r" % (fmt_reqs(writes), r))


# ---- 1. an install.sh deployment taken over ----------------------------------------

def case_takeover():
    ns = "shaped"
    ensure_namespace(ns)
    new_installation()
    site = Site("shaped", installsh_values("shaped", ns, 31086, 31085, COTURN_NODE_SELECTOR="kubernetes.io/hostname=node-a",
                                           SANDBOX_NODE_SELECTOR="pool=sandbox,zone=eu-1a",
                                           IMAGE_PULL_SECRET="mirror-pull"))
    r = agent.run("check", "--values", site.values)
    check(r.rc == 0, "check of the install.sh-shaped values.env: %r" % r)
    v = install_sh(site)
    before = get("deployments", ns, "coturn")
    check(("kubectl-patch", "Update") in managers(before) and ("kubectl", "Apply") in managers(before),
          "install.sh's coturn lacks its managers: %r" % managers(before))

    r = site.apply_ok()
    adopted = re.findall(r"adopted (\S+ \S+)", r.err)
    check(len(adopted) == 9, "want the 9 module objects adopted, got %r\n%r" % (adopted, r))
    invariant(site)

    # What install.sh's patches set is still there, now also the agent's.
    coturn = get("deployments", ns, "coturn")["spec"]["template"]["spec"]
    check(coturn.get("nodeSelector") == {"kubernetes.io/hostname": "node-a"}
          and coturn.get("tolerations") == [{"operator": "Exists"}]
          and coturn.get("imagePullSecrets") == [{"name": "mirror-pull"}],
          "coturn lost install.sh's nodeSelector, tolerations or pull secret: %r" % coturn)
    warmer = get("daemonsets", ns, "sandbox-image-warmer")["spec"]["template"]["spec"]
    check(warmer.get("nodeSelector") == {"pool": "sandbox", "zone": "eu-1a"},
          "the warmer lost install.sh's nodeSelector: %r" % warmer.get("nodeSelector"))
    # nap-cp already had its entries from install.sh: they stay as they were
    cp = get("deployments", ns, "nap-cp")
    env = [(e["name"], e.get("value")) for e in cp["spec"]["template"]["spec"]["containers"][0]["env"]]
    want = [("NODE_ENV", "production")] + [(e["name"], e["value"]) for e in platform.control_plane(v)["env"]]
    check(sorted(env) == sorted(want), "nap-cp env: %r, want %r" % (env, want))

    no_write_on_second_apply(site)
    for more in ((), ("--live",)):
        r = site.plan(*more)
        check(r.rc == 0, "plan %s after the takeover: want 0, got %r" % (" ".join(more), r))


# ---- 2. coturn of an older install: RollingUpdate ----------------------------------

def case_coturn_strategy():
    ns = "upgrade"
    ensure_namespace(ns)
    new_installation()
    site = Site("upgrade", installsh_values("upgrade", ns, 31186, 31185))
    install_sh(site, coturn_strategy=False, cp=False)
    old = get("deployments", ns, "coturn")
    check(old["spec"]["strategy"]["type"] == "RollingUpdate", "the old coturn: %r" % old["spec"]["strategy"])

    r = site.apply_ok()
    said = r.err.count("cannot be changed in place")
    check(said == 1 and r.err.count("created Deployment %s/coturn again" % ns) == 1,
          "the replacement is not logged exactly once (%d):\n%s" % (said, r.err))
    check("may not be specified when strategy" in r.err, "the log does not say why: %s" % r.err)
    new = get("deployments", ns, "coturn")
    check(new["spec"]["strategy"] == {"type": "Recreate"} and new["metadata"]["uid"] != old["metadata"]["uid"],
          "coturn was not replaced with strategy Recreate: %r" % new["spec"]["strategy"])
    check(site.status()["lastPass"]["result"] == "ok", "the pass did not succeed")
    invariant(site)
    no_write_on_second_apply(site)


# ---- 3. the control plane's nap-cp -----------------------------------------------

def env_of(obj):
    return [(e["name"], e.get("value")) for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]]


def without_env_and_bookkeeping(obj):
    o = json.loads(json.dumps(obj))
    md = o["metadata"]
    for k in ("managedFields", "resourceVersion", "generation"):
        md.pop(k, None)
    o.pop("status", None)
    o["spec"]["template"]["spec"]["containers"][0].pop("env")
    return o


def case_control_plane():
    ns = "cp"
    ensure_namespace(ns)
    new_installation()
    # both modules off: nap-cp carries the public URLs all the same
    site = Site("cp", installsh_values("cp", ns, 31286, 31285, SANDBOX_ENABLED="false", BROWSER_ENABLED="false"))
    v = resolve(site.vals)
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(control_plane(
        v, env=[("NODE_ENV", "production"), ("SANDBOX_PUBLIC_URL", "http://stale.example.test:1"),
                ("LOG_LEVEL", "info")])))
    kubectl("-n", ns, "set", "env", "deployment/nap-cp", "-c", "control-plane", "FEATURE_X=on")
    kubectl("-n", ns, "label", "deployment", "nap-cp", "team=platform")
    kubectl("-n", ns, "annotate", "deployment", "nap-cp", "owner=core")
    before = get("deployments", ns, "nap-cp")

    m = audit().mark()
    r = site.apply_ok()
    writes = audit().writes_since(m)
    check([w[:4] for w in writes] == [("patch", "deployments", ns, "nap-cp")],
          "want one write, the apply of nap-cp:\n%s" % fmt_reqs(writes))
    check("adopted" not in r.err, "nap-cp was adopted: %s" % r.err)
    after = get("deployments", ns, "nap-cp")
    want = [("NODE_ENV", "production"), ("SANDBOX_PUBLIC_URL", v["SANDBOX_PUBLIC_URL"]), ("LOG_LEVEL", "info"),
            ("FEATURE_X", "on"), ("BROWSER_PUBLIC_URL", v["BROWSER_PUBLIC_URL"]),
            ("WEB_PUBLIC_URL", v["WEB_PUBLIC_URL"])]
    check(sorted(env_of(after)) == sorted(want), "nap-cp env: %r, want %r" % (env_of(after), want))
    check(without_env_and_bookkeeping(after) == without_env_and_bookkeeping(before),
          "nap-cp changed beyond its env:\n%s\n%s" % (json.dumps(without_env_and_bookkeeping(before), sort_keys=True),
                                                      json.dumps(without_env_and_bookkeeping(after), sort_keys=True)))
    had, has = managers(before), managers(after)
    check(all(x in has for x in had) and [x for x in has if x not in had] == [("nap-agent", "Apply")],
          "managers before %r, after %r" % (had, has))
    mine = [mf for mf in after["metadata"]["managedFields"] if mf["manager"] == "nap-agent"][0]["fieldsV1"]
    entry = {".": {}, "f:name": {}, "f:value": {}}
    check(mine == {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"control-plane"}': {
        ".": {}, "f:name": {},
        "f:env": {'k:{"name":"SANDBOX_PUBLIC_URL"}': entry, 'k:{"name":"BROWSER_PUBLIC_URL"}': entry,
                  'k:{"name":"WEB_PUBLIC_URL"}': entry}}}}}}},
        "nap-agent owns more of nap-cp than its three env entries: %s" % json.dumps(mine))
    no_write_on_second_apply(site)

    # An edit of a public URL reaches nap-cp, and only it.
    site.vals["SANDBOX_PUBLIC_URL"] = "https://sandbox.example.test"
    site.write()
    m = audit().mark()
    site.apply_ok()
    writes = audit().writes_since(m)
    check([w[:4] for w in writes] == [("patch", "deployments", ns, "nap-cp")],
          "the URL edit: want one write to nap-cp:\n%s" % fmt_reqs(writes))
    env = dict(env_of(get("deployments", ns, "nap-cp")))
    check(env["SANDBOX_PUBLIC_URL"] == "https://sandbox.example.test"
          and env["BROWSER_PUBLIC_URL"] == v["BROWSER_PUBLIC_URL"] and env["FEATURE_X"] == "on",
          "nap-cp after the URL edit: %r" % env)
    no_write_on_second_apply(site)


def case_no_control_plane():
    ns = "nocp"
    ensure_namespace(ns)
    new_installation()
    site = Site("nocp", installsh_values("nocp", ns, 31386, 31385, BROWSER_ENABLED="false"))
    m = audit().mark()
    r = agent.run("apply", *site.args(), env=dict(os.environ, NAP_LOG_PREFIX="1"))  # with the syslog levels
    check(r.rc == 0, "apply failed: %r" % r)
    check(re.search(r"^<4>Deployment nocp/nap-cp does not exist, .*, ignoring$", r.err, re.M),
          "no warning about the missing nap-cp: %s" % r.err)
    writes = audit().writes_since(m)
    check(("patch", "deployments", ns, "nap-cp") not in [w[:4] for w in writes] and get(
        "deployments", ns, "nap-cp") is None, "nap-cp was written or created:\n%s" % fmt_reqs(writes))
    st = site.status()
    cp = [o for o in st["objects"] if o["name"] == "nap-cp"]
    check(st["lastPass"]["result"] == "ok" and len(cp) == 1 and cp[0]["state"] == "missing",
          "status after a pass without nap-cp: %r" % st)
    invariant(site)
    # nothing changed: no request at all, not even a look at nap-cp
    m = audit().mark()
    r = site.apply_ok()
    reqs = audit().requests_since(m)
    check(not reqs and "does not exist" not in r.err, "a second apply made requests or warned again:\n%s\n%r"
          % (fmt_reqs(reqs), r))
    check("nocp/nap-cp (the platform's own) did not exist at the last pass" in r.err,
          "the second apply does not say that nap-cp was missing: %r" % r)
    # a resync looks again, and warns again
    m = audit().mark()
    r = site.apply_ok("--resync")
    check("nocp/nap-cp does not exist" in r.err, "the resync did not look at nap-cp: %s" % r.err)
    check(not audit().writes_since(m), "the resync wrote")


# ---- 4. a module turned off keeps its oauth client and its tokens ---------------------

def tokens(client):
    return int(psql("SELECT count(*) FROM oauth_refresh_tokens WHERE client_id = '%s'" % client).strip())


def case_tokens_survive():
    ns = "tokens"
    ensure_namespace(ns)
    new_installation()
    psql_file(os.path.join(HERE, "tokens.sql"))
    site = Site("tokens", installsh_values("tokens", ns, 31486, 31485))
    site.apply_ok()
    for client in ("sandbox-service", "browser-service"):
        psql("INSERT INTO oauth_refresh_tokens(id, client_id, user_id) SELECT '%s-' || g, '%s', 'u-user' "
             "FROM generate_series(1, 3) g ON CONFLICT DO NOTHING" % (client, client))
    # the schema really cascades: deleting a row would take its tokens along
    n = psql("BEGIN; DELETE FROM oauth_clients WHERE id = 'browser-service'; "
             "SELECT count(*) FROM oauth_refresh_tokens WHERE client_id = 'browser-service'; ROLLBACK")
    check(n.strip() == "0" and tokens("browser-service") == 3, "the fixture does not cascade: %r" % n)

    before = rows()
    site.vals["BROWSER_ENABLED"] = "false"
    site.write()
    r = site.plan()
    check(r.rc == 2 and 'keeping oauth client "browser-service" of the browser module, which is off' in r.out,
          "plan does not say the row is kept: %r" % r)
    site.apply_ok()
    check(get("deployments", ns, "nap-browser") is None, "the browser was not turned off")
    after = rows()
    check("browser-service" in after and after["browser-service"] == before["browser-service"],
          "the browser's client row was touched: %r -> %r" % (before.get("browser-service"),
                                                               after.get("browser-service")))
    check(tokens("browser-service") == 3 and tokens("sandbox-service") == 3, "tokens were lost")
    kept = [c for c in site.status()["oauthClients"] if c["id"] == "browser-service"]
    check(kept and kept[0]["state"] == "kept", "status does not say the row is kept: %r" % kept)


# ---- 5. install.sh's second APP_PREFIX guard -------------------------------------

class Daemon:
    """`nap-agent run` with its stderr read line by line (debug level)."""

    def __init__(self, site):
        env = dict(os.environ, NAP_LOG_LEVEL="debug")
        self.p = spawn("run", *site.args("--resync=0", "--idle-close=0"), env=env)
        self.lines = []
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, pattern, after=-1, timeout=30):
        """Index of the first line after `after` matching pattern: the
        daemon's own word that it got there (a fence, not a sleep)."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for i in range(after + 1, len(self.lines)):
                    if re.search(pattern, self.lines[i]):
                        return i
                left = deadline - time.time()
                check(left > 0 and self.p.poll() is None, "the daemon never logged %r:\n%s"
                      % (pattern, "".join(self.lines)))
                self.cond.wait(left)

    def text(self):
        with self.cond:
            return "".join(self.lines)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=30)
        finally:
            self.t.join(timeout=5)
            agent.OUTPUTS.append(("nap-agent run", self.text()))


def case_prefix_guard():
    ns = "guard"
    ensure_namespace(ns)
    new_installation()
    other = resolve(dict(installsh_values("guard", ns, 31586, 31585), APP_PREFIX="acme"))
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(control_plane(other)))
    site = Site("guard", installsh_values("guard", ns, 31586, 31585, BROWSER_ENABLED="false"))
    refusal = r"holds an installation under APP_PREFIX 'acme' \(Deployment 'acme-cp'\), not 'nap'.*Set APP_PREFIX=acme"

    before = rows()
    m = audit().mark()
    r = site.apply()
    check(r.rc == 1 and re.search(refusal, r.err), "apply into acme's namespace: %r" % r)
    check(not audit().writes_since(m) and rows() == before, "apply wrote although refused:\n%s"
          % fmt_reqs(audit().writes_since(m)))
    st = site.status()
    check(st["lastPass"]["result"] == "error" and "APP_PREFIX 'acme'" in st["lastPass"]["message"],
          "status after the refusal: %r" % st["lastPass"])

    m = audit().mark()
    r = site.plan("--live")
    check(r.rc == 1 and re.search(refusal, r.err), "plan --live into acme's namespace: %r" % r)
    check(not audit().writes_since(m), "plan --live wrote")

    m = audit().mark()
    d = Daemon(site)
    try:
        # after the first pass ends, the daemon says when it retries
        i = d.wait_for(r"retrying in")
        check(re.search(refusal, d.text()) and re.search(r"pass 1 done", d.text()),
              "the daemon's first pass was not refused:\n%s" % d.text())
        check(not audit().writes_since(m), "the daemon wrote although refused:\n%s" % fmt_reqs(audit().writes_since(m)))
        check(rows() == before, "the daemon wrote oauth rows although refused")

        # The operator sets the prefix of the installation that is there.
        m = audit().mark()
        site.vals.update(APP_PREFIX="acme", PLATFORM_IMAGE_PREFIX="registry.test/platform/acme")
        site.write()
        i = d.wait_for(r"applied \d+ object\(s\)", after=i)
        reqs = audit().requests_since(m)
        lists = [x for x in reqs if x[0] == "list" and x[1] == "deployments" and x[2] == ns]
        check(lists, "the Deployments were not looked at for APP_PREFIX=acme:\n%s" % fmt_reqs(reqs))
        check(get("deployments", ns, "acme-sandbox") is not None, "acme-sandbox was not created")
        env = dict(env_of(get("deployments", ns, "acme-cp")))
        check(env["SANDBOX_PUBLIC_URL"] == other["SANDBOX_PUBLIC_URL"], "acme-cp env: %r" % env)

        # Cheap: the next edit's pass does not look again.
        m = audit().mark()
        site.vals["SANDBOX_DOMAIN"] = "sandbox2.example.test"
        site.write()
        d.wait_for(r"applied \d+ object\(s\)", after=i)
        reqs = audit().requests_since(m)
        check(not [x for x in reqs if x[0] == "list" and x[1] == "deployments"],
              "the second pass listed the Deployments again:\n%s" % fmt_reqs(reqs))
        check([x[:4] for x in reqs if x[0] in WRITE_VERBS] == [("patch", "deployments", ns, "acme-sandbox")],
              "the SANDBOX_DOMAIN edit:\n%s" % fmt_reqs(reqs))
    finally:
        d.stop()
    check(d.p.returncode == 0, "the daemon exited %s:\n%s" % (d.p.returncode, d.text()))


def main():
    init(sys.argv)
    run = Results("reconcile-upstream")
    for name, fn in [
        ("install.sh's objects and patches taken over: kept, equal to the render, no write after", case_takeover),
        ("coturn with RollingUpdate from an older install is replaced, logged once", case_coturn_strategy),
        ("nap-cp gets exactly its three URLs (WEB_PUBLIC_URL, the two public ones), keeps the rest and its managers; a URL edit reaches it",
         case_control_plane),
        ("no nap-cp: the pass succeeds with a warning, creates nothing, looks again on a resync",
         case_no_control_plane),
        ("a module turned off keeps its oauth client row and its refresh tokens", case_tokens_survive),
        ("another APP_PREFIX's installation in the namespace: apply, plan --live and the daemon refuse",
         case_prefix_guard),
    ]:
        run.case(name, fn)
    secrets = []
    for tag in ("shaped", "upgrade", "cp", "nocp", "tokens", "guard"):
        secrets += [v for k, v in installsh_values(tag, "x", 1, 1)
                    if k in ("SANDBOX_JWT_SECRET", "SANDBOX_SERVICE_KEY", "BROWSER_JWT_SECRET", "TURN_AUTH_SECRET")]
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
