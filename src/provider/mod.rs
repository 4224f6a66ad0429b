//! Providers: one trait, one file per wire format.
//!
//! A [`Provider`] turns a [`ChatRequest`] into a stream of [`StreamEvent`]s. Every
//! failure is a [`ProviderError`] whose [`ErrorClass`] tells the engine what to do
//! next: retry the same backend, fail over at once, or fail over only to a backend
//! that differs (identical siblings fail identically).

pub mod anthropic;
pub mod gemini;
mod http;
pub mod keys;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod sim;
pub mod sse;

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

pub use keys::ApiKey;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person at the keyboard.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A message from the user.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// What a provider is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// The conversation so far, ending with the user's prompt.
    pub messages: Vec<Message>,
    /// Stream the answer (`true`) or ask for it whole (`false`, `--no-stream`).
    pub stream: bool,
}

/// Token counts of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub input_tokens: u64,
    /// Tokens in the answer.
    pub output_tokens: u64,
    /// True when the provider sent no usage and baton estimated it from the text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

impl Usage {
    /// Prompt plus answer tokens.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// A rough count for providers that send none: about four characters a token.
    pub fn estimate(prompt_chars: usize, answer_chars: usize) -> Self {
        let est = |chars: usize| chars.div_ceil(4) as u64;
        Self {
            input_tokens: est(prompt_chars),
            output_tokens: est(answer_chars),
            estimated: true,
        }
    }
}

/// One decoded piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Answer text to show.
    Delta(String),
    /// Token counts (may come before or after the last delta).
    Usage(Usage),
    /// The provider said the answer is complete (`[DONE]`, `message_stop`, a finish
    /// reason, `done: true`). A stream that ends without it was cut.
    Finished {
        /// The provider's finish reason, when it gave one.
        reason: Option<String>,
    },
}

/// The wire formats baton speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI chat completions and every compatible server.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `streamGenerateContent`.
    Gemini,
    /// Ollama `/api/chat` (NDJSON).
    Ollama,
    /// The built-in, keyless demo backend.
    Sim,
}

/// How the engine should react to an error (DESIGN.md, "Error classes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Worth retrying on the same backend, then failing over.
    Transient,
    /// Credentials or billing: no retry on this backend, fail over at once.
    Auth,
    /// The request itself is wrong: no retry; only a backend that differs may succeed.
    Request,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "transient",
            Self::Auth => "auth",
            Self::Request => "request",
        })
    }
}

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A frame held data that is not what the wire format promises.
    #[error("malformed stream data: {detail}")]
    Malformed {
        /// What was wrong, with a short excerpt of the data.
        detail: String,
    },
    /// The body ended before the provider said the answer was complete.
    #[error("stream ended before the answer was complete")]
    Truncated,
    /// The connection broke while the body was being read.
    #[error("connection lost while streaming: {0}")]
    Io(String),
}

/// Everything that can go wrong when asking a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The server could not be reached: refused, DNS, TLS, reset, socket timeout.
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// Where baton tried to connect.
        url: String,
        /// What the network said.
        reason: String,
    },
    /// The server answered with an HTTP error status.
    #[error("{status} {}{}", status_text(*status), if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The provider's own error message, when it sent one.
        message: String,
        /// How long the provider asked us to wait (`Retry-After`, `retry-after-ms`).
        retry_after: Option<Duration>,
    },
    /// The answer's stream broke or held malformed data.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The provider answered with nothing.
    #[error("the provider sent an empty answer")]
    Empty,
    /// No API key could be found for a provider that needs one.
    #[error("no API key for {provider}: {hint}")]
    MissingKey {
        /// The provider's name.
        provider: String,
        /// What to set, e.g. "set OPENAI_API_KEY or the auth-keyfile setting".
        hint: String,
    },
    /// The backend is configured in a way that cannot work (bad URL, bad key file).
    #[error("{0}")]
    Config(String),
}

impl ProviderError {
    /// The class that decides retry and failover (DESIGN.md's table).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Connect { .. } | Self::Stream(_) | Self::Empty => ErrorClass::Transient,
            Self::Http {
                status, message, ..
            } => classify_status(*status, message),
            Self::MissingKey { .. } => ErrorClass::Auth,
            Self::Config(_) => ErrorClass::Request,
        }
    }

    /// How long the provider asked us to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Maps an HTTP status (and, for 400, the message) to an error class.
pub fn classify_status(status: u16, message: &str) -> ErrorClass {
    match status {
        401..=403 => ErrorClass::Auth,
        408 | 429 | 500 | 502 | 503 | 504 | 529 => ErrorClass::Transient,
        // Context-length and other 4xx errors repeat identically on a retry.
        400..=499 => ErrorClass::Request,
        500..=599 => ErrorClass::Transient,
        _ => {
            let _ = message;
            ErrorClass::Request
        }
    }
}

/// The reason phrase of common statuses, for messages like `401 Unauthorized`.
pub fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Error",
    }
}

/// The stream of events one request produces.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// A backend that answers chat requests.
///
/// `stream` returns at once; connecting, sending and decoding happen as the stream is
/// polled, so dropping the stream cancels the request.
pub trait Provider: Send + Sync + fmt::Debug {
    /// The wire format this provider speaks.
    fn kind(&self) -> ProviderKind;
    /// The model name sent to the server.
    fn model(&self) -> &str;
    /// Starts a request.
    fn stream(&self, request: ChatRequest) -> EventStream;
}

// ---- temporary shim until the wire formats land ----
#[allow(missing_docs)]
#[derive(Debug, Clone)]
pub struct BackendSpec {
    pub name: String,
    pub provider: String,
    pub model: String,
    pub base_url: Option<String>,
    pub api_key: Option<ApiKey>,
    pub model_params: serde_json::Map<String, serde_json::Value>,
    pub socket_timeout: Option<Duration>,
    pub headers: Vec<(String, String)>,
}
#[allow(missing_docs)]
#[derive(Debug)]
pub struct ProviderInfo {
    pub name: &'static str,
    pub kind: ProviderKind,
    pub default_base_url: &'static str,
    pub key_env: &'static [&'static str],
    pub key_required: bool,
}
static SIM: ProviderInfo = ProviderInfo {
    name: "sim",
    kind: ProviderKind::Sim,
    default_base_url: "",
    key_env: &[],
    key_required: false,
};
#[allow(missing_docs)]
pub fn lookup(p: &str) -> Option<&'static ProviderInfo> {
    (p == "sim").then_some(&SIM)
}
#[allow(missing_docs)]
pub fn known_providers() -> Vec<&'static str> {
    vec!["sim"]
}
#[allow(missing_docs)]
pub fn http_client() -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .build()
        .map_err(|e| ProviderError::Config(e.to_string()))
}
#[allow(missing_docs)]
pub fn build(
    spec: &BackendSpec,
    _c: &reqwest::Client,
) -> Result<std::sync::Arc<dyn Provider>, ProviderError> {
    Ok(std::sync::Arc::new(sim::SimProvider::new(&spec.model)?))
}
