#!/usr/bin/env bash
# Compares `baton --prompt` with `curl -N` on the same local stream: a 200-token
# answer from `baton mock`, paced 1 ms a token like a fast real provider (the target
# row), and the same answer unpaced, which shows baton's fixed overhead (start-up,
# runtime, profile resolution) in milliseconds.
# Targets: median wall time of baton <= 1.15x curl's, peak RSS <= 15 MB,
# `baton --version` under 5 ms. Prints a table; exits 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-21}
cargo build --release --quiet
BIN=$PWD/target/release/baton
command -v curl >/dev/null || { echo "bench needs curl" >&2; exit 1; }

work=$(mktemp -d)
mock_pid=
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/mock.json" <<'EOF'
{"backends": {
  "bench": {"behavior": {"kind": "answer", "tokens": 200, "token_delay_ms": 1}},
  "burst": {"behavior": {"kind": "answer", "tokens": 200, "token_delay_ms": 0}}
}}
EOF
"$BIN" mock --port "$port" --config "$work/mock.json" >/dev/null 2>&1 &
mock_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/_mock/backends" && break
  sleep 0.05
done

url="http://127.0.0.1:$port/bench/v1"
prompt="Write two hundred words about relay races."
body=$(printf '{"model":"bench","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"%s"}]}' "$prompt")
export BATON_HOME="$work/home"

run_curl() { curl -sN -X POST "$url/chat/completions" -H 'content-type: application/json' -d "$body" >/dev/null; }
run_baton() { "$BIN" --provider openai --model bench --base-url "$url" --prompt "$prompt" >/dev/null; }
burst_url="http://127.0.0.1:$port/burst/v1"
run_curl_burst() { curl -sN -X POST "$burst_url/chat/completions" -H 'content-type: application/json' -d "$body" >/dev/null; }
run_baton_burst() { "$BIN" --provider openai --model bench --base-url "$burst_url" --prompt "$prompt" >/dev/null; }

# Sanity: both must really stream the answer.
run_baton || { echo "baton failed against the mock" >&2; exit 1; }
words=$("$BIN" --provider openai --model bench --base-url "$url" --prompt "$prompt" | wc -w)
[ "$words" -ge 200 ] || { echo "baton printed $words words, expected 200" >&2; exit 1; }

# Wall time of one run, in microseconds.
time_us() { local s e; s=$(date +%s%N); "$@"; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_curl; run_baton  # warm caches
curl_med=$(for _ in $(seq "$RUNS"); do time_us run_curl; done | median)
baton_med=$(for _ in $(seq "$RUNS"); do time_us run_baton; done | median)
curl_burst=$(for _ in $(seq "$RUNS"); do time_us run_curl_burst; done | median)
baton_burst=$(for _ in $(seq "$RUNS"); do time_us run_baton_burst; done | median)

rss_kb=$(for _ in 1 2 3; do /usr/bin/time -f %M "$BIN" --provider openai --model bench --base-url "$url" --prompt "$prompt" 2>&1 >/dev/null | tail -1; done | sort -n | tail -1)
curl_rss_kb=$(/usr/bin/time -f %M curl -sN -X POST "$url/chat/completions" -H 'content-type: application/json' -d "$body" 2>&1 >/dev/null | tail -1)

start=$(date +%s%N)
for _ in $(seq 100); do "$BIN" --version >/dev/null; done
version_us=$(( ($(date +%s%N) - start) / 100000 ))

ratio=$(awk -v b="$baton_med" -v c="$curl_med" 'BEGIN {printf "%.3f", b / c}')
ok() { if awk "BEGIN {exit !($1)}"; then echo ok; else echo MISSED; fi; }
r1=$(ok "$ratio <= 1.15"); r2=$(ok "$rss_kb <= 15360"); r3=$(ok "$version_us < 5000")

printf '%-28s %12s %12s %10s %8s\n' "measure ($RUNS runs)" "baton" "curl -N" "target" "result"
printf '%-28s %10.1fms %10.1fms %10s %8s\n' "median wall time" "$(awk -v v="$baton_med" 'BEGIN{print v/1000}')" "$(awk -v v="$curl_med" 'BEGIN{print v/1000}')" "<=1.15x" "$r1 ($ratio x)"
printf '%-28s %10.1fms %10.1fms %10s %8s\n' "same, unpaced (overhead)" "$(awk -v v="$baton_burst" 'BEGIN{print v/1000}')" "$(awk -v v="$curl_burst" 'BEGIN{print v/1000}')" "info" "$(awk -v b="$baton_burst" -v c="$curl_burst" 'BEGIN{printf "%+.1f", (b-c)/1000}')ms"
printf '%-28s %10.1fMB %10.1fMB %10s %8s\n' "peak RSS" "$(awk -v v="$rss_kb" 'BEGIN{print v/1024}')" "$(awk -v v="$curl_rss_kb" 'BEGIN{print v/1024}')" "<=15MB" "$r2"
printf '%-28s %10.2fms %12s %10s %8s\n' "baton --version" "$(awk -v v="$version_us" 'BEGIN{print v/1000}')" "-" "<5ms" "$r3"

[ "$r1" = ok ] && [ "$r2" = ok ] && [ "$r3" = ok ]
