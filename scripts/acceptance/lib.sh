# shellcheck shell=bash
# Helpers for the acceptance scripts. Source it first thing:
#
#   source "$(dirname "$0")/lib.sh"
#
# scripts/lib/common.sh gives each script its private home, `baton mock`, the
# profile writers, the counters and `finish`; this file adds `run_baton`
# (stdout, stderr and the exit code captured in files, BATON_DEBUG=baton:*) and
# the checks on those files.
#
# Environment: BATON_BIN and BATON_FIXTURE (use these binaries instead of
# building them), KEEP_WORK=1 (keep the temp folder for a look afterwards),
# RUN_TIMEOUT_S (the limit on one run, 30).

SUITE=acceptance
REQUIRED_TOOLS=(curl python3)
# shellcheck source=../lib/common.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib/common.sh"

RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-30}
SCRIPT_START_MS=$(($(date +%s%N) / 1000000))

# ------------------------------------------------------------------ runs ----

# run_baton LABEL ARGS...: runs baton with BATON_DEBUG=baton:*, capturing
# stdout in $WORK/LABEL.out, stderr in $WORK/LABEL.err and the exit code in
# RC. Sets OUT, ERR, RC and ELAPSED_MS for the checks that follow.
run_baton() {
  local label=$1
  shift
  OUT="$WORK/$label.out"
  ERR="$WORK/$label.err"
  RC=0
  local start end
  start=$(date +%s%N)
  BATON_DEBUG='baton:*' timeout "$RUN_TIMEOUT_S" "$BATON" "$@" \
    </dev/null >"$OUT" 2>"$ERR" || RC=$?
  end=$(date +%s%N)
  # shellcheck disable=SC2034 # read by the scripts that source this file
  ELAPSED_MS=$(((end - start) / 1000000))
  printf '%s\n' "$RC" >"$WORK/$label.rc"
}

# run_plain LABEL ARGS...: like run_baton, without BATON_DEBUG.
run_plain() {
  local label=$1
  shift
  OUT="$WORK/$label.out"
  ERR="$WORK/$label.err"
  RC=0
  timeout "$RUN_TIMEOUT_S" "$BATON" "$@" </dev/null >"$OUT" 2>"$ERR" || RC=$?
  printf '%s\n' "$RC" >"$WORK/$label.rc"
}

# -------------------------------------------------------------- checks ------

# expect_line FILE TEXT: some line of FILE is exactly TEXT (byte for byte).
expect_line() {
  local file=$1 text=$2
  if grep -Fxq -- "$text" "$file"; then
    pass "$(basename "$file"): line '$text'"
  else
    fail "$(basename "$file"): no line '$text'; the file holds:"
    _show "$file"
  fi
}

# expect_no_line FILE TEXT: no line of FILE contains TEXT at all.
expect_no_line() {
  local file=$1 text=$2
  if grep -Fq -- "$text" "$file"; then
    fail "$(basename "$file"): unexpected '$text'; the file holds:"
    _show "$file"
  else
    pass "$(basename "$file"): no '$text'"
  fi
}

# expect_text FILE TEXT: FILE contains TEXT somewhere.
expect_text() {
  local file=$1 text=$2
  if grep -Fq -- "$text" "$file"; then
    pass "$(basename "$file"): contains '$text'"
  else
    fail "$(basename "$file"): does not contain '$text'; the file holds:"
    _show "$file"
  fi
}

# expect_match FILE ERE: some line of FILE matches the extended regex ERE.
expect_match() {
  local file=$1 re=$2
  if grep -Eq -- "$re" "$file"; then
    pass "$(basename "$file"): matches /$re/"
  else
    fail "$(basename "$file"): no line matches /$re/; the file holds:"
    _show "$file"
  fi
}

# expect_count FILE TEXT N: exactly N lines of FILE are exactly TEXT.
expect_count() {
  local file=$1 text=$2 want=$3 got
  got=$(grep -Fxc -- "$text" "$file" || true)
  if [[ "$got" == "$want" ]]; then
    pass "$(basename "$file"): '$text' x$want"
  else
    fail "$(basename "$file"): '$text' $got times, expected $want; the file holds:"
    _show "$file"
  fi
}

# expect_in_order FILE LINE...: each LINE is a whole line of FILE, and they
# appear in this order (other lines may come between them).
expect_in_order() {
  local file=$1
  shift
  local after=0 text n
  for text in "$@"; do
    n=$(awk -v want="$text" -v after="$after" \
      'NR > after && $0 == want { print NR; exit }' "$file")
    if [[ -z "$n" ]]; then
      fail "$(basename "$file"): '$text' missing after line $after; the file holds:"
      _show "$file"
      return 0
    fi
    after=$n
  done
  pass "$(basename "$file"): $# lines in order, from '$1'"
}

# expect_file_eq FILE EXPECTED_TEXT: FILE's content is exactly EXPECTED_TEXT
# (plus the final newline).
expect_file_eq() {
  local file=$1 want=$2
  if [[ "$(cat "$file")" == "$want" ]]; then
    if [[ "$want" == *$'\n'* ]]; then
      pass "$(basename "$file"): is exactly the expected $(printf '%s\n' "$want" | wc -l) lines"
    else
      pass "$(basename "$file"): is exactly '$want'"
    fi
  else
    fail "$(basename "$file"): expected exactly:"
    printf '%s\n' "$want" | sed 's/^/      > /'
    echo "      but holds:"
    _show "$file"
  fi
}

# expect_exit N: the last run exited with N.
expect_exit() {
  if [[ "$RC" == "$1" ]]; then
    pass "exit code $1"
  else
    fail "exit code $RC, expected $1; stderr:"
    _show "$ERR"
  fi
}

# expect_true WHAT COMMAND...: the command succeeds.
expect_true() {
  local what=$1
  shift
  if "$@"; then
    pass "$what"
  else
    fail "$what"
  fi
}

# lb_block FILE: prints the `/stats lb` block of FILE (from its
# "Load Balancer Statistics" line to the end).
lb_block() {
  awk '/^Load Balancer Statistics$/ { on = 1 } on' "$1"
}

# first_number FILE ERE: the first number captured by the first line of FILE
# matching ERE (which must hold one group of digits, written as ([0-9]+)).
first_number() {
  python3 - "$1" "$2" <<'PY'
import re, sys
path, pattern = sys.argv[1], sys.argv[2]
for line in open(path, encoding="utf-8", errors="replace"):
    m = re.search(pattern, line.rstrip("\n"))
    if m:
        print(m.group(1))
        break
PY
}

# expect_block ACTUAL_FILE EXPECTED_TEXT: ACTUAL_FILE's lines equal the
# expected lines one by one (trailing blank lines ignored); `{n}` in an
# expected line stands for a number there.
expect_block() {
  local file=$1 want=$2 report
  if report=$(python3 - "$file" "$want" <<'PY'
import re, sys
actual = open(sys.argv[1], encoding="utf-8", errors="replace").read().rstrip("\n").split("\n")
expected = sys.argv[2].rstrip("\n").split("\n")
bad = []
for i in range(max(len(actual), len(expected))):
    a = actual[i] if i < len(actual) else "<missing>"
    e = expected[i] if i < len(expected) else "<nothing more>"
    pattern = "^" + re.escape(e).replace(re.escape("{n}"), "[0-9]+") + "$"
    if not re.match(pattern, a):
        bad.append(f"line {i + 1}: expected {e!r}, got {a!r}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
  ); then
    pass "$(basename "$file"): $(printf '%s\n' "$want" | wc -l) lines as expected"
  else
    fail "$(basename "$file"): differs from the expected block:"
    printf '%s\n' "$report" | sed 's/^/      ! /'
    _show "$file"
  fi
}

# stat_value FILE BACKEND FIELD: the value V of the line "    FIELD: V" in
# BACKEND's part of a /stats lb block.
stat_value() {
  awk -v b="  $2" -v f="    $3: " '
    $0 == b { on = 1; next }
    /^  [^ ]/ || /^[^ ]/ { on = 0 }
    on && index($0, f) == 1 { print substr($0, length(f) + 1); exit }' "$1"
}

# expect_tpm WHAT ACTUAL TOKENS: ACTUAL is TOKENS / minutes covered (integer
# division, docs/failover.md). All tokens were recorded since this script
# started, so the window covers 1 minute, or more if a minute boundary passed.
expect_tpm() {
  local what=$1 actual=$2 tokens=$3 now_min start_min covered allowed=""
  now_min=$(($(date +%s) / 60))
  start_min=$((SCRIPT_START_MS / 60000))
  for ((covered = 1; covered <= now_min - start_min + 1 && covered <= 5; covered++)); do
    allowed="$allowed $((tokens / covered))"
  done
  if [[ " $allowed " == *" $actual "* ]]; then
    pass "$what = $actual ($tokens tokens / minutes covered)"
  else
    fail "$what = '$actual', expected one of:$allowed ($tokens tokens / minutes covered)"
  fi
}
