#!/usr/bin/env bash
# `make test`: every quality gate, in the order that fails fastest, each step with its duration.
#   formatting, clippy (warnings are errors), the debug build, unit + integration tests (the
#   integration test binary starts its own DynamoDB Local on a free port, or uses
#   AWS_ENDPOINT_URL_DYNAMODB when it is set), the supply-chain audit (cargo deny; offline when a
#   RustSec snapshot is given, see scripts/audit.sh),
#   `sam validate --lint` (cfn-lint) on template.yaml, and its security scan (checkov, offline).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. scripts/lib.sh

step "bootstrap (project-local tools from pinned lock files)"
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings

step "cargo build (debug: every binary and test target, shared with make run / smoke / invoke)"
debug_build

step "cargo test (unit and integration)"
cargo test --workspace --locked --quiet

step "cargo deny check (advisories: a RustSec snapshot offline when given, else fetched; licenses, bans, sources)"
scripts/audit.sh

step "the event contract in the registry's form is the contract's (scripts/registry_schema.py --check)"
.venv/bin/python scripts/registry_schema.py --check

step "sam validate --lint (cfn-lint)"
SAM_CLI_TELEMETRY=0 sam validate --lint --region us-east-1 --template-file template.yaml

step "checkov (security scan of template.yaml, offline; every skip carries its reason)"
scripts/checkov.sh

step_done
echo "all checks passed"
