#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `promtool check metrics` (Debian's prometheus package) accepts the metrics
# file the daemon's code writes: the text format, and Prometheus' naming
# rules (HELP on every family, _total on counters, base units...). First a
# file that breaks those rules, to show promtool does refuse one here. And
# every family of the file is described in nap-agent(8), METRICS.
#
# Usage: check-promtool.sh METRICS_DUMP PROMTOOL MAN_SCD
set -euo pipefail
dump=$1 promtool=$2 man=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

printf '# HELP nap_agent_passes a counter without _total\n# TYPE nap_agent_passes counter\nnap_agent_passes 1\n' >"$dir/bad"
if "$promtool" check metrics <"$dir/bad" >"$dir/bad.out" 2>&1; then
	echo "FAIL promtool accepted a counter without _total"
	exit 1
fi
echo "ok   promtool refuses a counter without _total: $(tr '\n' ' ' <"$dir/bad.out")"

file=$("$dump" "$dir")
[ -s "$file" ] || { echo "FAIL metrics-dump wrote no file"; exit 1; }
if out=$("$promtool" check metrics <"$file" 2>&1); then
	echo "ok   promtool check metrics accepts $(grep -c '^# TYPE' "$file") families, $(grep -vc '^#' "$file") samples"
else
	echo "FAIL promtool check metrics:"
	echo "$out"
	cat "$file"
	exit 1
fi
undocumented=$(sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$file" | while read -r name; do
	grep -qF -- "*$name*" "$man" || echo "$name"
done)
if [ -n "$undocumented" ]; then
	echo "FAIL not in nap-agent(8): $undocumented"
	exit 1
fi
echo "ok   every family is in nap-agent(8), METRICS"
echo "3 passed, 0 failed"
