#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The daemon without its files (issue 22), against the harness:

  - no values.env: `nap-agent run` starts (READY=1), says where it looks
    (one journal line, STATUS=) and sends no request at all (the audit
    log, up to a fence); the file created by rename, as the platform's
    get.sh writes it, is the first pass (STATUS= after it, the objects in
    the apiserver); the file removed: STATUS= says so again, and nothing
    is deleted;
  - no kubeconfig (the unit's credentials both "none", as systemd hands
    them in when the files are missing, and values.env naming a file that
    is not there): one journal line naming every place looked at and the
    drop-in that fixes it, in STATUS= too, no retry (fenced by a SIGHUP's
    RELOADING=1: the loop handled the pass's end before it); the
    kubeconfig handed in, SIGHUP applies.

The several default candidates (/etc/nap's before get.sh's /opt/nap's) are
fixed paths: tests/e2e/run.sh checks them in a booted container.

    with-harness.sh test-values.py NAP_AGENT
"""
import os
import shutil
import sys

from naptest.agent import Agent, NotifySocket
from naptest.audit import audit, fmt_reqs
from naptest.checks import Results, check
from naptest.harness import env, init, scratch
from naptest.kube import ensure_namespace, get
from naptest.values import example_values, write_rename

T = Results("daemon-values")


def start(d, values, kubeconfig, extra_env=None):
    notify = NotifySocket(d)
    agent = Agent(d, values, os.path.join(d, "state"), kubeconfig, ["--resync=0"], extra_env, notify)
    return agent, notify


def case_no_values():
    ns = "novalues"
    ensure_namespace(ns)
    d = scratch("novalues")
    os.makedirs(d)
    values = os.path.join(d, "etc", "values.env")  # its directory does not exist either
    m = audit().mark()
    agent, notify = start(d, values, env("KUBECONFIG"))
    try:
        i = notify.wait_for(lambda msg: "READY=1" in msg, 30)
        check(i is not None, "no READY=1 without values.env: %s" % agent.output())
        ready = notify.snapshot()[i][1]
        check("STATUS=waiting for values.env at '%s'; nothing applied" % values in ready, "READY's STATUS=: %r" % ready)
        said = [line for line in agent.output().splitlines() if "no values.env at" in line]
        check(said == ["no values.env at '%s': nothing is applied until it appears; state in '%s'"
                       % (values, os.path.join(d, "state"))], "the journal line: %r" % agent.output())
        reqs = audit().requests_since(m)
        check(not reqs, "requests without values.env:\n%s" % fmt_reqs(reqs))

        # created by rename (a new inode, its directory new too), as get.sh and gen-secrets.sh do
        os.makedirs(os.path.dirname(values))
        n = notify.count()
        write_rename(values, example_values(NAMESPACE=ns, SANDBOX_NODE_PORT="31486"))
        i = notify.wait_for(lambda msg: msg.startswith("STATUS=applied"), 30, n)
        check(i is not None, "no pass after the file appeared: %s" % agent.output())
        check("values.env: '%s' appeared: applying it" % values in agent.output(), "not said: %s" % agent.output())
        svc = get("services", ns, "nap-sandbox")
        check(svc and svc["spec"]["ports"][0]["nodePort"] == 31486, "the first pass applied no Service")

        m = audit().mark()
        n = notify.count()
        os.unlink(values)
        gone = "STATUS=waiting for values.env at '%s': '%s' is gone; nothing applied, nothing deleted" % (values, values)
        i = notify.wait_for(lambda msg: msg.startswith(gone), 30, n)
        check(i is not None, "no STATUS= after the file went: %s" % agent.output())
        check("'%s' is gone (deleted, or renamed away) and there is no values.env at '%s'" % (values, values)
              in agent.output(), "not said: %s" % agent.output())
        writes = audit().writes_since(m)
        check(not writes, "the file's removal wrote:\n%s" % fmt_reqs(writes))
    finally:
        check(agent.stop() == 0, "exit status after SIGTERM")
        notify.close()


def case_no_kubeconfig():
    ns = "nokubeconfig"
    ensure_namespace(ns)
    d = scratch("nokubeconfig")
    creds = os.path.join(d, "credentials")
    os.makedirs(creds)
    for cred in ("kubeconfig", "k3s-kubeconfig"):  # systemd's SetCredential=ID:none fallback
        with open(os.path.join(creds, cred), "w") as f:
            f.write("none")
    values = os.path.join(d, "values.env")
    write_rename(values, example_values(NAMESPACE=ns, SANDBOX_NODE_PORT="31487", KUBECONFIG="./kubeconfig.yaml"))
    agent, notify = start(d, values, None, {"KUBECONFIG": None, "CREDENTIALS_DIRECTORY": creds})
    try:
        i = notify.wait_for(lambda msg: "READY=1" in msg, 30)
        check(i is not None, "no READY=1 without a kubeconfig: %s" % agent.output())
        status = notify.snapshot()[i][1]
        for part in ("No kubeconfig nap-agent can read", "the credential 'kubeconfig' (none)",
                     "values.env's KUBECONFIG '%s/./kubeconfig.yaml' (missing)" % d,
                     "the credential 'k3s-kubeconfig' (none)", "LoadCredential=kubeconfig:",
                     "systemctl restart nap-agent"):
            check(part in status, "STATUS= lacks %r: %r" % (part, status))
        # the loop handles SIGHUP after the first pass's end: its RELOADING=1 is the fence
        n = notify.count()
        agent.signal(1)
        check(notify.wait_for(lambda msg: "RELOADING=1" in msg, 10, n) is not None, "no RELOADING=1")
        out = agent.output().split("reloading:")[0]
        said = [line for line in out.splitlines() if "No kubeconfig nap-agent can read" in line]
        check(len(said) == 1 and "retrying" not in out, "want one line and no retry before the reload:\n%s" % out)

        # handed in (the credential a restart would bring), then SIGHUP: applied
        shutil.copy(env("KUBECONFIG"), os.path.join(creds, "kubeconfig"))
        n = notify.count()
        agent.signal(1)
        i = notify.wait_for(lambda msg: msg.startswith("STATUS=applied"), 30, n)
        check(i is not None, "not applied after the kubeconfig came and SIGHUP: %s" % agent.output())
        check(get("services", ns, "nap-sandbox") is not None, "no Service after SIGHUP")
    finally:
        check(agent.stop() == 0, "exit status after SIGTERM")
        notify.close()


def main():
    init(sys.argv)
    T.case("no values.env: waits, says where, applies once it appears by rename", case_no_values)
    T.case("no kubeconfig: one line naming the places and the drop-in, SIGHUP applies", case_no_kubeconfig)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
