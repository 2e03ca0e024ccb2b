#!/usr/bin/env bash
# Runs every test: installs what is missing (Debian packages for libldap, OpenLDAP, Samba AD,
# TLS tooling), builds, and runs `swift test`. The tests start their own servers on loopback
# (a slapd per suite, one Samba AD domain controller on ports 389/636) and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
command -v swift >/dev/null || { echo "test: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }

cleanup() {
  # Servers of a test run that crashed: the fixtures stop them at exit, this is the safety net.
  pkill -f '/tmp/usersync-slapd-' 2>/dev/null || true
  if [[ -f /tmp/usersync-test-samba.pid ]]; then kill "$(cat /tmp/usersync-test-samba.pid)" 2>/dev/null || true; fi
}
trap cleanup EXIT
source scripts/lib/build.sh

quiet_build    # the CLI tests run the usersync executable
swift test 2>&1
