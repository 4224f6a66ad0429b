//! Prompt history kept between runs in `~/.baton/history`: one JSON string per line
//! (so multi-line prompts survive), newest last, at most a set number of entries,
//! private to the user. Nothing that carries a secret is written: a `/set` of a
//! credential-like setting, or any entry holding a key baton has seen.

use std::path::Path;

use crate::fsutil::{self, ReadError};
use crate::redact;

/// Default number of prompts kept.
pub(crate) const DEFAULT_SIZE: usize = 1000;

/// Largest history file read back.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The entries saved in `path`, oldest first, at most `size`. A missing file is an
/// empty history; a damaged line is skipped, never fatal.
pub(crate) fn load(path: &Path, size: usize) -> Result<Vec<String>, ReadError> {
    let text = match fsutil::read_capped_string(path, MAX_FILE_BYTES) {
        Ok(text) => text,
        Err(ReadError::NotFound { .. }) => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut entries: Vec<String> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<String>(line).ok())
        .filter(|entry| keepable(entry))
        .collect();
    let excess = entries.len().saturating_sub(size);
    entries.drain(..excess);
    Ok(entries)
}

/// Writes the newest `size` of `entries` to `path` (atomically, `0600`), leaving out
/// any that carry a secret.
pub(crate) fn save(path: &Path, entries: &[String], size: usize) -> std::io::Result<()> {
    let kept: Vec<&String> = entries.iter().filter(|e| keepable(e)).collect();
    let start = kept.len().saturating_sub(size);
    let mut out = String::new();
    for entry in &kept[start..] {
        // A string always serialises.
        if let Ok(line) = serde_json::to_string(entry) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    fsutil::write_atomic(path, out.as_bytes())
}

/// False for an entry that must not be written down.
fn keepable(entry: &str) -> bool {
    if entry.trim().is_empty() {
        return false;
    }
    if redact::text(entry) != entry {
        return false;
    }
    let mut words = entry.split_whitespace();
    if words.next() == Some("/set") {
        let key = match words.next() {
            Some("modelparam") => words.next(),
            other => other,
        };
        if key.is_some_and(|k| {
            let k = k.split('=').next().unwrap_or(k);
            redact::is_key_like(k) || k.starts_with("auth-") || k == "custom-headers"
        }) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_multi_line_prompts_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("history");
        let entries: Vec<String> = (0..5).map(|i| format!("prompt {i}\nline two")).collect();
        assert!(save(&path, &entries, 3).is_ok());
        let loaded = load(&path, 10).unwrap_or_default();
        assert_eq!(loaded, entries[2..].to_vec());
        assert_eq!(load(&path, 2).unwrap_or_default(), entries[3..].to_vec());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
    }

    #[test]
    fn secrets_typed_into_set_are_never_written() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("history");
        let entries: Vec<String> = [
            "/set auth-key sk-live-1234567890",
            "/set modelparam api_key abc123",
            "/set custom-headers {\"x-api-key\":\"k\"}",
            "/set timeout_ms 5000",
            "explain the breaker",
        ]
        .map(String::from)
        .to_vec();
        assert!(save(&path, &entries, 10).is_ok());
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(!text.contains("sk-live"), "{text}");
        assert!(!text.contains("abc123"), "{text}");
        assert!(!text.contains("x-api-key"), "{text}");
        assert_eq!(
            load(&path, 10).unwrap_or_default(),
            vec!["/set timeout_ms 5000", "explain the breaker"]
        );
    }

    #[test]
    fn a_missing_file_is_empty_and_damaged_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("history");
        assert_eq!(load(&path, 10).ok(), Some(Vec::new()));
        assert!(std::fs::write(&path, "\"ok\"\nnot json\n\"also ok\"\n").is_ok());
        assert_eq!(load(&path, 10).unwrap_or_default(), vec!["ok", "also ok"]);
    }
}
