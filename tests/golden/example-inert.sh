#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The example the package installs (/usr/share/nap-agent/values.env.example,
# made from etc/nap/values.env by meson.build) deploys nothing: it is valid,
# both modules are off, and it renders no object, no oauth client and no
# partial object (no NAP_HOST, so not even nap-cp's public URLs). It holds
# no secret either. Should anyone point the agent at it, nothing changes on
# the cluster (issue 22: nothing deploys by default).
#
# usage: example-inert.sh NAP_AGENT TEMPLATES_DIR INSTALLED_EXAMPLE
set -euo pipefail
agent=$1 templates=$2 example=$3
export NAP_TEMPLATES_DIR=$templates NAP_TEMPLATES_OVERRIDE_DIR=/nonexistent/nap
unset NAP_VALUES
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

[ -f "$example" ] || { echo "FAIL: no installed example '$example'"; exit 1; }
out=$("$agent" check --values "$example" 2>&1) && ok "check: valid" || bad "check failed: $out"
grep -qF 'sandbox off, browser off; 0 object(s), 0 oauth client(s)' <<<"$out" &&
	ok "both modules off, nothing to deploy" || bad "check says: $out"
json=$("$agent" render --format json --values "$example" 2>/dev/null) || bad "render failed"
n=$(python3 -c 'import json, sys; d = json.load(sys.stdin); print(len(d["items"]), len(d["partialObjects"]), len(d["oauthClients"]))' <<<"$json")
[ "$n" = "0 0 0" ] && ok "render: no object, no partial object, no oauth client" || bad "render: items, partials, clients = $n"
grep -nE '^(NAP_HOST|TOS_HOST)=[^ ]' "$example" && bad "the example names a host" || ok "no NAP_HOST"
grep -nE '^[A-Z_]*(SECRET|KEY|PASSWORD)=[^ #]' "$example" && bad "the example holds a secret" || ok "no secret value"
exit $fail
