#!/usr/bin/env bash
# Creates (or refreshes) the project's one Python venv, .venv/, from the pinned requirements.txt:
# moto[server] (local DynamoDB), cargo-lambda (the `cargo lambda` binary and zig), aws-sam-cli and
# cfn-lint. Re-installs only when requirements.txt changed. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

python=${PYTHON:-python3}
echo "bootstrap: installing development tools into $venv (pinned in requirements.txt)" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
echo "$want" > "$stamp"
