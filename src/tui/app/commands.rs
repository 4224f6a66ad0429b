//! Slash commands: [`command::execute`] changes the session and says what to show;
//! here its output joins the transcript and its action is carried out on the chat
//! (leaving, clearing, `/retry`, `/stats lb`, showing a resumed conversation).

use super::{App, Effect, Quit};
use crate::archive::{AnswerEnd, ArchivedProvenance, Event, ResumedSession};
use crate::command::{self, Action, SlashCommand, strings};
use crate::engine::Provenance;
use crate::provider::Finish;
use crate::tui::history::{AnswerExtras, AnswerState, CellKind, HistoryCell};

impl App {
    pub(super) fn run_command(&mut self, line: &str) -> Vec<Effect> {
        self.view
            .cells
            .push(HistoryCell::new(CellKind::User(line.to_string())));
        let generation = self.session.generation();
        let (name, args) = command::split_word(line.strip_prefix('/').unwrap_or(line));
        let parsed = SlashCommand::from_name(name);
        let before = matches!(
            parsed,
            Some(SlashCommand::Set | SlashCommand::System | SlashCommand::Role)
        )
        .then(|| self.session.settings().clone());
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
                if let Some(log) = self.archive_log() {
                    log.cleared();
                }
            }
            Some(Action::Retry) => return self.retry(),
            Some(Action::Copy(what)) => return self.copy(what),
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
    pub(crate) fn show_resumed(&mut self, heading: String, resumed: &ResumedSession) {
        self.output(heading, false);
        // Turns before the last /clear are not part of the conversation any more.
        let records = &resumed.transcript.records;
        let start = records
            .iter()
            .rposition(|r| matches!(r.event, Event::Cleared))
            .map_or(0, |i| i + 1);
        if start > 0 {
            self.notice(strings::RESUMED_AFTER_CLEAR);
        }
        for record in &records[start..] {
            match &record.event {
                Event::User { content } => {
                    self.view
                        .cells
                        .push(HistoryCell::new(CellKind::User(content.clone())));
                }
                Event::Answer {
                    content,
                    provenance,
                    end,
                } => self.show_archived_answer(content, provenance, end),
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
                | Event::Stats { .. }
                | Event::Cleared => {}
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

    /// A stored answer as it looked when it arrived: marked when it was not
    /// complete, with its reasoning (folded) and tool calls.
    fn show_archived_answer(
        &mut self,
        content: &str,
        provenance: &ArchivedProvenance,
        end: &AnswerEnd,
    ) {
        let provenance = Provenance::from(provenance);
        let state = if end.status.is_complete() {
            AnswerState::Done(provenance)
        } else {
            AnswerState::Stopped {
                provenance,
                finish: Box::new(Finish {
                    status: end.status,
                    stop_reason: end.stop_reason.clone(),
                    message: end.finish_message.clone(),
                }),
            }
        };
        let mut kind = CellKind::answer(content.to_string(), state);
        if let CellKind::Assistant { extras, .. } = &mut kind {
            let reasoning = end.reasoning.clone().unwrap_or_default();
            if !reasoning.is_empty() || !end.tool_calls.is_empty() {
                *extras = Some(Box::new(AnswerExtras {
                    reasoning,
                    show_reasoning: self.view.show_reasoning,
                    tool_calls: end.tool_calls.clone(),
                }));
            }
        }
        self.view.cells.push(HistoryCell::new(kind));
    }

    /// `/copy [code]`: the last answer's text, or its last fenced code block.
    fn copy(&mut self, what: command::CopyWhat) -> Vec<Effect> {
        use command::CopyWhat;
        let last = self
            .view
            .cells
            .iter()
            .rev()
            .find_map(|cell| match cell.kind() {
                CellKind::Assistant { text, .. } if !text.trim().is_empty() => Some(text.clone()),
                _ => None,
            });
        let picked = last.and_then(|text| match what {
            CopyWhat::Answer => Some((text, "the last answer".to_string())),
            CopyWhat::LastCode => crate::tui::markdown::code_blocks(&text)
                .pop()
                .map(|c| (c, "the last code block".to_string())),
            CopyWhat::Code(n) => crate::tui::markdown::code_blocks(&text)
                .into_iter()
                .nth(n - 1)
                .map(|c| (c, format!("code block {n}"))),
        });
        let Some((text, described)) = picked else {
            self.output(strings::nothing_to_copy(what), true);
            return Vec::new();
        };
        self.output(strings::copied(text.chars().count(), &described), false);
        vec![Effect::Copy(text)]
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

#[cfg(test)]
mod tests {
    use crate::tui::markdown::code_blocks;

    #[test]
    fn code_blocks_are_found_with_either_fence_in_screen_order() {
        let text = "one\n```rust\nfn a() {}\n```\ntext\n~~~\nls -l\n  echo hi\n~~~\nend";
        assert_eq!(code_blocks(text), ["fn a() {}\n", "ls -l\n  echo hi\n"]);
        // A block still streaming (no closing fence yet) is copied as far as it goes.
        assert_eq!(code_blocks("```\ncut off"), ["cut off"]);
        assert!(code_blocks("no code").is_empty());
        // A fence line with text after it is code, not the end.
        assert_eq!(code_blocks("```\n```not end\n```"), ["```not end\n"]);
    }
}
