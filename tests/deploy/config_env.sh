#!/usr/bin/env bash
# The task definition's ETL_MEDIC__* variables against the real configuration
# loader (`etl-medic config`), see check_config_env.py.
# Usage: tests/deploy/config_env.sh <path-to-etl-medic-binary>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
binary=${1:-}
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
  echo "usage: $0 <path-to-etl-medic-binary> (got '${binary}', not an executable)" >&2
  exit 2
fi
deploy_ensure_venv
"$DEPLOY_VENV/bin/python" "$DEPLOY_REPO_ROOT/tests/deploy/check_config_env.py" "$binary"
