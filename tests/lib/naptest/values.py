# SPDX-License-Identifier: Apache-2.0
"""values.env for the tests: texts made from the example file or from an
ordered set of keys, the ways editors write them, and a Site (a values.env
and a state directory: what one operator's node holds).
"""
import hashlib
import os
import re

from naptest import agent
from naptest.checks import check
from naptest.harness import EXAMPLE_VALUES, scratch
from naptest.kube import ensure_namespace


def set_key(text, key, value):
    """text with KEY=... replaced (or appended; value None: the line goes);
    the comment after a value goes too."""
    if value is None:
        return re.sub(r"(?m)^%s=.*\n?" % re.escape(key), "", text)
    line = "%s=%s" % (key, value)
    new, n = re.subn(r"(?m)^%s=.*$" % re.escape(key), lambda _: line, text)
    return new if n else text.rstrip("\n") + "\n" + line + "\n"


def set_keys(text, **keys):
    for k, v in keys.items():
        text = set_key(text, k, v)
    return text


# The browser's keys filled, so that every module can be switched on.
# SANDBOX_DOMAIN is set because an empty one renders the env entry
# {"name": "SANDBOX_DOMAIN", "value": ""}, which the apiserver stores
# without "value": server-side apply then sees the field set differ on
# every apply and every resync reports false drift on the Deployment (a
# template bug, reported; not what these tests are about).
EXAMPLE_FILLED = {
    "BROWSER_JWT_SECRET": "b" * 64,
    "TURN_AUTH_SECRET": "c" * 64,
    "TURN_HOST": "192.0.2.20",
    "SANDBOX_JWT_SECRET": "d" * 64,
    "SANDBOX_SERVICE_KEY": "e" * 64,
    "SANDBOX_DOMAIN": "sandbox.example.com",
}


def example_values(**keys):
    """The example values.env (sandbox on, browser off) with EXAMPLE_FILLED
    and the given keys set."""
    with open(EXAMPLE_VALUES) as f:
        text = f.read()
    return set_keys(text, **dict(EXAMPLE_FILLED, **keys))


def hexsecret(tag):
    """A deterministic 64-hex-char secret, distinct per tag."""
    return hashlib.sha256(tag.encode()).hexdigest()


def module_values(tag, **over):
    """Both modules on, NodePorts, every secret set (hexsecret of the tag):
    [(KEY, value)] in order."""
    v = dict([
        ("NAMESPACE", "nap"), ("APP_PREFIX", "nap"), ("REGISTRY", "registry.test/platform"), ("IMAGE_TAG", "v1.0.0"),
        ("TOS_HOST", "192.0.2.10"), ("TOS_NODE_PORT", "30080"), ("INGRESS_MODE", "nodeport"),
        ("PG_USERNAME", "nap"), ("DB_NAME", "nap"),
        ("SANDBOX_ENABLED", "true"), ("SANDBOX_NODE_PORT", "30086"),
        ("SANDBOX_JWT_SECRET", hexsecret(tag + "-sjwt")), ("SANDBOX_SERVICE_KEY", hexsecret(tag + "-skey")),
        ("SANDBOX_DOMAIN", ""), ("SANDBOX_PUBLIC_URL", ""),
        ("BROWSER_ENABLED", "true"), ("BROWSER_NODE_PORT", "30085"),
        ("BROWSER_JWT_SECRET", hexsecret(tag + "-bjwt")), ("TURN_AUTH_SECRET", hexsecret(tag + "-turn")),
        ("TURN_HOST", "192.0.2.20"), ("TURN_PORT", "3478"), ("BROWSER_PUBLIC_URL", ""),
    ])
    v.update(over)
    return list(v.items())


def secret_values(pairs):
    """The values of the secret keys among (KEY, value) pairs."""
    return [v for k, v in pairs if v and re.search(r"SECRET|SERVICE_KEY|PASSWORD", k) and len(v) >= 8]


def write_in_place(path, text, mode=0o640):
    """What most editors without backup copies do: open O_TRUNC, write, close."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, mode)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_rename(path, text, mode=None):
    """vim/emacs/sed -i: a temp file in the same directory renamed over."""
    tmp = os.path.join(os.path.dirname(path), ".%s.swp" % os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(tmp, mode)
    os.rename(tmp, path)


class Site:
    """One values.env + state dir in the scratch directory. vals: ordered
    KEY -> value (None: the line is absent); extra: text appended."""

    def __init__(self, name, values):
        self.dir = scratch(name)
        os.makedirs(self.dir, exist_ok=True)
        self.values = os.path.join(self.dir, "values.env")
        self.state = os.path.join(self.dir, "state")
        self.vals = dict(values)
        self.extra = ""
        self.write()

    def text(self):
        lines = ["# values.env written by naptest"]
        lines += ["%s=%s" % (k, v) for k, v in self.vals.items() if v is not None]
        return "\n".join(lines) + "\n" + self.extra

    def write(self, text=None):
        write_rename(self.values, self.text() if text is None else text)

    def args(self, *more):
        return ["--values", self.values, "--state-dir", self.state] + list(more)

    def apply(self, *more, **kw):
        return agent.run("apply", *self.args(*more), **kw)

    def apply_ok(self, *more, **kw):
        r = self.apply(*more, **kw)
        check(r.rc == 0, "apply failed: %r" % r)
        return r

    def plan(self, *more):
        return agent.run("plan", *self.args(*more))

    def render(self):
        return agent.render(self.values)

    def status(self):
        return agent.status_json(self.state)

    def secrets(self):
        return secret_values(self.vals.items())


def module_site(name, ns, **over):
    """The namespace ns made, and a Site called name with both modules on
    (module_values(name, **over)), a new installation (db.new_installation)."""
    from naptest.db import new_installation
    ensure_namespace(ns)
    new_installation()
    return Site(name, module_values(name, **over))
