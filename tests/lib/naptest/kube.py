# SPDX-License-Identifier: Apache-2.0
"""The harness's kube-apiserver from the test's side: its REST API (with
the harness's token and CA), kubectl, and kubeconfigs for it or for a
proxy in front of it.
"""
import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

from naptest.checks import Failure, check
from naptest.harness import env

# resource (plural, as in paths and the audit log) -> (Kind, API base)
KINDS = {
    "secrets": ("Secret", "/api/v1"),
    "services": ("Service", "/api/v1"),
    "configmaps": ("ConfigMap", "/api/v1"),
    "pods": ("Pod", "/api/v1"),
    "serviceaccounts": ("ServiceAccount", "/api/v1"),
    "deployments": ("Deployment", "/apis/apps/v1"),
    "daemonsets": ("DaemonSet", "/apis/apps/v1"),
    "replicasets": ("ReplicaSet", "/apis/apps/v1"),
}
RESOURCE_OF = {v[0]: k for k, v in KINDS.items()}
# the agent's objects: what it lists, in the order it applies them
MODULE_RESOURCES = ("secrets", "services", "deployments", "daemonsets")
RANK = {r: i for i, r in enumerate(MODULE_RESOURCES)}
MANAGED = "app.kubernetes.io%2Fmanaged-by%3Dnap-agent"

_ctx = None


def resource(kind):
    """"services" for Service, service or services."""
    if kind in KINDS:
        return kind
    if kind in RESOURCE_OF:
        return RESOURCE_OF[kind]
    return kind.lower() + "s"


def api(method, path, body=None, ctype="application/json", token=None, agent_name="naptest"):
    """(HTTP status, JSON answer) of one request to the harness's apiserver."""
    global _ctx
    if _ctx is None:
        _ctx = ssl.create_default_context(cafile=env("KUBE_CA_FILE"))
    data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
    req = urllib.request.Request(env("KUBE_API_URL") + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + (token or env("KUBE_TOKEN")))
    req.add_header("User-Agent", agent_name)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, context=_ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def path_of(kind, ns, name=None, query=""):
    res = resource(kind)
    return "%s/namespaces/%s/%s%s%s" % (KINDS[res][1], ns, res, "/" + name if name else "", query)


def call(method, path, body=None, ok=(200,), ctype="application/json"):
    """api(), failing the case unless the status is one of ok; the answer."""
    code, out = api(method, path, body, ctype)
    check(code in ok, "%s %s: %s %r" % (method, path, code, out))
    return out


def get(kind, ns, name):
    """The live object, or None when there is none."""
    code, body = api("GET", path_of(kind, ns, name))
    if code == 404:
        return None
    check(code == 200, "GET %s %s/%s: %s %r" % (kind, ns, name, code, body))
    return body


def node_port(service="nap-sandbox", ns="nap"):
    """The live Service's first nodePort (None without one)."""
    svc = get("services", ns, service)
    return svc and svc["spec"]["ports"][0].get("nodePort")


def items(kind, ns, selector=""):
    return call("GET", path_of(kind, ns, query="?labelSelector=" + selector if selector else "")).get("items", [])


def list_managed(ns):
    """(resource, name) of every object in ns labelled managed-by=nap-agent."""
    return {(res, i["metadata"]["name"]) for res in MODULE_RESOURCES for i in items(res, ns, MANAGED)}


def ensure_namespace(ns):
    call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
         ok=(201, 409))


def kubectl(*args, input=None):
    """kubectl against the harness; its stdout. Fails the case on an error."""
    p = subprocess.run([env("KUBECTL"), "--kubeconfig", env("KUBECONFIG")] + list(args), capture_output=True,
                       text=True, input=input, timeout=60)
    if p.returncode != 0:
        raise Failure("kubectl %s failed: %s%s" % (" ".join(args), p.stdout, p.stderr))
    return p.stdout


def write_kubeconfig(path, server=None, token=None):
    """A kubeconfig for the harness's apiserver (the default), for a
    plain-HTTP proxy in front of it, or for any other server, with the
    harness's token (or token)."""
    server = server or env("KUBE_API_URL")
    cluster = "    server: %s\n" % server
    if server.startswith("https:"):
        with open(env("KUBE_CA_FILE"), "rb") as f:
            cluster += "    certificate-authority-data: %s\n" % base64.b64encode(f.read()).decode()
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n" + cluster +
                "users:\n- name: u\n  user:\n    token: %s\n" % (token or env("KUBE_TOKEN")) +
                "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                "current-context: x\n")
    os.chmod(path, 0o600)
    return path
