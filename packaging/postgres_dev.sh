#!/usr/bin/env bash
# A local PostgreSQL for the review database's PostgreSQL tests (Debian/Ubuntu; run as root or with sudo).
# Idempotent: installs PostgreSQL if missing, starts its cluster, creates the role and database if missing,
# and prints the URL. Then run the PostgreSQL tests (they skip when WALKOUT_TEST_PG is not set, as in CI):
#
#   WALKOUT_TEST_PG=$(sudo packaging/postgres_dev.sh | tail -n1) \
#       python -m pytest tests/test_labeling.py tests/test_export.py -q
#
# The tests drop and recreate every table in that database: point WALKOUT_TEST_PG at a throw-away one only.
# Override with PG_USER / PG_PASSWORD / PG_DB / PG_PORT.
set -euo pipefail

PG_USER=${PG_USER:-walkout}
PG_PASSWORD=${PG_PASSWORD:-walkout}
PG_DB=${PG_DB:-walkout_test}
PG_PORT=${PG_PORT:-5432}

SUDO=""
AS_POSTGRES="runuser -u postgres --"
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; AS_POSTGRES="sudo -u postgres"; fi

if ! command -v pg_lsclusters >/dev/null 2>&1; then
    echo "installing PostgreSQL ..." >&2
    $SUDO apt-get update >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y postgresql >&2
fi

# the newest installed major version, and its cluster (created by the package; created here if not)
VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n1)
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main"' | grep -q .; then
    $SUDO pg_createcluster "$VERSION" main --port "$PG_PORT" >&2
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
    $SUDO pg_ctlcluster "$VERSION" main start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1 == v && $2 == "main" {print $3}')

psql_admin() { $AS_POSTGRES psql -p "$PORT" -v ON_ERROR_STOP=1 -qtAX "$@"; }
# wait for it to accept connections (a fresh start takes a moment)
for _ in $(seq 1 30); do psql_admin -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done

if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" ]; then
    psql_admin -c "CREATE ROLE \"$PG_USER\" LOGIN PASSWORD '$PG_PASSWORD'"
else
    psql_admin -c "ALTER ROLE \"$PG_USER\" LOGIN PASSWORD '$PG_PASSWORD'"
fi
if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" ]; then
    psql_admin -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
fi

echo "PostgreSQL $VERSION on port $PORT: role $PG_USER, database $PG_DB" >&2
PORT_PART=""
if [ "$PORT" != "5432" ]; then PORT_PART=":$PORT"; fi
echo "postgresql+psycopg://$PG_USER:$PG_PASSWORD@localhost$PORT_PART/$PG_DB"
