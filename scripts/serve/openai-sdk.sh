#!/usr/bin/env bash
# Runs the official `openai` Python SDK against `baton serve`, streaming and not.
#
# Creates (once) a virtualenv with `pip install openai`, starts baton serve on a
# free loopback port with a fresh home (the built-in `demo` profile, no API key
# needed) and a client key, then checks a whole answer, a streamed one with usage,
# the model list and the SDK's NotFoundError for an unknown model.
#
# Prints `skipped: <tool> not found` and exits 0 when python3, venv or pip is
# unavailable, unless BATON_REQUIRE_TOOLS=1.
#
#   BATON_BIN=target/debug/baton scripts/serve/openai-sdk.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${BATON_BIN:-$root/target/debug/baton}"
venv="${BATON_SDK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/baton/openai-sdk-venv}"

skip() {
    echo "skipped: $1 not found"
    if [[ "${BATON_REQUIRE_TOOLS:-0}" == "1" ]]; then
        exit 1
    fi
    exit 0
}

command -v python3 >/dev/null 2>&1 || skip python3
[[ -x "$bin" ]] || { echo "openai-sdk: no baton binary at $bin (cargo build first)" >&2; exit 1; }

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; skip venv; }
fi
if ! "$venv/bin/python" -c 'import openai' >/dev/null 2>&1; then
    "$venv/bin/python" -m pip --version >/dev/null 2>&1 || skip pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check openai >/dev/null 2>&1 \
        || skip "pip install openai"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export BATON_HOME="$work/home"
unset OPENAI_API_KEY BATON_DEBUG || true
key="$("$bin" serve keys add sdk 2>/dev/null)"
"$bin" serve --listen 127.0.0.1:0 2>"$work/serve.log" &
server_pid=$!
base=""
for _ in $(seq 1 200); do
    base="$(sed -n 's/^baton serve listening on //p' "$work/serve.log" | head -n1)"
    [[ -n "$base" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.05
done
[[ -n "$base" ]] || { echo "openai-sdk: baton serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }

BASE_URL="$base" API_KEY="$key" "$venv/bin/python" - <<'PY'
import os
import openai

client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["API_KEY"])
msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]

whole = client.chat.completions.create(model="demo", messages=msgs, temperature=0.2, max_tokens=64)
assert whole.choices[0].message.content, whole
assert whole.choices[0].finish_reason == "stop", whole
assert whole.usage and whole.usage.total_tokens > 0, whole

text, finish, usage = "", None, None
stream = client.chat.completions.create(
    model="demo", messages=msgs, stream=True, stream_options={"include_usage": True}
)
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for choice in chunk.choices:
        text += choice.delta.content or ""
        finish = choice.finish_reason or finish
assert text, "streamed text"
assert finish == "stop", finish
assert usage and usage.completion_tokens > 0, usage

ids = [m.id for m in client.models.list()]
assert "demo" in ids, ids

try:
    client.chat.completions.create(model="no-such-profile", messages=msgs)
    raise AssertionError("unknown model answered")
except openai.NotFoundError as e:
    assert e.code == "model_not_found", e

try:
    openai.OpenAI(base_url=os.environ["BASE_URL"], api_key="bk-wrong").models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError:
    pass

print("openai-sdk: ok (whole, streamed, models, 404, 401) with openai", openai.__version__)
PY
