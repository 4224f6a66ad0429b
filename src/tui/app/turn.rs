//! A turn: a prompt sent, its answer streamed in, and how it ends (answered,
//! interrupted, cancelled, or no backend answered). `/retry` resends a prompt
//! whose turn ended without an answer. Only the request in flight's events count:
//! a cancelled or superseded request's late events are dropped by id.

use std::time::{Duration, Instant};

use super::{App, Effect};
use crate::engine::{self, BuildError, Engine, EngineEvent, Provenance};
use crate::provider::ChatRequest;
use crate::tui::history::{AnswerState, CellKind, HistoryCell};

/// Requests: the one in flight, and what `/retry` would resend.
#[derive(Debug)]
pub(super) struct Turn {
    in_flight: Option<InFlight>,
    /// The last request's id; each request takes the next one.
    last_id: u64,
    retry: Option<Retry>,
    /// Ask for streamed answers (`--no-stream` asks for whole ones).
    pub(super) stream: bool,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            in_flight: None,
            last_id: 0,
            retry: None,
            stream: true,
        }
    }
}

impl Turn {
    /// `/retry` resends `prompt`, starting after backend `after` when it broke
    /// the answer.
    pub(super) fn offer_retry(&mut self, prompt: String, after: Option<String>) {
        self.retry = Some(Retry { prompt, after });
    }

    /// Nothing is left for `/retry`.
    pub(super) fn forget_retry(&mut self) {
        self.retry = None;
    }
}

/// The request in flight.
#[derive(Debug, Clone)]
struct InFlight {
    id: u64,
    /// The prompt it answers.
    prompt: String,
    /// When it was sent.
    started: Instant,
    /// When the first text arrived.
    first_text: Option<Instant>,
    /// Characters of answer so far.
    chars: usize,
    /// The answer's transcript cell, once text arrived.
    cell: Option<usize>,
    /// The backend being tried.
    backend: Option<String>,
}

/// What `/retry` would resend.
#[derive(Debug, Clone)]
struct Retry {
    prompt: String,
    /// The backend that broke the answer: the retry starts after it.
    after: Option<String>,
}

/// How the request in flight is going, for the status bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(in crate::tui) struct Progress<'a> {
    /// The backend being tried, once an attempt started.
    pub(in crate::tui) backend: Option<&'a str>,
    /// Since the request was sent.
    pub(in crate::tui) elapsed: Duration,
    /// Once text flows.
    pub(in crate::tui) tokens_per_sec: Option<f64>,
}

impl App {
    /// True while a request is in flight.
    pub(in crate::tui) fn is_busy(&self) -> bool {
        self.turn.in_flight.is_some()
    }

    /// How the request in flight is going, if there is one.
    pub(in crate::tui) fn progress(&self) -> Option<Progress<'_>> {
        let f = self.turn.in_flight.as_ref()?;
        let now = self.control.now;
        let tokens_per_sec = f.first_text.map(|t| {
            let secs = now.saturating_duration_since(t).as_secs_f64().max(0.1);
            // About four characters a token, as Usage::estimate counts.
            (f.chars as f64 / 4.0) / secs
        });
        Some(Progress {
            backend: f.backend.as_deref(),
            elapsed: now.saturating_duration_since(f.started),
            tokens_per_sec,
        })
    }

    /// Sends `text` as the next prompt, unless a request is in flight.
    pub(super) fn send_prompt(&mut self, text: String) -> Vec<Effect> {
        if self.is_busy() {
            self.output(crate::command::strings::BUSY, true);
            return Vec::new();
        }
        self.view
            .cells
            .push(HistoryCell::new(CellKind::User(text.clone())));
        self.session.push_user(&text);
        if let Some(log) = self.archive_log() {
            log.user(&text);
        }
        self.start(text, None)
    }

    /// `/retry`: resends the prompt whose turn ended without an answer.
    pub(super) fn retry(&mut self) -> Vec<Effect> {
        use crate::command::strings;
        if self.is_busy() {
            self.output(strings::BUSY, true);
            return Vec::new();
        }
        let Some(retry) = self.turn.retry.take() else {
            self.output(strings::NOTHING_TO_RETRY, true);
            return Vec::new();
        };
        match &retry.after {
            Some(b) => self.notice(format!("retrying after {b}, starting at the next backend")),
            None => self.notice("retrying"),
        }
        self.session.push_user(&retry.prompt);
        // Also starts the answer afresh in the log (a cancelled one left text).
        if let Some(log) = self.archive_log() {
            log.user(&retry.prompt);
        }
        self.start(retry.prompt, retry.after)
    }

    fn start(&mut self, prompt: String, after: Option<String>) -> Vec<Effect> {
        let engine = match &after {
            Some(backend) => self.retry_engine(backend),
            None => self.current_engine(),
        };
        let engine = match engine {
            Ok(engine) => engine,
            Err(e) => {
                self.session.pop_unanswered();
                self.output(e.to_string(), true);
                return Vec::new();
            }
        };
        self.status.follow(engine.clone());
        self.turn.last_id += 1;
        let id = self.turn.last_id;
        self.turn.in_flight = Some(InFlight {
            id,
            prompt,
            started: self.control.now,
            first_text: None,
            chars: 0,
            cell: None,
            backend: None,
        });
        let request = ChatRequest {
            messages: self.session.messages().to_vec(),
            stream: self.turn.stream,
        };
        vec![Effect::Start {
            id,
            engine,
            request,
        }]
    }

    /// The engine for the session's current state (the session caches it).
    pub(super) fn current_engine(&mut self) -> Result<Engine, BuildError> {
        let built = self.session.engine()?;
        if let Some(warning) = built.warning {
            self.warn_once(warning);
        }
        Ok(built.engine)
    }

    /// The engine for `/retry` after `backend` broke an answer (its own backend
    /// order, so not the cached one).
    fn retry_engine(&mut self, backend: &str) -> Result<Engine, BuildError> {
        let built = self.session.retry_engine(backend)?;
        if let Some(warning) = built.warning {
            self.warn_once(warning);
        }
        Ok(built.engine)
    }

    /// Esc or Ctrl-C while an answer comes: the partial answer stays, marked,
    /// and `/retry` resends the prompt.
    pub(super) fn cancel(&mut self) -> Vec<Effect> {
        let Some(flight) = self.turn.in_flight.take() else {
            return Vec::new();
        };
        match flight.cell.and_then(|i| self.view.cells.get_mut(i)) {
            Some(cell) => {
                if let CellKind::Assistant { state, .. } = cell.kind_mut() {
                    *state = AnswerState::Cancelled;
                }
            }
            None => self.notice("cancelled"),
        }
        self.session.pop_unanswered();
        self.turn.offer_retry(flight.prompt, None);
        self.session.run_ended();
        vec![Effect::Cancel]
    }

    fn finish_unanswered(&mut self, message: &str, after: Option<String>) {
        if let Some(flight) = self.turn.in_flight.take() {
            self.session.pop_unanswered();
            self.turn.offer_retry(flight.prompt, after);
            self.session.run_ended();
        }
        self.output(message.to_string(), true);
    }

    /// An event of request `id`: dropped unless that request is the one in flight.
    pub(super) fn on_engine(&mut self, id: u64, event: EngineEvent) {
        if self.is_current(id) {
            self.control.dirty = true;
            self.engine_event(event);
        }
    }

    /// Request `id`'s stream ended; without a final event it counts as unanswered.
    pub(super) fn on_engine_ended(&mut self, id: u64) {
        if self.is_current(id) {
            self.control.dirty = true;
            self.finish_unanswered("the engine stopped without an answer", None);
        }
    }

    /// Time passed: the spinner and the elapsed time move while a request runs.
    pub(super) fn on_tick(&mut self) {
        if self.is_busy() {
            self.control.dirty = true;
        }
    }

    fn is_current(&self, id: u64) -> bool {
        self.turn.in_flight.as_ref().is_some_and(|f| f.id == id)
    }

    fn engine_event(&mut self, event: EngineEvent) {
        self.session.record(&event);
        if let Some(log) = self.archive_log() {
            log.engine_event(&event);
        }
        // Text changes no breaker or TPM; skipping it keeps streaming cheap.
        let health_may_change = !matches!(event, EngineEvent::Delta { .. });
        match event {
            EngineEvent::AttemptStarted { backend, .. } => self.attempt_started(backend),
            EngineEvent::Delta { text } => self.delta(text),
            EngineEvent::Usage { .. } => {}
            EngineEvent::AttemptFailed {
                backend,
                detail,
                will_retry,
                ..
            } => {
                let next = if will_retry { "retrying" } else { "moving on" };
                self.notice(format!("{backend} failed: {detail} ({next})"));
            }
            EngineEvent::Skipped { backend, why } => {
                self.notice(format!("skipped {backend}: {why}"));
            }
            EngineEvent::Breaker { backend, state } => {
                self.notice(format!("circuit breaker of {backend}: {state}"));
            }
            EngineEvent::Done { provenance } => self.answered(provenance),
            EngineEvent::Interrupted { provenance, reason } => {
                self.interrupted(provenance, reason);
            }
            EngineEvent::Exhausted { reasons } => {
                let message = engine::exhausted_message(&reasons);
                self.finish_unanswered(&message, None);
            }
        }
        if health_may_change {
            self.status.refresh_health();
        }
        if !self.is_busy() {
            self.session.run_ended();
        }
    }

    fn attempt_started(&mut self, backend: String) {
        if let Some(model) = self.model_of(&backend) {
            self.status.set_active(backend.clone(), model);
        }
        if let Some(f) = &mut self.turn.in_flight {
            f.backend = Some(backend);
        }
    }

    /// More answer text: the answer's cell grows (it appears with the first text).
    fn delta(&mut self, text: String) {
        let Some(flight) = &mut self.turn.in_flight else {
            return;
        };
        flight.chars += text.chars().count();
        if flight.first_text.is_none() {
            flight.first_text = Some(self.control.now);
        }
        match flight.cell.and_then(|i| self.view.cells.get_mut(i)) {
            Some(cell) => {
                if let CellKind::Assistant { text: t, .. } = cell.kind_mut() {
                    t.push_str(&text);
                }
            }
            None => {
                flight.cell = Some(self.view.cells.len());
                self.view.cells.push(HistoryCell::new(CellKind::Assistant {
                    text,
                    state: AnswerState::Streaming,
                }));
            }
        }
    }

    /// A complete answer: it joins the conversation.
    fn answered(&mut self, provenance: Provenance) {
        self.status
            .set_active(provenance.backend.clone(), provenance.model.clone());
        if let Some(flight) = self.turn.in_flight.take() {
            let text = self.set_answer_state(&flight, AnswerState::Done(provenance));
            self.session.push_assistant(&text);
        }
        self.turn.forget_retry();
        self.archive_stats();
    }

    /// An answer broken after text was shown: `/retry` starts after its backend.
    fn interrupted(&mut self, provenance: Provenance, reason: String) {
        if let Some(flight) = self.turn.in_flight.take() {
            let backend = provenance.backend.clone();
            self.set_answer_state(&flight, AnswerState::Interrupted { provenance, reason });
            // An incomplete answer is never kept as part of the conversation.
            self.session.pop_unanswered();
            self.turn.offer_retry(flight.prompt, Some(backend));
        }
    }

    /// Sets the answer cell's state (creating an empty one if no text came) and
    /// returns its text.
    fn set_answer_state(&mut self, flight: &InFlight, new: AnswerState) -> String {
        let cells = &mut self.view.cells;
        let index = match flight.cell {
            Some(i) => i,
            None => {
                cells.push(HistoryCell::new(CellKind::Assistant {
                    text: String::new(),
                    state: AnswerState::Streaming,
                }));
                cells.len() - 1
            }
        };
        match cells.get_mut(index).map(HistoryCell::kind_mut) {
            Some(CellKind::Assistant { text, state }) => {
                *state = new;
                // Streaming grew the text by doubling; a finished answer keeps
                // only its length, so a long transcript holds about its text.
                text.shrink_to_fit();
                text.clone()
            }
            Some(CellKind::User(_) | CellKind::Notice(_) | CellKind::Output { .. }) | None => {
                String::new()
            }
        }
    }

    fn model_of(&self, backend: &str) -> Option<String> {
        self.session
            .target()
            .backends()
            .into_iter()
            .find(|(n, _)| *n == backend)
            .map(|(_, p)| p.model.clone())
    }
}
