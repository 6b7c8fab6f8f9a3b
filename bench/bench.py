#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""nap-agent's daemon against the harness: prints figures, asserts nothing.

    tests/harness/with-harness.sh python3 bench/bench.py NAP_AGENT [EDITS_PER_KIND] [IDLE_SECONDS]

(a) edit-to-applied latency: from the write of values.env (closed, as an
    editor does) to the last audit-logged write request of that edit
    (stageTimestamp), and to the daemon's STATUS= (which also covers the
    oauth row), median and p95; warm (connections open; edits 150 ms apart,
    outside the daemon's 100 ms burst window, as no human types faster) and
    cold (each edit after the agent has closed its connections and unloaded
    libcurl and libpq; the agent runs with --idle-close=2 so that this takes
    2 s, not the default 30); and the CPU of the longest loop iteration
    (the daemon's debug log measures every one);
(b) write requests per single-key edit, per kind of edit;
(c) the agent's RSS and its wake-ups per minute while idle (context
    switches from /proc/PID/status);
(d) the same edits the install.sh way (`nap-agent render --output DIR
    --show-secrets` then `kubectl apply --server-side --force-conflicts -f
    DIR`), timed in the same run, with the ratio to the agent's
    edit-to-last-write.

The harness runs kube-controller-manager (run.sh), and a stand-in kubelet
(naptest.kubelet.Kubelet.start_auto) makes each new Pod Ready, so the rollouts
the daemon follows after each edit complete and settle: the cold edits and
(c) come after them, with no watch left open.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

IDLE_CLOSE_S = 2
COLD_EDITS = 10

from naptest.agent import Agent, NotifySocket, pass_status
from naptest.audit import Audit, parse_ts, writes
from naptest.harness import env, init
from naptest.kubelet import Kubelet
from naptest.values import example_values, set_key, write_in_place


def unit_environment():
    """The Environment= of units/nap-agent.service: the bench runs the agent
    as the package does (NAP_BENCH_UNIT_ENV=0: without it, to compare)."""
    if os.environ.get("NAP_BENCH_UNIT_ENV") == "0":
        return {}
    unit = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "units", "nap-agent.service")
    out = {}
    with open(unit) as f:
        for line in f:
            if line.startswith("Environment="):
                k, _, v = line[len("Environment="):].strip().partition("=")
                out[k] = v
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def smaps(pid):
    """[(mapping, Rss KiB)] of file mappings, largest first; the Pss; and
    [(mapping, Anonymous KiB)], largest first: [heap], [stack], a library's
    copied-on-write pages by its name, "anon" for other anonymous mappings."""
    per, anon, name, label, pss = {}, {}, None, None, 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                path = parts[5] if len(parts) > 5 else ""
                name = os.path.basename(path) if path.startswith("/") else None
                label = name or path or "anon"
            elif parts[0] == "Rss:" and name:
                per[name] = per.get(name, 0) + int(parts[1])
            elif parts[0] == "Anonymous:" and int(parts[1]):
                anon[label] = anon.get(label, 0) + int(parts[1])
            elif parts[0] == "Pss:":
                pss += int(parts[1])
    by_size = lambda d: sorted(d.items(), key=lambda kv: -kv[1])
    return by_size(per), pss, by_size(anon)


def timed_edit(agent, notify, audit, values, text):
    """Writes values.env; returns (ms to the last audit-logged write or None, ms to STATUS=, writes,
    [(verb, resource, the apiserver's ms)] of the agent's requests).
    The pass reported (STATUS=), the writes are those the audit log holds
    up to a request of the bench's own (a fence, not a quiet period)."""
    n, mark = notify.count(), audit.mark()
    t_wall, t_mono = time.time(), time.monotonic()
    write_in_place(values, text)
    # the pass's STATUS=, not one of a rollout settling ("generation N applied; ...")
    i = notify.wait_for(pass_status, 10, n)
    t_status = notify.snapshot(i)[0][0] if i is not None else float("nan")
    reqs = audit.requests_since(mark)
    w = writes(reqs)
    last = max((parse_ts(x.time) for x in w), default=None)
    # the apiserver's own time for each of the agent's requests (received
    # to answered), by verb and resource; not the rollouts' watches, which
    # last until the rollout settles
    served = [(r.verb, r.resource, (parse_ts(r.time) - parse_ts(r.received)) * 1000)
              for r in reqs if r.verb != "watch"]
    time.sleep(0.15)  # the next edit outside the daemon's burst window
    return (last - t_wall) * 1000 if last else None, (t_status - t_mono) * 1000, len(w), served


def edits(per_kind):
    """[(kind, key, value)], kinds interleaved; each changes one key."""
    kinds = [
        ("nodeport", "SANDBOX_NODE_PORT", lambda i: str(30087 + i % 2)),
        ("secret", "SANDBOX_JWT_SECRET", lambda i: "%064x" % (i + 1)),
        ("url", "SANDBOX_PUBLIC_URL", lambda i: "https://sandbox%d.example.com" % i),
        ("image-tag", "IMAGE_TAG", lambda i: "v1.%d" % i),
        ("toggle", "BROWSER_ENABLED", lambda i: "false" if i % 2 == 0 else "true"),
        ("no-op", None, None),
    ]
    out = []
    for i in range(per_kind):
        for kind, key, val in kinds:
            v = val(i) if val else None
            # a toggle off deletes (a read, then the delete, per group), a
            # toggle on applies: each its own row
            out.append((kind + ("-off" if v == "false" else "-on") if kind == "toggle" else kind, key, v))
    return out


def main():
    rest = init(sys.argv, "NAP_AGENT [EDITS_PER_KIND] [IDLE_SECONDS]")
    binary = sys.argv[1]
    per_kind = int(rest[0]) if rest else 10
    idle_s = int(rest[1]) if len(rest) > 1 else 60
    wd = tempfile.mkdtemp(prefix="nap-bench.")
    values = os.path.join(wd, "values.env")
    text = example_values(BROWSER_ENABLED="true", SANDBOX_NODE_PORT="30086")
    write_in_place(values, text)
    audit = Audit()
    unit_env = unit_environment()
    notify = NotifySocket(wd)
    kubelet = Kubelet()
    kubelet.start_auto()
    # Its metrics written as on a node that runs node_exporter, into a
    # directory of the bench's own.
    os.makedirs(os.path.join(wd, "metrics"))
    agent = Agent(wd, values, os.path.join(wd, "state"), env("KUBECONFIG"),
                  ["--resync=0", "--idle-close=%d" % IDLE_CLOSE_S, "--metrics-dir=" + os.path.join(wd, "metrics")],
                  notify=notify,
                  extra_env=dict(unit_env, NAP_LOG_LEVEL="debug"))
    if notify.wait_for(lambda m: "READY=1" in m, 30) is None:
        print("the agent did not start:\n" + agent.output())
        return 1
    rss_first = agent.status("VmRSS")

    plan = edits(per_kind)
    texts = []
    rows = []  # kind, to_audit_ms, to_status_ms, writes
    for kind, key, value in plan:
        if key:
            text = set_key(text, key, value)
        texts.append(text)
        rows.append((kind,) + timed_edit(agent, notify, audit, values, text))
    rss_open = agent.status("VmRSS")

    # (a) cold: each edit after the idle close
    cold = []  # to_audit_ms, to_status_ms, libs were unloaded
    for i in range(COLD_EDITS):
        time.sleep(IDLE_CLOSE_S + 0.5)
        unloaded = not agent.net_libs()
        text = set_key(text, "SANDBOX_PUBLIC_URL", "https://cold%d.example.com" % i)
        cold.append(timed_edit(agent, notify, audit, values, text)[:2] + (unloaded,))

    # (c) idle, after the idle close
    time.sleep(IDLE_CLOSE_S + 1)
    libs_mapped = bool(agent.net_libs())
    st0 = {k: agent.status(k) for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")}
    t0 = time.monotonic()
    time.sleep(idle_s)
    st1 = {k: agent.status(k) for k in st0}
    idle_min = (time.monotonic() - t0) / 60
    wakeups = sum(st1[k] - st0[k] for k in st0) / idle_min
    rss = {k: agent.status(k) for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM")}
    libs, pss, anon = smaps(agent.pid)
    dispatch = [float(x) for x in re.findall(r"took ([0-9.]+) ms of CPU", agent.output())]
    agent.stop()
    notify.close()
    kubelet.stop_auto()

    # (d) the install.sh way, same edits, same cluster
    ist = []
    out_dir = os.path.join(wd, "rendered")
    kfile = os.path.join(wd, "install-values.env")
    for (kind, _, _), text in zip(plan, texts):
        write_in_place(kfile, text)
        mark = audit.mark()
        t = time.monotonic()
        subprocess.run(["rm", "-rf", out_dir], check=True)
        subprocess.run([binary, "render", "--values", kfile, "--output", out_dir, "--show-secrets"],
                       check=True, capture_output=True)
        p = subprocess.run([env("KUBECTL"), "--kubeconfig", env("KUBECONFIG"), "apply", "--server-side",
                            "--force-conflicts", "-f", out_dir], capture_output=True, text=True)
        took = (time.monotonic() - t) * 1000
        kubectl_writes = [e for e in audit.events(mark) if e.get("stage") == "ResponseComplete" and
                          e.get("verb") in ("create", "update", "patch", "delete") and
                          (e.get("userAgent") or "").startswith("kubectl")]
        ist.append((kind, took, len(kubectl_writes), p.returncode))

    # ---- figures -------------------------------------------------------------
    print()
    print("nap-agent daemon bench: %d edits (%d kinds x %d), each applied when the file is closed, %s cores" %
          (len(plan), len(plan) // per_kind, per_kind, os.cpu_count()))
    print("the agent's environment as under units/nap-agent.service: %s" %
          (" ".join("%s=%s" % kv for kv in sorted(unit_env.items())) or "(none)"))
    applied = [r for r in rows if r[1] is not None]
    a_ms = [r[1] for r in applied]
    s_ms = [r[2] for r in rows]
    print("(a) edit-to-applied, warm, edits that wrote (n=%d): last audit-logged write: median %.0f ms, p95 %.0f ms" %
          (len(a_ms), statistics.median(a_ms), pct(a_ms, 95)))
    print("    edit-to-STATUS= (whole pass incl. oauth rows), all edits (n=%d): median %.0f ms, p95 %.0f ms" %
          (len(s_ms), statistics.median(s_ms), pct(s_ms, 95)))
    c_ms = [c[0] for c in cold if c[0] is not None]
    print("    cold (libcurl and libpq unloaded before %d of %d edits; url edits): last write: median %.0f ms, "
          "p95 %.0f ms; STATUS= median %.0f ms" % (sum(c[2] for c in cold), len(cold), statistics.median(c_ms),
                                                   pct(c_ms, 95), statistics.median(c[1] for c in cold)))
    print("    the longest loop iteration: %.1f ms of CPU (over %d passes)" % (max(dispatch or [0]), len(dispatch)))
    print("(b) write requests per edit, and latency, by kind:")
    print("    %-10s %8s %8s %10s %10s %12s" % ("kind", "writes", "(max)", "audit p50", "STATUS p50", "install.sh"))
    for kind in dict.fromkeys(r[0] for r in rows):
        ks = [r for r in rows if r[0] == kind]
        ws = [r[3] for r in ks]
        au = [r[1] for r in ks if r[1] is not None]
        iw = [x[2] for x in ist if x[0] == kind]
        print("    %-10s %8.1f %8d %10s %10.0f %9.1f wr" % (
            kind, statistics.mean(ws), max(ws), "%.0f" % statistics.median(au) if au else "-",
            statistics.median(r[2] for r in ks), statistics.mean(iw)))
    for kind in ("toggle-off", "toggle-on"):
        per = {}
        for r in rows:
            if r[0] == kind:
                for verb, res, ms in r[4]:
                    per.setdefault("%s %s" % (verb, res), []).append(ms)
        print("    %s, the apiserver's time per request (received to answered), median: %s" % (kind, ", ".join(
            "%s %.1f ms" % (k, statistics.median(v)) for k, v in sorted(per.items()))))
    print("(c) RSS after the first pass %d KiB, after the warm edits %d KiB (connections open)" % (rss_first, rss_open))
    print("    idle (connections closed, libcurl/libpq mapped: %s): VmRSS %d KiB (anon %d, file %d, shmem %d), "
          "peak %d KiB" % ("yes" if libs_mapped else "no", rss["VmRSS"], rss["RssAnon"], rss["RssFile"],
                           rss["RssShmem"], rss["VmHWM"]))
    print("    Pss %d KiB; file-backed Rss by mapping: %s" % (pss, ", ".join(
        "%s %d" % (name, kib) for name, kib in libs[:8])))
    print("    anonymous Rss by mapping: %s" % ", ".join("%s %d" % (name, kib) for name, kib in anon[:8]))
    print("    idle wake-ups: %.1f per minute (context switches over %d s, no watchdog, resync off)" %
          (wakeups, idle_s))
    i_ms = [x[1] for x in ist]
    bad = [x for x in ist if x[3] != 0]
    print("(d) install.sh way (render --output + kubectl apply --server-side --force-conflicts), same %d edits:" %
          len(ist))
    print("    median %.0f ms, p95 %.0f ms, %.1f write requests per edit%s" %
          (statistics.median(i_ms), pct(i_ms, 95), statistics.mean(x[2] for x in ist),
           "" if not bad else " (%d kubectl failures)" % len(bad)))
    print("    ratio install.sh / agent (median, install.sh's run / the agent's edit-to-last-write): %.1fx; "
          "to STATUS=: %.1fx" % (statistics.median(i_ms) / statistics.median(a_ms),
                                 statistics.median(i_ms) / statistics.median(s_ms)))
    noop = [r[3] for r in rows if r[0] == "no-op"]
    one = [r[1] for r in rows if r[0] == "url" and r[1] is not None]
    tog = [r[1] for r in rows if r[0].startswith("toggle") and r[1] is not None]
    ratio = statistics.median(i_ms) / statistics.median(a_ms)
    print("goals: one-object edit (url) median < 25 ms: %s (%.1f ms); module toggle (5+ writes) median < 40 ms: %s "
          "(%.1f ms); >= 8x install.sh: %s (%.1fx); no-op edit writes 0: %s (max %d); idle RSS <= 9.1 MiB: %s "
          "(%.2f MiB); idle wake-ups 0: %s; no loop iteration of 50 ms of CPU: %s" % (
              "met" if statistics.median(one) < 25 else "NOT met", statistics.median(one),
              "met" if statistics.median(tog) < 40 else "NOT met", statistics.median(tog),
              "met" if ratio >= 8 else "NOT met", ratio,
              "met" if max(noop) == 0 else "NOT met", max(noop),
              "met" if rss["VmRSS"] <= 9.1 * 1024 else "NOT met", rss["VmRSS"] / 1024,
              "met" if wakeups == 0 else "NOT met",
              "met" if max(dispatch or [0]) < 50 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
