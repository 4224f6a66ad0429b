//! One prompt's trip through the backends: plan the order, try each backend,
//! stream the answer, record what happened.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::breaker::{Admission, BreakerState};
use super::clock::now_ms;
use super::policy::Slot;
use super::{BackendFailure, EngineEvent, Inner, Provenance};
use crate::config::LbSettings;
use crate::profile::Policy;
use crate::provider::{ChatRequest, ErrorClass, EventStream, ProviderError, StreamEvent, Usage};

/// What the plan says about a backend before any attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worth a try.
    Go,
    /// Its circuit breaker is open.
    Unhealthy,
    /// Its tokens per minute are above zero and below `tpm_threshold`.
    LowTpm(u64),
}

/// Decides, for one prompt, which backends are worth trying.
///
/// TPM only demotes: when every backend the breakers allow is below the
/// threshold, they are used in order rather than failing the prompt.
pub(super) fn plan(inner: &Inner, order: &[Slot], now: u64) -> Vec<Verdict> {
    let settings = &inner.settings;
    let health = inner.health();
    let mut verdicts: Vec<Verdict> = order
        .iter()
        .map(|slot| {
            let name = &inner.backends[slot.backend].name;
            let Some(h) = health.get(name) else {
                return Verdict::Go;
            };
            if settings.breaker.enabled && !h.breaker.would_admit(now, &settings.breaker) {
                return Verdict::Unhealthy;
            }
            match settings.tpm_threshold {
                Some(threshold) => {
                    let tpm = h.tpm.tpm(now);
                    tracing::debug!(target: "baton::tpm", "[LB:tpm] {name}: Current TPM = {tpm}");
                    if tpm > 0 && tpm < threshold {
                        Verdict::LowTpm(tpm)
                    } else {
                        Verdict::Go
                    }
                }
                None => Verdict::Go,
            }
        })
        .collect();
    if !verdicts.contains(&Verdict::Go) {
        for v in &mut verdicts {
            if matches!(v, Verdict::LowTpm(_)) {
                *v = Verdict::Go;
            }
        }
    }
    verdicts
}

/// Releases a half-open probe if the attempt ends without a verdict (the user
/// cancelled), so the next prompt may probe instead of waiting a whole window.
struct ProbeGuard {
    inner: Arc<Inner>,
    backend: String,
    armed: bool,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Some(h) = self.inner.health().get_mut(&self.backend) {
                h.breaker.release_probe();
            }
        }
    }
}

/// Bookkeeping of one prompt across backends.
struct Trip {
    started: Instant,
    attempts: u32,
    failovers: u32,
    reasons: Vec<BackendFailure>,
    rejected_by: Option<usize>,
}

impl Trip {
    fn give_up(&mut self, backend: &str, class: ErrorClass, reason: String) {
        self.reasons.push(BackendFailure {
            backend: backend.to_string(),
            class,
            reason,
        });
    }
}

/// Outcome of waiting for an attempt's first chunk.
enum Failure {
    Error(ProviderError),
    Timeout { elapsed: Duration },
}

/// Outcome of the part of an answer after its first chunk.
enum Tail {
    Complete,
    Broken(String),
}

pub(super) fn run(
    inner: Arc<Inner>,
    request: ChatRequest,
) -> impl Stream<Item = EngineEvent> + Send + 'static {
    async_stream::stream! {
        let settings: LbSettings = inner.settings;
        let max_attempts = settings.retry_count.max(1);
        let mut trip = Trip { started: Instant::now(), attempts: 0, failovers: 0, reasons: Vec::new(), rejected_by: None };

        let order = inner.route.order();
        if inner.route.policy() == Policy::RoundRobin {
            if let Some(first) = order.first() {
                tracing::debug!(target: "baton::lb", "[LB:roundrobin] Selected sub-profile: {}", inner.backends[first.backend].name);
            }
        }
        let verdicts = plan(&inner, &order, now_ms());
        let mut empty_pools = Vec::new();
        for (pool, label) in inner.pools.iter().enumerate() {
            let mut members = order.iter().zip(&verdicts).filter(|(slot, _)| slot.pool == Some(pool)).peekable();
            if members.peek().is_some() && members.all(|(_, v)| *v == Verdict::Unhealthy) {
                empty_pools.push(pool);
                let reason = format!("No active member in pool '{}' (pinned: {})", label.key, label.pinned);
                tracing::debug!(target: "baton::lb", "[LB:pool] {reason}");
                trip.give_up(&format!("pool {}", label.key), ErrorClass::Transient, reason);
            }
        }

        // Backends below the TPM threshold are passed over, then tried last: a slow
        // backend still beats failing the prompt.
        let mut queue: VecDeque<(Slot, Verdict)> = order.iter().copied().zip(verdicts).collect();
        while let Some((slot, verdict)) = queue.pop_front() {
            let index = slot.backend;
            let backend = &inner.backends[index];
            let name = backend.name.clone();
            if let Some(rejecter) = trip.rejected_by {
                let other = &inner.backends[rejecter];
                if backend.same_target(other) {
                    let why = format!("same provider, URL and model as {}, which rejected the request", other.name);
                    yield EngineEvent::Skipped { backend: name.clone(), why: why.clone() };
                    trip.give_up(&name, ErrorClass::Request, why);
                    continue;
                }
            }
            match verdict {
                Verdict::Go => {}
                Verdict::Unhealthy => {
                    tracing::debug!(target: "baton::lb", "[LB:failover] Skipping unhealthy backend: {name}");
                    let why = "circuit breaker open".to_string();
                    yield EngineEvent::Skipped { backend: name.clone(), why: why.clone() };
                    // A pool already reported as a whole is not listed member by member.
                    if !slot.pool.is_some_and(|p| empty_pools.contains(&p)) {
                        let (class, reason) = skipped_reason(&inner, &name);
                        trip.give_up(&name, class, reason);
                    }
                    continue;
                }
                Verdict::LowTpm(tpm) => {
                    let threshold = settings.tpm_threshold.unwrap_or_default();
                    tracing::debug!(target: "baton::lb", "[LB:failover] {name}: TPM ({tpm}) below threshold ({threshold}), failing over");
                    let why = format!("TPM {tpm} below threshold {threshold}; tried last if needed");
                    yield EngineEvent::Skipped { backend: name.clone(), why };
                    queue.push_back((slot, Verdict::Go));
                    continue;
                }
            }

            // Admission may take the one half-open probe; the guard gives it back if
            // this attempt is dropped before it is settled.
            let mut probe = None;
            if settings.breaker.enabled {
                let admission = match inner.health().get_mut(&name) {
                    Some(h) => h.breaker.admit(&name, now_ms(), &settings.breaker),
                    None => Admission::Allowed,
                };
                match admission {
                    Admission::Allowed => {}
                    Admission::Probe => {
                        probe = Some(ProbeGuard { inner: Arc::clone(&inner), backend: name.clone(), armed: true });
                        yield EngineEvent::Breaker { backend: name.clone(), state: BreakerState::HalfOpen };
                    }
                    Admission::Rejected => {
                        tracing::debug!(target: "baton::lb", "[LB:failover] Skipping unhealthy backend: {name}");
                        yield EngineEvent::Skipped { backend: name.clone(), why: "circuit breaker open".into() };
                        let (class, reason) = skipped_reason(&inner, &name);
                        trip.give_up(&name, class, reason);
                        continue;
                    }
                }
            }

            let provider = match &backend.provider {
                Ok(p) => Arc::clone(p),
                Err(err) => {
                    trip.attempts += 1;
                    yield EngineEvent::AttemptStarted { backend: name.clone(), attempt: 1, of: max_attempts };
                    tracing::debug!(target: "baton::lb", "[LB:failover] Trying backend: {name} (attempt 1/{max_attempts})");
                    tracing::debug!(target: "baton::lb", "[LB:failover] {name} failed: {}", err.headline());
                    yield EngineEvent::AttemptFailed { backend: name.clone(), class: err.class(), detail: err.to_string(), will_retry: false };
                    if let Some(state) = inner.record_give_up(&name, err.class(), &err.to_string()) {
                        yield EngineEvent::Breaker { backend: name.clone(), state };
                    }
                    disarm(&mut probe);
                    trip.give_up(&name, err.class(), err.to_string());
                    trip.failovers += 1;
                    continue;
                }
            };

            let mut attempt = 1;
            loop {
                trip.attempts += 1;
                yield EngineEvent::AttemptStarted { backend: name.clone(), attempt, of: max_attempts };
                tracing::debug!(target: "baton::lb", "[LB:failover] Trying backend: {name} (attempt {attempt}/{max_attempts})");
                let mut req = request.clone();
                req.stream = req.stream && backend.streaming;
                let prompt_chars: usize = req.messages.iter().map(|m| m.content.chars().count()).sum();
                let attempt_start = Instant::now();
                let mut stream = provider.stream(req);

                // Until the first text arrives nothing is shown, so any failure here
                // can still go to another attempt or backend.
                let failure = match tokio::time::timeout(settings.timeout, first_chunk(&mut stream)).await {
                    Ok(Ok(head)) => {
                        let first_chunk_ms = millis(attempt_start.elapsed());
                        let mut answer_chars = head.text.chars().count();
                        let mut usage = head.usage;
                        yield EngineEvent::Delta { text: head.text };
                        let tail = loop {
                            match tokio::time::timeout(settings.stream_idle_timeout, stream.next()).await {
                                Ok(Some(Ok(StreamEvent::Delta(text)))) => {
                                    answer_chars += text.chars().count();
                                    yield EngineEvent::Delta { text };
                                }
                                Ok(Some(Ok(StreamEvent::Usage(u)))) => usage = Some(u),
                                Ok(Some(Ok(StreamEvent::Finished { .. }))) => break Tail::Complete,
                                Ok(Some(Err(err))) => break Tail::Broken(err.to_string()),
                                Ok(None) => break Tail::Broken("the stream ended before the answer was complete".into()),
                                Err(_) => break Tail::Broken(format!(
                                    "no data for {}ms (stream_idle_timeout_ms)",
                                    millis(settings.stream_idle_timeout)
                                )),
                            }
                        };
                        if matches!(tail, Tail::Complete) {
                            // Providers may send usage after their finish marker.
                            while let Ok(Some(Ok(event))) = tokio::time::timeout(settings.stream_idle_timeout, stream.next()).await {
                                if let StreamEvent::Usage(u) = event {
                                    usage = Some(u);
                                }
                            }
                        }
                        let usage = usage.unwrap_or_else(|| Usage::estimate(prompt_chars, answer_chars));
                        let attempt_ms = millis(attempt_start.elapsed());
                        let provenance = Provenance {
                            backend: name.clone(),
                            provider: backend.provider_name.clone(),
                            model: backend.model.clone(),
                            attempts: trip.attempts,
                            failovers: trip.failovers,
                            latency_ms: millis(trip.started.elapsed()),
                            first_chunk_ms,
                            usage,
                        };
                        disarm(&mut probe);
                        match tail {
                            Tail::Complete => {
                                tracing::debug!(target: "baton::lb", "[LB:failover] Success on backend: {name}");
                                if let Some(state) = inner.record_success(&name, attempt_ms, usage.total()) {
                                    yield EngineEvent::Breaker { backend: name.clone(), state };
                                }
                                inner.save_state().await;
                                yield EngineEvent::Usage { usage };
                                yield EngineEvent::Done { provenance };
                            }
                            Tail::Broken(reason) => {
                                tracing::debug!(target: "baton::lb", "[LB:failover] {name} interrupted mid-answer: {reason}");
                                inner.record_attempt_failure(&name, false);
                                if let Some(state) = inner.record_give_up(&name, ErrorClass::Transient, &reason) {
                                    yield EngineEvent::Breaker { backend: name.clone(), state };
                                }
                                inner.save_state().await;
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
                        tracing::debug!(target: "baton::lb", "[LB:timeout] {name}: Request exceeded {limit}ms");
                        tracing::debug!(target: "baton::lb", "[LB:failover] {name}: Backend timeout ({}ms > {limit}ms), failing over", millis(elapsed));
                        let reason = format!("no answer within {limit}ms (timeout_ms)");
                        yield EngineEvent::AttemptFailed { backend: name.clone(), class: ErrorClass::Transient, detail: reason.clone(), will_retry: false };
                        inner.record_attempt_failure(&name, true);
                        if let Some(state) = inner.record_give_up(&name, ErrorClass::Transient, &reason) {
                            yield EngineEvent::Breaker { backend: name.clone(), state };
                        }
                        disarm(&mut probe);
                        trip.give_up(&name, ErrorClass::Transient, reason);
                        break;
                    }
                    Failure::Error(err) => {
                        let class = err.class();
                        inner.record_attempt_failure(&name, false);
                        let wait = match class {
                            ErrorClass::Transient if attempt < max_attempts => retry_wait(&err, &settings),
                            ErrorClass::Transient | ErrorClass::Auth | ErrorClass::Request => None,
                        };
                        yield EngineEvent::AttemptFailed { backend: name.clone(), class, detail: err.to_string(), will_retry: wait.is_some() };
                        if let Some(wait) = wait {
                            tracing::debug!(target: "baton::lb", "[LB:failover] {name} attempt {attempt}/{max_attempts} failed: {err}; retrying in {}ms", millis(wait));
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                            continue;
                        }
                        match class {
                            ErrorClass::Transient => tracing::debug!(target: "baton::lb", "[LB:failover] {name} failed after {attempt} attempts: {err}"),
                            ErrorClass::Auth | ErrorClass::Request => tracing::debug!(target: "baton::lb", "[LB:failover] {name} failed: {}", err.headline()),
                        }
                        // A rejected request says nothing about the backend's health.
                        if let Some(state) = inner.record_give_up(&name, class, &err.to_string()) {
                            yield EngineEvent::Breaker { backend: name.clone(), state };
                        }
                        disarm(&mut probe);
                        if class == ErrorClass::Request {
                            trip.rejected_by = Some(index);
                        }
                        trip.give_up(&name, class, err.to_string());
                        break;
                    }
                }
            }
            trip.failovers += 1;
        }
        inner.save_state().await;
        yield EngineEvent::Exhausted { reasons: trip.reasons };
    }
}

/// Why a backend skipped for its open breaker is out: its last real failure and
/// that failure's class, so a bad key stays an auth error (exit 1, not 75).
fn skipped_reason(inner: &Inner, backend: &str) -> (ErrorClass, String) {
    match inner.last_failure(backend) {
        Some(last) => (
            last.class,
            format!("circuit breaker open (last error: {})", last.reason),
        ),
        None => (ErrorClass::Transient, "circuit breaker open".to_string()),
    }
}

/// The attempt reached a verdict that the breaker has recorded.
fn disarm(probe: &mut Option<ProbeGuard>) {
    if let Some(guard) = probe.as_mut() {
        guard.armed = false;
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

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What arrived up to and including the first text.
struct Head {
    text: String,
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
