# SPDX-License-Identifier: Apache-2.0
# Sourced by harness.sh and test-harness.sh: one rule for "is this still the
# process we started".

# alive PID START: the PID exists, is not a zombie and is the process that
# was started (same start time in /proc/PID/stat), so a recycled PID is never
# taken for it.
alive() {
	local stat f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	read -r -a f <<<"$stat"
	[ "${f[0]}" != Z ] && [ "${f[0]}" != X ] && [ "${f[19]}" = "$2" ]
}
