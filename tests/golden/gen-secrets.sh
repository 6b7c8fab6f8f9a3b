#!/bin/bash
# `nap-agent gen-secrets` from the outside: an untouched file stays
# byte-identical (and is not even rewritten); a file with two empty secrets
# and one set changes exactly two lines; mode and owner are kept; a missing
# file is created from the example, group-readable only; no value is printed.
#
# usage: gen-secrets.sh NAP_AGENT
set -euo pipefail
agent=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
no() { fail=$((fail + 1)); echo "FAIL $1"; }

# 1. untouched
cat >"$tmp/set.env" <<'V'
# all set
SANDBOX_JWT_SECRET=0123456789abcdef0123456789abcdef-a
SANDBOX_SERVICE_KEY='0123456789abcdef0123456789abcdef-b'
V
chmod 0600 "$tmp/set.env"
cp -p "$tmp/set.env" "$tmp/set.orig"
ino=$(stat -c %i "$tmp/set.env")
"$agent" gen-secrets --values "$tmp/set.env" >"$tmp/out1"
if cmp -s "$tmp/set.env" "$tmp/set.orig" && [ "$(stat -c %i "$tmp/set.env")" = "$ino" ]; then ok "untouched file stays byte-identical"; else no "untouched file changed"; fi

# 2. two empty, one set
cat >"$tmp/two.env" <<'V'
# header comment

export SANDBOX_JWT_SECRET=    # fill me
SANDBOX_SERVICE_KEY=already-set-0123456789abcdef0123456789
TURN_AUTH_SECRET="change-me"
OTHER=keep
V
chmod 0640 "$tmp/two.env"
cp "$tmp/two.env" "$tmp/two.orig"
"$agent" gen-secrets --values "$tmp/two.env" >"$tmp/out2"
changed=$(diff "$tmp/two.orig" "$tmp/two.env" | grep -c '^>' || true)
if [ "$changed" = 2 ]; then ok "exactly two lines changed"; else no "changed $changed lines"; fi
if grep -qE '^export SANDBOX_JWT_SECRET=[0-9a-f]{64}    # fill me$' "$tmp/two.env" &&
	grep -qE '^TURN_AUTH_SECRET="[0-9a-f]{64}"$' "$tmp/two.env"; then ok "comment and quoting kept"; else no "comment or quoting lost"; fi
if [ "$(stat -c %a "$tmp/two.env")" = 640 ]; then ok "mode kept"; else no "mode changed to $(stat -c %a "$tmp/two.env")"; fi
if [ "$(cat "$tmp/out2")" = "$(printf 'filled SANDBOX_JWT_SECRET\nfilled TURN_AUTH_SECRET')" ]; then ok "prints the keys it filled"; else no "output: $(cat "$tmp/out2")"; fi
v=$(sed -n 's/^export SANDBOX_JWT_SECRET=\([0-9a-f]*\).*/\1/p' "$tmp/two.env")
if ! grep -q "$v" "$tmp/out2"; then ok "value not printed"; else no "value printed"; fi
if [ "$(env -i bash -c "set -a; . '$tmp/two.env'; echo \$SANDBOX_JWT_SECRET")" = "$v" ]; then ok "bash reads the filled value"; else no "bash reads something else"; fi

# 3. a file that does not parse is left alone
printf 'SANDBOX_JWT_SECRET=\nBAD=$(rm -rf /)\n' >"$tmp/bad.env"
cp "$tmp/bad.env" "$tmp/bad.orig"
if ! "$agent" gen-secrets --values "$tmp/bad.env" >/dev/null 2>&1 && cmp -s "$tmp/bad.env" "$tmp/bad.orig"; then ok "unparsable file untouched"; else no "unparsable file touched"; fi

# 4. missing file: created from the example, 0640, and valid
if "$agent" gen-secrets --values "$tmp/new.env" >/dev/null 2>&1 && [ "$(stat -c %a "$tmp/new.env")" = 640 ] &&
	"$agent" check --values "$tmp/new.env" >/dev/null 2>&1 && ! grep -qE "^[A-Z_]+=demo-only" "$tmp/new.env"; then
	ok "missing file created from the example"
else no "missing file not created properly"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
