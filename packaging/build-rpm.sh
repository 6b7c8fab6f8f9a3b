#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds nap-agent-*.rpm with rpmbuild -bb from the working tree (git's
# tracked and untracked files, not ignored ones), in a temp _topdir, and
# moves it to OUTDIR; then checks with rpm -qlp that it holds the binary,
# the unit, the man page, the templates, the sysusers.d and tmpfiles.d
# snippets, the message catalog, the alert rules and the conffile.
#
# On Debian (rpm from Debian's archive) there is no rpm database of the
# build dependencies and none of Fedora's meson/systemd macros: the build
# runs with --nodeps, and packaging/rpm/macros.debian supplies the macros
# when `rpm --eval %meson` does not expand.
#
# Usage: packaging/build-rpm.sh [OUTDIR]        (default: ./build-packages)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-packages}
mkdir -p "$out"
out=$(cd "$out" && pwd)
t0=$(date +%s)

if ! command -v rpmbuild >/dev/null; then
	if [ "$(id -u)" = 0 ] && [ "${NAP_INSTALL_DEPS:-1}" = 1 ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rpm scdoc >/dev/null
	else
		echo "build-rpm.sh: rpmbuild missing (apt-get install rpm)" >&2
		exit 1
	fi
fi

version=$(sed -n 's/^Version: *//p' "$src/packaging/rpm/nap-agent.spec")
work=$(mktemp -d /tmp/nap-rpm.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{SOURCES,SPECS,BUILD,RPMS,SRPMS,stage/nap-agent-$version}
# The source as git sees it (tracked and untracked files that exist, not
# ignored ones), so build dirs and editor files stay out.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | grep -zvE '^build[^/]*/' |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	xargs -0 cp --parents -t "$work/stage/nap-agent-$version")
tar -C "$work/stage" -czf "$work/SOURCES/nap-agent-$version.tar.gz" "nap-agent-$version"
cp "$src/units/nap-agent.sysusers" "$work/SOURCES/"
cp "$src/packaging/rpm/nap-agent.spec" "$work/SPECS/"

args=(--define "_topdir $work" --nodeps)
if [ "$(rpm --eval '%{?meson:yes}')" != yes ]; then
	args+=(--load "$src/packaging/rpm/macros.debian")
fi
echo "build-rpm.sh: rpmbuild -bb in $work"
rpmbuild -bb "${args[@]}" "$work/SPECS/nap-agent.spec" >"$work/build.log" 2>&1 || {
	tail -60 "$work/build.log" >&2
	echo "build-rpm.sh: rpmbuild failed" >&2
	exit 1
}
rm -f "$out"/nap-agent-[0-9]*.rpm
find "$work/RPMS" -name 'nap-agent-[0-9]*.rpm' -exec mv -t "$out" {} +
cp "$work/build.log" "$out/build-rpm.log"
rpm_file=$(ls "$out"/nap-agent-[0-9]*.rpm)
echo "build-rpm.sh: built $(basename "$rpm_file") in $(($(date +%s) - t0))s"

# --- what the package must hold -------------------------------------------
list=$(rpm -qlp "$rpm_file" 2>/dev/null)
fail=0
want=(
	/usr/bin/nap-agent
	/usr/lib/systemd/system/nap-agent.service
	/usr/share/man/man8/nap-agent.8
	/usr/lib/sysusers.d/nap-agent.conf
	/usr/lib/tmpfiles.d/nap-agent.conf
	/usr/lib/systemd/catalog/nap-agent.catalog
	/usr/share/nap-agent/prometheus/nap-agent.rules.yml
	/usr/share/bash-completion/completions/nap-agent
	/usr/share/nap-agent/templates/sandbox-deployment.json
	/usr/share/nap-agent/values.env.example
	/etc/nap/templates.d
	/var/lib/nap-agent
)
for f in "${want[@]}"; do
	if grep -qxE "${f//./\\.}(\\.gz|\\.bz2|\\.xz|\\.zst)?" <<<"$list"; then
		echo "ok: $f"
	else
		echo "FAIL: rpm -qlp lists no $f"
		fail=1
	fi
done
# No live values.env: the agent reads the platform's own (issue 22).
grep -qx /etc/nap/values.env <<<"$list" && { echo "FAIL: the rpm installs /etc/nap/values.env"; fail=1; } ||
	echo "ok: no /etc/nap/values.env in the rpm"
requires=$(rpm -qpR "$rpm_file" 2>/dev/null)
for q in 'libcurl(\([^)]*\))? >= 7\.87\.0' 'libpq(\([^)]*\))?'; do
	grep -qxE -- "$q" <<<"$requires" && echo "ok: Requires: $q" || { echo "FAIL: no Requires: $q: $requires"; fail=1; }
done
scripts=$(rpm -qp --scripts "$rpm_file" 2>/dev/null)
for s in 'systemd-sysusers --replace=/usr/lib/sysusers.d/nap-agent.conf' \
	'install-system-units nap-agent.service' 'remove-system-units nap-agent.service' \
	'mark-restart-system-units nap-agent.service' 'systemd-tmpfiles --create nap-agent.conf' \
	'journalctl --update-catalog' 'setfacl -m u:nap-agent:rwx /var/lib/prometheus/node-exporter'; do
	grep -qF -- "$s" <<<"$scripts" && echo "ok: scriptlet: $s" || { echo "FAIL: no scriptlet '$s'"; fail=1; }
done
exit $fail
