//! What one request did, gathered while it runs: `/metrics` counts it and the
//! request log prints it. Every byte of the log line is written here; keys are
//! never part of it (only the key's name).

use std::fmt::Write as _;

use serde_json::json;

pub(super) use crate::cli::serve::LogFormat;
use crate::engine::EngineEvent;
use crate::provider::Usage;

/// One request, from its first byte to its last.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Outcome {
    pub(crate) path: &'static str,
    /// The profile asked for (the `model` field's profile part).
    pub(crate) profile: String,
    /// The key's name, when the server checks keys.
    pub(crate) client: Option<String>,
    /// The backend that answered, or the last one tried.
    pub(crate) backend: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) failovers: u32,
    pub(crate) status: u16,
    /// Why it failed (`ApiError::error_metric`, or `interrupted`).
    pub(crate) error: Option<&'static str>,
    pub(crate) stream: bool,
    pub(crate) latency_ms: u64,
    pub(crate) first_chunk_ms: Option<u64>,
    pub(crate) usage: Option<Usage>,
    /// Each failed attempt's backend and error class.
    pub(crate) attempt_failures: Vec<(String, String)>,
}

impl Outcome {
    pub(super) fn new(path: &'static str) -> Self {
        Self {
            path,
            ..Self::default()
        }
    }

    /// Notes what an engine event says about the request.
    pub(super) fn engine_event(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::AttemptStarted { backend, .. } => {
                self.attempts += 1;
                self.backend = Some(backend.clone());
            }
            EngineEvent::AttemptFailed { backend, class, .. } => {
                self.attempt_failures
                    .push((backend.clone(), class.to_string()));
            }
            EngineEvent::Done { provenance, .. } | EngineEvent::Interrupted { provenance, .. } => {
                self.backend = Some(provenance.backend.clone());
                self.attempts = provenance.attempts;
                self.failovers = provenance.failovers;
                self.first_chunk_ms = Some(provenance.first_chunk_ms);
                self.usage = Some(provenance.usage);
            }
            EngineEvent::Exhausted { reasons } => {
                self.failovers = u32::try_from(reasons.len().saturating_sub(1)).unwrap_or(0);
            }
            EngineEvent::Delta { .. }
            | EngineEvent::Usage { .. }
            | EngineEvent::Reasoning { .. }
            | EngineEvent::ToolCall { .. } => {}
            EngineEvent::Skipped { .. } | EngineEvent::Breaker { .. } => {}
        }
    }

    /// The log line, without its newline.
    pub(super) fn log_line(&self, format: LogFormat) -> String {
        let usage = self.usage.unwrap_or_default();
        match format {
            LogFormat::Json => json!({
                "path": self.path,
                "profile": self.profile,
                "client": self.client,
                "backend": self.backend,
                "attempts": self.attempts,
                "failovers": self.failovers,
                "status": self.status,
                "error": self.error,
                "stream": self.stream,
                "latency_ms": self.latency_ms,
                "first_chunk_ms": self.first_chunk_ms,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
            })
            .to_string(),
            LogFormat::Text => {
                let mut line = format!("{} {} {}", self.status, self.path, self.profile);
                if let Some(backend) = &self.backend {
                    let plural = if self.attempts == 1 { "" } else { "s" };
                    let _ = write!(line, " via {backend} ({} attempt{plural})", self.attempts);
                }
                let _ = write!(line, " {}ms", self.latency_ms);
                if let Some(error) = self.error {
                    let _ = write!(line, " error={error}");
                }
                line
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_carry_the_request_and_no_key() {
        let mut o = Outcome::new("/v1/chat/completions");
        o.profile = "work".into();
        o.client = Some("ci".into());
        o.engine_event(&EngineEvent::AttemptStarted {
            backend: "a".into(),
            attempt: 1,
            of: 2,
        });
        o.status = 200;
        o.latency_ms = 12;
        let line = o.log_line(LogFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["backend"], "a");
        assert_eq!(v["attempts"], 1);
        assert_eq!(v["client"], "ci");
        assert_eq!(
            o.log_line(LogFormat::Text),
            "200 /v1/chat/completions work via a (1 attempt) 12ms"
        );
    }
}
