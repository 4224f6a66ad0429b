//! The mock server itself, over real TCP with reqwest.
// Test helpers outside #[test] fns: a failed setup should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use baton::mock::{Answer, BackendConfig, Behavior, MockConfig, MockServer, Wire};
use futures_util::StreamExt;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

/// reqwest is built without its `json` feature; these stand in for it.
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}

trait JsonValue {
    async fn json_value(self) -> Result<Value, Box<dyn std::error::Error>>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Result<Value, Box<dyn std::error::Error>> {
        Ok(serde_json::from_str(&self.text().await?)?)
    }
}

fn client() -> reqwest::Client {
    // reqwest's `rustls-no-provider` panics in `Client::new` (even for plain http)
    // unless a crypto provider is installed; a second install is a harmless Err.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn server(backends: &[(&str, BackendConfig)]) -> MockServer {
    let mut config = MockConfig::default();
    for (name, cfg) in backends {
        config = config.with_backend(*name, cfg.clone());
    }
    MockServer::start(config).await.unwrap()
}

fn openai_body(stream: bool) -> Value {
    json!({
        "model": "gpt-mock",
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "say hi to me"}]
    })
}

/// The JSON payloads of an SSE body (`[DONE]` kept as a string).
fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_string())))
        .collect()
}

async fn post_openai(mock: &MockServer, backend: &str, stream: bool) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", mock.base_url(backend)))
        .bearer_auth("sk-test")
        .json_body(&openai_body(stream))
        .send()
        .await
        .unwrap()
}

/// Reads body chunks until the body ends, fails, or is quiet for `quiet`.
async fn read_until_quiet(resp: reqwest::Response, quiet: Duration) -> (String, &'static str) {
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    loop {
        match tokio::time::timeout(quiet, stream.next()).await {
            Ok(Some(Ok(bytes))) => text.push_str(std::str::from_utf8(&bytes).unwrap()),
            Ok(Some(Err(_))) => return (text, "error"),
            Ok(None) => return (text, "end"),
            Err(_) => return (text, "quiet"),
        }
    }
}

#[tokio::test]
async fn openai_streams_chunks_usage_and_done() {
    let mock = server(&[("alpha", BackendConfig::default())]).await;
    let resp = post_openai(&mock, "alpha", true).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = sse_data(&resp.text().await.unwrap());
    let (done, rest) = events.split_last().unwrap();
    assert_eq!(done, "[DONE]");
    let (usage, rest) = rest.split_last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12})
    );
    let (finish, chunks) = rest.split_last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let text: String = chunks
        .iter()
        .map(|c| {
            assert_eq!(c["object"], "chat.completion.chunk");
            assert_eq!(c["choices"][0]["finish_reason"], Value::Null);
            c["choices"][0]["delta"]["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "Hello from alpha. This is a mock answer.");
    assert_eq!(chunks.len(), 8);
}

#[tokio::test]
async fn openai_whole_answer_and_model_list() {
    let mock = server(&[("alpha", BackendConfig::new(Behavior::answer("two words")))]).await;
    let body: Value = post_openai(&mock, "alpha", false)
        .await
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "two words");
    assert_eq!(body["usage"]["completion_tokens"], 2);
    let models: Value = client()
        .get(format!("{}/models", mock.base_url("alpha")))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "mock-model");
    assert_eq!(mock.requests("alpha"), 1, "model lists are not counted");
}

#[tokio::test]
async fn anthropic_streams_its_event_sequence() {
    let mock = server(&[("claude", BackendConfig::new(Behavior::answer("a b")))]).await;
    let text = client()
        .post(format!("{}/messages", mock.anthropic_base_url("claude")))
        .header("x-api-key", "k")
        .json_body(
            &json!({"model": "claude-mock", "stream": true, "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        events,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data = sse_data(&text);
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 1);
    assert_eq!(data[3]["delta"], json!({"type": "text_delta", "text": "a"}));
    assert_eq!(data[4]["delta"]["text"], " b");
    assert_eq!(data[6]["delta"]["stop_reason"], "end_turn");
    assert_eq!(data[6]["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn gemini_streams_sse_and_answers_whole() {
    let mock = server(&[("gem", BackendConfig::new(Behavior::answer("x y z")))]).await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "one two"}]}]});
    let text = client()
        .post(format!(
            "{}/models/gemini-mock:streamGenerateContent?alt=sse",
            mock.gemini_base_url("gem")
        ))
        .header("x-goog-api-key", "g")
        .json_body(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let data = sse_data(&text);
    assert_eq!(data.len(), 3);
    let parts: String = data
        .iter()
        .map(|d| {
            d["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(parts, "x y z");
    assert!(data[1]["candidates"][0].get("finishReason").is_none());
    assert_eq!(data[2]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        data[2]["usageMetadata"],
        json!({"promptTokenCount": 2, "candidatesTokenCount": 3, "totalTokenCount": 5})
    );
    let whole: Value = client()
        .post(format!(
            "{}/models/gemini-mock:generateContent",
            mock.gemini_base_url("gem")
        ))
        .json_body(&body)
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(
        whole["candidates"][0]["content"]["parts"][0]["text"],
        "x y z"
    );
    assert_eq!(whole["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn ollama_streams_ndjson_by_default() {
    let mock = server(&[("llama", BackendConfig::new(Behavior::answer("p q")))]).await;
    let url = format!("{}/api/chat", mock.ollama_base_url("llama"));
    let body = json!({"model": "llama3", "messages": [{"role": "user", "content": "hi"}]});
    let resp = client().post(&url).json_body(&body).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["message"]["content"], "p");
    assert_eq!(lines[0]["done"], false);
    assert_eq!(lines[0]["model"], "llama3");
    assert_eq!(lines[2]["done"], true);
    assert_eq!(lines[2]["done_reason"], "stop");
    assert_eq!(lines[2]["prompt_eval_count"], 1);
    assert_eq!(lines[2]["eval_count"], 2);
    let mut whole_req = body.clone();
    whole_req["stream"] = json!(false);
    let whole: Value = client()
        .post(&url)
        .json_body(&whole_req)
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(whole["message"]["content"], "p q");
    assert_eq!(whole["done"], true);
}

#[tokio::test]
async fn script_runs_in_order_then_the_default() {
    let mock = server(&[("a", BackendConfig::new(Behavior::answer("default")))]).await;
    mock.push_script("a", vec![Behavior::status(500), Behavior::answer("second")]);
    let first = post_openai(&mock, "a", false).await;
    assert_eq!(first.status(), 500);
    let first: Value = first.json_value().await.unwrap();
    assert_eq!(first["error"]["type"], "server_error");
    for want in ["second", "default", "default"] {
        let body: Value = post_openai(&mock, "a", false)
            .await
            .json_value()
            .await
            .unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], want);
    }
    assert_eq!(mock.requests("a"), 4);
    assert!(mock.backend("a").unwrap().script.is_empty());
}

#[tokio::test]
async fn status_sends_retry_after_headers_in_each_shape() {
    let mock = server(&[(
        "rl",
        BackendConfig::new(Behavior::Status {
            code: 429,
            message: Some("slow down".into()),
            retry_after_s: Some(3),
            retry_after_ms: Some(1500),
        }),
    )])
    .await;
    let resp = client()
        .post(format!("{}/messages", mock.anthropic_base_url("rl")))
        .json_body(&json!({"stream": true, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_eq!(resp.headers()["retry-after-ms"], "1500");
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(
        body,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    let body: Value = client()
        .post(format!("{}/api/chat", mock.ollama_base_url("rl")))
        .json_body(&json!({"messages": []}))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(body, json!({"error": "slow down"}));
}

#[tokio::test]
async fn require_key_gives_401_until_the_key_is_fixed() {
    let mock = server(&[(
        "locked",
        BackendConfig::new(Behavior::answer("ok"))
            .with_key("good")
            .with_script(vec![Behavior::answer("scripted")]),
    )])
    .await;
    let resp = post_openai(&mock, "locked", false).await;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");

    let resp = client()
        .post(format!("{}/messages", mock.anthropic_base_url("locked")))
        .header("x-api-key", "bad")
        .json_body(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");

    let resp = client()
        .post(format!(
            "{}/models/m:generateContent",
            mock.gemini_base_url("locked")
        ))
        .json_body(&json!({"contents": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json_value().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    // The right key: the script was not consumed by the refusals.
    let body: Value = client()
        .post(format!("{}/chat/completions", mock.base_url("locked")))
        .bearer_auth("good")
        .json_body(&openai_body(false))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "scripted");

    // "Fix auth" from a shell script: drop the key requirement over the control API.
    let resp = client()
        .put(format!("{}/_mock/backends/locked", mock.url()))
        .json_body(&json!({"behavior": {"kind": "answer", "text": "fixed"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = post_openai(&mock, "locked", false)
        .await
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "fixed");
    assert_eq!(mock.requests("locked"), 5);
    let refused = mock
        .recorded("locked")
        .iter()
        .filter(|r| r.behavior.is_none())
        .count();
    assert_eq!(refused, 3);
}

#[tokio::test]
async fn cut_aborts_the_body_after_its_chunks() {
    let mock = server(&[(
        "c",
        BackendConfig::new(Behavior::Cut {
            after_chunks: 2,
            token_delay_ms: 0,
        }),
    )])
    .await;
    let resp = post_openai(&mock, "c", true).await;
    assert_eq!(resp.status(), 200);
    let (text, ending) = read_until_quiet(resp, Duration::from_secs(2)).await;
    assert_eq!(ending, "error");
    let data = sse_data(&text);
    assert_eq!(data.len(), 2, "{text}");
    assert_eq!(data[0]["choices"][0]["delta"]["content"], "Hello");
    assert!(!text.contains("[DONE]"));

    // A whole request is cut too: the JSON never completes.
    let err = post_openai(&mock, "c", false).await.text().await;
    assert!(err.is_err());
}

#[tokio::test]
async fn stall_sends_its_chunks_then_nothing() {
    let mock = server(&[(
        "s",
        BackendConfig::new(Behavior::Stall {
            after_chunks: 2,
            token_delay_ms: 0,
        }),
    )])
    .await;
    let resp = client()
        .post(format!("{}/messages", mock.anthropic_base_url("s")))
        .json_body(&json!({"stream": true, "messages": []}))
        .send()
        .await
        .unwrap();
    let (text, ending) = read_until_quiet(resp, Duration::from_millis(300)).await;
    assert_eq!(ending, "quiet");
    let deltas = text.matches("event: content_block_delta").count();
    assert_eq!(deltas, 2, "{text}");
    assert!(!text.contains("message_stop"));

    // Shutdown does not wait for the stalled stream.
    let started = Instant::now();
    mock.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn malformed_and_empty_keep_status_and_content_type() {
    let mock = server(&[
        ("bad", BackendConfig::new(Behavior::Malformed)),
        ("nothing", BackendConfig::new(Behavior::Empty)),
    ])
    .await;
    let resp = post_openai(&mock, "bad", true).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let payload = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    assert!(serde_json::from_str::<Value>(payload).is_err());

    let resp = client()
        .post(format!("{}/api/chat", mock.ollama_base_url("nothing")))
        .json_body(&json!({"messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert_eq!(resp.text().await.unwrap(), "");
}

#[tokio::test]
async fn drop_closes_the_connection_without_a_response() {
    let mock = server(&[("d", BackendConfig::new(Behavior::answer("after")))]).await;
    mock.push_script("d", vec![Behavior::Drop]);
    let err = client()
        .post(format!("{}/chat/completions", mock.base_url("d")))
        .json_body(&openai_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(err.status().is_none(), "{err:?}");
    // The server keeps serving after the drop.
    let body: Value = post_openai(&mock, "d", false)
        .await
        .json_value()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "after");
    assert_eq!(mock.requests("d"), 2);
}

#[tokio::test]
async fn first_chunk_delay_holds_the_body_not_the_head() {
    let mock = server(&[(
        "slow",
        BackendConfig::new(Behavior::Answer(Answer {
            text: Some("late".into()),
            first_chunk_delay_ms: 250,
            ..Answer::default()
        })),
    )])
    .await;
    let started = Instant::now();
    let resp = post_openai(&mock, "slow", true).await;
    assert!(started.elapsed() < Duration::from_millis(200));
    let (text, ending) = read_until_quiet(resp, Duration::from_millis(100)).await;
    assert_eq!((text.as_str(), ending), ("", "quiet"));
    let (text, ending) = read_until_quiet(
        post_openai(&mock, "slow", true).await,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(ending, "end");
    assert!(text.contains("late"));
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn control_api_round_trip() {
    let mock = server(&[]).await;
    let c = client();
    let url = mock.url();
    let config = json!({
        "behavior": {"kind": "status", "code": 503, "retry_after_s": 2},
        "script": [{"kind": "answer", "text": "first"}],
        "require_key": "secret"
    });
    let resp = c
        .put(format!("{url}/_mock/backends/b1"))
        .json_body(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c
        .post(format!("{url}/_mock/backends/b1/script"))
        .json_body(&json!({"kind": "empty"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list: Value = c
        .get(format!("{url}/_mock/backends"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(
        list,
        json!({"backends": {"b1": {
            "behavior": {"kind": "status", "code": 503, "retry_after_s": 2},
            "script": [{"kind": "answer", "text": "first", "token_delay_ms": 0,
                        "first_chunk_delay_ms": 0, "headers_delay_ms": 0, "usage": true},
                       {"kind": "empty"}],
            "require_key": "***",
            "requests": 0
        }}})
    );
    // The Rust side sees the same backend.
    let cfg = mock.backend("b1").unwrap();
    assert_eq!(cfg.require_key.as_deref(), Some("secret"));
    assert_eq!(cfg.script.len(), 2);

    let resp = c
        .post(format!("{}/chat/completions", mock.base_url("b1")))
        .bearer_auth("secret")
        .json_body(&openai_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let one: Value = c
        .get(format!("{url}/_mock/backends/b1"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(one["requests"], 1);
    assert_eq!(one["recorded"][0]["headers"]["authorization"], "***");
    assert_eq!(one["recorded"][0]["behavior"]["text"], "first");

    let reset: Value = c
        .post(format!("{url}/_mock/reset"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await
        .unwrap();
    assert_eq!(reset["backends"]["b1"]["requests"], 0);
    assert!(mock.recorded("b1").is_empty());

    // Bad input names the field.
    let resp = c
        .put(format!("{url}/_mock/backends/b2"))
        .json_body(&json!({"behavior": {"kind": "answer", "delay": 5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json_value().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("delay"));
    let resp = c
        .put(format!("{url}/_mock/backends/b3"))
        .json_body(&json!({"behavior": {"kind": "status", "code": 9999}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c
        .delete(format!("{url}/_mock/backends/b1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(mock.backend("b1").is_none());
}

#[tokio::test]
async fn recorded_requests_redact_keys_and_keep_bodies() {
    let mock = server(&[("r", BackendConfig::default())]).await;
    post_openai(&mock, "r", true).await.text().await.unwrap();
    client()
        .post(format!(
            "{}/models/m:streamGenerateContent?alt=sse&key=gsecret",
            mock.gemini_base_url("r")
        ))
        .header("x-goog-api-key", "gsecret2")
        .json_body(&json!({"contents": []}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let recorded = mock.recorded("r");
    assert_eq!(recorded.len(), 2);
    let openai = &recorded[0];
    assert_eq!(openai.wire, Wire::OpenAi);
    assert_eq!(openai.method, "POST");
    assert_eq!(openai.path, "/r/v1/chat/completions");
    assert_eq!(openai.headers["authorization"], "***");
    assert_eq!(openai.body["stream_options"]["include_usage"], true);
    let gemini = &recorded[1];
    assert!(gemini.seq > openai.seq);
    assert_eq!(gemini.wire, Wire::Gemini);
    assert_eq!(gemini.headers["x-goog-api-key"], "***");
    assert!(gemini.path.ends_with("alt=sse&key=***"), "{}", gemini.path);
    let all = serde_json::to_string(&recorded).unwrap();
    assert!(!all.contains("sk-test") && !all.contains("gsecret"));
}

#[tokio::test]
async fn unknown_backend_is_404_naming_the_known_ones() {
    let mock = server(&[
        ("one", BackendConfig::default()),
        ("two", BackendConfig::default()),
    ])
    .await;
    let resp = post_openai(&mock, "three", true).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json_value().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("three") && message.contains("one, two"),
        "{message}"
    );
    let resp = client()
        .post(format!("{}/one/v2/nothing", mock.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn config_file_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mock.json");
    std::fs::write(
        &path,
        r#"{"backends": {"filed": {"behavior": {"kind": "answer", "tokens": 3}}}}"#,
    )
    .unwrap();
    let mock = MockServer::start(MockConfig::from_file(&path).unwrap())
        .await
        .unwrap();
    let body: Value = post_openai(&mock, "filed", false)
        .await
        .json_value()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "filed lorem ipsum"
    );
}

#[tokio::test]
async fn slow_backend_does_not_block_others() {
    let mock = server(&[
        (
            "slow",
            BackendConfig::new(Behavior::Answer(Answer {
                headers_delay_ms: 2000,
                ..Answer::default()
            })),
        ),
        ("fast", BackendConfig::default()),
    ])
    .await;
    let slow_url = format!("{}/chat/completions", mock.base_url("slow"));
    let slow = tokio::spawn(async move {
        client()
            .post(slow_url)
            .json_body(&json!({"messages": []}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let resp = post_openai(&mock, "fast", false).await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    // Shutdown ends the delayed request instead of waiting for it.
    mock.shutdown().await;
    let slow = slow.await.unwrap();
    assert!(slow.map(|r| r.status() != 200).unwrap_or(true));
}

#[tokio::test]
async fn drop_sends_no_byte_on_the_wire() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = server(&[("d", BackendConfig::new(Behavior::Drop))]).await;
    let mut tcp = tokio::net::TcpStream::connect(mock.addr()).await.unwrap();
    let body = r#"{"messages":[]}"#;
    let request = format!(
        "POST /d/v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut buf))
        .await
        .unwrap();
    // A reset shows as an error, a plain close as EOF; either way no response bytes.
    assert!(buf.is_empty(), "{:?}", String::from_utf8_lossy(&buf));
    if let Err(e) = read {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    }
    assert_eq!(mock.requests("d"), 1);
}
