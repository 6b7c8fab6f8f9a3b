#!/bin/bash
# bench/check-large.sh [BUILD_DIR] [RUNS]: how long `nap-agent check` takes
# on a valid values.env of about 1 MiB with 100,000 keys (both modules on,
# then K00000=0 ... K99999=9), the input of issue 13's "bounded input" goal
# (under 200 ms). Prints each run's wall time, the median and whether it
# meets that goal; a benchmark asserts nothing (tests/envfile/test-large.c
# checks that every key of such a file is read right, not how fast). Needs
# no server.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
runs=${2:-11}
agent=$build/agent/nap-agent
# the source tree's templates (the binary reads no path of its build tree)
export NAP_TEMPLATES_DIR=$top/agent/templates NAP_TEMPLATES_OVERRIDE_DIR=/nonexistent/nap-bench
[ -x "$agent" ] || { echo "bench: no $agent: build first (meson setup $build && meson compile -C $build)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
	printf 'NAP_HOST=203.0.113.7\nTURN_HOST=203.0.113.8\nSANDBOX_ENABLED=true\nBROWSER_ENABLED=true\n'
	for k in SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY BROWSER_JWT_SECRET TURN_AUTH_SECRET; do
		printf '%s=%s\n' "$k" "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	done
	seq 0 99999 | awk '{ printf "K%05d=%d\n", $1, $1 % 10 }'
} >"$tmp/values.env"
echo "values.env: $(stat -c %s "$tmp/values.env") bytes, $(grep -c = "$tmp/values.env") keys"
"$agent" check --values "$tmp/values.env" >/dev/null 2>&1 || { echo "bench: the file does not pass check" >&2; exit 1; }

ms=()
for _ in $(seq "$runs"); do
	t0=$(date +%s%N)
	"$agent" check --values "$tmp/values.env" >/dev/null 2>&1
	ms+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
sorted=$(printf '%s\n' "${ms[@]}" | sort -n)
echo "check, wall ms per run: ${ms[*]}"
median=$(sed -n "$(( (runs + 1) / 2 ))p" <<<"$sorted")
echo "median $median ms, min $(head -1 <<<"$sorted") ms, max $(tail -1 <<<"$sorted") ms over $runs runs"
echo "goal: a 1 MiB values.env with 100k keys checked in under 200 ms: $([ "$median" -lt 200 ] && echo met || echo NOT met) ($median ms)"
