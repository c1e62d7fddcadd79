#!/usr/bin/env bash
# Runs every test of etl-medic, on a fresh machine with nothing installed by
# hand:
#   1. the gates: `cargo fmt --check`, `cargo clippy --all-targets -D
#      warnings`, and every fuzz target builds (`cargo check` of fuzz/);
#   2. the local AWS emulator (moto server, pinned) into a virtual env;
#   3. the Rust test suite, six test crates: core (purity, the classifier on
#      real messages), learn, cli (the JSON-lines contracts through the
#      binary), daemon (in-memory adapters), aws (the adapters and the daemon
#      over real HTTP against moto servers the tests start and stop on
#      loopback) and reliability (crashes, injected faults, hostile input);
#   4. the deployment checks: cfn-lint, checkov, hadolint, promtool, and a
#      real Prometheus scraping the running demo.
# A failing step does not stop the others: every step runs, the totals are
# printed, and the exit code is 1 if any step failed.
#
# Where things go: cargo builds into the clone's ./target unless
# CARGO_TARGET_DIR says otherwise (.ci/run points it at
# ~/.cache/etl-medic/target, so CI runs reuse the build). The tools (moto's
# and the linters' Python venvs, hadolint) are cached under $ETL_MEDIC_CACHE
# (default ~/.cache/etl-medic); Prometheus comes from Debian's package.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export ETL_MEDIC_CACHE="${ETL_MEDIC_CACHE:-$HOME/.cache/etl-medic}"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TARGET_DIR="$target_dir"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$ETL_MEDIC_CACHE" "$target_dir"
log="$target_dir/last-test-run.log"
: >"$log"

started=$(date +%s)
failed_steps=()
step() { printf '\n==> %s (at %ss)\n' "$1" "$(($(date +%s) - started))"; }
# Run a step's command; remember its name when it fails.
run() {
    local name=$1
    shift
    "$@" || failed_steps+=("$name")
}

step "format: cargo fmt --check"
run fmt cargo fmt --check

step "lints: cargo clippy --all-targets -- -D warnings (cargo target dir: $target_dir)"
run clippy cargo clippy --all-targets --locked -- -D warnings

step "fuzz targets build: cargo check of fuzz/"
run fuzz-build env CARGO_TARGET_DIR="$target_dir/fuzz" cargo check --manifest-path fuzz/Cargo.toml --bins --locked

step "local AWS emulator: moto server into $ETL_MEDIC_CACHE/venv-moto"
run moto bash tests/moto/setup.sh

step "rust tests"
cargo test --all-targets --no-fail-fast --locked 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" = 0 ] || failed_steps+=(rust-tests)
cargo test --doc --locked 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" = 0 ] || failed_steps+=(doc-tests)

step "deployment checks"
run deploy bash tests/deploy/run_all.sh "$target_dir/debug/etl-medic"

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
if [ "${#failed_steps[@]}" -gt 0 ]; then
    echo "FAILED steps: ${failed_steps[*]}"
    exit 1
fi
echo "every step passed"
