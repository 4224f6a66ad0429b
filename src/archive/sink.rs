//! [`FileSink`]: the session files themselves.
//!
//! A record is whole or absent: each batch of whole lines goes to the file in one
//! `write_all` on a file opened for append, and a write that fails part-way (a full
//! disk) is cut back to the length the file had before it, so no half line is left
//! for the next record to be glued to. A file an earlier crash left mid-line (a
//! process killed inside a write) is repaired the first time this process opens
//! it: the torn line is ended, so it stays one unreadable line that readers skip and
//! count, and a note says so.
//!
//! Files are private (`0600`) in a private folder (`0700`) from the start. A new
//! conversation's file is created with `create_new` ([`Sink::claim`]), so two runs
//! that picked the same id cannot write into one file.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{Sink, sessions, writer};

/// Appends to `DIR/ID.jsonl`, creating the folder on the first write.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    open: HashMap<String, File>,
    /// Sessions whose file this process has checked for a torn last line.
    checked: HashSet<String>,
}

/// Open files kept at once; sessions are few, this only guards against many.
const MAX_OPEN: usize = 16;

impl FileSink {
    /// A sink over the sessions folder `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            open: HashMap::new(),
            checked: HashSet::new(),
        }
    }

    fn path(&self, session: &str) -> PathBuf {
        self.dir.join(format!("{session}.jsonl"))
    }

    fn check_id(session: &str) -> io::Result<()> {
        sessions::validate_id(session).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{session}' is not a session id"),
            )
        })
    }

    fn remember(&mut self, session: &str, file: File) {
        if self.open.len() >= MAX_OPEN {
            self.open.clear();
        }
        self.open.insert(session.to_string(), file);
    }

    /// Opens the session's file unless it is open already, repairing a torn last
    /// line the first time.
    fn ensure_open(&mut self, session: &str) -> io::Result<()> {
        if self.open.contains_key(session) {
            return Ok(());
        }
        Self::check_id(session)?;
        crate::fsutil::create_private_dir(&self.dir).map_err(|e| writer::io_at(&self.dir, &e))?;
        let path = self.path(session);
        let mut file = crate::fsutil::private_options()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| writer::io_at(&path, &e))?;
        if self.checked.insert(session.to_string()) {
            repair_torn_tail(&mut file, &path);
        }
        self.remember(session, file);
        Ok(())
    }
}

/// Ends a last line an earlier crash left without its newline, with a note.
fn repair_torn_tail(file: &mut File, path: &Path) {
    if ends_with_newline(file) {
        return;
    }
    match file.write_all(b"\n") {
        Ok(()) => tracing::warn!(
            "archive: {}: the last line was cut short by an earlier crash; it is kept as an \
             unreadable line and new records start on a fresh line",
            path.display()
        ),
        Err(e) => tracing::warn!(
            "archive: {}: cannot repair a torn last line: {e}",
            path.display()
        ),
    }
}

/// True for an empty file or one whose last byte is `\n`; a file that cannot be
/// read counts as ending mid-line (one extra newline is harmless).
fn ends_with_newline(file: &mut File) -> bool {
    match file.metadata() {
        Ok(m) if m.len() == 0 || !m.is_file() => return true,
        Ok(_) => {}
        Err(_) => return false,
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))
        .and_then(|_| file.read_exact(&mut last))
        .is_ok_and(|()| last[0] == b'\n')
}

/// Appends `bytes` (whole lines) in one write; on failure cuts the file back to its
/// length before, so a partial record never stays behind.
pub(crate) fn append_whole(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    let before = file.metadata()?.len();
    if let Err(e) = file.write_all(bytes) {
        // A device (`/dev/full`) cannot be truncated and holds nothing to undo.
        if file
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() != before)
            && let Err(cut) = file.set_len(before)
        {
            tracing::warn!("archive: cannot remove a partial record: {cut}");
        }
        return Err(e);
    }
    Ok(())
}

impl Sink for FileSink {
    fn append(&mut self, session: &str, lines: &[u8]) -> io::Result<()> {
        let path = self.path(session);
        let result = self.ensure_open(session).and_then(|()| {
            let file = self
                .open
                .get_mut(session)
                .ok_or_else(|| io::Error::other("session file vanished from the open set"))?;
            append_whole(file, lines)
        });
        result.map_err(|e| {
            // Reopen next time: the folder or file may have come back.
            self.open.remove(session);
            if e.to_string().contains(&*path.to_string_lossy()) {
                e
            } else {
                writer::io_at(&path, &e)
            }
        })
    }

    fn claim(&mut self, session: &str) -> io::Result<bool> {
        Self::check_id(session)?;
        crate::fsutil::create_private_dir(&self.dir).map_err(|e| writer::io_at(&self.dir, &e))?;
        let path = self.path(session);
        match crate::fsutil::private_options()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                self.checked.insert(session.to_string());
                self.remember(session, file);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(writer::io_at(&path, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_refused_when_the_file_exists() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path().join("sessions"));
        assert!(sink.claim("a-1").unwrap());
        let mut other = FileSink::new(dir.path().join("sessions"));
        assert!(!other.claim("a-1").unwrap());
        sink.append("a-1", b"{}\n").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("sessions/a-1.jsonl")).unwrap(),
            b"{}\n"
        );
    }

    #[test]
    fn a_torn_last_line_is_ended_before_new_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, b"{\"whole\":1}\n{\"cut").unwrap();
        let mut sink = FileSink::new(dir.path().to_path_buf());
        sink.append("t", b"{\"next\":2}\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"whole\":1}\n{\"cut\n{\"next\":2}\n"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_cut_back() {
        // Writing past a size limit fails part-way, like a full disk.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"line\n").unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        // `/dev/full` as the failing half: a real partial write is tested on a small
        // tmpfs in tests/security; here the cut-back bookkeeping is checked.
        append_whole(&mut file, b"more\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"line\nmore\n");
        let mut full = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .unwrap();
        assert!(append_whole(&mut full, b"x\n").is_err());
    }
}
