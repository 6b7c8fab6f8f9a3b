# SPDX-License-Identifier: Apache-2.0
"""Checks and their count: one line per check or case ("ok   ..." or
"FAIL ..."), "[NAME: ]N passed, N failed" at the end, exit status 1 when
anything failed or when nothing was checked at all.

Two ways to write a test file, both counted by one Results:
  - T.check(cond, what, detail): a soft check, the test goes on;
  - T.case(name, fn, *args): fn raises Failure (check(cond, msg)) or any
    exception on its first broken expectation; the case fails, the next runs.
"""
import time
import traceback


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)
    return cond


def wait_until(pred, timeout, step=0.02):
    """Polls pred until it returns something true or timeout seconds pass;
    returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def must_wait(what, pred, timeout=60, step=0.2):
    """wait_until, failing the case (Failure) when the time is up."""
    v = wait_until(pred, timeout, step)
    check(v, "timed out waiting for %s" % what)
    return v


class Results:
    def __init__(self, name=None):
        self.name = name
        self.passed = self.failed = 0
        self.t0 = time.monotonic()

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print("ok   %s" % what, flush=True)
        else:
            self.failed += 1
            print("FAIL %s%s" % (what, (": " + str(detail)) if detail != "" else ""), flush=True)
        return bool(cond)

    def case(self, name, fn, *args):
        t = time.monotonic()
        try:
            fn(*args)
        except Failure as e:
            self.failed += 1
            print("FAIL %s (%.1fs)\n  %s" % (name, time.monotonic() - t, str(e).replace("\n", "\n  ")), flush=True)
            return False
        except Exception:
            self.failed += 1
            print("FAIL %s: exception (%.1fs)\n%s" % (name, time.monotonic() - t, traceback.format_exc()), flush=True)
            return False
        self.passed += 1
        print("ok   %s (%.1fs)" % (name, time.monotonic() - t), flush=True)
        return True

    def finish(self, secrets=()):
        """The exit status; with secrets, first a check that the agent
        printed none of them (naptest.agent records its output)."""
        if secrets:
            from naptest.agent import leaks
            found = leaks(secrets)
            self.check(not found, "no secret in the agent's output", found)
        if self.passed + self.failed == 0:
            self.check(False, "nothing was checked")
        print("%s%d passed, %d failed (%.1fs)" % (self.name + ": " if self.name else "", self.passed, self.failed,
                                                   time.monotonic() - self.t0), flush=True)
        return 1 if self.failed else 0
