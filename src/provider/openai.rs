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
use super::{AnswerStatus, ApiKey, ChatRequest, ProviderError, StreamError, StreamEvent};

/// Where requests go when the profile sets no `base-url`.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The `api-version` an Azure OpenAI URL gets when neither the base URL nor the
/// `api-version` setting names one (the current GA version of the data-plane API).
pub(crate) const AZURE_API_VERSION: &str = "2024-10-21";

#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenAi {
    /// The provider name from the registry (`openai`, `groq`, ...), for messages.
    provider: &'static str,
    /// Azure OpenAI sends the key in an `api-key` header, not as a bearer token.
    api_key_header: bool,
}

impl OpenAi {
    pub(crate) fn new(provider: &'static str) -> Self {
        Self {
            provider,
            api_key_header: false,
        }
    }

    /// Azure OpenAI: the same chat completions under a deployment URL
    /// (`https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT`), keyed by
    /// an `api-key` header, versioned by the `api-version` query.
    pub(crate) fn azure() -> Self {
        Self {
            provider: "azure",
            api_key_header: true,
        }
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
        match key {
            Some(key) if self.api_key_header => {
                let name = reqwest::header::HeaderName::from_static("api-key");
                headers.insert(name, http::key_header(self.provider, "", key)?);
            }
            Some(key) => {
                headers.insert(
                    AUTHORIZATION,
                    http::key_header(self.provider, "Bearer ", key)?,
                );
            }
            None => {}
        }
        Ok(headers)
    }

    fn body(&self, model: &str, params: &Map<String, Value>, request: &ChatRequest) -> Value {
        chat_body(model, params, request)
    }

    fn decoder(&self, streaming: bool) -> SseBody {
        SseBody::new(streaming)
    }

    fn parser(&self, prompt_chars: usize) -> OpenAiParser {
        OpenAiParser::new(prompt_chars)
    }
}

/// The chat-completions request body, shared with Azure.
pub(crate) fn chat_body(model: &str, params: &Map<String, Value>, request: &ChatRequest) -> Value {
    let mut body = params.clone();
    // The request mode is ours to decide, whatever the profile says; the
    // `stream-options` setting arrives as `stream_options` and is merged below.
    body.remove("stream");
    let options = body.remove("stream_options");
    if is_reasoning_model(model) {
        // Reasoning models reject `max_tokens`; an explicit
        // `max_completion_tokens` wins.
        if let Some(max) = body.remove("max_tokens") {
            body.entry("max_completion_tokens").or_insert(max);
        }
    }
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), http::role_content_messages(request));
    if request.stream {
        let mut options = match options {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        // Usage is how baton counts tokens; without it every answer is estimated.
        options.insert("include_usage".into(), json!(true));
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), Value::Object(options));
    }
    Value::Object(body)
}

/// OpenAI's reasoning models (o1, o3, o4-mini, gpt-5, ...), which take
/// `max_completion_tokens` instead of `max_tokens`. A provider prefix
/// (`openai/o3` on OpenRouter) is ignored.
pub(crate) fn is_reasoning_model(model: &str) -> bool {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let o_series = ["o1", "o3", "o4"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    });
    o_series || name.starts_with("gpt-5")
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
            if let Some(part) = choice.get(field) {
                self.part(part, field == "delta", out);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.answer.finish(finish_status(reason), Some(reason));
            }
        }
        if let Some(usage) = value.get("usage").filter(|u| u.is_object()) {
            self.answer
                .usage_from(Some(usage), "prompt_tokens", "completion_tokens");
            let tokens = &mut self.answer.tokens;
            if let Some(n) = http::count(usage, "/completion_tokens_details/reasoning_tokens") {
                tokens.reasoning = Some(n);
            }
            if let Some(n) = http::count(usage, "/prompt_tokens_details/cached_tokens") {
                tokens.cache_read = Some(n);
            }
        }
    }

    /// A `delta` (streamed) or `message` (whole): reasoning first, then text,
    /// refusal and tool calls.
    fn part(&mut self, part: &Value, streamed: bool, out: &mut Vec<StreamEvent>) {
        let str_of = |key: &str| part.get(key).and_then(Value::as_str);
        // DeepSeek sends `reasoning_content`, OpenRouter and others `reasoning`.
        for key in ["reasoning_content", "reasoning"] {
            if let Some(text) = str_of(key) {
                self.answer.reasoning(text, out);
            }
        }
        if let Some(text) = str_of("content") {
            self.answer.text(text, out);
        }
        if let Some(text) = str_of("refusal") {
            self.answer.refusal(text, out);
        }
        let Some(calls) = part.get("tool_calls").and_then(Value::as_array) else {
            return;
        };
        for (at, call) in calls.iter().enumerate() {
            let id = call.get("id").and_then(Value::as_str);
            let function = call.get("function");
            let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
            let arguments = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if streamed {
                // Fragments of one call share its `index`; some servers omit it
                // when there is only one call.
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(at as u64);
                self.answer.tool_call_part(index, id, name, arguments);
            } else {
                self.answer.tool_call(id, name.unwrap_or(""), arguments);
            }
        }
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
            self.answer.done();
            return Ok(Flow::Done);
        }
        if data.is_empty() {
            return Ok(Flow::More);
        }
        let value = http::json_frame(data)?;
        error_check(&value)?;
        self.chunk(&value, "delta", out);
        // Ends the stream shortly after the finish reason, even if the server
        // keeps the connection open.
        Ok(self.answer.flow())
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
        self.answer.done();
        Ok(Flow::Done)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

/// What an OpenAI-compatible `finish_reason` means.
pub(crate) fn finish_status(reason: &str) -> AnswerStatus {
    match reason {
        "length" => AnswerStatus::Truncated,
        "content_filter" => AnswerStatus::Filtered,
        "tool_calls" | "function_call" => AnswerStatus::ToolCall,
        _ => AnswerStatus::Complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Finish;
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
                    estimated: false,
                    ..Usage::default()
                }),
                StreamEvent::Finished(Finish::complete(Some("stop"))),
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
                estimated: true,
                ..Usage::default()
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
            Some(&StreamEvent::Finished(Finish::complete(Some("stop"))))
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
            Some(ProviderError::http(502, "Provider returned error"))
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
                    estimated: false,
                    ..Usage::default()
                }),
                StreamEvent::Finished(Finish::new(
                    crate::provider::AnswerStatus::Truncated,
                    Some("length")
                )),
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

    /// Events decoded from a recorded body: SSE when `streamed`, else one JSON answer.
    async fn replay(body: &str, streamed: bool) -> (Vec<StreamEvent>, Option<ProviderError>) {
        if streamed {
            decode(&[body], SseDecoder::new(), parser()).await
        } else {
            decode(&[body], WholeBody::default(), parser()).await
        }
    }

    fn finish_of(events: &[StreamEvent]) -> Finish {
        match events.last() {
            Some(StreamEvent::Finished(f)) => f.clone(),
            other => panic!("no finish: {other:?}"),
        }
    }

    fn calls(events: &[StreamEvent]) -> Vec<(String, String)> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCall(c) => Some((c.name.clone(), c.arguments.clone())),
                _ => None,
            })
            .collect()
    }

    fn reasoning(events: &[StreamEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Reasoning(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    fn usage(events: &[StreamEvent]) -> Usage {
        events
            .iter()
            .rev()
            .find_map(|e| match e {
                StreamEvent::Usage(u) => Some(*u),
                _ => None,
            })
            .unwrap_or_default()
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        for (model, reasoning) in [
            ("o1", true),
            ("o3-mini", true),
            ("o4-mini-2025-04-16", true),
            ("gpt-5", true),
            ("gpt-5-mini", true),
            ("openai/o3", true),
            ("gpt-4o", false),
            ("o1x", false),
            ("llama-3.1-8b", false),
        ] {
            assert_eq!(is_reasoning_model(model), reasoning, "{model}");
        }
        let mut params = Map::new();
        params.insert("max_tokens".into(), json!(100));
        let body = chat_body("gpt-5-mini", &params, &request(false));
        assert_eq!(body.get("max_tokens"), None);
        assert_eq!(body.get("max_completion_tokens"), Some(&json!(100)));
        let body = chat_body("gpt-4o", &params, &request(false));
        assert_eq!(body.get("max_tokens"), Some(&json!(100)));
    }

    #[test]
    fn stream_options_setting_is_merged() {
        let mut params = Map::new();
        params.insert(
            "stream_options".into(),
            json!({"include_usage": false, "include_obfuscation": false}),
        );
        let body = chat_body("gpt-4o", &params, &request(true));
        assert_eq!(
            body.get("stream_options"),
            Some(&json!({"include_usage": true, "include_obfuscation": false}))
        );
        let body = chat_body("gpt-4o", &params, &request(false));
        assert_eq!(body.get("stream_options"), None);
    }

    #[tokio::test]
    async fn recorded_finish_reasons() {
        for (body, streamed, status, reason) in [
            (
                include_str!("../../tests/replay/openai/complete.sse"),
                true,
                AnswerStatus::Complete,
                "stop",
            ),
            (
                include_str!("../../tests/replay/openai/complete.json"),
                false,
                AnswerStatus::Complete,
                "stop",
            ),
            (
                include_str!("../../tests/replay/openai/length.sse"),
                true,
                AnswerStatus::Truncated,
                "length",
            ),
            (
                include_str!("../../tests/replay/openai/length.json"),
                false,
                AnswerStatus::Truncated,
                "length",
            ),
            (
                include_str!("../../tests/replay/openai/refusal.sse"),
                true,
                AnswerStatus::Refused,
                "stop",
            ),
            (
                include_str!("../../tests/replay/openai/refusal.json"),
                false,
                AnswerStatus::Refused,
                "stop",
            ),
            (
                include_str!("../../tests/replay/openai/tool_calls.sse"),
                true,
                AnswerStatus::ToolCall,
                "tool_calls",
            ),
            (
                include_str!("../../tests/replay/openai/tool_calls.json"),
                false,
                AnswerStatus::ToolCall,
                "tool_calls",
            ),
        ] {
            let (events, err) = replay(body, streamed).await;
            assert_eq!(err, None, "{reason} {streamed}");
            let finish = finish_of(&events);
            assert_eq!(finish.status, status, "{reason} {streamed}");
            assert_eq!(finish.stop_reason.as_deref(), Some(reason));
        }
    }

    #[tokio::test]
    async fn recorded_refusal_is_the_shown_text() {
        let (events, _) = replay(
            include_str!("../../tests/replay/openai/refusal.json"),
            false,
        )
        .await;
        assert_eq!(
            text(&events),
            "I'm very sorry, but I can't assist with that request."
        );
        let (events, _) = replay(include_str!("../../tests/replay/openai/refusal.sse"), true).await;
        assert!(text(&events).starts_with("I'm very sorry"), "{events:?}");
    }

    #[tokio::test]
    async fn recorded_tool_calls_streamed_and_whole() {
        let (events, _) = replay(
            include_str!("../../tests/replay/openai/tool_calls.json"),
            false,
        )
        .await;
        assert_eq!(
            calls(&events),
            vec![
                (
                    "secret_retrieval_tool".into(),
                    "{\"password\": \"mellon\"}".into()
                ),
                (
                    "secret_retrieval_tool".into(),
                    "{\"password\": \"radiance\"}".into()
                ),
            ]
        );
        let (events, _) = replay(
            include_str!("../../tests/replay/openai/tool_calls.sse"),
            true,
        )
        .await;
        let streamed = calls(&events);
        assert!(!streamed.is_empty(), "{events:?}");
        for (name, arguments) in &streamed {
            assert_eq!(name, "secret_retrieval_tool");
            assert!(
                serde_json::from_str::<Value>(arguments).is_ok(),
                "{arguments}"
            );
        }
    }

    #[tokio::test]
    async fn recorded_reasoning_stays_out_of_the_text() {
        let (events, err) = replay(
            include_str!("../../tests/replay/openai/deepseek_reasoning.sse"),
            true,
        )
        .await;
        assert_eq!(err, None);
        assert!(reasoning(&events).starts_with("We need"), "{events:?}");
        assert!(!text(&events).contains("We need"));
        let (events, _) = replay(
            include_str!("../../tests/replay/openai/deepseek_reasoning.json"),
            false,
        )
        .await;
        assert!(!reasoning(&events).is_empty(), "{events:?}");

        let (events, _) = replay(
            include_str!("../../tests/replay/openai/reasoning_tokens.json"),
            false,
        )
        .await;
        let u = usage(&events);
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.reasoning_tokens,
                u.cache_read_tokens,
                u.estimated
            ),
            (56, 1088, 576, 0, false)
        );
    }

    #[tokio::test]
    async fn openrouter_reasoning_and_cached_tokens() {
        let body = sse(&[
            r#"{"choices":[{"index":0,"delta":{"reasoning":"think"}}]}"#,
            HEL,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":6}}}"#,
        ]);
        let (events, err) = decode(&[&body], SseDecoder::new(), parser()).await;
        assert_eq!(err, None);
        assert_eq!(reasoning(&events), "think");
        assert_eq!(text(&events), "Hel");
        assert_eq!(usage(&events).cache_read_tokens, 6);
    }

    #[test]
    fn a_finish_reason_ends_the_stream_soon() {
        let mut p = parser();
        let mut out = Vec::new();
        let frame = |data: &str| SseEvent {
            data: data.to_owned(),
            ..SseEvent::default()
        };
        assert_eq!(
            WireParser::<SseEvent>::frame(&mut p, frame(HEL), &mut out),
            Ok(Flow::More)
        );
        assert_eq!(
            WireParser::<SseEvent>::frame(&mut p, frame(STOP), &mut out),
            Ok(Flow::Finishing)
        );
        assert_eq!(
            WireParser::<SseEvent>::frame(&mut p, frame(USAGE), &mut out),
            Ok(Flow::Done)
        );
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
    async fn azure_deployment_url_api_key_header_and_version() {
        let body = r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#;
        let client = http_client().unwrap();
        for (base_suffix, version) in [
            ("/openai/deployments/gpt-4o", "2024-10-21"),
            (
                "/openai/deployments/gpt-4o?api-version=2025-01-01-preview",
                "2025-01-01-preview",
            ),
        ] {
            let (base, server) = serve_once(ok_response("application/json", body)).await;
            let spec = BackendSpec {
                provider: "azure".into(),
                base_url: Some(format!("{base}{base_suffix}")),
                ..spec(&base, Some("az-key"))
            };
            let provider = crate::provider::build(&spec, &client).unwrap();
            let (events, err) = collect(provider.stream(request(false))).await;
            assert_eq!(err, None);
            assert_eq!(text(&events), "ok");
            let seen = server.await.unwrap();
            let want = format!(
                "POST /openai/deployments/gpt-4o/chat/completions?api-version={version} HTTP/1.1"
            );
            assert!(seen.starts_with(&want), "{seen}");
            let lower = seen.to_ascii_lowercase();
            assert!(lower.contains("api-key: az-key"), "{seen}");
            assert!(!lower.contains("authorization"), "{seen}");
        }
        // No URL of its own: the error says what to set.
        let spec = BackendSpec {
            provider: "azure".into(),
            base_url: None,
            ..spec("http://x", Some("az-key"))
        };
        let err = crate::provider::build(&spec, &client).unwrap_err();
        assert!(err.to_string().contains("set base-url"), "{err}");
    }

    #[tokio::test]
    async fn rate_limit_headers_come_first() {
        let body = r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#;
        let raw = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-ratelimit-remaining-requests: 0\r\n\
             x-ratelimit-reset-requests: 6m0s\r\nx-ratelimit-remaining-tokens: 150\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (base, server) = serve_once(raw.into_bytes()).await;
        let provider = backend(&spec(&base, Some("k")), "openai");
        let before = crate::engine::clock::now_ms();
        let (events, err) = collect(provider.stream(request(false))).await;
        assert_eq!(err, None);
        let StreamEvent::RateLimit(limit) = &events[0] else {
            panic!("{events:?}");
        };
        assert_eq!(limit.requests_remaining, Some(0));
        assert_eq!(limit.tokens_remaining, Some(150));
        let reset = limit.requests_reset_ms.unwrap_or_default();
        assert!(
            (before + 360_000..before + 361_000).contains(&reset),
            "{reset}"
        );
        assert_eq!(text(&events), "ok");
        server.await.unwrap();
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
        assert_eq!(err, Some(ProviderError::http(429, "upstream quota")));
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
