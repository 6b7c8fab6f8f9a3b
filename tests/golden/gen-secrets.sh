#!/bin/bash
# `nap-agent gen-secrets` from the outside: an untouched file stays
# byte-identical (and is not even rewritten); empty and placeholder secrets
# are filled where they are written and the missing machine-internal ones
# appended, nothing else changes; ADMIN_PASSWORD and LDAP_BIND_PASSWORD are
# never generated; mode and owner are kept; a symlinked values.env has the
# link's target rewritten in the target's directory, the link kept; a
# missing file is created from the example, group-readable only; a FIFO is
# refused at once; no value is printed.
#
# usage: gen-secrets.sh NAP_AGENT
set -euo pipefail
agent=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
no() { fail=$((fail + 1)); echo "FAIL $1"; }
hexes() { grep -cE "^(export )?[A-Z_]+=[\"']?[0-9a-f]{64}[\"']?( .*)?$" "$1" || true; }

all_set() {
	local i=0
	for k in JWT_SECRET CREDENTIAL_ENCRYPTION_KEY PLATFORM_SERVICE_KEY BROWSER_JWT_SECRET SANDBOX_JWT_SECRET \
		SANDBOX_SERVICE_KEY TURN_AUTH_SECRET PG_PASSWORD; do
		i=$((i + 1))
		[ "$k" = "${1:-}" ] || echo "$k=0123456789abcdef0123456789abcdef-$i"
	done
}

# 1. untouched
{ echo "# all set"; all_set; } >"$tmp/set.env"
chmod 0600 "$tmp/set.env"
cp -p "$tmp/set.env" "$tmp/set.orig"
ino=$(stat -c %i "$tmp/set.env")
"$agent" gen-secrets --values "$tmp/set.env" >"$tmp/out1"
if cmp -s "$tmp/set.env" "$tmp/set.orig" && [ "$(stat -c %i "$tmp/set.env")" = "$ino" ] &&
	grep -q "^nothing to fill" "$tmp/out1"; then ok "untouched file stays byte-identical"; else no "untouched file changed"; fi

# 2. two to fill in place, one set, nothing missing
cat >"$tmp/two.env" <<'V'
# header comment

export SANDBOX_JWT_SECRET=    # fill me
SANDBOX_SERVICE_KEY=already-set-0123456789abcdef0123456789
TURN_AUTH_SECRET="change-me"
OTHER=keep
V
all_set SANDBOX_JWT_SECRET | grep -vE '^(SANDBOX_SERVICE_KEY|TURN_AUTH_SECRET)=' >>"$tmp/two.env"
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

# 3. missing machine-internal secrets are appended; a person's secrets never generated
cat >"$tmp/few.env" <<'V'
SANDBOX_JWT_SECRET=
ADMIN_PASSWORD=
LDAP_BIND_PASSWORD=
SANDBOX_SERVICE_KEY=already-set-0123456789abcdef0123456789
V
cp "$tmp/few.env" "$tmp/few.orig"
"$agent" gen-secrets --values "$tmp/few.env" >"$tmp/out3"
want="filled SANDBOX_JWT_SECRET
appended JWT_SECRET
appended CREDENTIAL_ENCRYPTION_KEY
appended PLATFORM_SERVICE_KEY
appended BROWSER_JWT_SECRET
appended TURN_AUTH_SECRET
appended PG_PASSWORD"
if [ "$(cat "$tmp/out3")" = "$want" ]; then ok "prints what it filled and appended"; else no "output: $(cat "$tmp/out3")"; fi
if [ "$(head -4 "$tmp/few.env" | tail -3)" = "$(head -4 "$tmp/few.orig" | tail -3)" ] && [ "$(hexes "$tmp/few.env")" = 7 ] &&
	[ "$(env -i bash -c "set -a; . '$tmp/few.env'; echo \"[\$ADMIN_PASSWORD][\$LDAP_BIND_PASSWORD]\${#PG_PASSWORD}\${#JWT_SECRET}\"")" = "[][]6464" ]; then
	ok "7 secrets of 64 hex characters; ADMIN_PASSWORD and LDAP_BIND_PASSWORD stay empty"
else no "appended file: $(cat "$tmp/few.env")"; fi

# 4. a file that does not parse is left alone
printf 'SANDBOX_JWT_SECRET=\nBAD=$(rm -rf /)\n' >"$tmp/bad.env"
cp "$tmp/bad.env" "$tmp/bad.orig"
if ! "$agent" gen-secrets --values "$tmp/bad.env" >/dev/null 2>&1 && cmp -s "$tmp/bad.env" "$tmp/bad.orig"; then ok "unparsable file untouched"; else no "unparsable file touched"; fi

# 5. missing file: created from the example, 0640, and valid
if "$agent" gen-secrets --values "$tmp/new.env" >/dev/null 2>&1 && [ "$(stat -c %a "$tmp/new.env")" = 640 ] &&
	"$agent" check --values "$tmp/new.env" >/dev/null 2>&1 && ! grep -qE "^[A-Z_]+=demo-only" "$tmp/new.env"; then
	ok "missing file created from the example"
else no "missing file not created properly"; fi

# 6. a symlink: the target is rewritten in its own directory, the link stays
mkdir -p "$tmp/etc" "$tmp/repo"
{ echo "TURN_AUTH_SECRET="; all_set TURN_AUTH_SECRET; } >"$tmp/repo/values.env"
chmod 0640 "$tmp/repo/values.env"
owner=$(stat -c %u:%g "$tmp/repo/values.env")
if [ "$(id -u)" = 0 ]; then chown 65534:65534 "$tmp/repo/values.env"; owner=65534:65534; fi
ln -s ../repo/values.env "$tmp/etc/values.env"
"$agent" gen-secrets --values "$tmp/etc/values.env" >"$tmp/out6"
if [ -L "$tmp/etc/values.env" ] && [ "$(readlink "$tmp/etc/values.env")" = ../repo/values.env ]; then ok "symlink kept"; else no "symlink replaced: $(ls -l "$tmp/etc")"; fi
if grep -qE '^TURN_AUTH_SECRET=[0-9a-f]{64}$' "$tmp/repo/values.env" && [ "$(cat "$tmp/out6")" = "filled TURN_AUTH_SECRET" ]; then
	ok "the link's target is filled"
else no "target not filled: $(cat "$tmp/out6")"; fi
if [ "$(stat -c %a "$tmp/repo/values.env")" = 640 ] && [ "$(stat -c %u:%g "$tmp/repo/values.env")" = "$owner" ]; then
	ok "target keeps mode 0640 and owner $owner"
else no "target mode/owner: $(stat -c '%a %u:%g' "$tmp/repo/values.env")"; fi
if [ "$(ls -A "$tmp/etc")" = values.env ] && [ "$(ls -A "$tmp/repo")" = values.env ]; then ok "no temp file left"; else no "left: $(ls -A "$tmp/etc" "$tmp/repo")"; fi

# 7. a dangling symlink: the file is created where it points
ln -s ../repo2/values.env "$tmp/etc/dangling.env"
mkdir "$tmp/repo2"
if "$agent" gen-secrets --values "$tmp/etc/dangling.env" >/dev/null 2>&1 && [ -L "$tmp/etc/dangling.env" ] &&
	[ -f "$tmp/repo2/values.env" ] && [ "$(stat -c %a "$tmp/repo2/values.env")" = 640 ]; then
	ok "dangling symlink: target created, link kept"
else no "dangling symlink: $(ls -l "$tmp/etc" "$tmp/repo2")"; fi

# 8. a FIFO is refused at once, and not replaced
mkfifo "$tmp/fifo.env"
set +e
timeout 10 "$agent" gen-secrets --values "$tmp/fifo.env" >/dev/null 2>"$tmp/err8"
rc=$?
set -e
if [ "$rc" = 1 ] && grep -q "not a regular file" "$tmp/err8" && [ -p "$tmp/fifo.env" ]; then ok "FIFO refused at once"; else no "FIFO: exit $rc"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
