//! The human writer: the answer streams to stdout as it arrives; errors go to stderr.

use std::io::{self, Write};

use super::{Output, exhausted};
use crate::cli::Exit;
use crate::engine::EngineEvent;

/// Streams the answer's text; errors go to stderr.
pub(super) struct TextOutput<W: Write> {
    pub(super) out: W,
    ends_with_newline: bool,
    wrote: bool,
}

impl<W: Write> TextOutput<W> {
    pub(super) fn new(out: W) -> Self {
        Self {
            out,
            ends_with_newline: true,
            wrote: false,
        }
    }

    fn close_line(&mut self) -> io::Result<()> {
        if self.wrote && !self.ends_with_newline {
            self.out.write_all(b"\n")?;
            self.ends_with_newline = true;
        }
        self.out.flush()
    }
}

impl<W: Write> Output for TextOutput<W> {
    fn event(&mut self, event: &EngineEvent) -> io::Result<Option<Exit>> {
        match event {
            EngineEvent::Delta { text } => {
                self.out.write_all(text.as_bytes())?;
                self.out.flush()?;
                self.wrote = true;
                self.ends_with_newline = text.ends_with('\n');
                Ok(None)
            }
            EngineEvent::Done { .. } => {
                self.close_line()?;
                Ok(Some(Exit::Complete))
            }
            EngineEvent::Interrupted { provenance, reason } => {
                self.close_line()?;
                eprintln!(
                    "baton: the answer from {} was interrupted and is incomplete: {reason}",
                    provenance.backend
                );
                Ok(Some(Exit::Error))
            }
            EngineEvent::Exhausted { reasons } => {
                let (exit, message) = exhausted(reasons);
                eprintln!("baton: {message}");
                Ok(Some(exit))
            }
            EngineEvent::AttemptStarted { .. }
            | EngineEvent::Usage { .. }
            | EngineEvent::AttemptFailed { .. }
            | EngineEvent::Skipped { .. }
            | EngineEvent::Breaker { .. } => Ok(None),
        }
    }

    fn cancelled(&mut self) {
        let _ = self.close_line();
    }
}
