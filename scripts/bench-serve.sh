#!/usr/bin/env bash
# Gateway overhead: the same requests sent to `baton mock` directly and through
# `baton serve` (a model profile pointing at that mock), in the same run, with the
# `oha` load generator when it is installed (`cargo install oha`), else the small one
# in benches/serve_load.rs. Prints p50/p99 latency of each and the difference, for
# whole answers and streamed ones. No targets: numbers to read.
#
#   N=2000 C=16 scripts/bench-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
C=${C:-16}
command -v curl >/dev/null || { echo "bench needs curl" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
cargo build --release --quiet
BIN=$PWD/target/release/baton
if command -v oha >/dev/null; then
  LOADGEN=oha
else
  LOADGEN=serve_load
  cargo bench --quiet --bench serve_load --no-run 2>/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "nothing answers at $1" >&2; exit 1
}

mock_port=$(free_port)
serve_port=$(free_port)
cat > "$work/mock.json" <<'JSON'
{"backends": {"bench": {"behavior": {"kind": "answer", "tokens": 50, "token_delay_ms": 0}}}}
JSON
"$BIN" mock --port "$mock_port" --config "$work/mock.json" >/dev/null 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$mock_port/_mock/backends"

export BATON_HOME="$work/home"
mkdir -p "$BATON_HOME/profiles"
cat > "$BATON_HOME/profiles/bench.json" <<JSON
{"version":1,"provider":"openai","model":"bench","modelParams":{},
 "ephemeralSettings":{"base-url":"http://127.0.0.1:$mock_port/bench/v1"}}
JSON
unset OPENAI_API_KEY BATON_DEBUG || true
"$BIN" serve --listen "127.0.0.1:$serve_port" --max-concurrent 1024 --max-queue 4096 \
  >/dev/null 2>"$work/serve.log" &
pids+=($!)
wait_http "http://127.0.0.1:$serve_port/healthz"

direct="http://127.0.0.1:$mock_port/bench/v1/chat/completions"
gateway="http://127.0.0.1:$serve_port/v1/chat/completions"
body() { printf '{"model":"bench","stream":%s,"messages":[{"role":"user","content":"Write about relay races."}]}' "$1"; }

# p50 and p99 in ms, requests/s and 200s, on one line.
measure() {
  local url=$1 stream=$2
  if [ "$LOADGEN" = serve_load ]; then
    cargo bench --quiet --bench serve_load -- "$url" "$(body "$stream")" "$N" "$C" 2>/dev/null
    return
  fi
  oha --no-tui --output-format json -n "$N" -c "$C" -m POST -H 'content-type: application/json' \
    -d "$(body "$stream")" "$url" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
p = r["latencyPercentiles"]
ok = r.get("statusCodeDistribution", {}).get("200", 0)
print(f"{p[\"p50\"]*1000:.2f} {p[\"p99\"]*1000:.2f} {r[\"summary\"][\"requestsPerSec\"]:.0f} {ok}")'
}

printf "%-10s %-8s %9s %9s %9s %7s\n" mode target p50_ms p99_ms req/s ok
for stream in false true; do
  mode=$([ "$stream" = true ] && echo streamed || echo whole)
  measure "$direct" "$stream" >/dev/null   # warm-up
  measure "$gateway" "$stream" >/dev/null
  read -r d50 d99 drps dok < <(measure "$direct" "$stream")
  read -r g50 g99 grps gok < <(measure "$gateway" "$stream")
  printf "%-10s %-8s %9s %9s %9s %7s\n" "$mode" mock "$d50" "$d99" "$drps" "$dok"
  printf "%-10s %-8s %9s %9s %9s %7s\n" "$mode" serve "$g50" "$g99" "$grps" "$gok"
  python3 -c "print(f'{\"$mode\":<10} {\"overhead\":<8} {$g50-$d50:9.2f} {$g99-$d99:9.2f}')"
done
echo "N=$N C=$C, 50-token answers, load generator: $LOADGEN, mock and baton serve on this machine"
