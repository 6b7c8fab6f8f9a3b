#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks every `#include "..."` of agent/ against the directions of
STYLE.md ("Which way the includes run"):

    main, cli --> daemon --> pass --> plan --> template --> config --> envfile
                               |        `--> ledger
                               `--> manager --> kube, oauth (and ledger, template)
    everything --> util

A module may include the modules its arrows reach, directly or through
others (cli may include config), and itself. So the pure stages (envfile,
config, template, plan, ledger) never include kube, oauth, manager, pass,
daemon or cli; kube and oauth never include manager, pass, daemon or cli;
the manager (the ledger and the connections) never includes the pass that
runs on it; util includes nothing of the agent.

Files belong to a module by their name (STYLE.md: a file that belongs to a
group carries its prefix):

    util      agent/util/*
    envfile   envfile, envfile-*        config    config, config-*
    template  template, template-*      plan      plan, plan-*
    ledger    ledger, ledger-*          kube      kube, kube-*
    oauth     oauth, oauth-*            manager   manager, manager-*
    pass      pass, pass-*              daemon    daemon, daemon-*
    cli       cli, cli-*, main.c
    doctor    doctor, doctor-*: the live checks of `nap-agent doctor`. They
              read the ledger, the config and ask the servers through the
              manager's clients, and load values.env as a pass does, so
              doctor sits between cli and pass:
              cli --> doctor --> pass (and all the pass reaches).
    gensecrets  gensecrets*: rewrites values.env's empty secrets on the
              parser's spans; a pure stage beside config:
              cli --> gensecrets --> envfile.
    rollout   rollout, rollout-*: a workload's health judged from its
              objects (Deployment or DaemonSet, ReplicaSets, Pods) as read
              from the API server; a pure stage the daemon (which follows
              rollouts), the pass (which notes the workloads it changed)
              and doctor use: pass --> rollout.

`nap-config.h` (generated: the version and the build's default paths) is
the caller's policy: cli, daemon, doctor, pass, manager, kube and oauth
may include it;
the pure stages and util may not (STYLE.md: "paths are the caller's
policy"). Known breaks of these rules are listed in EXCEPTIONS with the
reason; each is reported on every run, and one that no longer occurs fails
the check, so the list cannot go stale. A file whose name fits no group,
or an include that names no file of agent/, fails: a new prefix is a
decision to write down here.

    check-includes.py AGENT_DIR              exit 0 when every include is allowed
    check-includes.py --self-test AGENT_DIR  the check fails on copies of
                                             AGENT_DIR broken on purpose
"""
import io
import os
import re
import shutil
import sys
import tempfile
from contextlib import redirect_stdout

# module -> the modules its arrows point at (STYLE.md).
ARROWS = {
    "cli": ["daemon", "doctor", "gensecrets"],
    "daemon": ["pass"],
    "doctor": ["pass"],
    "pass": ["plan", "manager", "rollout"],
    "manager": ["template", "ledger", "kube", "oauth"],
    "plan": ["template", "ledger"],
    "template": ["config"],
    "config": ["envfile"],
    "gensecrets": ["envfile"],
    "envfile": [],
    "ledger": [],
    "rollout": [],
    "kube": [],
    "oauth": [],
    "util": [],
}

# module -> the name prefixes of its files at the top of agent/ (PREFIX.c,
# PREFIX.h, PREFIX-*.c, PREFIX-*.h); main.c is cli's.
PREFIXES = {
    "cli": ["cli"],
    "doctor": ["doctor"],
    "daemon": ["daemon"],
    "pass": ["pass"],
    "manager": ["manager"],
    "plan": ["plan"],
    "template": ["template"],
    "config": ["config"],
    "gensecrets": ["gensecrets"],
    "envfile": ["envfile"],
    "ledger": ["ledger"],
    "kube": ["kube"],
    "oauth": ["oauth"],
    "rollout": ["rollout"],
}
MODULE_OF_PREFIX = {prefix: module for module, prefixes in PREFIXES.items() for prefix in prefixes}
NAME = re.compile(r"^([^-.]+)(-.*)?\.[ch]$")

GENERATED = "nap-config.h"
PURE = {"envfile", "config", "template", "plan", "ledger", "gensecrets", "rollout", "util"}

# (including file, included file) -> why it is tolerated for now.
EXCEPTIONS = {}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(rel):
    """agent-relative path -> module, or None."""
    if rel.startswith("util/"):
        return "util"
    if "/" in rel:
        return None
    if rel == "main.c":
        return "cli"
    m = NAME.match(rel)
    return MODULE_OF_PREFIX.get(m.group(1)) if m else None


def reachable(module):
    """The modules `module` may include: itself, util and every module its
    arrows reach."""
    seen = {module, "util"}
    todo = [module]
    while todo:
        for m in ARROWS[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def sources(agent):
    out = []
    for root, _dirs, files in os.walk(agent):
        for f in files:
            if f.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(root, f), agent))
    return sorted(out)


def resolve(agent, rel, name):
    """The agent-relative file an include names (its own directory first,
    then agent/), GENERATED, or None."""
    for base in (os.path.dirname(rel), ""):
        cand = os.path.normpath(os.path.join(base, name))
        if not cand.startswith("..") and os.path.isfile(os.path.join(agent, cand)):
            return cand
    return GENERATED if name == GENERATED else None


def check_file(agent, rel, errors, seen_exceptions):
    src = module_of(rel)
    if src is None:
        errors.append("agent/%s: belongs to no module; add its prefix to PREFIXES in %s"
                      % (rel, os.path.basename(__file__)))
        return 0
    with open(os.path.join(agent, rel), encoding="utf-8") as f:
        text = f.read()
    n = 0
    for m in INCLUDE.finditer(text):
        n += 1
        name = m.group(1)
        line = text.count("\n", 0, m.start()) + 1
        where = "agent/%s:%d: #include \"%s\"" % (rel, line, name)
        target = resolve(agent, rel, name)
        if target is None:
            errors.append("%s: names no file of agent/" % where)
            continue
        if target == GENERATED:
            ok = src not in PURE
            dst = "the build's paths (%s)" % GENERATED
        else:
            dst_mod = module_of(target)
            if dst_mod is None:
                continue  # reported for the file itself
            ok = dst_mod in reachable(src)
            dst = dst_mod
        key = (rel, name)
        if key in EXCEPTIONS:
            seen_exceptions.add(key)
            if not ok:
                print("exception: %s: %s -> %s: %s" % (where, src, dst, EXCEPTIONS[key]))
                continue
        if not ok:
            errors.append("%s: %s may not include %s (STYLE.md: which way the includes run)"
                          % (where, src, dst))
    return n


def check(agent):
    errors = []
    seen_exceptions = set()
    files = sources(agent)
    count = sum(check_file(agent, rel, errors, seen_exceptions) for rel in files)
    for key in sorted(set(EXCEPTIONS) - seen_exceptions):
        errors.append("EXCEPTIONS lists agent/%s including \"%s\", which no longer occurs: remove it" % key)
    if not files or not count:
        errors.append("no include checked under '%s'" % agent)
    for e in errors:
        print("FAIL " + e)
    print("%d file(s), %d include(s) checked, %d exception(s), %d error(s)"
          % (len(files), count, len(seen_exceptions), len(errors)))
    return 1 if errors else 0


# (what the copy gets, the error the check must print); each is applied to a
# fresh copy of agent/ on its own.
BREAKS = [
    (("envfile.c", '#include "kube.h"\n'), 'envfile may not include kube'),
    (("template.h", '#include "manager.h"\n'), 'template may not include manager'),
    (("ledger.c", '#include "plan.h"\n'), 'ledger may not include plan'),
    (("kube.c", '#include "cli.h"\n'), 'kube may not include cli'),
    (("oauth.c", '#include "manager.h"\n'), 'oauth may not include manager'),
    (("manager.c", '#include "pass.h"\n'), 'manager may not include pass'),
    (("pass.c", '#include "daemon.h"\n'), 'pass may not include daemon'),
    (("util/fs.c", '#include "config.h"\n'), 'util may not include config'),
    (("config.c", '#include "nap-config.h"\n'), 'config may not include the build'),
    (("plan.c", '#include "nowhere.h"\n'), 'names no file of agent/'),
    (("stray.c", '#include "util/log.h"\n'), 'agent/stray.c: belongs to no module'),
]


def self_test(agent):
    """The check passes on a copy of AGENT_DIR and fails, with the expected
    message, on each broken copy."""
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(None, None)] + BREAKS + [("stale", "no longer occurs")]
        for (edit, want) in cases:
            copy = os.path.join(tmp, "agent")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(agent, copy)
            stale = ("envfile.c", "kube.h")  # an include no file has
            if edit == "stale":
                EXCEPTIONS[stale] = "self-test: listed, never included"
            elif edit:
                with open(os.path.join(copy, edit[0]), "a") as fh:
                    fh.write(edit[1])
            out = io.StringIO()
            with redirect_stdout(out):
                rc = check(copy)
            EXCEPTIONS.pop(stale, None)
            if want is None:
                good = rc == 0
            else:
                good = rc == 1 and want in out.getvalue()
            name = "unchanged tree" if edit is None else ("stale exception" if edit == "stale" else
                                                          "%s gets %s" % (edit[0], edit[1].strip()))
            print("%s %s" % ("ok  " if good else "FAIL", name))
            if not good:
                print(out.getvalue())
                failed += 1
    print("%d case(s), %d failed" % (len(cases), failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    if len(argv) != 2:
        print("usage: check-includes.py [--self-test] AGENT_DIR", file=sys.stderr)
        return 2
    return check(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
