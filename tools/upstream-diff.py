#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The work of tools/upstream-diff.sh (see there): install.sh's render of a
platform checkout against `nap-agent render`, variant by variant.

For each variant: the checkout's self-host/ is copied to a scratch
directory and install.sh is sourced there with `--render-only`, kubectl
replaced by a stub that fails (so its APP_PREFIX guard finds no cluster),
and VALUES_FILE set; what it renders is read back, and so is the
environment it exported (its own resolution of every key, defaults
included). Of that, what install.sh applies for the modules: the module
manifests for the toggles that are on, their two Secrets, and the patches
it sends after the apply (coturn's pull secret, node selector and
tolerations; the warmer's node selector), plus the three URLs of nap-cp.
Both sides are normalised only where Kubernetes itself makes no
difference (a port's default protocol, an env value "" the apiserver
drops, a Secret's stringData against its data); everything else that
differs is a finding, unless it is one of the deliberate differences,
each named below with the rule that recognises it.

usage: upstream-diff.py SRC PLATFORM_DIR NAP_AGENT [VARIANT...]
"""
import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

SRC, PLATFORM, AGENT = sys.argv[1], sys.argv[2], sys.argv[3]
ONLY = set(sys.argv[4:])
TEMPLATES = os.path.join(SRC, "agent", "templates")

# The machine-internal secrets of the platform's gen-secrets.sh.
GEN_SECRETS = ("JWT_SECRET", "CREDENTIAL_ENCRYPTION_KEY", "PLATFORM_SERVICE_KEY", "BROWSER_JWT_SECRET",
               "SANDBOX_JWT_SECRET", "SANDBOX_SERVICE_KEY", "TURN_AUTH_SECRET", "PG_PASSWORD")


def secret(tag):
    return hashlib.sha256(tag.encode()).hexdigest()


def base_values(**over):
    v = {"NAMESPACE": "nap", "NAP_HOST": "203.0.113.7", "NAP_NODE_PORT": "30080", "TURN_HOST": "203.0.113.8",
         "PG_USERNAME": "nap",
         "SANDBOX_ENABLED": "true", "BROWSER_ENABLED": "true", "IMAGE_TAG": "v1.2.3",
         "KUBECONFIG": "./kubeconfig.yaml"}
    v.update({k: secret(k) for k in GEN_SECRETS})
    v.update(over)
    return "".join("%s=%s\n" % (k, x) for k, x in v.items() if x is not None)


def from_example(name, **over):
    """One of the platform's own example files, filled in as get.sh fills it
    (gen-secrets.sh's secrets, NAP_HOST), with over set."""
    with open(os.path.join(PLATFORM, "self-host", name)) as f:
        lines = f.read().splitlines()
    fill = {k: secret(k) for k in GEN_SECRETS}
    fill.update(NAP_HOST="198.51.100.20", ADMIN_PASSWORD="admin-password")
    fill.update(over)
    out, seen = [], set()
    for line in lines:
        key = line.split("=", 1)[0] if "=" in line and not line.startswith("#") else None
        if key in fill:
            value = line.split("=", 1)[1]
            if key not in GEN_SECRETS or not value or value.startswith("change-me") or key in over:
                line = "%s=%s" % (key, fill[key])
            seen.add(key)
        out.append(line)
    out += ["%s=%s" % (k, x) for k, x in over.items() if k not in seen]
    return "\n".join(out) + "\n"


VARIANTS = {
    "both-on": lambda: base_values(),
    "sandbox-only": lambda: base_values(BROWSER_ENABLED="false"),
    "browser-only": lambda: base_values(SANDBOX_ENABLED="false"),
    "both-off": lambda: base_values(SANDBOX_ENABLED="false", BROWSER_ENABLED="false"),
    "external-ingress": lambda: base_values(INGRESS_MODE="external", WEB_PUBLIC_URL="https://nap.example.com",
                                            SANDBOX_PUBLIC_URL="https://sandbox.example.com",
                                            BROWSER_PUBLIC_URL="https://browser.example.com"),
    "selectors-mirror-ports": lambda: base_values(
        NAMESPACE="agents", REGISTRY="mirror.example.com/nap", IMAGE_PULL_SECRET="mirror-pull",
        COTURN_NODE_SELECTOR="kubernetes.io/hostname=node-a", SANDBOX_NODE_SELECTOR="pool=sandbox,zone=eu-1a",
        TURN_PORT="443", SANDBOX_NODE_PORT="31086", BROWSER_NODE_PORT="31085", NAP_NODE_PORT="31080",
        SANDBOX_DOMAIN="sandbox.example.com", OPENSANDBOX_URL="http://opensandbox.other.svc:8080",
        COTURN_IMAGE="mirror.example.com/nap/coturn:4.6", PAUSE_IMAGE="mirror.example.com/nap/pause:3.9",
        RUNTIME_NODE_IMAGE="mirror.example.com/nap/node:22", PG_USERNAME="napuser", DB_NAME="napdb"),
    "registry-login": lambda: base_values(REGISTRY="registry.example.com/nap", REGISTRY_SERVER="registry.example.com",
                                          REGISTRY_USERNAME="robot", REGISTRY_PASSWORD=secret("registry")),
    "app-prefix": lambda: base_values(APP_PREFIX="acme", PLATFORM_IMAGE_PREFIX="ghcr.io/neutree-ai/agent-platform/nap"),
    "example": lambda: from_example("values.env.example", SANDBOX_ENABLED="true", BROWSER_ENABLED="true",
                                    TURN_HOST="198.51.100.21"),
    "example-single-node": lambda: from_example("values.env.single-node.example", SANDBOX_ENABLED="true",
                                                BROWSER_ENABLED="true"),
}

# ---- install.sh's side -------------------------------------------------------------

KUBECTL_STUB = "#!/bin/sh\n# upstream-diff: no cluster here\nexit 1\n"


def install_sh(values_text, work):
    """(objects by (kind, name), the exported environment) of install.sh
    --render-only sourced in a copy of self-host/."""
    self_host = os.path.join(work, "self-host")
    shutil.copytree(os.path.join(PLATFORM, "self-host"), self_host, ignore=shutil.ignore_patterns("rendered"))
    stubs = os.path.join(work, "bin")
    os.makedirs(stubs)
    with open(os.path.join(stubs, "kubectl"), "w") as f:
        f.write(KUBECTL_STUB)
    os.chmod(os.path.join(stubs, "kubectl"), 0o755)
    values = os.path.join(work, "values.env")
    with open(values, "w") as f:
        f.write(values_text)
    env = {"PATH": stubs + ":" + os.environ["PATH"], "VALUES_FILE": values, "HOME": work, "LANG": "C.UTF-8"}
    # Sourced, so that its exports (its own resolution of every key) can be read afterwards.
    p = subprocess.run(["bash", "-c", 'set -- --render-only; . ./install.sh >&2; env -0'], cwd=self_host, env=env,
                       capture_output=True)
    if p.returncode != 0:
        raise SystemExit("install.sh --render-only failed (%d):\n%s" % (p.returncode, p.stderr.decode()))
    exported = dict(x.split("=", 1) for x in p.stdout.decode().split("\0") if "=" in x)
    objs = {}
    rendered = os.path.join(self_host, "rendered")
    for name in sorted(os.listdir(rendered)):
        with open(os.path.join(rendered, name)) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    objs[(doc["kind"], doc["metadata"]["name"], name)] = doc
    return objs, exported


def selector(text):
    """install.sh's `IFS=, read -ra PAIRS; k=${pair%%=*} v=${pair#*=}`."""
    return dict((pair.split("=", 1) + [""])[:2] if "=" in pair else (pair, pair) for pair in text.split(",") if pair)


def installsh_applies(objs, e):
    """What install.sh applies for the modules, by (kind, name): the manifests
    of the toggles that are on, the module Secrets (always: secrets.yaml),
    then its patches; and nap-cp (for its three URLs)."""
    p = e["APP_PREFIX"]
    out = {}

    def take(kind, name, manifest):
        o = objs.get((kind, name, manifest))
        if o is None:
            raise SystemExit("install.sh rendered no %s %s in %s" % (kind, name, manifest))
        out[(kind, name)] = copy.deepcopy(o)

    for s in ("sandbox", "browser"):
        take("Secret", "%s-%s-secret" % (p, s), "secrets.yaml")
    take("Deployment", p + "-cp", "control-plane.yaml")
    if e["SANDBOX_ENABLED"] == "true":
        take("Deployment", p + "-sandbox", "sandbox-service.yaml")
        take("Service", p + "-sandbox", "sandbox-service.yaml")
        take("DaemonSet", "sandbox-image-warmer", "sandbox-image-warmer.yaml")
        if e["SANDBOX_NODE_SELECTOR"]:
            out[("DaemonSet", "sandbox-image-warmer")]["spec"]["template"]["spec"]["nodeSelector"] = \
                selector(e["SANDBOX_NODE_SELECTOR"])
    if e["BROWSER_ENABLED"] == "true":
        take("Deployment", p + "-browser", "browser-service.yaml")
        take("Service", p + "-browser", "browser-service.yaml")
        take("Deployment", "coturn", "coturn.yaml")
        take("Service", "coturn", "coturn.yaml")
        pod = out[("Deployment", "coturn")]["spec"]["template"]["spec"]
        if e["IMAGE_PULL_SECRET"]:
            pod["imagePullSecrets"] = [{"name": e["IMAGE_PULL_SECRET"]}]
        if e["COTURN_NODE_SELECTOR"]:
            pod["nodeSelector"] = selector(e["COTURN_NODE_SELECTOR"])
            pod["tolerations"] = [{"operator": "Exists"}]
    return out


# ---- nap-agent's side ---------------------------------------------------------------

def agent_render(values_text, work):
    values = os.path.join(work, "agent-values.env")
    with open(values, "w") as f:
        f.write(values_text)
    env = dict(os.environ, NAP_TEMPLATES_DIR=TEMPLATES, NAP_TEMPLATES_OVERRIDE_DIR="/nonexistent/upstream-diff")
    env.pop("NAP_VALUES", None)
    p = subprocess.run([AGENT, "render", "--format", "json", "--show-secrets", "--values", values],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit("nap-agent render failed (%d):\n%s" % (p.returncode, p.stderr))
    d = json.loads(p.stdout)
    objs = {(o["kind"], o["metadata"]["name"]): o for o in d["items"]}
    partials = {(o["kind"], o["metadata"]["name"]): o for o in d["partialObjects"]}
    return objs, partials


# ---- normalising and comparing ------------------------------------------------------

class Findings:
    def __init__(self):
        self.bad, self.deliberate = [], []

    def diff(self, where, a, b, path=""):
        """install.sh's a against nap-agent's b, field by field."""
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                self.diff(where, a.get(k, MISSING), b.get(k, MISSING), "%s.%s" % (path, k) if path else k)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                self.diff(where, x, y, "%s[%s]" % (path, key_of(x, i)))
        elif a != b:
            self.bad.append("%s: %s: install.sh %s, nap-agent %s" % (where, path, show(a), show(b)))

    def note(self, where, what):
        self.deliberate.append("%s: %s" % (where, what))


MISSING = object()


def show(v):
    return "(none)" if v is MISSING else json.dumps(v)


def key_of(x, i):
    return "name=%s" % x["name"] if isinstance(x, dict) and "name" in x else str(i)


def walk_pods(o):
    """The pod template specs of a workload."""
    t = o.get("spec", {}).get("template")
    return [t] if t else []


def normalise_common(o):
    """What Kubernetes does alike with both: a port's default protocol is
    TCP; an env value "" is stored as no value; an int-or-string port
    compares as written."""
    for t in walk_pods(o):
        for c in t["spec"].get("containers", []) + t["spec"].get("initContainers", []):
            for port in c.get("ports", []):
                port.setdefault("protocol", "TCP")
            for e in c.get("env", []):
                if e.get("value") == "":
                    del e["value"]
    if o["kind"] == "Service":
        for port in o["spec"].get("ports", []):
            port.setdefault("protocol", "TCP")


def deliberate_agent_side(where, o, f):
    """Strips from nap-agent's object the deliberate differences (nap-agent(8),
    COMING FROM INSTALL.SH), saying so."""
    for md in [o["metadata"]] + [t["metadata"] for t in walk_pods(o)]:
        extra = sorted(k for k in md.get("labels", {}) if k.startswith("app.kubernetes.io/"))
        for k in extra:
            del md["labels"][k]
        if extra:
            f.note(where, "extra labels %s" % ", ".join(extra))
        if not md.get("labels"):
            md.pop("labels", None)
        ann = md.get("annotations", {})
        if ann.pop("nap-agent.neutree.ai/secret-digest", None) is not None:
            f.note(where, "the pod template's secret-digest annotation")
        if not ann:
            md.pop("annotations", None)
    if o["kind"] == "Service" and o["metadata"]["name"] == "coturn":
        udp = [p for p in o["spec"]["ports"] if p.get("protocol") == "UDP"]
        if udp:
            o["spec"]["ports"] = [p for p in o["spec"]["ports"] if p.get("protocol") != "UDP"]
            f.note(where, "a UDP port beside the TCP one")


def secret_data(o):
    if "stringData" in o:
        return {k: "" if v is None else str(v) for k, v in o["stringData"].items()}
    return {k: base64.b64decode(v).decode() for k, v in o.get("data", {}).items()}


def compare_secret(where, a, b, f):
    f.diff(where, {"type": a.get("type"), "data": secret_data(a)}, {"type": b.get("type"), "data": secret_data(b)})
    if "stringData" in a and "data" in b:
        f.note(where, "data in base64 where install.sh writes stringData (the same object once applied)")


def compare_cp(where, a, partial, f):
    """nap-cp: only the env entries nap-agent sets, against install.sh's values of them."""
    if partial is None:
        f.bad.append("%s: nap-agent sets nothing on it" % where)
        return
    mine = {e["name"]: e.get("value") for e in partial["spec"]["template"]["spec"]["containers"][0]["env"]}
    theirs = {e["name"]: e.get("value") for e in a["spec"]["template"]["spec"]["containers"][0]["env"]
              if e["name"] in mine}
    f.diff(where + " env", theirs, mine)
    missing = {"WEB_PUBLIC_URL", "SANDBOX_PUBLIC_URL", "BROWSER_PUBLIC_URL"} - set(mine)
    if missing:
        f.bad.append("%s: nap-agent does not set %s" % (where, ", ".join(sorted(missing))))


def compare_login(e, agent_objs, partials, f):
    """The registry login install.sh makes at apply time (create_regcred,
    attach_pull_secret_to_sa): not rendered, so compared here with what the
    real kubectl makes of it, when kubectl is there."""
    user, password, server = e.get("REGISTRY_USERNAME"), e.get("REGISTRY_PASSWORD"), e.get("REGISTRY_SERVER")
    name = e.get("IMAGE_PULL_SECRET")
    sa = partials.get(("ServiceAccount", "default"))
    if name:
        f.diff("ServiceAccount default (attach_pull_secret_to_sa)", [{"name": name}],
               sa.get("imagePullSecrets") if sa else MISSING)
        if sa:
            f.note("ServiceAccount default", "the entry added beside the others (install.sh's patch replaces the list)")
    if not (user and password):
        return
    mine = agent_objs.get(("Secret", name))
    if name != "regcred":
        f.note("Secret " + name, "the login's Secret named IMAGE_PULL_SECRET (install.sh always makes 'regcred')")
    if mine is None:
        f.bad.append("Secret %s: install.sh makes it from the login, nap-agent does not" % name)
        return
    kubectl = shutil.which("kubectl")
    if not kubectl:
        f.note("Secret " + name, "not compared: no kubectl here to make install.sh's")
        return
    p = subprocess.run([kubectl, "create", "secret", "docker-registry", "regcred", "--dry-run=client", "-o", "json",
                        "--docker-server=" + (server or ""), "--docker-username=" + user,
                        "--docker-password=" + password], capture_output=True, text=True, env=dict(os.environ,
                                                                                                   KUBECONFIG="/dev/null"))
    if p.returncode != 0:
        f.bad.append("Secret %s: kubectl refuses the login: %s" % (name, p.stderr.strip()))
        return
    theirs = json.loads(p.stdout)
    f.diff("Secret %s (create_regcred)" % name, {"type": theirs["type"], "data": theirs["data"]},
           {"type": mine.get("type"), "data": mine.get("data")})


def compare(variant, values_text):
    work = tempfile.mkdtemp(prefix="nap-upstream-diff.")
    try:
        objs, e = install_sh(values_text, work)
        theirs = installsh_applies(objs, e)
        mine, partials = agent_render(values_text, work)
    finally:
        shutil.rmtree(work)
    f = Findings()
    p = e["APP_PREFIX"]
    compare_cp("Deployment %s-cp" % p, theirs.pop(("Deployment", p + "-cp")), partials.get(("Deployment", p + "-cp")),
               f)
    compare_login(e, mine, partials, f)
    for key in sorted(set(theirs) | {k for k in mine if k[0] != "Secret" or not k[1] == e.get("IMAGE_PULL_SECRET")}):
        where = "%s %s" % key
        a, b = theirs.get(key), mine.get(key)
        if a is None:
            f.bad.append("%s: nap-agent renders it, install.sh does not apply it" % where)
            continue
        if b is None:
            if key[0] == "Secret":  # secrets.yaml holds both, whatever the toggles
                f.note(where, "not rendered while its module is off (install.sh writes both module Secrets always)")
            else:
                f.bad.append("%s: install.sh applies it, nap-agent does not render it" % where)
            continue
        if key[0] == "Secret":
            compare_secret(where, a, b, f)
            continue
        a, b = copy.deepcopy(a), copy.deepcopy(b)
        normalise_common(a)
        normalise_common(b)
        deliberate_agent_side(where, b, f)
        f.diff(where, a, b)
    return f


def main():
    status = 0
    names = [n for n in VARIANTS if not ONLY or n in ONLY]
    if ONLY - set(VARIANTS):
        raise SystemExit("unknown variant(s): %s (known: %s)" % (", ".join(sorted(ONLY - set(VARIANTS))),
                                                                 ", ".join(VARIANTS)))
    for name in names:
        f = compare(name, VARIANTS[name]())
        print("%s %s: %d difference(s), %d deliberate" % ("ok  " if not f.bad else "FAIL", name, len(f.bad),
                                                           len(set(f.deliberate))))
        for line in f.bad:
            print("    " + line)
        grouped = {}
        for line in sorted(set(f.deliberate)):
            where, what = line.split(": ", 1)
            grouped.setdefault(what.split(" app.kubernetes.io/")[0], []).append(where)
        for what, where in sorted(grouped.items()):
            print("    deliberate: %s: %s" % (what, ", ".join(sorted(set(where)))))
        status |= bool(f.bad)
    print("%d variant(s), %s" % (len(names), "differences found" if status else "no undocumented difference"))
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
