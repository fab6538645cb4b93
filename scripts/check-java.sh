#!/usr/bin/env bash
# Amazon DynamoDB Local needs Java 17 or newer. Fails with the Debian package to install otherwise.
set -euo pipefail
fail() {
  echo "java: $1. DynamoDB Local (the local DynamoDB of make run / make test) needs Java 17 or newer:" >&2
  echo "      on Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless" >&2
  exit 1
}
command -v java >/dev/null 2>&1 || fail "not found on PATH"
version=$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$version" ] || fail "could not read the version of $(command -v java)"
[ "$version" -ge 17 ] || fail "found Java $version"
