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
    /// The class that decides retry and failover.
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

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

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
}
