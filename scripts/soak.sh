#!/usr/bin/env bash
# `make soak` (not in CI): the history checker played for a long time (tests/bin/soak.rs) against
# a DynamoDB Local of its own (or AWS_ENDPOINT_URL_DYNAMODB when set).
#   SOAK_DELIVERIES=100000 (default)   stop after this many deliveries
#   SOAK_SECONDS=<n>                   or after this long, whichever comes first
#   HISTORY_SEED=<n>                   replay a soak from its base seed (printed at the start)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh
. scripts/lib.sh

step "bootstrap (project-local tools from pinned lock files)"
scripts/bootstrap.sh

step "soak (cargo run -p integration-tests --bin soak)"
# stdout holds the handlers' EMF metric lines, one per delivery; the report is on stderr.
cargo run --locked --quiet -p integration-tests --bin soak >/dev/null

step_done
