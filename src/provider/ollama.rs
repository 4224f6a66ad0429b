//! Ollama `/api/chat`.
//!
//! `POST {base}/api/chat`; the answer is newline-delimited JSON, one object per line:
//! `{"message":{"content":..},"done":false}` while streaming, then a last object with
//! `done: true`, `done_reason`, `prompt_eval_count` and `eval_count`. A non-streamed
//! answer is that last object alone (one JSON document, read whole), so both modes
//! share one parser. `message.thinking` is reasoning; `message.tool_calls` carries
//! whole calls whose arguments are a JSON object.
//! Sampling parameters go into `options` (`max_tokens` becomes `num_predict`).

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Map, Value, json};

use super::http::{self, Answer, Flow, LinesBody, WireFormat, WireParser};
use super::{AnswerStatus, ApiKey, ChatRequest, ProviderError, StreamEvent};

/// Where requests go when the profile sets no `base-url`.
pub(crate) const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";

/// Parameters that belong at the top level of the request rather than in `options`.
const TOP_LEVEL_PARAMS: &[&str] = &["keep_alive", "format", "think"];

#[derive(Debug, Clone, Copy)]
pub(crate) struct Ollama;

impl WireFormat for Ollama {
    type Decoder = LinesBody;
    type Parser = OllamaParser;

    fn path(&self, _model: &str, _streaming: bool) -> String {
        "/api/chat".to_owned()
    }

    fn auth(&self, key: Option<&ApiKey>) -> Result<HeaderMap, ProviderError> {
        // Ollama needs no key, but one behind an authenticating proxy may.
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            headers.insert(AUTHORIZATION, http::key_header("ollama", "Bearer ", key)?);
        }
        Ok(headers)
    }

    fn body(&self, model: &str, params: &Map<String, Value>, request: &ChatRequest) -> Value {
        let mut body = Map::new();
        let mut options = Map::new();
        for (key, value) in params {
            match key.as_str() {
                "stream" | "stream_options" => {}
                k if TOP_LEVEL_PARAMS.contains(&k) => {
                    body.insert(key.clone(), value.clone());
                }
                "max_tokens" => {
                    options.insert("num_predict".into(), value.clone());
                }
                "stop" => {
                    options.insert("stop".into(), super::params::stop_list(value));
                }
                _ => {
                    options.insert(key.clone(), value.clone());
                }
            }
        }
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), http::role_content_messages(request));
        body.insert("stream".into(), json!(request.stream));
        if !options.is_empty() {
            body.insert("options".into(), Value::Object(options));
        }
        Value::Object(body)
    }

    fn decoder(&self, streaming: bool) -> LinesBody {
        LinesBody::new(streaming)
    }

    fn parser(&self, prompt_chars: usize) -> OllamaParser {
        OllamaParser::new(prompt_chars)
    }
}

/// Turns `/api/chat` lines into events.
#[derive(Debug)]
pub(crate) struct OllamaParser {
    answer: Answer,
}

impl OllamaParser {
    pub(crate) fn new(prompt_chars: usize) -> Self {
        Self {
            answer: Answer::new(prompt_chars),
        }
    }
}

/// An `{"error": ".."}` line: a missing model is a request error (404), anything else
/// is treated as the server failing (500, transient).
fn line_error(value: &Value) -> Option<ProviderError> {
    let error = value.get("error").filter(|e| !e.is_null())?;
    let message = http::json_error_message(value)
        .map(str::to_owned)
        .unwrap_or_else(|| error.to_string());
    let status = if message.to_ascii_lowercase().contains("not found") {
        404
    } else {
        500
    };
    Some(ProviderError::http(
        status,
        http::truncate_message(&message),
    ))
}

impl WireParser<Value> for OllamaParser {
    fn frame(&mut self, value: Value, out: &mut Vec<StreamEvent>) -> Result<Flow, ProviderError> {
        if let Some(err) = line_error(&value) {
            return Err(err);
        }
        if let Some(text) = value.pointer("/message/thinking").and_then(Value::as_str) {
            self.answer.reasoning(text, out);
        }
        if let Some(text) = value.pointer("/message/content").and_then(Value::as_str) {
            self.answer.text(text, out);
        }
        let calls = value
            .pointer("/message/tool_calls")
            .and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            let function = call.get("function").unwrap_or(call);
            let Some(name) = function.get("name").and_then(Value::as_str) else {
                continue;
            };
            let arguments = match function.get("arguments") {
                Some(Value::String(text)) => text.clone(),
                Some(args) => args.to_string(),
                None => "{}".to_owned(),
            };
            let id = call.get("id").and_then(Value::as_str);
            self.answer.tool_call(id, name, &arguments);
        }
        if value.get("done").and_then(Value::as_bool) == Some(true) {
            self.answer
                .usage_from(Some(&value), "prompt_eval_count", "eval_count");
            let reason = value.get("done_reason").and_then(Value::as_str);
            let status = match reason {
                Some("length") => AnswerStatus::Truncated,
                _ => AnswerStatus::Complete,
            };
            self.answer.finish(status, reason);
            return Ok(Flow::Done);
        }
        Ok(Flow::More)
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        self.answer.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Finish;
    use crate::provider::http::HttpProvider;
    use crate::provider::http::NdjsonDecoder;
    use crate::provider::http::testing::{collect, decode, ok_response, serve_once, text};
    use crate::provider::{
        BackendSpec, ErrorClass, Message, Provider, StreamError, Usage, http_client,
    };
    use pretty_assertions::assert_eq;

    const L1: &str = "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}\n";
    const L2: &str = "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\" sky\"},\"done\":false}\n";
    const DONE: &str = "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":1,\"prompt_eval_count\":26,\"eval_count\":2}\n";

    #[tokio::test]
    async fn stream_lines() {
        let (events, err) = decode(
            &[L1, &L2[..10], &L2[10..], DONE],
            NdjsonDecoder::new(),
            OllamaParser::new(4),
        )
        .await;
        assert_eq!(err, None);
        assert_eq!(
            events,
            vec![
                StreamEvent::Delta("The".into()),
                StreamEvent::Delta(" sky".into()),
                StreamEvent::Usage(Usage {
                    input_tokens: 26,
                    output_tokens: 2,
                    estimated: false,
                    ..Usage::default()
                }),
                StreamEvent::Finished(Finish::complete(Some("stop"))),
            ]
        );
    }

    #[tokio::test]
    async fn missing_done_is_truncated_and_empty_is_empty() {
        let (events, err) = decode(&[L1, L2], NdjsonDecoder::new(), OllamaParser::new(4)).await;
        assert_eq!(text(&events), "The sky");
        assert_eq!(err, Some(ProviderError::Stream(StreamError::Truncated)));
        let (_, err) = decode(&[DONE], NdjsonDecoder::new(), OllamaParser::new(4)).await;
        assert_eq!(err, Some(ProviderError::Empty));
    }

    #[tokio::test]
    async fn error_lines() {
        let (_, err) = decode(
            &["{\"error\":\"model 'nope' not found, try pulling it first\"}\n"],
            NdjsonDecoder::new(),
            OllamaParser::new(4),
        )
        .await;
        let err = err.unwrap();
        assert!(
            matches!(err, ProviderError::Http { status: 404, .. }),
            "{err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Request);
        let (_, err) = decode(
            &[
                L1,
                "{\"error\":\"an unknown error was encountered while running the model\"}\n",
            ],
            NdjsonDecoder::new(),
            OllamaParser::new(4),
        )
        .await;
        assert_eq!(err.map(|e| e.class()), Some(ErrorClass::Transient));
    }

    #[tokio::test]
    async fn thinking_tool_calls_and_length() {
        let lines = [
            "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Let me see\"},\"done\":false}\n",
            "{\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},\"done\":false}\n",
            "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":9,\"eval_count\":12}\n",
        ];
        let (events, err) = decode(&lines, NdjsonDecoder::new(), OllamaParser::new(4)).await;
        assert_eq!(err, None);
        assert_eq!(events[0], StreamEvent::Reasoning("Let me see".into()));
        assert_eq!(
            events[1],
            StreamEvent::ToolCall(crate::provider::ToolCall {
                id: None,
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
            })
        );
        let Some(StreamEvent::Finished(finish)) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(finish.status, AnswerStatus::ToolCall);

        let cut = "{\"message\":{\"content\":\"The sky is\"},\"done\":true,\"done_reason\":\"length\",\"eval_count\":3}";
        let (events, _) = decode(&[cut], NdjsonDecoder::new(), OllamaParser::new(4)).await;
        let Some(StreamEvent::Finished(finish)) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(finish.status, AnswerStatus::Truncated);
        assert_eq!(finish.stop_reason.as_deref(), Some("length"));
    }

    #[tokio::test]
    async fn a_whole_answer_may_span_lines() {
        let body = "{\n  \"message\": {\"role\": \"assistant\", \"content\": \"Hi\"},\n  \"done\": true\n}\n";
        let (events, err) = decode(&[body], LinesBody::new(false), OllamaParser::new(4)).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "Hi");
    }

    #[tokio::test]
    async fn missing_counts_are_estimated() {
        let done = "{\"message\":{\"content\":\"abcd\"},\"done\":true}";
        let (events, err) = decode(&[done], NdjsonDecoder::new(), OllamaParser::new(8)).await;
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
    async fn end_to_end_over_tcp() {
        let body = format!("{L1}{L2}{DONE}");
        let (base, server) = serve_once(ok_response("application/x-ndjson", &body)).await;
        let mut params = serde_json::Map::new();
        params.insert("max_tokens".into(), json!(64));
        params.insert("temperature".into(), json!(0.1));
        params.insert("keep_alive".into(), json!("5m"));
        // Ollama wants a list; a single string is sent as a list of one.
        params.insert("stop".into(), json!("END"));
        let spec = BackendSpec {
            name: "local".into(),
            provider: "ollama".into(),
            model: "llama3.2".into(),
            base_url: Some(base),
            api_key: None,
            model_params: params,
            socket_timeout: Some(std::time::Duration::from_secs(5)),
            headers: Vec::new(),
        };
        let client = http_client().unwrap();
        let provider = HttpProvider::new(Ollama, &spec, DEFAULT_BASE_URL, &client).unwrap();
        let request = ChatRequest {
            messages: vec![Message::user("why blue?")],
            stream: true,
        };
        let (events, err) = collect(provider.stream(request)).await;
        assert_eq!(err, None);
        assert_eq!(text(&events), "The sky");
        let seen = server.await.unwrap();
        assert!(seen.starts_with("POST /api/chat HTTP/1.1"), "{seen}");
        let sent: Value =
            serde_json::from_str(&seen[seen.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(
            sent,
            json!({
                "model": "llama3.2",
                "messages": [{"role": "user", "content": "why blue?"}],
                "stream": true,
                "keep_alive": "5m",
                "options": {"num_predict": 64, "temperature": 0.1, "stop": ["END"]},
            })
        );
    }
}
