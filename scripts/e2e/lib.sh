# shellcheck shell=bash
# Helpers for the interactive end-to-end scripts: they drive the real `baton`
# chat in a tmux pane (send-keys in, capture-pane out) against a local
# `baton mock`. Source it first thing:
#
#   source "$(dirname "$0")/lib.sh"
#
# scripts/lib/common.sh gives each script its private home, `baton mock`, the
# profile writers, the counters and `finish`; this file adds a tmux server of
# the script's own (a socket in its temp folder, so a user's tmux is never
# touched), stopped on exit, and the checks on the screen.
#
# Environment: BATON_BIN and BATON_FIXTURE (use these binaries instead of
# building them), KEEP_WORK=1 (keep the temp folder), E2E_TIMEOUT_S (the
# default wait for text to appear, 10).

SUITE=e2e
REQUIRED_TOOLS=(tmux curl python3)
# shellcheck source=../lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/common.sh"

PANE=e2e
DEFAULT_WAIT_S=${E2E_TIMEOUT_S:-10}
# How often the screen is read while waiting; the only sleep in the scripts.
POLL_S=0.05
TMUX_SOCKET="$WORK/tmux.sock"
TUI_STATUS="$WORK/tui.status"
export TERM=xterm-256color

_tmux() {
  tmux -S "$TMUX_SOCKET" "$@"
}

suite_cleanup() {
  if [[ -S "$TMUX_SOCKET" ]]; then
    _tmux kill-server 2>/dev/null || true
  fi
}

# ----------------------------------------------------------------- tmux -----

# start_tui ARGS...: runs `baton ARGS...` in a 120x40 tmux pane and waits for
# the chat's input line. The shell in the pane writes baton's exit status to
# $TUI_STATUS when it ends (tmux itself may be slow to reap a process and
# report it), and the pane stays after that (remain-on-exit) for a last look.
start_tui() {
  local cmd arg
  cmd=$(printf '%q' "$BATON")
  for arg in "$@"; do
    cmd+=" $(printf '%q' "$arg")"
  done
  rm -f "$TUI_STATUS"
  cmd+="; echo \$? >$(printf '%q' "$TUI_STATUS")"
  _tmux -f /dev/null new-session -d -s "$PANE" -x 120 -y 40 "$cmd" \; \
    set-option -t "$PANE" remain-on-exit on
  wait_for "Ask anything"
}

# screen: the pane's visible text now.
screen() {
  _tmux capture-pane -p -t "$PANE"
}

# send TEXT: types TEXT literally, then presses Enter.
send() {
  _tmux send-keys -t "$PANE" -l -- "$1"
  _tmux send-keys -t "$PANE" Enter
}

# key KEY...: presses keys by tmux name (Escape, C-d, ...).
key() {
  _tmux send-keys -t "$PANE" "$@"
}

# _wait_until PREDICATE TIMEOUT_S: polls until PREDICATE (a function given the
# screen text) succeeds; returns 1 at the timeout.
_wait_until() {
  local predicate=$1 timeout=$2 deadline
  deadline=$(($(date +%s%N) + ${timeout%.*} * 1000000000))
  while true; do
    if "$predicate" "$(screen 2>/dev/null || true)"; then
      return 0
    fi
    if (($(date +%s%N) > deadline)); then
      return 1
    fi
    sleep "$POLL_S"
  done
}

_WANT=""
_has_want() { [[ "$1" == *"$_WANT"* ]]; }
_lacks_want() { [[ "$1" != *"$_WANT"* ]]; }

# wait_for TEXT [TIMEOUT_S]: waits until TEXT is on the screen; a failed check
# (with the screen) when it does not appear in time.
wait_for() {
  _WANT=$1
  if _wait_until _has_want "${2:-$DEFAULT_WAIT_S}"; then
    return 0
  fi
  fail "'$1' did not appear within ${2:-$DEFAULT_WAIT_S}s; the screen:"
  _show_text "$(screen 2>/dev/null || echo '(no pane)')"
  return 1
}

# wait_gone TEXT [TIMEOUT_S]: waits until TEXT is no longer on the screen.
wait_gone() {
  _WANT=$1
  if _wait_until _lacks_want "${2:-$DEFAULT_WAIT_S}"; then
    return 0
  fi
  fail "'$1' still on the screen after ${2:-$DEFAULT_WAIT_S}s; the screen:"
  _show_text "$(screen)"
  return 1
}

# expect_screen TEXT [TIMEOUT_S]: a check that TEXT appears on the screen.
expect_screen() {
  if wait_for "$1" "${2:-$DEFAULT_WAIT_S}"; then
    pass "screen shows '$1'"
  fi
}

# expect_gone TEXT [TIMEOUT_S]: a check that TEXT leaves the screen.
expect_gone() {
  if wait_gone "$1" "${2:-$DEFAULT_WAIT_S}"; then
    pass "screen no longer shows '$1'"
  fi
}

# expect_not_screen TEXT: a check that TEXT is not on the screen now.
expect_not_screen() {
  local now
  now=$(screen)
  if [[ "$now" == *"$1"* ]]; then
    fail "screen shows '$1'; the screen:"
    _show_text "$now"
  else
    pass "screen does not show '$1'"
  fi
}

# expect_lines TEXT...: a check that the screen holds each TEXT as a whole
# line (trailing spaces ignored), in this order, waiting for the last one.
expect_lines() {
  local last=${*: -1} report
  wait_for "$last" || return 0
  if report=$(screen | python3 -c '
import sys
lines = [l.rstrip() for l in sys.stdin.read().split("\n")]
at = 0
for want in sys.argv[1:]:
    try:
        at = lines.index(want, at) + 1
    except ValueError:
        print(f"no line {want!r} after line {at}")
        sys.exit(1)
' "$@"); then
    pass "screen shows $# lines in order, from '$1'"
  else
    fail "$report; the screen:"
    _show_text "$(screen)"
  fi
}

# clear_screen: `/clear`, then waits for an empty transcript, so the next
# wait_for cannot match text left from an earlier step.
clear_screen() {
  send "/clear"
  _wait_until _transcript_empty "$DEFAULT_WAIT_S" || {
    fail "/clear did not empty the transcript; the screen:"
    _show_text "$(screen)"
  }
}
_transcript_empty() {
  # Only the input box (its rule and hint) and the status bar are left.
  [[ "$(printf '%s\n' "$1" | grep -c '[^[:space:]]')" -le 3 && "$1" == *"Ask anything"* ]]
}

# expect_exited STATUS [TIMEOUT_S]: a check that baton has exited with STATUS.
expect_exited() {
  local want=$1 timeout=${2:-$DEFAULT_WAIT_S} deadline got
  deadline=$(($(date +%s%N) + timeout * 1000000000))
  while [[ ! -s "$TUI_STATUS" ]]; do
    if (($(date +%s%N) > deadline)); then
      fail "baton has not exited after ${timeout}s; the screen:"
      _show_text "$(screen)"
      return 0
    fi
    sleep "$POLL_S"
  done
  got=$(<"$TUI_STATUS")
  if [[ "$got" == "$want" ]]; then
    pass "baton exited with status $want"
  else
    fail "baton exited with status $got, expected $want; the screen:"
    _show_text "$(screen)"
  fi
}

# kill_tui: ends the tmux session (before starting another one).
kill_tui() {
  _tmux kill-session -t "$PANE" 2>/dev/null || true
}

# -------------------------------------------------------------- checks ------

# expect_file_contains FILE TEXT: FILE contains TEXT.
expect_file_contains() {
  local file=$1 text=$2
  if grep -Fq -- "$text" "$file"; then
    pass "$(basename "$file") contains '$text'"
  else
    fail "$(basename "$file") does not contain '$text'; it holds:"
    _show_text "$(cat "$file" 2>/dev/null || echo '(missing)')"
  fi
}

# expect_file_lacks FILE TEXT: FILE does not contain TEXT.
expect_file_lacks() {
  local file=$1 text=$2
  if grep -Fq -- "$text" "$file"; then
    fail "$(basename "$file") contains '$text'; it holds:"
    _show_text "$(cat "$file")"
  else
    pass "$(basename "$file") does not contain '$text'"
  fi
}
