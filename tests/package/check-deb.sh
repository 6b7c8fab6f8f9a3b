#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the .deb (packaging/build-deb.sh: dpkg-buildpackage, then lintian
# with no error and no warning) into OUTDIR and checks what it holds. A
# missing tool is a failure, never a skip.
# Usage: check-deb.sh SOURCE_ROOT OUTDIR
set -euo pipefail
src=${1:?usage: check-deb.sh SOURCE_ROOT OUTDIR}
out=${2:?usage: check-deb.sh SOURCE_ROOT OUTDIR}
for t in dpkg-buildpackage dpkg-deb lintian; do
	command -v "$t" >/dev/null || { echo "FAIL: no $t"; exit 1; }
done

# lintian always runs here, whatever NAP_LINTIAN the caller has set.
DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck} NAP_LINTIAN=1 bash "$src/packaging/build-deb.sh" "$out"
deb=$(ls "$out"/nap-agent_*.deb)
fail=0
list=$(dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }')
for w in \
	'-rwxr-xr-x root/root ./usr/bin/nap-agent' \
	'-rw-r--r-- root/root ./lib/systemd/system/nap-agent.service' \
	'-rw-r--r-- root/root ./usr/lib/sysusers.d/nap-agent.conf' \
	'-rw-r--r-- root/root ./usr/lib/tmpfiles.d/nap-agent.conf' \
	'-rw-r--r-- root/root ./usr/lib/systemd/catalog/nap-agent.catalog' \
	'-rw-r--r-- root/root ./usr/share/nap-agent/prometheus/nap-agent.rules.yml' \
	'-rw-r--r-- root/root ./usr/share/man/man8/nap-agent.8.gz' \
	'-rw-r--r-- root/root ./usr/share/bash-completion/completions/nap-agent' \
	'-rw-r--r-- root/root ./usr/share/nap-agent/templates/sandbox-deployment.json' \
	'-rw-r--r-- root/root ./usr/share/nap-agent/values.env.example' \
	'drwxr-xr-x root/root ./etc/nap/templates.d/'; do
	grep -qxF -- "$w" <<<"$list" && echo "ok: $w" || { echo "FAIL: not in the .deb: $w"; fail=1; }
done
[ "$(dpkg-deb -f "$deb" Package)" = nap-agent ] || fail=1
# libcurl and libpq are opened with dlopen: nothing but the control file says the agent needs them.
depends=$(dpkg-deb -f "$deb" Depends)
for d in 'libcurl4 (>= 7.87.0)' libpq5 libcjson1 libyaml-0-2 acl; do
	grep -qF -- "$d" <<<"$depends" && echo "ok: Depends: $d" || { echo "FAIL: Depends lacks $d: $depends"; fail=1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -e "$deb" "$tmp"
# No live values.env (issue 22): the agent reads the platform's own.
grep -qE ' \./etc/nap/values\.env$' <<<"$list" && { echo "FAIL: the .deb installs /etc/nap/values.env"; fail=1; } ||
	echo "ok: no /etc/nap/values.env in the .deb"
! grep -qx /etc/nap/values.env "$tmp/conffiles" 2>/dev/null && echo "ok: no values.env conffile" ||
	{ echo "FAIL: /etc/nap/values.env is a conffile"; fail=1; }
# sysusers before tmpfiles (the group must exist), then the unit enabled
# (each by its first appearance: the trigger runs tmpfiles again).
order=$(grep -noE 'systemd-sysusers|systemd-tmpfiles|deb-systemd-helper enable' "$tmp/postinst" | cut -d: -f2 |
	awk '!seen[$0]++' | tr '\n' ' ')
[ "$order" = "systemd-sysusers systemd-tmpfiles deb-systemd-helper enable " ] && echo "ok: postinst order: $order" ||
	{ echo "FAIL: postinst order '$order'"; fail=1; }
# The message catalog (journalctl -x) in the scripts; node_exporter's
# textfile directory watched (a late prometheus-node-exporter).
grep -q 'journalctl --update-catalog' "$tmp/postinst" && grep -q 'journalctl --update-catalog' "$tmp/postrm" &&
	echo "ok: journalctl --update-catalog in postinst and postrm" || { echo "FAIL: no journalctl --update-catalog"; fail=1; }
grep -q 'setfacl -m u:nap-agent:rwx /var/lib/prometheus/node-exporter' "$tmp/postinst" &&
	echo "ok: postinst gives nap-agent its ACL entry on the textfile directory" || { echo "FAIL: no setfacl in postinst"; fail=1; }
grep -qx 'interest-noawait /var/lib/prometheus/node-exporter' "$tmp/triggers" &&
	echo "ok: trigger on /var/lib/prometheus/node-exporter" || { echo "FAIL: no trigger on the textfile directory"; fail=1; }
exit $fail
