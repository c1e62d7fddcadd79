#!/usr/bin/env bash
# cfn-lint (pinned in lib.sh) over the CloudFormation template: any error,
# warning or informational (I*) finding fails the check.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
deploy_ensure_venv
"$DEPLOY_VENV/bin/cfn-lint" --version
"$DEPLOY_VENV/bin/cfn-lint" --include-checks I -- "$DEPLOY_REPO_ROOT/deploy/cloudformation/etl-medic.yaml"
echo "cfn-lint: deploy/cloudformation/etl-medic.yaml clean"
