#!/usr/bin/env bash
# Adds up the Surefire reports of every module (and of extra executions, surefire-reports-*) into one closing line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
tests=0 failed=0 errors=0 skipped=0
for f in */target/surefire-reports/TEST-*.xml */target/surefire-reports-*/TEST-*.xml; do
  line=$(grep -m1 -o '<testsuite [^>]*>' "$f")
  get() { printf '%s' "$line" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  tests=$((tests + $(get tests))); failed=$((failed + $(get failures)))
  errors=$((errors + $(get errors))); skipped=$((skipped + $(get skipped)))
done
echo "tests: $((tests - failed - errors - skipped)) passed, $((failed + errors)) failed, $skipped skipped"
