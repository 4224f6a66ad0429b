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

mod record;
pub mod sessions;
mod spill;
mod writer;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::config::Settings;
use crate::engine::EngineEvent;
use crate::home::Home;

pub use record::{ArchivedFailure, ArchivedProvenance, Event, RECORD_VERSION, Record, parse_line};
pub use sessions::{
    ExportFormat, ResumedSession, SessionSummary, Transcript, delete, export, latest, list, read,
    resume,
};
pub use writer::{Archive, ArchiveHandle, EXIT_FLUSH_TIMEOUT, ShutdownReport, WriterStatus};

/// Default of `archive_queue_capacity`.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Default of `archive_coalesce_ms`.
pub const DEFAULT_COALESCE_MS: u64 = 50;

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
pub type Result<T> = std::result::Result<T, ArchiveError>;

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
pub fn enabled_in(settings: &Settings) -> bool {
    settings.get("archive").is_none_or(|v| {
        !matches!(v, Value::Bool(false))
            && !v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("off"))
    })
}

/// `~/.baton/spill/`: records that overflowed the queue, waiting to be written.
pub fn spill_dir(home: &Home) -> PathBuf {
    home.root().join("spill")
}

/// Where the writer puts lines. [`FileSink`] in production; tests slow it down or
/// make it fail.
pub trait Sink: Send {
    /// Appends `lines` (whole JSON lines, each ending in `\n`) to session `session`.
    /// Errors should name the file.
    fn append(&mut self, session: &str, lines: &[u8]) -> io::Result<()>;
}

/// Appends to `DIR/ID.jsonl`, creating the folder on the first write.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    open: HashMap<String, File>,
    /// Sessions whose last write failed, possibly half-way through a line.
    broken: HashSet<String>,
}

/// Open files kept at once; sessions are few, this only guards against many.
const MAX_OPEN: usize = 16;

impl FileSink {
    /// A sink over the sessions folder `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            open: HashMap::new(),
            broken: HashSet::new(),
        }
    }

    /// Opens the session's file unless it is open already.
    fn ensure_open(&mut self, session: &str) -> io::Result<()> {
        if !self.open.contains_key(session) {
            if sessions::validate_id(session).is_err() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("'{session}' is not a session id"),
                ));
            }
            fs::create_dir_all(&self.dir).map_err(|e| writer::io_at(&self.dir, &e))?;
            let path = self.dir.join(format!("{session}.jsonl"));
            let mut file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)
                .map_err(|e| writer::io_at(&path, &e))?;
            // A file an earlier crash left mid-line: start on a fresh line.
            if !ends_with_newline(&mut file) {
                self.broken.insert(session.to_string());
            }
            if self.open.len() >= MAX_OPEN {
                self.open.clear();
            }
            self.open.insert(session.to_string(), file);
        }
        Ok(())
    }

    fn path(&self, session: &str) -> PathBuf {
        self.dir.join(format!("{session}.jsonl"))
    }
}

/// True for an empty file or one whose last byte is `\n`; a file that cannot be
/// read counts as ending mid-line (one extra newline is harmless).
fn ends_with_newline(file: &mut File) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    match file.metadata() {
        Ok(m) if m.len() == 0 => return true,
        Ok(_) => {}
        Err(_) => return false,
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))
        .and_then(|_| file.read_exact(&mut last))
        .is_ok_and(|()| last[0] == b'\n')
}

impl Sink for FileSink {
    fn append(&mut self, session: &str, lines: &[u8]) -> io::Result<()> {
        let path = self.path(session);
        // Opening may find the file mid-line, so ask only after.
        let result = self.ensure_open(session).and_then(|()| {
            let was_broken = self.broken.contains(session);
            let file = self
                .open
                .get_mut(session)
                .ok_or_else(|| io::Error::other("session file vanished from the open set"))?;
            if was_broken {
                // A failed write may have left half a line: end it, so it stays one
                // bad line that readers skip instead of spoiling the next one.
                file.write_all(b"\n")?;
            }
            file.write_all(lines)
        });
        match result {
            Ok(()) => {
                self.broken.remove(session);
                Ok(())
            }
            Err(e) => {
                self.broken.insert(session.to_string());
                // Reopen next time: the folder or file may have come back.
                self.open.remove(session);
                if e.to_string().contains(&*path.to_string_lossy()) {
                    Err(e)
                } else {
                    Err(writer::io_at(&path, &e))
                }
            }
        }
    }
}

/// Creates a new session id: `YYYYMMDD-HHMMSS-xxxx` (UTC, then random hex), so ids
/// sort by start time.
pub fn new_session_id() -> String {
    use rand::{Rng, SeedableRng};
    let suffix: u16 = rand::rngs::StdRng::from_os_rng().random();
    format!(
        "{}-{suffix:04x}",
        record::compact_utc(record::unix_millis())
    )
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
}

impl SessionLog {
    /// A log for session `id` (see [`new_session_id`]).
    pub fn new(handle: ArchiveHandle, id: impl Into<String>) -> Self {
        Self {
            handle,
            id: id.into(),
            answer: String::new(),
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
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
        self.record(Event::User {
            content: content.to_string(),
        });
    }

    /// One engine event: deltas are collected; the end of an answer, failed
    /// attempts, skips and exhaustion become records.
    pub fn engine_event(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::Delta { text } => self.answer.push_str(text),
            EngineEvent::Done { provenance } => {
                let content = std::mem::take(&mut self.answer);
                self.record(Event::Answer {
                    content,
                    provenance: provenance.into(),
                });
            }
            EngineEvent::Interrupted { provenance, reason } => {
                let content = std::mem::take(&mut self.answer);
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
            EngineEvent::AttemptStarted { .. } | EngineEvent::Usage { .. } => {}
        }
    }

    /// A setting was set (`Some`) or cleared (`None`); secrets are masked.
    pub fn setting(&self, key: &str, value: Option<&Value>) {
        self.record(Event::setting(key, value));
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
