//! The engine's decisions, as pure functions over plain data: which backends a
//! prompt may try ([`plan`]) and what to do after each attempt ([`next_step`]).
//!
//! Nothing here waits, sends or records; the driver in `run.rs` does that with the
//! answers. The only side effect is the `[LB:tpm]` trace line a plan writes for each
//! backend whose TPM it reads.

use std::time::Duration;

use super::markers;
use super::policy::Slot;
use super::stats::{LastFailure, LbHealth};
use super::{Backend, millis};
use crate::config::LbSettings;
use crate::provider::ratelimit::{self, RateLimit};

use crate::provider::{ErrorClass, Finish, ProviderError, Usage};

/// What the plan says about a backend before any attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Worth a try.
    Go,
    /// Its circuit breaker is open.
    Unhealthy,
    /// Its tokens per minute are above zero and below `tpm_threshold`.
    LowTpm(u64),
    /// It ran out of money or quota; skipped until then (ms since the epoch).
    OutOfQuota(u64),
    /// Its rate-limit headers said the request does not fit until `until_ms`:
    /// demoted like low TPM (tried last if needed).
    RateLimited { until_ms: u64, tokens_left: u64 },
}

/// Judges each slot of `order` by its backend's breaker and TPM at `now`.
///
/// TPM only demotes: when every backend the breakers allow is below the
/// threshold, they are used in order rather than failing the prompt.
pub(super) fn plan(
    order: &[Slot],
    backends: &[Backend],
    health: &LbHealth,
    settings: &LbSettings,
    now: u64,
    request_tokens: u64,
) -> Vec<(Slot, Verdict)> {
    let verdict = |slot: &Slot| {
        let name = backends.get(slot.backend).map_or("", |b| b.name.as_str());
        let Some(h) = health.get(name) else {
            return Verdict::Go;
        };
        if let Some(until) = h.out_of_quota(now) {
            return Verdict::OutOfQuota(until);
        }
        if settings.breaker.enabled && !h.breaker.would_admit(now, &settings.breaker) {
            return Verdict::Unhealthy;
        }
        if let Some(ratelimit::Admission::Demote {
            until_ms,
            tokens_left,
        }) = h.rate_limit.map(|l| l.admits(request_tokens, now))
        {
            return Verdict::RateLimited {
                until_ms,
                tokens_left,
            };
        }
        let Some(threshold) = settings.tpm_threshold else {
            return Verdict::Go;
        };
        let tpm = h.tpm.tpm(now);
        markers::current_tpm(name, tpm);
        if tpm > 0 && tpm < threshold {
            Verdict::LowTpm(tpm)
        } else {
            Verdict::Go
        }
    };
    let mut plan: Vec<(Slot, Verdict)> = order.iter().map(|s| (*s, verdict(s))).collect();
    if !plan.iter().any(|(_, v)| *v == Verdict::Go) {
        for (_, v) in &mut plan {
            if matches!(v, Verdict::LowTpm(_) | Verdict::RateLimited { .. }) {
                *v = Verdict::Go;
            }
        }
    }
    plan
}

/// The `latency` policy's order: `order` rearranged by each backend's first-chunk
/// estimate (see `latency::order`: unmeasured first, then the better of two at
/// random, then fastest to slowest).
pub(super) fn by_latency(
    order: Vec<Slot>,
    backends: &[Backend],
    health: &LbHealth,
    now: u64,
    rng: &mut impl rand::Rng,
) -> Vec<Slot> {
    let estimates: Vec<Option<f64>> = order
        .iter()
        .map(|slot| {
            let name = backends.get(slot.backend).map_or("", |b| b.name.as_str());
            health.get(name).and_then(|h| h.latency.estimate_ms(now))
        })
        .collect();
    let ranked = super::latency::order(&estimates, rng);
    if let Some(&first) = ranked.first() {
        let name = backends
            .get(order[first].backend)
            .map_or("", |b| b.name.as_str());
        markers::latency_pick(name, estimates[first]);
    }
    ranked.into_iter().map(|i| order[i]).collect()
}

/// The pools (indices below `pools`) reached in `plan` whose every member is
/// unhealthy: the prompt reports each as one "no active member" reason.
pub(super) fn empty_pools(plan: &[(Slot, Verdict)], pools: usize) -> Vec<usize> {
    (0..pools)
        .filter(|&pool| {
            let mut members = plan
                .iter()
                .filter(|(slot, _)| slot.pool == Some(pool))
                .peekable();
            members.peek().is_some()
                && members.all(|(_, v)| matches!(v, Verdict::Unhealthy | Verdict::OutOfQuota(_)))
        })
        .collect()
}

/// Why a backend skipped for its open breaker is out: its last real failure and
/// that failure's class, so a bad key stays an auth error (exit 1, not 75).
pub(super) fn skipped_reason(last: Option<&LastFailure>) -> (ErrorClass, String) {
    match last {
        Some(last) => (
            last.class,
            format!("circuit breaker open (last error: {})", last.reason),
        ),
        None => (ErrorClass::Transient, "circuit breaker open".to_string()),
    }
}

/// When every backend is cooling down (its breaker open, or out of quota), the
/// earliest one expected back: its name and when (ms since the epoch). `None` when
/// some backend may be tried now, or there are none.
pub(super) fn earliest_recovery(
    backends: &[Backend],
    health: &LbHealth,
    settings: &LbSettings,
    now: u64,
) -> Option<(String, u64)> {
    let recovery = super::millis(settings.breaker.recovery_timeout);
    let mut earliest: Option<(String, u64)> = None;
    for backend in backends {
        let h = health.get(&backend.name)?;
        let quota = h.out_of_quota(now);
        let breaker = (settings.breaker.enabled && !h.breaker.would_admit(now, &settings.breaker))
            .then(|| {
                h.breaker
                    .opened_at_ms()
                    .map(|at| at.saturating_add(recovery))
            })
            .flatten();
        // Back when every reason to skip it has passed.
        let back = match (quota, breaker) {
            (Some(q), Some(b)) => q.max(b),
            (Some(at), None) | (None, Some(at)) => at,
            (None, None) => return None,
        };
        if earliest.as_ref().is_none_or(|(_, at)| back < *at) {
            earliest = Some((backend.name.clone(), back));
        }
    }
    earliest
}

/// Why a backend out of quota is skipped, naming its last error and when it is
/// tried again.
pub(super) fn quota_reason(last: Option<&LastFailure>, until_ms: u64, now_ms: u64) -> String {
    let wait = human_wait(until_ms.saturating_sub(now_ms));
    let at = utc_time(until_ms);
    match last {
        Some(last) => format!(
            "out of money or quota for {wait} (until {at} UTC; last error: {})",
            last.reason
        ),
        None => format!("out of money or quota for {wait} (until {at} UTC)"),
    }
}

/// `HH:MM:SS` of a time in ms since the epoch, in UTC.
pub(super) fn utc_time(ms: u64) -> String {
    let secs = (ms / 1000) % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `45s`, `12 min`, `3 h 5 min`, rounded up so a wait never reads as zero.
fn human_wait(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{} min", secs.div_ceil(60))
    } else {
        let mins = secs.div_ceil(60);
        match mins % 60 {
            0 => format!("{} h", mins / 60),
            m => format!("{} h {m} min", mins / 60),
        }
    }
}

/// Attempts allowed per backend (`attempt n/M`).
pub(super) fn max_attempts(settings: &LbSettings) -> u32 {
    settings.retry_count.max(1)
}

/// What a streamed answer cost and how long it took, for its provenance.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Answer {
    /// From the start of the attempt to its first text.
    pub(crate) first_chunk_ms: u64,
    /// From the start of the attempt to its end.
    pub(crate) attempt_ms: u64,
    /// Sent by the provider, or estimated from the text.
    pub(crate) usage: Usage,
    /// How the answer ended (`Interrupted` for a broken one).
    pub(crate) finish: Finish,
    /// The budget the response's rate-limit headers reported.
    pub(crate) rate_limit: Option<RateLimit>,
}

/// How one attempt on a backend ended.
#[derive(Debug)]
pub(super) enum AttemptEnd {
    /// No text within `timeout_ms`; nothing was shown.
    FirstChunkTimeout {
        /// How long the attempt waited.
        elapsed: Duration,
    },
    /// The provider failed before any text was shown.
    Failed(ProviderError),
    /// The answer arrived whole.
    Complete(Answer),
    /// Text was shown, then the stream stalled or broke: the answer is partial.
    Broken {
        /// What was shown and what it cost.
        answer: Answer,
        /// What broke.
        reason: String,
    },
}

/// What the engine does after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Try the same backend again after this wait.
    Retry(Duration),
    /// Give up on this backend and try the next.
    FailOver,
    /// Give up on this backend; try only backends that differ from it in provider,
    /// base URL or model (identical ones would reject the request the same way).
    FailOverToDifferent,
    /// The answer is complete, or text was shown and this backend owns it: stop.
    Commit,
}

/// Decides what follows attempt `attempt` of `max` on one backend.
///
/// A transient error is retried after `failover_retry_delay_ms`, or after the
/// provider's Retry-After when that is within `retry_after_cap_ms` (a longer one
/// fails over rather than wait) unless the provider said `x-should-retry: false`;
/// an auth or quota error fails over at once; a request error fails over to
/// different backends only. A first-chunk timeout fails over without a retry: the
/// backend has already had `timeout_ms`.
///
/// An answer that broke after its first chunk is committed (its text was shown),
/// unless it was `held` back from the caller: then nothing was shown, and the break
/// is a transient failure like any other, retried and failed over.
pub(super) fn next_step(
    end: &AttemptEnd,
    attempt: u32,
    max: u32,
    settings: &LbSettings,
    held: bool,
) -> Step {
    match end {
        AttemptEnd::Broken { .. } if held => {
            if attempt < max {
                Step::Retry(settings.retry_delay)
            } else {
                Step::FailOver
            }
        }
        AttemptEnd::Complete(_) | AttemptEnd::Broken { .. } => Step::Commit,
        AttemptEnd::FirstChunkTimeout { .. } => Step::FailOver,
        AttemptEnd::Failed(err) => match err.class() {
            ErrorClass::Transient if attempt < max && !err.retry_refused() => {
                match err.retry_after() {
                    Some(asked) if asked > settings.retry_after_cap => Step::FailOver,
                    Some(asked) => Step::Retry(asked),
                    None => Step::Retry(settings.retry_delay),
                }
            }
            ErrorClass::Transient | ErrorClass::Auth | ErrorClass::Quota => Step::FailOver,
            ErrorClass::Request => Step::FailOverToDifferent,
        },
    }
}

/// A request a provider's content filter rejected (OpenAI `content_policy_violation`,
/// Azure `content_filter`), as the filtered answer it is: an answer with nothing in
/// it, not an error to fail over (unless `failover_on_filter`).
pub(super) fn filtered_finish(err: &ProviderError) -> Option<Finish> {
    let ProviderError::Http {
        status: 400,
        message,
        info,
        ..
    } = err
    else {
        return None;
    };
    let code = info.code.as_deref()?;
    if !matches!(code, "content_policy_violation" | "content_filter") {
        return None;
    }
    let mut finish = Finish::new(crate::provider::AnswerStatus::Filtered, Some(code));
    finish.message = (!message.is_empty()).then(|| message.clone());
    Some(finish)
}

/// The reason a first-chunk timeout gives, for events and the exhausted error.
pub(super) fn timeout_reason(settings: &LbSettings) -> String {
    format!(
        "no answer within {}ms (timeout_ms)",
        millis(settings.timeout)
    )
}
