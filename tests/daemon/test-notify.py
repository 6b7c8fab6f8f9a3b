#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`nap-agent run` speaks the sd_notify protocol: the exact notifications,
read from a real AF_UNIX datagram socket passed as NOTIFY_SOCKET, for
start, an edit, an invalid edit, a fixed edit, SIGHUP, SIGTERM, the
watchdog, a resync repairing a deleted Service and a deleted oauth row,
SIGTERM during a slow apply, and an API server unreachable at start.

    with-harness.sh test-notify.py NAP_AGENT
"""
import json
import os
import re
import signal
import sys
import time

from naptest.agent import Agent, NotifySocket, fields
from naptest.audit import audit
from naptest.checks import Results, check, must_wait, wait_until
from naptest.db import psql, redirect_uris
from naptest.faultproxy import FaultProxy
from naptest.harness import env, free_port, init, scratch
from naptest.kube import kubectl, node_port, write_kubeconfig
from naptest.values import example_values, set_key, write_in_place

T = Results()
SVC = ("patch", "services", "nap", "nap-sandbox")
DEP = ("patch", "deployments", "nap", "nap-sandbox")


def texts(notify, start=0, watchdog=False):
    """The notifications since start, WATCHDOG=1 left out unless asked."""
    return [m for _, m in notify.snapshot(start) if watchdog or m != "WATCHDOG=1"]


def writes(mark):
    """The agent's writes since mark, up to a request of the test's own in
    the audit log (call it once the pass reported: STATUS= comes after its
    last write)."""
    return sorted(w[:4] for w in audit().writes_since(mark))


def edit(notify, values, text):
    """values.env written; once a STATUS= came: (the agent's writes, the
    notifications since the write)."""
    n, mark = notify.count(), audit().mark()
    write_in_place(values, text)
    check(notify.wait_for(lambda m: m.startswith("STATUS="), 10, n) is not None, "no STATUS= after the edit")
    w = writes(mark)
    return w, texts(notify, n)


def basic(wd, values, state):
    """Start, edit, invalid edit, fixed edit, SIGHUP, SIGTERM; WATCHDOG=1
    from WATCHDOG_USEC, every quarter of it: read from the timer the loop
    arms before it sleeps, not from the gaps between pings (those are the
    machine's as much as the daemon's: printed as a figure)."""
    notify = NotifySocket(wd)
    watching = "; watching %s" % values
    text = example_values(SANDBOX_NODE_PORT="30086")
    write_in_place(values, text)
    agent = Agent(wd, values, state, env("KUBECONFIG"), ["--resync=0"], notify=notify,
                  extra_env={"WATCHDOG_USEC": "2000000"})
    try:
        # start
        i = notify.wait_for(lambda m: "READY=1" in m, 30)
        got = texts(notify)
        T.check(i is not None and got[:1] == [
            "READY=1\nSTATUS=applied 4 object(s), deleted 0, 1 oauth client change(s); generation 1" + watching],
            "start: READY=1 with STATUS= after the first pass, nothing before it", got)

        # an edit, an invalid edit (the NAP_HOST line becomes `NAP_HOST=192.0.2.10 5`), the fix
        for port, gen in ((30087, 2), (30111, None), (30088, 3)):
            edited = set_key(text, "SANDBOX_NODE_PORT", str(port))
            if gen:
                w, got = edit(notify, values, edited)
                what = "edit" if gen == 2 else "fixed edit"
                T.check(got == ["STATUS=applied 2 object(s), deleted 0, 1 oauth client change(s); generation %d"
                                % gen + watching], "%s: one STATUS= saying what was applied, generation %d"
                        % (what, gen), got)
                T.check(w == sorted([SVC, DEP]) and node_port() == port,
                        "%s: one PATCH of the Service and of the Deployment, nodePort %d" % (what, port), w)
                continue
            bad = set_key(edited, "NAP_HOST", "192.0.2.10 5")
            line = bad.split("\n").index("NAP_HOST=192.0.2.10 5") + 1
            w, got = edit(notify, values, bad)
            want = ("STATUS=%s:%d:%d: unquoted blank ends the value: bash would run the next word as a command: "
                    "nothing applied, nothing deleted; keeping generation 2%s"
                    % (values, line, len("NAP_HOST=192.0.2.10 ") + 1, watching))
            T.check(got == [want], "invalid edit: STATUS=FILE:LINE:COL: the error: nothing applied, nothing deleted; "
                    "keeping generation 2", got)
            T.check(w == [], "invalid edit: no write request", w)
            T.check(node_port() == 30087, "invalid edit: the Service keeps nodePort 30087", node_port())

        # SIGHUP
        n, mark = notify.count(), audit().mark()
        before = time.clock_gettime(time.CLOCK_MONOTONIC)
        agent.signal(signal.SIGHUP)
        check(notify.wait_for(lambda m: m == "READY=1", 10, n) is not None, "SIGHUP: no READY=1 after it")
        after = time.clock_gettime(time.CLOCK_MONOTONIC)
        got = texts(notify, n)
        ok = len(got) == 3
        if ok:
            f0 = fields(got[0])
            usec = int(dict(f0).get("MONOTONIC_USEC", "0"))
            ok = ([k for k, _ in f0] == ["RELOADING", "MONOTONIC_USEC", "STATUS"] and f0[0][1] == "1" and
                  before * 1e6 <= usec <= after * 1e6 and
                  got[1] == "STATUS=no changes; generation 3" + watching and got[2] == "READY=1")
        T.check(ok, "SIGHUP: RELOADING=1 + MONOTONIC_USEC (now), then STATUS=, then READY=1", got)
        T.check(writes(mark) == [], "SIGHUP: no write request when nothing changed")

        # the watchdog: WATCHDOG=1 keeps coming, and right after one the
        # loop sleeps with the next due within WATCHDOG_USEC/4 (its earliest
        # timer: with --resync=0 the other is the idle close, in 30 s). The
        # time left can only be less than the period, however late it is
        # read; read at once, a longer period would show.
        n = notify.count()
        must_wait("four WATCHDOG=1", lambda: notify.pings(n) >= 4, 30)
        n = notify.count()
        must_wait("one more WATCHDOG=1", lambda: notify.pings(n) >= 1, 10, 0.005)
        must_wait("the loop asleep with a timer armed", lambda: agent.asleep() and agent.timers(), 10, 0.005)
        due = agent.timers()
        T.check(0 < min(due) <= 0.5 + 0.001, "WATCHDOG=1 every quarter of WATCHDOG_USEC (2 s): the next due "
                "within 0.5 s of one", due)
        gap = notify.longest_ping_gap()
        print("# the longest gap between two WATCHDOG=1: %s" % ("%.2f s" % gap if gap else "-"), flush=True)

        # SIGTERM: STOPPING=1, then exit 0 (within the wait's deadline, 10 s:
        # nothing is in flight that could hold it)
        n = notify.count()
        rc, took = agent.terminate()
        notify.sync()
        got = texts(notify, n)
        print("# exited %.2f s after SIGTERM" % took, flush=True)
        T.check(rc == 0, "SIGTERM: exit 0", "rc=%s after %.1f s" % (rc, took))
        T.check(got == ["STOPPING=1\nSTATUS=stopping"], "SIGTERM: STOPPING=1", got)
    finally:
        agent.stop()
        notify.close()


def resync(wd, values, state):
    """--resync=2 repairs a deleted Service and a deleted oauth row, and
    logs what it repaired; no WATCHDOG_USEC, no WATCHDOG=1."""
    notify = NotifySocket(wd)
    watching = "; watching %s" % values
    agent = Agent(wd, values, state, env("KUBECONFIG"), ["--resync=2"], notify=notify)
    try:
        check(notify.wait_for(lambda m: "READY=1" in m, 30) is not None, "resync: no READY=1")
        T.check(texts(notify) == ["READY=1\nSTATUS=no changes; generation 3" + watching],
                "resync: READY=1, no changes", texts(notify))
        kubectl("delete", "service", "-n", "nap", "nap-sandbox")
        psql("DELETE FROM oauth_clients WHERE id = 'sandbox-service'")
        ok = wait_until(lambda: node_port() == 30088 and redirect_uris("sandbox-service"), 12, 0.2)
        T.check(ok, "resync: the Service and the oauth row are back within a period")
        # one more resync after the repair: nothing left to repair
        rep = notify.wait_for(lambda m: "(drift repaired)" in m, 10, 1)
        check(rep is not None, "resync: no STATUS= says it repaired drift")
        check(notify.wait_for(lambda m: m.startswith("STATUS=no changes"), 10, rep + 1) is not None,
              "resync: no STATUS=no changes after the repair")
        got = texts(notify, 1)
        repaired = [m for m in got if "(drift repaired)" in m]
        plain = [m for m in got if "(drift repaired)" not in m]
        T.check(got and all(re.fullmatch(r"STATUS=(no changes|applied 0 object\(s\), deleted 0, 0 oauth client "
                                         r"change\(s\) \(drift repaired\)); generation \d+" + re.escape(watching), m)
                            for m in got) and 1 <= len(repaired) <= 2 and
                plain and plain[-1] == got[-1],
                "resync: one STATUS= per period, the repairs said, then no changes", (got, agent.output()))
        out = agent.output()
        T.check("repaired drift on Service nap/nap-sandbox (it had been deleted)" in out and
                'repaired oauth client "sandbox-service" (its row had been deleted)' in out,
                "resync: logs what it repaired", out)
        T.check(not any(m == "WATCHDOG=1" for _, m in notify.snapshot()), "no WATCHDOG=1 without WATCHDOG_USEC")
    finally:
        T.check(agent.stop() == 0, "resync: exit 0 on SIGTERM")
        notify.close()


def slow_apply(wd, values, state):
    """SIGTERM while a PATCH is held by the proxy (never answered until the
    test releases it, after the exit): the request is cancelled, STOPPING=1,
    the ledger saved, exit 0 without its answer."""
    proxy = FaultProxy().start()
    kc = write_kubeconfig(os.path.join(wd, "kubeconfig-proxy"), proxy.url)
    notify = NotifySocket(wd)
    agent = Agent(wd, values, state, kc, ["--resync=0"], notify=notify)
    ledger = os.path.join(state, "ledger.json")
    try:
        check(notify.wait_for(lambda m: "READY=1" in m, 30) is not None, "slow apply: no READY=1")
        gen = int(re.search(r"generation (\d+)", texts(notify)[0]).group(1))
        with open(ledger) as f:
            before = json.load(f).get("lastPass")
        proxy.queue({"type": "hold", "methods": ["PATCH"]})
        write_in_place(values, example_values(SANDBOX_NODE_PORT="30089"))
        must_wait("a PATCH to reach the proxy, which holds it", lambda: proxy.stats()["holding"] >= 1, 10)
        rc, took = agent.terminate()
        notify.sync()
        got = texts(notify)
        print("# exited %.2f s after SIGTERM" % took, flush=True)
        T.check(rc == 0 and proxy.stats()["held"] == 1,
                "slow apply: SIGTERM cancels the held request, exit 0 without its answer",
                "rc=%s after %.1f s" % (rc, took))
        T.check(len(got) == 3 and got[0].startswith("READY=1\n") and
                re.fullmatch(r"STATUS=stopping: the pass in progress was cancelled[^\n]*; keeping generation %d; "
                             r"watching .*" % gen, got[1]) and got[2] == "STOPPING=1\nSTATUS=stopping",
                "slow apply: READY=1, STATUS= (cancelled), STOPPING=1", got)
        with open(ledger) as f:
            lg = json.load(f)
        T.check(before and before.get("result") != "error" and lg["generation"] == gen and
                lg["lastPass"]["result"] == "error" and "cancel" in lg["lastPass"]["message"].lower(),
                "slow apply: the ledger is saved at the stop (generation kept, the cancelled pass recorded)",
                (before, lg.get("lastPass")))
    finally:
        agent.stop()
        notify.close()
        proxy.stop()


def unreachable(wd, values, state):
    """The kubeconfig names a closed port: READY=1 comes anyway, STATUS
    says why; once a proxy listens there the retry backoff converges."""
    port = free_port()
    kc = write_kubeconfig(os.path.join(wd, "kubeconfig-late"), "http://127.0.0.1:%d" % port)
    write_in_place(values, example_values(SANDBOX_NODE_PORT="30090"))
    mark = audit().mark()
    notify = NotifySocket(wd)
    agent = Agent(wd, values, state, kc, ["--resync=0"], notify=notify)
    proxy = FaultProxy(port=port)
    try:
        # READY=1 after the first pass failed, before anything listens there
        # (the proxy starts only below): it did not wait for the server
        i = notify.wait_for(lambda m: "READY=1" in m, 30)
        got = texts(notify)
        T.check(i == 0 and re.fullmatch(
            r"READY=1\nSTATUS=Failed to (apply|list the Deployments of namespace) [^\n]*[Cc]ouldn't connect to server[^\n]*; keeping generation \d+; watching .*", got[0]),
            "unreachable: READY=1 while the server is not there, STATUS says why", got)
        # a second failed pass, after the first backoff, before the server is there
        must_wait("a second failed attempt (the second 'retrying in')",
                  lambda: len(re.findall(r"retrying in [0-9.]+ s", agent.output())) >= 2, 15)
        proxy.start()
        j = notify.wait_for(lambda m: "applied" in m, 30)
        got = texts(notify)
        T.check(j is not None and all("; keeping generation" in m for m in got[:j]) and
                # the row goes beside the objects: the failed passes may have written it already
                re.fullmatch(r"STATUS=applied 2 object\(s\), deleted 0, [01] oauth client change\(s\); generation \d+; "
                             r"watching .*", got[j]),
                "unreachable: retried with backoff, then converged", got)
        out = agent.output()
        T.check(re.search(r"retrying in [0-9.]+ s", out), "unreachable: logs the backoff")
        w = writes(mark)
        T.check(w == sorted([SVC, DEP]) and node_port() == 30090, "unreachable: then one PATCH each", w)
        T.check(redirect_uris("sandbox-service") == ["http://192.0.2.10:30090/api/auth/callback"],
                "unreachable: the oauth row follows", redirect_uris("sandbox-service"))
    finally:
        T.check(agent.stop() == 0, "unreachable: exit 0 on SIGTERM")
        notify.close()
        proxy.stop()


def main():
    init(sys.argv)
    wd = scratch()
    values, state = os.path.join(wd, "values.env"), os.path.join(wd, "state")
    for step in (basic, resync, slow_apply, unreachable):
        T.case(step.__name__, step, wd, values, state)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
