//! The settings table: one row per key, and the types those rows use.
//!
//! Every consumer (`/set`, `--set`, profile validation, tab completion, the profile
//! save filter, `docs/settings.md`) reads this one table, so adding a setting means
//! adding one row here.

use std::fmt;

/// What values a setting accepts. `Display` reads as the end of "KEY must be ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SettingKind {
    /// A whole number of 1 or more.
    PositiveInt,
    /// A whole number of 0 or more.
    NonNegativeInt,
    /// `true` or `false`.
    Bool,
    /// An `http://` or `https://` URL.
    Url,
    /// A file path (`~/` allowed; expanded where the file is read).
    Path,
    /// The name of an environment variable.
    EnvVar,
    /// Free text.
    Text,
    /// One of a fixed list of words (compared without regard to case, stored lowercase).
    Choice(&'static [&'static str]),
    /// llxprt's two-word switch (`enabled`/`disabled`); `true`/`false` are accepted and
    /// stored as the words so llxprt reads the file back unchanged.
    Toggle {
        /// The word for on, e.g. `enabled`.
        on: &'static str,
        /// The word for off, e.g. `disabled`.
        off: &'static str,
    },
    /// A number greater than 0 and at most 1.
    Fraction,
    /// A JSON object of header names to string values.
    Headers,
    /// Any JSON value (passed through to the provider as written).
    Json,
}

impl fmt::Display for SettingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PositiveInt => f.write_str("a positive integer"),
            Self::NonNegativeInt => f.write_str("an integer of 0 or more"),
            Self::Bool => f.write_str("true or false"),
            Self::Url => f.write_str("an http:// or https:// URL"),
            Self::Path => f.write_str("a file path"),
            Self::EnvVar => f.write_str("an environment variable name (letters, digits, _)"),
            Self::Text => f.write_str("text"),
            Self::Choice(words) => write!(f, "one of {}", words.join(", ")),
            Self::Toggle { on, off } => write!(f, "{on} or {off} (or true/false)"),
            Self::Fraction => f.write_str("a number greater than 0 and at most 1"),
            Self::Headers => f.write_str("a JSON object of header names to string values"),
            Self::Json => f.write_str("a JSON value"),
        }
    }
}

/// Where a setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// The load balancer: timeouts, retries, TPM, circuit breaker.
    LoadBalancer,
    /// One backend: where it is, how to authenticate, how to talk to it.
    Backend,
    /// The chat session (kept in profiles for llxprt compatibility).
    Session,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LoadBalancer => "load balancer",
            Self::Backend => "backend",
            Self::Session => "session",
        })
    }
}

/// One row of the settings table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SettingSpec {
    /// The key, exactly as written in `/set`, `--set` and profile files (llxprt's names).
    pub(crate) key: &'static str,
    /// The values it accepts.
    pub(crate) kind: SettingKind,
    /// The value used when unset, as text (`None`: unset means "off" or "not used").
    pub(crate) default: Option<&'static str>,
    /// One line for `/set KEY` and the docs.
    pub(crate) help: &'static str,
    /// A secret: never written to a profile file or shown in full.
    pub(crate) protected: bool,
    /// Where it takes effect.
    pub(crate) scope: Scope,
    /// The largest value a numeric setting accepts (`None` for the others). Every
    /// number has one: an unbounded retry count or delay is a request storm or a
    /// sleep that never ends.
    pub(crate) max: Option<u64>,
}

impl SettingSpec {
    /// The `/set KEY` help: key, meaning, accepted values, default and scope.
    pub(crate) fn describe(&self) -> String {
        let default = self.default.unwrap_or("unset");
        let mut text = format!(
            "{}: {}\n  value: {}\n  default: {}\n  applies to: {}",
            self.key, self.help, self.kind, default, self.scope
        );
        if let Some(range) = self.range() {
            text.push_str(&format!("\n  range: {range}"));
        }
        if self.protected {
            text.push_str("\n  protected: never saved to a profile");
        }
        text
    }

    /// The smallest value a numeric setting accepts.
    pub(crate) fn min(&self) -> Option<u64> {
        match self.kind {
            SettingKind::PositiveInt => Some(1),
            SettingKind::NonNegativeInt => Some(0),
            _ => None,
        }
    }

    /// `1 to 3600000` for a numeric setting.
    pub(crate) fn range(&self) -> Option<String> {
        Some(format!("{} to {}", self.min()?, self.max?))
    }

    /// The same row with an upper bound.
    const fn up_to(self, max: u64) -> Self {
        Self {
            max: Some(max),
            ..self
        }
    }
}

const fn row(
    key: &'static str,
    kind: SettingKind,
    default: Option<&'static str>,
    scope: Scope,
    help: &'static str,
) -> SettingSpec {
    SettingSpec {
        key,
        kind,
        default,
        help,
        protected: false,
        scope,
        max: None,
    }
}

use Scope::{Backend, LoadBalancer, Session};
use SettingKind::{
    Bool, Choice, EnvVar, Fraction, Headers, Json, NonNegativeInt, Path, PositiveInt, Text, Toggle,
    Url,
};

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The table. Order is the order of `/set` completion, the docs and saved files.
static REGISTRY: &[SettingSpec] = &[
    // Load balancer (llxprt's names, baton's defaults).
    row(
        "timeout_ms",
        PositiveInt,
        Some("30000"),
        LoadBalancer,
        "Max wait in ms for the first streamed chunk of an attempt before failing over",
    )
    .up_to(HOUR_MS),
    row(
        "stream_idle_timeout_ms",
        PositiveInt,
        Some("60000"),
        LoadBalancer,
        "Max gap in ms between chunks once an answer is streaming",
    )
    .up_to(HOUR_MS),
    row(
        "tpm_threshold",
        PositiveInt,
        None,
        LoadBalancer,
        "Skip a backend whose tokens-per-minute is above 0 and below this",
    )
    .up_to(1_000_000_000),
    row(
        "failover_retry_count",
        NonNegativeInt,
        Some("2"),
        LoadBalancer,
        "Attempts per backend before failing over (0 counts as 1, as in llxprt)",
    )
    .up_to(100),
    row(
        "failover_retry_delay_ms",
        NonNegativeInt,
        Some("1000"),
        LoadBalancer,
        "Wait in ms between attempts on one backend (a Retry-After header wins, up to the cap)",
    )
    .up_to(10 * MINUTE_MS),
    row(
        "retry_after_cap_ms",
        NonNegativeInt,
        Some("60000"),
        LoadBalancer,
        "Longest Retry-After in ms baton waits for; a longer one fails over instead",
    )
    .up_to(HOUR_MS),
    row(
        "quota_cooldown_ms",
        PositiveInt,
        Some("3600000"),
        LoadBalancer,
        "How long in ms a backend out of money or quota is skipped (the provider's own wait wins)",
    )
    .up_to(7 * DAY_MS),
    row(
        "wait_for_recovery_ms",
        NonNegativeInt,
        Some("0"),
        LoadBalancer,
        "When every backend is cooling down, wait up to this many ms for the first one back instead of failing",
    )
    .up_to(HOUR_MS),
    row(
        "failover_on_filter",
        Bool,
        Some("false"),
        LoadBalancer,
        "Send a prompt a provider's content filter rejected (400) to the next backend instead of reporting it filtered",
    ),
    row(
        "circuit_breaker_enabled",
        Bool,
        Some("true"),
        LoadBalancer,
        "Stop sending requests to a backend that keeps failing",
    ),
    row(
        "circuit_breaker_failure_threshold",
        PositiveInt,
        Some("3"),
        LoadBalancer,
        "Failures within the window that open the breaker",
    )
    .up_to(10_000),
    row(
        "circuit_breaker_failure_window_ms",
        PositiveInt,
        Some("60000"),
        LoadBalancer,
        "The window in ms in which failures are counted",
    )
    .up_to(DAY_MS),
    row(
        "circuit_breaker_recovery_timeout_ms",
        PositiveInt,
        Some("30000"),
        LoadBalancer,
        "Time in ms an open breaker waits before letting one probe request through",
    )
    .up_to(DAY_MS),
    // Backend.
    row(
        "base-url",
        Url,
        None,
        Backend,
        "Base URL of the API, e.g. http://127.0.0.1:8080/v1 for an OpenAI-compatible server",
    ),
    SettingSpec {
        key: "auth-key",
        kind: Text,
        default: None,
        help: "The API key itself; kept in memory only, never saved (use auth-keyfile or auth-key-env)",
        protected: true,
        scope: Backend,
        max: None,
    },
    row(
        "auth-keyfile",
        Path,
        None,
        Backend,
        "File holding the API key (~/ allowed)",
    ),
    row(
        "auth-key-env",
        EnvVar,
        None,
        Backend,
        "Environment variable holding the API key (instead of the provider's usual one)",
    ),
    row(
        "context-limit",
        PositiveInt,
        None,
        Backend,
        "Maximum tokens in the context window",
    )
    .up_to(100_000_000),
    row(
        "streaming",
        Toggle {
            on: "enabled",
            off: "disabled",
        },
        Some("enabled"),
        Backend,
        "Stream answers token by token, or ask for them whole",
    ),
    row(
        "socket-timeout",
        PositiveInt,
        None,
        Backend,
        "Socket timeout in ms for the HTTP connection",
    )
    .up_to(HOUR_MS),
    row(
        "socket-keepalive",
        Bool,
        Some("true"),
        Backend,
        "Keep TCP connections to the backend alive",
    ),
    row(
        "socket-nodelay",
        Bool,
        Some("true"),
        Backend,
        "Set TCP_NODELAY on connections to the backend",
    ),
    row(
        "custom-headers",
        Headers,
        None,
        Backend,
        "Extra HTTP headers as a JSON object; secret-looking ones (Authorization, *key*, *token*) are never saved",
    ),
    row(
        "api-version",
        Text,
        None,
        Backend,
        "API version sent to the provider (Azure-style endpoints)",
    ),
    row(
        "tool-format",
        Text,
        None,
        Backend,
        "Tool-call format override for the provider (llxprt; kept, not used by baton)",
    ),
    row(
        "stream-options",
        Json,
        None,
        Backend,
        "Stream options for OpenAI-compatible APIs, e.g. {\"include_usage\":true}",
    ),
    row(
        "system-prompt",
        Text,
        None,
        Session,
        "Instructions sent before the conversation as the system prompt (each provider gets it where its API wants it)",
    ),
    // Session settings llxprt profiles commonly hold; kept so those profiles validate
    // and round-trip.
    row(
        "compression-threshold",
        Fraction,
        None,
        Session,
        "Fraction of the context limit that triggers history compression (llxprt)",
    ),
    row(
        "emojifilter",
        Choice(&["allowed", "auto", "warn", "error"]),
        None,
        Session,
        "Emoji filter mode (llxprt)",
    ),
    row(
        "shell-replacement",
        Bool,
        None,
        Session,
        "Allow command substitution in shell commands (llxprt)",
    ),
    row(
        "max-prompt-tokens",
        PositiveInt,
        None,
        Session,
        "Maximum tokens in any prompt sent to the model (llxprt)",
    )
    .up_to(100_000_000),
    row(
        "archive",
        Toggle {
            on: "on",
            off: "off",
        },
        Some("on"),
        Session,
        "Keep every conversation in ~/.baton/sessions/ID.jsonl (off: nothing is written)",
    ),
    row(
        "archive_queue_capacity",
        PositiveInt,
        Some("1024"),
        Session,
        "Records the archive queue holds before overflow spills to ~/.baton/spill/",
    )
    .up_to(1_000_000),
    row(
        "archive_coalesce_ms",
        NonNegativeInt,
        Some("50"),
        Session,
        "Window in ms in which archive writes coalesce into one (a kill -9 loses at most this window)",
    )
    .up_to(10_000),
];

/// Every setting, in table order.
pub(crate) fn registry() -> &'static [SettingSpec] {
    REGISTRY
}

/// The row for `key`, if there is one (exact match; keys are case-sensitive).
pub(crate) fn spec(key: &str) -> Option<&'static SettingSpec> {
    REGISTRY.iter().find(|s| s.key == key)
}

/// Every key, in table order (for completion and error messages).
pub(crate) fn keys() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|s| s.key)
}

/// Position of `key` in the table, used to keep settings in a stable order.
pub(crate) fn position(key: &str) -> Option<usize> {
    REGISTRY.iter().position(|s| s.key == key)
}

/// The known key closest to `key`, when it is close enough to be a likely typo.
pub(crate) fn suggest(key: &str) -> Option<&'static str> {
    let wanted = key.to_ascii_lowercase().replace('-', "_");
    REGISTRY
        .iter()
        .map(|s| {
            let cand = s.key.to_ascii_lowercase().replace('-', "_");
            (edit_distance(&wanted, &cand), s.key)
        })
        .filter(|(d, k)| *d <= (k.len() / 4).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars; keys are short, so the simple table is fine.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<_> = keys().collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn defaults_parse_as_their_own_kind() {
        for s in registry() {
            if let Some(d) = s.default {
                assert!(
                    crate::config::parse_value(s.key, d).is_ok(),
                    "default of {} does not parse",
                    s.key
                );
            }
        }
    }

    #[test]
    fn only_auth_key_is_protected() {
        let protected: Vec<_> = registry()
            .iter()
            .filter(|s| s.protected)
            .map(|s| s.key)
            .collect();
        assert_eq!(protected, vec!["auth-key"]);
    }

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggest("timout_ms"), Some("timeout_ms"));
        assert_eq!(suggest("base_url"), Some("base-url"));
        assert_eq!(suggest("zzzzzzzz"), None);
    }

    #[test]
    fn describe_mentions_value_and_default() {
        let text = spec("tpm_threshold").map(SettingSpec::describe);
        let text = text.unwrap_or_default();
        assert!(text.contains("a positive integer"), "{text}");
        assert!(text.contains("default: unset"), "{text}");
        assert!(text.contains("load balancer"), "{text}");
    }

    #[test]
    fn every_number_has_an_upper_bound_and_its_default_fits() {
        for s in registry().iter().filter(|s| s.min().is_some()) {
            let max = s
                .max
                .unwrap_or_else(|| panic!("{} has no upper bound", s.key));
            if let Some(d) = s.default {
                assert!(d.parse::<u64>().is_ok_and(|d| d <= max), "{}", s.key);
            }
        }
        let spec = spec("failover_retry_count").map(SettingSpec::describe);
        assert!(spec.unwrap_or_default().contains("\n  range: 0 to 100"));
    }

    #[test]
    fn values_above_the_bound_name_the_key_value_and_range() {
        use crate::config::parse_value;
        use crate::config::value::check_value;
        let err = parse_value("failover_retry_count", "4294967295").unwrap_err();
        assert_eq!(
            err.to_string(),
            "failover_retry_count must be from 0 to 100 (got 4294967295)"
        );
        let err = check_value("failover_retry_delay_ms", &u64::MAX.into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "failover_retry_delay_ms must be from 0 to 600000 (got 18446744073709551615)"
        );
        assert!(parse_value("timeout_ms", "3600000").is_ok());
        let err = parse_value("timeout_ms", "3600001").unwrap_err();
        assert_eq!(err.key(), "timeout_ms");
    }
}
