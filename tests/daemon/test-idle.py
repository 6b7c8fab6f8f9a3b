#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`nap-agent run --idle-close`: a while after a pass the daemon closes its
connections, which unloads libcurl and libpq (and the LDAP, Kerberos and
GnuTLS libraries they pull in), and the next edit, SIGHUP or resync opens
them again and is applied as usual.

  - agent 1 (--idle-close=1): the libraries are mapped after the first
    pass, unmapped a second later with a smaller RSS; four cold edits are
    each applied once (one PATCH of the Service and of the Deployment, the
    oauth row updated), and the RSS after each close does not creep up; a
    SIGHUP while unloaded reloads and finds nothing to do;
  - agent 2 (--idle-close=1 --resync=3): a Service and an oauth row deleted
    while the libraries are unloaded are repaired by the next resync;
  - agent 3 (--idle-close=0): no idle timer is ever armed (its timerfds
    are all disarmed after the first pass), where agent 4 (--idle-close=30)
    has one armed for 30 s: so 0 does not fall back to the default.

Rollouts are not followed here (--rollout-timeout=0): without
kube-controller-manager no Deployment ever becomes available, so a followed
rollout would keep its watches, and libcurl, for its whole timeout.
test-rollout.py checks the idle state after rollouts settle.

    with-harness.sh test-idle.py NAP_AGENT
"""
import re
import signal
import sys

from naptest.agent import Daemon
from naptest.audit import audit
from naptest.checks import Results, must_wait, wait_until
from naptest.db import psql, redirect_uris
from naptest.harness import init, scratch
from naptest.kube import kubectl, node_port
from naptest.values import example_values

T = Results()
SVC = ("patch", "services", "nap", "nap-sandbox")
DEP = ("patch", "deployments", "nap", "nap-sandbox")


def curl_and_pq(agent):
    libs = agent.net_libs()
    return any(x.startswith("libcurl.") for x in libs) and any(x.startswith("libpq.") for x in libs)


def start(name, args, port):
    d = Daemon(scratch(name), example_values(SANDBOX_NODE_PORT=str(port)), args)
    T.check(d.ready, "%s: READY=1" % name, d.notify.snapshot())
    return d


def wait_unloaded(agent, name, timeout=5):
    ok = wait_until(lambda: not agent.net_libs(), timeout)
    T.check(ok, "%s: libcurl and libpq unloaded after the idle close" % name, agent.net_libs())
    return ok


def stop(d, name):
    rc = d.stop()
    T.check(rc == 0, "%s: exit 0 on SIGTERM" % name, d.agent.output())
    T.check(not re.search(r"(?m)^(Failed|Event loop failed)", d.agent.output()), "%s: no failure logged" % name,
            d.agent.output())


def cold_edits():
    d = start("agent1", ["--resync=0", "--idle-close=1", "--rollout-timeout=0"], 30086)
    agent, notify = d.agent, d.notify
    T.check(curl_and_pq(agent), "agent1: libcurl and libpq mapped after the first pass", agent.net_libs())
    rss_open = agent.status("VmRSS")
    wait_unloaded(agent, "agent1")
    rss_closed = [agent.status("VmRSS")]
    T.check(rss_closed[0] < rss_open - 2048, "agent1: VmRSS fell by more than 2 MiB (%d -> %d KiB)" %
            (rss_open, rss_closed[0]))

    port = 30086
    for i in range(4):
        port += 1
        n, mark = notify.count(), audit().mark()
        d.edit(SANDBOX_NODE_PORT=str(port))
        got = notify.wait_for(lambda m: m.startswith("STATUS="), 10, n)
        status = notify.snapshot(got)[0][1] if got is not None else None
        writes = sorted(w[:4] for w in audit().writes_since(mark))
        T.check(status and status.startswith("STATUS=applied 2 object(s), deleted 0, 1 oauth client change(s)"),
                "cold edit %d: applied" % (i + 1), status)
        T.check(writes == sorted([SVC, DEP]), "cold edit %d: one PATCH of the Service and one of the Deployment" %
                (i + 1), writes)
        T.check(node_port() == port, "cold edit %d: nodePort %d live" % (i + 1, port))
        T.check(redirect_uris("sandbox-service") == ["http://192.0.2.10:%d/api/auth/callback" % port],
                "cold edit %d: oauth row updated" % (i + 1), redirect_uris("sandbox-service"))
        if not wait_unloaded(agent, "cold edit %d" % (i + 1)):
            break
        rss_closed.append(agent.status("VmRSS"))
    print("# VmRSS %d KiB with the connections open; after each idle close: %s KiB" %
          (rss_open, ", ".join(str(r) for r in rss_closed)), flush=True)
    T.check(max(rss_closed[1:]) - rss_closed[1] < 512, "agent1: RSS after each close does not creep up",
            rss_closed)

    n, mark = notify.count(), audit().mark()
    agent.signal(signal.SIGHUP)
    got = notify.wait_for(lambda m: m.startswith("READY=1"), 10, n)
    msgs = [m for _, m in notify.snapshot(n)]
    T.check(got is not None and any(re.match(r"STATUS=no changes; generation \d+", m) for m in msgs),
            "agent1: SIGHUP while unloaded: reloaded, no changes", msgs)
    T.check(audit().writes_since(mark) == [], "agent1: SIGHUP wrote nothing")
    stop(d, "agent1")


def resync_repairs():
    d = start("agent2", ["--resync=3", "--idle-close=1", "--rollout-timeout=0"], 30090)
    wait_unloaded(d.agent, "agent2")
    n = d.notify.count()
    kubectl("-n", "nap", "delete", "service", "nap-sandbox", "--wait=false")
    psql("DELETE FROM oauth_clients WHERE id = 'sandbox-service'")
    got = d.notify.wait_for(lambda m: "(drift repaired)" in m, 15, n)
    T.check(got is not None, "agent2: the resync after an idle close repairs drift", d.notify.snapshot(n))
    T.check(node_port() == 30090, "agent2: the Service is back")
    T.check(redirect_uris("sandbox-service") == ["http://192.0.2.10:30090/api/auth/callback"],
            "agent2: the oauth row is back", redirect_uris("sandbox-service"))
    stop(d, "agent2")


def never_close():
    """--idle-close=0 arms no idle timer at all, where any other value arms
    one after each pass: read from the agent's timerfds once its first pass
    reported and its loop went to sleep (the fence: the loop arms its
    timers before it sleeps), so no waiting is needed to tell 0 from a
    fallback to the default 30 s. No other timer is armed either (no
    resync, no watchdog, no rollout followed, no retry)."""
    for name, idle, want in (("agent3", "0", "no timer armed"), ("agent4", "30", "one timer, due within 30 s")):
        d = start(name, ["--resync=0", "--idle-close=" + idle, "--rollout-timeout=0"], 30086)
        must_wait("%s's loop asleep after its first pass" % name, d.agent.asleep, 10)
        timers = d.agent.timers()
        # (sd-event may fire a timer up to its accuracy, 250 ms, late)
        ok = timers == [] if idle == "0" else len(timers) == 1 and 0 < timers[0] <= 30.25
        T.check(ok, "%s: --idle-close=%s: %s after the first pass" % (name, idle, want), timers)
        T.check(curl_and_pq(d.agent), "%s: libcurl and libpq still mapped" % name, d.agent.net_libs())
        stop(d, name)


def main():
    init(sys.argv)
    for case in (cold_edits, resync_repairs, never_close):
        T.case(case.__name__, case)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
