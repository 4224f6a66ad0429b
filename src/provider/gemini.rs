//! Google Gemini `generateContent`.
//!
//! Streaming: `POST {base}/models/{model}:streamGenerateContent?alt=sse` with the key
//! in `x-goog-api-key`. Every SSE event is a whole `GenerateContentResponse`:
//! `candidates[0].content.parts[*].text`, a `finishReason` on the last one (the
//! completion marker: Gemini sends no `[DONE]`), and `usageMetadata` whose last value
//! counts. `--no-stream` uses `:generateContent`, which answers one such object.
//!
//! Roles: `assistant` becomes `model`; system messages go to `systemInstruction`.
//! Profile parameters (OpenAI naming) go to `generationConfig` in Gemini's camelCase.

use crate::provider::StreamError;
use reqwest::header::{HeaderMap, HeaderName};
use serde_json::{Map, Value, json};

use super::http::{self, Answer, Flow, SseBody, SseEvent, WireFormat, WireParser};
use super::{AnswerStatus, ApiKey, ChatRequest, ProviderError, Role, StreamEvent};

/// Where requests go when the profile sets no `base-url`.
pub(crate) const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// Parameters that are not generation settings, or make no sense here.
const SKIPPED_PARAMS: &[&str] = &["stream", "stream_options", "n", "logprobs"];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Gemini;

impl WireFormat for Gemini {
    type Decoder = SseBody;
    type Parser = GeminiParser;

    fn path(&self, model: &str, streaming: bool) -> String {
        // Profiles copied from Google's docs sometimes say `models/gemini-...`.
        let model = model.trim();
        let model = model.strip_prefix("models/").unwrap_or(model);
        if streaming {
            format!("/models/{model}:streamGenerateContent?alt=sse")
        } else {
            format!("/models/{model}:generateContent")
        }
    }

    fn auth(&self, key: Option<&ApiKey>) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(
                HeaderName::from_static("x-goog-api-key"),
                http::key_header("gemini", "", key)?,
            );
        }
        Ok(headers)
    }

    fn body(&self, _model: &str, params: &Map<String, Value>, request: &ChatRequest) -> Value {
        let mut body = Map::new();
        let contents: Vec<Value> = request
            .messages
            .iter()
            .filter(|m| m.role != Role::System)
            .map(|m| {
                let role = if m.role == Role::Assistant {
                    "model"
                } else {
                    "user"
                };
                json!({"role": role, "parts": [{"text": m.content}]})
            })
            .collect();
        body.insert("contents".into(), Value::Array(contents));
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == Role::System)
            .map(|m| m.content.as_str())
            .collect();
        if !system.is_empty() {
            body.insert(
                "systemInstruction".into(),
                json!({"parts": [{"text": system.join("\n\n")}]}),
            );
        }
        let config = generation_config(params, &mut body);
        if !config.is_empty() {
            body.insert("generationConfig".into(), Value::Object(config));
        }
        Value::Object(body)
    }

    fn decoder(&self, streaming: bool) -> SseBody {
        SseBody::new(streaming)
    }

    fn parser(&self, prompt_chars: usize) -> GeminiParser {
        GeminiParser::new(prompt_chars)
    }
}

/// The profile's parameters in Gemini's naming; `safetySettings` goes to the top of
/// `body` instead.
fn generation_config(
    params: &Map<String, Value>,
    body: &mut Map<String, Value>,
) -> Map<String, Value> {
    let mut config = Map::new();
    for (key, value) in params {
        match key.as_str() {
            k if SKIPPED_PARAMS.contains(&k) => {}
            "safetySettings" | "safety_settings" => {
                body.insert("safetySettings".into(), value.clone());
            }
            "max_tokens" | "max_output_tokens" | "maxOutputTokens" => {
                config.insert("maxOutputTokens".into(), value.clone());
            }
            "stop" | "stop_sequences" | "stopSequences" => {
                let stops = match value {
                    Value::String(_) => json!([value]),
                    _ => value.clone(),
                };
                config.insert("stopSequences".into(), stops);
            }
            other => {
                config.insert(camel_case(other), value.clone());
            }
        }
    }
    config
}

/// `top_p` → `topP`; names already in camelCase are kept.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Turns `GenerateContentResponse` objects into events.
#[derive(Debug)]
pub(crate) struct GeminiParser {
    answer: Answer,
    /// The prompt's count has been passed on, so a stream that breaks keeps it.
    sent_input: bool,
}

impl GeminiParser {
    pub(crate) fn new(prompt_chars: usize) -> Self {
        Self {
            answer: Answer::new(prompt_chars),
            sent_input: false,
        }
    }

    fn response(&mut self, value: &Value, out: &mut Vec<StreamEvent>) -> Result<(), ProviderError> {
        if value.get("error").is_some_and(Value::is_object) {
            return Err(http::error_in_body(value, 500));
        }
        let candidate = value.pointer("/candidates/0");
        if candidate.is_none()
            && let Some(reason) = value
                .pointer("/promptFeedback/blockReason")
                .and_then(Value::as_str)
        {
            // A blocked prompt is an answer: filtered, with the reason, never
            // an empty answer to retry elsewhere.
            let said = value
                .pointer("/promptFeedback/blockReasonMessage")
                .and_then(Value::as_str)
                .map_or_else(
                    || format!("the prompt was blocked ({reason})"),
                    str::to_owned,
                );
            self.answer.message(&said);
            self.answer.finish(AnswerStatus::Filtered, Some(reason));
        }
        if let Some(candidate) = candidate {
            let parts = candidate
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for part in parts {
                let text = part.get("text").and_then(Value::as_str);
                if let Some(call) = part.get("functionCall") {
                    let name = call.get("name").and_then(Value::as_str).unwrap_or("");
                    let args = call.get("args").map(Value::to_string).unwrap_or_default();
                    self.answer.tool_call(None, name, &args);
                } else if part.get("thought").and_then(Value::as_bool) == Some(true) {
                    // Thought summaries are reasoning, never the answer.
                    if let Some(text) = text {
                        self.answer.reasoning(text, out);
                    }
                } else if let Some(text) = text {
                    self.answer.text(text, out);
                } else if let Some(shown) = other_part(part) {
                    self.answer.text(&shown, out);
                }
            }
            if let Some(message) = candidate.get("finishMessage").and_then(Value::as_str) {
                self.answer.message(message);
            }
            if let Some(reason) = candidate.get("finishReason").and_then(Value::as_str) {
                if reason == "MALFORMED_FUNCTION_CALL" {
                    return Err(StreamError::Malformed {
                        detail: "the model wrote a tool call the API could not parse \
                                 (finishReason MALFORMED_FUNCTION_CALL)"
                            .into(),
                    }
                    .into());
                }
                self.answer.finish(finish_status(reason), Some(reason));
            }
        }
        read_usage(&mut self.answer, value.get("usageMetadata"));
        if !self.sent_input && self.answer.tokens.input.is_some() {
            self.sent_input = true;
            self.answer.early_usage(out);
        }
        Ok(())
    }
}

impl WireParser<SseEvent> for GeminiParser {
    fn frame(
        &mut self,
        frame: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ProviderError> {
        if frame.data.trim().is_empty() {
            return Ok(Flow::More);
        }
        let value = http::json_frame(&frame.data)?;
        self.response(&value, out)?;
        // Usage comes with every chunk, so the finish reason ends the answer.
        Ok(self.answer.flow())
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

impl WireParser<Value> for GeminiParser {
    fn frame(&mut self, value: Value, out: &mut Vec<StreamEvent>) -> Result<Flow, ProviderError> {
        // Without `alt=sse` a streamed answer is one JSON array of responses.
        match value.as_array() {
            Some(responses) => {
                for response in responses {
                    self.response(response, out)?;
                }
            }
            None => self.response(&value, out)?,
        }
        self.answer.done();
        Ok(Flow::Done)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

/// Reads `usageMetadata`: thinking tokens (`thoughtsTokenCount`) are billed as
/// output but counted apart from `candidatesTokenCount`.
fn read_usage(answer: &mut Answer, usage: Option<&Value>) {
    let Some(usage) = usage else { return };
    let get = |k: &str| usage.get(k).and_then(Value::as_u64);
    if let Some(input) = get("promptTokenCount") {
        answer.tokens.input = Some(input);
    }
    if let Some(cached) = get("cachedContentTokenCount") {
        answer.tokens.cache_read = Some(cached);
    }
    let thoughts = get("thoughtsTokenCount");
    if thoughts.is_some() {
        answer.tokens.reasoning = thoughts;
    }
    if let Some(output) = get("candidatesTokenCount") {
        answer.tokens.output = Some(output + thoughts.unwrap_or(0));
    }
}

/// Parts that are not text, shown as text rather than dropped without a word: code
/// the model ran (`executableCode`) and its output (`codeExecutionResult`) as fenced
/// blocks, and a note for files and images, which a terminal cannot show.
fn other_part(part: &Value) -> Option<String> {
    if let Some(code) = part.get("executableCode") {
        let language = code
            .get("language")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let language = if language == "language_unspecified" {
            ""
        } else {
            &language
        };
        let source = code.get("code").and_then(Value::as_str).unwrap_or("");
        return Some(format!("\n```{language}\n{}\n```\n", source.trim_end()));
    }
    if let Some(result) = part.get("codeExecutionResult") {
        let output = result.get("output").and_then(Value::as_str).unwrap_or("");
        let outcome = result.get("outcome").and_then(Value::as_str).unwrap_or("");
        let label = match outcome {
            "OUTCOME_OK" | "" => "output",
            "OUTCOME_DEADLINE_EXCEEDED" => "output (the run timed out)",
            _ => "output (the run failed)",
        };
        return Some(format!("\n{label}:\n```\n{}\n```\n", output.trim_end()));
    }
    let (kind, data) = match (part.get("inlineData"), part.get("fileData")) {
        (Some(data), _) => ("inline", data),
        (None, Some(data)) => ("file", data),
        (None, None) => return None,
    };
    let mime = data
        .get("mimeType")
        .and_then(Value::as_str)
        .unwrap_or("unknown type");
    let size = data
        .get("data")
        .and_then(Value::as_str)
        // Base64: four characters carry three bytes.
        .map(|b64| format!(", {} KiB", (b64.len() / 4 * 3).div_ceil(1024)))
        .unwrap_or_default();
    let uri = data
        .get("fileUri")
        .and_then(Value::as_str)
        .map(|u| format!(" at {u}"))
        .unwrap_or_default();
    Some(format!(
        "\n[{kind} {mime}{size}{uri}: not shown, baton shows text only]\n"
    ))
}

/// What a Gemini `finishReason` (or `promptFeedback.blockReason`) means.
fn finish_status(reason: &str) -> AnswerStatus {
    match reason {
        "MAX_TOKENS" => AnswerStatus::Truncated,
        "SAFETY" | "RECITATION" | "PROHIBITED_CONTENT" | "BLOCKLIST" | "SPII" | "IMAGE_SAFETY"
        | "LANGUAGE" | "OTHER" => AnswerStatus::Filtered,
        _ => AnswerStatus::Complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Finish;
    use crate::provider::http::testing::{collect, decode, ok_response, serve_once, text};
    use crate::provider::http::{HttpProvider, SseDecoder, SseOrJson, WholeBody};
    use crate::provider::{BackendSpec, Message, Provider, StreamError, Usage, http_client};
    use pretty_assertions::assert_eq;

    fn sse(frames: &[&str]) -> String {
        frames
            .iter()
            .map(|f| format!("data: {f}\r\n\r\n"))
            .collect()
    }

    const C1: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Bonjour"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.0-flash"}"#;
    const C2: &str = r#"{"candidates":[{"content":{"parts":[{"text":" le"},{"text":" monde"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2}}"#;
    const LAST: &str = r#"{"candidates":[{"content":{"parts":[{"text":"."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"totalTokenCount":13}}"#;

    #[tokio::test]
    async fn stream_keeps_the_last_usage() {
        let body = sse(&[C1, C2, LAST]);
        let (events, err) = decode(&[&body], SseDecoder::new(), GeminiParser::new(4)).await;
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                StreamEvent::Delta("Bonjour".into()),
                // The prompt's count at once (the output is estimated until the end),
                // so an answer that breaks keeps what the provider said.
                StreamEvent::Usage(Usage {
                    input_tokens: 9,
                    output_tokens: 2,
                    estimated: true,
                    ..Usage::default()
                }),
                StreamEvent::Delta(" le".into()),
                StreamEvent::Delta(" monde".into()),
                StreamEvent::Delta(".".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 9,
                    output_tokens: 4,
                    estimated: false,
                    ..Usage::default()
                }),
                StreamEvent::Finished(Finish::complete(Some("STOP"))),
            ]
        );
    }

    #[tokio::test]
    async fn no_finish_reason_is_truncated() {
        let body = sse(&[C1, C2]);
        let (events, err) = decode(&[&body], SseDecoder::new(), GeminiParser::new(4)).await;
        assert_eq!(text(&events), "Bonjour le monde");
        assert_eq!(err, Some(ProviderError::Stream(StreamError::Truncated)));
    }

    #[tokio::test]
    async fn finish_without_text_is_empty_unless_filtered() {
        let body = sse(&[
            r#"{"candidates":[{"content":{"parts":[],"role":"model"},"finishReason":"STOP"}]}"#,
        ]);
        let (_, err) = decode(&[&body], SseDecoder::new(), GeminiParser::new(4)).await;
        assert_eq!(err, Some(ProviderError::Empty));

        let body = sse(&[
            r#"{"candidates":[{"content":{"parts":[],"role":"model"},"finishReason":"SAFETY"}]}"#,
        ]);
        let (events, err) = decode(&[&body], SseDecoder::new(), GeminiParser::new(4)).await;
        assert_eq!(err, None);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finished(Finish::new(
                crate::provider::AnswerStatus::Filtered,
                Some("SAFETY")
            )))
        );
    }

    #[tokio::test]
    async fn errors_and_blocked_prompts() {
        let body = sse(&[
            C1,
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        ]);
        let (_, err) = decode(&[&body], SseDecoder::new(), GeminiParser::new(4)).await;
        let err = err.unwrap();
        assert_eq!(
            err.to_string(),
            "503 Service Unavailable: The model is overloaded."
        );
        assert_eq!(err.class(), crate::provider::ErrorClass::Transient);

        // A blocked prompt is a filtered answer with the reason, not an error.
        let body = sse(&[
            r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3}}"#,
        ]);
        let (events, err) = decode(&[&body], SseDecoder::new(), GeminiParser::new(4)).await;
        assert_eq!(err, None);
        let finish = events.iter().find_map(|e| match e {
            StreamEvent::Finished(f) => Some(f.clone()),
            _ => None,
        });
        assert_eq!(
            finish,
            Some(Finish {
                status: AnswerStatus::Filtered,
                stop_reason: Some("SAFETY".into()),
                message: Some("the prompt was blocked (SAFETY)".into()),
            })
        );
    }

    #[tokio::test]
    async fn function_calls_and_thinking_tokens() {
        let body = sse(&[
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":5,"thoughtsTokenCount":30,"cachedContentTokenCount":8}}"#,
        ]);
        let (events, err) = decode(&[&body], SseDecoder::new(), GeminiParser::new(4)).await;
        assert_eq!(err, None);
        assert!(
            events.contains(&StreamEvent::ToolCall(crate::provider::ToolCall {
                id: None,
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }))
        );
        let usage = events.iter().find_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        });
        let usage = usage.unwrap();
        assert_eq!(
            (
                usage.output_tokens,
                usage.reasoning_tokens,
                usage.cache_read_tokens
            ),
            (35, 30, 8)
        );
    }

    #[test]
    fn code_execution_and_images_are_shown_not_dropped() {
        let code = json!({"executableCode": {"language": "PYTHON", "code": "print(6*7)\n"}});
        assert_eq!(other_part(&code).unwrap(), "\n```python\nprint(6*7)\n```\n");
        let out = json!({"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "42\n"}});
        assert_eq!(other_part(&out).unwrap(), "\noutput:\n```\n42\n```\n");
        let image = json!({"inlineData": {"mimeType": "image/png", "data": "A".repeat(4096)}});
        assert_eq!(
            other_part(&image).unwrap(),
            "\n[inline image/png, 3 KiB: not shown, baton shows text only]\n"
        );
        assert_eq!(other_part(&json!({"thoughtSignature": "x"})), None);
    }

    #[tokio::test]
    async fn whole_answer_and_thoughts() {
        let body = r#"{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"42"}],"role":"model"},"finishReason":"STOP"}]}"#;
        let (events, err) = decode(&[body], WholeBody::default(), GeminiParser::new(4)).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "42");
        assert_eq!(events[0], StreamEvent::Reasoning("hmm".into()));
        assert!(matches!(
            events[2],
            StreamEvent::Usage(Usage {
                estimated: true,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn json_array_answer() {
        let body = format!("[{C1},\n{LAST}]");
        let (events, err) = decode(
            &[&body[..40], &body[40..]],
            SseOrJson::new(),
            GeminiParser::new(4),
        )
        .await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "Bonjour.");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finished(Finish::complete(Some("STOP"))))
        );
    }

    #[test]
    fn camel_case_names() {
        assert_eq!(camel_case("top_p"), "topP");
        assert_eq!(camel_case("presence_penalty"), "presencePenalty");
        assert_eq!(camel_case("topK"), "topK");
        assert_eq!(camel_case("_x"), "x");
    }

    #[tokio::test]
    async fn end_to_end_over_tcp() {
        let body = sse(&[C1, LAST]);
        let (base, server) = serve_once(ok_response("text/event-stream", &body)).await;
        let mut params = serde_json::Map::new();
        params.insert("temperature".into(), json!(0.3));
        params.insert("max_tokens".into(), json!(100));
        params.insert("top_p".into(), json!(0.9));
        params.insert("stop".into(), json!("END"));
        let spec = BackendSpec {
            name: "gem".into(),
            provider: "google".into(),
            model: "models/gemini-2.0-flash".into(),
            base_url: Some(format!("{base}/v1beta")),
            api_key: Some(ApiKey::new("AIza-test")),
            model_params: params,
            socket_timeout: None,
            headers: Vec::new(),
        };
        let client = http_client().unwrap();
        let provider = HttpProvider::new(Gemini, &spec, DEFAULT_BASE_URL, &client).unwrap();
        let request = ChatRequest {
            messages: vec![
                Message {
                    role: Role::System,
                    content: "sys".into(),
                },
                Message::user("hi"),
                Message {
                    role: Role::Assistant,
                    content: "yo".into(),
                },
                Message::user("more"),
            ],
            stream: true,
        };
        let (events, err) = collect(provider.stream(request)).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "Bonjour.");
        let seen = server.await.unwrap();
        assert!(
            seen.starts_with(
                "POST /v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse HTTP/1.1"
            ),
            "{seen}"
        );
        assert!(
            seen.to_ascii_lowercase()
                .contains("x-goog-api-key: aiza-test"),
            "{seen}"
        );
        assert!(
            !seen.contains("key="),
            "the key must not be in the URL: {seen}"
        );
        let sent: Value =
            serde_json::from_str(&seen[seen.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(
            sent,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "hi"}]},
                    {"role": "model", "parts": [{"text": "yo"}]},
                    {"role": "user", "parts": [{"text": "more"}]},
                ],
                "systemInstruction": {"parts": [{"text": "sys"}]},
                "generationConfig": {
                    "temperature": 0.3,
                    "maxOutputTokens": 100,
                    "topP": 0.9,
                    "stopSequences": ["END"],
                },
            })
        );
    }
}
