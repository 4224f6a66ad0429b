//! Anthropic Messages.
//!
//! `POST {base}/messages` with `x-api-key` and `anthropic-version`. System messages go
//! to the top-level `system` field and `max_tokens` is required (the profile's, else
//! the model family's output limit, see [`default_max_tokens`]). The SSE stream is a sequence of typed events: `message_start` (input tokens),
//! `content_block_delta` (`text_delta` text), `message_delta` (output tokens, stop
//! reason), `message_stop` (the completion marker), `ping`, and `error`.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

use super::http::{self, Answer, Flow, SseBody, SseEvent, WireFormat, WireParser};
use super::{
    AnswerStatus, ApiKey, ChatRequest, HttpInfo, ProviderError, Role, StreamError, StreamEvent,
};

/// Where requests go when the profile sets no `base-url`.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";

/// The API version baton speaks.
const API_VERSION: &str = "2023-06-01";

/// Output limits by model family, longest prefix first (Anthropic's models
/// overview). The API requires `max_tokens`, and a low default silently cuts long
/// answers, so the default is the model's own limit.
const MAX_OUTPUT_TOKENS: &[(&str, u64)] = &[
    ("claude-opus-4-1", 32_000),
    ("claude-opus-4-0", 32_000),
    // claude-opus-4-20250514: the first Opus 4, dated directly after the family.
    ("claude-opus-4-2025", 32_000),
    ("claude-opus-4", 64_000),
    ("claude-sonnet-4", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3-5-sonnet", 8_192),
    ("claude-3-5-haiku", 8_192),
    ("claude-3-opus", 4_096),
    ("claude-3-sonnet", 4_096),
    ("claude-3-haiku", 4_096),
];

/// The limit for a model the table does not know (newer models allow more; the API
/// rejects a value above a model's limit, so unknown models get a safe one).
const UNKNOWN_MODEL_MAX_TOKENS: u64 = 8_192;

/// The most a non-streamed request asks for: the API (and its SDKs) refuse
/// non-streaming requests expected to run past ten minutes, about 21,333 tokens at
/// the 128,000 tokens an hour they assume.
const NON_STREAMING_MAX_TOKENS: u64 = 21_333;

/// `max_tokens` when the profile sets none: the model family's output limit, capped
/// for non-streamed requests, and always above a thinking budget.
pub(crate) fn default_max_tokens(
    model: &str,
    streaming: bool,
    thinking_budget: Option<u64>,
) -> u64 {
    let model = model.rsplit('/').next().unwrap_or(model);
    let limit = MAX_OUTPUT_TOKENS
        .iter()
        .find(|(prefix, _)| model.starts_with(prefix))
        .map_or(UNKNOWN_MODEL_MAX_TOKENS, |&(_, limit)| limit);
    let limit = if streaming {
        limit
    } else {
        limit.min(NON_STREAMING_MAX_TOKENS)
    };
    match thinking_budget {
        Some(budget) => limit.max(budget.saturating_add(1)),
        None => limit,
    }
}

/// `thinking.budget_tokens`, when extended thinking is on.
fn thinking_budget(body: &Map<String, Value>) -> Option<u64> {
    let thinking = body.get("thinking")?;
    if thinking.get("type").and_then(Value::as_str) == Some("disabled") {
        return None;
    }
    thinking.get("budget_tokens").and_then(Value::as_u64)
}

/// OpenAI-only parameters the Messages API rejects.
const UNSUPPORTED_PARAMS: &[&str] = &[
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "logprobs",
    "stream",
    "stream_options",
];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Anthropic;

impl WireFormat for Anthropic {
    type Decoder = SseBody;
    type Parser = AnthropicParser;

    fn path(&self, _model: &str, _streaming: bool) -> String {
        "/messages".to_owned()
    }

    fn auth(&self, key: Option<&ApiKey>) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(key) = key {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                http::key_header("anthropic", "", key)?,
            );
        }
        Ok(headers)
    }

    fn body(&self, model: &str, params: &Map<String, Value>, request: &ChatRequest) -> Value {
        let mut body = Map::new();
        for (key, value) in params {
            if UNSUPPORTED_PARAMS.contains(&key.as_str()) {
                continue;
            }
            if key == "stop" || key == "stop_sequences" {
                body.insert("stop_sequences".into(), super::params::stop_list(value));
                continue;
            }
            body.insert(key.to_owned(), value.clone());
        }
        let budget = thinking_budget(&body);
        let max_tokens = match body.get("max_tokens").and_then(Value::as_u64) {
            // The API rejects max_tokens at or below the thinking budget.
            Some(given) => budget.map_or(given, |b| given.max(b.saturating_add(1))),
            None => default_max_tokens(model, request.stream, budget),
        };
        body.insert("max_tokens".into(), json!(max_tokens));
        body.insert("model".into(), json!(model));
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        let messages: Vec<Value> = request
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect();
        body.insert("messages".into(), Value::Array(messages));
        if request.stream {
            body.insert("stream".into(), json!(true));
        }
        Value::Object(body)
    }

    fn decoder(&self, streaming: bool) -> SseBody {
        SseBody::new(streaming)
    }

    fn parser(&self, prompt_chars: usize) -> AnthropicParser {
        AnthropicParser::new(prompt_chars)
    }
}

/// Turns Messages events (or one whole message) into events.
#[derive(Debug)]
pub(crate) struct AnthropicParser {
    answer: Answer,
    stop_reason: Option<String>,
}

impl AnthropicParser {
    pub(crate) fn new(prompt_chars: usize) -> Self {
        Self {
            answer: Answer::new(prompt_chars),
            stop_reason: None,
        }
    }
}

/// An `error` event or body as [`ProviderError::Http`], with the status the error type
/// stands for, so the engine classifies it like the HTTP answer it replaces.
fn api_error(value: &Value) -> ProviderError {
    let kind = value
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let status = match kind {
        "overloaded_error" => 529,
        "rate_limit_error" => 429,
        _ => 500,
    };
    let message = value
        .pointer("/error/message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(if kind.is_empty() { "error" } else { kind });
    ProviderError::Http {
        status,
        message: http::truncate_message(message),
        retry_after: None,
        info: Box::new(HttpInfo {
            code: (!kind.is_empty()).then(|| kind.to_owned()),
            request_id: value
                .get("request_id")
                .and_then(Value::as_str)
                .map(http::truncate_message),
            should_retry: None,
            rate_limit: None,
        }),
    }
}

fn is_error(value: &Value) -> bool {
    value.get("type").and_then(Value::as_str) == Some("error")
        || value.get("error").is_some_and(Value::is_object)
}

impl WireParser<SseEvent> for AnthropicParser {
    fn frame(
        &mut self,
        frame: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        if frame.data.trim().is_empty() {
            return Ok(Flow::More);
        }
        let value = http::json_frame(&frame.data)?;
        // The JSON's own `type` names the event; the SSE `event:` line is a fallback.
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .or(frame.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                read_usage(&mut self.answer, value.pointer("/message/usage"));
                // Its output count is a placeholder; message_delta has the real one.
                self.answer.tokens.output = None;
                // An answer that breaks later still has the prompt's real count.
                self.answer.early_usage(out);
            }
            "content_block_start" => {
                let block = value.get("content_block");
                let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
                if block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("tool_use") {
                    let field = |k: &str| block.and_then(|b| b.get(k)).and_then(Value::as_str);
                    self.answer
                        .tool_call_part(index, field("id"), field("name"), "");
                }
            }
            "content_block_delta" => {
                let delta = value.get("delta");
                let field = |k: &str| delta.and_then(|d| d.get(k)).and_then(Value::as_str);
                match field("type") {
                    Some("text_delta") => {
                        if let Some(text) = field("text") {
                            self.answer.text(text, out);
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(text) = field("thinking") {
                            self.answer.reasoning(text, out);
                        }
                    }
                    Some("input_json_delta") => {
                        let index = value.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let part = field("partial_json").unwrap_or("");
                        self.answer.tool_call_part(index, None, None, part);
                    }
                    // signature_delta, citations: nothing to show.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                read_usage(&mut self.answer, value.get("usage"));
            }
            "message_stop" => {
                let reason = self.stop_reason.clone();
                finish(&mut self.answer, reason.as_deref());
                return Ok(Flow::Done);
            }
            "error" => return Err(api_error(&value)),
            // ping, content_block_start/stop, thinking blocks: nothing to show.
            _ => {}
        }
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

impl WireParser<Value> for AnthropicParser {
    fn frame(&mut self, value: Value, out: &mut Vec<StreamEvent>) -> Result<Flow, ProviderError> {
        if is_error(&value) {
            return Err(api_error(&value));
        }
        let Some(blocks) = value.get("content").and_then(Value::as_array) else {
            return Err(StreamError::Malformed {
                detail: format!(
                    "the message has no content: {}",
                    http::excerpt(&value.to_string())
                ),
            }
            .into());
        };
        for block in blocks {
            let field = |k: &str| block.get(k).and_then(Value::as_str);
            match field("type") {
                Some("text") => {
                    if let Some(text) = field("text") {
                        self.answer.text(text, out);
                    }
                }
                Some("thinking") => {
                    if let Some(text) = field("thinking") {
                        self.answer.reasoning(text, out);
                    }
                }
                Some("tool_use") => {
                    let input = block.get("input").map(Value::to_string).unwrap_or_default();
                    self.answer
                        .tool_call(field("id"), field("name").unwrap_or(""), &input);
                }
                _ => {}
            }
        }
        read_usage(&mut self.answer, value.get("usage"));
        finish(
            &mut self.answer,
            value.get("stop_reason").and_then(Value::as_str),
        );
        Ok(Flow::Done)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

/// Reads a Messages usage object: `input_tokens` leaves out the cached prompt
/// tokens, which come as `cache_read_input_tokens` and
/// `cache_creation_input_tokens`, so the prompt's size is the sum.
fn read_usage(answer: &mut Answer, usage: Option<&Value>) {
    let Some(usage) = usage else { return };
    let get = |k: &str| usage.get(k).and_then(Value::as_u64);
    if let Some(read) = get("cache_read_input_tokens") {
        answer.tokens.cache_read = Some(read);
    }
    if let Some(written) = get("cache_creation_input_tokens") {
        answer.tokens.cache_write = Some(written);
    }
    if let Some(input) = get("input_tokens") {
        let cached = answer.tokens.cache_read.unwrap_or(0) + answer.tokens.cache_write.unwrap_or(0);
        answer.tokens.input = Some(input + cached);
    }
    if let Some(output) = get("output_tokens") {
        answer.tokens.output = Some(output);
    }
}

/// Records how the answer ended; `pause_turn` (a long server-side tool turn the
/// API paused) is an unfinished answer, said in words.
fn finish(answer: &mut Answer, reason: Option<&str>) {
    if reason == Some("pause_turn") {
        answer.message("the provider paused this turn before the answer was finished");
    }
    answer.finish(finish_status(reason), reason);
}

/// What an Anthropic `stop_reason` means.
fn finish_status(reason: Option<&str>) -> AnswerStatus {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded" | "pause_turn") => {
            AnswerStatus::Truncated
        }
        Some("refusal") => AnswerStatus::Refused,
        Some("tool_use") => AnswerStatus::ToolCall,
        _ => AnswerStatus::Complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Finish;
    use crate::provider::http::testing::{collect, decode, ok_response, serve_once, text};
    use crate::provider::http::{HttpProvider, SseDecoder, WholeBody};
    use crate::provider::{BackendSpec, ErrorClass, Message, Provider, Usage, http_client};
    use pretty_assertions::assert_eq;

    fn sse(frames: &[(&str, &str)]) -> String {
        frames
            .iter()
            .map(|(event, data)| format!("event: {event}\ndata: {data}\n\n"))
            .collect()
    }

    const START: (&str, &str) = (
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
    );
    const BLOCK: (&str, &str) = (
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    );
    const PING: (&str, &str) = ("ping", r#"{"type": "ping"}"#);
    const D1: (&str, &str) = (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
    );
    const D2: (&str, &str) = (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}"#,
    );
    const BLOCK_STOP: (&str, &str) = (
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    );
    const DELTA: (&str, &str) = (
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
    );
    const STOP: (&str, &str) = ("message_stop", r#"{"type":"message_stop"}"#);

    #[tokio::test]
    async fn full_stream() {
        let body = sse(&[START, BLOCK, PING, D1, D2, BLOCK_STOP, DELTA, STOP]);
        let (events, err) = decode(&[&body], SseDecoder::new(), AnthropicParser::new(4)).await;
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                // The prompt's count comes first, so a broken answer keeps it.
                StreamEvent::Usage(Usage {
                    input_tokens: 25,
                    output_tokens: 0,
                    estimated: true,
                    ..Usage::default()
                }),
                StreamEvent::Delta("Hello".into()),
                StreamEvent::Delta("!".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 25,
                    output_tokens: 15,
                    estimated: false,
                    ..Usage::default()
                }),
                StreamEvent::Finished(Finish::complete(Some("end_turn"))),
            ]
        );
    }

    #[tokio::test]
    async fn no_message_stop_is_truncated() {
        let body = sse(&[START, BLOCK, D1, D2, BLOCK_STOP, DELTA]);
        let (events, err) = decode(&[&body], SseDecoder::new(), AnthropicParser::new(4)).await;
        assert_eq!(text(&events), "Hello!");
        assert_eq!(err, Some(ProviderError::Stream(StreamError::Truncated)));
    }

    #[tokio::test]
    async fn empty_message_is_empty() {
        let body = sse(&[START, BLOCK, BLOCK_STOP, DELTA, STOP]);
        let (_, err) = decode(&[&body], SseDecoder::new(), AnthropicParser::new(4)).await;
        assert_eq!(err, Some(ProviderError::Empty));
    }

    #[tokio::test]
    async fn error_events_map_to_statuses() {
        let cases = [
            ("overloaded_error", 529, ErrorClass::Transient),
            ("rate_limit_error", 429, ErrorClass::Transient),
            ("api_error", 500, ErrorClass::Transient),
            ("something_new", 500, ErrorClass::Transient),
        ];
        // A spend limit arrives as a rate-limit error: it is a quota, not a wait.
        let data = r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's monthly spend limit."},"request_id":"req_9"}"#;
        let body = sse(&[START, ("error", data)]);
        let (_, err) = decode(&[&body], SseDecoder::new(), AnthropicParser::new(4)).await;
        let err = err.unwrap();
        assert_eq!(err.class(), ErrorClass::Quota);
        assert!(err.to_string().ends_with("(request req_9)"), "{err}");
        for (kind, status, class) in cases {
            let data =
                format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"Overloaded"}}}}"#);
            let body = sse(&[START, D1, ("error", &data)]);
            let (events, err) = decode(&[&body], SseDecoder::new(), AnthropicParser::new(4)).await;
            assert_eq!(text(&events), "Hello");
            let err = err.unwrap();
            assert!(
                matches!(&err, ProviderError::Http { status: s, message, info, .. }
                    if *s == status && message == "Overloaded" && info.code.as_deref() == Some(kind)),
                "{err:?}"
            );
            assert_eq!(err.class(), class);
        }
    }

    #[tokio::test]
    async fn thinking_counts_as_reasoning_and_tool_use_becomes_a_tool_call() {
        let frames: &[(&str, &str)] = &[
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Weather needs a tool."}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":40}}"#,
            ),
            STOP,
        ];
        let (events, err) =
            decode(&[&sse(frames)], SseDecoder::new(), AnthropicParser::new(4)).await;
        assert_eq!(err, None);
        assert!(events.contains(&StreamEvent::Reasoning("Weather needs a tool.".into())));
        assert!(
            events.contains(&StreamEvent::ToolCall(crate::provider::ToolCall {
                id: Some("toolu_1".into()),
                name: "get_weather".into(),
                arguments: r#"{"city": "Paris"}"#.into(),
            }))
        );
        let last_usage = events.iter().rev().find_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        });
        let usage = last_usage.unwrap();
        assert_eq!((usage.input_tokens, usage.cache_read_tokens), (100, 90));
        assert_eq!(usage.output_tokens, 40);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finished(Finish::new(
                AnswerStatus::ToolCall,
                Some("tool_use")
            )))
        );
    }

    #[tokio::test]
    async fn whole_message() {
        let body = r#"{"id":"msg_2","type":"message","role":"assistant","content":[{"type":"text","text":"Hi"},{"type":"text","text":" you"}],"stop_reason":"max_tokens","usage":{"input_tokens":3,"output_tokens":2}}"#;
        let (events, err) = decode(&[body], WholeBody::default(), AnthropicParser::new(4)).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "Hi you");
        assert_eq!(
            events[2..],
            [
                StreamEvent::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 2,
                    estimated: false,
                    ..Usage::default()
                }),
                StreamEvent::Finished(Finish::new(
                    crate::provider::AnswerStatus::Truncated,
                    Some("max_tokens")
                )),
            ]
        );
        let err_body =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let (_, err) = decode(&[err_body], WholeBody::default(), AnthropicParser::new(4)).await;
        assert!(matches!(err, Some(ProviderError::Http { status: 529, .. })));
    }

    #[tokio::test]
    async fn end_to_end_over_tcp() {
        let body = sse(&[START, BLOCK, D1, D2, DELTA, STOP]);
        let (base, server) = serve_once(ok_response("text/event-stream", &body)).await;
        let mut params = serde_json::Map::new();
        params.insert("temperature".into(), json!(0.5));
        params.insert("seed".into(), json!(7));
        let spec = BackendSpec {
            name: "claude".into(),
            provider: "anthropic".into(),
            model: "claude-x".into(),
            base_url: Some(format!("{base}/v1/")),
            api_key: Some(ApiKey::new("sk-ant-test")),
            model_params: params,
            socket_timeout: None,
            headers: Vec::new(),
        };
        let client = http_client().unwrap();
        let provider = HttpProvider::new(Anthropic, &spec, DEFAULT_BASE_URL, &client).unwrap();
        let request = ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "rule one".into(),
                },
                Message::user("hi"),
                Message {
                    role: Role::Assistant,
                    content: "hello".into(),
                },
                Message::user("again"),
            ],
            stream: true,
        };
        let (events, err) = collect(provider.stream(request)).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "Hello!");
        let seen = server.await.unwrap();
        assert!(seen.starts_with("POST /v1/messages HTTP/1.1"), "{seen}");
        let lower = seen.to_ascii_lowercase();
        assert!(
            lower.contains("x-api-key: sk-ant-test")
                && lower.contains("anthropic-version: 2023-06-01"),
            "{seen}"
        );
        let sent: Value =
            serde_json::from_str(&seen[seen.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(
            sent,
            json!({
                "model": "claude-x",
                "max_tokens": 8192,
                "temperature": 0.5,
                "system": "rule one",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                    {"role": "user", "content": "again"},
                ],
                "stream": true,
            })
        );
    }

    #[test]
    fn max_tokens_by_model_family_stream_and_thinking_budget() {
        assert_eq!(
            default_max_tokens("claude-sonnet-4-5-20250929", true, None),
            64_000
        );
        assert_eq!(
            default_max_tokens("claude-opus-4-1-20250805", true, None),
            32_000
        );
        assert_eq!(
            default_max_tokens("claude-3-5-haiku-latest", true, None),
            8_192
        );
        assert_eq!(
            default_max_tokens("claude-3-haiku-20240307", true, None),
            4_096
        );
        assert_eq!(
            default_max_tokens("anthropic/claude-haiku-4-5", true, None),
            64_000
        );
        assert_eq!(default_max_tokens("some-new-model", true, None), 8_192);
        // Not streamed: capped so the request stays under the API's ten minutes.
        assert_eq!(default_max_tokens("claude-sonnet-4-5", false, None), 21_333);
        assert_eq!(default_max_tokens("claude-3-haiku", false, None), 4_096);
        // Never at or below a thinking budget.
        assert_eq!(
            default_max_tokens("claude-3-haiku", true, Some(10_000)),
            10_001
        );

        let request = ChatRequest {
            messages: vec![Message::user("hi")],
            stream: true,
        };
        let body = |params: Value| {
            let Value::Object(params) = params else {
                panic!("not an object")
            };
            Anthropic.body("claude-sonnet-4-5", &params, &request)
        };
        let sent = body(
            json!({"thinking": {"type": "enabled", "budget_tokens": 16000}, "max_tokens": 1024}),
        );
        assert_eq!(sent["max_tokens"], json!(16_001));
        let sent = body(json!({"max_tokens": 1024}));
        assert_eq!(sent["max_tokens"], json!(1024));
        let sent = body(
            json!({"thinking": {"type": "disabled", "budget_tokens": 16000}, "max_tokens": 1024}),
        );
        assert_eq!(sent["max_tokens"], json!(1024));
        let sent = body(json!({}));
        assert_eq!(sent["max_tokens"], json!(64_000));
    }
}
