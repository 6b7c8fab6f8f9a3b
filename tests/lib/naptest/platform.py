# SPDX-License-Identifier: Apache-2.0
"""The platform's install.sh as data: docs/platform-objects.json (its
notation is explained in the file), read for the fidelity tests, so the
reference they compare nap-agent against is one file of the checkout that
docs/platform.md describes, never a table inside a test.

  resolve(vals)       a values.env's keys as install.sh reads them (an empty
                      value takes the default, `${KEY:-default}`)
  objects(v)          the objects install.sh applies for v (server-side, manager kubectl)
  patches(v)          its `kubectl patch`es after that: [(kind, name, patch)]
  control_plane(v)    the env entries it writes into ${APP_PREFIX}-cp
  registry_login(v)   the registry login's Secret and ServiceAccount entry
  secrets(v)          values.env key -> (Secret, key in it, the Deployments that read it)
  with_protocols(obj) every port of obj with its protocol (TCP where none is named)
  agent_today(target, obj, v)  obj with the reference's KNOWN, TEMPORARY
                      differences applied: what nap-agent renders today
"""
import copy
import json
import os
import re

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs", "platform-objects.json")
PATH = os.path.normpath(PATH)

_data = []


def data():
    if not _data:
        with open(PATH, encoding="utf-8") as f:
            _data.append(json.load(f))
    return _data[0]


_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?:\|(int|map))?\}")
OMIT = object()


def selector_map(text):
    """install.sh's `k1=v1,k2=v2`: split on ',', then on the first '='."""
    return dict(pair.split("=", 1) for pair in text.split(",") if pair)


def holds(cond, v):
    """COND: "always", "KEY" (not empty), "KEY=value", or a list of them (all)."""
    if isinstance(cond, list):
        return all(holds(c, v) for c in cond)
    if cond == "always":
        return True
    key, eq, want = cond.partition("=")
    return v.get(key, "") == want if eq else bool(v.get(key))


def _string(s, v):
    whole = _VAR.fullmatch(s)
    if whole and whole.group(2) == "int":
        return int(v[whole.group(1)])
    if whole and whole.group(2) == "map":
        return selector_map(v[whole.group(1)])
    return _VAR.sub(lambda m: v.get(m.group(1), ""), s)


def expand(node, v):
    """node with its notation evaluated for the resolved values v; OMIT for
    an {"$if"} without "else" whose condition does not hold."""
    if isinstance(node, str):
        return _string(node, v)
    if isinstance(node, list):
        return [x for x in (expand(n, v) for n in node) if x is not OMIT]
    if isinstance(node, dict):
        if "$if" in node:
            return expand(node["then"], v) if holds(node["$if"], v) else expand(node.get("else", OMIT), v)
        if node.get("$omit"):
            return OMIT
        return {k: x for k, x in ((k, expand(n, v)) for k, n in node.items()) if x is not OMIT}
    return node


def resolve(vals):
    """What install.sh's `${KEY:-default}` reads make of vals (KEY -> value);
    a default that is an {"$if"} applies only when its condition holds."""
    v = {k: x for k, x in vals.items() if x}
    for key, default in data()["defaults"]:
        if not v.get(key):
            value = expand(default, v)
            if value is not OMIT:
                v[key] = value
    return v


def key(obj):
    """"Kind/name" of an object."""
    return "%s/%s" % (obj["kind"], obj["metadata"]["name"])


def objects(v):
    return [expand(e["object"], v) for e in data()["objects"] if holds(e["applied"], v)]


def patches(v):
    out = []
    for p in data()["patches"]:
        if holds(p["applied"], v):
            kind, name = expand(p["target"], v).split("/", 1)
            out.append((kind.lower(), name, expand(p["patch"], v)))
    return out


def secrets(v):
    """Each values.env key a Secret holds -> (the Secret's name, its key
    there, the names of the Deployments whose env reads it), from the
    objects install.sh applies with both modules on."""
    on = dict(v, SANDBOX_ENABLED="true", BROWSER_ENABLED="true")
    refs = {}  # (secret, key) -> Deployments
    for o in objects(on):
        if o["kind"] == "Deployment":
            for c in o["spec"]["template"]["spec"]["containers"]:
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        refs.setdefault((ref["name"], ref["key"]), []).append(o["metadata"]["name"])
    out = {}
    for e in data()["objects"]:
        if e["object"]["kind"] == "Secret":
            name = expand(e["object"]["metadata"]["name"], on)
            for k, text in e["object"]["stringData"].items():
                out[_VAR.fullmatch(text).group(1)] = (name, k, tuple(refs.get((name, k), ())))
    return out


def with_protocols(node):
    """node with every port (a container's, a Service's) naming its
    protocol, TCP where the installer names none: server-side apply on
    Kubernetes 1.20 refuses a port list without it (a deliberate difference,
    docs/design.md)."""
    if isinstance(node, dict):
        for k, x in node.items():
            if k == "ports" and isinstance(x, list):
                for p in x:
                    p.setdefault("protocol", "TCP")
            with_protocols(x)
    elif isinstance(node, list):
        for x in node:
            with_protocols(x)
    return node


def merge(obj, patch):
    """A patch merged into obj the way `kubectl patch` merges these (maps
    merged, lists replaced)."""
    for k, x in patch.items():
        if isinstance(x, dict) and isinstance(obj.get(k), dict):
            merge(obj[k], x)
        else:
            obj[k] = copy.deepcopy(x)
    return obj


def agent_today(target, obj, v):
    """obj (the reference object named target, "Kind/name", or
    "control_plane" for control_plane()'s entries) with the known,
    temporary differences of the data file applied."""
    out = copy.deepcopy(obj)
    items = [i for i in data()["known_differences"]["items"] if expand(i["target"], v) == target]
    # the highest list index first, so a list item left out moves no other
    for item in sorted(items, key=lambda i: -i["path"][-1] if isinstance(i["path"][-1], int) else 0):
        *parents, last = item["path"]
        node = out
        for p in parents:
            node = node[p]
        value = expand(item["agent"], v)
        if value is OMIT:
            del node[last]
        else:
            node[last] = value
    return out


def registry_login(v):
    """What install.sh's registry login makes for v: {"secret": {name,
    server, username, password} or None, "service_account": {name,
    imagePullSecrets} or None}."""
    login = data()["registry_login"]
    return {part: ({k: expand(x, v) for k, x in login[part].items() if k != "applied"}
                   if holds(login[part]["applied"], v) else None)
            for part in ("secret", "service_account")}


def control_plane(v):
    """What nap-cp gets: {"deployment": name, "container": name, "env": entries}."""
    cp = data()["control_plane"]
    return {"deployment": expand(cp["deployment"], v), "container": cp["container"], "env": expand(cp["env"], v)}
