//! Stored sessions: list, read, export, delete, resume.
//!
//! Reading is forgiving: a line that does not parse (cut short by a crash, damaged,
//! or written by a newer baton) is skipped and counted, and everything else is used.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use super::record::{Event, RECORD_VERSION, Record, parse_line};
use super::{ArchiveError, Result};
use crate::home::Home;
use crate::provider::{Message, Role};

/// Checks that `id` can name a session file (letters, digits, `-`, `_`; no paths).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ArchiveError::InvalidId { id: id.to_string() })
    }
}

/// Every record of one session that could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The session id.
    pub id: String,
    /// Its file.
    pub path: PathBuf,
    /// The records, in file order.
    pub records: Vec<Record>,
    /// Lines that could not be read and were skipped.
    pub skipped_lines: usize,
}

impl Transcript {
    /// The profile in use at the end: the last `session_started` or `profile_changed`.
    pub fn profile(&self) -> Option<&str> {
        self.records.iter().rev().find_map(|r| match &r.event {
            Event::SessionStarted { profile, .. } | Event::ProfileChanged { profile } => {
                Some(profile.as_str())
            }
            _ => None,
        })
    }
}

/// One line of `baton sessions list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session id.
    pub id: String,
    /// The profile in use at the end.
    pub profile: Option<String>,
    /// Time of the last record.
    pub last: Option<String>,
    /// User messages plus answers.
    pub messages: usize,
    /// The start of the first user message.
    pub title: Option<String>,
    /// Lines that could not be read.
    pub skipped_lines: usize,
}

fn session_path(home: &Home, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(home.sessions_dir().join(format!("{id}.jsonl")))
}

/// Session ids with their file's modification time, oldest first by id.
fn ids(home: &Home) -> Result<Vec<(String, SystemTime)>> {
    let dir = home.sessions_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ArchiveError::Io {
                action: "list",
                path: dir,
                source: e,
            });
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else {
            continue;
        };
        if validate_id(id).is_err() {
            continue;
        }
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        out.push((id.to_string(), modified));
    }
    out.sort();
    Ok(out)
}

/// Every stored session, ordered by id (ids start with their start time).
pub fn list(home: &Home) -> Result<Vec<SessionSummary>> {
    let mut out = Vec::new();
    for (id, _) in ids(home)? {
        let t = read(home, &id)?;
        let messages = t
            .records
            .iter()
            .filter(|r| matches!(r.event, Event::User { .. } | Event::Answer { .. }))
            .count();
        let title = t.records.iter().find_map(|r| match &r.event {
            Event::User { content } => Some(title_of(content)),
            _ => None,
        });
        out.push(SessionSummary {
            profile: t.profile().map(str::to_string),
            last: t.records.last().map(|r| r.ts.clone()),
            messages,
            title,
            skipped_lines: t.skipped_lines,
            id,
        });
    }
    Ok(out)
}

/// The lines of `baton sessions list` and `/sessions`: id, last activity, profile,
/// message count, first prompt (and unreadable lines, when any), one per session.
pub fn format_list(sessions: &[SessionSummary]) -> String {
    let width = sessions.iter().map(|s| s.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for s in sessions {
        let mut line = format!(
            "{:width$}  {:24}  {:12}  {:>3} msgs  {}",
            s.id,
            s.last.as_deref().unwrap_or("-"),
            s.profile.as_deref().unwrap_or("-"),
            s.messages,
            s.title.as_deref().unwrap_or(""),
        );
        if s.skipped_lines > 0 {
            line.push_str(&format!("  ({} unreadable lines)", s.skipped_lines));
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line.trim_end());
    }
    out
}

fn title_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

/// The most recently written session, if any.
pub fn latest(home: &Home) -> Result<Option<String>> {
    Ok(ids(home)?
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
        .map(|(id, _)| id))
}

/// The most recently written session other than `except` (the chat's own, which
/// `/resume` without an id should not pick), if any.
pub fn latest_except(home: &Home, except: &str) -> Result<Option<String>> {
    Ok(ids(home)?
        .into_iter()
        .filter(|(id, _)| id != except)
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
        .map(|(id, _)| id))
}

/// Every stored session id, oldest first (for completing `/resume `).
pub fn session_ids(home: &Home) -> Result<Vec<String>> {
    Ok(ids(home)?.into_iter().map(|(id, _)| id).collect())
}

/// Reads session `id`, skipping (and counting) lines that do not parse.
pub fn read(home: &Home, id: &str) -> Result<Transcript> {
    let path = session_path(home, id)?;
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut available: Vec<String> = ids(home)?.into_iter().map(|(id, _)| id).collect();
            let keep = available.len().saturating_sub(5);
            available.drain(..keep);
            return Err(ArchiveError::NotFound {
                id: id.to_string(),
                dir: home.sessions_dir(),
                available,
            });
        }
        Err(e) => {
            return Err(ArchiveError::Io {
                action: "read",
                path,
                source: e,
            });
        }
    };
    let mut records = Vec::new();
    let mut skipped_lines = 0;
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match std::str::from_utf8(line).ok().and_then(parse_line) {
            Some(record) => records.push(record),
            None => skipped_lines += 1,
        }
    }
    Ok(Transcript {
        id: id.to_string(),
        path,
        records,
        skipped_lines,
    })
}

/// Deletes session `id` and returns the path it had.
pub fn delete(home: &Home, id: &str) -> Result<PathBuf> {
    let path = session_path(home, id)?;
    match fs::remove_file(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => read(home, id).map(|t| t.path),
        Err(e) => Err(ArchiveError::Io {
            action: "delete",
            path,
            source: e,
        }),
    }
}

/// A stored conversation made ready to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumedSession {
    /// The session id; new records go to the same file.
    pub id: String,
    /// The profile it used last (the LB profile to restore), if recorded.
    pub profile: Option<String>,
    /// The history to send with the next prompt: every user message that got a
    /// complete answer, and that answer. Interrupted answers are left out (they are
    /// not complete) and so are prompts that got no complete answer.
    pub messages: Vec<Message>,
    /// The last user message, when it got no complete answer (to offer `/retry`).
    pub pending_prompt: Option<String>,
    /// Everything that could be read, for showing the conversation.
    pub transcript: Transcript,
    /// Lines skipped because they could not be read.
    pub skipped_lines: usize,
}

/// Restores session `id`: its history and its profile. A damaged or truncated file
/// resumes from the lines that can be read; `skipped_lines` says how many could not.
pub fn resume(home: &Home, id: &str) -> Result<ResumedSession> {
    let transcript = read(home, id)?;
    let mut messages = Vec::new();
    let mut pending: Option<String> = None;
    for record in &transcript.records {
        match &record.event {
            Event::User { content } => pending = Some(content.clone()),
            Event::Answer { content, .. } => {
                if let Some(prompt) = pending.take() {
                    messages.push(Message::user(prompt));
                    messages.push(Message {
                        role: Role::Assistant,
                        content: content.clone(),
                    });
                }
            }
            Event::SessionStarted { .. }
            | Event::ProfileChanged { .. }
            | Event::Interrupted { .. }
            | Event::Failover { .. }
            | Event::Skipped { .. }
            | Event::Exhausted { .. }
            | Event::Breaker { .. }
            | Event::Setting { .. }
            | Event::Stats { .. } => {}
        }
    }
    Ok(ResumedSession {
        id: transcript.id.clone(),
        profile: transcript.profile().map(str::to_string),
        messages,
        pending_prompt: pending,
        skipped_lines: transcript.skipped_lines,
        transcript,
    })
}

/// `baton sessions export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A readable document: messages as sections, events as quotes.
    Markdown,
    /// One JSON object: id, version, profile, skipped_lines, records.
    Json,
}

/// Renders a transcript for export (and, as Markdown, for `sessions show`).
pub fn export(t: &Transcript, format: ExportFormat) -> String {
    match format {
        ExportFormat::Json => {
            /// Field order as documented (a `json!` map would sort the keys).
            #[derive(serde::Serialize)]
            struct Export<'a> {
                id: &'a str,
                version: u32,
                profile: Option<&'a str>,
                skipped_lines: usize,
                records: &'a [Record],
            }
            let export = Export {
                id: &t.id,
                version: RECORD_VERSION,
                profile: t.profile(),
                skipped_lines: t.skipped_lines,
                records: &t.records,
            };
            // Our own types always serialise.
            serde_json::to_string_pretty(&export).unwrap_or_default() + "\n"
        }
        ExportFormat::Markdown => markdown(t),
    }
}

fn markdown(t: &Transcript) -> String {
    let mut out = format!("# Session {}\n\n", t.id);
    if let Some(first) = t.records.first() {
        out.push_str(&format!("Started {}", first.ts));
        if let Some(p) = t.profile() {
            out.push_str(&format!(" · profile `{p}`"));
        }
        out.push_str("\n\n");
    }
    if t.skipped_lines > 0 {
        out.push_str(&format!(
            "> {} unreadable line(s) skipped\n\n",
            t.skipped_lines
        ));
    }
    for r in &t.records {
        match &r.event {
            Event::SessionStarted { profile, resumed } => {
                if *resumed {
                    out.push_str(&format!("> resumed on profile `{profile}` ({})\n\n", r.ts));
                }
            }
            Event::ProfileChanged { profile } => {
                out.push_str(&format!("> profile changed to `{profile}`\n\n"));
            }
            Event::User { content } => out.push_str(&format!("## You\n\n{content}\n\n")),
            Event::Answer {
                content,
                provenance: p,
            } => {
                out.push_str(&format!(
                    "## Assistant ({} · {}/{} · {} ms · {} attempt(s), {} failover(s) · {} tokens{})\n\n{content}\n\n",
                    p.backend,
                    p.provider,
                    p.model,
                    p.latency_ms,
                    p.attempts,
                    p.failovers,
                    p.usage.total(),
                    if p.usage.estimated { ", estimated" } else { "" },
                ));
            }
            Event::Interrupted {
                content,
                provenance: p,
                reason,
            } => {
                out.push_str(&format!(
                    "## Assistant, interrupted ({} · {}/{})\n\n{content}\n\n> incomplete: {reason}\n\n",
                    p.backend, p.provider, p.model
                ));
            }
            Event::Failover {
                backend,
                class,
                detail,
                will_retry,
            } => {
                let next = if *will_retry {
                    "retrying"
                } else {
                    "failing over"
                };
                out.push_str(&format!(
                    "> {backend} failed ({class}): {detail}; {next}\n\n"
                ));
            }
            Event::Skipped { backend, why } => {
                out.push_str(&format!("> skipped {backend}: {why}\n\n"));
            }
            Event::Exhausted { reasons } => {
                out.push_str("> every backend failed:\n");
                for f in reasons {
                    out.push_str(&format!("> - {}: {}\n", f.backend, f.reason));
                }
                out.push('\n');
            }
            Event::Breaker { backend, state } => {
                out.push_str(&format!("> circuit breaker {backend}: {state}\n\n"));
            }
            Event::Setting { key, value } => match value {
                Some(v) => out.push_str(&format!("> set {key} = {v}\n\n")),
                None => out.push_str(&format!("> unset {key}\n\n")),
            },
            Event::Stats { .. } => {}
        }
    }
    out
}
