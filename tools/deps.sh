#!/bin/bash
# Installs, as root, what nap-agent needs to build and test from Debian's
# archive. Quick when everything is already there.
set -euo pipefail

pkgs=(
	# build
	gcc meson ninja-build pkg-config
	libsystemd-dev libcurl4-openssl-dev libcjson-dev libpq-dev libssl-dev libyaml-dev
	# tests: real servers and the clients the tests drive them with
	postgresql etcd-server etcd-client openssl curl xz-utils jq python3 bash
	# daemon-core: gcore (gdb) and setpriv show the daemon cannot be dumped
	gdb util-linux
	# packages, the unit file checks and the systemd end-to-end test
	scdoc man-db systemd debhelper fakeroot lintian rpm dpkg-dev systemd-container debootstrap zstd
	# metrics (issue 20): promtool (only in Debian's prometheus package)
	# lints the metrics file and tests the alert rules; the real
	# node_exporter serves the file. The tests start node_exporter
	# themselves on 127.0.0.1; on a machine running systemd the packages
	# also enable and start their own services.
	prometheus prometheus-node-exporter
)
# The clang build with libFuzzer (its runtime is libclang-rt-14-dev) and
# `meson test --setup=valgrind`: tools/test.sh cannot pass without them.
# Only tools/demo.sh leaves them out (NAP_WITH_CLANG=0); a test.sh run with
# that set fails at its first `meson setup -Dci=true`.
if [ "${NAP_WITH_CLANG:-1}" = 1 ]; then pkgs+=(clang libclang-rt-14-dev valgrind); fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps.sh: missing packages: ${missing[*]}; run as root" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
