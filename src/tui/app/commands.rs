//! Slash commands: [`command::execute`] changes the session and says what to show;
//! here its output joins the transcript and its action is carried out on the chat
//! (leaving, clearing, `/retry`, `/stats lb`, showing a resumed conversation).

use super::{App, Effect, Quit};
use crate::archive::{Event, ResumedSession};
use crate::command::{self, Action, SlashCommand, strings};
use crate::tui::history::{AnswerState, CellKind, HistoryCell};

impl App {
    pub(super) fn run_command(&mut self, line: &str) -> Vec<Effect> {
        self.view
            .cells
            .push(HistoryCell::new(CellKind::User(line.to_string())));
        let generation = self.session.generation();
        let (name, args) = command::split_word(line.strip_prefix('/').unwrap_or(line));
        let parsed = SlashCommand::from_name(name);
        let before = (parsed == Some(SlashCommand::Set)).then(|| self.session.settings().clone());
        if parsed == Some(SlashCommand::Resume) && self.is_busy() {
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
            self.view.clear();
            self.show_resumed(out.text, &resumed);
            return Vec::new();
        }
        if !out.text.is_empty() {
            self.output(out.text, out.is_error);
        }
        match out.action {
            Some(Action::Quit) => self.control.quit = Quit::Asked,
            Some(Action::Clear) => {
                self.view.clear();
                self.turn.forget_retry();
            }
            Some(Action::Retry) => return self.retry(),
            Some(Action::ShowLbStats) => self.show_lb_stats(),
            // Handled above, before the text.
            Some(Action::Resume(_)) | None => {}
        }
        Vec::new()
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
                    self.view
                        .cells
                        .push(HistoryCell::new(CellKind::User(content.clone())));
                }
                Event::Answer {
                    content,
                    provenance,
                } => self.view.cells.push(HistoryCell::new(CellKind::Assistant {
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
        match &resumed.pending_prompt {
            Some(prompt) => {
                self.turn.offer_retry(prompt.clone(), None);
                self.notice(strings::resumed_pending(prompt));
            }
            None => self.turn.forget_retry(),
        }
        if resumed.skipped_lines > 0 {
            self.notice(strings::resumed_skipped(resumed.skipped_lines));
        }
        self.control.dirty = true;
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
        let running = self.status.followed().filter(|_| self.is_busy()).cloned();
        match running.map_or_else(|| self.current_engine(), Ok) {
            Ok(engine) => self.output(engine.stats_lb().trim_end().to_string(), false),
            Err(e) => self.output(strings::stats_lb_unavailable(&e.to_string()), true),
        }
    }
}
