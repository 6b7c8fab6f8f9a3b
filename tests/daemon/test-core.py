#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 14, acceptance: a core of the idle daemon cannot be had.

The daemon runs as an unprivileged user (as the service runs as nap-agent;
here `nobody`, or the test's own user when it is not root) against the
harness, and has applied values.env. Then, as that same user:

  - control: `gcore` of another process of that user (a `sleep`) works and
    yields a core, so nothing in this environment (a Yama ptrace scope, a
    missing gdb) would make the next check pass by itself;
  - `gcore` of the idle daemon is refused (it made itself non-dumpable), or,
    if a core is written at all, it holds none of the secrets in any form.

gdb (gcore) is required: without it the test fails, it does not skip.

    with-harness.sh test-core.py NAP_AGENT
"""
import base64
import json
import os
import shutil
import subprocess
import sys

from naptest.agent import Agent, NotifySocket
from naptest.checks import Results
from naptest.harness import env, init, scratch
from naptest.values import example_values, set_key, write_in_place

T = Results()
SECRETS = {
    "SANDBOX_JWT_SECRET": "core-sjwt-0123456789abcdef0123456789abcdef",
    "SANDBOX_SERVICE_KEY": "core-skey-0123456789abcdef0123456789abcdef",
    "BROWSER_JWT_SECRET": "core-bjwt-0123456789abcdef0123456789abcdef",
    "TURN_AUTH_SECRET": "core-turn-0123456789abcdef0123456789abcdef",
}


def as_user():
    """The command prefix that runs as the unprivileged user."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def give(path, mode):
    """path usable by the unprivileged user."""
    os.chmod(path, mode)
    if os.geteuid() == 0:
        shutil.chown(path, "nobody", "nogroup")


def gcore(pid, out):
    p = subprocess.run(as_user() + ["gcore", "-o", out, str(pid)], capture_output=True, text=True, timeout=120)
    core = "%s.%d" % (out, pid)
    return p, core if os.path.exists(core) else None


def forms(v):
    return [v.encode(), base64.b64encode(v.encode()), json.dumps(v)[1:-1].encode()]


def main():
    if not shutil.which("gcore"):
        print("FAIL gdb's gcore is not installed: it is needed to show that the daemon refuses it")
        return 1
    init(sys.argv)
    wd = scratch()
    give(wd, 0o755)
    d = os.path.join(wd, "site")
    os.makedirs(d)
    give(d, 0o777)
    values, state, kubeconfig = os.path.join(d, "values.env"), os.path.join(d, "state"), os.path.join(d, "kc")
    text = example_values(SANDBOX_ENABLED="true", BROWSER_ENABLED="true", **SECRETS)
    write_in_place(values, text)
    give(values, 0o644)
    shutil.copy(env("KUBECONFIG"), kubeconfig)
    give(kubeconfig, 0o644)
    notify = NotifySocket(d)
    give(notify.path, 0o777)
    agent = Agent(d, values, state, kubeconfig, ["--resync=0", "--idle-close=0"], notify=notify,
                  prefix=as_user())
    ready = notify.wait_for(lambda m: "READY=1" in m, 30)
    T.check(ready is not None and any("STATUS=applied" in m for _, m in notify.snapshot()),
            "the daemon, as an unprivileged user, applied values.env", agent.output())
    # an edit, so that the previous configuration's secrets are held too
    n = notify.count()
    write_in_place(values, set_key(text, "SANDBOX_JWT_SECRET", "core-sjwt-changed-0123456789abcdef0123456789"))
    T.check(notify.wait_for(lambda m: m.startswith("STATUS=applied"), 15, n) is not None, "an edit applied")
    # idle from here: the STATUS= comes after the pass, nothing is in flight

    control = subprocess.Popen(as_user() + ["sleep", "120"])
    try:
        p, core = gcore(control.pid, os.path.join(d, "control-core"))
        T.check(core is not None, "control: gcore of another process of the same user works", p.stdout + p.stderr)
    finally:
        control.kill()
        control.wait()

    p, core = gcore(agent.pid, os.path.join(d, "agent-core"))
    if core is None:
        T.check(p.returncode != 0 or "ptrace" in (p.stdout + p.stderr).lower(), "gcore of the daemon is refused",
                p.stdout + p.stderr)
        print("# gcore said: %s" % " ".join((p.stdout + p.stderr).split())[:300], flush=True)
    else:
        with open(core, "rb") as f:
            data = f.read()
        every = list(SECRETS.values()) + ["core-sjwt-changed-0123456789abcdef0123456789"]
        found = [v[:10] for v in every for form in forms(v) if form in data]
        T.check(not found, "the daemon's core holds no secret", found)
    T.check(agent.proc.poll() is None, "the daemon still runs after the attempt")
    T.check(agent.stop() == 0, "exit 0 on SIGTERM", agent.output())
    notify.close()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
