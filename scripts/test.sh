#!/usr/bin/env bash
# `make test`: every quality gate, in the order that fails fastest.
#   formatting, clippy (warnings are errors), unit + integration tests (the integration tests start
#   their own moto server on a free port, or use AWS_ENDPOINT_URL_DYNAMODB when it is set), and
#   `sam validate --lint` (cfn-lint) on template.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test (unit and integration, debug build)"
cargo test --workspace --quiet

step "sam validate --lint (cfn-lint)"
SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1 --template-file template.yaml

step "all checks passed"
