#!/usr/bin/env bash
# The benchmarks: one command, one table (bench/README.md explains every row).
#
#   bench/run.sh              everything, including the arm64 build (cargo lambda + zig)
#   bench/run.sh --no-arm64   skip the arm64 build (its rows then say "not built")
#
# Steps: the project's tools (scripts/bootstrap.sh: DynamoDB Local, aws-sam-cli with AWS's Lambda
# Runtime Interface Emulator, cargo-lambda) and the baseline's own venv (Powertools, boto3,
# awslambdaric) from pinned lock files; release builds of the three functions and of the
# hello-world floor (bench/hello); criterion (per-request CPU); `cargo lambda build --release
# --arm64`; then the bench runner, which starts DynamoDB Local behind a counting proxy and a
# Linkbest stand-in, runs the release binaries and the Python baseline under the emulator, and
# prints the table. The table also goes to target/bench-report.md. Environment knobs: see
# bench/src/main.rs (BENCH_SECONDS, ...).
#
# Never part of `make test`: release builds take minutes and timings belong here, not in tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

arm64=1
for arg in "$@"; do
  case "$arg" in
    --no-arm64) arm64=0 ;;
    *) echo "bench/run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

scripts/bootstrap.sh
export PATH="$root/.venv/bin:$PATH"

baseline=bench/baseline/.venv
stamp="$baseline/.requirements.sha256"
want=$(sha256sum bench/baseline/requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bench: installing the Python baseline into $baseline" >&2
  [ -x "$baseline/bin/python" ] || "${PYTHON:-python3}" -m venv "$baseline"
  scripts/pip-install.sh "$baseline" bench/baseline/requirements.txt
  echo "$want" > "$stamp"
fi

echo "bench: release build of the functions and the hello-world floor" >&2
cargo build --release --locked -p postback -p callback -p linkbest-sync -p publisher -p hello

echo "bench: criterion (per-request CPU)" >&2
cargo bench --locked -p bench --bench handlers >target/bench-criterion.log 2>&1 ||
  { tail -30 target/bench-criterion.log >&2; exit 1; }

if [ "$arm64" = 1 ]; then
  echo "bench: cargo lambda build --release --arm64" >&2
  cargo lambda build --release --arm64 --locked -p postback -p callback -p linkbest-sync
fi

echo "bench: measuring (a few minutes)" >&2
env -u AWS_ENDPOINT_URL_DYNAMODB BENCH_PYTHON="$root/$baseline/bin/python" \
  cargo run --quiet --locked -p bench --bin bench | tee target/bench-report.md
