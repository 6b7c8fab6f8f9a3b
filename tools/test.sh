#!/bin/bash
# The whole test suite, as the README gives it and .ci/run calls it. In order:
#
#   1. deps: tools/deps.sh and the harness's: kubectl, and kube-apiserver
#      and kube-controller-manager (unpacked from $NAP_K8S_PREBUILT_DIR
#      when it is set, .ci/run's way of handing in prebuilt copies, else
#      built once from Debian's source package into the harness's cache);
#   2. gcc, -Werror: every suite but integration (unit, golden, package:
#      unit file, docs, .deb with lintian, .rpm; script), then the
#      integration tests that use the loop probe, whose waits are only
#      printed under ASan (tests/loopprobe.c says why);
#   3. the systemd end-to-end test (the .deb of 2 installed in a booted
#      Debian 12 container, driven with systemctl, the daemon against the
#      harness);
#   4. gcc with AddressSanitizer + UBSan: unit, golden and integration
#      (against real kube-apiserver + etcd + PostgreSQL), four integration
#      tests at a time: they mostly wait on their servers. The integration
#      suite runs here only, where it also finds what the sanitizers find;
#   5. the unit suite under valgrind (meson test --setup=valgrind, build 2);
#   6. clang, -Werror, with ASan + UBSan and libFuzzer: unit and golden;
#   7. every libFuzzer binary that build 6 made (tests/fuzz/fuzz-*), 30 s
#      each, two at a time;
#   8. the include checker (tools/check-includes.py) and the exported
#      functions check on build 2 (tools/check-symbols.py; both also run
#      as tests of the unit suite in every build).
#
# Every build is configured with -Dci=true: each tool a test needs is
# required, so none is dropped. Nothing may be skipped either: after every
# `meson test` the run fails unless each test it ran reported OK (a SKIP,
# e.g. an exit 77, fails it) and each suite asked for ran at least one test.
# clang and valgrind are not optional. Build dirs: $NAP_BUILD_DIR (default
# build-test), $NAP_BUILD_DIR-asan and $NAP_BUILD_DIR-clang-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
step() {
	local e=$(($(date +%s) - T0))
	printf '\n=== [%dm%02ds] %s\n' $((e / 60)) $((e % 60)) "$*"
}

# setup DIR [MESON OPTIONS...]: configure DIR for CI, or reconfigure it with
# these options when it exists (a dir left by a run without -Dci gets it).
# Its output is shown only when it fails (meson says there which tool is
# missing).
setup() {
	local dir=$1 out
	shift
	[ -f "$dir/meson-private/coredata.dat" ] && set -- --reconfigure "$@"
	if ! out=$(meson setup "$dir" --werror -Dci=true "$@" 2>&1); then
		printf '%s\n' "$out" | tail -25 >&2
		echo "test.sh: meson setup $dir failed" >&2
		return 1
	fi
	meson compile -C "$dir"
}

# run_tests DIR LOGBASE "SUITES" JOBS [MESON TEST OPTIONS...]: meson test
# with JOBS tests at a time, then
# the checks on what it ran (DIR/meson-logs/LOGBASE.json, or
# LOGBASE-SETUP.json with --setup): every test OK, and each of SUITES ran
# at least one.
run_tests() {
	local dir=$1 logbase=$2 suites=$3 jobs=$4 rc=0 log
	shift 4
	rm -f "$dir/meson-logs/$logbase".json "$dir/meson-logs/$logbase"-*.json
	meson test -C "$dir" --logbase "$logbase" --print-errorlogs --num-processes "$jobs" "$@" || rc=$?
	log=$(ls "$dir/meson-logs/$logbase".json "$dir/meson-logs/$logbase"-*.json 2>/dev/null || true)
	# shellcheck disable=SC2086  # SUITES is a list
	python3 - "${log:-$dir/meson-logs/$logbase.json}" $suites <<-'PY' || rc=1
		# Each test OK (not SKIP, not an expected failure); each suite ran.
		import json, sys
		path, suites = sys.argv[1], sys.argv[2:]
		try:
		    runs = [json.loads(line) for line in open(path) if line.strip()]
		except OSError as e:
		    sys.exit("test.sh: no test log %s: %s" % (path, e))
		bad = ["%s: %s" % (r["name"], r["result"]) for r in runs if r["result"] != "OK"]
		ran = {}
		for r in runs:
		    for s in r["name"].split(" / ", 1)[0].split(":", 1)[1].split("+"):
		        ran[s] = ran.get(s, 0) + 1
		empty = [s for s in suites if not ran.get(s)]
		for b in bad:
		    print("test.sh: not OK: " + b)
		for s in empty:
		    print("test.sh: suite '%s' ran no test" % s)
		print("test.sh: %d test(s) ran (%s), %d not OK, %d empty suite(s)"
		      % (len(runs), ", ".join("%s %d" % kv for kv in sorted(ran.items())), len(bad), len(empty)))
		sys.exit(1 if bad or empty or not runs else 0)
	PY
	return $rc
}

# fuzz_all BUILDDIR SECONDS: every libFuzzer binary BUILDDIR/tests/fuzz/fuzz-*
# (not the -replay drivers), with its corpus and dictionary when the tree
# has them; new inputs go to a scratch dir, not into the tree. None found,
# or one that crashes or exits non-zero, fails.
fuzz_all() {
	local dir=$1 secs=$2 scratch f name i rc=0 pids=() fuzzers=()
	for f in "$dir"/tests/fuzz/fuzz-*; do
		[[ $f == *-replay ]] && continue
		[ -f "$f" ] && [ -x "$f" ] && fuzzers+=("$f")
	done
	if [ ${#fuzzers[@]} = 0 ]; then
		echo "test.sh: no libFuzzer binary in $dir/tests/fuzz" >&2
		return 1
	fi
	scratch=$(mktemp -d)
	for ((i = 0; i < ${#fuzzers[@]}; i += 2)); do
		pids=()
		for f in "${fuzzers[@]:i:2}"; do
			name=${f##*/fuzz-}
			mkdir -p "$scratch/$name"
			args=(-max_total_time="$secs" "$scratch/$name")
			[ -f "tests/fuzz/$name.dict" ] && args=(-dict="tests/fuzz/$name.dict" "${args[@]}")
			[ -d "tests/fuzz/corpus/$name" ] && args+=("tests/fuzz/corpus/$name")
			"$f" "${args[@]}" >"$scratch/$name.log" 2>&1 &
			pids+=("$!:$name")
		done
		for p in "${pids[@]}"; do
			name=${p#*:}
			if wait "${p%%:*}"; then
				echo "fuzz-$name: $(grep -E '^Done [0-9]+ runs' "$scratch/$name.log" || tail -1 "$scratch/$name.log")"
			else
				echo "fuzz-$name: FAILED" >&2
				tail -60 "$scratch/$name.log" >&2
				rc=1
			fi
		done
	done
	rm -rf "$scratch"
	echo "test.sh: ${#fuzzers[@]} fuzzer(s) ran ${secs} s each"
	return $rc
}

step "dependencies"
bash tools/deps.sh
bash tests/harness/harness.sh deps
bash tests/harness/harness.sh binaries

build=${NAP_BUILD_DIR:-build-test}
step "gcc -Werror: every suite but integration ($build)"
setup "$build"
run_tests "$build" ci-all "unit golden package script" 2 --no-suite integration

# The integration tests that assert the loop is never blocked (tests/
# loopprobe.h): asserted here, only printed under ASan.
step "gcc -Werror: the loop-probe integration tests ($build)"
run_tests "$build" ci-loop integration 4 --suite integration oauth oauth-async kube kube-net kube-watch

step "systemd end-to-end (tests/e2e/run.sh)"
NAP_E2E_DAEMON=1 bash tests/e2e/run.sh "$build"/tests/package/packages/nap-agent_*.deb

# intercept_tls_get_addr=0: the sanitizer runtimes of GCC up to 13 and LLVM
# up to 16 take a dynamic TLS block that happens to start 16 bytes into a page
# for a glibc 2.19 one and read the two words before it as its bounds; at exit
# LeakSanitizer's tracer then dies on them ("Tracer caught signal 11", no leak
# reported). The agent dlopens libcurl and libpq, whose dependencies have
# dynamic TLS, so any process could hit it. Dynamic TLS blocks are malloc'd by
# glibc >= 2.25 and reachable from the DTV, so leaks are still found.
san_options=detect_leaks=1:intercept_tls_get_addr=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

asan=$build-asan
step "gcc ASan+UBSan: unit, golden, integration ($asan)"
setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false
(
	export ASAN_OPTIONS=$san_options
	run_tests "$asan" ci-asan "unit golden integration" 4 --suite unit --suite golden --suite integration
)

step "valgrind: unit ($build)"
run_tests "$build" ci-valgrind unit 2 --setup=valgrind --suite unit --no-suite script

fuzz=$build-clang-fuzz
step "clang -Werror, ASan+UBSan, libFuzzer: unit, golden ($fuzz)"
CC=clang setup "$fuzz" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=$san_options run_tests "$fuzz" ci-clang "unit golden" 2 --suite unit --suite golden

step "libFuzzer: 30 s per fuzzer, two at a time"
fuzz_all "$fuzz" 30

step "include directions (tools/check-includes.py)"
python3 tools/check-includes.py agent

step "exported functions (tools/check-symbols.py)"
python3 tools/check-symbols.py "$build"

step "all passed"
