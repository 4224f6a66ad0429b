#!/usr/bin/env bash
# Cancelling and leaving, in the real chat: a backend that streams slowly (a
# word every 150 ms) is cancelled with Esc mid-answer; the partial answer is
# marked cancelled and the chat takes the next prompt. `/quit` ends the
# process (status 0), and so does Ctrl-D on an empty prompt.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {
  "slow": {"behavior": {"kind": "answer", "tokens": 200, "token_delay_ms": 150}},
  "fast": {"behavior": {"kind": "answer"}}
}}'
member_profiles slow fast
start_tui --profile-load slow

step "Esc cancels a streaming answer"
send "tell me a long story"
# The generated answer starts with the backend's name, then filler words.
expect_screen "slow lorem ipsum"
expect_screen "streaming"
key Escape
expect_screen "✗ cancelled (incomplete; /retry asks again)"
expect_not_screen "Hello from"
# The status bar stops showing the request in flight.
expect_gone "streaming"

step "The chat takes the next prompt"
clear_screen
send "/profile load fast"
expect_screen "Loaded profile fast: openai / mock-model"
send "short one"
expect_screen "Hello from fast. This is a mock answer."
expect_screen "fast · openai/mock-model · 1 attempt"

step "/quit leaves, and the terminal is back to its normal screen"
send "/quit"
expect_exited 0
expect_gone "Ask anything"

step "Ctrl-D on an empty prompt leaves"
kill_tui
start_tui --profile-load fast
key C-d
expect_exited 0
expect_gone "Ask anything"

finish
