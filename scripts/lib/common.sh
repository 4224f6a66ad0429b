# shellcheck shell=bash
# What the acceptance and e2e scripts share. A suite's lib.sh sets SUITE (its
# name) and REQUIRED_TOOLS (an array), then sources this file, which gives each
# script:
# - a private BATON_HOME and HOME in a temp folder, removed on exit (KEEP_WORK=1
#   keeps it), and no key, debug spec or tmux of the caller's in the environment;
# - BATON (the binary: $BATON_BIN, or target/debug/baton built here) and
#   BATON_FIXTURE (the profile writer: $BATON_FIXTURE, or built here);
# - pass/fail counters, `step`, and `finish`, which prints `N passed, M failed`
#   and exits non-zero when a check failed; a script that stops early counts as
#   one more failure;
# - `start_mock CONFIG_JSON` (a `baton mock` on a free loopback port) and the
#   control API helpers;
# - profile writers built on baton-fixture (baton's own profile types).
# A suite may define `suite_cleanup`, run first on exit.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRIPT_NAME=$(basename "$0" .sh)

PASSED=0
FAILED=0
FINISHED=0
MOCK_PID=""
MOCK_PORT=""
MOCK_URL=""

for tool in "${REQUIRED_TOOLS[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$SCRIPT_NAME: the $SUITE scripts need $tool" >&2
    exit 1
  fi
done

if [[ -n "${BATON_BIN:-}" ]]; then
  BATON=$BATON_BIN
else
  (cd "$REPO_ROOT" && cargo build --quiet)
  BATON=$REPO_ROOT/target/debug/baton
fi
if [[ ! -x "$BATON" ]]; then
  echo "$SCRIPT_NAME: no baton binary at $BATON" >&2
  exit 1
fi
if [[ -z "${BATON_FIXTURE:-}" ]]; then
  (cd "$REPO_ROOT" && cargo build --quiet -p baton-test-support --bin baton-fixture)
  BATON_FIXTURE=$REPO_ROOT/target/debug/baton-fixture
fi
if [[ ! -x "$BATON_FIXTURE" ]]; then
  echo "$SCRIPT_NAME: no baton-fixture binary at $BATON_FIXTURE" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/baton-$SUITE.XXXXXX")
export BATON_HOME="$WORK/home"
mkdir -p "$BATON_HOME/profiles"

# Nothing from the caller's environment may steer a run: no real keys, no
# debug spec, no llxprt folder, no tmux of the caller's.
unset OPENAI_API_KEY ANTHROPIC_API_KEY GEMINI_API_KEY GOOGLE_API_KEY \
  GROQ_API_KEY OPENROUTER_API_KEY BATON_DEBUG LLXPRT_DEBUG TMUX
export HOME="$WORK/user-home"
mkdir -p "$HOME"

_cleanup() {
  local rc=$?
  if declare -F suite_cleanup >/dev/null; then
    suite_cleanup
  fi
  if [[ -n "$MOCK_PID" ]]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
  fi
  if [[ "$FINISHED" -eq 0 ]]; then
    echo "$SCRIPT_NAME: stopped early (exit $rc) after $PASSED passed, $FAILED failed" >&2
    echo "$PASSED passed, $((FAILED + 1)) failed"
    rc=1
  fi
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    echo "$SCRIPT_NAME: work folder kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- output ----

pass() {
  PASSED=$((PASSED + 1))
  echo "  ok   $1"
}

fail() {
  FAILED=$((FAILED + 1))
  echo "  FAIL $1"
}

# step TEXT: a heading for a group of checks.
step() {
  echo "-- $*"
}

# _show FILE: prints a file indented, for failure messages.
_show() {
  local file=$1
  if [[ -s "$file" ]]; then
    sed 's/^/      | /' "$file"
  else
    echo "      | (empty)"
  fi
}

# _show_text TEXT: prints text indented, for failure messages.
_show_text() {
  printf '%s\n' "$1" | sed 's/^/      | /'
}

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
  if [[ "$2" == "$3" ]]; then
    pass "$1 = $3"
  else
    fail "$1 = '$2', expected '$3'"
  fi
}

# finish: prints the summary and exits non-zero when a check failed.
finish() {
  FINISHED=1
  echo "$PASSED passed, $FAILED failed"
  if [[ "$FAILED" -gt 0 ]]; then
    exit 1
  fi
  exit 0
}

# ----------------------------------------------------------------- mock -----

_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_mock CONFIG_JSON: starts `baton mock --port P --config FILE` on a free
# loopback port and waits until its control API answers. Sets MOCK_PORT and
# MOCK_URL.
start_mock() {
  printf '%s\n' "$1" >"$WORK/mock.json"
  local try i
  for try in 1 2 3; do
    MOCK_PORT=$(_free_port)
    MOCK_URL="http://127.0.0.1:$MOCK_PORT"
    "$BATON" mock --port "$MOCK_PORT" --config "$WORK/mock.json" >"$WORK/mock.log" 2>&1 &
    MOCK_PID=$!
    for ((i = 0; i < 200; i++)); do
      if curl -s -o /dev/null "$MOCK_URL/_mock/backends"; then
        return 0
      fi
      if ! kill -0 "$MOCK_PID" 2>/dev/null; then
        break
      fi
      # Start-up polling, not a scenario delay: at most 200 x 25 ms.
      sleep 0.025
    done
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
    echo "$SCRIPT_NAME: mock did not start on port $MOCK_PORT (try $try):" >&2
    _show "$WORK/mock.log" >&2
  done
  echo "$SCRIPT_NAME: cannot start baton mock" >&2
  exit 1
}

# mock_base NAME: the OpenAI-compatible base URL of mock backend NAME.
mock_base() {
  echo "$MOCK_URL/$1/v1"
}

# mock_put NAME BACKEND_JSON: creates or replaces a backend (control API).
mock_put() {
  curl -sf -X PUT -H 'content-type: application/json' -d "$2" \
    "$MOCK_URL/_mock/backends/$1" >/dev/null
}

# mock_script NAME BEHAVIOR_JSON: appends behaviors to a backend's script.
mock_script() {
  curl -sf -X POST -H 'content-type: application/json' -d "$2" \
    "$MOCK_URL/_mock/backends/$1/script" >/dev/null
}

# mock_requests NAME: how many chat requests backend NAME has received.
mock_requests() {
  curl -sf "$MOCK_URL/_mock/backends/$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])'
}

# ------------------------------------------------------------- profiles -----

# profile NAME JSON: writes $BATON_HOME/profiles/NAME.json byte for byte, for
# scenarios about a given file; fixtures use the writers below.
profile() {
  printf '%s\n' "$2" >"$BATON_HOME/profiles/$1.json"
}

# member_profile NAME [--set KEY=VALUE]...: an OpenAI-compatible profile for
# model mock-model on mock backend NAME, with more settings as `baton --set`
# takes them.
member_profile() {
  local name=$1
  shift
  "$BATON_FIXTURE" profile "$name" --base-url "$(mock_base "$name")" "$@" >/dev/null
}

# member_profiles NAME...: a member_profile for each mock backend.
member_profiles() {
  local name
  for name in "$@"; do
    member_profile "$name"
  done
}

# lb_profile NAME [--policy POLICY] MEMBER... [--set KEY=VALUE]...: a
# load-balancer profile (failover unless told otherwise).
lb_profile() {
  "$BATON_FIXTURE" lb "$@" >/dev/null
}
