//! The engine's decision log: every byte-exact line, one function each.
//!
//! This is the one place scripts depend on. The acceptance and e2e scripts, the
//! fault matrix and users' own tooling grep these lines (`BATON_DEBUG=baton:*`)
//! byte for byte, so their text, and the tracing target each goes to (`baton::lb`,
//! `baton::breaker`, `baton::tpm`, which `BATON_DEBUG` namespaces select), must not
//! change. Anything else the engine logs is free-form.

use std::fmt::Display;
use std::time::Duration;

use super::millis;

/// `[LB:failover] Trying backend: X (attempt N/M)`
pub(super) fn trying(backend: &str, attempt: u32, of: u32) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] Trying backend: {backend} (attempt {attempt}/{of})"
    );
}

/// `[LB:failover] Success on backend: X`
pub(super) fn success(backend: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] Success on backend: {backend}"
    );
}

/// `[LB:failover] X failed: 401 Unauthorized`, for an error that is not retried.
pub(super) fn failed(backend: &str, headline: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] {backend} failed: {headline}"
    );
}

/// `[LB:failover] X failed after N attempts: ERROR` (`1 attempt` for one).
pub(super) fn failed_after(backend: &str, attempts: u32, error: &dyn Display) {
    let plural = if attempts == 1 { "" } else { "s" };
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] {backend} failed after {attempts} attempt{plural}: {error}"
    );
}

/// `[LB:failover] X attempt N/M failed: ERROR; retrying in Dms`
pub(super) fn retrying(backend: &str, attempt: u32, of: u32, error: &dyn Display, wait: Duration) {
    let wait = millis(wait);
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] {backend} attempt {attempt}/{of} failed: {error}; retrying in {wait}ms"
    );
}

/// `[LB:failover] X interrupted mid-answer: REASON`
pub(super) fn interrupted(backend: &str, reason: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] {backend} interrupted mid-answer: {reason}"
    );
}

/// `[LB:ratelimit] X: N tokens left until HH:MM:SS, skipping`
pub(super) fn rate_limited(backend: &str, tokens_left: u64, until: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:ratelimit] {backend}: {tokens_left} tokens left until {until}, skipping"
    );
}

/// `[LB:quota] X: out of money or quota until HH:MM:SS UTC, skipping`
pub(super) fn out_of_quota(backend: &str, until: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:quota] {backend}: out of money or quota until {until} UTC, skipping"
    );
}

/// `[LB:latency] X first: ~Nms to a first chunk` (or `not measured yet`).
pub(super) fn latency_pick(backend: &str, estimate_ms: Option<f64>) {
    match estimate_ms {
        Some(ms) => tracing::debug!(
            target: "baton::lb",
            "[LB:latency] {backend} first: ~{ms:.0}ms to a first chunk"
        ),
        None => tracing::debug!(
            target: "baton::lb",
            "[LB:latency] {backend} first: not measured yet"
        ),
    }
}

/// `[LB:wait] every backend is cooling down; waiting Nms for X`
pub(super) fn waiting_for_recovery(backend: &str, wait_ms: u64) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:wait] every backend is cooling down; waiting {wait_ms}ms for {backend}"
    );
}

/// `[LB:rescue] X broke mid-answer before anything was shown: REASON`
pub(super) fn rescuing(backend: &str, reason: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:rescue] {backend} broke mid-answer before anything was shown: {reason}"
    );
}

/// `[LB:failover] Skipping unhealthy backend: X`
pub(super) fn skipping_unhealthy(backend: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] Skipping unhealthy backend: {backend}"
    );
}

/// `[LB:timeout] X: Request exceeded Nms`, then
/// `[LB:failover] X: Backend timeout (Ams > Nms), failing over`.
pub(super) fn timed_out(backend: &str, elapsed: Duration, limit: Duration) {
    // Rounded up: the timer fires a little after the limit, and a floor would print
    // the contradiction `(1000ms > 1000ms)`.
    let elapsed = u64::try_from(elapsed.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
    let limit = millis(limit);
    tracing::debug!(
        target: "baton::lb",
        "[LB:timeout] {backend}: Request exceeded {limit}ms"
    );
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] {backend}: Backend timeout ({elapsed}ms > {limit}ms), failing over"
    );
}

/// `[LB:tpm] X: Current TPM = N`
pub(super) fn current_tpm(backend: &str, tpm: u64) {
    tracing::debug!(
        target: "baton::tpm",
        "[LB:tpm] {backend}: Current TPM = {tpm}"
    );
}

/// `[LB:failover] X: TPM (N) below threshold (T), failing over`
pub(super) fn tpm_below(backend: &str, tpm: u64, threshold: u64) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:failover] {backend}: TPM ({tpm}) below threshold ({threshold}), failing over"
    );
}

/// `[LB:roundrobin] Selected sub-profile: X`
pub(super) fn roundrobin_selected(backend: &str) {
    tracing::debug!(
        target: "baton::lb",
        "[LB:roundrobin] Selected sub-profile: {backend}"
    );
}

/// `[LB:pool] No active member in pool 'K' (pinned: P)`; the text after the tag is
/// also the pool's reason in the exhausted error, so it is built here.
pub(super) fn pool_empty(key: &str, pinned: &str) -> String {
    let reason = format!("No active member in pool '{key}' (pinned: {pinned})");
    tracing::debug!(
        target: "baton::lb",
        "[LB:pool] {reason}"
    );
    reason
}

thread_local! {
    /// Set while health changes are replayed (or tried on a copy): their markers
    /// were said when they first happened.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` without the breaker's markers.
pub(super) fn quietly<T>(f: impl FnOnce() -> T) -> T {
    let before = QUIET.with(|q| q.replace(true));
    let out = f();
    QUIET.with(|q| q.set(before));
    out
}

fn quiet() -> bool {
    QUIET.with(std::cell::Cell::get)
}

/// `[circuit-breaker] X: Marked unhealthy (N failures in window)`
pub(super) fn breaker_marked_unhealthy(backend: &str, failures: usize) {
    if quiet() {
        return;
    }
    tracing::debug!(
        target: "baton::breaker",
        "[circuit-breaker] {backend}: Marked unhealthy ({failures} failures in window)"
    );
}

/// `[circuit-breaker] X: State = open`
pub(super) fn breaker_open(backend: &str) {
    if quiet() {
        return;
    }
    tracing::debug!(
        target: "baton::breaker",
        "[circuit-breaker] {backend}: State = open"
    );
}

/// `[circuit-breaker] X: Testing recovery (half-open)`
pub(super) fn breaker_testing(backend: &str) {
    if quiet() {
        return;
    }
    tracing::debug!(
        target: "baton::breaker",
        "[circuit-breaker] {backend}: Testing recovery (half-open)"
    );
}

/// `[circuit-breaker] X: Recovered (state = closed)`
pub(super) fn breaker_recovered(backend: &str) {
    if quiet() {
        return;
    }
    tracing::debug!(
        target: "baton::breaker",
        "[circuit-breaker] {backend}: Recovered (state = closed)"
    );
}
