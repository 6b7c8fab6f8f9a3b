#!/bin/bash
# Local control plane for nap-agent's integration tests, demo and benchmarks:
# etcd + a real kube-apiserver v1.20.2 + PostgreSQL 15, all on 127.0.0.1 only,
# on ports picked at run time, everything (data, certs, logs) under one
# directory, so several instances can run side by side on one machine.
#
#   harness.sh deps              as root: install Debian packages, find or unpack kubectl
#   harness.sh build [NAME...]   build kube-apiserver and kube-controller-manager (or the NAMEs)
#                                from Debian's `kubernetes` source package into the cache
#   harness.sh binaries [NAME...]  make sure both (or the NAMEs) are there: found, unpacked
#                                from NAP_K8S_PREBUILT_DIR, or built; print their paths
#   harness.sh start DIR         start the components, write DIR/env and DIR/kubeconfig
#   harness.sh env DIR           print DIR/env
#   harness.sh stop DIR          stop what `start DIR` started; remove DIR unless HARNESS_KEEP
#   harness.sh apiserver-stop DIR [KILL]  stop only the kube-apiserver (etcd and the rest keep
#                                running); KILL: at once, as a crash (SIGTERM waits for open watches)
#   harness.sh apiserver-start DIR    start it again on the same port, with the same certificates
#   harness.sh apiserver-restart DIR [KILL]  both (what a control-plane upgrade or crash looks like to a client)
#
# Environment:
#   HARNESS_COMPONENTS   "kube pg" (default), "kube kcm pg" (with kube-controller-manager:
#                        ReplicaSets, Pods and status for Deployments and DaemonSets), "kube" or "pg"
#   HARNESS_KEEP         if set (non-empty), `stop` leaves DIR in place
#   KUBE_APISERVER       kube-apiserver binary to use (else PATH, then the cache)
#   KUBECTL              kubectl binary to use (else PATH, then the cache)
#   NAP_K8S_CACHE        cache dir (default ~/.cache/nap-agent/k8s)
#   KUBE_CONTROLLER_MANAGER  kube-controller-manager binary to use (else PATH, then the cache)
#   NAP_K8S_PREBUILT_DIR dir holding kube-apiserver.xz / kube-controller-manager.xz to
#                        unpack into the cache (optional: without them, they are built)
#   NAP_HARNESS_NO_BUILD if set, `start` fails instead of building a missing binary
#
# `stop` signals only the PIDs recorded in DIR/pids, and only while each PID is
# still the process that was started (same /proc start time).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
CACHE=${NAP_K8S_CACHE:-${HOME:-/root}/.cache/nap-agent/k8s}
GOTREE=$CACHE/build/gopath  # the source package's tree, in GOPATH mode (build)
PGBIN=${NAP_PGBIN:-/usr/lib/postgresql/15/bin}
APISERVER_VERSION=v1.20.2
DEB_PACKAGES=(etcd-server etcd-client postgresql openssl curl xz-utils jq)
BIND_RETRIES=5

log() { printf 'harness: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------
# Ports

# free_ports N: print N distinct TCP ports on 127.0.0.1, free a moment ago
# (each bound, then released), picked at random below the kernel's range
# of ephemeral ports: no outgoing connection is ever given one of them, so
# a server stopped for a restart (apiserver-start, PostgreSQL's) finds its
# port free again even with other harnesses busy beside it. A server that
# still loses the race fails to bind and is restarted on new ports by its
# caller.
free_ports() {
	local n=$1
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$n" <<-'PY'
			import random, socket, sys
			n = int(sys.argv[1])
			try:
			    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
			except (OSError, ValueError, IndexError):
			    low = 32768
			first = 20000 if low > 21024 else 1024
			socks, ports = [], []
			for _ in range(1000):
			    if len(ports) == n:
			        break
			    p = random.randrange(first, low)
			    if p in ports:
			        continue
			    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
			    try:
			        s.bind(("127.0.0.1", p))
			    except OSError:
			        s.close()
			        continue
			    socks.append(s)
			    ports.append(p)
			for s in socks:
			    s.close()
			if len(ports) < n:
			    sys.exit("harness: no %d free ports in %d-%d" % (n, first, low - 1))
			print(" ".join(map(str, ports)))
		PY
		return
	fi
	# No python3: random ports below the ephemeral range, skipping any port
	# that appears in /proc/net/tcp{,6} in any state.
	local used out=() p i
	used=$(awk 'NR > 1 { split($2, a, ":"); print strtonum("0x" a[2]) }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
	for ((i = 0; i < 1000 && ${#out[@]} < n; i++)); do
		p=$((20000 + RANDOM % 12000))
		grep -qx "$p" <<<"$used" && continue
		[[ " ${out[*]} " == *" $p "* ]] && continue
		out+=("$p")
	done
	((${#out[@]} == n)) || return 1
	echo "${out[*]}"
}

bind_failed() { grep -qiE 'address already in use|could not bind|could not create any TCP/IP sockets' "$1" 2>/dev/null; }

# ---------------------------------------------------------------------------
# Processes

# starttime PID: field 22 of /proc/PID/stat (clock ticks since boot).
starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }          # comm may contain spaces; cut after ") "
	awk '{ print $20 }' <<<"$stat"
}

# shellcheck source=alive.sh
. "$HERE/alive.sh"

# record NAME PID: append to DIR/pids ("name pid starttime").
record() {
	local st
	st=$(starttime "$2") || st=0
	printf '%s %s %s\n' "$1" "$2" "$st" >>"$DIR/pids"
}

# stop_pid NAME PID START: SIGTERM (SIGINT for postgres: fast shutdown, as
# SIGTERM is its "smart" mode that waits for clients), wait up to 15 s, SIGKILL.
stop_pid() {
	local name=$1 pid=$2 st=$3 sig=TERM i
	alive "$pid" "$st" || return 0
	[ "$name" = postgres ] && sig=INT
	kill -s "$sig" "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		alive "$pid" "$st" || return 0
		sleep 0.1
	done
	log "$name (pid $pid) still running after 15 s: SIGKILL"
	kill -s KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" "$st" || return 0
		sleep 0.1
	done
	log "$name (pid $pid) did not die"
	return 1
}

# stop_recorded: stop every process in DIR/pids, last started first.
stop_recorded() {
	local rc=0 name pid st
	[ -f "$DIR/pids" ] || return 0
	while read -r name pid st; do
		[ -n "$pid" ] || continue
		stop_pid "$name" "$pid" "$st" || rc=1
	done < <(tac "$DIR/pids")
	return $rc
}

# ---------------------------------------------------------------------------
# Tools

# PostgreSQL refuses to run as root: as root, run it as the postgres user.
AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
as_pg() { "${AS_PG[@]}" "$@"; }

# first_exe CANDIDATE...: print the first candidate that is an executable.
first_exe() {
	local k
	for k in "$@"; do
		[ -n "$k" ] && [ -x "$k" ] && { echo "$k"; return 0; }
	done
	return 1
}

find_kubectl() {
	first_exe "${KUBECTL:-}" "$(command -v kubectl 2>/dev/null || true)" "$CACHE/kubectl-deb/usr/bin/kubectl"
}

# find_k8s NAME: print the NAME (kube-apiserver or kube-controller-manager) to
# use: $KUBE_APISERVER / $KUBE_CONTROLLER_MANAGER, PATH, then the cache.
find_k8s() {
	local var=KUBE_APISERVER
	[ "$1" = kube-controller-manager ] && var=KUBE_CONTROLLER_MANAGER
	first_exe "${!var:-}" "$(command -v "$1" 2>/dev/null || true)" "$CACHE/bin/$1"
}

# with_cache_lock CMD...: run CMD holding an exclusive lock on the cache, so
# concurrent harnesses do not unpack or build into it at the same time.
with_cache_lock() {
	mkdir -p "$CACHE"
	(
		flock -w 1800 9 || die "timed out waiting for $CACHE/.lock"
		"$@"
	) 9>"$CACHE/.lock"
}

# unpack_prebuilt NAME: $NAP_K8S_PREBUILT_DIR/NAME.xz into $CACHE/bin/NAME,
# unless it is there already.
unpack_prebuilt() {
	local name=$1
	local src=$NAP_K8S_PREBUILT_DIR/$name.xz
	[ -x "$CACHE/bin/$name" ] && return 0
	local tmp=$CACHE/bin/$name.tmp.$$
	log "unpacking $src into $CACHE/bin"
	# explicit && chain: this runs where set -e is off (inside `|| fail`)
	if ! { mkdir -p "$CACHE/bin" && xz -dc "$src" >"$tmp" && chmod 755 "$tmp" &&
		mv -f "$tmp" "$CACHE/bin/$name"; }; then
		rm -f "$tmp"
		return 1
	fi
}

# ensure_k8s NAME: print the NAME to use; unpack it from NAP_K8S_PREBUILT_DIR
# or build it from the source package first when there is none.
ensure_k8s() {
	local name=$1 k
	if k=$(find_k8s "$name"); then echo "$k"; return 0; fi
	if [ -n "${NAP_K8S_PREBUILT_DIR:-}" ] && [ -f "$NAP_K8S_PREBUILT_DIR/$name.xz" ]; then
		with_cache_lock unpack_prebuilt "$name" >&2
	else
		[ -z "${NAP_HARNESS_NO_BUILD:-}" ] ||
			die "no $name (KUBE_APISERVER/KUBE_CONTROLLER_MANAGER, PATH, $CACHE/bin) and NAP_HARNESS_NO_BUILD is set"
		log "no $name found: building it from Debian's source package (several minutes)"
		"$SELF" build "$name" >&2
	fi
	k=$(find_k8s "$name") || die "$name still missing after unpack/build"
	echo "$k"
}

# ---------------------------------------------------------------------------
# deps

pkg_installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

cmd_deps() {
	local p missing=()
	for p in "${DEB_PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
	if ((${#missing[@]})); then
		[ "$(id -u)" = 0 ] || die "missing packages ${missing[*]}: run '$0 deps' as root"
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
		# A systemd host starts the packaged etcd/postgresql services on install;
		# the harness never uses them (it runs its own instances on free ports).
	fi
	if ! find_kubectl >/dev/null; then
		# Debian's kubernetes-client owns /usr/bin/kubectl, as does another kubectl
		# package on some machines: unpack it privately instead of installing it.
		log "unpacking Debian's kubernetes-client into $CACHE/kubectl-deb"
		mkdir -p "$CACHE/debs"
		(cd "$CACHE/debs" && rm -f kubernetes-client_*.deb &&
			{ apt-get download kubernetes-client 2>/dev/null ||
				{ apt-get update -qq && apt-get download kubernetes-client; }; })
		rm -rf "$CACHE/kubectl-deb"
		dpkg-deb -x "$CACHE"/debs/kubernetes-client_*.deb "$CACHE/kubectl-deb"
	fi
	log "kubectl: $(find_kubectl)"
}

# ---------------------------------------------------------------------------
# build: kube-apiserver and kube-controller-manager v1.20.2 from Debian 12's
# `kubernetes` source package (the complete 1.20.2 tree with vendor/), with
# the three fixes Debian's Go 1.19 needs: GOPATH mode (Go 1.19 rejects the
# order of the tree's vendor/modules.txt in module mode), the generated
# openapi code (not in the tarball), and Debian's reflect2 1.0.2 instead of
# the vendored 1.0.1 (which crashes the server under Go >= 1.18 on any YAML
# or pretty-printed answer). Each binary is built once into $CACHE/bin; the
# unpacked source, the Go build cache and the generated code stay in
# $CACHE/build, so the second binary reuses most of the first one's work.

build_patch_reflect2() {
	local src=$1 v deb=/usr/share/gocode/src/github.com/modern-go/reflect2
	v=$src/vendor/github.com/modern-go/reflect2
	[ -f "$v/go_above_118.go" ] && return 0
	[ -f "$deb/go_above_118.go" ] || die "$deb missing: install golang-github-modern-go-reflect2-dev"
	log "replacing vendored reflect2 1.0.1 with Debian's 1.0.2"
	rm -f "$v"/*.go "$v"/*.s
	cp "$deb"/*.go "$deb"/*.s "$v"/
}

build_openapi() {
	local gopath=$1 out dirs
	local tree=$gopath/src/k8s.io/kubernetes
	out=$tree/pkg/generated/openapi/zz_generated.openapi.go
	[ -s "$out" ] && return 0
	local -a env=(GO111MODULE=off "GOPATH=$gopath" GOFLAGS= GOPROXY=off CGO_ENABLED=0
		"GOCACHE=${GOCACHE:-$CACHE/build/gocache}" "GOROOT=$(go env GOROOT)")
	log "building openapi-gen and generating $out"
	(
		cd "$tree"
		env "${env[@]}" go build -o "$CACHE/build/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
		# grep -l exits 1 for a batch without a match: not an error here
		set +o pipefail
		dirs=$(find -H . \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune -o \
				-type f -name '*.go' -print |
			sed 's|^\./staging/src|vendor|; s|^\./||' |
			xargs grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' |
			xargs -n1 dirname |
			grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' |
			LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd,)
		set -o pipefail
		[ -n "$dirs" ] || die "found no packages with +k8s:openapi-gen tags"
		env "${env[@]}" "$CACHE/build/openapi-gen" --logtostderr -i "$dirs" \
			-p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
			-h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
			-r "$CACHE/build/openapi_violations.report"
		diff -q "$CACHE/build/openapi_violations.report" api/api-rules/violation_exceptions.list
	)
	[ -s "$out" ]
}

# build_source: the Go tree ready to build in GOPATH mode under $GOTREE
# (fetched, unpacked, patched, openapi generated); the Go toolchain
# installed first.
build_source() {
	local b=$CACHE/build tgz src
	if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/modern-go/reflect2 ]; then
		[ "$(id -u)" = 0 ] || die "building needs golang-go and golang-github-modern-go-reflect2-dev (run as root once)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			golang-go golang-github-modern-go-reflect2-dev
	fi
	mkdir -p "$b" "$CACHE/bin"
	tgz=$(compgen -G "$b/kubernetes_*.orig.tar.gz" | head -n1 || true)
	if [ -z "$tgz" ]; then
		# apt-get source needs a deb-src entry: add one for the configured mirror.
		if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Package: kubernetes'; then
			[ "$(id -u)" = 0 ] || die "no deb-src entry for the kubernetes source package (run as root once)"
			local uri
			uri=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
			printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
				"${uri:-http://deb.debian.org/debian}" >/etc/apt/sources.list.d/nap-k8s-src.sources
			apt-get update -qq
		fi
		(cd "$b" && apt-get source --download-only kubernetes)
		tgz=$(compgen -G "$b/kubernetes_*.orig.tar.gz" | head -n1) || die "apt-get source did not fetch the orig tarball"
	fi
	if [ ! -d "$b/src" ]; then
		log "unpacking $tgz"
		rm -rf "$b/src.tmp" && mkdir -p "$b/src.tmp"
		tar xzf "$tgz" -C "$b/src.tmp"
		mv "$b/src.tmp" "$b/src"
	fi
	src=$(find "$b/src" -mindepth 1 -maxdepth 1 -type d | head -n1)
	[ -f "$src/cmd/kube-apiserver/apiserver.go" ] || die "unexpected source layout under $b/src"
	mkdir -p "$GOTREE/src/k8s.io"
	ln -sfn "$src" "$GOTREE/src/k8s.io/kubernetes"
	build_patch_reflect2 "$src"
	build_openapi "$GOTREE"
}

# build_cmd NAME: go build ./cmd/NAME of build_source's tree into
# $CACHE/bin/NAME, stamped with the version as upstream's
# hack/lib/version.sh does (GET /version).
build_cmd() {
	local name=$1 vpkg ldf="-s -w -buildid=" bdate
	bdate=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	for vpkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		vpkg=k8s.io/kubernetes/vendor/$vpkg
		ldf+=" -X $vpkg.gitVersion=$APISERVER_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=20"
		ldf+=" -X $vpkg.gitCommit=faecb196815e248d3ecfb03c680a4507229c2a56"
		ldf+=" -X $vpkg.gitTreeState=archive -X $vpkg.buildDate=$bdate"
	done
	log "building cmd/$name (GOPATH mode)"
	(cd "$GOTREE/src/k8s.io/kubernetes" &&
		env CGO_ENABLED=0 GOPROXY=off GOFLAGS= GO111MODULE=off "GOPATH=$GOTREE" \
			"GOCACHE=${GOCACHE:-$CACHE/build/gocache}" \
			go build -trimpath -tags selinux,notest -ldflags "$ldf" \
			-o "$CACHE/bin/$name.tmp" "./cmd/$name")
	mv -f "$CACHE/bin/$name.tmp" "$CACHE/bin/$name"
	log "built $CACHE/bin/$name"
}

# build_locked NAME...: each NAME not in the cache yet, from one source tree.
build_locked() {
	local name t0 todo=()
	for name in "$@"; do
		if [ -x "$CACHE/bin/$name" ]; then
			log "already built: $CACHE/bin/$name"
		else
			todo+=("$name")
		fi
	done
	((${#todo[@]})) || return 0
	build_source
	for name in "${todo[@]}"; do
		t0=$(now)
		build_cmd "$name"
		log "building $name took $(elapsed "$t0") s"
	done
}

cmd_binaries() {
	local name k
	(($#)) || set -- kube-apiserver kube-controller-manager
	for name in "$@"; do
		k=$(ensure_k8s "$name")
		log "$name: $k"
	done
}

cmd_build() {
	local name t0
	(($#)) || set -- kube-apiserver kube-controller-manager
	for name in "$@"; do
		case $name in
			kube-apiserver | kube-controller-manager) ;;
			*) die "build: unknown binary '$name' (kube-apiserver, kube-controller-manager)" ;;
		esac
	done
	t0=$(now)
	with_cache_lock build_locked "$@"
	log "build took $(elapsed "$t0") s"
}

# ---------------------------------------------------------------------------
# start

# fail MSG [LOG]: report, show the tail of LOG, stop what was started, exit 1.
fail() {
	log "error: $1"
	if [ -n "${2:-}" ] && [ -f "$2" ]; then
		log "last lines of $2:"
		tail -n 30 "$2" | sed 's/^/    /' >&2
	fi
	trap - EXIT
	stop_recorded || true
	log "start failed; stopped what was started (logs kept in $DIR/logs)"
	exit 1
}

make_certs() {
	local pki=$DIR/pki
	mkdir -m 700 "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=nap-harness-ca" \
		-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
		-keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
	cat >"$pki/apiserver.ext" <<-EOF
		basicConstraints=CA:FALSE
		keyUsage=critical,digitalSignature,keyEncipherment
		extendedKeyUsage=serverAuth
		subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
	EOF
	openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 30 -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" 2>/dev/null
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	# token,user,uid,"groups"
	printf '%s,nap-admin,nap-admin-uid,"system:masters"\n' "$KUBE_TOKEN" >"$pki/tokens.csv"
	chmod 600 "$pki"/*.key "$pki/tokens.csv"
}

start_etcd() {
	local attempt i logf=$DIR/logs/etcd.log
	local -a cmd
	for ((attempt = 1; attempt <= BIND_RETRIES; attempt++)); do
		read -r ETCD_PORT ETCD_PEER_PORT < <(free_ports 2) || fail "cannot pick free ports"
		mkdir -p "$DIR/etcd" && chmod 700 "$DIR/etcd"
		rm -rf "$DIR/etcd/data"
		cmd=(etcd --name nap-harness --data-dir "$DIR/etcd/data"
			--listen-client-urls "http://127.0.0.1:$ETCD_PORT"
			--advertise-client-urls "http://127.0.0.1:$ETCD_PORT"
			--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
			--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
			--initial-cluster "nap-harness=http://127.0.0.1:$ETCD_PEER_PORT"
			--quota-backend-bytes $((512 * 1024 * 1024))
			--logger zap --log-outputs stderr --log-level warn)
		"${cmd[@]}" >"$logf" 2>&1 </dev/null &
		ETCD_PID=$!
		record etcd "$ETCD_PID"
		for ((i = 0; i < 150; i++)); do
			curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null && return 0
			kill -0 "$ETCD_PID" 2>/dev/null || break
			sleep 0.1
		done
		if ! kill -0 "$ETCD_PID" 2>/dev/null && bind_failed "$logf"; then
			log "etcd: port taken, retrying on other ports"
			continue
		fi
		fail "etcd did not become healthy on 127.0.0.1:$ETCD_PORT" "$logf"
	done
	fail "etcd: no free port after $BIND_RETRIES attempts" "$logf"
}

# launch_apiserver [PORT]: on PORT (a restart keeps its clients' address),
# else on a free one.
launch_apiserver() {
	if [ -n "${1:-}" ]; then
		KUBE_PORT=$1
	else
		read -r KUBE_PORT < <(free_ports 1) || fail "cannot pick a free port"
	fi
	local pki=$DIR/pki
	"$APISERVER" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
		--secure-port="$KUBE_PORT" --insecure-port=0 \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--cert-dir="$pki/generated" \
		--token-auth-file="$pki/tokens.csv" \
		--client-ca-file="$pki/ca.crt" \
		--authorization-mode=RBAC \
		--anonymous-auth=false \
		--service-cluster-ip-range=10.96.0.0/16 \
		--service-node-port-range=30000-32767 \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$pki/sa.pub" \
		--service-account-signing-key-file="$pki/sa.key" \
		--api-audiences=https://kubernetes.default.svc.cluster.local \
		--disable-admission-plugins=ServiceAccount \
		--endpoint-reconciler-type=none \
		--allow-privileged=true \
		--profiling=false \
		--audit-policy-file="$DIR/audit-policy.yaml" \
		--audit-log-path="$DIR/audit.log" \
		--audit-log-format=json \
		--audit-log-mode=blocking \
		--v=1 \
		>"$DIR/logs/kube-apiserver.log" 2>&1 </dev/null &
	APISERVER_PID=$!
	record kube-apiserver "$APISERVER_PID"
}

# wait_apiserver [fixed]: wait (60 s at most) for /readyz = 200; relaunch on
# new ports when the apiserver lost the race for its port (not when fixed:
# a restart must come back where its clients look for it).
wait_apiserver() {
	local code attempt=1 logf=$DIR/logs/kube-apiserver.log deadline retries=$BIND_RETRIES
	[ -n "${1:-}" ] && retries=1
	deadline=$((SECONDS + 60))
	while ((SECONDS < deadline)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$DIR/pki/ca.crt" \
			-H "Authorization: Bearer $KUBE_TOKEN" "https://127.0.0.1:$KUBE_PORT/readyz" 2>/dev/null || true)
		[ "$code" = 200 ] && return 0
		if ! kill -0 "$APISERVER_PID" 2>/dev/null; then
			if bind_failed "$logf" && ((attempt < retries)); then
				log "kube-apiserver: port taken, retrying on another port"
				attempt=$((attempt + 1))
				launch_apiserver
				continue
			fi
			local st=0
			wait "$APISERVER_PID" 2>/dev/null || st=$?
			fail "kube-apiserver exited with status $st (last /readyz code ${code:-none})" "$logf"
		fi
		sleep 0.1
	done
	fail "kube-apiserver not ready after 60 s (last /readyz code ${code:-none})" "$logf"
}

write_kubeconfig() {
	local kc=$DIR/kubeconfig
	(umask 077 && cat >"$kc") <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: nap-harness
		  cluster:
		    server: https://127.0.0.1:$KUBE_PORT
		    certificate-authority-data: $(base64 -w0 <"$DIR/pki/ca.crt")
		users:
		- name: nap-admin
		  user:
		    token: $KUBE_TOKEN
		contexts:
		- name: nap-harness
		  context:
		    cluster: nap-harness
		    user: nap-admin
		    namespace: nap
		current-context: nap-harness
	EOF
}

start_kube_launch() {
	KUBECTL_BIN=$(find_kubectl) || fail "no kubectl (KUBECTL, PATH, $CACHE/kubectl-deb): run '$SELF deps'"
	command -v etcd >/dev/null || fail "no etcd: run '$SELF deps' as root"
	APISERVER=$(ensure_k8s kube-apiserver) || fail "no kube-apiserver"
	KUBE_TOKEN=$(openssl rand -hex 24)
	make_certs
	cat >"$DIR/audit-policy.yaml" <<-'EOF'
		apiVersion: audit.k8s.io/v1
		kind: Policy
		omitStages: ["RequestReceived"]
		rules:
		- level: Metadata
	EOF
	start_etcd
	launch_apiserver
}

start_kube_finish() {
	local t0=$1
	wait_apiserver
	log "kube-apiserver $APISERVER ready on https://127.0.0.1:$KUBE_PORT ($(elapsed "$t0") s since start)"
	write_kubeconfig
	"$KUBECTL_BIN" --kubeconfig "$DIR/kubeconfig" create namespace nap >"$DIR/logs/kubectl.log" 2>&1 ||
		fail "kubectl create namespace nap failed" "$DIR/logs/kubectl.log"
}

# The controllers that give Deployments and DaemonSets ReplicaSets, Pods and
# status (no scheduler, no kubelet: Pods stay Pending until a test sets their
# status). Secure and insecure serving off: nothing listens.
start_kcm() {
	local kcm
	kcm=$(ensure_k8s kube-controller-manager) || fail "no kube-controller-manager"
	"$kcm" \
		--kubeconfig="$DIR/kubeconfig" \
		--port=0 --secure-port=0 \
		--leader-elect=false \
		--use-service-account-credentials=false \
		--service-account-private-key-file="$DIR/pki/sa.key" \
		--root-ca-file="$DIR/pki/ca.crt" \
		--controllers='*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service,-route,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-pvc-protection,-pv-protection,-ttl,-csrsigning' \
		--v=1 \
		>"$DIR/logs/kube-controller-manager.log" 2>&1 </dev/null &
	record kube-controller-manager "$!"
	log "kube-controller-manager $kcm started"
}

start_pg() {
	local pg=$DIR/pg attempt i logf=$DIR/logs/postgres.log
	[ -x "$PGBIN/postgres" ] || fail "no $PGBIN/postgres: run '$SELF deps' as root"
	# sun_path holds 107 bytes: DIR/pg/sock/.s.PGSQL.NNNNN must fit.
	((${#pg} + 23 <= 107)) || fail "DIR is too long for a unix socket path under it (${#DIR} chars): use a shorter DIR"
	if [ "$(id -u)" = 0 ]; then
		# postgres refuses to run as root: run it as the postgres system user,
		# which must be able to reach DIR.
		chmod 711 "$DIR"
		install -d -o postgres -g postgres -m 700 "$pg"
		as_pg test -w "$pg" ||
			fail "user postgres cannot reach $pg (a parent of DIR is not traversable; use a DIR under /tmp)"
	else
		mkdir -m 700 "$pg"
	fi
	as_pg mkdir -m 700 "$pg/sock"
	(cd "$pg" && as_pg "$PGBIN/initdb" -D "$pg/data" -U postgres -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 --no-sync --no-instructions) \
		>"$DIR/logs/initdb.log" 2>&1 || fail "initdb failed" "$DIR/logs/initdb.log"
	for ((attempt = 1; attempt <= BIND_RETRIES; attempt++)); do
		read -r PG_PORT < <(free_ports 1) || fail "cannot pick a free port"
		# exec, and setpriv execs too: $! is the postmaster itself.
		(cd "$pg" && exec "${AS_PG[@]}" "$PGBIN/postgres" -D "$pg/data" -p "$PG_PORT" \
			-c listen_addresses=127.0.0.1 -c unix_socket_directories="$pg/sock" \
			-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
			-c shared_buffers=32MB \
			-c logging_collector=off -c log_min_messages=warning) >"$logf" 2>&1 </dev/null &
		PG_PID=$!
		record postgres "$PG_PID"
		for ((i = 0; i < 150; i++)); do
			"$PGBIN/pg_isready" -q -h "$pg/sock" -p "$PG_PORT" 2>/dev/null && break
			kill -0 "$PG_PID" 2>/dev/null || break
			sleep 0.1
		done
		"$PGBIN/pg_isready" -q -h "$pg/sock" -p "$PG_PORT" 2>/dev/null && break
		if ! kill -0 "$PG_PID" 2>/dev/null && bind_failed "$logf"; then
			log "postgres: port taken, retrying on another port"
			continue
		fi
		fail "postgres did not become ready on 127.0.0.1:$PG_PORT" "$logf"
	done
	((attempt <= BIND_RETRIES)) || fail "postgres: no free port after $BIND_RETRIES attempts" "$logf"
	PG_PASSWORD=$(openssl rand -hex 16)
	# Local socket in DIR/pg/sock (mode 700, postgres user) with trust auth:
	# only root or the postgres user can use it; TCP needs the nap password.
	psql -X -q -v ON_ERROR_STOP=1 -h "$pg/sock" -p "$PG_PORT" -U postgres -d postgres \
		-c "CREATE ROLE nap LOGIN PASSWORD '$PG_PASSWORD'" \
		-c "CREATE DATABASE nap OWNER nap" >"$DIR/logs/pg-setup.log" 2>&1 ||
		fail "creating role and database nap failed" "$DIR/logs/pg-setup.log"
}

write_env() {
	local out=$DIR/env.tmp
	{
		echo "# nap-agent test harness, $(date -u +%Y-%m-%dT%H:%M:%SZ); bash-sourceable KEY=value lines"
		echo "NAP_HARNESS_DIR=$DIR"
		echo "NAP_HARNESS_COMPONENTS=${COMPONENTS// /,}"
		if [ -n "$WANT_KUBE" ]; then
			echo "KUBECONFIG=$DIR/kubeconfig"
			echo "KUBE_API_URL=https://127.0.0.1:$KUBE_PORT"
			echo "KUBE_TOKEN=$KUBE_TOKEN"
			echo "KUBE_CA_FILE=$DIR/pki/ca.crt"
			echo "NAP_AUDIT_LOG=$DIR/audit.log"
			echo "KUBECTL=$KUBECTL_BIN"
			echo "KUBE_APISERVER_BIN=$APISERVER"
			echo "NAP_ETCD_PORT=$ETCD_PORT"
			echo "NAP_KUBE_PORT=$KUBE_PORT"
			echo "NAP_ETCD_PID=$ETCD_PID"
			echo "NAP_APISERVER_PID=$APISERVER_PID"
		fi
		if [ -n "$WANT_PG" ]; then
			echo "DATABASE_URL=postgresql://nap:$PG_PASSWORD@127.0.0.1:$PG_PORT/nap"
			echo "PGHOST=127.0.0.1"
			echo "PGPORT=$PG_PORT"
			echo "PGUSER=nap"
			echo "PGPASSWORD=$PG_PASSWORD"
			echo "PGDATABASE=nap"
			echo "NAP_PG_PID=$PG_PID"
		fi
		echo "NAP_HARNESS_PIDS=$(awk '{ print $2 }' "$DIR/pids" | paste -sd,)"
	} >"$out"
	chmod 600 "$out"
	mv -f "$out" "$DIR/env"
}

cmd_start() {
	local t0 c
	t0=$(now)
	DIR=$1
	[[ "$DIR" =~ ^[A-Za-z0-9_./+,@%-]+$ ]] || die "DIR must be a plain path (letters, digits, _ . / + , @ % -): $DIR"
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd -P)
	[[ "$DIR" =~ ^[A-Za-z0-9_./+,@%-]+$ ]] || die "DIR resolves to an unusual path: $DIR"
	[ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty (start needs a fresh directory)"
	COMPONENTS=${HARNESS_COMPONENTS:-kube pg}
	COMPONENTS=${COMPONENTS//,/ }
	WANT_KUBE='' WANT_PG='' WANT_KCM=
	for c in $COMPONENTS; do
		case $c in
			kube) WANT_KUBE=1 ;;
			kcm) WANT_KCM=1 ;;
			pg) WANT_PG=1 ;;
			*) die "unknown component '$c' in HARNESS_COMPONENTS (known: kube kcm pg)" ;;
		esac
	done
	[ -z "$WANT_KCM" ] || [ -n "$WANT_KUBE" ] || die "HARNESS_COMPONENTS: kcm needs kube"
	[ -n "$WANT_KUBE$WANT_PG" ] || die "HARNESS_COMPONENTS selects nothing"
	# Settings of the caller's environment that the servers or psql would obey.
	unset PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSERVICE PGOPTIONS PGSSLMODE PGDATA DATABASE_URL
	unset "${!ETCD_@}"
	[ "$(uname -m)" = aarch64 ] && export ETCD_UNSUPPORTED_ARCH=arm64

	touch "$DIR/.nap-harness"
	mkdir -m 755 "$DIR/logs"
	: >"$DIR/pids"
	trap 'fail "start interrupted or failed (line $LINENO)"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	# The API server needs 4-6 s to become ready: set PostgreSQL up meanwhile.
	[ -n "$WANT_KUBE" ] && start_kube_launch
	[ -n "$WANT_PG" ] && start_pg
	[ -n "$WANT_KUBE" ] && start_kube_finish "$t0"
	[ -n "$WANT_KCM" ] && start_kcm
	write_env
	trap - EXIT INT TERM
	log "started [$COMPONENTS] in $DIR in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------------------

cmd_stop() {
	DIR=$1
	[ -d "$DIR" ] || return 0
	[ -e "$DIR/.nap-harness" ] || die "$DIR was not made by '$0 start' (no .nap-harness): not touching it"
	local rc=0
	stop_recorded || rc=1
	if [ $rc = 0 ]; then
		rm -f "$DIR/pids"
		if [ -z "${HARNESS_KEEP:-}" ]; then
			rm -rf -- "$DIR"
		fi
	else
		log "some processes did not stop; keeping $DIR"
	fi
	return $rc
}

# ---------------------------------------------------------------------------
# apiserver-stop / apiserver-start / apiserver-restart: the kube-apiserver
# alone goes away and comes back on the same port (etcd keeps the data, so
# clients see a restart: dropped watches, then a fresh watch cache). DIR/pids
# and DIR/env follow the new PID.

# env_get KEY: the value of KEY in DIR/env.
env_get() { sed -n "s/^$1=//p" "$DIR/env" | tail -n 1; }

# pids_drop NAME: remove NAME's lines from DIR/pids.
pids_drop() {
	awk -v n="$1" '$1 != n' "$DIR/pids" >"$DIR/pids.tmp" && mv -f "$DIR/pids.tmp" "$DIR/pids"
}

# env_set KEY VALUE: replace KEY's line in DIR/env, atomically.
env_set() {
	awk -v k="$1" -v v="$2" 'index($0, k "=") == 1 { print k "=" v; next } { print }' "$DIR/env" >"$DIR/env.tmp" &&
		chmod 600 "$DIR/env.tmp" && mv -f "$DIR/env.tmp" "$DIR/env"
}

apiserver_dir() {
	DIR=$1
	[ -e "$DIR/.nap-harness" ] || die "$DIR was not made by '$0 start' (no .nap-harness)"
	[ -f "$DIR/env" ] && [ -n "$(env_get KUBE_API_URL)" ] || die "$DIR has no kube-apiserver (HARNESS_COMPONENTS)"
}

cmd_apiserver_stop() {
	local name pid st i
	apiserver_dir "$1"
	read -r name pid st < <(awk '$1 == "kube-apiserver"' "$DIR/pids" | tail -n 1) || true
	[ -n "${pid:-}" ] || { log "kube-apiserver is not running in $DIR"; return 0; }
	if [ "${2:-}" = KILL ]; then
		alive "$pid" "$st" && kill -s KILL "$pid" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			alive "$pid" "$st" || break
			sleep 0.1
		done
		! alive "$pid" "$st" || die "kube-apiserver (pid $pid) did not die"
	else
		stop_pid "$name" "$pid" "$st" || die "kube-apiserver (pid $pid) did not stop"
	fi
	pids_drop kube-apiserver
	log "kube-apiserver (pid $pid) stopped"
}

cmd_apiserver_start() {
	local t0 port
	t0=$(now)
	apiserver_dir "$1"
	awk '$1 == "kube-apiserver"' "$DIR/pids" | grep -q . && die "kube-apiserver is already running in $DIR"
	APISERVER=$(env_get KUBE_APISERVER_BIN)
	ETCD_PORT=$(env_get NAP_ETCD_PORT)
	KUBE_TOKEN=$(env_get KUBE_TOKEN)
	port=$(env_get NAP_KUBE_PORT)
	launch_apiserver "$port"
	# A failure here must not stop the rest of the harness (fail() would):
	# the caller still owns it and stops it with `stop`.
	trap - EXIT
	stop_recorded() { return 0; }
	wait_apiserver fixed
	# Back to its place after etcd, so that `stop` (last started first)
	# stops the controller manager before it, as after `start`: an
	# apiserver with open watches takes long to stop.
	awk '$1 == "kube-apiserver" { next } { print } $1 == "etcd" { while ((getline l < f) > 0) if (l ~ /^kube-apiserver /) print l }' \
		f="$DIR/pids" "$DIR/pids" >"$DIR/pids.tmp" && mv -f "$DIR/pids.tmp" "$DIR/pids"
	env_set NAP_APISERVER_PID "$APISERVER_PID"
	env_set NAP_HARNESS_PIDS "$(awk '{ print $2 }' "$DIR/pids" | paste -sd,)"
	log "kube-apiserver (pid $APISERVER_PID) ready again on https://127.0.0.1:$KUBE_PORT after $(elapsed "$t0") s"
}

cmd_env() {
	[ -f "$1/env" ] || die "no $1/env (not started?)"
	cat "$1/env"
}

usage() {
	sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

case "${1:-}" in
	deps) cmd_deps ;;
	build) shift; cmd_build "$@" ;;
	binaries) shift; cmd_binaries "$@" ;;
	start) [ $# = 2 ] || usage; cmd_start "$2" ;;
	stop) [ $# = 2 ] || usage; cmd_stop "$2" ;;
	env) [ $# = 2 ] || usage; cmd_env "$2" ;;
	apiserver-stop) [ $# = 2 ] || [ $# = 3 ] || usage; cmd_apiserver_stop "$2" "${3:-}" ;;
	apiserver-start) [ $# = 2 ] || usage; cmd_apiserver_start "$2" ;;
	apiserver-restart) [ $# = 2 ] || [ $# = 3 ] || usage; cmd_apiserver_stop "$2" "${3:-}"; cmd_apiserver_start "$2" ;;
	*) usage ;;
esac
