#!/usr/bin/env python3
"""Every rendered module object against a field table transcribed by hand
from /work/shared/UPSTREAM.md §2 (what install.sh deploys), not from the
agent's own output: names, images, env names in order with their value or
secretKeyRef, pull policy, resources, probe timings, coturn's argument set
and no probe, strategy/hostNetwork/dnsPolicy, node selectors, tolerations
and pull secrets, Service types and ports, the image warmer's containers.

The deliberate differences of UPSTREAM.md §4 are allowed and nothing else:
extra app.kubernetes.io/* labels on the objects' own metadata (never on a
pod template), the secret-digest annotation on pod templates, an explicit protocol on every port, TURN_PORT as coturn's port,
and the UDP port on the coturn Service.

usage: field-table.py NAP_AGENT TEMPLATES_DIR
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

AGENT, TEMPLATES = sys.argv[1], sys.argv[2]
FAILURES = []

S = {  # the fixtures' secrets (test values, not real ones)
    "SANDBOX_JWT_SECRET": "sandbox-jwt-0123456789abcdef0123456789abcdef",
    "SANDBOX_SERVICE_KEY": "service-key-0123456789abcdef0123456789abcdef",
    "BROWSER_JWT_SECRET": "browser-jwt-0123456789abcdef0123456789abcdef",
    "TURN_AUTH_SECRET": "turn-secret-0123456789abcdef0123456789abcdef",
}


def fail(where, msg):
    FAILURES.append("%s: %s" % (where, msg))


def eq(where, got, want):
    if got != want:
        fail(where, "got %s, want %s" % (json.dumps(got), json.dumps(want)))


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
    objs = {"%s/%s" % (o["kind"], o["metadata"]["name"]): o for o in out["items"]}
    return objs, out.get("partialObjects")


# ---- the table (UPSTREAM.md §2, by hand) ---------------------------------------

RESOURCES = {"requests": {"memory": "128Mi", "cpu": "50m"}, "limits": {"memory": "256Mi", "cpu": "250m"}}
COTURN_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
TINY = {"requests": {"cpu": "1m", "memory": "1Mi"}}
COTURN_ARGS = ["--listening-port={turn_port}", "--listening-ip={turn_host}", "--relay-ip={turn_host}",
               "--external-ip={turn_host}", "--min-port=49152", "--max-port=49252", "--realm={nap_host}",
               "--use-auth-secret", "--static-auth-secret=$(TURN_AUTH_SECRET)", "--no-tls", "--no-dtls",
               "--log-file=stdout", "--fingerprint", "--lt-cred-mech", "--no-cli", "--no-multicast-peers"]


def ref(secret, key):
    return {"secretKeyRef": {"name": secret, "key": key}}


def service_env(c, port, secret):
    """The first entries of both services' env: port, database, JWT secret."""
    p = c["prefix"]
    return [
        ("PORT", port),
        ("POSTGRES_PASSWORD", ref(p + "-pg-user", "password")),
        ("DATABASE_URL", "postgresql://%s:$(POSTGRES_PASSWORD)@%s-pg-rw:5432/%s" % (c["pg_user"], p, c["db"])),
        ("JWT_SECRET", ref(p + secret, "JWT_SECRET")),
    ]


def sandbox_env(c):
    p = c["prefix"]
    return service_env(c, "3006", "-sandbox-secret") + [
        ("SERVICE_KEY", ref(p + "-sandbox-secret", "SERVICE_KEY")),
        ("NAP_OAUTH_URL", c["web_url"]),
        ("NAP_URL", "http://%s-cp:3000" % p),
        ("OAUTH_CLIENT_ID", "sandbox-service"),
        ("SANDBOX_SERVICE_URL", c["sandbox_url"]),
        ("SANDBOX_DOMAIN", c["sandbox_domain"]),
        ("OPENSANDBOX_URL", c["opensandbox_url"]),
    ]


def browser_env(c):
    p = c["prefix"]
    return service_env(c, "3005", "-browser-secret") + [
        ("NAP_OAUTH_URL", c["web_url"]),
        ("NAP_INTERNAL_URL", "http://%s-cp:3000" % p),
        ("OAUTH_CLIENT_ID", "browser-service"),
        ("BROWSER_SERVICE_URL", c["browser_url"]),
        ("SANDBOX_SERVICE_URL", "http://%s-sandbox:3006" % p),
        ("SANDBOX_SERVICE_KEY", ref(p + "-sandbox-secret", "SERVICE_KEY")),
        ("BROWSER_IMAGE", "%s/chromium-headful:%s" % (c["registry"], c["tag"])),
        ("TURN_HOST", c["turn_host"]),
        ("TURN_PORT", str(c["turn_port"])),
        ("TURN_AUTH_SECRET", ref(p + "-browser-secret", "TURN_AUTH_SECRET")),
    ]


def check_labels(where, meta, want):
    """want ⊆ labels; anything else must be app.kubernetes.io/* (§4)."""
    labels = meta.get("labels", {})
    for k, v in want.items():
        eq(where + ".labels." + k, labels.get(k), v)
    for k in labels:
        if k not in want and not k.startswith("app.kubernetes.io/"):
            fail(where, "label %s is not install.sh's" % k)


def rendered(objs, where, labels):
    """The object named where ("Kind/name") with its labels checked, or None
    when it was not rendered (a failure)."""
    o = objs.get(where)
    if not o:
        fail(where, "not rendered")
        return None
    check_labels(where, o["metadata"], labels)
    return o


def check_pod_meta(where, tmpl, app):
    # exactly install.sh's pod labels: one more would change the pod
    # template, and so replace every pod, when install.sh's workload is
    # taken over (the app.kubernetes.io/* labels are on the object only)
    eq(where + ".template.metadata.labels", tmpl["metadata"].get("labels"), {"app": app})
    extra = set(tmpl["metadata"].get("annotations", {})) - {"nap-agent.neutree.ai/secret-digest"}
    if extra:
        fail(where, "pod annotations %s" % sorted(extra))


def check_env(where, got, want):
    names = [e["name"] for e in got]
    eq(where + " env names in order", names, [n for n, _ in want])
    for e, (name, v) in zip(got, want):
        if isinstance(v, dict):
            eq(where + " env " + name, {k: x for k, x in e.items() if k != "name"}, {"valueFrom": v})
        elif v == "":
            # an empty value: install.sh writes value: "", which the API server stores as no value
            if e.get("value", "") != "" or set(e) - {"name", "value"}:
                fail(where + " env " + name, "want an empty value, got %s" % json.dumps(e))
        else:
            eq(where + " env " + name, {k: x for k, x in e.items() if k != "name"}, {"value": v})


def check_port(where, port, want):
    """want, plus protocol TCP when want has none (§4: explicit protocol everywhere)."""
    w = dict(want)
    w.setdefault("protocol", "TCP")
    eq(where, port, w)


def check_service_deployment(objs, c, name, container, port, env):
    where = "Deployment/" + name
    d = rendered(objs, where, {"app": name})
    if not d:
        return
    spec = d["spec"]
    eq(where + ".replicas", spec.get("replicas"), 1)
    eq(where + ".selector", spec.get("selector"), {"matchLabels": {"app": name}})
    eq(where + " spec keys", sorted(spec), ["replicas", "selector", "template"])
    check_pod_meta(where, spec["template"], name)
    pod = spec["template"]["spec"]
    eq(where + " pod spec keys", sorted(pod), ["containers"])
    eq(where + " containers", len(pod["containers"]), 1)
    k = pod["containers"][0]
    eq(where + " container keys", sorted(k), sorted(["name", "image", "imagePullPolicy", "ports", "env", "resources",
                                                     "livenessProbe", "readinessProbe"]))
    eq(where + ".name", k.get("name"), container)
    eq(where + ".image", k.get("image"), "%s-%s:%s" % (c["image_prefix"], container, c["tag"]))
    eq(where + ".imagePullPolicy", k.get("imagePullPolicy"), "Always")
    eq(where + ".ports", len(k.get("ports") or []), 1)
    check_port(where + ".ports[0]", (k.get("ports") or [{}])[0], {"containerPort": port, "name": "http"})
    check_env(where, k.get("env") or [], env)
    eq(where + ".resources", k.get("resources"), RESOURCES)
    probe = {"httpGet": {"path": "/health", "port": port}}
    eq(where + ".livenessProbe", k.get("livenessProbe"), dict(probe, initialDelaySeconds=10, periodSeconds=30))
    eq(where + ".readinessProbe", k.get("readinessProbe"), dict(probe, initialDelaySeconds=5, periodSeconds=10))


def check_http_service(objs, c, name, port, node_port):
    where = "Service/" + name
    s = rendered(objs, where, {"app": name})
    if not s:
        return
    spec = s["spec"]
    eq(where + ".selector", spec.get("selector"), {"app": name})
    want = {"name": "http", "port": port, "targetPort": port}
    if c["external"]:
        eq(where + ".type", spec.get("type"), "ClusterIP")
    else:
        eq(where + ".type", spec.get("type"), "NodePort")
        want["nodePort"] = node_port
    eq(where + ".ports", len(spec["ports"]), 1)
    check_port(where + ".ports[0]", spec["ports"][0], want)
    eq(where + " spec keys", sorted(spec), ["ports", "selector", "type"])


def check_coturn(objs, c):
    where = "Deployment/coturn"
    d = rendered(objs, where, {"app": "coturn"})
    if not d:
        return
    spec = d["spec"]
    eq(where + ".replicas", spec.get("replicas"), 1)
    eq(where + ".strategy", spec.get("strategy"), {"type": "Recreate"})
    eq(where + ".selector", spec.get("selector"), {"matchLabels": {"app": "coturn"}})
    check_pod_meta(where, spec["template"], "coturn")
    pod = spec["template"]["spec"]
    eq(where + ".hostNetwork", pod.get("hostNetwork"), True)
    eq(where + ".dnsPolicy", pod.get("dnsPolicy"), "ClusterFirstWithHostNet")
    keys = ["containers", "dnsPolicy", "hostNetwork"]
    if c["coturn_selector"]:
        eq(where + ".nodeSelector", pod.get("nodeSelector"), c["coturn_selector"])
        eq(where + ".tolerations", pod.get("tolerations"), [{"operator": "Exists"}])
        keys += ["nodeSelector", "tolerations"]
    if c["pull_secret"]:
        eq(where + ".imagePullSecrets", pod.get("imagePullSecrets"), [{"name": c["pull_secret"]}])
        keys += ["imagePullSecrets"]
    eq(where + " pod spec keys", sorted(pod), sorted(keys))
    k = pod["containers"][0]
    eq(where + " containers", len(pod["containers"]), 1)
    eq(where + " container keys", sorted(k), sorted(["name", "image", "args", "env", "ports", "resources"]))
    eq(where + ".name", k.get("name"), "coturn")
    eq(where + ".image", k.get("image"), c["coturn_image"])
    want_args = sorted(a.format(**c) for a in COTURN_ARGS)
    eq(where + " argument set", sorted(k.get("args") or []), want_args)
    eq(where + " arguments, each once", len(k.get("args") or []), len(set(k.get("args") or [])))
    eq(where + ".env", k.get("env"), [{"name": "TURN_AUTH_SECRET", "valueFrom": ref(c["prefix"] + "-browser-secret",
                                                                                 "TURN_AUTH_SECRET")}])
    protos = sorted((p["protocol"], p["containerPort"]) for p in k.get("ports") or [])
    eq(where + " container ports", protos, [("TCP", c["turn_port"]), ("UDP", c["turn_port"])])
    eq(where + ".resources", k.get("resources"), COTURN_RESOURCES)
    # no readiness probe: coturn binds only TURN_HOST (and no other probe either)

    where = "Service/coturn"
    s = rendered(objs, where, {})
    if not s:
        return
    spec = s["spec"]
    eq(where + ".clusterIP", spec.get("clusterIP"), "None")
    eq(where + ".selector", spec.get("selector"), {"app": "coturn"})
    eq(where + " spec keys", sorted(spec), ["clusterIP", "ports", "selector"])
    tp = c["turn_port"]
    ports = sorted(spec["ports"], key=lambda p: p["name"])
    eq(where + ".ports", ports, [
        {"name": "turn-tcp", "port": tp, "targetPort": tp, "protocol": "TCP"},
        {"name": "turn-udp", "port": tp, "targetPort": tp, "protocol": "UDP"},  # §4: the UDP port
    ])


def check_warmer(objs, c):
    where = "DaemonSet/sandbox-image-warmer"
    d = rendered(objs, where, {})
    if not d:
        return
    spec = d["spec"]
    eq(where + ".selector", spec.get("selector"), {"matchLabels": {"app": "sandbox-image-warmer"}})
    eq(where + " spec keys", sorted(spec), ["selector", "template"])
    check_pod_meta(where, spec["template"], "sandbox-image-warmer")
    pod = spec["template"]["spec"]
    eq(where + ".tolerations", pod.get("tolerations"), [{"operator": "Exists"}])
    keys = ["containers", "initContainers", "tolerations"]
    if c["sandbox_selector"]:
        eq(where + ".nodeSelector", pod.get("nodeSelector"), c["sandbox_selector"])
        keys.append("nodeSelector")
    eq(where + " pod spec keys", sorted(pod), sorted(keys))
    want_init = [
        ("pull-chromium-headful", "%s/chromium-headful:%s" % (c["registry"], c["tag"])),
        ("pull-node-22", c["node_image"]),
        ("pull-python-3-12", c["python_image"]),
        ("pull-golang-1-23", c["golang_image"]),
    ]
    eq(where + ".initContainers", pod.get("initContainers"),
       [{"name": n, "image": i, "command": ["true"], "resources": TINY} for n, i in want_init])
    eq(where + ".containers", pod.get("containers"), [{"name": "pause", "image": c["pause_image"], "resources": TINY}])


def check_secret(objs, c, name, data):
    where = "Secret/" + name
    s = rendered(objs, where, {})
    if not s:
        return
    eq(where + ".type", s.get("type"), "Opaque")
    got = {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}
    eq(where + ".data", got, data)


def check_cp(partials, c):
    """The control plane's Deployment (core, not a module object): the two
    public URLs, always, modules on or off, and nothing else of it."""
    where = "partial %s-cp" % c["prefix"]
    if not isinstance(partials, list) or len(partials) != 1:
        return fail(where, "want exactly one partial object, got %s" % json.dumps(partials))
    want = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": c["prefix"] + "-cp", "namespace": c["namespace"]},
        "spec": {"template": {"spec": {"containers": [{
            "name": "control-plane",
            "env": [{"name": "SANDBOX_PUBLIC_URL", "value": c["sandbox_url"]},
                    {"name": "BROWSER_PUBLIC_URL", "value": c["browser_url"]}],
        }]}}},
    }
    eq(where, partials[0], want)


# ---- scenarios --------------------------------------------------------------------

def scenario(title, values, c):
    objs, partials = render(values)
    before = len(FAILURES)
    p = c["prefix"]
    want = set()
    check_cp(partials, c)
    if c["sandbox"] or c["browser"]:
        want.add("Secret/%s-sandbox-secret" % p)
        check_secret(objs, c, p + "-sandbox-secret", {"JWT_SECRET": values.get("SANDBOX_JWT_SECRET", ""),
                                                      "SERVICE_KEY": values.get("SANDBOX_SERVICE_KEY", "")})
    if c["sandbox"]:
        want |= {"Deployment/%s-sandbox" % p, "Service/%s-sandbox" % p, "DaemonSet/sandbox-image-warmer"}
        check_service_deployment(objs, c, p + "-sandbox", "sandbox", 3006, sandbox_env(c))
        check_http_service(objs, c, p + "-sandbox", 3006, c["sandbox_node_port"])
        check_warmer(objs, c)
    if c["browser"]:
        want |= {"Secret/%s-browser-secret" % p, "Deployment/%s-browser" % p, "Service/%s-browser" % p,
                 "Deployment/coturn", "Service/coturn"}
        check_secret(objs, c, p + "-browser-secret", {"JWT_SECRET": values["BROWSER_JWT_SECRET"],
                                                      "TURN_AUTH_SECRET": values["TURN_AUTH_SECRET"]})
        check_service_deployment(objs, c, p + "-browser", "browser", 3005, browser_env(c))
        check_http_service(objs, c, p + "-browser", 3005, c["browser_node_port"])
        check_coturn(objs, c)
    eq(title + ": the objects", sorted(objs), sorted(want))
    print("%s %s (%d objects)" % ("ok  " if len(FAILURES) == before else "FAIL", title, len(objs)))


BASE = dict(prefix="nap", pg_user="nap", db="nap", registry="ghcr.io/neutree-ai/agent-platform",
            image_prefix="ghcr.io/neutree-ai/agent-platform/nap", tag="latest", nap_host="203.0.113.7",
            web_url="http://203.0.113.7:30080", sandbox_url="http://203.0.113.7:30086",
            browser_url="http://203.0.113.7:30085", sandbox_domain="",
            opensandbox_url="http://opensandbox-server.nap.svc:80", turn_host="203.0.113.8", turn_port=3478,
            coturn_image="docker.io/coturn/coturn:4.6", node_image="docker.io/library/node:22-bookworm",
            python_image="docker.io/library/python:3.12-bookworm", golang_image="docker.io/library/golang:1.23",
            pause_image="registry.k8s.io/pause:3.9", sandbox_node_port=30086, browser_node_port=30085,
            external=False, coturn_selector=None, sandbox_selector=None, pull_secret=None, sandbox=True, browser=True,
            namespace="nap")

ON = dict(S, NAP_HOST="203.0.113.7", TURN_HOST="203.0.113.8", SANDBOX_ENABLED="true", BROWSER_ENABLED="true")

scenario("both modules on, every default", ON, BASE)

scenario("selectors, pull secret, pinned tag, other names and ports",
         dict(ON, IMAGE_TAG="v4.2.0", IMAGE_PULL_SECRET="mirror-pull", PG_USERNAME="napuser", DB_NAME="napdb",
              COTURN_NODE_SELECTOR="kubernetes.io/hostname=node-a",
              SANDBOX_NODE_SELECTOR="pool=sandbox,zone=eu-1a", TURN_PORT="3479", SANDBOX_NODE_PORT="31086",
              BROWSER_NODE_PORT="31085", SANDBOX_DOMAIN="sandbox.example.com", NAMESPACE="agents",
              REGISTRY="mirror.example.com/nap", COTURN_IMAGE="mirror.example.com/nap/coturn:4.6",
              PAUSE_IMAGE="mirror.example.com/nap/pause:3.9"),
         dict(BASE, tag="v4.2.0", pull_secret="mirror-pull", pg_user="napuser", db="napdb",
              coturn_selector={"kubernetes.io/hostname": "node-a"},
              sandbox_selector={"pool": "sandbox", "zone": "eu-1a"}, turn_port=3479, sandbox_node_port=31086,
              browser_node_port=31085, sandbox_url="http://203.0.113.7:31086", browser_url="http://203.0.113.7:31085",
              sandbox_domain="sandbox.example.com", opensandbox_url="http://opensandbox-server.agents.svc:80",
              namespace="agents",
              registry="mirror.example.com/nap", image_prefix="mirror.example.com/nap/nap",
              coturn_image="mirror.example.com/nap/coturn:4.6", pause_image="mirror.example.com/nap/pause:3.9"))

scenario("INGRESS_MODE=external with the three public URLs",
         dict(ON, INGRESS_MODE="external", WEB_PUBLIC_URL="https://nap.example.com",
              SANDBOX_PUBLIC_URL="https://sandbox.example.com", BROWSER_PUBLIC_URL="https://browser.example.com"),
         dict(BASE, external=True, web_url="https://nap.example.com", sandbox_url="https://sandbox.example.com",
              browser_url="https://browser.example.com"))

scenario("sandbox only", dict(ON, BROWSER_ENABLED="false"), dict(BASE, browser=False))

# The browser alone: install.sh writes both Secrets always; the browser reads
# SERVICE_KEY from the sandbox's, empty here as in install.sh.
scenario("browser only", {k: v for k, v in ON.items() if not k.startswith("SANDBOX_")} | {"SANDBOX_ENABLED": "false"},
         dict(BASE, sandbox=False))

# Both off: no module object, but nap-cp still gets the public URLs.
scenario("both modules off", dict(ON, SANDBOX_ENABLED="false", BROWSER_ENABLED="false"),
         dict(BASE, sandbox=False, browser=False))

scenario("APP_PREFIX with its own image prefix",
         dict(ON, APP_PREFIX="acme", PLATFORM_IMAGE_PREFIX="ghcr.io/neutree-ai/agent-platform/nap"),
         dict(BASE, prefix="acme"))

for f in FAILURES:
    print("  " + f)
print("%d mismatch(es)" % len(FAILURES))
sys.exit(1 if FAILURES else 0)
