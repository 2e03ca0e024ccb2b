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
# The log is long and a reader may see only part of it: on failure, the failed expectations are
# printed again at the end, where the summary is.
log=$(mktemp /tmp/usersync-test-log.XXXXXX)
status=0
swift test 2>&1 | tee "$log" || status=$?
if [[ $status -ne 0 ]]; then
  echo "== what failed (repeated from above):"
  grep -a '✘' "$log" | cut -c1-2000 || true
fi
rm -f "$log"
exit "$status"
