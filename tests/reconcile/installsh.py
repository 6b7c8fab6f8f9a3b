# SPDX-License-Identifier: Apache-2.0
"""An installation as the platform's install.sh makes it, for the tests
that take one over: the module objects and the `kubectl patch`es of
docs/platform-objects.json (naptest.platform), never the agent's templates.

installsh_objects(v) gives the objects for v, the resolved values of a
values.env (naptest.platform.resolve). Their shape is install.sh's (the
labels `app: <name>` only, Secrets as stringData, no `app.kubernetes.io/*`
label, no secret-digest annotation), with one departure: every port names
its protocol, because server-side apply on the harness's Kubernetes 1.20
refuses a port list without it (install.sh's own apply fails there the same
way; docs/design.md, "Deliberate differences from install.sh").

installsh_patches(v) gives install.sh's `kubectl patch`es after its apply
(manager kubectl-patch, an Update): coturn's imagePullSecrets, coturn's
nodeSelector with tolerations, the warmer's nodeSelector. With an empty key
it patches nothing, so what an earlier run patched stays.

installsh_values() is a values.env in the shape of the platform's example,
resolve() what install.sh's `${KEY:-default}` reads make of one, and
install_sh() what a run of install.sh does to the modules.
"""
import json

from naptest import platform


def installsh_objects(v, coturn_strategy=True):
    """What install.sh applies for v; coturn_strategy=False: coturn as an
    older install.sh left it, without a strategy (the default RollingUpdate)."""
    out = [platform.with_protocols(o) for o in platform.objects(v)]
    if not coturn_strategy:
        for o in out:
            if platform.key(o) == "Deployment/coturn":
                del o["spec"]["strategy"]
    return out


installsh_patches = platform.patches
resolve = platform.resolve


def control_plane(v, env=None):
    """A stand-in for the platform's own ${APP_PREFIX}-cp (install.sh's core):
    a NODE_ENV entry and the entries install.sh writes for the modules, or
    env, a list of (name, value)."""
    cp = platform.control_plane(v)
    entries = [{"name": "NODE_ENV", "value": "production"}] + cp["env"] if env is None else \
        [{"name": n, "value": x} for n, x in env]
    name = cp["deployment"]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": v["NAMESPACE"], "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                "name": cp["container"],
                "image": "%s-cp:%s" % (v["PLATFORM_IMAGE_PREFIX"], v["IMAGE_TAG"]),
                "ports": [{"name": "http", "containerPort": 3000, "protocol": "TCP"}],
                "env": entries,
            }]}},
        },
    }


def as_list(objs):
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})


# ---- a values.env as install.sh reads it, and a run of it ------------------------

def installsh_values(tag, ns, sandbox_port, browser_port, **over):
    """A values.env in the shape of the platform's example (optional keys
    blank), both modules on; ordered KEY -> value."""
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


def install_sh(site, coturn_strategy=True, cp=True):
    """What a run of install.sh does to the modules for site's values.env:
    its server-side apply of the module objects (and of the platform's
    nap-cp), then its patches, with the real kubectl (managers kubectl and
    kubectl-patch). Returns the resolved values."""
    from naptest.kube import kubectl
    v = resolve(site.vals)
    objs = installsh_objects(v, coturn_strategy) + ([control_plane(v)] if cp else [])
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=as_list(objs))
    for kind, name, patch in installsh_patches(v):
        kubectl("-n", v["NAMESPACE"], "patch", kind, name, "-p", json.dumps(patch))
    return v
