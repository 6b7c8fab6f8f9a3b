#!/bin/bash
# The whole test suite, as the README gives it and .ci/run calls it: install
# the dependencies, build with gcc (-Werror), run every suite (unit, golden,
# integration against real kube-apiserver + etcd + PostgreSQL, package:
# unit file, .deb with lintian, .rpm), then the systemd end-to-end test (the
# .deb installed in a booted Debian 12 container, driven with systemctl), then
# the unit and golden suites again under AddressSanitizer + UBSan.
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

# The systemd end-to-end test, with the daemon against the local control plane.
NAP_E2E_DAEMON=1 bash tests/e2e/run.sh "$build"/tests/package/packages/nap-agent_*.deb

asan=$build-asan
[ -d "$asan" ] || meson setup "$asan" -Db_sanitize=address,undefined -Db_lundef=false --werror
meson compile -C "$asan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$asan" --suite unit --suite golden --print-errorlogs --num-processes 2

# clang: the same suites with clang's -Werror, and 30 s of libFuzzer on the
# values.env parser (new inputs go to a scratch dir, not into the tree).
if command -v clang >/dev/null; then
	fuzz=$build-clang-fuzz
	[ -d "$fuzz" ] || CC=clang meson setup "$fuzz" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false --werror
	meson compile -C "$fuzz"
	meson test -C "$fuzz" --suite unit --suite golden --print-errorlogs --num-processes 2
	scratch=$(mktemp -d)
	"$fuzz"/tests/fuzz/fuzz-envfile -max_total_time=30 -dict=tests/fuzz/envfile.dict "$scratch" tests/fuzz/corpus/envfile/ 2>&1 | tail -3
	rm -rf "$scratch"
fi
