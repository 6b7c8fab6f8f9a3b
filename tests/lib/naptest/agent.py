# SPDX-License-Identifier: Apache-2.0
"""The nap-agent binary under test, driven from the outside: one-shot verbs
(apply, plan, render, status...), whose output is kept to be searched for
secrets at the end; the daemon, `nap-agent run`, with its stderr in a file;
and a NOTIFY_SOCKET that listens the way systemd's does.
"""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from naptest.checks import check, wait_until

BINARY = None   # set by naptest.harness.init()
OUTPUTS = []    # (command, stdout + stderr) of every run, for leaks()

NET_LIBS = ("libcurl.", "libpq.", "libldap", "libkrb5.", "libgssapi_krb5.", "libgnutls.", "libnghttp2.")


class Run:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def __repr__(self):
        return "exit %d after %.1f s\n--- stdout\n%s--- stderr\n%s" % (self.rc, self.elapsed, self.out, self.err)


def run(*args, env=None, cwd=None, timeout=60):
    """One `nap-agent ARGS...`; env: the whole environment (default: ours)."""
    t0 = time.monotonic()
    p = subprocess.run([BINARY] + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    OUTPUTS.append(("nap-agent " + " ".join(args), p.stdout + p.stderr))
    return Run(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def run_ok(*args, **kw):
    r = run(*args, **kw)
    check(r.rc == 0, "nap-agent %s: %r" % (" ".join(args), r))
    return r


def spawn(*args, env=None):
    return subprocess.Popen([BINARY] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def leaks(secrets):
    """(command, the secret's first characters) for each secret some output holds."""
    return [(cmd, s[:6] + "...") for cmd, out in OUTPUTS for s in secrets if s and s in out]


def render(values):
    """`nap-agent render --format json --show-secrets` of a values.env."""
    return json.loads(run_ok("render", "--format", "json", "--show-secrets", "--values", values).out)


def status_json(state):
    return json.loads(run_ok("status", "--json", "--state-dir", state).out)


# ---- sd_notify --------------------------------------------------------------

def pass_status(m):
    """A pass's STATUS=, not the summary a rollout followed after it sends
    ("STATUS=generation N applied; ...") nor what the daemon says while
    there is no values.env ("STATUS=waiting for values.env ..."). After a
    failed pass, that summary repeats the pass's line ("LINE; 1/2 workloads
    available, ...; watching ...") and passes for one here: to count the
    passes, count "pass N starting" in the daemon's debug log."""
    return m.startswith("STATUS=") and not m.startswith(("STATUS=generation ", "STATUS=waiting for values.env"))


class NotifySocket:
    """An AF_UNIX datagram socket like systemd's notify socket; every
    datagram is kept with its arrival time (time.monotonic())."""

    serial = 0

    def __init__(self, directory):
        NotifySocket.serial += 1
        self.path = os.path.join(directory, "notify-%d.sock" % NotifySocket.serial)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def snapshot(self, start=0):
        with self.lock:
            return list(self.messages[start:])

    def count(self):
        with self.lock:
            return len(self.messages)

    def statuses(self, start=0):
        """The passes' STATUS= since start."""
        return [m for _, m in self.snapshot(start) if pass_status(m)]

    def wait_for(self, pred, timeout, start=0):
        """The index of the first message at or after start for which pred
        (on the text) is true, or None."""
        def find():
            for i, (_, m) in enumerate(self.snapshot(start)):
                if pred(m):
                    return start + i + 1  # +1: 0 would read as false
            return None
        i = wait_until(find, timeout)
        return i - 1 if i else None

    def sync(self, timeout=10):
        """Returns once every datagram sent to the socket before this call
        has been recorded: a datagram of our own, sent now, comes after them
        (a Unix datagram socket keeps the order); it is not kept."""
        marker = "X-TEST-SYNC=%d" % time.monotonic_ns()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(marker.encode(), self.path)
        finally:
            s.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                for i, (_, m) in enumerate(self.messages):
                    if m == marker:
                        del self.messages[i]
                        return
            time.sleep(0.01)
        raise RuntimeError("the notify socket never received our own datagram")

    def pings(self, start=0):
        """How many WATCHDOG=1 came at or after message index start."""
        return sum(m == "WATCHDOG=1" for _, m in self.snapshot(start))

    def longest_ping_gap(self, start=0):
        """The longest time between two WATCHDOG=1 at or after message index
        start, in seconds (a figure to print, not to assert: it is the
        machine's as much as the daemon's), or None."""
        dog = [t for t, m in self.snapshot(start) if m == "WATCHDOG=1"]
        return max([b - a for a, b in zip(dog, dog[1:])] or [None])

    def close(self):
        self.closed = True
        self.thread.join(2)
        self.sock.close()
        os.unlink(self.path)


def fields(message):
    """KEY=VALUE lines of one notification, as an ordered list of pairs."""
    return [tuple(line.split("=", 1)) for line in message.split("\n") if line]


# ---- the daemon --------------------------------------------------------------

class Agent:
    """One `nap-agent run` process, its stderr in a file; prefix: a command
    that runs it as another user (setpriv ... --), which execs it."""

    def __init__(self, workdir, values, state, kubeconfig, args=(), extra_env=None, notify=None, prefix=()):
        """kubeconfig None: no --kubeconfig; extra_env: a value None unsets the variable."""
        self.log_path = os.path.join(workdir, "agent-%d.log" % time.monotonic_ns())
        e = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS"):
            e.pop(k, None)
        if notify:
            e["NOTIFY_SOCKET"] = notify.path
        for k, v in (extra_env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        self.log = open(self.log_path, "wb")
        # Never the machine's node_exporter textfile directory (the daemon's
        # default when it exists): no metrics unless the test names a directory.
        if not any(a.startswith("--metrics-dir") for a in args):
            args = list(args) + ["--metrics-dir="]
        self.proc = subprocess.Popen(
            list(prefix) + [BINARY, "run", "--values", values, "--state-dir", state]
            + (["--kubeconfig", kubeconfig] if kubeconfig else []) + list(args),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.pid = self.proc.pid

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.proc.kill()
                self.proc.wait(5)
        if not self.log.closed:
            self.log.close()
            OUTPUTS.append(("nap-agent run", self.output()))
        return self.proc.returncode

    def terminate(self, timeout=10):
        """SIGTERM; (exit status or None, seconds it took)."""
        t = time.monotonic()
        self.signal(signal.SIGTERM)
        rc = self.wait(timeout)
        return rc, time.monotonic() - t

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def libraries(self):
        """The basenames of the shared libraries mapped in the process."""
        with open("/proc/%d/maps" % self.pid) as f:
            return {os.path.basename(p) for p in (line.split()[-1] for line in f if ".so" in line)}

    def net_libs(self):
        """libcurl, libpq and what they bring with them (on Debian and Fedora;
        not libssl and p11-kit, which pin themselves in memory), if mapped."""
        return sorted(lib for lib in self.libraries() if lib.startswith(NET_LIBS))

    def asleep(self):
        """Whether the process sleeps in epoll_wait: its event loop has
        dispatched what was due and armed its timers (timers() is then
        what will wake it) for the next wait. Read from /proc/PID/wchan."""
        with open("/proc/%d/wchan" % self.pid) as f:
            return f.read().strip() == "do_epoll_wait"

    def timers(self):
        """The time left, in seconds, on each armed timerfd of the process
        (sd-event keeps one per clock, armed for its earliest enabled
        timer when the loop goes to sleep, see asleep()): [] when no timer
        of any kind is armed."""
        left = []
        fds = "/proc/%d/fd" % self.pid
        for fd in os.listdir(fds):
            try:
                if os.readlink(os.path.join(fds, fd)) != "anon_inode:[timerfd]":
                    continue
                with open("/proc/%d/fdinfo/%s" % (self.pid, fd)) as f:
                    info = f.read()
            except FileNotFoundError:
                continue  # closed meanwhile
            sec, nsec = (int(x) for x in re.search(r"it_value: \((\d+), (\d+)\)", info).groups())
            if sec or nsec:
                left.append(sec + nsec / 1e9)
        return left

    def status(self, key):
        """A field of /proc/PID/status as an int (VmRSS in KiB, ctxt switches)."""
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return None


class Daemon:
    """A directory with values.env (text written in place) and a state
    directory, a NotifySocket and `nap-agent run` on them (the harness's
    kubeconfig unless another is given). .ready: READY=1 came."""

    def __init__(self, directory, text, args=("--resync=0",), kubeconfig=None, extra_env=None, prefix=(),
                 wait=True):
        from naptest.harness import env
        from naptest.values import write_in_place
        os.makedirs(directory, exist_ok=True)
        self.dir, self.text = directory, text
        self.values = os.path.join(directory, "values.env")
        self.state = os.path.join(directory, "state")
        self.kubeconfig = kubeconfig or env("KUBECONFIG")
        if text is not None:
            write_in_place(self.values, text)
        self.notify = NotifySocket(directory)
        self.agent = Agent(directory, self.values, self.state, self.kubeconfig, args, extra_env, self.notify, prefix)
        self.ready = wait and self.notify.wait_for(lambda m: "READY=1" in m, 30) is not None

    def edit(self, **keys):
        """KEY=value lines set (written in place, as an editor does)."""
        from naptest.values import set_keys, write_in_place
        self.text = set_keys(self.text, **keys)
        write_in_place(self.values, self.text)

    def stop(self):
        rc = self.agent.stop()
        self.notify.close()
        return rc
