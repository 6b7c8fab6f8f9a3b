#!/bin/bash
# Tests of the control plane harness itself (exit 0 when all pass).
#
#  - two full harnesses (kube + pg) started at the same time through
#    with-harness.sh, each checking: /readyz with the token over TLS verified
#    with the CA (and 401 without the token), namespace nap, a kubectl
#    server-side apply of a Service seen in the audit log, psql with
#    DATABASE_URL and with the PG* variables; both up at once on distinct ports;
#    after with-harness.sh returns: no recorded PID alive and DIR gone;
#  - HARNESS_COMPONENTS=pg alone: no etcd or apiserver (its time printed);
#  - with-harness.sh passes on CMD's exit status, and cleans up on SIGTERM;
#  - a start that fails (KUBE_APISERVER=/bin/false) exits non-zero and leaves
#    no process behind; stop is idempotent;
#  - apiserver-restart (in the harness with kube-controller-manager): the
#    apiserver killed and started again on its port, the data kept.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
HARNESS=$HERE/harness.sh
WITH=$HERE/with-harness.sh

# shellcheck source=alive.sh
. "$HERE/alive.sh"

# ---------------------------------------------------------------------------
# Inner part: runs under with-harness.sh, the harness variables exported.
# Writes "PASS name" / "FAIL name: why" lines to $OUT/results.

inner_check() {
	local name=$1
	shift
	local why
	if why=$("$@" 2>&1); then
		echo "PASS $name" >>"$OUT/results"
	else
		echo "FAIL $name: $(tail -n 3 <<<"$why" | tr '\n' ' ')" >>"$OUT/results"
	fi
}

chk_readyz() {
	local body
	body=$(curl -sS --fail --max-time 5 --cacert "$KUBE_CA_FILE" \
		-H "Authorization: Bearer $KUBE_TOKEN" "$KUBE_API_URL/readyz")
	[ "$body" = ok ] || { echo "readyz body: $body"; return 1; }
}

chk_no_token_401() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$KUBE_CA_FILE" "$KUBE_API_URL/readyz")
	[ "$code" = 401 ] || { echo "HTTP $code without token"; return 1; }
}

chk_namespace() {
	local phase
	phase=$("$KUBECTL" get namespace nap -o jsonpath='{.status.phase}')
	[ "$phase" = Active ] || { echo "phase '$phase'"; return 1; }
}

chk_apply_audited() {
	local i n=0
	"$KUBECTL" apply --server-side --field-manager=harness-test -f - <<-'EOF'
		apiVersion: v1
		kind: Service
		metadata:
		  name: harness-probe
		  namespace: nap
		spec:
		  ports:
		  - name: http
		    port: 80
		    protocol: TCP
	EOF
	for ((i = 0; i < 50; i++)); do
		n=$(jq -c 'select(.verb == "patch" and .objectRef.resource == "services"
				and .objectRef.namespace == "nap" and .objectRef.name == "harness-probe"
				and .user.username == "nap-admin" and .responseStatus.code == 201)' \
			"$NAP_AUDIT_LOG" | wc -l)
		((n >= 1)) && return 0
		sleep 0.1
	done
	echo "no audited PATCH of services/harness-probe in $NAP_AUDIT_LOG"
	return 1
}

chk_psql_url() {
	local r
	r=$(psql -X -q "$DATABASE_URL" -At -c 'create table harness_probe (id int)' -c 'select current_user || current_database()')
	[ "$r" = napnap ] || { echo "got '$r'"; return 1; }
}

chk_psql_pgvars() {
	local r
	r=$(env -u DATABASE_URL psql -X -Atc 'select count(*) from harness_probe')
	[ "$r" = 0 ] || { echo "got '$r'"; return 1; }
}

chk_psql_bad_password() {
	! PGPASSWORD=wrong psql -X -Atc 'select 1' >/dev/null 2>&1
}

chk_files() {
	local f
	for f in "$NAP_HARNESS_DIR/env" "$NAP_HARNESS_DIR/pids"; do
		[ -f "$f" ] || { echo "missing $f"; return 1; }
	done
	# every line of env is KEY=value with a plain value
	if grep -vE '^(#.*|[A-Z_][A-Z0-9_]*=[A-Za-z0-9_./:@%+,=-]*)$' "$NAP_HARNESS_DIR/env"; then
		echo "env has lines that are not simple KEY=value"
		return 1
	fi
}

chk_pg_only() {
	[ -z "${KUBE_API_URL:-}" ] || { echo "KUBE_API_URL set with pg only"; return 1; }
	[ "$(wc -l <"$NAP_HARNESS_DIR/pids")" = 1 ] || { echo "pg only started more than postgres"; return 1; }
	[ ! -e "$NAP_HARNESS_DIR/etcd" ] || { echo "etcd dir exists"; return 1; }
}

# With kube-controller-manager, a Deployment gets its ReplicaSet and a Pod.
chk_kcm() {
	local i
	"$KUBECTL" --kubeconfig "$KUBECONFIG" -n nap create deployment kcm-probe --image=registry.invalid/x >/dev/null || return 1
	for ((i = 0; i < 300; i++)); do
		[ -n "$("$KUBECTL" --kubeconfig "$KUBECONFIG" -n nap get pods -l app=kcm-probe -o name 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	echo "no Pod for the Deployment after 30 s"
	return 1
}

# apiserver-restart: killed and started again on the same port; etcd kept
# the data; DIR/pids and DIR/env name the new process, after etcd.
chk_apiserver_restart() {
	local old new
	old=$(sed -n 's/^NAP_APISERVER_PID=//p' "$NAP_HARNESS_DIR/env")
	"$HARNESS" apiserver-restart "$NAP_HARNESS_DIR" KILL 2>&1 || return 1
	new=$(sed -n 's/^NAP_APISERVER_PID=//p' "$NAP_HARNESS_DIR/env")
	[ -n "$new" ] && [ "$new" != "$old" ] || { echo "NAP_APISERVER_PID $old -> '$new'"; return 1; }
	! kill -0 "$old" 2>/dev/null || { echo "the old apiserver ($old) still runs"; return 1; }
	awk '$1 == "kube-apiserver" { print $2 }' "$NAP_HARNESS_DIR/pids" | grep -qx "$new" ||
		{ echo "pids lacks $new"; return 1; }
	[ "$(awk 'NR == 2 { print $1 }' "$NAP_HARNESS_DIR/pids")" = kube-apiserver ] ||
		{ echo "kube-apiserver is not right after etcd in pids"; return 1; }
	chk_readyz && chk_namespace
}

wait_peer() {
	local i
	for ((i = 0; i < 900; i++)); do
		[ -e "$PEER/up" ] && return 0
		sleep 0.1
	done
	echo "peer harness never came up while this one ran"
	return 1
}

# Probe the peer's servers while this one is up: both run at the same time.
chk_peer_reachable() {
	local url token ca
	url=$(sed -n 's/^KUBE_API_URL=//p' "$PEER/env")
	token=$(sed -n 's/^KUBE_TOKEN=//p' "$PEER/env")
	ca=$(sed -n 's/^KUBE_CA_FILE=//p' "$PEER/env")
	[ "$url" != "$KUBE_API_URL" ] || { echo "same API URL $url"; return 1; }
	curl -sS --fail --max-time 5 --cacert "$ca" -H "Authorization: Bearer $token" "$url/readyz" >/dev/null
	chk_readyz
}

inner() {
	OUT=$1 PEER=${2:-}
	cp "$NAP_HARNESS_DIR/env" "$OUT/env"
	cp "$NAP_HARNESS_DIR/pids" "$OUT/pids"
	inner_check "env and pids files" chk_files
	if [ "${INNER_MODE:-full}" = pg ]; then
		inner_check "pg only: no kube" chk_pg_only
	else
		inner_check "readyz with token over verified TLS" chk_readyz
		inner_check "readyz without token is 401" chk_no_token_401
		inner_check "namespace nap exists" chk_namespace
		inner_check "server-side apply is in the audit log" chk_apply_audited
		case ",$NAP_HARNESS_COMPONENTS," in
			*,kcm,*)
				inner_check "kube-controller-manager: a Deployment gets a Pod" chk_kcm
				inner_check "apiserver-restart: same port, same data, pids and env updated" chk_apiserver_restart
				cp "$NAP_HARNESS_DIR/pids" "$OUT/pids"
				;;
		esac
	fi
	inner_check "psql with DATABASE_URL" chk_psql_url
	inner_check "psql with PG* variables" chk_psql_pgvars
	inner_check "psql with a wrong password fails" chk_psql_bad_password
	touch "$OUT/up"
	if [ -n "$PEER" ]; then
		inner_check "peer harness up at the same time" wait_peer
		inner_check "both harnesses answer at once" chk_peer_reachable
		touch "$OUT/probed"
		# keep running until the peer has probed us too
		for ((i = 0; i < 300; i++)); do [ -e "$PEER/probed" ] && break; sleep 0.1; done
	fi
	grep -q '^FAIL' "$OUT/results" && return 1
	return 0
}

if [ "${1:-}" = --inner ]; then
	shift
	inner "$@"
	exit
fi

# ---------------------------------------------------------------------------
# Outer part

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # check NAME CMD...
	local name=$1
	shift
	if "$@"; then ok "$name"; else ko "$name"; fi
}

T=$(mktemp -d "${TMPDIR:-/tmp}/nap-harness-test.XXXXXX")
chmod 711 "$T" # run as root, postgres runs as user postgres and must reach $T/sig
# shellcheck disable=SC2317
cleanup() { rm -rf "$T"; }
trap cleanup EXIT

collect() { # collect OUT: count the inner results
	local line
	[ -f "$1/results" ] || { ko "$1: no results (harness did not start?)"; return; }
	while IFS= read -r line; do
		case $line in
			PASS*) ok "${1##*/}: ${line#PASS }" ;;
			*) ko "${1##*/}: ${line#FAIL }" ;;
		esac
	done <"$1/results"
}

# no_pid_alive OUT: none of the PIDs the harness recorded is still running
no_pid_alive() {
	local name pid st
	[ -f "$1/pids" ] || { echo "no pids copy in $1" >&2; return 1; }
	while read -r name pid st; do
		if alive "$pid" "$st"; then echo "$name ($pid) still alive" >&2; return 1; fi
	done <"$1/pids"
}

dir_gone() {
	local d
	d=$(sed -n 's/^NAP_HARNESS_DIR=//p' "$1/env" 2>/dev/null)
	[ -n "$d" ] && [ ! -e "$d" ]
}

distinct_ports() {
	local all
	all=$(cat "$T/a/env" "$T/b/env" | sed -n 's/^\(NAP_ETCD_PORT\|NAP_KUBE_PORT\|PGPORT\)=//p')
	[ "$(wc -l <<<"$all")" = 6 ] && [ "$(sort -u <<<"$all" | wc -l)" = 6 ]
}

# 1. two full harnesses at the same time
mkdir -p "$T/a" "$T/b"
t0=$SECONDS
HARNESS_COMPONENTS="kube pg" "$WITH" "$SELF" --inner "$T/a" "$T/b" >"$T/a.log" 2>&1 &
pa=$!
HARNESS_COMPONENTS="kube kcm pg" "$WITH" "$SELF" --inner "$T/b" "$T/a" >"$T/b.log" 2>&1 &
pb=$!
rca=0 rcb=0
wait "$pa" || rca=$?
wait "$pb" || rcb=$?
echo "# two concurrent full harnesses: $((SECONDS - t0)) s in all"
grep -h 'harness: started' "$T/a.log" "$T/b.log" | sed 's/^/# /' || true
collect "$T/a"
collect "$T/b"
check "a: with-harness exit status 0" [ "$rca" = 0 ]
check "b: with-harness exit status 0" [ "$rcb" = 0 ]
check "a and b used distinct ports" distinct_ports
check "a: no recorded PID alive after stop" no_pid_alive "$T/a"
check "b: no recorded PID alive after stop" no_pid_alive "$T/b"
check "a: DIR removed after stop" dir_gone "$T/a"
check "b: DIR removed after stop" dir_gone "$T/b"
if [ "$rca" != 0 ] || [ "$rcb" != 0 ]; then
	tail -n 20 "$T/a.log" "$T/b.log" | sed 's/^/# /'
fi

# 2. pg only
mkdir -p "$T/p"
t0=$(date +%s%N)
rcp=0
HARNESS_COMPONENTS=pg INNER_MODE=pg "$WITH" "$SELF" --inner "$T/p" >"$T/p.log" 2>&1 || rcp=$?
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# pg only, start+checks+stop: $ms ms (a figure: \"no kube\" is checked inside)"
collect "$T/p"
check "p: with-harness exit status 0" [ "$rcp" = 0 ]
check "p: no recorded PID alive after stop" no_pid_alive "$T/p"
check "p: DIR removed after stop" dir_gone "$T/p"

# 3. with-harness passes CMD's status on
rc=0
HARNESS_COMPONENTS=pg "$WITH" sh -c 'exit 7' 2>/dev/null || rc=$?
check "with-harness exits with CMD's status (7)" [ "$rc" = 7 ]

# 4. SIGTERM to with-harness stops everything
mkdir -p "$T/sig"
TMPDIR=$T/sig HARNESS_COMPONENTS=pg "$WITH" sleep 300 2>/dev/null &
pw=$!
for ((i = 0; i < 300; i++)); do
	compgen -G "$T/sig/nap-harness.*/env" >/dev/null && break
	sleep 0.1
done
sigdir=$(compgen -G "$T/sig/nap-harness.*" | head -n1 || true)
mkdir -p "$T/s"
if [ -n "$sigdir" ]; then cp "$sigdir/pids" "$T/s/pids" 2>/dev/null || true; fi
kill -TERM "$pw" 2>/dev/null || true
rc=0
wait "$pw" || rc=$?
check "SIGTERM: with-harness exits 143" [ "$rc" = 143 ]
check "SIGTERM: no recorded PID alive" no_pid_alive "$T/s"
sig_dir_gone() { [ -n "$sigdir" ] && [ ! -e "$sigdir" ]; }
check "SIGTERM: DIR removed" sig_dir_gone

# 5. a failing start stops what it started
mkdir -p "$T/f/d"
rc=0
KUBE_APISERVER=/bin/false HARNESS_COMPONENTS=kube "$HARNESS" start "$T/f/d" >"$T/f.log" 2>&1 || rc=$?
check "failed start exits non-zero" [ "$rc" != 0 ]
check "failed start says why" grep -q 'error: kube-apiserver exited with status' "$T/f.log"
cp "$T/f/d/pids" "$T/f/pids" 2>/dev/null || true
check "failed start recorded etcd" grep -q '^etcd ' "$T/f/pids"
check "failed start left no process" no_pid_alive "$T/f"
check "stop after a failed start" "$HARNESS" stop "$T/f/d"
check "stop is idempotent" "$HARNESS" stop "$T/f/d"
check "DIR removed" [ ! -e "$T/f/d" ]

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
