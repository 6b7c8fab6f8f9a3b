#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/objects.sh [BUILD_DIR]: how many Kubernetes objects the install.sh
# way applies on every run, per module combination: the objects of
# `nap-agent render` for the repository's example values.env with the
# toggles set (and the browser's required keys filled with placeholders),
# which is what `render --output` + `kubectl apply` (bench.py's (d)) sends
# each time. Prints counts only, never a value. No server needed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
agent=$build/agent/nap-agent
[ -x "$agent" ] || { echo "objects: no $agent: build first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export NAP_TEMPLATES_DIR=$top/agent/templates NAP_TEMPLATES_OVERRIDE_DIR=$tmp/none

fill=$(printf '%064d' 0)
echo "objects applied per run of the install.sh way (nap-agent render, etc/nap/values.env):"
for sandbox in true false; do
	for browser in true false; do
		sed -e "s|^SANDBOX_ENABLED=.*|SANDBOX_ENABLED=$sandbox|" \
			-e "s|^BROWSER_ENABLED=.*|BROWSER_ENABLED=$browser|" \
			-e "s|^BROWSER_JWT_SECRET=.*|BROWSER_JWT_SECRET=$fill|" \
			-e "s|^TURN_AUTH_SECRET=.*|TURN_AUTH_SECRET=$fill|" \
			-e "s|^TURN_HOST=.*|TURN_HOST=192.0.2.10|" \
			"$top/etc/nap/values.env" >"$tmp/values.env"
		"$agent" render --values "$tmp/values.env" --format json 2>"$tmp/err" >"$tmp/out" ||
			{ cat "$tmp/err" >&2; exit 1; }
		python3 - "$tmp/out" "$sandbox" "$browser" <<-'PY'
			import collections, json, sys
			items = json.load(open(sys.argv[1]))["items"]
			kinds = collections.Counter(i["kind"] for i in items)
			print("  sandbox %-5s browser %-5s %2d objects (%s)" % (sys.argv[2], sys.argv[3], len(items),
			      ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
		PY
	done
done
