#!/usr/bin/env bash
# Acceptance scenario 5 (stats command): several prompts with failures (a 503
# retried once, then a timeout) open synthetic's breaker; the --stats block
# (the same text as `/stats lb` and `baton state show`) is then checked line
# by line against the `/stats lb` layout, with every number that can be derived
# exactly: requests are attempts (a retry is a request), Total Requests their
# sum, success rate over attempts, tokens = prompt + completion as the mock
# reports them, TPM = tokens / minutes covered (docs/failover.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {
  "synthetic": {"behavior": {"kind": "answer", "prompt_tokens": 10, "completion_tokens": 30}},
  "chutes":    {"behavior": {"kind": "answer", "prompt_tokens": 10, "completion_tokens": 50}},
  "groqgpt":   {"behavior": {"kind": "answer"}}
}}'
for name in synthetic chutes groqgpt; do
  member_profile "$name"
done
lb_profile testlb489 --policy failover synthetic chutes groqgpt \
  --set timeout_ms=1000 \
  --set circuit_breaker_enabled=true \
  --set circuit_breaker_failure_threshold=2 \
  --set circuit_breaker_failure_window_ms=60000 \
  --set circuit_breaker_recovery_timeout_ms=30000 \
  --set failover_retry_count=2 \
  --set failover_retry_delay_ms=100

step "Runs 1-3: synthetic answers (40 tokens each)"
for i in 1 2 3; do
  run_baton "ok$i" --profile-load testlb489 --prompt "request $i"
  expect_exit 0
  expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."
done

step "Run 4: synthetic answers 503 twice (2 attempts), chutes answers"
mock_script synthetic '[{"kind": "status", "code": 503}, {"kind": "status", "code": 503}]'
run_baton fail503 --profile-load testlb489 --prompt "request 4"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] Trying backend: synthetic (attempt 2/2)" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
# DESIGN: "[LB:failover] X failed after N attempts: ERROR" (ERROR is free text).
expect_match "$ERR" '^\[LB:failover\] synthetic failed after 2 attempts: 503 Service Unavailable'
expect_eq "requests that reached synthetic" "$(mock_requests synthetic)" 5
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "Run 5: synthetic times out (1 attempt), the breaker opens, chutes answers"
mock_script synthetic '{"kind": "answer", "first_chunk_delay_ms": 3000}'
run_baton timeout --profile-load testlb489 --prompt "request 5"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:timeout] synthetic: Request exceeded 1000ms" \
  "[circuit-breaker] synthetic: Marked unhealthy (2 failures in window)" \
  "[circuit-breaker] synthetic: State = open" \
  "[LB:failover] Success on backend: chutes"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "Run 6 with --stats: synthetic skipped, chutes answers, then the block"
run_baton stats --profile-load testlb489 --stats --prompt "request 6"
expect_exit 0
expect_line "$ERR" "[LB:failover] Skipping unhealthy backend: synthetic"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."
expect_no_line "$OUT" "Load Balancer Statistics"
lb_block "$ERR" >"$WORK/stats.block"
# synthetic: 3 answers + 2 attempts with 503 + 1 timeout = 6 requests, 3 good;
# chutes: 3 requests, 3 good, 60 tokens each; groqgpt unused.
expect_block "$WORK/stats.block" "Load Balancer Statistics
Profile: testlb489
Total Requests: 9

Backend Metrics:
  synthetic
    Requests: 6
    Success Rate: 50.0%
    Avg Latency: {n}ms
    Tokens: 120
    TPM: {n}

  chutes
    Requests: 3
    Success Rate: 100.0%
    Avg Latency: {n}ms
    Tokens: 180
    TPM: {n}

  groqgpt
    Requests: 0
    Success Rate: N/A
    Avg Latency: N/A
    Tokens: 0
    TPM: 0

Circuit Breaker States:
  synthetic: open
  chutes: closed
  groqgpt: closed"
expect_tpm "synthetic TPM" "$(stat_value "$WORK/stats.block" synthetic TPM)" 120
expect_tpm "chutes TPM" "$(stat_value "$WORK/stats.block" chutes TPM)" 180
latency=$(stat_value "$WORK/stats.block" synthetic "Avg Latency")
expect_true "synthetic's average latency ($latency) is over its answers, not the 1 s timeout" \
  test "${latency%ms}" -lt 1000

step "baton state show prints the same block; state reset forgets it"
run_plain show state show testlb489
expect_exit 0
expect_file_eq "$OUT" "$(cat "$WORK/stats.block")"
run_plain reset state reset testlb489
expect_exit 0
run_plain shown state show testlb489
expect_exit 0
expect_no_line "$OUT" "synthetic: open"
expect_no_line "$OUT" "Total Requests: 9"
run_baton after-reset --profile-load testlb489 --stats --prompt "after reset"
expect_exit 0
expect_line "$ERR" "[LB:failover] Success on backend: synthetic"
expect_no_line "$ERR" "Skipping unhealthy backend"
lb_block "$ERR" >"$WORK/after-reset.block"
expect_line "$WORK/after-reset.block" "Total Requests: 1"
expect_line "$WORK/after-reset.block" "  synthetic: closed"

finish
