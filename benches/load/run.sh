#!/usr/bin/env bash
# The daemon under load on the local AWS emulator (moto), at several
# concurrency settings: time to ready, throughput, CPU per incident, peak
# RSS, moto's own round trip, and event-to-StartJobRun latency (p50/p99).
# See examples/load_bench.rs for what is measured and how.
#
# Usage: bash benches/load/run.sh [load_bench options]
#   --events 2500,3500,4000     failures queued before the daemon starts, per setting
#   --concurrency 4,16,64       the daemon's [queue] concurrency settings
#   --paced-events 300          failures put one by one afterwards, for latency
#   --paced-rate 8              per second (under the fleet action limit)
#   --time-limit-secs 3600      stop a backlog phase after this long
# Prints a Markdown table (stdout) and per-operation moto timings (stderr).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etl-medic/target}"
cargo build -q --release --bin etl-medic --example load_bench
"$CARGO_TARGET_DIR/release/examples/load_bench" "$@"
