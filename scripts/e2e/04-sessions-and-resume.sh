#!/usr/bin/env bash
# The archive from the chat: a turn against `baton mock`, `/quit`; `baton
# sessions list` shows it and its file holds the prompt and the answer;
# `baton --resume` opens the chat on it (the old turn on screen), the next
# prompt carries the history to the backend (read back from the mock's
# recorded request); `/sessions` lists it; `/resume` goes back to it from a
# new chat.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_mock '{"backends": {"a": {"behavior": {"kind": "answer"}}}}'
member_profile a

# last_messages NAME: the roles and contents the last request to NAME carried,
# one "role: content" per line.
last_messages() {
  curl -sf "$MOCK_URL/_mock/backends/$1" | python3 -c '
import json, sys
data = json.load(sys.stdin)
def requests(v):
    if isinstance(v, dict):
        if "body" in v and "seq" in v:
            yield v
        for x in v.values():
            yield from requests(x)
    elif isinstance(v, list):
        for x in v:
            yield from requests(x)
last = max(requests(data), key=lambda r: r["seq"])
for m in last["body"]["messages"]:
    print(m["role"] + ": " + m["content"])
'
}

step "A turn in the chat, then /quit"
start_tui --profile-load a
send "first question about relays"
expect_screen "Hello from a. This is a mock answer."
send "/quit"
expect_exited 0

step "baton sessions list shows it; its file has the prompt and the answer"
listed="$WORK/sessions-list.out"
"$BATON" sessions list >"$listed" 2>&1
expect_file_contains "$listed" "2 msgs  first question about relays"
id=$(awk 'NR == 1 { print $1 }' "$listed")
file="$BATON_HOME/sessions/$id.jsonl"
expect_file_contains "$file" '"kind":"user","content":"first question about relays"'
expect_file_contains "$file" '"kind":"answer","content":"Hello from a. This is a mock answer."'

step "baton --resume opens the chat on it; the next prompt sends the history"
kill_tui
start_tui --resume
expect_screen "Resumed session $id on profile a: 2 messages of history"
expect_screen "› first question about relays"
expect_screen "a · openai/mock-model · 1 attempt"
send "and a follow-up"
_two_answers() { [[ "$(printf '%s\n' "$1" | grep -c 'Hello from a. This is a mock answer.')" -ge 2 ]]; }
if _wait_until _two_answers "$DEFAULT_WAIT_S"; then
  pass "the follow-up is answered below the restored turn"
else
  fail "no second answer; the screen:"
  _show_text "$(screen)"
fi
expect_eq "the messages the backend got" "$(last_messages a | tr '\n' '|')" \
  "user: first question about relays|assistant: Hello from a. This is a mock answer.|user: and a follow-up|"

step "/sessions lists it"
send "/sessions"
expect_screen "$id  "
expect_screen "4 msgs  first question about relays"
send "/quit"
expect_exited 0
expect_file_contains "$file" '"kind":"session_started","profile":"a","resumed":true'
expect_file_contains "$file" '"kind":"user","content":"and a follow-up"'

step "/resume from a new chat goes back to it"
kill_tui
start_tui --profile-load a
send "/resume $id"
expect_screen "Resumed session $id on profile a: 4 messages of history"
expect_screen "› and a follow-up"
send "third"
expect_screen "› third"
_answered_third() { [[ "$1" == *"› third"*"Hello from a. This is a mock answer."* ]]; }
_wait_until _answered_third "$DEFAULT_WAIT_S" || fail "no answer to 'third'"
expect_eq "messages the backend got after /resume" "$(last_messages a | wc -l | tr -d ' ')" 5
key C-d
expect_exited 0
expect_eq "sessions stored" "$("$BATON" sessions list | wc -l | tr -d ' ')" 1

finish
