#!/usr/bin/env bash
# Acceptance scenario 7 (profile save/load with ephemeral settings), the
# "Alternative (Automated Testing)" path: testlb489save.json is written as the
# seed shows it (timeout_ms 1000 instead of 30000 to stay fast) and loaded
# with --profile-load. Each of its settings that a run can reveal is checked:
# timeout_ms (in the timeout line), tpm_threshold (in the TPM line),
# circuit_breaker_failure_threshold 5 (three failures do not open the breaker;
# the default 3 would), --set overriding the file. `baton profiles show`
# round-trips, and a raw auth-key is never written into baton's files.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

SECRET=sk-acceptance-secret-0042
start_mock "{\"backends\": {
  \"synthetic\": {\"behavior\": {\"kind\": \"answer\", \"first_chunk_delay_ms\": 3000, \"prompt_tokens\": 5, \"completion_tokens\": 20}},
  \"chutes\":    {\"behavior\": {\"kind\": \"answer\", \"prompt_tokens\": 1000, \"completion_tokens\": 1000}},
  \"locked\":    {\"behavior\": {\"kind\": \"answer\"}, \"require_key\": \"$SECRET\"}
}}"
member_profile synthetic
member_profile chutes

step "Write testlb489save.json as the spec writes it; it validates"
cat >"$BATON_HOME/profiles/testlb489save.json" <<'JSON'
{
  "version": 1,
  "type": "loadbalancer",
  "policy": "failover",
  "profiles": ["synthetic", "chutes"],
  "ephemeralSettings": {
    "tpm_threshold": 1000,
    "timeout_ms": 1000,
    "circuit_breaker_enabled": true,
    "circuit_breaker_failure_threshold": 5,
    "circuit_breaker_failure_window_ms": 60000,
    "circuit_breaker_recovery_timeout_ms": 30000
  }
}
JSON
run_plain validate profiles validate testlb489save
expect_exit 0

step "--profile-load testlb489save --prompt test: the file's timeout_ms applies"
run_baton load1 --profile-load testlb489save --prompt "test"
expect_exit 0
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:timeout] synthetic: Request exceeded 1000ms" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "--set timeout_ms=1500 overrides the file for one run"
run_baton load2 --profile-load testlb489save --set timeout_ms=1500 --prompt "test"
expect_exit 0
expect_line "$ERR" "[LB:timeout] synthetic: Request exceeded 1500ms"
expect_no_line "$ERR" "Request exceeded 1000ms"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "A third timeout: failure_threshold 5 from the file keeps the breaker closed"
run_baton load3 --profile-load testlb489save --prompt "test"
expect_exit 0
expect_line "$ERR" "[LB:timeout] synthetic: Request exceeded 1000ms"
expect_no_line "$ERR" "[circuit-breaker]"
mock_put synthetic '{"behavior": {"kind": "answer", "prompt_tokens": 5, "completion_tokens": 20}}'
run_baton load4 --profile-load testlb489save --stats --prompt "test"
expect_exit 0
expect_no_line "$ERR" "Skipping unhealthy backend"
expect_in_order "$ERR" \
  "[LB:failover] Trying backend: synthetic (attempt 1/2)" \
  "[LB:failover] Success on backend: synthetic"
expect_file_eq "$OUT" "Hello from synthetic. This is a mock answer."
lb_block "$ERR" >"$WORK/load4.stats"
expect_line "$WORK/load4.stats" "  synthetic: closed"

step "tpm_threshold 1000 from the file: synthetic (25 TPM) is passed over, chutes (2000 tokens) is not"
run_baton load5 --profile-load testlb489save --prompt "test"
expect_exit 0
tpm=$(first_number "$ERR" '^\[LB:tpm\] synthetic: Current TPM = ([0-9]+)$')
expect_tpm "logged TPM of synthetic" "${tpm:-none}" 25
expect_in_order "$ERR" \
  "[LB:failover] synthetic: TPM (${tpm:-?}) below threshold (1000), failing over" \
  "[LB:failover] Trying backend: chutes (attempt 1/2)" \
  "[LB:failover] Success on backend: chutes"
expect_no_line "$ERR" "[LB:failover] chutes: TPM"
expect_file_eq "$OUT" "Hello from chutes. This is a mock answer."

step "baton profiles show round-trips"
run_plain show1 profiles show testlb489save
expect_exit 0
cp "$OUT" "$WORK/show1.json"
same=$(python3 - "$BATON_HOME/profiles/testlb489save.json" "$WORK/show1.json" <<'PY'
import json, sys
written, shown = (json.load(open(p)) for p in sys.argv[1:3])
# What the file says must be shown unchanged; show may add the LB defaults.
extra = {k: v for k, v in shown.items() if k not in written}
ok = all(shown.get(k) == v for k, v in written.items()) and \
    extra == {"provider": "", "model": "", "modelParams": {}}
print("yes" if ok else f"no: shown={shown}")
PY
)
expect_eq "shown JSON = the file (plus provider/model/modelParams defaults)" "$same" "yes"
cp "$WORK/show1.json" "$BATON_HOME/profiles/testlb489copy.json"
run_plain show2 profiles show testlb489copy
expect_exit 0
expect_file_eq "$OUT" "$(cat "$WORK/show1.json")"

step "import-llxprt drops a raw auth-key; baton's profiles never hold it"
mkdir -p "$WORK/llxprt"
printf '%s\n' "{\"version\":1,\"provider\":\"openai\",\"model\":\"mock-model\",\"modelParams\":{},\"ephemeralSettings\":{\"base-url\":\"$(mock_base locked)\",\"auth-key\":\"$SECRET\"}}" \
  >"$WORK/llxprt/rawkey.json"
printf '%s\n' "{\"version\":1,\"type\":\"loadbalancer\",\"policy\":\"failover\",\"profiles\":[\"rawkey\",\"chutes\"],\"provider\":\"\",\"model\":\"\",\"modelParams\":{},\"ephemeralSettings\":{\"auth-key\":\"$SECRET\",\"timeout_ms\":1000}}" \
  >"$WORK/llxprt/rawkeylb.json"
run_plain import profiles import-llxprt "$WORK/llxprt"
expect_exit 0
expect_line "$OUT" "imported  rawkey"
expect_line "$OUT" "imported  rawkeylb"
expect_text "$OUT" "rawkey: dropped auth-key"
expect_no_line "$OUT" "$SECRET"
expect_no_line "$ERR" "$SECRET"
expect_true "the imported profiles exist" \
  test -f "$BATON_HOME/profiles/rawkey.json" -a -f "$BATON_HOME/profiles/rawkeylb.json"
expect_true "no file under BATON_HOME holds the key" \
  test -z "$(grep -rlF -- "$SECRET" "$BATON_HOME" || true)"
expect_text "$BATON_HOME/profiles/rawkey.json" "$(mock_base locked)"

step "A profile holding a raw auth-key loads with a warning and is never re-saved with it"
cp "$WORK/llxprt/rawkey.json" "$BATON_HOME/profiles/rawdirect.json"
before=$(cksum <"$BATON_HOME/profiles/rawdirect.json")
run_baton rawdirect --profile-load rawdirect --prompt "test"
expect_exit 0
expect_file_eq "$OUT" "Hello from locked. This is a mock answer."
expect_match "$ERR" '^baton: warning: .*auth-key'
expect_no_line "$ERR" "$SECRET"
expect_eq "rawdirect.json unchanged by the run" "$(cksum <"$BATON_HOME/profiles/rawdirect.json")" "$before"
expect_true "no other file under BATON_HOME holds the key" \
  test "$(grep -rlF -- "$SECRET" "$BATON_HOME" || true)" = "$BATON_HOME/profiles/rawdirect.json"

finish
