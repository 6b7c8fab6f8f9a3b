# SPDX-License-Identifier: Apache-2.0
"""The apiserver's audit log (NAP_AUDIT_LOG, JSON lines, one event per
stage): every request the agent made (its User-Agent is
"nap-agent/VERSION"), read between a mark and a fence. A fence is a GET
with a unique path sent by the test: once the log holds it, it holds every
request the apiserver answered before it, so "nothing more was written" is
read from the log, never concluded from a sleep.
"""
import collections
import datetime
import json
import os
import time
import uuid

from naptest.checks import Failure
from naptest.harness import env
from naptest.kube import api

WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

# One request: (verb, resource, namespace, name) first, so that r[:4] names
# it; time: when it was answered, received: when the apiserver received it.
Req = collections.namedtuple("Req", "verb resource namespace name uri code time received")


def writes(reqs):
    """The writes among reqs, dry runs left out."""
    return [r for r in reqs if r.verb in WRITE_VERBS and "dryRun" not in r.uri]


def parse_ts(ts):
    """RFC 3339 with microseconds (the audit log's) to seconds since the epoch."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def summary(reqs):
    """Sorted "verb resource namespace/name" of each request."""
    return sorted("%s %s %s/%s" % r[:4] for r in reqs)


def fmt_reqs(reqs):
    return "\n".join("    %s %s %s/%s (%s)" % (r.verb, r.resource, r.namespace, r.name, r.code)
                     for r in reqs) or "    (none)"


class Audit:
    def __init__(self, path=None):
        self.path = path or env("NAP_AUDIT_LOG")

    def fence(self, timeout=10):
        name = "fence-" + uuid.uuid4().hex[:12]
        api("GET", "/api/v1/namespaces/default/configmaps/" + name, agent_name="nap-fence")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(self.path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.path) - 262144))
                if name.encode() in f.read():
                    return
            time.sleep(0.02)
        raise Failure("the audit log never showed the fence request %s" % name)

    def mark(self):
        """A position in the log after every request answered so far."""
        self.fence()
        return os.path.getsize(self.path)

    def events(self, since=0):
        out = []
        with open(self.path, "rb") as f:
            f.seek(since)
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def requests_since(self, mark):
        """The agent's requests (ResponseComplete) since the mark, up to a fence."""
        self.fence()
        out = []
        for e in self.events(mark):
            if e.get("stage") != "ResponseComplete" or not (e.get("userAgent") or "").startswith("nap-agent/"):
                continue
            o = e.get("objectRef") or {}
            out.append(Req(e["verb"], o.get("resource", ""), o.get("namespace", ""), o.get("name", ""),
                           e.get("requestURI", ""), (e.get("responseStatus") or {}).get("code"),
                           e.get("stageTimestamp"), e.get("requestReceivedTimestamp")))
        return out

    def writes_since(self, mark):
        """The agent's writes since the mark, dry runs left out."""
        return writes(self.requests_since(mark))


_audit = None


def audit():
    """The harness's audit log, one reader for the whole test file."""
    global _audit
    if _audit is None:
        _audit = Audit()
    return _audit
