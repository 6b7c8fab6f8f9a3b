#!/bin/bash
# Secrets never leak: no output of the offline verbs (stdout and stderr of
# check, vars, vars --json, render in YAML and JSON, render --output), on
# the example values.env and on a file with every module on, holds any of
# the file's secrets, plain or in base64. With --show-secrets, each one
# does appear: in `vars --json` as written, and each secret a rendered
# Secret carries in render's YAML in base64 (so the search can see them).
#
# Every call must exit with the status it is expected to: a verb that
# crashes (a signal) or fails writes no output worth searching.
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

# file -> the keys whose values are its secrets (each must be set there),
# and those of them a rendered Secret carries.
declare -A SECRETS=(
	[example]="SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY"
	[all]="SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY BROWSER_JWT_SECRET TURN_AUTH_SECRET PG_PASSWORD DATABASE_URL PLATFORM_SERVICE_KEY"
)
declare -A RENDERED=(
	[example]="SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY"
	[all]="SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY BROWSER_JWT_SECRET TURN_AUTH_SECRET"
)

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# run FILE OUT ARGS...: nap-agent ARGS --values FILE, stdout and stderr to
# OUT; it must exit 0 (a signal is reported as one).
run() {
	local values=$1 out=$2 rc=0
	shift 2
	"$agent" "$@" --values "$values" >"$out" 2>&1 || rc=$?
	if [ "$rc" -gt 128 ]; then
		bad "nap-agent $*: killed by signal $((rc - 128))"
	elif [ "$rc" != 0 ]; then
		bad "nap-agent $*: exit status $rc, want 0"
	else
		ok "nap-agent $* exits 0"
	fi
}

# value FILE KEY: KEY's value as the file writes it (plain KEY=value lines).
value() { sed -n "s/^$2=//p" "$1"; }

for f in example all; do
	v=$tmp/$f.env o=$tmp/out-$f s=$tmp/shown-$f
	mkdir -p "$o" "$s"
	run "$v" "$o/check" check
	run "$v" "$o/vars" vars
	run "$v" "$o/vars.json" vars --json
	run "$v" "$o/render.yaml" render
	run "$v" "$o/render.json" render --format json
	run "$v" "$o/render-dir.log" render --output "$o/dir"
	run "$v" "$s/vars.json" vars --json --show-secrets
	run "$v" "$s/render.yaml" render --show-secrets
	for key in ${SECRETS[$f]}; do
		secret=$(value "$v" "$key")
		if [ -z "$secret" ]; then
			bad "$f: $key has no value in the file: nothing to look for"
			continue
		fi
		b64=$(printf %s "$secret" | base64 -w0)
		rc=0
		found=$(grep -rlF -e "$secret" -e "$b64" "$o") || rc=$?
		case $rc in
		0) bad "$f: $key's value in: $(echo "$found" | sed "s|$o/||" | paste -sd' ')" ;;
		1) ok "$f: $key in no output" ;;
		*) bad "$f: grep failed ($rc)" ;;
		esac
		if grep -qF -e "$secret" "$s/vars.json"; then
			ok "$f: $key shown by vars --json --show-secrets"
		else
			bad "$f: $key not shown by vars --json --show-secrets"
		fi
	done
	for key in ${RENDERED[$f]}; do
		b64=$(printf %s "$(value "$v" "$key")" | base64 -w0)
		if grep -qF -e "$b64" "$s/render.yaml"; then
			ok "$f: $key in render --show-secrets (base64)"
		else
			bad "$f: $key not in render --show-secrets (base64)"
		fi
	done
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
