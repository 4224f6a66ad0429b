//! The JSON writer (`--output-format json`): one object at the end, with the answer,
//! its provenance and usage, or the failure and each backend's reason.

use std::io::{self, Write};

use serde_json::json;

use super::{Output, exhausted};
use crate::cli::Exit;
use crate::engine::{EngineEvent, Provenance};

/// Collects the answer and prints one JSON object at the end.
pub(super) struct JsonOutput<W: Write> {
    pub(super) out: W,
    answer: String,
}

impl<W: Write> JsonOutput<W> {
    pub(super) fn new(out: W) -> Self {
        Self {
            out,
            answer: String::new(),
        }
    }

    fn answer_json(&self, provenance: &Provenance, status: &str) -> serde_json::Value {
        json!({
            "status": status,
            "answer": self.answer,
            "backend": provenance.backend,
            "provider": provenance.provider,
            "model": provenance.model,
            "usage": provenance.usage,
            "latency_ms": provenance.latency_ms,
            "first_chunk_ms": provenance.first_chunk_ms,
            "attempts": provenance.attempts,
            "failovers": provenance.failovers,
        })
    }

    fn print(&mut self, value: &serde_json::Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl<W: Write> Output for JsonOutput<W> {
    fn event(&mut self, event: &EngineEvent) -> io::Result<Option<Exit>> {
        match event {
            EngineEvent::Delta { text } => {
                self.answer.push_str(text);
                Ok(None)
            }
            EngineEvent::Done { provenance } => {
                let value = self.answer_json(provenance, "complete");
                self.print(&value)?;
                Ok(Some(Exit::Complete))
            }
            EngineEvent::Interrupted { provenance, reason } => {
                let mut value = self.answer_json(provenance, "interrupted");
                value["error"] = json!(reason);
                self.print(&value)?;
                eprintln!(
                    "baton: the answer from {} was interrupted and is incomplete: {reason}",
                    provenance.backend
                );
                Ok(Some(Exit::Error))
            }
            EngineEvent::Exhausted { reasons } => {
                let (exit, message) = exhausted(reasons);
                self.print(&json!({ "status": "failed", "error": message, "reasons": reasons }))?;
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
        let _ = self.print(&json!({ "status": "cancelled", "answer": self.answer }));
    }
}
