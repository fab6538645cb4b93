#!/usr/bin/env bash
# Installs a pinned requirements file into a venv with uv (from PyPI, pinned here): the same
# packages pip would install, in seconds instead of minutes (aws-sam-cli and its dependencies took
# pip about 90 s on these machines, uv about 6 s). uv's download cache stays in the project
# (.tools/uv-cache, ignored by git).
#
#   scripts/pip-install.sh VENV REQUIREMENTS_FILE
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: scripts/pip-install.sh VENV REQUIREMENTS_FILE}
requirements=${2:?usage: scripts/pip-install.sh VENV REQUIREMENTS_FILE}
UV_VERSION=0.13.9
if ! "$venv/bin/uv" --version 2>/dev/null | grep -q " $UV_VERSION"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
UV_CACHE_DIR=${UV_CACHE_DIR:-$PWD/.tools/uv-cache} \
  "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" -r "$requirements"
