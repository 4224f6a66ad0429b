//! Providers: one trait, one file per wire format.
//!
//! A [`Provider`] turns a [`ChatRequest`] into a stream of [`StreamEvent`]s. Every
//! failure is a [`ProviderError`] whose [`ErrorClass`] tells the engine what to do
//! next: retry the same backend, fail over at once, or fail over only to a backend
//! that differs (identical siblings fail identically).
//!
//! [`lookup`] and [`build`] turn a profile's provider name and settings (a
//! [`BackendSpec`]) into a ready [`Provider`]; [`resolve_key`] finds its key.

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
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

pub use http::{CONNECT_TIMEOUT, USER_AGENT, http_client};
pub use keys::{ApiKey, resolve_key};

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

impl Role {
    /// The name every wire format uses (`system`, `user`, `assistant`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
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
    #[error("{status} {}{}", status_text(*status), http_detail(*status, message))]
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

    /// The error in a few words: `401 Unauthorized` for an HTTP status (without
    /// the provider's message), the whole message otherwise. Log markers use it,
    /// since scripts grep them byte for byte.
    pub fn headline(&self) -> String {
        match self {
            Self::Http { status, .. } => format!("{status} {}", status_text(*status)),
            Self::Connect { .. }
            | Self::Stream(_)
            | Self::Empty
            | Self::MissingKey { .. }
            | Self::Config(_) => self.to_string(),
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

/// `": message"` after the status, unless the message only repeats the reason
/// phrase (`401 Unauthorized: Unauthorized` says nothing twice).
fn http_detail(status: u16, message: &str) -> String {
    let message = message.trim();
    if message.is_empty() || message.eq_ignore_ascii_case(status_text(status)) {
        String::new()
    } else {
        format!(": {message}")
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

/// Everything needed to build one backend, gathered from a model profile.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec {
    /// The profile's name (used in messages).
    pub name: String,
    /// The provider as written in the profile (`openai`, `google`, ...).
    pub provider: String,
    /// The model name sent to the server.
    pub model: String,
    /// `base-url`, when the profile overrides the provider's default.
    pub base_url: Option<String>,
    /// The key, already resolved with [`resolve_key`].
    pub api_key: Option<ApiKey>,
    /// Sampling parameters (`temperature`, `max_tokens`, ...) in OpenAI naming; each
    /// wire format translates them.
    pub model_params: serde_json::Map<String, serde_json::Value>,
    /// Longest silence allowed while waiting for the answer head or between chunks.
    pub socket_timeout: Option<Duration>,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
}

/// What baton knows about a provider name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The canonical name.
    pub name: &'static str,
    /// The wire format it speaks.
    pub kind: ProviderKind,
    /// Where requests go when the profile sets no `base-url`.
    pub default_base_url: &'static str,
    /// Environment variables that may hold the key, in the order they are tried.
    pub key_env: &'static [&'static str],
    /// Whether a non-local server needs a key.
    pub key_required: bool,
}

const PROVIDERS: &[ProviderInfo] = &[
    ProviderInfo {
        name: "openai",
        kind: ProviderKind::OpenAi,
        default_base_url: openai::DEFAULT_BASE_URL,
        key_env: &["OPENAI_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "groq",
        kind: ProviderKind::OpenAi,
        default_base_url: "https://api.groq.com/openai/v1",
        key_env: &["GROQ_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "openrouter",
        kind: ProviderKind::OpenAi,
        default_base_url: "https://openrouter.ai/api/v1",
        key_env: &["OPENROUTER_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "anthropic",
        kind: ProviderKind::Anthropic,
        default_base_url: anthropic::DEFAULT_BASE_URL,
        key_env: &["ANTHROPIC_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "gemini",
        kind: ProviderKind::Gemini,
        default_base_url: gemini::DEFAULT_BASE_URL,
        key_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "ollama",
        kind: ProviderKind::Ollama,
        default_base_url: ollama::DEFAULT_BASE_URL,
        key_env: &[],
        key_required: false,
    },
    ProviderInfo {
        name: "sim",
        kind: ProviderKind::Sim,
        default_base_url: "",
        key_env: &[],
        key_required: false,
    },
];

/// Other spellings accepted in profiles, and the provider they mean.
const ALIASES: &[(&str, &str)] = &[("google", "gemini")];

/// The provider a profile's `provider` field names (case and surrounding blanks ignored).
pub fn lookup(provider: &str) -> Option<&'static ProviderInfo> {
    let wanted = provider.trim();
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(wanted))
        .map_or(wanted, |(_, name)| *name);
    PROVIDERS
        .iter()
        .find(|info| info.name.eq_ignore_ascii_case(canonical))
}

/// The canonical provider names, in the order they are listed to users.
pub fn known_providers() -> Vec<&'static str> {
    PROVIDERS.iter().map(|info| info.name).collect()
}

/// Builds the provider a spec describes.
///
/// The key is not looked up here (see [`resolve_key`]); a provider that needs one and
/// points at a non-local server fails with [`ProviderError::MissingKey`].
pub fn build(
    spec: &BackendSpec,
    client: &reqwest::Client,
) -> Result<Arc<dyn Provider>, ProviderError> {
    let info = lookup(&spec.provider).ok_or_else(|| {
        ProviderError::Config(format!(
            "profile '{}': unknown provider '{}'; known providers: {}",
            spec.name,
            spec.provider,
            known_providers().join(", ")
        ))
    })?;
    if info.kind == ProviderKind::Sim {
        return Ok(Arc::new(sim::SimProvider::new(&spec.model)?));
    }
    let base = spec
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(info.default_base_url);
    if info.key_required && spec.api_key.is_none() && !is_loopback_url(base) {
        return Err(ProviderError::MissingKey {
            provider: info.name.to_owned(),
            hint: missing_key_hint(info, &spec.name),
        });
    }
    Ok(match info.kind {
        ProviderKind::OpenAi => Arc::new(openai::OpenAiProvider::new(spec, info, client)?),
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicProvider::new(spec, client)?),
        ProviderKind::Gemini => Arc::new(gemini::GeminiProvider::new(spec, client)?),
        ProviderKind::Ollama => Arc::new(ollama::OllamaProvider::new(spec, client)?),
        ProviderKind::Sim => Arc::new(sim::SimProvider::new(&spec.model)?),
    })
}

/// What to set when a key is missing: the env vars and the profile settings.
pub(crate) fn missing_key_hint(info: &ProviderInfo, profile: &str) -> String {
    let vars = match info.key_env {
        [] => String::new(),
        [one] => format!("set {one}, or "),
        [first @ .., last] => format!("set {} or {last}, or ", first.join(", ")),
    };
    format!("{vars}point the auth-keyfile or auth-key-env setting of profile '{profile}' at one")
}

/// Whether a base URL points at this machine (`127.x`, `localhost`, `[::1]`), where
/// local servers (llama.cpp, vLLM, LM Studio) need no key.
pub fn is_loopback_url(base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base.trim()) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// A short, single-line excerpt of wire data for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    const EXCERPT_CHARS: usize = 80;
    let text = text.trim();
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn spec(provider: &str, base: Option<&str>, key: Option<&str>) -> BackendSpec {
        BackendSpec {
            name: "p1".into(),
            provider: provider.into(),
            model: "m".into(),
            base_url: base.map(str::to_owned),
            api_key: key.map(ApiKey::new),
            model_params: serde_json::Map::new(),
            socket_timeout: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn classify_rows() {
        let rows: &[(u16, ErrorClass)] = &[
            (400, ErrorClass::Request),
            (401, ErrorClass::Auth),
            (402, ErrorClass::Auth),
            (403, ErrorClass::Auth),
            (404, ErrorClass::Request),
            (408, ErrorClass::Transient),
            (413, ErrorClass::Request),
            (422, ErrorClass::Request),
            (429, ErrorClass::Transient),
            (500, ErrorClass::Transient),
            (502, ErrorClass::Transient),
            (503, ErrorClass::Transient),
            (504, ErrorClass::Transient),
            (529, ErrorClass::Transient),
        ];
        for &(status, class) in rows {
            let err = ProviderError::Http {
                status,
                message: String::new(),
                retry_after: None,
            };
            assert_eq!(err.class(), class, "{status}");
        }
        let transient = [
            ProviderError::Connect {
                url: "u".into(),
                reason: "connection refused".into(),
            },
            ProviderError::Stream(StreamError::Truncated),
            ProviderError::Stream(StreamError::Malformed { detail: "x".into() }),
            ProviderError::Stream(StreamError::Io("reset".into())),
            ProviderError::Empty,
        ];
        for err in transient {
            assert_eq!(err.class(), ErrorClass::Transient, "{err}");
        }
        let missing = ProviderError::MissingKey {
            provider: "openai".into(),
            hint: String::new(),
        };
        assert_eq!(missing.class(), ErrorClass::Auth);
    }

    #[test]
    fn lookup_names_and_aliases() {
        assert_eq!(lookup("openai").unwrap().kind, ProviderKind::OpenAi);
        assert_eq!(lookup(" Google ").unwrap().name, "gemini");
        assert_eq!(
            lookup("gemini").unwrap().key_env,
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"]
        );
        assert_eq!(
            lookup("groq").unwrap().default_base_url,
            "https://api.groq.com/openai/v1"
        );
        assert_eq!(lookup("openrouter").unwrap().kind, ProviderKind::OpenAi);
        assert!(!lookup("ollama").unwrap().key_required);
        assert_eq!(lookup("sim").unwrap().kind, ProviderKind::Sim);
        assert!(lookup("nope").is_none());
        assert_eq!(
            known_providers(),
            vec![
                "openai",
                "groq",
                "openrouter",
                "anthropic",
                "gemini",
                "ollama",
                "sim"
            ]
        );
    }

    #[test]
    fn loopback_hosts() {
        for yes in [
            "http://127.0.0.1:8080/v1",
            "http://127.1.2.3",
            "http://localhost:11434",
            "http://[::1]:8000/v1",
            "http://LOCALHOST/",
        ] {
            assert!(is_loopback_url(yes), "{yes}");
        }
        for no in [
            "https://api.openai.com/v1",
            "http://10.0.0.2:8080",
            "http://0.0.0.0:1",
            "not a url",
            "http://127.0.0.1.example.com/",
        ] {
            assert!(!is_loopback_url(no), "{no}");
        }
    }

    #[test]
    fn build_unknown_provider_lists_known_ones() {
        let client = http_client().unwrap();
        let err = build(&spec("mistery", None, None), &client).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("mistery") && text.contains("openai, groq"),
            "{text}"
        );
        assert_eq!(err.class(), ErrorClass::Request);
    }

    #[test]
    fn build_needs_a_key_only_for_remote_servers() {
        let client = http_client().unwrap();
        let err = build(&spec("google", None, None), &client).unwrap_err();
        let ProviderError::MissingKey { provider, hint } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(provider, "gemini");
        assert!(
            hint.contains("GEMINI_API_KEY or GOOGLE_API_KEY")
                && hint.contains("auth-keyfile")
                && hint.contains("auth-key-env"),
            "{hint}"
        );

        let local = build(
            &spec("openai", Some("http://127.0.0.1:8080/v1"), None),
            &client,
        )
        .unwrap();
        assert_eq!((local.kind(), local.model()), (ProviderKind::OpenAi, "m"));
        let keyed = build(&spec("anthropic", None, Some("k")), &client).unwrap();
        assert_eq!(keyed.kind(), ProviderKind::Anthropic);
        let gem = build(&spec("gemini", None, Some("k")), &client).unwrap();
        assert_eq!(gem.kind(), ProviderKind::Gemini);
        let ollama = build(&spec("ollama", None, None), &client).unwrap();
        assert_eq!(ollama.kind(), ProviderKind::Ollama);
    }

    #[test]
    fn built_providers_never_print_their_key() {
        let client = http_client().unwrap();
        for provider in ["openai", "anthropic", "gemini", "ollama"] {
            let mut spec = spec(provider, None, Some("sk-very-secret"));
            spec.headers = vec![("X-Extra".into(), "also-secret".into())];
            let built = build(&spec, &client).unwrap();
            let printed = format!("{built:?}");
            assert!(
                !printed.contains("sk-very-secret") && !printed.contains("also-secret"),
                "{printed}"
            );
        }
    }

    #[test]
    fn build_rejects_bad_base_url() {
        let client = http_client().unwrap();
        let err = build(&spec("ollama", Some("localhost:11434"), None), &client).unwrap_err();
        assert!(matches!(err, ProviderError::Config(_)), "{err:?}");
    }

    #[test]
    fn excerpt_is_short_and_one_line() {
        assert_eq!(excerpt(" a\nb "), "a b");
        let long = excerpt(&"y".repeat(500));
        assert_eq!(long.chars().count(), 81);
    }
}
