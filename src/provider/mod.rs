//! Providers: one trait, one HTTP implementation, one file per wire format.
//!
//! A [`Provider`] turns a [`ChatRequest`] into a stream of [`StreamEvent`]s. Every
//! failure is a [`ProviderError`] whose [`ErrorClass`] tells the engine what to do
//! next: retry the same backend, fail over at once, or fail over only to a backend
//! that differs (identical siblings fail identically).
//!
//! The four HTTP wire formats (`openai`, `anthropic`, `gemini`, `ollama`) each say how
//! to address, authenticate and word a request and how to read its answer; one
//! `HttpProvider` does the sending, framing and error mapping for all of them. `sim`
//! answers locally and is its own [`Provider`].
//!
//! [`lookup`] and [`build`] turn a profile's provider name and settings (a
//! [`BackendSpec`]) into a ready [`Provider`]; [`resolve_key`] finds its key.

mod anthropic;
mod error;
mod finish;
mod gemini;
mod http;
pub(crate) mod keys;
mod ollama;
mod openai;
pub(crate) mod params;
pub(crate) mod ratelimit;
mod registry;
pub mod sim;

use std::pin::Pin;

use futures_util::Stream;
use serde::{Deserialize, Serialize};

pub use error::ErrorClass;
pub(crate) use error::{HttpInfo, ProviderError, StreamError};
pub use finish::Finish;
pub(crate) use finish::{AnswerStatus, ToolCall};
pub use http::http_client;
pub(crate) use http::with_query;
pub use keys::ApiKey;
pub(crate) use keys::resolve_key;
pub use registry::{BackendSpec, build, lookup};
pub(crate) use registry::{ProviderInfo, known_providers};

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
    pub(crate) fn as_str(self) -> &'static str {
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

/// Token counts of one answer. Estimates (for providers that send none) are made in
/// one place, `Usage::estimate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt, cached ones included.
    pub input_tokens: u64,
    /// Tokens in the answer, reasoning included: what the provider bills as output.
    pub output_tokens: u64,
    /// Of `output_tokens`, those spent reasoning.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
    /// Of `input_tokens`, those read from the provider's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Of `input_tokens`, those written to the provider's prompt cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// True when the provider sent no usage and baton estimated it from the text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Counts the provider gave.
    pub(crate) fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Prompt plus answer tokens.
    pub(crate) fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// One decoded piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Answer text to show (a refusal's text too: a refusal is an answer).
    Delta(String),
    /// The model's reasoning ("thinking"), shown apart from the answer. It counts as
    /// a sign of life for the first-chunk and idle timeouts.
    Reasoning(String),
    /// A whole tool call the answer asks for.
    ToolCall(ToolCall),
    /// Token counts (may come before or after the last delta).
    Usage(Usage),
    /// The provider said the answer is over (`[DONE]`, `message_stop`, a finish
    /// reason, `done: true`) and how. A stream that ends without it was cut.
    Finished(Finish),
    /// The budget the response's rate-limit headers report (first, before any text).
    RateLimit(ratelimit::RateLimit),
}

/// The wire formats baton speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProviderKind {
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

/// The stream of events one request produces.
pub(crate) type EventStream =
    Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

/// A backend that answers chat requests.
///
/// `stream` returns at once; connecting, sending and decoding happen as the stream is
/// polled, so dropping the stream cancels the request.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Starts a request.
    fn stream(&self, request: ChatRequest) -> EventStream;
}
