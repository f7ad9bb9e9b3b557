#!/usr/bin/env bash
# Runs every test: installs what is missing, starts PostgreSQL and MariaDB, then runs
# the whole workspace's tests. This is the command the README and CI use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo test --workspace --locked "$@"
