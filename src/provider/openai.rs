//! OpenAI chat completions, spoken by OpenAI and every compatible server (Groq,
//! OpenRouter, llama.cpp, vLLM, LM Studio, ...).
//!
//! Streaming: `POST {base}/chat/completions` with `stream: true` and
//! `stream_options.include_usage`, answered with SSE chunks carrying
//! `choices[0].delta.content`, a `finish_reason`, a final `usage` chunk and `[DONE]`.
//! Either `[DONE]` or a finish reason marks the answer complete (some local servers
//! close the body without `[DONE]`). `--no-stream` reads one JSON answer.

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Map, Value, json};

use super::http::{self, Answer, Flow, SseBody, SseEvent, WireFormat, WireParser};
use super::{ApiKey, ChatRequest, ProviderError, StreamError, StreamEvent};

/// Where requests go when the profile sets no `base-url`.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenAi {
    /// The provider name from the registry (`openai`, `groq`, ...), for messages.
    provider: &'static str,
}

impl OpenAi {
    pub(crate) fn new(provider: &'static str) -> Self {
        Self { provider }
    }
}

impl WireFormat for OpenAi {
    type Decoder = SseBody;
    type Parser = OpenAiParser;

    fn path(&self, _model: &str, _streaming: bool) -> String {
        "/chat/completions".to_owned()
    }

    fn auth(&self, key: Option<&ApiKey>) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(
                AUTHORIZATION,
                http::key_header(self.provider, "Bearer ", key)?,
            );
        }
        Ok(headers)
    }

    fn body(&self, model: &str, params: &Map<String, Value>, request: &ChatRequest) -> Value {
        let mut body = params.clone();
        // The request mode is ours to decide, whatever the profile says.
        body.remove("stream");
        body.remove("stream_options");
        body.insert("model".into(), json!(model));
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        body.insert("messages".into(), Value::Array(messages));
        if request.stream {
            body.insert("stream".into(), json!(true));
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
        Value::Object(body)
    }

    fn decoder(&self, streaming: bool) -> SseBody {
        SseBody::new(streaming)
    }

    fn parser(&self, prompt_chars: usize) -> OpenAiParser {
        OpenAiParser::new(prompt_chars)
    }
}

/// Turns chat-completion chunks (or one whole answer) into events.
#[derive(Debug)]
pub(crate) struct OpenAiParser {
    answer: Answer,
}

impl OpenAiParser {
    pub(crate) fn new(prompt_chars: usize) -> Self {
        Self {
            answer: Answer::new(prompt_chars),
        }
    }

    /// Reads one chunk; `field` is `delta` when streaming, `message` when not.
    fn chunk(&mut self, value: &Value, field: &str, out: &mut Vec<StreamEvent>) {
        if let Some(choice) = value.pointer("/choices/0") {
            if let Some(text) = choice
                .get(field)
                .and_then(|m| m.get("content"))
                .and_then(Value::as_str)
            {
                self.answer.text(text, out);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.answer.complete(Some(reason));
            }
        }
        self.answer
            .usage_from(value.get("usage"), "prompt_tokens", "completion_tokens");
    }
}

/// OpenRouter and some proxies report failures inside a 200 stream.
fn error_check(value: &Value) -> Result<(), ProviderError> {
    match value.get("error") {
        Some(error) if !error.is_null() => Err(http::error_in_body(value, 500)),
        _ => Ok(()),
    }
}

impl WireParser<SseEvent> for OpenAiParser {
    fn frame(
        &mut self,
        frame: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        let data = frame.data.trim();
        if data == "[DONE]" {
            self.answer.complete(None);
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::More);
        }
        let value = http::json_frame(data)?;
        error_check(&value)?;
        self.chunk(&value, "delta", out);
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

impl WireParser<Value> for OpenAiParser {
    fn frame(&mut self, value: Value, out: &mut Vec<StreamEvent>) -> Result<Flow, ProviderError> {
        error_check(&value)?;
        if value.pointer("/choices/0").is_none() {
            return Err(StreamError::Malformed {
                detail: format!(
                    "the answer has no choices: {}",
                    http::excerpt(&value.to_string())
                ),
            }
            .into());
        }
        self.chunk(&value, "message", out);
        // A whole answer is complete by definition, finish reason or not.
        self.answer.complete(None);
        Ok(Flow::Done)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::testing::{collect, decode, ok_response, serve_once, text};
    use crate::provider::http::{HttpProvider, SseDecoder, SseOrJson, WholeBody};
    use crate::provider::{BackendSpec, Message, Provider, Role, Usage, http_client, lookup};
    use futures_util::StreamExt;
    use pretty_assertions::assert_eq;

    fn sse(frames: &[&str]) -> String {
        frames.iter().map(|f| format!("data: {f}\n\n")).collect()
    }

    const ROLE: &str = r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
    const HEL: &str =
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#;
    const LO: &str = r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"lo \u00e9"},"finish_reason":null}]}"#;
    const STOP: &str =
        r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#;
    const USAGE: &str = r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;

    fn parser() -> OpenAiParser {
        OpenAiParser::new(8)
    }

    #[tokio::test]
    async fn stream_with_usage_and_done() {
        let body = sse(&[ROLE, HEL, LO, STOP, USAGE, "[DONE]"]);
        // Split in the middle of a frame to show deltas do not wait for the whole body.
        let (events, err) =
            decode(&[&body[..150], &body[150..]], SseDecoder::new(), parser()).await;
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                StreamEvent::Delta("Hel".into()),
                StreamEvent::Delta("lo \u{e9}".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 12,
                    output_tokens: 3,
                    estimated: false
                }),
                StreamEvent::Finished {
                    reason: Some("stop".into())
                },
            ]
        );
    }

    #[tokio::test]
    async fn missing_usage_is_estimated() {
        let body = sse(&[HEL, STOP, "[DONE]"]);
        let (events, err) = decode(&[&body], SseDecoder::new(), parser()).await;
        assert_eq!(err, None);
        assert_eq!(
            events[1],
            StreamEvent::Usage(Usage {
                input_tokens: 2,
                output_tokens: 1,
                estimated: true
            })
        );
    }

    #[tokio::test]
    async fn finish_reason_without_done_is_complete() {
        let body = sse(&[HEL, STOP]);
        let (events, err) = decode(&[&body], SseDecoder::new(), parser()).await;
        assert_eq!(err, None);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finished {
                reason: Some("stop".into())
            })
        );
    }

    #[tokio::test]
    async fn cut_stream_is_truncated_after_its_deltas() {
        let body = sse(&[ROLE, HEL, LO]);
        let (events, err) = decode(&[&body, "data: {\"choi"], SseDecoder::new(), parser()).await;
        assert_eq!(text(&events), "Hello \u{e9}");
        // The half frame is dispatched at the end of the body and is not valid JSON.
        assert!(
            matches!(
                err,
                Some(ProviderError::Stream(StreamError::Malformed { .. }))
            ),
            "{err:?}"
        );

        let (_, err) = decode(&[&body], SseDecoder::new(), parser()).await;
        assert_eq!(err, Some(ProviderError::Stream(StreamError::Truncated)));
    }

    #[tokio::test]
    async fn complete_but_empty_answer() {
        let body = sse(&[ROLE, STOP, USAGE, "[DONE]"]);
        let (events, err) = decode(&[&body], SseDecoder::new(), parser()).await;
        assert_eq!((events, err), (vec![], Some(ProviderError::Empty)));
    }

    #[tokio::test]
    async fn error_inside_the_stream() {
        let body = sse(&[
            HEL,
            r#"{"error":{"message":"Provider returned error","code":502}}"#,
        ]);
        let (events, err) = decode(&[&body], SseDecoder::new(), parser()).await;
        assert_eq!(text(&events), "Hel");
        assert_eq!(
            err,
            Some(ProviderError::Http {
                status: 502,
                message: "Provider returned error".into(),
                retry_after: None
            })
        );
    }

    #[tokio::test]
    async fn whole_answer() {
        let body = r#"{"id":"c2","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
        let (events, err) = decode(&[body], WholeBody::default(), parser()).await;
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                StreamEvent::Delta("Hi there".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 5,
                    output_tokens: 2,
                    estimated: false
                }),
                StreamEvent::Finished {
                    reason: Some("length".into())
                },
            ]
        );
        let (_, err) = decode(&[r#"{"object":"list"}"#], WholeBody::default(), parser()).await;
        assert!(matches!(
            err,
            Some(ProviderError::Stream(StreamError::Malformed { .. }))
        ));
        let (_, err) = decode(&[""], WholeBody::default(), parser()).await;
        assert_eq!(err, Some(ProviderError::Stream(StreamError::Truncated)));
    }

    fn spec(base: &str, key: Option<&str>) -> BackendSpec {
        let mut params = serde_json::Map::new();
        params.insert("temperature".into(), json!(0.2));
        params.insert("stream".into(), json!("ignored"));
        BackendSpec {
            name: "local".into(),
            provider: "openai".into(),
            model: "llama-3.1-8b".into(),
            base_url: Some(format!("{base}/v1")),
            api_key: key.map(crate::provider::ApiKey::new),
            model_params: params,
            socket_timeout: Some(std::time::Duration::from_secs(5)),
            headers: vec![("X-Title".into(), "baton".into())],
        }
    }

    /// The backend `build` makes for the registry's provider `name`.
    fn backend(spec: &BackendSpec, name: &str) -> HttpProvider<OpenAi> {
        let info = lookup(name).unwrap();
        let client = http_client().unwrap();
        HttpProvider::new(OpenAi::new(info.name), spec, info.default_base_url, &client).unwrap()
    }

    fn request(stream: bool) -> ChatRequest {
        ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "be brief".into(),
                },
                Message::user("hi"),
            ],
            stream,
        }
    }

    #[tokio::test]
    async fn end_to_end_over_tcp_without_key() {
        let body = sse(&[HEL, LO, STOP, USAGE, "[DONE]"]);
        let (base, server) = serve_once(ok_response("text/event-stream", &body)).await;
        let provider = backend(&spec(&base, None), "openai");
        let (events, err) = collect(provider.stream(request(true))).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "Hello \u{e9}");
        let seen = server.await.unwrap();
        assert!(
            seen.starts_with("POST /v1/chat/completions HTTP/1.1"),
            "{seen}"
        );
        let lower = seen.to_ascii_lowercase();
        assert!(!lower.contains("authorization"), "{seen}");
        assert!(
            lower.contains("x-title: baton") && lower.contains("user-agent: baton/"),
            "{seen}"
        );
        let json_body: Value =
            serde_json::from_str(&seen[seen.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(
            json_body,
            json!({
                "model": "llama-3.1-8b",
                "temperature": 0.2,
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                ],
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
    }

    #[tokio::test]
    async fn end_to_end_non_stream_with_key() {
        let body = r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#;
        let (base, server) = serve_once(ok_response("application/json", body)).await;
        let provider = backend(&spec(&base, Some("sk-local")), "groq");
        let (events, err) = collect(provider.stream(request(false))).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "ok");
        assert!(matches!(
            events[1],
            StreamEvent::Usage(Usage {
                estimated: true,
                ..
            })
        ));
        let seen = server.await.unwrap();
        assert!(
            seen.to_ascii_lowercase()
                .contains("authorization: bearer sk-local"),
            "{seen}"
        );
        assert!(!seen.contains("\"stream\""), "{seen}");
    }

    #[tokio::test]
    async fn unusable_key_fails_in_the_stream_without_echoing_it() {
        let spec = spec("http://127.0.0.1:9", Some("sk-bad\nkey"));
        let provider = backend(&spec, "openai");
        let (events, err) = collect(provider.stream(request(true))).await;
        assert_eq!(events, vec![]);
        let err = err.unwrap();
        assert!(matches!(err, ProviderError::Config(_)), "{err:?}");
        assert!(!err.to_string().contains("sk-bad"), "{err}");
    }

    #[tokio::test]
    async fn json_instead_of_a_stream() {
        // A proxy's error with status 200, then a server that ignores `stream: true`.
        let error = r#"{"error":{"message":"upstream quota","code":429}}"#;
        let (base, server) = serve_once(ok_response("application/json", error)).await;
        let provider = backend(&spec(&base, None), "openai");
        let (_, err) = collect(provider.stream(request(true))).await;
        assert_eq!(
            err,
            Some(ProviderError::Http {
                status: 429,
                message: "upstream quota".into(),
                retry_after: None
            })
        );
        server.await.unwrap();

        let whole = r#"{"choices":[{"message":{"content":"whole"},"finish_reason":"stop"}]}"#;
        let (events, err) = decode(&["\n", whole], SseOrJson::new(), parser()).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "whole");
    }

    #[tokio::test]
    async fn body_closed_mid_answer_is_truncated() {
        let body = sse(&[HEL]);
        let (base, server) = serve_once(ok_response("text/event-stream", &body)).await;
        let provider = backend(&spec(&base, None), "openai");
        let (events, err) = collect(provider.stream(request(true))).await;
        assert_eq!(text(&events), "Hel");
        assert_eq!(err, Some(ProviderError::Stream(StreamError::Truncated)));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn chunked_body_cut_is_an_io_error() {
        let raw = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{}\r\n",
            sse(&[HEL]).len(),
            sse(&[HEL])
        );
        let (base, server) = serve_once(raw.into_bytes()).await;
        let provider = backend(&spec(&base, None), "openai");
        let (events, err) = collect(provider.stream(request(true))).await;
        assert_eq!(text(&events), "Hel");
        assert_eq!(
            err,
            Some(ProviderError::Stream(StreamError::Io(
                "connection closed unexpectedly".into()
            )))
        );
        server.await.unwrap();
    }

    /// The first delta reaches the caller while the server still holds the rest back.
    #[tokio::test]
    async fn deltas_are_not_buffered() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 8192];
            let _ = socket.read(&mut buf).await.unwrap();
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            socket.write_all(sse(&[HEL]).as_bytes()).await.unwrap();
            socket.flush().await.unwrap();
            // Wait until the client has shown the first delta.
            release_rx.await.unwrap();
            socket
                .write_all(sse(&[LO, STOP, "[DONE]"]).as_bytes())
                .await
                .unwrap();
            socket.shutdown().await.ok();
        });
        let provider = backend(&spec(&base, None), "openai");
        let mut events = provider.stream(request(true));
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
            .await
            .expect("first delta arrives before the body ends");
        assert_eq!(first, Some(Ok(StreamEvent::Delta("Hel".into()))));
        release_tx.send(()).unwrap();
        let (rest, err) = collect(events).await;
        assert_eq!(err, None);
        assert_eq!(text(&rest), "lo \u{e9}");
        server.await.unwrap();
    }
}
