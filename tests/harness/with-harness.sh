#!/bin/bash
# with-harness.sh CMD [ARGS...]: start a private control plane (harness.sh
# start in a new temp dir), export the variables of DIR/env, run CMD, and stop
# and clean up whatever happens (normal exit, error, SIGINT, SIGTERM).
# Exits with CMD's status (or 1 when the harness cannot start).
#
# Honours HARNESS_COMPONENTS ("kube pg" by default), HARNESS_KEEP and the
# variables harness.sh reads.  Used by meson integration tests, e.g.
#   tests/harness/with-harness.sh tests/test-kube
set -euo pipefail

HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/harness.sh

if [ $# = 0 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/nap-harness.XXXXXXXX")
child=

# shellcheck disable=SC2317  # called from the traps
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	if ! "$HARNESS" stop "$dir" && [ "$rc" = 0 ]; then
		rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$HARNESS" start "$dir" || exit 1
[ -n "${HARNESS_KEEP:-}" ] && echo "with-harness: keeping $dir" >&2

set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a

# Run CMD in the background and wait, so that a signal to this script is acted
# on at once (bash defers traps while a foreground child runs).  Its stdin is
# passed on explicitly (a background job would otherwise get /dev/null).
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec 3<&-
set +e
wait "$child"
rc=$?
set -e
child=
exit "$rc"
