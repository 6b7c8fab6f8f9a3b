#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds nap-agent_*.deb with dpkg-buildpackage -us -uc -b from the working
# tree: dpkg-buildpackage wants debian/ at the top of the source tree, so the
# tree (tracked and untracked files, not ignored ones and not build dirs) is
# copied to a temp dir with packaging/debian as its debian/, built there, and
# the .deb (and .buildinfo/.changes) moved to OUTDIR. Then lintian, which
# must report no error and no warning.
#
# Usage: packaging/build-deb.sh [OUTDIR]        (default: ./build-packages)
# Env:   DEB_BUILD_OPTIONS   e.g. nocheck (default: the unit and golden
#                            suites run during the build)
#        NAP_LINTIAN=0       skip lintian
#        NAP_INSTALL_DEPS=0  do not apt-get install missing build deps
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-packages}
mkdir -p "$out"
out=$(cd "$out" && pwd)
t0=$(date +%s)

build_deps=(build-essential debhelper fakeroot lintian dpkg-dev meson ninja-build pkgconf scdoc
	libcjson-dev libcurl4-openssl-dev libpq-dev libssl-dev libsystemd-dev libyaml-dev)
missing=()
for p in "${build_deps[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "${NAP_INSTALL_DEPS:-1}" = 1 ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "build-deb.sh: missing build dependencies: ${missing[*]}" >&2
		exit 1
	fi
fi

work=$(mktemp -d /tmp/nap-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree=$work/nap-agent
mkdir -p "$tree"
# The source as git sees it (tracked and untracked files that exist, not
# ignored ones), so build dirs and editor files stay out.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | grep -zvE '^(build[^/]*|packaging/debian)/' |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	xargs -0 cp --parents -t "$tree")
cp -a "$src/packaging/debian" "$tree/debian"

echo "build-deb.sh: dpkg-buildpackage in $tree (DEB_BUILD_OPTIONS='${DEB_BUILD_OPTIONS:-}')"
(cd "$tree" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
	tail -60 "$work/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed" >&2
	exit 1
}
debs=("$work"/nap-agent_*.deb)
[ -f "${debs[0]}" ] || { echo "build-deb.sh: no nap-agent_*.deb built" >&2; exit 1; }
rm -f "$out"/nap-agent_*.deb "$out"/nap-agent-dbgsym_*.deb
mv -f "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out/"
cp "$work/build.log" "$out/build-deb.log"
echo "build-deb.sh: built $(cd "$out" && ls nap-agent_*.deb) in $(($(date +%s) - t0))s"

if [ "${NAP_LINTIAN:-1}" = 1 ]; then
	deb=$(ls "$out"/nap-agent_*.deb)
	# --fail-on warning: any error or warning fails; overrides (with their
	# reasons) are in packaging/debian/nap-agent.lintian-overrides. (Not
	# --show-overrides: with --fail-on it fails on the overridden tags.)
	lintian --fail-on error,warning --display-info "$deb"
	echo "build-deb.sh: lintian clean"
fi
