#!/usr/bin/env bash
# Acceptance scenario 1 (timeout trigger): the primary `synthetic` sends its
# response head at once but its first chunk only after 3 s; with timeout_ms
# 1000 (the spec's 5000, shortened to stay fast) baton gives up on it after
# 1 s, fails over to `chutes` without retrying synthetic, and nothing from
# synthetic reaches stdout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {
  "synthetic": {"behavior": {"kind": "answer", "text": "PARTIAL from synthetic, must never be shown", "first_chunk_delay_ms": 3000}},
  "chutes":    {"behavior": {"kind": "answer"}},
  "groqgpt":   {"behavior": {"kind": "answer"}},
  "down":      {"behavior": {"kind": "status", "code": 503}}
}}'
for name in synthetic chutes groqgpt down; do
  member_profile "$name"
done
lb_profile testlb489 --policy failover synthetic chutes groqgpt \
  --set timeout_ms=1000 \
  --set circuit_breaker_enabled=true \
  --set circuit_breaker_failure_threshold=3 \
  --set circuit_breaker_failure_window_ms=60000 \
  --set circuit_breaker_recovery_timeout_ms=30000 \
  --set failover_retry_count=2 \
  --set failover_retry_delay_ms=1000

step "A slow primary times out after timeout_ms and the prompt fails over"
run_baton slow --profile-load testlb489 --prompt "write me a haiku about testing"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:timeout] synthetic: Request exceeded 1000ms" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_match "$ERR" '^\[LB:failover\] synthetic: Backend timeout \([0-9]+ms > 1000ms\), failing over$'
actual=$(first_number "$ERR" '^\[LB:failover\] synthetic: Backend timeout \(([0-9]+)ms > 1000ms\)')
expect_true "the reported wait (${actual:-none}ms) is at least the limit" \
  test "${actual:-0}" -ge 1000
expect_no_line "$ERR" "Trying backend: synthetic (attempt 2/2)"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."
expect_no_line "$OUT" "synthetic"
expect_no_line "$OUT" "PARTIAL"
expect_true "timed out after ~1 s, not after the backend's 3 s (took ${ELAPSED_MS}ms)" \
  test "$ELAPSED_MS" -ge 1000 -a "$ELAPSED_MS" -lt 2800

step "The same with --output-format json: the answer's provenance is chutes"
run_baton json --profile-load testlb489 --output-format json --prompt "write me a haiku about testing"
expect_exit 0
expect_line "$ERR" "[LB:timeout] synthetic: Request exceeded 1000ms"
backend=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["backend"])' "$OUT" 2>/dev/null || echo "not JSON")
expect_eq "json .backend" "$backend" "chutes"
expect_no_line "$OUT" "PARTIAL"

step "--set timeout_ms overrides the profile"
run_baton override --profile-load testlb489 --set timeout_ms=1200 --prompt "hi"
expect_exit 0
expect_line "$ERR" "[LB:timeout] synthetic: Request exceeded 1200ms"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "Every backend temporarily down (a timeout and a 503): exit 75, nothing on stdout"
lb_profile slowanddown --policy failover synthetic down \
  --set timeout_ms=1000 \
  --set failover_retry_count=1
run_baton exhausted --profile-load slowanddown --prompt "hi"
expect_exit 75
expect_line "$ERR" "[LB:timeout] synthetic: Request exceeded 1000ms"
expect_match "$ERR" '^\[LB:failover\] down failed after 1 attempt: 503'
expect_file_eq "$OUT" ""

finish
