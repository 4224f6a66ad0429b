#!/usr/bin/env bash
# A chat turn with a failover, typed into the real chat: the first backend of
# a failover load balancer answers 503, the second answers. The notice of the
# failure, the answer and its provenance line ("2 attempts, 1 failover") show;
# the status bar and `/stats lb` show the real breaker states (the 503 opened
# `a`'s breaker, threshold 1); `baton state show` and a restarted chat read
# the same saved state.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {
  "a": {"behavior": {"kind": "status", "code": 503}},
  "b": {"behavior": {"kind": "answer"}}
}}'
member_profiles a b
lb_profile lb --policy failover a b \
  --set failover_retry_count=1 \
  --set circuit_breaker_enabled=true \
  --set circuit_breaker_failure_threshold=1 \
  --set circuit_breaker_recovery_timeout_ms=60000
start_tui --profile-load lb
expect_screen "baton · profile lb: load balancer (failover) over a, b"
expect_screen " lb · 0 tokens · breakers 2 closed"

step "A prompt: a answers 503, b answers"
send "hello relay"
expect_screen "· a failed: 503 Service Unavailable"
expect_screen "Hello from b. This is a mock answer."
expect_screen "b · openai/mock-model · 2 attempts, 1 failover"
expect_screen " lb · b (mock-model) · "
expect_screen "breakers 1 closed, 1 open"
expect_eq "requests that reached a" "$(mock_requests a)" 1
expect_eq "requests that reached b" "$(mock_requests b)" 1

step "/stats lb shows the engine's block with the real breaker states"
clear_screen
send "/stats lb"
expect_lines "Load Balancer Statistics" \
  "Profile: lb" \
  "Total Requests: 2" \
  "Backend Metrics:" \
  "  a" \
  "    Requests: 1" \
  "    Success Rate: 0.0%" \
  "  b" \
  "    Requests: 1" \
  "    Success Rate: 100.0%" \
  "Circuit Breaker States:" \
  "  a: open" \
  "  b: closed"

step "The next prompt skips a's open breaker"
clear_screen
send "again"
expect_screen "· skipped a: "
expect_screen "Hello from b. This is a mock answer."
expect_eq "requests that reached a" "$(mock_requests a)" 1

send "/quit"
expect_exited 0

step "baton state show agrees with /stats lb"
shown="$WORK/state-show.out"
"$BATON" state show lb >"$shown" 2>&1
expect_file_contains "$shown" "Total Requests: 3"
expect_file_contains "$shown" "  a: open"
expect_file_contains "$shown" "  b: closed"

step "A new chat starts from the saved state"
kill_tui
start_tui --profile-load lb
expect_screen " lb · 0 tokens · breakers 1 closed, 1 open"
send "/stats lb"
expect_lines "Total Requests: 3" "Circuit Breaker States:" "  a: open" "  b: closed"
key C-d
expect_exited 0

finish
