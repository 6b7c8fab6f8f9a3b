#!/bin/bash
# The main job, on the bundled example values.env: install the build
# dependencies, build, validate the file like `nginx -t`, and render the
# Kubernetes objects and oauth clients it asks for.
set -euo pipefail
cd "$(dirname "$0")/.."

NAP_WITH_CLANG=0 bash tools/deps.sh
[ -d build ] || meson setup build
meson compile -C build
values=${1:-etc/nap/values.env}
./build/agent/nap-agent check --values "$values"
./build/agent/nap-agent render --values "$values"
