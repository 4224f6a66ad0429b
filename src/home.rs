//! Where baton keeps its files: `$BATON_HOME`, else `~/.baton`.
//!
//! Folders are created on first use, not at start-up, so `baton --version` and
//! `baton --help` never touch the disk.

use std::io;
use std::path::{Path, PathBuf};

/// The environment variable that moves baton's home.
pub(crate) const HOME_ENV: &str = "BATON_HOME";

/// baton's home folder and the folders inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// A home at an explicit path (tests, `BATON_HOME`).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$BATON_HOME` when set and not empty, else `~/.baton` from the platform's
    /// idea of the user's home folder.
    pub fn from_env() -> io::Result<Self> {
        if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            return Ok(Self::at(dir));
        }
        let base = directories::BaseDirs::new().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "cannot find your home folder; set {HOME_ENV} to where baton should keep \
                     its files"
                ),
            )
        })?;
        Ok(Self::at(base.home_dir().join(".baton")))
    }

    /// The home folder itself.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `profiles/`: one JSON file per profile.
    pub fn profiles_dir(&self) -> PathBuf {
        self.root.join("profiles")
    }

    /// `roles/`: one Markdown file per role (a system prompt, maybe settings).
    pub(crate) fn roles_dir(&self) -> PathBuf {
        self.root.join("roles")
    }

    /// `state/`: breaker, TPM and metrics state per load-balancer profile.
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// `logs/`: the rolling debug log of the interactive UI.
    pub(crate) fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `sessions/`: transcripts.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }

    /// `history`: the chat's prompt history, one JSON string per line.
    pub(crate) fn history_file(&self) -> PathBuf {
        self.root.join("history")
    }

    /// `spill/`: archive records that overflowed the queue, waiting to be written.
    pub(crate) fn spill_dir(&self) -> PathBuf {
        self.root.join("spill")
    }

    /// The home and every folder baton keeps in it.
    fn folders(&self) -> [PathBuf; 6] {
        [
            self.root.clone(),
            self.profiles_dir(),
            self.state_dir(),
            self.logs_dir(),
            self.sessions_dir(),
            self.spill_dir(),
        ]
    }

    /// Makes the home private when an older baton (or a hand-made folder) left it
    /// readable by others: each such folder becomes `0700` and the files directly in
    /// it `0600`. Returns one [`Tightened`] per folder changed, or that could not be
    /// changed. Private folders are not walked, so once tightened this costs one
    /// `stat` per folder.
    pub(crate) fn tighten(&self) -> Vec<Tightened> {
        let mut notes = Vec::new();
        for dir in self.folders() {
            let Some(mode) = crate::fsutil::loose_mode(&dir) else {
                continue;
            };
            let mut failed = crate::fsutil::make_private(&dir)
                .err()
                .map(|e| e.to_string());
            let entries = std::fs::read_dir(&dir).into_iter().flatten().flatten();
            for entry in entries {
                let path = entry.path();
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                if is_file
                    && crate::fsutil::loose_mode(&path).is_some()
                    && let Err(e) = crate::fsutil::make_private(&path)
                {
                    failed.get_or_insert_with(|| format!("{}: {e}", path.display()));
                }
            }
            notes.push(Tightened { dir, mode, failed });
        }
        notes
    }
}

/// A folder of the home that was readable by others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tightened {
    /// The folder.
    pub(crate) dir: PathBuf,
    /// Its permission bits before.
    pub(crate) mode: u32,
    /// Why it (or a file in it) could not be made private; `None` when it was.
    pub(crate) failed: Option<String>,
}

impl std::fmt::Display for Tightened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (dir, mode) = (self.dir.display(), self.mode);
        match &self.failed {
            None => write!(
                f,
                "{dir} was readable by others (mode {mode:o}); made it private (700, files 600)"
            ),
            Some(e) => write!(
                f,
                "{dir} is readable by others (mode {mode:o}) and could not be made private: {e}"
            ),
        }
    }
}

/// Creates `dir` (and its parents) if it does not exist yet, private to the user
/// (`0700`): sessions hold whole conversations.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    crate::fsutil::create_private_dir(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).map_or(0, |m| m.permissions().mode() & 0o777)
    }

    #[test]
    fn tighten_makes_a_loose_home_private_once() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::at(tmp.path().join("h"));
        std::fs::create_dir_all(home.sessions_dir()).unwrap();
        let file = home.sessions_dir().join("a.jsonl");
        std::fs::write(&file, "{}").unwrap();
        for p in [home.root(), &home.sessions_dir()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let notes = home.tighten();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].to_string().contains("mode 755"), "{notes:?}");
        assert!(notes.iter().all(|n| n.failed.is_none()), "{notes:?}");
        assert_eq!(mode(home.root()), 0o700);
        assert_eq!(mode(&home.sessions_dir()), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert!(home.tighten().is_empty());
    }
}
