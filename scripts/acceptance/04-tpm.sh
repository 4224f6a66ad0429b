#!/usr/bin/env bash
# Acceptance scenario 4 (TPM tracking and trigger): tpm_threshold 10000 and
# backends whose answers report 25 tokens (5 prompt + 20 completion, the mock's
# usage). A backend with TPM above 0 and below the threshold is passed over:
# run 1 goes to synthetic (no TPM yet), run 2 skips synthetic for chutes, run 3
# skips both for groqgpt; from run 4 every backend is below the threshold, so
# they are used in order (synthetic) rather than failing. TPM persists across
# one-shot runs and shows in --stats and `baton state show`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

answer='{"kind": "answer", "prompt_tokens": 5, "completion_tokens": 20}'
start_mock "{\"backends\": {
  \"synthetic\": {\"behavior\": $answer},
  \"chutes\":    {\"behavior\": $answer},
  \"groqgpt\":   {\"behavior\": $answer}
}}"
for name in synthetic chutes groqgpt; do
  member_profile "$name"
done
lb_profile testlb489 --policy failover synthetic chutes groqgpt \
  --set tpm_threshold=10000 \
  --set timeout_ms=30000 \
  --set circuit_breaker_enabled=true \
  --set circuit_breaker_failure_threshold=3 \
  --set circuit_breaker_failure_window_ms=60000 \
  --set circuit_breaker_recovery_timeout_ms=30000 \
  --set failover_retry_count=2 \
  --set failover_retry_delay_ms=1000

step "Run 1: no TPM recorded yet, synthetic answers"
run_baton run1 --profile-load testlb489 --prompt "short one"
expect_exit 0
expect_line "$ERR" "[LB:failover] Success on backend: synthetic"
expect_no_line "$ERR" "below threshold"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."

step "Run 2: synthetic's TPM is above 0 and below 10000, chutes answers"
run_baton run2 --profile-load testlb489 --prompt "short two"
expect_exit 0
tpm=$(first_number "$ERR" '^\[LB:tpm\] synthetic: Current TPM = ([0-9]+)$')
expect_tpm "logged TPM of synthetic" "${tpm:-none}" 25
expect_in_order "$ERR" \
  "[LB:tpm] synthetic: Current TPM = ${tpm:-?}" \
  "[LB:failover] synthetic: TPM (${tpm:-?}) below threshold (10000), failing over" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_no_line "$ERR" "Trying backend: synthetic"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "Run 3: synthetic and chutes are both below, groqgpt (no TPM yet) answers"
run_baton run3 --profile-load testlb489 --prompt "short three"
expect_exit 0
# Read again: a minute boundary since run 2 halves synthetic's TPM.
tpm=$(first_number "$ERR" '^\[LB:tpm\] synthetic: Current TPM = ([0-9]+)$')
expect_tpm "logged TPM of synthetic" "${tpm:-none}" 25
tpm_c=$(first_number "$ERR" '^\[LB:tpm\] chutes: Current TPM = ([0-9]+)$')
expect_tpm "logged TPM of chutes" "${tpm_c:-none}" 25
expect_in_order "$ERR" \
  "[LB:failover] synthetic: TPM (${tpm:-?}) below threshold (10000), failing over" \
  "[LB:failover] chutes: TPM (${tpm_c:-?}) below threshold (10000), failing over" \
  "[LB:failover] Trying backend: groqgpt (attempt 1/2)" \
  "[LB:failover] Success on backend: groqgpt"
expect_file_eq "$OUT" "Hello from groqgpt. This is a mock answer."

step "Runs 4 and 5: every backend is below the threshold, so they are used in order"
run_baton run4 --profile-load testlb489 --prompt "short four"
expect_exit 0
expect_line "$ERR" "[LB:failover] Trying backend: synthetic (attempt 1/2)"
expect_line "$ERR" "[LB:failover] Success on backend: synthetic"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."
run_baton run5 --profile-load testlb489 --stats --prompt "short five"
expect_exit 0
tpm5=$(first_number "$ERR" '^\[LB:tpm\] synthetic: Current TPM = ([0-9]+)$')
expect_tpm "logged TPM of synthetic after two answers" "${tpm5:-none}" 50
expect_line "$ERR" "[LB:failover] Success on backend: synthetic"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."

step "--stats after run 5: tokens and TPM per backend"
lb_block "$ERR" >"$WORK/run5.stats"
expect_eq "synthetic Requests" "$(stat_value "$WORK/run5.stats" synthetic Requests)" 3
expect_eq "synthetic Tokens" "$(stat_value "$WORK/run5.stats" synthetic Tokens)" 75
expect_tpm "synthetic TPM" "$(stat_value "$WORK/run5.stats" synthetic TPM)" 75
expect_eq "chutes Tokens" "$(stat_value "$WORK/run5.stats" chutes Tokens)" 25
expect_tpm "chutes TPM" "$(stat_value "$WORK/run5.stats" chutes TPM)" 25
expect_eq "groqgpt Tokens" "$(stat_value "$WORK/run5.stats" groqgpt Tokens)" 25
expect_tpm "groqgpt TPM" "$(stat_value "$WORK/run5.stats" groqgpt TPM)" 25
expect_line "$WORK/run5.stats" "Total Requests: 5"

step "baton state show testlb489 prints the same numbers from the saved state"
run_plain show state show testlb489
expect_exit 0
expect_eq "synthetic Tokens (state show)" "$(stat_value "$OUT" synthetic Tokens)" 75
expect_tpm "synthetic TPM (state show)" "$(stat_value "$OUT" synthetic TPM)" 75
expect_tpm "chutes TPM (state show)" "$(stat_value "$OUT" chutes TPM)" 25
expect_line "$OUT" "Total Requests: 5"

step "TPM never fails a prompt: the one backend above the threshold fails, the rest (below) still answer"
# With the threshold at 50, synthetic (75) is above it and chutes and groqgpt
# (25) are below. synthetic now answers 503: the prompt must still be
# answered by chutes (TPM skips use them in order rather than fail, docs/failover.md).
mock_put synthetic '{"behavior": {"kind": "status", "code": 503}}'
run_baton tpm-last-resort --profile-load testlb489 --set tpm_threshold=50 \
  --set failover_retry_count=1 --prompt "short six"
expect_exit 0
expect_match "$ERR" '^\[LB:failover\] synthetic failed after 1 attempt: 503 Service Unavailable'
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: chutes (attempt 1/1)" \
  "[LB:failover] Success on backend: chutes"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

finish
