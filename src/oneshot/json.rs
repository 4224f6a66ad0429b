//! The JSON writer (`--output-format json`): one object at the end, with the answer,
//! how it ended, its provenance and usage, or the failure and each backend's reason.

use std::io::{self, Write};

use serde_json::json;

use super::text::advice_line;
use super::{Output, exhausted};
use crate::cli::Exit;
use crate::engine::{EngineEvent, Provenance};
use crate::provider::{AnswerStatus, Finish, ToolCall};

/// Collects the answer and prints one JSON object at the end.
pub(super) struct JsonOutput<W: Write> {
    pub(super) out: W,
    answer: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
    recovery: Option<(String, std::time::Duration)>,
}

impl<W: Write> JsonOutput<W> {
    pub(super) fn new(out: W) -> Self {
        Self {
            out,
            answer: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
            recovery: None,
        }
    }

    fn answer_json(&self, provenance: &Provenance, finish: &Finish) -> serde_json::Value {
        let usage = &provenance.usage;
        let mut value = json!({
            "status": finish.status.as_str(),
            "stop_reason": finish.stop_reason,
            "answer": self.answer,
            "tool_calls": self.tool_calls.iter().map(|c| json!({
                "id": c.id,
                "name": c.name,
                "arguments": c.arguments,
            })).collect::<Vec<_>>(),
            "backend": provenance.backend,
            "provider": provenance.provider,
            "model": provenance.model,
            // Every count is present, zero included, so scripts need no defaults.
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "reasoning_tokens": usage.reasoning_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_write_tokens": usage.cache_write_tokens,
                "estimated": usage.estimated,
            },
            "latency_ms": provenance.latency_ms,
            "first_chunk_ms": provenance.first_chunk_ms,
            "attempts": provenance.attempts,
            "failovers": provenance.failovers,
        });
        if !self.reasoning.is_empty() {
            value["reasoning"] = json!(self.reasoning);
        }
        if let Some(message) = &finish.message {
            value["finish_message"] = json!(message);
        }
        if finish.status == AnswerStatus::Refused {
            // A refusal's text streams like answer text; when there was none, the
            // provider's explanation is the refusal.
            let refusal = if self.answer.is_empty() {
                finish.message.clone().unwrap_or_default()
            } else {
                self.answer.clone()
            };
            value["refusal"] = json!(refusal);
        }
        value
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
            EngineEvent::Reasoning { text } => {
                self.reasoning.push_str(text);
                Ok(None)
            }
            EngineEvent::ToolCall { call } => {
                self.tool_calls.push(call.clone());
                Ok(None)
            }
            EngineEvent::Done { provenance, finish } => {
                let value = self.answer_json(provenance, finish);
                self.print(&value)?;
                if let Some(line) = advice_line(finish) {
                    eprintln!("{line}");
                }
                Ok(Some(Exit::for_answer(finish.status)))
            }
            EngineEvent::Interrupted { provenance, reason } => {
                let finish = Finish::new(AnswerStatus::Interrupted, None);
                let mut value = self.answer_json(provenance, &finish);
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
                let mut value = json!({
                    "status": "failed",
                    "stop_reason": null,
                    "error": message,
                    "reasons": reasons,
                });
                if let Some((name, wait)) = &self.recovery {
                    value["retry_after_ms"] =
                        json!(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                    value["next_backend"] = json!(name);
                }
                self.print(&value)?;
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

    fn recovery(&mut self, earliest: Option<(String, std::time::Duration)>) {
        self.recovery = earliest;
    }

    fn cancelled(&mut self) {
        let _ = self.print(&json!({ "status": "cancelled", "answer": self.answer }));
    }
}
