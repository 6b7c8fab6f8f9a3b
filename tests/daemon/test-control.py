#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 19, item 7: `apply`, `apply --resync` and `seed` beside a running
`nap-agent run` hand their pass to the daemon (which holds the state
directory's lock) through its control socket and print its result, instead
of refusing:

  - `apply` prints the STATUS= line of the one pass the daemon ran for it,
    exit 0; after an invalid edit, the failed pass's line, exit 1;
  - `apply --resync` repairs a Service deleted by hand (the create in the
    audit log), and `apply --resync --wait` follows the rollout of the
    Deployment it repaired until it is available;
  - doctor's fix for a deleted oauth row, `nap-agent seed`, works while the
    daemon runs: the row is back, doctor says ok;
  - two requests made while a pass runs (the API server answering every
    request 1 s late) get exactly one more pass after it, and its result;
  - a request for another values.env is refused, naming the daemon's;
  - only root and the daemon's own user may ask: with the socket reachable
    (modes opened by hand), nobody is refused by the daemon (SO_PEERCRED);
    with the state directory as the daemon keeps it (0700), nobody cannot
    even reach it. Neither makes a pass (a request of root's, after, is the
    only one).

The passes are counted with the daemon's debug log ("pass N starting"),
their results read from its STATUS= (sent before it answers), never with
a sleep.

    with-harness.sh test-control.py NAP_AGENT   (HARNESS_COMPONENTS="kube kcm pg")
"""
import json
import os
import re
import subprocess
import sys

from naptest import agent
from naptest.agent import Daemon
from naptest.audit import audit
from naptest.checks import Results, check, must_wait
from naptest.db import psql
from naptest.faultproxy import FaultProxy
from naptest.harness import env, init, scratch
from naptest.kube import get, kubectl, node_port, write_kubeconfig
from naptest.kubelet import Kubelet
from naptest.values import example_values, set_key, write_in_place

T = Results()
K = Kubelet()
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


class Beside(Daemon):
    """The daemon (debug log), its kubeconfig through a proxy that can make
    the API server slow; verbs run beside it with its paths."""

    def __init__(self, name):
        d = scratch(name)
        os.makedirs(d)
        os.chmod(scratch(), 0o755)
        os.chmod(d, 0o755)
        self.proxy = FaultProxy().start()
        super().__init__(d, example_values(SANDBOX_NODE_PORT="30400"), ("--resync=0",),
                         write_kubeconfig(os.path.join(d, "kubeconfig"), self.proxy.url), {"NAP_LOG_LEVEL": "debug"})
        check(self.ready, "%s: READY=1" % name)

    def args(self, verb, *more):
        return [verb, "--values", self.values, "--state-dir", self.state] + list(more)

    def cli(self, verb, *more):
        return agent.run(*self.args(verb, *more), timeout=120)

    def spawn(self, verb, *more, prefix=()):
        return subprocess.Popen(list(prefix) + [agent.BINARY] + self.args(verb, *more), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def statuses(self, n):
        self.notify.sync()
        return self.notify.statuses(n)

    def close(self):
        self.stop()
        self.proxy.delay = 0
        self.proxy.stop()


def said(r, pid):
    """The status line `nap-agent run (PID N): LINE` the verb printed, or None."""
    m = re.search(r"(?m)^nap-agent run \(PID %d\): (.*)$" % pid, r.out + r.err)
    return m.group(1) if m else None


def mark(d):
    """Where the daemon's log and its notify messages are now."""
    return len(d.agent.output()), d.notify.count()


def one_pass(d, at, line, what):
    """Exactly one pass since the mark `at` (its debug log's "pass N
    starting"), and the STATUS= it sent is the line the verb printed. A
    rollout that settles after a failed pass sends that pass's line again
    with the workloads' summary (seen once in CI under ASan): such a
    STATUS= is not a pass, and may come before or after it."""
    o, n = at

    def log_once_done():
        log = d.agent.output()[o:]
        return log if re.search(r"pass \d+ done", log) else None
    passes = re.findall(r"pass (\d+) starting", must_wait("%s: a pass done in the log" % what, log_once_done, 10, 0.02))
    got = d.statuses(n)
    first = "STATUS=%s; watching %s" % (line, d.values)
    T.check(line and len(passes) == 1 and got.count(first) == 1 and
            all(m.startswith("STATUS=%s; " % line) and m.endswith("; watching %s" % d.values) for m in got),
            "%s: the daemon ran exactly one pass, the one whose result the verb printed" % what, (line, passes, got))


def apply_and_fail(d):
    at = mark(d)
    r = d.cli("apply")
    line = said(r, d.agent.pid)
    T.check(r.rc == 0 and line and re.fullmatch(r"no changes; generation \d+", line),
            "apply beside the daemon: its pass's result, exit 0", r)
    one_pass(d, at, line, "apply")
    T.check(re.search(r"PID \d+ \(uid 0\) asked for a pass through '%s'" % re.escape(d.state + "/control.sock"),
                      d.agent.output()), "apply: the daemon logs who asked")

    # an invalid edit: the daemon's own pass fails, and so does the one apply asks for
    n = d.notify.count()
    write_in_place(d.values, set_key(d.text, "SANDBOX_NODE_PORT", "99999"))
    must_wait("the invalid edit's pass", lambda: d.statuses(n), 15, 0.05)
    at = mark(d)
    r = d.cli("apply")
    line = said(r, d.agent.pid)
    T.check(r.rc == 1 and line and "SANDBOX_NODE_PORT" in line and
            line.endswith(": nothing applied, nothing deleted; keeping generation %s" % line.split()[-1]),
            "apply beside the daemon, values.env invalid: the failed pass's line, exit 1", r)
    one_pass(d, at, line, "apply of an invalid file")
    n = d.notify.count()
    write_in_place(d.values, d.text)
    must_wait("the file made good", lambda: any(m.startswith("STATUS=no changes") for m in d.statuses(n)), 15, 0.05)


def resync_repairs(d):
    kubectl("-n", "nap", "delete", "service", "nap-sandbox")
    at, since = mark(d), audit().mark()
    r = d.cli("apply", "--resync")
    line = said(r, d.agent.pid)
    T.check(r.rc == 0 and line and "(drift repaired)" in line, "apply --resync beside the daemon: repaired, exit 0", r)
    one_pass(d, at, line, "apply --resync")
    writes = [w[:4] for w in audit().writes_since(since)]
    T.check(("create", "services", "nap", "nap-sandbox") in writes or ("patch", "services", "nap", "nap-sandbox")
            in writes, "apply --resync: the daemon wrote the Service back", writes)
    T.check(node_port() == 30400, "apply --resync: the Service is back", node_port())


def resync_wait(d):
    """The Deployment's image changed by hand: the resync writes it back,
    and --wait follows that rollout (the stand-in kubelet readies it)."""
    K.roll_out("Deployment", "nap-sandbox")
    must_wait("nap-sandbox available", lambda: (get("deployments", "nap", "nap-sandbox") or {})
              .get("status", {}).get("availableReplicas") == 1, 30)
    kubectl("-n", "nap", "set", "image", "deployment/nap-sandbox", "sandbox=registry.invalid/by-hand:1")
    n = d.notify.count()
    p = d.spawn("apply", "--resync", "--wait", "--rollout-timeout", "60")
    out, _ = p.communicate(timeout=120)
    T.check(p.returncode == 0 and re.search(r"(?m)^nap-agent run \(PID %d\): applied \d+ object\(s\)[^\n]*\(drift "
                                            r"repaired\)" % d.agent.pid, out) and
            re.search(r"(?m)^nap-sandbox: (rolled out in \d+ s|available) \(1/1 available\)$", out),
            "apply --resync --wait beside the daemon: repaired, the rollout followed until available, exit 0",
            "exit %s:\n%s" % (p.returncode, out))
    T.check(len(d.statuses(n)) >= 1 and d.statuses(n)[0].startswith("STATUS=applied "),
            "apply --resync --wait: the daemon's pass", d.statuses(n))


def seed_fixes_doctor(d):
    psql("DELETE FROM oauth_clients WHERE id = 'sandbox-service'")

    def doctor():
        r = agent.run("doctor", "--json", "--values", d.values, "--state-dir", d.state, "--kubeconfig",
                      env("KUBECONFIG"), timeout=60)
        check(r.rc in (0, 1), "doctor exited %d: %r" % (r.rc, r))
        return {c["id"]: c for c in json.loads(r.out)["checks"]}
    c = doctor().get("oauth.sandbox-service.exists") or {}
    T.check(c.get("status") == "fail" and c.get("fix") == "nap-agent seed", "doctor: the deleted row fails, fix "
            "`nap-agent seed`", c)
    at = mark(d)
    r = d.cli("seed")
    line = said(r, d.agent.pid)
    T.check(r.rc == 0 and line, "doctor's fix `nap-agent seed`, run beside the daemon: exit 0", r)
    one_pass(d, at, line, "seed")
    T.check(psql("SELECT count(*) FROM oauth_clients WHERE id = 'sandbox-service'").strip() == "1",
            "seed: the row is back")
    c = doctor().get("oauth.sandbox-service.exists") or {}
    T.check(c.get("status") == "ok", "doctor after seed: ok", c)


def during_a_pass(d):
    """An edit's pass is slowed (1 s per request); two verbs ask meanwhile."""
    o, n = len(d.agent.output()), d.notify.count()
    d.proxy.delay = 1.0
    try:
        d.edit(SANDBOX_NODE_PORT="30401")
        started = must_wait("the edit's pass", lambda: re.search(r"pass (\d+) starting", d.agent.output()[o:]), 10,
                            0.02)
        first = started.group(1)
        must_wait("a request of that pass held", lambda: d.proxy.stats()["requests"] > 0, 10, 0.02)
        verbs = [d.spawn("apply"), d.spawn("apply")]
        must_wait("both requests taken", lambda: len(re.findall(r"asked for a pass", d.agent.output()[o:])) == 2, 20,
                  0.02)
        log = d.agent.output()[o:]
        T.check("pass %s done" % first not in log, "both asked while the edit's pass ran", log)
    finally:
        d.proxy.delay = 0
    outs = [p.communicate(timeout=60)[0] for p in verbs]
    lines = [re.search(r"(?m)^nap-agent run \(PID %d\): (.*)$" % d.agent.pid, x) for x in outs]
    log = d.agent.output()[o:]
    got = d.statuses(n)
    passes = re.findall(r"pass (\d+) starting", log)
    T.check(len(passes) == 2 and len(got) == 2 and got[0].startswith("STATUS=applied"),
            "two requests during a pass: exactly one more pass after it", (passes, got))
    T.check(all(p.returncode == 0 for p in verbs) and all(lines) and len(got) == 2 and
            {"STATUS=%s; watching %s" % (m.group(1), d.values) for m in lines} == {got[1]} and got[1] != got[0],
            "two requests during a pass: both printed that one more pass's result, not the edit's", (outs, got))
    T.check(node_port() == 30401, "the edit applied")


def refused(d):
    at = mark(d)
    other = os.path.join(d.dir, "other.env")
    write_in_place(other, d.text)
    r = agent.run("apply", "--values", other, "--state-dir", d.state, timeout=60)
    T.check(r.rc == 1 and "refused the pass: the running daemon applies '%s', not '%s'" % (d.values, other) in r.err,
            "apply --values OTHER beside the daemon: refused, naming the daemon's file", r)

    sock = os.path.join(d.state, "control.sock")
    p = d.spawn("apply", prefix=NOBODY)
    out, _ = p.communicate(timeout=60)
    T.check(p.returncode == 1 and "refused" not in out and os.stat(d.state).st_mode & 0o777 == 0o700,
            "nobody, state directory 0700: cannot reach the socket, exit 1", out)
    os.chmod(d.state, 0o711)
    os.chmod(sock, 0o666)
    try:
        p = d.spawn("apply", prefix=NOBODY)
        out, _ = p.communicate(timeout=60)
    finally:
        os.chmod(d.state, 0o700)
        os.chmod(sock, 0o600)
    T.check(p.returncode == 1 and "refused the pass: only root and the daemon's own user may ask it for a pass" in out,
            "nobody, the socket opened to all: refused by the daemon, exit 1", out)
    T.check(re.search(r"Refused a request of PID \d+ on '[^']*': uid 65534 may not ask", d.agent.output()),
            "the daemon logs the refusal")
    r = d.cli("apply")
    one_pass(d, at, said(r, d.agent.pid), "after the refused requests, root's apply")


def main():
    init(sys.argv)
    d = Beside("beside")
    try:
        for case in (apply_and_fail, resync_repairs, seed_fixes_doctor, during_a_pass, refused, resync_wait):
            T.case(case.__name__, case, d)
    finally:
        T.check(d.stop() == 0, "the daemon exits 0 on SIGTERM", d.agent.output()[-2000:])
        d.proxy.stop()
        T.check(not os.path.exists(os.path.join(d.state, "control.sock")), "the daemon removed its socket")
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
