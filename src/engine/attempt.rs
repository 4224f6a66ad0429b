//! One attempt on one backend: send the request, wait for the first text within
//! `timeout_ms`, forward the answer while no gap exceeds `stream_idle_timeout_ms`,
//! and collect its token counts.
//!
//! The first text is the commitment point: until it arrives nothing has been shown
//! and a failure can still go to another attempt or backend; from then on the
//! backend owns the answer and a stall or cut makes it [`AttemptEnd::Broken`].

use futures_util::StreamExt;
use tokio::time::{Instant, timeout};

use super::decide::{Answer, AttemptEnd};
use super::events::Emitter;
use super::{EngineEvent, millis};
use crate::config::LbSettings;
use crate::provider::{ChatRequest, EventStream, Provider, ProviderError, StreamEvent, Usage};

/// Runs one attempt, forwarding its text to `out` as [`EngineEvent::Delta`]s.
pub(super) async fn run(
    provider: &dyn Provider,
    request: ChatRequest,
    settings: &LbSettings,
    out: &Emitter,
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
        answer_chars: head.text.chars().count(),
        usage: head.usage,
    };
    out.emit(EngineEvent::Delta { text: head.text }).await;
    let broken = tail(&mut stream, settings, &mut seen, out).await;
    if broken.is_none() {
        // Providers may send usage after their finish marker.
        while let Ok(Some(Ok(event))) = timeout(settings.stream_idle_timeout, stream.next()).await {
            if let StreamEvent::Usage(u) = event {
                seen.usage = Some(u);
            }
        }
    }
    let answer = Answer {
        first_chunk_ms,
        attempt_ms: millis(start.elapsed()),
        usage: seen
            .usage
            .unwrap_or_else(|| Usage::estimate(prompt_chars, seen.answer_chars)),
    };
    match broken {
        None => AttemptEnd::Complete(answer),
        Some(reason) => AttemptEnd::Broken { answer, reason },
    }
}

/// What arrived up to and including the first text.
struct Head {
    text: String,
    usage: Option<Usage>,
}

/// What the answer has brought so far, for its usage (or the estimate of it).
struct Seen {
    answer_chars: usize,
    usage: Option<Usage>,
}

/// Reads until the first non-empty text, so the timeout covers exactly "time to
/// first chunk".
async fn first_chunk(stream: &mut EventStream) -> Result<Head, ProviderError> {
    let mut usage = None;
    loop {
        match stream.next().await {
            Some(Ok(StreamEvent::Delta(text))) if !text.is_empty() => {
                return Ok(Head { text, usage });
            }
            Some(Ok(StreamEvent::Delta(_))) => {}
            Some(Ok(StreamEvent::Usage(u))) => usage = Some(u),
            // Finished before any text: an empty answer is a transient failure.
            Some(Ok(StreamEvent::Finished { .. })) | None => return Err(ProviderError::Empty),
            Some(Err(err)) => return Err(err),
        }
    }
}

/// Forwards the rest of the answer up to its finish marker; `Some(reason)` when it
/// broke first.
async fn tail(
    stream: &mut EventStream,
    settings: &LbSettings,
    seen: &mut Seen,
    out: &Emitter,
) -> Option<String> {
    loop {
        match timeout(settings.stream_idle_timeout, stream.next()).await {
            Ok(Some(Ok(StreamEvent::Delta(text)))) => {
                seen.answer_chars += text.chars().count();
                out.emit(EngineEvent::Delta { text }).await;
            }
            Ok(Some(Ok(StreamEvent::Usage(u)))) => seen.usage = Some(u),
            Ok(Some(Ok(StreamEvent::Finished { .. }))) => return None,
            Ok(Some(Err(err))) => return Some(err.to_string()),
            Ok(None) => {
                return Some("the stream ended before the answer was complete".into());
            }
            Err(_) => {
                let idle = millis(settings.stream_idle_timeout);
                return Some(format!("no data for {idle}ms (stream_idle_timeout_ms)"));
            }
        }
    }
}
