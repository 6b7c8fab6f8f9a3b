#!/bin/bash
# bench/run.sh [BUILD_DIR] [EDITS_PER_KIND] [IDLE_SECONDS]: the daemon's
# figures against a private control plane (tests/harness/, started and
# stopped here): edit-to-applied latency, write requests per edit, idle RSS
# and wake-ups, and the install.sh way side by side. Prints figures; a
# benchmark asserts nothing. About 3 minutes with the defaults (10, 60).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
agent=$build/agent/nap-agent
[ -x "$agent" ] || { echo "bench: no $agent: build first (meson setup $build && meson compile -C $build)" >&2; exit 1; }
# bench.py uses the tests' helper library (tests/lib/naptest).
export PYTHONPATH=$top/tests/lib${PYTHONPATH:+:$PYTHONPATH}
# With kube-controller-manager: the rollouts the daemon follows complete.
export HARNESS_COMPONENTS=${HARNESS_COMPONENTS:-kube kcm pg}
exec "$top/tests/harness/with-harness.sh" python3 "$top/bench/bench.py" "$agent" "${2:-10}" "${3:-60}"
