# SPDX-License-Identifier: Apache-2.0
"""The value an apply gives the pod templates' secret-digest annotation,
written from template.h's description (not from the agent's code), for the
tests that compare the cluster with `nap-agent render` (which prints the
stand-in, SECRET_DIGEST_PENDING): naptest.compare. Python standard
library only.
"""
import base64
import hashlib
import hmac

ANNOTATION = "nap-agent.neutree.ai/secret-digest"
# on a workload taken over from install.sh, while its pod template has none
ADOPTED = "nap-agent.neutree.ai/adopted-secret-digest"
PENDING = "computed at apply time"
KEY_SECRET = "nap-agent-digest-key"


def key_of(secret):
    """The key in the live Secret KEY_SECRET (its 64 hex digits are the HMAC's key)."""
    return base64.b64decode(secret["data"]["key"])


def digest_input(item, secrets):
    """"secret/key=base64value\\n" for every key of a rendered Secret the pod
    consumes (env secretKeyRef, envFrom, volumes), sorted, each once.
    secrets: name -> data of the rendered Secrets of the namespace."""
    pod = item["spec"]["template"]["spec"]
    lines = set()

    def add(name, key=None):
        for k, v in (secrets.get(name) or {}).items():
            if key is None or k == key:
                lines.add("%s/%s=%s" % (name, k, v))
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                add(ref["name"], ref["key"])
        for e in c.get("envFrom", []):
            if e.get("secretRef"):
                add(e["secretRef"]["name"])
    for v in pod.get("volumes", []):
        if v.get("secret"):
            add(v["secret"]["secretName"])
    return "".join(sorted(x + "\n" for x in lines))


def held(item, live):
    """Moves item's pod-template annotation to its own metadata (ADOPTED),
    as for a workload taken over from install.sh whose secrets did not
    change since: when live (the live object, or None) holds it that way."""
    if live is None:
        return
    live_tmpl = (live["spec"]["template"].get("metadata") or {}).get("annotations") or {}
    if ANNOTATION in live_tmpl or ADOPTED not in ((live["metadata"].get("annotations")) or {}):
        return
    tmpl_md = item["spec"]["template"]["metadata"]
    value = tmpl_md["annotations"].pop(ANNOTATION)
    if not tmpl_md["annotations"]:
        del tmpl_md["annotations"]
    item["metadata"].setdefault("annotations", {})[ADOPTED] = value


def fill_in(items, live_key_secret, live_object=None):
    """Puts into rendered items the annotation's value an apply gives:
    HMAC-SHA-256 of digest_input() keyed with the live key.
    live_key_secret(namespace) returns the live Secret KEY_SECRET or None.
    live_object(item), when given, returns the live object: a workload whose
    live pod template holds its digest back (held()) is expected that way,
    with the same value (so that a secret changed since is still caught).
    Returns the (kind, name) of items whose key Secret does not exist."""
    missing = []
    for item in items:
        ann = ((item.get("spec", {}).get("template", {}).get("metadata") or {}).get("annotations") or {})
        if ann.get(ANNOTATION) != PENDING:
            continue
        ns = item["metadata"]["namespace"]
        secret = live_key_secret(ns)
        if secret is None:
            missing.append((item["kind"], item["metadata"]["name"]))
            continue
        datas = {i["metadata"]["name"]: i.get("data", {}) for i in items
                 if i["kind"] == "Secret" and i["metadata"]["namespace"] == ns}
        ann[ANNOTATION] = hmac.new(key_of(secret), digest_input(item, datas).encode(), hashlib.sha256).hexdigest()
        if live_object:
            held(item, live_object(item))
    return missing
