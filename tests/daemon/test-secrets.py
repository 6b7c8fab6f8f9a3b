#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Issue 14, acceptance: no secret value leaks through server text.

`nap-agent run` talks to the harness's apiserver through the fault proxy
(naptest.faultproxy) in echo mode: an admission webhook that refuses requests with a 422 whose
message quotes the request body and every Secret value it has seen, in one
form per pass (plain, base64, JSON-escaped as Python and as Go write it).

  - the Services and Deployments are refused while the Secrets go through
    (the webhook learns their data): the daemon's messages pass the
    redaction step, for the values of the configuration in use and of the
    one before it (SANDBOX_JWT_SECRET is changed in between);
  - then the Secrets are refused too: their answers are cut to the reason
    and field paths;
  - doctor and doctor --json, with the webhook quoting the secrets in its
    answer to the API server's checks.

The webhook also quotes the key of the secret digest, which it saw created
(the answer to that creation held back, so that the echo comes first),
and the bearer token of the request. Nowhere is any of these values in any
of its forms: the daemon's stderr, every STATUS=,
ledger.json, `status`, `status --json`, `doctor`, `doctor --json`. And the
echoes did reach the agent (the outputs say "<redacted>" and "not shown"),
so the test is not passing because nothing was echoed.

    with-harness.sh test-secrets.py NAP_AGENT
"""
import base64
import json
import os
import sys

from naptest import agent
from naptest.agent import Agent, NotifySocket
from naptest.checks import Results
from naptest.faultproxy import FaultProxy, go_escape
from naptest.harness import env, init, scratch
from naptest.kube import get, write_kubeconfig
from naptest.values import example_values, set_key, write_in_place

T = Results()
# Values with every character a JSON encoder escapes, and one Go escapes too.
JWT = ['sjwt-1"q\\b<l>&\u00e9-0123456789abcdefghij', 'sjwt-2"q\\b<l>&\u00e9-0123456789abcdefghij',
       'sjwt-3"q\\b<l>&\u00e9-0123456789abcdefghij']
OTHERS = {
    "SANDBOX_SERVICE_KEY": 'skey"q\\b<l>&\u00e9-0123456789abcdefghijkl',
    "BROWSER_JWT_SECRET": 'bjwt"q\\b<l>&\u00e9-0123456789abcdefghijkl',
    "TURN_AUTH_SECRET": 'turn"q\\b<l>&\u00e9-0123456789abcdefghijkl',
}
FORMS = ("plain", "base64", "json", "json-utf8", "go")


def leaks(text, values):
    """The (value, form) pairs found in text; the forms written here from
    what each encoder documents, not from the agent's code."""
    found = []
    for v in values:
        for name, form in (("plain", v), ("base64", base64.b64encode(v.encode()).decode()),
                           ("json", json.dumps(v)[1:-1]), ("json-utf8", json.dumps(v, ensure_ascii=False)[1:-1]),
                           ("go", go_escape(v))):
            if form in text:
                found.append((v[:6] + "...", name))
    return found


def quoted(v):
    return "'%s'" % v  # single quotes: every character literal (none of the values holds one)


def output_of(*args):
    r = agent.run(*args)
    return r.out + r.err


def daemon_phase(wd, proxy, kubeconfig, values, state):
    """Runs the daemon through the echoing webhook; returns its texts."""
    keys = {k: quoted(v) for k, v in OTHERS.items()}
    text = example_values(SANDBOX_JWT_SECRET=quoted(JWT[0]), SANDBOX_ENABLED="true", BROWSER_ENABLED="true", **keys)
    write_in_place(values, text)
    notify = NotifySocket(wd)
    echo = {"code": 422, "methods": ["PATCH"], "paths": ["/services/", "/deployments/", "/daemonsets/"],
            "remember": True, "headers": True, "form": "plain"}
    proxy.echo(echo)
    # The first pass creates the secret digest's key (a POST) while its
    # other requests run: the POST is forwarded at once (the webhook learns
    # the key) and its answer held back 2 s, so the 422 of a Service's PATCH
    # quoting the key comes back before the agent has its own key back.
    proxy.queue({"type": "delay", "seconds": 2, "when": "after", "methods": ["POST"], "path": "/secrets"})
    daemon = Agent(wd, values, state, kubeconfig, ["--resync=0", "--idle-close=0"], notify=notify)
    T.check(notify.wait_for(lambda m: "READY=1" in m, 30) is not None, "READY=1", notify.snapshot())
    T.check(proxy.stats()["queued"] == 0, "the first pass created the key, its answer held back")

    def one_pass(edit, what, said="denied the request"):
        n = notify.count()
        write_in_place(values, edit)
        got = notify.wait_for(lambda m: m.startswith("STATUS="), 15, n)
        T.check(got is not None and said in notify.snapshot(got)[0][1], "%s: the pass failed on the webhook's 422"
                % what, notify.snapshot(n))

    # The configuration before: JWT[0]; in use: JWT[1].
    text = set_key(text, "SANDBOX_JWT_SECRET", quoted(JWT[1]))
    one_pass(text, "SANDBOX_JWT_SECRET changed")
    for i, form in enumerate(FORMS):
        proxy.echo(dict(echo, form=form))
        text = set_key(text, "SANDBOX_DOMAIN", "d%d.example.com" % i)
        one_pass(text, "webhook quoting every secret %s" % form)
    # The Secrets refused too (and a new value, so that the sandbox's is sent).
    proxy.echo(dict(echo, paths=["/secrets/"], form=None))
    text = set_key(text, "SANDBOX_JWT_SECRET", quoted(JWT[2]))
    one_pass(text, "the Secrets refused", said="(HTTP 422; the server's message is not shown")
    echoed = proxy.echoed
    T.check(echoed >= 7, "the webhook echoed (%d answers)" % echoed)
    notify.sync()
    statuses = "\n".join(m for _, m in notify.snapshot())
    rc = daemon.stop()
    notify.close()
    T.check(rc == 0, "exit 0 on SIGTERM")
    return {"stderr": daemon.output(), "STATUS=": statuses}


def doctor_phase(proxy, kubeconfig, values, state):
    """doctor, with the webhook quoting the current secrets in its answers to
    the API server checks (every form in each answer)."""
    proxy.reset()
    current = [JWT[2]] + list(OTHERS.values()) + [env("KUBE_TOKEN")]
    out = {}
    for form in FORMS:
        proxy.echo({"code": 422, "methods": ["GET"], "form": form, "extra": current,
                                    "paths": ["^/version$", "^/api/v1/namespaces/nap$"]})
        args = ("--values", values, "--state-dir", state, "--kubeconfig", kubeconfig)
        out["doctor (%s)" % form] = output_of("doctor", *args)
        out["doctor --json (%s)" % form] = output_of("doctor", "--json", *args)
    return out


def main():
    init(sys.argv)
    wd = scratch()
    proxy = FaultProxy().start()
    try:
        kubeconfig = write_kubeconfig(os.path.join(wd, "kubeconfig"), proxy.url)
        values, state = os.path.join(wd, "values.env"), os.path.join(wd, "state")
        texts = daemon_phase(wd, proxy, kubeconfig, values, state)
        with open(os.path.join(state, "ledger.json")) as f:
            texts["ledger.json"] = f.read()
        texts["status"] = output_of("status", "--state-dir", state)
        texts["status --json"] = output_of("status", "--json", "--state-dir", state)
        texts.update(doctor_phase(proxy, kubeconfig, values, state))
    finally:
        proxy.stop()
    # the values.env secrets, the secret digest's key (the webhook saw it
    # created) and the kubeconfig's token (it quoted the Authorization header)
    key = get("secrets", "nap", "nap-agent-digest-key")
    T.check(key is not None, "the secret digest's key exists")
    every = JWT + list(OTHERS.values()) + [env("KUBE_TOKEN")]
    every += [base64.b64decode(key["data"]["key"]).decode()] if key else []
    for name, text in texts.items():
        T.check(not leaks(text, every), "no secret in %s" % name, leaks(text, every))
    T.check("<redacted>" in texts["stderr"] and "<redacted>" in texts["STATUS="],
            "the daemon's echoes were redacted (not absent)", texts["stderr"][-2000:])
    T.check("the server's message is not shown" in texts["stderr"], "a Secret's answer was cut",
            texts["stderr"][-2000:])
    T.check(all("<redacted>" in t for n, t in texts.items() if n.startswith("doctor")),
            "doctor's echoes were redacted (not absent)", texts["doctor (plain)"])
    T.check("HTTP 422" in texts["ledger.json"] and "HTTP 422" in texts["status"],
            "ledger.json and status hold the last pass's failure", texts["status"])
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
