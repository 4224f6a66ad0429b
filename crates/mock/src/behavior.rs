//! Turns a [`Behavior`] into a [`Reply`]: a plan of frames and pauses, decided
//! up front so it can be tested without a socket.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::config::{Answer, Behavior};
use super::wire::{AnswerCtx, Wire};

/// The parts of a chat request a behavior needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatCall {
    pub wire: Wire,
    pub backend: String,
    pub model: String,
    pub stream: bool,
    /// OpenAI's `stream_options.include_usage`.
    pub include_usage: bool,
    /// Words in the request's messages: the default prompt token count.
    pub prompt_words: u64,
    /// Per-server sequence number, used in response ids.
    pub seq: u64,
}

/// What the server should send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// An error status with a JSON body.
    Error {
        code: u16,
        retry_after_s: Option<u64>,
        retry_after_ms: Option<u64>,
        body: Value,
    },
    /// Reset the connection without a response.
    Drop,
    /// 200, then `steps` in order, then `end`.
    Body {
        content_type: &'static str,
        head_delay: Duration,
        steps: Vec<Step>,
        end: End,
    },
}

/// One step of a body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Sleep(Duration),
    Send(Bytes),
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Normally.
    Finish,
    /// It does not: the connection stays open and quiet.
    Stall,
    /// With an abort (no terminating chunk).
    Cut,
}

const JSON: &str = "application/json";
const MALFORMED_JSON: &[u8] = b"{\"choices\": [ this is not json";
const FILLER: [&str; 8] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
];

/// Splits text into word-ish chunks, each word keeping the whitespace before it, so
/// the chunks concatenate back to the text exactly.
pub(crate) fn chunks(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            out.push(std::mem::take(&mut current));
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The answer text when none is configured: it names the backend so a test can
/// tell who answered.
pub(crate) fn default_text(backend: &str) -> String {
    format!("Hello from {backend}. This is a mock answer.")
}

/// `n` words: the backend name, then filler.
pub(crate) fn generated_text(backend: &str, n: u32) -> String {
    let mut words = Vec::new();
    for i in 0..n as usize {
        words.push(if i == 0 {
            backend
        } else {
            FILLER[(i - 1) % FILLER.len()]
        });
    }
    words.join(" ")
}

/// Counts words in the message texts of any of the four request shapes.
pub(crate) fn prompt_words(body: &Value) -> u64 {
    fn words(v: &Value) -> u64 {
        match v {
            Value::String(s) => s.split_whitespace().count() as u64,
            Value::Array(items) => items.iter().map(words).sum(),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "content" | "text" | "parts"))
                .map(|(_, v)| words(v))
                .sum(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
    }
    ["messages", "contents", "system", "systemInstruction"]
        .iter()
        .filter_map(|k| body.get(*k))
        .map(words)
        .sum()
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

impl ChatCall {
    fn ctx(&self, completion_tokens: u64, answer: Option<&Answer>) -> AnswerCtx {
        let id = match self.wire {
            Wire::Anthropic => format!("msg_mock_{}", self.seq),
            Wire::OpenAi | Wire::Gemini | Wire::Ollama => format!("chatcmpl-mock-{}", self.seq),
        };
        AnswerCtx {
            id,
            model: self.model.clone(),
            prompt_tokens: answer
                .and_then(|a| a.prompt_tokens)
                .unwrap_or(self.prompt_words),
            completion_tokens: answer
                .and_then(|a| a.completion_tokens)
                .unwrap_or(completion_tokens),
            usage: answer.is_none_or(|a| a.usage),
            include_usage: self.include_usage,
        }
    }

    fn stream_type(&self) -> &'static str {
        self.wire.stream_content_type()
    }
}

/// Plans the reply of `behavior` to `call`.
pub(crate) fn plan(behavior: &Behavior, call: &ChatCall) -> Reply {
    match behavior {
        Behavior::Answer(answer) => plan_answer(answer, call),
        Behavior::Status {
            code,
            message,
            retry_after_s,
            retry_after_ms,
        } => {
            let reason = axum::http::StatusCode::from_u16(*code)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Mock error");
            let message = message.clone().unwrap_or_else(|| reason.to_string());
            Reply::Error {
                code: *code,
                retry_after_s: *retry_after_s,
                retry_after_ms: *retry_after_ms,
                body: call.wire.error_body(*code, &message),
            }
        }
        Behavior::Stall {
            after_chunks,
            token_delay_ms,
        } => plan_partial(call, *after_chunks, *token_delay_ms, End::Stall),
        Behavior::Cut {
            after_chunks,
            token_delay_ms,
        } => plan_partial(call, *after_chunks, *token_delay_ms, End::Cut),
        Behavior::Malformed => {
            let (content_type, bytes) = if call.stream {
                (call.stream_type(), call.wire.malformed_stream())
            } else {
                (JSON, Bytes::from_static(MALFORMED_JSON))
            };
            Reply::Body {
                content_type,
                head_delay: Duration::ZERO,
                steps: vec![Step::Send(bytes)],
                end: End::Finish,
            }
        }
        Behavior::Empty => Reply::Body {
            content_type: if call.stream {
                call.stream_type()
            } else {
                JSON
            },
            head_delay: Duration::ZERO,
            steps: Vec::new(),
            end: End::Finish,
        },
        Behavior::Drop => Reply::Drop,
    }
}

fn plan_answer(answer: &Answer, call: &ChatCall) -> Reply {
    let text = match (&answer.text, answer.tokens) {
        (Some(text), _) => text.clone(),
        (None, Some(n)) => generated_text(&call.backend, n),
        (None, None) => default_text(&call.backend),
    };
    let pieces = chunks(&text);
    let ctx = call.ctx(pieces.len() as u64, Some(answer));
    if !call.stream {
        // A whole answer arrives when generation would have finished.
        let generation = answer.first_chunk_delay_ms
            + answer.token_delay_ms * (pieces.len() as u64).saturating_sub(1);
        return Reply::Body {
            content_type: JSON,
            head_delay: ms(answer.headers_delay_ms + generation),
            steps: vec![Step::Send(Bytes::from(
                call.wire.whole(&ctx, &text).to_string(),
            ))],
            end: End::Finish,
        };
    }
    let mut steps = Vec::new();
    if answer.first_chunk_delay_ms > 0 {
        steps.push(Step::Sleep(ms(answer.first_chunk_delay_ms)));
    }
    steps.extend(call.wire.preamble(&ctx).into_iter().map(Step::Send));
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 && answer.token_delay_ms > 0 {
            steps.push(Step::Sleep(ms(answer.token_delay_ms)));
        }
        let last = i + 1 == pieces.len();
        steps.push(Step::Send(call.wire.chunk(&ctx, piece, i, last)));
    }
    steps.extend(
        call.wire
            .finish(&ctx, !pieces.is_empty())
            .into_iter()
            .map(Step::Send),
    );
    Reply::Body {
        content_type: call.stream_type(),
        head_delay: ms(answer.headers_delay_ms),
        steps,
        end: End::Finish,
    }
}

/// Stall and cut: the start of the default answer, never its end.
fn plan_partial(call: &ChatCall, after_chunks: u32, token_delay_ms: u64, end: End) -> Reply {
    let mut pieces = chunks(&default_text(&call.backend));
    if pieces.len() <= after_chunks as usize {
        pieces = chunks(&generated_text(&call.backend, after_chunks + 1));
    }
    let ctx = call.ctx(pieces.len() as u64, None);
    if !call.stream {
        let whole = Bytes::from(call.wire.whole(&ctx, &pieces.concat()).to_string());
        let half = whole.slice(..whole.len() / 2);
        return Reply::Body {
            content_type: JSON,
            head_delay: Duration::ZERO,
            steps: vec![Step::Send(half)],
            end,
        };
    }
    let mut steps: Vec<Step> = call
        .wire
        .preamble(&ctx)
        .into_iter()
        .map(Step::Send)
        .collect();
    for (i, piece) in pieces.iter().take(after_chunks as usize).enumerate() {
        if i > 0 && token_delay_ms > 0 {
            steps.push(Step::Sleep(ms(token_delay_ms)));
        }
        steps.push(Step::Send(call.wire.chunk(&ctx, piece, i, false)));
    }
    Reply::Body {
        content_type: call.stream_type(),
        head_delay: Duration::ZERO,
        steps,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn call(wire: Wire, stream: bool) -> ChatCall {
        ChatCall {
            wire,
            backend: "alpha".into(),
            model: "m".into(),
            stream,
            include_usage: true,
            prompt_words: 4,
            seq: 1,
        }
    }

    fn sent(reply: &Reply) -> Vec<Bytes> {
        match reply {
            Reply::Body { steps, .. } => steps
                .iter()
                .filter_map(|s| match s {
                    Step::Send(b) => Some(b.clone()),
                    Step::Sleep(_) => None,
                })
                .collect(),
            Reply::Error { .. } | Reply::Drop => Vec::new(),
        }
    }

    #[test]
    fn chunks_keep_leading_space_and_concatenate_back() {
        let text = "Hello from  alpha.\nBye ";
        let parts = chunks(text);
        assert_eq!(parts, ["Hello", " from", "  alpha.", "\nBye", " "]);
        assert_eq!(parts.concat(), text);
        assert!(chunks("").is_empty());
    }

    #[test]
    fn generated_text_starts_with_the_backend() {
        assert_eq!(generated_text("b", 3), "b lorem ipsum");
        assert_eq!(generated_text("b", 0), "");
        assert_eq!(chunks(&generated_text("b", 20)).len(), 20);
    }

    #[test]
    fn prompt_words_reads_every_shape() {
        let openai = json!({"messages":[{"role":"system","content":"be brief"},
                                         {"role":"user","content":[{"type":"text","text":"hi there"}]}]});
        assert_eq!(prompt_words(&openai), 4);
        let anthropic = json!({"system":"be brief","messages":[{"role":"user","content":"hi"}]});
        assert_eq!(prompt_words(&anthropic), 3);
        let gemini = json!({"systemInstruction":{"parts":[{"text":"one"}]},
                            "contents":[{"role":"user","parts":[{"text":"two three"}]}]});
        assert_eq!(prompt_words(&gemini), 3);
    }

    #[test]
    fn streamed_answer_has_delays_between_chunks() {
        let answer = Behavior::Answer(Answer {
            text: Some("a b c".into()),
            token_delay_ms: 10,
            first_chunk_delay_ms: 50,
            ..Answer::default()
        });
        let Reply::Body { steps, end, .. } = plan(&answer, &call(Wire::OpenAi, true)) else {
            panic!("not a body");
        };
        assert_eq!(end, End::Finish);
        let sleeps: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Sleep(d) => Some(d.as_millis()),
                Step::Send(_) => None,
            })
            .collect();
        assert_eq!(sleeps, [50, 10, 10]);
        assert_eq!(steps.len(), 4 + 3 + 2);
    }

    #[test]
    fn whole_answer_waits_before_its_head() {
        let answer = Behavior::Answer(Answer {
            text: Some("a b c".into()),
            token_delay_ms: 10,
            first_chunk_delay_ms: 50,
            headers_delay_ms: 5,
            ..Answer::default()
        });
        let reply = plan(&answer, &call(Wire::Anthropic, false));
        let Reply::Body { head_delay, .. } = &reply else {
            panic!("not a body");
        };
        assert_eq!(head_delay.as_millis(), 75);
        let body: Value = serde_json::from_slice(&sent(&reply)[0]).unwrap();
        assert_eq!(body["content"][0]["text"], "a b c");
        assert_eq!(
            body["usage"],
            json!({"input_tokens": 4, "output_tokens": 3})
        );
    }

    #[test]
    fn usage_overrides_win() {
        let answer = Behavior::Answer(Answer {
            tokens: Some(2),
            prompt_tokens: Some(100),
            completion_tokens: Some(900),
            ..Answer::default()
        });
        let body: Value =
            serde_json::from_slice(&sent(&plan(&answer, &call(Wire::OpenAi, false)))[0]).unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "alpha lorem");
        assert_eq!(body["usage"]["total_tokens"], 1000);
    }

    #[test]
    fn stall_and_cut_send_only_their_chunks() {
        for (behavior, want_end) in [
            (
                Behavior::Stall {
                    after_chunks: 2,
                    token_delay_ms: 0,
                },
                End::Stall,
            ),
            (
                Behavior::Cut {
                    after_chunks: 12,
                    token_delay_ms: 0,
                },
                End::Cut,
            ),
        ] {
            let reply = plan(&behavior, &call(Wire::Ollama, true));
            let Reply::Body { end, .. } = &reply else {
                panic!("not a body");
            };
            assert_eq!(*end, want_end);
            let lines = sent(&reply);
            let (Behavior::Stall { after_chunks, .. } | Behavior::Cut { after_chunks, .. }) =
                behavior
            else {
                panic!("not partial");
            };
            assert_eq!(lines.len(), after_chunks as usize);
            for line in lines {
                let v: Value = serde_json::from_slice(&line).unwrap();
                assert_eq!(v["done"], false);
            }
        }
    }

    #[test]
    fn partial_whole_answer_is_half_a_json() {
        let reply = plan(
            &Behavior::Cut {
                after_chunks: 1,
                token_delay_ms: 0,
            },
            &call(Wire::Gemini, false),
        );
        let bytes = sent(&reply);
        assert_eq!(bytes.len(), 1);
        assert!(serde_json::from_slice::<Value>(&bytes[0]).is_err());
        assert!(!bytes[0].is_empty());
    }

    #[test]
    fn status_uses_reason_phrase_by_default() {
        let reply = plan(&Behavior::status(503), &call(Wire::Anthropic, true));
        let Reply::Error { code, body, .. } = reply else {
            panic!("not an error");
        };
        assert_eq!(code, 503);
        assert_eq!(body["error"]["message"], "Service Unavailable");
    }

    #[test]
    fn empty_and_malformed_keep_the_content_type() {
        for wire in [Wire::OpenAi, Wire::Ollama] {
            let Reply::Body {
                content_type,
                steps,
                ..
            } = plan(&Behavior::Empty, &call(wire, true))
            else {
                panic!("not a body");
            };
            assert_eq!(content_type, wire.stream_content_type());
            assert!(steps.is_empty());
        }
        let reply = plan(&Behavior::Malformed, &call(Wire::OpenAi, false));
        assert!(serde_json::from_slice::<Value>(&sent(&reply)[0]).is_err());
    }
}
