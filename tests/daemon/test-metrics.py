#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The daemon's metrics (issue 20) as Prometheus gets them: `nap-agent run
--metrics-dir DIR` writes nap-agent.prom after its passes and the rollouts
it follows, and the real node_exporter (Debian's prometheus-node-exporter,
started on a free loopback port with only its textfile collector reading
DIR) serves the nap_agent_ series with the values of the pass that just
ran. Each check scrapes after a fence the daemon gives: READY=1 or a
STATUS= after the pass (the file is written before it), never after a
sleep.

  - the first pass: passes by result, generation (= `status --json`),
    values valid, the oauth client registered, the lock held, and the
    requests by verb and kind equal to what the apiserver's audit log
    recorded of the agent (rollouts not followed here, so every request
    has completed); promtool check metrics accepts the daemon's file;
  - values.env refused: values_valid 0 since then, a refused pass;
  - the database unreachable (a DATABASE_URL in values.env to a closed
    port) while the edit changes a redirect URI: a failed pass with the
    row pending; fixed, a success and nothing pending;
  - SIGTERM: the last file says the lock is no longer held;
  - a second daemon following rollouts (kube-controller-manager and the
    stand-in kubelet): each workload's health as a state set, available,
    then failing (ImagePullBackOff), with the time it entered the state.

    HARNESS_COMPONENTS="kube kcm pg" with-harness.sh test-metrics.py NAP_AGENT
"""
import os
import re
import shutil
import subprocess
import sys
import time

from naptest import agent
from naptest.agent import Daemon
from naptest.audit import audit
from naptest.checks import Results, check
from naptest.harness import env, free_port, init, scratch
from naptest.kube import ensure_namespace
from naptest.kubelet import Kubelet
from naptest.nodeexporter import NodeExporter
from naptest.values import example_values, set_keys

T = Results()
K = Kubelet()

# The apiserver's resources as the metrics name their kinds.
KINDS = {"secrets": "Secret", "services": "Service", "configmaps": "ConfigMap", "namespaces": "Namespace",
         "serviceaccounts": "ServiceAccount", "deployments": "Deployment", "statefulsets": "StatefulSet",
         "daemonsets": "DaemonSet", "replicasets": "ReplicaSet", "pods": "Pod", "leases": "Lease"}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def expect(samples, name, want, what, **labels):
    got = value(samples, name, **labels)
    check(got == want, "%s: %s%s is %s, want %s" % (what, name, labels or "", got, want))


def audit_requests(mark):
    """The agent's requests the audit log recorded since mark, by (verb,
    kind) as the metrics count them: a PATCH with the agent's field
    manager and force is a server-side apply."""
    counts = {}
    for r in audit().requests_since(mark):
        verb = r.verb
        if verb == "patch" and "fieldManager=nap-agent" in r.uri and "force=true" in r.uri:
            verb = "apply"
        key = (verb, KINDS.get(r.resource, "other"))
        counts[key] = counts.get(key, 0) + 1
    return counts


def metric_requests(samples):
    return {(dict(k[1])["verb"], dict(k[1])["kind"]): int(v) for k, v in samples.items()
            if k[0] == "nap_agent_kube_requests_total"}


class Site:
    """values.env (DATABASE_URL in it, so an edit can break the database),
    the state directory and the metrics directory node_exporter reads."""

    def __init__(self):
        self.dir = scratch("site")
        self.metrics = scratch("textfile")
        os.makedirs(self.metrics)
        self.good_db = env("DATABASE_URL")
        self.text = example_values(SANDBOX_ENABLED="true", BROWSER_ENABLED="false", DATABASE_URL=self.good_db)
        self.env = {"DATABASE_URL": ""}  # values.env's DATABASE_URL is the one used

    def daemon(self, *args):
        d = Daemon(self.dir, self.text, ["--resync=600", "--metrics-dir", self.metrics] + list(args),
                   extra_env=self.env)
        check(d.ready, "daemon: no READY=1:\n" + d.agent.output()[-3000:])
        return d

    def generation(self, d):
        return agent.status_json(d.state)["generation"]


def first_pass(site, ne, d, mark):
    s = ne.scrape()
    expect(s, "nap_agent_passes_total", 1, "first pass", result="success")
    expect(s, "nap_agent_passes_total", 0, "first pass", result="failure")
    expect(s, "nap_agent_passes_total", 0, "first pass", result="refused")
    expect(s, "nap_agent_last_pass_success", 1, "first pass")
    expect(s, "nap_agent_generation", site.generation(d), "first pass (status --json)")
    expect(s, "nap_agent_values_valid", 1, "first pass")
    expect(s, "nap_agent_state_lock_held", 1, "first pass")
    expect(s, "nap_agent_resync_interval_seconds", 600, "first pass")
    expect(s, "nap_agent_oauth_clients", 1, "first pass", state="registered")
    expect(s, "nap_agent_pending_changes", 0, "first pass")
    check(value(s, "nap_agent_last_pass_timestamp_seconds") == value(s, "nap_agent_last_success_timestamp_seconds"),
          "first pass: its end is the last success")
    expect(s, "node_textfile_scrape_error", 0, "node_exporter read the file")
    got, want = metric_requests(s), audit_requests(mark)
    check(got == want, "requests by verb and kind: metrics %s, audit log %s" % (sorted(got.items()),
                                                                               sorted(want.items())))
    check(want.get(("apply", "Deployment")), "the pass applied a Deployment: %s" % want)
    print("  requests: %s" % ", ".join("%s %s %d" % (v, k, n) for (v, k), n in sorted(got.items())))
    promtool = os.environ.get("NAP_PROMTOOL") or shutil.which("promtool")
    check(promtool, "no promtool (Debian: apt install prometheus)")
    r = subprocess.run([promtool, "check", "metrics"], stdin=open(os.path.join(site.metrics, "nap-agent.prom")),
                       capture_output=True, text=True)
    check(r.returncode == 0, "promtool check metrics on the daemon's file: %s%s" % (r.stdout, r.stderr))


def refused(site, ne, d):
    n = d.notify.count()
    gen = site.generation(d)
    t0 = time.time()
    d.edit(SANDBOX_NODE_PORT="99999")
    check(d.notify.wait_for(lambda m: m.startswith("STATUS=") and "SANDBOX_NODE_PORT" in m, 20, n) is not None,
          "refused: no STATUS= naming the key")
    s = ne.scrape()
    expect(s, "nap_agent_values_valid", 0, "refused")
    expect(s, "nap_agent_passes_total", 1, "refused", result="refused")
    expect(s, "nap_agent_last_pass_success", 0, "refused")
    expect(s, "nap_agent_generation", gen, "refused: the generation is kept")
    since = value(s, "nap_agent_values_last_transition_timestamp_seconds")
    check(since is not None and t0 - 1 <= since <= time.time() + 1, "refused: valid 0 since the edit (%s)" % since)


def db_down_then_up(site, ne, d):
    port = str(free_port())
    bad = re.sub(r"@([^/:]+)(:\d+)?/", "@127.0.0.1:%s/" % port, site.good_db)
    check(bad != site.good_db, "could not point DATABASE_URL elsewhere: %s" % site.good_db)
    n = d.notify.count()
    d.edit(SANDBOX_NODE_PORT="30086", DATABASE_URL=bad, SANDBOX_PUBLIC_URL="http://metrics.test:30086")
    check(d.notify.wait_for(lambda m: m.startswith("STATUS=Failed to sync oauth_clients"), 30, n) is not None,
          "database down: no failed pass: %s" % d.notify.statuses(n))
    s = ne.scrape()
    check(value(s, "nap_agent_passes_total", result="failure") >= 1, "database down: a failed pass counted")
    expect(s, "nap_agent_last_pass_success", 0, "database down")
    expect(s, "nap_agent_pending_changes", 1, "database down: the row is pending")
    expect(s, "nap_agent_values_valid", 1, "database down: values.env is valid again")
    last_success = value(s, "nap_agent_last_success_timestamp_seconds")
    check(value(s, "nap_agent_last_pass_timestamp_seconds") > last_success, "database down: no success since")
    n = d.notify.count()
    d.edit(DATABASE_URL=site.good_db)
    check(d.notify.wait_for(lambda m: re.match(r"STATUS=applied .*; generation \d+", m), 30, n) is not None,
          "database up: no pass applied: %s" % d.notify.statuses(n))
    s = ne.scrape()
    expect(s, "nap_agent_passes_total", 2, "database up", result="success")
    expect(s, "nap_agent_pending_changes", 0, "database up")
    expect(s, "nap_agent_generation", site.generation(d), "database up (status --json)")
    check(value(s, "nap_agent_last_success_timestamp_seconds") > last_success, "database up: a new last success")


def stopped(site, ne, d):
    rc = d.stop()
    check(rc == 0, "SIGTERM: exit %s" % rc)
    s = ne.scrape()
    expect(s, "nap_agent_state_lock_held", 0, "stopped: the last file")
    expect(s, "nap_agent_passes_total", 2, "stopped: the numbers stay", result="success")


def daemon_without_rollouts(site, ne):
    ensure_namespace("nap")
    mark = audit().mark()
    d = site.daemon("--rollout-timeout=0")
    try:
        T.case("first pass: its numbers served by node_exporter, the requests as the audit log has them",
               first_pass, site, ne, d, mark)
        T.case("values.env refused: values_valid 0 since the edit", refused, site, ne, d)
        T.case("database unreachable: a failed pass, the row pending; then applied", db_down_then_up, site, ne, d)
        T.case("SIGTERM: the last file says the daemon stopped", stopped, site, ne, d)
    finally:
        if d.agent.proc.poll() is None:
            d.stop()


def health(s, kind, name):
    states = {dict(k[1])["state"]: v for k, v in s.items()
              if k[0] == "nap_agent_workload_health" and dict(k[1])["kind"] == kind and dict(k[1])["workload"] == name}
    return states


def rollouts(site, ne):
    K.ensure_node()
    K.start_auto()
    d = None
    try:
        d = site.daemon()
        check(d.notify.wait_for(lambda m: re.match(r"STATUS=generation \d+ applied; 2/2 workloads available", m), 60)
              is not None, "no STATUS= with both workloads available: %s" % d.notify.snapshot())
        s = ne.scrape()
        for kind, name in (("Deployment", "nap-sandbox"), ("DaemonSet", "sandbox-image-warmer")):
            h = health(s, kind, name)
            check(h == {"available": 1, "progressing": 0, "failing": 0, "unknown": 0},
                  "%s %s: health state set %s" % (kind, name, h))
        K.stop_auto()
        K.auto_stop = None
        old = [p["metadata"]["name"] for p in K.current_pods("Deployment", "nap-sandbox")]
        n = d.notify.count()
        t0 = time.time()
        d.edit(PLATFORM_IMAGE_PREFIX="registry.invalid/metrics")
        pod = K.wait_pods("Deployment", "nap-sandbox", exclude=old)[0]
        K.waiting(pod, "sandbox", "ImagePullBackOff")
        check(d.notify.wait_for(lambda m: "nap-sandbox failing: ImagePullBackOff" in m, 30, n) is not None,
              "no STATUS= with nap-sandbox failing: %s" % d.notify.statuses(n))
        s = ne.scrape()
        h = health(s, "Deployment", "nap-sandbox")
        check(h == {"available": 0, "progressing": 0, "failing": 1, "unknown": 0}, "nap-sandbox failing: %s" % h)
        since = value(s, "nap_agent_workload_health_last_transition_timestamp_seconds", kind="Deployment",
                      workload="nap-sandbox")
        check(since is not None and t0 - 1 <= since <= time.time() + 1, "failing since the edit: %s" % since)
    finally:
        if getattr(K, "auto_stop", None):
            K.stop_auto()
        if d:
            d.stop()


def main():
    init(sys.argv)
    site = Site()
    ne = NodeExporter(site.metrics)
    try:
        T.case("the daemon without rollouts", daemon_without_rollouts, site, ne)
        T.case("workload health, following rollouts", rollouts, site, ne)
    finally:
        ne.stop()
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
