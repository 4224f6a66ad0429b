//! Spill files: records that did not fit the queue, parked in `~/.baton/spill/`
//! until the writer is idle.
//!
//! Each file is written whole (temp file + rename), so a crash never leaves half a
//! spill file behind; one that still fails to parse was damaged from outside and is
//! renamed `NAME.failed-<unix ms>.jsonl`, kept for a human, and skipped.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::record::{Record, parse_line, unix_millis};

/// Makes spill names unique within the process (the pid does across processes).
static SPILL_COUNTER: AtomicU64 = AtomicU64::new(0);

const FAILED_MARK: &str = ".failed-";

/// Largest spill file read back; the spiller writes one batch of overflow per file,
/// far below this.
const MAX_SPILL_BYTES: u64 = 256 * 1024 * 1024;

/// Writes `records` to a new spill file in `dir` (created on first use) and returns
/// its path. Names start with the time, so sorting them sorts them by age.
pub(crate) fn write(dir: &Path, records: &[Record]) -> io::Result<PathBuf> {
    crate::fsutil::create_private_dir(dir).map_err(|e| with_path(dir, e))?;
    let name = format!(
        "{:013}-{}-{:06}.jsonl",
        unix_millis(),
        std::process::id(),
        SPILL_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut text = Vec::with_capacity(records.len() * 128);
    for record in records {
        super::record::encode(record, &mut text).map_err(io::Error::other)?;
    }
    let written = (|| -> io::Result<()> {
        let mut file = crate::fsutil::private_options()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(&text)?;
        drop(file);
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        // The temp file is ours and useless now; the write error is what matters.
        let _ = fs::remove_file(&tmp);
        return Err(with_path(&path, e));
    }
    Ok(path)
}

/// Spill files waiting in `dir`, oldest first. Temp files, quarantined files and a
/// missing folder are skipped.
pub(crate) fn scan(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.ends_with(".jsonl") && !n.starts_with('.') && !n.contains(FAILED_MARK)
            })
        })
        .collect();
    files.sort();
    files
}

/// What reading a spill file gave.
pub(crate) enum Taken {
    /// Every line parsed.
    Records(Vec<Record>),
    /// A line did not parse; the file was renamed `*.failed-<ts>.jsonl`.
    Quarantined,
    /// Someone else took it first.
    Gone,
}

/// Reads a spill file whole. A file with any unreadable line is quarantined.
pub(crate) fn take(path: &Path) -> io::Result<Taken> {
    use crate::fsutil::ReadError;
    let text = match crate::fsutil::read_capped_string(path, MAX_SPILL_BYTES) {
        Ok(text) => text,
        Err(ReadError::NotFound { .. }) => return Ok(Taken::Gone),
        // Not UTF-8, not a file, or bigger than baton ever writes: damage too.
        Err(ReadError::Io { source, .. }) if source.kind() == io::ErrorKind::InvalidData => {
            return quarantine(path).map(|_| Taken::Quarantined);
        }
        Err(ReadError::NotRegular { .. } | ReadError::TooLarge { .. }) => {
            return quarantine(path).map(|_| Taken::Quarantined);
        }
        Err(ReadError::Io { source, .. }) => return Err(with_path(path, source)),
    };
    let mut records = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_line(line) {
            Some(r) => records.push(r),
            None => return quarantine(path).map(|_| Taken::Quarantined),
        }
    }
    Ok(Taken::Records(records))
}

/// Removes a spill file whose records are safely in their session files.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(path, e)),
        _ => Ok(()),
    }
}

/// Renames `NAME.jsonl` to `NAME.failed-<unix ms>.jsonl`.
fn quarantine(path: &Path) -> io::Result<PathBuf> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".jsonl").unwrap_or(n).to_string())
        .unwrap_or_default();
    let target = path.with_file_name(format!("{stem}{FAILED_MARK}{}.jsonl", unix_millis()));
    fs::rename(path, &target).map_err(|e| with_path(path, e))?;
    tracing::warn!(
        "archive: spill file {} could not be read; kept as {} and skipped",
        path.display(),
        target.display()
    );
    Ok(target)
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
