#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every way people edit values.env is seen by `nap-agent run`, and each
edit is applied exactly once: one pass (one STATUS=), one PATCH of each
object the edit changes (the apiserver's audit log), one write of the
oauth row (a trigger on oauth_clients), and nothing else.

Patterns: a write in place (open O_TRUNC + write), an editor's temp file
renamed over it, vim's backup-rename then write, `sed -i`, `cp other
values.env`, a symlink swapped to point elsewhere (twice, the second time
into another directory), an in-place edit of the symlink's target in that
other directory, the file deleted then re-created (the deletion itself
applies nothing), and a writer that keeps the file open (applied after
--close-wait, with a warning naming its delay). The symlinked directories,
`..data` swaps, hard links and a writer pausing mid-file: test-watch.py.
And the platform's `get.sh --version` (IMAGE_TAG set by a temporary file
renamed over values.env).

    with-harness.sh test-edits.py NAP_AGENT
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from naptest import agent
from naptest.agent import Agent, NotifySocket, pass_status
from naptest.audit import audit
from naptest.checks import Results, must_wait, wait_until
from naptest.db import oauth_log_last, oauth_log_setup, oauth_log_since
from naptest.harness import env, init, scratch
from naptest.faultproxy import FaultProxy
from naptest.kube import get, node_port, write_kubeconfig
from naptest.values import example_values, set_key, write_in_place, write_rename

T = Results()
SVC = ("patch", "services", "nap", "nap-sandbox")
DEP = ("patch", "deployments", "nap", "nap-sandbox")
CLOSE_WAIT_S = 3  # for the writer left open (the default 30 s: test-watch.py)
APPLIED = re.compile(r"STATUS=applied 2 object\(s\), deleted 0, 1 oauth client change\(s\); generation \d+; watching .*")


class Editing:
    def __init__(self, wd):
        self.wd = wd
        self.etc = os.path.join(wd, "etc")
        self.other = os.path.join(wd, "elsewhere")
        self.other2 = os.path.join(wd, "elsewhere2")
        for d in (self.etc, self.other, self.other2):
            os.makedirs(d)
        self.values = os.path.join(self.etc, "values.env")
        self.text = example_values(SANDBOX_NODE_PORT="30086")
        write_in_place(self.values, self.text)
        self.port = 30086
        self.fences = 0
        self.notify = NotifySocket(wd)
        # through the fault proxy, which forwards everything unless a case
        # asks it to hold a request
        self.proxy = FaultProxy().start()
        kubeconfig = write_kubeconfig(os.path.join(wd, "kubeconfig"), self.proxy.url)
        self.agent = Agent(wd, self.values, os.path.join(wd, "state"), kubeconfig,
                           ["--resync=0", "--close-wait=%d" % CLOSE_WAIT_S],
                           notify=self.notify, extra_env={"NAP_LOG_LEVEL": "debug"})
        ok = self.notify.wait_for(lambda m: "READY=1" in m, 30) is not None
        T.check(ok and node_port() is not None, "the agent is up, first pass applied",
                self.notify.snapshot())

    def next_text(self):
        """The current file with the next SANDBOX_NODE_PORT."""
        self.port += 1
        return set_key(self.text, "SANDBOX_NODE_PORT", str(self.port))

    def fence(self, n):
        """A comment added to values.env (renamed into place): a pass that
        changes nothing. Events are taken in order and passes run one at a
        time, so once the first pass that started after the agent saw this
        rename is done (its debug log says when), every pass an earlier
        event caused has reported. Returns the STATUS= lines since n, that
        last pass's own left out."""
        real = os.path.realpath(self.values)
        # Outside the agent's burst window (an edit within 100 ms of the one
        # before joins its pass), so the fence is a pass of its own.
        time.sleep(0.15)
        o = len(self.agent.output())
        self.fences += 1
        with open(real) as f:
            text = f.read()
        write_rename(real, text + "# fence %d\n" % self.fences)
        seen = wait_until(lambda: re.search(r"edit complete: '[^']*' renamed into place", self.agent.output()[o:]),
                          10)
        T.check(seen, "fence: the agent saw the rename", self.agent.output()[o:])
        p = o + (seen.end() if seen else 0)
        started = wait_until(lambda: re.search(r"pass (\d+) starting", self.agent.output()[p:]), 10)
        T.check(started, "fence: a pass started after it", self.agent.output()[o:])
        done = started and wait_until(lambda: "pass %s done" % started.group(1) in self.agent.output(), 15)
        T.check(done, "fence: that pass is done", self.agent.output()[o:])
        self.notify.sync()  # its STATUS= was sent before it logged that
        statuses = [m for _, m in self.notify.snapshot(n) if pass_status(m)]
        return statuses[:-1]

    def expect_once(self, name, edit, passes=1, settled=False, waited=False):
        """Runs edit(), then checks: `passes` STATUS= lines, the last one
        'applied', one PATCH of the Service and of the Deployment, one
        UPDATE of the oauth row, the live nodePort; and that the pass
        started when the edit was complete, not after a quiet period
        (settled) nor after waiting for a writer's close (waited)."""
        n, mark, logn = self.notify.count(), audit().mark(), oauth_log_last()
        out0 = len(self.agent.output())
        t0 = time.monotonic()
        edit()
        i = self.notify.wait_for(lambda m: m.startswith("STATUS=applied"), 10, n)
        took = time.monotonic() - t0
        statuses = self.fence(n)
        writes = sorted(w[:4] for w in audit().writes_since(mark))
        rows = oauth_log_since(logn)
        live_port = node_port()
        uri = "http://192.0.2.10:%d/api/auth/callback" % self.port
        log = self.agent.output()[out0:]
        T.check(i is not None and len(statuses) == passes and APPLIED.fullmatch(statuses[-1]),
                "%s: seen, %d pass(es), applied (%.0f ms)" % (name, passes, took * 1000), statuses)
        if settled is not None:
            T.check(("quiet for" in log) == settled, "%s: %s" % (name, "applied after the quiet period" if settled
                                                                else "applied when complete, no quiet period"), log)
        waited_for = re.search(r"The writer of '[^']*' has kept it open [0-9.]+ s after its first write without "
                               r"closing it: applying it as it is now", log)
        T.check(bool(waited_for) == waited, "%s: %s" % (name, "applied after --close-wait, the writer's delay said"
                                                        if waited else "no wait for a writer's close"), log)
        T.check(writes == sorted([SVC, DEP]), "%s: one PATCH of the Service and one of the Deployment" % name,
                writes)
        T.check([r[1:] for r in rows] == [("UPDATE", "sandbox-service", uri)], "%s: one write of the oauth row" % name,
                rows)
        T.check(live_port == self.port, "%s: nodePort %d live" %
                (name, self.port))

    def expect_nothing(self, name, act, status=None):
        """Runs act(), then checks: no write request, no oauth write, and
        either no pass at all or one pass whose STATUS= matches status.
        (With no values.env left there is nothing to fence with: the next
        edit's own count of passes sees a late one.)"""
        n, mark, logn = self.notify.count(), audit().mark(), oauth_log_last()
        act()
        if status:
            self.notify.wait_for(lambda m: m.startswith("STATUS="), 10, n)
        if os.path.exists(self.values):
            statuses = self.fence(n)
        else:
            statuses = [m for _, m in self.notify.snapshot(n)]
        T.check(len(statuses) == 1 and re.fullmatch(status, statuses[0]) if status else statuses == [],
                "%s: %s" % (name, "STATUS= says so" if status else "no pass"), statuses)
        writes = audit().writes_since(mark)
        T.check(writes == [] and oauth_log_since(logn) == [], "%s: nothing written" % name, writes)

    def stop(self):
        rc = self.agent.stop()
        self.notify.close()
        self.proxy.stop()
        return rc


def main():
    init(sys.argv)
    wd = scratch()
    e = Editing(wd)
    oauth_log_setup()
    try:
        T.case("every editing pattern", run, e)
    finally:
        T.check(e.stop() == 0, "exit 0 on SIGTERM")
        out = e.agent.output()
        T.check(not re.search(r"(?m)^(Failed|Event loop failed)", out), "no failure logged", out)
    T.case("a dangling symlink", dangling_symlink, wd)
    return T.finish()


def run(e):
    v = e.values

    # 1. open O_TRUNC + write, as most editors without backups do
    e.expect_once("write in place", lambda: write_in_place(v, e.next_text()))

    # 2. a temp file in the same directory renamed over it (emacs, sed -i, vim with backupcopy=no)
    e.expect_once("temp file renamed over", lambda: write_rename(v, e.next_text()))

    # 3. vim's default: rename the original to a backup, write a new file, drop the backup
    def vim():
        text = e.next_text()
        os.rename(v, v + "~")
        write_in_place(v, text)
        os.unlink(v + "~")
    e.expect_once("vim backup-rename and write", vim)

    # 4. sed -i
    def sed():
        e.port += 1
        subprocess.run(["sed", "-i", "s/^SANDBOX_NODE_PORT=.*/SANDBOX_NODE_PORT=%d/" % e.port, v], check=True)
    e.expect_once("sed -i", sed)

    # 5. cp other values.env (cp opens the existing file O_TRUNC and writes)
    def cp():
        other = os.path.join(e.wd, "other.env")
        with open(other, "w") as f:
            f.write(e.next_text())
        subprocess.run(["cp", other, v], check=True)
    e.expect_once("cp other values.env", cp)

    # 6. a symlink swapped in: ln -sfn on a temp link, renamed over values.env
    def swap(target):
        def act():
            with open(target, "w") as f:
                f.write(e.next_text())
            link = os.path.join(e.etc, ".values.env.link")
            subprocess.run(["ln", "-sfn", target, link], check=True)
            subprocess.run(["mv", "-T", link, v], check=True)
        return act
    a = os.path.join(e.other, "a.env")
    b = os.path.join(e.other2, "b.env")
    e.expect_once("file replaced by a symlink (ln -sfn + rename)", swap(a))
    e.expect_once("symlink swapped to another directory", swap(b))

    # 7. the target edited in place, in its own directory
    e.expect_once("symlink's target edited in place", lambda: write_in_place(b, e.next_text()))
    e.expect_once("symlink's target renamed over (sed -i on it)", lambda: write_rename(b, e.next_text()))

    # ... and the old target is no longer the file
    e.expect_nothing("old symlink target edited", lambda: write_in_place(a, set_key(e.text, "SANDBOX_NODE_PORT",
                                                                                       "30200")))
    # an unrelated file in the watched directories
    e.expect_nothing("other file in the directory", lambda: write_in_place(os.path.join(e.etc, "notes.txt"), "x"))

    # 8. deleted (applies nothing, says where it looks), then re-created
    e.expect_nothing("deleted", lambda: os.unlink(v),
                     status=r"STATUS=waiting for values.env at '%s': '%s' is gone; nothing applied, nothing deleted"
                     % (re.escape(v), re.escape(v)))
    T.check(node_port() is not None, "deleted: the Service stays")
    e.expect_once("re-created", lambda: write_in_place(v, e.next_text()))

    # 9. a no-op: the same bytes written again
    e.expect_nothing("same content written again", lambda: write_in_place(v, open(v).read()),
                     status=r"STATUS=no changes; generation \d+; watching .*")

    # 10. a burst of complete writes: the first starts a pass at once (it
    # comes after the burst window of the last fence's rename); the other 19
    # come while that pass runs, held by the fault proxy (its PATCH of the
    # Service waits for the test), and make exactly one more pass after it,
    # which applies the last. So the count of passes does not depend on
    # how the writes are spaced: a stall of this test between two of them
    # (which ends the burst early) changes nothing. The last of the 19 is a
    # rename: the agent judges events in order, so once it says it saw that
    # rename it has seen every write before it (writes close together may
    # be judged as one edit: their count is not the agent's to keep).
    n, mark, out0 = e.notify.count(), audit().mark(), len(e.agent.output())
    e.proxy.queue({"type": "hold", "then": "forward", "methods": ["PATCH"]})
    time.sleep(0.15)  # outside the 100 ms burst window of the fence before (as fence() does)
    write_in_place(v, e.next_text())
    must_wait("the first write's pass to send its PATCH, which the proxy holds", lambda: e.proxy.held, 10)
    for i in range(19):
        (write_rename if i == 18 else write_in_place)(v, e.next_text())
        time.sleep(0.005)
    must_wait("the agent to see the last of the 20 writes (its debug log)",
              lambda: re.search(r"edit complete: '[^']*' renamed into place", e.agent.output()[out0:]), 10)
    e.proxy.release()
    statuses = e.fence(n)
    writes = [w[:4] for w in audit().writes_since(mark)]
    live_port = node_port()
    T.check(len(statuses) == 2 and all(APPLIED.fullmatch(m) for m in statuses),
            "20 writes: two passes (the first write, then the 19 that came while it ran)", statuses)
    T.check(writes.count(SVC) == len(statuses) and writes.count(DEP) == len(statuses) and len(writes) == 2 * len(statuses),
            "20 writes: one PATCH of the Service and of the Deployment per pass", writes)
    T.check(live_port == e.port, "20 writes: the last one is live")
    shutil.rmtree(e.other, ignore_errors=True)

    # 11. one in-place write in two write() calls, 200 ms apart, then close:
    # nothing is read half-way (the pass starts at the close), applied once
    def two_writes():
        text = e.next_text().encode()
        fd = os.open(v, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, text[:len(text) // 2])
            time.sleep(0.2)  # the writer pausing mid-file (2 s: test-watch.py)
            os.write(fd, text[len(text) // 2:])
        finally:
            os.close(fd)
    e.expect_once("one write in two write() calls with a pause", two_writes)

    # 12. a writer that keeps the file open: applied after --close-wait, with
    # a warning that says how long the writer has kept it
    held = {}

    def open_writer():
        text = e.next_text().encode()
        fd = os.open(v, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, text)
        held["fd"] = fd
    e.expect_once("a write left open (applied after --close-wait)", open_writer, waited=True)
    os.close(held["fd"])
    e.expect_nothing("... and its late close", lambda: None, status=r"STATUS=no changes; generation \d+; watching .*")

    # 13. `nap-agent gen-secrets` filling an emptied secret: the emptied file is
    # refused (nothing applied); the rewrite is one edit, applied once: the
    # Secret and the Deployment whose pods read it, nothing else.
    e.text = set_key(e.text, "SANDBOX_NODE_PORT", str(e.port))
    e.expect_nothing("secret emptied", lambda: write_in_place(v, set_key(e.text, "SANDBOX_JWT_SECRET", "")),
                     status=r"STATUS=[^\n]*SANDBOX_JWT_SECRET is required[^\n]*; keeping generation \d+; watching .*")
    mode = os.stat(v).st_mode & 0o7777
    n, mark, logn = e.notify.count(), audit().mark(), oauth_log_last()
    r = agent.run("gen-secrets", "--values", v)
    # (PG_PASSWORD= is empty in these files too; DATABASE_URL is what connects.)
    T.check(r.rc == 0 and "filled SANDBOX_JWT_SECRET" in r.out.splitlines() and
            "filled SANDBOX_SERVICE_KEY" not in r.out, "gen-secrets: fills the emptied secret, not the set ones", r)
    i = e.notify.wait_for(lambda m: m.startswith("STATUS=applied"), 10, n)
    statuses = e.fence(n)
    writes = sorted(w[:4] for w in audit().writes_since(mark))
    T.check(i is not None and len(statuses) == 1 and
            statuses[0].startswith("STATUS=applied 2 object(s), deleted 0, 0 oauth client change(s)"),
            "gen-secrets: the daemon sees one edit, one pass", statuses)
    T.check(writes == sorted([("patch", "secrets", "nap", "nap-sandbox-secret"), DEP]),
            "gen-secrets: one PATCH of the Secret and one of the Deployment", writes)
    T.check(oauth_log_since(logn) == [], "gen-secrets: the oauth row is not written")
    T.check(os.stat(v).st_mode & 0o7777 == mode, "gen-secrets: the file mode is kept")
    e.text = open(v).read()

    # 13b. the platform's upgrade, `get.sh --version=v9.9.9`: it sets
    # IMAGE_TAG in values.env by writing a temporary file (the umask's mode)
    # and renaming it over values.env, then runs install.sh. The daemon sees
    # one edit, one pass: the workloads whose image carries the tag.
    def getsh_version():
        text = set_key(e.text, "IMAGE_TAG", "v9.9.9")
        fd, tmp = tempfile.mkstemp(dir=e.etc, prefix="values.env.")
        os.write(fd, text.encode())
        os.close(fd)
        os.chmod(tmp, 0o644)
        os.rename(tmp, v)
        e.text = text
    n, mark, logn = e.notify.count(), audit().mark(), oauth_log_last()
    out0 = len(e.agent.output())
    getsh_version()
    i = e.notify.wait_for(lambda m: m.startswith("STATUS=applied"), 10, n)
    log = e.agent.output()[out0:]
    statuses = e.fence(n)
    T.check("renamed into place" in log and "quiet for" not in log,
            "get.sh --version: a complete edit, applied at once (no quiet period)", log)
    writes = sorted(w[:4] for w in audit().writes_since(mark))
    T.check(i is not None and len(statuses) == 1 and
            statuses[0].startswith("STATUS=applied 2 object(s), deleted 0, 0 oauth client change(s)"),
            "get.sh --version: the daemon sees one edit, one pass", statuses)
    T.check(writes == sorted([DEP, ("patch", "daemonsets", "nap", "sandbox-image-warmer")]),
            "get.sh --version: one PATCH of the Deployment and one of the image warmer", writes)
    T.check(oauth_log_since(logn) == [], "get.sh --version: the oauth row is not written")
    images = [c["image"] for c in get("deployments", "nap", "nap-sandbox")["spec"]["template"]["spec"]["containers"]]
    warmer = get("daemonsets", "nap", "sandbox-image-warmer")["spec"]["template"]["spec"]["initContainers"]
    T.check(all(i.endswith(":v9.9.9") for i in images) and warmer[0]["image"].endswith("/chromium-headful:v9.9.9"),
            "get.sh --version: the new tag is live", (images, warmer[0]["image"]))

    # 14. the directory swapped: `mv etc etc.old; mkdir etc`, then a new file
    def swap_dir():
        os.rename(e.etc, e.etc + ".old")
        os.mkdir(e.etc)
        write_in_place(v, e.next_text())
    # (whether the new directory's watch is in place before the file is
    # closed is a race: then it is applied at once, else after --settle,
    # since nobody can say whether the file found there is whole)
    e.expect_once("the directory swapped (mv etc etc.old; mkdir etc; write)", swap_dir, settled=None)
    shutil.rmtree(e.etc + ".old")

    # 15. an inotify queue overflow (the agent stopped while far more events
    # than the queue holds happen in its directory, the edit among the last)
    # is treated as an edit
    def overflow():
        junk = os.path.join(e.etc, "junk")
        os.kill(e.agent.pid, signal.SIGSTOP)
        try:
            limit = int(open("/proc/sys/fs/inotify/max_queued_events").read())
            os.mkdir(junk)
            for k in range(limit + 100):
                open(os.path.join(e.etc, ".j%d" % k), "w").close()
            write_in_place(v, e.next_text())
        finally:
            os.kill(e.agent.pid, signal.SIGCONT)
        out0 = len(e.agent.output())
        e.overflow_seen = wait_until(lambda: "inotify queue overflow" in e.agent.output()[out0:], 10)
    e.overflow_seen = False
    e.expect_once("an inotify queue overflow", overflow)
    T.check(e.overflow_seen, "an inotify queue overflow: the agent saw the overflow")
    for f in os.listdir(e.etc):
        if f.startswith(".j"):
            os.unlink(os.path.join(e.etc, f))
    os.rmdir(os.path.join(e.etc, "junk"))


def dangling_symlink(wd):
    """values.env starts as a symlink to a file that does not exist yet: the
    agent says so and applies nothing; creating the target is an edit."""
    etc, real = os.path.join(wd, "etc2"), os.path.join(wd, "later", "values.env")
    os.makedirs(etc)
    values = os.path.join(etc, "values.env")
    os.symlink(real, values)
    notify = NotifySocket(wd)
    daemon = Agent(wd, values, os.path.join(wd, "state"), env("KUBECONFIG"), ["--resync=0"], notify=notify)
    try:
        i = notify.wait_for(lambda m: "READY=1" in m, 30)
        want = ("STATUS='%s' is a dangling symlink: its target '%s' does not exist: nothing applied, nothing "
                "deleted; keeping generation" % (values, real))
        T.check(i is not None and want in notify.snapshot()[i][1],
                "dangling symlink: READY=1, the file is a dangling symlink, nothing applied", notify.snapshot())
        n = notify.count()
        os.makedirs(os.path.dirname(real))
        write_in_place(real, example_values(SANDBOX_NODE_PORT="30150"))
        j = notify.wait_for(lambda m: m.startswith("STATUS=applied"), 10, n)
        T.check(j is not None and node_port() == 30150,
                "dangling symlink: creating the target (and its directory) applies it", notify.snapshot(n))
    finally:
        T.check(daemon.stop() == 0, "dangling symlink: exit 0 on SIGTERM")
        notify.close()


if __name__ == "__main__":
    sys.exit(main())
