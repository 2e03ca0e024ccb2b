#!/usr/bin/env bash
# Starts the demo directory in the foreground: the organisation of scripts/lib/directory.sh,
# plain LDAP on 389 and LDAPS on 636 with a certificate for the host name "directory", whose
# CA goes to /ca/ca.pem for usersync to trust.
set -euo pipefail
source /opt/demo/directory.sh
d=/var/lib/demo-directory
mkdir -p "$d/db" /ca
make_ca "$d/tls" directory
cp "$d/tls/ca.pem" /ca/ca.pem
chmod 644 /ca/ca.pem
slapd_conf "$d" > "$d/slapd.conf"
organisation_ldif "${DEMO_USERS:-1000}" > "$d/data.ldif"
slapadd -q -f "$d/slapd.conf" -l "$d/data.ldif"
echo "demo directory: $(grep -c '^dn: uid=' "$d/data.ldif") people under $PEOPLE_BASE; bind as $READER_DN"
# -d 0: stay in the foreground (the container's main process), without debug output.
exec slapd -f "$d/slapd.conf" -h "ldap:/// ldaps:///" -d 0
