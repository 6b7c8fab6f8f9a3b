#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Rollout health (issue 16), against the harness with
kube-controller-manager (HARNESS_COMPONENTS="kube kcm pg": ReplicaSets,
Pods and the workloads' status are real; naptest.kubelet.Kubelet sets the Pods'
status as a kubelet would, and a Node object gives the DaemonSet a node).

The daemon, `nap-agent run`, each case asserting its journal line, the
STATUS= that follows and `status --json`:

  - the first pass: the Deployment (nap-sandbox) and the DaemonSet
    (sandbox-image-warmer) roll out once their pods are Ready;
  - an edit during a rollout supersedes it, and the newer one rolls out;
  - a pod in ImagePullBackOff; a Deployment past its progressDeadlineSeconds
    (a test override template sets 2 s); the DaemonSet's init container in
    ImagePullBackOff; every failure fixed by the next edit;
  - the API server killed and started again while a rollout is followed,
    with etcd moved on meanwhile (so the watches get 410 and list again):
    the rollout is still seen to complete;
  - idle once the rollouts settled: no connection to the API server, no
    libcurl, and its loop asleep with no timer armed;
  - `status --json` says "unknown" once the daemon is gone.

Then `nap-agent apply --wait` (the daemon stopped, same state directory):
exit 0 when the rollout becomes available (Deployment and DaemonSet), 1
for ImagePullBackOff, a progress deadline, an operator's change that
supersedes it, and --rollout-timeout; 0 at once when nothing changed.

    HARNESS_COMPONENTS="kube kcm pg" with-harness.sh test-rollout.py NAP_AGENT
"""
import json
import os
import re
import subprocess
import sys

from naptest import agent
from naptest.agent import Daemon
from naptest.audit import audit
from naptest.checks import Results, must_wait, wait_until
from naptest.harness import HARNESS_SH, TEMPLATES, env, init, scratch
from naptest.kube import kubectl
from naptest.kubelet import Kubelet
from naptest.values import example_values, set_keys, write_rename

T = Results()
K = Kubelet()
DEP = ("Deployment", "nap-sandbox")
DS = ("DaemonSet", "sandbox-image-warmer")
WATCHING = r"; watching .*"


class Site:
    """values.env (renamed into place on each edit), the template override
    directory and the state directory."""

    def __init__(self, wd):
        self.wd = wd
        self.values = os.path.join(wd, "values.env")
        self.state = os.path.join(wd, "state")
        self.override = os.path.join(wd, "templates.d")
        os.makedirs(self.override)
        self.text = example_values(SANDBOX_ENABLED="true", BROWSER_ENABLED="false")
        write_rename(self.values, self.text)
        self.env = {"NAP_TEMPLATES_OVERRIDE_DIR": self.override, "NAP_LOG_LEVEL": "debug"}

    def edit(self, **keys):
        self.text = set_keys(self.text, **keys)
        write_rename(self.values, self.text)

    def progress_deadline(self, seconds):
        """An override of the sandbox Deployment's template with
        spec.progressDeadlineSeconds (None: the override goes)."""
        path = os.path.join(self.override, "sandbox-deployment.json")
        if seconds is None:
            if os.path.exists(path):
                os.unlink(path)
            return
        with open(os.path.join(TEMPLATES, "sandbox-deployment.json")) as f:
            t = json.load(f)
        t["object"]["spec"]["progressDeadlineSeconds"] = seconds
        with open(path, "w") as f:
            json.dump(t, f)

    def args(self, *args):
        return list(args) + ["--values", self.values, "--state-dir", self.state]

    def run(self, *args, timeout=60):
        return agent.run(*self.args(*args), env=dict(os.environ, **self.env), timeout=timeout)

    def status(self):
        j = json.loads(agent.run_ok(*self.args("status", "--json"), env=dict(os.environ, **self.env)).out)
        # nap-cp (partial: only fields the agent sets) has no health: its rollout is the platform's
        T.check(all("health" not in o for o in j["objects"] if o.get("partial")), "status --json: no health for nap-cp",
                j["objects"])
        return {o["name"]: o.get("health") for o in j["objects"]
                if o["kind"] in ("Deployment", "DaemonSet") and not o.get("partial")}


class Following(Daemon):
    """The daemon on the site, its journal and STATUS= read since a mark."""

    def __init__(self, site, args=()):
        super().__init__(site.wd, None, ["--resync=0"] + list(args), extra_env=site.env)
        self.out = 0
        self.n = 0
        T.check(self.ready, "daemon: READY=1", self.agent.output())

    def mark(self):
        self.out, self.n = len(self.agent.output()), self.notify.count()

    def journal(self, pattern, what, timeout=30):
        """Waits for a line matching pattern in the log since the mark."""
        m = wait_until(lambda: re.search(pattern, self.agent.output()[self.out:], re.M), timeout, 0.05)
        return T.check(m, "%s: journal line /%s/" % (what, pattern), self.agent.output()[self.out:][-3000:])

    def status_line(self, pattern, what, timeout=30):
        """Waits for a STATUS= fully matching pattern since the mark."""
        rx = re.compile(pattern)
        i = self.notify.wait_for(lambda m: m.startswith("STATUS=") and rx.fullmatch(m[7:]), timeout, self.n)
        return T.check(i is not None, "%s: STATUS=%s" % (what, pattern),
                       [m for _, m in self.notify.snapshot(self.n)])

    def pass_done(self, what):
        """The pass the last edit started is over (its debug line)."""
        m = wait_until(lambda: re.search(r"pass (\d+) done", self.agent.output()[self.out:]), 15, 0.05)
        T.check(m, "%s: a pass ran" % what, self.agent.output()[self.out:])

    def stop(self):
        rc = super().stop()
        T.check(rc == 0, "daemon: exit 0 on SIGTERM", self.agent.output()[-2000:])


def check_health(site, name, state, reason=None, what=""):
    h = site.status().get(name)
    ok = h and h["state"] == state and (reason is None or h["reason"] == reason) and \
        (h["since"] is not None) == (state != "unknown")
    T.check(ok, "%s: status --json health of %s is %s%s" % (what, name, state, " (%s)" % reason if reason else ""),
            h)
    return h


def pod_names(kind, name):
    return [p["metadata"]["name"] for p in K.current_pods(kind, name)]


# ---- the daemon --------------------------------------------------------------------

def both_rolled_out(d, site, generation, what, old_dep=(), old_ds=()):
    """The new pods of both made Ready: each rolled out, STATUS= and health say so."""
    K.roll_out(*DEP, exclude=old_dep)
    K.roll_out(*DS, exclude=old_ds)
    d.journal(r"^nap-sandbox: rolled out in \d+ s \(1/1 available\)$", what)
    d.journal(r"^sandbox-image-warmer: rolled out in \d+ s \(1/1 available\)$", what)
    d.status_line(r"generation %d applied; 2/2 workloads available" % generation + WATCHING, what)
    check_health(site, "nap-sandbox", "available", what=what)
    check_health(site, "sandbox-image-warmer", "available", what=what)


def first_rollout(d, site):
    both_rolled_out(d, site, 1, "first pass")


def superseded(d, site):
    what = "superseded"
    old = pod_names(*DEP)
    d.mark()
    site.edit(PLATFORM_IMAGE_PREFIX="registry.invalid/s1")
    d.pass_done(what)
    K.wait_pods(*DEP, exclude=old)  # the rollout of generation 2 is under way
    check_health(site, "nap-sandbox", "progressing", what=what)
    mid = pod_names(*DEP)
    d.mark()
    site.edit(PLATFORM_IMAGE_PREFIX="registry.invalid/s2")
    d.journal(r"^nap-sandbox: rollout of generation 2 superseded by generation 3$", what)
    K.roll_out(*DEP, exclude=old + mid)
    d.journal(r"^nap-sandbox: rolled out in \d+ s \(1/1 available\)$", what)
    d.status_line(r"generation 3 applied; 2/2 workloads available" + WATCHING, what)
    check_health(site, "nap-sandbox", "available", what=what)


def image_pull_backoff(d, site):
    what = "ImagePullBackOff"
    old = pod_names(*DEP)
    mark = audit().mark()
    d.mark()
    site.edit(PLATFORM_IMAGE_PREFIX="registry.invalid/s3")
    pod = K.wait_pods(*DEP, exclude=old)[0]
    K.waiting(pod, "sandbox", "ImagePullBackOff")
    d.journal(r"^nap-sandbox: failing: ImagePullBackOff for registry\.invalid/s3-sandbox:latest \(pod %s\)$"
              % re.escape(pod["metadata"]["name"]), what)
    d.status_line(r"generation 4 applied; 1/2 workloads available, nap-sandbox failing: ImagePullBackOff" + WATCHING,
                  what)
    check_health(site, "nap-sandbox", "failing", "ImagePullBackOff", what)
    # a rollout's outcome never triggers a write: the edit's one PATCH, nothing after
    writes = [w[:4] for w in audit().writes_since(mark)]
    T.check(writes == [("patch", "deployments", "nap", "nap-sandbox")], "%s: no write but the edit's" % what,
            writes)


def progress_deadline(d, site):
    what = "ProgressDeadlineExceeded"
    d.mark()
    site.progress_deadline(2)
    site.edit(PLATFORM_IMAGE_PREFIX="registry.invalid/s4")
    d.journal(r"^nap-sandbox: failing: ProgressDeadlineExceeded: ReplicaSet \\?\"nap-sandbox-[a-z0-9]+\\?\" has timed "
              r"out progressing\. \(0/1 available\)$", what)
    d.status_line(r"generation 5 applied; 1/2 workloads available, nap-sandbox failing: ProgressDeadlineExceeded"
                  + WATCHING, what)
    check_health(site, "nap-sandbox", "failing", "ProgressDeadlineExceeded", what)


def daemonset_failing(d, site):
    what = "DaemonSet ImagePullBackOff"
    old = pod_names(*DS)
    d.mark()
    site.edit(RUNTIME_NODE_IMAGE="registry.invalid/node:22")
    # while a rollout fails, the pass's own STATUS= carries the summary
    d.status_line(r"applied 1 object\(s\), deleted 0, 0 oauth client change\(s\); generation 6; 0/2 workloads "
                  r"available, nap-sandbox failing: ProgressDeadlineExceeded, sandbox-image-warmer rolling out"
                  + WATCHING, what + ": the pass")
    pod = K.wait_pods(*DS, exclude=old)[0]
    K.waiting(pod, "pull-node-22", "ImagePullBackOff", init=True)
    d.journal(r"^sandbox-image-warmer: failing: ImagePullBackOff for registry\.invalid/node:22 \(pod %s\)$"
              % re.escape(pod["metadata"]["name"]), what)
    d.status_line(r"generation 6 applied; 0/2 workloads available, nap-sandbox failing: ProgressDeadlineExceeded, "
                  r"sandbox-image-warmer failing: ImagePullBackOff" + WATCHING, what)
    check_health(site, "sandbox-image-warmer", "failing", "ImagePullBackOff", what)


def fixed(d, site):
    what = "fixed"
    old_dep, old_ds = pod_names(*DEP), pod_names(*DS)
    d.mark()
    site.progress_deadline(None)
    site.edit(PLATFORM_IMAGE_PREFIX="registry.invalid/s5", RUNTIME_NODE_IMAGE="registry.invalid/node:23")
    both_rolled_out(d, site, 7, what, old_dep, old_ds)


def apiserver_restart(d, site):
    """Killed while the rollout is followed; etcd moves on while it is away."""
    what = "API server restart"
    old = pod_names(*DEP)
    d.mark()
    site.edit(PLATFORM_IMAGE_PREFIX="registry.invalid/s6")
    K.wait_pods(*DEP, exclude=old)
    # the watches of the Deployment's pods are open
    T.check(wait_until(lambda: re.search(r"kube: listed /api/v1/namespaces/nap/pods", d.agent.output()[d.out:]), 10),
            "%s: the rollout is followed" % what)
    subprocess.run([HARNESS_SH, "apiserver-stop", env("NAP_HARNESS_DIR"), "KILL"], check=True, timeout=30,
                   capture_output=True)
    subprocess.run(["etcdctl", "--endpoints=http://127.0.0.1:%s" % env("NAP_ETCD_PORT"), "put", "/nap-test/bump",
                    "x"], check=True, timeout=30, capture_output=True, env=dict(os.environ, ETCDCTL_API="3"))
    subprocess.run([HARNESS_SH, "apiserver-start", env("NAP_HARNESS_DIR")], check=True, timeout=90,
                   capture_output=True)
    K.roll_out(*DEP, exclude=old, timeout=60)
    d.journal(r"^nap-sandbox: rolled out in \d+ s \(1/1 available\)$", what, timeout=60)
    d.status_line(r"generation 8 applied; 2/2 workloads available" + WATCHING, what)
    log = d.agent.output()[d.out:]
    T.check(re.search(r"kube: watch of \S+ broke", log), "%s: the watches broke" % what, log[-3000:])
    T.check(re.search(r"kube: watch of \S+ expired at resourceVersion \d+: listing again", log),
            "%s: 410: listed again from scratch" % what, log[-3000:])


def tcp_peers(pid):
    """Remote ports of the process's TCP sockets (IPv4 and IPv6)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = []
    for table in ("tcp", "tcp6"):
        with open("/proc/%d/net/%s" % (pid, table)) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[9] in inodes:
                    ports.append(int(cols[2].rsplit(":", 1)[1], 16))
    return ports


def idle(d, site):
    """Once the rollouts settled: no watch, no connection, no timer."""
    what = "idle"
    kube_port = int(env("NAP_KUBE_PORT"))
    a = d.agent
    T.check(wait_until(lambda: re.search(r"rollouts: nothing followed any more", a.output()[d.out:]), 10),
            "%s: the watches were closed" % what)
    T.check(wait_until(lambda: not a.net_libs(), 10), "%s: libcurl and libpq unloaded (idle close)" % what,
            a.net_libs())
    T.check(kube_port not in tcp_peers(a.pid), "%s: no connection to the API server" % what, tcp_peers(a.pid))
    # The loop asleep (the fence: it arms its timers before it sleeps) with
    # no timer armed: nothing but an edit or a signal can wake it.
    must_wait("the loop to sleep in epoll_wait", a.asleep, 10)
    T.check(a.timers() == [], "%s: asleep with no timer armed (no wake-up to come)" % what, a.timers())


def daemon_cases(site):
    K.ensure_node()
    d = Following(site, ["--idle-close=1", "--rollout-timeout=120"])
    try:
        for case in (first_rollout, superseded, image_pull_backoff, progress_deadline, daemonset_failing, fixed,
                     apiserver_restart, idle):
            T.case(case.__name__, case, d, site)
    finally:
        d.stop()
        out = d.agent.output()
        T.check(not re.search(r"(?m)^(Failed|Event loop failed)", out), "daemon: no failure logged",
                re.findall(r"(?m)^(?:Failed|Event loop failed).*$", out))
    h = site.status()
    T.check(h and all(x["state"] == "unknown" and x["since"] is None for x in h.values()),
            "no daemon: status --json says unknown", h)
    p = site.run("status")
    T.check("health unknown: the daemon is not running" in p.out, "no daemon: status says unknown", p.out)


# ---- apply --wait -------------------------------------------------------------------

class Wait:
    """`nap-agent apply --wait` in the background."""

    def __init__(self, site, *args):
        e = dict(os.environ, **site.env)
        e.pop("NAP_LOG_LEVEL")
        self.p = subprocess.Popen([agent.BINARY] + site.args("apply", "--wait", *args), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=e)

    def result(self, timeout=60):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
        return self.p.returncode, out


def expect_wait(w, rc, pattern, what):
    code, out = w.result()
    T.check(code == rc and re.search(pattern, out, re.M), "apply --wait, %s: exit %d, /%s/" % (what, rc, pattern),
            "exit %s:\n%s" % (code, out))


def superseded_by_hand(old):
    K.wait_pods(*DEP, exclude=old)
    kubectl("-n", "nap", "set", "image", "deployment/nap-sandbox", "sandbox=registry.invalid/by-hand:1")


# (what, progressDeadlineSeconds to set (0: leave it), the edit, the workload
# and what the cluster then does to its new pods, `apply --wait`'s exit status
# and a line it prints, more arguments)
WAIT_CASES = [
    ("available", 0, {"PLATFORM_IMAGE_PREFIX": "registry.invalid/w1"}, DEP, lambda old: K.roll_out(*DEP, exclude=old),
     0, r"^nap-sandbox: rolled out in \d+ s \(1/1 available\)$", ()),
    ("ImagePullBackOff", 0, {"PLATFORM_IMAGE_PREFIX": "registry.invalid/w2"}, DEP,
     lambda old: K.waiting(K.wait_pods(*DEP, exclude=old)[0], "sandbox", "ImagePullBackOff"),
     1, r"^rollout failed: nap-sandbox: failing: ImagePullBackOff for registry\.invalid/w2-sandbox:latest", ()),
    ("progress deadline", 2, {"PLATFORM_IMAGE_PREFIX": "registry.invalid/w3"}, DEP, None,
     1, r"^rollout failed: nap-sandbox: failing: ProgressDeadlineExceeded", ()),
    ("a DaemonSet", 0, {"RUNTIME_PYTHON_IMAGE": "registry.invalid/python:3"}, DS,
     lambda old: K.roll_out(*DS, exclude=old), 0, r"^sandbox-image-warmer: rolled out in \d+ s \(1/1 available\)$", ()),
    ("superseded by an operator's change", None, {"PLATFORM_IMAGE_PREFIX": "registry.invalid/w5"}, DEP,
     superseded_by_hand, 1, r"^rollout failed: nap-sandbox: failing: superseded by generation \d+, which this apply "
     r"did not write", ()),
    ("timeout", 0, {"PLATFORM_IMAGE_PREFIX": "registry.invalid/w6"}, DEP, None,
     1, r"^rollout failed: nap-sandbox: failing: not available after 3 s \(0/1 available", ("--rollout-timeout", "3")),
    ("nothing changed", 0, {}, DEP, None, 0, r"no rollout to wait for", ()),
]


def wait_cases(site):
    for what, deadline, edit, workload, act, rc, pattern, args in WAIT_CASES:
        old = pod_names(*workload)
        if deadline != 0:
            site.progress_deadline(deadline)
        if edit:
            site.edit(**edit)
        w = Wait(site, *args)
        if act:
            act(old)
        expect_wait(w, rc, pattern, what)  # the timeout case's message names the 3 s it waited


def main():
    init(sys.argv)
    site = Site(scratch())
    T.case("the daemon", daemon_cases, site)
    T.case("apply --wait", wait_cases, site)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
