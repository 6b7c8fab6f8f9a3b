#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Offline checks of the systemd integration, no systemd as PID 1 needed:
#  - systemd-analyze verify of units/nap-agent.service is clean (ExecStart=
#    pointed at the built binary, Documentation= at the built man page);
#  - systemd-analyze security --offline=true: exposure at most $MAX_EXPOSURE;
#  - the settings issue 7 asks for are there, and issue 14's LimitCORE=0
#    (exposure still at most 1.1 with it);
#  - sysusers.d creates the nap-agent user and tmpfiles.d gives an existing
#    values.env (/etc/nap's, get.sh's /opt/nap's) 0640 root:nap-agent and
#    creates none, both run against a scratch --root (as root: they chown;
#    CI runs as root, and anywhere else this part fails, never skips).
# A missing tool is a failure too (meson registers this test only when the
# tools are there, and requires them under -Dci=true).
# Usage: check-unit.sh SOURCE_ROOT [BUILT_BINARY] [BUILT_MANPAGE]
set -euo pipefail

src=${1:?usage: check-unit.sh SOURCE_ROOT [BINARY] [MANPAGE]}
bin=${2:-}
manpage=${3:-}
unit=$src/units/nap-agent.service
MAX_EXPOSURE=${MAX_EXPOSURE:-1.1}
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

for t in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	command -v "$t" >/dev/null || { echo "FAIL: no $t"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- systemd-analyze verify ---------------------------------------------------
if [ -n "$bin" ] && [ ! -e /usr/bin/nap-agent ]; then
	sed "s|/usr/bin/nap-agent|$bin|g" "$unit" >"$tmp/nap-agent.service"
else
	cp "$unit" "$tmp/nap-agent.service"
fi
# Documentation= is checked against the built man page when one is given
# (a page that was asked for and is missing, or no man(1), fails).
man_opt=--man=no
if [ -n "$manpage" ]; then
	[ -f "$manpage" ] || bad "no man page '$manpage' to check Documentation= against"
	command -v man >/dev/null || bad "no man(1) to check Documentation= with"
	if [ -f "$manpage" ] && command -v man >/dev/null; then
		mkdir -p "$tmp/man/man8"
		cp "$manpage" "$tmp/man/man8/nap-agent.8"
		export MANPATH=$tmp/man
		man_opt=--man=yes
	fi
fi
if out=$(systemd-analyze verify "$man_opt" "$tmp/nap-agent.service" 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify $man_opt: clean"
else
	bad "systemd-analyze verify:"$'\n'"$out"
fi

# --- systemd-analyze security --------------------------------------------------
sec=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1) || true
level=$(sed -n 's/.*Overall exposure level for nap-agent.service: \([0-9.]*\).*/\1/p' <<<"$sec")
if [ -z "$level" ]; then
	bad "no exposure level in:"$'\n'"$sec"
elif awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l <= m) }'; then
	ok "exposure level $level <= $MAX_EXPOSURE"
else
	bad "exposure level $level > $MAX_EXPOSURE"
	grep '✗' <<<"$sec" || true
fi

# --- the settings the unit must have -------------------------------------------
want=(
	'Type=notify'
	'ExecStart=/usr/bin/nap-agent run'
	'ExecReload=/bin/kill -HUP $MAINPID'
	'Restart=on-failure'
	'User=nap-agent'
	'Group=nap-agent'
	'StateDirectory=nap-agent'
	'StateDirectoryMode=0700'
	'LoadCredential=kubeconfig:/etc/nap/kubeconfig'
	'SetCredential=kubeconfig:none'
	'LoadCredential=k3s-kubeconfig:/etc/rancher/k3s/k3s.yaml'
	'SetCredential=k3s-kubeconfig:none'
	'UMask=0077'
	'ProtectSystem=strict'
	'ReadWritePaths=-/var/lib/prometheus/node-exporter'
	'ProtectHome=yes'
	'PrivateTmp=yes'
	'PrivateDevices=yes'
	'NoNewPrivileges=yes'
	'CapabilityBoundingSet='
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'
	'SystemCallFilter=@system-service'
	'SystemCallArchitectures=native'
	'MemoryDenyWriteExecute=yes'
	'ProtectProc=invisible'
	'ProcSubset=pid'
	'ProtectKernelTunables=yes'
	'ProtectKernelModules=yes'
	'ProtectKernelLogs=yes'
	'ProtectControlGroups=yes'
	'ProtectClock=yes'
	'ProtectHostname=yes'
	'RestrictNamespaces=yes'
	'RestrictRealtime=yes'
	'RestrictSUIDSGID=yes'
	'LockPersonality=yes'
	'LimitCORE=0'
	'WantedBy=multi-user.target'
)
for w in "${want[@]}"; do
	grep -qxF -- "$w" "$unit" && ok "$w" || bad "missing line '$w'"
done
grep -qE '^WatchdogSec=[1-9]' "$unit" && ok "WatchdogSec set" || bad "no WatchdogSec="
grep -qE '^RestartSec=[1-9]' "$unit" && ok "RestartSec set" || bad "no RestartSec="
grep -qE '^(IPAddressDeny|IPAddressAllow|PrivateNetwork)=' "$unit" &&
	bad "the API server and PostgreSQL may be anywhere: no IP allow list" || ok "no IP allow list"

# --- sysusers.d and tmpfiles.d, against a scratch root ------------------------
# The package ships no values.env: tmpfiles.d only adjusts the ones that are
# there (/etc/nap's, get.sh's /opt/nap/values.env) and creates none.
r=$tmp/root
mkdir -p "$r/etc/nap" "$r/opt/nap" "$r/usr/lib/sysusers.d" "$r/usr/lib/tmpfiles.d"
cp "$src/etc/nap/values.env" "$r/opt/nap/values.env"
chmod 0600 "$r/opt/nap/values.env"   # as the platform's gen-secrets.sh leaves it (mktemp, mv)
cp "$src/units/nap-agent.sysusers" "$r/usr/lib/sysusers.d/nap-agent.conf"
cp "$src/units/nap-agent.tmpfiles" "$r/usr/lib/tmpfiles.d/nap-agent.conf"
if [ "$(id -u)" = 0 ]; then
	systemd-sysusers --root="$r" nap-agent.conf 2>&1
	pw=$(grep '^nap-agent:' "$r/etc/passwd" || true)
	gid=$(awk -F: '$1 == "nap-agent" { print $3 }' "$r/etc/group")
	[[ $pw == nap-agent:x:*:*:*:/var/lib/nap-agent:/usr/sbin/nologin ]] &&
		ok "sysusers: $pw" || bad "sysusers: no system user nap-agent ('$pw')"
	systemd-tmpfiles --root="$r" --create nap-agent.conf 2>&1
	st=$(stat -c '%a %u %g' "$r/opt/nap/values.env")
	[ "$st" = "640 0 $gid" ] && ok "tmpfiles: /opt/nap/values.env 0640 root:nap-agent" ||
		bad "tmpfiles: /opt/nap/values.env is '$st', want '640 0 $gid'"
	[ ! -e "$r/etc/nap/values.env" ] && ok "tmpfiles: no /etc/nap/values.env created" ||
		bad "tmpfiles created /etc/nap/values.env"
	mv "$r/opt/nap/values.env" "$r/etc/nap/values.env"
	chmod 0644 "$r/etc/nap/values.env"
	systemd-tmpfiles --root="$r" --create nap-agent.conf 2>&1
	st=$(stat -c '%a %u %g' "$r/etc/nap/values.env")
	[ "$st" = "640 0 $gid" ] && ok "tmpfiles: /etc/nap/values.env 0640 root:nap-agent" ||
		bad "tmpfiles: /etc/nap/values.env is '$st', want '640 0 $gid'"
	[ ! -e "$r/opt/nap/values.env" ] && ok "tmpfiles: no /opt/nap/values.env created" ||
		bad "tmpfiles created /opt/nap/values.env"
else
	bad "sysusers/tmpfiles --root need root (they chown): run the package suite as root"
fi

exit $fail
