#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, starting from the committed seed corpus
# (fuzz/seeds/<target>: the partner documents' examples), and prints executions and crashes.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
#
# cargo-fuzz is installed into .tools/ from crates.io (pinned). It needs nightly-only compiler
# flags; the machines have the stable toolchain only, so RUSTC_BOOTSTRAP=1 enables them.
# A crash leaves its input in fuzz/artifacts/<target>/; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
tools=$PWD/.tools
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "fuzz: installing cargo-fuzz 0.13.2 into .tools/" >&2
  cargo install --quiet --locked --root "$tools" cargo-fuzz --version 0.13.2
fi
export RUSTC_BOOTSTRAP=1
cd fuzz
"$tools/bin/cargo-fuzz" build -O
status=0
for target in postback_body callback_request linkbest_page stream_record; do
  mkdir -p "corpus/$target"
  cp -n "seeds/$target"/* "corpus/$target/" 2>/dev/null || true
  log="target/fuzz-$target.log"
  if "$tools/bin/cargo-fuzz" run -O "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 >"$log" 2>&1; then
    result="no crash"
  else
    result="CRASH (see fuzz/artifacts/$target/ and fuzz/$log)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  printf 'fuzz: %-20s %8s s  %10s executions  %-10s  %s\n' "$target" "$seconds" "$runs" "$cov" "$result"
done
exit $status
