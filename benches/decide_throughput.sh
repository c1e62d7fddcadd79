#!/usr/bin/env bash
# Pipes N decide requests (default 200,000) through `etl-medic decide` and
# reports requests per second of wall time and per CPU-second (per core:
# decide is single-threaded, so CPU seconds are one core's seconds).
# Usage: bash benches/decide_throughput.sh [N] [extra decide args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/etl-medic/target}"
count="${1:-200000}"; shift || true
cargo build -q --release --bin etl-medic --example make_requests
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/release/examples/make_requests" "$count" > "$work/requests.jsonl"
bytes=$(stat -c %s "$work/requests.jsonl")
/usr/bin/time -f '%e %U %S %M' -o "$work/time" \
  "$CARGO_TARGET_DIR/release/etl-medic" decide "$@" < "$work/requests.jsonl" > "$work/answers.jsonl"
read -r wall user sys rss_kb < "$work/time"
answers=$(wc -l < "$work/answers.jsonl")
errors=$(grep -c '"error"' "$work/answers.jsonl" || true)
python3 - "$count" "$answers" "$errors" "$wall" "$user" "$sys" "$rss_kb" "$bytes" <<'PY'
import sys
count, answers, errors = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
wall, user, system, rss_kb, size = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
cpu = user + system
print(f"requests        {count} ({size/1e6:.1f} MB of JSON lines)")
print(f"answers         {answers} ({errors} errors)")
print(f"wall time       {wall:.2f} s  -> {count/max(wall,1e-9):,.0f} requests/s")
print(f"cpu time        {cpu:.2f} s (user {user:.2f}, sys {system:.2f}) -> {count/max(cpu,1e-9):,.0f} requests/s per core")
print(f"peak RSS        {rss_kb/1024:.1f} MiB")
PY
