#!/usr/bin/env bash
# `make run`: the whole bundle on localhost.
#   1. the project venv (moto, cargo-lambda) from the pinned requirements.txt
#   2. moto's DynamoDB-compatible server on 127.0.0.1:$DYNAMODB_PORT (default 8000), in memory
#   3. the table, created from template.yaml
#   4. every function under `cargo lambda watch` on 127.0.0.1:$FUNCTIONS_PORT (default 9000),
#      e.g. http://127.0.0.1:9000/lambda-url/postback/
#   5. every file in events/ replayed through its function (the file name starts with the
#      function's name), printing each answer
# then serves until Ctrl-C and stops what it started. With --once it stops after step 5 and
# exits non-zero if an invocation failed (a smoke test of the whole path).
#
# Logs and state go outside the project tree (cargo lambda watch reloads on any change inside it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

once=false
[ "${1:-}" = "--once" ] && once=true

DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
FUNCTIONS_PORT=${FUNCTIONS_PORT:-9000}
LINKBEST_PORT=${LINKBEST_PORT:-9100}
rundir="${TMPDIR:-/tmp}/partner-ingest-run-$(id -u)"
mkdir -p "$rundir"

scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"

# local.env holds the non-secret local settings; the endpoint follows the chosen port.
set -a
# shellcheck source=../local.env
. ./local.env
set +a
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
export LINKBEST_API_BASE_URL="http://127.0.0.1:$LINKBEST_PORT"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  echo "run: stopped everything it started"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for_port() {
  local port=$1 what=$2 log=$3
  for _ in $(seq 1 600); do
    port_open "$port" && return 0
    sleep 0.5
  done
  echo "run: $what did not open port $port; see $log" >&2
  tail -n 30 "$log" >&2 || true
  exit 1
}

for port in "$DYNAMODB_PORT" "$FUNCTIONS_PORT" "$LINKBEST_PORT"; do
  if port_open "$port"; then
    echo "run: port $port is already in use (another make run?); set DYNAMODB_PORT / FUNCTIONS_PORT / LINKBEST_PORT" >&2
    exit 1
  fi
done

echo "run: building the functions (debug)"
cargo build --quiet --workspace --bins

echo "run: DynamoDB (moto, in memory) on 127.0.0.1:$DYNAMODB_PORT, log $rundir/dynamodb.log"
setsid .venv/bin/python scripts/local_dynamodb.py --port "$DYNAMODB_PORT" >"$rundir/dynamodb.log" 2>&1 &
pids+=($!)
wait_for_port "$DYNAMODB_PORT" "DynamoDB" "$rundir/dynamodb.log"

"$root/target/debug/create-local-table" | sed 's/^/run: /'

echo "run: Linkbest API stand-in on 127.0.0.1:$LINKBEST_PORT, log $rundir/linkbest.log"
setsid "$root/target/debug/linkbest-standin" --port "$LINKBEST_PORT" >"$rundir/linkbest.log" 2>&1 &
pids+=($!)
wait_for_port "$LINKBEST_PORT" "the Linkbest stand-in" "$rundir/linkbest.log"

functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done

echo "run: functions (${functions[*]}) on 127.0.0.1:$FUNCTIONS_PORT, log $rundir/functions.log"
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$FUNCTIONS_PORT" \
  --env-file local.env --env-var "AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB" \
  --env-var "LINKBEST_API_BASE_URL=$LINKBEST_API_BASE_URL" \
  >"$rundir/functions.log" 2>&1 &
pids+=($!)
wait_for_port "$FUNCTIONS_PORT" "cargo lambda watch" "$rundir/functions.log"

# The function an event belongs to: the longest function name its file name starts with.
function_of() {
  local file best=""
  file=$(basename "$1")
  for fn in "${functions[@]}"; do
    if [[ $file == "$fn-"* && ${#fn} -gt ${#best} ]]; then best=$fn; fi
  done
  echo "$best"
}

failed=0
echo "run: replaying events/"
for event in events/*.json; do
  fn=$(function_of "$event")
  if [ -z "$fn" ]; then
    echo "  $event: no function named like it, skipped"
    continue
  fi
  if answer=$(cargo lambda invoke "$fn" --invoke-address 127.0.0.1 --invoke-port "$FUNCTIONS_PORT" \
      --data-file "$event" --output-format json 2>&1); then
    printf '  %-45s -> %s\n' "$event" "$(.venv/bin/python scripts/summarize_answer.py "$answer")"
  else
    failed=1
    printf '  %-45s -> INVOKE FAILED: %s\n' "$event" "$answer"
  fi
done

echo "run: the operator command on the local table (ops latest pushes 3)"
"$root/target/debug/ops" latest pushes 3 2>&1 | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] || failed=1

if $once; then
  echo "run: load test (bounded, loopback) against the served functions"
  FUNCTIONS_URL="http://127.0.0.1:$FUNCTIONS_PORT" "$root/target/debug/load-test" | sed 's/^/  /' || failed=1
  # No secret, token or signature may ever reach a log line.
  leaks=$(.venv/bin/python scripts/find_secrets_in_logs.py "$rundir/functions.log" local.env events) || failed=1
  echo "  $leaks"
  exit "$failed"
fi

cat <<EOF
run: serving until Ctrl-C
  postback:  curl -X POST http://127.0.0.1:$FUNCTIONS_PORT/lambda-url/postback/ -d @push.json
  settlement-sync:  cargo lambda invoke settlement-sync --invoke-address 127.0.0.1 \
               --invoke-port $FUNCTIONS_PORT --data-ascii '{"from": 1793491200, "to": 1793577600}'
  callback:  curl -X POST http://127.0.0.1:$FUNCTIONS_PORT/lambda-url/callback/ -d @callback.json \
               -H "X-Request-Id: …" -H "X-Timestamp: …" -H "X-Signature: …"
  DynamoDB:  AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB (table $TABLE_NAME)
  function logs follow:
EOF
tail -n 0 -f "$rundir/functions.log" &
pids+=($!)
wait "${pids[2]}"
