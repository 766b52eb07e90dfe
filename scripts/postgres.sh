#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 and a role the tests can use exists.
# These machines normally run one already; otherwise start it, or install it from Debian.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! ready; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "postgres: installing PostgreSQL from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 1 50); do ready && break; sleep 0.2; done
fi
ready || { echo "postgres: nothing answers on 127.0.0.1:5432" >&2; exit 1; }

# A password role works whatever the server's pg_hba says for TCP (trust, md5 or scram).
as_admin() { if psql -U postgres -h /var/run/postgresql -d postgres -tAc "select 1" >/dev/null 2>&1; then
    psql -v ON_ERROR_STOP=1 -U postgres -h /var/run/postgresql -d postgres -tAc "$1"
  else su postgres -c "psql -v ON_ERROR_STOP=1 -d postgres -tAc \"$1\""; fi; }
if [ "$(as_admin "select 1 from pg_roles where rolname = 'safeguard'")" != "1" ]; then
  as_admin "create role safeguard login createdb password 'safeguard'" >/dev/null
fi
echo "postgres: ready on 127.0.0.1:5432 (role safeguard)"
