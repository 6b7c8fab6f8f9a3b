#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The systemd end-to-end test: boots a Debian 12 root with systemd 252 as
# PID 1 in systemd-nspawn (so it runs on machines that do not run systemd
# themselves; see "boot and stop" below), installs the built .deb in it the way the
# README tells users to, and checks what the package does to a real system:
#
#   package   on a node as the platform's single-node get.sh leaves it
#             (/opt/nap/values.env, k3s's /etc/rancher/k3s/k3s.yaml 0600
#             root) and nothing else: apt install ./nap-agent_*.deb; the
#             unit enabled the Debian way (deb-systemd-helper) and not
#             started; no values.env of its own, an inert example; the
#             nap-agent system user, to whose group tmpfiles.d gives
#             values.env; which values.env check reads (--values,
#             $NAP_VALUES, /etc/nap's if it exists, /opt/nap's); the
#             hardened unit starts under its sandbox with k3s's kubeconfig
#             as a credential (READY even with the API server unreachable),
#             and with no kubeconfig and no values.env at all, and stops
#             cleanly; purge leaves nothing but the system user and the
#             platform's files.
#   daemon    (NAP_E2E_DAEMON=1) against the control plane of tests/harness
#             on the host's 127.0.0.1 (the container shares the host's
#             network; kube-controller-manager and a stand-in kubelet, so
#             that rollouts complete), on the same get.sh node with k3s's
#             kubeconfig pointing there: enable --now returns after READY
#             and the first pass applied, status shows
#             STATUS=, edits by sed -i and as an editor saves apply
#             (checked in the apiserver and PostgreSQL), also while libcurl
#             and libpq are unloaded, apply/seed as root handed to the
#             running service through its control socket, reload, journal
#             priorities and no secret, the journal's fields (one object's
#             history by NAP_OBJECT) and the message catalog (journalctl -x
#             on a refused values.env), clean stop, kill -9 restarts and
#             converges, the watchdog fires when the loop hangs.
#
# Usage: tests/e2e/run.sh [DEB]    (default: build it with packaging/build-deb.sh)
# Env:   NAP_E2E_CACHE    where the debootstrapped root is kept as a tarball
#                         (default ~/.cache/nap-agent/e2e); made once per set of
#                         packages (INCLUDE), ~1 min
#        NAP_E2E_DAEMON=1 also run the daemon checks (starts tests/harness)
#        NAP_E2E_KEEP=1   keep the work dir (the root, logs) for a look
#
# Needs root. Everything lives in a temp dir; outside it, only what it
# started is touched: the cgroups /sys/fs/cgroup/{systemd,unified}/nspawn-NAME
# (removed at the end), /run/systemd/nspawn if it was missing (removed), and
# the harness's own temp dir. Exit 0 when every check passed.
set -euo pipefail
trap 'echo "e2e: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

src=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${NAP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nap-agent/e2e}
NAME=nap-e2e-$$
CG=nspawn-$NAME
SUITE=bookworm
# systemd as PID 1, and the .deb's dependencies, so that it installs with no
# apt lists (offline): the runtime libraries, procps (/bin/kill) and acl
# (setfacl, for node_exporter's textfile directory).
INCLUDE=systemd,systemd-sysv,dbus,procps,acl,libcurl4,libcjson1,libpq5,libssl3,libyaml-0-2
# The cached root is made again when the suite or the packages change.
TARBALL=$CACHE/rootfs-$(printf '%s %s' "$SUITE" "$INCLUDE" | sha256sum | cut -c1-12).tar.zst
MIRROR=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

T0=$(date +%s.%N)
el() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "[e2e $(el "$T0")s] $*"; }
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { [ "$2" = "$1" ] && ok "$3 ($2)" || bad "$3: want '$1', got '$2'"; }

[ "$(id -u)" = 0 ] || { echo "e2e: needs root (systemd-nspawn)" >&2; exit 1; }

# --- host tools ------------------------------------------------------------------
need=()
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v zstd >/dev/null || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- the .deb ---------------------------------------------------------------------
work=$(mktemp -d /tmp/nap-e2e.XXXXXX)
ROOT=$work/root
if [ $# -ge 1 ]; then
	deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
	t=$(date +%s.%N)
	DEB_BUILD_OPTIONS=nocheck NAP_LINTIAN=0 bash "$src/packaging/build-deb.sh" "$work/deb" >"$work/build-deb.log" 2>&1 ||
		{ cat "$work/build-deb.log"; exit 1; }
	deb=$(ls "$work"/deb/nap-agent_*.deb)
	log "built $(basename "$deb") in $(el "$t")s"
fi
[ -f "$deb" ] || { echo "e2e: no .deb '$deb'" >&2; exit 1; }

# --- the root: debootstrap once into the cache, unpack a fresh copy per run -------
if [ ! -f "$TARBALL" ]; then
	t=$(date +%s.%N)
	mkdir -p "$CACHE"
	rm -rf "$CACHE/root.tmp"
	debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$CACHE/root.tmp" "$MIRROR" \
		>"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
	echo nap-e2e >"$CACHE/root.tmp/etc/hostname"
	rm -rf "$CACHE/root.tmp/var/cache/apt/archives/"*.deb "$CACHE/root.tmp/var/lib/apt/lists/"*
	tar -C "$CACHE/root.tmp" --numeric-owner --xattrs --xattrs-include='*' -cpf - . |
		zstd -q -T0 -10 -o "$TARBALL.tmp"
	mv -f "$TARBALL.tmp" "$TARBALL"
	rm -rf "$CACHE/root.tmp"
	log "debootstrapped $SUITE into $TARBALL in $(el "$t")s"
fi
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner --xattrs --xattrs-include='*' -I zstd -xpf "$TARBALL"
cp "$deb" "$ROOT/root/"
debname=$(basename "$deb")

# --- boot and stop ---------------------------------------------------------------
nspawn_pid=
harness_dir=
kubelet_pid=
# The container's PID 1 as the host sees it: the child of systemd-nspawn,
# else (nspawn gone) the process in the payload's init.scope.
leader() {
	local p=
	[ -n "$nspawn_pid" ] && p=$(ps -o pid= --ppid "$nspawn_pid" 2>/dev/null | awk 'NR == 1 { print $1 }')
	[ -n "$p" ] || p=$(cat "/sys/fs/cgroup/systemd/$CG/payload/init.scope/cgroup.procs" 2>/dev/null | head -1)
	echo "$p"
}
# Runs a command inside the container, in all its namespaces, with a clean
# environment.
cx() {
	local L
	L=$(leader) && [ -n "$L" ] || { echo "container not running" >&2; return 1; }
	nsenter -t "$L" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}
sc() { cx systemctl --no-pager "$@"; }

boot() {
	local t h i st=
	t=$(date +%s.%N)
	for h in systemd unified; do mkdir -p "/sys/fs/cgroup/$h/$CG"; done
	if [ ! -d /run/systemd/nspawn ]; then
		mkdir -p /run/systemd/nspawn
		touch "$work/.created-run-nspawn"
	fi
	# A private mount namespace with a tmpfs for nspawn's runtime files (the
	# host's /run is on disk); our own cgroup, which --keep-unit splits into
	# payload/ and supervisor/; no registration (no machined, no D-Bus here);
	# the host's network, so the daemon reaches the harness on 127.0.0.1.
	setsid unshare -m --propagation private /bin/bash -c '
		mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
		echo $$ > /sys/fs/cgroup/systemd/'"$CG"'/cgroup.procs
		echo $$ > /sys/fs/cgroup/unified/'"$CG"'/cgroup.procs
		echo $$ > "'"$work"'/nspawn.pid"
		exec systemd-nspawn -q -D "'"$ROOT"'" -M "'"$NAME"'" -b \
			--register=no --keep-unit --console=read-only' \
		>"$work/boot.log" 2>&1 </dev/null &
	# (the PID that execs nspawn, not $!: setsid forks when it has to)
	for i in $(seq 1 200); do [ -s "$work/nspawn.pid" ] && break; sleep 0.05; done
	nspawn_pid=$(cat "$work/nspawn.pid" 2>/dev/null || true)
	for i in $(seq 1 200); do [ -n "$(leader)" ] && break; sleep 0.05; done
	[ -n "$(leader)" ] || { cat "$work/boot.log"; ps -ef --forest | grep -B2 -A2 nspawn; return 1; }
	for i in $(seq 1 600); do
		st=$(cx systemctl is-system-running --wait 2>/dev/null) && break
		case "$st" in running | degraded) break ;; esac
		sleep 0.1
	done
	log "booted: nspawn $nspawn_pid, PID 1 is $(leader) on the host, '$st', in $(el "$t")s"
	[ "$st" = running ] || sc --failed || true
}

# Whether nspawn or the container's PID 1 is still there.
running() {
	{ [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; } ||
		[ -s "/sys/fs/cgroup/systemd/$CG/payload/init.scope/cgroup.procs" ]
}

shutdown() {
	local i h d L
	L=$(leader || true)
	if { [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; } || [ -n "$L" ]; then
		cx systemctl poweroff 2>/dev/null || kill -TERM "$nspawn_pid" 2>/dev/null || true
		for i in $(seq 1 300); do running || break; sleep 0.1; done
		if running; then
			# SIGKILL to the container's PID 1 ends its PID namespace; nspawn
			# then exits by itself.
			log "poweroff timed out: SIGKILL to the container's PID 1 ($L)"
			[ -n "$L" ] && kill -KILL "$L" 2>/dev/null
			for i in $(seq 1 50); do running || break; sleep 0.1; done
			[ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
		fi
		log "container stopped"
	fi
	nspawn_pid=
	for h in systemd unified; do
		[ -d "/sys/fs/cgroup/$h/$CG" ] || continue
		find "/sys/fs/cgroup/$h/$CG" -depth -type d | while read -r d; do rmdir "$d" 2>/dev/null || true; done
		[ -d "/sys/fs/cgroup/$h/$CG" ] && log "WARNING: cgroup $h/$CG still has processes"
	done
	if [ -f "$work/.created-run-nspawn" ]; then
		rmdir /run/systemd/nspawn 2>/dev/null || true
		rm -f "$work/.created-run-nspawn"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	shutdown
	if [ -n "$kubelet_pid" ]; then
		kill "$kubelet_pid" 2>/dev/null || true
		wait "$kubelet_pid" 2>/dev/null || true
	fi
	if [ -n "$harness_dir" ]; then
		"$src/tests/harness/harness.sh" stop "$harness_dir" >/dev/null 2>&1 || true
	fi
	if [ "${NAP_E2E_KEEP:-0}" = 1 ]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every path on the root's own file system but the volatile and the
# package manager's bookkeeping: what install + purge may leave behind.
snapshot() {
	cx find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
		-o -path /var/tmp -o -path /var/log -o -path /var/cache -o -path /var/lib/dpkg \
		-o -path /var/lib/apt -o -path /root \) -prune -o -print | sort
}

# Waits up to $1 seconds for "$2 ..." to succeed.
wait_for() {
	local n=$(($1 * 10)) i
	shift
	for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

# ============================================================ the platform's node
# What the platform's one-line installer (get.sh, single-node profile) leaves
# on a node, and nothing else: values.env at /opt/nap/values.env, written
# as get.sh and gen-secrets.sh write it (a temporary file renamed over it,
# mode from the umask), naming k3s's kubeconfig, which k3s keeps at
# /etc/rancher/k3s/k3s.yaml, 0600 root.
#   getsh_node SERVER TOKEN CA_DATA [KEY=VALUE...]   (CA_DATA may be empty)
getsh_node() {
	local server=$1 token=$2 ca=$3 kv
	shift 3
	cx mkdir -p /etc/rancher/k3s /opt/nap
	{
		printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: default\n  cluster:\n    server: %s\n' "$server"
		[ -n "$ca" ] && printf '    certificate-authority-data: %s\n' "$ca"
		printf 'users:\n- name: default\n  user:\n    token: %s\n' "$token"
		printf 'contexts:\n- name: default\n  context:\n    cluster: default\n    user: default\ncurrent-context: default\n'
	} | cx sh -c 'umask 077 && cat > /etc/rancher/k3s/k3s.yaml'
	{
		echo "# written by the platform's get.sh (single-node profile)"
		echo "DEPLOY_PROFILE=single-node"
		echo "NAMESPACE=nap"
		echo "KUBECONFIG=/etc/rancher/k3s/k3s.yaml"
		echo "NAP_HOST=192.0.2.10"
		echo "NAP_NODE_PORT=30080"
		echo "IMAGE_TAG=latest"
		echo "SANDBOX_ENABLED=false"
		echo "SANDBOX_NODE_PORT=30086"
		echo "SANDBOX_PUBLIC_URL="
		echo "BROWSER_ENABLED=false"
		echo "BROWSER_NODE_PORT=30085"
		echo "BROWSER_PUBLIC_URL="
		echo "TURN_HOST="
		echo "TURN_PORT=3478"
		for kv in JWT_SECRET CREDENTIAL_ENCRYPTION_KEY PLATFORM_SERVICE_KEY SANDBOX_JWT_SECRET SANDBOX_SERVICE_KEY \
			BROWSER_JWT_SECRET TURN_AUTH_SECRET PG_PASSWORD; do
			echo "$kv=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		done
	} | cx sh -c 'umask 022 && cat > /opt/nap/values.env.tmp && mv /opt/nap/values.env.tmp /opt/nap/values.env'
	for kv in "$@"; do getsh_set "${kv%%=*}" "${kv#*=}"; done
}

# get.sh's set_kv: KEY=VALUE replaced (or, here, appended) through a
# temporary file renamed over values.env.
getsh_set() {
	cx sh -c 'umask 022 && awk -v k="$1" -v v="$2" '\''BEGIN { FS = OFS = "=" } $1 == k { print k "=" v; f = 1; next } { print } END { if (!f) print k "=" v }'\'' /opt/nap/values.env > /opt/nap/values.env.tmp && mv /opt/nap/values.env.tmp /opt/nap/values.env' \
		sh "$1" "$2"
}

# ======================================================================= package
test_package() {
	local out t pw st before after extra j
	echo "== a node of the platform's single-node installation, nothing else"
	getsh_node https://127.0.0.1:1 e2e-not-a-real-token ""
	check "644 root root" "$(cx stat -c '%a %U %G' /opt/nap/values.env)" "/opt/nap/values.env as get.sh leaves it"
	check "600 root root" "$(cx stat -c '%a %U %G' /etc/rancher/k3s/k3s.yaml)" "k3s's kubeconfig, root only"
	before=$(snapshot)

	echo "== install: apt install ./$debname"
	t=$(date +%s.%N)
	if out=$(cx sh -c "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ./$debname" 2>&1); then
		ok "apt install ./$debname ($(el "$t")s)"
	else
		bad "apt install ./$debname:"$'\n'"$out"
		return
	fi

	echo "== the unit: enabled the Debian way, not started"
	check enabled "$(sc is-enabled nap-agent.service 2>&1)" "systemctl is-enabled nap-agent"
	cx test -L /etc/systemd/system/multi-user.target.wants/nap-agent.service &&
		ok "multi-user.target.wants/nap-agent.service symlink" || bad "no multi-user.target.wants symlink"
	cx test -e /var/lib/systemd/deb-systemd-helper-enabled/nap-agent.service.dsh-also &&
		ok "deb-systemd-helper state recorded (so purge can undo it)" || bad "no deb-systemd-helper state"
	check inactive "$(sc is-active nap-agent.service 2>&1)" "not started on install"

	echo "== no values.env of its own; the platform's, in place"
	cx test ! -e /etc/nap/values.env && ok "no /etc/nap/values.env installed" || bad "the package installed /etc/nap/values.env"
	out=$(cx grep -E '^(SANDBOX|BROWSER)_ENABLED=' /usr/share/nap-agent/values.env.example | tr '\n' ' ')
	check "SANDBOX_ENABLED=false BROWSER_ENABLED=false " "$out" "the example under /usr/share has both modules off"
	pw=$(cx getent passwd nap-agent || true)
	IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
	[ -n "$pw" ] && [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/nap-agent ] && [ "$shell" = /usr/sbin/nologin ] &&
		ok "system user: $pw" || bad "system user nap-agent: '$pw'"
	check "640 root nap-agent" "$(cx stat -c '%a %U %G' /opt/nap/values.env)" "tmpfiles.d gave /opt/nap/values.env to the group"
	check "$(cx nap-agent --version 2>&1)" "$(cx runuser -u nap-agent -- nap-agent --version 2>&1)" \
		"nap-agent --version as the nap-agent user"
	out=$(cx nap-agent check 2>&1 || true)
	grep -qF "values.env: '/opt/nap/values.env' (the platform's get.sh installation; there is no /etc/nap/values.env)" <<<"$out" &&
		ok "check reads get.sh's /opt/nap/values.env and says so" || bad "check: $out"
	cx runuser -u nap-agent -- nap-agent check >/dev/null 2>&1 &&
		ok "the nap-agent user reads and checks it" || bad "nap-agent check as nap-agent failed"
	cx runuser -u nobody -- nap-agent check >/dev/null 2>&1 &&
		bad "another user can read values.env" || ok "another user cannot read values.env"

	echo "== the order: --values, \$NAP_VALUES, /etc/nap/values.env if it exists, /opt/nap/values.env"
	cx sh -c 'umask 027 && printf "SANDBOX_ENABLED=false\nBROWSER_ENABLED=false\n" > /etc/nap/values.env'
	out=$(cx nap-agent check 2>&1 || true)
	grep -qF "values.env: '/etc/nap/values.env' (it exists, so it is read instead of /opt/nap/values.env)" <<<"$out" &&
		ok "/etc/nap/values.env, once it exists, comes first" || bad "check with /etc/nap/values.env: $out"
	cx sh -c 'printf "SANDBOX_ENABLED=false\n" > /root/other.env'
	out=$(cx env NAP_VALUES=/root/other.env nap-agent check 2>&1 || true)
	grep -qF "values.env: '/root/other.env' (named by \$NAP_VALUES)" <<<"$out" &&
		ok "\$NAP_VALUES before both" || bad "check with NAP_VALUES: $out"
	out=$(cx env NAP_VALUES=/root/other.env nap-agent check --values /opt/nap/values.env 2>&1 || true)
	grep -qF "values.env: '/opt/nap/values.env' (given with --values)" <<<"$out" &&
		ok "--values before \$NAP_VALUES" || bad "check with --values: $out"
	out=$(cx nap-agent status --json 2>/dev/null | grep -A2 '"values"' | tr -d ' \t\n' || true)
	grep -qF '"path":"/etc/nap/values.env"' <<<"$out" && ok "status --json names it: $out" || bad "status --json: $out"
	cx rm -f /etc/nap/values.env /root/other.env

	echo "== gen-secrets fills the platform's file in place"
	getsh_set TURN_AUTH_SECRET ""
	out=$(cx nap-agent gen-secrets 2>&1) && grep -q "filled TURN_AUTH_SECRET" <<<"$out" &&
		ok "nap-agent gen-secrets fills an empty secret of /opt/nap/values.env" || bad "gen-secrets: $out"
	check "644 root root" "$(cx stat -c '%a %U %G' /opt/nap/values.env)" "gen-secrets keeps mode and owner (get.sh's set_kv left 0644)"
	cx systemd-tmpfiles --create nap-agent.conf
	check "640 root nap-agent" "$(cx stat -c '%a %U %G' /opt/nap/values.env)" "systemd-tmpfiles --create nap-agent.conf gives it back to the group"
	cx man -w nap-agent >/dev/null 2>&1 || cx test -f /usr/share/man/man8/nap-agent.8.gz &&
		ok "man page installed" || bad "no man page"

	echo "== the hardened unit starts with k3s's kubeconfig, a credential (the API server is unreachable)"
	t=$(date +%s.%N)
	if out=$(sc start nap-agent.service 2>&1); then
		ok "systemctl start returned after READY ($(el "$t")s)"
	else
		bad "systemctl start nap-agent: $out"
	fi
	check active "$(sc is-active nap-agent.service 2>&1)" "active"
	st=$(sc show -p StatusText --value nap-agent.service)
	[ -n "$st" ] && ok "STATUS=: $st" || bad "no STATUS= text"
	check "nap-agent" "$(cx ps -o user= -p "$(sc show -p MainPID --value nap-agent.service)" 2>&1)" "runs as nap-agent"
	check "700 nap-agent nap-agent" "$(cx stat -c '%a %U %G' /var/lib/nap-agent)" "StateDirectory"
	j=$(cx journalctl -b -u nap-agent.service --no-pager -o cat 2>&1)
	grep -qF "nap-agent watching '/opt/nap/values.env' (the platform's get.sh installation; there is no /etc/nap/values.env)" <<<"$j" &&
		ok "journal: the first line names /opt/nap/values.env and why" || bad "the journal does not say which values.env:"$'\n'"$j"
	# Only k3s's kubeconfig names this server: the service read it through its credential.
	grep -qF "127.0.0.1:1" <<<"$j" && ok "journal: the first pass went to k3s's server (https://127.0.0.1:1)" ||
		bad "no sign of k3s's kubeconfig in the journal:"$'\n'"$j"
	t=$(date +%s.%N)
	sc stop nap-agent.service
	check "inactive success 0" "$(sc show -p ActiveState --value nap-agent.service) $(sc show -p Result --value nap-agent.service) $(sc show -p ExecMainStatus --value nap-agent.service)" \
		"stopped cleanly in $(el "$t")s"
	j=$(cx journalctl -b -u nap-agent.service --no-pager -o cat 2>&1)
	grep -q e2e-not-a-real-token <<<"$j" && bad "the token appears in the journal" || ok "no token in the journal"

	echo "== no kubeconfig and no values.env: the unit still starts (no 243/CREDENTIALS), says where it looks"
	cx mv /etc/rancher/k3s/k3s.yaml /root/k3s.yaml.away
	cx mv /opt/nap/values.env /root/values.env.away
	if out=$(sc start nap-agent.service 2>&1); then
		ok "systemctl start with neither file"
	else
		bad "systemctl start with neither file: $out"
	fi
	check active "$(sc is-active nap-agent.service 2>&1)" "active with neither file"
	check "waiting for values.env at '/etc/nap/values.env' or '/opt/nap/values.env'; nothing applied" \
		"$(sc show -p StatusText --value nap-agent.service)" "STATUS= says where it looks"
	j=$(cx journalctl -b -u nap-agent.service --no-pager -o cat 2>&1)
	grep -qF "no values.env at '/etc/nap/values.env' or '/opt/nap/values.env': nothing is applied until one appears (for one elsewhere: \`systemctl edit nap-agent\`, [Service] Environment=NAP_VALUES=" <<<"$j" &&
		ok "journal: where it looks, and the drop-in for elsewhere" || bad "no line about the missing values.env:"$'\n'"$j"
	# values.env renamed into place, as get.sh does: the first pass, which finds no kubeconfig
	cx cp -p /root/values.env.away /opt/nap/.values.env.new
	cx mv /opt/nap/.values.env.new /opt/nap/values.env
	no_kubeconfig_status() { sc show -p StatusText --value nap-agent.service | grep -qF "No kubeconfig nap-agent can read"; }
	wait_for 20 no_kubeconfig_status && ok "values.env renamed into place: a pass, which says there is no kubeconfig" ||
		bad "no pass after values.env appeared: $(sc show -p StatusText --value nap-agent.service)"
	st=$(sc show -p StatusText --value nap-agent.service)
	for part in "the credential 'kubeconfig' (none)" "values.env's KUBECONFIG '/etc/rancher/k3s/k3s.yaml' (missing)" \
		"the credential 'k3s-kubeconfig' (none)" "LoadCredential=kubeconfig:" "systemctl restart nap-agent"; do
		grep -qF -- "$part" <<<"$st" && ok "STATUS= names $part" || bad "STATUS= lacks '$part': $st"
	done
	check 1 "$(cx journalctl -b -u nap-agent.service --no-pager -o cat | grep -c 'No kubeconfig nap-agent can read')" \
		"one journal line about the kubeconfig"
	sc stop nap-agent.service
	check "inactive success 0" "$(sc show -p ActiveState --value nap-agent.service) $(sc show -p Result --value nap-agent.service) $(sc show -p ExecMainStatus --value nap-agent.service)" \
		"stopped cleanly"
	cx mv /root/k3s.yaml.away /etc/rancher/k3s/k3s.yaml
	cx rm /root/values.env.away

	echo "== purge: nothing left but the system user (Debian policy keeps it); the platform's files stay"
	if out=$(cx sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y nap-agent" 2>&1); then
		ok "apt-get purge nap-agent"
	else
		bad "apt-get purge nap-agent:"$'\n'"$out"
	fi
	check "not-installed" "$(cx dpkg-query -W -f='${db:Status-Status}' nap-agent 2>/dev/null || echo not-installed)" "package state"
	after=$(snapshot)
	# Allowed: the shadow tools' backups and lock from creating the user.
	extra=$(comm -13 <(echo "$before") <(echo "$after") |
		grep -vxE '/etc/(passwd|group|shadow|gshadow)-|/etc/\.pwd\.lock' || true)
	[ -z "$extra" ] && ok "no file or directory left behind" || bad "left behind:"$'\n'"$extra"
	extra=$(comm -23 <(echo "$before") <(echo "$after") || true)
	[ -z "$extra" ] && ok "nothing removed that was there before (values.env, k3s.yaml)" || bad "removed:"$'\n'"$extra"
	cx getent passwd nap-agent >/dev/null && ok "system user nap-agent kept" || bad "system user removed"
	[ -z "$(sc list-unit-files --no-legend nap-agent.service 2>/dev/null)" ] &&
		ok "systemd knows no nap-agent.service any more" || bad "nap-agent.service still known to systemd"
	cx rm -rf /opt/nap /etc/rancher
}

# ======================================================================== daemon
# The checks of the running daemon against a real control plane. They need
# tests/harness (etcd, kube-apiserver, PostgreSQL on the host's 127.0.0.1).
H() { (set -a && . "$harness_dir/env" && set +a && "$@"); }
kget() { H sh -c '"$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"' kubectl "$@"; }
node_port() { kget get service -n nap nap-sandbox -o 'jsonpath={.spec.ports[0].nodePort}' 2>/dev/null; }
redirect_uri() { H psql -X -At -c "SELECT array_to_string(redirect_uris, ' ') FROM oauth_clients WHERE id = 'sandbox-service'" 2>/dev/null; }
main_pid() { sc show -p MainPID --value nap-agent.service; }
node_port_is() { [ "$(node_port)" = "$1" ]; }
redirect_uri_is() { [ "$(redirect_uri)" = "$1" ]; }
restarted_since() { [ "$(sc show -p NRestarts --value nap-agent.service)" -gt "$1" ]; }
is_active() { [ "$(sc is-active nap-agent.service)" = active ]; }

# A stand-in kubelet (the harness has none): every Pending pod of namespace
# nap made Ready through the status subresource, so that the rollouts the
# daemon follows complete (kube-controller-manager makes the pods).
kubelet_loop() {
	# shellcheck disable=SC2016 # expanded by the inner shell, with the harness's variables
	while sleep 0.5; do
		H sh -c 'for p in $("$KUBECTL" --kubeconfig "$KUBECONFIG" -n nap get pods \
				-o jsonpath="{range .items[?(@.status.phase==\"Pending\")]}{.metadata.name} {end}" 2>/dev/null); do
			curl -s -o /dev/null --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_TOKEN" -X PATCH \
				-H "Content-Type: application/merge-patch+json" "$KUBE_API_URL/api/v1/namespaces/nap/pods/$p/status" \
				-d "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}]}}"
		done' >/dev/null 2>&1 || true
	done
}

test_daemon() {
	local t d j out pid1 pid2 n0 secrets s pri
	echo "== daemon: a control plane on the host (tests/harness)"
	harness_dir=$(mktemp -d /tmp/nap-e2e-harness.XXXXXX)
	bash "$src/tests/harness/harness.sh" deps >/dev/null
	HARNESS_COMPONENTS="kube kcm pg" "$src/tests/harness/harness.sh" start "$harness_dir" >"$work/harness.log" 2>&1 ||
		{ cat "$work/harness.log"; bad "harness did not start"; return; }
	kubelet_loop &
	kubelet_pid=$!
	H psql -X -q -v ON_ERROR_STOP=1 -f "$src/tests/oauth/schema.sql" >/dev/null
	H psql -X -q -c "INSERT INTO users (id, email, role) VALUES ('admin', 'admin@example.com', 'admin') ON CONFLICT DO NOTHING" >/dev/null

	# The node as the platform's single-node get.sh leaves it, k3s's
	# kubeconfig (0600 root) pointing at the harness, values.env at
	# /opt/nap/values.env with the sandbox turned on and the database, then
	# the package, and no other file: the service reads k3s's kubeconfig
	# through its credential (values.env's KUBECONFIG names it, and the
	# nap-agent user cannot read it).
	getsh_node "$(H sh -c 'echo "$KUBE_API_URL"')" "$(H sh -c 'echo "$KUBE_TOKEN"')" \
		"$(H sh -c 'base64 -w0 "$KUBE_CA_FILE"')" NAP_HOST=127.0.0.1 SANDBOX_ENABLED=true SANDBOX_NODE_PORT=30086 \
		"DATABASE_URL=$(H sh -c 'echo "$DATABASE_URL"')"
	cx sh -c "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y ./$debname" >/dev/null 2>&1 ||
		{ bad "install"; return; }
	check "templates.d" "$(cx ls /etc/nap | tr '\n' ' ' | sed 's/ $//')" "nothing in /etc/nap but the templates directory"
	cx runuser -u nap-agent -- cat /etc/rancher/k3s/k3s.yaml >/dev/null 2>&1 &&
		bad "the nap-agent user can read k3s.yaml" || ok "the nap-agent user cannot read k3s.yaml itself"
	secrets=$(cx sed -n -E 's/^(SANDBOX_JWT_SECRET|SANDBOX_SERVICE_KEY)=([^ #]+).*/\2/p' /opt/nap/values.env)
	secrets+=$'\n'$(H sh -c 'echo "$PGPASSWORD"')$'\n'$(H sh -c 'echo "$KUBE_TOKEN"')
	# Test-only: a short watchdog, and a short wait for a stopped process to die of it.
	cx mkdir -p /etc/systemd/system/nap-agent.service.d
	cx sh -c 'printf "[Service]\nWatchdogSec=4s\nTimeoutAbortSec=2s\nRestartSec=1s\n" > /etc/systemd/system/nap-agent.service.d/e2e.conf'
	sc daemon-reload

	echo "== enable --now returns after READY, with the first pass done"
	t=$(date +%s.%N)
	out=$(sc enable --now nap-agent.service 2>&1) && ok "systemctl enable --now ($(el "$t")s)" || bad "enable --now: $out"
	check active "$(sc is-active nap-agent.service)" "active right after enable --now"
	check 30086 "$(node_port)" "Service nap-sandbox applied by the first pass, through k3s's kubeconfig as a credential"
	s=$(sc status nap-agent.service 2>&1 || true)
	grep -q '^ *Status: "' <<<"$s" && ok "systemctl status shows $(grep '^ *Status:' <<<"$s" | sed 's/^ *//')" ||
		bad "no Status: line in systemctl status"

	echo "== edits apply: sed -i, and an editor's write-and-rename"
	cx sed -i 's/^SANDBOX_NODE_PORT=.*/SANDBOX_NODE_PORT=30087/' /opt/nap/values.env
	wait_for 20 node_port_is 30087 &&
		ok "sed -i: nodePort 30087 in the apiserver" || bad "sed -i edit not applied (nodePort '$(node_port)')"
	cx sh -c 'cp -p /opt/nap/values.env /opt/nap/.values.env.swp &&
		sed -i "s|^SANDBOX_PUBLIC_URL=.*|SANDBOX_PUBLIC_URL=http://sandbox.e2e.test|" /opt/nap/.values.env.swp &&
		mv /opt/nap/.values.env.swp /opt/nap/values.env'
	wait_for 20 redirect_uri_is http://sandbox.e2e.test/api/auth/callback &&
		ok "write-and-rename: redirect_uri in PostgreSQL" || bad "editor-style edit not applied ('$(redirect_uri)')"
	check "640 root nap-agent" "$(cx stat -c '%a %U %G' /opt/nap/values.env)" "values.env mode after the edits"

	echo "== /etc/nap/values.env, once it exists, is read before get.sh's; gone, get.sh's again"
	cx sh -c 'sed "s/^SANDBOX_NODE_PORT=.*/SANDBOX_NODE_PORT=30097/" /opt/nap/values.env > /etc/nap/.values.env.new &&
		mv /etc/nap/.values.env.new /etc/nap/values.env'
	wait_for 20 node_port_is 30097 && ok "/etc/nap/values.env appeared: applied (nodePort 30097)" ||
		bad "/etc/nap/values.env not applied (nodePort '$(node_port)')"
	j=$(cx journalctl -b -u nap-agent.service --no-pager -o cat 2>&1)
	grep -qF "values.env: now '/etc/nap/values.env' (it comes first); '/opt/nap/values.env' is no longer read" <<<"$j" &&
		ok "journal: the switch to /etc/nap/values.env" || bad "no line about the switch"
	cx rm /etc/nap/values.env
	wait_for 20 node_port_is 30087 && ok "/etc/nap/values.env removed: /opt/nap/values.env applied again" ||
		bad "not back to /opt/nap/values.env (nodePort '$(node_port)')"

	echo "== apply, apply --resync and seed as root beside the service: its daemon runs the pass"
	out=$(cx nap-agent apply 2>&1) && grep -qE "^nap-agent run \(PID $(main_pid)\): no changes; generation [0-9]+$" <<<"$out" &&
		ok "apply: handed to the service's daemon ($out)" || bad "apply beside the service: $out"
	kget delete service -n nap nap-sandbox >/dev/null
	out=$(cx nap-agent apply --resync 2>&1) && grep -q '(drift repaired)' <<<"$out" && node_port_is 30087 &&
		ok "apply --resync: the deleted Service repaired by the daemon ($out)" || bad "apply --resync beside the service: $out"
	H psql -X -q -c "DELETE FROM oauth_clients WHERE id = 'sandbox-service'" >/dev/null
	out=$(cx nap-agent seed 2>&1) && redirect_uri_is http://sandbox.e2e.test/api/auth/callback &&
		ok "seed: the deleted row registered again by the daemon ($out)" || bad "seed beside the service: $out"
	out=$(cx setpriv --reuid=nobody --regid=nogroup --clear-groups -- nap-agent apply 2>&1) &&
		bad "apply as nobody beside the service succeeded: $out" || ok "apply as nobody: refused (the state directory is 0700)"
	check "700 nap-agent srw------- nap-agent" "$(cx stat -c '%a %U' /var/lib/nap-agent) $(cx stat -c '%A %U' /var/lib/nap-agent/control.sock)" \
		"the state directory and the control socket: the service user's only"

	echo "== reload"
	pid1=$(main_pid)
	sc reload nap-agent.service && ok "systemctl reload" || bad "systemctl reload failed"
	# (RELOADING=1 ... READY=1: READY follows the pass the reload starts, which may still run)
	wait_for 20 is_active && ok "active after reload" || bad "not active after reload: $(sc is-active nap-agent.service)"
	check "$pid1" "$(main_pid)" "same MainPID after reload"

	echo "== an invalid edit: logged as an error, nothing applied"
	cx sed -i 's/^SANDBOX_NODE_PORT=.*/SANDBOX_NODE_PORT=99999/' /opt/nap/values.env
	# (the pass that refused it has run once STATUS= names the key)
	status_names_key() { sc show -p StatusText --value nap-agent.service | grep -q 'SANDBOX_NODE_PORT'; }
	wait_for 20 status_names_key && ok "STATUS= says why the edit was refused" || bad "no STATUS= about the invalid edit"
	check 30087 "$(node_port)" "nodePort unchanged by an invalid edit"
	test_catalog
	cx sed -i 's/^SANDBOX_NODE_PORT=.*/SANDBOX_NODE_PORT=30087/' /opt/nap/values.env

	echo "== journal: priorities, and no secret"
	# The refused edit's error line reaches the journal through the service's
	# stream, which journald reads on its own time: wait for it there.
	journal_json() { cx journalctl -b -u nap-agent.service --no-pager -o json --output-fields=PRIORITY,MESSAGE,_PID 2>&1; }
	error_in_journal() { journal_json | grep -q '"PRIORITY":"3"'; }
	wait_for 10 error_in_journal && ok "the invalid edit logged at PRIORITY=3" || bad "no error line for the invalid edit"
	j=$(journal_json)
	pri=$(grep -o '"PRIORITY":"[0-9]"' <<<"$j" | sort | uniq -c | tr -s ' \n' ' ')
	grep -q '"PRIORITY":"6"' <<<"$j" && ok "info lines (PRIORITY=6): $pri" || bad "no info lines: $pri"
	j=$(cx journalctl -b --no-pager -o cat 2>&1)
	while IFS= read -r s; do
		[ -n "$s" ] || continue
		grep -qF -- "$s" <<<"$j" && bad "a secret (${s:0:6}...) is in the journal"
	done <<<"$secrets"
	ok "checked the journal for $(grep -c . <<<"$secrets") secrets"

	echo "== rollouts: followed until available (the stand-in kubelet readies the pods)"
	rolled_out() { cx journalctl -b -u nap-agent.service --no-pager -o cat 2>/dev/null | grep -qE '^nap-sandbox: (rolled out in [0-9]+ s|available) \(1/1 available\)$'; }
	wait_for 30 rolled_out && ok "journal: nap-sandbox rolled out" || bad "no 'nap-sandbox: rolled out' in the journal"

	test_object_history "$secrets"
	test_node_exporter

	echo "== idle: libcurl and libpq unloaded (reload or idle close); the next edit applies"
	net_libs_unmapped() {
		local maps
		maps=$(cx cat "/proc/$(main_pid)/maps") && grep -q '/libc\.so' <<<"$maps" && ! grep -qE '/lib(curl|pq)\.so' <<<"$maps"
	}
	wait_for 45 net_libs_unmapped &&
		ok "idle: libcurl and libpq not mapped (VmRSS $(cx awk '/^VmRSS/ { print $2 }' "/proc/$(main_pid)/status") KiB)" ||
		bad "libcurl or libpq still mapped 45 s after the last pass (--idle-close defaults to 30 s)"
	cx sed -i 's|^SANDBOX_PUBLIC_URL=.*|SANDBOX_PUBLIC_URL=http://sandbox2.e2e.test|' /opt/nap/values.env
	wait_for 20 redirect_uri_is http://sandbox2.e2e.test/api/auth/callback &&
		ok "an edit with libcurl and libpq unloaded: redirect_uri in PostgreSQL" || bad "edit with the libraries unloaded not applied ('$(redirect_uri)')"

	echo "== stop is clean"
	t=$(date +%s.%N)
	sc stop nap-agent.service
	d=$(el "$t")
	check "inactive success 0" "$(sc show -p ActiveState --value nap-agent.service) $(sc show -p Result --value nap-agent.service) $(sc show -p ExecMainStatus --value nap-agent.service)" \
		"stopped in ${d}s"
	cx grep -qx 'nap_agent_state_lock_held 0' /var/lib/prometheus/node-exporter/nap-agent.prom &&
		ok "its last metrics file says it stopped (lock 0)" || bad "no nap_agent_state_lock_held 0 after the stop"

	echo "== kill -9: restarted, converges"
	sc start nap-agent.service
	pid1=$(main_pid)
	n0=$(sc show -p NRestarts --value nap-agent.service)
	cx kill -9 "$pid1"
	cx sed -i 's/^SANDBOX_NODE_PORT=.*/SANDBOX_NODE_PORT=30088/' /opt/nap/values.env
	wait_for 30 restarted_since "$n0" || true
	wait_for 30 node_port_is 30088 &&
		ok "after kill -9 the restarted daemon applied the pending edit" || bad "no convergence after kill -9 (nodePort '$(node_port)')"
	pid2=$(main_pid)
	[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] && ok "restarted: MainPID $pid1 -> $pid2" || bad "not restarted after kill -9"

	echo "== watchdog: a loop that stops answering is killed and restarted"
	n0=$(sc show -p NRestarts --value nap-agent.service)
	cx kill -STOP "$(main_pid)"
	wait_for 15 restarted_since "$n0" || true
	j=$(cx journalctl -b -u nap-agent.service --no-pager 2>&1)
	grep -q 'Watchdog timeout' <<<"$j" && ok "journal: watchdog timeout" || bad "no watchdog timeout in the journal"
	wait_for 20 is_active &&
		ok "active again after the watchdog restart" || bad "not active after the watchdog restart"

	sc disable --now nap-agent.service >/dev/null 2>&1 || true
	cx rm -rf /etc/systemd/system/nap-agent.service.d /opt/nap /etc/rancher
	cx sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y nap-agent" >/dev/null 2>&1 || bad "purge after the daemon checks"
	cx test ! -e /var/lib/prometheus/node-exporter/nap-agent.prom && ok "purge removed the daemon's metrics file" ||
		bad "nap-agent.prom left after the purge"
}

# The refused values.env (the edit just before) as journalctl -x shows it:
# its entry carries the MESSAGE_ID, and the catalog the .deb installed
# explains it, with the entry's NAP_VALUES filled in.
REFUSED_ID=4ae92acd7c354002a51026cd19f939e1
test_catalog() {
	local j x
	echo "== journal: the refused values.env explained by the catalog (journalctl -x)"
	j=$(cx journalctl --list-catalog 2>&1)
	grep -q "^$REFUSED_ID nap-agent: " <<<"$j" &&
		ok "the catalog is installed (journalctl --list-catalog)" || bad "no nap-agent entry in journalctl --list-catalog"
	j=$(cx journalctl -b -u nap-agent.service --no-pager -o json "MESSAGE_ID=$REFUSED_ID" 2>&1)
	grep -q '"NAP_VALUES":"/opt/nap/values.env"' <<<"$j" &&
		ok "the refused entry has MESSAGE_ID=$REFUSED_ID and NAP_VALUES" || bad "no refused entry with its fields: $j"
	x=$(cx journalctl -b -x -u nap-agent.service --no-pager 2>&1)
	grep -q 'Subject: values.env refused: nothing applied, the last state kept' <<<"$x" &&
		grep -q 'nap-agent could not use /opt/nap/values.env\.' <<<"$x" && grep -q '`nap-agent check`' <<<"$x" &&
		ok "journalctl -x shows the catalog's text, NAP_VALUES filled in" ||
		bad "journalctl -x: no catalog text for the refused values.env:"$'\n'"$(tail -40 <<<"$x")"
}

# The browser turned on: journalctl selects the history of its Deployment by
# NAP_OBJECT, exactly the entries about that object (those whose message
# names it, compared by cursor with the whole journal of the unit), each
# with its module and workload, and no secret in any field of any entry.
test_object_history() {
	local secrets=$1 s out
	echo "== journal: one object's history (NAP_OBJECT), no secret in any field"
	cx sed -i -e 's/^BROWSER_ENABLED=.*/BROWSER_ENABLED=true/' -e 's/^TURN_HOST=.*/TURN_HOST=192.0.2.20/' /opt/nap/values.env
	secrets+=$'\n'$(cx sed -n -E 's/^(BROWSER_JWT_SECRET|TURN_AUTH_SECRET)=([^ #]+).*/\2/p' /opt/nap/values.env)
	browser_rolled_out() { cx journalctl -b -u nap-agent.service --no-pager -o cat 2>/dev/null | grep -qE '^nap-browser: rolled out in [0-9]+ s'; }
	wait_for 60 browser_rolled_out && ok "the browser applied and rolled out" || bad "no 'nap-browser: rolled out'"
	cx journalctl -b -u nap-agent.service --no-pager -o json NAP_OBJECT=Deployment/nap/nap-browser >"$work/j-object.json"
	cx journalctl -b -u nap-agent.service --no-pager -o json >"$work/j-all.json"
	if out=$(python3 - "$work/j-object.json" "$work/j-all.json" 2>&1 <<-'PY'
		import json, re, sys
		sel = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
		every = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
		about = re.compile(r"(^|\W)Deployment nap/nap-browser(\W|$)|^nap-browser: ")
		want = {e["__CURSOR"] for e in every if isinstance(e.get("MESSAGE"), str) and about.search(e["MESSAGE"])}
		got = {e["__CURSOR"] for e in sel}
		bad = [e for e in sel if e.get("NAP_OBJECT") != "Deployment/nap/nap-browser"
		       or e.get("NAP_MODULE") != "browser" or e.get("NAP_WORKLOAD") != "nap-browser"
		       or e.get("_SYSTEMD_UNIT") != "nap-agent.service"]
		msgs = [e["MESSAGE"] for e in sel]
		assert sel, "journalctl NAP_OBJECT=Deployment/nap/nap-browser returned nothing"
		assert not bad, "entries with other fields: %s" % bad
		assert got == want, "the selection is not exactly the object's history: missing %s, extra %s" % (
		    [e["MESSAGE"] for e in every if e["__CURSOR"] in want - got], [e["MESSAGE"] for e in sel if e["__CURSOR"] in got - want])
		assert any(m.startswith(("created Deployment nap/nap-browser", "adopted Deployment nap/nap-browser")) and
		           e.get("NAP_PASS") and e.get("NAP_GENERATION") for m, e in zip(msgs, sel)), "no apply entry with its pass: %s" % msgs
		assert any(e.get("MESSAGE_ID") == "69788dfebd20499b91810819a08e8dee" for e in sel), "no rollout-available MESSAGE_ID: %s" % msgs
		print("journalctl NAP_OBJECT=Deployment/nap/nap-browser: exactly its %d entries: %s" % (len(sel), " | ".join(msgs)))
	PY
	); then ok "$out"; else bad "$out"; fi
	cx journalctl -b -u nap-agent.service --no-pager -o export >"$work/j-export" 2>&1
	while IFS= read -r s; do
		[ -n "$s" ] || continue
		grep -qF -- "$s" "$work/j-export" && bad "a secret (${s:0:6}...) is in a field of the journal"
	done <<<"$secrets"
	ok "no secret in any field of the unit's $(grep -c '^__CURSOR=' "$work/j-export") entries"
}

# Debian's prometheus-node-exporter installed after nap-agent, as an
# operator adds monitoring later: nap-agent's file trigger gives the
# nap-agent user an ACL on the textfile directory and restarts the daemon,
# which (under its sandbox, ReadWritePaths=) writes nap-agent.prom there;
# node_exporter's own service (the prometheus user) serves it. Stopping the
# daemon leaves its last file (lock 0); the purge at the end removes it.
test_node_exporter() {
	local pid0 port uid acl m st out
	echo "== metrics: prometheus-node-exporter installed later; the daemon writes, node_exporter serves"
	mkdir -p "$work/debs"
	if ! (cd "$work/debs" && apt-get download prometheus-node-exporter adduser) >"$work/debs/download.log" 2>&1; then
		bad "apt-get download prometheus-node-exporter adduser:"$'\n'"$(cat "$work/debs/download.log")"
		return
	fi
	cp "$work"/debs/*.deb "$ROOT/root/"
	pid0=$(main_pid)
	# Its own service, as the package starts it (the prometheus user), but on
	# a free port of 127.0.0.1 (the container has the host's network) and
	# with only the textfile collector: a drop-in made before the install.
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cx mkdir -p /etc/systemd/system/prometheus-node-exporter.service.d
	printf '[Service]\nExecStart=\nExecStart=/usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:%s --collector.disable-defaults --collector.textfile\n' \
		"$port" >"$ROOT/etc/systemd/system/prometheus-node-exporter.service.d/e2e.conf"
	if out=$(cx sh -c 'cd /root && DEBIAN_FRONTEND=noninteractive dpkg -i adduser_*.deb prometheus-node-exporter_*.deb' 2>&1); then
		ok "dpkg -i prometheus-node-exporter (after nap-agent): $(grep -i 'trigger' <<<"$out" | tr '\n' ' ')"
	else
		bad "dpkg -i prometheus-node-exporter:"$'\n'"$out"
	fi
	uid=$(cx id -u nap-agent)
	acl=$(python3 - "$ROOT/var/lib/prometheus/node-exporter" <<-'PY'
		import os, struct, sys
		raw = os.getxattr(sys.argv[1], "system.posix_acl_access")
		for off in range(4, len(raw), 8):
		    tag, perm, ident = struct.unpack_from("<HHI", raw, off)
		    if tag == 2:
		        print("user:%d:%d" % (ident, perm))
		PY
	) || true
	check "user:$uid:7" "$acl" "the trigger gave nap-agent (uid $uid) rwx on the textfile directory by ACL"
	check "root root" "$(cx stat -c '%U %G' /var/lib/prometheus/node-exporter)" "the directory still root:root"
	restarted() { [ "$(main_pid)" != "$pid0" ] && [ "$(main_pid)" != 0 ]; }
	wait_for 30 restarted && ok "the trigger restarted the daemon (MainPID $pid0 -> $(main_pid))" || bad "daemon not restarted"
	m=/var/lib/prometheus/node-exporter/nap-agent.prom
	written() { cx grep -qx 'nap_agent_state_lock_held 1' "$m"; }
	wait_for 30 written && ok "the daemon wrote $m" || bad "no $m with the lock held"
	st=$(cx stat -c '%a %U' "$m" 2>&1)
	check "644 nap-agent" "$st" "nap-agent.prom: 0644, written by the nap-agent user"
	check "active prometheus" "$(sc is-active prometheus-node-exporter.service) $(cx ps -o user= -p "$(sc show -p MainPID --value prometheus-node-exporter.service)")" \
		"prometheus-node-exporter.service runs, as its package's user"
	scraped() { curl -sf "http://127.0.0.1:$port/metrics" >"$work/scrape" 2>/dev/null && grep -q '^nap_agent_generation ' "$work/scrape"; }
	if wait_for 30 scraped; then
		grep -qx 'node_textfile_scrape_error 0' "$work/scrape" && grep -qx 'nap_agent_state_lock_held 1' "$work/scrape" &&
			grep -q '^nap_agent_passes_total{result="success"} [1-9]' "$work/scrape" &&
			ok "node_exporter's service serves it: $(grep -c '^nap_agent_' "$work/scrape") nap_agent_ samples" ||
			bad "node_exporter's scrape: $(grep -E '^(nap_agent_(state|passes)|node_textfile)' "$work/scrape")"
	else
		bad "node_exporter on 127.0.0.1:$port served no nap_agent_ series"
	fi
}

# ========================================================================== main
boot
test_package
if [ "${NAP_E2E_DAEMON:-0}" = 1 ]; then
	test_daemon
else
	log "daemon checks skipped (NAP_E2E_DAEMON=1 runs them)"
fi
log "$pass passed, $fail failed"
[ "$fail" = 0 ]
