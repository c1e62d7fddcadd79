#!/usr/bin/env bash
# Pipes N realistic decide requests (default 100,000; about 2.4 KB each, see
# examples/make_mix_requests.rs) through `etl-medic decide` and reports
# requests per second of wall time and per CPU-second, and peak RSS.
# Usage: bash benches/decide_mix.sh [N] [extra decide args...]
#   ETL_MEDIC_BIN=/path/to/etl-medic   measure that binary instead of this tree's
#                                      release build (e.g. a build of an older commit)
#   REQUESTS=make_requests             use the 1 KB requests of decide_throughput.sh instead
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etl-medic/target}"
count="${1:-100000}"; shift || true
generator="${REQUESTS:-make_mix_requests}"
cargo build -q --release --bin etl-medic --example "$generator"
binary="${ETL_MEDIC_BIN:-$CARGO_TARGET_DIR/release/etl-medic}"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/release/examples/$generator" "$count" > "$work/requests.jsonl"
bytes=$(stat -c %s "$work/requests.jsonl")
/usr/bin/time -f '%e %U %S %M' -o "$work/time" "$binary" decide "$@" < "$work/requests.jsonl" > "$work/answers.jsonl"
read -r wall user sys rss_kb < "$work/time"
answers=$(wc -l < "$work/answers.jsonl")
errors=$(grep -c '"error"' "$work/answers.jsonl" || true)
unknown=$(grep -c '"diagnosis":{"class":"unknown"' "$work/answers.jsonl" || true)
python3 - "$count" "$answers" "$errors" "$wall" "$user" "$sys" "$rss_kb" "$bytes" "$binary" "$unknown" <<'PY'
import sys
count, answers, errors = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
wall, user, system, rss_kb, size = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
cpu = user + system
print(f"binary          {sys.argv[9]}")
print(f"requests        {count} ({size/1e6:.1f} MB of JSON lines, {size/max(count,1):,.0f} bytes each)")
print(f"answers         {answers} ({errors} errors, {sys.argv[10]} diagnosed unknown)")
print(f"wall time       {wall:.2f} s  -> {count/max(wall,1e-9):,.0f} requests/s")
print(f"cpu time        {cpu:.2f} s (user {user:.2f}, sys {system:.2f}) -> {count/max(cpu,1e-9):,.0f} requests/s per core")
print(f"peak RSS        {rss_kb/1024:.1f} MiB")
PY
