//! What the status bar shows besides the session's own counts: the backend of the
//! last answer, each backend's breaker and TPM, and a failing archive. The health
//! is copied from the engine after each of its events (and after a profile or
//! settings change), so drawing never asks the engine.

use super::App;
use crate::engine::{BackendStatus, Engine};

/// The backend and model of the last answer (or attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::tui) struct ActiveBackend {
    pub(in crate::tui) backend: String,
    pub(in crate::tui) model: String,
}

#[derive(Debug, Default)]
pub(in crate::tui) struct Status {
    active: Option<ActiveBackend>,
    /// The engine whose health is shown: the last one started, or the current
    /// one after a change.
    followed: Option<Engine>,
    health: Vec<BackendStatus>,
    /// The archive writer's error while its writes fail.
    archive_error: Option<String>,
    /// Warnings already shown (a corrupt state file), so each shows once.
    warned: Vec<String>,
}

impl Status {
    pub(in crate::tui) fn active(&self) -> Option<&ActiveBackend> {
        self.active.as_ref()
    }

    pub(in crate::tui) fn health(&self) -> &[BackendStatus] {
        &self.health
    }

    pub(in crate::tui) fn archive_error(&self) -> Option<&str> {
        self.archive_error.as_deref()
    }

    /// The active backend's tokens per minute, once it is known.
    pub(in crate::tui) fn active_tpm(&self) -> Option<u64> {
        let active = self.active.as_ref()?;
        self.health
            .iter()
            .find(|h| h.name == active.backend)
            .map(|h| h.tpm)
    }

    pub(super) fn set_active(&mut self, backend: String, model: String) {
        self.active = Some(ActiveBackend { backend, model });
    }

    /// The engine whose health is shown.
    pub(super) fn followed(&self) -> Option<&Engine> {
        self.followed.as_ref()
    }

    /// Shows `engine`'s health from the next refresh on. An active backend the
    /// engine does not have (after `/profile load`) is no longer shown as active.
    pub(super) fn follow(&mut self, engine: Engine) {
        self.keep_active_of(Some(&engine));
        self.followed = Some(engine);
    }

    /// Forgets the active backend unless `engine` has it.
    pub(super) fn keep_active_of(&mut self, engine: Option<&Engine>) {
        let known =
            |name: &str| engine.is_some_and(|e| e.backends().iter().any(|b| b.name == name));
        if self.active.as_ref().is_some_and(|a| !known(&a.backend)) {
            self.active = None;
        }
    }

    /// Copies the health from the engine followed.
    pub(super) fn refresh_health(&mut self) {
        self.health = self
            .followed
            .as_ref()
            .map(Engine::health_summary)
            .unwrap_or_default();
    }

    /// Sets the archive's error; true when that changed it.
    pub(super) fn set_archive_error(&mut self, error: Option<String>) -> bool {
        let changed = error != self.archive_error;
        self.archive_error = error;
        changed
    }

    /// True the first time `warning` is seen.
    fn first_sight(&mut self, warning: &str) -> bool {
        if self.warned.iter().any(|w| w == warning) {
            return false;
        }
        self.warned.push(warning.to_string());
        true
    }
}

impl App {
    /// Shows `warning` unless it was shown before.
    pub(super) fn warn_once(&mut self, warning: String) {
        if self.status.first_sight(&warning) {
            self.output(format!("warning: {warning}"), true);
        }
    }

    /// Shows the current engine's health (restored from the state folder for a
    /// load balancer), unless a request's engine is still running.
    pub(super) fn follow_current_engine(&mut self) {
        if self.is_busy() {
            return;
        }
        // A profile that cannot be built shows no health; sending a prompt says why.
        self.status.followed = self.current_engine().ok();
        let followed = self.status.followed.clone();
        self.status.keep_active_of(followed.as_ref());
        self.status.refresh_health();
    }
}
