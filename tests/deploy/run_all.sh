#!/usr/bin/env bash
# Every offline check of the deploy assets, in one command:
#   tests/deploy/run_all.sh [path-to-etl-medic-binary]
# The binary (for the configuration and end-to-end Prometheus checks) defaults to
# $ETL_MEDIC_BIN, then ${CARGO_TARGET_DIR:-target}/debug/etl-medic.
# Each check installs the pinned tool it needs on first use (see lib.sh),
# prints the tool's version and what it found; this script prints a summary
# and exits non-zero if any check failed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

binary=${1:-${ETL_MEDIC_BIN:-${CARGO_TARGET_DIR:-$DEPLOY_REPO_ROOT/target}/debug/etl-medic}}
checks=(cfn_lint checkov hadolint docker_build promtool assets config_env prometheus_e2e)
passed=0
failed=0
summary=()
for check in "${checks[@]}"; do
  args=()
  case "$check" in config_env | prometheus_e2e) args=("$binary") ;; esac
  echo "=== $check ${args[*]}"
  started=$(date +%s)
  if bash "$DEPLOY_REPO_ROOT/tests/deploy/$check.sh" "${args[@]}"; then
    status=ok
    passed=$((passed + 1))
  else
    status=FAILED
    failed=$((failed + 1))
  fi
  summary+=("$(printf '%-16s %-7s %4ss' "$check" "$status" "$(($(date +%s) - started))")")
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "deploy: $passed passed, $failed failed"
[ "$failed" = 0 ]
