#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The documentation follows the code: every verb of the CLI's verb table
# (which `nap-agent --help` lists) is a verb of nap-agent(8)'s VERBS and of
# the bash completion, and VERBS has no other; every option of --help is in
# the man page and the completion, and the man page names no other; every
# key of config.c's key_specs[] is a key of the man page's KEYS (its older
# name mentioned there too), and KEYS documents no other.
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

# section NAME: the man page's section "# NAME", without its heading.
section() { awk -v h="# $1" '$0 == h { s = 1; next } /^# / { s = 0 } s' "$man"; }

# The verbs VERBS documents: its entries' first words (lines starting "*verb*").
man_verbs=$(section VERBS | grep -oE '^\*[a-z][a-z-]*\*' | tr -d '*' | sort -u)
[ -n "$man_verbs" ] || { echo "FAIL: cannot read the verbs of nap-agent(8)"; exit 1; }
for v in $man_verbs; do
	grep -qxF -- "$v" <<<"$verbs" && echo "ok: verb table: $v" ||
		{ echo "FAIL: nap-agent(8) documents verb '$v', which the CLI's verb table lacks"; fail=1; }
done
for v in $verbs; do
	grep -qxF -- "$v" <<<"$man_verbs" ||
		{ echo "FAIL: verb '$v' has no entry in nap-agent(8)'s VERBS"; fail=1; }
done

# The keys: config.c's key_specs[] rows { "NAME", "OLDER_NAME" or NULL, ...
# against KEYS, whose entries start with the keys they document (*KEY*,
# *KEY* (default), ...).
specs=$(awk '/key_specs\[\] = \{/ { s = 1; next } s && /^};/ { s = 0 } s' "$src/agent/config.c" |
	grep -oE '^\s*\{ "[A-Z][A-Z0-9_]*",\s*(NULL|"[A-Z][A-Z0-9_]*")' | tr -d '{",' )
keys=$(awk '{ print $1 }' <<<"$specs" | sort -u)
aliases=$(awk '$2 != "NULL" { print $2 }' <<<"$specs" | sort -u)
[ "$(wc -l <<<"$keys")" -gt 20 ] || { echo "FAIL: cannot read key_specs[] of agent/config.c"; exit 1; }
keys_text=$(section KEYS)
man_keys=$(grep -E '^\*' <<<"$keys_text" | grep -oE '\*[A-Z][A-Z0-9_]*\*' | tr -d '*' | sort -u)
for k in $keys; do
	grep -qxF -- "$k" <<<"$man_keys" && echo "ok: man: key $k" ||
		{ echo "FAIL: key '$k' of key_specs[] has no entry in nap-agent(8)'s KEYS"; fail=1; }
done
for k in $aliases; do
	grep -qF -- "*$k*" <<<"$keys_text" && echo "ok: man: older name $k" ||
		{ echo "FAIL: older name '$k' of key_specs[] is not in nap-agent(8)'s KEYS"; fail=1; }
done
for k in $man_keys; do
	grep -qxF -- "$k" <<<"$keys" ||
		{ echo "FAIL: nap-agent(8)'s KEYS documents '$k', which key_specs[] of agent/config.c lacks"; fail=1; }
done
exit $fail
