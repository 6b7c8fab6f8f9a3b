#!/bin/bash
# What the offline verbs read and write, from the outside:
# - `check` on a FIFO, a directory or a device exits 1 at once with
#   "not a regular file" (it used to block in open() on a FIFO);
# - `vars` prints control characters and newlines of a value C-style, never
#   raw, and `vars --json` escapes them (and reads back the exact value);
# - `render --output DIR --show-secrets` writes its files 0600 in a 0700
#   directory (0644/0755 without secrets);
# - a write that fails (a file size limit, a full device) fails the verb:
#   exit 1 and a message, instead of exit 0 with files cut short.
#
# usage: output-safety.sh NAP_AGENT TEMPLATES_DIR
set -euo pipefail
agent=$1
export NAP_TEMPLATES_DIR=$2 NAP_TEMPLATES_OVERRIDE_DIR=/nonexistent/nap-output-safety
unset NAP_VALUES KUBECONFIG DATABASE_URL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
no() { fail=$((fail + 1)); echo "FAIL $1"; }

cat >"$tmp/values.env" <<'V'
NAP_HOST=203.0.113.7
SANDBOX_ENABLED=true
SANDBOX_JWT_SECRET=0123456789abcdef0123456789abcdef-sandbox-jwt
SANDBOX_SERVICE_KEY=0123456789abcdef0123456789abcdef-service-key
V
printf 'NOTE="red\033[31m\ttab\nsecond line\\\\"\n' >>"$tmp/values.env"

# 1. vars: escaped, one line per variable
"$agent" vars --values "$tmp/values.env" >"$tmp/vars" 2>"$tmp/vars.err"
if grep -qF 'NOTE=red\x1b[31m\ttab\nsecond line\\  # file' "$tmp/vars"; then ok "vars escapes the value"; else no "vars: $(grep NOTE "$tmp/vars" | cat -A)"; fi
if ! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$tmp/vars" && ! grep -q '^second line' "$tmp/vars"; then
	ok "vars prints no raw control character"
else no "vars printed a raw control character"; fi

# 2. vars --json: escaped by the JSON encoder, and the same value read back
"$agent" vars --json --values "$tmp/values.env" >"$tmp/vars.json"
# (tabs and newlines are the encoder's indentation; in strings it writes \t, \n)
if ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$tmp/vars.json" && grep -qF '"red\u001b[31m\ttab\nsecond line\\"' "$tmp/vars.json" &&
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["file"]["NOTE"]; sys.exit(v != "red\x1b[31m\ttab\nsecond line\\")' "$tmp/vars.json"; then
	ok "vars --json escapes and keeps the value"
else no "vars --json"; fi

# 3. render --output: modes
"$agent" render --values "$tmp/values.env" --output "$tmp/plain" 2>/dev/null
"$agent" render --values "$tmp/values.env" --output "$tmp/secret" --show-secrets 2>/dev/null
modes=$(cd "$tmp/secret" && find . -type f -printf '%m\n' | sort -u)
dmodes=$(cd "$tmp/secret" && find . -type d -printf '%m\n' | sort -u)
n=$(find "$tmp/secret" -type f | wc -l)
if [ "$modes" = 600 ] && [ "$dmodes" = 700 ] && [ "$n" -ge 4 ]; then ok "--show-secrets: $n files 0600, directories 0700"; else no "--show-secrets: file modes '$modes', directory modes '$dmodes'"; fi
if [ "$(cd "$tmp/plain" && find . -type f -printf '%m\n' | sort -u)" = 644 ]; then ok "redacted files 0644"; else no "redacted file modes"; fi
b64=$(printf %s 0123456789abcdef0123456789abcdef-sandbox-jwt | base64 -w0)
if grep -rqF "$b64" "$tmp/secret" && ! grep -rqF "$b64" "$tmp/plain"; then
	ok "the secret is in the 0600 files only"
else no "secret placement"; fi

# 4. a write that fails fails the verb
set +e
( trap '' XFSZ; ulimit -f 1; exec "$agent" render --values "$tmp/values.env" --output "$tmp/small" ) >/dev/null 2>"$tmp/small.err"
rc=$?
set -e
if [ "$rc" = 1 ] && grep -q "Failed to write '.*': File too large" "$tmp/small.err" && ! ls -A "$tmp/small" | grep -q '^\.#'; then
	ok "render --output under a 1 KiB file size limit: exit 1, no temp file left"
else no "render --output under a file size limit: exit $rc, $(tail -1 "$tmp/small.err")"; fi
for args in "" "--format json" "--show-secrets"; do
	set +e
	# shellcheck disable=SC2086
	"$agent" render --values "$tmp/values.env" $args >/dev/full 2>"$tmp/full.err"
	rc=$?
	set -e
	if [ "$rc" = 1 ] && grep -q "Failed to write the objects" "$tmp/full.err"; then ok "render $args to a full device: exit 1"; else no "render $args to a full device: exit $rc"; fi
done
set +e
"$agent" vars --values "$tmp/values.env" >/dev/full 2>/dev/null
rc=$?
set -e
if [ "$rc" = 1 ]; then ok "vars to a full device: exit 1"; else no "vars to a full device: exit $rc"; fi

# 5. values.env that is not a regular file: refused at once
mkfifo "$tmp/fifo.env"
for f in "$tmp/fifo.env" "$tmp" /dev/zero; do
	set +e
	timeout 10 "$agent" check --values "$f" >/dev/null 2>"$tmp/check.err"
	rc=$?
	set -e
	if [ "$rc" = 1 ] && grep -qF "$f: error: not a regular file" "$tmp/check.err"; then ok "check on $(stat -c %F "$f"): exit 1 at once"; else no "check on $f: exit $rc"; fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
