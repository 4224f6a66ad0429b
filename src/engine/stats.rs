//! [`LbHealth`]: the breaker, TPM and counters of every backend of one
//! load-balancer profile, and the `/stats lb` report over them.
//!
//! The report's layout, which scripts and users read, byte for byte:
//!
//! ```text
//! Load Balancer Statistics
//! Profile: testlb489
//! Total Requests: 12
//!
//! Backend Metrics:
//!   synthetic
//!     Requests: 8
//!     Success Rate: 75.0%
//!     Avg Latency: 1456ms
//!     Tokens: 3200
//!     TPM: 640
//!
//!   groqgpt
//!     Requests: 0
//!     Success Rate: N/A
//!     Avg Latency: N/A
//!     Tokens: 0
//!     TPM: 0
//!
//! Circuit Breaker States:
//!   synthetic: open
//!   groqgpt: closed
//! ```

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::breaker::{BreakerState, CircuitBreaker};
use super::metrics::BackendMetrics;
use super::tpm::TpmTracker;
use crate::config::BreakerSettings;
use crate::provider::ErrorClass;

/// One backend as the engine sees it now: what the chat's status bar and the
/// gateway's `/healthz` and `/metrics` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackendStatus {
    pub(crate) name: String,
    pub(crate) breaker: BreakerState,
    /// Tokens per minute over the TPM window.
    pub(crate) tpm: u64,
}

/// Everything the engine remembers about one backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct BackendHealth {
    /// Its circuit breaker.
    pub breaker: CircuitBreaker,
    /// Its tokens per minute.
    pub tpm: TpmTracker,
    /// Its counters.
    pub(crate) metrics: BackendMetrics,
    /// Why it last gave up on a prompt, so a later "circuit breaker open" (in this
    /// run or the next one-shot run) can still name the real cause and class.
    pub(crate) last_failure: Option<LastFailure>,
    /// Until when (ms since the epoch) the backend is out of money or quota and
    /// skipped; cleared by the next answer it gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) quota_until_ms: Option<u64>,
    /// The budget its last response's rate-limit headers reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rate_limit: Option<crate::provider::ratelimit::RateLimit>,
    /// Its first-chunk time, for the `latency` policy.
    #[serde(skip_serializing_if = "super::latency::PeakEwma::is_unmeasured")]
    pub(crate) latency: super::latency::PeakEwma,
}

/// The last reason a backend gave up, with its class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LastFailure {
    /// The error's class.
    pub(crate) class: ErrorClass,
    /// What happened.
    pub(crate) reason: String,
}

impl BackendHealth {
    /// Drops breaker failures and TPM buckets that have left their windows.
    pub(crate) fn prune(&mut self, now_ms: u64, s: &BreakerSettings) {
        self.breaker.prune(now_ms, s);
        self.tpm.prune(now_ms);
        if self.quota_until_ms.is_some_and(|until| until <= now_ms) {
            self.quota_until_ms = None;
        }
    }

    /// Until when the backend is skipped for its quota, if it is at `now_ms`.
    pub(crate) fn out_of_quota(&self, now_ms: u64) -> Option<u64> {
        self.quota_until_ms.filter(|&until| until > now_ms)
    }
}

/// The health of every backend of a load-balancer profile, in listed order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LbHealth {
    /// A `Vec` rather than a map: the listed order is the order shown, and profiles
    /// have a handful of backends.
    backends: Vec<(String, BackendHealth)>,
}

impl LbHealth {
    /// Fresh health for `names`, in that order. A name listed twice is one backend.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut backends: Vec<(String, BackendHealth)> = Vec::new();
        for name in names {
            let name = name.into();
            if !backends.iter().any(|(n, _)| *n == name) {
                backends.push((name, BackendHealth::default()));
            }
        }
        Self { backends }
    }

    /// The health of backend `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&BackendHealth> {
        self.backends
            .iter()
            .find_map(|(n, h)| (n == name).then_some(h))
    }

    /// The health of backend `name`, to record into.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut BackendHealth> {
        self.backends
            .iter_mut()
            .find_map(|(n, h)| (n == name).then_some(h))
    }

    /// Backends and their health, in listed order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &BackendHealth)> {
        self.backends.iter().map(|(n, h)| (n.as_str(), h))
    }

    /// How many backends are tracked.
    pub(crate) fn len(&self) -> usize {
        self.backends.len()
    }

    #[cfg(test)]
    /// True when no backend is tracked.
    pub(crate) fn is_empty(&self) -> bool {
        self.backends.is_empty()
    }

    /// Requests over all backends ("Total Requests").
    pub(crate) fn total_requests(&self) -> u64 {
        self.backends
            .iter()
            .fold(0, |sum, (_, h)| sum.saturating_add(h.metrics.requests))
    }

    /// Prunes every backend (see [`BackendHealth::prune`]).
    pub(crate) fn prune(&mut self, now_ms: u64, s: &BreakerSettings) {
        for (_, health) in &mut self.backends {
            health.prune(now_ms, s);
        }
    }

    /// The `/stats lb` report for profile `profile` at `now_ms` (see the module docs).
    /// Ends with a newline; no line has trailing spaces.
    pub(crate) fn render_stats(&self, profile: &str, now_ms: u64, s: &BreakerSettings) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "Load Balancer Statistics\nProfile: {profile}");
        let total = self.total_requests();
        let _ = writeln!(out, "Total Requests: {total}\n\nBackend Metrics:");
        for (i, (name, health)) in self.backends.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let m = &health.metrics;
            let rate = m
                .success_rate()
                .map_or_else(|| "N/A".to_string(), |r| format!("{:.1}%", r * 100.0));
            let latency = m
                .avg_latency_ms()
                .map_or_else(|| "N/A".to_string(), |ms| format!("{ms}ms"));
            let (requests, tokens, tpm) = (m.requests, m.tokens, health.tpm.tpm(now_ms));
            let _ = writeln!(
                out,
                "  {name}\n    Requests: {requests}\n    Success Rate: {rate}"
            );
            let _ = writeln!(
                out,
                "    Avg Latency: {latency}\n    Tokens: {tokens}\n    TPM: {tpm}"
            );
        }
        out.push_str("\nCircuit Breaker States:\n");
        for (name, health) in &self.backends {
            let state = health.breaker.state(now_ms, s);
            let mut notes = Vec::new();
            if let Some(until) = health.out_of_quota(now_ms) {
                let at = super::decide::utc_time(until);
                notes.push(format!("out of quota until {at} UTC"));
            }
            if let Some(budget) = health.rate_limit.and_then(|l| budget_note(&l, now_ms)) {
                notes.push(budget);
            }
            if notes.is_empty() {
                let _ = writeln!(out, "  {name}: {state}");
            } else {
                let _ = writeln!(out, "  {name}: {state} ({})", notes.join("; "));
            }
        }
        out
    }
}

/// `rate limit: 12 requests, 4000 tokens left until 12:00:05 UTC`, while a reported
/// budget has not reset yet.
fn budget_note(limit: &crate::provider::ratelimit::RateLimit, now_ms: u64) -> Option<String> {
    let pending = |reset: Option<u64>| reset.filter(|&r| r > now_ms);
    let mut parts = Vec::new();
    let mut until = None;
    if let (Some(n), Some(reset)) = (limit.requests_remaining, pending(limit.requests_reset_ms)) {
        parts.push(format!("{n} requests"));
        until = Some(reset);
    }
    if let (Some(n), Some(reset)) = (limit.tokens_remaining, pending(limit.tokens_reset_ms)) {
        parts.push(format!("{n} tokens"));
        until = Some(until.map_or(reset, |u: u64| u.max(reset)));
    }
    let until = until?;
    Some(format!(
        "rate limit: {} left until {} UTC",
        parts.join(", "),
        super::decide::utc_time(until)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::breaker::tests::settings;
    use crate::engine::breaker::{Admission, BreakerState};
    use pretty_assertions::assert_eq;

    const MINUTE: u64 = 60_000;

    /// The module docs' example, built through the recording API: synthetic answered
    /// six of eight attempts over five minutes then failed twice (threshold 2);
    /// chutes answered four over two minutes; groqgpt was never used.
    fn reference_health(now: u64, s: &BreakerSettings) -> LbHealth {
        let mut lb = LbHealth::new(["synthetic", "chutes", "groqgpt"]);
        let syn = lb.get_mut("synthetic").unwrap();
        let answers = [
            (4, 1200, 500),
            (3, 1500, 500),
            (2, 1700, 600),
            (1, 1400, 600),
            (0, 1436, 500),
            (0, 1500, 500),
        ];
        for (minutes_ago, latency, tokens) in answers {
            let at = now - minutes_ago * MINUTE;
            syn.metrics.record_success(latency, tokens);
            syn.tpm.record(tokens, at);
            syn.breaker.record_success("synthetic", at, s);
        }
        for _ in 0..2 {
            syn.metrics.record_failure(true);
            syn.breaker.record_failure("synthetic", now, s);
        }
        let chutes = lb.get_mut("chutes").unwrap();
        for (minutes_ago, latency, tokens) in [(1, 900, 400), (1, 1000, 500), (0, 1020, 450)] {
            chutes.metrics.record_success(latency, tokens);
            chutes.tpm.record(tokens, now - minutes_ago * MINUTE);
        }
        chutes.metrics.record_success(1000, 450);
        chutes.tpm.record(450, now);
        lb
    }

    #[test]
    fn renders_the_reference_report_exactly() {
        let s = settings(2, 60_000, 30_000);
        // Mid-minute, so "minutes ago" stay inside their minute.
        let now = 1_700_000_000_000 / MINUTE * MINUTE + 30_000;
        let lb = reference_health(now, &s);
        assert_eq!(lb.total_requests(), 12);
        let expected = "\
Load Balancer Statistics
Profile: testlb489
Total Requests: 12

Backend Metrics:
  synthetic
    Requests: 8
    Success Rate: 75.0%
    Avg Latency: 1456ms
    Tokens: 3200
    TPM: 640

  chutes
    Requests: 4
    Success Rate: 100.0%
    Avg Latency: 980ms
    Tokens: 1800
    TPM: 900

  groqgpt
    Requests: 0
    Success Rate: N/A
    Avg Latency: N/A
    Tokens: 0
    TPM: 0

Circuit Breaker States:
  synthetic: open
  chutes: closed
  groqgpt: closed
";
        assert_eq!(lb.render_stats("testlb489", now, &s), expected);
    }

    #[test]
    fn renders_unused_backends_and_half_open() {
        let s = settings(1, 60_000, 10_000);
        let mut lb = LbHealth::new(["a", "b"]);
        let a = lb.get_mut("a").unwrap();
        a.metrics.record_failure(false);
        a.breaker.record_failure("a", 0, &s);
        a.breaker.admit("a", 10_000, &s);
        let expected = "\
Load Balancer Statistics
Profile: p
Total Requests: 1

Backend Metrics:
  a
    Requests: 1
    Success Rate: 0.0%
    Avg Latency: N/A
    Tokens: 0
    TPM: 0

  b
    Requests: 0
    Success Rate: N/A
    Avg Latency: N/A
    Tokens: 0
    TPM: 0

Circuit Breaker States:
  a: half-open
  b: closed
";
        let text = lb.render_stats("p", 10_000, &s);
        assert_eq!(text, expected);
        assert!(text.lines().all(|l| l == l.trim_end()));
    }

    #[test]
    fn tpm_shown_decays_with_time() {
        let s = settings(2, 60_000, 30_000);
        let now = 1_700_000_000_000 / MINUTE * MINUTE + 30_000;
        let lb = reference_health(now, &s);
        let later = lb.render_stats("testlb489", now + 10 * MINUTE, &s);
        assert!(later.contains("    Tokens: 3200\n    TPM: 0\n"));
    }

    #[test]
    fn names_keep_listed_order_and_duplicates_merge() {
        let lb = LbHealth::new(["b", "a", "b"]);
        assert_eq!(
            lb.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            vec!["b", "a"]
        );
        assert_eq!(lb.len(), 2);
        assert!(lb.get("c").is_none());
        assert!(LbHealth::new(Vec::<String>::new()).is_empty());
    }

    /// Simulates 1,000,000 requests over about eleven simulated hours through a
    /// backend's breaker, TPM and counters, with failure bursts that open the breaker
    /// again and again, and checks after every step that memory stays bounded.
    #[test]
    fn tpm_and_breaker_stay_bounded_over_a_million_requests() {
        let s = settings(3, 60_000, 30_000);
        let mut health = BackendHealth::default();
        // A small LCG: deterministic, no dependency.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            seed >> 33
        };
        let start = 1_765_500_000_000;
        let mut now = start;
        let (mut probes, mut opened) = (0u64, 0u64);
        for i in 0..1_000_000u64 {
            now += 20 + next() % 60;
            // Every tenth simulated minute the backend is down for a minute.
            let down = ((now - start) / MINUTE).is_multiple_of(10);
            match health.breaker.admit("b", now, &s) {
                Admission::Rejected => {}
                admission @ (Admission::Allowed | Admission::Probe) => {
                    if admission == Admission::Probe {
                        probes += 1;
                    }
                    if down || next() % 100 == 0 {
                        health.metrics.record_failure(i % 2 == 0);
                        let was_open = health.breaker.state(now, &s) == BreakerState::Open;
                        health.breaker.record_failure("b", now, &s);
                        if !was_open && health.breaker.state(now, &s) == BreakerState::Open {
                            opened += 1;
                        }
                    } else {
                        let tokens = 50 + next() % 500;
                        health.metrics.record_success(200 + next() % 2000, tokens);
                        health.tpm.record(tokens, now);
                        health.breaker.record_success("b", now, &s);
                    }
                }
            }
            assert!(health.tpm.bucket_count() <= 6, "step {i}");
            assert!(health.breaker.failures().len() <= 3, "step {i}");
        }
        assert!(now - start > 10 * 60 * MINUTE, "simulated hours");
        assert!(
            opened > 50 && probes > 50,
            "opened {opened}, probes {probes}"
        );
        assert!(health.metrics.requests > 500_000);
        assert!(health.tpm.tpm(now) > 0);
    }
}
