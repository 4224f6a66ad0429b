//! Shared helpers for the integration tests: a temporary baton home, profiles
//! written into it, the real binary, and the mock server on a runtime of its own
//! (so a test can block on the child process while the server keeps serving).

// Test scaffolding: a failure to set up should panic loudly.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use baton_mock::{BackendConfig, Behavior, MockConfig, MockServer};

/// Environment variables that could leak a real key into a test run.
const KEY_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "BATON_DEBUG",
];

/// A temporary `BATON_HOME`.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn profiles(&self) -> PathBuf {
        self.dir.path().join("profiles")
    }

    /// Writes `profiles/NAME.json`.
    pub fn profile(&self, name: &str, json: &str) -> PathBuf {
        std::fs::create_dir_all(self.profiles()).expect("profiles dir");
        let path = self.profiles().join(format!("{name}.json"));
        std::fs::write(&path, json).expect("write profile");
        path
    }

    /// An OpenAI-compatible model profile pointing at `base_url`.
    pub fn openai_profile(&self, name: &str, base_url: &str) -> PathBuf {
        self.profile(
            name,
            &format!(
                r#"{{"version":1,"provider":"openai","model":"mock-model","modelParams":{{}},"ephemeralSettings":{{"base-url":"{base_url}"}}}}"#
            ),
        )
    }

    /// A load-balancer profile over `members` with extra ephemeral settings (JSON members).
    pub fn lb_profile(
        &self,
        name: &str,
        policy: &str,
        members: &[&str],
        settings: &str,
    ) -> PathBuf {
        let list = members
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(",");
        self.profile(
            name,
            &format!(
                r#"{{"version":1,"type":"loadbalancer","policy":"{policy}","profiles":[{list}],"provider":"","model":"","modelParams":{{}},"ephemeralSettings":{{{settings}}}}}"#
            ),
        )
    }

    /// The real binary with this home, no keys and a fixed seed.
    pub fn baton(&self) -> Command {
        let mut cmd = Command::cargo_bin("baton").expect("binary");
        for var in KEY_VARS {
            cmd.env_remove(var);
        }
        cmd.env("BATON_HOME", self.path())
            .env("BATON_SIM_SEED", "1")
            .env("BATON_SEED", "1");
        cmd
    }
}

/// The mock server, kept alive on its own runtime.
pub struct Mock {
    pub server: MockServer,
    _runtime: tokio::runtime::Runtime,
}

impl Mock {
    pub fn start(config: MockConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = runtime
            .block_on(MockServer::start(config))
            .expect("mock server");
        Self {
            server,
            _runtime: runtime,
        }
    }

    /// A mock whose backends each have one behavior.
    pub fn with(backends: &[(&str, Behavior)]) -> Self {
        let config = backends
            .iter()
            .fold(MockConfig::default(), |c, (name, behavior)| {
                c.with_backend(*name, BackendConfig::new(behavior.clone()))
            });
        Self::start(config)
    }

    pub fn base_url(&self, backend: &str) -> String {
        self.server.base_url(backend)
    }

    pub fn requests(&self, backend: &str) -> usize {
        self.server.requests(backend)
    }
}

/// A base URL where nothing listens.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

/// Output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
