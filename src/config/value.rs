//! Turning text (`/set`, `--set`) and JSON (profile files) into checked setting values.
//!
//! Both paths end in the same normalised JSON value, so a setting typed at the prompt
//! and the same setting read from a file compare equal and save identically.

use serde_json::{Number, Value};

use super::registry::{self, SettingKind, SettingSpec};

/// Why a setting was refused. Messages are shown to the user as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    /// The key is not in the table.
    #[error("{}", unknown_message(key, *suggestion))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// A known key that is probably what was meant.
        suggestion: Option<&'static str>,
    },
    /// A number outside the key's range.
    #[error("{key} must be from {min} to {max} (got {got})")]
    OutOfRange {
        /// The key.
        key: String,
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
        /// What was given.
        got: String,
    },
    /// The value does not fit the key's kind or bounds.
    #[error("{key} must be {expected} (got {got})")]
    Invalid {
        /// The key.
        key: String,
        /// What is allowed, e.g. "a positive integer".
        expected: String,
        /// What was given, as typed (text) or as JSON (files).
        got: String,
    },
}

fn unknown_message(key: &str, suggestion: Option<&str>) -> String {
    let valid: Vec<&str> = registry::keys().collect();
    let hint = suggestion
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default();
    format!(
        "unknown setting '{key}'{hint}; valid settings: {}",
        valid.join(", ")
    )
}

impl SettingError {
    /// The key the error is about.
    pub(crate) fn key(&self) -> &str {
        match self {
            Self::UnknownKey { key, .. }
            | Self::Invalid { key, .. }
            | Self::OutOfRange { key, .. } => key,
        }
    }

    pub(crate) fn unknown(key: &str) -> Self {
        Self::UnknownKey {
            key: key.to_string(),
            suggestion: registry::suggest(key),
        }
    }
}

/// Parses text typed by the user (`/set KEY VALUE`, `--set KEY=VALUE`) for `key`.
pub(crate) fn parse_value(key: &str, raw: &str) -> Result<Value, SettingError> {
    let spec = registry::spec(key).ok_or_else(|| SettingError::unknown(key))?;
    let bad = || invalid(spec, raw.to_string());
    let text = raw.trim();
    match spec.kind {
        SettingKind::PositiveInt | SettingKind::NonNegativeInt => {
            bounded(spec, int_from_text(text), raw.trim())
        }
        SettingKind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad()),
        },
        SettingKind::Fraction => text
            .parse::<f64>()
            .ok()
            .filter(|f| *f > 0.0 && *f <= 1.0)
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(bad),
        SettingKind::Toggle { on, off } => toggle_from_word(text, on, off)
            .map(|w| Value::String(w.to_string()))
            .ok_or_else(bad),
        SettingKind::Headers => serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| headers(&v))
            .ok_or_else(bad),
        // JSON when it parses, else the text itself, so `/set stream-options {...}` and
        // `/set x word` both work without quoting.
        SettingKind::Json => {
            Ok(serde_json::from_str(text).unwrap_or(Value::String(raw.to_string())))
        }
        SettingKind::Url
        | SettingKind::Path
        | SettingKind::EnvVar
        | SettingKind::Text
        | SettingKind::Choice(_) => string_kind(spec, raw).ok_or_else(bad),
    }
}

/// Checks a JSON value read from a file for `key` and returns it normalised
/// (whole floats become integers, `streaming: true` becomes `"enabled"`).
///
/// Files are strict about types: `"30000"` (a string) is refused where a number is
/// expected, because llxprt and baton both write numbers.
pub(crate) fn check_value(key: &str, value: &Value) -> Result<Value, SettingError> {
    let spec = registry::spec(key).ok_or_else(|| SettingError::unknown(key))?;
    let bad = || invalid(spec, got_json(spec, value));
    match spec.kind {
        SettingKind::PositiveInt | SettingKind::NonNegativeInt => {
            bounded(spec, int_from_json(value), &got_json(spec, value))
        }
        SettingKind::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(bad()),
        },
        SettingKind::Fraction => value
            .as_f64()
            .filter(|f| *f > 0.0 && *f <= 1.0)
            .map(|_| value.clone())
            .ok_or_else(bad),
        SettingKind::Toggle { on, off } => match value {
            Value::Bool(b) => Ok(Value::String(if *b { on } else { off }.to_string())),
            Value::String(s) => toggle_from_word(s.trim(), on, off)
                .map(|w| Value::String(w.to_string()))
                .ok_or_else(bad),
            _ => Err(bad()),
        },
        SettingKind::Headers => headers(value).ok_or_else(bad),
        SettingKind::Json => Ok(value.clone()),
        SettingKind::Url
        | SettingKind::Path
        | SettingKind::EnvVar
        | SettingKind::Text
        | SettingKind::Choice(_) => match value {
            Value::String(s) => string_kind(spec, s).ok_or_else(bad),
            _ => Err(bad()),
        },
    }
}

/// How a stored value is shown to the user: secrets as `***`, the rest as JSON
/// (strings without quotes).
pub(crate) fn display_value(key: &str, value: &Value) -> String {
    if registry::spec(key).is_some_and(|s| s.protected) {
        return "***".to_string();
    }
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) if key == "custom-headers" => {
            let shown: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, v)| {
                    let v = if is_secret_header(k) {
                        Value::String("***".to_string())
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect();
            Value::Object(shown).to_string()
        }
        other => other.to_string(),
    }
}

/// True for header names whose values are credentials (`Authorization`, `X-Api-Key`,
/// `X-Auth-Token`, `Cookie`, ...). Their values are treated like `auth-key`.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["auth", "key", "token", "secret", "password", "cookie"]
        .iter()
        .any(|word| name.contains(word))
}

/// A whole number checked against the row's range: below the minimum, beyond any
/// 64-bit number, or not a number is the kind's error; above the maximum names the
/// range.
fn bounded(spec: &SettingSpec, n: Option<i128>, got: &str) -> Result<Value, SettingError> {
    let min = spec.min().unwrap_or(0);
    let n = n
        .filter(|n| *n >= i128::from(min) && *n <= i128::from(u64::MAX))
        .ok_or_else(|| invalid(spec, got.to_string()))?;
    if let Some(max) = spec.max.filter(|max| n > i128::from(*max)) {
        return Err(SettingError::OutOfRange {
            key: spec.key.to_string(),
            min,
            max,
            got: got.to_string(),
        });
    }
    to_value_u64(n).ok_or_else(|| invalid(spec, got.to_string()))
}

fn invalid(spec: &SettingSpec, got: String) -> SettingError {
    // A refused secret is still a secret: say what kind of thing it was, not its value.
    let got = if spec.protected {
        "a value that is not valid".to_string()
    } else {
        got
    };
    SettingError::Invalid {
        key: spec.key.to_string(),
        expected: spec.kind.to_string(),
        got,
    }
}

fn got_json(spec: &SettingSpec, value: &Value) -> String {
    let text = value.to_string();
    if spec.protected || text.chars().count() <= 60 {
        return text;
    }
    let cut: String = text.chars().take(57).collect();
    format!("{cut}...")
}

/// Whole numbers typed as text: `30000`, `+5`, `30000.0`, `3e4`.
fn int_from_text(text: &str) -> Option<i128> {
    if let Ok(n) = text.parse::<i128>() {
        return Some(n);
    }
    text.parse::<f64>().ok().and_then(whole)
}

/// Whole JSON numbers, including `30000.0` (some tools write every number as a float).
fn int_from_json(value: &Value) -> Option<i128> {
    let n = value.as_number()?;
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    n.as_f64().and_then(whole)
}

fn whole(f: f64) -> Option<i128> {
    // The bounds keep the cast exact; anything beyond u64 is refused later anyway.
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1.9e19 {
        Some(f as i128)
    } else {
        None
    }
}

fn to_value_u64(n: i128) -> Option<Value> {
    u64::try_from(n).ok().map(Value::from)
}

fn toggle_from_word(text: &str, on: &'static str, off: &'static str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if lower == on || lower == "true" {
        Some(on)
    } else if lower == off || lower == "false" {
        Some(off)
    } else {
        None
    }
}

fn headers(value: &Value) -> Option<Value> {
    let map = value.as_object()?;
    let ok = map
        .iter()
        .all(|(k, v)| !k.trim().is_empty() && !k.contains(char::is_whitespace) && v.is_string());
    ok.then(|| value.clone())
}

fn string_kind(spec: &SettingSpec, raw: &str) -> Option<Value> {
    let text = raw.trim();
    let ok = match spec.kind {
        SettingKind::Url => is_http_url(text),
        SettingKind::Path => !text.is_empty(),
        SettingKind::EnvVar => is_env_name(text),
        SettingKind::Text => return Some(Value::String(raw.to_string())),
        SettingKind::Choice(words) => {
            let lower = text.to_ascii_lowercase();
            return words
                .iter()
                .find(|w| **w == lower)
                .map(|w| Value::String((*w).to_string()));
        }
        SettingKind::PositiveInt
        | SettingKind::NonNegativeInt
        | SettingKind::Bool
        | SettingKind::Toggle { .. }
        | SettingKind::Fraction
        | SettingKind::Headers
        | SettingKind::Json => false,
    };
    ok.then(|| Value::String(text.to_string()))
}

fn is_http_url(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(rest) => {
            !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn is_env_name(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn err(key: &str, raw: &str) -> String {
        match parse_value(key, raw) {
            Ok(v) => panic!("{key}={raw} was accepted as {v}"),
            Err(e) => e.to_string(),
        }
    }

    fn file_err(key: &str, value: Value) -> String {
        match check_value(key, &value) {
            Ok(v) => panic!("{key}={value} was accepted as {v}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn seed_004_scenario_6_messages() {
        assert_eq!(
            err("tpm_threshold", "-500"),
            "tpm_threshold must be a positive integer (got -500)"
        );
        assert_eq!(
            err("timeout_ms", "abc"),
            "timeout_ms must be a positive integer (got abc)"
        );
        assert_eq!(
            err("circuit_breaker_enabled", "maybe"),
            "circuit_breaker_enabled must be true or false (got maybe)"
        );
    }

    #[test]
    fn seed_004_scenario_6_valid_values() {
        for (k, v, want) in [
            ("tpm_threshold", "1000", json!(1000)),
            ("timeout_ms", "30000", json!(30000)),
            ("circuit_breaker_enabled", "true", json!(true)),
            ("circuit_breaker_enabled", "FALSE", json!(false)),
            ("circuit_breaker_failure_threshold", "3", json!(3)),
            ("circuit_breaker_failure_window_ms", "60000", json!(60000)),
            ("circuit_breaker_recovery_timeout_ms", "30000", json!(30000)),
        ] {
            assert_eq!(parse_value(k, v), Ok(want), "{k} {v}");
        }
    }

    #[test]
    fn unknown_key_lists_valid_keys_and_suggests() {
        let msg = err("foo", "1");
        assert!(
            msg.starts_with("unknown setting 'foo'; valid settings: timeout_ms, "),
            "{msg}"
        );
        let msg = err("timout_ms", "1");
        assert!(
            msg.starts_with(
                "unknown setting 'timout_ms' (did you mean 'timeout_ms'?); valid settings: "
            ),
            "{msg}"
        );
        assert!(check_value("foo", &json!(1)).is_err());
    }

    #[test]
    fn integers_from_text() {
        assert_eq!(parse_value("timeout_ms", " 5000 "), Ok(json!(5000)));
        assert_eq!(parse_value("timeout_ms", "5000.0"), Ok(json!(5000)));
        assert_eq!(
            err("timeout_ms", "0"),
            "timeout_ms must be a positive integer (got 0)"
        );
        assert_eq!(
            err("timeout_ms", "1.5"),
            "timeout_ms must be a positive integer (got 1.5)"
        );
        assert_eq!(parse_value("failover_retry_count", "0"), Ok(json!(0)));
        assert_eq!(
            err("failover_retry_count", "-1"),
            "failover_retry_count must be an integer of 0 or more (got -1)"
        );
        assert_eq!(
            err("timeout_ms", "99999999999999999999999"),
            "timeout_ms must be a positive integer (got 99999999999999999999999)"
        );
    }

    #[test]
    fn integers_from_files() {
        assert_eq!(check_value("timeout_ms", &json!(30000.0)), Ok(json!(30000)));
        assert_eq!(
            file_err("timeout_ms", json!("30000")),
            r#"timeout_ms must be a positive integer (got "30000")"#
        );
        assert_eq!(
            file_err("tpm_threshold", json!(-500)),
            "tpm_threshold must be a positive integer (got -500)"
        );
        assert_eq!(
            file_err("timeout_ms", json!(2.5)),
            "timeout_ms must be a positive integer (got 2.5)"
        );
        assert_eq!(
            file_err("failover_retry_delay_ms", json!(null)),
            "failover_retry_delay_ms must be an integer of 0 or more (got null)"
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(
            check_value("socket-keepalive", &json!(false)),
            Ok(json!(false))
        );
        assert_eq!(
            file_err("circuit_breaker_enabled", json!("true")),
            r#"circuit_breaker_enabled must be true or false (got "true")"#
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_value("base-url", "http://127.0.0.1:8080/v1"),
            Ok(json!("http://127.0.0.1:8080/v1"))
        );
        assert_eq!(
            err("base-url", "ftp://x"),
            "base-url must be an http:// or https:// URL (got ftp://x)"
        );
        assert!(parse_value("base-url", "https://").is_err());
        assert!(parse_value("base-url", "https:///path").is_err());
        assert_eq!(
            file_err("base-url", json!(8080)),
            "base-url must be an http:// or https:// URL (got 8080)"
        );
    }

    #[test]
    fn paths_env_names_and_text() {
        assert_eq!(
            parse_value("auth-keyfile", "~/.keys/x"),
            Ok(json!("~/.keys/x"))
        );
        assert_eq!(
            err("auth-keyfile", "  "),
            "auth-keyfile must be a file path (got   )"
        );
        assert_eq!(
            parse_value("auth-key-env", "MY_KEY_2"),
            Ok(json!("MY_KEY_2"))
        );
        assert_eq!(
            err("auth-key-env", "2BAD"),
            "auth-key-env must be an environment variable name (letters, digits, _) (got 2BAD)"
        );
        assert_eq!(parse_value("tool-format", "openai"), Ok(json!("openai")));
        assert_eq!(
            file_err("tool-format", json!(1)),
            "tool-format must be text (got 1)"
        );
    }

    #[test]
    fn protected_values_are_not_echoed() {
        let msg = file_err("auth-key", json!(12345));
        assert!(!msg.contains("12345"), "{msg}");
        assert_eq!(display_value("auth-key", &json!("sk-secret")), "***");
    }

    #[test]
    fn streaming_toggle() {
        assert_eq!(parse_value("streaming", "Disabled"), Ok(json!("disabled")));
        assert_eq!(parse_value("streaming", "true"), Ok(json!("enabled")));
        assert_eq!(
            check_value("streaming", &json!(false)),
            Ok(json!("disabled"))
        );
        assert_eq!(
            err("streaming", "sometimes"),
            "streaming must be enabled or disabled (or true/false) (got sometimes)"
        );
    }

    #[test]
    fn choices_and_fractions() {
        assert_eq!(parse_value("emojifilter", "WARN"), Ok(json!("warn")));
        assert_eq!(
            err("emojifilter", "nope"),
            "emojifilter must be one of allowed, auto, warn, error (got nope)"
        );
        assert_eq!(parse_value("compression-threshold", "0.7"), Ok(json!(0.7)));
        assert_eq!(
            err("compression-threshold", "1.5"),
            "compression-threshold must be a number greater than 0 and at most 1 (got 1.5)"
        );
    }

    #[test]
    fn headers_and_json() {
        assert_eq!(
            parse_value("custom-headers", r#"{"X-Team":"a"}"#),
            Ok(json!({"X-Team": "a"}))
        );
        assert_eq!(
            file_err("custom-headers", json!({"X-Team": 1})),
            r#"custom-headers must be a JSON object of header names to string values (got {"X-Team":1})"#
        );
        assert!(parse_value("custom-headers", "not json").is_err());
        assert_eq!(
            parse_value("stream-options", r#"{"include_usage":true}"#),
            Ok(json!({"include_usage": true}))
        );
        assert_eq!(parse_value("stream-options", "word"), Ok(json!("word")));
    }

    #[test]
    fn secret_headers_and_display() {
        assert!(is_secret_header("Authorization"));
        assert!(is_secret_header("x-api-key"));
        assert!(is_secret_header("X-Auth-Token"));
        assert!(!is_secret_header("X-Team"));
        let shown = display_value(
            "custom-headers",
            &json!({"Authorization": "Bearer sk", "X-Team": "a"}),
        );
        assert!(!shown.contains("Bearer"), "{shown}");
        assert!(shown.contains("X-Team"), "{shown}");
    }
}
