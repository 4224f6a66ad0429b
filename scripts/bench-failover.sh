#!/usr/bin/env bash
# How much latency does failing over add after a refused connection?
# Compares `baton --profile-load lb` (lb = [a backend whose port refuses, ok]) with
# `baton --profile-load ok` (the sibling called directly) on the same local mock.
# Target: the failover run's median at most 2 ms over the direct run's.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-31}
cargo build --release --quiet
BIN=$PWD/target/release/baton

work=$(mktemp -d)
mock_pid=
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
refused=$(free_port)   # nothing listens here once the probe socket is closed
cat > "$work/mock.json" <<'EOF'
{"backends": {"ok": {"behavior": {"kind": "answer", "tokens": 20}}}}
EOF
"$BIN" mock --port "$port" --config "$work/mock.json" >/dev/null 2>&1 &
mock_pid=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/_mock/backends" && break
  sleep 0.05
done

export BATON_HOME="$work/home"
mkdir -p "$BATON_HOME/profiles"
cat > "$BATON_HOME/profiles/ok.json" <<EOF
{"version":1,"provider":"openai","model":"m","ephemeralSettings":{"base-url":"http://127.0.0.1:$port/ok/v1"}}
EOF
cat > "$BATON_HOME/profiles/down.json" <<EOF
{"version":1,"provider":"openai","model":"m","ephemeralSettings":{"base-url":"http://127.0.0.1:$refused/v1"}}
EOF
# One attempt on the refused backend and a breaker that never opens, so every run
# pays for the refused connection and the failover.
cat > "$BATON_HOME/profiles/lb.json" <<'EOF'
{"version":1,"type":"loadbalancer","policy":"failover","profiles":["down","ok"],
 "ephemeralSettings":{"failover_retry_count":1,"circuit_breaker_enabled":false}}
EOF

time_us() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

"$BIN" --profile-load lb --prompt hi >/dev/null  # warm up, and check it works
BATON_DEBUG=baton:* "$BIN" --profile-load lb --prompt hi 2>&1 >/dev/null | grep -q "Success on backend: ok" \
  || { echo "the failover run did not end on 'ok'" >&2; exit 1; }

direct=$(for _ in $(seq "$RUNS"); do time_us "$BIN" --profile-load ok --prompt hi; done | median)
failover=$(for _ in $(seq "$RUNS"); do time_us "$BIN" --profile-load lb --prompt hi; done | median)
added=$(( failover - direct ))

printf '%-34s %10s\n' "median of $RUNS runs" "wall time"
printf '%-34s %8.2fms\n' "sibling called directly" "$(awk -v v="$direct" 'BEGIN{print v/1000}')"
printf '%-34s %8.2fms\n' "refused, then failover to sibling" "$(awk -v v="$failover" 'BEGIN{print v/1000}')"
printf '%-34s %8.2fms  (target <= 2ms)\n' "added by failover" "$(awk -v v="$added" 'BEGIN{print v/1000}')"
[ "$added" -le 2000 ]
