#!/usr/bin/env python3
"""Every rendered module object, field for field, against what the
platform's install.sh deploys from the same values.env: the reference of
docs/platform-objects.json (docs/platform.md), read through
naptest.platform, never the agent's own output. Names, images, env lists in
order with their values or secretKeyRefs, pull policy, resources, probes,
coturn's arguments, strategy, hostNetwork and dnsPolicy, install.sh's
`kubectl patch`es (node selectors, tolerations, pull secret), Service
types and ports, the image warmer's containers, the Secrets' data, the set
of objects, and the env entries of the control plane's nap-cp.

Allowed, and nothing else: the deliberate differences of docs/design.md
("Deliberate differences from install.sh") that show in a rendering (extra
app.kubernetes.io/* labels on the objects' own metadata, never on a pod
template, the secret-digest annotation on pod templates,
an explicit protocol on every port, the UDP port beside the TCP one on the
coturn Service, each Secret only while a module that reads it is on), and
the KNOWN, TEMPORARY differences the data file lists in one place
("known_differences").

usage: field-table.py NAP_AGENT TEMPLATES_DIR   (PYTHONPATH=tests/lib)
"""
import base64
import copy
import json
import os
import subprocess
import sys
import tempfile

from naptest import platform

AGENT, TEMPLATES = sys.argv[1], sys.argv[2]
FAILURES = []
DIGEST = "nap-agent.neutree.ai/secret-digest"

S = {  # the fixtures' secrets (test values, not real ones)
    "SANDBOX_JWT_SECRET": "sandbox-jwt-0123456789abcdef0123456789abcdef",
    "SANDBOX_SERVICE_KEY": "service-key-0123456789abcdef0123456789abcdef",
    "BROWSER_JWT_SECRET": "browser-jwt-0123456789abcdef0123456789abcdef",
    "TURN_AUTH_SECRET": "turn-secret-0123456789abcdef0123456789abcdef",
}


def fail(where, msg):
    FAILURES.append("%s: %s" % (where, msg))


def render(values):
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as f:
        for k, v in values.items():
            f.write("%s=%s\n" % (k, v))
        path = f.name
    env = dict(os.environ, NAP_TEMPLATES_DIR=TEMPLATES, NAP_TEMPLATES_OVERRIDE_DIR="/nonexistent/field-table")
    p = subprocess.run([AGENT, "render", "--format", "json", "--show-secrets", "--values", path],
                       capture_output=True, text=True, env=env)
    os.unlink(path)
    if p.returncode != 0:
        raise SystemExit("render failed (%d): %s" % (p.returncode, p.stderr))
    out = json.loads(p.stdout)
    return {platform.key(o): o for o in out["items"]}, out.get("partialObjects")


# ---- the deliberate differences (docs/design.md), as the two sides are prepared ----

def walk(node, fn, path=()):
    """fn(path, dict) on every object inside node, outermost first."""
    if isinstance(node, dict):
        fn(path, node)
        for k, x in node.items():
            walk(x, fn, path + (k,))
    elif isinstance(node, list):
        for i, x in enumerate(node):
            walk(x, fn, path + (i,))


def expected(key, ref, v):
    """The reference object as the agent must render it: install.sh's
    patches merged in, the known differences applied, then every port with
    an explicit protocol (TCP where install.sh names none) and the coturn
    Service with a UDP twin of each TCP port."""
    for kind, name, patch in platform.patches(v):
        if key.lower() == "%s/%s" % (kind, name):
            platform.merge(ref, patch)
    want = platform.with_protocols(platform.agent_today(key, ref, v))
    if key == "Service/coturn":
        twins = [dict(p, name=p["name"].replace("-tcp", "-udp"), protocol="UDP")
                 for p in want["spec"]["ports"] if p["protocol"] == "TCP"]
        want["spec"]["ports"] += twins
    return normal(want)


def normal(obj):
    """What both sides are compared in: an env entry's empty value as none
    (the API server stores install.sh's `value: ""` as no value)."""
    def env(path, d):
        if path[-2:-1] == ("env",) and d.get("value") == "":
            del d["value"]
    walk(obj, env)
    return obj


def as_rendered(key, got):
    """The agent's object without what the deliberate differences add, each
    addition checked: app.kubernetes.io/* labels (not on a pod template), the secret-digest
    annotation on a pod template; a Secret's data decoded as stringData."""
    got = copy.deepcopy(got)

    def strip(path, d):
        labels = d.get("labels")
        # not on a pod template: exactly install.sh's pod labels there, one
        # more would change the template, and so replace every pod, when
        # install.sh's workload is taken over
        if path and path[-1] == "metadata" and path[-2:] != ("template", "metadata") and isinstance(labels, dict):
            for k in [k for k in labels if k.startswith("app.kubernetes.io/")]:
                del labels[k]
            if not labels:
                del d["labels"]
        if path[-2:] == ("template", "metadata") and isinstance(d.get("annotations"), dict):
            d["annotations"].pop(DIGEST, None)
            if not d["annotations"]:
                del d["annotations"]
    walk(got, strip)
    if got.get("kind") == "Secret" and "data" in got:
        got["stringData"] = {k: base64.b64decode(x).decode() for k, x in got.pop("data").items()}
    return normal(got)


def compare(where, got, want):
    """Every difference between got and want, by path."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            if k not in got:
                fail("%s.%s" % (where, k), "missing, want %s" % json.dumps(want[k]))
            elif k not in want:
                fail("%s.%s" % (where, k), "not install.sh's: %s" % json.dumps(got[k]))
            else:
                compare("%s.%s" % (where, k), got[k], want[k])
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (g, w) in enumerate(zip(got, want)):
            compare("%s[%d]" % (where, i), g, w)
    elif got != want:
        fail(where, "got %s, want %s" % (json.dumps(got), json.dumps(want)))


def present(key, v):
    """The deliberate difference in the set of objects: the sandbox's Secret
    while either module is on (the browser reads its SERVICE_KEY), the
    browser's while the browser is on; install.sh writes both always."""
    p = v["APP_PREFIX"]
    on = {m: v.get(m.upper() + "_ENABLED") == "true" for m in ("sandbox", "browser")}
    if key == "Secret/%s-sandbox-secret" % p:
        return on["sandbox"] or on["browser"]
    if key == "Secret/%s-browser-secret" % p:
        return on["browser"]
    return True


def check_service_account(partials, v):
    """The registry login's entry in the ServiceAccount default's
    imagePullSecrets (install.sh's `kubectl patch`; the agent adds its entry
    beside the others, docs/design.md), as a partial object; none without a
    pull secret."""
    want = platform.registry_login(v)["service_account"]
    got = [p for p in partials if p.get("kind") == "ServiceAccount"]
    if not want:
        if got:
            fail("partial ServiceAccount", "install.sh patches none here: %s" % json.dumps(got))
        return
    if len(got) != 1:
        return fail("partial ServiceAccount/%s" % want["name"], "want it once, got %s" % json.dumps(got))
    compare("partial ServiceAccount/%s" % want["name"], got[0], {
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": want["name"], "namespace": v["NAMESPACE"]},
        "imagePullSecrets": want["imagePullSecrets"]})


def check_registry_secret(objs, v):
    """install.sh's `kubectl create secret docker-registry`: its
    .dockerconfigjson (kubectl 1.20's, compared as JSON), under the name
    IMAGE_PULL_SECRET gives (install.sh always writes 'regcred', which is
    also the default: docs/design.md). Returns the key it checked, or None."""
    login = platform.registry_login(v)["secret"]
    if not login:
        return None
    key = "Secret/" + v["IMAGE_PULL_SECRET"]
    s = objs.get(key)
    if not s:
        fail(key, "not rendered")
        return key
    compare(key + ".type", s.get("type"), "kubernetes.io/dockerconfigjson")
    compare(key + " data keys", sorted(s.get("data", {})), [".dockerconfigjson"])
    got = json.loads(base64.b64decode(s.get("data", {}).get(".dockerconfigjson", "e30=")))
    auth = base64.b64encode(("%s:%s" % (login["username"], login["password"])).encode()).decode()
    compare(key + ".dockerconfigjson", got, {"auths": {login["server"]: {
        "username": login["username"], "password": login["password"], "auth": auth}}})
    return key


def check_cp(partials, v):
    """The control plane's Deployment (not a module object): its env
    entries, modules on or off, and nothing else of it."""
    cp = platform.agent_today("control_plane", platform.control_plane(v), v)
    where = "partial %s" % cp["deployment"]
    if not isinstance(partials, list):
        return fail(where, "no list of partial objects: %s" % json.dumps(partials))
    check_service_account(partials, v)
    partials = [p for p in partials if p.get("kind") != "ServiceAccount"]
    if len(partials) != 1:
        return fail(where, "want exactly one partial Deployment, got %s" % json.dumps(partials))
    compare(where, partials[0], {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": cp["deployment"], "namespace": v["NAMESPACE"]},
        "spec": {"template": {"spec": {"containers": [{"name": cp["container"], "env": cp["env"]}]}}},
    })


def scenario(title, values):
    objs, partials = render(values)
    before = len(FAILURES)
    v = platform.resolve(values)
    check_cp(partials, v)
    want = {}
    for ref in platform.objects(v):
        key = platform.key(ref)
        if present(key, v):
            want[key] = expected(key, ref, v)
    login = check_registry_secret(objs, v)
    for key in sorted(set(want) | set(objs)):
        if key == login:
            continue
        if key not in objs:
            fail(key, "not rendered")
        elif key not in want:
            fail(key, "rendered, but install.sh does not deploy it here")
        else:
            compare(key, as_rendered(key, objs[key]), want[key])
    print("%s %s (%d objects)" % ("ok  " if len(FAILURES) == before else "FAIL", title, len(objs)))


ON = dict(S, NAP_HOST="203.0.113.7", TURN_HOST="203.0.113.8", SANDBOX_ENABLED="true", BROWSER_ENABLED="true")

scenario("both modules on, every default", ON)

scenario("selectors, pull secret, pinned tag, other names and ports",
         dict(ON, IMAGE_TAG="v4.2.0", IMAGE_PULL_SECRET="mirror-pull", PG_USERNAME="napuser", DB_NAME="napdb",
              COTURN_NODE_SELECTOR="kubernetes.io/hostname=node-a",
              SANDBOX_NODE_SELECTOR="pool=sandbox,zone=eu-1a", TURN_PORT="3479", SANDBOX_NODE_PORT="31086",
              BROWSER_NODE_PORT="31085", SANDBOX_DOMAIN="sandbox.example.com", NAMESPACE="agents",
              REGISTRY="mirror.example.com/nap", COTURN_IMAGE="mirror.example.com/nap/coturn:4.6",
              PAUSE_IMAGE="mirror.example.com/nap/pause:3.9"))

scenario("INGRESS_MODE=external with the three public URLs",
         dict(ON, INGRESS_MODE="external", WEB_PUBLIC_URL="https://nap.example.com",
              SANDBOX_PUBLIC_URL="https://sandbox.example.com", BROWSER_PUBLIC_URL="https://browser.example.com"))

scenario("sandbox only", dict(ON, BROWSER_ENABLED="false"))

# The browser alone: it reads SERVICE_KEY from the sandbox's Secret, empty
# here as in install.sh.
scenario("browser only", {k: v for k, v in ON.items() if not k.startswith("SANDBOX_")} | {"SANDBOX_ENABLED": "false"})

# Both off: no module object, but nap-cp still gets its env entries.
scenario("both modules off", dict(ON, SANDBOX_ENABLED="false", BROWSER_ENABLED="false"))

# A registry login: IMAGE_PULL_SECRET defaults to regcred; the Secret made
# from it; coturn and the ServiceAccount default pull with it.
scenario("registry login", dict(ON, REGISTRY_SERVER="registry.example.com", REGISTRY_USERNAME="robot",
                                REGISTRY_PASSWORD="registry-password-0123456789abcdef"))

scenario("registry login with its own Secret name, modules off",
         dict(ON, SANDBOX_ENABLED="false", BROWSER_ENABLED="false", REGISTRY_SERVER="registry.example.com",
              REGISTRY_USERNAME="robot", REGISTRY_PASSWORD="registry-password-0123456789abcdef",
              IMAGE_PULL_SECRET="mirror-login"))

scenario("APP_PREFIX with its own image prefix",
         dict(ON, APP_PREFIX="acme", PLATFORM_IMAGE_PREFIX="ghcr.io/neutree-ai/agent-platform/nap"))

for f in FAILURES:
    print("  " + f)
print("%d mismatch(es)" % len(FAILURES))
sys.exit(1 if FAILURES else 0)
