//! Stored sessions: list, read, export, delete, resume.
//!
//! Reading is forgiving: a line that does not parse (cut short by a crash, damaged,
//! or written by a newer baton) is skipped and counted, and everything else is used.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

pub(crate) use super::export::{ExportFormat, export};
use super::record::{Event, Record, parse_line};
use super::{ArchiveError, Result};
use crate::home::Home;
use crate::provider::{Message, Role};

/// Checks that `id` can name a session file (letters, digits, `-`, `_`; no paths).
pub(crate) fn validate_id(id: &str) -> Result<()> {
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
    /// Whether the first line, the session's header, could be read.
    pub header: Header,
}

/// The state of a session file's first line, its `session_started` header: the
/// profile a resume goes back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The first line is a readable `session_started` record.
    Whole,
    /// The first line cannot be read or is not a `session_started` record.
    Damaged,
    /// The file has no lines at all.
    Empty,
}

impl Header {
    /// What was lost, for a warning or an error; `None` when nothing was.
    pub(crate) fn lost(self) -> Option<&'static str> {
        match self {
            Self::Whole => None,
            Self::Damaged => Some("its first line (the session header) is damaged"),
            Self::Empty => Some("the file is empty (no header, no messages)"),
        }
    }
}

impl Transcript {
    /// The profile in use at the end: the last `session_started` or `profile_changed`.
    pub(crate) fn profile(&self) -> Option<&str> {
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
    pub(crate) id: String,
    /// The profile in use at the end.
    pub profile: Option<String>,
    /// Time of the last record.
    pub(crate) last: Option<String>,
    /// User messages plus answers.
    pub messages: usize,
    /// The start of the first user message.
    pub(crate) title: Option<String>,
    /// Lines that could not be read.
    pub(crate) skipped_lines: usize,
}

fn session_path(home: &Home, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(home.sessions_dir().join(format!("{id}.jsonl")))
}

/// A folder entry named like a session that is not one (a folder, a device, a
/// broken symlink, an unreadable file): listing and resuming pass over it by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkippedEntry {
    /// The entry.
    pub(crate) path: PathBuf,
    /// Why it was passed over.
    pub(crate) why: String,
}

impl std::fmt::Display for SkippedEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipping {}: {}", self.path.display(), self.why)
    }
}

/// A session id and its file's modification time.
type Stamped = (String, SystemTime);

/// Session ids with their file's modification time, oldest first by id, and the
/// `*.jsonl` entries that are not session files.
fn scan(home: &Home) -> Result<(Vec<Stamped>, Vec<SkippedEntry>)> {
    let dir = home.sessions_dir();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => {
            return Err(ArchiveError::Io {
                action: "list",
                path: dir,
                source: e,
            });
        }
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else {
            continue;
        };
        if validate_id(id).is_err() {
            continue;
        }
        // Follows a symlink: what counts is what would be read.
        let meta = match fs::metadata(entry.path()) {
            Ok(meta) if meta.is_file() => meta,
            Ok(meta) => {
                skipped.push(SkippedEntry {
                    path: entry.path(),
                    why: if meta.is_dir() {
                        "a folder, not a session file".into()
                    } else {
                        "not a regular file".into()
                    },
                });
                continue;
            }
            Err(e) => {
                skipped.push(SkippedEntry {
                    path: entry.path(),
                    why: e.to_string(),
                });
                continue;
            }
        };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        out.push((id.to_string(), modified));
    }
    out.sort();
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((out, skipped))
}

/// Session ids with their file's modification time, oldest first by id.
fn ids(home: &Home) -> Result<Vec<(String, SystemTime)>> {
    scan(home).map(|(ids, _)| ids)
}

/// Every stored session and the entries passed over, for callers that show both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Listing {
    /// The sessions, ordered by id.
    pub(crate) sessions: Vec<SessionSummary>,
    /// Entries named like sessions that could not be read as one.
    pub(crate) skipped: Vec<SkippedEntry>,
}

/// Every stored session, and what was passed over: one entry that is not a session
/// file (a folder named `x.jsonl`, a symlink to a device) never hides the others.
pub(crate) fn list_all(home: &Home) -> Result<Listing> {
    let (ids, mut skipped) = scan(home)?;
    let mut sessions = Vec::new();
    for (id, _) in ids {
        let t = match read(home, &id) {
            Ok(t) => t,
            Err(e) => {
                skipped.push(SkippedEntry {
                    path: home.sessions_dir().join(format!("{id}.jsonl")),
                    why: e.to_string(),
                });
                continue;
            }
        };
        sessions.push(summary(id, &t));
    }
    Ok(Listing { sessions, skipped })
}

fn summary(id: String, t: &Transcript) -> SessionSummary {
    let messages = t
        .records
        .iter()
        .filter(|r| matches!(r.event, Event::User { .. } | Event::Answer { .. }))
        .count();
    let title = t.records.iter().find_map(|r| match &r.event {
        Event::User { content } => Some(title_of(content)),
        _ => None,
    });
    SessionSummary {
        profile: t.profile().map(str::to_string),
        last: t.records.last().map(|r| r.ts.clone()),
        messages,
        title,
        skipped_lines: t.skipped_lines,
        id,
    }
}

/// Every stored session, ordered by id (ids start with their start time). Entries
/// that are not session files are passed over with a warning naming each.
pub fn list(home: &Home) -> Result<Vec<SessionSummary>> {
    let listing = list_all(home)?;
    for entry in &listing.skipped {
        tracing::warn!("{entry}");
    }
    Ok(listing.sessions)
}

/// The lines of `baton sessions list` and `/sessions`: id, last activity, profile,
/// message count, first prompt (and unreadable lines, when any), one per session.
pub(crate) fn format_list(sessions: &[SessionSummary]) -> String {
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
pub(crate) fn latest(home: &Home) -> Result<Option<String>> {
    Ok(ids(home)?
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
        .map(|(id, _)| id))
}

/// The most recently written session other than `except` (the chat's own, which
/// `/resume` without an id should not pick), if any.
pub(crate) fn latest_except(home: &Home, except: &str) -> Result<Option<String>> {
    Ok(ids(home)?
        .into_iter()
        .filter(|(id, _)| id != except)
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
        .map(|(id, _)| id))
}

/// Every stored session id, oldest first (for completing `/resume `).
pub(crate) fn session_ids(home: &Home) -> Result<Vec<String>> {
    Ok(ids(home)?.into_iter().map(|(id, _)| id).collect())
}

/// Longest line read from a session file; a longer one is skipped and counted as
/// unreadable, so a damaged or hostile file cannot take all memory.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Reads session `id`, skipping (and counting) lines that do not parse. Only a
/// regular file is read, line by line, each line at most [`MAX_LINE_BYTES`].
pub fn read(home: &Home, id: &str) -> Result<Transcript> {
    read_with_limit(home, id, MAX_LINE_BYTES)
}

pub(crate) fn read_with_limit(home: &Home, id: &str, max_line: usize) -> Result<Transcript> {
    use crate::fsutil::ReadError;
    let path = session_path(home, id)?;
    let file = match crate::fsutil::open_regular(&path) {
        Ok(file) => file,
        Err(ReadError::NotFound { .. }) => {
            let mut available: Vec<String> = ids(home)?.into_iter().map(|(id, _)| id).collect();
            let keep = available.len().saturating_sub(5);
            available.drain(..keep);
            return Err(ArchiveError::NotFound {
                id: id.to_string(),
                dir: home.sessions_dir(),
                available,
            });
        }
        Err(e @ (ReadError::NotRegular { .. } | ReadError::TooLarge { .. })) => {
            return Err(ArchiveError::NotASession {
                id: id.to_string(),
                why: e.to_string(),
            });
        }
        Err(ReadError::Io { source, .. }) => {
            return Err(ArchiveError::Io {
                action: "read",
                path,
                source,
            });
        }
    };
    let mut records = Vec::new();
    let mut skipped_lines = 0;
    let mut first_line_ok = None;
    let lines = each_line(file, max_line, |line| {
        let record = line.and_then(|l| std::str::from_utf8(l).ok().and_then(parse_line));
        if first_line_ok.is_none() {
            first_line_ok = Some(matches!(
                record.as_ref().map(|r| &r.event),
                Some(Event::SessionStarted { .. })
            ));
        }
        match record {
            Some(record) => records.push(record),
            None => skipped_lines += 1,
        }
    });
    lines.map_err(|source| ArchiveError::Io {
        action: "read",
        path: path.clone(),
        source,
    })?;
    let header = match first_line_ok {
        None => Header::Empty,
        Some(true) => Header::Whole,
        Some(false) => Header::Damaged,
    };
    Ok(Transcript {
        id: id.to_string(),
        path,
        records,
        skipped_lines,
        header,
    })
}

/// Calls `each` with every non-blank line (without its `\n`), or `None` for a line
/// longer than `max_line` (read past without keeping it).
fn each_line(
    file: fs::File,
    max_line: usize,
    mut each: impl FnMut(Option<&[u8]>),
) -> io::Result<()> {
    use std::io::BufRead;
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let mut line = Vec::new();
    let mut overlong = false;
    let mut emit = |line: &mut Vec<u8>, overlong: &mut bool| {
        if *overlong {
            each(None);
        } else if !line.iter().all(u8::is_ascii_whitespace) {
            each(Some(line));
        }
        line.clear();
        *overlong = false;
    };
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (chunk, ends) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if !overlong {
            if line.len() + chunk.len() > max_line {
                overlong = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(ends);
        reader.consume(used);
        if ends {
            emit(&mut line, &mut overlong);
        }
    }
    if overlong || !line.is_empty() {
        emit(&mut line, &mut overlong);
    }
    Ok(())
}

/// Deletes session `id` and returns the path it had.
pub(crate) fn delete(home: &Home, id: &str) -> Result<PathBuf> {
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
            Event::Cleared => {
                messages.clear();
                pending = None;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &[u8], cap: usize) -> Vec<Option<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, text).unwrap();
        let mut out = Vec::new();
        each_line(fs::File::open(&path).unwrap(), cap, |l| {
            out.push(l.map(|l| String::from_utf8_lossy(l).into_owned()));
        })
        .unwrap();
        out
    }

    #[test]
    fn lines_over_the_cap_are_passed_over_whole() {
        assert_eq!(
            lines_of(b"ab\n\n  \ntoo long\ncd", 4),
            vec![Some("ab".into()), None, Some("cd".into())]
        );
        assert_eq!(lines_of(b"endless-without-newline", 4), vec![None]);
    }

    #[test]
    fn a_folder_named_like_a_session_is_skipped_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path());
        fs::create_dir_all(home.sessions_dir().join("x.jsonl")).unwrap();
        fs::write(home.sessions_dir().join("ok.jsonl"), "").unwrap();
        let listing = list_all(&home).unwrap();
        assert_eq!(listing.sessions.len(), 1);
        assert_eq!(listing.skipped.len(), 1);
        assert!(listing.skipped[0].to_string().contains("x.jsonl: a folder"));
        let err = read(&home, "x").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert_eq!(read(&home, "ok").unwrap().header, Header::Empty);
    }
}
