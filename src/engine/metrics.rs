//! [`BackendMetrics`]: what one backend has done since its state was last reset.
//!
//! `requests` counts attempts (each retry is a request to the backend), so
//! "Requests: 8, Success Rate: 75.0%" in `/stats lb` means six attempts answered and
//! two did not. `/stats lb`'s "Total Requests" is the sum over the backends.

use serde::{Deserialize, Serialize};

/// Counters of one backend. Every counter saturates instead of wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct BackendMetrics {
    /// Attempts sent to the backend.
    pub(crate) requests: u64,
    /// Attempts that produced a complete answer.
    pub(crate) successes: u64,
    /// Attempts that failed (timeouts included).
    pub(crate) failures: u64,
    /// Failed attempts that were timeouts (a subset of `failures`).
    pub(crate) timeouts: u64,
    /// Tokens of the successful answers (prompt and completion).
    pub(crate) tokens: u64,
    /// Sum of the successful attempts' latencies, for the average.
    pub(crate) latency_total_ms: u64,
}

impl BackendMetrics {
    /// Counts an attempt that answered, taking `latency_ms` and producing `tokens`.
    pub(crate) fn record_success(&mut self, latency_ms: u64, tokens: u64) {
        self.requests = self.requests.saturating_add(1);
        self.successes = self.successes.saturating_add(1);
        self.tokens = self.tokens.saturating_add(tokens);
        self.latency_total_ms = self.latency_total_ms.saturating_add(latency_ms);
    }

    /// Counts an attempt that failed; `timeout` when it failed by timing out.
    pub(crate) fn record_failure(&mut self, timeout: bool) {
        self.requests = self.requests.saturating_add(1);
        self.failures = self.failures.saturating_add(1);
        if timeout {
            self.timeouts = self.timeouts.saturating_add(1);
        }
    }

    /// Share of requests that succeeded, from 0.0 to 1.0; `None` before any request.
    pub(crate) fn success_rate(&self) -> Option<f64> {
        // Counts beyond 2^53 would lose precision as f64: irrelevant for a ratio
        // shown to one decimal.
        (self.requests > 0).then(|| self.successes as f64 / self.requests as f64)
    }

    /// Mean latency of the successful requests, rounded to the nearest millisecond;
    /// `None` before any success.
    pub(crate) fn avg_latency_ms(&self) -> Option<u64> {
        (self.successes > 0).then(|| {
            let half = self.successes / 2;
            self.latency_total_ms.saturating_add(half) / self.successes
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn unused_backend_has_no_rates() {
        let m = BackendMetrics::default();
        assert_eq!(m.success_rate(), None);
        assert_eq!(m.avg_latency_ms(), None);
    }

    #[test]
    fn reference_report_synthetic_numbers() {
        let mut m = BackendMetrics::default();
        for (latency, tokens) in [(1200, 500), (1500, 500), (1700, 600), (1400, 600)] {
            m.record_success(latency, tokens);
        }
        m.record_success(1436, 500);
        m.record_success(1500, 500);
        m.record_failure(true);
        m.record_failure(false);
        assert_eq!(
            m,
            BackendMetrics {
                requests: 8,
                successes: 6,
                failures: 2,
                timeouts: 1,
                tokens: 3200,
                latency_total_ms: 8736,
            }
        );
        assert_eq!(m.success_rate(), Some(0.75));
        assert_eq!(m.avg_latency_ms(), Some(1456));
    }

    #[test]
    fn failures_only_have_a_rate_but_no_latency() {
        let mut m = BackendMetrics::default();
        m.record_failure(false);
        assert_eq!(m.success_rate(), Some(0.0));
        assert_eq!(m.avg_latency_ms(), None);
    }

    #[test]
    fn average_rounds_to_nearest() {
        let mut m = BackendMetrics::default();
        m.record_success(1, 0);
        m.record_success(2, 0);
        assert_eq!(m.avg_latency_ms(), Some(2));
        m.record_success(2, 0);
        assert_eq!(m.avg_latency_ms(), Some(2));
    }
}
