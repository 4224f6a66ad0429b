//! [`TpmTracker`]: a backend's tokens per minute over a 5-minute rolling window.
//!
//! Tokens are added to per-minute buckets, `(minute index, tokens)` with the minute
//! index being `now_ms / 60_000` (whole minutes since the epoch). A bucket is in the
//! window while its minute is one of the last five, the current one included:
//! `now_minute - 4 ..= now_minute`. Older buckets are pruned on every
//! [`record`](TpmTracker::record) and ignored by every read, so a tracker holds at
//! most five buckets however long it runs.
//!
//! ```text
//! TPM = tokens in the window / minutes covered
//! minutes covered = now_minute - oldest_minute_in_window + 1, clamped to 1..=5
//! ```
//!
//! Worked example: 400 tokens recorded at 10:00:20 and 200 at 10:02:50, read at
//! 10:03:30. Both buckets (minutes 10:00 and 10:02) are in the window; it covers the
//! minutes 10:00 to 10:03, i.e. 4, so TPM = 600 / 4 = 150 (integer division). Read
//! at 10:05:10 instead, the window is 10:01 to 10:05: only the 200-token bucket is
//! left, covering 10:02 to 10:05, so TPM = 200 / 4 = 50. Read at 10:07:00, nothing
//! is left and TPM = 0.
//!
//! Counting from the oldest bucket rather than always dividing by five keeps a fresh
//! backend from looking slow: 300 tokens in its first minute are 300 TPM, not 60.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The window's length in minutes.
pub(super) const WINDOW_MINUTES: u64 = 5;

const MINUTE_MS: u64 = 60_000;

/// Tokens per minute over a rolling window. See the module docs for the formula.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TpmTracker {
    /// `(minute index, tokens)`, oldest first, one entry per minute with tokens.
    buckets: VecDeque<(u64, u64)>,
}

impl TpmTracker {
    #[cfg(test)]
    /// An empty tracker.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds `tokens` to the bucket of the minute `now_ms` falls in, after pruning.
    /// Zero tokens change nothing (no empty bucket that would only dilute the rate).
    pub fn record(&mut self, tokens: u64, now_ms: u64) {
        self.prune(now_ms);
        if tokens == 0 {
            return;
        }
        let minute = now_ms / MINUTE_MS;
        match self.buckets.back_mut() {
            Some((last, sum)) if *last == minute => *sum = sum.saturating_add(tokens),
            // Pruning removed any bucket after this minute, so this one is the newest.
            Some(_) | None => self.buckets.push_back((minute, tokens)),
        }
    }

    /// Tokens per minute at `now_ms`; 0 when nothing was recorded in the window.
    pub(crate) fn tpm(&self, now_ms: u64) -> u64 {
        let now_minute = now_ms / MINUTE_MS;
        let mut in_window = self
            .buckets
            .iter()
            .filter(|(minute, _)| in_window(*minute, now_minute));
        let Some(&(oldest, first)) = in_window.next() else {
            return 0;
        };
        let total = in_window.fold(first, |sum, (_, tokens)| sum.saturating_add(*tokens));
        let covered = (now_minute - oldest + 1).clamp(1, WINDOW_MINUTES);
        total / covered
    }

    #[cfg(test)]
    /// Tokens recorded in the window at `now_ms`.
    pub(crate) fn tokens_in_window(&self, now_ms: u64) -> u64 {
        let now_minute = now_ms / MINUTE_MS;
        self.buckets
            .iter()
            .filter(|(minute, _)| in_window(*minute, now_minute))
            .fold(0, |sum, (_, tokens)| sum.saturating_add(*tokens))
    }

    #[cfg(test)]
    /// True when no bucket is held (nothing recorded, or all of it pruned).
    pub(crate) fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    #[cfg(test)]
    /// How many buckets are held (at most five, one per minute of the window).
    pub(crate) fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Drops buckets outside the window at `now_ms`, including any "in the future"
    /// left by a wall clock that went back between runs.
    pub(crate) fn prune(&mut self, now_ms: u64) {
        let now_minute = now_ms / MINUTE_MS;
        self.buckets
            .retain(|(minute, _)| in_window(*minute, now_minute));
    }
}

fn in_window(minute: u64, now_minute: u64) -> bool {
    minute <= now_minute && now_minute - minute < WINDOW_MINUTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Milliseconds at `h:m:s` of some day.
    fn at(h: u64, m: u64, s: u64) -> u64 {
        1_700_000_000_000 / 86_400_000 * 86_400_000 + ((h * 60 + m) * 60 + s) * 1000
    }

    #[test]
    fn worked_example_from_the_module_docs() {
        let mut t = TpmTracker::new();
        t.record(400, at(10, 0, 20));
        t.record(200, at(10, 2, 50));
        assert_eq!(t.tpm(at(10, 3, 30)), 150);
        assert_eq!(t.tpm(at(10, 5, 10)), 50);
        assert_eq!(t.tpm(at(10, 7, 0)), 0);
    }

    #[test]
    fn empty_tracker_reads_zero() {
        let t = TpmTracker::new();
        assert!(t.is_empty());
        assert_eq!(t.tpm(at(1, 0, 0)), 0);
    }

    #[test]
    fn first_minute_divides_by_one() {
        let mut t = TpmTracker::new();
        t.record(300, at(1, 0, 0));
        t.record(200, at(1, 0, 59));
        assert_eq!(t.bucket_count(), 1);
        assert_eq!(t.tpm(at(1, 0, 59)), 500);
        assert_eq!(t.tpm(at(1, 1, 0)), 250);
    }

    #[test]
    fn at_most_five_minutes_covered() {
        let mut t = TpmTracker::new();
        for m in 0..5 {
            t.record(640, at(2, m, 30));
        }
        assert_eq!(t.tpm(at(2, 4, 59)), 640);
        assert_eq!(t.tokens_in_window(at(2, 4, 59)), 3200);
        // A minute later the first bucket has left: 4 × 640 over minutes 1..=5.
        assert_eq!(t.tpm(at(2, 5, 0)), 512);
    }

    #[test]
    fn record_prunes_old_buckets() {
        let mut t = TpmTracker::new();
        for m in 0..30 {
            t.record(10, at(3, m, 0));
            assert!(t.bucket_count() <= 5);
        }
        assert_eq!(
            t.buckets.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
            (25..30)
                .map(|m| at(3, m, 0) / MINUTE_MS)
                .collect::<Vec<_>>()
        );
        t.prune(at(4, 0, 0));
        assert!(t.is_empty());
    }

    #[test]
    fn zero_tokens_add_no_bucket() {
        let mut t = TpmTracker::new();
        t.record(0, at(1, 0, 0));
        assert!(t.is_empty());
    }

    #[test]
    fn buckets_from_the_future_are_dropped() {
        let mut t = TpmTracker::new();
        t.record(100, at(5, 0, 0));
        assert_eq!(t.tpm(at(4, 0, 0)), 0);
        t.record(50, at(4, 0, 0));
        assert_eq!(t.bucket_count(), 1);
        assert_eq!(t.tpm(at(4, 0, 0)), 50);
    }

    #[test]
    fn serde_round_trip() {
        let mut t = TpmTracker::new();
        t.record(7, 120_000);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json, serde_json::json!({"buckets": [[2, 7]]}));
        assert_eq!(serde_json::from_value::<TpmTracker>(json).unwrap(), t);
    }
}
