//! What can go wrong when asking a provider, and the [`ErrorClass`] that tells the
//! engine what to do about it (the table is in docs/providers.md).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the engine should react to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Worth retrying on the same backend, then failing over.
    Transient,
    /// Credentials: no retry on this backend, fail over at once.
    Auth,
    /// Money or quota is gone (OpenAI `insufficient_quota`, Anthropic's credit balance
    /// and spend limits, a daily Gemini quota, HTTP 402): no retry, fail over at once,
    /// and the backend is skipped for `quota_cooldown_ms` (or the provider's own wait).
    Quota,
    /// The request itself is wrong: no retry; only a backend that differs may succeed.
    Request,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "transient",
            Self::Auth => "auth",
            Self::Quota => "quota",
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

/// What an error answer said besides its status and message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpInfo {
    /// The provider's machine-readable reason: OpenAI `error.code` or `error.type`,
    /// Anthropic `error.type`, Gemini's `ErrorInfo.reason` or quota id.
    pub(crate) code: Option<String>,
    /// The id to quote to the provider's support (`x-request-id`, `request-id`).
    pub(crate) request_id: Option<String>,
    /// `x-should-retry`: the provider's own word on whether a retry can help.
    pub(crate) should_retry: Option<bool>,
    /// The budget the answer's rate-limit headers reported.
    pub(crate) rate_limit: Option<super::ratelimit::RateLimit>,
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
    #[error(
        "{status} {}{}{}",
        status_text(*status),
        http_detail(*status, message),
        request_detail(info)
    )]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The provider's own error message, when it sent one.
        message: String,
        /// How long the provider asked us to wait (`Retry-After`, `retry-after-ms`).
        retry_after: Option<Duration>,
        /// The provider's error code, request id and retry hint, where it sent them
        /// (boxed: most errors carry none, and every result holding one stays small).
        info: Box<HttpInfo>,
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
    /// The class that decides retry and failover.
    pub(crate) fn class(&self) -> ErrorClass {
        match self {
            Self::Connect { .. } | Self::Stream(_) | Self::Empty => ErrorClass::Transient,
            Self::Http {
                status,
                message,
                info,
                ..
            } => classify(*status, info, message),
            Self::MissingKey { .. } => ErrorClass::Auth,
            Self::Config(_) => ErrorClass::Request,
        }
    }

    /// The error in a few words: `401 Unauthorized` for an HTTP status (without
    /// the provider's message), the whole message otherwise. Log markers use it,
    /// since scripts grep them byte for byte.
    pub(crate) fn headline(&self) -> String {
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
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the provider said a retry cannot help (`x-should-retry: false`).
    pub(crate) fn retry_refused(&self) -> bool {
        matches!(self, Self::Http { info, .. } if info.should_retry == Some(false))
    }

    /// An HTTP error with only a status and a message.
    pub(crate) fn http(status: u16, message: impl Into<String>) -> Self {
        Self::Http {
            status,
            message: message.into(),
            retry_after: None,
            info: Box::default(),
        }
    }
}

/// Maps an error answer to its class. The status decides, except where providers say
/// more in the body: billing and quota failures arrive as 400, 403 or 429 (the codes
/// and phrases below are the ones OpenAI, Anthropic and Gemini send), a bad Gemini key
/// as 400 `API_KEY_INVALID`, and `x-should-retry: true` marks any status worth a retry,
/// as the official SDKs treat it.
pub(crate) fn classify(status: u16, info: &HttpInfo, message: &str) -> ErrorClass {
    let code = info.code.as_deref().unwrap_or("");
    if matches!(status, 400 | 402 | 403 | 429) && is_quota(code, message) {
        return ErrorClass::Quota;
    }
    if code == "API_KEY_INVALID" || code == "invalid_api_key" {
        return ErrorClass::Auth;
    }
    if info.should_retry == Some(true) {
        return ErrorClass::Transient;
    }
    match status {
        402 => ErrorClass::Quota,
        401 | 403 => ErrorClass::Auth,
        // 409 is a lock or conflict the next try may not meet (the SDKs retry it).
        408 | 409 | 429 | 500..=599 => ErrorClass::Transient,
        // Context-length and other 4xx errors repeat identically on a retry.
        _ => ErrorClass::Request,
    }
}

/// Whether an error code or message says money or a long quota ran out. A Gemini
/// quota per minute is a rate limit (its message reads like a billing one): the code
/// names the quota, and only per-day ones count.
fn is_quota(code: &str, message: &str) -> bool {
    const CODES: &[&str] = &[
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "enforced_spend_limit_reached",
        "insufficient_credits",
    ];
    const PHRASES: &[&str] = &[
        "credit balance is too low",
        "exceeded your current quota",
        "spend limit",
        "reached your specified api usage limits",
        "insufficient credits",
        "insufficient balance",
    ];
    if CODES.contains(&code) {
        return true;
    }
    if code.contains("PerMinute") || code.contains("PerSecond") {
        return false;
    }
    if code.contains("PerDay") {
        return true;
    }
    let message = message.to_ascii_lowercase();
    PHRASES.iter().any(|p| message.contains(p))
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

/// ` (request req_...)` when the provider gave the request an id.
fn request_detail(info: &HttpInfo) -> String {
    match &info.request_id {
        Some(id) => format!(" (request {id})"),
        None => String::new(),
    }
}

/// The reason phrase of common statuses, for messages like `401 Unauthorized`.
pub(crate) fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
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

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn classify_rows() {
        let rows: &[(u16, ErrorClass)] = &[
            (400, ErrorClass::Request),
            (401, ErrorClass::Auth),
            (402, ErrorClass::Quota),
            (403, ErrorClass::Auth),
            (404, ErrorClass::Request),
            (408, ErrorClass::Transient),
            (409, ErrorClass::Transient),
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
            let err = ProviderError::http(status, "");
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

    fn with(code: Option<&str>, should_retry: Option<bool>) -> HttpInfo {
        HttpInfo {
            code: code.map(str::to_owned),
            should_retry,
            ..HttpInfo::default()
        }
    }

    #[test]
    fn quota_and_billing_are_their_own_class() {
        let rows: &[(u16, Option<&str>, &str, ErrorClass)] = &[
            (
                429,
                Some("insufficient_quota"),
                "You exceeded your current quota",
                ErrorClass::Quota,
            ),
            (
                429,
                Some("rate_limit_exceeded"),
                "Rate limit reached for 10KTPM",
                ErrorClass::Transient,
            ),
            (
                400,
                Some("invalid_request_error"),
                "Your credit balance is too low to access the Anthropic API.",
                ErrorClass::Quota,
            ),
            (
                429,
                Some("rate_limit_error"),
                "This request would exceed your account's monthly spend limit.",
                ErrorClass::Quota,
            ),
            (
                429,
                Some("rate_limit_error"),
                "This request would exceed the rate limit for your organization",
                ErrorClass::Transient,
            ),
            (
                400,
                Some("invalid_request_error"),
                "You have reached your specified API usage limits.",
                ErrorClass::Quota,
            ),
            (
                429,
                Some("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                "You exceeded your current quota, please check your plan.",
                ErrorClass::Transient,
            ),
            (
                429,
                Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
                "You exceeded your current quota, please check your plan.",
                ErrorClass::Quota,
            ),
            (
                400,
                Some("API_KEY_INVALID"),
                "API key not valid. Please pass a valid API key.",
                ErrorClass::Auth,
            ),
            (
                400,
                Some("invalid_request_error"),
                "prompt is too long",
                ErrorClass::Request,
            ),
            // A 5xx never means money, whatever its text says.
            (
                503,
                None,
                "exceeded your current quota",
                ErrorClass::Transient,
            ),
        ];
        for &(status, code, message, class) in rows {
            assert_eq!(
                classify(status, &with(code, None), message),
                class,
                "{status} {code:?} {message}"
            );
        }
    }

    #[test]
    fn should_retry_header_marks_a_status_worth_retrying() {
        assert_eq!(
            classify(400, &with(None, Some(true)), ""),
            ErrorClass::Transient
        );
        assert_eq!(
            classify(400, &with(None, Some(false)), ""),
            ErrorClass::Request
        );
        let refused = ProviderError::Http {
            status: 503,
            message: String::new(),
            retry_after: None,
            info: Box::new(with(None, Some(false))),
        };
        assert!(refused.retry_refused());
        assert!(!ProviderError::http(503, "").retry_refused());
    }

    #[test]
    fn messages_name_the_request_id() {
        let err = ProviderError::Http {
            status: 529,
            message: "Overloaded".into(),
            retry_after: None,
            info: Box::new(HttpInfo {
                request_id: Some("req_011CZ".into()),
                ..HttpInfo::default()
            }),
        };
        assert_eq!(err.to_string(), "529 Overloaded (request req_011CZ)");
        assert_eq!(err.headline(), "529 Overloaded");
    }
}
