#!/bin/bash
# `nap-agent seed` from the outside, against the harness's PostgreSQL
# (run through with-harness.sh, HARNESS_COMPONENTS=pg): each error case of
# the oauth_clients sync ends in exit 1 and ONE clear line on stderr (no
# password in it), and an in-sync database in exit 0 with nothing said.
#
# usage: with-harness.sh test-seed.sh NAP_AGENT SCHEMA_SQL
set -euo pipefail
agent=$1 schema=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
no() { fail=$((fail + 1)); echo "FAIL $1"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/values.env" <<V
TOS_HOST=203.0.113.7
SANDBOX_ENABLED=true
SANDBOX_JWT_SECRET=$(printf 'a%.0s' {1..40})
SANDBOX_SERVICE_KEY=$(printf 'b%.0s' {1..40})
BROWSER_ENABLED=false
V

# seed CASE EXPECT_RC GREP [DATABASE_URL]: runs seed, checks exit status,
# that stderr is exactly one line matching GREP, and holds no password.
seed() {
	local name=$1 want=$2 pattern=$3 url=${4:-$DATABASE_URL} rc=0
	DATABASE_URL=$url "$agent" seed --values "$tmp/values.env" --state-dir "$tmp/state" \
		>"$tmp/out" 2>"$tmp/err" || rc=$?
	local lines said=no
	lines=$(grep -c . "$tmp/err" || true)
	if [ -z "$pattern" ]; then
		[ "$lines" = 0 ] && said=yes
	elif [ "$lines" = 1 ] && grep -qE "$pattern" "$tmp/err"; then
		said=yes
	fi
	if [ "$rc" = "$want" ] && [ $said = yes ] &&
		! grep -qF -e "$PGPASSWORD" -e "wrong-password-xyz" "$tmp/err" "$tmp/out"; then
		ok "$name"
	else
		no "$name (exit $rc, want $want; stderr:)"
		sed 's/^/      /' "$tmp/err"
	fi
}

seed "unreachable: one line" 1 "^Failed to sync oauth_clients: cannot reach PostgreSQL at 127.0.0.1:$port" \
	"postgresql://nap:x@127.0.0.1:$port/nap?connect_timeout=2"
seed "authentication failed: one line, no password" 1 \
	'^Failed to sync oauth_clients: PostgreSQL rejected the credentials for user "nap"' \
	"postgresql://nap:wrong-password-xyz@$PGHOST:$PGPORT/$PGDATABASE"
seed "table missing: one line telling the control plane has not migrated" 1 \
	"^Failed to sync oauth_clients: table oauth_clients does not exist: the control plane has not run its migrations yet"
psql -X -q -v ON_ERROR_STOP=1 -f "$schema"
seed "no admin user: one line telling to seed the admin" 1 \
	"^Failed to sync oauth_clients: no user with role 'admin' in table users: seed the platform admin first"
psql -X -q -c "INSERT INTO users (id, email, role) VALUES ('root', 'root@example.com', 'admin')"
DATABASE_URL=$DATABASE_URL "$agent" seed --values "$tmp/values.env" --state-dir "$tmp/state" >/dev/null 2>"$tmp/err" &&
	grep -qx 'registered "sandbox-service" → http://203.0.113.7:30086/api/auth/callback' "$tmp/err" &&
	ok "first seed registers the client and says so" || { no "first seed"; cat "$tmp/err"; }
x1=$(psql -X -At -c "SELECT xmin, updated_at FROM oauth_clients WHERE id = 'sandbox-service'")
seed "in sync: exit 0, nothing said" 0 ""
x2=$(psql -X -At -c "SELECT xmin, updated_at FROM oauth_clients WHERE id = 'sandbox-service'")
[ "$x1" = "$x2" ] && ok "in sync: the row was not written (xmin, updated_at)" || no "row rewritten: $x1 -> $x2"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
