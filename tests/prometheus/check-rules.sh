#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The alert rules the package ships (prometheus/nap-agent.rules.yml) with
# promtool (Debian's prometheus package): `promtool check rules` accepts
# them, `promtool test rules` passes nap-agent.rules.test.yml, and that file
# tests every alert both ways: at least one evaluation where it fires and
# one where it must not.
#
# Usage: check-rules.sh SOURCE_ROOT PROMTOOL
set -euo pipefail
src=$1 promtool=$2
rules=$src/prometheus/nap-agent.rules.yml
tests=$src/tests/prometheus/nap-agent.rules.test.yml
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

if out=$("$promtool" check rules "$rules" 2>&1); then
	ok "promtool check rules: $(grep -o 'SUCCESS.*' <<<"$out")"
else
	bad "promtool check rules:"$'\n'"$out"
fi
if out=$("$promtool" test rules "$tests" 2>&1); then
	ok "promtool test rules: $(grep -c 'alertname:' "$tests") evaluations of the alerts"
else
	bad "promtool test rules:"$'\n'"$out"
fi

# alertname: X, then its exp_alerts: "[]" (must not fire) or a list (fires)
alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$rules")
[ -n "$alerts" ] || bad "no alert in $rules"
cases=$(awk '/alertname:/ { name = $2 } /exp_alerts:/ { print name, ($2 == "[]" ? "quiet" : "fires") }' "$tests")
for a in $alerts; do
	grep -qx "$a fires" <<<"$cases" && grep -qx "$a quiet" <<<"$cases" &&
		ok "$a: tested firing and quiet" || bad "$a: not tested both ways ($(grep "^$a " <<<"$cases" | tr '\n' ' '))"
done
for a in $(cut -d' ' -f1 <<<"$cases" | sort -u); do
	grep -qx "$a" <<<"$alerts" || bad "the tests name an alert the rules lack: $a"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
