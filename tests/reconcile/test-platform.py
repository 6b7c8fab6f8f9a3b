#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What the platform's install.sh does besides the module objects, and the
agent now does too (issue 22), against the harness's real kube-apiserver:

  - a registry login (REGISTRY_SERVER/USERNAME/PASSWORD): IMAGE_PULL_SECRET
    defaults to regcred; the docker-registry Secret is created once, with
    the .dockerconfigjson the real `kubectl create secret docker-registry`
    makes from the same login, and never written again (a changed password,
    a removed login: the Secret stays as it is; deleted, a resync makes it
    anew); the ServiceAccount default gets the entry beside the one already
    there, and nothing is ever removed from it; coturn pulls with it;
  - a Secret of that name that exists already (install.sh's, an
    operator's) is never overwritten;
  - a key only install.sh applies: `plan` says it, the pass says it once,
    the next pass is quiet; resolved as install.sh resolves it (an LDAP
    setting with LDAP off is no edit); the ledger keeps a keyed digest of
    each, never a value.

    with-harness.sh test-platform.py NAP_AGENT
"""
import base64
import json
import os
import sys

from naptest.audit import audit, fmt_reqs
from naptest.checks import Results, check
from naptest.harness import init
from naptest.kube import ensure_namespace, get, kubectl
from naptest.values import Site, module_values

LOGIN = {"REGISTRY_SERVER": "registry.example.test", "REGISTRY_USERNAME": "robot",
         "REGISTRY_PASSWORD": "registry-password-0123456789abcdef"}
SECRETS = [LOGIN["REGISTRY_PASSWORD"], "registry-password-changed-0123456789", "pg-password-0123456789abcdef"]


def writes_of(m, resource):
    return [w for w in audit().writes_since(m) if w.resource == resource]


def kubectl_docker_config(ns, login):
    """The .dockerconfigjson the real kubectl makes of a login (base64, as in the Secret)."""
    out = kubectl("-n", ns, "create", "secret", "docker-registry", "regcred", "--dry-run=client", "-o", "json",
                  "--docker-server=" + login["REGISTRY_SERVER"], "--docker-username=" + login["REGISTRY_USERNAME"],
                  "--docker-password=" + login["REGISTRY_PASSWORD"])
    return json.loads(out)["data"][".dockerconfigjson"]


def service_account(ns, pull_secrets):
    """The ServiceAccount default as kube-controller-manager makes it, with
    the pull secrets someone (an operator) added."""
    kubectl("-n", ns, "create", "serviceaccount", "default")
    if pull_secrets:
        kubectl("-n", ns, "patch", "serviceaccount", "default", "-p",
                json.dumps({"imagePullSecrets": [{"name": n} for n in pull_secrets]}))


def pull_secrets(ns):
    return [e["name"] for e in get("serviceaccounts", ns, "default").get("imagePullSecrets", [])]


def case_registry_login():
    ns = "reg"
    ensure_namespace(ns)
    service_account(ns, ["operator-mirror"])
    site = Site("reg", module_values("reg", NAMESPACE=ns, **LOGIN))
    m = audit().mark()
    site.apply_ok()
    w = [x[:4] for x in audit().writes_since(m) if x.resource in ("secrets", "serviceaccounts")]
    check(("create", "secrets", ns, "regcred") in w and ("patch", "serviceaccounts", ns, "default") in w,
          "the first pass: want a POST of Secret regcred and a patch of ServiceAccount default:\n%s" % w)
    s = get("secrets", ns, "regcred")
    check(s["type"] == "kubernetes.io/dockerconfigjson", "Secret regcred: type %r" % s["type"])
    check(s["data"] == {".dockerconfigjson": kubectl_docker_config(ns, LOGIN)},
          "Secret regcred differs from what kubectl makes of the same login")
    check(pull_secrets(ns) == ["operator-mirror", "regcred"], "ServiceAccount default: %r" % pull_secrets(ns))
    coturn = get("deployments", ns, "coturn")["spec"]["template"]["spec"]
    check(coturn.get("imagePullSecrets") == [{"name": "regcred"}], "coturn: %r" % coturn.get("imagePullSecrets"))

    m = audit().mark()
    site.apply_ok()
    check(not audit().writes_since(m), "the next pass wrote:\n%s" % fmt_reqs(audit().writes_since(m)))

    # a new password: the Secret is never overwritten (as install.sh), and the pass says so
    site.vals["REGISTRY_PASSWORD"] = SECRETS[1]
    site.write()
    m = audit().mark()
    r = site.apply_ok()
    check(not writes_of(m, "secrets") and get("secrets", ns, "regcred")["data"] == s["data"],
          "the Secret was written after a password change:\n%s" % fmt_reqs(writes_of(m, "secrets")))
    check("Secret %s/regcred exists and is never overwritten" % ns in r.err, "no note: %r" % r)

    # the login gone: the Secret stays, and so does every entry of the ServiceAccount
    for k in LOGIN:
        site.vals[k] = None
    site.write()
    m = audit().mark()
    r = site.apply_ok()
    gone = [x for x in audit().writes_since(m) if x.verb == "delete" or x.resource == "serviceaccounts"]
    check(not gone and get("secrets", ns, "regcred") is not None, "the login's removal deleted or patched:\n%s"
          % fmt_reqs(gone))
    check(pull_secrets(ns) == ["operator-mirror", "regcred"], "ServiceAccount default: %r" % pull_secrets(ns))
    check("no longer making Secret %s/regcred, which is left as it is" % ns in r.err, "no note: %r" % r)

    # deleted by someone, with the login back: a resync makes it anew
    site.vals.update(LOGIN)
    site.write()
    site.apply_ok()
    kubectl("-n", ns, "delete", "secret", "regcred")
    m = audit().mark()
    site.apply_ok("--resync")
    check(("create", "secrets", ns, "regcred") in [x[:4] for x in writes_of(m, "secrets")]
          and get("secrets", ns, "regcred") is not None, "the resync did not make the Secret again")


def case_existing_secret_kept():
    ns = "reg2"
    ensure_namespace(ns)
    service_account(ns, [])
    theirs = dict(LOGIN, REGISTRY_USERNAME="someone-else", REGISTRY_PASSWORD="their-password-0123456789")
    kubectl("-n", ns, "create", "secret", "docker-registry", "regcred",
            "--docker-server=" + theirs["REGISTRY_SERVER"], "--docker-username=" + theirs["REGISTRY_USERNAME"],
            "--docker-password=" + theirs["REGISTRY_PASSWORD"])
    before = get("secrets", ns, "regcred")
    site = Site("reg2", module_values("reg2", NAMESPACE=ns, SANDBOX_ENABLED="false", BROWSER_ENABLED="false",
                                      **LOGIN))
    r = site.apply_ok()
    after = get("secrets", ns, "regcred")
    check(after["data"] == before["data"] and after["metadata"]["resourceVersion"] ==
          before["metadata"]["resourceVersion"], "the existing Secret was overwritten")
    check("Secret %s/regcred exists: left as it is" % ns in r.err, "the pass did not say so: %r" % r)
    check(pull_secrets(ns) == ["regcred"], "ServiceAccount default: %r" % pull_secrets(ns))


def notices(text):
    return sorted(line.split(" changed: ")[0].split()[-1] for line in text.splitlines()
                  if " changed: the platform's own objects get it only from the platform's installer" in line)


def case_platform_keys():
    ns = "pk"
    ensure_namespace(ns)
    site = Site("pk", module_values("pk", NAMESPACE=ns, PG_PASSWORD=SECRETS[2], SANDBOX_NODE_PORT="31386",
                                    BROWSER_NODE_PORT="31385"))
    r = site.apply_ok()
    check(notices(r.err) == [], "the first pass has no edit to report: %r" % r)

    site.vals.update(INGRESS_MODE="external", PG_STORAGE_CLASS="fast-ssd", LDAP_URL="ldap://ignored.example.test")
    site.write()
    r = site.plan()
    check(r.rc == 2 and notices(r.out) == ["INGRESS_MODE", "PG_STORAGE_CLASS"], "plan: %r" % r)
    check("`install.sh --manifests-only`" in r.out, "plan names no command: %r" % r)
    r = site.apply_ok()
    check(notices(r.err) == ["INGRESS_MODE", "PG_STORAGE_CLASS"], "the pass: %r" % r)
    check("2 key(s) changed that only `install.sh --manifests-only` applies" in site.status()["lastPass"]["message"],
          "status: %r" % site.status()["lastPass"])
    r = site.apply_ok()
    check(notices(r.err) == [], "said again by the next pass: %r" % r)
    r = site.plan()
    check(notices(r.out) == [], "said again by plan after the pass: %r" % r)

    # an empty value is the default, an LDAP setting with LDAP off is nothing, a secret is a key too
    site.vals.update(AFS_IMAGE="", LDAP_URL="ldap://other.example.test", PG_PASSWORD="pg-password-changed-0123456789")
    site.write()
    r = site.apply_ok()
    check(notices(r.err) == ["PG_PASSWORD"], "the pass: %r" % r)
    SECRETS.append(site.vals["PG_PASSWORD"])
    with open(os.path.join(site.state, "ledger.json")) as f:
        ledger = f.read()
    check('"platformKeys"' in ledger and '"PG_PASSWORD"' in ledger, "no platform keys in the ledger")
    for v in SECRETS[2:] + ["fast-ssd", "ldap://"]:
        check(v not in ledger and base64.b64encode(v.encode()).decode() not in ledger,
              "the ledger holds a value (%s...)" % v[:6])


def main():
    init(sys.argv)
    run = Results("reconcile-platform")
    run.case("registry login: Secret created once, the ServiceAccount's entry added beside the others",
             case_registry_login)
    run.case("an existing pull Secret is never overwritten", case_existing_secret_kept)
    run.case("a key only install.sh applies: said once per edit, kept as a digest", case_platform_keys)
    return run.finish(SECRETS)


if __name__ == "__main__":
    sys.exit(main())
