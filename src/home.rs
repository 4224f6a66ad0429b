//! Where baton keeps its files: `$BATON_HOME`, else `~/.baton`.
//!
//! Folders are created on first use, not at start-up, so `baton --version` and
//! `baton --help` never touch the disk.

use std::io;
use std::path::{Path, PathBuf};

/// The environment variable that moves baton's home.
pub const HOME_ENV: &str = "BATON_HOME";

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
                format!("cannot find your home folder; set {HOME_ENV} to where baton should keep its files"),
            )
        })?;
        Ok(Self::at(base.home_dir().join(".baton")))
    }

    /// The home folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `profiles/`: one JSON file per profile.
    pub fn profiles_dir(&self) -> PathBuf {
        self.root.join("profiles")
    }

    /// `state/`: breaker, TPM and metrics state per load-balancer profile.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// `logs/`: the rolling debug log of the interactive UI.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `sessions/`: transcripts.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }
}

/// Creates `dir` (and its parents) if it does not exist yet.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}
