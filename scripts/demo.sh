#!/usr/bin/env bash
# Builds sluice and runs `sluice demo`: three housing-fund centres on loopback. It
# shares one build (the dev profile, one target directory) with scripts/test.sh.
# Extra arguments go to `sluice demo`, e.g. `scripts/demo.sh --scale 0.2`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo run --locked --bin sluice -- demo "$@"
