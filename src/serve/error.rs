//! What the gateway answers when it cannot answer: one [`ApiError`] per cause, each
//! with its HTTP status, OpenAI's error shape (`{"error": {message, type, param,
//! code}}`), an optional `Retry-After`, and a low-cardinality label for metrics.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::engine::{self, BackendFailure};
use crate::provider::ErrorClass;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ApiError {
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    #[error("missing or invalid API key: send `Authorization: Bearer KEY`")]
    Unauthorized,
    #[error("the model '{0}' does not exist or is not served here; GET /v1/models lists them")]
    ModelNotFound(String),
    #[error("no such endpoint; baton serves /v1/chat/completions, /v1/models, /healthz, /metrics")]
    NotFound,
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("too many requests in flight; retry in {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    /// Every backend was temporarily unavailable.
    #[error("{message}")]
    Unavailable { message: String, retry_after_s: u64 },
    /// Every backend refused the request itself; `status` is theirs when they agree.
    #[error("{message}")]
    Rejected { status: u16, message: String },
    /// The backends failed in ways the client cannot fix (bad upstream keys, ...).
    #[error("{message}")]
    Upstream { message: String },
    /// The answering backend broke off after text was sent.
    #[error("the answer was interrupted and is incomplete: {message}")]
    Interrupted { message: String },
    #[error("the answer took longer than {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub(super) fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::Invalid {
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    /// The answer for a run in which no backend answered.
    pub(super) fn exhausted(reasons: &[BackendFailure], retry_after_s: u64) -> Self {
        let message = engine::exhausted_message(reasons);
        if engine::retry_later(reasons) {
            return Self::Unavailable {
                message,
                retry_after_s,
            };
        }
        let request: Vec<&BackendFailure> = reasons
            .iter()
            .filter(|r| r.class == ErrorClass::Request)
            .collect();
        if request.is_empty() {
            return Self::Upstream { message };
        }
        let statuses: Vec<u16> = request
            .iter()
            .filter_map(|r| leading_status(&r.reason))
            .collect();
        let status = match statuses.split_first() {
            Some((first, rest)) if rest.iter().all(|s| s == first) => *first,
            _ => 400,
        };
        Self::Rejected { status, message }
    }

    pub(super) fn status(&self) -> StatusCode {
        let code = match self {
            Self::Invalid { .. } => 400,
            Self::Unauthorized => 401,
            Self::ModelNotFound(_) | Self::NotFound => 404,
            Self::TooLarge { .. } => 413,
            Self::Busy { .. } => 429,
            Self::Unavailable { .. } | Self::ShuttingDown => 503,
            Self::Rejected { status, .. } => *status,
            Self::Upstream { .. } | Self::Interrupted { .. } => 502,
            Self::Timeout { .. } => 504,
            Self::Internal(_) => 500,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The label `/metrics` counts failures under.
    pub(super) fn error_metric(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::ModelNotFound(_) => "model_not_found",
            Self::NotFound => "not_found",
            Self::TooLarge { .. } => "too_large",
            Self::Busy { .. } => "busy",
            Self::Unavailable { .. } => "unavailable",
            Self::Rejected { .. } => "rejected",
            Self::Upstream { .. } => "upstream",
            Self::Interrupted { .. } => "interrupted",
            Self::Timeout { .. } => "timeout",
            Self::ShuttingDown => "shutting_down",
            Self::Internal(_) => "internal",
        }
    }

    fn kind_and_code(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Invalid { .. } => ("invalid_request_error", None),
            Self::Unauthorized => ("invalid_request_error", Some("invalid_api_key")),
            Self::ModelNotFound(_) => ("invalid_request_error", Some("model_not_found")),
            Self::NotFound => ("invalid_request_error", Some("unknown_url")),
            Self::TooLarge { .. } => ("invalid_request_error", Some("request_too_large")),
            Self::Busy { .. } => ("rate_limit_error", Some("rate_limit_exceeded")),
            Self::Rejected { .. } => ("invalid_request_error", Some("upstream_rejected")),
            Self::Unavailable { .. } => ("server_error", Some("backends_unavailable")),
            Self::Upstream { .. } => ("server_error", Some("upstream_error")),
            Self::Interrupted { .. } => ("server_error", Some("stream_interrupted")),
            Self::Timeout { .. } => ("server_error", Some("timeout")),
            Self::ShuttingDown => ("server_error", Some("shutting_down")),
            Self::Internal(_) => ("server_error", None),
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            Self::Invalid { param, .. } => param.as_deref(),
            Self::ModelNotFound(_) => Some("model"),
            _ => None,
        }
    }

    fn retry_after_s(&self) -> Option<u64> {
        match self {
            Self::Busy { retry_after_s } | Self::Unavailable { retry_after_s, .. } => {
                Some(*retry_after_s)
            }
            Self::ShuttingDown => Some(1),
            _ => None,
        }
    }

    /// OpenAI's error object, also sent in-band when a stream breaks.
    pub(super) fn body(&self) -> Value {
        let (kind, code) = self.kind_and_code();
        json!({"error": {
            "message": self.to_string(),
            "type": kind,
            "param": self.param(),
            "code": code,
        }})
    }
}

/// `503 Service Unavailable ...` → 503.
fn leading_status(reason: &str) -> Option<u16> {
    let digits = reason.get(..3)?;
    let status: u16 = digits.parse().ok()?;
    let next = reason[3..].chars().next();
    ((400..600).contains(&status) && next.is_none_or(|c| c == ' ')).then_some(status)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_s() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(class: ErrorClass, reason: &str) -> BackendFailure {
        BackendFailure {
            backend: "a".into(),
            class,
            reason: reason.into(),
        }
    }

    #[test]
    fn exhausted_runs_map_to_a_fitting_status() {
        let down = [failure(ErrorClass::Transient, "503 Service Unavailable")];
        let e = ApiError::exhausted(&down, 30);
        assert_eq!(e.status(), 503);
        assert_eq!(e.retry_after_s(), Some(30));
        let rejected = [
            failure(ErrorClass::Request, "422 Unprocessable Entity: no"),
            failure(ErrorClass::Transient, "503 Service Unavailable"),
        ];
        assert_eq!(ApiError::exhausted(&rejected, 1).status(), 422);
        let auth = [failure(ErrorClass::Auth, "401 Unauthorized")];
        assert_eq!(ApiError::exhausted(&auth, 1).status(), 502);
        assert_eq!(leading_status("4000 x"), None);
    }

    #[test]
    fn the_body_has_openai_error_shape() {
        let body = ApiError::ModelNotFound("x".into()).body();
        assert_eq!(body["error"]["code"], "model_not_found");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "model");
    }
}
