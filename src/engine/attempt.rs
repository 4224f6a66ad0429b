//! One attempt on one backend: send the request, wait for the first text within
//! `timeout_ms`, forward the answer while no gap exceeds `stream_idle_timeout_ms`,
//! and collect its token counts.
//!
//! The first text (or reasoning, or tool call) is the commitment point: until it
//! arrives nothing has been shown and a failure can still go to another attempt or backend; from then on the
//! backend owns the answer and a stall or cut makes it [`AttemptEnd::Broken`].

use futures_util::StreamExt;
use tokio::time::{Instant, timeout};

use super::decide::{Answer, AttemptEnd};
use super::events::Emitter;
use super::{EngineEvent, millis};
use crate::config::LbSettings;
use crate::provider::ratelimit::RateLimit;
use crate::provider::{
    AnswerStatus, ChatRequest, EventStream, Finish, Provider, ProviderError, StreamEvent, Usage,
};

/// Runs one attempt, forwarding its text to `out` as [`EngineEvent::Delta`]s. With
/// `hold`, nothing is forwarded until the answer is complete (the caller shows it
/// only then), so an answer that breaks midway can be thrown away and asked again.
pub(super) async fn run(
    provider: &dyn Provider,
    request: ChatRequest,
    settings: &LbSettings,
    out: &Emitter,
    hold: bool,
) -> AttemptEnd {
    let prompt_chars = request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum();
    let start = Instant::now();
    let mut stream = provider.stream(request);
    let head = match timeout(settings.timeout, first_chunk(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(err)) => return AttemptEnd::Failed(err),
        Err(_) => {
            let elapsed = start.elapsed();
            return AttemptEnd::FirstChunkTimeout { elapsed };
        }
    };
    let first_chunk_ms = millis(start.elapsed());
    let mut seen = Seen {
        answer_chars: 0,
        usage: head.usage,
        held: hold.then(Vec::new),
        rate_limit: head.rate_limit,
    };
    seen.forward(head.first, out).await;
    let ended = match head.finish {
        Some(finish) => Ok(finish),
        None => tail(&mut stream, settings, &mut seen, out).await,
    };
    if ended.is_ok() {
        for event in seen.held.take().unwrap_or_default() {
            out.emit(event).await;
        }
        // Providers may send usage after their finish marker.
        while let Ok(Some(Ok(event))) = timeout(settings.stream_idle_timeout, stream.next()).await {
            if let StreamEvent::Usage(u) = event {
                seen.usage = Some(u);
            }
        }
    }
    let usage = match seen.usage {
        Some(u) if !u.estimated || ended.is_ok() => u,
        // A broken answer keeps the counts the provider gave (the prompt's, often)
        // and estimates the rest from what arrived.
        known => {
            let estimate = Usage::estimate(prompt_chars, seen.answer_chars);
            Usage {
                input_tokens: known.map_or(estimate.input_tokens, |u| u.input_tokens),
                output_tokens: estimate.output_tokens,
                estimated: true,
                ..known.unwrap_or_default()
            }
        }
    };
    match ended {
        Ok(finish) => AttemptEnd::Complete(Answer {
            first_chunk_ms,
            attempt_ms: millis(start.elapsed()),
            usage,
            finish,
            rate_limit: seen.rate_limit,
        }),
        Err(reason) => AttemptEnd::Broken {
            answer: Answer {
                first_chunk_ms,
                attempt_ms: millis(start.elapsed()),
                usage,
                finish: Finish::new(AnswerStatus::Interrupted, None),
                rate_limit: seen.rate_limit,
            },
            reason,
        },
    }
}

/// What arrived up to and including the first sign of an answer.
struct Head {
    /// The first text, reasoning or tool call; `None` when the answer ended first.
    first: Option<StreamEvent>,
    usage: Option<Usage>,
    rate_limit: Option<RateLimit>,
    /// Set when the answer ended before any content: a filtered or truncated
    /// answer with nothing in it is still an answer.
    finish: Option<Finish>,
}

/// What the answer has brought so far, for its usage (or the estimate of it).
struct Seen {
    /// Answer and reasoning characters, for the estimate.
    answer_chars: usize,
    usage: Option<Usage>,
    /// The answer so far, when it is held until complete.
    held: Option<Vec<EngineEvent>>,
    rate_limit: Option<RateLimit>,
}

impl Seen {
    /// Hands one piece of the answer to the consumer.
    async fn forward(&mut self, event: Option<StreamEvent>, out: &Emitter) {
        let event = match event {
            Some(StreamEvent::Delta(text)) => {
                self.answer_chars += text.chars().count();
                EngineEvent::Delta { text }
            }
            Some(StreamEvent::Reasoning(text)) => {
                self.answer_chars += text.chars().count();
                EngineEvent::Reasoning { text }
            }
            Some(StreamEvent::ToolCall(call)) => EngineEvent::ToolCall { call },
            Some(StreamEvent::Usage(u)) => {
                self.usage = Some(u);
                return;
            }
            Some(StreamEvent::RateLimit(limit)) => {
                self.rate_limit = Some(limit);
                return;
            }
            Some(StreamEvent::Finished(_)) | None => return,
        };
        match &mut self.held {
            Some(held) => held.push(event),
            None => out.emit(event).await,
        }
    }
}

/// Reads until the first text, reasoning or tool call, so the timeout covers exactly
/// "time to first chunk": a model that thinks aloud is alive.
async fn first_chunk(stream: &mut EventStream) -> Result<Head, ProviderError> {
    let mut usage = None;
    let mut rate_limit = None;
    loop {
        match stream.next().await {
            Some(Ok(StreamEvent::RateLimit(limit))) => rate_limit = Some(limit),
            Some(Ok(StreamEvent::Delta(text) | StreamEvent::Reasoning(text)))
                if text.is_empty() => {}
            Some(Ok(StreamEvent::Usage(u))) => usage = Some(u),
            Some(Ok(StreamEvent::Finished(finish))) => {
                if finish.status.is_complete() {
                    // Finished before any text: an empty answer is a transient failure.
                    return Err(ProviderError::Empty);
                }
                return Ok(Head {
                    first: None,
                    usage,
                    rate_limit,
                    finish: Some(finish),
                });
            }
            Some(Ok(event)) => {
                return Ok(Head {
                    first: Some(event),
                    usage,
                    rate_limit,
                    finish: None,
                });
            }
            None => return Err(ProviderError::Empty),
            Some(Err(err)) => return Err(err),
        }
    }
}

/// Forwards the rest of the answer up to its finish marker; `Err(reason)` when it
/// broke first.
async fn tail(
    stream: &mut EventStream,
    settings: &LbSettings,
    seen: &mut Seen,
    out: &Emitter,
) -> Result<Finish, String> {
    loop {
        match timeout(settings.stream_idle_timeout, stream.next()).await {
            Ok(Some(Ok(StreamEvent::Finished(finish)))) => return Ok(finish),
            Ok(Some(Ok(event))) => seen.forward(Some(event), out).await,
            Ok(Some(Err(err))) => return Err(err.to_string()),
            Ok(None) => return Err("the stream ended before the answer was complete".into()),
            Err(_) => {
                let idle = millis(settings.stream_idle_timeout);
                return Err(format!("no data for {idle}ms (stream_idle_timeout_ms)"));
            }
        }
    }
}
