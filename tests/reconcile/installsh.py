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
nodeSelector with tolerations, the warmer's nodeSelector.
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
