#!/usr/bin/env bash
# Acceptance scenario 3 (circuit breaker recovery), with
# circuit_breaker_recovery_timeout_ms 1000 (the spec's 10000, shortened). The
# breaker on `synthetic` is opened as in scenario 2 (two 401s). After the
# recovery timeout a run sends exactly one half-open probe; while the key is
# still wrong the probe fails and the breaker opens again. Once the right key
# is exported, the next probe succeeds, the breaker closes, the answer comes
# from synthetic, and the run after that stays on synthetic.
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
  --set circuit_breaker_recovery_timeout_ms=1000 \
  --set failover_retry_count=2 \
  --set failover_retry_delay_ms=1000

step "Open the breaker: two runs with a wrong key"
run_baton open1 --profile-load testlb489 --prompt "one"
expect_exit 0
run_baton open2 --profile-load testlb489 --prompt "two"
expect_exit 0
expect_line "$ERR" "[circuit-breaker] synthetic: State = open"
run_baton open3 --profile-load testlb489 --prompt "three"
expect_exit 0
expect_line "$ERR" "[LB:failover] Skipping unhealthy backend: synthetic"
expect_no_line "$ERR" "Testing recovery"
expect_eq "requests that reached synthetic" "$(mock_requests synthetic)" 2

step "After the recovery timeout, still the wrong key: one probe fails, open again"
sleep 1.2 # the scenario is about time passing: recovery timeout is 1000 ms
run_baton probe-fails --profile-load testlb489 --prompt "four"
expect_exit 0
expect_in_order "$ERR" \
  "[circuit-breaker] synthetic: Testing recovery (half-open)" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] synthetic failed: 401 Unauthorized" \
  "[circuit-breaker] synthetic: State = open" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_no_line "$ERR" "Recovered (state = closed)"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."
expect_eq "requests that reached synthetic (one probe)" "$(mock_requests synthetic)" 3
run_baton reopened --profile-load testlb489 --prompt "five"
expect_exit 0
expect_line "$ERR" "[LB:failover] Skipping unhealthy backend: synthetic"
expect_no_line "$ERR" "Trying backend: synthetic"
expect_eq "requests that reached synthetic" "$(mock_requests synthetic)" 3

step "Fix the key, wait past the recovery timeout: the probe succeeds and closes the breaker"
export BATON_ACC_SYNTHETIC_KEY=sk-synthetic-right
sleep 1.2 # the scenario is about time passing: recovery timeout is 1000 ms
run_baton recover --profile-load testlb489 --prompt "six"
expect_exit 0
expect_in_order "$ERR" \
  "[circuit-breaker] synthetic: Testing recovery (half-open)" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] Success on backend: synthetic" \
  "[circuit-breaker] synthetic: Recovered (state = closed)"
expect_no_line "$ERR" "Trying backend: chutes"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."

step "The next run stays on synthetic, breaker closed"
run_baton after --profile-load testlb489 --stats --prompt "seven"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] Success on backend: synthetic"
expect_no_line "$ERR" "Testing recovery"
expect_no_line "$ERR" "Skipping unhealthy backend"
expect_no_line "$ERR" "Trying backend: chutes"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."
lb_block "$ERR" >"$WORK/after.stats"
expect_in_order "$WORK/after.stats" \
  "Circuit Breaker States:" \
  "  synthetic: closed" \
  "  chutes: closed" \
  "  groqgpt: closed"

finish
