//! [`Settings`]: a checked, ordered set of setting values, and [`LbSettings`], the typed
//! view the load balancer reads.

use std::fmt;
use std::time::Duration;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::registry;
use super::value::{SettingError, check_value, display_value, is_secret_header, parse_value};

/// Setting values by key, kept in table order (unknown keys after, by name), so listings
/// and saved files come out the same every time.
///
/// Keys set through [`Settings::set`] / [`Settings::set_value`] must be in the table;
/// keys read from files that baton does not know are kept as written (with a warning)
/// so an llxprt profile survives a load and save unchanged.
///
/// `Debug` hides secrets; `Serialize` leaves out protected keys and secret headers,
/// so a `Settings` can be logged or stored without leaking a key.
#[derive(Clone, Default, PartialEq)]
pub struct Settings {
    entries: Vec<(String, Value)>,
}

fn order_key(key: &str) -> (usize, &str) {
    (registry::position(key).unwrap_or(usize::MAX), key)
}

impl Settings {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if set.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// The value of `key` as an unsigned integer, if set to one.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    /// The value of `key` as a boolean, if set to one.
    pub(crate) fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    /// The value of `key` as text, if set to a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Sets `key` from text typed by the user (`/set`, `--set`).
    pub fn set(&mut self, key: &str, raw: &str) -> Result<(), SettingError> {
        let value = parse_value(key, raw)?;
        self.insert(key.to_string(), value);
        Ok(())
    }

    /// Sets `key` from a JSON value, checked and normalised as if read from a file.
    pub fn set_value(&mut self, key: &str, value: Value) -> Result<(), SettingError> {
        let value = check_value(key, &value)?;
        self.insert(key.to_string(), value);
        Ok(())
    }

    /// Removes `key`; true when it was set.
    pub(crate) fn unset(&mut self, key: &str) -> bool {
        match self.find(key) {
            Ok(i) => {
                self.entries.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Key and value pairs in stable order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many keys are set.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is set.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// These settings with `other` laid on top (`other` wins on shared keys).
    pub(crate) fn merged_with(&self, other: &Settings) -> Settings {
        let mut out = self.clone();
        for (k, v) in other.iter() {
            out.insert(k.to_string(), v.clone());
        }
        out
    }

    /// A copy without protected keys and without secret-looking `custom-headers`
    /// entries (a header map left empty is dropped): what may be written to disk.
    pub(crate) fn without_protected(&self) -> Settings {
        let mut out = Settings::new();
        for (k, v) in self.iter() {
            if registry::spec(k).is_some_and(|s| s.protected) {
                continue;
            }
            if k == "custom-headers"
                && let Value::Object(map) = v
            {
                let kept: Map<String, Value> = map
                    .iter()
                    .filter(|(name, _)| !is_secret_header(name))
                    .map(|(name, val)| (name.clone(), val.clone()))
                    .collect();
                if !kept.is_empty() {
                    out.insert(k.to_string(), Value::Object(kept));
                }
                continue;
            }
            out.insert(k.to_string(), v.clone());
        }
        out
    }

    /// What [`Settings::without_protected`] would drop, for warnings:
    /// `auth-key`, `custom-headers.Authorization`, ...
    pub(crate) fn protected_entries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in self.iter() {
            if registry::spec(k).is_some_and(|s| s.protected) {
                out.push(k.to_string());
            } else if k == "custom-headers"
                && let Value::Object(map) = v
            {
                out.extend(
                    map.keys()
                        .filter(|name| is_secret_header(name))
                        .map(|name| format!("custom-headers.{name}")),
                );
            }
        }
        out
    }

    #[cfg(test)]
    /// All values as a JSON map, protected keys included (for in-memory use; write
    /// [`Settings::without_protected`] to disk).
    pub(crate) fn to_json_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Reads a JSON map leniently (session state, merged settings): unknown keys are
    /// kept and invalid values are dropped, each with a warning.
    pub(crate) fn from_json_map(map: &Map<String, Value>) -> (Settings, Vec<String>) {
        let mut out = Settings::new();
        let mut warnings = Vec::new();
        for (k, v) in map {
            match check_value(k, v) {
                Ok(value) => out.insert(k.clone(), value),
                Err(SettingError::UnknownKey { .. }) => {
                    warnings.push(unknown_kept_warning(k));
                    out.insert(k.clone(), v.clone());
                }
                Err(e @ (SettingError::Invalid { .. } | SettingError::OutOfRange { .. })) => {
                    warnings.push(format!("{e}; ignored"))
                }
            }
        }
        (out, warnings)
    }

    /// Reads a JSON map strictly (profile files): the first invalid value of a known
    /// key is an error; unknown keys are kept with a warning.
    pub(crate) fn try_from_json_map(
        map: &Map<String, Value>,
    ) -> Result<(Settings, Vec<String>), SettingError> {
        let mut out = Settings::new();
        let mut warnings = Vec::new();
        for (k, v) in map {
            match check_value(k, v) {
                Ok(value) => out.insert(k.clone(), value),
                Err(SettingError::UnknownKey { .. }) => {
                    warnings.push(unknown_kept_warning(k));
                    out.insert(k.clone(), v.clone());
                }
                Err(e @ (SettingError::Invalid { .. } | SettingError::OutOfRange { .. })) => {
                    return Err(e);
                }
            }
        }
        Ok((out, warnings))
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        let want = order_key(key);
        self.entries
            .binary_search_by(|(k, _)| order_key(k).cmp(&want))
    }

    /// Stores a value that is already checked (or an unknown key kept from a file).
    fn insert(&mut self, key: String, value: Value) {
        match self.find(&key) {
            Ok(i) => self.entries[i].1 = value,
            Err(i) => self.entries.insert(i, (key, value)),
        }
    }
}

fn unknown_kept_warning(key: &str) -> String {
    let hint = registry::suggest(key)
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default();
    format!("unknown setting '{key}'{hint} kept as written; baton does not use it")
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, display_value(k, v))))
            .finish()
    }
}

impl Serialize for Settings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let safe = self.without_protected();
        let mut map = serializer.serialize_map(Some(safe.len()))?;
        for (k, v) in safe.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Settings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Settings::try_from_json_map(&map)
            .map(|(s, _)| s)
            .map_err(D::Error::custom)
    }
}

/// The circuit breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Breaker on or off (`circuit_breaker_enabled`).
    pub(crate) enabled: bool,
    /// Failures within the window that open it (`circuit_breaker_failure_threshold`).
    pub failure_threshold: u32,
    /// The window (`circuit_breaker_failure_window_ms`).
    pub(crate) failure_window: Duration,
    /// Open → half-open after (`circuit_breaker_recovery_timeout_ms`).
    pub(crate) recovery_timeout: Duration,
}

/// The load balancer's settings, typed, with defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbSettings {
    /// First-chunk timeout of one attempt (`timeout_ms`).
    pub timeout: Duration,
    /// Longest gap between chunks once streaming (`stream_idle_timeout_ms`).
    pub stream_idle_timeout: Duration,
    /// Skip backends whose TPM is above 0 and below this (`tpm_threshold`).
    pub tpm_threshold: Option<u64>,
    /// Attempts per backend, at least 1 (`failover_retry_count`, 0 counts as 1).
    pub retry_count: u32,
    /// Wait between attempts on one backend (`failover_retry_delay_ms`).
    pub retry_delay: Duration,
    /// Longest Retry-After honoured (`retry_after_cap_ms`).
    pub retry_after_cap: Duration,
    /// How long a backend out of money or quota is skipped (`quota_cooldown_ms`).
    pub quota_cooldown: Duration,
    /// How long a prompt may wait for a cooling backend (`wait_for_recovery_ms`).
    pub wait_for_recovery: Duration,
    /// Fail over a prompt a content filter rejected (`failover_on_filter`).
    pub failover_on_filter: bool,
    /// The circuit breaker.
    pub breaker: BreakerSettings,
}

impl LbSettings {
    /// Reads the load-balancer keys of `s`; missing (or, defensively, mistyped) keys
    /// take the table's defaults.
    pub(crate) fn from_settings(s: &Settings) -> LbSettings {
        let int = |key: &str| -> u64 {
            s.get_u64(key)
                .or_else(|| {
                    registry::spec(key)
                        .and_then(|r| r.default)
                        .and_then(|d| d.parse().ok())
                })
                .unwrap_or(0)
        };
        let ms = |key: &str| Duration::from_millis(int(key));
        let count = |key: &str| u32::try_from(int(key)).unwrap_or(u32::MAX);
        let enabled = s.get_bool("circuit_breaker_enabled").unwrap_or(true);
        LbSettings {
            timeout: ms("timeout_ms"),
            stream_idle_timeout: ms("stream_idle_timeout_ms"),
            tpm_threshold: s.get_u64("tpm_threshold").filter(|n| *n > 0),
            retry_count: count("failover_retry_count").max(1),
            retry_delay: ms("failover_retry_delay_ms"),
            retry_after_cap: ms("retry_after_cap_ms"),
            quota_cooldown: ms("quota_cooldown_ms"),
            wait_for_recovery: ms("wait_for_recovery_ms"),
            failover_on_filter: s.get_bool("failover_on_filter").unwrap_or(false),
            breaker: BreakerSettings {
                enabled,
                failure_threshold: count("circuit_breaker_failure_threshold").max(1),
                failure_window: ms("circuit_breaker_failure_window_ms"),
                recovery_timeout: ms("circuit_breaker_recovery_timeout_ms"),
            },
        }
    }
}

impl Default for LbSettings {
    fn default() -> Self {
        LbSettings::from_settings(&Settings::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn lb_defaults() {
        assert_eq!(
            LbSettings::default(),
            LbSettings {
                timeout: Duration::from_millis(30_000),
                stream_idle_timeout: Duration::from_millis(60_000),
                tpm_threshold: None,
                retry_count: 2,
                retry_delay: Duration::from_millis(1000),
                retry_after_cap: Duration::from_millis(60_000),
                quota_cooldown: Duration::from_millis(3_600_000),
                wait_for_recovery: Duration::ZERO,
                failover_on_filter: false,
                breaker: BreakerSettings {
                    enabled: true,
                    failure_threshold: 3,
                    failure_window: Duration::from_millis(60_000),
                    recovery_timeout: Duration::from_millis(30_000),
                },
            }
        );
    }

    #[test]
    fn retry_count_zero_means_one_attempt() {
        let mut s = Settings::new();
        assert_eq!(s.set("failover_retry_count", "0"), Ok(()));
        assert_eq!(LbSettings::from_settings(&s).retry_count, 1);
        assert_eq!(s.set("failover_retry_count", "5"), Ok(()));
        assert_eq!(LbSettings::from_settings(&s).retry_count, 5);
    }

    #[test]
    fn lb_from_seed_settings() {
        let (s, warnings) = Settings::try_from_json_map(&map(json!({
            "tpm_threshold": 500, "timeout_ms": 5000, "circuit_breaker_enabled": false,
            "circuit_breaker_failure_threshold": 2, "failover_retry_delay_ms": 0
        })))
        .unwrap_or_default();
        assert!(warnings.is_empty());
        let lb = LbSettings::from_settings(&s);
        assert_eq!(lb.tpm_threshold, Some(500));
        assert_eq!(lb.timeout, Duration::from_millis(5000));
        assert!(!lb.breaker.enabled);
        assert_eq!(lb.breaker.failure_threshold, 2);
        assert_eq!(lb.retry_delay, Duration::ZERO);
    }

    #[test]
    fn set_unset_and_order() {
        let mut s = Settings::new();
        assert_eq!(s.set("base-url", "http://x"), Ok(()));
        assert_eq!(s.set("timeout_ms", "10"), Ok(()));
        assert_eq!(s.set("tpm_threshold", "1000"), Ok(()));
        let keys: Vec<_> = s.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["timeout_ms", "tpm_threshold", "base-url"]);
        assert_eq!(s.get("timeout_ms"), Some(&json!(10)));
        assert!(s.unset("timeout_ms"));
        assert!(!s.unset("timeout_ms"));
        assert_eq!(s.len(), 2);
        assert!(s.set("nope", "1").is_err());
        assert!(s.set_value("timeout_ms", json!("x")).is_err());
        assert_eq!(s.set_value("timeout_ms", json!(7.0)), Ok(()));
        assert_eq!(s.get_u64("timeout_ms"), Some(7));
    }

    #[test]
    fn merge_other_wins() {
        let mut a = Settings::new();
        let mut b = Settings::new();
        assert!(a.set("timeout_ms", "1").is_ok());
        assert!(a.set("tpm_threshold", "5").is_ok());
        assert!(b.set("timeout_ms", "2").is_ok());
        let m = a.merged_with(&b);
        assert_eq!(m.get_u64("timeout_ms"), Some(2));
        assert_eq!(m.get_u64("tpm_threshold"), Some(5));
    }

    #[test]
    fn protected_keys_and_secret_headers_are_stripped() {
        let mut s = Settings::new();
        assert!(s.set("auth-key", "sk-secret").is_ok());
        assert!(s.set("auth-keyfile", "~/.k").is_ok());
        assert!(
            s.set(
                "custom-headers",
                r#"{"Authorization":"Bearer sk","X-Team":"a"}"#
            )
            .is_ok()
        );
        assert_eq!(
            s.protected_entries(),
            vec!["auth-key", "custom-headers.Authorization"]
        );
        let safe = s.without_protected();
        assert_eq!(safe.get("auth-key"), None);
        assert_eq!(safe.get("custom-headers"), Some(&json!({"X-Team": "a"})));
        let text = serde_json::to_string(&s).unwrap_or_default();
        assert!(!text.contains("sk"), "{text}");
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("sk-secret") && !dbg.contains("Bearer"),
            "{dbg}"
        );
        // Only secret headers: the whole key goes.
        let mut only = Settings::new();
        assert!(only.set("custom-headers", r#"{"x-api-key":"k"}"#).is_ok());
        assert!(only.without_protected().is_empty());
    }

    #[test]
    fn json_maps_strict_and_lenient() {
        let m = map(json!({"timeout_ms": "x", "tool-format": "qwen", "mystery": 1}));
        let err = Settings::try_from_json_map(&m).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"timeout_ms must be a positive integer (got "x")"#)
        );
        let (s, warnings) = Settings::from_json_map(&m);
        assert_eq!(s.get("timeout_ms"), None);
        assert_eq!(s.get("mystery"), Some(&json!(1)));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("'mystery'")));
        assert_eq!(s.to_json_map().len(), 2);
    }

    #[test]
    fn serde_round_trip() {
        let mut s = Settings::new();
        assert!(s.set("timeout_ms", "5").is_ok());
        assert!(s.set("streaming", "false").is_ok());
        let text = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(text, r#"{"timeout_ms":5,"streaming":"disabled"}"#);
        let back: Settings = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<Settings>(r#"{"timeout_ms":-1}"#).is_err());
    }
}
