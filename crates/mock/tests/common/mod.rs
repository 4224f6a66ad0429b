//! Helpers for the mock's own tests: a reqwest client and readers of its bodies.

// Each test file uses a different subset; a failed setup should panic loudly.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use baton_mock::{BackendConfig, MockConfig, MockServer};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// reqwest is built without its `json` feature; these stand in for it.
pub(crate) trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}

pub(crate) trait JsonValue {
    async fn json_value(self) -> Result<Value, Box<dyn std::error::Error>>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Result<Value, Box<dyn std::error::Error>> {
        Ok(serde_json::from_str(&self.text().await?)?)
    }
}

pub(crate) fn client() -> reqwest::Client {
    // reqwest's `rustls-no-provider` panics in `Client::new` (even for plain http)
    // unless a crypto provider is installed; a second install is a harmless Err.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub(crate) async fn server(backends: &[(&str, BackendConfig)]) -> MockServer {
    let mut config = MockConfig::default();
    for (name, cfg) in backends {
        config = config.with_backend(*name, cfg.clone());
    }
    MockServer::start(config).await.unwrap()
}

pub(crate) fn openai_body(stream: bool) -> Value {
    json!({
        "model": "gpt-mock",
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "say hi to me"}]
    })
}

/// The JSON payloads of an SSE body (`[DONE]` kept as a string).
pub(crate) fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_string())))
        .collect()
}

pub(crate) async fn post_openai(
    mock: &MockServer,
    backend: &str,
    stream: bool,
) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", mock.base_url(backend)))
        .bearer_auth("sk-test")
        .json_body(&openai_body(stream))
        .send()
        .await
        .unwrap()
}

/// Reads body chunks until the body ends, fails, or is quiet for `quiet`.
pub(crate) async fn read_until_quiet(
    resp: reqwest::Response,
    quiet: Duration,
) -> (String, &'static str) {
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
