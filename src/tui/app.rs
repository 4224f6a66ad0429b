//! The model and its update: [`App::update`] takes one [`AppEvent`] and returns the
//! [`Effect`]s the runtime must perform (start or cancel a request). It never waits
//! on the network and never touches the terminal, so tests drive it directly.
//!
//! It also archives the conversation through a [`SessionLog`], as one-shot mode
//! does: enqueueing never waits for the disk, so this stays off the network and
//! the disk alike.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::Backend;

use super::event::AppEvent;
use super::history::{AnswerState, CellKind, HistoryCell};
use super::input::Input;
use super::theme::Theme;
use super::transcript::Transcript;
use super::view;
use crate::archive::{self, ArchiveHandle, Event, ResumedSession, SessionLog, WriterStatus};
use crate::command::{self, Action, SlashCommand, strings};
use crate::config::Settings;
use crate::engine::{BreakerState, Engine, EngineEvent};
use crate::provider::ChatRequest;
use crate::session::Session;

/// What the runtime must do after an update.
#[derive(Debug)]
pub enum Effect {
    /// Run `request` on `engine` as request `id` (cancelling any other).
    Start {
        /// The request's id; its events carry it.
        id: u64,
        /// The engine to run it on.
        engine: Engine,
        /// The conversation to send.
        request: ChatRequest,
    },
    /// Cancel the request in flight.
    Cancel,
}

/// The request in flight.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// Its id.
    pub id: u64,
    /// The prompt it answers.
    pub prompt: String,
    /// When it was sent.
    pub started: Instant,
    /// When the first text arrived.
    pub first_text: Option<Instant>,
    /// Characters of answer so far.
    pub chars: usize,
    /// The answer's transcript cell, once text arrived.
    pub cell: Option<usize>,
    /// The backend being tried.
    pub backend: Option<String>,
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    /// The chat's state, shared with the slash commands.
    pub session: Session,
    /// Styles.
    pub theme: Theme,
    /// The transcript.
    pub cells: Transcript,
    /// The prompt editor.
    pub input: Input,
    /// Lines scrolled up from the bottom; 0 follows the stream.
    pub scroll: usize,
    /// The request in flight.
    pub in_flight: Option<InFlight>,
    /// The backend and model of the last answer (or attempt).
    pub active: Option<(String, String)>,
    /// Each backend's breaker state and TPM, copied from the engine after each of
    /// its events (and after a profile or settings change), so the view stays pure.
    pub health: Vec<(String, BreakerState, u64)>,
    /// "Now", refreshed by the runtime before each draw (fixed in tests).
    pub now: Instant,
    /// True after one Ctrl-C on an idle, empty prompt.
    pub quit_armed: bool,
    /// Answer requests: `--no-stream` asks for whole answers.
    pub stream: bool,
    next_id: u64,
    /// The engine whose health the status bar shows: the last one started, or the
    /// current one after a change.
    health_from: Option<Engine>,
    /// Warnings already shown (a corrupt state file), so each shows once.
    warned: Vec<String>,
    retry: Option<Retry>,
    should_quit: bool,
    dirty: bool,
    /// Total transcript lines at the last layout.
    total_lines: usize,
    /// Rows of transcript visible at the last draw (for PgUp/PgDn).
    pub page: usize,
    /// The archive writer's error while its writes fail, for the status bar.
    pub archive_error: Option<String>,
    archiving: Option<Archiving>,
}

/// Where the conversation's records go.
#[derive(Debug)]
struct Archiving {
    handle: ArchiveHandle,
    log: SessionLog,
    /// `session_started` is written with the first record, so a chat that was only
    /// opened and closed leaves no file behind.
    begun: bool,
    /// The session continues a stored one.
    resumed: bool,
    /// The "archive is off until the next start" notice was shown.
    told_off_at_start: bool,
}

/// What `/retry` would resend.
#[derive(Debug, Clone)]
struct Retry {
    prompt: String,
    /// The backend that broke the answer: the retry starts after it.
    after: Option<String>,
}

impl App {
    /// A new chat on `session`.
    pub fn new(session: Session, theme: Theme) -> Self {
        let mut app = Self {
            session,
            theme,
            cells: Transcript::default(),
            input: Input::default(),
            scroll: 0,
            in_flight: None,
            active: None,
            health: Vec::new(),
            now: Instant::now(),
            quit_armed: false,
            stream: true,
            next_id: 0,
            health_from: None,
            warned: Vec::new(),
            retry: None,
            should_quit: false,
            dirty: true,
            total_lines: 0,
            page: 10,
            archive_error: None,
            archiving: None,
        };
        let what = app.session.target().describe();
        let welcome = format!(
            "baton · profile {}: {what} · /help for commands",
            app.session.profile_name()
        );
        app.output(welcome, false);
        app.follow_current_engine();
        app
    }

    /// Archives the conversation through `handle` (a handle of an archive that is
    /// off writes nothing). `resumed` when the session continues a stored one.
    pub fn with_archive(mut self, handle: ArchiveHandle, resumed: bool) -> Self {
        let log = SessionLog::new(handle.clone(), self.session.session_id());
        self.archiving = Some(Archiving {
            handle,
            log,
            begun: false,
            resumed,
            told_off_at_start: false,
        });
        self
    }

    /// The log to record into, or `None` when nothing may be written (`archive =
    /// off` now, or no archive). Begins the session's file on first use, and
    /// follows the session to a new id after `/resume`.
    fn archive_log(&mut self) -> Option<&mut SessionLog> {
        if !archive::enabled_in(self.session.settings()) {
            return None;
        }
        let a = self.archiving.as_mut()?;
        let id = self.session.session_id();
        if a.log.id() != id {
            a.log = SessionLog::new(a.handle.clone(), id);
            a.begun = false;
            a.resumed = true;
        }
        if !a.begun {
            a.log.started(self.session.profile_name(), a.resumed);
            a.begun = true;
        }
        Some(&mut a.log)
    }

    /// Records what a command changed: each setting `/set` changed (against
    /// `before`), or the profile `/profile load` loaded.
    fn archive_command(
        &mut self,
        command: Option<SlashCommand>,
        args: &str,
        before: Option<Settings>,
    ) {
        match command {
            Some(SlashCommand::Set) => {
                let Some(before) = before else { return };
                let after = self.session.settings().clone();
                let mut keys: Vec<&str> = before.iter().map(|(k, _)| k).collect();
                keys.extend(after.iter().map(|(k, _)| k));
                keys.sort_unstable();
                keys.dedup();
                let changed: Vec<&str> = keys
                    .into_iter()
                    .filter(|k| before.get(k) != after.get(k))
                    .collect();
                if changed.contains(&"archive") {
                    self.archive_turned(archive::enabled_in(&after));
                }
                if let Some(log) = self.archive_log() {
                    for key in changed {
                        log.setting(key, after.get(key));
                    }
                }
            }
            Some(SlashCommand::Profile) if command::split_word(args).0 == "load" => {
                let profile = self.session.profile_name().to_string();
                if let Some(log) = self.archive_log() {
                    log.record(Event::ProfileChanged { profile });
                }
            }
            Some(_) | None => {}
        }
    }

    /// `/set archive on|off`: says when turning it on cannot take effect now (the
    /// chat started with it off, so no writer runs).
    fn archive_turned(&mut self, on: bool) {
        let Some(a) = &mut self.archiving else { return };
        if on && !a.handle.is_enabled() && !a.told_off_at_start {
            a.told_off_at_start = true;
            self.notice(strings::ARCHIVE_ON_NEXT_START);
        }
    }

    /// True once the user asked to leave.
    pub fn should_quit(&self) -> bool {
        self.should_quit
    }

    /// True when something changed since the last draw.
    pub fn needs_draw(&self) -> bool {
        self.dirty
    }

    /// The command popup's entries: commands matching what is typed after `/`.
    pub fn popup(&self) -> Vec<SlashCommand> {
        let text = self.input.text();
        match text.strip_prefix('/') {
            Some(rest) if !rest.contains(char::is_whitespace) => SlashCommand::matching(rest),
            _ => Vec::new(),
        }
    }

    fn notice(&mut self, text: impl Into<String>) {
        self.cells
            .push(HistoryCell::new(CellKind::Notice(text.into())));
    }

    fn output(&mut self, text: impl Into<String>, is_error: bool) {
        self.cells.push(HistoryCell::new(CellKind::Output {
            text: text.into(),
            is_error,
        }));
    }

    /// Handles one event.
    pub fn update(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Key(key) => {
                self.dirty = true;
                self.key(key)
            }
            AppEvent::Paste(text) => {
                self.dirty = true;
                self.input.insert(&text);
                Vec::new()
            }
            AppEvent::Mouse(mouse) => {
                match mouse.kind {
                    MouseEventKind::ScrollUp => self.scroll_up(3),
                    MouseEventKind::ScrollDown => self.scroll_down(3),
                    MouseEventKind::Down(_)
                    | MouseEventKind::Up(_)
                    | MouseEventKind::Drag(_)
                    | MouseEventKind::Moved
                    | MouseEventKind::ScrollLeft
                    | MouseEventKind::ScrollRight => return Vec::new(),
                }
                self.dirty = true;
                Vec::new()
            }
            AppEvent::Resize => {
                self.dirty = true;
                Vec::new()
            }
            AppEvent::Engine { id, event } => {
                if self.in_flight.as_ref().is_some_and(|f| f.id == id) {
                    self.dirty = true;
                    self.engine_event(event);
                }
                Vec::new()
            }
            AppEvent::EngineEnded { id } => {
                // A stream that ends without a final event: treat as interrupted.
                if self.in_flight.as_ref().is_some_and(|f| f.id == id) {
                    self.dirty = true;
                    self.finish_unanswered("the engine stopped without an answer", None);
                }
                Vec::new()
            }
            AppEvent::Tick => {
                if self.in_flight.is_some() {
                    self.dirty = true;
                }
                Vec::new()
            }
            AppEvent::Archive(status) => {
                let error = match status {
                    WriterStatus::Failing { error } => Some(error),
                    WriterStatus::Ok | WriterStatus::Off => None,
                };
                if error != self.archive_error {
                    self.archive_error = error;
                    self.dirty = true;
                }
                Vec::new()
            }
        }
    }

    fn key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        if !(ctrl && key.code == KeyCode::Char('c')) {
            self.quit_armed = false;
        }
        match key.code {
            KeyCode::Char('c') if ctrl => {
                if self.in_flight.is_some() {
                    return self.cancel();
                }
                if !self.input.is_empty() {
                    self.input.clear();
                } else if self.quit_armed {
                    self.should_quit = true;
                } else {
                    self.quit_armed = true;
                }
            }
            KeyCode::Char('d') if ctrl => {
                if self.input.is_empty() {
                    self.should_quit = true;
                } else {
                    self.input.delete();
                }
            }
            KeyCode::Esc if self.in_flight.is_some() => return self.cancel(),
            KeyCode::Esc => {}
            KeyCode::Enter if shift || alt => self.input.insert("\n"),
            KeyCode::Char('j') if ctrl => self.input.insert("\n"),
            KeyCode::Enter => return self.submit(),
            KeyCode::Tab => {
                if let Some(done) = command::complete(&self.session, self.input.text()) {
                    self.input.set_text(done);
                }
            }
            // Up/Down move between the input's lines, then through prompt history.
            KeyCode::Up if !self.input.up() => self.input.history_prev(),
            KeyCode::Down if !self.input.down() => self.input.history_next(),
            KeyCode::Up | KeyCode::Down => {}
            KeyCode::PageUp => self.scroll_up(self.page.saturating_sub(2).max(1)),
            KeyCode::PageDown => self.scroll_down(self.page.saturating_sub(2).max(1)),
            KeyCode::Home => self.scroll = self.max_scroll(),
            KeyCode::End => self.scroll = 0,
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Char('a') if ctrl => self.input.line_start(),
            KeyCode::Char('e') if ctrl => self.input.line_end(),
            KeyCode::Char('u') if ctrl => self.input.clear(),
            KeyCode::Char('w') if ctrl => self.input.delete_word(),
            KeyCode::Char('l') if ctrl => {}
            KeyCode::Char(c) if !ctrl => {
                let mut buf = [0u8; 4];
                self.input.insert(c.encode_utf8(&mut buf));
            }
            _ => {}
        }
        Vec::new()
    }

    fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.max_scroll());
    }

    /// The furthest the view scrolls up: the first line at the top of the
    /// transcript area (`page` is about that area's height), never past it into
    /// an empty screen.
    fn max_scroll(&self) -> usize {
        self.total_lines.saturating_sub(self.page)
    }

    fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }

    fn submit(&mut self) -> Vec<Effect> {
        if self.input.text().trim().is_empty() {
            return Vec::new();
        }
        let text = self.input.take();
        // Typing resumes following the conversation.
        self.scroll = 0;
        if command::is_command(&text) {
            return self.run_command(text.trim());
        }
        if self.in_flight.is_some() {
            self.output(strings::BUSY, true);
            return Vec::new();
        }
        self.cells
            .push(HistoryCell::new(CellKind::User(text.clone())));
        self.session.push_user(&text);
        if let Some(log) = self.archive_log() {
            log.user(&text);
        }
        self.start(text, None)
    }

    /// Shows `warning` unless it was shown before.
    fn warn_once(&mut self, warning: String) {
        if !self.warned.contains(&warning) {
            self.output(format!("warning: {warning}"), true);
            self.warned.push(warning);
        }
    }

    /// Copies the health the status bar shows from the engine it follows.
    fn refresh_health(&mut self) {
        self.health = self
            .health_from
            .as_ref()
            .map(Engine::health_summary)
            .unwrap_or_default();
    }

    /// Shows the current engine's health (restored from the state folder for a
    /// load balancer), unless a request's engine is still running.
    fn follow_current_engine(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        // A profile that cannot be built shows no health; sending a prompt says why.
        self.health_from = self.current_engine().ok();
        self.refresh_health();
    }

    fn run_command(&mut self, line: &str) -> Vec<Effect> {
        self.cells
            .push(HistoryCell::new(CellKind::User(line.to_string())));
        let generation = self.session.generation();
        let (name, args) = command::split_word(line.strip_prefix('/').unwrap_or(line));
        let parsed = SlashCommand::from_name(name);
        let before = (parsed == Some(SlashCommand::Set)).then(|| self.session.settings().clone());
        if parsed == Some(SlashCommand::Resume) && self.in_flight.is_some() {
            self.output(strings::BUSY, true);
            return Vec::new();
        }
        let out = command::execute(&mut self.session, line);
        if !out.is_error {
            self.archive_command(parsed, args, before);
        }
        if self.session.generation() != generation {
            self.follow_current_engine();
        }
        if let Some(Action::Resume(resumed)) = out.action {
            // The resumed conversation takes the transcript's place.
            self.cells.clear();
            self.scroll = 0;
            self.show_resumed(out.text, &resumed);
            return Vec::new();
        }
        if !out.text.is_empty() {
            self.output(out.text, out.is_error);
        }
        match out.action {
            Some(Action::Quit) => {
                self.should_quit = true;
                Vec::new()
            }
            Some(Action::Clear) => {
                self.cells.clear();
                self.retry = None;
                self.scroll = 0;
                Vec::new()
            }
            Some(Action::Retry) => self.retry(),
            Some(Action::ShowLbStats) => {
                self.show_lb_stats();
                Vec::new()
            }
            // Handled above, before the text.
            Some(Action::Resume(_)) | None => Vec::new(),
        }
    }

    /// Shows a resumed conversation under `heading`: its prompts and complete
    /// answers (with their provenance), incomplete answers as notices, then the
    /// prompt `/retry` would send and the lines that could not be read. The
    /// session's messages and id were switched by the caller.
    pub fn show_resumed(&mut self, heading: String, resumed: &ResumedSession) {
        self.output(heading, false);
        for record in &resumed.transcript.records {
            match &record.event {
                Event::User { content } => {
                    self.cells
                        .push(HistoryCell::new(CellKind::User(content.clone())));
                }
                Event::Answer {
                    content,
                    provenance,
                } => self.cells.push(HistoryCell::new(CellKind::Assistant {
                    text: content.clone(),
                    state: AnswerState::Done(provenance.into()),
                })),
                Event::Interrupted {
                    provenance, reason, ..
                } => self.notice(strings::resumed_incomplete(&provenance.backend, reason)),
                Event::SessionStarted { .. }
                | Event::ProfileChanged { .. }
                | Event::Failover { .. }
                | Event::Skipped { .. }
                | Event::Exhausted { .. }
                | Event::Breaker { .. }
                | Event::Setting { .. }
                | Event::Stats { .. } => {}
            }
        }
        self.retry = resumed.pending_prompt.as_ref().map(|prompt| Retry {
            prompt: prompt.clone(),
            after: None,
        });
        if let Some(prompt) = &resumed.pending_prompt {
            self.notice(strings::resumed_pending(prompt));
        }
        if resumed.skipped_lines > 0 {
            self.notice(strings::resumed_skipped(resumed.skipped_lines));
        }
        self.dirty = true;
    }

    /// `/stats lb`: the engine's own block (real breaker states, TPM and metrics,
    /// including what earlier runs persisted), from the engine prompts run on.
    fn show_lb_stats(&mut self) {
        if !self.session.is_load_balancer() {
            let text = strings::stats_lb_needs_lb(
                self.session.profile_name(),
                &self.session.target().describe(),
            );
            self.output(text, true);
            return;
        }
        // While a request runs, its engine is the one whose numbers move.
        let running = self.in_flight.as_ref().and(self.health_from.clone());
        match running.map_or_else(|| self.current_engine(), Ok) {
            Ok(engine) => self.output(engine.stats_lb().trim_end().to_string(), false),
            Err(e) => self.output(strings::stats_lb_unavailable(&e.to_string()), true),
        }
    }

    fn retry(&mut self) -> Vec<Effect> {
        if self.in_flight.is_some() {
            self.output(strings::BUSY, true);
            return Vec::new();
        }
        let Some(retry) = self.retry.take() else {
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
        self.health_from = Some(engine.clone());
        self.next_id += 1;
        let id = self.next_id;
        self.in_flight = Some(InFlight {
            id,
            prompt,
            started: self.now,
            first_text: None,
            chars: 0,
            cell: None,
            backend: None,
        });
        let request = ChatRequest {
            messages: self.session.messages().to_vec(),
            stream: self.stream,
        };
        vec![Effect::Start {
            id,
            engine,
            request,
        }]
    }

    /// The engine for the session's current state (the session caches it).
    fn current_engine(&mut self) -> Result<Engine, crate::engine::BuildError> {
        let built = self.session.engine()?;
        if let Some(warning) = built.warning {
            self.warn_once(warning);
        }
        Ok(built.engine)
    }

    /// The engine for `/retry` after `backend` broke an answer (its own backend
    /// order, so not the cached one).
    fn retry_engine(&mut self, backend: &str) -> Result<Engine, crate::engine::BuildError> {
        let built = self.session.retry_engine(backend)?;
        if let Some(warning) = built.warning {
            self.warn_once(warning);
        }
        Ok(built.engine)
    }

    /// Called when the request in flight has ended, however it ended.
    fn run_ended(&mut self) {
        self.session.run_ended();
    }

    fn cancel(&mut self) -> Vec<Effect> {
        let Some(flight) = self.in_flight.take() else {
            return Vec::new();
        };
        match flight.cell.and_then(|i| self.cells.get_mut(i)) {
            Some(cell) => {
                if let CellKind::Assistant { state, .. } = cell.kind_mut() {
                    *state = AnswerState::Cancelled;
                }
            }
            None => self.notice("cancelled"),
        }
        self.session.pop_unanswered();
        self.retry = Some(Retry {
            prompt: flight.prompt,
            after: None,
        });
        self.run_ended();
        vec![Effect::Cancel]
    }

    fn finish_unanswered(&mut self, message: &str, after: Option<String>) {
        if let Some(flight) = self.in_flight.take() {
            self.session.pop_unanswered();
            self.retry = Some(Retry {
                prompt: flight.prompt,
                after,
            });
            self.run_ended();
        }
        self.output(message.to_string(), true);
    }

    fn engine_event(&mut self, event: EngineEvent) {
        self.session.record(&event);
        if let Some(log) = self.archive_log() {
            log.engine_event(&event);
        }
        // Text changes no breaker or TPM; skipping it keeps streaming cheap.
        let health_may_change = !matches!(event, EngineEvent::Delta { .. });
        match event {
            EngineEvent::AttemptStarted { backend, .. } => {
                if let Some(model) = self.model_of(&backend) {
                    self.active = Some((backend.clone(), model));
                }
                if let Some(f) = &mut self.in_flight {
                    f.backend = Some(backend);
                }
            }
            EngineEvent::Delta { text } => {
                let Some(flight) = &mut self.in_flight else {
                    return;
                };
                flight.chars += text.chars().count();
                if flight.first_text.is_none() {
                    flight.first_text = Some(self.now);
                }
                match flight.cell.and_then(|i| self.cells.get_mut(i)) {
                    Some(cell) => {
                        if let CellKind::Assistant { text: t, .. } = cell.kind_mut() {
                            t.push_str(&text);
                        }
                    }
                    None => {
                        flight.cell = Some(self.cells.len());
                        self.cells.push(HistoryCell::new(CellKind::Assistant {
                            text,
                            state: AnswerState::Streaming,
                        }));
                    }
                }
            }
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
            EngineEvent::Done { provenance } => {
                self.active = Some((provenance.backend.clone(), provenance.model.clone()));
                if let Some(flight) = self.in_flight.take() {
                    let text = self.set_answer_state(&flight, AnswerState::Done(provenance));
                    self.session.push_assistant(&text);
                }
                self.retry = None;
                self.archive_stats();
            }
            EngineEvent::Interrupted { provenance, reason } => {
                if let Some(flight) = self.in_flight.take() {
                    let backend = provenance.backend.clone();
                    self.set_answer_state(&flight, AnswerState::Interrupted { provenance, reason });
                    // An incomplete answer is never kept as part of the conversation.
                    self.session.pop_unanswered();
                    self.retry = Some(Retry {
                        prompt: flight.prompt,
                        after: Some(backend),
                    });
                }
            }
            EngineEvent::Exhausted { reasons } => {
                let message = crate::engine::exhausted_message(&reasons);
                self.finish_unanswered(&message, None);
            }
        }
        if health_may_change {
            self.refresh_health();
        }
        if self.in_flight.is_none() {
            self.run_ended();
        }
    }

    /// After an answer on a load balancer, a snapshot of its engine (breakers, TPM,
    /// metrics) for the archive, as one-shot runs record.
    fn archive_stats(&mut self) {
        let Some(engine) = self.health_from.as_ref().filter(|e| e.is_persistent()) else {
            return;
        };
        let (profile, snapshot) = (engine.profile().to_string(), engine.snapshot());
        if let Some(log) = self.archive_log() {
            log.stats(&profile, snapshot);
        }
    }

    /// The active backend's tokens per minute, once it is known.
    pub fn active_tpm(&self) -> Option<u64> {
        let (backend, _) = self.active.as_ref()?;
        self.health
            .iter()
            .find(|(name, _, _)| name == backend)
            .map(|(_, _, tpm)| *tpm)
    }

    /// Sets the answer cell's state (creating an empty one if no text came) and
    /// returns its text.
    fn set_answer_state(&mut self, flight: &InFlight, new: AnswerState) -> String {
        let index = match flight.cell {
            Some(i) => i,
            None => {
                self.cells.push(HistoryCell::new(CellKind::Assistant {
                    text: String::new(),
                    state: AnswerState::Streaming,
                }));
                self.cells.len() - 1
            }
        };
        match self.cells.get_mut(index).map(HistoryCell::kind_mut) {
            Some(CellKind::Assistant { text, state }) => {
                *state = new;
                // Streaming grew the text by doubling; a finished answer keeps
                // only its length (issue 5's memory budget).
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

    /// Wraps what changed for `width`, keeps a scrolled-up view still while lines
    /// are added below it, and keeps the wrapped lines of the cells that a screen
    /// `height` rows tall can show. Call before [`view::render`].
    pub fn layout(&mut self, width: u16, height: u16) {
        // The transcript area is at most the screen, and ends `scroll` lines above
        // the bottom (as `view` places it).
        let rows = usize::from(height);
        self.total_lines = self
            .cells
            .layout(width, rows, &mut self.scroll, &self.theme);
    }

    /// Lays out and draws one frame.
    pub fn draw<B: Backend>(&mut self, terminal: &mut Terminal<B>) -> Result<(), B::Error> {
        let size = terminal.size()?;
        self.layout(size.width, size.height);
        self.page = usize::from(size.height.saturating_sub(4));
        terminal.draw(|frame| view::render(self, frame))?;
        self.dirty = false;
        Ok(())
    }

    /// Seconds since the request was sent, and tokens/s once text flows.
    pub fn progress(&self) -> Option<(Duration, Option<f64>)> {
        let f = self.in_flight.as_ref()?;
        let elapsed = self.now.saturating_duration_since(f.started);
        let rate = f.first_text.map(|t| {
            let secs = self.now.saturating_duration_since(t).as_secs_f64().max(0.1);
            // About four characters a token, as Usage::estimate counts.
            (f.chars as f64 / 4.0) / secs
        });
        Some((elapsed, rate))
    }

    /// Total transcript lines at the last layout.
    pub fn total_lines(&self) -> usize {
        self.total_lines
    }
}
