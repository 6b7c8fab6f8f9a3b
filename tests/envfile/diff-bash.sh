#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Differential test of the values.env parser against bash itself.
#
#   diff-bash.sh [--example FILE] DUMPER CORPUS_DIR [REFUSED_DIR]
#
# For every CORPUS_DIR/*.env (and the example FILE, when it exists) the
# parser's {"file": {KEY: value}} must equal what
#   env -i bash -c 'set -a; source FILE'
# exports, byte for byte, and the parser must exit as expected. For every
# REFUSED_DIR/NAME.env the parser must exit 1 and its first "error:" line on
# stderr must equal NAME.err (run from REFUSED_DIR, so the file name in it is
# NAME.env).
#
# DUMPER is a command taking FILE (tests/envfile/envfile-dump), which exits
# 0 exactly when the file parses. With NAP_AGENT=path the product command is
# used instead:
#   $NAP_AGENT vars --json --show-secrets --values FILE
# which also applies the configuration's rules: it exits 0 unless the file
# says otherwise in a comment line
#   # nap-agent vars exits N: MESSAGE
# (MESSAGE: what its first "error:" line says), for a file that parses but is
# not a valid configuration. Its "file" object must still equal bash. An
# empty file, which cannot carry that comment, is refused as assigning
# nothing (see check_not_empty in agent/config.c).
set -eu
exec python3 - "$@" <<'PYEOF'
import glob, json, os, re, subprocess, sys, tempfile

args = sys.argv[1:]
example = None
if args[:1] == ["--example"]:
    example, args = args[1], args[2:]
if len(args) not in (2, 3):
    sys.exit("usage: diff-bash.sh [--example FILE] DUMPER CORPUS_DIR [REFUSED_DIR]")
dumper, corpus = args[0], args[1]
refused = args[2] if len(args) == 3 else None

def absolute(cmd):
    return os.path.abspath(cmd) if cmd and "/" in cmd else cmd
dumper = absolute(dumper)  # the refused files are parsed from their directory
nap_agent = absolute(os.environ.get("NAP_AGENT"))
def parser_cmd(path):
    if nap_agent:
        return [nap_agent, "vars", "--json", "--show-secrets", "--values", path]
    return [dumper, path]

def dec(b):
    return b.decode("utf-8", "surrogateescape")

# Exported by bash itself under env -i; ignored unless the file sets them.
BASELINE = {"PWD", "SHLVL", "OLDPWD", "_"}
BASH = r'''
set -a
__nap_f=$1; set --
source "$__nap_f" >/dev/null 2>&1 </dev/null
set +a
unset __nap_f
for __nap_n in $(compgen -e); do
    [[ -v $__nap_n ]] && printf '%s=%s\0' "$__nap_n" "${!__nap_n}"
done
'''

def bash_map(path, tmp):
    out = subprocess.run(["env", "-i", "bash", "-c", BASH, "bash", os.path.abspath(path)],
                         cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, check=True).stdout
    m = {}
    for rec in out.split(b"\0")[:-1]:
        k, _, v = rec.partition(b"=")
        m[dec(k)] = dec(v)
    return m

EXPECT = re.compile(r"^# nap-agent vars exits ([0-9]+): (.+)$", re.M)

def expected_exit(path):
    """(exit status, first error message or None) the parser command must give."""
    if not nap_agent:
        return 0, None
    if os.path.getsize(path) == 0:
        return 1, "the file assigns no key at all: it may have been emptied or cut short"
    m = EXPECT.search(open(path, encoding="utf-8", errors="surrogateescape").read())
    return (int(m.group(1)), m.group(2)) if m else (0, None)

def first_error(stderr):
    errs = [l for l in dec(stderr).splitlines() if ": error: " in l]
    return errs[0] if errs else None

def parser_map(path):
    p = subprocess.run(parser_cmd(path), stdin=subprocess.DEVNULL, capture_output=True)
    want_rc, want_msg = expected_exit(path)
    got = first_error(p.stderr)
    if p.returncode != want_rc or (want_msg and not (got and got.endswith(": error: " + want_msg))):
        return None, "parser exited %d (expected %d%s): %s" % (
            p.returncode, want_rc, ", " + repr(want_msg) if want_msg else "", got or dec(p.stderr).strip())
    try:
        return json.loads(dec(p.stdout))["file"], None
    except (ValueError, KeyError, TypeError):
        return None, "parser printed no JSON (exit %d): %s" % (p.returncode, dec(p.stderr).strip())

def check_accepted(path, tmp):
    pm, err = parser_map(path)
    if err:
        return err
    bm = bash_map(path, tmp)
    bm = {k: v for k, v in bm.items() if k not in BASELINE or k in pm}
    if pm == bm:
        return None
    lines = []
    for k in sorted(set(pm) | set(bm)):
        if pm.get(k) != bm.get(k):
            lines.append("  %s: parser %r, bash %r" % (k, pm.get(k), bm.get(k)))
    return "differs from bash:\n" + "\n".join(lines)

def check_refused(path):
    d, name = os.path.split(path)
    want = open(path[:-4] + ".err", encoding="utf-8").read().strip()
    p = subprocess.run(parser_cmd(name), cwd=d or ".", stdin=subprocess.DEVNULL, capture_output=True)
    got = first_error(p.stderr)
    if p.returncode == 0:
        return "accepted, expected: " + want
    if p.returncode != 1:
        return "exit %d (expected 1): %s" % (p.returncode, dec(p.stderr).strip())
    if got != want:
        return "got %r\n  expected %r" % (got or dec(p.stderr).strip(), want)
    return None

passed = failed = 0
def report(name, err):
    global passed, failed
    if err:
        failed += 1
        print("FAIL %s: %s" % (name, err))
    else:
        passed += 1
        print("ok   %s" % name)

files = sorted(glob.glob(os.path.join(corpus, "*.env")))
if example and os.path.isfile(example):
    files.append(example)
with tempfile.TemporaryDirectory() as tmp:
    # Files a glob in a value would match, were bash to glob assignments.
    for n in ("a.txt", "b.txt", "abc", "x", "{a,b}"):
        open(os.path.join(tmp, n), "w").close()
    for f in files:
        report(f, check_accepted(f, tmp))
if refused:
    for f in sorted(glob.glob(os.path.join(refused, "*.env"))):
        report(f, check_refused(f))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or passed == 0 else 0)
PYEOF
