#!/bin/bash
# Secrets never leak: every output of the offline verbs, on the example
# values.env and on a file with every module on, must not contain any
# secret value (nor its base64), unless --show-secrets is given; and with
# --show-secrets they do appear (so the grep below can see them at all).
#
# usage: no-secrets.sh NAP_AGENT TEMPLATES_DIR EXAMPLE_VALUES
set -euo pipefail
agent=$1 templates=$2 example=$3
export NAP_TEMPLATES_DIR=$templates NAP_TEMPLATES_OVERRIDE_DIR=/nonexistent/nap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cp "$example" "$tmp/example.env"
cat >"$tmp/all.env" <<'VALUES'
TOS_HOST=203.0.113.7
SANDBOX_ENABLED=true
BROWSER_ENABLED=true
SANDBOX_JWT_SECRET=s3cr3t-sandbox-jwt-aaaaaaaaaaaaaaaaaaaaaaaaaaaa
SANDBOX_SERVICE_KEY=s3cr3t-service-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbb
BROWSER_JWT_SECRET=s3cr3t-browser-jwt-cccccccccccccccccccccccccccc
TURN_AUTH_SECRET=s3cr3t-turn-auth-dddddddddddddddddddddddddddddd
TURN_HOST=203.0.113.8
PG_PASSWORD=s3cr3t-pg-password-eeeeeeeeeeeeeeeee
DATABASE_URL=postgresql://nap:s3cr3t-db-url-ffffffffffff@db/nap
PLATFORM_SERVICE_KEY=s3cr3t-unknown-key-gggggggggggggggggg
REGISTRY_SERVER=registry.example.com
REGISTRY_USERNAME=robot
REGISTRY_PASSWORD=s3cr3t-registry-password-hhhhhhhhhhhh
VALUES

pass=0 fail=0
check() { # name expect(present|absent) file...
	local name=$1 expect=$2 values=$3
	shift 3
	local secrets found=0
	secrets=$(grep -E '^(export )?[A-Z_]*(SECRET|KEY|PASSWORD|DATABASE_URL)[A-Z_]*=' "$values" | sed 's/^[^=]*=//' | grep -v '^$' || true)
	for s in $secrets; do
		b64=$(printf %s "$s" | base64 -w0)
		if grep -rqF -e "$s" -e "$b64" "$@" 2>/dev/null; then found=1; fi
	done
	if { [ $expect = absent ] && [ $found = 0 ]; } || { [ $expect = present ] && [ $found = 1 ]; }; then
		pass=$((pass + 1)); echo "ok   $name"
	else
		fail=$((fail + 1)); echo "FAIL $name: secrets expected $expect"
	fi
}

for f in example all; do
	v=$tmp/$f.env
	o=$tmp/out-$f
	mkdir -p "$o"
	"$agent" check --values "$v" >"$o/check" 2>&1 || true
	"$agent" vars --values "$v" >"$o/vars" 2>&1 || true
	"$agent" vars --json --values "$v" >"$o/vars.json" 2>&1 || true
	"$agent" render --values "$v" >"$o/render.yaml" 2>&1 || true
	"$agent" render --format json --values "$v" >"$o/render.json" 2>&1 || true
	"$agent" render --values "$v" --output "$o/dir" >"$o/render-dir.log" 2>&1 || true
	check "$f: check, vars, render" absent "$v" "$o"
	s=$tmp/shown-$f
	mkdir -p "$s"
	"$agent" vars --json --show-secrets --values "$v" >"$s/vars.json" 2>&1 || true
	"$agent" render --show-secrets --values "$v" >"$s/render.yaml" 2>&1 || true
	check "$f: --show-secrets shows them" present "$v" "$s"
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
