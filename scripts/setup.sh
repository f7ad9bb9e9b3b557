#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine, then makes sure
# the PostgreSQL and MariaDB servers the connector tests use are running.
# Safe to run again: every step checks first.
set -euo pipefail

need=()
command -v ld.lld >/dev/null 2>&1 || need+=(lld)
command -v clang >/dev/null 2>&1 || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
# The chain's partition tests: network namespaces and veth (iproute2), packet loss (nft).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# DuckDB, the second engine the federated tests compare their answers with.
DUCKDB_VERSION=2.0.1
python3 -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null \
  || python3 -m pip install --quiet --root-user-action=ignore "duckdb==$DUCKDB_VERSION"

# pyshacl (with rdflib), which checks the DCAT-AP export against the official SHACL shapes.
PYSHACL_VERSION=0.30.1
python3 -c "import pyshacl, sys; sys.exit(pyshacl.__version__ != '$PYSHACL_VERSION')" 2>/dev/null \
  || python3 -m pip install --quiet --root-user-action=ignore "pyshacl==$PYSHACL_VERSION"

# rank_bm25, the independent BM25 the catalog search's ranking is checked against.
BM25_VERSION=0.2.2
python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('rank_bm25') != '$BM25_VERSION')" 2>/dev/null \
  || python3 -m pip install --quiet --root-user-action=ignore "rank_bm25==$BM25_VERSION"

# PostgreSQL on 127.0.0.1:5432 with trust auth and a database `test`.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "setup: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true

# MariaDB on 127.0.0.1:3306, root without a password, database `test`.
if ! mariadb-admin -h 127.0.0.1 -P 3306 -u root status >/dev/null 2>&1; then
  echo "setup: starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 30); do mariadb-admin -h 127.0.0.1 -P 3306 -u root status >/dev/null 2>&1 && break; sleep 1; done
fi
mariadb -h 127.0.0.1 -P 3306 -u root -e "CREATE DATABASE IF NOT EXISTS test" >/dev/null 2>&1 || true
