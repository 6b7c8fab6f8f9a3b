#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Table-driven single-key edits of values.env, each applied by the real
`nap-agent apply` against the harness's kube-apiserver and PostgreSQL,
asserting the exact set of write requests (the apiserver audit log) and
the exact oauth_clients rows written (xmin/updated_at), then the invariant
(live objects and rows equal the rendered desired set) and that a second
`apply` makes no request at all.

    with-harness.sh test-edits.py NAP_AGENT
"""
import sys

from naptest.audit import WRITE_VERBS, audit, fmt_reqs, summary
from naptest.checks import Results, check
from naptest.compare import invariant
from naptest.db import row_changes, rows
from naptest.harness import init
from naptest.kube import RANK, ensure_namespace, get
from naptest.values import Site, hexsecret

SECRET = {k: hexsecret("edits-" + k) for k in
          ("SANDBOX_JWT_SECRET", "SANDBOX_SERVICE_KEY", "BROWSER_JWT_SECRET", "TURN_AUTH_SECRET")}

BASE = [
    ("NAMESPACE", "nap"),
    ("APP_PREFIX", "nap"),
    ("REGISTRY", "registry.test/platform"),
    ("IMAGE_TAG", "v1.0.0"),
    ("PLATFORM_IMAGE_PREFIX", None),
    ("COTURN_IMAGE", "docker.io/coturn/coturn:4.6"),
    ("TOS_HOST", "192.0.2.10"),
    ("NAP_HOST", None),
    ("TOS_NODE_PORT", "30080"),
    ("WEB_PUBLIC_URL", None),
    ("INGRESS_MODE", "nodeport"),
    ("PG_USERNAME", "nap"),
    ("PG_PASSWORD", ""),
    ("DB_NAME", "nap"),
    ("SANDBOX_ENABLED", "true"),
    ("SANDBOX_NODE_PORT", "30086"),
    ("SANDBOX_JWT_SECRET", SECRET["SANDBOX_JWT_SECRET"]),
    ("SANDBOX_SERVICE_KEY", SECRET["SANDBOX_SERVICE_KEY"]),
    ("SANDBOX_DOMAIN", ""),
    ("OPENSANDBOX_URL", None),
    ("SANDBOX_PUBLIC_URL", ""),
    ("BROWSER_ENABLED", "true"),
    ("BROWSER_NODE_PORT", "30085"),
    ("BROWSER_JWT_SECRET", SECRET["BROWSER_JWT_SECRET"]),
    ("TURN_AUTH_SECRET", SECRET["TURN_AUTH_SECRET"]),
    ("TURN_HOST", "192.0.2.20"),
    ("TURN_PORT", "3478"),
    ("BROWSER_PUBLIC_URL", ""),
]

# Shorthands for the expected writes: "P secret nap-sandbox-secret" is a
# PATCH (server-side apply) of that Secret in the site's namespace; "D ..."
# a DELETE; a name "ns/name" names another namespace.
RES = {"secret": "secrets", "svc": "services", "deploy": "deployments", "ds": "daemonsets"}
S_SECRET, S_SVC, S_DEPLOY = "secret nap-sandbox-secret", "svc nap-sandbox", "deploy nap-sandbox"
B_SECRET, B_SVC, B_DEPLOY = "secret nap-browser-secret", "svc nap-browser", "deploy nap-browser"
T_DEPLOY, T_SVC = "deploy coturn", "svc coturn"
W_DS = "ds sandbox-image-warmer"
SANDBOX = [S_SECRET, S_SVC, S_DEPLOY, W_DS]
BROWSER = [B_SECRET, B_SVC, B_DEPLOY, T_DEPLOY, T_SVC]


def P(*objs):
    return ["P " + o for o in objs]


def D(*objs):
    return ["D " + o for o in objs]


def C(*objs):
    return ["C " + o for o in objs]


# The secret digest's key: created (POST) by the first pass that needs it in
# a namespace, read after that, never written again (pass-digest.c).
KEY = "secret nap-agent-digest-key"


def in_ns(ns, objs, prefix=None):
    out = []
    for o in objs:
        kind, name = o.split()
        if prefix and name.startswith("nap-"):
            name = prefix + name[3:]
        out.append("%s %s/%s" % (kind, ns, name))
    return out


def expand(exp, ns):
    out = []
    for e in exp:
        verb, kind, name = e.split()
        if "/" not in name:
            name = ns + "/" + name
        out.append("%s %s %s" % ({"P": "patch", "D": "delete", "C": "create"}[verb], RES[kind], name))
    return sorted(out)


def check_order(writes):
    """Deletes first, Deployments before Services before Secrets; then
    applies, Secrets before Services before Deployments."""
    seen_patch = False
    last_del, last_patch = 99, -1
    for v, r, _ns, n, *_ in writes:
        if n == KEY.split()[1]:
            continue  # not a planned object: read or made at the same time as the first group
        if v == "delete":
            check(not seen_patch, "a delete came after an apply: %s" % fmt_reqs(writes))
            check(RANK[r] <= last_del, "deletes out of order:\n%s" % fmt_reqs(writes))
            last_del = RANK[r]
        else:
            seen_patch = True
            check(RANK[r] >= last_patch, "applies out of order:\n%s" % fmt_reqs(writes))
            last_patch = RANK[r]


def step(site, edit, exp_writes, exp_rows, noop=False, extra_check=None):
    old_ns = site.vals["NAMESPACE"]
    if callable(edit):
        edit(site)
    else:
        site.vals.update(edit)
    site.write()
    ns = site.vals["NAMESPACE"]

    plan = site.plan()
    check(plan.rc == (0 if noop else 2), "plan: want exit %d, got %r" % (0 if noop else 2, plan))

    before = rows()
    m = audit().mark()
    r = site.apply()
    check(r.rc == 0, "apply failed: %r" % r)
    reqs = audit().requests_since(m)
    if noop:
        check(not reqs, "a no-op edit made requests:\n%s" % fmt_reqs(reqs))
    writes = [w for w in reqs if w[0] in WRITE_VERBS]
    want = expand(exp_writes, ns)
    check(summary(writes) == want, "writes differ:\n  want %s\n  have %s\n%s"
          % (want, summary(writes), fmt_reqs(reqs)))
    check(all(w.code in (200, 201) for w in writes),
          "a write failed:\n%s" % fmt_reqs(writes))
    check_order(writes)
    ch = row_changes(before, rows())
    check(ch == exp_rows, "oauth_clients rows written: want %s, have %s" % (exp_rows, ch))

    invariant(site, namespaces={old_ns, ns})
    if extra_check:
        extra_check(site)

    m = audit().mark()
    r = site.apply()
    reqs = audit().requests_since(m)
    check(r.rc == 0 and not reqs, "a second apply made requests (exit %d):\n%s" % (r.rc, fmt_reqs(reqs)))


def service_is(name, typ, node_port):
    def f(site):
        s = get("services", site.vals["NAMESPACE"], name)
        port = s["spec"]["ports"][0]
        check(s["spec"]["type"] == typ and port.get("nodePort") == node_port,
              "Service %s: type %s nodePort %s, want %s %s"
              % (name, s["spec"]["type"], port.get("nodePort"), typ, node_port))
    return f


def row_uri(cid, uri):
    def f(site):
        got = rows()[cid]["redirect_uris"]
        check(got == [uri], "%s redirect_uris %s, want [%s]" % (cid, got, uri))
    return f


def add_comment(site):
    site.extra += "# an operator's note, added later\n"


def tos_to_nap_host(value):
    def f(site):
        site.vals["TOS_HOST"] = None
        site.vals["NAP_HOST"] = value
    return f


def nap_to_tos_host(value):
    def f(site):
        site.vals["NAP_HOST"] = None
        site.vals["TOS_HOST"] = value
    return f


BOTH = {"sandbox-service": "update", "browser-service": "update"}
SBX = {"sandbox-service": "update"}
BRW = {"browser-service": "update"}

# (name, edit, expected writes, expected row writes, options)
CASES = [
    ("first apply creates everything", {}, P(*SANDBOX, *BROWSER) + C(KEY),
     {"sandbox-service": "insert", "browser-service": "insert"}, {}),
    ("no-op: apply again", {}, [], {}, {"noop": True}),
    ("no-op: a comment added", add_comment, [], {}, {"noop": True}),
    ("REGISTRY", {"REGISTRY": "registry.test/other"}, P(S_DEPLOY, B_DEPLOY, W_DS), {}, {}),
    ("IMAGE_TAG", {"IMAGE_TAG": "v1.0.1"}, P(S_DEPLOY, B_DEPLOY, W_DS), {}, {}),
    ("PLATFORM_IMAGE_PREFIX", {"PLATFORM_IMAGE_PREFIX": "mirror.test/nap/nap"}, P(S_DEPLOY, B_DEPLOY), {}, {}),
    ("COTURN_IMAGE", {"COTURN_IMAGE": "mirror.test/coturn/coturn:4.6.2"}, P(T_DEPLOY), {}, {}),
    ("TOS_HOST", {"TOS_HOST": "192.0.2.11"}, P(S_DEPLOY, B_DEPLOY, T_DEPLOY), BOTH,
     {"extra_check": row_uri("sandbox-service", "http://192.0.2.11:30086/api/auth/callback")}),
    ("no-op: TOS_HOST renamed NAP_HOST, same value", tos_to_nap_host("192.0.2.11"), [], {}, {"noop": True}),
    ("NAP_HOST", {"NAP_HOST": "192.0.2.12"}, P(S_DEPLOY, B_DEPLOY, T_DEPLOY), BOTH, {}),
    ("no-op: NAP_HOST back to TOS_HOST", nap_to_tos_host("192.0.2.12"), [], {}, {"noop": True}),
    ("TOS_NODE_PORT", {"TOS_NODE_PORT": "30081"}, P(S_DEPLOY, B_DEPLOY), {}, {}),
    ("WEB_PUBLIC_URL", {"WEB_PUBLIC_URL": "https://nap.example.com"}, P(S_DEPLOY, B_DEPLOY), {}, {}),
    ("PG_USERNAME", {"PG_USERNAME": "nap_app"}, P(S_DEPLOY, B_DEPLOY), {}, {}),
    ("DB_NAME", {"DB_NAME": "nap_db"}, P(S_DEPLOY, B_DEPLOY), {}, {}),
    ("SANDBOX_NODE_PORT", {"SANDBOX_NODE_PORT": "30096"}, P(S_SVC, S_DEPLOY), SBX,
     {"extra_check": service_is("nap-sandbox", "NodePort", 30096)}),
    ("SANDBOX_JWT_SECRET", {"SANDBOX_JWT_SECRET": hexsecret("edits-2-sjwt")}, P(S_SECRET, S_DEPLOY), {}, {}),
    ("SANDBOX_SERVICE_KEY", {"SANDBOX_SERVICE_KEY": hexsecret("edits-2-skey")},
     P(S_SECRET, S_DEPLOY, B_DEPLOY), {}, {}),
    ("SANDBOX_DOMAIN", {"SANDBOX_DOMAIN": "sandbox.example.com"}, P(S_DEPLOY), {}, {}),
    ("OPENSANDBOX_URL", {"OPENSANDBOX_URL": "http://opensandbox.other.svc:8080"}, P(S_DEPLOY), {}, {}),
    ("SANDBOX_PUBLIC_URL with a trailing slash", {"SANDBOX_PUBLIC_URL": "https://sandbox.example.com/"},
     P(S_DEPLOY), SBX, {"extra_check": row_uri("sandbox-service", "https://sandbox.example.com/api/auth/callback")}),
    ("no-op: SANDBOX_PUBLIC_URL slash dropped", {"SANDBOX_PUBLIC_URL": "https://sandbox.example.com"},
     [], {}, {"noop": True}),
    ("BROWSER_NODE_PORT", {"BROWSER_NODE_PORT": "30095"}, P(B_SVC, B_DEPLOY), BRW,
     {"extra_check": service_is("nap-browser", "NodePort", 30095)}),
    ("BROWSER_JWT_SECRET", {"BROWSER_JWT_SECRET": hexsecret("edits-2-bjwt")}, P(B_SECRET, B_DEPLOY), {}, {}),
    ("TURN_AUTH_SECRET", {"TURN_AUTH_SECRET": hexsecret("edits-2-turn")}, P(B_SECRET, B_DEPLOY, T_DEPLOY), {}, {}),
    ("TURN_HOST", {"TURN_HOST": "192.0.2.21"}, P(B_DEPLOY, T_DEPLOY), {}, {}),
    ("TURN_PORT", {"TURN_PORT": "3479"}, P(B_DEPLOY, T_DEPLOY, T_SVC), {}, {}),
    ("BROWSER_PUBLIC_URL", {"BROWSER_PUBLIC_URL": "https://browser.example.com"}, P(B_DEPLOY), BRW, {}),
    ("INGRESS_MODE nodeport -> external", {"INGRESS_MODE": "external"}, P(S_SVC, B_SVC), {},
     {"extra_check": service_is("nap-browser", "ClusterIP", None)}),
    ("INGRESS_MODE external -> nodeport", {"INGRESS_MODE": "nodeport"}, P(S_SVC, B_SVC), {},
     {"extra_check": service_is("nap-sandbox", "NodePort", 30096)}),
    ("INGRESS_MODE nodeport -> external, URLs from the NodePorts",
     {"INGRESS_MODE": "external", "SANDBOX_PUBLIC_URL": "", "BROWSER_PUBLIC_URL": ""},
     P(S_SVC, B_SVC, S_DEPLOY, B_DEPLOY), BOTH, {"extra_check": service_is("nap-sandbox", "ClusterIP", None)}),
    ("INGRESS_MODE external -> nodeport, URLs from the NodePorts", {"INGRESS_MODE": "nodeport"},
     P(S_SVC, B_SVC), {}, {"extra_check": service_is("nap-browser", "NodePort", 30095)}),
    ("SANDBOX_ENABLED on -> off", {"SANDBOX_ENABLED": "false"},
     D(W_DS, S_DEPLOY, S_SVC), {}, {}),  # the oauth row stays (tokens cascade)
    ("SANDBOX_ENABLED off -> on", {"SANDBOX_ENABLED": "true"},
     P(S_SVC, S_DEPLOY, W_DS), {}, {}),  # ... and is still right
    ("BROWSER_ENABLED on -> off", {"BROWSER_ENABLED": "false"}, D(*BROWSER), {}, {}),
    ("BROWSER_ENABLED off -> on", {"BROWSER_ENABLED": "true"}, P(*BROWSER), {}, {}),
    ("APP_PREFIX", {"APP_PREFIX": "acme"},
     D(*in_ns("nap", [S_SECRET, S_SVC, S_DEPLOY, B_SECRET, B_SVC, B_DEPLOY]))
     + P(*in_ns("nap", [S_SECRET, S_SVC, S_DEPLOY, B_SECRET, B_SVC, B_DEPLOY], prefix="acme"), T_DEPLOY), {}, {}),
    ("NAMESPACE", {"NAMESPACE": "nap-moved"},
     D(*in_ns("nap", SANDBOX + BROWSER, prefix="acme")) + P(*in_ns("nap-moved", SANDBOX + BROWSER, prefix="acme"))
     + C(*in_ns("nap-moved", [KEY])), {}, {}),
    ("NAMESPACE back", {"NAMESPACE": "nap"},
     D(*in_ns("nap-moved", SANDBOX + BROWSER, prefix="acme")) + P(*in_ns("nap", SANDBOX + BROWSER, prefix="acme")),
     {}, {}),
]


def main():
    init(sys.argv)
    run = Results("reconcile-edits")
    ensure_namespace("nap")
    ensure_namespace("nap-moved")
    site = Site("edits", BASE)
    covered = set()
    for name, edit, writes, rows_, opts in CASES:
        ok = run.case(name, step, site, edit, writes, rows_, opts.get("noop", False), opts.get("extra_check"))
        if isinstance(edit, dict):
            covered |= set(edit)
        if not ok:
            break  # the next edits start from a state this one did not reach
    keys = {"NAMESPACE", "APP_PREFIX", "REGISTRY", "IMAGE_TAG", "PLATFORM_IMAGE_PREFIX", "COTURN_IMAGE", "TOS_HOST",
            "NAP_HOST", "TOS_NODE_PORT", "WEB_PUBLIC_URL", "INGRESS_MODE", "PG_USERNAME", "DB_NAME",
            "SANDBOX_NODE_PORT", "SANDBOX_JWT_SECRET", "SANDBOX_SERVICE_KEY", "SANDBOX_DOMAIN", "OPENSANDBOX_URL",
            "SANDBOX_PUBLIC_URL", "BROWSER_NODE_PORT", "BROWSER_JWT_SECRET", "TURN_AUTH_SECRET", "TURN_HOST",
            "TURN_PORT", "BROWSER_PUBLIC_URL", "SANDBOX_ENABLED", "BROWSER_ENABLED"}
    run.case("every key of DESIGN.md §3 is edited", lambda: check(keys <= covered, "not covered: %s"
                                                                   % sorted(keys - covered)))
    secrets = list(SECRET.values()) + [v for _n, e, _w, _r, _o in CASES if isinstance(e, dict)
                                       for k, v in e.items() if "SECRET" in k or "KEY" in k]
    return run.finish(secrets)


if __name__ == "__main__":
    sys.exit(main())
