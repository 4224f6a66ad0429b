//! A turn: a prompt sent, its answer streamed in, and how it ends (answered,
//! interrupted, cancelled, or no backend answered). `/retry` resends a prompt
//! whose turn ended without an answer. Only the request in flight's events count:
//! a cancelled or superseded request's late events are dropped by id.

use std::time::{Duration, Instant};

use super::{App, Effect};
use crate::engine::{self, BuildError, Engine, EngineEvent, Provenance};
use crate::provider::{ChatRequest, Finish};
use crate::tui::history::{AnswerExtras, AnswerState, CellKind, HistoryCell};

/// Requests: the one in flight, and what `/retry` would resend.
#[derive(Debug)]
pub(super) struct Turn {
    in_flight: Option<InFlight>,
    /// The last request's id; each request takes the next one.
    last_id: u64,
    retry: Option<Retry>,
    /// Prompts typed while an answer streamed, oldest first.
    queued: Vec<String>,
    /// How the last turn ended, for the queue: sent on after an answer, given
    /// back to the input otherwise (the next prompt may build on the missing one).
    ended: Option<Ended>,
    /// Ask for streamed answers (`--no-stream` asks for whole ones).
    pub(super) stream: bool,
}

/// How a turn ended, as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Answered,
    Unanswered,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            in_flight: None,
            last_id: 0,
            retry: None,
            queued: Vec::new(),
            ended: None,
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
            self.notice(crate::command::strings::queued(&text));
            self.turn.queued.push(text);
            return Vec::new();
        }
        // `@path` words and `/attach`ed files go after the prompt; a file that
        // cannot go stops the prompt, which returns to the input.
        let cwd = std::env::current_dir().unwrap_or_default();
        let mut files = match crate::attach::mentioned(&text, &cwd) {
            Ok(files) => files,
            Err(e) => {
                self.output(e.to_string(), true);
                self.input.set_text(text);
                return Vec::new();
            }
        };
        for waiting in self.session.take_attachments() {
            if !files.iter().any(|f| f.shown == waiting.shown) {
                files.push(waiting);
            }
        }
        self.view
            .cells
            .push(HistoryCell::new(CellKind::User(text.clone())));
        let message = if files.is_empty() {
            text
        } else {
            let summaries: Vec<String> = files.iter().map(|f| f.summary()).collect();
            self.notice(crate::command::strings::sent_with(&summaries));
            crate::attach::with_files(&text, &files)
        };
        self.session.push_user(&message);
        if let Some(log) = self.archive_log() {
            log.user(&message);
        }
        self.start(message, None)
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
            messages: self.session.request_messages(),
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
        if let Some(log) = self.archive_log() {
            log.cancelled("cancelled by the user");
        }
        self.session.record_cancelled();
        self.session.pop_unanswered();
        self.turn.offer_retry(flight.prompt, None);
        self.session.run_ended();
        self.turn.ended = Some(Ended::Unanswered);
        self.release_queue();
        vec![Effect::Cancel]
    }

    /// After a turn ended: the oldest queued prompt is sent when the turn was
    /// answered; otherwise every queued prompt goes back to the input, unsent.
    pub(super) fn release_queue(&mut self) -> Vec<Effect> {
        let Some(ended) = self.turn.ended.take() else {
            return Vec::new();
        };
        if self.turn.queued.is_empty() || self.is_busy() {
            return Vec::new();
        }
        if ended == Ended::Answered {
            let next = self.turn.queued.remove(0);
            return self.send_prompt(next);
        }
        let mut text = std::mem::take(&mut self.turn.queued).join("\n");
        if !self.input.is_empty() {
            text.push('\n');
            text.push_str(self.input.text());
        }
        self.input.set_text(text);
        self.notice(crate::command::strings::QUEUE_RETURNED);
        Vec::new()
    }

    fn finish_unanswered(&mut self, message: &str, after: Option<String>) {
        if let Some(flight) = self.turn.in_flight.take() {
            self.turn.ended = Some(Ended::Unanswered);
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
            EngineEvent::Reasoning { text } => self.reasoning(&text),
            EngineEvent::ToolCall { call } => {
                if let Some(extras) = self.answer_extras() {
                    extras.tool_calls.push(call);
                }
            }
            EngineEvent::AttemptFailed {
                backend,
                detail,
                will_retry,
                ..
            } => {
                // "moving on" only where there is somewhere to go.
                let alone = self
                    .current_engine()
                    .is_ok_and(|engine| engine.backends().len() < 2);
                match (will_retry, alone) {
                    (true, _) => self.notice(format!("{backend} failed: {detail} (retrying)")),
                    (false, false) => {
                        self.notice(format!("{backend} failed: {detail} (moving on)"));
                    }
                    (false, true) => self.notice(format!("{backend} failed: {detail}")),
                }
            }
            EngineEvent::Skipped { backend, why } => {
                self.notice(format!("skipped {backend}: {why}"));
            }
            EngineEvent::Breaker { backend, state } => {
                self.notice(format!("circuit breaker of {backend}: {state}"));
            }
            EngineEvent::Done { provenance, finish } => self.answered(provenance, finish),
            EngineEvent::Interrupted { provenance, reason } => {
                self.interrupted(provenance, reason);
            }
            EngineEvent::Exhausted { reasons } => {
                let mut message = engine::exhausted_message(&reasons);
                let earliest = self
                    .current_engine()
                    .ok()
                    .and_then(|e| e.earliest_recovery());
                if let Some((name, wait)) = earliest {
                    message.push('\n');
                    message.push_str(&engine::recovery_message(&name, wait));
                    message.push_str("; /set wait_for_recovery_ms N waits for it");
                }
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

    /// More answer text: the answer's cell grows (it appears with the first text
    /// or reasoning).
    fn delta(&mut self, text: String) {
        let now = self.control.now;
        let Some(flight) = &mut self.turn.in_flight else {
            return;
        };
        flight.chars += text.chars().count();
        if flight.first_text.is_none() {
            flight.first_text = Some(now);
        }
        if let Some(CellKind::Assistant { text: t, .. }) = self.answer_cell() {
            t.push_str(&text);
        }
    }

    /// Reasoning streamed before (or between) the answer's text.
    fn reasoning(&mut self, text: &str) {
        let show = self.view.show_reasoning;
        if let Some(extras) = self.answer_extras() {
            extras.reasoning.push_str(text);
            extras.show_reasoning = show;
        }
    }

    /// The answer in flight's cell, created empty when nothing arrived yet.
    fn answer_cell(&mut self) -> Option<&mut CellKind> {
        let flight = self.turn.in_flight.as_mut()?;
        let index = match flight.cell {
            Some(i) => i,
            None => {
                flight.cell = Some(self.view.cells.len());
                self.view.cells.push(HistoryCell::new(CellKind::answer(
                    String::new(),
                    AnswerState::Streaming,
                )));
                self.view.cells.len() - 1
            }
        };
        self.view.cells.get_mut(index).map(HistoryCell::kind_mut)
    }

    /// The answer in flight's reasoning and tool calls.
    fn answer_extras(&mut self) -> Option<&mut AnswerExtras> {
        match self.answer_cell()? {
            CellKind::Assistant { extras, .. } => Some(extras.get_or_insert_with(Box::default)),
            CellKind::User(_) | CellKind::Notice(_) | CellKind::Output { .. } => None,
        }
    }

    /// An answer: it joins the conversation. One that is not complete (cut,
    /// filtered, refused, a tool call) is marked; without text it does not join,
    /// and `/retry` asks again.
    fn answered(&mut self, mut provenance: Provenance, finish: Finish) {
        self.status
            .set_active(provenance.backend.clone(), provenance.model.clone());
        self.turn.forget_retry();
        if let Some(flight) = self.turn.in_flight.take() {
            from_the_prompt(&mut provenance, &flight);
            let state = if finish.status.is_complete() {
                AnswerState::Done(provenance)
            } else {
                AnswerState::Stopped {
                    provenance,
                    finish: Box::new(finish),
                }
            };
            let text = self.set_answer_state(&flight, state);
            if text.trim().is_empty() {
                self.turn.ended = Some(Ended::Unanswered);
                self.session.pop_unanswered();
                self.turn.offer_retry(flight.prompt, None);
            } else {
                self.turn.ended = Some(Ended::Answered);
                self.session.push_assistant(&text);
            }
        }
        self.archive_stats();
    }

    /// An answer broken after text was shown: `/retry` starts after its backend.
    fn interrupted(&mut self, mut provenance: Provenance, reason: String) {
        if let Some(flight) = self.turn.in_flight.take() {
            from_the_prompt(&mut provenance, &flight);
            let backend = provenance.backend.clone();
            self.turn.ended = Some(Ended::Unanswered);
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
                cells.push(HistoryCell::new(CellKind::answer(
                    String::new(),
                    AnswerState::Streaming,
                )));
                cells.len() - 1
            }
        };
        match cells.get_mut(index).map(HistoryCell::kind_mut) {
            Some(CellKind::Assistant { text, state, .. }) => {
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

/// The first token as the user waited for it: from the prompt, not from the attempt
/// that answered (after a failover the two differ by every failed attempt).
fn from_the_prompt(provenance: &mut Provenance, flight: &InFlight) {
    if let Some(first) = flight.first_text {
        let waited = first.saturating_duration_since(flight.started);
        provenance.first_chunk_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
    }
}
