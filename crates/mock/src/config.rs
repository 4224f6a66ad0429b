//! What each mock backend does: [`MockConfig`], [`BackendConfig`], [`Behavior`].
//!
//! Everything here is plain serde data so the same shapes work in a config file,
//! in the control API (`PUT /_mock/backends/{name}`) and from Rust.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::MockError;

/// The whole mock server: its backends by name.
///
/// Loaded from JSON with [`MockConfig::from_file`]; see the [module docs](super) for
/// an example file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Backends by name; each is served under `/{name}/...`.
    #[serde(default)]
    pub backends: BTreeMap<String, BackendConfig>,
}

impl MockConfig {
    /// Reads and validates a JSON config file.
    pub fn from_file(path: &Path) -> Result<Self, MockError> {
        let text = std::fs::read_to_string(path).map_err(|source| MockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses and validates JSON text; `origin` names where it came from in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, MockError> {
        let config: Self = serde_json::from_str(text).map_err(|source| MockError::Parse {
            origin: origin.to_string(),
            source,
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Checks backend names and behavior values; `origin` names the source in errors.
    pub fn validate(&self, origin: &str) -> Result<(), MockError> {
        for (name, backend) in &self.backends {
            validate_name(name, origin)?;
            backend.validate(name, origin)?;
        }
        Ok(())
    }

    /// Adds (or replaces) a backend; handy for building configs in tests.
    pub fn with_backend(mut self, name: impl Into<String>, backend: BackendConfig) -> Self {
        self.backends.insert(name.into(), backend);
        self
    }

    /// A ready-made set of backends showing every fault, for `baton mock` without a
    /// config file: `ok`, `slow` (5 s before the first chunk), `ratelimited` (429 with
    /// `Retry-After: 1`), `down` (503), `auth` (needs key `mock-key`), `stall`, `cut`.
    pub fn demo() -> Self {
        let status = |code| Behavior::Status {
            code,
            message: None,
            retry_after_s: (code == 429).then_some(1),
            retry_after_ms: None,
        };
        Self::default()
            .with_backend("ok", BackendConfig::new(Behavior::default()))
            .with_backend(
                "slow",
                BackendConfig::new(Behavior::Answer(Answer {
                    first_chunk_delay_ms: 5000,
                    ..Answer::default()
                })),
            )
            .with_backend("ratelimited", BackendConfig::new(status(429)))
            .with_backend("down", BackendConfig::new(status(503)))
            .with_backend(
                "auth",
                BackendConfig::new(Behavior::default()).with_key("mock-key"),
            )
            .with_backend(
                "stall",
                BackendConfig::new(Behavior::Stall {
                    after_chunks: 2,
                    token_delay_ms: 0,
                }),
            )
            .with_backend(
                "cut",
                BackendConfig::new(Behavior::Cut {
                    after_chunks: 2,
                    token_delay_ms: 0,
                }),
            )
    }
}

/// Backend names become the first path segment, and `_mock` is the control API.
pub(crate) fn validate_name(name: &str, origin: &str) -> Result<(), MockError> {
    let reason = if name.is_empty() {
        Some("is empty")
    } else if name.starts_with('_') {
        Some("starts with '_' (reserved for the control API)")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("may only hold ASCII letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MockError::BadName {
            origin: origin.to_string(),
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// One backend: what it does by default, what it does next, and which key it wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// What every request gets once the script is used up.
    #[serde(default)]
    pub behavior: Behavior,
    /// Behaviors consumed one per chat request, first to last, before `behavior`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script: Vec<Behavior>,
    /// When set, chat and model requests whose key differs get a 401 in the wire
    /// format's own shape (and do not consume the script). The key is read from
    /// `Authorization: Bearer` (OpenAI, Ollama), `x-api-key` or Bearer (Anthropic),
    /// `x-goog-api-key` or `?key=` (Gemini).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_key: Option<String>,
}

impl BackendConfig {
    /// A backend that always does `behavior`.
    pub fn new(behavior: Behavior) -> Self {
        Self {
            behavior,
            script: Vec::new(),
            require_key: None,
        }
    }

    /// Sets the script consumed before the default behavior.
    pub fn with_script(mut self, script: Vec<Behavior>) -> Self {
        self.script = script;
        self
    }

    /// Requires this API key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.require_key = Some(key.into());
        self
    }

    /// Checks the behavior values of this backend.
    pub(crate) fn validate(&self, name: &str, origin: &str) -> Result<(), MockError> {
        self.behavior.validate(name, "behavior", origin)?;
        for (i, behavior) in self.script.iter().enumerate() {
            behavior.validate(name, &format!("script[{i}]"), origin)?;
        }
        Ok(())
    }
}

/// What a backend does with one request. JSON: `{"kind": "answer", ...}`.
///
/// A "chunk" below is one content piece of the answer (a word with its leading
/// space); frames that carry no text (Anthropic's `message_start`, `ping`, ...)
/// are not counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Behavior {
    /// A well-formed answer, streamed or whole as the request asks. Slowness is
    /// expressed with its delays (there is no separate `slow` kind).
    Answer(Answer),
    /// An error status with a body in the wire format's shape.
    Status {
        /// HTTP status, 100..=599.
        code: u16,
        /// Error message; defaults to the status' reason phrase.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Sends `Retry-After: N` (seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
        /// Sends `retry-after-ms: N`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// 200 and the first `after_chunks` chunks of the default answer, then nothing
    /// more while the connection stays open (until the client leaves or the server
    /// shuts down). A whole (non-streamed) request gets the first half of its JSON.
    Stall {
        /// Chunks sent before going quiet.
        #[serde(default)]
        after_chunks: u32,
        /// Delay between chunks.
        #[serde(default)]
        token_delay_ms: u64,
    },
    /// 200 and the first `after_chunks` chunks, then the connection is aborted
    /// mid-body: no final frame, no `[DONE]`, no terminating HTTP chunk. A whole
    /// request gets the first half of its JSON, then the abort.
    Cut {
        /// Chunks sent before the abort.
        #[serde(default)]
        after_chunks: u32,
        /// Delay between chunks.
        #[serde(default)]
        token_delay_ms: u64,
    },
    /// 200 with the right content type, but data that is not JSON.
    Malformed,
    /// 200 with the right content type and an empty body.
    Empty,
    /// The request is read, then the connection is reset (RST) without any
    /// response bytes.
    Drop,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior::Answer(Answer::default())
    }
}

impl Behavior {
    /// An answer with this exact text.
    pub fn answer(text: impl Into<String>) -> Self {
        Behavior::Answer(Answer {
            text: Some(text.into()),
            ..Answer::default()
        })
    }

    /// An error status without `Retry-After`.
    pub fn status(code: u16) -> Self {
        Behavior::Status {
            code,
            message: None,
            retry_after_s: None,
            retry_after_ms: None,
        }
    }

    /// The `kind` tag, for logs and the control API.
    pub fn kind(&self) -> &'static str {
        match self {
            Behavior::Answer(_) => "answer",
            Behavior::Status { .. } => "status",
            Behavior::Stall { .. } => "stall",
            Behavior::Cut { .. } => "cut",
            Behavior::Malformed => "malformed",
            Behavior::Empty => "empty",
            Behavior::Drop => "drop",
        }
    }

    pub(crate) fn validate(
        &self,
        backend: &str,
        field: &str,
        origin: &str,
    ) -> Result<(), MockError> {
        match self {
            Behavior::Status { code, .. } if !(100..=599).contains(code) => {
                Err(MockError::BadField {
                    origin: origin.to_string(),
                    backend: backend.to_string(),
                    field: format!("{field}.code"),
                    reason: format!("{code} is not an HTTP status (100..=599)"),
                })
            }
            Behavior::Answer(_)
            | Behavior::Status { .. }
            | Behavior::Stall { .. }
            | Behavior::Cut { .. }
            | Behavior::Malformed
            | Behavior::Empty
            | Behavior::Drop => Ok(()),
        }
    }
}

/// A well-formed answer and its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Answer {
    /// The answer text. Without it: `tokens` generated words starting with the
    /// backend name, or else "Hello from BACKEND. This is a mock answer."
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Number of words to generate when `text` is absent (0 = an empty answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u32>,
    /// Delay between chunks (a whole answer waits the sum before it is sent).
    pub token_delay_ms: u64,
    /// Delay after the response head, before the first body byte. A whole answer
    /// waits this before its head instead.
    pub first_chunk_delay_ms: u64,
    /// Delay before the response head (status and headers).
    pub headers_delay_ms: u64,
    /// Report token usage (default true); false sends none, as some servers do.
    pub usage: bool,
    /// Reported prompt tokens; default: words in the request's messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Reported completion tokens; default: number of chunks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
}

impl Default for Answer {
    fn default() -> Self {
        Self {
            text: None,
            tokens: None,
            token_delay_ms: 0,
            first_chunk_delay_ms: 0,
            headers_delay_ms: 0,
            usage: true,
            prompt_tokens: None,
            completion_tokens: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn parses_every_kind_with_defaults() {
        let text = r#"{"backends":{
            "a":{"behavior":{"kind":"answer","text":"hi","token_delay_ms":5}},
            "b":{"behavior":{"kind":"status","code":429,"retry_after_s":2},
                 "script":[{"kind":"stall","after_chunks":3},{"kind":"cut"},
                           {"kind":"malformed"},{"kind":"empty"},{"kind":"drop"}],
                 "require_key":"k"},
            "c":{}
        }}"#;
        let config = MockConfig::from_json(text, "t.json").unwrap();
        assert_eq!(
            config.backends["a"].behavior,
            Behavior::Answer(Answer {
                text: Some("hi".into()),
                token_delay_ms: 5,
                ..Answer::default()
            })
        );
        let b = &config.backends["b"];
        assert_eq!(
            b.behavior,
            Behavior::Status {
                code: 429,
                message: None,
                retry_after_s: Some(2),
                retry_after_ms: None
            }
        );
        let kinds: Vec<_> = b.script.iter().map(Behavior::kind).collect();
        assert_eq!(kinds, ["stall", "cut", "malformed", "empty", "drop"]);
        assert_eq!(b.require_key.as_deref(), Some("k"));
        assert_eq!(config.backends["c"], BackendConfig::default());
    }

    #[test]
    fn round_trips_through_json() {
        let config = MockConfig::demo();
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(MockConfig::from_json(&text, "x").unwrap(), config);
    }

    #[test]
    fn unknown_fields_are_rejected_with_their_name() {
        let err = MockConfig::from_json(
            r#"{"backends":{"a":{"behavior":{"kind":"answer","token_delay":5}}}}"#,
            "f.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("f.json") && err.contains("token_delay"),
            "{err}"
        );
        let err = MockConfig::from_json(
            r#"{"backends":{"a":{"behavior":{"kind":"status","code":500,"retry":1}}}}"#,
            "f.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("retry"), "{err}");
        let err =
            MockConfig::from_json(r#"{"backends":{"a":{"behavior":{"kind":"slowish"}}}}"#, "f")
                .unwrap_err()
                .to_string();
        assert!(err.contains("slowish"), "{err}");
    }

    #[test]
    fn bad_names_and_codes_name_the_field() {
        let err = MockConfig::from_json(r#"{"backends":{"a/b":{}}}"#, "f.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.json") && err.contains("a/b"), "{err}");
        let err = MockConfig::from_json(r#"{"backends":{"_mock":{}}}"#, "f.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("reserved"), "{err}");
        let err = MockConfig::from_json(
            r#"{"backends":{"a":{"script":[{"kind":"empty"},{"kind":"status","code":42}]}}}"#,
            "f.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("backends.a.script[1].code"), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = MockConfig::from_file(Path::new("/nonexistent/mock.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/mock.json"), "{err}");
    }
}
