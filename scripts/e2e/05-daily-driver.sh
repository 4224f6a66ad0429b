#!/usr/bin/env bash
# A day's use of the real chat: the default profile from ~/.baton/config.json, a
# prompt typed while an answer streams waits its turn, Ctrl-R finds an older
# prompt, /system and /copy, a message that starts with a path, reasoning folded
# behind Ctrl-T, the prompt edited in $EDITOR (Ctrl-G), the session id printed on
# leaving, and the prompt history back in the next chat.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {
  "slow": {"behavior": {"kind": "answer", "tokens": 12, "token_delay_ms": 100}},
  "fast": {"behavior": {"kind": "answer"}}
}}'
member_profiles slow fast
# The "editor" appends a line to the file it is given, as a user would type one.
editor="$WORK/editor.sh"
printf '#!/bin/sh\nprintf "added in the editor\\n" >>"$1"\n' >"$editor"
chmod +x "$editor"
printf '{"default_profile": "slow", "editor": "%s"}\n' "$editor" >"$BATON_HOME/config.json"
start_tui

step "The config file's default profile is used"
expect_screen "baton · profile slow"

step "A prompt typed while an answer streams is queued, then sent"
send "first question"
expect_screen "streaming"
send "second question"
expect_screen 'queued "second question"'
expect_screen "› second question"
wait_for "slow · openai/mock-model · 1 attempt" >/dev/null
expect_gone "streaming"
expect_eq "requests sent to slow" "$(mock_requests slow)" 2

step "Ctrl-R finds an older prompt"
key C-r
_tmux send-keys -t "$PANE" -l -- "first"
expect_screen "history search: first"
key Escape
expect_gone "history search"

step "/system and /copy"
send "/system Answer briefly."
expect_screen "system prompt set"
send "/copy"
expect_screen "copied the last answer"

step "A message that starts with a path is sent, not taken for a command"
send "/profile load fast"
expect_screen "Loaded profile fast"
send "/usr/bin/python3 crashes, why?"
expect_screen "Hello from fast. This is a mock answer."
expect_not_screen "unknown command"

step "Ctrl-G edits the prompt in the editor and brings back what it saved"
_tmux send-keys -t "$PANE" -l "typed first"
key C-g
expect_screen "typed first"
expect_screen "added in the editor"
key C-u
key C-u
key C-u
expect_gone "added in the editor"

step "Reasoning is folded; Ctrl-T shows it"
send "/provider sim sim-think"
send "think first"
expect_screen "thought for"
key C-t
expect_screen "Ctrl-T hides"

step "Leaving prints the session id"
send "/quit"
expect_exited 0
# tmux scrolls the pane by a line to say it is dead, which can push the first
# row into the scrollback: read that too.
left=$(_tmux capture-pane -p -S - -t "$PANE")
if [[ "$left" == *"saved · baton --resume"* ]]; then
  pass "the session id and how to resume it were printed"
else
  fail "no session line after leaving; the pane:"
  _show_text "$left"
fi

step "The next chat has the prompt history"
expect_file_contains "$BATON_HOME/history" '"first question"'
kill_tui
start_tui
key Up
expect_screen "› /quit"
key Up
expect_screen "› think first"
kill_tui

step "baton > file without a prompt says what to do instead of drawing into the file"
redirected="$WORK/redirected.txt"
rm -f "$TUI_STATUS"
_tmux -f /dev/null new-session -d -s "$PANE" -x 120 -y 40 \
  "$(printf '%q' "$BATON") >$(printf '%q' "$redirected"); echo \$? >$(printf '%q' "$TUI_STATUS")" \; \
  set-option -t "$PANE" remain-on-exit on
expect_exited 2
# Read the scrollback too: the dead pane's notice scrolls the first line away.
left=$(_tmux capture-pane -p -J -S - -t "$PANE")
if [[ "$left" == *"the chat needs a terminal on stdout"* ]]; then
  pass "it says the chat needs a terminal and how to answer into a file"
else
  fail "no explanation; the pane:"
  _show_text "$left"
fi
expect_eq "bytes written into the file" "$(wc -c <"$redirected" | tr -d ' ')" 0

finish
