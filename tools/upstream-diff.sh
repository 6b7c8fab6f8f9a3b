#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# For maintainers, on each release of the platform: renders the platform's
# own install.sh (`--render-only`, kubectl stubbed: no cluster is touched)
# from a checkout of the platform at DIR, for a set of values.env variants,
# and compares what it would apply for the Code Sandbox and Remote Browser
# modules (and the three URLs it sets on the control plane's Deployment)
# with `nap-agent render` of the same file. Every difference is printed;
# the deliberate ones (nap-agent(8), COMING FROM INSTALL.SH) are printed
# as such and do not count. Exit 1 when any other difference is found.
#
# Not part of the test suite: CI has no platform checkout, and the tests
# carry their own transcription of install.sh (tests/golden/field-table.py,
# tests/reconcile/installsh.py), which this run checks against the real
# thing.
#
# Usage:   tools/upstream-diff.sh DIR [VARIANT...]
#   DIR      a checkout of the platform (it holds self-host/install.sh);
#            nothing is written in it (install.sh runs from a copy)
#   VARIANT  only these variants (names as listed by a run); default: all
# Env:     NAP_AGENT   the nap-agent binary (default: build/agent/nap-agent)
# Needs:   bash, envsubst (gettext-base), python3 with PyYAML (python3-yaml);
#          kubectl (kubernetes-client) to compare the registry login's Secret.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: tools/upstream-diff.sh DIR [VARIANT...]}
shift
[ -f "$dir/self-host/install.sh" ] || { echo "upstream-diff: no self-host/install.sh in '$dir'" >&2; exit 2; }
agent=${NAP_AGENT:-$src/build/agent/nap-agent}
[ -x "$agent" ] || { echo "upstream-diff: no nap-agent at '$agent' (build it, or set NAP_AGENT)" >&2; exit 2; }
command -v envsubst >/dev/null || { echo "upstream-diff: install.sh needs envsubst (gettext-base)" >&2; exit 2; }
python3 -c 'import yaml' 2>/dev/null || { echo "upstream-diff: needs PyYAML (python3-yaml)" >&2; exit 2; }

exec python3 "$src/tools/upstream-diff.py" "$src" "$(cd "$dir" && pwd)" "$agent" "$@"
