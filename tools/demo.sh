#!/bin/bash
# The main job: on a fresh Debian 12 machine (as root), install the build
# dependencies, build, start a private control plane on 127.0.0.1 (etcd, a
# real kube-apiserver and PostgreSQL, tests/harness/), and run the daemon in
# the foreground against it with a copy of the example values.env. Edit that
# copy (its path is printed) and watch the agent apply exactly what changed.
# Ctrl-C stops the agent and everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

NAP_WITH_CLANG=0 bash tools/deps.sh
[ -d build ] || meson setup build
meson compile -C build
bash tests/harness/harness.sh deps
# the source tree's templates (the binary reads no path of its build tree)
export NAP_TEMPLATES_DIR=$PWD/agent/templates

work=$(mktemp -d /tmp/nap-demo.XXXXXX)
harness=$(mktemp -d /tmp/nap-demo-control-plane.XXXXXX)  # its own: postgres must traverse it
cleanup() {
	trap - EXIT INT TERM
	bash tests/harness/harness.sh stop "$harness" || true
	echo "demo: stopped; the values file and the ledger stay in $work" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash tests/harness/harness.sh start "$harness"
set -a
# shellcheck disable=SC1091
. "$harness/env"
set +a
# The control plane's database as its migrations and first admin leave it.
psql -q -v ON_ERROR_STOP=1 -f tests/oauth/schema.sql
psql -q -v ON_ERROR_STOP=1 -c "INSERT INTO users (id, email, role) VALUES ('admin', 'admin@example.com', 'admin')"

values=${1:-etc/nap/values.env}
cp "$values" "$work/values.env"
chmod 0640 "$work/values.env"
cat >&2 <<MSG

demo: the agent now watches $work/values.env
demo: try, in another terminal:
demo:   sed -i 's/^SANDBOX_NODE_PORT=.*/SANDBOX_NODE_PORT=30090/' $work/values.env
demo:   sed -i 's/^BROWSER_ENABLED=.*/BROWSER_ENABLED=true/' $work/values.env   (then fill its secrets: build/agent/nap-agent gen-secrets --values $work/values.env)
demo:   KUBECONFIG=$KUBECONFIG $KUBECTL -n nap get svc,deploy,secret
demo:   build/agent/nap-agent status --state-dir $work/state
demo:   cat $work/nap-agent.prom                  (its metrics, as node_exporter would serve them)
demo: Ctrl-C stops everything.

MSG
# The metrics into the demo's directory, not this machine's node_exporter.
./build/agent/nap-agent run --values "$work/values.env" --state-dir "$work/state" --kubeconfig "$KUBECONFIG" \
	--metrics-dir "$work"
