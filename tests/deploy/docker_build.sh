#!/usr/bin/env bash
# The Dockerfile's build, replayed offline without Docker (see
# check_docker_build.py): the build context as .dockerignore leaves it, every
# COPY and RUN of every stage, and every cargo command checked by the real
# cargo (fetch + metadata, no compilation) on the tree that command would see.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v cargo >/dev/null || { echo "FAIL: cargo is not on PATH" >&2; exit 1; }
cargo --version
python3 "$DEPLOY_REPO_ROOT/tests/deploy/check_docker_build.py"
