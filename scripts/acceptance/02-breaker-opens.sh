#!/usr/bin/env bash
# Acceptance scenario 2 (circuit breaker opens): the primary `synthetic` wants
# a key that its profile does not have (auth-key-env names a variable holding
# a wrong key), so each run gets a 401 there and fails over to `chutes`. With
# circuit_breaker_failure_threshold 2 the second failure opens the breaker,
# which is persisted: the third one-shot run skips synthetic without a request.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {
  "synthetic": {"behavior": {"kind": "answer"}, "require_key": "sk-synthetic-right"},
  "chutes":    {"behavior": {"kind": "answer"}},
  "groqgpt":   {"behavior": {"kind": "answer"}}
}}'
member_profile synthetic --set auth-key-env=BATON_ACC_SYNTHETIC_KEY
member_profile chutes
member_profile groqgpt
export BATON_ACC_SYNTHETIC_KEY=sk-synthetic-wrong
lb_profile testlb489 --policy failover synthetic chutes groqgpt \
  --set timeout_ms=30000 \
  --set circuit_breaker_enabled=true \
  --set circuit_breaker_failure_threshold=2 \
  --set circuit_breaker_failure_window_ms=60000 \
  --set circuit_breaker_recovery_timeout_ms=30000 \
  --set failover_retry_count=2 \
  --set failover_retry_delay_ms=1000

step "Run 1: 401 on synthetic (no retry for auth errors), answer from chutes"
run_baton run1 --profile-load testlb489 --prompt "first request"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] synthetic failed: 401 Unauthorized" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_no_line "$ERR" "Trying backend: synthetic (attempt 2/2)"
expect_no_line "$ERR" "[circuit-breaker] synthetic: Marked unhealthy"
expect_no_line "$ERR" "[circuit-breaker] synthetic: State = open"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "Run 2: the second 401 opens the breaker"
run_baton run2 --profile-load testlb489 --prompt "second request"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] synthetic failed: 401 Unauthorized" \
  "[circuit-breaker] synthetic: Marked unhealthy (2 failures in window)" \
  "[circuit-breaker] synthetic: State = open" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."
expect_eq "requests that reached synthetic" "$(mock_requests synthetic)" 2

step "Run 3 (a new process): synthetic is skipped, chutes answers"
run_baton run3 --profile-load testlb489 --stats --prompt "third request"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Skipping unhealthy backend: synthetic" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_no_line "$ERR" "Trying backend: synthetic"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."
expect_eq "requests that reached synthetic" "$(mock_requests synthetic)" 2
expect_eq "requests that reached chutes" "$(mock_requests chutes)" 3
lb_block "$ERR" >"$WORK/run3.stats"
expect_in_order "$WORK/run3.stats" \
  "Circuit Breaker States:" \
  "  synthetic: open" \
  "  chutes: closed" \
  "  groqgpt: closed"

step "baton state show reports the open breaker"
run_plain show state show testlb489
expect_exit 0
expect_line "$OUT" "Profile: testlb489"
expect_line "$OUT" "  synthetic: open"
expect_line "$OUT" "  chutes: closed"
expect_no_line "$OUT" "sk-synthetic"

finish
