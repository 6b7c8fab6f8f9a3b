#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Safety of `nap-agent apply` against the harness's real servers:

  - a SIGKILL between two object applies (a proxy holds the 2nd PATCH,
    before or after forwarding it) leaves a state from which the next apply
    converges, applying exactly what was not yet recorded, with no object
    lost, duplicated or recreated;
  - a corrupt, truncated or newer-schema ledger;
  - a values.env emptied, deleted, truncated mid-line (at every line), with
    a syntax error or an invalid value: nothing applied, nothing deleted;
  - a toggle line removed: nothing deleted, and plan says why;
  - adoption of objects created by `kubectl apply --server-side`.

After every case the invariant holds (see naptest.compare).

    with-harness.sh test-safety.py NAP_AGENT
"""
import json
import os
import signal
import sys

from naptest.agent import spawn
from naptest.audit import audit, fmt_reqs, summary
from naptest.checks import Failure, Results, check, must_wait
from naptest.compare import invariant
from naptest.db import row_changes, rows
from naptest.faultproxy import FaultProxy
from naptest.harness import init, scratch
from naptest.kube import RESOURCE_OF, get, kubectl, write_kubeconfig
from naptest.secret_digest import KEY_SECRET
from naptest.values import hexsecret, module_site, module_values

HERE = os.path.dirname(os.path.abspath(__file__))
NS = "nap"
S_SECRET, S_SVC, S_DEPLOY = ("secrets", "nap-sandbox-secret"), ("services", "nap-sandbox"), ("deployments", "nap-sandbox")
B_SECRET, B_SVC, B_DEPLOY = ("secrets", "nap-browser-secret"), ("services", "nap-browser"), ("deployments", "nap-browser")
T_DEPLOY, T_SVC = ("deployments", "coturn"), ("services", "coturn")
W_DS = ("daemonsets", "sandbox-image-warmer")
ALL = [S_SECRET, S_SVC, S_DEPLOY, W_DS, B_SECRET, B_SVC, B_DEPLOY, T_DEPLOY, T_SVC]
SANDBOX, BROWSER = ALL[:4], ALL[4:]


def patches(objs, ns=NS):
    return sorted("patch %s %s/%s" % (r, ns, n) for r, n in objs)


def uids(objs, ns=NS):
    out = {}
    for r, n in objs:
        o = get(r, ns, n)
        out[(r, n)] = o["metadata"]["uid"] if o else None
    return out


def converged(site):
    """The invariant, and a second apply makes no request."""
    invariant(site)
    m = audit().mark()
    r = site.apply()
    reqs = audit().requests_since(m)
    check(r.rc == 0 and not reqs, "apply after convergence made requests (exit %d):\n%s" % (r.rc, fmt_reqs(reqs)))


# ---- crashes ------------------------------------------------------------------

def crash_run(site, nth, mode, planned):
    """Runs apply through the fault proxy, which holds its nth PATCH (not a
    dry run), before forwarding it or after (mode); SIGKILLs it while held;
    returns the writes that reached the server. planned: how many writes
    the pass has (each one's intent is saved before the first)."""
    proxy = FaultProxy().start()
    proxy.queue({"type": "hold", "when": mode, "methods": ["PATCH"], "not_path": "dryRun", "skip": nth - 1})
    kc = write_kubeconfig(scratch("proxy-%d.kubeconfig" % proxy.port), proxy.url)
    apply = None
    try:
        m = audit().mark()
        apply = spawn("apply", *site.args("--kubeconfig", kc))
        must_wait("the proxy to hold the PATCH (or apply to end)", lambda: proxy.held or apply.poll() is not None,
                  20, 0.05)
        if apply.poll() is not None:
            raise Failure("apply finished before the stalled PATCH: %s" % (apply.communicate(),))
        check(proxy.held, "the proxy never held a PATCH")
        # The PATCHes of one rank go at once, and the intents of every write
        # of the pass are saved before the first: wait until the answered
        # ones are settled in the ledger (each answer is saved at once), then kill.
        must_wait("the ledger to hold %d pending writes (the %d answered ones settled)"
                  % (planned - (nth - 1), nth - 1),
                  lambda: sum(o["state"] == "pending" for o in site.status()["objects"]) == planned - (nth - 1),
                  10, 0.05)
        os.kill(apply.pid, signal.SIGKILL)
        apply.wait()
        apply.communicate()
        proxy.release()
        # the secret digest's key is made once, beside the first group: not a planned write
        return [w for w in audit().writes_since(m) if w.name != KEY_SECRET]
    finally:
        if apply and apply.poll() is None:
            os.kill(apply.pid, signal.SIGKILL)
            apply.wait()
        proxy.stop()


def recover(site, planned, got_through, mode, rows_expected, rows_before):
    """The next apply writes exactly what the ledger did not record: one
    PATCH was answered (recorded), the held one's outcome is unknown (its
    intent is in the ledger) and the later ones never went, so all of them
    are repeated. Which of the two concurrent PATCHes the proxy held is its
    choice: the ledger says which one was answered. The rows are synced
    beside the objects, so the crash may come before or after them: counted
    from before the crashed run, each changes exactly once."""
    check(len(got_through) == (1 if mode == "before" else 2),
          "writes before the kill:\n%s" % fmt_reqs(got_through))
    st = site.status()
    recorded = ["patch %s %s/%s" % (RESOURCE_OF[o["kind"]], o["namespace"], o["name"]) for o in st["objects"]
                if o["state"] == "applied" and "patch %s %s/%s" % (RESOURCE_OF[o["kind"]], o["namespace"],
                                                                  o["name"]) in planned]
    pending = [o["name"] for o in st["objects"] if o["state"] == "pending"]
    check(len(recorded) == 1 and recorded[0] in summary(got_through) and len(pending) == len(planned) - 1,
          "ledger after the crash: want one answered write recorded, every other planned one pending; have %s"
          % st["objects"])
    pl = site.plan()
    check(pl.rc == 2, "plan after the crash: want exit 2, got %r" % pl)
    before_uids = uids(ALL)
    m = audit().mark()
    site.apply_ok()
    writes = audit().writes_since(m)
    want = sorted(set(planned) - set(recorded))
    check(summary(writes) == want, "recovery writes:\n  want %s\n  have %s" % (want, summary(writes)))
    ch = row_changes(rows_before, rows())
    check(ch == rows_expected, "rows written by the crashed run and the recovery: want %s, have %s"
          % (rows_expected, ch))
    after = uids(ALL)
    check(all(before_uids[k] is None or before_uids[k] == after[k] for k in after),
          "an object was recreated: %s -> %s" % (before_uids, after))
    converged(site)
    return st


def case_crash_first_install(site):
    before = rows()
    got = crash_run(site, 2, "after", len(patches(ALL)))
    st = site.status()
    check([o["state"] for o in st["objects"]].count("applied") == 1,
          "ledger after the crash: want 1 object applied, the rest pending; have %s" % st)
    recover(site, patches(ALL), got, "after", {"sandbox-service": "insert", "browser-service": "insert"}, before)


def case_crash_update_before(site):
    site.vals.update(SANDBOX_JWT_SECRET=hexsecret("safety-2-sjwt"), TURN_AUTH_SECRET=hexsecret("safety-2-turn"),
                     BROWSER_NODE_PORT="30095")
    site.write()
    before = rows()
    planned = patches([S_SECRET, B_SECRET, B_SVC, S_DEPLOY, B_DEPLOY, T_DEPLOY])
    got = crash_run(site, 2, "before", len(planned))
    recover(site, planned, got, "before", {"browser-service": "update"}, before)


def case_crash_update_after(site):
    # (the 2nd PATCH is the Service's, alone in its group: only it and the
    # Secret's reach the server before the kill)
    site.vals.update(SANDBOX_JWT_SECRET=hexsecret("safety-3-sjwt"), SANDBOX_NODE_PORT="30096")
    site.write()
    before = rows()
    planned = patches([S_SECRET, S_SVC, S_DEPLOY])
    got = crash_run(site, 2, "after", len(planned))
    recover(site, planned, got, "after", {"sandbox-service": "update"}, before)


# ---- the ledger -----------------------------------------------------------------

def ledger_path(site):
    return os.path.join(site.state, "ledger.json")


def operator_edits():
    """What an operator does with kubectl beside the agent: Update managers
    (kubectl-label, kubectl-annotate, kubectl-set) whose fields must survive."""
    kubectl("-n", NS, "label", "deployment", "nap-sandbox", "team=ops", "--overwrite")
    kubectl("-n", NS, "annotate", "service", "nap-browser", "ops/note=keep", "--overwrite")
    kubectl("-n", NS, "set", "env", "deployment/nap-browser", "OPS_DEBUG=1")


def operator_fields_kept():
    sd, bs, bd = get(S_DEPLOY[0], NS, S_DEPLOY[1]), get(B_SVC[0], NS, B_SVC[1]), \
        get(B_DEPLOY[0], NS, B_DEPLOY[1])
    env = {e["name"]: e.get("value") for e in bd["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    check(sd["metadata"]["labels"].get("team") == "ops", "kubectl label lost: %s" % sd["metadata"]["labels"])
    check(bs["metadata"].get("annotations", {}).get("ops/note") == "keep", "kubectl annotate lost")
    check(env.get("OPS_DEBUG") == "1", "kubectl set env lost: %s" % sorted(env))


def lost_ledger(damage, note):
    """damage(path): the ledger is lost or damaged. The next apply reads back
    from the cluster what carries nap-agent's label and Apply entry instead of
    adopting it again: nothing is written (no pod rolls), what operators set
    with kubectl stays, and the ledger knows every object again."""
    def case(site):
        operator_edits()
        before_uids, before_rows = uids(ALL), rows()
        gens = {n: get(r, NS, n)["metadata"].get("generation") for r, n in ALL if r == "deployments"}
        damage(ledger_path(site))
        m = audit().mark()
        r = site.apply_ok()
        writes = audit().writes_since(m)
        check(note in r.err, "no word about the ledger (%r): %r" % (note, r))
        check(summary(writes) == [], "writes after the ledger was lost: %s" % summary(writes))
        check(uids(ALL) == before_uids, "objects were recreated")
        check({n: get(r, NS, n)["metadata"].get("generation") for r, n in ALL if r == "deployments"} == gens,
              "a Deployment's generation moved: its pods would roll")
        ch = row_changes(before_rows, rows())
        check(ch == {}, "rows rewritten although they match: %s" % ch)
        st = site.status()
        check(sorted((o["kind"], o["name"]) for o in st["objects"] if o["state"] == "applied") ==
              sorted((k, n) for k, n in [("Secret", "nap-sandbox-secret"), ("Service", "nap-sandbox"),
                                         ("Deployment", "nap-sandbox"), ("Secret", "nap-browser-secret"),
                                         ("Service", "nap-browser"), ("Deployment", "nap-browser"),
                                         ("Deployment", "coturn"), ("Service", "coturn"),
                                         ("DaemonSet", "sandbox-image-warmer")]),
              "the ledger was not rebuilt: %s" % st["objects"])
        operator_fields_kept()
        kubectl("-n", NS, "label", "deployment", "nap-sandbox", "team-")
        kubectl("-n", NS, "annotate", "service", "nap-browser", "ops/note-")
        kubectl("-n", NS, "set", "env", "deployment/nap-browser", "OPS_DEBUG-")
        for f in os.listdir(site.state):
            if f.startswith("ledger.json.corrupt"):
                os.unlink(os.path.join(site.state, f))
        converged(site)
    return case


def corrupt_ledger(content):
    def damage(path):
        with open(path) as f:
            good = f.read()
        with open(path, "w") as f:
            f.write(content(good))
    return lost_ledger(damage, "moved it to")


def case_newer_schema(site):
    with open(ledger_path(site)) as f:
        good = f.read()
    j = json.loads(good)
    j["schema"] = 99
    with open(ledger_path(site), "w") as f:
        json.dump(j, f)
    with open(ledger_path(site)) as f:
        newer = f.read()
    m = audit().mark()
    r = site.apply()
    reqs = audit().requests_since(m)
    check(r.rc != 0 and "newer" in r.err, "a newer ledger was not refused: %r" % r)
    check(not reqs, "requests made with a newer ledger:\n%s" % fmt_reqs(reqs))
    with open(ledger_path(site)) as f:
        check(f.read() == newer, "the newer ledger was modified")
    with open(ledger_path(site), "w") as f:
        f.write(good)
    converged(site)


# ---- bad values.env -------------------------------------------------------------

# How a values.env that is refused ends: apply exits 1 and the pass is
# recorded as an error, plan exits 1; nothing is requested, no row touched.
REFUSED = {"rc": 1, "result": "error", "plan_rc": 1}

# An emptied or comments-only values.env. DECIDED (issue 15; README, Safety:
# "a values.env that is missing, empty, unparsable or invalid applies
# nothing and deletes nothing"): it is refused like a missing one (it is
# what a write cut to nothing looks like), with the diagnostic saying so.
EMPTY = dict(REFUSED, notes=["the file assigns no key at all"])


def bad_values(make, want=REFUSED):
    """make(site) -> None; applies, asserts the outcome `want` and that
    nothing happened, restores."""
    def case(site):
        base = site.text()
        make(site)
        before = rows()
        m = audit().mark()
        r = site.apply()
        reqs = audit().requests_since(m)
        check(r.rc == want["rc"], "apply: want exit %d, got %r" % (want["rc"], r))
        check(not reqs, "requests made:\n%s" % fmt_reqs(reqs))
        check(rows() == before, "oauth_clients rows changed")
        for note in want.get("notes", []):
            check(note in r.err, "apply does not say '%s': %r" % (note, r))
        p = site.plan()
        check(p.rc == want["plan_rc"], "plan: want exit %d, got %r" % (want["plan_rc"], p))
        st = site.status()
        check(st["lastPass"].get("result") == want["result"],
              "status after the pass: want result %r, have %s" % (want["result"], st["lastPass"]))
        site.write(base)
        converged(site)
    return case


def write_text(text):
    return lambda site: site.write(text)


def truncate_at(pattern, keep):
    """Cuts the file right after the first `keep` characters of the line
    that starts with pattern."""
    def make(site):
        t = site.text()
        i = t.index("\n" + pattern) + 1
        site.write(t[:i + keep])
    return make


def append(line):
    return lambda site: site.write(site.text() + line + "\n")


def replace_value(key, value):
    def make(site):
        t = site.text().replace("\n%s=%s\n" % (key, site.vals[key]), "\n%s=%s\n" % (key, value))
        site.write(t)
    return make


def case_truncation_sweep(site):
    """Cut short in the middle of every line's key and of every value: no
    write at all, no row touched; afterwards the full file converges."""
    base = site.text()
    cuts = []
    off = 0
    for ln in base.splitlines(True):
        body = ln.rstrip("\n")
        cuts.append(off + max(1, len(body) // 4))
        if "=" in body and not body.startswith("#"):
            eq = body.index("=")
            cuts.append(off + eq + 1 + (len(body) - eq - 1) // 2)
        off += len(ln)
    applied = []
    for cut in cuts:
        site.write(base[:cut])
        before = rows()
        m = audit().mark()
        r = site.apply()
        reqs = audit().requests_since(m)
        if reqs or r.rc == 0:
            applied.append("%r (exit %d)\n%s" % (base[base.rfind("\n", 0, cut) + 1:cut], r.rc, fmt_reqs(reqs)))
        check(rows() == before, "cut after %r: rows changed" % base[:cut][-30:])
        if reqs:
            site.write(base)
            site.apply_ok()
    site.write(base)
    check(not applied, "a file cut short was used (%d of %d cuts):\n  %s"
          % (len(applied), len(cuts), "\n  ".join(applied)))
    converged(site)


# ---- toggles --------------------------------------------------------------------

def toggle_removed(key, want_writes, kept):
    """The toggle's line removed: exactly `want_writes` (what the other module's
    objects derive from the toggle), nothing deleted, `kept` still there."""
    def case(site):
        site.vals[key] = None
        site.write()
        try:
            removed(site, key, want_writes, kept)
        finally:
            site.vals[key] = "true"
            site.write()
        site.apply_ok()
        converged(site)
    return case


def removed(site, key, want_writes, kept):
    p = site.plan()
    check("note: %s is not in" % key in p.out, "plan does not say why it keeps the module: %r" % p)
    before = rows()
    m = audit().mark()
    r = site.apply_ok()
    writes = audit().writes_since(m)
    check("%s is not in" % key in r.err, "apply does not say why it keeps the module: %r" % r)
    check(summary(writes) == sorted(want_writes),
          "writes with %s removed: want exactly %s, have:\n%s" % (key, sorted(want_writes), fmt_reqs(writes)))
    if writes:
        print("     (with %s removed: %s)" % (key, ", ".join(summary(writes))))
    check(rows() == before, "oauth_clients rows changed")
    invariant(site, kept=kept)
    m = audit().mark()
    site.apply_ok()
    check(not audit().requests_since(m), "a second apply made requests")


# ---- adoption -------------------------------------------------------------------

def case_adoption(_site):
    ns = "adopt"
    site = module_site("adopt", ns, NAMESPACE=ns, APP_PREFIX="adopt", SANDBOX_NODE_PORT="31086",
                       BROWSER_NODE_PORT="31085")
    items = site.render()["items"]
    for it in items:
        it["metadata"]["labels"]["installed-by"] = "install.sh"
    kubectl("apply", "--server-side", "--field-manager=kubectl", "-f", "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    objs = [(RESOURCE_OF[i["kind"]], i["metadata"]["name"]) for i in items]
    before = uids(objs, ns)
    m = audit().mark()
    r = site.apply_ok()
    writes = [w for w in audit().writes_since(m) if w[3] != KEY_SECRET]  # made once, not adopted
    check([w for w in writes if w[0] != "patch"] == [], "non-apply writes:\n%s" % fmt_reqs(writes))
    for i in items:
        check("adopted %s %s/%s" % (i["kind"], ns, i["metadata"]["name"]) in r.err,
              "no 'adopted' line for %s %s: %r" % (i["kind"], i["metadata"]["name"], r))
        live = get(RESOURCE_OF[i["kind"]], ns, i["metadata"]["name"])
        check("installed-by" not in live["metadata"].get("labels", {}),
              "the installer's label survived on %s %s" % (i["kind"], i["metadata"]["name"]))
    check(uids(objs, ns) == before, "adopted objects were recreated")
    check(r.err.count("adopted ") == len(items), "adoption logged more than once per object: %r" % r.err)
    converged(site)
    m = audit().mark()
    r = site.apply_ok("--resync")
    check("adopted" not in r.err, "adopted again on resync: %r" % r)


# ---- a change Kubernetes cannot make in place ---------------------------------

def case_recreate(_site):
    """install.sh made coturn's Service with a ClusterIP; the agent's is
    headless (clusterIP None), which the server refuses to change in place
    (422, "may not change once set"): the agent deletes and creates it."""
    ns = "recreate"
    site = module_site("recreate", ns, NAMESPACE=ns, APP_PREFIX="recreate",
                       SANDBOX_NODE_PORT="31186", BROWSER_NODE_PORT="31185")
    kubectl("apply", "--server-side", "--field-manager=kubectl", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "coturn", "namespace": ns},
        "spec": {"selector": {"app": "coturn"},
                 "ports": [{"name": "turn-udp", "port": 3478, "protocol": "UDP"}]}}))
    old = get("services", ns, "coturn")
    check(old["spec"].get("clusterIP") not in (None, "None"), "the installer's Service got no ClusterIP")
    m = audit().mark()
    r = site.apply_ok()
    new = get("services", ns, "coturn")
    check(new["spec"].get("clusterIP") == "None", "coturn is not headless: %r" % new["spec"])
    check(new["metadata"]["uid"] != old["metadata"]["uid"], "coturn was not recreated")
    check("Service %s/coturn cannot be changed in place" % ns in r.err, "no line saying why: %r" % r.err)
    writes = [w for w in audit().writes_since(m) if w[1] == "services" and w[3] == "coturn"]
    check([w[0] for w in writes] == ["patch", "patch", "delete", "patch"],
          "coturn: expected adoption patch, refused apply, delete, apply; got:\n%s" % fmt_reqs(writes))
    converged(site)


def case_probe_dropped(_site):
    """An earlier nap-agent applied coturn with a readiness probe (tcpSocket);
    install.sh's coturn has none. Dropping it from the apply removes the
    handler the agent owned but leaves the fields the server defaulted, which
    the server refuses ("must specify a handler type"): the agent deletes the
    Deployment and creates it again, and the pass succeeds."""
    ns = "probe"
    site = module_site("probe", ns, NAMESPACE=ns, APP_PREFIX="probe",
                       SANDBOX_NODE_PORT="31196", BROWSER_NODE_PORT="31195")
    d = site.render()
    coturn = [i for i in d["items"] if i["kind"] == "Deployment" and i["metadata"]["name"] == "coturn"][0]
    coturn["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = {
        "tcpSocket": {"port": 3478}, "periodSeconds": 10}
    kubectl("apply", "--server-side", "--field-manager=nap-agent", "-f", "-", input=json.dumps(coturn))
    old = get("deployments", ns, "coturn")
    r = site.apply_ok()
    new = get("deployments", ns, "coturn")
    check("readinessProbe" not in new["spec"]["template"]["spec"]["containers"][0], "the probe is still there")
    check(new["metadata"]["uid"] != old["metadata"]["uid"], "coturn was not recreated")
    check(r.err.count("Deployment %s/coturn cannot be changed in place" % ns) == 1, "not said once: %r" % r.err)
    converged(site)


def main():
    init(sys.argv)
    run = Results("reconcile-safety")
    site = module_site("safety", NS)
    cases = [
        ("crash (SIGKILL) during the first install, after the 2nd PATCH reached the server", case_crash_first_install),
        ("crash (SIGKILL) while the 2nd PATCH of an update is in flight", case_crash_update_before),
        ("crash (SIGKILL) after the 2nd PATCH of an update was applied, before its answer", case_crash_update_after),
        ("ledger deleted", lost_ledger(os.unlink, "read back")),
        ("corrupt ledger (garbage)", corrupt_ledger(lambda good: "{ this is not json")),
        ("corrupt ledger (truncated)", corrupt_ledger(lambda good: good[:len(good) // 2])),
        ("corrupt ledger (empty file)", corrupt_ledger(lambda good: "")),
        ("ledger of a newer schema is refused", case_newer_schema),
        ("values.env emptied", bad_values(write_text(""), EMPTY)),
        ("values.env only comments", bad_values(write_text("# nothing here\n\n"), EMPTY)),
        ("values.env deleted", bad_values(lambda s: os.unlink(s.values))),
        ("values.env truncated in a secret", bad_values(truncate_at("SANDBOX_JWT_SECRET=", 30))),
        ("values.env truncated in a toggle's name", bad_values(truncate_at("BROWSER_ENABLED=", 10))),
        ("values.env truncated in a toggle's value", bad_values(truncate_at("BROWSER_ENABLED=", 18))),
        ("syntax error: $(...)", bad_values(append("DATE=$(date)"))),
        ("syntax error: backticks", bad_values(append("DATE=`date`"))),
        ("syntax error: unquoted &", bad_values(append("URL=http://h/p?a=1&b=2"))),
        ("syntax error: unterminated quote", bad_values(append("TURN_HOST='192.0.2.30"))),
        ("syntax error: not an assignment", bad_values(append("BROWSER_ENABLED true"))),
        ("syntax error: invalid key", bad_values(append("1KEY=x"))),
        ("invalid value: NodePort out of range", bad_values(replace_value("BROWSER_NODE_PORT", "99999"))),
        ("invalid value: NodePorts collide", bad_values(replace_value("BROWSER_NODE_PORT", "30096"))),
        ("invalid value: placeholder secret", bad_values(replace_value("TURN_AUTH_SECRET", "change-me"))),
        ("invalid value: required key emptied", bad_values(replace_value("TURN_HOST", ""))),
        ("invalid value: toggle not a boolean", bad_values(replace_value("SANDBOX_ENABLED", "yes"))),
        ("values.env truncated at the middle of every line", case_truncation_sweep),
        ("BROWSER_ENABLED line removed", toggle_removed("BROWSER_ENABLED", [], BROWSER + ["browser-service"])),
        # (the browser reads the sandbox's Secret either way: nothing of it moves)
        ("SANDBOX_ENABLED line removed", toggle_removed("SANDBOX_ENABLED", [], SANDBOX + ["sandbox-service"])),
        ("adoption of objects from kubectl apply --server-side", case_adoption),
        ("a change the server refuses in place (headless Service) is made by recreating", case_recreate),
        ("an earlier agent's coturn probe dropped: recreated", case_probe_dropped),
    ]
    for name, fn in cases:
        ok = run.case(name, fn, site)
        if not ok and name.startswith("crash"):
            break
    secrets = [v for _k, v in module_values("safety") + module_values("adopt") + module_values("recreate") if len(v) == 64] + \
        [hexsecret(t) for t in ("safety-2-sjwt", "safety-2-turn", "safety-3-sjwt")]
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
