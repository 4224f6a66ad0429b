//! The four wire formats as bytes: stream frames, whole answers and error bodies.
//!
//! Pure functions of an [`AnswerCtx`], so the exact frames are unit-tested here and
//! the server only decides when to send them.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A wire format the mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wire {
    /// OpenAI-compatible chat completions.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// Ollama `/api/chat`.
    Ollama,
}

/// What the frames of one answer need to know.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AnswerCtx {
    /// Response id (`chatcmpl-…`, `msg_…`).
    pub id: String,
    /// Model name echoed back.
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Send usage at all.
    pub usage: bool,
    /// OpenAI only: the request asked for `stream_options.include_usage`.
    pub include_usage: bool,
}

impl AnswerCtx {
    fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

fn sse(event: Option<&str>, data: &Value) -> Bytes {
    let mut out = String::new();
    if let Some(event) = event {
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
    Bytes::from(out)
}

fn ndjson(data: &Value) -> Bytes {
    let mut out = data.to_string();
    out.push('\n');
    Bytes::from(out)
}

fn anthropic_event(data: &Value) -> Bytes {
    let kind = data["type"].as_str().unwrap_or("unknown");
    sse(Some(kind), data)
}

impl Wire {
    /// Content type of a streamed answer.
    pub(crate) fn stream_content_type(self) -> &'static str {
        match self {
            Wire::OpenAi | Wire::Anthropic | Wire::Gemini => "text/event-stream",
            Wire::Ollama => "application/x-ndjson",
        }
    }

    /// Frames before the first chunk of text.
    pub(crate) fn preamble(self, ctx: &AnswerCtx) -> Vec<Bytes> {
        match self {
            Wire::OpenAi | Wire::Gemini | Wire::Ollama => Vec::new(),
            Wire::Anthropic => {
                let mut message = json!({
                    "id": ctx.id, "type": "message", "role": "assistant", "model": ctx.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                });
                if ctx.usage {
                    message["usage"] =
                        json!({"input_tokens": ctx.prompt_tokens, "output_tokens": 1});
                }
                vec![
                    anthropic_event(&json!({"type": "message_start", "message": message})),
                    anthropic_event(&json!({
                        "type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}
                    })),
                    anthropic_event(&json!({"type": "ping"})),
                ]
            }
        }
    }

    /// One chunk of text; `index` counts chunks from 0 and `last` marks the final
    /// one of a complete answer (Gemini puts its finish reason and usage there).
    pub(crate) fn chunk(self, ctx: &AnswerCtx, text: &str, index: usize, last: bool) -> Bytes {
        match self {
            Wire::OpenAi => {
                // Like OpenAI, the role rides on the first delta.
                let delta = if index == 0 {
                    json!({"role": "assistant", "content": text})
                } else {
                    json!({"content": text})
                };
                sse(None, &openai_chunk(ctx, delta, Value::Null))
            }
            Wire::Anthropic => anthropic_event(&json!({
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}
            })),
            Wire::Gemini => sse(None, &gemini_chunk(ctx, text, last)),
            Wire::Ollama => ndjson(&json!({
                "model": ctx.model, "created_at": "1970-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": text}, "done": false
            })),
        }
    }

    /// Frames after the last chunk; `last_chunk_sent` says whether a chunk with
    /// `last = true` already went out.
    pub(crate) fn finish(self, ctx: &AnswerCtx, last_chunk_sent: bool) -> Vec<Bytes> {
        match self {
            Wire::OpenAi => {
                let mut frames = vec![sse(
                    None,
                    &openai_chunk(ctx, json!({}), Value::String("stop".into())),
                )];
                if ctx.usage && ctx.include_usage {
                    let mut usage_chunk = openai_chunk(ctx, Value::Null, Value::Null);
                    usage_chunk["choices"] = json!([]);
                    usage_chunk["usage"] = openai_usage(ctx);
                    frames.push(sse(None, &usage_chunk));
                }
                frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
                frames
            }
            Wire::Anthropic => {
                let mut delta = json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                });
                if ctx.usage {
                    delta["usage"] = json!({"output_tokens": ctx.completion_tokens});
                }
                vec![
                    anthropic_event(&json!({"type": "content_block_stop", "index": 0})),
                    anthropic_event(&delta),
                    anthropic_event(&json!({"type": "message_stop"})),
                ]
            }
            Wire::Gemini if last_chunk_sent => Vec::new(),
            Wire::Gemini => vec![sse(None, &gemini_chunk(ctx, "", true))],
            Wire::Ollama => {
                let mut done = json!({
                    "model": ctx.model, "created_at": "1970-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": ""},
                    "done": true, "done_reason": "stop",
                });
                if ctx.usage {
                    done["prompt_eval_count"] = json!(ctx.prompt_tokens);
                    done["eval_count"] = json!(ctx.completion_tokens);
                }
                vec![ndjson(&done)]
            }
        }
    }

    /// A whole (non-streamed) answer.
    pub(crate) fn whole(self, ctx: &AnswerCtx, text: &str) -> Value {
        match self {
            Wire::OpenAi => {
                let mut body = json!({
                    "id": ctx.id, "object": "chat.completion", "created": 0, "model": ctx.model,
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop"
                    }],
                });
                if ctx.usage {
                    body["usage"] = openai_usage(ctx);
                }
                body
            }
            Wire::Anthropic => {
                let mut body = json!({
                    "id": ctx.id, "type": "message", "role": "assistant", "model": ctx.model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn", "stop_sequence": null,
                });
                if ctx.usage {
                    body["usage"] = json!({
                        "input_tokens": ctx.prompt_tokens,
                        "output_tokens": ctx.completion_tokens
                    });
                }
                body
            }
            Wire::Gemini => gemini_chunk(ctx, text, true),
            Wire::Ollama => {
                let mut body = json!({
                    "model": ctx.model, "created_at": "1970-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": text},
                    "done": true, "done_reason": "stop",
                });
                if ctx.usage {
                    body["prompt_eval_count"] = json!(ctx.prompt_tokens);
                    body["eval_count"] = json!(ctx.completion_tokens);
                }
                body
            }
        }
    }

    /// Streamed data that is framed correctly but is not JSON.
    pub(crate) fn malformed_stream(self) -> Bytes {
        match self {
            Wire::OpenAi | Wire::Gemini => {
                Bytes::from_static(b"data: {\"choices\": [ this is not json\n\n")
            }
            Wire::Anthropic => {
                Bytes::from_static(b"event: message_start\ndata: {\"type\": not json\n\n")
            }
            Wire::Ollama => Bytes::from_static(b"{\"message\": not json\n"),
        }
    }

    /// An error body in this format's own shape.
    pub(crate) fn error_body(self, code: u16, message: &str) -> Value {
        match self {
            Wire::OpenAi => {
                let (kind, err_code) = match code {
                    401 => ("invalid_request_error", Value::from("invalid_api_key")),
                    403 => ("permission_error", Value::Null),
                    404 => ("invalid_request_error", Value::from("model_not_found")),
                    429 => ("requests", Value::from("rate_limit_exceeded")),
                    400..=499 => ("invalid_request_error", Value::Null),
                    _ => ("server_error", Value::Null),
                };
                json!({"error": {"message": message, "type": kind, "param": null, "code": err_code}})
            }
            Wire::Anthropic => {
                let kind = match code {
                    401 => "authentication_error",
                    402 => "billing_error",
                    403 => "permission_error",
                    404 => "not_found_error",
                    413 => "request_too_large",
                    429 => "rate_limit_error",
                    504 => "timeout_error",
                    529 => "overloaded_error",
                    400..=499 => "invalid_request_error",
                    _ => "api_error",
                };
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
            Wire::Gemini => {
                let status = match code {
                    401 => "UNAUTHENTICATED",
                    403 => "PERMISSION_DENIED",
                    404 => "NOT_FOUND",
                    429 => "RESOURCE_EXHAUSTED",
                    503 => "UNAVAILABLE",
                    504 => "DEADLINE_EXCEEDED",
                    400..=499 => "INVALID_ARGUMENT",
                    _ => "INTERNAL",
                };
                json!({"error": {"code": code, "message": message, "status": status}})
            }
            Wire::Ollama => json!({"error": message}),
        }
    }

    /// The model list of a backend in this format's shape.
    pub(crate) fn models(self, backend: &str) -> Value {
        match self {
            Wire::OpenAi | Wire::Anthropic => json!({
                "object": "list",
                "data": [{"id": "mock-model", "object": "model", "type": "model",
                          "created": 0, "owned_by": backend}],
                "has_more": false
            }),
            Wire::Gemini => json!({
                "models": [{"name": "models/mock-model", "displayName": "mock-model",
                            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"]}]
            }),
            Wire::Ollama => json!({"models": [{"name": "mock-model", "model": "mock-model"}]}),
        }
    }
}

fn openai_usage(ctx: &AnswerCtx) -> Value {
    json!({
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": ctx.completion_tokens,
        "total_tokens": ctx.total_tokens()
    })
}

fn openai_chunk(ctx: &AnswerCtx, delta: Value, finish_reason: Value) -> Value {
    json!({
        "id": ctx.id, "object": "chat.completion.chunk", "created": 0, "model": ctx.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    })
}

fn gemini_chunk(ctx: &AnswerCtx, text: &str, last: bool) -> Value {
    let mut candidate =
        json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
    let mut chunk = json!({"modelVersion": ctx.model});
    if last {
        candidate["finishReason"] = json!("STOP");
        if ctx.usage {
            chunk["usageMetadata"] = json!({
                "promptTokenCount": ctx.prompt_tokens,
                "candidatesTokenCount": ctx.completion_tokens,
                "totalTokenCount": ctx.total_tokens()
            });
        }
    }
    chunk["candidates"] = json!([candidate]);
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn ctx() -> AnswerCtx {
        AnswerCtx {
            id: "id1".into(),
            model: "m".into(),
            prompt_tokens: 3,
            completion_tokens: 2,
            usage: true,
            include_usage: true,
        }
    }

    fn data(frame: &Bytes) -> Value {
        let text = std::str::from_utf8(frame).unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn openai_frames() {
        let c = ctx();
        let first = data(&Wire::OpenAi.chunk(&c, "Hi", 0, false));
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(first["choices"][0]["delta"]["content"], "Hi");
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
        let finish = Wire::OpenAi.finish(&c, true);
        assert_eq!(finish.len(), 3);
        assert_eq!(data(&finish[0])["choices"][0]["finish_reason"], "stop");
        let usage = data(&finish[1]);
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(
            usage["usage"],
            json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
        );
        assert_eq!(&finish[2][..], b"data: [DONE]\n\n");
        let without = Wire::OpenAi.finish(
            &AnswerCtx {
                include_usage: false,
                ..c
            },
            true,
        );
        assert_eq!(without.len(), 2);
    }

    #[test]
    fn anthropic_frames_name_their_events() {
        let c = ctx();
        let pre = Wire::Anthropic.preamble(&c);
        let events: Vec<_> = pre
            .iter()
            .chain(std::iter::once(&Wire::Anthropic.chunk(&c, "Hi", 0, false)))
            .chain(Wire::Anthropic.finish(&c, false).iter())
            .map(|f| {
                let text = std::str::from_utf8(f).unwrap();
                let event = text
                    .lines()
                    .next()
                    .unwrap()
                    .strip_prefix("event: ")
                    .unwrap();
                assert_eq!(data(f)["type"], event);
                event.to_string()
            })
            .collect();
        assert_eq!(
            events,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(data(&pre[0])["message"]["usage"]["input_tokens"], 3);
        let delta = data(&Wire::Anthropic.finish(&c, false)[1]);
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 2);
    }

    #[test]
    fn gemini_marks_the_last_chunk() {
        let c = ctx();
        let mid = data(&Wire::Gemini.chunk(&c, "a", 0, false));
        assert_eq!(mid["candidates"][0]["content"]["parts"][0]["text"], "a");
        assert!(mid["candidates"][0].get("finishReason").is_none());
        let last = data(&Wire::Gemini.chunk(&c, "b", 1, true));
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 2);
        assert!(Wire::Gemini.finish(&c, true).is_empty());
        assert_eq!(Wire::Gemini.finish(&c, false).len(), 1);
    }

    #[test]
    fn ollama_lines() {
        let c = ctx();
        let line = Wire::Ollama.chunk(&c, "a", 0, false);
        assert!(line.ends_with(b"\n"));
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["done"], false);
        let done: Value = serde_json::from_slice(&Wire::Ollama.finish(&c, false)[0]).unwrap();
        assert_eq!(done["done_reason"], "stop");
        assert_eq!(done["prompt_eval_count"], 3);
        assert_eq!(done["eval_count"], 2);
    }

    #[test]
    fn no_usage_means_no_usage_fields() {
        let c = AnswerCtx {
            usage: false,
            ..ctx()
        };
        assert_eq!(Wire::OpenAi.finish(&c, false).len(), 2);
        assert!(Wire::OpenAi.whole(&c, "x").get("usage").is_none());
        assert!(
            data(&Wire::Gemini.chunk(&c, "x", 0, true))
                .get("usageMetadata")
                .is_none()
        );
        let done: Value = serde_json::from_slice(&Wire::Ollama.finish(&c, false)[0]).unwrap();
        assert!(done.get("eval_count").is_none());
    }

    #[test]
    fn error_shapes() {
        assert_eq!(
            Wire::OpenAi.error_body(429, "slow down")["error"]["message"],
            "slow down"
        );
        assert_eq!(
            Wire::Anthropic.error_body(401, "bad key")["error"]["type"],
            "authentication_error"
        );
        assert_eq!(
            Wire::Gemini.error_body(429, "q")["error"]["status"],
            "RESOURCE_EXHAUSTED"
        );
        assert_eq!(
            Wire::Ollama.error_body(500, "boom"),
            json!({"error": "boom"})
        );
    }

    #[test]
    fn malformed_is_not_json() {
        for wire in [Wire::OpenAi, Wire::Anthropic, Wire::Gemini, Wire::Ollama] {
            let frame = wire.malformed_stream();
            let text = std::str::from_utf8(&frame).unwrap();
            let payload = text
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or(text.trim());
            assert!(serde_json::from_str::<Value>(payload).is_err(), "{wire:?}");
        }
    }
}
