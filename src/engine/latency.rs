//! The `latency` policy's arithmetic: a peak-EWMA of each backend's time to first
//! chunk, and the power-of-two-choices pick over it (after tower's `balance::p2c` with
//! `PeakEwma`, and Helicone's gateway).
//!
//! Peak-sensitive: a sample above the estimate replaces it at once (a backend that
//! just got slow is avoided at once), a sample below pulls it down with a weight
//! that grows with the time since the last sample (a backend that recovered is
//! trusted again within a few decay periods). An estimate that gets no new samples
//! fades toward zero over [`IDLE_DECAY_MS`], so a backend once found slow is offered
//! again now and then and re-measured. Backends with no sample yet are tried first.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How fast old samples lose weight: after this long a new sample counts about 63%.
pub(crate) const DECAY_MS: f64 = 10_000.0;

/// How fast an estimate without new samples fades: after this long it is at 37%.
pub(crate) const IDLE_DECAY_MS: f64 = 30_000.0;

/// One backend's first-chunk latency estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PeakEwma {
    /// The estimate in ms; 0 with no sample yet.
    estimate_ms: f64,
    /// When the last sample arrived (Unix ms).
    at_ms: u64,
    /// Samples seen.
    samples: u64,
}

impl PeakEwma {
    /// Takes a first-chunk time of `sample_ms` seen at `now_ms`.
    pub(crate) fn observe(&mut self, sample_ms: f64, now_ms: u64) {
        let sample_ms = sample_ms.max(0.0);
        if self.samples == 0 || sample_ms > self.estimate_ms {
            self.estimate_ms = sample_ms;
        } else {
            let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
            let keep = (-elapsed / DECAY_MS).exp();
            self.estimate_ms = self.estimate_ms * keep + sample_ms * (1.0 - keep);
        }
        self.at_ms = self.at_ms.max(now_ms);
        self.samples += 1;
    }

    /// The estimate at `now_ms`, `None` before the first sample.
    pub(crate) fn estimate_ms(&self, now_ms: u64) -> Option<f64> {
        let idle = now_ms.saturating_sub(self.at_ms) as f64;
        (self.samples > 0).then(|| self.estimate_ms * (-idle / IDLE_DECAY_MS).exp())
    }

    /// No sample yet (nothing worth saving).
    pub(crate) fn is_unmeasured(&self) -> bool {
        self.samples == 0
    }
}

/// The order in which to offer a request under the `latency` policy: backends with no
/// estimate first (in listed order), then the better of two picked at random, then the
/// rest from fastest to slowest. `estimates[i]` is backend `i`'s estimate.
pub(crate) fn order(estimates: &[Option<f64>], rng: &mut impl Rng) -> Vec<usize> {
    let (mut unknown, mut known): (Vec<usize>, Vec<usize>) =
        (0..estimates.len()).partition(|&i| estimates[i].is_none());
    let cost = |i: usize| estimates[i].unwrap_or(0.0);
    let first = match known.len() {
        0 => None,
        1 => Some(known[0]),
        n => {
            let a = rng.random_range(0..n);
            let mut b = rng.random_range(0..n - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (known[a], known[b]);
            Some(if cost(b) < cost(a) { b } else { a })
        }
    };
    known.retain(|&i| Some(i) != first);
    known.sort_by(|&a, &b| cost(a).total_cmp(&cost(b)));
    unknown.extend(first);
    unknown.extend(known);
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn a_slower_sample_replaces_the_estimate_a_faster_one_decays_it() {
        let mut e = PeakEwma::default();
        assert_eq!(e.estimate_ms(0), None);
        e.observe(100.0, 0);
        e.observe(900.0, 1000);
        assert_eq!(e.estimate_ms(1000), Some(900.0), "peak: at once");
        e.observe(100.0, 1000);
        assert_eq!(
            e.estimate_ms(1000),
            Some(900.0),
            "no time passed: no weight"
        );
        let t = 1000 + DECAY_MS as u64;
        e.observe(100.0, t);
        let after = e.estimate_ms(t).unwrap_or_default();
        assert!((after - (900.0 * (-1f64).exp() + 100.0 * (1.0 - (-1f64).exp()))).abs() < 1e-6);
        for k in 2..10 {
            e.observe(100.0, 1000 + k * DECAY_MS as u64);
        }
        let t = 1000 + 9 * DECAY_MS as u64;
        assert!(
            e.estimate_ms(t).unwrap_or_default() < 101.0,
            "recovered: {e:?}"
        );
        let later = e.estimate_ms(t + IDLE_DECAY_MS as u64).unwrap_or_default();
        assert!(later < 40.0, "an idle estimate fades: {later}");
    }

    #[test]
    fn unknown_backends_come_first_then_the_better_of_two() {
        let mut rng = StdRng::seed_from_u64(7);
        let got = order(&[Some(50.0), None, Some(10.0), None], &mut rng);
        assert_eq!(&got[..2], &[1, 3], "explore first");
        assert_eq!(got.len(), 4);
        // With two known backends the pair is always both: the faster wins.
        assert_eq!(got[2], 2);
    }

    /// 1,000 requests, one slow and two fast backends: the slow one gets under 10%
    /// of first offers and is still measured now and then.
    #[test]
    fn the_slow_backend_gets_little_traffic_and_is_still_probed() {
        let mut rng = StdRng::seed_from_u64(42);
        let truth = [3000.0, 200.0, 250.0];
        let mut ewma = [PeakEwma::default(); 3];
        let mut first = [0u32; 3];
        for n in 0..1000u64 {
            let now = n * 500;
            let estimates: Vec<Option<f64>> = ewma.iter().map(|e| e.estimate_ms(now)).collect();
            let pick = order(&estimates, &mut rng)[0];
            first[pick] += 1;
            // Latency varies a little around each backend's truth.
            let jitter = rng.random_range(0.9..1.1);
            ewma[pick].observe(truth[pick] * jitter, now);
        }
        assert!(first[0] < 100, "slow backend got {} of 1000", first[0]);
        assert!(
            first[0] >= 3,
            "the slow backend is re-measured now and then: {first:?}"
        );
        assert!(first[1] + first[2] > 900, "{first:?}");
    }
}
