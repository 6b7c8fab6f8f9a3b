#!/bin/bash
# Golden tests: run `nap-agent VERB --values NN-name.env` for every input in
# tests/golden/VERB/ and compare stdout, stderr and the exit status with
# NN-name.ok beside it. With --update, rewrite the .ok files instead (the
# `update-golden` meson target), for review with `git diff`.
#
# usage: run-golden.sh NAP_AGENT TEMPLATES_DIR VERB [--update]
set -euo pipefail

agent=$(realpath "$1") templates=$2 verb=$3 update=${4:-}
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/$verb" && pwd)
export NAP_TEMPLATES_DIR=$templates
export NAP_TEMPLATES_OVERRIDE_DIR=/nonexistent/nap-golden
unset NAP_VALUES KUBECONFIG DATABASE_URL

extra_args() {
	case $verb in
	render) echo "--format yaml" ;;
	*) ;;
	esac
}

pass=0 fail=0
cd "$dir"
for input in *.env; do
	name=${input%.env}
	out=$(mktemp)
	set +e
	# shellcheck disable=SC2046
	"$agent" "$verb" --values "$input" $(extra_args) >"$out.stdout" 2>"$out.stderr"
	rc=$?
	set -e
	{
		cat "$out.stdout"
		[ -s "$out.stderr" ] && { echo "--- stderr"; cat "$out.stderr"; }
		echo "--- exit $rc"
	} >"$out"
	rm -f "$out.stdout" "$out.stderr"
	if [ "$update" = --update ]; then
		mv "$out" "$name.ok"
		echo "updated $verb/$name.ok"
		continue
	fi
	if [ -f "$name.ok" ] && diff -u "$name.ok" "$out" >"$out.diff"; then
		pass=$((pass + 1))
		echo "ok   $verb/$name"
	else
		fail=$((fail + 1))
		echo "FAIL $verb/$name"
		if [ -f "$name.ok" ]; then cat "$out.diff"; else echo "  missing $name.ok (run: meson compile update-golden)"; fi
	fi
	rm -f "$out" "$out.diff"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
