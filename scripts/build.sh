#!/usr/bin/env bash
# The deployable build, as CI checks it (`make build`): every function for Lambda on arm64 with
# `cargo lambda build --release --arm64` (cross-compiled with the zig that the cargo-lambda wheel
# brings; no Docker), then `sam build` on template.yaml (BuildMethod rust-cargolambda, which calls
# cargo lambda itself and here finds everything built), and a check that each artifact is an
# aarch64 executable. Artifacts: target/deploy/lambda/<function>/bootstrap and .aws-sam/build/,
# and the operator's command target/deploy/dist/ops-linux-arm64.
#
# The build has a target folder of its own (target/deploy, CARGO_TARGET_DIR), so it never waits for
# the lock of the debug builds' folder: CI runs it beside `make test` and `make smoke`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target/deploy}

scripts/bootstrap.sh
export PATH="$(pwd)/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0

# The four functions and the operator's command (issue #29.5) in one build: one feature
# resolution, so `shared` and the runtime crates are compiled once for all of them; `ops` is a
# Linux arm64 executable for an operator's shell in AWS (CloudShell, a bastion), copied to
# target/deploy/dist/. For the operator's own machine: `make install-ops`.
echo "== cargo lambda build --release --arm64 (functions and ops, into $CARGO_TARGET_DIR)" >&2
cargo lambda build --release --arm64 --locked \
  -p postback -p callback -p linkbest-sync -p publisher -p ops
mkdir -p "$CARGO_TARGET_DIR/dist"
cp "$CARGO_TARGET_DIR/lambda/ops/bootstrap" "$CARGO_TARGET_DIR/dist/ops-linux-arm64"

echo "== sam build (no container)" >&2
# rust-cargolambda is still a beta build method in SAM.
sam build --beta-features --build-dir .aws-sam/build

python3 - <<'PY'
import os, pathlib, sys
# ELF header: e_machine at offset 18, little endian; 183 (0xB7) is AArch64.
failed = False
for function, resource in [("postback", "PostbackFunction"), ("callback", "CallbackFunction"),
                           ("linkbest-sync", "LinkbestSyncFunction"), ("publisher", "PublisherFunction")]:
    for path in [pathlib.Path(os.environ["CARGO_TARGET_DIR"]) / "lambda" / function / "bootstrap",
                 pathlib.Path(".aws-sam/build") / resource / "bootstrap"]:
        data = path.read_bytes() if path.exists() else b""
        ok = data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183
        print(f"{path}: {len(data) / 1048576:.2f} MiB, {'aarch64 ELF' if ok else 'NOT an aarch64 executable'}")
        failed |= not ok
ops = pathlib.Path(os.environ["CARGO_TARGET_DIR"]) / "dist" / "ops-linux-arm64"
data = ops.read_bytes() if ops.exists() else b""
ok = data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183 and b"ops reprocess refused" in data
print(f"{ops}: {len(data) / 1048576:.2f} MiB, {'aarch64 ELF with the full --help' if ok else 'NOT the aarch64 ops'}")
failed |= not ok
sys.exit(1 if failed else 0)
PY
