//! One prompt's trip through the backends: the driver that acts on the decisions
//! of `decide.rs`. It plans the order, offers each backend the prompt, waits and
//! retries as told, and records what happened; every event goes out through the
//! [`Emitter`] as it happens.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::time::Instant;

use super::decide::{self, Answer, AttemptEnd, Step, Verdict};
use super::events::{Emitter, RunStream};
use super::probe::{self, Outcome, Ticket};
use super::{Backend, BackendFailure, EngineEvent, Inner, Provenance, attempt, markers, millis};
use super::{breaker::BreakerState, clock::now_ms};
use crate::profile::Policy;
use crate::provider::{ChatRequest, ErrorClass, ProviderError};

/// `hold`: the caller shows the answer only once it is complete (JSON output, a
/// gateway's non-streaming request), so a stream that breaks midway is thrown away
/// and rescued by a retry or the next backend instead of ending the prompt.
pub(super) fn run(inner: Arc<Inner>, request: ChatRequest, hold: bool) -> RunStream {
    RunStream::new(move |out| drive(inner, request, hold, out))
}

/// Bookkeeping of one prompt across backends.
struct Trip {
    started: Instant,
    attempts: u32,
    failovers: u32,
    reasons: Vec<BackendFailure>,
    /// The backend that rejected the request itself, if one did.
    rejected_by: Option<usize>,
}

impl Trip {
    fn give_up(&mut self, backend: &str, class: ErrorClass, reason: String) {
        let backend = backend.to_string();
        self.reasons.push(BackendFailure {
            backend,
            class,
            reason,
        });
    }
}

/// How a backend's turn at the prompt ended.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// It answered, in full or in part: the prompt is over.
    Committed,
    /// It gave up: on to the next backend.
    GaveUp,
}

async fn drive(inner: Arc<Inner>, request: ChatRequest, hold: bool, out: Emitter) {
    let mut trip = Trip {
        started: Instant::now(),
        attempts: 0,
        failovers: 0,
        reasons: Vec::new(),
        rejected_by: None,
    };
    wait_for_recovery(&inner).await;
    if inner.route.policy() == Policy::RoundRobin {
        // Shared through the state file, so consecutive one-shots rotate.
        if let Some(cursor) = inner.next_cursor().await {
            inner.route.start_at(cursor);
        }
    }
    let mut order = inner.route.order();
    if inner.route.policy() == Policy::Latency {
        let health = inner.health().clone();
        let mut rng = super::lock(&inner.latency_rng);
        order = decide::by_latency(order, &inner.backends, &health, now_ms(), &mut *rng);
    }
    if let (Policy::RoundRobin, Some(first)) = (inner.route.policy(), order.first()) {
        markers::roundrobin_selected(&inner.backends[first.backend].name);
    }
    // About four characters a token, the estimate providers' budgets are checked
    // against before the answer's size is known.
    let request_tokens = u64::try_from(prompt_chars(&request).div_ceil(4)).unwrap_or(u64::MAX);
    let plan = decide::plan(
        &order,
        &inner.backends,
        &inner.health(),
        &inner.settings,
        now_ms(),
        request_tokens,
    );
    let empty_pools = decide::empty_pools(&plan, inner.pools.len());
    for label in empty_pools.iter().map(|&pool| &inner.pools[pool]) {
        let reason = markers::pool_empty(&label.key, &label.pinned);
        trip.give_up(
            &format!("pool {}", label.key),
            ErrorClass::Transient,
            reason,
        );
    }

    // Backends below the TPM threshold are passed over, then tried last: a slow
    // backend still beats failing the prompt.
    let mut queue = VecDeque::from(plan);
    while let Some((slot, verdict)) = queue.pop_front() {
        let name = inner.backends[slot.backend].name.as_str();
        if let Some(why) = same_as_rejecter(&inner.backends, slot.backend, trip.rejected_by) {
            out.emit(skipped(name, why.clone())).await;
            trip.give_up(name, ErrorClass::Request, why);
            continue;
        }
        match verdict {
            Verdict::Go => {}
            Verdict::Unhealthy => {
                // A pool already reported as a whole is not listed member by member.
                let listed = !slot.pool.is_some_and(|p| empty_pools.contains(&p));
                skip_unhealthy(&inner, name, listed.then_some(&mut trip), &out).await;
                continue;
            }
            Verdict::OutOfQuota(until) => {
                let now = now_ms();
                markers::out_of_quota(name, &decide::utc_time(until));
                let why = decide::quota_reason(inner.last_failure(name).as_ref(), until, now);
                out.emit(skipped(name, why.clone())).await;
                let listed = !slot.pool.is_some_and(|p| empty_pools.contains(&p));
                if listed {
                    trip.give_up(name, ErrorClass::Quota, why);
                }
                continue;
            }
            Verdict::RateLimited {
                until_ms,
                tokens_left,
            } => {
                let at = decide::utc_time(until_ms);
                markers::rate_limited(name, tokens_left, &at);
                let why = format!(
                    "its rate limit has {tokens_left} tokens left until {at} UTC; tried last if needed"
                );
                out.emit(skipped(name, why)).await;
                queue.push_back((slot, Verdict::Go));
                continue;
            }
            Verdict::LowTpm(tpm) => {
                let threshold = inner.settings.tpm_threshold.unwrap_or_default();
                markers::tpm_below(name, tpm, threshold);
                let why = format!("TPM {tpm} below threshold {threshold}; tried last if needed");
                out.emit(skipped(name, why)).await;
                queue.push_back((slot, Verdict::Go));
                continue;
            }
        }
        let Some(ticket) = probe::admit(&inner, name).await else {
            skip_unhealthy(&inner, name, Some(&mut trip), &out).await;
            continue;
        };
        if ticket.is_probe() {
            out.breaker(name, Some(BreakerState::HalfOpen)).await;
        }
        let turn = offer(
            &inner,
            slot.backend,
            ticket,
            &request,
            hold,
            &mut trip,
            &out,
        )
        .await;
        if turn == Turn::Committed {
            return;
        }
        trip.failovers += 1;
    }
    inner.save_state().await;
    let reasons = trip.reasons;
    out.emit(EngineEvent::Exhausted { reasons }).await;
}

/// When every backend is cooling down and the first one is back within
/// `wait_for_recovery_ms`, waits for it rather than failing the prompt.
async fn wait_for_recovery(inner: &Inner) {
    let limit = millis(inner.settings.wait_for_recovery);
    if limit == 0 {
        return;
    }
    let now = now_ms();
    let earliest =
        decide::earliest_recovery(&inner.backends, &inner.health(), &inner.settings, now);
    if let Some((name, at)) = earliest {
        let wait = at.saturating_sub(now);
        if wait <= limit {
            markers::waiting_for_recovery(&name, wait);
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        }
    }
}

/// Why backend `index` is not tried after `rejecter` rejected the request: an
/// identical backend would reject it the same way.
fn same_as_rejecter(backends: &[Backend], index: usize, rejecter: Option<usize>) -> Option<String> {
    let other = &backends[rejecter?];
    backends[index].same_target(other).then(|| {
        let rejecter = &other.name;
        format!("same provider, URL and model as {rejecter}, which rejected the request")
    })
}

fn skipped(backend: &str, why: String) -> EngineEvent {
    let backend = backend.to_string();
    EngineEvent::Skipped { backend, why }
}

/// Passes over a backend whose breaker is open; `trip` is given to list it among the
/// reasons.
async fn skip_unhealthy(inner: &Inner, name: &str, trip: Option<&mut Trip>, out: &Emitter) {
    markers::skipping_unhealthy(name);
    out.emit(skipped(name, "circuit breaker open".into())).await;
    if let Some(trip) = trip {
        let (class, reason) = decide::skipped_reason(inner.last_failure(name).as_ref());
        trip.give_up(name, class, reason);
    }
}

/// Offers the prompt to backend `index`, attempt after attempt, until it answers or
/// [`decide::next_step`] says to give up on it.
async fn offer(
    inner: &Inner,
    index: usize,
    ticket: Ticket,
    request: &ChatRequest,
    hold: bool,
    trip: &mut Trip,
    out: &Emitter,
) -> Turn {
    let backend = &inner.backends[index];
    let name = backend.name.as_str();
    let settings = &inner.settings;
    let max = decide::max_attempts(settings);
    let provider = match &backend.provider {
        Ok(provider) => provider.as_ref(),
        Err(err) => return unbuilt(name, err, ticket, max, trip, out).await,
    };
    let mut request = request.clone();
    request.stream &= backend.streaming;
    let mut attempt = 1;
    loop {
        trip.attempts += 1;
        let started = EngineEvent::AttemptStarted {
            backend: name.to_string(),
            attempt,
            of: max,
        };
        out.emit(started).await;
        markers::trying(name, attempt, max);
        let began = Instant::now();
        let end = attempt::run(provider, request.clone(), settings, out, hold).await;
        let limit = match &end {
            AttemptEnd::Complete(answer) | AttemptEnd::Broken { answer, .. } => answer.rate_limit,
            AttemptEnd::Failed(ProviderError::Http { info, .. }) => info.rate_limit,
            AttemptEnd::Failed(_) | AttemptEnd::FirstChunkTimeout { .. } => None,
        };
        if let Some(limit) = limit {
            inner.record_rate_limit(name, limit);
        }
        let end = match end {
            AttemptEnd::Failed(err) if !settings.failover_on_filter => {
                match decide::filtered_finish(&err) {
                    Some(finish) => AttemptEnd::Complete(Answer {
                        first_chunk_ms: 0,
                        attempt_ms: millis(began.elapsed()),
                        usage: crate::provider::Usage::estimate(prompt_chars(&request), 0),
                        finish,
                        rate_limit: None,
                    }),
                    None => AttemptEnd::Failed(err),
                }
            }
            end => end,
        };
        let step = match decide::next_step(&end, attempt, max, settings, hold) {
            // A half-open probe is one request: the breaker asked for one test, not a
            // retry budget (the marker still shows the backend's `attempt 1/M`).
            Step::Retry(_) if ticket.is_probe() => Step::FailOver,
            step => step,
        };
        // `error` is `None` for a timeout and a held answer that broke.
        let (class, detail, error, timed_out) = match end {
            AttemptEnd::Complete(answer) => {
                commit(inner, backend, ticket, answer, None, trip, out).await;
                return Turn::Committed;
            }
            AttemptEnd::Broken { answer, reason } if step == Step::Commit => {
                commit(inner, backend, ticket, answer, Some(reason), trip, out).await;
                return Turn::Committed;
            }
            AttemptEnd::Broken { reason, .. } => {
                markers::rescuing(name, &reason);
                let detail = format!("the answer broke off before it was shown: {reason}");
                (ErrorClass::Transient, detail, None, false)
            }
            AttemptEnd::FirstChunkTimeout { elapsed } => {
                markers::timed_out(name, elapsed, settings.timeout);
                let reason = decide::timeout_reason(settings);
                (ErrorClass::Transient, reason, None, true)
            }
            AttemptEnd::Failed(err) => (err.class(), err.to_string(), Some(err), false),
        };
        let retry_after = error.as_ref().and_then(ProviderError::retry_after);
        inner.record_attempt_failure(name, timed_out);
        let wait = match step {
            Step::Retry(wait) => Some(wait),
            Step::FailOver | Step::FailOverToDifferent | Step::Commit => None,
        };
        let failed = EngineEvent::AttemptFailed {
            backend: name.to_string(),
            class,
            detail: detail.clone(),
            will_retry: wait.is_some(),
        };
        out.emit(failed).await;
        if let Some(wait) = wait {
            markers::retrying(name, attempt, max, &detail, wait);
            tokio::time::sleep(wait).await;
            attempt += 1;
            continue;
        }
        match (&error, class) {
            // The timeout has said its own marker.
            (None, _) if timed_out => {}
            (None, _) | (Some(_), ErrorClass::Transient) => {
                markers::failed_after(name, attempt, &detail);
            }
            (Some(err), ErrorClass::Auth | ErrorClass::Quota | ErrorClass::Request) => {
                markers::failed(name, &err.headline());
            }
        }
        let reason = detail.as_str();
        let outcome = Outcome::GaveUp {
            class,
            reason,
            retry_after,
        };
        out.breaker(name, ticket.settle(outcome)).await;
        if step == Step::FailOverToDifferent {
            trip.rejected_by = Some(index);
        }
        trip.give_up(name, class, detail);
        return Turn::GaveUp;
    }
}

fn prompt_chars(request: &ChatRequest) -> usize {
    request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum()
}

/// A backend whose provider could not be built (a missing key, say) answers its one
/// attempt with that error.
async fn unbuilt(
    name: &str,
    err: &ProviderError,
    ticket: Ticket,
    max: u32,
    trip: &mut Trip,
    out: &Emitter,
) -> Turn {
    trip.attempts += 1;
    let backend = name.to_string();
    out.emit(EngineEvent::AttemptStarted {
        backend: backend.clone(),
        attempt: 1,
        of: max,
    })
    .await;
    markers::trying(name, 1, max);
    markers::failed(name, &err.headline());
    let (class, reason) = (err.class(), err.to_string());
    let failed = EngineEvent::AttemptFailed {
        backend,
        class,
        detail: reason.clone(),
        will_retry: false,
    };
    out.emit(failed).await;
    let outcome = Outcome::GaveUp {
        class,
        reason: &reason,
        retry_after: None,
    };
    out.breaker(name, ticket.settle(outcome)).await;
    trip.give_up(name, class, reason);
    Turn::GaveUp
}

/// Ends the prompt with the answer `backend` gave: complete, or `broken` after
/// text was shown.
async fn commit(
    inner: &Inner,
    backend: &Backend,
    ticket: Ticket,
    answer: Answer,
    broken: Option<String>,
    trip: &Trip,
    out: &Emitter,
) {
    let name = backend.name.as_str();
    let usage = answer.usage;
    let provenance = Provenance {
        backend: backend.name.clone(),
        provider: backend.provider_name.clone(),
        model: backend.model.clone(),
        attempts: trip.attempts,
        failovers: trip.failovers,
        latency_ms: millis(trip.started.elapsed()),
        first_chunk_ms: answer.first_chunk_ms,
        usage,
    };
    match broken {
        None => {
            markers::success(name);
            let outcome = Outcome::Answered {
                latency_ms: answer.attempt_ms,
                first_chunk_ms: answer.first_chunk_ms,
                tokens: usage.total(),
            };
            out.breaker(name, ticket.settle(outcome)).await;
            inner.save_state().await;
            out.emit(EngineEvent::Usage { usage }).await;
            let finish = answer.finish;
            out.emit(EngineEvent::Done { provenance, finish }).await;
        }
        Some(reason) => {
            markers::interrupted(name, &reason);
            inner.record_attempt_failure(name, false);
            let outcome = Outcome::GaveUp {
                class: ErrorClass::Transient,
                reason: &reason,
                retry_after: None,
            };
            out.breaker(name, ticket.settle(outcome)).await;
            inner.save_state().await;
            out.emit(EngineEvent::Interrupted { provenance, reason })
                .await;
        }
    }
}
