#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The journal's message catalog (units/nap-agent.catalog) against the
MESSAGE_IDs the agent logs with (agent/util/log-messages.h): each id has
exactly one entry and each entry an id of the header; ids are 128-bit,
lowercase hex and distinct; each entry has a Subject, Defined-By and
Documentation and says what to do by naming a nap-agent command; and
systemd's own catalog parser reads the file: `journalctl --root=DIR
--update-catalog` builds a database from it, whose `--list-catalog` lists
exactly those ids with their subjects.

Usage: check-catalog.py SOURCE_ROOT
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ID = re.compile(r"^[0-9a-f]{32}$")


def header_ids(path):
    ids = {}
    for m in re.finditer(r'#define (NAP_MESSAGE_[A-Z_]+) "([^"]*)"', open(path).read()):
        ids[m.group(2)] = m.group(1)
    return ids


def catalog_entries(path):
    """id -> {"headers": {...}, "body": text}, and the ids in file order."""
    entries, order, cur = {}, [], None
    for line in open(path).read().splitlines():
        if line.startswith("-- "):
            cur = line[3:].strip()
            order.append(cur)
            entries[cur] = {"headers": {}, "body": [], "in_body": False}
            continue
        if cur is None:
            continue
        e = entries[cur]
        if not e["in_body"]:
            if line == "":
                e["in_body"] = True
            elif ":" in line:
                k, v = line.split(":", 1)
                e["headers"][k.strip()] = v.strip()
        else:
            e["body"].append(line)
    return entries, order


def main(argv):
    src = argv[1]
    header = os.path.join(src, "agent", "util", "log-messages.h")
    catalog = os.path.join(src, "units", "nap-agent.catalog")
    ids = header_ids(header)
    entries, order = catalog_entries(catalog)
    passed = failed = 0

    def check(cond, what):
        nonlocal passed, failed
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        passed, failed = passed + bool(cond), failed + (not cond)

    check(len(ids) == 9, "log-messages.h defines the 9 events of issue 20 (%d)" % len(ids))
    check(all(ID.match(i) for i in ids), "every id is 32 lowercase hex digits")
    check(len(set(ids)) == len(ids) and len(set(ids.values())) == len(ids), "ids and names are distinct")
    check(len(order) == len(set(order)), "no id has two catalog entries")
    check(set(order) == set(ids), "the catalog has exactly the header's ids (missing %s, extra %s)"
          % (sorted(ids[i] for i in set(ids) - set(order)), sorted(set(order) - set(ids))))
    for i in order:
        e = entries[i]
        name = ids.get(i, i)
        body = "\n".join(e["body"])
        check(all(e["headers"].get(k) for k in ("Subject", "Defined-By", "Documentation")),
              "%s: Subject, Defined-By, Documentation" % name)
        check(e["headers"].get("Defined-By") == "nap-agent", "%s: Defined-By: nap-agent" % name)
        check(re.search(r"`nap-agent (doctor|check|status|plan)", body), "%s: says which nap-agent command to run" % name)

    # systemd's parser: the database built from the file lists our ids
    root = tempfile.mkdtemp()
    try:
        cdir = os.path.join(root, "usr", "lib", "systemd", "catalog")
        os.makedirs(cdir)
        shutil.copy(catalog, cdir)
        r = subprocess.run(["journalctl", "--root=" + root, "--update-catalog"], capture_output=True, text=True)
        check(r.returncode == 0 and not r.stderr.strip(), "journalctl --update-catalog reads it: %s" % r.stderr.strip())
        r = subprocess.run(["journalctl", "--root=" + root, "--list-catalog"], capture_output=True, text=True)
        listed = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.strip())
        check(r.returncode == 0 and set(listed) == set(ids), "journalctl --list-catalog lists exactly the ids")
        check(all(listed.get(i) == "nap-agent: " + entries[i]["headers"]["Subject"] for i in ids if i in entries),
              "with their subjects")
    finally:
        shutil.rmtree(root)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
