#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 19, items 3 and 6: `nap-agent run` (its default --close-wait and
--settle) sees every edit of values.env however the file is reached, and
says which file cannot be used and why.

Each of these is applied by exactly one pass (one STATUS=, one PATCH of
the Service and of the Deployment in the apiserver's audit log, one write
of the oauth row), counted up to a fence (a comment renamed into the file,
and the first pass after the daemon saw it, done):

  - a symlinked directory re-pointed: `ln -s releases/2 current.tmp &&
    mv -T current.tmp current` (and back), then an edit of the new target;
    an edit of the old one applies nothing;
  - Kubernetes' `..data` swap (new timestamped directory, `..data_tmp`
    renamed over `..data`), the old directory kept, then removed right
    after the swap as the kubelet does;
  - an edit written through a hard link in another directory (and a
    rename over that link, which leaves the file alone: nothing);
  - a writer that keeps values.env open and pauses 2 s mid-file, its first
    half a valid file on its own that would change the Service: no half
    is applied, the whole is, once, when the writer closes it.

A file removed and made anew that gets the inode number of the one before
(as ext4, XFS and tmpfs hand freed numbers out again), both done while
the daemon is stopped so that it reads the two events at once: it is
another file all the same (a FIFO so made is refused; a regular file so
made is watched anew, an edit through a hard link to it is applied).

And with values.env deleted, a directory, a dangling symlink, and not
readable by the daemon's user (the daemon runs as nobody there): the
pass's STATUS= and the daemon's journal line name the file and the
reason, nothing is written, and the file made good again is applied.

    with-harness.sh test-watch.py NAP_AGENT
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from naptest.agent import Agent, NotifySocket
from naptest.audit import audit
from naptest.checks import Results, check, must_wait, wait_until
from naptest.db import new_installation, oauth_log_last, oauth_log_setup, oauth_log_since
from naptest.harness import env, init, scratch
from naptest.kube import node_port
from naptest.values import example_values, set_key, write_in_place, write_rename

T = Results()
SVC = ("patch", "services", "nap", "nap-sandbox")
DEP = ("patch", "deployments", "nap", "nap-sandbox")
APPLIED = re.compile(r"STATUS=applied 2 object\(s\), deleted 0, 1 oauth client change\(s\); generation \d+; watching .*")


def values(port):
    return example_values(SANDBOX_NODE_PORT=str(port))


class Watched:
    """`nap-agent run` with its default --close-wait and --settle on a
    values.env path the case laid out (debug log: the fence reads it)."""

    def __init__(self, d, path, prefix=(), kubeconfig=None):
        self.dir, self.path = d, path
        new_installation()  # a ledger of its own: the rows of the case before are not its own
        self.notify = NotifySocket(d)
        if prefix:
            os.chmod(self.notify.path, 0o777)
        self.agent = Agent(d, path, os.path.join(d, "state"), kubeconfig or env("KUBECONFIG"), ["--resync=0"],
                           notify=self.notify, extra_env={"NAP_LOG_LEVEL": "debug"}, prefix=prefix)
        self.fences = 0
        check(self.notify.wait_for(lambda m: "READY=1" in m, 30) is not None, "%s: READY=1" % path)

    def fence(self, n):
        """The passes' STATUS= since n, once every pass an event before
        this call caused has reported: a comment renamed into the file the
        path leads to, and the first pass that started after the daemon
        saw it, done (events are judged in order, passes run one at a
        time); that pass's own STATUS= is left out."""
        real = os.path.realpath(self.path)
        time.sleep(0.15)  # outside the 100 ms burst window of the edit before: a pass of its own
        o = len(self.agent.output())
        self.fences += 1
        with open(real) as f:
            text = f.read()
        write_rename(real, text + "# fence %d\n" % self.fences)
        seen = must_wait("the fence's rename seen", lambda: re.search(
            r"edit complete: '[^']*' renamed into place", self.agent.output()[o:]), 10, 0.02)
        p = o + seen.end()
        started = must_wait("a pass after the fence", lambda: re.search(r"pass (\d+) starting",
                                                                       self.agent.output()[p:]), 10, 0.02)
        must_wait("the fence's pass done", lambda: "pass %s done" % started.group(1) in self.agent.output(), 15, 0.02)
        self.notify.sync()
        return [m for _, m in self.notify.snapshot(n) if m.startswith("STATUS=")][:-1]

    def expect_one_pass(self, name, act, port):
        """act() is applied by exactly one pass, its writes once each."""
        n, mark, logn = self.notify.count(), audit().mark(), oauth_log_last()
        act()
        check(self.notify.wait_for(lambda m: m.startswith("STATUS=applied"), 15, n) is not None,
              "%s: no pass applied it: %s" % (name, self.notify.snapshot(n)))
        statuses = self.fence(n)
        writes = sorted(w[:4] for w in audit().writes_since(mark))
        uri = "http://192.0.2.10:%d/api/auth/callback" % port
        T.check(len(statuses) == 1 and APPLIED.fullmatch(statuses[0]), "%s: exactly one pass, applied" % name,
                statuses)
        T.check(writes == sorted([SVC, DEP]), "%s: one PATCH of the Service and one of the Deployment" % name, writes)
        T.check([r[1:] for r in oauth_log_since(logn)] == [("UPDATE", "sandbox-service", uri)],
                "%s: one write of the oauth row" % name, oauth_log_since(logn))
        T.check(node_port() == port, "%s: nodePort %d live" % (name, port), node_port())

    def expect_no_pass(self, name, act):
        n, mark = self.notify.count(), audit().mark()
        act()
        statuses = self.fence(n)
        T.check(statuses == [], "%s: no pass" % name, statuses)
        T.check(audit().writes_since(mark) == [], "%s: nothing written" % name, audit().writes_since(mark))

    def stop(self):
        rc = self.agent.stop()
        self.notify.close()
        return rc


def sh(*args):
    subprocess.run(list(args), check=True)


def directory_symlink():
    d = scratch("dirlink")
    for k, port in (("1", 30301), ("2", 30302)):
        os.makedirs(os.path.join(d, "releases", k))
        write_in_place(os.path.join(d, "releases", k, "values.env"), values(port))
    os.symlink("releases/1", os.path.join(d, "current"))
    w = Watched(d, os.path.join(d, "current", "values.env"))
    try:
        check(node_port() == 30301, "dirlink: the first release applied")

        def repoint(release):
            return lambda: (sh("ln", "-s", "releases/" + release, os.path.join(d, "current.tmp")),
                            sh("mv", "-T", os.path.join(d, "current.tmp"), os.path.join(d, "current")))
        w.expect_one_pass("ln -s releases/2 current.tmp && mv -T current.tmp current", repoint("2"), 30302)
        w.expect_one_pass("the link re-pointed back to releases/1", repoint("1"), 30301)
        w.expect_one_pass("the link re-pointed to releases/2 again", repoint("2"), 30302)
        w.expect_one_pass("the new target edited in place",
                          lambda: write_in_place(os.path.join(d, "releases", "2", "values.env"), values(30303)), 30303)
        w.expect_no_pass("the old target edited",
                         lambda: write_in_place(os.path.join(d, "releases", "1", "values.env"), values(30304)))
    finally:
        T.check(w.stop() == 0, "dirlink: exit 0 on SIGTERM")


def data_swap():
    """The kubelet's AtomicWriter: values.env -> ..data/values.env,
    ..data -> ..<timestamp>; an update writes a new timestamped directory,
    points ..data_tmp at it and renames it over ..data."""
    d = scratch("configmap")
    os.makedirs(d)
    generation = [0]

    def new_dir(port):
        generation[0] += 1
        ts = "..2024_06_01_12_00_%02d.%d" % (generation[0], os.getpid())
        os.mkdir(os.path.join(d, ts))
        write_in_place(os.path.join(d, ts, "values.env"), values(port), 0o644)
        return ts

    first = new_dir(30311)
    os.symlink(first, os.path.join(d, "..data"))
    os.symlink("..data/values.env", os.path.join(d, "values.env"))
    w = Watched(d, os.path.join(d, "values.env"))
    try:
        check(node_port() == 30311, "configmap: the first version applied")
        old = [first]

        def swap(port, remove_old):
            def act():
                ts = new_dir(port)
                os.symlink(ts, os.path.join(d, "..data_tmp"))
                os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
                if remove_old:
                    shutil.rmtree(os.path.join(d, old[0]))
                old[0] = ts
            return act
        w.expect_one_pass("..data swap, the old directory kept", swap(30312, False), 30312)
        w.expect_one_pass("..data swap, the old directory removed after it", swap(30313, True), 30313)
        w.expect_one_pass("..data swap again, the old directory removed", swap(30314, True), 30314)
    finally:
        T.check(w.stop() == 0, "configmap: exit 0 on SIGTERM")


def hard_link():
    """The fence renames a new file over values.env, which leaves the link
    on the old one: each edit makes the link anew first (a link made is no
    edit: the first check)."""
    d = scratch("hardlink")
    os.makedirs(os.path.join(d, "etc"))
    os.makedirs(os.path.join(d, "elsewhere"))
    path, link = os.path.join(d, "etc", "values.env"), os.path.join(d, "elsewhere", "values.env.link")
    write_in_place(path, values(30321))
    w = Watched(d, path)

    def relink():
        if os.path.lexists(link):
            os.unlink(link)
        os.link(path, link)

    def through_link(port):
        return lambda: (relink(), write_in_place(link, values(port)))
    try:
        w.expect_no_pass("a hard link made in another directory", relink)
        w.expect_one_pass("an edit through a hard link in another directory", through_link(30322), 30322)
        w.expect_one_pass("another edit through it", through_link(30323), 30323)
        # a rename over the link makes it another file: values.env is left alone
        w.expect_no_pass("a file renamed over the hard link", lambda: (relink(), write_rename(link, values(30324))))
        T.check(node_port() == 30323, "the file renamed over the link is not applied", node_port())
    finally:
        T.check(w.stop() == 0, "hardlink: exit 0 on SIGTERM")


def paused_writer():
    """The first half alone is a valid file (SANDBOX_NODE_PORT, last, is in
    the second half; without it the port would be the default 30086)."""
    d = scratch("paused")
    os.makedirs(d)
    path = os.path.join(d, "values.env")
    write_in_place(path, values(30331))
    w = Watched(d, path)
    try:
        full = set_key(values(30331), "SANDBOX_NODE_PORT", None) + "SANDBOX_NODE_PORT=30332\n"
        first, second = full[:full.rindex("SANDBOX_NODE_PORT=")], "SANDBOX_NODE_PORT=30332\n"
        check(first.endswith("\n") and "SANDBOX_NODE_PORT" not in first, "the first half ends a line, no port")
        o = len(w.agent.output())

        def write_with_pause():
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, first.encode())
                time.sleep(2.0)  # the writer pausing mid-file: the scenario, not a wait for the daemon
                os.write(fd, second.encode())
            finally:
                os.close(fd)
        w.expect_one_pass("a writer pausing 2 s mid-file", write_with_pause, 30332)
        log = w.agent.output()[o:]
        T.check("edit in progress" in log and re.search(r"edit complete: '[^']*' closed after writing", log),
                "paused writer: seen writing, applied at its close", log)
        T.check("has kept it open" not in log, "paused writer: no warning (it closed within --close-wait)")
    finally:
        T.check(w.stop() == 0, "paused: exit 0 on SIGTERM")


def bad_file(w, name, act, reason, restore, port, status_re=None, line_re=None):
    """act() makes values.env unusable: one pass whose STATUS= and whose
    journal line say reason (a regular expression), nothing written; then
    restore() is applied by one pass. status_re, line_re: the STATUS= and
    the line when they are not a pass's (no values.env at all)."""
    n, mark, o = w.notify.count(), audit().mark(), len(w.agent.output())
    act()
    i = w.notify.wait_for(lambda m: m.startswith("STATUS="), 15, n)
    status = w.notify.snapshot()[i][1] if i is not None else ""
    want = reason + r": nothing applied, nothing deleted; keeping generation \d+"
    status_re = status_re or want + "; watching .*"
    line_re = line_re or want + "; waiting for the next edit"
    T.check(re.fullmatch("STATUS=" + status_re, status), "%s: STATUS= names the file and why" % name,
            w.notify.snapshot(n))
    line = must_wait("%s: the daemon's line" % name,
                     lambda: re.search("(?m)^" + line_re + "$", w.agent.output()[o:]), 10)
    T.check(line, "%s: the daemon's line names the file and why" % name)
    T.check(audit().writes_since(mark) == [], "%s: nothing written" % name, audit().writes_since(mark))
    T.check(w.agent.proc.poll() is None, "%s: the daemon runs on" % name)
    w.expect_one_pass("%s, then made good" % name, restore, port)


def reasons():
    d = scratch("reasons")
    os.makedirs(d)
    path = os.path.join(d, "values.env")
    q = re.escape(path)
    write_in_place(path, values(30341))
    w = Watched(d, path)
    try:
        def remove():
            if os.path.isdir(path) and not os.path.islink(path):
                os.rmdir(path)
            else:
                os.unlink(path)

        # no values.env at all: no pass, the daemon waits for one (its only
        # candidate here, --values) to appear
        bad_file(w, "deleted", remove, "'%s' is missing" % q, lambda: write_in_place(path, values(30342)), 30342,
                 status_re="waiting for values.env at '%s': '%s' is gone; nothing applied, nothing deleted" % (q, q),
                 line_re="'%s' is gone \\(deleted, or renamed away\\) and there is no values.env at '%s': nothing "
                         "applied, nothing deleted; waiting for one to appear" % (q, q))
        bad_file(w, "a directory", lambda: (remove(), os.mkdir(path)), "%s: not a regular file" % q,
                 lambda: (remove(), write_in_place(path, values(30343))), 30343)
        target = os.path.join(d, "nowhere", "values.env")
        bad_file(w, "a dangling symlink", lambda: (remove(), os.symlink(target, path)),
                 "'%s' is a dangling symlink: its target '%s' does not exist" % (q, re.escape(target)),
                 lambda: (remove(), write_rename(path, values(30344))), 30344)
    finally:
        T.check(w.stop() == 0, "reasons: exit 0 on SIGTERM")


def unreadable():
    """As the service runs as nap-agent: here nobody, for whom a chmod 000
    file is unreadable (root reads it all the same)."""
    if os.geteuid() != 0:
        T.check(False, "unreadable: needs root, to run the daemon as nobody")
        return
    d = scratch("unreadable")
    os.makedirs(d)
    os.chmod(scratch(), 0o755)
    os.chmod(d, 0o777)
    path, kubeconfig = os.path.join(d, "values.env"), os.path.join(d, "kubeconfig")
    write_in_place(path, values(30351), 0o644)
    shutil.copy(env("KUBECONFIG"), kubeconfig)
    os.chmod(kubeconfig, 0o644)
    prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    w = Watched(d, path, prefix=prefix, kubeconfig=kubeconfig)
    try:
        check(node_port() == 30351, "unreadable: the daemon, as nobody, applied it")
        bad_file(w, "not readable by the daemon's user", lambda: os.chmod(path, 0o000),
                 "'%s' cannot be read by user 'nobody': Permission denied" % re.escape(path),
                 lambda: write_rename(path, values(30352), 0o644), 30352)
    finally:
        T.check(w.stop() == 0, "unreadable: exit 0 on SIGTERM")


def made_anew():
    """No fence until the end: its rename would put yet another file (and
    inode watch) there. Each step waits for the STATUS= of its own pass."""
    d = scratch("anew")
    os.makedirs(os.path.join(d, "etc"))
    os.makedirs(os.path.join(d, "elsewhere"))
    path, link = os.path.join(d, "etc", "values.env"), os.path.join(d, "elsewhere", "values.env.link")
    q = re.escape(path)
    write_in_place(path, values(30361))
    w = Watched(d, path)

    def status(n, what):
        i = w.notify.wait_for(lambda m: m.startswith("STATUS="), 15, n)
        check(i is not None, "%s: no pass: %s" % (what, w.notify.snapshot(n)))
        return w.notify.snapshot()[i][1]

    def anew(what, make, then=lambda: None, again=lambda: None):
        """The file at path removed and make() made anew while the daemon
        is stopped, then() once it has the inode number of the one before;
        the STATUS= of the pass that follows. The file
        system gives out the lowest free number: when one below was freed
        meanwhile (by another process), the daemon goes on and sees that
        file, again() makes a regular file anew, and it is tried again
        (bounded: 20 tries)."""
        for _ in range(20):
            before, n = os.stat(path).st_ino, w.notify.count()
            os.kill(w.agent.pid, signal.SIGSTOP)
            try:
                os.unlink(path)
                make()
                same = os.stat(path).st_ino == before
                if same:
                    then()
            finally:
                os.kill(w.agent.pid, signal.SIGCONT)
            got = status(n, what)
            if same:
                return got
            again()
        check(False, "%s: the file system under %s never gave the inode number out again" % (what, d))

    def made_again():
        n = w.notify.count()
        os.unlink(path)
        write_in_place(path, values(30362))
        status(n, "made a regular file again")

    def relink():
        if os.path.lexists(link):
            os.unlink(link)
        os.link(path, link)
    try:
        what = "a file made anew with the inode number of the one before"
        got = anew(what, lambda: write_in_place(path, values(30362)), relink)
        T.check(re.match(r"STATUS=(applied|no changes)", got) and node_port() == 30362, "%s: applied" % what,
                (got, node_port()))
        what = "then an edit through a hard link to it"
        n = w.notify.count()
        write_in_place(link, values(30363))
        got = status(n, what)
        T.check(APPLIED.fullmatch(got) and node_port() == 30363, "%s: applied" % what, (got, node_port()))
        os.unlink(link)  # values.env its last link: removing it frees the inode
        what = "then a FIFO made anew with that inode number"
        got = anew(what, lambda: os.mkfifo(path), again=made_again)
        T.check(re.fullmatch(r"STATUS=%s: not a regular file: nothing applied.*" % q, got), "%s: refused" % what, got)
        w.expect_one_pass("%s, then a regular file" % what,
                          lambda: (os.unlink(path), write_in_place(path, values(30364))), 30364)
    finally:
        T.check(w.stop() == 0, "anew: exit 0 on SIGTERM")


def main():
    init(sys.argv)
    oauth_log_setup()
    for case in (directory_symlink, data_swap, hard_link, paused_writer, made_anew, reasons, unreadable):
        T.case(case.__name__, case)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
