#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 14, acceptance: the pod templates' secret-digest annotation is
keyed, follows exactly the secrets each pod consumes, and survives the loss
of the node's state directory. Against the harness with
kube-controller-manager (HARNESS_COMPONENTS="kube kcm pg"), so that a pod
template change shows as a new ReplicaSet: a pod roll.

  - after the first apply each Deployment's annotation is the HMAC-SHA-256,
    keyed with the key in Secret nap-agent-digest-key, of the "secret/key=
    base64" lines of the Secrets it consumes (naptest.compare computes it),
    and is not the SHA-256 of any ordered selection of those values in any
    of their forms (plain, base64, "secret/key=base64"; joined with nothing
    or newlines), which is what a `view`-role reader could test guesses with;
  - each secret changed in turn: `plan` (offline) lists exactly the Secret
    and the Deployments that consume it as updates, the apply writes exactly
    those, their annotations change and they get a new ReplicaSet, the
    others keep theirs; a change of no secret (IMAGE_TAG) moves no
    annotation;
  - the state directory deleted (ledger and its key gone): the next apply
    and a resync write nothing, no annotation, generation or ReplicaSet
    moves.

    with-harness.sh test-digest.py NAP_AGENT
"""
import base64
import hashlib
import itertools
import shutil
import sys
import time

from naptest.audit import audit, fmt_reqs
from naptest.checks import Results, check, must_wait
from naptest.compare import invariant
from naptest.harness import init
from naptest import kube, platform
from naptest.kube import get
from naptest.secret_digest import ANNOTATION
from naptest.values import hexsecret, module_site, module_values

NS = "nap"
DEPLOYS = ("nap-sandbox", "nap-browser", "coturn")
# values.env key -> (Secret, its key there, the Deployments that read it),
# from install.sh's objects (docs/platform-objects.json)
SECRETS = platform.secrets(platform.resolve({"NAMESPACE": NS}))
CONSUMERS = {k: users for k, (_secret, _key, users) in SECRETS.items()}
SECRET_OF = {k: secret for k, (secret, _key, _users) in SECRETS.items()}
KEY_IN_SECRET = {k: key for k, (_secret, key, _users) in SECRETS.items()}


def annotations():
    return {d: get("deployments", NS, d)["spec"]["template"]["metadata"]["annotations"][ANNOTATION]
            for d in DEPLOYS}


def settled():
    """Each Deployment's generation and its ReplicaSets, once the controller
    manager has seen the latest generation and made a ReplicaSet of its
    current pod template (coturn's Recreate strategy makes it only after
    the old pods are gone, a later round than the one that observes the
    generation): the template's secret digest is in one of them."""
    def digest(template):
        return template.get("metadata", {}).get("annotations", {}).get(ANNOTATION)

    def current():
        deps = {d: get("deployments", NS, d) for d in DEPLOYS}
        if any(o.get("status", {}).get("observedGeneration") != o["metadata"]["generation"] for o in deps.values()):
            return None
        sets = {d: [r for r in kube.items("replicasets", NS)
                    if any(o.get("name") == d for o in r["metadata"].get("ownerReferences", []))] for d in DEPLOYS}
        if any(digest(deps[d]["spec"]["template"]) not in [digest(r["spec"]["template"]) for r in sets[d]]
               for d in DEPLOYS):
            return None
        return ({d: deps[d]["metadata"]["generation"] for d in DEPLOYS},
                {d: sorted(r["metadata"]["name"] for r in sets[d]) for d in DEPLOYS})
    return must_wait("kube-controller-manager to observe the Deployments and make their ReplicaSets", current, 30,
                     0.1)


def unkeyed_candidates(values):
    """SHA-256 of every ordered selection of the values' forms."""
    out = set()
    for n in range(1, len(values) + 1):
        for sel in itertools.permutations(values, n):
            for forms in itertools.product(*[v for v in sel]):
                for sep in ("", "\n"):
                    for tail in ("", "\n"):
                        out.add(hashlib.sha256((sep.join(forms) + tail).encode()).hexdigest())
    return out


def consumed_forms(site, deploy):
    forms = []
    for k, users in CONSUMERS.items():
        if deploy in users:
            v = site.vals[k]
            b = base64.b64encode(v.encode()).decode()
            forms.append((v, b, "%s/%s=%s" % (SECRET_OF[k], KEY_IN_SECRET[k], b)))
    return forms


def case_keyed(site):
    r = site.apply()
    check(r.rc == 0, "first apply: %r" % r)
    invariant(site)  # the annotations are the keyed HMACs (naptest.secret_digest)
    ann = annotations()
    for d in DEPLOYS:
        cands = unkeyed_candidates(consumed_forms(site, d))
        check(ann[d] not in cands, "%s: the annotation is an unkeyed SHA-256 of its secrets" % d)
        print("  %s: %s, not among %d unkeyed SHA-256 candidates" % (d, ann[d][:16] + "...", len(cands)))


def case_secret_change(site, key):
    before_ann, (gens, sets) = annotations(), settled()
    site.vals[key] = hexsecret("digest-%s-%d" % (key, time.monotonic_ns()))
    site.write()
    plan = site.plan()
    want_updates = sorted(["Secret %s/%s" % (NS, SECRET_OF[key])] + ["Deployment %s/%s" % (NS, d)
                                                                       for d in CONSUMERS[key]])
    have_updates = sorted(line.split(" (")[0][len("~ update "):] for line in plan.out.splitlines()
                          if line.startswith("~ update "))
    check(plan.rc == 2 and have_updates == want_updates, "plan: want updates %s, have %s\n%s"
          % (want_updates, have_updates, plan.out))
    m = audit().mark()
    r = site.apply()
    check(r.rc == 0, "apply: %r" % r)
    writes = sorted("%s %s" % (w[1], w[3]) for w in audit().writes_since(m))
    want = sorted(["secrets %s" % SECRET_OF[key]] + ["deployments %s" % d for d in CONSUMERS[key]])
    check(writes == want, "writes: want %s, have %s" % (want, writes))
    invariant(site)
    after_ann, (gens2, sets2) = annotations(), settled()
    for d in DEPLOYS:
        moved = after_ann[d] != before_ann[d]
        rolled = sets2[d] != sets[d]
        check(moved == (d in CONSUMERS[key]), "%s: annotation %s" % (d, "moved" if moved else "stayed"))
        check(rolled == (d in CONSUMERS[key]), "%s: ReplicaSets %s -> %s" % (d, sets[d], sets2[d]))


def case_no_secret_change(site):
    before, (gens, sets) = annotations(), settled()
    site.vals["IMAGE_TAG"] = "v1.0.%d" % (time.monotonic_ns() % 1000)
    site.write()
    r = site.apply()
    check(r.rc == 0, "apply: %r" % r)
    check(annotations() == before, "an edit of no secret moved an annotation")


def case_state_dir_lost(site):
    before, (gens, sets) = annotations(), settled()
    shutil.rmtree(site.state)
    m = audit().mark()
    r = site.apply()
    check(r.rc == 0, "apply after the state directory was deleted: %r" % r)
    r2 = site.apply("--resync")
    check(r2.rc == 0, "apply --resync: %r" % r2)
    writes = audit().writes_since(m)
    check(writes == [], "writes after the state directory was lost:\n%s" % fmt_reqs(writes))
    check(annotations() == before, "an annotation moved")
    gens2, sets2 = settled()
    check(gens2 == gens and sets2 == sets, "a Deployment rolled: %s %s -> %s %s" % (gens, sets, gens2, sets2))
    invariant(site)


def main():
    init(sys.argv)
    run = Results("reconcile-digest")
    site = module_site("digest", NS)
    ok = run.case("the annotation is keyed, not a SHA-256 of the secrets", case_keyed, site)
    for key in CONSUMERS:
        ok = ok and run.case("%s changed: exactly its consumers plan, apply and roll" % key, case_secret_change,
                             site, key)
    ok = ok and run.case("an edit of no secret moves no annotation", case_no_secret_change, site)
    ok = ok and run.case("the state directory deleted: nothing written, no pod rolls", case_state_dir_lost, site)
    secrets = [v for k, v in site.vals.items() if k in CONSUMERS]
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
