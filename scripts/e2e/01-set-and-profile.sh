#!/usr/bin/env bash
# Acceptance scenarios 6 and 7 (interactive /set, profile save/load), typed into the real chat: the six load-balancer
# settings are accepted by /set, the three invalid values get the registry's
# errors, /set KEY shows help and /set unset clears each one; then
# `/profile save loadbalancer testlb489save failover a b` writes a file with
# the settings and no protected key, /set unset clears four of them and
# `/profile load testlb489save` brings them back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {"a": {}, "b": {}}}'
member_profiles a b
start_tui --profile-load a

step "Scenario 6: the six settings are accepted"
valid=(
  "tpm_threshold 1000"
  "timeout_ms 30000"
  "circuit_breaker_enabled true"
  "circuit_breaker_failure_threshold 3"
  "circuit_breaker_failure_window_ms 60000"
  "circuit_breaker_recovery_timeout_ms 30000"
)
for pair in "${valid[@]}"; do
  send "/set $pair"
  expect_screen "${pair/ / = }"
done
send "/set"
# The listing follows the settings registry's order.
expect_lines "Settings (profile a):" \
  "  timeout_ms = 30000" \
  "  tpm_threshold = 1000" \
  "  circuit_breaker_enabled = true" \
  "  circuit_breaker_failure_threshold = 3" \
  "  circuit_breaker_failure_window_ms = 60000" \
  "  circuit_breaker_recovery_timeout_ms = 30000"

step "Scenario 6: invalid values get the registry's errors"
clear_screen
send "/set tpm_threshold -500"
expect_screen "✗ tpm_threshold must be a positive integer (got -500)"
send "/set timeout_ms abc"
expect_screen "✗ timeout_ms must be a positive integer (got abc)"
send "/set circuit_breaker_enabled maybe"
expect_screen "✗ circuit_breaker_enabled must be true or false (got maybe)"

step "Scenario 6: /set tpm_threshold shows the setting's help"
clear_screen
send "/set tpm_threshold"
expect_lines "tpm_threshold: Skip a backend whose tokens-per-minute is above 0 and below this" \
  "  value: a positive integer" \
  "  default: unset" \
  "  applies to: load balancer" \
  "  current: 1000"

step "Scenario 6: /set unset clears each setting"
clear_screen
for pair in "${valid[@]}"; do
  send "/set unset ${pair%% *}"
  expect_screen "${pair%% *} unset"
done
send "/set"
expect_lines "Settings (profile a):" "  base-url = $MOCK_URL/a/v1"
expect_not_screen "  tpm_threshold = "

step "Scenario 7: set, save the load balancer, check the file"
clear_screen
# The seed's four, plus the window and recovery its expected file also holds.
saved=(
  "tpm_threshold 1000"
  "timeout_ms 30000"
  "circuit_breaker_enabled true"
  "circuit_breaker_failure_threshold 5"
  "circuit_breaker_failure_window_ms 60000"
  "circuit_breaker_recovery_timeout_ms 30000"
)
for pair in "${saved[@]}"; do
  send "/set $pair"
  expect_screen "${pair/ / = }"
done
# A key the save must leave out.
send "/set auth-key sk-e2e-secret-never-saved"
expect_screen "auth-key = "
clear_screen
send "/profile save loadbalancer testlb489save failover a b"
expect_screen "Saved load balancer testlb489save (failover over a, b; settings:"
expect_screen "Not saved (protected): auth-key"
file="$BATON_HOME/profiles/testlb489save.json"
if python3 - "$file" <<'PY'; then
import json, sys
doc = json.load(open(sys.argv[1]))
want = {
    "tpm_threshold": 1000,
    "timeout_ms": 30000,
    "circuit_breaker_enabled": True,
    "circuit_breaker_failure_threshold": 5,
    "circuit_breaker_failure_window_ms": 60000,
    "circuit_breaker_recovery_timeout_ms": 30000,
}
checks = [
    (doc.get("version") == 1, "version 1"),
    (doc.get("type") == "loadbalancer", "type loadbalancer"),
    (doc.get("policy") == "failover", "policy failover"),
    (doc.get("profiles") == ["a", "b"], "profiles [a, b]"),
    (doc.get("ephemeralSettings") == want, f"ephemeralSettings == {want}"),
]
bad = [what for ok, what in checks if not ok]
if bad:
    print("not as expected: " + "; ".join(bad))
    print(json.dumps(doc, indent=2))
    sys.exit(1)
PY
  pass "testlb489save.json holds the spec's profile and its six settings"
else
  fail "testlb489save.json is not the spec's profile"
fi
expect_file_lacks "$file" "auth-key"
expect_file_lacks "$file" "sk-e2e-secret"

step "Scenario 7: unset four, load the profile, the values are back"
clear_screen
for key in tpm_threshold timeout_ms circuit_breaker_enabled circuit_breaker_failure_threshold; do
  send "/set unset $key"
  expect_screen "$key unset"
done
clear_screen
send "/set"
expect_screen "Settings (profile a):"
expect_not_screen "tpm_threshold"
clear_screen
send "/profile load testlb489save"
expect_screen "Loaded profile testlb489save: load balancer (failover) over a, b"
clear_screen
send "/set"
expect_lines "Settings (profile testlb489save):" \
  "  timeout_ms = 30000" \
  "  tpm_threshold = 1000" \
  "  circuit_breaker_enabled = true" \
  "  circuit_breaker_failure_threshold = 5" \
  "  circuit_breaker_failure_window_ms = 60000" \
  "  circuit_breaker_recovery_timeout_ms = 30000"
expect_not_screen "auth-key"

send "/quit"
expect_exited 0
finish
