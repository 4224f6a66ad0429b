//! The failover engine: hands a prompt to a backend and moves on when one is
//! slow, failing or refusing.
//!
//! [`Engine::run`] returns a stream of [`EngineEvent`]s that both consumers (the
//! one-shot printer and the interactive UI) read; the engine itself never touches
//! the terminal. Decisions follow DESIGN.md's "Engine rules":
//! - the first chunk must arrive within `timeout_ms`, later chunks within
//!   `stream_idle_timeout_ms`;
//! - a *transient* error is retried on the same backend (`attempt n/M`, waiting
//!   `failover_retry_delay_ms` or the provider's `Retry-After` up to a cap), then the
//!   engine fails over; an *auth* error fails over at once; a *request* error fails
//!   over only to backends that differ in provider, base URL or model;
//! - once a chunk has been shown the backend owns the answer: a later stall or cut
//!   ends it as [`EngineEvent::Interrupted`], never as a complete answer.
//!
//! All timing goes through `tokio::time`, so tests run under a paused clock.

mod build;
mod policy;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

pub use build::{BuildError, build_engine};
pub use policy::Router;

use crate::config::LbSettings;
use crate::profile::Policy;
use crate::provider::{
    ChatRequest, ErrorClass, EventStream, Provider, ProviderError, StreamEvent, Usage,
};

/// One backend the engine can hand a prompt to: a model profile made live.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The profile name, as logs and stats show it.
    pub name: String,
    /// The provider as written in the profile (`openai`, `groq`, `sim`, ...).
    pub provider_name: String,
    /// The model asked for.
    pub model: String,
    /// Where requests go (empty for `sim`).
    pub base_url: String,
    /// Whether this backend streams (`streaming` setting).
    pub streaming: bool,
    /// The live provider, or why it could not be built (a missing key, say): that
    /// error is this backend's answer to every attempt, so the others still serve.
    pub provider: Result<Arc<dyn Provider>, ProviderError>,
}

impl Backend {
    /// Backends with the same identity fail the same way on a request error.
    fn same_target(&self, other: &Backend) -> bool {
        self.provider_name == other.provider_name
            && self.base_url == other.base_url
            && self.model == other.model
    }
}

/// Where an answer came from and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The backend (profile name) that answered.
    pub backend: String,
    /// Its provider.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Attempts made for this answer across all backends.
    pub attempts: u32,
    /// Backends given up on before this one answered.
    pub failovers: u32,
    /// From the prompt to the last chunk.
    pub latency_ms: u64,
    /// From the start of the answering attempt to its first chunk.
    pub first_chunk_ms: u64,
    /// Token counts.
    pub usage: Usage,
}

/// Why a backend was given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendFailure {
    /// The backend's name.
    pub backend: String,
    /// The error's class.
    pub class: ErrorClass,
    /// What happened, in words.
    pub reason: String,
}

/// What the engine tells its consumers while it works.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEvent {
    /// An attempt on a backend begins.
    AttemptStarted {
        /// The backend.
        backend: String,
        /// This attempt's number, from 1.
        attempt: u32,
        /// Attempts allowed on this backend.
        of: u32,
    },
    /// Answer text to show.
    Delta {
        /// The text.
        text: String,
    },
    /// Token counts of the answer, just before it completes.
    Usage {
        /// The counts.
        usage: Usage,
    },
    /// An attempt failed before any text was shown.
    AttemptFailed {
        /// The backend.
        backend: String,
        /// The error's class.
        class: ErrorClass,
        /// What happened.
        detail: String,
        /// Whether the engine will try this backend again.
        will_retry: bool,
    },
    /// A backend was passed over without an attempt.
    Skipped {
        /// The backend.
        backend: String,
        /// Why.
        why: String,
    },
    /// The answer is complete.
    Done {
        /// Where it came from.
        provenance: Provenance,
    },
    /// The answer broke after text was shown: it is not complete.
    Interrupted {
        /// Where the partial answer came from.
        provenance: Provenance,
        /// What broke.
        reason: String,
    },
    /// Every backend was tried and none answered.
    Exhausted {
        /// Each backend and its last reason, in the order tried.
        reasons: Vec<BackendFailure>,
    },
}

impl EngineEvent {
    /// True for the events that end a run.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Done { .. } | Self::Interrupted { .. } | Self::Exhausted { .. }
        )
    }
}

/// Hands prompts to backends. Cheap to clone; clones share routing state.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    profile: String,
    backends: Vec<Backend>,
    settings: LbSettings,
    router: Router,
}

/// How one attempt ended before any text was shown.
enum Failure {
    Error(ProviderError),
    Timeout { elapsed: Duration },
}

/// How the part of an attempt after the first chunk ended.
enum Tail {
    Complete,
    Broken(String),
}

impl Engine {
    /// An engine over `backends` with the given policy and settings.
    pub fn new(
        profile: impl Into<String>,
        policy: Policy,
        settings: LbSettings,
        backends: Vec<Backend>,
    ) -> Self {
        let router = Router::new(policy, backends.len());
        Self {
            inner: Arc::new(Inner {
                profile: profile.into(),
                backends,
                settings,
                router,
            }),
        }
    }

    /// The profile this engine serves.
    pub fn profile(&self) -> &str {
        &self.inner.profile
    }

    /// The backends, in listed order.
    pub fn backends(&self) -> &[Backend] {
        &self.inner.backends
    }

    /// The settings in force.
    pub fn settings(&self) -> &LbSettings {
        &self.inner.settings
    }

    /// Answers one request. Dropping the stream cancels the request in flight.
    pub fn run(&self, request: ChatRequest) -> impl Stream<Item = EngineEvent> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        async_stream::stream! {
            let started = Instant::now();
            let settings = inner.settings;
            let max_attempts = settings.retry_count.max(1);
            let mut reasons: Vec<BackendFailure> = Vec::new();
            let mut rejected_by: Option<usize> = None;
            let mut attempts_total = 0u32;
            let mut failovers = 0u32;

            let order = inner.router.order();
            if inner.router.policy() == Policy::RoundRobin {
                if let Some(first) = order.first() {
                    tracing::debug!(target: "baton::lb", "[LB:roundrobin] Selected sub-profile: {}", inner.backends[*first].name);
                }
            }
            for index in order {
                let backend = &inner.backends[index];
                if let Some(rejecter) = rejected_by {
                    let other = &inner.backends[rejecter];
                    if backend.same_target(other) {
                        let why = format!("same provider, URL and model as {}, which rejected the request", other.name);
                        yield EngineEvent::Skipped { backend: backend.name.clone(), why: why.clone() };
                        reasons.push(BackendFailure { backend: backend.name.clone(), class: ErrorClass::Request, reason: why });
                        continue;
                    }
                }
                let provider = match &backend.provider {
                    Ok(p) => Arc::clone(p),
                    Err(err) => {
                        attempts_total += 1;
                        yield EngineEvent::AttemptStarted { backend: backend.name.clone(), attempt: 1, of: max_attempts };
                        tracing::debug!(target: "baton::lb", "[LB:failover] Trying backend: {} (attempt 1/{})", backend.name, max_attempts);
                        tracing::debug!(target: "baton::lb", "[LB:failover] {} failed: {}", backend.name, err);
                        yield EngineEvent::AttemptFailed { backend: backend.name.clone(), class: err.class(), detail: err.to_string(), will_retry: false };
                        reasons.push(BackendFailure { backend: backend.name.clone(), class: err.class(), reason: err.to_string() });
                        failovers += 1;
                        continue;
                    }
                };
                let mut attempt = 1;
                loop {
                    attempts_total += 1;
                    yield EngineEvent::AttemptStarted { backend: backend.name.clone(), attempt, of: max_attempts };
                    tracing::debug!(target: "baton::lb", "[LB:failover] Trying backend: {} (attempt {}/{})", backend.name, attempt, max_attempts);
                    let mut req = request.clone();
                    req.stream = req.stream && backend.streaming;
                    let prompt_chars: usize = req.messages.iter().map(|m| m.content.chars().count()).sum();
                    let attempt_start = Instant::now();
                    let mut stream = provider.stream(req);

                    // Until the first text arrives nothing is shown, so any failure
                    // here can still go to another attempt or backend.
                    let first = tokio::time::timeout(settings.timeout, first_chunk(&mut stream)).await;
                    let failure = match first {
                        Ok(Ok(head)) => {
                            let first_chunk_ms = millis(attempt_start.elapsed());
                            let mut answer_chars = 0usize;
                            let mut usage = head.usage;
                            let mut finished = head.finished;
                            for text in head.deltas {
                                answer_chars += text.chars().count();
                                yield EngineEvent::Delta { text };
                            }
                            let mut tail = if finished { Tail::Complete } else { Tail::Broken(String::new()) };
                            while !finished {
                                match tokio::time::timeout(settings.stream_idle_timeout, stream.next()).await {
                                    Ok(Some(Ok(StreamEvent::Delta(text)))) => {
                                        answer_chars += text.chars().count();
                                        yield EngineEvent::Delta { text };
                                    }
                                    Ok(Some(Ok(StreamEvent::Usage(u)))) => usage = Some(u),
                                    Ok(Some(Ok(StreamEvent::Finished { .. }))) => {
                                        finished = true;
                                        tail = Tail::Complete;
                                    }
                                    Ok(Some(Err(err))) => {
                                        tail = Tail::Broken(err.to_string());
                                        break;
                                    }
                                    Ok(None) => {
                                        tail = Tail::Broken("the stream ended before the answer was complete".into());
                                        break;
                                    }
                                    Err(_) => {
                                        tail = Tail::Broken(format!(
                                            "no data for {}ms (stream_idle_timeout_ms)",
                                            millis(settings.stream_idle_timeout)
                                        ));
                                        break;
                                    }
                                }
                            }
                            if matches!(tail, Tail::Complete) {
                                // Drain what the provider sends after its finish marker
                                // (OpenAI's usage chunk follows finish_reason).
                                while let Ok(Some(Ok(event))) =
                                    tokio::time::timeout(settings.stream_idle_timeout, stream.next()).await
                                {
                                    if let StreamEvent::Usage(u) = event {
                                        usage = Some(u);
                                    }
                                }
                            }
                            let usage = usage.unwrap_or_else(|| Usage::estimate(prompt_chars, answer_chars));
                            let provenance = Provenance {
                                backend: backend.name.clone(),
                                provider: backend.provider_name.clone(),
                                model: backend.model.clone(),
                                attempts: attempts_total,
                                failovers,
                                latency_ms: millis(started.elapsed()),
                                first_chunk_ms,
                                usage,
                            };
                            match tail {
                                Tail::Complete => {
                                    tracing::debug!(target: "baton::lb", "[LB:failover] Success on backend: {}", backend.name);
                                    yield EngineEvent::Usage { usage };
                                    yield EngineEvent::Done { provenance };
                                }
                                Tail::Broken(reason) => {
                                    tracing::debug!(target: "baton::lb", "[LB:failover] {} interrupted mid-answer: {}", backend.name, reason);
                                    yield EngineEvent::Interrupted { provenance, reason };
                                }
                            }
                            return;
                        }
                        Ok(Err(err)) => Failure::Error(err),
                        Err(_) => Failure::Timeout { elapsed: attempt_start.elapsed() },
                    };
                    drop(stream);

                    match failure {
                        Failure::Timeout { elapsed } => {
                            let limit = millis(settings.timeout);
                            tracing::debug!(target: "baton::lb", "[LB:timeout] {}: Request exceeded {}ms", backend.name, limit);
                            tracing::debug!(target: "baton::lb", "[LB:failover] {}: Backend timeout ({}ms > {}ms), failing over", backend.name, millis(elapsed), limit);
                            let reason = format!("no answer within {limit}ms (timeout_ms)");
                            yield EngineEvent::AttemptFailed { backend: backend.name.clone(), class: ErrorClass::Transient, detail: reason.clone(), will_retry: false };
                            reasons.push(BackendFailure { backend: backend.name.clone(), class: ErrorClass::Transient, reason });
                            break;
                        }
                        Failure::Error(err) => {
                            let class = err.class();
                            let wait = match class {
                                ErrorClass::Transient if attempt < max_attempts => retry_wait(&err, &settings),
                                _ => None,
                            };
                            yield EngineEvent::AttemptFailed { backend: backend.name.clone(), class, detail: err.to_string(), will_retry: wait.is_some() };
                            if let Some(wait) = wait {
                                tracing::debug!(target: "baton::lb", "[LB:failover] {} attempt {}/{} failed: {}; retrying in {}ms", backend.name, attempt, max_attempts, err, millis(wait));
                                tokio::time::sleep(wait).await;
                                attempt += 1;
                                continue;
                            }
                            match class {
                                ErrorClass::Transient => tracing::debug!(target: "baton::lb", "[LB:failover] {} failed after {} attempts: {}", backend.name, attempt, err),
                                ErrorClass::Auth | ErrorClass::Request => tracing::debug!(target: "baton::lb", "[LB:failover] {} failed: {}", backend.name, err),
                            }
                            if class == ErrorClass::Request {
                                rejected_by = Some(index);
                            }
                            reasons.push(BackendFailure { backend: backend.name.clone(), class, reason: err.to_string() });
                            break;
                        }
                    }
                }
                failovers += 1;
            }
            yield EngineEvent::Exhausted { reasons };
        }
    }
}

/// How long to wait before retrying a transient error on the same backend, or
/// `None` when the provider asks for longer than the cap (fail over instead).
fn retry_wait(err: &ProviderError, settings: &LbSettings) -> Option<Duration> {
    match err.retry_after() {
        Some(asked) if asked > settings.retry_after_cap => None,
        Some(asked) => Some(asked),
        None => Some(settings.retry_delay),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What arrived up to and including the first text.
struct Head {
    deltas: Vec<String>,
    usage: Option<Usage>,
    finished: bool,
}

/// Reads until the first non-empty text (or a complete answer), so the timeout
/// covers exactly "time to first chunk".
async fn first_chunk(stream: &mut EventStream) -> Result<Head, ProviderError> {
    let mut usage = None;
    loop {
        match stream.next().await {
            Some(Ok(StreamEvent::Delta(text))) if !text.is_empty() => {
                return Ok(Head {
                    deltas: vec![text],
                    usage,
                    finished: false,
                });
            }
            Some(Ok(StreamEvent::Delta(_))) => {}
            Some(Ok(StreamEvent::Usage(u))) => usage = Some(u),
            // Finished before any text: an empty answer is a transient failure.
            Some(Ok(StreamEvent::Finished { .. })) | None => return Err(ProviderError::Empty),
            Some(Err(err)) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests;
