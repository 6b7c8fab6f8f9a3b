#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Never delete what is not provably the agent's, never trust a state
directory others can write, never read "unreadable" as "empty" (issue 19),
against the harness's real kube-apiserver:

  - an object the ledger holds that someone else deleted and created again
    (new uid, no label of ours) is left in place when its module is turned
    off, also when the swap happens between the agent's read and its delete
    (the DELETE carries preconditions.uid: the server refuses it);
  - an older ledger (no uids, no seals) still opens; its entries are judged
    by reading the objects;
  - a ledger entry nap-agent cannot have written (Secret kube-system/...) is
    refused with the file named, and nothing is requested;
  - a state directory or ledger file others may write, or one owned by
    another user, is refused with the command that fixes it; one the agent
    owns that others may read is made 0700 (apply and run);
  - status, plan and doctor as another user, or on a corrupt ledger, fail
    naming the file (and the user) instead of showing an empty ledger.

    with-harness.sh test-ownership.py NAP_AGENT
"""
import json
import os
import shutil
import stat
import subprocess
import sys

from naptest import agent
from naptest.agent import Agent, NotifySocket, spawn
from naptest.audit import audit, fmt_reqs, summary
from naptest.checks import Results, check, must_wait
from naptest.compare import invariant
from naptest.faultproxy import FaultProxy
from naptest.harness import env, init, scratch
from naptest.kube import ensure_namespace, get, kubectl, write_kubeconfig
from naptest.values import Site, module_site, module_values

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
BROWSER = [("deployments", "nap-browser"), ("services", "nap-browser"), ("secrets", "nap-browser-secret"),
           ("deployments", "coturn")]


def site_in(ns, ports, **over):
    """Both modules on in namespace ns (its own NodePorts), applied."""
    site = module_site(ns, ns, NAMESPACE=ns, SANDBOX_NODE_PORT=str(ports), BROWSER_NODE_PORT=str(ports + 1),
                       **over)
    site.apply_ok()
    return site


def replace_coturn_service(ns):
    """What someone else does: delete the agent's coturn Service and create
    their own under the name, without the agent's label; returns its uid."""
    kubectl("-n", ns, "delete", "service", "coturn", "--wait=true")
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "coturn", "namespace": ns,
                                                           "labels": {"app": "coturn", "owner": "someone-else"}},
        "spec": {"clusterIP": "None", "selector": {"app": "coturn"},
                 "ports": [{"name": "turn", "port": 3478, "protocol": "UDP"}]}}))
    svc = get("services", ns, "coturn")
    check("app.kubernetes.io/managed-by" not in svc["metadata"]["labels"], "the replacement has the agent's label")
    return svc["metadata"]["uid"]


def browser_off(site):
    site.vals["BROWSER_ENABLED"] = "false"
    site.write()


def deleted(ns, objs):
    return sorted("delete %s %s/%s" % (r, ns, n) for r, n in objs)


def left_in_place(site, ns, uid, r, m, why):
    """The replacement survived the pass that turned the browser off, the
    rest of the browser's objects went, and the ledger forgot coturn's Service."""
    check(r.rc == 0, "apply failed: %r" % r)
    check("Service %s/coturn is not ours any more: left in place" % ns in r.err and why in r.err,
          "no line saying the Service is left in place (%r): %r" % (why, r.err))
    svc = get("services", ns, "coturn")
    check(svc is not None and svc["metadata"]["uid"] == uid, "the replacement was deleted: %r" % svc)
    dels = [w for w in audit().writes_since(m) if w.verb == "delete"]
    check(summary([w for w in dels if w.code in (200, 202)]) == deleted(ns, BROWSER),
          "deletes: want exactly %s, have\n%s" % (deleted(ns, BROWSER), fmt_reqs(dels)))
    check(not [o for o in site.status()["objects"] if o["kind"] == "Service" and o["name"] == "coturn"],
          "the ledger still holds Service coturn")
    m2 = audit().mark()
    site.apply_ok()
    check(not audit().requests_since(m2), "a second apply made requests:\n%s" % fmt_reqs(audit().requests_since(m2)))


def case_replaced_left_in_place():
    ns = "own-replaced"
    site = site_in(ns, 31286)
    uid = replace_coturn_service(ns)
    browser_off(site)
    m = audit().mark()
    r = site.apply()
    left_in_place(site, ns, uid, r, m, "its uid is not the one nap-agent applied")


def case_replaced_during_the_delete():
    """The swap comes after the agent read the Service (its own, then) and
    before the DELETE arrives: the proxy holds the DELETE while the test
    replaces the Service, then lets it go (closing the connection: the
    agent sends it again). The uid precondition makes the server refuse it."""
    ns = "own-race"
    site = site_in(ns, 31296)
    browser_off(site)
    proxy = FaultProxy().start()
    proxy.queue({"type": "hold", "methods": ["DELETE"], "path": "/services/coturn"})
    kc = write_kubeconfig(scratch("race-%d.kubeconfig" % proxy.port), proxy.url)
    try:
        m = audit().mark()
        apply = spawn("apply", *site.args("--kubeconfig", kc))
        must_wait("the proxy to hold the DELETE of Service coturn", lambda: proxy.held or apply.poll() is not None, 30)
        if not proxy.held:
            check(False, "apply ended before its DELETE of the Service: %r" % (apply.communicate(),))
        uid = replace_coturn_service(ns)
        proxy.release()
        out, err = apply.communicate(timeout=60)
        agent.OUTPUTS.append(("nap-agent apply (race)", out + err))
    finally:
        proxy.stop()
    refused = [w for w in audit().writes_since(m) if w[:4] == ("delete", "services", ns, "coturn")]
    check([w.code for w in refused] == [409], "the DELETE of coturn's Service: want one 409, have\n%s"
          % fmt_reqs(refused))
    r = agent.Run(apply.returncode, out, err, 0)
    left_in_place(site, ns, uid, r, m, "which the server refused (another uid)")


def edit_ledger(site, fn):
    path = os.path.join(site.state, "ledger.json")
    with open(path) as f:
        j = json.load(f)
    fn(j)
    with open(path, "w") as f:
        json.dump(j, f, indent=1)
    with open(path) as f:
        return f.read()


def case_older_ledger():
    """A ledger of before the uids and seals: it opens; ours (labelled) are
    deleted, a replaced one is judged by reading it and left in place."""
    ns = "own-older"
    site = site_in(ns, 31306)

    def strip(j):
        for o in j["objects"]:
            o.pop("uid", None)
            o.pop("seal", None)
    edit_ledger(site, strip)
    uid = replace_coturn_service(ns)
    browser_off(site)
    m = audit().mark()
    r = site.apply()
    left_in_place(site, ns, uid, r, m, "it carries neither nap-agent's label nor a field nap-agent manages")
    with open(os.path.join(site.state, "ledger.json")) as f:
        objs = json.load(f)["objects"]
    check(all("seal" in o for o in objs), "the entries checked against values.env were not sealed: %s" % objs)


def forged(entry_from):
    """Adds Secret kube-system/important to the ledger, made from one of its
    entries: copied with its seal, or written by hand without one."""
    def fn(j):
        e = dict(next(o for o in j["objects"] if o["kind"] == "Secret"))
        e.update(namespace="kube-system", name="important")
        if entry_from == "by hand":
            for k in ("seal", "uid", "view", "resourceVersion"):
                e.pop(k, None)
        j["objects"].append(e)
    return fn


def refused_everywhere(site, text, path):
    """apply, plan and doctor refuse the ledger, naming the file and the
    entry; nothing is requested; the file is left as it is."""
    want = ["the ledger '%s' is corrupt" % path, "Secret kube-system/important", "cannot have applied"]
    m = audit().mark()
    r = site.apply()
    check(r.rc == 1 and all(w in r.err for w in want), "apply did not refuse the ledger: %r" % r)
    reqs = audit().requests_since(m)
    check(not reqs, "requests made with a forged ledger:\n%s" % fmt_reqs(reqs))
    check(get("secrets", "kube-system", "important") is not None, "Secret kube-system/important is gone")
    with open(path) as f:
        check(f.read() == text, "the refused ledger was written")
    p = site.plan()
    check(p.rc == 1 and all(w in p.err for w in want), "plan did not refuse the ledger: %r" % p)
    d = doctor(site)
    c = d.get("agent.ledger", {})
    check(c.get("status") == "fail" and all(w in c.get("summary", "") for w in want),
          "doctor's agent.ledger: %r" % c)


def case_forged_entry_refused():
    ns = "own-forged"
    site = site_in(ns, 31316)
    kubectl("-n", "kube-system", "create", "secret", "generic", "important", "--from-literal=k=v")
    path = os.path.join(site.state, "ledger.json")
    with open(path) as f:
        good = f.read()
    try:
        for how in ("copied with its seal", "by hand"):
            text = edit_ledger(site, forged(how))
            refused_everywhere(site, text, path)
        # The daemon keeps running and says why; once the file is fixed, the
        # next pass (an edit here) reads it again instead of saving its copy.
        daemon_refuses_then_recovers(site, path, good)
    finally:
        kubectl("-n", "kube-system", "delete", "secret", "important", "--ignore-not-found")
    invariant(site)


def daemon_refuses_then_recovers(site, path, good):
    notify = NotifySocket(site.dir)
    a = Agent(site.dir, site.values, site.state, env("KUBECONFIG"), ["--resync=0"], notify=notify)
    try:
        i = notify.wait_for(lambda msg: msg.startswith("STATUS="), 30)
        st = notify.snapshot()[i][1] if i is not None else ""
        check("is corrupt" in st and path in st, "STATUS= does not say the ledger is refused: %r\n%s"
              % (notify.snapshot(), a.output()))
        check(a.proc.poll() is None, "the daemon exited: %s" % a.output())
        with open(path + ".tmp", "w") as f:
            f.write(good)
        os.chmod(path + ".tmp", 0o600)
        os.replace(path + ".tmp", path)
        n = notify.count()
        site.vals["IMAGE_TAG"] = "v1.0.1"
        site.write()
        i = notify.wait_for(lambda msg: msg.startswith("STATUS=applied"), 30, n)
        check(i is not None, "no pass applied after the ledger was fixed: %r\n%s" % (notify.snapshot(n), a.output()))
    finally:
        check(a.stop() == 0, "the daemon did not exit 0: %s" % a.output())
        notify.close()


def doctor(site, prefix=()):
    """doctor --json's checks by id (as another user with prefix)."""
    p = subprocess.run(list(prefix) + [agent.BINARY, "doctor", "--json", *site.args()], capture_output=True,
                       text=True, timeout=120)
    agent.OUTPUTS.append(("nap-agent doctor", p.stdout + p.stderr))
    check(p.returncode in (0, 1), "doctor exited %d: %s" % (p.returncode, p.stderr))
    try:
        return {c["id"]: c for c in json.loads(p.stdout)["checks"]}
    except ValueError:
        check(False, "doctor printed no JSON: %r" % (p.stdout + p.stderr))


def run_as(prefix, *args):
    p = subprocess.run(list(prefix) + [agent.BINARY] + list(args), capture_output=True, text=True, timeout=120)
    agent.OUTPUTS.append(("nap-agent " + " ".join(args), p.stdout + p.stderr))
    return agent.Run(p.returncode, p.stdout, p.stderr, 0)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def case_state_dir_others_can_write():
    ns = "own-modes"
    ensure_namespace(ns)
    site = Site("own-modes", module_values("own-modes", NAMESPACE=ns, SANDBOX_NODE_PORT="31326",
                                           BROWSER_NODE_PORT="31327"))
    os.makedirs(site.state)
    os.chmod(site.state, 0o777)
    want = ["state directory '%s' is writable by every user (mode 0777)" % site.state, "chmod 0700 '%s'" % site.state]
    m = audit().mark()
    for verb in ("apply", "status", "plan"):
        r = agent.run(verb, *site.args())
        check(r.rc == 1 and all(w in r.err for w in want), "%s on a 0777 state directory: %r" % (verb, r))
    a = Agent(site.dir, site.values, site.state, env("KUBECONFIG"), ["--resync=0"])
    check(a.wait(30) == 1 and all(w in a.output() for w in want), "run on a 0777 state directory: %s" % a.output())
    a.stop()
    check(not audit().requests_since(m), "requests made:\n%s" % fmt_reqs(audit().requests_since(m)))
    c = doctor(site)["agent.ledger"]
    check(c["status"] == "fail" and all(w in c["summary"] for w in want), "doctor's agent.ledger: %r" % c)
    check(os.listdir(site.state) == [], "files written into the state directory: %s" % os.listdir(site.state))

    # ours, readable by others: made private by apply (and by run, below)
    os.chmod(site.state, 0o755)
    r = site.apply_ok()
    check("made the state directory '%s' private: mode 0755 -> 0700" % site.state in r.err and
          mode(site.state) == 0o700, "apply did not make the state directory private: %o %r" % (mode(site.state), r))
    os.chmod(site.state, 0o750)
    d = Agent(site.dir, site.values, site.state, env("KUBECONFIG"), ["--resync=0"])
    try:
        must_wait("run to make the state directory private", lambda: mode(site.state) == 0o700, 30)
    finally:
        check(d.stop() == 0, "run did not exit 0: %s" % d.output())

    # a ledger file others may write; one owned by another user
    path = os.path.join(site.state, "ledger.json")
    os.chmod(path, 0o666)
    r = site.apply()
    check(r.rc == 1 and "ledger '%s' is writable by every user" % path in r.err and "chmod 0600" in r.err,
          "apply with a 0666 ledger.json: %r" % r)
    os.chmod(path, 0o600)
    shutil.chown(site.state, "nobody")
    r = site.apply()
    check(r.rc == 1 and "state directory '%s' is owned by 'nobody'" % site.state in r.err and
          "chown -R root '%s'" % site.state in r.err, "apply on a directory owned by nobody: %r" % r)
    check(agent.run("status", *site.args()).rc == 0, "root cannot read a state directory another user owns")
    shutil.chown(site.state, "root")
    site.apply_ok()


def readable_by_nobody(site):
    """values.env readable by nobody, the state directory (0700, root's) not."""
    for d in (scratch(), site.dir):
        os.chmod(d, 0o711)
    os.chmod(site.values, 0o644)


def case_other_user_and_corrupt():
    ns = "own-other"
    site = site_in(ns, 31336)
    readable_by_nobody(site)
    key = os.path.join(site.state, "ledger.key")
    for verb in ("status", "plan"):
        r = run_as(AS_NOBODY, verb, *site.args())
        check(r.rc == 1 and "cannot read the ledger key '%s' as 'nobody'" % key in r.err,
              "%s as nobody: %r" % (verb, r))
    c = doctor(site, AS_NOBODY)["agent.ledger"]
    check(c["status"] == "fail" and key in c["summary"] and "'nobody'" in c["summary"],
          "doctor's agent.ledger as nobody: %r" % c)

    # a corrupt ledger: the verbs that only look say so, and move nothing
    path = os.path.join(site.state, "ledger.json")
    with open(path) as f:
        good = f.read()
    with open(path, "w") as f:
        f.write("{ not json")
    before = sorted(os.listdir(site.state))
    for verb in ("status", "plan"):
        r = agent.run(verb, *site.args())
        check(r.rc == 1 and "the ledger '%s' is corrupt" % path in r.err, "%s on a corrupt ledger: %r" % (verb, r))
    c = doctor(site)["agent.ledger"]
    check(c["status"] == "fail" and "is corrupt" in c["summary"], "doctor on a corrupt ledger: %r" % c)
    check(sorted(os.listdir(site.state)) == before, "a verb that only looks changed the state directory")
    with open(path, "w") as f:
        f.write(good)
    check(agent.run("status", *site.args()).rc == 0, "status after the ledger was restored")


def case_daemon_says_why():
    """The daemon drops its ledger when idle and reads it again for the next
    pass: a ledger that became group- or world-writable (or unreadable)
    meanwhile stops the pass, and STATUS= names the file."""
    ns = "own-idle"
    site = site_in(ns, 31346)
    notify = NotifySocket(site.dir)
    a = Agent(site.dir, site.values, site.state, env("KUBECONFIG"), ["--resync=0", "--idle-close=1"],
              extra_env={"NAP_LOG_LEVEL": "debug"}, notify=notify)
    path = os.path.join(site.state, "ledger.json")
    try:
        check(notify.wait_for(lambda msg: "READY=1" in msg, 30) is not None, "no READY=1: %s" % a.output())
        must_wait("the daemon to go idle (ledger dropped)", lambda: "idle: connections closed" in a.output(), 30)
        os.chmod(path, 0o666)
        n = notify.count()
        site.vals["IMAGE_TAG"] = "v1.0.2"
        site.write()
        i = notify.wait_for(lambda msg: msg.startswith("STATUS="), 30, n)
        st = notify.snapshot()[i][1] if i is not None else ""
        check("ledger '%s' is writable by every user" % path in st, "STATUS= does not name the ledger: %r\n%s"
              % (notify.snapshot(n), a.output()))
        os.chmod(path, 0o600)
        n = notify.count()
        site.vals["IMAGE_TAG"] = "v1.0.3"
        site.write()
        check(notify.wait_for(lambda msg: msg.startswith("STATUS=applied"), 30, n) is not None,
              "no pass applied once the ledger was private again: %r" % (notify.snapshot(n),))
    finally:
        check(a.stop() == 0, "the daemon did not exit 0: %s" % a.output())
        notify.close()


def main():
    init(sys.argv)
    run = Results("reconcile-ownership")
    ensure_namespace("kube-system")
    cases = [
        ("a replaced Service (new uid, no label of ours) is left in place", case_replaced_left_in_place),
        ("replaced between the read and the DELETE: the uid precondition refuses it", case_replaced_during_the_delete),
        ("an older ledger without uids or seals: judged by reading the objects", case_older_ledger),
        ("a forged entry for kube-system is refused, nothing requested", case_forged_entry_refused),
        ("a state directory or ledger others can write is refused; ours is made 0700",
         case_state_dir_others_can_write),
        ("status, plan, doctor as another user or on a corrupt ledger fail naming the file",
         case_other_user_and_corrupt),
        ("the daemon's ledger made world-writable while it is idle: STATUS= names it", case_daemon_says_why),
    ]
    for name, fn in cases:
        run.case(name, fn)
    secrets = [v for tag in ("own-replaced", "own-race", "own-older", "own-forged", "own-modes", "own-other",
                                                   "own-idle")
               for _k, v in module_values(tag) if len(v) == 64]
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
