#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The documentation follows the binary: every verb and option that
# `nap-agent --help` lists is in nap-agent(8) and in the bash completion,
# and the man page names no option the binary does not know.
# Usage: check-docs.sh SOURCE_ROOT BUILT_BINARY
set -euo pipefail
src=${1:?usage: check-docs.sh SOURCE_ROOT BINARY}
bin=${2:?usage: check-docs.sh SOURCE_ROOT BINARY}
man=$src/man/nap-agent.8.scd
comp=$src/completion/nap-agent
fail=0

help=$("$bin" --help)
verbs=$(awk '/^Verbs:/ { v = 1; next } /^$/ { v = 0 } v { print $1 }' <<<"$help")
opts=$(grep -oE -- '--[a-z][a-z-]+' <<<"$help" | sort -u)
[ -n "$verbs" ] && [ -n "$opts" ] || { echo "FAIL: cannot read verbs and options from --help"; exit 1; }

for v in $verbs; do
	grep -qE "^\*$v\*" "$man" && echo "ok: man: verb $v" || { echo "FAIL: nap-agent(8) lacks verb '$v'"; fail=1; }
	grep -qE "verbs='.*\b$v\b" "$comp" && echo "ok: completion: verb $v" || { echo "FAIL: completion lacks verb '$v'"; fail=1; }
done
for o in $opts; do
	grep -qF -- "*$o*" "$man" && echo "ok: man: $o" || { echo "FAIL: nap-agent(8) lacks option '$o'"; fail=1; }
	grep -qE -- "$o\b" "$comp" && echo "ok: completion: $o" || { echo "FAIL: completion lacks option '$o'"; fail=1; }
done
for o in $(grep -oE -- '\*--[a-z][a-z-]+' "$man" | tr -d '*' | sort -u); do
	grep -qxF -- "$o" <<<"$opts" || { echo "FAIL: nap-agent(8) documents '$o', which --help does not list"; fail=1; }
done
exit $fail
