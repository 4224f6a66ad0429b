//! Attaching text files to a prompt: `@path` inside the prompt (chat and one-shot)
//! or `/attach PATH` in the chat. Each file goes after the prompt as a fenced block
//! headed by its path, so the model sees what it is and where it ends.
//!
//! A word `@x` that names no file is left as typed (`@alice` stays a mention). A file
//! that is too large, not text, or unreadable is refused with a message naming it,
//! and nothing is sent.

use std::path::{Path, PathBuf};

/// The most one attached file may hold.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A file read for attaching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attachment {
    /// The path as the user wrote it.
    pub(crate) shown: String,
    /// Its text.
    pub(crate) text: String,
}

impl Attachment {
    /// `src/main.rs (120 lines, 3.2 KiB)`, for the chat's notice.
    pub(crate) fn summary(&self) -> String {
        let lines = self.text.lines().count();
        let size = crate::fsutil::human_size(self.text.len() as u64);
        let unit = if lines == 1 { "line" } else { "lines" };
        format!("{} ({lines} {unit}, {size})", self.shown)
    }
}

/// Why a file cannot be attached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AttachError {
    #[error("cannot attach {0}: no such file")]
    Missing(String),
    #[error("cannot attach {0}: it is a folder; attach the files in it one by one")]
    Folder(String),
    #[error("cannot attach {path}: {size} is more than the {limit} an attachment may hold")]
    TooLarge {
        path: String,
        size: String,
        limit: String,
    },
    #[error("cannot attach {0}: it is not a text file (binary data or not UTF-8)")]
    Binary(String),
    #[error("cannot attach {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// Reads `shown` (relative to `cwd`, `~/` expanded) as an attachment.
pub(crate) fn read(shown: &str, cwd: &Path) -> Result<Attachment, AttachError> {
    let path = resolve(shown, cwd);
    let meta = std::fs::metadata(&path).map_err(|_| AttachError::Missing(shown.to_string()))?;
    if meta.is_dir() {
        return Err(AttachError::Folder(shown.to_string()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(AttachError::TooLarge {
            path: shown.to_string(),
            size: crate::fsutil::human_size(meta.len()),
            limit: crate::fsutil::human_size(MAX_FILE_BYTES),
        });
    }
    let bytes =
        crate::fsutil::read_capped(&path, MAX_FILE_BYTES).map_err(|e| AttachError::Unreadable {
            path: shown.to_string(),
            reason: e.to_string(),
        })?;
    if bytes.contains(&0) {
        return Err(AttachError::Binary(shown.to_string()));
    }
    let text = String::from_utf8(bytes).map_err(|_| AttachError::Binary(shown.to_string()))?;
    Ok(Attachment {
        shown: shown.to_string(),
        text,
    })
}

fn resolve(shown: &str, cwd: &Path) -> PathBuf {
    if let Some(rest) = shown.strip_prefix("~/")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join(rest);
    }
    cwd.join(shown)
}

/// The files `@path` words in `prompt` name (in order, each once), read.
pub(crate) fn mentioned(prompt: &str, cwd: &Path) -> Result<Vec<Attachment>, AttachError> {
    let mut out: Vec<Attachment> = Vec::new();
    for word in prompt.split_whitespace() {
        let Some(shown) = word.strip_prefix('@') else {
            continue;
        };
        // Sentence punctuation after a path is not part of it.
        let shown = shown.trim_end_matches([',', ';', ':', '!', '?', ')']);
        let shown = match shown.strip_suffix('.') {
            Some(stripped) if !stripped.is_empty() && !resolve(shown, cwd).exists() => stripped,
            _ => shown,
        };
        if shown.is_empty() || !resolve(shown, cwd).exists() || out.iter().any(|a| a.shown == shown)
        {
            continue;
        }
        out.push(read(shown, cwd)?);
    }
    Ok(out)
}

/// `prompt` with `files` after it, each a fenced block headed by its path. The
/// fence is longer than any backtick run in the file, so a file with code fences
/// of its own stays whole.
pub(crate) fn with_files(prompt: &str, files: &[Attachment]) -> String {
    let mut out = prompt.trim_end().to_string();
    for file in files {
        let longest = longest_backtick_run(&file.text);
        let fence = "`".repeat(longest.max(2) + 1);
        let lang = Path::new(&file.shown)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        out.push_str(&format!(
            "\n\n{}:\n{fence}{lang}\n{}\n{fence}",
            file.shown,
            file.text.trim_end_matches('\n')
        ));
    }
    out
}

fn longest_backtick_run(text: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in text.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Paths under `cwd` that complete `partial` (the text after `@`), folders with a
/// trailing `/`, sorted; hidden entries only when `partial` asks for them.
pub(crate) fn complete_path(partial: &str, cwd: &Path) -> Vec<String> {
    let (dir_part, name_part) = match partial.rfind('/') {
        Some(i) => (&partial[..=i], &partial[i + 1..]),
        None => ("", partial),
    };
    let dir = resolve(if dir_part.is_empty() { "." } else { dir_part }, cwd);
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with(name_part)
                || (name.starts_with('.') && !name_part.starts_with('.'))
            {
                return None;
            }
            let slash = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                "/"
            } else {
                ""
            };
            Some(format!("{dir_part}{name}{slash}"))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        dir
    }

    #[test]
    fn mentioned_files_follow_the_prompt_in_fences() {
        let dir = dir_with(&[("src/a.rs", b"fn a() {}\n"), ("notes.md", b"```\nx\n```\n")]);
        let prompt = "compare @src/a.rs and @notes.md, thanks @alice";
        let files = mentioned(prompt, dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].summary(), "src/a.rs (1 line, 10 bytes)");
        assert_eq!(
            with_files(prompt, &files),
            "compare @src/a.rs and @notes.md, thanks @alice\n\nsrc/a.rs:\n```rs\nfn a() {}\n```\n\nnotes.md:\n````md\n```\nx\n```\n````"
        );
    }

    #[test]
    fn bad_attachments_are_refused_by_name() {
        let dir = dir_with(&[
            ("bin.dat", b"\x00\x01\x02"),
            ("big.txt", &[b'a'; 1024 * 1024 + 1]),
        ]);
        let err = |p: &str| read(p, dir.path()).unwrap_err().to_string();
        assert_eq!(
            err("bin.dat"),
            "cannot attach bin.dat: it is not a text file (binary data or not UTF-8)"
        );
        assert_eq!(
            err("big.txt"),
            "cannot attach big.txt: 1048577 bytes is more than the 1 MiB an attachment may hold"
        );
        assert_eq!(err("nope.txt"), "cannot attach nope.txt: no such file");
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert!(err("d").contains("it is a folder"));
        // A binary file named with @ stops the prompt rather than going out garbled.
        assert!(mentioned("look at @bin.dat", dir.path()).is_err());
    }

    #[test]
    fn paths_complete_from_the_working_folder() {
        let dir = dir_with(&[
            ("src/main.rs", b""),
            ("src/lib.rs", b""),
            ("Cargo.toml", b""),
            (".hidden", b""),
        ]);
        assert_eq!(complete_path("sr", dir.path()), ["src/"]);
        assert_eq!(
            complete_path("src/", dir.path()),
            ["src/lib.rs", "src/main.rs"]
        );
        assert_eq!(complete_path("", dir.path()), ["Cargo.toml", "src/"]);
    }
}
