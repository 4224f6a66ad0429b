//! The gateway's limits: how many chat requests run at once, how many may wait for
//! a slot, and how long an answer may take in total and between two pieces.
//!
//! Why a queue with a cap and not just a semaphore? A short burst should wait a
//! moment rather than fail, but an unbounded queue turns overload into timeouts for
//! everyone; beyond the cap a client gets `429` with `Retry-After` at once and can
//! back off or go elsewhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// The limits, with their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Limits {
    /// Largest request body accepted.
    pub(crate) max_body_bytes: usize,
    /// Chat requests answered at once.
    pub(crate) max_concurrent: usize,
    /// Chat requests waiting for a slot beyond those.
    pub(crate) max_queue: usize,
    /// Longest wait for the next piece of an answer (or the first one).
    pub(crate) idle_timeout_ms: u64,
    /// Longest time one answer may take.
    pub(crate) total_timeout_ms: u64,
    /// On SIGTERM or Ctrl-C, how long answers in flight may still run.
    pub(crate) shutdown_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 * 1024 * 1024,
            max_concurrent: 64,
            max_queue: 256,
            idle_timeout_ms: 300_000,
            total_timeout_ms: 600_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl Limits {
    pub(crate) fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub(crate) fn total(&self) -> Duration {
        Duration::from_millis(self.total_timeout_ms)
    }
}

/// Slots for chat requests.
#[derive(Debug, Clone)]
pub(super) struct Gate {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    max_queue: usize,
    waiting: Arc<AtomicUsize>,
}

/// Held while a request runs; dropping it frees the slot.
#[derive(Debug)]
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// Counts a waiter for as long as it waits, however the wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    pub(super) fn new(limits: &Limits) -> Self {
        let max_concurrent = limits.max_concurrent.max(1);
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            max_queue: limits.max_queue,
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A slot now, after a wait in the queue, or `429` when the queue is full.
    pub(super) async fn enter(&self) -> Result<Slot, ApiError> {
        let closed = || ApiError::ShuttingDown;
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => return Ok(Slot { _permit: permit }),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(closed()),
            Err(tokio::sync::TryAcquireError::NoPermits) => {}
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::Busy { retry_after_s: 1 });
        }
        let _waiting = Waiting(&self.waiting);
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| closed())?;
        Ok(Slot { _permit: permit })
    }

    pub(super) fn in_flight(&self) -> usize {
        self.max_concurrent
            .saturating_sub(self.slots.available_permits())
    }

    pub(super) fn queued(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_slots_and_queue_requests_are_refused() {
        let gate = Gate::new(&Limits {
            max_concurrent: 1,
            max_queue: 1,
            ..Limits::default()
        });
        let first = gate.enter().await.unwrap();
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter().await.map(|_| ()) })
        };
        tokio::task::yield_now().await;
        assert_eq!((gate.in_flight(), gate.queued()), (1, 1));
        assert_eq!(
            gate.enter().await.unwrap_err(),
            ApiError::Busy { retry_after_s: 1 }
        );
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(gate.queued(), 0);
    }
}
