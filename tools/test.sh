#!/bin/bash
# The whole test suite, as the README gives it and .ci/run calls it: install
# the dependencies, build with gcc (-Werror), run every suite (unit, golden,
# integration against real kube-apiserver + etcd + PostgreSQL), then the unit
# and golden suites again under AddressSanitizer + UBSan, then the parser
# fuzzer's corpus under clang when clang is there.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash tools/deps.sh
if [ -z "${NAP_K8S_PREBUILT_DIR:-}" ] && [ -f "$top/../shared/k8s/kube-apiserver.xz" ]; then
	export NAP_K8S_PREBUILT_DIR=$top/../shared/k8s
fi
[ -x tests/harness/harness.sh ] && bash tests/harness/harness.sh deps

build=${NAP_BUILD_DIR:-build-test}
[ -d "$build" ] || meson setup "$build" --werror
meson compile -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2

asan=$build-asan
[ -d "$asan" ] || meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false --werror
meson compile -C "$asan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$asan" --suite unit --suite golden --print-errorlogs --num-processes 2
