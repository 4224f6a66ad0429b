//! A local fault-injecting LLM server speaking every wire format baton uses.
//!
//! Integration tests start one with [`MockServer::start`]; `baton mock` serves one
//! on a fixed port for shell acceptance scripts. It is a real HTTP/1.1 server on
//! real TCP, so baton's providers are exercised exactly as against a provider.
//!
//! # Backends and paths
//! Each named backend lives under its own path prefix and speaks all four formats:
//!
//! | format | endpoint(s) under `/{backend}` | base URL helper |
//! |---|---|---|
//! | OpenAI-compatible | `POST /v1/chat/completions`, `GET /v1/models` | [`MockServer::base_url`] |
//! | Anthropic Messages | `POST /v1/messages` | [`MockServer::anthropic_base_url`] |
//! | Gemini | `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`, `POST /v1beta/models/{model}:generateContent`, `GET /v1beta/models` | [`MockServer::gemini_base_url`] |
//! | Ollama | `POST /api/chat` (streams unless `"stream":false`), `GET /api/tags` | [`MockServer::ollama_base_url`] |
//!
//! Every chat request is counted and recorded (last [`RECORD_LIMIT`] per backend,
//! keys redacted), then gets the next [`Behavior`] of the backend's script, or its
//! default behavior once the script is empty. Model listings only check the key.
//!
//! # Control API (for curl)
//! - `GET /_mock/backends`: every backend's behavior, script and request count.
//! - `GET /_mock/backends/{name}`: the same for one, plus its recorded requests.
//! - `PUT /_mock/backends/{name}` with a [`BackendConfig`]: create or replace.
//! - `DELETE /_mock/backends/{name}`: remove.
//! - `POST /_mock/backends/{name}/script` with one behavior or an array: append.
//! - `POST /_mock/reset`: zero the counters and forget recorded requests.
//!
//! # Config file
//! ```json
//! {
//!   "backends": {
//!     "primary":   { "behavior": { "kind": "answer", "first_chunk_delay_ms": 6000 } },
//!     "secondary": { "behavior": { "kind": "answer", "tokens": 40, "token_delay_ms": 10 },
//!                    "script": [ { "kind": "status", "code": 429, "retry_after_s": 1 } ] },
//!     "locked":    { "behavior": { "kind": "answer" }, "require_key": "sk-test" }
//!   }
//! }
//! ```

mod behavior;
mod config;
mod conn;
mod control;
mod handler;
mod respond;
mod route;
mod server;
mod state;
mod wire;

use std::path::PathBuf;

pub use config::{Answer, BackendConfig, Behavior, MockConfig};
pub use server::MockServer;
pub use state::{RECORD_LIMIT, RecordedRequest};
pub use wire::Wire;

/// Why a mock config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The config file could not be read.
    #[error("cannot read mock config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The JSON is malformed or does not fit the config shape.
    #[error("mock config {origin} is not valid: {source}")]
    Parse {
        /// The file (or "control API").
        origin: String,
        /// serde's message, naming the field, line and column.
        source: serde_json::Error,
    },
    /// A backend name cannot be used as a path segment.
    #[error("mock config {origin}: backend name {name:?} {reason}")]
    BadName {
        /// The file (or "control API").
        origin: String,
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A behavior holds a value out of range.
    #[error("mock config {origin}: backends.{backend}.{field}: {reason}")]
    BadField {
        /// The file (or "control API").
        origin: String,
        /// The backend.
        backend: String,
        /// The field path inside the backend, e.g. `script[1].code`.
        field: String,
        /// What is allowed.
        reason: String,
    },
}
