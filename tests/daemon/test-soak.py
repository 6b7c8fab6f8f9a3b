#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Soak: 300 random valid and invalid edits of values.env in quick
succession (1 to 150 ms apart, so some coalesce and some land while a pass
runs), written in place, renamed over or copied over, then a last valid
file told apart by a SANDBOX_DOMAIN of its own. Afterwards:

  - the cluster and the oauth rows come to equal what the final file
    renders (the fence: the pass that read the last file applied it)
    (`nap-agent render --format json --show-secrets` against
    `kubectl get -o json`, leaf by leaf, and psql); objects of a module the
    final file turns off are gone;
  - the agent's RSS grew by less than 2 MiB over its value after the
    first pass;
  - no invalid file was ever applied: every invalid file carries
    SANDBOX_NODE_PORT=30111 and IMAGE_TAG=invalid-only, which no valid file
    uses, and neither appears in any request body the agent sent (a
    recording proxy sits between it and the apiserver), in any version of a
    Service or Deployment a watch saw, nor in any write of an oauth row (a
    trigger logs them);
  - each kind of invalid file makes `nap-agent check` print exactly its
    error, and every error the daemon logged about values.env is exactly
    one of those.

    with-harness.sh test-soak.py NAP_AGENT
"""
import json
import os
import random
import re
import subprocess
import sys
import threading
import time

from naptest import agent
from naptest.agent import Agent, NotifySocket, pass_status
from naptest.checks import Failure, Results, must_wait
from naptest.compare import desired_diffs
from naptest.db import oauth_log_setup, psql
from naptest.faultproxy import FaultProxy
from naptest.harness import env, init, scratch
from naptest.kube import get, write_kubeconfig
from naptest.values import example_values, set_key, set_keys, write_in_place, write_rename

T = Results()
EDITS = 300
BAD_PORT = "30111"
BAD_TAG = "invalid-only"

# Each invalid file has the markers and one of these mistakes: (key, value,
# and the one error it makes: line:col, message, hint or None), the
# messages written here as the operator must read them.
MISTAKES = [
    # key, bad value, where in the value the error is (0-based), message, hint
    ("NAP_HOST", "192.0.2.10 5", 11,                 # unquoted blank: bash would run `5`
     "unquoted blank ends the value: bash would run the next word as a command",
     "quote the value if it contains blanks: NAP_HOST='...'"),
    ("REGISTRY", "$(id)", 0,                         # command substitution, refused
     'command substitution "$(" is not allowed; values.env is not executed',
     "quote it with single quotes if it is meant literally: REGISTRY='...'"),
    ("INGRESS_MODE", "sideways", 0,                  # not an ingress mode
     'INGRESS_MODE="sideways" is not nodeport or external', "use nodeport or external"),
    ("BROWSER_NODE_PORT", "29999", 0,                # not a NodePort
     'BROWSER_NODE_PORT="29999" is not a NodePort (30000-32767)', None),
    ("TURN_PORT", "'unterminated", 0,                # unterminated quote
     "unterminated single quote", "add the closing \"'\"; a quoted value may span lines"),
    ("SANDBOX_PUBLIC_URL", "http://h/p?a=1&b=2", 14,  # unquoted &
     'unquoted "&": bash would start a background job there and run the rest of the line as a command',
     "quote it with single quotes if it is meant literally: SANDBOX_PUBLIC_URL='...'"),
]


def position(key, offset):
    """"LINE:COL" of the mistake in the example values.env (the file every
    edit starts from): the line of KEY=, the column of the value + offset."""
    line = example_values().split("\n").index(next(l for l in example_values().split("\n")
                                                   if l.startswith(key + "="))) + 1
    return "%d:%d" % (line, len(key) + 2 + offset)


def check_output(path, mistake):
    """What `nap-agent check` prints for the mistake, exactly."""
    key, _value, offset, message, hint = mistake
    pos = position(key, offset)
    return ("values.env: '%s' (given with --values)\n"
            "%s:%s: error: %s\n%s%s: configuration is invalid: 1 error(s), nothing would be applied\n") % (
        path, path, pos, message, "    hint: %s\n" % hint if hint else "", path)


# What a pass reads when it opens values.env between an in-place write's
# truncation and its write (a pass started by the edit before): an empty
# file, refused as such.
EMPTY = ("1:1", "the file assigns no key at all: it may have been emptied or cut short",
         "write the settings back (at least SANDBOX_ENABLED and BROWSER_ENABLED); an empty or comments-only "
         "file applies nothing")


def daemon_lines(path):
    """The daemon's log lines for each mistake and for an empty file,
    exactly: the diagnostic with its hint, and the line of the refused pass
    (STATUS=, and the journal's values.env refused entry), which says what
    was kept; each as a regular expression."""
    out = set()
    for pos, message, hint in [(position(m[0], m[2]),) + m[3:] for m in MISTAKES] + [EMPTY]:
        where = "%s:%s: %s" % (path, pos, message)
        out.add(re.escape(where + (" (hint: %s)" % hint if hint else "")))
        out.add(re.escape(where + ": nothing applied, nothing deleted; keeping generation ") +
                r"\d+; waiting for the next edit")
    return out


class Watch:
    """`kubectl get KIND -w -o json --output-watch-events`: every version of
    the objects the apiserver stored while it ran."""

    def __init__(self, kind):
        self.proc = subprocess.Popen(
            [env("KUBECTL"), "--kubeconfig", env("KUBECONFIG"), "get", kind, "-n", "nap", "-w", "-o", "json",
             "--output-watch-events"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.data = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
            self.data += chunk

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(5)
        dec, text, i, out = json.JSONDecoder(), self.data.decode(), 0, []
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return out
            obj, i = dec.raw_decode(text, i)
            out.append(obj)


def passes_done(out):
    """Whether the last pass the daemon started (its debug log) is done."""
    started = re.findall(r"^pass (\d+) starting", out, re.M)
    return bool(started) and re.search(r"^pass %s done" % started[-1], out, re.M) is not None


def valid_text(rng):
    keys = {
        "SANDBOX_NODE_PORT": str(rng.choice(range(30086, 30100))),
        "BROWSER_NODE_PORT": str(rng.choice(range(30070, 30080))),
        "NAP_HOST": rng.choice(["192.0.2.10", "192.0.2.11", "198.51.100.7"]),
        "IMAGE_TAG": rng.choice(["latest", "v1.2.3", "v1.2.4"]),
        "SANDBOX_JWT_SECRET": rng.choice(["d", "f", "9"]) * 64,
        "BROWSER_JWT_SECRET": rng.choice(["b", "a"]) * 64,
        "TURN_HOST": rng.choice(["192.0.2.20", "192.0.2.21"]),
        "BROWSER_ENABLED": rng.choice(["true", "true", "false"]),
        "SANDBOX_ENABLED": rng.choice(["true", "true", "true", "false"]),
        "SANDBOX_PUBLIC_URL": rng.choice(["", "'https://sandbox.example.com'"]),
    }
    return example_values(**keys)


def invalid_text(rng, last_valid):
    text = set_key(set_key(last_valid, "SANDBOX_NODE_PORT", BAD_PORT), "IMAGE_TAG", BAD_TAG)
    key, value = rng.choice(MISTAKES)[:2]
    return set_key(text, key, value)


def check_mistakes(wd):
    """Each mistake, in a file with the markers, makes `nap-agent check`
    exit 1 with exactly its error: the invalid files really are invalid,
    and for that reason only."""
    bad = []
    path = os.path.join(wd, "mistake.env")
    for mistake in MISTAKES:
        text = set_key(set_key(example_values(BROWSER_ENABLED="true"), "SANDBOX_NODE_PORT", BAD_PORT),
                       "IMAGE_TAG", BAD_TAG)
        write_in_place(path, set_key(text, mistake[0], mistake[1]))
        r = agent.run("check", "--values", path, timeout=30)
        if r.rc != 1 or r.out != "" or r.err != check_output(path, mistake):
            bad.append((mistake[0], r))
    T.check(bad == [], "every kind of invalid edit fails `nap-agent check` with exactly its error", bad)


def main():
    init(sys.argv)
    seed = int(os.environ.get("NAP_SOAK_SEED") or time.time())
    rng = random.Random(seed)
    print("# seed %d (NAP_SOAK_SEED to replay)" % seed, flush=True)
    oauth_log_setup()
    wd = scratch()
    check_mistakes(wd)
    values = os.path.join(wd, "values.env")
    other = os.path.join(wd, "other.env")
    # Every module on at first, so the first pass is the biggest one.
    text = example_values(BROWSER_ENABLED="true")
    write_in_place(values, text)
    proxy = FaultProxy().start()
    kc = write_kubeconfig(os.path.join(wd, "kubeconfig"), proxy.url)
    notify = NotifySocket(wd)
    watches = [Watch("services"), Watch("deployments")]
    daemon = Agent(wd, values, os.path.join(wd, "state"), kc, ["--resync=0"], notify=notify,
                   extra_env={"NAP_LOG_LEVEL": "debug"})
    try:
        ok = notify.wait_for(lambda m: "READY=1" in m and "applied" in m, 30) is not None
        T.check(ok, "first pass applied", notify.snapshot())
        rss0 = daemon.status("VmRSS")

        last_valid, n_invalid, t0 = text, 0, time.monotonic()
        for _ in range(EDITS):
            if rng.random() < 0.6:
                text = last_valid = valid_text(rng)
            else:
                text = invalid_text(rng, last_valid)
                n_invalid += 1
            how = rng.random()
            if how < 0.5:
                write_in_place(values, text)
            elif how < 0.8:
                write_rename(values, text)
            else:
                with open(other, "w") as f:
                    f.write(text)
                subprocess.run(["cp", other, values], check=True)
            time.sleep(rng.choice([0.001, 0.005, 0.02, 0.05, 0.1, 0.15]))
        # The last edit: a valid file no earlier one was, told apart by a
        # SANDBOX_DOMAIN of its own, so the cluster shows when it was applied.
        text = set_keys(valid_text(rng), SANDBOX_ENABLED="true", SANDBOX_DOMAIN="final-%d.example.test" % seed)
        write_in_place(values, text)
        burst = time.monotonic() - t0
        print("# %d edits (%d invalid) in %.1f s" % (EDITS + 1, n_invalid, burst), flush=True)

        # Settled: the last file applied (the cluster and the oauth rows are
        # what it renders: the fence), then the pass that applied it done,
        # and every notification it sent received.
        want = agent.render(values)
        must_wait("the cluster and the oauth rows to equal the final file's rendering",
                  lambda: desired_diffs(want) == [], 90, 0.5)
        must_wait("every pass that started to be done", lambda: passes_done(daemon.output()), 30)
        notify.sync()
        final_status = [m for _, m in notify.snapshot() if pass_status(m)][-1]
        passes = len(re.findall(r"^pass \d+ done", daemon.output(), re.M))
        print("# %d passes; last: %s" % (passes, final_status.split("\n")[-1]), flush=True)
        T.check("applied" in final_status or "no changes" in final_status,
                "the last pass converged", final_status)
        rss1 = daemon.status("VmRSS")
        T.check(rss0 and rss1 and rss1 - rss0 < 2048, "RSS grew by less than 2 MiB",
                "%d KiB after the first pass, %d KiB after the soak" % (rss0 or 0, rss1 or 0))
        print("# VmRSS %d KiB after the first pass, %d KiB after %d edits" % (rss0, rss1, EDITS), flush=True)

        all_on = os.path.join(wd, "all.env")
        write_in_place(all_on, set_key(set_key(text, "BROWSER_ENABLED", "true"), "SANDBOX_ENABLED", "true"))
        everything = agent.render(all_on)
        names = {(o["kind"], o["metadata"]["name"]) for o in want["items"]}
        stale = [(o["kind"], o["metadata"]["name"]) for o in everything["items"]
                 if (o["kind"], o["metadata"]["name"]) not in names and
                 get(o["kind"], "nap", o["metadata"]["name"]) is not None]
        T.check(stale == [], "objects of the modules turned off are gone", stale)
    except Failure as e:
        T.check(False, "the soak settled", e)
        return T.finish()
    finally:
        rc = daemon.stop()
        seen = [w.stop() for w in watches]
        notify.close()
        proxy.stop()
    T.check(rc == 0, "exit 0 on SIGTERM")

    # No invalid file was ever applied.
    bodies = [r.body.decode("utf-8", "replace") for r in proxy.writes()]
    print("# %d write requests through the proxy" % len(bodies), flush=True)
    T.check(bodies and not any(BAD_PORT in b or BAD_TAG in b for b in bodies),
            "no request body carries an invalid file's markers",
            [b[:200] for b in bodies if BAD_PORT in b or BAD_TAG in b][:3])
    versions = [json.dumps(e.get("object", e)) for s in seen for e in s]
    T.check(len(versions) > 10 and not any(BAD_PORT in v or BAD_TAG in v for v in versions),
            "no stored version of a Service or Deployment has them (%d versions watched)" % len(versions))
    rows = psql("SELECT array_to_string(uris, ' ') FROM oauth_log").splitlines()
    T.check(rows and not any(BAD_PORT in r for r in rows),
            "no write of an oauth row has them (%d writes)" % len(rows))
    # Each invalid file a pass read was reported with exactly its error.
    out = daemon.output()
    reported = re.findall("^" + re.escape(values) + r":\d+:\d+: .*$", out, re.M)
    expected = daemon_lines(values)
    stray = sorted(r for r in set(reported) if not any(re.fullmatch(e, r) for e in expected))
    T.check(reported and not stray,
            "the invalid edits were reported, each with exactly its error (%d reports)" % len(reported),
            stray or "none reported")
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
