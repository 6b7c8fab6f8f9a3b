#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/dlib-cycles.sh [BUILD_DIR] [CYCLES] [VALGRIND_CYCLES]  (defaults: build 1200 300)
#
# Does loading and unloading libcurl and libpq over and over leak? Against a
# private control plane (tests/harness/with-harness.sh), BUILD_DIR's
# bench/dlib-cycles runs CYCLES load/use/unload cycles of both libraries
# (a TLS GET of /version from the apiserver, a PostgreSQL session reading
# one oauth_clients row; see dlib-cycles.c) and prints VmRSS every 100
# cycles; then VALGRIND_CYCLES more under valgrind's memcheck
# (--leak-check=full), of which it prints the leak and error summaries.
# A benchmark: it prints what it found and asserts nothing, but exits
# non-zero when a cycle fails or a library stays mapped.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" != --inner ]; then
	build=${1:-$top/build}
	prog=$build/bench/dlib-cycles
	[ -x "$prog" ] || { echo "dlib-cycles: no $prog: build first (meson compile -C $build)" >&2; exit 1; }
	command -v valgrind >/dev/null || { echo "dlib-cycles: no valgrind (apt-get install valgrind)" >&2; exit 1; }
	exec "$top/tests/harness/with-harness.sh" bash "$0" --inner "$prog" "${2:-1200}" "${3:-300}"
fi
prog=$2 cycles=$3 vcycles=$4
psql -X -q -v ON_ERROR_STOP=1 -f "$top/tests/oauth/schema.sql" >/dev/null
log=$(mktemp)
trap 'rm -f "$log" "$log.out"' EXIT

echo "== $cycles cycles, natively: VmRSS"
t0=$(date +%s)
"$prog" "$cycles" 100
echo "   ($(($(date +%s) - t0)) s)"

echo "== $vcycles cycles under valgrind --tool=memcheck --leak-check=full"
t0=$(date +%s)
rc=0
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--error-exitcode=66 --log-file="$log" "$prog" "$vcycles" "$vcycles" >"$log.out" || rc=$?
tail -1 "$log.out" # (VmRSS under valgrind is valgrind's own)
sed -n 's/^==[0-9]*== //p' "$log" | sed -n '/HEAP SUMMARY/,$p' | grep -vE '^(For lists|Rerun with|To see them)'
echo "   (valgrind exit $rc, $(($(date +%s) - t0)) s)"
