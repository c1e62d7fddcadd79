#!/usr/bin/env bash
# Runs every test of etl-medic, on a fresh machine with nothing installed by
# hand:
#   1. the local AWS emulator (moto server, pinned) into a virtual env;
#   2. the Rust test suite: unit and property tests, the classify/decide
#      protocol through the binary, the simulator and learning, the daemon on
#      in-memory adapters, and the daemon on the AWS SDK adapters over real
#      HTTP against moto servers the tests start and stop on loopback;
#   3. the deployment checks: cfn-lint, checkov, hadolint, promtool, and a
#      real Prometheus scraping the running demo.
# Tools are cached under $ETL_MEDIC_CACHE (default ~/.cache/etl-medic), so
# later runs reuse them, and so is cargo's target directory: the AWS SDK
# crates compile slowly and every clone on this machine shares the build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export ETL_MEDIC_CACHE="${ETL_MEDIC_CACHE:-$HOME/.cache/etl-medic}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ETL_MEDIC_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$ETL_MEDIC_CACHE"
log="$ETL_MEDIC_CACHE/last-test-run.log"

started=$(date +%s)
step() { printf '\n==> %s (at %ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "local AWS emulator: moto server into $ETL_MEDIC_CACHE/venv-moto"
bash tests/moto/setup.sh

step "rust tests (cargo target dir: $CARGO_TARGET_DIR)"
cargo test --all-targets --no-fail-fast 2>&1 | tee "$log"
cargo test --doc 2>&1 | tee -a "$log"

step "deployment checks"
bash tests/deploy/run_all.sh "$CARGO_TARGET_DIR/debug/etl-medic"

step "done"
python3 - "$log" <<'PY'
import re, sys
passed = failed = ignored = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    match = re.search(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
    if match:
        passed += int(match[1]); failed += int(match[2]); ignored += int(match[3])
print(f"rust: {passed} passed, {failed} failed, {ignored} skipped")
PY
