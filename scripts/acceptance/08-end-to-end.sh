#!/usr/bin/env bash
# Acceptance scenario 8 (end-to-end): the spec's testlb489 (tpm_threshold 500,
# retries 2) with timeout_ms 1000, failure threshold 2 and recovery 1000 ms to
# stay fast, over several one-shot runs that share persisted state: an auth
# failure and a timeout fail over and open synthetic's breaker, TPM passes
# over a slow-earning backend, the open breaker is honoured by the next
# process, the half-open probe brings synthetic back, and --stats / `baton
# state show` add it all up. Finally every backend down gives exit 75.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

big='{"kind": "answer", "prompt_tokens": 1000, "completion_tokens": 1000}'
small='{"kind": "answer", "prompt_tokens": 10, "completion_tokens": 10}'
start_mock "{\"backends\": {
  \"synthetic\": {\"behavior\": $big},
  \"chutes\":    {\"behavior\": $small},
  \"groqgpt\":   {\"behavior\": $small}
}}"
for name in synthetic chutes groqgpt; do
  member_profile "$name"
done
profile testlb489 '{
  "name": "testlb489",
  "version": 1,
  "type": "loadbalancer",
  "policy": "failover",
  "profiles": ["synthetic", "chutes", "groqgpt"],
  "provider": "",
  "model": "",
  "modelParams": {},
  "ephemeralSettings": {
    "tpm_threshold": 500,
    "timeout_ms": 1000,
    "circuit_breaker_enabled": true,
    "circuit_breaker_failure_threshold": 2,
    "circuit_breaker_failure_window_ms": 60000,
    "circuit_breaker_recovery_timeout_ms": 1000,
    "failover_retry_count": 2,
    "failover_retry_delay_ms": 1000
  }
}'

step "Prompt 1 (fresh session): synthetic answers, metrics recorded"
run_baton p1 --profile-load testlb489 --stats \
  --prompt "analyze this codebase and tell me what it does. do not use a subagent."
expect_exit 0
expect_line "$ERR" "[LB:failover] Success on backend: synthetic"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."
lb_block "$ERR" >"$WORK/p1.stats"
expect_line "$WORK/p1.stats" "Total Requests: 1"
expect_eq "synthetic Tokens" "$(stat_value "$WORK/p1.stats" synthetic Tokens)" 2000
expect_tpm "synthetic TPM" "$(stat_value "$WORK/p1.stats" synthetic TPM)" 2000

step "Prompt 2: synthetic rejects the key (401), chutes answers"
mock_put synthetic "{\"behavior\": $big, \"require_key\": \"sk-not-what-baton-sends\"}"
run_baton p2 --profile-load testlb489 --prompt "write me a haiku about testing"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] synthetic failed: 401 Unauthorized" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "Prompt 3: synthetic times out, its breaker opens; chutes is below TPM 500, groqgpt answers"
mock_put synthetic "{\"behavior\": {\"kind\": \"answer\", \"first_chunk_delay_ms\": 3000}}"
run_baton p3 --profile-load testlb489 --prompt "write me a haiku about testing"
expect_exit 0
tpm_c=$(first_number "$ERR" '^\[LB:tpm\] chutes: Current TPM = ([0-9]+)$')
expect_tpm "logged TPM of chutes" "${tpm_c:-none}" 20
expect_in_order "$ERR" \
  "[LB:timeout] synthetic: Request exceeded 1000ms" \
  "[circuit-breaker] synthetic: Marked unhealthy (2 failures in window)" \
  "[circuit-breaker] synthetic: State = open" \
  "[LB:failover] chutes: TPM (${tpm_c:-?}) below threshold (500), failing over" \
  "[LB:failover] Trying backend: groqgpt (attempt 1/2)" \
  "[LB:failover] Success on backend: groqgpt"
expect_no_line "$OUT" "synthetic"
expect_file_eq "$OUT" "Hello from groqgpt. This is a mock answer."

step "Prompt 4 (new process): the open breaker is honoured; all others below TPM, used in order"
run_baton p4 --profile-load testlb489 --prompt "write me a haiku about testing"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Skipping unhealthy backend: synthetic" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_no_line "$ERR" "Trying backend: synthetic"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."
run_plain show4 state show testlb489
expect_exit 0
expect_line "$OUT" "  synthetic: open"

step "Prompt 5, after the recovery timeout: the probe succeeds, synthetic is back"
mock_put synthetic "{\"behavior\": $big}"
sleep 1.2 # the scenario is about time passing: recovery timeout is 1000 ms
run_baton p5 --profile-load testlb489 --prompt "write me a haiku about testing"
expect_exit 0
expect_in_order "$ERR" \
  "[circuit-breaker] synthetic: Testing recovery (half-open)" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] Success on backend: synthetic" \
  "[circuit-breaker] synthetic: Recovered (state = closed)"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."

step "Prompt 6: stays on synthetic; the stats add up over all six prompts"
run_baton p6 --profile-load testlb489 --stats --prompt "write me a haiku about testing"
expect_exit 0
expect_line "$ERR" "[LB:failover] Success on backend: synthetic"
expect_no_line "$ERR" "Testing recovery"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."
lb_block "$ERR" >"$WORK/p6.stats"
# synthetic: p1, p5, p6 answered; p2 (401) and p3 (timeout) failed.
expect_block "$WORK/p6.stats" "Load Balancer Statistics
Profile: testlb489
Total Requests: 8

Backend Metrics:
  synthetic
    Requests: 5
    Success Rate: 60.0%
    Avg Latency: {n}ms
    Tokens: 6000
    TPM: {n}

  chutes
    Requests: 2
    Success Rate: 100.0%
    Avg Latency: {n}ms
    Tokens: 40
    TPM: {n}

  groqgpt
    Requests: 1
    Success Rate: 100.0%
    Avg Latency: {n}ms
    Tokens: 20
    TPM: {n}

Circuit Breaker States:
  synthetic: closed
  chutes: closed
  groqgpt: closed"
expect_tpm "synthetic TPM" "$(stat_value "$WORK/p6.stats" synthetic TPM)" 6000
expect_tpm "chutes TPM" "$(stat_value "$WORK/p6.stats" chutes TPM)" 40
expect_tpm "groqgpt TPM" "$(stat_value "$WORK/p6.stats" groqgpt TPM)" 20
run_plain show6 state show testlb489
expect_exit 0
expect_file_eq "$OUT" "$(cat "$WORK/p6.stats")"

step "Every backend down (503): exit 75, every backend named, nothing on stdout"
for name in synthetic chutes groqgpt; do
  mock_put "$name" '{"behavior": {"kind": "status", "code": 503}}'
done
run_baton p7 --profile-load testlb489 --set failover_retry_delay_ms=50 --prompt "anyone?"
expect_exit 75
expect_line "$ERR" "[LB:failover] Trying backend: groqgpt (attempt 2/2)"
expect_line "$ERR" "baton: every backend failed:"
expect_match "$ERR" '^  synthetic: 503 Service Unavailable'
expect_match "$ERR" '^  chutes: 503 Service Unavailable'
expect_match "$ERR" '^  groqgpt: 503 Service Unavailable'
expect_file_eq "$OUT" ""

finish
