//! What the server keeps between requests: each backend's config, counters and
//! recorded requests, behind one lock that is never held across an await.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

use crate::config::{BackendConfig, Behavior};
use crate::wire::Wire;

/// How many requests each backend remembers (the oldest are forgotten first).
pub const RECORD_LIMIT: usize = 64;

/// One chat request as the mock saw it, with keys redacted (`***`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Server-wide arrival order, from 1: compares requests across backends.
    pub seq: u64,
    /// The wire format of the endpoint.
    pub wire: Wire,
    /// HTTP method.
    pub method: String,
    /// Path and query (a `key=` query value redacted).
    pub path: String,
    /// Headers by lower-case name; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// The body as JSON, or as a string when it was not JSON.
    pub body: Value,
    /// What the mock did; `None` when it refused the request (wrong key, bad body).
    pub behavior: Option<Behavior>,
}

#[derive(Debug)]
pub(crate) struct BackendState {
    pub(crate) config: BackendConfig,
    pub(crate) requests: u64,
    pub(crate) recorded: VecDeque<RecordedRequest>,
}

impl BackendState {
    pub(crate) fn new(config: BackendConfig) -> Self {
        Self {
            config,
            requests: 0,
            recorded: VecDeque::new(),
        }
    }

    pub(crate) fn record(&mut self, request: RecordedRequest) {
        self.recorded.push_back(request);
        while self.recorded.len() > RECORD_LIMIT {
            self.recorded.pop_front();
        }
    }

    /// The next behavior: the script's head, else the default.
    pub(crate) fn next_behavior(&mut self) -> Behavior {
        if self.config.script.is_empty() {
            self.config.behavior.clone()
        } else {
            self.config.script.remove(0)
        }
    }

    pub(crate) fn view(&self, with_recorded: bool) -> BackendView {
        BackendView {
            behavior: self.config.behavior.clone(),
            script: self.config.script.clone(),
            require_key: self.config.require_key.as_ref().map(|_| "***"),
            requests: self.requests,
            recorded: with_recorded.then(|| self.recorded.iter().cloned().collect()),
        }
    }
}

/// A backend as the control API shows it (the key redacted).
#[derive(Debug, Serialize)]
pub(crate) struct BackendView {
    behavior: Behavior,
    script: Vec<Behavior>,
    require_key: Option<&'static str>,
    pub(crate) requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recorded: Option<Vec<RecordedRequest>>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) backends: Mutex<BTreeMap<String, BackendState>>,
    pub(crate) seq: AtomicU64,
    /// `true` once the server is stopping: ends stalls and delays at once.
    pub(crate) shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BackendState>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.backends.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn set_backend(shared: &Shared, name: &str, cfg: BackendConfig) {
    let mut backends = shared.lock();
    match backends.get_mut(name) {
        Some(state) => state.config = cfg,
        None => {
            backends.insert(name.to_string(), BackendState::new(cfg));
        }
    }
}

pub(crate) fn push_script(shared: &Shared, name: &str, behaviors: Vec<Behavior>) {
    shared
        .lock()
        .entry(name.to_string())
        .or_insert_with(|| BackendState::new(BackendConfig::default()))
        .config
        .script
        .extend(behaviors);
}

pub(crate) fn reset(shared: &Shared) {
    for state in shared.lock().values_mut() {
        state.requests = 0;
        state.recorded.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn records_are_bounded() {
        let mut state = BackendState::new(BackendConfig::default());
        for seq in 0..(RECORD_LIMIT as u64 + 5) {
            state.record(RecordedRequest {
                seq,
                wire: Wire::OpenAi,
                method: "POST".into(),
                path: "/".into(),
                headers: BTreeMap::new(),
                body: Value::Null,
                behavior: None,
            });
        }
        assert_eq!(state.recorded.len(), RECORD_LIMIT);
        assert_eq!(state.recorded.front().map(|r| r.seq), Some(5));
    }

    #[test]
    fn script_runs_before_the_default() {
        let mut state = BackendState::new(
            BackendConfig::new(Behavior::Empty)
                .with_script(vec![Behavior::status(500), Behavior::Drop]),
        );
        let kinds: Vec<_> = (0..4).map(|_| state.next_behavior().kind()).collect();
        assert_eq!(kinds, ["status", "drop", "empty", "empty"]);
    }
}
