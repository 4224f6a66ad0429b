//! The failover engine: hands a prompt to a backend and moves on when one is
//! slow, failing or refusing.
//!
//! [`Engine::run`] returns a stream of [`EngineEvent`]s that both consumers (the
//! one-shot printer and the interactive UI) read; the engine itself never touches
//! the terminal. The rules (`docs/failover.md` tells them to users):
//! - the first chunk must arrive within `timeout_ms`, later chunks within
//!   `stream_idle_timeout_ms`;
//! - a *transient* error is retried on the same backend (`attempt n/M`, waiting
//!   `failover_retry_delay_ms` or the provider's `Retry-After` up to a cap), then the
//!   engine fails over; an *auth* error fails over at once; a *request* error fails
//!   over only to backends that differ in provider, base URL or model;
//! - once a chunk has been shown the backend owns the answer: a later stall or cut
//!   ends it as [`EngineEvent::Interrupted`], never as a complete answer.
//!
//! Deciding is kept apart from doing:
//! - `decide.rs` is pure: `plan` judges each backend of the order by its breaker
//!   and TPM, `next_step` turns how an attempt ended into retry, fail over or
//!   commit. Both are tested row by row, without a clock or a provider.
//! - `run.rs` drives: it walks the plan, takes a `probe::Ticket` from each
//!   backend's breaker, runs attempts (`attempt.rs`: first-chunk timeout, idle
//!   tail, usage) and acts on `next_step`, sending events through `events.rs`'s
//!   one-slot channel. The stream polls the driver itself, so dropping it cancels
//!   the request in flight and gives back a half-open probe.
//! - `markers.rs` holds every byte-exact log line that scripts grep.
//! - Breaker, TPM, metrics and their persistence (`breaker.rs`, `tpm.rs`,
//!   `metrics.rs`, `stats.rs`, `state.rs`) are plain data taking `now`.
//!
//! All timing goes through `tokio::time`, so tests run under a paused clock.

mod attempt;
mod breaker;
mod build;
pub(crate) mod clock;
mod decide;
mod events;
mod exhausted;
mod journal;
pub(crate) mod latency;
mod markers;
mod metrics;
mod policy;
mod probe;
mod run;
pub mod state;
mod stats;
mod tpm;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::Stream;
use serde::Serialize;

pub use breaker::BreakerState;
pub(crate) use build::BuildError;
pub use build::build_engine;
pub use clock::now_ms;
pub(crate) use decide::Verdict;
pub(crate) use exhausted::{exhausted_message, recovery_message, retry_later};
pub(crate) use policy::{PoolLabel, Route};
pub use stats::LbHealth;
pub(crate) use stats::{BackendStatus, LastFailure};

use crate::config::LbSettings;
use crate::profile::Policy;
use crate::provider::{ChatRequest, ErrorClass, Finish, Provider, ProviderError, ToolCall, Usage};

/// One backend the engine can hand a prompt to: a model profile made live.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The profile name, as logs and stats show it.
    pub name: String,
    /// The provider as written in the profile (`openai`, `groq`, `sim`, ...).
    pub provider_name: String,
    /// The model asked for.
    pub model: String,
    /// Where requests go (empty for `sim`).
    pub base_url: String,
    /// Whether this backend streams (`streaming` setting).
    pub streaming: bool,
    /// The live provider, or why it could not be built (a missing key, say): that
    /// error is this backend's answer to every attempt, so the others still serve.
    pub provider: Result<Arc<dyn Provider>, ProviderError>,
}

impl Backend {
    /// Backends with the same identity fail the same way on a request error.
    fn same_target(&self, other: &Backend) -> bool {
        self.provider_name == other.provider_name
            && self.base_url == other.base_url
            && self.model == other.model
    }
}

/// Where an answer came from and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The backend (profile name) that answered.
    pub backend: String,
    /// Its provider.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Attempts made for this answer across all backends.
    pub attempts: u32,
    /// Backends given up on before this one answered.
    pub failovers: u32,
    /// From the prompt to the last chunk.
    pub latency_ms: u64,
    /// From the start of the answering attempt to its first chunk.
    pub first_chunk_ms: u64,
    /// Token counts.
    pub usage: Usage,
}

/// Why a backend was given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendFailure {
    /// The backend's name.
    pub backend: String,
    /// The error's class.
    pub class: ErrorClass,
    /// What happened, in words.
    pub reason: String,
}

/// What the engine tells its consumers while it works.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEvent {
    /// An attempt on a backend begins.
    AttemptStarted {
        /// The backend.
        backend: String,
        /// This attempt's number, from 1.
        attempt: u32,
        /// Attempts allowed on this backend.
        of: u32,
    },
    /// Answer text to show.
    Delta {
        /// The text.
        text: String,
    },
    /// The model's reasoning, shown apart from the answer.
    Reasoning {
        /// The text.
        text: String,
    },
    /// A tool call the answer asks for (baton does not run tools).
    ToolCall {
        /// The call.
        call: ToolCall,
    },
    /// Token counts of the answer, just before it completes.
    Usage {
        /// The counts.
        usage: Usage,
    },
    /// An attempt failed before any text was shown.
    AttemptFailed {
        /// The backend.
        backend: String,
        /// The error's class.
        class: ErrorClass,
        /// What happened.
        detail: String,
        /// Whether the engine will try this backend again.
        will_retry: bool,
    },
    /// A backend was passed over without an attempt.
    Skipped {
        /// The backend.
        backend: String,
        /// Why.
        why: String,
    },
    /// A backend's circuit breaker changed state (opened, went half-open to probe,
    /// closed again).
    Breaker {
        /// The backend.
        backend: String,
        /// Its new state.
        state: BreakerState,
    },
    /// The answer is over, as the provider said: complete, or truncated, filtered,
    /// refused or asking for tools.
    Done {
        /// Where it came from.
        provenance: Provenance,
        /// How it ended.
        finish: Finish,
    },
    /// The answer broke after text was shown: it is not complete.
    Interrupted {
        /// Where the partial answer came from.
        provenance: Provenance,
        /// What broke.
        reason: String,
    },
    /// Every backend was tried and none answered.
    Exhausted {
        /// Each backend and its last reason, in the order tried.
        reasons: Vec<BackendFailure>,
    },
}

/// Hands prompts to backends. Cheap to clone; clones share routing state.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    profile: String,
    backends: Vec<Backend>,
    settings: LbSettings,
    route: Route,
    pools: Vec<PoolLabel>,
    /// Breakers, TPM and metrics per backend; shared by every run of this engine.
    health: Mutex<LbHealth>,
    /// Where health is persisted after each prompt (load-balancer profiles only).
    state_dir: Mutex<Option<PathBuf>>,
    /// Changes since health was last written, replayed onto the file's state.
    journal: Mutex<Vec<journal::Op>>,
    /// The `latency` policy's two random choices (seeded by `BATON_SEED`).
    latency_rng: Mutex<rand::rngs::StdRng>,
}

/// `Some(after)` when a breaker moved.
fn changed(before: BreakerState, after: BreakerState) -> Option<BreakerState> {
    (before != after).then_some(after)
}

/// Whole milliseconds, saturating.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Locks a mutex, recovering the data if a panic poisoned it: health counters
/// are still meaningful after a panicked prompt.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn health(&self) -> MutexGuard<'_, LbHealth> {
        lock(&self.health)
    }

    fn last_failure(&self, backend: &str) -> Option<LastFailure> {
        self.health()
            .get(backend)
            .and_then(|h| h.last_failure.clone())
    }

    /// Applies `op` to health now and keeps it for the state file, if persisting.
    fn record(&self, op: journal::Op) -> Option<BreakerState> {
        let change = journal::apply(&mut self.health(), &op, &self.settings.breaker);
        if self.is_persistent() {
            lock(&self.journal).push(op);
        }
        change
    }

    fn is_persistent(&self) -> bool {
        lock(&self.state_dir).is_some()
    }

    /// Records a complete answer; returns the breaker's new state if it changed.
    fn record_success(
        &self,
        backend: &str,
        latency_ms: u64,
        first_chunk_ms: u64,
        tokens: u64,
    ) -> Option<BreakerState> {
        self.record(journal::Op::Success {
            backend: backend.to_string(),
            latency_ms,
            first_chunk_ms,
            tokens,
            now: now_ms(),
        })
    }

    fn record_attempt_failure(&self, backend: &str, timeout: bool) {
        self.record(journal::Op::AttemptFailure {
            backend: backend.to_string(),
            timeout,
            waited_ms: timeout.then(|| millis(self.settings.timeout)),
            now: now_ms(),
        });
    }

    /// A backend gave up on the prompt; the breaker counts it unless the request
    /// itself was at fault or the backend is out of quota (skipped for the quota
    /// cooldown instead, or for as long as the provider asked). Returns the breaker's
    /// new state if it changed.
    fn record_give_up(
        &self,
        backend: &str,
        class: ErrorClass,
        reason: &str,
        retry_after: Option<std::time::Duration>,
    ) -> Option<BreakerState> {
        self.record(journal::Op::GiveUp {
            backend: backend.to_string(),
            class,
            reason: reason.to_string(),
            quota_wait: retry_after.unwrap_or(self.settings.quota_cooldown),
            now: now_ms(),
        })
    }

    /// A response reported its backend's budget.
    fn record_rate_limit(&self, backend: &str, limit: crate::provider::ratelimit::RateLimit) {
        self.record(journal::Op::RateLimit {
            backend: backend.to_string(),
            limit,
        });
    }

    /// A probe was cancelled: the next caller may probe.
    fn release_probe(&self, backend: &str) {
        self.record(journal::Op::ReleaseProbe {
            backend: backend.to_string(),
        });
    }

    /// How old a probe must be before it counts as abandoned by a process that
    /// ended without reporting: a whole recovery window past the first-chunk timeout.
    fn stale_probe_ms(&self) -> u64 {
        millis(self.settings.breaker.recovery_timeout).saturating_add(millis(self.settings.timeout))
    }

    /// Runs `change` on the state file's contents under its lock, after replaying this
    /// engine's unsaved changes onto them; health in memory becomes the result. `None`
    /// when not persisting or the file could not be written (a warning says why).
    async fn update_shared<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut state::Shared) -> T + Send + 'static,
    ) -> Option<T> {
        let dir = lock(&self.state_dir).clone()?;
        let ops = std::mem::take(&mut *lock(&self.journal));
        let names: Vec<String> = self.backends.iter().map(|b| b.name.clone()).collect();
        let profile = self.profile.clone();
        let breaker = self.settings.breaker;
        let now = now_ms();
        let replayed = ops.clone();
        // On a blocking thread: the write ends with an fsync, and the lock may wait
        // for another process; neither may stall the runtime that streams answers.
        let updated = tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            state::update(&dir, &profile, &names, now, &breaker, |shared| {
                journal::replay(&mut shared.health, &replayed, &breaker);
                change(shared)
            })
        })
        .await;
        match updated {
            Ok(Ok((shared, out))) => {
                let mut health = self.health();
                *health = shared.health;
                // Changes made while the file was being written come on top.
                journal::replay(&mut health, &lock(&self.journal), &breaker);
                Some(out)
            }
            failed => {
                // The answer matters more than the bookkeeping: warn, and keep the
                // changes for the next save.
                match failed {
                    Ok(Err(e)) => tracing::warn!("{e}"),
                    Err(e) => tracing::warn!("saving engine state failed: {e}"),
                    Ok(Ok(_)) => {}
                }
                let mut journal = lock(&self.journal);
                let newer = std::mem::replace(&mut *journal, ops);
                journal.extend(newer);
                None
            }
        }
    }

    /// Adds this engine's changes to the state file (if persisting). Awaited, so a
    /// one-shot run never exits before its state is on disk.
    async fn save_state(&self) {
        self.update_shared(|_| ()).await;
    }

    /// Asks for the half-open probe of `backend` under the state file's lock, so of
    /// parallel processes exactly one sends it. `None` when not persisting.
    async fn admit_shared(&self, backend: &str) -> Option<breaker::Admission> {
        let name = backend.to_string();
        let s = self.settings.breaker;
        let stale = self.stale_probe_ms();
        self.update_shared(move |shared| {
            let now = now_ms();
            let h = shared.health.get_mut(&name)?;
            h.breaker.release_stale_probe(now, stale);
            Some(h.breaker.admit(&name, now, &s))
        })
        .await
        .flatten()
    }

    /// The round-robin start for this prompt, shared through the state file so
    /// consecutive one-shots rotate. `None` when not persisting.
    async fn next_cursor(&self) -> Option<u64> {
        self.update_shared(|shared| {
            let cursor = shared.cursor;
            shared.cursor = cursor.wrapping_add(1);
            cursor
        })
        .await
    }
}

impl Engine {
    /// An engine over `backends`, offered in the order `policy` gives.
    pub fn new(
        profile: impl Into<String>,
        policy: Policy,
        settings: LbSettings,
        backends: Vec<Backend>,
    ) -> Self {
        let route = Route::flat(policy, backends.len());
        Self::with_route(profile, settings, backends, route, Vec::new())
    }

    /// An engine over a routing tree (nested load balancers, pools).
    pub(crate) fn with_route(
        profile: impl Into<String>,
        settings: LbSettings,
        backends: Vec<Backend>,
        route: Route,
        pools: Vec<PoolLabel>,
    ) -> Self {
        let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
        let health = Mutex::new(LbHealth::new(names));
        Self {
            inner: Arc::new(Inner {
                profile: profile.into(),
                backends,
                settings,
                route,
                pools,
                health,
                state_dir: Mutex::new(None),
                journal: Mutex::new(Vec::new()),
                latency_rng: Mutex::new(policy::seeded_rng()),
            }),
        }
    }

    /// Restores breakers, TPM and metrics saved by earlier runs from `dir`
    /// (`~/.baton/state`) and saves them there after each prompt, so consecutive
    /// one-shot runs see an open breaker. Returns a warning for a corrupt file,
    /// which is then ignored.
    pub fn persist_in(&self, dir: &Path) -> Option<String> {
        let names: Vec<&str> = self
            .inner
            .backends
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        let (shared, warning) = state::read_shared(dir, &self.inner.profile, &names);
        let mut health = shared.health;
        let (now, stale) = (now_ms(), self.inner.stale_probe_ms());
        for name in &names {
            if let Some(h) = health.get_mut(name) {
                h.breaker.release_stale_probe(now, stale);
            }
        }
        *self.inner.health() = health;
        *lock(&self.inner.state_dir) = Some(dir.to_path_buf());
        warning
    }

    /// Makes one routing decision as a prompt would (policy order, breakers, TPM)
    /// without sending anything: each backend with its verdict. Advances a
    /// round-robin rotation like a real prompt. The routing benchmark measures this.
    pub fn decide(&self) -> Vec<(usize, Verdict)> {
        let order = self.inner.route.order();
        let inner = &self.inner;
        let plan = decide::plan(
            &order,
            &inner.backends,
            &inner.health(),
            &inner.settings,
            now_ms(),
            // A short prompt's worth: the benchmark measures the decision, not a size.
            64,
        );
        plan.into_iter()
            .map(|(slot, verdict)| (slot.backend, verdict))
            .collect()
    }

    /// Each backend's breaker state and current TPM, in listed order: the status
    /// bar's health summary.
    pub(crate) fn health_summary(&self) -> Vec<BackendStatus> {
        let now = now_ms();
        let breaker = &self.inner.settings.breaker;
        self.inner
            .health()
            .iter()
            .map(|(name, h)| BackendStatus {
                name: name.to_string(),
                breaker: h.breaker.state(now, breaker),
                tpm: h.tpm.tpm(now),
            })
            .collect()
    }

    /// Breakers, TPM and metrics as one JSON document (the state file's layout),
    /// for the session archive.
    pub(crate) fn snapshot(&self) -> serde_json::Value {
        state::snapshot(
            &self.inner.profile,
            &self.inner.health(),
            now_ms(),
            &self.inner.settings.breaker,
        )
    }

    /// When every backend is cooling down (breaker open or out of quota): the one
    /// expected back first and how long until then. `None` when a backend may be
    /// tried now.
    pub(crate) fn earliest_recovery(&self) -> Option<(String, std::time::Duration)> {
        let now = now_ms();
        let (name, at) = decide::earliest_recovery(
            &self.inner.backends,
            &self.inner.health(),
            &self.inner.settings,
            now,
        )?;
        Some((
            name,
            std::time::Duration::from_millis(at.saturating_sub(now)),
        ))
    }

    /// Saves health now (when persisting): a run cut short by Ctrl-C or a signal
    /// keeps the failures its prompt already met.
    pub(crate) async fn save_state(&self) {
        self.inner.save_state().await;
    }

    /// True when this engine keeps its health in the state folder.
    pub(crate) fn is_persistent(&self) -> bool {
        self.inner.is_persistent()
    }

    /// The `/stats lb` block (its layout is in `docs/failover.md`).
    pub(crate) fn stats_lb(&self) -> String {
        self.inner.health().render_stats(
            &self.inner.profile,
            now_ms(),
            &self.inner.settings.breaker,
        )
    }

    /// The profile this engine serves.
    pub(crate) fn profile(&self) -> &str {
        &self.inner.profile
    }

    /// The backends, in listed order.
    pub fn backends(&self) -> &[Backend] {
        &self.inner.backends
    }

    /// The settings in force.
    pub fn settings(&self) -> &LbSettings {
        &self.inner.settings
    }

    /// Answers one request. Dropping the stream cancels the request in flight.
    pub fn run(&self, request: ChatRequest) -> impl Stream<Item = EngineEvent> + Send + 'static {
        run::run(Arc::clone(&self.inner), request, false)
    }

    /// Answers one request whose caller shows the answer only once it is complete
    /// (JSON output, a gateway's non-streaming request): the text arrives in one go
    /// at the end, and a stream that breaks midway is rescued by a retry or the next
    /// backend rather than ending the prompt. The caller gets one complete answer
    /// (or the exhausted error), never text from two attempts.
    pub(crate) fn run_held(
        &self,
        request: ChatRequest,
    ) -> impl Stream<Item = EngineEvent> + Send + 'static {
        run::run(Arc::clone(&self.inner), request, true)
    }
}

#[cfg(test)]
mod tests;
