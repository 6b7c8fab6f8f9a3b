#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Switching over from install.sh restarts nothing, takes over what it
patched, and lives with it running again (issue 22, items 4, 5 and 9).
Against the harness with kube-controller-manager (HARNESS_COMPONENTS="kube
kcm pg"), so that a changed pod template shows as a new ReplicaSet.

install.sh is played as installsh.py transcribes it: its objects applied by
`kubectl apply --server-side --force-conflicts` (field manager kubectl),
then `kubectl patch` of coturn and the warmer with the real kubectl
(manager kubectl-patch, an Update).

  - the switch-over: `plan --live` first says that no pod template changes;
    `nap-agent apply` adopts every object, and no pod template changes (each
    workload's spec.template as it was: no new ReplicaSet, the DaemonSet's
    deprecated.daemonset.template.generation kept); every field install.sh
    set is still live; the secret digest is recorded on the workloads, not in
    their pod templates; the next apply and a resync write nothing, and so
    does a pass after the state directory was lost;
  - the selectors and the pull secret cleared in values.env: gone live (what
    kubectl-patch set was taken over); a selector's key changed: only the new
    one live;
  - a secret changed after the switch-over: the pod templates that read it
    get the digest (they roll, as they must), the others stay as they are;
  - install.sh run again after the agent (a platform upgrade, one values.env):
    the objects stay as they were and the agent's next pass (a resync) writes
    nothing; a key emptied afterwards (SANDBOX_DOMAIN, whose value install.sh's
    kubectl now owns again beside the agent) is removed live, and so are the
    selectors (`plan --live` shows them first);
  - the agent first, install.sh after: the same;
  - TURN_PORT=443 (a site forwarding 443 to coturn's 3478): the switch-over
    restarts nothing either.

    with-harness.sh test-adopt.py NAP_AGENT
"""
import json
import re
import shutil
import sys

from naptest import kube
from naptest.audit import audit, fmt_reqs
from naptest.checks import Results, check, must_wait
from naptest.compare import invariant
from naptest.db import new_installation
from naptest.harness import init
from naptest.kube import ensure_namespace, get, kubectl
from naptest.secret_digest import ADOPTED, ANNOTATION
from naptest.values import Site
from installsh import control_plane, install_sh, installsh_values, resolve

NS = "adopt"
WORKLOADS = (("deployments", "nap-sandbox"), ("deployments", "nap-browser"), ("deployments", "coturn"),
             ("daemonsets", "sandbox-image-warmer"))
DEPLOYS = [n for r, n in WORKLOADS if r == "deployments"]
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def templates(ns):
    return {name: get(res, ns, name)["spec"]["template"] for res, name in WORKLOADS}


def template_generation(ns):
    return get("daemonsets", ns, "sandbox-image-warmer")["metadata"]["annotations"][TEMPLATE_GENERATION]


REVISION = "deployment.kubernetes.io/revision"


def replicasets(ns):
    """The ReplicaSets of each Deployment, once kube-controller-manager has
    seen every Deployment's latest generation and made (or taken back) the
    ReplicaSet of each one's current pod template, as its latest revision
    (coturn's Recreate strategy does that a round later than it observes
    the generation; an earlier ReplicaSet of the same template is taken
    back under a new revision)."""
    def current():
        out = {}
        for d in DEPLOYS:
            dep = get("deployments", ns, d)
            if dep.get("status", {}).get("observedGeneration") != dep["metadata"]["generation"]:
                return None
            sets = [r for r in kube.items("replicasets", ns)
                    if any(o.get("name") == d for o in r["metadata"].get("ownerReferences", []))]
            tmpl, rev = dep["spec"]["template"], (dep["metadata"].get("annotations") or {}).get(REVISION)
            if not any(r["spec"]["template"].get("metadata", {}).get("annotations") == tmpl["metadata"].get("annotations")
                       and r["spec"]["template"]["spec"] == tmpl["spec"]
                       and (r["metadata"].get("annotations") or {}).get(REVISION) == rev for r in sets):
                return None
            out[d] = sorted(r["metadata"]["name"] for r in sets)
        return out
    return must_wait("kube-controller-manager to observe the Deployments and make their ReplicaSets", current, 60, 0.1)


def pod_spec(ns, res, name):
    return get(res, ns, name)["spec"]["template"]["spec"]


def writes_of(fn):
    m = audit().mark()
    fn()
    return audit().writes_since(m)


def nothing_written(site, what):
    writes = writes_of(lambda: (site.apply_ok(), site.apply_ok("--resync")))
    check(not writes, "%s: the next apply and a resync wrote:\n%s" % (what, fmt_reqs(writes)))


def snapshot(ns):
    """What the module objects are, without the bookkeeping every write
    moves (managedFields, resourceVersion) and the controllers' status,
    once kube-controller-manager is done with them."""
    replicasets(ns)
    out = {}
    for res in kube.MODULE_RESOURCES:
        for o in kube.items(res, ns):
            md = o["metadata"]
            out["%s/%s" % (res, md["name"])] = {
                "generation": md.get("generation"), "labels": md.get("labels"),
                "annotations": md.get("annotations"), "spec": o.get("spec"), "data": o.get("data")}
    return out


def snapshot_diff(a, b):
    return ["%s: %s -> %s" % (k, json.dumps(a.get(k), sort_keys=True), json.dumps(b.get(k), sort_keys=True))
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def selectors(ns):
    c, w = pod_spec(ns, "deployments", "coturn"), pod_spec(ns, "daemonsets", "sandbox-image-warmer")
    return {"coturn": (c.get("nodeSelector"), c.get("tolerations"), c.get("imagePullSecrets")),
            "warmer": w.get("nodeSelector")}


def site_of(tag, ns, **over):
    """A site standing for another installation: a namespace, a values.env,
    and the oauth_clients rows of its own database (new_installation)."""
    ensure_namespace(ns)
    new_installation()
    return Site(tag, installsh_values(tag, ns, *PORTS[ns], **over))


PORTS = {NS: (31686, 31685), "coexist": (31786, 31785), "turnport": (31886, 31885)}
SELECTORS = dict(COTURN_NODE_SELECTOR="kubernetes.io/hostname=node-a", SANDBOX_NODE_SELECTOR="pool=sandbox,zone=eu-1a",
                 IMAGE_PULL_SECRET="mirror-pull")


# ---- 1. the switch-over -----------------------------------------------------------

def case_switch_over(site):
    install_sh(site)
    sets, tmpl, gen = replicasets(NS), templates(NS), template_generation(NS)
    n_workloads = len(WORKLOADS) + 1  # and the platform's nap-cp

    r = site.plan("--live")
    check(r.rc == 2 and "note: pod templates: none of the %d in the cluster changes: no pod is restarted"
          % n_workloads in r.out and "its pods are replaced" not in r.out,
          "plan --live before the switch-over does not say that no pod template changes:\n%s" % r.out)

    r = site.apply_ok()
    adopted = re.findall(r"adopted (\S+ \S+)", r.err)
    check(len(adopted) == 9, "want the 9 module objects adopted, got %r\n%s" % (adopted, r.err))

    after = templates(NS)
    for name in tmpl:
        check(after[name] == tmpl[name], "%s: the pod template changed:\n%s\n%s"
              % (name, json.dumps(tmpl[name], sort_keys=True), json.dumps(after[name], sort_keys=True)))
    sets2 = replicasets(NS)
    check(sets2 == sets, "new ReplicaSets: %s -> %s" % (sets, sets2))
    check(template_generation(NS) == gen, "the warmer's %s moved: %s -> %s" % (TEMPLATE_GENERATION, gen,
                                                                              template_generation(NS)))
    check(r.err.count("its secret digest waits on the object") == 3, "the three workloads that read secrets: %s"
          % r.err)
    # what install.sh's patches set: still live (the templates above), now the agent's
    check(selectors(NS) == {"coturn": ({"kubernetes.io/hostname": "node-a"}, [{"operator": "Exists"}],
                                       [{"name": "mirror-pull"}]),
                            "warmer": {"pool": "sandbox", "zone": "eu-1a"}}, "selectors: %r" % selectors(NS))
    for d in DEPLOYS:
        dep = get("deployments", NS, d)
        check(ANNOTATION not in (dep["spec"]["template"]["metadata"].get("annotations") or {})
              and ADOPTED in (dep["metadata"].get("annotations") or {}),
              "%s: the secret digest is not recorded on the object instead of its pod template: %r"
              % (d, dep["metadata"]))
        mine = [m for m in dep["metadata"]["managedFields"] if m["manager"] in ("kubectl", "kubectl-patch")]
        check(not mine, "%s: install.sh's managers still own fields: %r" % (d, mine))
    invariant(site)  # the recorded digest is the HMAC of the secrets as they are

    nothing_written(site, "after the switch-over")
    r = site.plan("--live")
    check(r.rc == 0 and "none of the %d in the cluster changes" % n_workloads in r.out,
          "plan --live after the switch-over: %r" % r)

    # The state directory lost: read back from the cluster, still held back.
    shutil.rmtree(site.state)
    nothing_written(site, "the state directory lost")
    check(templates(NS) == tmpl and replicasets(NS) == sets, "a workload rolled after the ledger was lost")
    invariant(site)


# ---- 2. the patched fields are the agent's ------------------------------------------

def case_selectors(site):
    site.vals.update(COTURN_NODE_SELECTOR="", SANDBOX_NODE_SELECTOR="", IMAGE_PULL_SECRET="")
    site.write()
    r = site.plan("--live")
    for line in ("spec.template.spec.nodeSelector.kubernetes.io/hostname: \"node-a\" → (removed)",
                 "spec.template.spec.nodeSelector.pool: \"sandbox\" → (removed)",
                 "spec.template.spec.imagePullSecrets[name=mirror-pull].name: \"mirror-pull\" → (removed)"):
        check(r.rc == 2 and line in r.out, "plan --live does not show %r:\n%s" % (line, r.out))
    r = site.apply_ok()
    check(selectors(NS) == {"coturn": (None, None, None), "warmer": None},
          "the cleared selectors and pull secret are still live: %r\n%s" % (selectors(NS), r.err))
    invariant(site)
    nothing_written(site, "selectors cleared")

    for value, want in (("kubernetes.io/hostname=node-a", {"kubernetes.io/hostname": "node-a"}),
                        ("zone=z2", {"zone": "z2"})):
        site.vals["COTURN_NODE_SELECTOR"] = value
        site.write()
        site.apply_ok()
        check(selectors(NS)["coturn"][0] == want, "COTURN_NODE_SELECTOR=%s: live %r" % (value, selectors(NS)))
    invariant(site)


# ---- 3. the first change of a secret -------------------------------------------------

def case_secret_change(site):
    sets = replicasets(NS)
    site.vals["TURN_AUTH_SECRET"] = site.vals["TURN_AUTH_SECRET"][::-1]  # read by nap-browser and coturn
    site.write()
    site.apply_ok()
    sets2 = replicasets(NS)
    for d in DEPLOYS:
        dep = get("deployments", NS, d)
        in_template = ANNOTATION in (dep["spec"]["template"]["metadata"].get("annotations") or {})
        on_object = ADOPTED in (dep["metadata"].get("annotations") or {})
        reads = d != "nap-sandbox"
        check(in_template == reads and on_object != reads,
              "%s: digest in the pod template %s, on the object %s" % (d, in_template, on_object))
        check((sets2[d] != sets[d]) == reads, "%s: ReplicaSets %s -> %s" % (d, sets[d], sets2[d]))
    invariant(site)
    nothing_written(site, "after the first secret change")


# ---- 4. install.sh again, after the agent ---------------------------------------------

def case_installsh_again(site):
    site.vals.update(SELECTORS)
    site.write()
    site.apply_ok()
    before = snapshot(NS)
    install_sh(site)  # a platform upgrade: the same values.env
    diff = snapshot_diff(before, snapshot(NS))
    check(not diff, "install.sh run again changed the objects:\n  " + "\n  ".join(diff))
    nothing_written(site, "install.sh run again")
    invariant(site, shared=("kubectl",))
    coturn = get("deployments", NS, "coturn")
    check(("kubectl", "Apply") in [(m["manager"], m["operation"]) for m in coturn["metadata"]["managedFields"]],
          "install.sh's apply did not share coturn's fields again (the case proves nothing)")

    # install.sh's kubectl shares what it applied again: a key emptied
    # afterwards is still removed; so are the selectors
    site.vals.update(SANDBOX_DOMAIN="", COTURN_NODE_SELECTOR="", SANDBOX_NODE_SELECTOR="")
    site.write()
    r = site.plan("--live")
    for line in ('spec.template.spec.containers[name=sandbox].env[name=SANDBOX_DOMAIN].value: '
                 '"sandbox.example.test" → (removed)',
                 'spec.template.spec.nodeSelector.kubernetes.io/hostname: "node-a" → (removed)',
                 'spec.template.spec.nodeSelector.zone: "eu-1a" → (removed)'):
        check(r.rc == 2 and line in r.out, "plan --live does not show %r:\n%s" % (line, r.out))
    r = site.apply_ok()
    env = {e["name"]: e.get("value") for e in pod_spec(NS, "deployments", "nap-sandbox")["containers"][0]["env"]}
    check("SANDBOX_DOMAIN" in env and env["SANDBOX_DOMAIN"] is None,
          "SANDBOX_DOMAIN, emptied, is still live (install.sh's kubectl kept it): %r\n%s" % (env, r.err))
    check(selectors(NS) == {"coturn": (None, None, [{"name": "mirror-pull"}]), "warmer": None},
          "the cleared selectors are still live: %r\n%s" % (selectors(NS), r.err))
    check(re.search(r"took Deployment %s/nap-sandbox back from install.sh's kubectl" % NS, r.err),
          "the takeover is not logged: %s" % r.err)
    invariant(site, shared=("kubectl",))  # (kept where nothing of it was to go)
    sandbox = get("deployments", NS, "nap-sandbox")["metadata"]["managedFields"]
    check([m["manager"] for m in sandbox if m["operation"] == "Apply"] == ["nap-agent"],
          "nap-sandbox: install.sh's kubectl still shares it: %r" % sandbox)
    nothing_written(site, "a key emptied after install.sh ran again")

    before = snapshot(NS)
    install_sh(site)  # with the selectors empty it patches nothing
    diff = snapshot_diff(before, snapshot(NS))
    check(not diff, "install.sh run again changed the objects:\n  " + "\n  ".join(diff))
    nothing_written(site, "install.sh run again with the selectors cleared")
    invariant(site, shared=("kubectl",))


# ---- 5. the agent first, install.sh after --------------------------------------------

def case_agent_first():
    site = site_of("coexist", "coexist", **SELECTORS)
    # the platform itself was installed (its nap-cp), the modules not yet
    kubectl("apply", "--server-side", "-f", "-", input=json.dumps(control_plane(resolve(site.vals))))
    site.apply_ok()
    sets, before = replicasets("coexist"), snapshot("coexist")
    install_sh(site)
    diff = snapshot_diff(before, snapshot("coexist"))
    check(not diff, "install.sh after the agent changed the objects:\n  " + "\n  ".join(diff))
    check(replicasets("coexist") == sets, "a workload rolled")
    nothing_written(site, "install.sh after the agent")
    invariant(site, shared=("kubectl",))


# ---- 6. a site that forwards another port to coturn's 3478 ---------------------------

def case_turn_port():
    """TURN_PORT is what browsers are told (a site forwarding 443 to 3478);
    install.sh keeps coturn on 3478: switching over restarts nothing there
    either (needs issue 22's item 8: coturn on 3478 whatever TURN_PORT)."""
    site = site_of("turnport", "turnport", TURN_PORT="443")
    install_sh(site)
    sets, tmpl = replicasets("turnport"), templates("turnport")
    site.apply_ok()
    after = templates("turnport")
    changed = [n for n in tmpl if after[n] != tmpl[n]]
    check(not changed, "TURN_PORT=443: pod templates changed: %s" % changed)
    check(replicasets("turnport") == sets, "TURN_PORT=443: new ReplicaSets")
    invariant(site)


def main():
    init(sys.argv)
    run = Results("reconcile-adopt")
    site = site_of("adopt", NS, **SELECTORS)
    ok = run.case("the switch-over: no pod template changes, install.sh's patches kept, nothing written after",
                  case_switch_over, site)
    ok = ok and run.case("selectors and pull secret cleared or changed: exactly the new value live",
                         case_selectors, site)
    ok = ok and run.case("the first change of a secret: the digest goes into the templates that read it",
                         case_secret_change, site)
    ok = ok and run.case("install.sh run again after the agent: same objects, nothing written, selectors still ours",
                         case_installsh_again, site)
    run.case("the agent first, install.sh after: same objects, nothing written", case_agent_first)
    run.case("TURN_PORT=443 (coturn on 3478, as install.sh): the switch-over restarts nothing", case_turn_port)
    secrets = []
    for tag in ("adopt", "coexist", "turnport"):
        secrets += [v for k, v in installsh_values(tag, "x", 1, 1)
                    if k in ("SANDBOX_JWT_SECRET", "SANDBOX_SERVICE_KEY", "BROWSER_JWT_SECRET", "TURN_AUTH_SECRET")]
    secrets.append(site.vals["TURN_AUTH_SECRET"])
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
