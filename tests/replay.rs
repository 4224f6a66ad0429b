//! Real provider answers, replayed through the real binary over real TCP.
//!
//! Each case serves one recorded body from `tests/replay/` (with the status and headers
//! listed in `tests/replay/manifest.json`) to `baton --output-format json` on a profile of
//! that provider, and checks what baton reports against the manifest's expectations:
//! status, stop reason, text, tool calls, reasoning, usage, error class and exit code.
//! Where the files came from is in `tests/replay/README.md`.

#![allow(clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;

use baton_test_support::home::{TempHome, text};
use baton_test_support::profile;
use serde_json::{Value, json};

/// One manifest entry.
struct Case {
    file: String,
    provider: String,
    whole: bool,
    http_status: u16,
    headers: Vec<(String, String)>,
    expect: Value,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/replay")
}

fn case(file: &str) -> Case {
    let manifest = std::fs::read_to_string(corpus().join("manifest.json")).expect("manifest");
    let entries: Vec<Value> = serde_json::from_str(&manifest).expect("manifest is JSON");
    let entry = entries
        .into_iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} is not in manifest.json"));
    let headers = entry["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Case {
        file: file.to_owned(),
        provider: entry["provider"].as_str().unwrap_or_default().to_owned(),
        whole: entry["mode"] == "whole",
        http_status: entry["http_status"].as_u64().unwrap_or(200) as u16,
        headers,
        expect: entry["expect"].clone(),
    }
}

/// A server that answers every request with the same recorded response and keeps the
/// request bodies it was sent.
struct Replay {
    base: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Replay {
    fn start(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let request = read_request(&stream);
                if let Ok(mut seen) = seen.lock() {
                    seen.push(request);
                }
                respond(stream, status, &headers, &body);
            }
        });
        Self { base, bodies }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// Reads one request and returns its JSON body (`Null` when it has none).
fn read_request(stream: &TcpStream) -> Value {
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return Value::Null;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return Value::Null;
    }
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn respond(mut stream: TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} Replayed\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// The model each provider's profile names, and the path its base URL ends with.
fn model_for(provider: &str) -> (&'static str, &'static str) {
    match provider {
        "anthropic" => ("claude-sonnet-4-5", "/v1"),
        "gemini" => ("gemini-2.5-flash", "/v1beta"),
        "ollama" => ("llama3.2", ""),
        _ => ("gpt-4o-mini", "/v1"),
    }
}

/// What one run printed and how it exited.
struct Run {
    code: Option<i32>,
    json: Value,
    stderr: String,
    requests: Vec<Value>,
}

/// Replays `case` with `extra` flags after the defaults.
fn replay_with(case: &Case, params: &[(&str, Value)], extra: &[&str]) -> Run {
    let body = std::fs::read(corpus().join(&case.file)).expect("corpus file");
    let server = Replay::start(case.http_status, case.headers.clone(), body);
    let home = TempHome::new();
    let (model, path) = model_for(&case.provider);
    let mut fixture = profile::model(&case.provider, model)
        .base_url(&format!("{}{path}", server.base))
        .set("streaming", if case.whole { "disabled" } else { "enabled" });
    for (key, value) in params {
        fixture = fixture.param(key, value.clone());
    }
    home.write("replayed", fixture.build());
    let mut cmd = home.baton();
    cmd.env("OPENAI_API_KEY", "sk-replay")
        .env("ANTHROPIC_API_KEY", "sk-ant-replay")
        .env("GEMINI_API_KEY", "replay-key")
        .args(["--profile-load", "replayed", "--output-format", "json"])
        .args([
            "--set",
            "failover_retry_count=1",
            "--set",
            "failover_retry_delay_ms=0",
        ]);
    if case.whole {
        cmd.arg("--no-stream");
    }
    let out = cmd
        .args(extra)
        .args(["--prompt", "hello"])
        .output()
        .expect("run baton");
    let stdout = text(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is not one JSON object ({e}): {stdout}\nstderr: {}",
            case.file,
            text(&out.stderr)
        )
    });
    Run {
        code: out.status.code(),
        json,
        stderr: text(&out.stderr),
        requests: server.bodies(),
    }
}

fn replay(file: &str) -> (Case, Run) {
    let case = case(file);
    let run = replay_with(&case, &[], &[]);
    (case, run)
}

/// Checks everything the manifest says about `file`.
fn check(file: &str) {
    let (case, run) = replay(file);
    let expect = &case.expect;
    let got = &run.json;
    let context = format!("{file}: {got:#}\nstderr: {}", run.stderr);
    let status = expect["status"].as_str().unwrap_or_default();
    if status == "error" {
        assert_eq!(got["status"], "failed", "{context}");
        let class = expect["error_class"].as_str().unwrap_or_default();
        assert_eq!(got["reasons"][0]["class"], class, "{context}");
        // Only "try again later" failures exit 75; quota, auth and request errors do not.
        let code = if class == "transient" { 75 } else { 1 };
        assert_eq!(run.code, Some(code), "{context}");
        for (name, value) in &case.headers {
            if name.ends_with("request-id") {
                assert!(
                    got["reasons"][0]["reason"]
                        .as_str()
                        .is_some_and(|r| r.contains(value.as_str())),
                    "the request id is kept: {context}"
                );
            }
        }
        return;
    }
    assert_eq!(got["status"], status, "{context}");
    assert_eq!(got["stop_reason"], expect["stop_reason"], "{context}");
    let code = if status == "complete" { 0 } else { 3 };
    assert_eq!(run.code, Some(code), "{context}");
    if code == 3 {
        assert!(
            run.stderr.contains(status),
            "stderr says what happened: {context}"
        );
    }
    let answer = got["answer"].as_str().unwrap_or_default();
    if let Some(prefix) = expect["text"].as_str() {
        assert!(answer.starts_with(prefix), "text: {context}");
    }
    if let Some(refusal) = expect["refusal"].as_str() {
        let shown = got["refusal"].as_str().unwrap_or(answer);
        assert!(shown.contains(refusal), "refusal shown: {context}");
    }
    if let Some(prefix) = expect["reasoning"].as_str() {
        let reasoning = got["reasoning"].as_str().unwrap_or_default();
        assert!(reasoning.starts_with(prefix), "reasoning: {context}");
        assert!(
            !answer.contains(prefix),
            "reasoning is kept out of the answer: {context}"
        );
    }
    if let Some(calls) = expect["tool_calls"].as_array() {
        let got_calls = got["tool_calls"].as_array().cloned().unwrap_or_default();
        assert_eq!(got_calls.len(), calls.len(), "tool calls: {context}");
        for (want, have) in calls.iter().zip(&got_calls) {
            assert_eq!(have["name"], want["name"], "{context}");
            assert_eq!(
                normalise_json(&have["arguments"]),
                normalise_json(&want["arguments"]),
                "tool arguments: {context}"
            );
        }
    }
    if let Some(usage) = expect["usage"].as_object() {
        let names = [
            ("input_tokens", "input_tokens"),
            ("output_tokens", "output_tokens"),
            ("reasoning_tokens", "reasoning_tokens"),
            ("cache_read", "cache_read_tokens"),
            ("cache_write", "cache_write_tokens"),
        ];
        for (ours, theirs) in names {
            let Some(want) = usage.get(ours).and_then(Value::as_u64) else {
                continue;
            };
            let have = got["usage"][theirs].as_u64().unwrap_or(0);
            assert_eq!(have, want, "usage {theirs}: {context}");
        }
    }
}

/// Tool arguments compared as JSON values, whitespace aside.
fn normalise_json(value: &Value) -> Value {
    match value {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

macro_rules! replayed {
    ($($name:ident => $file:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check($file);
            }
        )*

        /// Every file in the manifest has a named test above.
        #[test]
        fn every_manifest_entry_is_replayed() {
            let named = [$($file),*];
            let manifest =
                std::fs::read_to_string(corpus().join("manifest.json")).expect("manifest");
            let entries: Vec<Value> = serde_json::from_str(&manifest).expect("manifest is JSON");
            for entry in entries {
                let file = entry["file"].as_str().unwrap_or_default();
                assert!(named.contains(&file), "{file} has no replay test");
            }
        }
    };
}

replayed! {
    openai_complete_whole => "openai/complete.json";
    openai_complete_stream => "openai/complete.sse";
    openai_length_whole_is_truncated => "openai/length.json";
    openai_length_stream_is_truncated => "openai/length.sse";
    openai_refusal_whole_is_refused => "openai/refusal.json";
    openai_refusal_stream_is_refused => "openai/refusal.sse";
    openai_tool_calls_whole => "openai/tool_calls.json";
    openai_tool_calls_stream => "openai/tool_calls.sse";
    openai_reasoning_tokens_counted => "openai/reasoning_tokens.json";
    openai_deepseek_reasoning_whole => "openai/deepseek_reasoning.json";
    openai_deepseek_reasoning_stream => "openai/deepseek_reasoning.sse";
    openai_insufficient_quota_is_quota => "openai/error_insufficient_quota.json";
    openai_rate_limit_is_transient => "openai/error_rate_limit.json";
    openai_content_policy_rejection_is_filtered => "openai/error_content_policy.json";
    anthropic_complete_whole => "anthropic/complete.json";
    anthropic_complete_stream => "anthropic/complete.sse";
    anthropic_max_tokens_whole_is_truncated => "anthropic/max_tokens.json";
    anthropic_max_tokens_stream_is_truncated => "anthropic/max_tokens.sse";
    anthropic_tool_use_whole => "anthropic/tool_use.json";
    anthropic_tool_use_stream => "anthropic/tool_use.sse";
    anthropic_thinking_stream => "anthropic/thinking.sse";
    anthropic_rate_limit_is_transient => "anthropic/error_rate_limit.json";
    anthropic_credit_balance_is_quota => "anthropic/error_credit_balance.json";
    anthropic_overloaded_is_transient => "anthropic/error_overloaded.json";
    gemini_complete_whole => "gemini/complete.json";
    gemini_complete_stream => "gemini/complete.sse";
    gemini_max_tokens_whole_is_truncated => "gemini/max_tokens.json";
    gemini_max_tokens_stream_is_truncated => "gemini/max_tokens.sse";
    gemini_function_call_stream => "gemini/function_call.sse";
    gemini_thinking_stream => "gemini/thinking.sse";
    gemini_prompt_blocked_is_filtered => "gemini/prompt_blocked.json";
    gemini_api_key_invalid_is_auth => "gemini/error_api_key_invalid.json";
    gemini_per_minute_quota_is_a_rate_limit => "gemini/error_resource_exhausted.json";
    ollama_complete_whole => "ollama/complete.json";
    ollama_complete_stream => "ollama/complete.ndjson";
    ollama_structured_stop => "ollama/structured_stop.json";
    ollama_tool_calls_whole => "ollama/tool_calls.json";
    ollama_model_not_found_is_a_request_error => "ollama/error_model_not_found.json";
}

/// The system prompt goes where each API wants it.
#[test]
fn the_system_prompt_is_placed_where_each_api_wants_it() {
    let files = [
        "openai/complete.sse",
        "anthropic/complete.sse",
        "gemini/complete.sse",
        "ollama/complete.ndjson",
    ];
    for file in files {
        let case = case(file);
        let run = replay_with(&case, &[], &["--system", "Answer in French."]);
        assert_eq!(run.code, Some(0), "{file}: {}", run.stderr);
        let sent = run.requests.first().cloned().unwrap_or_default();
        let placed = match case.provider.as_str() {
            "anthropic" => sent["system"].clone(),
            "gemini" => sent["systemInstruction"]["parts"][0]["text"].clone(),
            _ => {
                assert_eq!(sent["messages"][0]["role"], "system", "{file}: {sent}");
                sent["messages"][0]["content"].clone()
            }
        };
        assert_eq!(placed, json!("Answer in French."), "{file}: {sent}");
    }
}

/// A `stop` string becomes the array each API requires.
#[test]
fn a_stop_string_is_sent_as_each_api_wants_it() {
    let cases = [
        ("openai/complete.sse", "/stop"),
        ("anthropic/complete.sse", "/stop_sequences"),
        ("gemini/complete.sse", "/generationConfig/stopSequences"),
        ("ollama/complete.ndjson", "/options/stop"),
    ];
    for (file, pointer) in cases {
        let case = case(file);
        let run = replay_with(&case, &[("stop", json!("END"))], &[]);
        assert_eq!(run.code, Some(0), "{file}: {}", run.stderr);
        let sent = run.requests.first().cloned().unwrap_or_default();
        let stop = sent.pointer(pointer).cloned().unwrap_or_default();
        // OpenAI takes a string or an array; the others only an array.
        let accepted = stop == json!(["END"]) || (pointer == "/stop" && stop == json!("END"));
        assert!(accepted, "{file}: {pointer} = {stop} in {sent}");
    }
}

/// A quota error fails over at once: the backend is tried once, not retried.
#[test]
fn a_quota_error_is_not_retried() {
    let case = case("openai/error_insufficient_quota.json");
    let run = replay_with(&case, &[], &["--set", "failover_retry_count=3"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(run.requests.len(), 1, "quota errors are not retried");
}

/// Reasoning stays off stdout in text mode unless asked for.
#[test]
fn reasoning_is_shown_only_when_asked() {
    let case = case("anthropic/thinking.sse");
    let body = std::fs::read(corpus().join(&case.file)).expect("corpus file");
    let server = Replay::start(200, case.headers.clone(), body);
    let home = TempHome::new();
    home.write(
        "replayed",
        profile::model("anthropic", "claude-sonnet-4-5")
            .base_url(&format!("{}/v1", server.base))
            .build(),
    );
    let reasoning = case.expect["reasoning"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!reasoning.is_empty(), "the case has reasoning");
    let plain = home
        .baton()
        .env("ANTHROPIC_API_KEY", "sk-ant-replay")
        .args(["--profile-load", "replayed", "--prompt", "hello"])
        .output()
        .expect("run baton");
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    let both = format!("{}{}", text(&plain.stdout), text(&plain.stderr));
    assert!(!both.contains(&reasoning), "hidden by default: {both}");
    let shown = home
        .baton()
        .env("ANTHROPIC_API_KEY", "sk-ant-replay")
        .args([
            "--profile-load",
            "replayed",
            "--show-reasoning",
            "--prompt",
            "hello",
        ])
        .output()
        .expect("run baton");
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown.stderr));
    let both = format!("{}{}", text(&shown.stdout), text(&shown.stderr));
    assert!(both.contains(&reasoning), "shown when asked: {both}");
}
