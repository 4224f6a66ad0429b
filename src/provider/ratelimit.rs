//! The budget a provider says is left, read from a response's rate-limit headers, and
//! whether the next request fits in it.
//!
//! - OpenAI and compatible APIs (Groq, Together, DeepSeek, ...):
//!   `x-ratelimit-remaining-requests`, `x-ratelimit-remaining-tokens`, and
//!   `x-ratelimit-reset-requests` / `-tokens` as a duration (`1s`, `6m0s`, `59.5ms`,
//!   `1h2m3.5s`).
//! - OpenRouter: `x-ratelimit-remaining` and `x-ratelimit-reset` (Unix milliseconds).
//! - Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-remaining`
//!   and the matching `-reset` as an RFC 3339 time; the tightest token count is the one
//!   that binds.
//!
//! Times are kept as Unix milliseconds so the state can be saved and shared between
//! processes.

use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What one response said about the budget left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests left in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) requests_remaining: Option<u64>,
    /// Tokens left in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tokens_remaining: Option<u64>,
    /// When the request budget refills (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) requests_reset_ms: Option<u64>,
    /// When the token budget refills (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tokens_reset_ms: Option<u64>,
}

/// Whether a request fits the budget a backend last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Go ahead (also when nothing is known).
    Admit,
    /// Skip the backend until `until_ms`: its budget is spent.
    Demote {
        /// When the budget refills (Unix ms).
        until_ms: u64,
        /// Tokens left (0 when it is the requests that ran out).
        tokens_left: u64,
    },
}

impl RateLimit {
    /// The budget `headers` report, `None` when they report none. `now_ms` turns
    /// relative reset times into absolute ones.
    pub(crate) fn from_headers(headers: &HeaderMap, now_ms: u64) -> Option<Self> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let number = |name: &str| text(name).and_then(|v| v.parse::<u64>().ok());
        let relative = |name: &str| {
            text(name)
                .and_then(parse_duration_ms)
                .map(|ms| now_ms.saturating_add(ms))
        };
        let stamp = |name: &str| text(name).and_then(parse_rfc3339_ms);

        let mut limit = Self {
            requests_remaining: number("x-ratelimit-remaining-requests"),
            tokens_remaining: number("x-ratelimit-remaining-tokens"),
            requests_reset_ms: relative("x-ratelimit-reset-requests"),
            tokens_reset_ms: relative("x-ratelimit-reset-tokens"),
        };
        if limit.requests_remaining.is_none() {
            // OpenRouter's single budget, reset given as Unix milliseconds.
            limit.requests_remaining = number("x-ratelimit-remaining");
            limit.requests_reset_ms = limit
                .requests_reset_ms
                .or_else(|| number("x-ratelimit-reset"));
        }
        let anthropic = |what: &str| number(&format!("anthropic-ratelimit-{what}-remaining"));
        let anthropic_reset = |what: &str| stamp(&format!("anthropic-ratelimit-{what}-reset"));
        limit.requests_remaining = limit.requests_remaining.or(anthropic("requests"));
        limit.requests_reset_ms = limit.requests_reset_ms.or(anthropic_reset("requests"));
        // The tightest of Anthropic's token budgets binds.
        let tokens = ["tokens", "input-tokens", "output-tokens"]
            .into_iter()
            .filter_map(|what| anthropic(what).map(|n| (n, anthropic_reset(what))))
            .min_by_key(|(n, _)| *n);
        if let (None, Some((n, reset))) = (limit.tokens_remaining, tokens) {
            limit.tokens_remaining = Some(n);
            limit.tokens_reset_ms = limit.tokens_reset_ms.or(reset);
        }
        (limit != Self::default()).then_some(limit)
    }

    /// Whether a request of about `tokens` fits at `now_ms`. A budget whose reset
    /// time has passed (or is unknown) no longer holds anything back.
    pub(crate) fn admits(&self, tokens: u64, now_ms: u64) -> Admission {
        let pending = |reset: Option<u64>| reset.filter(|&r| r > now_ms);
        if self.requests_remaining == Some(0)
            && let Some(until_ms) = pending(self.requests_reset_ms)
        {
            return Admission::Demote {
                until_ms,
                tokens_left: self.tokens_remaining.unwrap_or(0),
            };
        }
        if let Some(left) = self.tokens_remaining.filter(|&left| left < tokens)
            && let Some(until_ms) = pending(self.tokens_reset_ms)
        {
            return Admission::Demote {
                until_ms,
                tokens_left: left,
            };
        }
        Admission::Admit
    }
}

/// Milliseconds in an OpenAI-style duration: `1h2m3.5s`, `6m0s`, `59.5ms`, `20ms`,
/// or a bare number of seconds.
pub(crate) fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return to_ms(secs * 1000.0);
    }
    let mut total = 0.0;
    let mut rest = text;
    let mut any = false;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1000.0,
            "ms" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * factor;
        any = true;
    }
    if any { to_ms(total) } else { None }
}

fn to_ms(ms: f64) -> Option<u64> {
    (ms.is_finite() && ms >= 0.0).then(|| ms.ceil() as u64)
}

/// Unix milliseconds of an RFC 3339 time (`2026-12-02T10:00:05Z`).
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(HeaderName::from_static(name), value);
            }
        }
        map
    }

    const NOW: u64 = 1_764_669_600_000; // 2025-12-02T10:00:00Z

    #[test]
    fn durations_as_openai_and_groq_write_them() {
        for (text, ms) in [
            ("1s", 1000),
            ("6m0s", 360_000),
            ("1h2m3.5s", 3_723_500),
            ("20ms", 20),
            ("59.5ms", 60),
            ("2m59.56s", 179_560),
            ("7.66s", 7660),
            ("0s", 0),
            ("12", 12_000),
        ] {
            assert_eq!(parse_duration_ms(text), Some(ms), "{text}");
        }
        for bad in ["", "soon", "5x", "-1s", "1d"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn openai_headers() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-remaining-tokens", "149984"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(
            RateLimit::from_headers(&h, NOW),
            Some(RateLimit {
                requests_remaining: Some(9999),
                tokens_remaining: Some(149_984),
                requests_reset_ms: Some(NOW + 6),
                tokens_reset_ms: Some(NOW + 360_000),
            })
        );
    }

    #[test]
    fn anthropic_headers_take_the_tightest_token_budget() {
        let h = headers(&[
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2025-12-02T10:00:05Z"),
            ("anthropic-ratelimit-tokens-remaining", "80000"),
            ("anthropic-ratelimit-tokens-reset", "2025-12-02T10:00:30Z"),
            ("anthropic-ratelimit-input-tokens-remaining", "1200"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2025-12-02T10:00:12Z",
            ),
            ("anthropic-ratelimit-output-tokens-remaining", "16000"),
        ]);
        assert_eq!(
            RateLimit::from_headers(&h, NOW),
            Some(RateLimit {
                requests_remaining: Some(49),
                tokens_remaining: Some(1200),
                requests_reset_ms: Some(NOW + 5000),
                tokens_reset_ms: Some(NOW + 12_000),
            })
        );
    }

    #[test]
    fn openrouter_headers_and_none_at_all() {
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1764669660000"),
        ]);
        let limit = RateLimit::from_headers(&h, NOW);
        assert_eq!(
            limit.map(|l| (l.requests_remaining, l.requests_reset_ms)),
            Some((Some(0), Some(NOW + 60_000)))
        );
        assert_eq!(RateLimit::from_headers(&headers(&[]), NOW), None);
        let junk = headers(&[("x-ratelimit-remaining-requests", "lots")]);
        assert_eq!(RateLimit::from_headers(&junk, NOW), None);
    }

    #[test]
    fn admission_rows() {
        let spent = RateLimit {
            requests_remaining: Some(0),
            requests_reset_ms: Some(NOW + 5000),
            ..RateLimit::default()
        };
        let low = RateLimit {
            requests_remaining: Some(10),
            tokens_remaining: Some(300),
            tokens_reset_ms: Some(NOW + 9000),
            ..RateLimit::default()
        };
        let rows = [
            (RateLimit::default(), 1000, NOW, Admission::Admit),
            (
                spent,
                10,
                NOW,
                Admission::Demote {
                    until_ms: NOW + 5000,
                    tokens_left: 0,
                },
            ),
            (spent, 10, NOW + 5000, Admission::Admit),
            (low, 200, NOW, Admission::Admit),
            (
                low,
                400,
                NOW,
                Admission::Demote {
                    until_ms: NOW + 9000,
                    tokens_left: 300,
                },
            ),
            (low, 400, NOW + 9001, Admission::Admit),
            (
                RateLimit {
                    tokens_remaining: Some(0),
                    ..RateLimit::default()
                },
                400,
                NOW,
                Admission::Admit,
            ),
        ];
        for (i, (limit, tokens, now, want)) in rows.into_iter().enumerate() {
            assert_eq!(limit.admits(tokens, now), want, "row {i}");
        }
    }
}
