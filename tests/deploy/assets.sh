#!/usr/bin/env bash
# Structural assertions on the template, dashboard and Dockerfile (see
# check_assets.py), with the deploy venv's Python for cfn-lint's YAML loader,
# and amtool for the alert manager definition inside the template.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
deploy_ensure_venv
deploy_ensure_amtool
"$DEPLOY_VENV/bin/python" "$DEPLOY_REPO_ROOT/tests/deploy/check_assets.py"
