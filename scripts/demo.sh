#!/usr/bin/env bash
# The demo: installs what is missing, starts a throw-away OpenLDAP directory on loopback holding
# a sample organisation (1,000 people), builds usersync, and does what an administrator does:
# test the bind, preview the mapping, dry-run, sync into a SQLite store, change the directory,
# sync again, and look at the history. Everything is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
command -v swift >/dev/null || { echo "demo: the Swift toolchain (swift) is not on PATH" >&2; exit 1; }
source scripts/lib/directory.sh
source scripts/lib/build.sh

echo "== Building usersync in release mode (the first build takes 6 to 10 minutes on two cores; later ones seconds)"
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

echo
echo "== A configuration file for this directory (usersync.yaml)"
cat > "$work/usersync.yaml" <<YAML
store:
  sqlite: $work/users.db
log:
  directory: $work/log
  retentionDays: 30
sources:
  - name: demo
    type: ldap
    uri: $LDAPS_URI
    tls: { caFile: $CA_FILE }
    bindDN: $READER_DN
    passwordFile: $READER_PW_FILE
    users:
      base: $PEOPLE_BASE
      filter: (objectClass=inetOrgPerson)
      pageSize: 500
      idAttribute: entryUUID
    mapping:
      username: uid
      email: { from: mail, lowercase: true }
      firstName: givenName
      lastName: sn
      displayName: { template: "{givenName} {sn}" }
      attributes:
        department: departmentNumber
        employeeNumber: employeeNumber
    options:
      requiredFields: [ username, email ]
      maxDeactivations: 5%
YAML
mkdir -p "$work/log"
sed -n '1,40p' "$work/usersync.yaml"
export USERSYNC_CONFIG="$work/usersync.yaml"

echo
echo "== Check the file (and its attribute names against the server's schema)"
run mapping check
echo
echo "== Preview what the mapping makes of two live entries"
run mapping preview --limit 2
echo
echo "== Dry run: the plan, nothing written"
run sync --dry-run --show 3 -q
echo
echo "== The first sync: 1,000 users created in one transaction"
run sync -q
echo
echo "== The directory changes: one person leaves, one changes address, one is renamed"
ldapmodify -x -H "$LDAP_URI" -D "$ADMIN_DN" -w secret >/dev/null <<LDIF
dn: uid=ben.smith1,$PEOPLE_BASE
changetype: delete

dn: uid=chloe.smith2,$PEOPLE_BASE
changetype: modify
replace: mail
mail: Chloe.Smith@NewDomain.example

dn: uid=david.smith3,$PEOPLE_BASE
changetype: modrdn
newrdn: uid=david.smith-renamed
deleteoldrdn: 1
LDIF
run sync -q
echo
echo "== A filter mistake that matches nobody: the guard stops the run, nothing is touched (exit 9)"
sed 's/(objectClass=inetOrgPerson)/(objectClass=inetOrgPersonn)/' "$work/usersync.yaml" > "$work/typo.yaml"
run sync --config "$work/typo.yaml" -q
echo
echo "== The history, and one user's row, last record and changes"
run runs
run users show chloe.smith2
run users --state deactivated
