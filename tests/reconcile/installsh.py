# SPDX-License-Identifier: Apache-2.0
"""The module objects as the platform's install.sh deploys them, written by
hand from what install.sh deploys (not from the agent's templates), for
the tests that take over an installation made by install.sh, and
install.sh's own steps played against the harness (install_sh).

installsh_objects(v) renders them from v, a dict of the resolved values of
a values.env (what install.sh's `${KEY:-default}` reads make of it). The
shape is install.sh's: the labels `app: <name>` only, Secrets as
stringData, coturn's listening port 3478 and a TCP-only Service, no
`app.kubernetes.io/*` labels and no secret-digest annotation. One departure
from its files: every port names its protocol, because server-side apply
on the harness's Kubernetes 1.20 refuses a port list without it (UPSTREAM.md
§4; install.sh's own apply fails there the same way).

Then install.sh's `kubectl patch`es (manager kubectl-patch, an Update):
coturn's imagePullSecrets, coturn's nodeSelector with tolerations, the
warmer's nodeSelector (installsh_patches). With an empty key it patches
nothing, so what an earlier run patched stays.

installsh_values() is a values.env in the shape of the platform's example,
resolve() what install.sh's `${KEY:-default}` reads make of one, and
install_sh() what a run of install.sh does to the modules: its server-side
apply (field manager kubectl, --force-conflicts), then its patches, with the
real kubectl.
"""
import json

RESOURCES = {"requests": {"memory": "128Mi", "cpu": "50m"}, "limits": {"memory": "256Mi", "cpu": "250m"}}
TINY = {"requests": {"cpu": "1m", "memory": "1Mi"}}


def _secret_ref(name, key):
    return {"valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def _env(pairs):
    out = []
    for name, value in pairs:
        e = {"name": name}
        e.update(value if isinstance(value, dict) else {"value": value})
        out.append(e)
    return out


def _probe(port, delay, period):
    return {"httpGet": {"path": "/health", "port": port}, "initialDelaySeconds": delay, "periodSeconds": period}


def _deployment(v, name, container):
    """A Deployment of one container (its spec) under install.sh's labels and selector."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": v["NAMESPACE"], "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        },
    }


def _service_deployment(v, name, container, port, env):
    return _deployment(v, name, {
        "name": container,
        "image": "%s-%s:%s" % (v["PLATFORM_IMAGE_PREFIX"], container, v["IMAGE_TAG"]),
        "imagePullPolicy": "Always",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": _env(env),
        "resources": RESOURCES,
        "livenessProbe": _probe(port, 10, 30),
        "readinessProbe": _probe(port, 5, 10),
    })


def _db_env(v):
    p = v["APP_PREFIX"]
    return [("POSTGRES_PASSWORD", _secret_ref(p + "-pg-user", "password")),
            ("DATABASE_URL", "postgresql://%s:$(POSTGRES_PASSWORD)@%s-pg-rw:5432/%s"
             % (v["PG_USERNAME"], p, v["DB_NAME"]))]


def _http_service(v, name, port, node_port):
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": v["NAMESPACE"], "labels": {"app": name}},
        "spec": {"type": "NodePort", "selector": {"app": name},
                 "ports": [{"name": "http", "port": port, "targetPort": port, "nodePort": node_port,
                            "protocol": "TCP"}]},
    }


def _secret(v, name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": v["NAMESPACE"]},
            "type": "Opaque", "stringData": data}


def sandbox_objects(v):
    p, ns = v["APP_PREFIX"], v["NAMESPACE"]
    env = [("PORT", "3006")] + _db_env(v) + [
        ("JWT_SECRET", _secret_ref(p + "-sandbox-secret", "JWT_SECRET")),
        ("SERVICE_KEY", _secret_ref(p + "-sandbox-secret", "SERVICE_KEY")),
        ("NAP_OAUTH_URL", v["WEB_PUBLIC_URL"]),
        ("NAP_URL", "http://%s-cp:3000" % p),
        ("OAUTH_CLIENT_ID", "sandbox-service"),
        ("SANDBOX_SERVICE_URL", v["SANDBOX_PUBLIC_URL"]),
        ("SANDBOX_DOMAIN", v.get("SANDBOX_DOMAIN", "")),
        ("OPENSANDBOX_URL", v["OPENSANDBOX_URL"]),
    ]
    pull = lambda name, image: {"name": name, "image": image, "command": ["true"], "resources": TINY}  # noqa: E731
    warmer = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "sandbox-image-warmer", "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": "sandbox-image-warmer"}},
            "template": {
                "metadata": {"labels": {"app": "sandbox-image-warmer"}},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "initContainers": [
                        pull("pull-chromium-headful", "%s/chromium-headful:%s" % (v["REGISTRY"], v["IMAGE_TAG"])),
                        pull("pull-node-22", v["RUNTIME_NODE_IMAGE"]),
                        pull("pull-python-3-12", v["RUNTIME_PYTHON_IMAGE"]),
                        pull("pull-golang-1-23", v["RUNTIME_GOLANG_IMAGE"]),
                    ],
                    "containers": [{"name": "pause", "image": v["PAUSE_IMAGE"], "resources": TINY}],
                },
            },
        },
    }
    return [
        _secret(v, p + "-sandbox-secret", {"JWT_SECRET": v["SANDBOX_JWT_SECRET"],
                                           "SERVICE_KEY": v["SANDBOX_SERVICE_KEY"]}),
        _http_service(v, p + "-sandbox", 3006, int(v["SANDBOX_NODE_PORT"])),
        _service_deployment(v, p + "-sandbox", "sandbox", 3006, env),
        warmer,
    ]


def browser_objects(v, coturn_strategy=True):
    p, ns = v["APP_PREFIX"], v["NAMESPACE"]
    env = [("PORT", "3005")] + _db_env(v) + [
        ("JWT_SECRET", _secret_ref(p + "-browser-secret", "JWT_SECRET")),
        ("NAP_OAUTH_URL", v["WEB_PUBLIC_URL"]),
        ("NAP_INTERNAL_URL", "http://%s-cp:3000" % p),
        ("OAUTH_CLIENT_ID", "browser-service"),
        ("BROWSER_SERVICE_URL", v["BROWSER_PUBLIC_URL"]),
        ("SANDBOX_SERVICE_URL", "http://%s-sandbox:3006" % p),
        ("SANDBOX_SERVICE_KEY", _secret_ref(p + "-sandbox-secret", "SERVICE_KEY")),
        ("BROWSER_IMAGE", "%s/chromium-headful:%s" % (v["REGISTRY"], v["IMAGE_TAG"])),
        ("TURN_HOST", v["TURN_HOST"]),
        ("TURN_PORT", v["TURN_PORT"]),
        ("TURN_AUTH_SECRET", _secret_ref(p + "-browser-secret", "TURN_AUTH_SECRET")),
    ]
    host = v["TURN_HOST"]
    coturn = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coturn", "namespace": ns, "labels": {"app": "coturn"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "coturn"}},
            "template": {
                "metadata": {"labels": {"app": "coturn"}},
                "spec": {
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "containers": [{
                        "name": "coturn",
                        "image": v["COTURN_IMAGE"],
                        "args": ["--listening-port=3478", "--listening-ip=" + host, "--relay-ip=" + host,
                                 "--external-ip=" + host, "--min-port=49152", "--max-port=49252",
                                 "--realm=" + v["NAP_HOST"], "--use-auth-secret",
                                 "--static-auth-secret=$(TURN_AUTH_SECRET)", "--no-tls", "--no-dtls",
                                 "--log-file=stdout", "--fingerprint", "--lt-cred-mech", "--no-cli",
                                 "--no-multicast-peers"],
                        "env": _env([("TURN_AUTH_SECRET", _secret_ref(p + "-browser-secret", "TURN_AUTH_SECRET"))]),
                        "ports": [{"name": "turn-tcp", "containerPort": 3478, "protocol": "TCP"},
                                  {"name": "turn-udp", "containerPort": 3478, "protocol": "UDP"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"cpu": "1", "memory": "512Mi"}},
                    }],
                },
            },
        },
    }
    if coturn_strategy:  # an older install.sh left it out: the default RollingUpdate
        coturn["spec"]["strategy"] = {"type": "Recreate"}
    return [
        _secret(v, p + "-browser-secret", {"JWT_SECRET": v["BROWSER_JWT_SECRET"],
                                           "TURN_AUTH_SECRET": v["TURN_AUTH_SECRET"]}),
        _http_service(v, p + "-browser", 3005, int(v["BROWSER_NODE_PORT"])),
        _service_deployment(v, p + "-browser", "browser", 3005, env),
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "coturn", "namespace": ns},  # no labels (install.sh's coturn.yaml)
         "spec": {"clusterIP": "None", "selector": {"app": "coturn"},
                  "ports": [{"name": "turn-tcp", "port": 3478, "targetPort": 3478, "protocol": "TCP"}]}},
        coturn,
    ]


def control_plane(v, env=None, container="control-plane"):
    """A stand-in for the platform's own ${APP_PREFIX}-cp (install.sh's core,
    which carries the public URLs); env: its env entries (name, value)."""
    name = v["APP_PREFIX"] + "-cp"
    if env is None:
        # install.sh's nap-cp carries its OAuth issuer and the modules' public URLs
        env = [("NODE_ENV", "production"), ("WEB_PUBLIC_URL", v["WEB_PUBLIC_URL"]),
               ("SANDBOX_PUBLIC_URL", v["SANDBOX_PUBLIC_URL"]),
               ("BROWSER_PUBLIC_URL", v["BROWSER_PUBLIC_URL"])]
    return _deployment(v, name, {
        "name": container,
        "image": "%s-cp:%s" % (v["PLATFORM_IMAGE_PREFIX"], v["IMAGE_TAG"]),
        "ports": [{"name": "http", "containerPort": 3000, "protocol": "TCP"}],
        "env": _env(env),
    })


def installsh_objects(v, coturn_strategy=True):
    out = []
    if v.get("SANDBOX_ENABLED") == "true":
        out += sandbox_objects(v)
    if v.get("BROWSER_ENABLED") == "true":
        out += browser_objects(v, coturn_strategy)
    return out


def selector_map(text):
    return dict(pair.split("=", 1) for pair in text.split(",") if pair)


def installsh_patches(v):
    """install.sh's `kubectl patch`es after its apply: (kind, name, patch)."""
    out = []
    if v.get("BROWSER_ENABLED") == "true" and v.get("IMAGE_PULL_SECRET"):
        out.append(("deployment", "coturn",
                    {"spec": {"template": {"spec": {"imagePullSecrets": [{"name": v["IMAGE_PULL_SECRET"]}]}}}}))
    if v.get("BROWSER_ENABLED") == "true" and v.get("COTURN_NODE_SELECTOR"):
        out.append(("deployment", "coturn",
                    {"spec": {"template": {"spec": {"nodeSelector": selector_map(v["COTURN_NODE_SELECTOR"]),
                                                    "tolerations": [{"operator": "Exists"}]}}}}))
    if v.get("SANDBOX_ENABLED") == "true" and v.get("SANDBOX_NODE_SELECTOR"):
        out.append(("daemonset", "sandbox-image-warmer",
                    {"spec": {"template": {"spec": {"nodeSelector": selector_map(v["SANDBOX_NODE_SELECTOR"])}}}}))
    return out


def as_list(objs):
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})


# ---- a values.env as install.sh reads it, and a run of it ------------------------

def installsh_values(tag, ns, sandbox_port, browser_port, **over):
    """A values.env in the shape of the platform's example (optional keys
    blank), both modules on; ordered (KEY, value) pairs."""
    from naptest.values import hexsecret
    v = dict([
        ("NAMESPACE", ns), ("APP_PREFIX", ""), ("REGISTRY", "registry.test/platform"), ("IMAGE_TAG", "v2.1.0"),
        ("PLATFORM_IMAGE_PREFIX", ""), ("NAP_HOST", "192.0.2.10"), ("NAP_NODE_PORT", ""), ("INGRESS_MODE", ""),
        ("WEB_PUBLIC_URL", ""), ("PG_USERNAME", "nap"), ("DB_NAME", ""),
        ("KUBECONFIG", "./kubeconfig.yaml"),
        ("SANDBOX_ENABLED", "true"), ("SANDBOX_NODE_PORT", str(sandbox_port)),
        ("SANDBOX_JWT_SECRET", hexsecret(tag + "-sjwt")), ("SANDBOX_SERVICE_KEY", hexsecret(tag + "-skey")),
        ("SANDBOX_DOMAIN", "sandbox.example.test"), ("OPENSANDBOX_URL", ""), ("SANDBOX_PUBLIC_URL", ""),
        ("SANDBOX_NODE_SELECTOR", ""),
        ("BROWSER_ENABLED", "true"), ("BROWSER_NODE_PORT", str(browser_port)),
        ("BROWSER_JWT_SECRET", hexsecret(tag + "-bjwt")), ("TURN_AUTH_SECRET", hexsecret(tag + "-turn")),
        ("TURN_HOST", "192.0.2.20"), ("TURN_PORT", ""), ("BROWSER_PUBLIC_URL", ""), ("COTURN_NODE_SELECTOR", ""),
        ("COTURN_IMAGE", ""), ("RUNTIME_NODE_IMAGE", ""), ("RUNTIME_PYTHON_IMAGE", ""), ("RUNTIME_GOLANG_IMAGE", ""),
        ("PAUSE_IMAGE", ""), ("IMAGE_PULL_SECRET", ""),
    ])
    v.update(over)
    return list(v.items())


def resolve(vals):
    """What install.sh's `${KEY:-default}` reads make of vals (KEY -> value)."""
    v = {k: x for k, x in vals.items() if x}

    def d(key, default):
        v.setdefault(key, default)
    d("NAMESPACE", "nap")
    d("APP_PREFIX", "nap")
    d("REGISTRY", "ghcr.io/neutree-ai/agent-platform")
    d("IMAGE_TAG", "latest")
    d("PLATFORM_IMAGE_PREFIX", "%s/%s" % (v["REGISTRY"], v["APP_PREFIX"]))
    d("NAP_NODE_PORT", "30080")
    d("PG_USERNAME", "nap")
    d("DB_NAME", "nap")
    d("SANDBOX_NODE_PORT", "30086")
    d("BROWSER_NODE_PORT", "30085")
    d("TURN_PORT", "3478")
    d("COTURN_IMAGE", "docker.io/coturn/coturn:4.6")
    d("RUNTIME_NODE_IMAGE", "docker.io/library/node:22-bookworm")
    d("RUNTIME_PYTHON_IMAGE", "docker.io/library/python:3.12-bookworm")
    d("RUNTIME_GOLANG_IMAGE", "docker.io/library/golang:1.23")
    d("PAUSE_IMAGE", "registry.k8s.io/pause:3.9")
    d("OPENSANDBOX_URL", "http://opensandbox-server.%s.svc:80" % v["NAMESPACE"])
    d("WEB_PUBLIC_URL", "http://%s:%s" % (v["NAP_HOST"], v["NAP_NODE_PORT"]))
    d("SANDBOX_PUBLIC_URL", "http://%s:%s" % (v["NAP_HOST"], v["SANDBOX_NODE_PORT"]))
    d("BROWSER_PUBLIC_URL", "http://%s:%s" % (v["NAP_HOST"], v["BROWSER_NODE_PORT"]))
    return v


def install_sh(site, coturn_strategy=True, cp=True):
    """What a run of install.sh does to the modules for site's values.env:
    its server-side apply of the module objects (and of the platform's
    nap-cp), then its patches. Returns the resolved values."""
    from naptest.kube import kubectl
    v = resolve(site.vals)
    objs = installsh_objects(v, coturn_strategy) + ([control_plane(v)] if cp else [])
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=as_list(objs))
    for kind, name, patch in installsh_patches(v):
        kubectl("-n", v["NAMESPACE"], "patch", kind, name, "-p", json.dumps(patch))
    return v
