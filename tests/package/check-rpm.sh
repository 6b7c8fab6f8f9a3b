#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the rpm with rpmbuild -bb (packaging/build-rpm.sh, which also checks
# rpm -qlp: binary, unit, man page, templates, sysusers/tmpfiles snippets,
# no values.env of its own, and the systemd scriptlets).
# Usage: check-rpm.sh SOURCE_ROOT OUTDIR
set -euo pipefail
src=${1:?usage: check-rpm.sh SOURCE_ROOT OUTDIR}
out=${2:?usage: check-rpm.sh SOURCE_ROOT OUTDIR}
# No rpmbuild is a failure (as root, build-rpm.sh installs it first).
command -v rpmbuild >/dev/null || [ "$(id -u)" = 0 ] || { echo "FAIL: no rpmbuild"; exit 1; }
exec bash "$src/packaging/build-rpm.sh" "$out"
