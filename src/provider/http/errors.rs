//! HTTP failures described for people and classified for the engine: network errors
//! become [`ProviderError::Connect`] (before the response) or [`StreamError::Io`]
//! (mid-body); error answers become [`ProviderError::Http`] with the provider's own
//! message and how long it asked us to wait. No text here carries a URL's query, a
//! header or a key.

use std::error::Error as StdError;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::provider::{HttpInfo, ProviderError, StreamError};

/// Longest provider error message kept, in characters.
const MESSAGE_CHARS: usize = 300;

/// Most of an error body read to find the provider's message.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// How long reading an error body may take when the backend sets no socket timeout.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure before any response: refused, DNS, TLS, reset, timeout.
pub(crate) fn connect_error(url: &str, err: &reqwest::Error) -> ProviderError {
    ProviderError::Connect {
        url: crate::redact::text(url).into_owned(),
        reason: crate::redact::text(&describe(err)).into_owned(),
    }
}

/// A failure while the body was being read.
pub(crate) fn body_error(err: &reqwest::Error) -> StreamError {
    StreamError::Io(describe(err))
}

/// A short human reason for a reqwest error. Built from the error's sources, never from
/// its top-level text (which carries the URL) and never from headers (the key).
pub(crate) fn describe(err: &reqwest::Error) -> String {
    if err.is_dns() {
        return match innermost(err) {
            Some(detail) => format!("DNS lookup failed ({detail})"),
            None => "DNS lookup failed".to_owned(),
        };
    }
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return format!("TLS handshake failed: {tls}");
        }
        if let Some(reason) = cause.downcast_ref::<std::io::Error>().and_then(describe_io) {
            return reason;
        }
        source = cause.source();
    }
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let detail = innermost(err);
    let what = if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "error reading the answer"
    } else {
        "request failed"
    };
    match detail {
        Some(detail) => format!("{what}: {detail}"),
        None => what.to_owned(),
    }
}

/// A reason for the io errors worth naming. Connectors nest io errors in io errors
/// (and tokio-rustls hides TLS errors there), and `io::Error::source` skips the
/// wrapped error, so the nesting is walked with `get_ref`.
fn describe_io(io: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind;
    let reason = match io.kind() {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => "connection reset",
        ErrorKind::TimedOut => "timed out",
        ErrorKind::UnexpectedEof => "connection closed unexpectedly",
        _ => {
            let inner = io.get_ref()?;
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(format!("TLS handshake failed: {tls}"));
            }
            return inner.downcast_ref::<std::io::Error>().and_then(describe_io);
        }
    };
    Some(reason.to_owned())
}

/// The text of the deepest cause, which is usually the most specific.
fn innermost(err: &reqwest::Error) -> Option<String> {
    let mut source = err.source()?;
    while let Some(next) = source.source() {
        source = next;
    }
    Some(truncate_message(&source.to_string()))
}

/// Reads an error answer into [`ProviderError::Http`].
pub(crate) async fn http_error(
    mut response: reqwest::Response,
    timeout: Option<Duration>,
) -> ProviderError {
    let status = response.status().as_u16();
    let mut retry_after = retry_after(response.headers(), std::time::SystemTime::now());
    let mut info = header_info(response.headers());
    let mut body = Vec::new();
    let limit = timeout.unwrap_or(ERROR_BODY_TIMEOUT);
    // The message is a courtesy: a slow or broken error body must not hide the status.
    while body.len() < ERROR_BODY_BYTES {
        match tokio::time::timeout(limit, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_BYTES);
    let json = serde_json::from_slice::<Value>(&body).ok();
    if retry_after.is_none() {
        retry_after = json.as_ref().and_then(retry_delay_in_body);
    }
    if let Some(json) = &json {
        info.code = error_code(json);
        if info.request_id.is_none() {
            info.request_id = json
                .get("request_id")
                .and_then(Value::as_str)
                .map(truncate_message);
        }
    }
    let message = match json.as_ref().and_then(json_error_message) {
        Some(message) => truncate_message(message),
        None => text_message(&String::from_utf8_lossy(&body)),
    };
    ProviderError::Http {
        status,
        message,
        retry_after,
        info: Box::new(info),
    }
}

/// The request id and retry hint an error answer's headers carry.
fn header_info(headers: &HeaderMap) -> HttpInfo {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    HttpInfo {
        code: None,
        request_id: ["x-request-id", "request-id"]
            .iter()
            .find_map(|name| header(name))
            .map(truncate_message),
        should_retry: match header("x-should-retry").map(str::trim) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        },
        rate_limit: crate::provider::ratelimit::RateLimit::from_headers(
            headers,
            crate::engine::clock::now_ms(),
        ),
    }
}

/// The provider's machine-readable reason in an error body: Gemini's
/// `details[].reason` (`API_KEY_INVALID`) or quota id (which says per minute or per
/// day), else `error.code` / `error.type` (OpenAI, Anthropic) or `error.status`.
fn error_code(body: &Value) -> Option<String> {
    let body = body.as_array().and_then(|a| a.first()).unwrap_or(body);
    let error = body.get("error")?;
    let details = error.get("details").and_then(Value::as_array);
    let from_details = details.into_iter().flatten().find_map(|d| {
        d.get("reason")
            .and_then(Value::as_str)
            .or_else(|| d.pointer("/violations/0/quotaId").and_then(Value::as_str))
    });
    let text = |key: &str| error.get(key).and_then(Value::as_str);
    from_details
        .or_else(|| text("code"))
        .or_else(|| text("type"))
        .or_else(|| text("status"))
        .map(truncate_message)
}

/// The message of a body that is not JSON: its first line, or what an HTML page is
/// (a proxy's or a login page: the base URL is likely wrong), never its markup.
fn text_message(text: &str) -> String {
    let trimmed = text.trim_start();
    let head: String = trimmed
        .chars()
        .take(15)
        .collect::<String>()
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return match html_title(trimmed) {
            Some(title) => format!("an HTML page (\"{title}\"), not an API answer: check base-url"),
            None => "an HTML page, not an API answer: check base-url".to_owned(),
        };
    }
    let line = text.lines().map(str::trim).find(|l| !l.is_empty());
    truncate_message(line.unwrap_or(""))
}

/// The text of an HTML page's `<title>`, if it has a short one.
fn html_title(page: &str) -> Option<String> {
    let lower = page.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    let title = truncate_message(page.get(open_end..close)?);
    (!title.is_empty() && title.chars().count() <= 120).then_some(title)
}

/// The provider's message in an error body of any supported format:
/// `{"error":{"message":..}}` (OpenAI, Anthropic, Gemini), `{"error":".."}` (Ollama),
/// `{"message":..}` / `{"detail":..}` (other OpenAI-compatible servers), or a list of
/// those (Gemini sometimes wraps it in `[...]`).
pub(crate) fn json_error_message(body: &Value) -> Option<&str> {
    if let Some(first) = body.as_array().and_then(|a| a.first()) {
        return json_error_message(first);
    }
    match body.get("error") {
        Some(Value::String(message)) => return Some(message),
        Some(error @ Value::Object(_)) => {
            if let Some(message) = error.get("message").and_then(Value::as_str) {
                return Some(message);
            }
        }
        _ => {}
    }
    ["message", "detail"]
        .iter()
        .find_map(|key| body.get(key).and_then(Value::as_str))
}

/// Gemini puts the wait in the body: `error.details[].retryDelay: "38s"`.
fn retry_delay_in_body(body: &Value) -> Option<Duration> {
    let body = body.as_array().and_then(|a| a.first()).unwrap_or(body);
    body.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter_map(|d| d.get("retryDelay")?.as_str())
        .find_map(|d| seconds(d.strip_suffix('s')?))
}

/// `retry-after-ms` (preferred), else `Retry-After` in seconds or as an HTTP date
/// (the wait until then from `now`; a date already past means no wait).
fn retry_after(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("retry-after-ms").and_then(seconds) {
        return Some(ms / 1000);
    }
    let value = header("retry-after")?;
    seconds(value).or_else(|| {
        let at = httpdate::parse_http_date(value.trim()).ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// A non-negative number (integer or decimal) as that many seconds.
fn seconds(text: &str) -> Option<Duration> {
    let n: f64 = text.trim().parse().ok()?;
    (0.0..1e9).contains(&n).then(|| Duration::from_secs_f64(n))
}

/// Keeps a provider message to one line of at most [`MESSAGE_CHARS`] characters,
/// with every secret taken out first (a server may echo the request's key or URL).
pub(crate) fn truncate_message(message: &str) -> String {
    let message = crate::redact::text(message);
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// An `error` object that arrived inside a 200 stream, as [`ProviderError::Http`].
/// `status` is the provider's code when it gave a plausible one.
pub(crate) fn error_in_body(body: &Value, fallback_status: u16) -> ProviderError {
    let code = body
        .pointer("/error/code")
        .or_else(|| body.get("code"))
        .and_then(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..=599).contains(c));
    let message = json_error_message(body).unwrap_or("error without a message");
    ProviderError::Http {
        status: code.unwrap_or(fallback_status),
        message: truncate_message(message),
        retry_after: None,
        info: Box::new(HttpInfo {
            code: error_code(body),
            ..HttpInfo::default()
        }),
    }
}

/// Parses the JSON in one SSE event.
pub(crate) fn json_frame(data: &str) -> Result<Value, StreamError> {
    serde_json::from_str(data).map_err(|err| StreamError::Malformed {
        detail: format!("invalid JSON in an event ({err}): {}", excerpt(data)),
    })
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

/// `1.5s`, `30s`, `250ms`.
pub(crate) fn human_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use reqwest::header::{HeaderName, HeaderValue};
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn retry_after_prefers_ms_and_reads_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let wait = |pairs: &[(&str, &str)]| retry_after(&headers(pairs), now);
        assert_eq!(wait(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            wait(&[("retry-after", "7"), ("retry-after-ms", "1500")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            wait(&[("retry-after", "Wed, 21 Oct 2015 07:28:42 GMT")]),
            Some(Duration::from_secs(42))
        );
        assert_eq!(
            wait(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            Some(Duration::ZERO)
        );
        assert_eq!(wait(&[("retry-after", "soon")]), None);
        assert_eq!(wait(&[("retry-after", "-3")]), None);
        assert_eq!(wait(&[]), None);
    }

    #[test]
    fn codes_request_ids_and_retry_hints() {
        let info = header_info(&headers(&[
            ("request-id", "req_1"),
            ("x-should-retry", "false"),
        ]));
        assert_eq!(info.request_id.as_deref(), Some("req_1"));
        assert_eq!(info.should_retry, Some(false));
        let code = |body: Value| error_code(&body);
        assert_eq!(
            code(json!({"error": {
                "message": "m", "type": "insufficient_quota", "code": "insufficient_quota"
            }})),
            Some("insufficient_quota".into())
        );
        assert_eq!(
            code(json!({"type": "error", "error": {"type": "rate_limit_error", "message": "m"}})),
            Some("rate_limit_error".into())
        );
        assert_eq!(
            code(
                json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID"
                }]}})
            ),
            Some("API_KEY_INVALID".into())
        );
        assert_eq!(
            code(
                json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                     "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}]}
                ]}})
            ),
            Some("GenerateRequestsPerDayPerProjectPerModel".into())
        );
        assert_eq!(code(json!({"error": "model not found"})), None);
    }

    #[test]
    fn an_html_page_is_named_not_quoted() {
        assert_eq!(
            text_message(
                "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>x</body></html>"
            ),
            "an HTML page (\"502 Bad Gateway\"), not an API answer: check base-url"
        );
        assert_eq!(
            text_message("<html><body>hi</body></html>"),
            "an HTML page, not an API answer: check base-url"
        );
        assert_eq!(
            text_message("upstream connect error\nmore"),
            "upstream connect error"
        );
    }

    #[test]
    fn error_messages_of_every_format() {
        let cases = [
            (
                json!({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}),
                "Incorrect API key",
            ),
            (
                json!({
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"}
                }),
                "Overloaded",
            ),
            (
                json!([{"error": {
                    "code": 429,
                    "message": "Quota exceeded",
                    "status": "RESOURCE_EXHAUSTED"
                }}]),
                "Quota exceeded",
            ),
            (
                json!({"error": "model 'x' not found"}),
                "model 'x' not found",
            ),
            (
                json!({"object": "error", "message": "context too long"}),
                "context too long",
            ),
            (json!({"detail": "Not Found"}), "Not Found"),
        ];
        for (body, want) in cases {
            assert_eq!(json_error_message(&body), Some(want), "{body}");
        }
        assert_eq!(json_error_message(&json!({"ok": true})), None);
    }

    #[test]
    fn gemini_retry_delay_in_body() {
        let body = json!({"error": {"code": 429, "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
        ]}});
        assert_eq!(retry_delay_in_body(&body), Some(Duration::from_secs(38)));
    }

    #[test]
    fn messages_are_one_line_and_short() {
        let long = "word\n".repeat(200);
        let short = truncate_message(&long);
        assert!(!short.contains('\n'));
        assert_eq!(short.chars().count(), MESSAGE_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(truncate_message("  a \n b "), "a b");
    }

    #[test]
    fn error_in_body_uses_a_plausible_code() {
        let err = error_in_body(&json!({"error": {"message": "upstream", "code": 502}}), 500);
        assert_eq!(err, ProviderError::http(502, "upstream"));
        let err = error_in_body(
            &json!({"error": {"message": "odd", "code": "rate_limit"}}),
            500,
        );
        assert!(matches!(err, ProviderError::Http { status: 500, .. }));
    }

    #[test]
    fn excerpt_is_short_and_one_line() {
        assert_eq!(excerpt(" a\nb "), "a b");
        let long = excerpt(&"y".repeat(500));
        assert_eq!(long.chars().count(), 81);
    }
}
