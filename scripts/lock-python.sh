#!/usr/bin/env bash
# Regenerates the Python lock files from their top-level pins, for every Python the project
# supports (3.10 and newer) at once: uv's universal resolution writes one exact version per
# package, or one per Python range where a package dropped an older Python (an environment marker
# on the line, e.g. `; python_full_version < '3.11'`), for every platform. The lock files already
# there are uv's preferences, so a pin changes only when a supported Python needs it (add
# --upgrade to take the newest versions). Uses the uv that scripts/pip-install.sh pins.
#   requirements.in          -> requirements.txt            (.venv: sam, cfn-lint, cargo-lambda, ...)
#   requirements-checkov.in  -> requirements-checkov.txt    (.tools/checkov)
#
#   scripts/lock-python.sh [--upgrade]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. scripts/lib.sh
[ -x .venv/bin/uv ] || scripts/bootstrap.sh
for name in requirements requirements-checkov; do
  UV_CACHE_DIR=${UV_CACHE_DIR:-$PWD/.tools/uv-cache} .venv/bin/uv pip compile --quiet --universal \
    --python-version "$OLDEST_PYTHON" --only-binary :all: "$@" \
    --custom-compile-command "scripts/lock-python.sh" \
    "$name.in" -o "$name.txt"
  echo "lock-python: $name.txt from $name.in for Python >= $OLDEST_PYTHON"
done
