# Shell helpers to run a throw-away OpenLDAP slapd on loopback with a generated organisation.
# Sourced by scripts/demo.sh and scripts/valgrind-check.sh. (The Swift tests have their own
# fixture, Tests/DirectoryFixtures/Slapd.swift.)
#
#   directory_start DIR USERS      # sets LDAP_URI, LDAPS_URI, CA_FILE, READER_DN, READER_PW_FILE
#   directory_start DIR 0 FILE     # the same with the organisation (the base entries) and FILE's entries
#   directory_stop DIR

SUFFIX="dc=example,dc=com"
ADMIN_DN="cn=admin,$SUFFIX"
READER_DN="cn=reader,ou=services,$SUFFIX"
PEOPLE_BASE="ou=people,$SUFFIX"

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  echo "no free port found" >&2; return 1
}

make_ca() {  # DIR [HOST]: a CA and a certificate for localhost / 127.0.0.1 (and HOST)
  local d=$1 host=${2:-} key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$d"
  openssl req -x509 "${key[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 3 \
    -subj "/O=usersync demo/CN=usersync demo CA" 2>/dev/null
  openssl req "${key[@]}" -keyout "$d/server.key" -out "$d/server.csr" -subj "/O=usersync demo/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1%s\nextendedKeyUsage=serverAuth\n' "${host:+,DNS:$host}" > "$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/server.pem" -days 3 -extfile "$d/server.ext" 2>/dev/null
}

organisation_ldif() {  # USERS: the organisation as LDIF on stdout
  cat <<LDIF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: Example Corp

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: ou=services,$SUFFIX
objectClass: organizationalUnit
ou: services

dn: $READER_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
description: the account usersync binds as
userPassword: reader-pw

LDIF
  awk -v n="$1" -v base="$PEOPLE_BASE" 'BEGIN {
    split("Ann Ben Chloe David Emma Farid Grace Hugo Ines Jonas Kim Lena Marco Nora Omar Paula", given, " ")
    split("Smith Jones Garcia Muller Rossi Dubois Novak Silva Kowalski Jensen Tanaka Okafor", family, " ")
    split("Sales Engineering Finance Support Marketing", dept, " ")
    for (i = 1; i <= n; i++) {
      g = given[(i % 16) + 1]; f = family[(int(i / 16) % 12) + 1]; uid = sprintf("%s.%s%d", tolower(g), tolower(f), i)
      printf "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s %s\ngivenName: %s\nsn: %s\n", uid, base, uid, g, f, g, f
      printf "mail: %s@example.com\nemployeeNumber: %d\ndepartmentNumber: %s\ntitle: %s specialist\n\n", uid, i, dept[(i % 5) + 1], dept[(i % 5) + 1]
    }
  }'
}

slapd_conf() {  # DIR [PIDFILE]: slapd.conf on stdout for the database in DIR/db and TLS files in DIR/tls
  local d=$1 pidfile=${2:-}
  cat <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload syncprov
${pidfile:+pidfile $pidfile
}sizelimit unlimited
TLSCACertificateFile $d/tls/ca.pem
TLSCertificateFile $d/tls/server.pem
TLSCertificateKeyFile $d/tls/server.key
database mdb
maxsize 4294967296
suffix "$SUFFIX"
rootdn "$ADMIN_DN"
rootpw secret
directory $d/db
index objectClass eq
index uid eq
index entryUUID,entryCSN eq
overlay memberof
# Content sync (RFC 4533) for incremental reads; the session log lets a delta name deletions.
overlay syncprov
syncprov-checkpoint 100 10
syncprov-sessionlog 10000
CONF
}

directory_start() {  # DIR USERS [EXTRA_LDIF_FILE]
  local d=$1 users=$2 extra=${3:-}
  mkdir -p "$d/db"
  make_ca "$d/tls"
  slapd_conf "$d" "$d/slapd.pid" > "$d/slapd.conf"
  organisation_ldif "$users" > "$d/data.ldif"
  [[ -n $extra ]] && cat "$extra" >> "$d/data.ldif"
  slapadd -q -f "$d/slapd.conf" -l "$d/data.ldif"
  local port tls_port
  port=$(free_port); tls_port=$(free_port)
  LDAP_URI="ldap://127.0.0.1:$port"
  LDAPS_URI="ldaps://127.0.0.1:$tls_port"
  CA_FILE="$d/tls/ca.pem"
  READER_PW_FILE="$d/reader.pw"
  echo "reader-pw" > "$READER_PW_FILE"
  chmod 600 "$READER_PW_FILE"
  slapd -f "$d/slapd.conf" -h "$LDAP_URI/ $LDAPS_URI/"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "slapd did not start; see $d" >&2
  return 1
}

directory_stop() {  # DIR
  local pid_file="$1/slapd.pid"
  [[ -f $pid_file ]] || return 0
  local pid; pid=$(cat "$pid_file")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
