//! A backend's admission for one prompt, which may hold the breaker's half-open
//! probe.
//!
//! A half-open breaker lets exactly one request through, and the breaker stays
//! half-open, refusing everyone else, until that request's outcome is reported.
//! An outcome that is never reported would shut the backend out for good, so the
//! outcome is reported by consuming the [`Ticket`] ([`Ticket::settle`]): a ticket
//! that is dropped unsettled (the user cancelled the prompt, which drops the
//! engine's stream and with it the attempt) gives the probe back, and the next
//! prompt may probe instead of waiting a whole recovery window.

use std::sync::Arc;

use super::Inner;
use super::breaker::{Admission, BreakerState};
use super::clock::now_ms;
use crate::provider::ErrorClass;

/// How a backend's turn at a prompt ended, for its breaker and counters.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome<'a> {
    /// It answered in full.
    Answered {
        /// The answering attempt's duration.
        latency_ms: u64,
        /// From the start of that attempt to its first chunk.
        first_chunk_ms: u64,
        /// The answer's tokens, for TPM.
        tokens: u64,
    },
    /// It gave up on the prompt.
    GaveUp {
        /// The last error's class (a request error does not count against it).
        class: ErrorClass,
        /// The last error, in words.
        reason: &'a str,
        /// How long the provider asked us to wait, if it said (for a quota error,
        /// how long the backend is skipped).
        retry_after: Option<std::time::Duration>,
    },
}

/// Leave to send a prompt's attempts to one backend; see the module docs.
#[derive(Debug)]
pub(super) struct Ticket {
    inner: Arc<Inner>,
    backend: String,
    /// Holds the breaker's one probe until settled.
    probe: bool,
}

/// Asks `backend`'s breaker for admission: `None` when it refuses.
///
/// A probe is decided under the state file's lock when the engine persists (parallel
/// one-shots share the breaker): the file may say another process holds it.
pub(super) async fn admit(inner: &Arc<Inner>, backend: &str) -> Option<Ticket> {
    let breaker = &inner.settings.breaker;
    let would_probe = inner.is_persistent()
        && breaker.enabled
        && inner.health().get(backend).is_some_and(|h| {
            // On a copy: only the shared decision below may change the breaker.
            let mut copy = h.breaker.clone();
            super::markers::quietly(|| copy.admit(backend, now_ms(), breaker) == Admission::Probe)
        });
    let shared = if would_probe {
        inner.admit_shared(backend).await
    } else {
        None
    };
    let admission = match shared {
        Some(admission) => admission,
        None => match inner.health().get_mut(backend) {
            Some(h) if breaker.enabled => h.breaker.admit(backend, now_ms(), breaker),
            Some(_) | None => Admission::Allowed,
        },
    };
    let probe = match admission {
        Admission::Allowed => false,
        Admission::Probe => true,
        Admission::Rejected => return None,
    };
    Some(Ticket {
        inner: Arc::clone(inner),
        backend: backend.to_string(),
        probe,
    })
}

impl Ticket {
    /// Whether this ticket holds the half-open probe.
    pub(super) fn is_probe(&self) -> bool {
        self.probe
    }

    /// Records how the backend's turn ended; returns its breaker's new state if
    /// that changed.
    pub(super) fn settle(mut self, outcome: Outcome<'_>) -> Option<BreakerState> {
        // The breaker now has its verdict (a request error leaves it as it was),
        // so dropping the ticket must not give the probe back.
        self.probe = false;
        match outcome {
            Outcome::Answered {
                latency_ms,
                first_chunk_ms,
                tokens,
            } => self
                .inner
                .record_success(&self.backend, latency_ms, first_chunk_ms, tokens),
            Outcome::GaveUp {
                class,
                reason,
                retry_after,
            } => self
                .inner
                .record_give_up(&self.backend, class, reason, retry_after),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.probe {
            self.inner.release_probe(&self.backend);
        }
    }
}
