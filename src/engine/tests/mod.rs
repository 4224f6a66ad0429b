//! Engine tests over scripted in-process providers, under a paused clock.

mod decide;
mod failover;
mod health;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{StreamExt, stream};

use super::*;
use crate::provider::{EventStream, Message, StreamError, StreamEvent};

/// What a scripted backend does on one request.
#[derive(Debug, Clone)]
enum Reply {
    Answer {
        first_ms: u64,
        tokens: Vec<&'static str>,
    },
    Fail {
        after_ms: u64,
        err: ProviderError,
    },
    /// Sends the tokens, then never finishes.
    Stall {
        tokens: Vec<&'static str>,
    },
    /// Sends the tokens, then the connection breaks.
    Cut {
        tokens: Vec<&'static str>,
    },
    /// Reports `limit` (as rate-limit headers would), then answers "ok".
    Limited {
        limit: crate::provider::ratelimit::RateLimit,
    },
}

#[derive(Debug)]
struct Scripted {
    replies: Mutex<VecDeque<Reply>>,
    calls: Mutex<u32>,
}

impl Scripted {
    fn new(replies: Vec<Reply>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into()),
            calls: Mutex::new(0),
        })
    }
    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

impl Provider for Scripted {
    fn stream(&self, _request: ChatRequest) -> EventStream {
        *self.calls.lock().unwrap() += 1;
        let reply = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Reply::Answer {
                first_ms: 10,
                tokens: vec!["ok"],
            });
        play(reply)
    }
}

fn deltas(tokens: Vec<&'static str>) -> impl Iterator<Item = Result<StreamEvent, ProviderError>> {
    tokens
        .into_iter()
        .map(|t| Ok(StreamEvent::Delta(t.to_string())))
}

fn play(reply: Reply) -> EventStream {
    let sleep = |ms| tokio::time::sleep(Duration::from_millis(ms));
    match reply {
        Reply::Answer { first_ms, tokens } => {
            let usage = Usage {
                input_tokens: 3,
                output_tokens: 2,
                estimated: false,
                ..Usage::default()
            };
            let end = [
                Ok(StreamEvent::Usage(usage)),
                Ok(StreamEvent::Finished(Finish::complete(Some("stop")))),
            ];
            let events = stream::iter(deltas(tokens).chain(end));
            let answer = async move {
                sleep(first_ms).await;
                events
            };
            Box::pin(stream::once(answer).flatten())
        }
        Reply::Fail { after_ms, err } => Box::pin(stream::once(async move {
            sleep(after_ms).await;
            Err(err)
        })),
        Reply::Stall { tokens } => Box::pin(stream::iter(deltas(tokens)).chain(stream::pending())),
        Reply::Limited { limit } => {
            let head = stream::iter([Ok(StreamEvent::RateLimit(limit))]);
            Box::pin(head.chain(play(Reply::Answer {
                first_ms: 10,
                tokens: vec!["ok"],
            })))
        }
        Reply::Cut { tokens } => {
            let reset = ProviderError::Stream(StreamError::Io("connection reset".into()));
            Box::pin(stream::iter(deltas(tokens).chain([Err(reset)])))
        }
    }
}

fn backend(name: &str, p: &Arc<Scripted>) -> Backend {
    Backend {
        name: name.into(),
        provider_name: "openai".into(),
        model: format!("model-{name}"),
        base_url: format!("http://{name}"),
        streaming: true,
        provider: Ok(p.clone() as Arc<dyn Provider>),
    }
}

fn http(status: u16) -> ProviderError {
    ProviderError::http(status, String::new())
}

fn engine(backends: Vec<Backend>) -> Engine {
    Engine::new("lb", Policy::Failover, LbSettings::default(), backends)
}

async fn run(engine: &Engine) -> Vec<EngineEvent> {
    engine
        .run(ChatRequest {
            messages: vec![Message::user("hi")],
            stream: true,
        })
        .collect()
        .await
}

fn text(events: &[EngineEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn started(events: &[EngineEvent]) -> Vec<(String, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::AttemptStarted {
                backend, attempt, ..
            } => Some((backend.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn settings_with(f: impl FnOnce(&mut LbSettings)) -> LbSettings {
    let mut s = LbSettings {
        retry_count: 1,
        ..LbSettings::default()
    };
    f(&mut s);
    s
}

fn failing(n: usize, status: u16) -> Vec<Reply> {
    (0..n)
        .map(|_| Reply::Fail {
            after_ms: 0,
            err: http(status),
        })
        .collect()
}

fn answered_by(events: &[EngineEvent]) -> Option<String> {
    match events.last() {
        Some(EngineEvent::Done { provenance, .. }) => Some(provenance.backend.clone()),
        _ => None,
    }
}

fn skipped(events: &[EngineEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Skipped { backend, .. } => Some(backend.clone()),
            _ => None,
        })
        .collect()
}

fn breaker_events(events: &[EngineEvent]) -> Vec<(String, BreakerState)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Breaker { backend, state } => Some((backend.clone(), *state)),
            _ => None,
        })
        .collect()
}
