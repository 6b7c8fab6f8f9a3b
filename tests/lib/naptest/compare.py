# SPDX-License-Identifier: Apache-2.0
"""The invariant: the live objects and oauth_clients rows equal what
`nap-agent render --show-secrets` makes of a values.env, on every field the
agent sets and every field its managedFields entry owns, with the secret
digests an apply gives (naptest.secret_digest; on the workload itself for
one taken over from install.sh whose secrets did not change since), and
nothing of the agent's left in the namespaces that is not desired.
"""
import json

from naptest import db, kube, secret_digest
from naptest.checks import check


def leaf_diffs(want, have, path="", out=None):
    """Where a leaf of want is missing from or different in have (have may
    hold more: the server's defaults; an empty value may be absent: the API
    omits them)."""
    out = [] if out is None else out
    if isinstance(want, dict):
        if not isinstance(have, dict):
            out.append("%s: live is %r, want an object" % (path or ".", have))
            return out
        for k, v in want.items():
            if k not in have:
                if v not in ("", [], {}):
                    out.append("%s.%s: missing in the live object (want %r)" % (path, k, v))
            else:
                leaf_diffs(v, have[k], path + "." + k, out)
    elif isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            out.append("%s: live %r, want %r" % (path, have, want))
            return out
        for i, (w, h) in enumerate(zip(want, have)):
            leaf_diffs(w, h, "%s[%d]" % (path, i), out)
    elif want != have:
        out.append("%s: live %r, want %r" % (path, have, want))
    return out


def owned_diffs(fields, want, path="", out=None):
    """Every field the agent's managedFields entry owns must be in want."""
    out = [] if out is None else out
    for key, sub in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            name = key[2:]
            if not isinstance(want, dict) or name not in want:
                out.append("%s.%s: owned by nap-agent but not desired (a stale field)" % (path, name))
                continue
            owned_diffs(sub, want[name], path + "." + name, out)
        elif key.startswith("k:"):
            sel = json.loads(key[2:])
            match = [w for w in (want if isinstance(want, list) else [])
                     if isinstance(w, dict) and all(w.get(a) == b for a, b in sel.items())]
            if len(match) != 1:
                out.append("%s[%s]: owned by nap-agent but not desired (a stale list item)" % (path, key[2:]))
                continue
            owned_diffs(sub, match[0], "%s[%s]" % (path, key[2:]), out)
        elif key.startswith("v:"):
            if not isinstance(want, list) or json.loads(key[2:]) not in want:
                out.append("%s[%s]: owned by nap-agent but not desired" % (path, key[2:]))
    return out


def object_diffs(want, live, shared=()):
    """The fields of one object, and that nap-agent is its one Apply manager
    (but for those in shared: install.sh's kubectl, run again since, shares
    the fields it applied until the agent writes again)."""
    diffs = leaf_diffs(want, live)
    managers = live["metadata"].get("managedFields", [])
    mine = [m for m in managers if m.get("manager") == "nap-agent"]
    if len(mine) != 1 or mine[0].get("operation") != "Apply":
        diffs.append("managedFields: want one Apply entry of nap-agent, have %r" % mine)
    else:
        owned_diffs(mine[0].get("fieldsV1", {}), want, "", diffs)
    others = [m["manager"] for m in managers if m.get("operation") == "Apply"
              and m.get("manager") not in ("nap-agent",) + tuple(shared)]
    if others:
        diffs.append("other Apply managers left: %r" % others)
    return diffs


def rows_diffs(rendered):
    """The rows of the rendered clients, as rendered, made by the oldest
    admin, without a secret. A row that is not desired (its module is off)
    stays: deleting it would cascade to the client's tokens."""
    errs, have = [], db.rows()
    for c in rendered.get("oauthClients", []):
        r = have.get(c["id"])
        if not r:
            errs.append("oauth client %s: no row" % c["id"])
            continue
        if r["name"] != c["name"] or r["redirect_uris"] != c["redirect_uris"]:
            errs.append("oauth client %s: row %r, want %r" % (c["id"], r, c))
        if r["secret_hash"] != "<null>" or r["created_by"] != "u-admin-old":
            errs.append("oauth client %s: secret_hash %s, created_by %s (want NULL, u-admin-old)"
                        % (c["id"], r["secret_hash"], r["created_by"]))
    return errs


def desired_diffs(rendered, namespaces=(), kept=(), default_ns="nap", shared=()):
    """Everything that differs from the rendering (an empty list: none).
    namespaces: where else to look for strays; kept: (resource, name) the
    agent must keep although not desired (a module whose toggle line is
    missing)."""
    items = rendered["items"]
    missing = secret_digest.fill_in(items, lambda ns: kube.get("secrets", ns, secret_digest.KEY_SECRET),
                                    lambda i: kube.get(kube.RESOURCE_OF[i["kind"]], i["metadata"]["namespace"],
                                                       i["metadata"]["name"]))
    errs = ["%s %s: no Secret %s" % (k, n, secret_digest.KEY_SECRET) for k, n in missing]
    desired = {(kube.RESOURCE_OF[i["kind"]], i["metadata"]["namespace"], i["metadata"]["name"]): i for i in items}
    for (res, ns, name), want in desired.items():
        live = kube.get(res, ns, name)
        if live is None:
            errs.append("%s %s/%s: missing" % (res, ns, name))
            continue
        errs += ["%s %s/%s: %s" % (res, ns, name, x) for x in object_diffs(want, live, shared)]
    nss = set(namespaces) | {ns for (_r, ns, _n) in desired} or {default_ns}
    for ns in nss:
        have = kube.list_managed(ns) - {("secrets", secret_digest.KEY_SECRET)}  # made once, kept
        want = {(r, n) for (r, n2, n) in desired if n2 == ns} | {k for k in kept if isinstance(k, tuple)}
        if have != want:
            errs.append("objects in %s: extra %s, missing %s" % (ns, sorted(have - want), sorted(want - have)))
    return errs + rows_diffs(rendered)


def invariant(site, namespaces=(), kept=(), shared=()):
    """Live objects and rows equal the desired set of site's values.env.
    shared: other Apply managers allowed beside nap-agent's (see object_diffs)."""
    errs = desired_diffs(site.render(), namespaces, kept, site.vals.get("NAMESPACE") or "nap", shared)
    check(not errs, "invariant broken:\n  " + "\n  ".join(errs))
