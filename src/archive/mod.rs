//! The archive: every conversation kept in `~/.baton/sessions/ID.jsonl`, without
//! ever slowing the chat.
//!
//! - [`Record`] / [`Event`]: the versioned line format (`docs/sessions.md`).
//! - [`Archive`]: a writer thread behind a bounded queue. [`ArchiveHandle::enqueue`]
//!   never waits for the disk; writes within the coalescing window become one
//!   append; overflow spills to `~/.baton/spill/` and comes back when the writer is
//!   idle; dropping the [`Archive`] flushes for at most [`EXIT_FLUSH_TIMEOUT`]. A
//!   failing disk shows up once in [`WriterStatus`] and the chat goes on.
//! - [`SessionLog`]: turns a conversation (user messages, [`EngineEvent`]s, setting
//!   changes, stats snapshots) into records of one session.
//! - [`sessions`]: list, read, export, delete and [`resume`] stored sessions.
//!
//! The writer talks to a [`Sink`], so tests can slow the disk down or break it.

mod export;
mod record;
pub(crate) mod sessions;
mod sink;
mod spill;
mod worker;
mod writer;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::config::Settings;
use crate::engine::EngineEvent;
use crate::home::Home;

pub(crate) use record::AnswerEnd;
pub use record::ArchivedProvenance;
pub use record::Event;
pub use record::Record;
pub use record::parse_line;
pub use sessions::list;
pub use sessions::read;
pub use sessions::resume;
pub(crate) use sessions::{ExportFormat, ResumedSession, delete, export, latest};
pub use sink::FileSink;
pub use writer::{Archive, WriterStatus};
pub(crate) use writer::{ArchiveHandle, EXIT_FLUSH_TIMEOUT};

/// Default of `archive_queue_capacity`.
pub(crate) const DEFAULT_CAPACITY: usize = 1024;
/// Default of `archive_coalesce_ms`.
pub(crate) const DEFAULT_COALESCE_MS: u64 = 50;

/// Errors of the archive's file operations; each names the file or session.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading, writing or listing failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What baton was doing (`read`, `list`, `delete`).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// No session file with that id.
    #[error("no session '{id}' in {}{}", dir.display(), hint(available))]
    NotFound {
        /// The id asked for.
        id: String,
        /// Where sessions live.
        dir: PathBuf,
        /// The most recent ids, to help.
        available: Vec<String>,
    },
    /// The id is not a session id (ids are letters, digits, `-` and `_`).
    #[error("'{id}' is not a session id (letters, digits, '-' and '_' only)")]
    InvalidId {
        /// The id given.
        id: String,
    },
    /// The file named like the session is not one (a folder, a device).
    #[error("session '{id}': {why}")]
    NotASession {
        /// The id asked for.
        id: String,
        /// What the file is instead.
        why: String,
    },
    /// The session's header is lost and no profile was named to resume it on.
    #[error(
        "cannot resume session '{id}': {lost}, so the profile it ran on is unknown; \
         name one with --profile-load NAME (or --provider)"
    )]
    UnknownProfile {
        /// The session.
        id: String,
        /// What was lost ([`sessions::Header::lost`]).
        lost: &'static str,
    },
    /// There is no session to resume.
    #[error("no sessions in {} to resume", dir.display())]
    NoSessions {
        /// Where sessions live.
        dir: PathBuf,
    },
}

fn hint(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(" (recent: {})", available.join(", "))
    }
}

/// The archive's `Result`.
pub(crate) type Result<T> = std::result::Result<T, ArchiveError>;

/// Where the writer writes and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// `archive = on`.
    pub enabled: bool,
    /// `archive_queue_capacity`: records the queue holds before spilling.
    pub capacity: usize,
    /// `archive_coalesce_ms`: how long a write waits for more records to join it.
    pub coalesce: Duration,
    /// `~/.baton/sessions/`.
    pub sessions_dir: PathBuf,
    /// `~/.baton/spill/` (created only when something spills).
    pub spill_dir: PathBuf,
}

impl ArchiveConfig {
    /// The defaults for `home`.
    pub fn new(home: &Home) -> Self {
        Self {
            enabled: true,
            capacity: DEFAULT_CAPACITY,
            coalesce: Duration::from_millis(DEFAULT_COALESCE_MS),
            sessions_dir: home.sessions_dir(),
            spill_dir: spill_dir(home),
        }
    }

    /// Reads `archive`, `archive_queue_capacity` and `archive_coalesce_ms` from
    /// `settings`, with the defaults for what is unset.
    pub fn from_settings(home: &Home, settings: &Settings) -> Self {
        let mut config = Self::new(home);
        config.enabled = enabled_in(settings);
        if let Some(n) = settings.get_u64("archive_queue_capacity") {
            config.capacity = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        }
        if let Some(ms) = settings.get_u64("archive_coalesce_ms") {
            config.coalesce = Duration::from_millis(ms);
        }
        config
    }
}

/// False when `settings` say `archive = off`; the chat checks it before each record,
/// so `/set archive off` stops the writing at once.
pub(crate) fn enabled_in(settings: &Settings) -> bool {
    settings.get("archive").is_none_or(|v| {
        !matches!(v, Value::Bool(false))
            && !v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("off"))
    })
}

/// `~/.baton/spill/`: records that overflowed the queue, waiting to be written.
pub fn spill_dir(home: &Home) -> PathBuf {
    home.spill_dir()
}

/// Where the writer puts lines. [`FileSink`] in production; tests slow it down or
/// make it fail.
pub trait Sink: Send {
    /// Appends `lines` (whole JSON lines, each ending in `\n`) to session `session`.
    /// Errors should name the file.
    fn append(&mut self, session: &str, lines: &[u8]) -> io::Result<()>;

    /// Creates a new conversation's file, failing if one exists (`Ok(false)`: the
    /// id is taken, pick another). Sinks without files accept every id.
    fn claim(&mut self, _session: &str) -> io::Result<bool> {
        Ok(true)
    }
}

/// Creates a new session id: `YYYYMMDD-HHMMSS-mmm-` then 64 random bits as 16 hex
/// digits (UTC start time to the millisecond), so ids sort by start time and two
/// runs started in the same millisecond still differ (a clash is caught anyway by
/// [`Sink::claim`], which creates the file with `create_new`).
pub fn new_session_id() -> String {
    use rand::{Rng, SeedableRng};
    let suffix: u64 = rand::rngs::StdRng::from_os_rng().random();
    let ms = record::unix_millis();
    format!("{}-{:03}-{suffix:016x}", record::compact_utc(ms), ms % 1000)
}

/// The records of one conversation: what the chat path calls.
///
/// Collects an answer's deltas so the archive holds one `answer` line per answer,
/// not one per token.
#[derive(Debug, Clone)]
pub struct SessionLog {
    handle: ArchiveHandle,
    id: String,
    answer: String,
    reasoning: String,
    tool_calls: Vec<crate::provider::ToolCall>,
    /// The backend of the latest attempt and the attempts so far, so an answer
    /// cut short by the user can still say where its text came from.
    attempt_backend: Option<String>,
    attempts: u32,
}

impl SessionLog {
    /// A log for session `id` (see [`new_session_id`]).
    pub fn new(handle: ArchiveHandle, id: impl Into<String>) -> Self {
        Self {
            handle,
            id: id.into(),
            answer: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
            attempt_backend: None,
            attempts: 0,
        }
    }

    /// The session id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Enqueues any event for this session.
    pub fn record(&self, event: Event) {
        self.handle.enqueue(Record::new(self.id.clone(), event));
    }

    /// The conversation starts (or resumes) on `profile`.
    pub fn started(&self, profile: &str, resumed: bool) {
        self.record(Event::SessionStarted {
            profile: profile.to_string(),
            resumed,
        });
    }

    /// The user's message.
    pub fn user(&mut self, content: &str) {
        self.answer.clear();
        self.reasoning.clear();
        self.tool_calls.clear();
        self.attempt_backend = None;
        self.attempts = 0;
        self.record(Event::User {
            content: content.to_string(),
        });
    }

    /// One engine event: deltas are collected; the end of an answer, failed
    /// attempts, skips and exhaustion become records.
    pub(crate) fn engine_event(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::Delta { text } => self.answer.push_str(text),
            EngineEvent::Reasoning { text } => self.reasoning.push_str(text),
            EngineEvent::ToolCall { call } => self.tool_calls.push(call.clone()),
            EngineEvent::Done { provenance, finish } => {
                let content = std::mem::take(&mut self.answer);
                let end = record::AnswerEnd::new(
                    finish,
                    std::mem::take(&mut self.tool_calls),
                    std::mem::take(&mut self.reasoning),
                );
                self.record(Event::Answer {
                    content,
                    provenance: provenance.into(),
                    end,
                });
            }
            EngineEvent::Interrupted { provenance, reason } => {
                let content = std::mem::take(&mut self.answer);
                self.reasoning.clear();
                self.tool_calls.clear();
                self.record(Event::Interrupted {
                    content,
                    provenance: provenance.into(),
                    reason: reason.clone(),
                });
            }
            EngineEvent::AttemptFailed {
                backend,
                class,
                detail,
                will_retry,
            } => self.record(Event::Failover {
                backend: backend.clone(),
                class: *class,
                detail: detail.clone(),
                will_retry: *will_retry,
            }),
            EngineEvent::Skipped { backend, why } => self.record(Event::Skipped {
                backend: backend.clone(),
                why: why.clone(),
            }),
            EngineEvent::Exhausted { reasons } => {
                self.answer.clear();
                self.record(Event::Exhausted {
                    reasons: reasons.iter().map(Into::into).collect(),
                });
            }
            EngineEvent::Breaker { backend, state } => self.breaker(backend, &state.to_string()),
            EngineEvent::AttemptStarted { backend, .. } => {
                self.attempt_backend = Some(backend.clone());
                self.attempts += 1;
            }
            EngineEvent::Usage { .. } => {}
        }
    }

    /// The answer was cut short by the user, a signal or a closed stdout: the text
    /// already shown is archived as interrupted (nothing when none was shown).
    pub(crate) fn cancelled(&mut self, reason: &str) {
        let content = std::mem::take(&mut self.answer);
        self.reasoning.clear();
        self.tool_calls.clear();
        if content.is_empty() {
            return;
        }
        let provenance = record::ArchivedProvenance {
            backend: self.attempt_backend.clone().unwrap_or_default(),
            provider: String::new(),
            model: String::new(),
            attempts: self.attempts,
            failovers: 0,
            latency_ms: 0,
            first_chunk_ms: 0,
            usage: crate::provider::Usage::estimate(0, content.chars().count()),
        };
        self.record(Event::Interrupted {
            content,
            provenance,
            reason: reason.to_string(),
        });
    }

    /// A setting was set (`Some`) or cleared (`None`); secrets are masked.
    pub fn setting(&self, key: &str, value: Option<&Value>) {
        self.record(Event::setting(key, value));
    }

    /// `/clear`: the conversation starts over in the same session.
    pub(crate) fn cleared(&self) {
        self.record(Event::Cleared);
    }

    /// A circuit breaker changed state.
    pub fn breaker(&self, backend: &str, state: &str) {
        self.record(Event::Breaker {
            backend: backend.to_string(),
            state: state.to_string(),
        });
    }

    /// A snapshot of engine state and metrics for `profile`.
    pub fn stats(&self, profile: &str, snapshot: Value) {
        self.record(Event::Stats {
            profile: profile.to_string(),
            snapshot,
        });
    }
}
