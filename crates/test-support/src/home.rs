//! A temporary `BATON_HOME` and the real `baton` binary pointed at it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use baton::profile::Profile;

/// Environment variables that could leak a real key or a debug spec into a run.
pub const KEY_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "BATON_DEBUG",
];

/// A temporary `BATON_HOME`, removed when dropped.
pub struct TempHome {
    dir: tempfile::TempDir,
}

impl Default for TempHome {
    fn default() -> Self {
        Self::new()
    }
}

impl TempHome {
    /// An empty home.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // Private, as baton makes its own home: a looser one is tightened with a note
        // on stderr, which tests of stderr would then see.
        private(dir.path());
        Self { dir }
    }

    /// The home's root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Its profiles folder.
    pub fn profiles(&self) -> PathBuf {
        baton::home::Home::at(self.path()).profiles_dir()
    }

    /// Saves a profile built with [`crate::profile`].
    pub fn write(&self, name: &str, profile: impl Into<Profile>) -> PathBuf {
        crate::profile::write(&self.profiles(), name, profile)
    }

    /// Writes `profiles/NAME.json` byte for byte: for tests of how a given file
    /// is read, not for fixtures.
    pub fn raw_profile(&self, name: &str, json: &str) -> PathBuf {
        std::fs::create_dir_all(self.profiles()).expect("profiles dir");
        private(&self.profiles());
        let path = self.profiles().join(format!("{name}.json"));
        std::fs::write(&path, json).expect("write profile");
        path
    }

    /// An OpenAI-compatible profile for the mock model at `base_url`.
    pub fn openai_profile(&self, name: &str, base_url: &str) -> PathBuf {
        self.write(name, crate::profile::openai(base_url))
    }

    /// The real binary with this home, no keys and fixed seeds.
    pub fn baton(&self) -> Command {
        let mut cmd = Command::cargo_bin("baton").expect("the baton binary");
        for var in KEY_VARS {
            cmd.env_remove(var);
        }
        cmd.env("BATON_HOME", self.path())
            .env("BATON_SIM_SEED", "1")
            .env("BATON_SEED", "1");
        cmd
    }
}

fn private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod 700");
}

/// Output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
