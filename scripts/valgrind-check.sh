#!/usr/bin/env bash
# Runs a 10,000-entry paged search (page size 100, over LDAPS) through `usersync test-bind`
# under valgrind memcheck against a throw-away slapd, and reports what was definitely lost.
# Exit 0 when no definitely-lost block has a frame in usersync's own code.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --tests
source scripts/lib/directory.sh
source scripts/lib/build.sh

quiet_build --product usersync
usersync=$(swift build --show-bin-path)/usersync
work=$(mktemp -d /tmp/usersync-valgrind.XXXXXX)
trap 'directory_stop "$work"; rm -rf "$work"' EXIT
directory_start "$work" 10000

log="$work/memcheck.log"
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --num-callers=40 \
  --suppressions=scripts/valgrind.supp \
  --log-file="$log" "$usersync" test-bind -H "$LDAPS_URI" --ca-file "$CA_FILE" -D "$READER_DN" \
  -y "$READER_PW_FILE" -b "$PEOPLE_BASE" --filter '(objectClass=inetOrgPerson)' --page-size 100 --limit 1 \
  --timeout 300 --json > "$work/out.json" || { echo "usersync under valgrind exited with $?:"; cat "$work/out.json"; tail -30 "$log"; exit 1; }
grep -E '"count"|"pages"' "$work/out.json" | tr -d ' ,'
grep -E 'definitely lost|indirectly lost|possibly lost|still reachable|ERROR SUMMARY' "$log" | sed 's/^==[0-9]*== //'
cp "$log" /tmp/usersync-memcheck.log
# A definitely-lost record whose stack passes through our modules is a leak of ours.
ours=$(awk '/definitely lost in loss record/{rec=1; buf=""} rec{buf=buf"\n"$0} /^==[0-9]+== $/{if(rec && buf ~ /(LDAP|UserSync|CLDAP)/) n++; rec=0} END{print n+0}' "$log")
echo "definitely-lost records with a usersync frame: $ours (full log: /tmp/usersync-memcheck.log)"
[[ $ours -eq 0 ]]
