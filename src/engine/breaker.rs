//! [`CircuitBreaker`]: stops sending requests to a backend that keeps failing, and
//! lets exactly one request test it again after a pause.
//!
//! ```text
//!            threshold failures            recovery timeout passed,
//!            within the window             next admit() becomes the probe
//!   closed ─────────────────────► open ─────────────────────────────► half-open
//!     ▲                             ▲                                      │
//!     │ probe succeeds              │ probe fails (fresh recovery window)  │
//!     └─────────────────────────────┴──────────────────────────────────────┘
//! ```
//!
//! The breaker is plain data: every method takes the time (`now_ms`, from
//! [`now_ms`](super::clock::now_ms)) and the [`BreakerSettings`] as arguments, so it
//! can be tested without a clock and persisted between runs. The backend's name is
//! passed only for the log lines, which are byte-exact (scripts grep them; the text
//! lives in `markers.rs`):
//!
//! ```text
//! [circuit-breaker] X: Marked unhealthy (N failures in window)
//! [circuit-breaker] X: State = open
//! [circuit-breaker] X: Testing recovery (half-open)
//! [circuit-breaker] X: Recovered (state = closed)
//! ```
//!
//! Memory stays bounded: failure timestamps older than the window are pruned on every
//! failure, and at most `failure_threshold` of them are kept (more could not change
//! any decision). A disabled breaker admits everything and records nothing.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::markers;
use crate::config::BreakerSettings;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// Healthy: requests go through.
    #[default]
    Closed,
    /// Unhealthy: requests are refused until the recovery timeout passes.
    Open,
    /// Recovering: one probe request is allowed; its outcome decides.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        })
    }
}

/// The answer of [`CircuitBreaker::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Send the request as usual.
    Allowed,
    /// Send the request as the recovery probe: report its outcome with
    /// [`CircuitBreaker::record_success`], [`CircuitBreaker::record_failure`] or, if
    /// it was cancelled, [`CircuitBreaker::release_probe`].
    Probe,
    /// Skip this backend.
    Rejected,
}

/// One backend's circuit breaker. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CircuitBreaker {
    state: BreakerState,
    /// Failure times (ms since the epoch), oldest first, within the window.
    failures: VecDeque<u64>,
    /// When the breaker last opened.
    opened_at_ms: Option<u64>,
    /// A half-open breaker has let its one probe through.
    probe_in_flight: bool,
    /// When that probe was sent, so one left by a process that died can be given
    /// back (see [`release_stale_probe`](Self::release_stale_probe)).
    #[serde(skip_serializing_if = "Option::is_none")]
    probe_since_ms: Option<u64>,
}

impl CircuitBreaker {
    /// A closed breaker with no failures.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether [`admit`](Self::admit) would let a request through now, without
    /// changing anything: closed → yes; open → only once the recovery timeout has
    /// passed; half-open → only while no probe is in flight.
    pub(crate) fn would_admit(&self, now_ms: u64, s: &BreakerSettings) -> bool {
        if !s.enabled {
            return true;
        }
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => self.recovery_elapsed(now_ms, s),
            BreakerState::HalfOpen => !self.probe_in_flight,
        }
    }

    /// Asks to send a request. An open breaker whose recovery timeout has passed turns
    /// half-open and returns [`Admission::Probe`]; until that probe is reported, every
    /// other caller gets [`Admission::Rejected`], so there is exactly one probe per
    /// recovery window.
    pub(crate) fn admit(&mut self, name: &str, now_ms: u64, s: &BreakerSettings) -> Admission {
        if !s.enabled {
            return Admission::Allowed;
        }
        match self.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open if self.recovery_elapsed(now_ms, s) => {
                self.state = BreakerState::HalfOpen;
                self.start_probe(name, now_ms)
            }
            BreakerState::Open => Admission::Rejected,
            // Half-open without a probe in flight: the last probe was released.
            BreakerState::HalfOpen if !self.probe_in_flight => self.start_probe(name, now_ms),
            BreakerState::HalfOpen => Admission::Rejected,
        }
    }

    /// Reports a request that succeeded. The probe's success closes the breaker; in
    /// the closed state a success clears the failures counted so far. An open breaker
    /// stays open (a late success of a request admitted before it opened does not
    /// outweigh the failures that opened it; the probe decides).
    pub(crate) fn record_success(&mut self, name: &str, now_ms: u64, s: &BreakerSettings) {
        // The time is unused today; every report takes it so callers need not care.
        let _ = now_ms;
        if !s.enabled {
            return;
        }
        match self.state {
            BreakerState::HalfOpen => {
                *self = Self::new();
                markers::breaker_recovered(name);
            }
            BreakerState::Closed => self.failures.clear(),
            BreakerState::Open => {}
        }
    }

    /// Reports a request that the backend gave up on. A closed breaker opens when
    /// `failure_threshold` failures fall within the window; a failed probe opens it
    /// again with a fresh recovery window. Failures reported while open (late results
    /// of requests admitted earlier) are counted but do not extend the wait.
    pub fn record_failure(&mut self, name: &str, now_ms: u64, s: &BreakerSettings) {
        if !s.enabled {
            return;
        }
        self.prune(now_ms, s);
        self.failures.push_back(now_ms);
        let cap = threshold(s);
        while self.failures.len() > cap {
            self.failures.pop_front();
        }
        match self.state {
            BreakerState::Closed if self.failures.len() >= cap => {
                markers::breaker_marked_unhealthy(name, self.failures.len());
                self.open(name, now_ms);
            }
            BreakerState::Closed | BreakerState::Open => {}
            BreakerState::HalfOpen => self.open(name, now_ms),
        }
    }

    /// Reports that the probe ended with neither success nor failure (cancelled): the
    /// breaker stays half-open and the next [`admit`](Self::admit) becomes the probe.
    pub(crate) fn release_probe(&mut self) {
        self.probe_in_flight = false;
        self.probe_since_ms = None;
    }

    /// The state to show (`/stats lb`). The stored state is shown as it is: an open
    /// breaker whose recovery timeout has passed still shows `open` until a request
    /// actually probes it, as in llxprt, because `half-open` means a probe is allowed
    /// or under way. A disabled breaker shows `closed`, since it admits everything.
    pub(crate) fn state(&self, now_ms: u64, s: &BreakerSettings) -> BreakerState {
        // Taken so the display rule can change without touching callers.
        let _ = now_ms;
        if s.enabled {
            self.state
        } else {
            BreakerState::Closed
        }
    }

    #[cfg(test)]
    /// Failure times kept (within the window as of the last prune), oldest first.
    pub(crate) fn failures(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.failures.iter().copied()
    }

    /// When the breaker last opened, if it is open or half-open.
    pub(crate) fn opened_at_ms(&self) -> Option<u64> {
        self.opened_at_ms
    }

    /// Gives back a probe sent at least `limit_ms` ago (or at an unknown time): its
    /// process must have ended without reporting, and holding it would shut the
    /// backend out for good. A probe another live process holds is kept.
    pub(crate) fn release_stale_probe(&mut self, now_ms: u64, limit_ms: u64) {
        let stale = self
            .probe_since_ms
            .is_none_or(|since| now_ms < since || now_ms - since >= limit_ms);
        if self.probe_in_flight && stale {
            self.release_probe();
        }
    }

    #[cfg(test)]
    /// Whether the recovery probe is under way.
    pub(crate) fn probe_in_flight(&self) -> bool {
        self.probe_in_flight
    }

    /// Drops failures outside the window (and any "in the future", left by a wall
    /// clock that went back between runs) and keeps at most `failure_threshold`.
    pub(crate) fn prune(&mut self, now_ms: u64, s: &BreakerSettings) {
        let window = millis(s.failure_window);
        self.failures
            .retain(|&t| t <= now_ms && now_ms - t < window);
        let cap = threshold(s);
        while self.failures.len() > cap {
            self.failures.pop_front();
        }
    }

    fn open(&mut self, name: &str, now_ms: u64) {
        self.state = BreakerState::Open;
        self.opened_at_ms = Some(now_ms);
        self.probe_in_flight = false;
        self.probe_since_ms = None;
        markers::breaker_open(name);
    }

    fn start_probe(&mut self, name: &str, now_ms: u64) -> Admission {
        self.probe_in_flight = true;
        self.probe_since_ms = Some(now_ms);
        markers::breaker_testing(name);
        Admission::Probe
    }

    fn recovery_elapsed(&self, now_ms: u64, s: &BreakerSettings) -> bool {
        // No opening time (a hand-edited state file) or one in the future (the wall
        // clock went back between runs): allow the probe rather than stay open forever.
        self.opened_at_ms
            .is_none_or(|opened| now_ms < opened || now_ms - opened >= millis(s.recovery_timeout))
    }
}

fn threshold(s: &BreakerSettings) -> usize {
    usize::try_from(s.failure_threshold.max(1)).unwrap_or(usize::MAX)
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use std::io;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    pub(crate) fn settings(threshold: u32, window_ms: u64, recovery_ms: u64) -> BreakerSettings {
        BreakerSettings {
            enabled: true,
            failure_threshold: threshold,
            failure_window: Duration::from_millis(window_ms),
            recovery_timeout: Duration::from_millis(recovery_ms),
        }
    }

    /// Collects formatted log lines for byte-exact comparison.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Runs `f` with a subscriber that prints bare messages, and returns the lines.
    fn logs(f: impl FnOnce()) -> Vec<String> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    /// Records `n` failures at `now`, `now + 1`, ...
    fn fail(b: &mut CircuitBreaker, n: u64, now: u64, s: &BreakerSettings) {
        for i in 0..n {
            b.record_failure("x", now + i, s);
        }
    }

    #[test]
    fn display_and_serde_names() {
        assert_eq!(BreakerState::Closed.to_string(), "closed");
        assert_eq!(BreakerState::Open.to_string(), "open");
        assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
        assert_eq!(
            serde_json::to_string(&BreakerState::HalfOpen).unwrap(),
            "\"half-open\""
        );
        assert_eq!(
            serde_json::from_str::<BreakerState>("\"open\"").unwrap(),
            BreakerState::Open
        );
    }

    #[test]
    fn opens_at_threshold_within_window() {
        let s = settings(3, 60_000, 30_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 1_000, &s);
        assert_eq!(b.state(1_002, &s), BreakerState::Closed);
        assert_eq!(b.admit("x", 1_002, &s), Admission::Allowed);
        b.record_failure("x", 50_000, &s);
        assert_eq!(b.state(50_000, &s), BreakerState::Open);
        assert_eq!(b.opened_at_ms(), Some(50_000));
        assert!(!b.would_admit(50_001, &s));
        assert_eq!(b.admit("x", 50_001, &s), Admission::Rejected);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let s = settings(3, 60_000, 30_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 0, &s);
        // 60 s after the first two: they have left the window.
        b.record_failure("x", 60_001, &s);
        assert_eq!(b.state(60_001, &s), BreakerState::Closed);
        assert_eq!(b.failures().collect::<Vec<_>>(), vec![60_001]);
        fail(&mut b, 2, 61_000, &s);
        assert_eq!(b.state(61_001, &s), BreakerState::Open);
    }

    #[test]
    fn success_while_closed_clears_failures() {
        let s = settings(3, 60_000, 30_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 0, &s);
        b.record_success("x", 10, &s);
        assert_eq!(b.failures().len(), 0);
        fail(&mut b, 2, 20, &s);
        assert_eq!(b.state(30, &s), BreakerState::Closed);
    }

    #[test]
    fn open_rejects_until_recovery_then_exactly_one_probe() {
        let s = settings(2, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 0, &s);
        let opened = 1;
        assert_eq!(b.admit("x", opened + 9_999, &s), Admission::Rejected);
        assert!(b.would_admit(opened + 10_000, &s));
        // Shown as open until someone actually probes.
        assert_eq!(b.state(opened + 10_000, &s), BreakerState::Open);
        assert_eq!(b.admit("x", opened + 10_000, &s), Admission::Probe);
        assert_eq!(b.state(opened + 10_000, &s), BreakerState::HalfOpen);
        assert!(b.probe_in_flight());
        assert!(!b.would_admit(opened + 10_001, &s));
        assert_eq!(b.admit("x", opened + 10_001, &s), Admission::Rejected);
        assert_eq!(b.admit("x", opened + 99_999, &s), Admission::Rejected);
    }

    #[test]
    fn probe_success_closes() {
        let s = settings(2, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 0, &s);
        assert_eq!(b.admit("x", 20_000, &s), Admission::Probe);
        b.record_success("x", 21_000, &s);
        assert_eq!(b, CircuitBreaker::new());
        assert_eq!(b.admit("x", 21_001, &s), Admission::Allowed);
        assert_eq!(b.admit("x", 21_002, &s), Admission::Allowed);
    }

    #[test]
    fn probe_failure_reopens_with_a_fresh_recovery_window() {
        let s = settings(2, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 0, &s);
        assert_eq!(b.admit("x", 20_000, &s), Admission::Probe);
        b.record_failure("x", 25_000, &s);
        assert_eq!(b.state(25_000, &s), BreakerState::Open);
        assert_eq!(b.opened_at_ms(), Some(25_000));
        assert!(!b.probe_in_flight());
        // The new window counts from the failed probe, not from the first opening.
        assert_eq!(b.admit("x", 34_999, &s), Admission::Rejected);
        assert_eq!(b.admit("x", 35_000, &s), Admission::Probe);
    }

    #[test]
    fn release_probe_lets_the_next_caller_probe() {
        let s = settings(2, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 0, &s);
        assert_eq!(b.admit("x", 20_000, &s), Admission::Probe);
        b.release_probe();
        assert_eq!(b.state(20_001, &s), BreakerState::HalfOpen);
        assert!(b.would_admit(20_001, &s));
        assert_eq!(b.admit("x", 20_001, &s), Admission::Probe);
        assert_eq!(b.admit("x", 20_002, &s), Admission::Rejected);
    }

    #[test]
    fn late_results_while_open() {
        let s = settings(2, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 0, &s);
        b.record_success("x", 5_000, &s);
        assert_eq!(b.state(5_000, &s), BreakerState::Open);
        b.record_failure("x", 6_000, &s);
        assert_eq!(b.opened_at_ms(), Some(1));
        assert_eq!(b.admit("x", 10_001, &s), Admission::Probe);
    }

    #[test]
    fn disabled_breaker_admits_everything_and_records_nothing() {
        let mut s = settings(1, 60_000, 10_000);
        s.enabled = false;
        let mut b = CircuitBreaker::new();
        let lines = logs(|| {
            fail(&mut b, 10, 0, &s);
            b.record_success("x", 20, &s);
        });
        assert!(lines.is_empty());
        assert_eq!(b, CircuitBreaker::new());
        assert!(b.would_admit(20, &s));
        assert_eq!(b.admit("x", 20, &s), Admission::Allowed);
        // A breaker opened while enabled is ignored (and shown closed) once disabled.
        let mut opened = CircuitBreaker::new();
        opened.record_failure("x", 0, &settings(1, 60_000, 10_000));
        assert_eq!(opened.admit("x", 1, &s), Admission::Allowed);
        assert_eq!(opened.state(1, &s), BreakerState::Closed);
    }

    #[test]
    fn failures_are_capped_at_the_threshold() {
        let s = settings(3, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 50, 0, &s);
        assert_eq!(b.failures().collect::<Vec<_>>(), vec![47, 48, 49]);
    }

    #[test]
    fn log_lines_are_byte_exact() {
        let s = settings(2, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        let lines = logs(|| {
            b.record_failure("synthetic", 0, &s);
            b.record_failure("synthetic", 1, &s);
            b.admit("synthetic", 5, &s);
            b.admit("synthetic", 10_001, &s);
            b.admit("synthetic", 10_002, &s);
            b.record_failure("synthetic", 10_003, &s);
            b.admit("synthetic", 20_003, &s);
            b.record_success("synthetic", 20_004, &s);
        });
        assert_eq!(
            lines,
            vec![
                "[circuit-breaker] synthetic: Marked unhealthy (2 failures in window)",
                "[circuit-breaker] synthetic: State = open",
                "[circuit-breaker] synthetic: Testing recovery (half-open)",
                "[circuit-breaker] synthetic: State = open",
                "[circuit-breaker] synthetic: Testing recovery (half-open)",
                "[circuit-breaker] synthetic: Recovered (state = closed)",
            ]
        );
    }

    #[test]
    fn serde_round_trip() {
        let s = settings(2, 60_000, 10_000);
        let mut b = CircuitBreaker::new();
        fail(&mut b, 2, 100, &s);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "state": "open", "failures": [100, 101],
                "opened_at_ms": 101, "probe_in_flight": false
            })
        );
        let back: CircuitBreaker = serde_json::from_value(json).unwrap();
        assert_eq!(back, b);
    }
}
