//! OpenAI's chat-completions shapes as baton serves them: the request read into
//! messages and model parameters, and the answer written as a completion object or
//! as `chat.completion.chunk` SSE frames.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use crate::provider::{AnswerStatus, Finish, Message, Role, ToolCall, Usage};

/// Sampling fields passed to every backend as model parameters, in OpenAI naming
/// (each wire format translates them).
const PARAMS: &[&str] = &[
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
];

/// A chat-completions request, read leniently: unknown fields are ignored, as
/// OpenAI-compatible servers do.
#[derive(Debug, Deserialize)]
struct RawRequest {
    model: String,
    messages: Vec<RawMessage>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    max_completion_tokens: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct RawMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

/// What the gateway asks the engine for.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ChatCall {
    /// The `model` field: a profile name, or `profile/model`.
    pub(crate) model: String,
    pub(crate) messages: Vec<Message>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    /// Model parameters laid over every backend's own.
    pub(crate) params: Map<String, Value>,
}

/// Reads a request body.
pub(super) fn parse_request(body: &[u8]) -> Result<ChatCall, ApiError> {
    let raw: RawRequest =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(e.to_string(), None))?;
    if raw.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("only n = 1 is supported", Some("n")));
    }
    if raw.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::invalid(
            "tools are not supported by this gateway yet",
            Some("tools"),
        ));
    }
    let mut messages = Vec::with_capacity(raw.messages.len() + 1);
    if let Some(system) = raw.system.filter(|s| !s.is_empty()) {
        messages.push(Message {
            role: Role::System,
            content: system,
        });
    }
    for (i, m) in raw.messages.into_iter().enumerate() {
        messages.push(message(i, m)?);
    }
    if !messages.iter().any(|m| m.role == Role::User) {
        return Err(ApiError::invalid(
            "messages must hold at least one user message",
            Some("messages"),
        ));
    }
    let mut params = Map::new();
    for key in PARAMS {
        if let Some(v) = raw.rest.get(*key).filter(|v| !v.is_null()) {
            params.insert((*key).to_string(), v.clone());
        }
    }
    if let Some(v) = raw.max_completion_tokens.filter(|v| !v.is_null()) {
        params.insert("max_tokens".into(), v);
    }
    Ok(ChatCall {
        model: raw.model,
        messages,
        stream: raw.stream,
        include_usage: raw.stream_options.is_some_and(|o| o.include_usage),
        params,
    })
}

fn message(i: usize, m: RawMessage) -> Result<Message, ApiError> {
    let param = format!("messages[{i}]");
    let role = match m.role.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(ApiError::invalid(
                format!("role '{other}' is not supported (system, developer, user, assistant)"),
                Some(&param),
            ));
        }
    };
    let content = match m.content {
        Value::String(s) => s,
        Value::Null => String::new(),
        Value::Array(parts) => {
            let mut text = String::new();
            for part in parts {
                match (part.get("type").and_then(Value::as_str), part.get("text")) {
                    (Some("text"), Some(Value::String(t))) => text.push_str(t),
                    _ => {
                        return Err(ApiError::invalid(
                            "only text content parts are supported",
                            Some(&param),
                        ));
                    }
                }
            }
            text
        }
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => {
            return Err(ApiError::invalid(
                "content must be a string or an array of text parts",
                Some(&param),
            ));
        }
    };
    Ok(Message { role, content })
}

/// The one place an answer status becomes OpenAI's `finish_reason`. A refusal is
/// `stop` with the message's `refusal` set, as OpenAI sends it.
pub(super) fn finish_reason(status: AnswerStatus) -> &'static str {
    match status {
        AnswerStatus::Complete | AnswerStatus::Refused | AnswerStatus::Interrupted => "stop",
        AnswerStatus::Truncated => "length",
        AnswerStatus::Filtered => "content_filter",
        AnswerStatus::ToolCall => "tool_calls",
    }
}

/// A tool call as OpenAI writes it; `index` is its place in the answer.
fn tool_call_json(index: usize, call: &ToolCall) -> Value {
    json!({
        "index": index,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    })
}

/// What a non-streaming answer holds besides its finish.
#[derive(Debug, Clone, Default)]
pub(super) struct WholeAnswer {
    pub(crate) text: String,
    pub(crate) reasoning: String,
    pub(crate) tool_calls: Vec<ToolCall>,
}

/// Fields every object of one answer shares.
#[derive(Debug, Clone)]
pub(super) struct AnswerId {
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) model: String,
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total(),
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

/// The non-streaming answer.
pub(super) fn completion(
    id: &AnswerId,
    answer: &WholeAnswer,
    finish: &Finish,
    usage: &Usage,
) -> Value {
    let mut message = json!({"role": "assistant", "content": answer.text});
    if finish.status == AnswerStatus::Refused {
        // OpenAI's shape: no content, the refusal's text in `refusal`.
        let refusal = match (&answer.text, &finish.message) {
            (text, Some(m)) if text.is_empty() => m.clone(),
            (text, _) => text.clone(),
        };
        message["content"] = Value::Null;
        message["refusal"] = json!(refusal);
    }
    if !answer.reasoning.is_empty() {
        message["reasoning_content"] = json!(answer.reasoning);
    }
    if !answer.tool_calls.is_empty() {
        let calls: Vec<Value> = answer
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| tool_call_json(i, c))
            .collect();
        message["tool_calls"] = json!(calls);
        if answer.text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    json!({
        "id": id.id,
        "object": "chat.completion",
        "created": id.created,
        "model": id.model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(finish.status),
        }],
        "usage": usage_json(usage),
    })
}

fn chunk(id: &AnswerId, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id.id,
        "object": "chat.completion.chunk",
        "created": id.created,
        "model": id.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

/// One SSE frame.
pub(super) fn frame(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// The frame that ends a complete stream.
pub(super) const DONE_FRAME: &str = "data: [DONE]\n\n";

/// The first frame: the assistant's role.
pub(super) fn role_frame(id: &AnswerId) -> String {
    frame(&chunk(
        id,
        json!({"role": "assistant", "content": ""}),
        None,
    ))
}

pub(super) fn text_frame(id: &AnswerId, text: &str) -> String {
    frame(&chunk(id, json!({ "content": text }), None))
}

/// Reasoning, as DeepSeek-style clients read it: `delta.reasoning_content`.
pub(super) fn reasoning_frame(id: &AnswerId, text: &str) -> String {
    frame(&chunk(id, json!({ "reasoning_content": text }), None))
}

/// One whole tool call, the `index`-th of the answer.
pub(super) fn tool_call_frame(id: &AnswerId, index: usize, call: &ToolCall) -> String {
    frame(&chunk(
        id,
        json!({ "tool_calls": [tool_call_json(index, call)] }),
        None,
    ))
}

/// The frames after the last text: the finish reason, the usage when asked for,
/// then `[DONE]`.
pub(super) fn end_frames(id: &AnswerId, status: AnswerStatus, usage: Option<&Usage>) -> String {
    let mut out = frame(&chunk(id, json!({}), Some(finish_reason(status))));
    if let Some(usage) = usage {
        out.push_str(&frame(&json!({
            "id": id.id,
            "object": "chat.completion.chunk",
            "created": id.created,
            "model": id.model,
            "choices": [],
            "usage": usage_json(usage),
        })));
    }
    out.push_str(DONE_FRAME);
    out
}

/// `GET /v1/models`.
pub(super) fn model_list(names: &[String]) -> Value {
    let data: Vec<Value> = names
        .iter()
        .map(|n| json!({"id": n, "object": "model", "created": 0, "owned_by": "baton"}))
        .collect();
    json!({"object": "list", "data": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_becomes_messages_and_params() {
        let body = br#"{"model":"work","system":"be brief","stream":true,
            "stream_options":{"include_usage":true},"temperature":0.2,"stop":["\n"],
            "max_completion_tokens":50,"user":"x",
            "messages":[{"role":"developer","content":"s"},
                        {"role":"user","content":[{"type":"text","text":"hi"}]}]}"#;
        let call = parse_request(body).unwrap();
        assert_eq!(call.model, "work");
        assert!(call.stream && call.include_usage);
        let roles: Vec<_> = call.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::System, Role::System, Role::User]);
        assert_eq!(call.messages[2].content, "hi");
        assert_eq!(call.params["temperature"], 0.2);
        assert_eq!(call.params["max_tokens"], 50);
        assert_eq!(call.params["stop"], json!(["\n"]));
        assert!(!call.params.contains_key("user"));
    }

    #[test]
    fn unsupported_requests_name_the_field() {
        let err = parse_request(br#"{"model":"a","messages":[{"role":"tool","content":"x"}]}"#)
            .unwrap_err();
        assert_eq!(err.body()["error"]["param"], "messages[0]");
        let err = parse_request(br#"{"model":"a","n":2,"messages":[]}"#).unwrap_err();
        assert_eq!(err.body()["error"]["param"], "n");
        assert!(parse_request(b"{").is_err());
    }

    fn answer_id() -> AnswerId {
        AnswerId {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
        }
    }

    #[test]
    fn statuses_become_openai_finish_reasons() {
        assert_eq!(finish_reason(AnswerStatus::Complete), "stop");
        assert_eq!(finish_reason(AnswerStatus::Truncated), "length");
        assert_eq!(finish_reason(AnswerStatus::Filtered), "content_filter");
        assert_eq!(finish_reason(AnswerStatus::ToolCall), "tool_calls");
        assert_eq!(finish_reason(AnswerStatus::Refused), "stop");
        let end = end_frames(&answer_id(), AnswerStatus::Truncated, None);
        assert!(end.contains(r#""finish_reason":"length""#), "{end}");
    }

    #[test]
    fn a_whole_answer_carries_tool_calls_reasoning_and_refusals() {
        let call = ToolCall {
            id: Some("call_1".into()),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        };
        let answer = WholeAnswer {
            text: String::new(),
            reasoning: "think".into(),
            tool_calls: vec![call.clone()],
        };
        let finish = Finish::new(AnswerStatus::ToolCall, Some("tool_calls"));
        let body = completion(&answer_id(), &answer, &finish, &Usage::default());
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], Value::Null);
        assert_eq!(choice["message"]["reasoning_content"], "think");
        assert_eq!(
            choice["message"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
        assert_eq!(choice["message"]["tool_calls"][0]["id"], "call_1");
        let frame = tool_call_frame(&answer_id(), 0, &call);
        assert!(
            frame.contains(r#""arguments":"{\"city\":\"Paris\"}""#),
            "{frame}"
        );
        let frame = reasoning_frame(&answer_id(), "hm");
        assert!(frame.contains(r#""reasoning_content":"hm""#), "{frame}");

        let refused = WholeAnswer {
            text: "I can't help with that.".into(),
            ..WholeAnswer::default()
        };
        let finish = Finish::new(AnswerStatus::Refused, Some("refusal"));
        let body = completion(&answer_id(), &refused, &finish, &Usage::default());
        let choice = &body["choices"][0];
        assert_eq!(choice["finish_reason"], "stop");
        assert_eq!(choice["message"]["refusal"], "I can't help with that.");
        assert_eq!(choice["message"]["content"], Value::Null);
    }

    #[test]
    fn a_complete_stream_ends_with_stop_usage_and_done() {
        let id = AnswerId {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "m".into(),
        };
        let usage = Usage {
            input_tokens: 1,
            output_tokens: 2,
            estimated: false,
            ..Usage::default()
        };
        let end = end_frames(&id, AnswerStatus::Complete, Some(&usage));
        let frames: Vec<&str> = end.split("\n\n").filter(|f| !f.is_empty()).collect();
        assert_eq!(frames.len(), 3);
        assert!(frames[0].contains(r#""finish_reason":"stop""#));
        assert!(frames[1].contains(r#""total_tokens":3"#));
        assert_eq!(frames[2], "data: [DONE]");
    }
}
