#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`nap-agent restart` against the harness with kube-controller-manager
(HARNESS_COMPONENTS="kube kcm pg": Deployments get ReplicaSets), issue 12.

install.sh ran `kubectl rollout restart` of the modules' workloads on every
run so that a re-pushed `:latest` was pulled again; the verb does that on
demand. It stamps kubectl.kubernetes.io/restartedAt on the pod templates of
nap-sandbox, nap-browser and sandbox-image-warmer (not coturn, whose image
is pinned), as its own field manager with an Update (a merge patch), so:

  - each workload rolls once (a second ReplicaSet);
  - the annotation is nap-agent-restart's, not in nap-agent's Apply entry;
  - the agent's next server-side apply of the Deployment (a real write,
    seen in the audit log) leaves it alone, so the pods are not rolled a
    second time (no third ReplicaSet once the controller has caught up).

    with-harness.sh test-restart.py NAP_AGENT
"""
import re
import sys

from naptest import agent
from naptest.audit import audit, fmt_reqs
from naptest.checks import Results, check, must_wait
from naptest.compare import invariant
from naptest.harness import init
from naptest.kube import api, ensure_namespace, get, kubectl
from naptest.values import Site, module_values

ANNOTATION = "kubectl.kubernetes.io/restartedAt"
MANAGER = "nap-agent-restart"
NS = "nap"
WORKLOADS = [("deployments", "nap-sandbox"), ("deployments", "nap-browser"), ("daemonsets", "sandbox-image-warmer")]


def replicasets(dep):
    code, body = api("GET", "/apis/apps/v1/namespaces/%s/replicasets?labelSelector=app%%3D%s" % (NS, dep))
    check(code == 200, "list replicasets: %s" % code)
    return {i["metadata"]["name"]: i for i in body.get("items", [])}


def caught_up(dep):
    """The controller has seen the Deployment's latest spec."""
    d = get("deployments", NS, dep)
    return d.get("status", {}).get("observedGeneration") == d["metadata"]["generation"] and d


def annotation(res, name):
    o = get(res, NS, name)
    return o["spec"]["template"].get("metadata", {}).get("annotations", {}).get(ANNOTATION)


def owners_of_annotation(obj):
    out = []
    for mf in obj["metadata"].get("managedFields", []):
        ann = (mf.get("fieldsV1", {}).get("f:spec", {}).get("f:template", {}).get("f:metadata", {})
               .get("f:annotations", {}))
        if "f:" + ANNOTATION in ann:
            out.append((mf["manager"], mf["operation"]))
    return out


def case_restart():
    site = Site("restart", module_values("restart", IMAGE_TAG="latest"))
    r = site.apply()
    check(r.rc == 0, "apply: %r" % r)
    for dep in ("nap-sandbox", "nap-browser"):
        must_wait("a ReplicaSet of %s" % dep, lambda: caught_up(dep) and len(replicasets(dep)) == 1)
    check(all(annotation(res, n) is None for res, n in WORKLOADS), "restartedAt before any restart")

    m = audit().mark()
    r = agent.run("restart", *site.args())
    check(r.rc == 0, "restart: %r" % r)
    for res, name in WORKLOADS:
        kind = "Deployment" if res == "deployments" else "DaemonSet"
        check("restarted %s %s/%s" % (kind, NS, name) in r.err, "restart does not say it restarted %s: %r" % (name, r))
    check("coturn" not in r.err, "restart touched coturn: %r" % r)
    writes = audit().writes_since(m)
    check(sorted(w[:4] for w in writes) == sorted(("patch", res, NS, n) for res, n in WORKLOADS)
          and all("fieldManager=" + MANAGER in w[4] for w in writes),
          "restart's writes:\n%s" % "\n".join(w[4] for w in writes))
    stamps = {}
    for res, name in WORKLOADS:
        stamps[name] = annotation(res, name)
        check(stamps[name] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamps[name]),
              "%s: restartedAt %r" % (name, stamps[name]))
        owners = owners_of_annotation(get(res, NS, name))
        check(owners == [(MANAGER, "Update")], "%s: restartedAt owned by %r, want only %s (Update)"
              % (name, owners, MANAGER))
    check(annotation("deployments", "coturn") is None, "coturn was restarted")

    # Each Deployment rolled once: a second ReplicaSet, with the annotation.
    rs = {}
    for dep in ("nap-sandbox", "nap-browser"):
        rs[dep] = must_wait("the restart's ReplicaSet of %s" % dep,
                             lambda: caught_up(dep) and len(replicasets(dep)) == 2 and replicasets(dep))
        check(sum(1 for x in rs[dep].values() if x["spec"]["template"]["metadata"].get("annotations", {})
                  .get(ANNOTATION) == stamps[dep]) == 1, "%s: no ReplicaSet of the restart" % dep)
    invariant(site)
    r = site.plan()
    check(r.rc == 0, "plan after the restart: want 0 (nothing to do), got %r" % r)

    # The agent's next server-side apply of nap-sandbox (a drift repaired:
    # someone scaled it) is a real write, and keeps the annotation.
    kubectl("-n", NS, "scale", "deployment/nap-sandbox", "--replicas=2")
    m = audit().mark()
    r = site.apply("--resync")
    check(r.rc == 0 and "repaired drift on Deployment nap/nap-sandbox" in r.err, "apply --resync: %r" % r)
    writes = [w for w in audit().writes_since(m) if w[1] == "deployments"]
    check([w[:4] for w in writes] == [("patch", "deployments", NS, "nap-sandbox")]
          and "fieldManager=nap-agent&" in writes[0][4], "the agent's apply:\n%s" % fmt_reqs(writes))
    for res, name in WORKLOADS:
        check(annotation(res, name) == stamps[name], "%s: the agent's apply changed restartedAt to %r"
              % (name, annotation(res, name)))
    dep = must_wait("the controller to see the apply", lambda: caught_up("nap-sandbox"))
    check(dep["spec"]["replicas"] == 1, "the drift was not repaired: %r" % dep["spec"]["replicas"])
    # The fence above: the controller has acted on the apply's spec. A pod
    # template changed by it would have made a third ReplicaSet by now.
    now = replicasets("nap-sandbox")
    check(set(now) == set(rs["nap-sandbox"]), "nap-sandbox rolled again: ReplicaSets %s, were %s"
          % (sorted(now), sorted(rs["nap-sandbox"])))
    invariant(site)


def case_nothing_on():
    site = Site("off", module_values("off", NAMESPACE="off", SANDBOX_ENABLED="false", BROWSER_ENABLED="false"))
    m = audit().mark()
    r = agent.run("restart", *site.args())
    check(r.rc == 0 and "nothing to restart" in r.err and not audit().writes_since(m), "restart with both off: %r" % r)


def case_not_applied_yet():
    ensure_namespace("fresh")
    site = Site("fresh", module_values("fresh", NAMESPACE="fresh", BROWSER_ENABLED="false",
                                       SANDBOX_NODE_PORT="31086"))
    r = agent.run("restart", *site.args())
    check(r.rc == 1 and "Deployment fresh/nap-sandbox does not exist: run `nap-agent apply` first" in r.err,
          "restart before apply: %r" % r)
    check(get("deployments", "fresh", "nap-sandbox") is None, "restart created nap-sandbox")


def main():
    init(sys.argv)
    run = Results("reconcile-restart")
    run.case("restart: restartedAt as nap-agent-restart (Update), rolled once, kept by the next apply",
             case_restart)
    run.case("restart with both modules off does nothing", case_nothing_on)
    run.case("restart of workloads not applied yet fails and creates nothing", case_not_applied_yet)
    secrets = []
    for tag in ("restart", "off", "fresh"):
        secrets += [v for k, v in module_values(tag) if "SECRET" in k or "SERVICE_KEY" in k]
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
