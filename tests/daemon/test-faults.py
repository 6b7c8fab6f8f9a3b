#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`nap-agent run` under faults (issue 13), against the harness with
kube-controller-manager (real Deployment status writes):

  - its loop keeps turning through a stall: under WATCHDOG_USEC=2 s,
    WATCHDOG=1 keeps coming while the API server answers no request (the
    proxy holds every one until the test releases them), while the
    PostgreSQL backend of its connection is stopped (SIGSTOP), and while
    values.env is a FIFO: pings counted between two fences the test
    controls (the stall set up and seen to bite; its end), where a loop
    blocked on the stall would send none. SIGTERM in each case: STOPPING=1
    and exit 0, without the answer the stall withholds. Once the fault is
    gone the pass converges. No clock is asserted on: that no dispatch
    waits in the kernel is proven where the requests are made
    (tests/kube, tests/oauth: tests/loopprobe.h); the longest gap between
    two pings and the daemon's longest loop iteration are printed as
    figures (bench/run.sh measures the latter);
  - it never loses track of what it owns: a read-only state directory fails
    the pass (nothing written, nothing reported as applied) and is retried
    once writable; a write whose answer came too late is pruned when the
    edit is reverted; `apply` beside the daemon hands its pass to it, and
    without its socket refuses, as a second daemon does;
    status writes by the controller followed by resyncs are not "drift".

    with-harness.sh test-faults.py NAP_AGENT   (HARNESS_COMPONENTS="kube kcm pg")
"""
import os
import re
import signal
import stat
import subprocess
import sys
import time

from naptest import agent
from naptest.agent import Daemon, pass_status
from naptest.audit import audit
from naptest.checks import Results, must_wait, wait_until
from naptest.db import new_installation, psql
from naptest.faultproxy import FaultProxy
from naptest.harness import init, scratch
from naptest.kube import get, kubectl, node_port, write_kubeconfig
from naptest.values import example_values

T = Results()
WATCHDOG_USEC = 2000000
PINGS = 4  # WATCHDOG=1 seen during a stall: two periods' worth (one every WATCHDOG_USEC / 4)
APPLIED = re.compile(r"STATUS=applied [^\n]*; generation \d+; watching .*")


class Faulty(Daemon):
    """One agent under WATCHDOG_USEC=2 s, its kubeconfig through a proxy."""

    def __init__(self, name, args=("--resync=0",), values_text=None):
        d = scratch(name)
        os.makedirs(d)
        new_installation()  # a new state directory: another installation, rows of its own
        self.port = 30200
        self.proxy = FaultProxy().start()
        super().__init__(d, values_text or example_values(SANDBOX_NODE_PORT=str(self.port)), args,
                         write_kubeconfig(os.path.join(d, "kubeconfig"), self.proxy.url),
                         {"WATCHDOG_USEC": str(WATCHDOG_USEC), "NAP_LOG_LEVEL": "debug"})
        i = self.notify.wait_for(lambda m: "READY=1" in m, 1)
        T.check(i is not None and "keeping generation" not in self.notify.snapshot()[i][1],
                "%s: up, first pass applied" % name, self.notify.snapshot())

    def next_port(self):
        self.port += 1
        self.edit(SANDBOX_NODE_PORT=str(self.port))

    def statuses(self, n):
        return self.notify.statuses(n)

    def pings_during(self, what, stalled):
        """Fence one: the stall bites (the caller saw it). Waits for PINGS
        WATCHDOG=1 after it while stalled() holds, so that they came during
        the stall (the second fence is the caller's ending it)."""
        n = self.notify.count()
        must_wait("%d WATCHDOG=1 while %s" % (PINGS, what), lambda: self.notify.pings(n) >= PINGS, 30)
        T.check(stalled(), "%s: WATCHDOG=1 kept coming (%d) while the stall lasted" % (what, self.notify.pings(n)))
        gap = self.notify.longest_ping_gap(n)
        print("# %s: longest gap between two WATCHDOG=1: %s" % (what, "%.2f s" % gap if gap else "-"), flush=True)

    def sigterm(self, what, stalled):
        """SIGTERM during the stall: STOPPING=1 and exit 0 (the wait's
        deadline, 10 s, is no measure: the stall withholds its answer
        longer), the stall still on when it exited."""
        n = self.notify.count()
        rc, took = self.agent.terminate()
        self.notify.sync()
        T.check(rc == 0 and "STOPPING=1\nSTATUS=stopping" in [m for _, m in self.notify.snapshot(n)] and stalled(),
                "%s: SIGTERM: STOPPING=1, exit 0, without waiting for the stalled answer" % what,
                "rc=%s after %.2f s; %r" % (rc, took, self.notify.snapshot(n)))
        cpu = [float(x) for x in re.findall(r"took ([0-9.]+) ms of CPU", self.agent.output())]
        print("# %s: exited %.2f s after SIGTERM; the longest loop iteration took %.2f ms of CPU"
              % (what, took, max(cpu or [0])), flush=True)

    def close(self):
        self.stop()
        self.proxy.delay = self.proxy.answer_delay = 0
        self.proxy.stop()


def slow_api_server():
    """The proxy holds every request (never answered until released)."""
    d = Faulty("slow")
    try:
        n, o = d.notify.count(), len(d.agent.output())
        d.proxy.hold = True
        d.next_port()
        must_wait("the pass's first request to be held", lambda: d.proxy.stats()["holding"] >= 1, 10)
        d.pings_during("the API server answers nothing", lambda: d.proxy.hold)
        failed = d.notify.wait_for(lambda m: pass_status(m) and "keeping generation" in m, 10, n)
        T.check(failed is not None and "did not finish within 0.9 s" in d.notify.snapshot()[failed][1],
                "slow API server: the pass fails at its deadline (0.9 s, under half of WatchdogSec)",
                d.statuses(n))
        # failed retries (1 s, 2 s backoff) while no answer comes: passes
        # counted in the debug log (a rollout settling meanwhile repeats the
        # failed pass's STATUS= with its summary)
        must_wait("two more passes (retries) while nothing is answered",
                  lambda: len(re.findall(r"pass \d+ done", d.agent.output()[o:])) >= 3, 15)
        d.notify.sync()
        T.check(d.statuses(n) and all("did not finish within 0.9 s" in m for m in d.statuses(n)),
                "slow API server: the retries fail at their deadline too", d.statuses(n))
        n = d.notify.count()
        d.proxy.hold = False
        d.proxy.release()
        ok = d.notify.wait_for(lambda m: APPLIED.fullmatch(m) is not None, 30, n)
        T.check(ok is not None and node_port() == d.port, "slow API server: converges once it answers again",
                d.statuses(n))
        # SIGTERM while a request is held
        d.proxy.hold = True
        d.proxy.reset()
        d.next_port()
        must_wait("a request of the pass to be held", lambda: d.proxy.stats()["holding"] >= 1, 10)
        d.sigterm("slow API server", lambda: d.proxy.hold)
    finally:
        d.proxy.hold = False
        d.close()


def stopped_state(pid):
    """Whether the process is stopped (SIGSTOP): its state in /proc."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def backend_pids():
    out = psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'nap-agent'")
    return [int(x) for x in out.split()]


def stalled_database():
    d = Faulty("pg")
    stopped = []
    try:
        pids = backend_pids()
        T.check(len(pids) == 1, "stalled database: the agent keeps one connection", pids)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        n, o = d.notify.count(), len(d.agent.output())
        d.next_port()  # the oauth row changes too: the pass needs the database
        must_wait("a pass to be under way", lambda: re.search(r"pass \d+ starting", d.agent.output()[o:]), 10)
        d.pings_during("the backend of its connection is stopped", lambda: all(stopped_state(p) for p in stopped))
        failed = d.notify.wait_for(lambda m: "keeping generation" in m, 10, n)
        T.check(failed is not None and "the oauth_clients rows" in d.notify.snapshot()[failed][1],
                "stalled database: the pass fails at its deadline, saying why", d.statuses(n))
        # the retry connects anew (a new backend): it converges while the old one stays stopped
        ok = d.notify.wait_for(lambda m: APPLIED.fullmatch(m) is not None, 15, n)
        T.check(ok is not None, "stalled database: converges on a new connection", d.statuses(n))
        rows = psql("SELECT array_to_string(redirect_uris, ' ') FROM oauth_clients WHERE id = 'sandbox-service'")
        T.check(rows.strip() == "http://192.0.2.10:%d/api/auth/callback" % d.port,
                "stalled database: the row is written", rows)
        # SIGTERM while the new backend is stopped in the middle of a pass
        for pid in backend_pids():
            if pid not in stopped:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        o = len(d.agent.output())
        d.next_port()
        must_wait("a pass to be under way", lambda: re.search(r"pass \d+ starting", d.agent.output()[o:]), 10)
        d.sigterm("stalled database", lambda: all(stopped_state(p) for p in stopped))
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        d.close()


def fifo_values():
    d = Faulty("fifo")
    try:
        n = d.notify.count()
        os.unlink(d.values)
        os.mkfifo(d.values, 0o640)
        refused = d.notify.wait_for(lambda m: "not a regular file" in m, 10, n)
        T.check(refused is not None, "FIFO: refused with a located error, nothing applied", d.statuses(n))
        d.pings_during("values.env is a FIFO", lambda: stat.S_ISFIFO(os.stat(d.values).st_mode))
        n = d.notify.count()
        os.unlink(d.values)
        d.next_port()
        ok = d.notify.wait_for(lambda m: APPLIED.fullmatch(m) is not None, 10, n)
        T.check(ok is not None and node_port() == d.port, "FIFO: a regular file again is applied", d.statuses(n))
        os.unlink(d.values)
        os.mkfifo(d.values, 0o640)
        T.check(d.notify.wait_for(lambda m: "not a regular file" in m, 10, n) is not None, "FIFO: refused again",
                d.statuses(n))
        d.sigterm("FIFO", lambda: stat.S_ISFIFO(os.stat(d.values).st_mode))
    finally:
        d.close()


def mount(*args):
    """mount(8) or umount(8), tried again while the mount point is busy: the
    daemon writes the rollouts' runtime file into the state directory when a
    rollout moves (a temporary file open for writing there makes the remount
    read-only, or the unmount, fail with EBUSY). Bounded: 100 tries, 0.1 s apart."""
    for _ in range(100):
        p = subprocess.run(list(args), capture_output=True, text=True)
        if p.returncode == 0:
            return
        if "busy" not in p.stderr:
            break
        time.sleep(0.1)
    raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))


def read_only_state():
    d = Faulty("ro")
    mounted = False
    try:
        if os.geteuid() == 0:  # root writes anywhere: a read-only bind mount
            mount("mount", "--bind", d.state, d.state)
            mounted = True
            mount("mount", "-o", "remount,bind,ro", d.state)
        else:
            os.chmod(d.state, 0o500)
        n, mark = d.notify.count(), audit().mark()
        d.next_port()
        failed = d.notify.wait_for(pass_status, 10, n)
        st = d.notify.snapshot()[failed][1] if failed is not None else ""
        T.check("Failed to save the ledger" in st and "keeping generation" in st and "applied" not in st,
                "read-only state dir: the pass fails, saying so, nothing reported as applied", d.statuses(n))
        T.check(audit().writes_since(mark) == [], "read-only state dir: nothing written before the intent is saved",
                audit().writes_since(mark))
        if mounted:
            mount("umount", d.state)
            mounted = False
        else:
            os.chmod(d.state, 0o700)
        ok = d.notify.wait_for(lambda m: APPLIED.fullmatch(m) is not None, 15, n)
        T.check(ok is not None and node_port() == d.port, "read-only state dir: retried and applied once writable",
                d.statuses(n))
    finally:
        try:
            if mounted:
                mount("umount", d.state)
        finally:
            d.close()


def lost_answer_then_revert():
    """The browser turned on while the answers of writes come 3 s late (the
    writes are done): the pass fails at its deadline; turned off again at
    once, the objects written without an answer are deleted all the same."""
    d = Faulty("lost", values_text=example_values(SANDBOX_NODE_PORT="30200", BROWSER_ENABLED="false"))
    try:
        T.check(get("secrets", "nap", "nap-browser-secret") is None, "lost answer: no browser Secret at first")
        n = d.notify.count()
        d.proxy.answer_delay = 3.0
        d.edit(BROWSER_ENABLED="true")
        failed = d.notify.wait_for(lambda m: "keeping generation" in m, 10, n)
        T.check(failed is not None, "lost answer: the pass fails at its deadline", d.statuses(n))
        T.check(wait_until(lambda: get("secrets", "nap", "nap-browser-secret") is not None, 10),
                "lost answer: the Secret was written all the same")
        d.proxy.answer_delay = 0
        n = d.notify.count()
        d.edit(BROWSER_ENABLED="false")
        ok = d.notify.wait_for(lambda m: APPLIED.fullmatch(m) is not None, 15, n)
        T.check(ok is not None, "lost answer: the revert is applied", d.statuses(n))
        T.check(get("secrets", "nap", "nap-browser-secret") is None,
                "lost answer: the Secret whose answer was lost is deleted")
    finally:
        d.close()


def two_agents():
    d = Faulty("two")
    try:
        args = ("--values", d.values, "--state-dir", d.state, "--kubeconfig", d.kubeconfig)
        r = agent.run("apply", *args, timeout=30)
        T.check(r.rc == 0 and re.search(r"(?m)^nap-agent run \(PID %d\): no changes; generation \d+$" % d.agent.pid,
                                        r.err), "two agents: apply beside the daemon hands its pass to it", r)
        # without the daemon's socket (test-control.py has the rest), the lock refuses, naming the holder
        os.unlink(os.path.join(d.state, "control.sock"))
        r = agent.run("apply", *args, timeout=30)
        T.check(r.rc == 1 and "in use by another nap-agent (PID %d nap-agent run)" % d.agent.pid in r.err,
                "two agents: apply beside a daemon that does not listen refuses, naming it", r)
        r = agent.run("run", *args, timeout=30)
        T.check(r.rc == 1 and "in use by another nap-agent" in r.err, "two agents: a second daemon refuses", r)
    finally:
        d.close()


def status_writes_are_not_drift():
    """kube-controller-manager writes the Deployments' status (and their
    resourceVersion moves): resyncs (every 2 s) read, find nothing of the
    agent's changed, write nothing and report no repair."""
    d = Faulty("resync", args=("--resync=2",))
    try:
        T.check(wait_until(lambda: (get("deployments", "nap", "nap-sandbox") or {}).get("status", {})
                           .get("observedGeneration"), 15), "resync: the controller writes the Deployment's status")
        o, mark, n = len(d.agent.output()), audit().mark(), d.notify.count()
        # a Pod deleted: the controllers make another and write the status anew
        kubectl("-n", "nap", "delete", "pods", "-l", "app=nap-sandbox", "--wait=false")
        # two whole resync passes after this point
        done = wait_until(lambda: len(re.findall(r"pass (\d+) starting \(resync\)", d.agent.output()[o:])) >= 3, 15)
        T.check(done, "resync: it ran (three resync passes seen)")
        last = re.findall(r"pass (\d+) starting \(resync\)", d.agent.output()[o:])[-1]
        must_wait("resync pass %s to be done" % last, lambda: "pass %s done" % last in d.agent.output(), 10)
        d.notify.sync()
        got = d.statuses(n)
        gen = {re.search(r"generation (\d+)", m).group(1) for m in got}
        T.check(got and all(m.startswith("STATUS=no changes") for m in got) and len(gen) == 1,
                "resync: no changes, the generation stays", got)
        T.check("repaired" not in d.agent.output()[o:], "resync: nothing called repaired")
        T.check(audit().writes_since(mark) == [], "resync: no write request", audit().writes_since(mark))
        status_writes = [e for e in audit().events(mark) if e.get("stage") == "ResponseComplete" and
                         (e.get("objectRef") or {}).get("subresource") == "status" and
                         (e.get("objectRef") or {}).get("resource") in ("deployments", "replicasets")]
        T.check(status_writes, "resync: meanwhile the controller wrote status (resourceVersions moved)")
    finally:
        d.close()


def main():
    init(sys.argv)
    for case in (slow_api_server, stalled_database, fifo_values, read_only_state, lost_answer_then_revert,
                 two_agents, status_writes_are_not_drift):
        T.case(case.__name__, case)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
