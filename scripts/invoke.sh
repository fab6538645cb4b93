#!/usr/bin/env bash
# `make invoke FN=<function> EVENT=<file>`: what `sam local invoke <Function> -e <file>` does,
# without Docker. The function's own bootstrap runs under AWS's Lambda Runtime Interface Emulator
# (aws-lambda-rie, the program `sam local invoke` runs inside its container; shipped in the
# aws-sam-cli wheel), with the timeout and memory template.yaml gives it and the settings of
# local.env, against the local stack:
#   - when `make run` serves (something listens on DYNAMODB_PORT, default 8000), its DynamoDB Local
#     and Linkbest stand-in;
#   - otherwise a private DynamoDB Local and stand-in on free ports, with the table created from
#     template.yaml, stopped again afterwards.
# Prints the function's log lines and the emulator's INIT REPORT / REPORT lines on stderr and the
# answer on stdout. Exits non-zero when the invocation failed (the emulator answered an error, or no
# REPORT line came).
#
#   scripts/invoke.sh FUNCTION EVENT_FILE
#   PROFILE=release scripts/invoke.sh ...   the release build (default: debug)
#   INVOKE_LOG=<file>                        also keep the emulator's whole log there
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=lib.sh
. scripts/lib.sh

fn=${1:-}
event=${2:-}
if [ -z "$fn" ] || [ -z "$event" ]; then
  echo "usage: make invoke FN=<function> EVENT=<events/file.json>   (functions: $(ls functions | tr '\n' ' '))" >&2
  exit 2
fi
[ -f "$event" ] || { echo "invoke: no such event file: $event" >&2; exit 2; }
[ -d "functions/$fn" ] || { echo "invoke: no function $fn (functions: $(ls functions | tr '\n' ' '))" >&2; exit 2; }

scripts/bootstrap.sh
read -r resource timeout memory < <(.venv/bin/python scripts/template_function.py "$fn")
rie=$(rie_binary)

profile=${PROFILE:-debug}
# The local tools (and the debug functions) come from the one debug build; a release function is
# built on its own.
debug_build
[ "$profile" = release ] && cargo build --quiet --locked --release --bin "$fn"

set -a
# shellcheck source=../local.env
. ./local.env
set +a

pids=()
workdir=$(mktemp -d "${TMPDIR:-/tmp}/partner-ingest-invoke.XXXXXX")
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
LINKBEST_PORT=${LINKBEST_PORT:-9100}
if port_open "$DYNAMODB_PORT"; then
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
else
  port=$(free_port)
  scripts/dynamodb-local.sh "$port" >"$workdir/dynamodb.log" 2>&1 &
  pids+=($!)
  wait_for_port "$port" "invoke: DynamoDB Local" "$workdir/dynamodb.log"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
fi
"target/debug/create-local-table" >/dev/null
# The stand-ins: the one already answering on its port (make run's), else one of our own.
# Sets $url to its base URL.
stand_in() {
  local port=$1 what=$2 log=$3
  shift 3
  if ! port_open "$port"; then
    port=$(free_port)
    "$@" --port "$port" >"$log" 2>&1 &
    pids+=($!)
    wait_for_port "$port" "invoke: $what" "$log"
  fi
  url="http://127.0.0.1:$port"
}
stand_in "$LINKBEST_PORT" "the Linkbest stand-in" "$workdir/linkbest.log" target/debug/linkbest-standin
export LINKBEST_API_BASE_URL=$url
stand_in "${BUS_PORT:-9200}" "the EventBridge stand-in" "$workdir/bus.log" target/debug/eventbridge-standin
export AWS_ENDPOINT_URL_EVENTBRIDGE=$url

rie_port=$(free_port)
api_port=$(free_port)
log=${INVOKE_LOG:-$workdir/rie.log}
# Every invocation is traced, as Lambda traces it with active tracing (issue #30.1): an X-Ray
# trace header (TRACE_HEADER, else a new one) handed to the function as Lambda-Runtime-Trace-Id
# by scripts/trace_runtime.py (the emulator does not pass one on); printed so a run can follow it
# to the bus.
trace=${TRACE_HEADER:-$(python3 -c 'import os,time; print(f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=1")')}
printf '%s\n' "$trace" >"$workdir/trace"
AWS_LAMBDA_FUNCTION_NAME=$fn AWS_LAMBDA_FUNCTION_TIMEOUT=$timeout AWS_LAMBDA_FUNCTION_MEMORY_SIZE=$memory \
  "$rie" --runtime-interface-emulator-address "127.0.0.1:$rie_port" \
  --runtime-api-address "127.0.0.1:$api_port" "$root/scripts/trace_runtime.py" "$workdir/trace" \
  "$root/target/$profile/$fn" >"$log" 2>&1 &
pids+=($!)
wait_for_port "$rie_port" "invoke: aws-lambda-rie" "$log"

echo "invoke: $resource ($fn, $profile build, timeout ${timeout}s, memory ${memory} MB) <- $event" >&2
echo "invoke: trace $trace" >&2
answer=$(python3 - "$rie_port" "$event" "$timeout" "$trace" <<'PY'
import sys, urllib.request
port, event, timeout, trace = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
    data=open(event, "rb").read(), method="POST", headers={"X-Amzn-Trace-Id": trace})
with urllib.request.urlopen(request, timeout=timeout + 30) as response:
    sys.stdout.write(response.read().decode("utf-8", "replace"))
PY
)

# The emulator prints REPORT right after the answer.
for _ in $(seq 1 50); do
  grep -q '^REPORT RequestId' "$log" && break
  sleep 0.1
done
# The function's own lines (JSON logs and EMF) and the emulator's reports, as sam local invoke shows them.
grep -E '^\{|INIT REPORT|^REPORT RequestId' "$log" | sed -E 's/^[0-9]+ [A-Za-z]+ [0-9]+ [0-9:,]+ \[INFO\] \(rapid\) //' >&2 || true
printf '%s\n' "$answer"

grep -q '^REPORT RequestId' "$log" || { echo "invoke: no REPORT line from the emulator" >&2; exit 1; }
if python3 -c 'import json,sys; a=json.loads(sys.argv[1]); sys.exit(0 if isinstance(a, dict) and "errorType" in a else 1)' "$answer" 2>/dev/null; then
  echo "invoke: the function answered an error" >&2
  exit 1
fi
