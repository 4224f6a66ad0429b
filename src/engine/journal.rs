//! What a run changed in its backends' health, as a list of operations: applied to
//! the health in memory at once, and replayed onto the state on disk (under its
//! lock) when the run saves, so parallel processes add up their outcomes instead of
//! the last writer overwriting the rest.

use std::time::Duration;

use super::breaker::BreakerState;
use super::stats::{LastFailure, LbHealth};
use super::{changed, millis};
use crate::config::BreakerSettings;
use crate::provider::ErrorClass;

/// One change to one backend's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    /// A complete answer.
    Success {
        backend: String,
        latency_ms: u64,
        first_chunk_ms: u64,
        tokens: u64,
        now: u64,
    },
    /// One failed attempt, for the counters; a first-chunk timeout also counts as
    /// a first-chunk time of `waited_ms` for the latency estimate.
    AttemptFailure {
        backend: String,
        timeout: bool,
        waited_ms: Option<u64>,
        now: u64,
    },
    /// The backend gave up on a prompt.
    GiveUp {
        backend: String,
        class: ErrorClass,
        reason: String,
        /// How long to skip it when it is out of quota.
        quota_wait: Duration,
        now: u64,
    },
    /// A probe ended without an outcome (cancelled): the next caller may probe.
    ReleaseProbe { backend: String },
    /// A response reported the budget left.
    RateLimit {
        backend: String,
        limit: crate::provider::ratelimit::RateLimit,
    },
}

/// Applies `op`; returns the breaker's new state if it changed.
pub(super) fn apply(health: &mut LbHealth, op: &Op, s: &BreakerSettings) -> Option<BreakerState> {
    match op {
        Op::Success {
            backend,
            latency_ms,
            first_chunk_ms,
            tokens,
            now,
        } => {
            let h = health.get_mut(backend)?;
            h.metrics.record_success(*latency_ms, *tokens);
            h.latency.observe(*first_chunk_ms as f64, *now);
            h.tpm.record(*tokens, *now);
            h.quota_until_ms = None;
            if !s.enabled {
                return None;
            }
            let before = h.breaker.state(*now, s);
            h.breaker.record_success(backend, *now, s);
            changed(before, h.breaker.state(*now, s))
        }
        Op::AttemptFailure {
            backend,
            timeout,
            waited_ms,
            now,
        } => {
            let h = health.get_mut(backend)?;
            h.metrics.record_failure(*timeout);
            if let Some(waited) = waited_ms {
                h.latency.observe(*waited as f64, *now);
            }
            None
        }
        Op::GiveUp {
            backend,
            class,
            reason,
            quota_wait,
            now,
        } => {
            let h = health.get_mut(backend)?;
            h.last_failure = Some(LastFailure {
                class: *class,
                reason: reason.clone(),
            });
            if *class == ErrorClass::Quota {
                h.quota_until_ms = Some(now.saturating_add(millis(*quota_wait)));
                return None;
            }
            if *class == ErrorClass::Request || !s.enabled {
                return None;
            }
            let before = h.breaker.state(*now, s);
            h.breaker.record_failure(backend, *now, s);
            changed(before, h.breaker.state(*now, s))
        }
        Op::ReleaseProbe { backend } => {
            health.get_mut(backend)?.breaker.release_probe();
            None
        }
        Op::RateLimit { backend, limit } => {
            health.get_mut(backend)?.rate_limit = Some(*limit);
            None
        }
    }
}

/// Replays `ops` onto health read from disk without logging again: the markers
/// (`[LB:circuit] ...`) were said when the ops first happened.
pub(super) fn replay(health: &mut LbHealth, ops: &[Op], s: &BreakerSettings) {
    super::markers::quietly(|| {
        for op in ops {
            apply(health, op, s);
        }
    });
}
