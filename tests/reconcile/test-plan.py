#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`nap-agent plan`, `plan --live` and `status --json` against the harness.

Golden tests: for every plan/NN-name.env, plan/base.env is applied with a
fresh state dir (except for NN-fresh-*), then `nap-agent plan --values
NN-name.env` runs in plan/; its stdout, stderr and exit status are compared
with NN-name.ok (0 no changes, 2 changes pending, 1 error). With --update,
the .ok files are rewritten instead, for review with `git diff`.

Then: `plan --live` shows drift (a Service's nodePort and a label changed
with kubectl, an oauth row deleted) and `apply --resync` repairs it; the
shape of `status --json` (documented in README.md) and that it holds no
secret.

    with-harness.sh test-plan.py NAP_AGENT [--update]
"""
import base64
import difflib
import json
import os
import re
import sys

from naptest import agent
from naptest.audit import audit, fmt_reqs
from naptest.checks import Results, check
from naptest.compare import invariant
from naptest.db import psql
from naptest.harness import env, init, scratch
from naptest.kube import RESOURCE_OF, ensure_namespace, get, kubectl
from naptest.values import Site, hexsecret, module_values

PLAN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plan")


def normalise(text, state):
    text = text.replace(state, "STATE")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "TIME", text)
    return re.sub(r"resourceVersion[\" :=]+\d+", "resourceVersion RV", text)


def golden(name, update):
    state = os.path.join(scratch(), "golden", name)
    if "-fresh-" not in name:
        r = agent.run("apply", "--values", "base.env", "--state-dir", state, cwd=PLAN_DIR)
        check(r.rc == 0, "applying base.env failed: %r" % r)
    r = agent.run("plan", "--values", name + ".env", "--state-dir", state, cwd=PLAN_DIR)
    out = r.out + ("--- stderr\n" + r.err if r.err else "") + "--- exit %d\n" % r.rc
    out = normalise(out, state)
    ok = os.path.join(PLAN_DIR, name + ".ok")
    if update:
        with open(ok, "w") as f:
            f.write(out)
        return
    check(os.path.exists(ok), "missing %s.ok (run: meson compile -C BUILD update-golden-plan)" % name)
    with open(ok) as f:
        want = f.read()
    check(out == want, "output differs from %s.ok:\n%s" % (name, "".join(
        difflib.unified_diff(want.splitlines(True), out.splitlines(True), name + ".ok", "actual"))))
    rc = re.search(r"--- exit (\d+)\n$", want)
    check(rc and int(rc.group(1)) in (0, 1, 2), "%s.ok: exit status not 0, 1 or 2" % name)


def case_exit_codes():
    site = Site("exit", module_values("golden"))
    r = site.plan()
    check(r.rc == 2, "plan before the first apply: want 2, got %r" % r)
    r = site.apply()
    check(r.rc == 0, "apply: %r" % r)
    r = site.plan()
    check(r.rc == 0, "plan after apply: want 0, got %r" % r)
    r = agent.run("plan", "--values", os.path.join(site.dir, "missing.env"), "--state-dir", site.state)
    check(r.rc == 1, "plan of a missing values.env: want 1, got %r" % r)
    r = site.plan("--live")
    check(r.rc == 0, "plan --live right after apply: want 0 (no drift), got %r" % r)


def case_live_drift(site):
    m = audit().mark()
    kubectl("-n", "nap", "patch", "service", "nap-sandbox", "--type=json",
            "-p", '[{"op": "replace", "path": "/spec/ports/0/nodePort", "value": 30099}]')
    kubectl("-n", "nap", "label", "service", "nap-browser", "app.kubernetes.io/part-of=something-else", "--overwrite")
    psql("DELETE FROM oauth_clients WHERE id = 'sandbox-service'")
    r = site.plan()
    check(r.rc == 0, "plan (from the ledger) sees no change: want 0, got %r" % r)
    r = site.plan("--live")
    check(r.rc == 2, "plan --live: want 2, got %r" % r)
    for want in ("~ update Service nap/nap-sandbox", "nodePort: 30099 → 30086",
                 "~ update Service nap/nap-browser", "app.kubernetes.io/part-of: \"something-else\" → \"nap\"",
                 "+ register oauth client \"sandbox-service\""):
        check(want in r.out, "plan --live does not show %r:\n%s" % (want, r.out))
    actions = "\n".join(line for line in r.out.splitlines() if line[:2] in ("~ ", "+ ", "- "))
    for unwanted in ("Deployment", "Secret", "coturn"):
        check(unwanted not in actions, "plan --live shows drift on %s that is not there:\n%s" % (unwanted, r.out))
    # the harness has no control plane: its nap-cp cannot be given the public URLs
    check("note: Deployment nap/nap-cp (the platform's own) does not exist" in r.out,
          "plan --live does not say that nap-cp is missing:\n%s" % r.out)
    writes = audit().writes_since(m)
    check(not writes, "plan --live wrote:\n%s" % fmt_reqs(writes))
    r = site.apply("--resync")
    check(r.rc == 0 and "repaired" in r.err, "apply --resync: %r" % r)
    invariant(site)
    r = site.plan("--live")
    check(r.rc == 0, "plan --live after the repair: want 0, got %r" % r)


def is_time(s):
    return isinstance(s, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s) is not None


def validate_status(j, site, objects=True):
    check(set(j) == {"generation", "stateDir", "values", "lastPass", "objects", "oauthClients"},
          "keys: %s" % sorted(j))
    # (status runs without --values here: which file and why depend on the machine)
    check(set(j["values"]) == {"path", "why"} and all(isinstance(v, str) and v for v in j["values"].values()),
          "values: %r" % j["values"])
    check(isinstance(j["generation"], int) and j["generation"] >= 0, "generation: %r" % j["generation"])
    check(j["stateDir"] == site.state, "stateDir: %r" % j["stateDir"])
    lp = j["lastPass"]
    check(isinstance(lp, dict), "lastPass: %r" % lp)
    if lp:
        check(set(lp) == {"time", "result", "message"}, "lastPass keys: %s" % sorted(lp))
        check(is_time(lp["time"]) and lp["result"] in ("ok", "error") and isinstance(lp["message"], str),
              "lastPass: %r" % lp)
    check(isinstance(j["objects"], list) and isinstance(j["oauthClients"], list), "objects/oauthClients not lists")
    for o in j["objects"]:
        workload = o.get("kind") in ("Deployment", "DaemonSet")
        if o.get("partial"):
            # nap-cp's public URLs: "missing" (no resourceVersion) while the
            # platform's Deployment does not exist, as in the harness
            check(set(o) == {"apiVersion", "kind", "namespace", "name", "module", "partial", "state", "appliedAt"}
                  | ({"resourceVersion"} if o["state"] == "applied" else set()), "partial object keys: %s" % sorted(o))
            check(o["partial"] is True and o["module"] == "core" and o["state"] in ("applied", "missing")
                  and is_time(o["appliedAt"]), "partial object: %r" % o)
            continue
        check(set(o) == {"apiVersion", "kind", "namespace", "name", "module", "state", "resourceVersion",
                         "appliedAt"} | ({"health"} if workload else set()), "object keys: %s" % sorted(o))
        if workload:
            # no daemon runs here: its view of the rollout is unknown
            check(o["health"] == {"state": "unknown", "reason": None, "message": "the daemon is not running",
                                  "since": None}, "health: %r" % o["health"])
        check(all(m in ("sandbox", "browser", "turn") for m in o["module"].split(",")) and o["state"] == "applied"
              and is_time(o["appliedAt"])
              and o["resourceVersion"].isdigit(), "object: %r" % o)
    for c in j["oauthClients"]:
        check(set(c) == {"id", "module", "state", "redirectUri", "appliedAt", "database"}, "client keys: %s" % sorted(c))
        check(c["module"] in ("sandbox", "browser") and c["state"] == "registered" and is_time(c["appliedAt"])
              and c["redirectUri"].startswith("http"), "client: %r" % c)
        # where the row was written: the harness's database, its server told by its identifier
        sysid = psql("SELECT system_identifier FROM pg_control_system()").strip()
        check(c["database"] == {"host": "127.0.0.1", "port": env("PGPORT"), "name": "nap",
                                "systemIdentifier": sysid}, "client database: %r" % c["database"])


def case_status(site):
    fresh = Site("status-fresh", module_values("golden"))
    j = fresh.status()
    validate_status(j, fresh)
    check(j["generation"] == 0 and j["lastPass"] == {} and not j["objects"] and not j["oauthClients"],
          "status of a fresh state dir: %r" % j)

    j = site.status()
    validate_status(j, site)
    d = site.render()
    want = sorted((i["apiVersion"], i["kind"], i["metadata"]["namespace"], i["metadata"]["name"])
                  for i in d["items"] + d["partialObjects"])
    have = sorted((o["apiVersion"], o["kind"], o["namespace"], o["name"]) for o in j["objects"])
    check(have == want, "status objects %s, want %s" % (have, want))
    check([o["state"] for o in j["objects"] if o.get("partial")] == ["missing"],
          "status: nap-cp (not in the harness) is not 'missing': %r" % j["objects"])
    for o in j["objects"]:
        if o["state"] == "missing":
            continue
        live = get(RESOURCE_OF[o["kind"]], o["namespace"], o["name"])
        check(live["metadata"]["resourceVersion"] == o["resourceVersion"],
              "%s %s: resourceVersion %s, live %s" % (o["kind"], o["name"], o["resourceVersion"],
                                                     live["metadata"]["resourceVersion"]))
    check(sorted((c["id"], c["redirectUri"]) for c in j["oauthClients"])
          == sorted((c["id"], c["redirect_uris"][0]) for c in d["oauthClients"]), "status clients: %r" % j)
    check(j["lastPass"]["result"] == "ok" and j["generation"] >= 1, "lastPass: %r" % j)

    # A refused pass is recorded, without a secret.
    bad = site.text().replace("BROWSER_NODE_PORT=30085", "BROWSER_NODE_PORT=99999")
    site.write(bad)
    r = site.apply()
    check(r.rc == 1, "apply of an invalid file: %r" % r)
    j2 = site.status()
    validate_status(j2, site)
    check(j2["lastPass"]["result"] == "error" and j2["generation"] == j["generation"]
          and "BROWSER_NODE_PORT" in j2["lastPass"]["message"], "status after a refused pass: %r" % j2["lastPass"])
    site.write()
    r = site.apply()
    check(r.rc == 0, "apply: %r" % r)

    txt = json.dumps(site.status()) + agent.run("status", "--state-dir", site.state).out
    with open(os.path.join(site.state, "ledger.json")) as f:
        ledger = f.read()
    for s in site.secrets():
        for form in (s, base64.b64encode(s.encode()).decode()):
            check(form not in txt, "status shows a secret")
            check(form not in ledger, "ledger.json holds a secret")


def main():
    update = "--update" in sys.argv
    init([a for a in sys.argv if a != "--update"], "NAP_AGENT [--update]")
    run = Results("reconcile-plan")
    ensure_namespace("nap")
    names = sorted(f[:-4] for f in os.listdir(PLAN_DIR) if f.endswith(".env") and f != "base.env")
    for n in names:
        run.case("golden plan/%s" % n, golden, n, update)
    if update:
        print("updated %d .ok files in %s" % (len(names), PLAN_DIR))
        return run.finish()
    run.case("plan exit codes: 2 pending, 0 none, 1 error; plan --live 0 right after apply", case_exit_codes)
    site = Site("live", module_values("golden"))
    r = site.apply()
    check(r.rc == 0, "apply: %r" % r)
    run.case("plan --live shows drift; apply --resync repairs it", case_live_drift, site)
    run.case("status --json: shape, values, no secret", case_status, site)
    secrets = [v for _k, v in module_values("golden") if len(v) == 64] + [hexsecret("golden-2-sjwt")]
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
