# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for user postgres.
# Sourced by .ci/run.

pg_answers() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432
}

ensure_postgres() {
  if pg_answers; then
    echo "PostgreSQL is running"
    return
  fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local conf="/etc/postgresql/$version/main/pg_hba.conf"
  # Local test server only: trust loopback so the tests need no password.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main restart
  for _ in $(seq 1 30); do
    pg_answers && { echo "PostgreSQL started"; return; }
    sleep 1
  done
  echo "PostgreSQL did not start" >&2
  exit 1
}

# Each test creates its own wh_test_* database; remove those left by earlier runs.
drop_stale_test_databases() {
  local dbs
  dbs=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "select datname from pg_database where datname like 'wh\_test\_%'" 2>/dev/null || true)
  for db in $dbs; do
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
  done
}
