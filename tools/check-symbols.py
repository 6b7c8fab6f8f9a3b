#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails on a function of agent/ that is exported (not static) but that no
other file uses: used only inside its own file it should be static, used
nowhere it should go. The functions are read from the symbol tables (nm)
of the objects a build dir compiled, as compile_commands.json lists them
(so an object left over from a removed source is not read):

  candidates  every function an object of agent/ defines (the static
              library libnap and the binary's main.c and cli*.c)
  users       every object of the build: agent/'s, the tests', the
              fuzzers', bench/'s

A function counts as used when an object other than its own refers to it
(calls it or takes its address). A use by a test or a fuzzer counts: the
tests link the same library to test a unit through its entry points, and
some are there for that (kube_config_locate_in takes the well-known paths
as an argument so a test can pass its own). Which is which is printed: a
function only tests use is not dead, but its file's header should say it
is for tests.

Whether a function nobody else uses is called in its own file (static) or
not at all (dead) is told from the object's relocations against it
(objdump -r): with gcc and clang at any -O level a call to a global
function of the same file keeps a relocation against its symbol, since it
could be interposed, unless inlined away.

Known cases are listed in EXCEPTIONS with the reason; each is reported on
every run, and one that no longer occurs fails the check, so the list
cannot go stale.

    check-symbols.py BUILD_DIR    exit 0 when every exported function is used elsewhere
    check-symbols.py --self-test  the check on a miniature tree it compiles: fails on its
                                  function used only in its file and on the one used nowhere
"""
import json
import os
import re
import subprocess
import sys

# The program's entry point, called by no object.
ENTRY = {"main"}

# function -> why it is tolerated for now. TEMPORARY: each goes with the
# change named.
EXCEPTIONS = {}

AGENT = re.compile(r"^agent/(libnap\.a|nap-agent)\.p/")


def objects(build):
    """{object: its source} of every object of the build (paths under build;
    the source from its agent/ or tests/ on)."""
    with open(os.path.join(build, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    out = {}
    for e in entries:
        src = os.path.normpath(os.path.join(e["directory"], e["file"]))
        m = re.search(r"(?:^|/)((?:agent|tests|bench)/.*)$", src)
        out[e["output"]] = m.group(1) if m else src
    return out


def nm_all(build, objs):
    """{obj: (functions defined, symbols referenced)}, from two runs of nm
    over every object (one process per question, not per object)."""
    table = {o: (set(), set()) for o in objs}
    paths = {os.path.join(build, o): o for o in objs}
    for flags, slot in ((["--defined-only", "-g"], 0), (["-u"], 1)):
        out = subprocess.run(["nm", "-A"] + flags + sorted(paths), capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            # FILE:[ADDRESS] TYPE SYMBOL (-A names the file on each line; no
            # build path holds a ':')
            path, _, rest = line.partition(":")
            f = rest.split()
            obj = paths.get(path)
            if obj is None or not f:
                continue
            if slot == 0 and len(f) == 3 and f[1] == "T":
                table[obj][0].add(f[2])
            elif slot == 1:
                table[obj][1].add(f[-1])
    return table


def self_references(build, obj):
    """The symbols obj's own relocations name (calls and addresses taken)."""
    out = subprocess.run(["objdump", "-r", os.path.join(build, obj)], capture_output=True, text=True,
                         check=True).stdout
    refs = set()
    for line in out.splitlines():
        f = line.split()  # OFFSET TYPE SYMBOL[+-ADDEND]
        if len(f) == 3 and re.fullmatch(r"[0-9a-f]+", f[0]):
            refs.add(re.split(r"[-+]", f[2])[0])
    return refs


def findings(build):
    """[(function, source, 'static' | 'dead')] and {function: [test users]}."""
    every = objects(build)
    mine = sorted(o for o in every if AGENT.match(o))
    table = nm_all(build, every)
    users = {}
    for o, (_defined, used) in table.items():
        for sym in used:
            users.setdefault(sym, set()).add(o)
    found, by_tests = [], {}
    for o in mine:
        for fn in sorted(table[o][0] - ENTRY):
            others = users.get(fn, set()) - {o}
            if others:
                if not any(AGENT.match(u) for u in others):
                    by_tests[fn] = sorted(others)
                continue
            found.append((fn, every[o], "static" if fn in self_references(build, o) else "dead"))
    return found, by_tests


def check(build):
    found, by_tests = findings(build)
    errors, seen = [], set()
    for fn, src, kind in found:
        if fn in EXCEPTIONS:
            seen.add(fn)
            print("exception: %s (%s): %s" % (fn, src, EXCEPTIONS[fn]))
            continue
        if kind == "static":
            errors.append("%s: %s() is exported but used only in this file: make it static" % (src, fn))
        else:
            errors.append("%s: %s() is called nowhere: remove it" % (src, fn))
    for fn in sorted(set(EXCEPTIONS) - seen):
        errors.append("EXCEPTIONS lists %s(), which is now used elsewhere or gone: remove it" % fn)
    for fn, tests in sorted(by_tests.items()):
        print("used by tests only: %s() (%s)" % (fn, ", ".join(tests)))
    for e in errors:
        print("FAIL " + e)
    print("%d exception(s), %d function(s) used by tests only, %d error(s)" % (len(seen), len(by_tests), len(errors)))
    return 1 if errors else 0


# A tree in miniature: (source, object, text). a.c exports one function
# another file calls, one it calls only itself, one nobody calls, and one
# only a test calls.
SELF_TEST_TREE = [
    ("agent/a.c", "agent/libnap.a.p/a.c.o",
     "int elsewhere(void) { return 1; }\n"
     "int only_here(void) { return 2; }\n"
     "int nowhere(void) { return 3; }\n"
     "int for_tests(void) { return 4; }\n"
     "int caller(void);\n"
     "int caller(void) { return only_here(); }\n"),
    ("agent/main.c", "agent/nap-agent.p/main.c.o",
     "int elsewhere(void); int caller(void);\nint main(void) { return elsewhere() + caller(); }\n"),
    ("tests/t.c", "tests/t.p/t.c.o", "int for_tests(void);\nint main(void) { return for_tests(); }\n"),
]
SELF_TEST_WANT = [
    "FAIL agent/a.c: only_here() is exported but used only in this file: make it static",
    "FAIL agent/a.c: nowhere() is called nowhere: remove it",
    "used by tests only: for_tests() (tests/t.p/t.c.o)",
]


def self_test():
    """The check on the miniature tree: exactly the two failures and the
    test-only use it must report; then a stale exception fails it too."""
    import io
    import tempfile
    from contextlib import redirect_stdout
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        build = os.path.join(tmp, "build")
        entries = []
        for src, obj, text in SELF_TEST_TREE:
            for path, content in ((os.path.join(tmp, src), text), (os.path.join(build, obj), None)):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if content:
                    with open(path, "w") as f:
                        f.write(content)
            subprocess.run([os.environ.get("CC", "cc"), "-O0", "-c", os.path.join(tmp, src), "-o",
                            os.path.join(build, obj)], check=True)
            entries.append({"directory": build, "file": os.path.join("..", src), "output": obj})
        with open(os.path.join(build, "compile_commands.json"), "w") as f:
            json.dump(entries, f)
        real = dict(EXCEPTIONS)  # the tree's own do not apply to the miniature
        EXCEPTIONS.clear()
        for name, listed, want in [("the miniature tree", None, SELF_TEST_WANT),
                                   ("a stale exception", "elsewhere",
                                    ["FAIL EXCEPTIONS lists elsewhere(), which is now used elsewhere or gone"])]:
            if listed:
                EXCEPTIONS[listed] = "self-test"
            out = io.StringIO()
            try:
                with redirect_stdout(out):
                    rc = check(build)
            finally:
                EXCEPTIONS.pop(listed, None)
            text = out.getvalue()
            fails = [line for line in text.splitlines() if line.startswith("FAIL ")]
            good = rc == 1 and all(w in text for w in want) and \
                len(fails) == len([w for w in want if w.startswith("FAIL ")]) + (2 if listed else 0)
            print("%s %s" % ("ok  " if good else "FAIL", name))
            if not good:
                print(text)
                failed += 1
        EXCEPTIONS.update(real)
    print("2 case(s), %d failed" % failed)
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print("usage: check-symbols.py BUILD_DIR | --self-test", file=sys.stderr)
        return 2
    return check(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
