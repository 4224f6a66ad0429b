#!/usr/bin/env bash
# The automated acceptance test of the failover spec, adapted to baton: its
# testlb489.json is written byte for byte into $BATON_HOME/profiles (not
# ~/.llxprt), its members are mock backends, and the debug log is grepped for
# the same markers. Also checks what the user gets: the answer and exit code.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

echo "=== Acceptance Test for Issue #489 ==="
echo "Testing: Advanced Failover with Metrics, Timeouts, and Circuit Breakers"

start_mock '{"backends": {
  "synthetic": {"behavior": {"kind": "answer"}},
  "chutes":    {"behavior": {"kind": "answer"}},
  "groqgpt":   {"behavior": {"kind": "answer"}}
}}'
for name in synthetic chutes groqgpt; do
  member_profile "$name"
done

step "Step 1: create the profile by writing the JSON file directly"
cat >"$BATON_HOME/profiles/testlb489.json" <<'JSON'
{
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
    "timeout_ms": 30000,
    "circuit_breaker_enabled": true,
    "circuit_breaker_failure_threshold": 3,
    "circuit_breaker_failure_window_ms": 60000,
    "circuit_breaker_recovery_timeout_ms": 30000,
    "failover_retry_count": 2,
    "failover_retry_delay_ms": 1000
  }
}
JSON
run_plain validate profiles validate testlb489
expect_exit 0

step "Test 1: basic load balancer execution"
run_baton test1 --profile-load testlb489 --prompt "write me a haiku about testing"
cat "$OUT" "$ERR" >"$WORK/test-output.log"
expect_exit 0

step "Verifying debug logs (the spec's greps)"
if grep -q "\[LB:failover\]" "$WORK/test-output.log"; then
  pass "Load balancer failover strategy active"
else
  fail "Load balancer failover strategy not detected"
fi
if grep -q "Selected sub-profile:" "$WORK/test-output.log" ||
  grep -q "Trying backend:" "$WORK/test-output.log"; then
  pass "Backend selection working"
else
  fail "Backend selection not detected"
fi

step "The exact markers and the answer"
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] Success on backend: synthetic"
expect_no_line "$ERR" "Trying backend: chutes"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."
expect_eq "requests served by synthetic" "$(mock_requests synthetic)" 1
expect_eq "requests served by chutes" "$(mock_requests chutes)" 0

finish
