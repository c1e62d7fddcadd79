#!/usr/bin/env bash
# Installs the local AWS emulator the integration tests run against: moto's
# server, pinned, in its own virtual environment under the etl-medic cache.
#
# Idempotent: when the venv already has exactly these versions it does
# nothing, so the test command can call it every time. Prints the path of the
# venv's python on its last line (tests/support finds it there by default,
# or through ETL_MEDIC_MOTO_PYTHON).
#
# Usage: bash tests/moto/setup.sh
# Env:   ETL_MEDIC_CACHE  (default $HOME/.cache/etl-medic)
#        ETL_MEDIC_PYTHON (interpreter used to create the venv, default python3)
set -euo pipefail

# Pinned: the tests rely on this moto's Glue job-run model (FakeJobRun) and on
# its SQS/DynamoDB/EventBridge behaviour; bump deliberately and rerun the tests.
MOTO_VERSION="5.2.5"
FLASK_VERSION="3.1.3"
FLASK_CORS_VERSION="6.0.5"

cache_dir="${ETL_MEDIC_CACHE:-$HOME/.cache/etl-medic}"
venv_dir="$cache_dir/venv-moto"
venv_python="$venv_dir/bin/python"
base_python="${ETL_MEDIC_PYTHON:-python3}"

installed_versions() {
    "$venv_python" - <<'PY' 2>/dev/null
from importlib.metadata import version
print(version("moto"), version("flask"), version("flask-cors"))
PY
}

wanted="$MOTO_VERSION $FLASK_VERSION $FLASK_CORS_VERSION"
if [[ -x "$venv_python" ]] && [[ "$(installed_versions || true)" == "$wanted" ]]; then
    echo "moto $MOTO_VERSION already installed in $venv_dir" >&2
    echo "$venv_python"
    exit 0
fi

mkdir -p "$cache_dir"
# Several test binaries (or CI jobs) may call this at once: one installs.
exec 9>"$cache_dir/venv-moto.lock"
flock 9
if [[ -x "$venv_python" ]] && [[ "$(installed_versions || true)" == "$wanted" ]]; then
    echo "$venv_python"
    exit 0
fi
if [[ ! -x "$venv_python" ]]; then
    "$base_python" -m venv "$venv_dir"
fi
"$venv_python" -m pip install --quiet --disable-pip-version-check \
    "moto[sqs,glue,events,logs,s3,sns,dynamodb]==$MOTO_VERSION" \
    "flask==$FLASK_VERSION" \
    "flask-cors==$FLASK_CORS_VERSION" >&2

if [[ "$(installed_versions)" != "$wanted" ]]; then
    echo "moto setup: expected versions '$wanted', found '$(installed_versions)'" >&2
    exit 1
fi
echo "moto $MOTO_VERSION installed in $venv_dir" >&2
echo "$venv_python"
