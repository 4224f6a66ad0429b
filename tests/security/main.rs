//! The safe-by-default guarantees, each checked from the outside: the real `baton`
//! binary (or the library's file code) on a temporary home. One test per promise:
//! private files, no secrets on disk, one conversation per session file, resumes that
//! never change profile silently, whole records, bounded settings, profile
//! resolution in linear time, capped reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod files;
mod profiles;
mod secrets;
mod sessions;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Held by the tests that load the machine (200 child processes) or time it (the
/// 2,000-member load balancer), so one does not skew the other.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`HEAVY`], even after a test that held it failed.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fresh baton home in a temporary folder.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The home itself (a folder inside the temp dir, so baton creates it).
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn sessions(&self) -> PathBuf {
        self.path().join("sessions")
    }

    pub fn profiles(&self) -> PathBuf {
        self.path().join("profiles")
    }

    /// `baton` with this home and no debug output.
    pub fn baton(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
        cmd.env("BATON_HOME", self.path())
            .env_remove("BATON_DEBUG")
            .env("BATON_SIM_SEED", "1")
            .env("BATON_SEED", "1")
            .stdin(std::process::Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.baton().args(args).output().unwrap()
    }

    pub fn write_profile(&self, name: &str, json: &str) -> PathBuf {
        std::fs::create_dir_all(self.profiles()).unwrap();
        let path = self.profiles().join(format!("{name}.json"));
        std::fs::write(&path, json).unwrap();
        path
    }

    /// Session files, sorted.
    pub fn session_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.sessions())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}
