#!/usr/bin/env bash
# Runs every numbered acceptance script (seed 004) against one baton binary:
# $BATON_BIN, or target/debug/baton built once here. Prints each script's
# result (its checks' output when it fails), then `N passed, M failed` over
# the scripts, and exits non-zero when any failed. VERBOSE=1 prints every
# script's output.
set -euo pipefail
ACC_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$ACC_DIR/../.." && pwd)

if [[ -z "${BATON_BIN:-}" ]]; then
  (cd "$REPO_ROOT" && cargo build --quiet)
  BATON_BIN=$REPO_ROOT/target/debug/baton
fi
export BATON_BIN

passed=0
failed=0
failed_names=()
log=$(mktemp "${TMPDIR:-/tmp}/baton-acceptance-run.XXXXXX")
trap 'rm -f "$log"' EXIT
all_start=$(date +%s%N)
for script in "$ACC_DIR"/[0-9][0-9]-*.sh; do
  name=$(basename "$script" .sh)
  start=$(date +%s%N)
  rc=0
  bash "$script" >"$log" 2>&1 || rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
  if [[ "$rc" -eq 0 ]]; then
    passed=$((passed + 1))
    printf 'PASS  %-28s %-22s %6.1fs\n' "$name" "$summary" "$(awk -v m="$ms" 'BEGIN { print m / 1000 }')"
    if [[ "${VERBOSE:-0}" == 1 ]]; then
      sed 's/^/      /' "$log"
    fi
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    printf 'FAIL  %-28s %-22s %6.1fs (exit %s)\n' "$name" "${summary:-no summary}" "$(awk -v m="$ms" 'BEGIN { print m / 1000 }')" "$rc"
    sed 's/^/      /' "$log"
  fi
done
total_ms=$((($(date +%s%N) - all_start) / 1000000))
echo "acceptance: $((passed + failed)) scripts in $(awk -v m="$total_ms" 'BEGIN { printf "%.1f", m / 1000 }')s${failed_names[*]:+; failed: ${failed_names[*]}}"
echo "$passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
