#!/usr/bin/env bash
# The demo: installs what is missing, starts a throw-away OpenLDAP directory on loopback holding
# a sample organisation (1,000 people), builds usersync and runs `usersync test-bind` against
# it over LDAPS, as an administrator would. Everything is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
command -v swift >/dev/null || { echo "demo: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }
source scripts/lib/directory.sh
source scripts/lib/build.sh

echo "== Building usersync"
quiet_build -c release --product usersync
usersync=$(swift build -c release --show-bin-path)/usersync

work=$(mktemp -d /tmp/usersync-demo.XXXXXX)
trap 'directory_stop "$work"; rm -rf "$work"' EXIT
echo "== Starting a demo directory (OpenLDAP slapd, 1,000 people) in $work"
directory_start "$work" 1000

run() { echo; echo "\$ usersync $*"; "$usersync" "$@" || echo "(exit code $?)"; }
echo
echo "== usersync test-bind: connect over LDAPS, bind as the service account, search the people"
run test-bind -H "$LDAPS_URI" --ca-file "$CA_FILE" -D "$READER_DN" -y "$READER_PW_FILE" \
  -b "$PEOPLE_BASE" --filter '(objectClass=inetOrgPerson)' --limit 5
echo
echo "== The same as JSON, for scripts"
run test-bind -H "$LDAPS_URI" --ca-file "$CA_FILE" -D "$READER_DN" -y "$READER_PW_FILE" \
  -b "$PEOPLE_BASE" --filter '(departmentNumber=Sales)' --limit 2 --json
echo
echo "== What a mistake looks like: the password over plain ldap:// is refused"
run test-bind -H "$LDAP_URI" -D "$READER_DN" -y "$READER_PW_FILE"
