//! The control API, recording, config files and serving many clients, over real
//! TCP with reqwest.
// Test helpers outside #[test] fns: a failed setup should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use baton_mock::{Answer, BackendConfig, Behavior, MockConfig, MockServer, Wire};
use common::*;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use tokio::time::Instant;

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

// Paused time: the fast answer's virtual time is exact, so a server that made it
// wait behind the slow backend's 2 s would show.
#[tokio::test(start_paused = true)]
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
    assert_eq!(started.elapsed(), Duration::ZERO, "the fast backend waited");
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
