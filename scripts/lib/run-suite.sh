#!/usr/bin/env bash
# Runs every numbered script (NN-*.sh) in a folder against one baton binary:
# $BATON_BIN, or target/debug/baton built once here (and the same for
# $BATON_FIXTURE, the profile writer). Prints each script's result
# (its checks' output when it fails, or always with VERBOSE=1), then
# `N passed, M failed` over the scripts; exits non-zero when any failed.
# Usage: run-suite.sh DIR LABEL   (shared by scripts/acceptance and scripts/e2e)
set -euo pipefail
SUITE_DIR=$(cd "$1" && pwd)
LABEL=$2
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)

if [[ -z "${BATON_BIN:-}" ]]; then
  (cd "$REPO_ROOT" && cargo build --quiet)
  BATON_BIN=$REPO_ROOT/target/debug/baton
fi
if [[ -z "${BATON_FIXTURE:-}" ]]; then
  (cd "$REPO_ROOT" && cargo build --quiet -p baton-test-support --bin baton-fixture)
  BATON_FIXTURE=$REPO_ROOT/target/debug/baton-fixture
fi
export BATON_BIN BATON_FIXTURE

passed=0
failed=0
failed_names=()
log=$(mktemp "${TMPDIR:-/tmp}/baton-$LABEL-run.XXXXXX")
trap 'rm -f "$log"' EXIT
seconds() { awk -v m="$1" 'BEGIN { printf "%.1f", m / 1000 }'; }
all_start=$(date +%s%N)
for script in "$SUITE_DIR"/[0-9][0-9]-*.sh; do
  name=$(basename "$script" .sh)
  start=$(date +%s%N)
  rc=0
  bash "$script" >"$log" 2>&1 || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
  if [[ "$rc" -eq 0 ]]; then
    passed=$((passed + 1))
    printf 'PASS  %-28s %-22s %6ss\n' "$name" "$summary" "$(seconds "$ms")"
    if [[ "${VERBOSE:-0}" == 1 ]]; then
      sed 's/^/      /' "$log"
    fi
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    printf 'FAIL  %-28s %-22s %6ss (exit %s)\n' "$name" "${summary:-no summary}" "$(seconds "$ms")" "$rc"
    sed 's/^/      /' "$log"
  fi
done
total_ms=$((($(date +%s%N) - all_start) / 1000000))
echo "$LABEL: $((passed + failed)) scripts in $(seconds "$total_ms")s${failed_names[*]:+; failed: ${failed_names[*]}}"
echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
