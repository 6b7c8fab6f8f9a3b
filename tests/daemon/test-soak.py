#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Soak: 300 random valid and invalid edits of values.env in quick
succession (1 to 150 ms apart, so some coalesce and some land while a pass
runs), written in place, renamed over or copied over. Afterwards:

  - the cluster and the oauth rows equal what the final file renders
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
    trigger logs them).

    with-harness.sh test-soak.py NAP_AGENT
"""
import json
import os
import random
import subprocess
import sys
import threading
import time

from naptest import agent
from naptest.agent import Agent, NotifySocket
from naptest.checks import Results, wait_until
from naptest.compare import desired_diffs
from naptest.db import oauth_log_setup, psql
from naptest.faultproxy import FaultProxy
from naptest.harness import env, init, scratch
from naptest.kube import get, write_kubeconfig
from naptest.values import example_values, set_key, write_in_place, write_rename

T = Results()
EDITS = 300
BAD_PORT = "30111"
BAD_TAG = "invalid-only"

# Each invalid file has the markers and one of these mistakes.
MISTAKES = [
    ("NAP_HOST", "192.0.2.10 5"),          # unquoted blank: bash would run `5`
    ("REGISTRY", "$(id)"),                 # command substitution, refused
    ("INGRESS_MODE", "sideways"),          # not an ingress mode
    ("BROWSER_NODE_PORT", "99999"),        # not a NodePort
    ("TURN_PORT", "'unterminated"),        # unterminated quote
    ("SANDBOX_PUBLIC_URL", "http://h/p?a=1&b=2"),  # unquoted &
]


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
    key, value = rng.choice(MISTAKES)
    return set_key(text, key, value)


def check_mistakes(wd):
    """Each mistake alone makes `nap-agent check` fail: the invalid files
    really are invalid."""
    bad = []
    for key, value in MISTAKES:
        path = os.path.join(wd, "mistake.env")
        write_in_place(path, set_key(example_values(BROWSER_ENABLED="true"), key, value))
        r = agent.run("check", "--values", path, timeout=30)
        if r.rc != 1:
            bad.append((key, value, r.rc))
    T.check(bad == [], "every kind of invalid edit fails `nap-agent check`", bad)


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
    daemon = Agent(wd, values, os.path.join(wd, "state"), kc, ["--resync=0"], notify=notify)
    try:
        ok = notify.wait_for(lambda m: "READY=1" in m and "applied" in m, 30) is not None
        T.check(ok, "first pass applied", notify.snapshot())
        rss0 = daemon.status("VmRSS")

        last_valid, n_invalid, t0 = text, 0, time.monotonic()
        for i in range(EDITS):
            if i == EDITS - 1 or rng.random() < 0.6:
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
            t_last = time.monotonic()
            time.sleep(rng.choice([0.001, 0.005, 0.02, 0.05, 0.1, 0.15]))
        burst = time.monotonic() - t0
        print("# %d edits (%d invalid) in %.1f s" % (EDITS, n_invalid, burst), flush=True)

        # Settled: a pass after the last write, then a quiet second.
        wait_until(lambda: any(t > t_last for t, m in notify.snapshot() if m.startswith("STATUS=")), 30)
        wait_until(lambda: time.monotonic() - notify.snapshot()[-1][0] > 1.0, 30, 0.1)
        final_status = [m for _, m in notify.snapshot() if "STATUS=" in m][-1]
        passes = sum(1 for _, m in notify.snapshot() if "STATUS=" in m)
        print("# %d passes; last: %s" % (passes, final_status.split("\n")[-1]), flush=True)
        T.check("applied" in final_status or "no changes" in final_status,
                "the last pass converged", final_status)
        rss1 = daemon.status("VmRSS")
        T.check(rss0 and rss1 and rss1 - rss0 < 2048, "RSS grew by less than 2 MiB",
                "%d KiB after the first pass, %d KiB after the soak" % (rss0 or 0, rss1 or 0))
        print("# VmRSS %d KiB after the first pass, %d KiB after %d edits" % (rss0, rss1, EDITS), flush=True)

        # The cluster and the rows are what the final file renders.
        want = agent.render(values)
        diffs = desired_diffs(want)
        T.check(diffs == [], "the cluster and the oauth rows equal the final rendering", diffs)
        all_on = os.path.join(wd, "all.env")
        write_in_place(all_on, set_key(set_key(text, "BROWSER_ENABLED", "true"), "SANDBOX_ENABLED", "true"))
        everything = agent.render(all_on)
        names = {(o["kind"], o["metadata"]["name"]) for o in want["items"]}
        stale = [(o["kind"], o["metadata"]["name"]) for o in everything["items"]
                 if (o["kind"], o["metadata"]["name"]) not in names and
                 get(o["kind"], "nap", o["metadata"]["name"]) is not None]
        T.check(stale == [], "objects of the modules turned off are gone", stale)
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
    out = daemon.output()
    T.check("unquoted blank" in out or "not a" in out or "$(" in out, "the invalid edits were reported")
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
