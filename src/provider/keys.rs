//! API keys: where they come from, and a type that never prints them.

use std::fmt;

/// An API key. `Debug` and `Display` print `***`, so a key cannot leak into a log
/// line, a panic message or an error.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the one place that sends it: the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

// ---- temporary shim ----
#[allow(missing_docs)]
pub fn resolve_key(
    _i: &super::ProviderInfo,
    k: Option<&str>,
    _f: Option<&std::path::Path>,
    _e: Option<&str>,
) -> Result<Option<ApiKey>, super::ProviderError> {
    Ok(k.map(ApiKey::new))
}
