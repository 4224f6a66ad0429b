//! The human writer: the answer streams to stdout as it arrives; what went wrong, and
//! the reasoning when asked for, go to stderr.

use std::io::{self, Write};

use super::{Output, exhausted};
use crate::cli::Exit;
use crate::engine::EngineEvent;
use crate::provider::Finish;

/// Streams the answer's text and tool calls to `out`; notes and reasoning go to `err`.
pub(super) struct TextOutput<W: Write, E: Write> {
    pub(super) out: W,
    pub(super) err: E,
    show_reasoning: bool,
    /// The `--- reasoning ---` line is out and `--- answer ---` is not yet.
    in_reasoning: bool,
    /// Whether reasoning went to `err` without a newline at its end.
    reasoning_open: bool,
    ends_with_newline: bool,
    wrote: bool,
    recovery: Option<(String, std::time::Duration)>,
}

impl<W: Write, E: Write> TextOutput<W, E> {
    pub(super) fn new(out: W, err: E, show_reasoning: bool) -> Self {
        Self {
            out,
            err,
            show_reasoning,
            in_reasoning: false,
            reasoning_open: false,
            ends_with_newline: true,
            wrote: false,
            recovery: None,
        }
    }

    fn close_line(&mut self) -> io::Result<()> {
        if self.wrote && !self.ends_with_newline {
            self.out.write_all(b"\n")?;
            self.ends_with_newline = true;
        }
        self.out.flush()
    }

    /// Ends the reasoning block, so the answer that follows is marked as such.
    fn end_reasoning(&mut self) -> io::Result<()> {
        if self.in_reasoning {
            if self.reasoning_open {
                self.err.write_all(b"\n")?;
                self.reasoning_open = false;
            }
            self.err.write_all(b"--- answer ---\n")?;
            self.err.flush()?;
            self.in_reasoning = false;
        }
        Ok(())
    }

    fn reasoning(&mut self, text: &str) -> io::Result<()> {
        if !self.show_reasoning || text.is_empty() {
            return Ok(());
        }
        if !self.in_reasoning {
            self.err.write_all(b"--- reasoning ---\n")?;
            self.in_reasoning = true;
        }
        self.err.write_all(text.as_bytes())?;
        self.reasoning_open = !text.ends_with('\n');
        self.err.flush()
    }

    fn text(&mut self, text: &str) -> io::Result<()> {
        self.end_reasoning()?;
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        self.wrote = true;
        self.ends_with_newline = text.ends_with('\n');
        Ok(())
    }
}

/// The stderr line for an answer that is not complete, `None` when it is.
pub(super) fn advice_line(finish: &Finish) -> Option<String> {
    let advice = finish.status.advice()?;
    // The advice reads "what happened; what to do": the stop reason belongs after
    // what happened.
    let (what, todo) = match advice.split_once("; ") {
        Some((what, todo)) => (what, Some(todo)),
        None => (advice, None),
    };
    // The status word first, so scripts can grep for it.
    let mut line = format!("baton: {}: {what}", finish.status);
    if let Some(reason) = &finish.stop_reason {
        line.push_str(&format!(" (stop reason: {reason})"));
    }
    if let Some(message) = &finish.message {
        line.push_str(&format!(": {message}"));
    }
    if let Some(todo) = todo {
        line.push_str("; ");
        line.push_str(todo);
    }
    Some(line)
}

impl<W: Write, E: Write> Output for TextOutput<W, E> {
    fn event(&mut self, event: &EngineEvent) -> io::Result<Option<Exit>> {
        match event {
            EngineEvent::Delta { text } => {
                self.text(text)?;
                Ok(None)
            }
            EngineEvent::Reasoning { text } => {
                self.reasoning(text)?;
                Ok(None)
            }
            EngineEvent::ToolCall { call } => {
                self.close_line()?;
                let line = format!("tool call: {}({})\n", call.name, call.arguments);
                self.text(&line)?;
                Ok(None)
            }
            EngineEvent::Done { finish, .. } => {
                self.end_reasoning()?;
                self.close_line()?;
                if let Some(line) = advice_line(finish) {
                    writeln!(self.err, "{line}")?;
                    self.err.flush()?;
                }
                Ok(Some(Exit::for_answer(finish.status)))
            }
            EngineEvent::Interrupted { provenance, reason } => {
                self.end_reasoning()?;
                self.close_line()?;
                writeln!(
                    self.err,
                    "baton: the answer from {} was interrupted and is incomplete: {reason}",
                    provenance.backend
                )?;
                Ok(Some(Exit::Error))
            }
            EngineEvent::Exhausted { reasons } => {
                self.end_reasoning()?;
                let (exit, message) = exhausted(reasons);
                writeln!(self.err, "baton: {message}")?;
                if let Some((name, wait)) = &self.recovery {
                    writeln!(self.err, "baton: {}", super::recovery_line(name, *wait))?;
                }
                Ok(Some(exit))
            }
            EngineEvent::AttemptStarted { .. }
            | EngineEvent::Usage { .. }
            | EngineEvent::AttemptFailed { .. }
            | EngineEvent::Skipped { .. }
            | EngineEvent::Breaker { .. } => Ok(None),
        }
    }

    fn recovery(&mut self, earliest: Option<(String, std::time::Duration)>) {
        self.recovery = earliest;
    }

    fn cancelled(&mut self) {
        let _ = self.end_reasoning();
        let _ = self.close_line();
    }
}
