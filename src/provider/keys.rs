//! API keys: where they come from, and a type that never prints them.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{ProviderError, ProviderInfo};

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
    pub(crate) fn expose(&self) -> &str {
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

/// Finds the key for a backend. The first source that is set wins:
///
/// 1. `auth_key`: a raw key from a legacy profile;
/// 2. `auth_keyfile`: a file holding the key (`~/` expanded, surrounding blanks trimmed);
///    an unreadable or empty file is an error naming the path, never the content;
/// 3. `auth_key_env`: the variable it names; unset or empty is [`ProviderError::MissingKey`];
/// 4. the provider's own variables (`OPENAI_API_KEY`, ...), in order.
///
/// `Ok(None)` means no source had a key; [`super::build`] decides whether that is fine
/// (local servers, Ollama) or an error.
pub(crate) fn resolve_key(
    info: &ProviderInfo,
    auth_key: Option<&str>,
    auth_keyfile: Option<&Path>,
    auth_key_env: Option<&str>,
) -> Result<Option<ApiKey>, ProviderError> {
    resolve_key_with(info, auth_key, auth_keyfile, auth_key_env, &|name| {
        std::env::var(name).ok()
    })
}

/// [`resolve_key`] with the environment passed in, so tests need not change the
/// process environment.
fn resolve_key_with(
    info: &ProviderInfo,
    auth_key: Option<&str>,
    auth_keyfile: Option<&Path>,
    auth_key_env: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ApiKey>, ProviderError> {
    if let Some(key) = auth_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(Some(ApiKey::new(key)));
    }
    if let Some(path) = auth_keyfile {
        return read_keyfile(path).map(Some);
    }
    if let Some(var) = auth_key_env.map(str::trim).filter(|v| !v.is_empty()) {
        return match env(var).as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            Some(key) => Ok(Some(ApiKey::new(key))),
            None => Err(ProviderError::MissingKey {
                provider: info.name.to_owned(),
                hint: format!("the auth-key-env setting names {var}, which is unset or empty"),
            }),
        };
    }
    Ok(info.key_env.iter().find_map(|var| {
        env(var)
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(ApiKey::new)
    }))
}

/// Reads a key file. Errors name the path and the reason, never the content.
fn read_keyfile(path: &Path) -> Result<ApiKey, ProviderError> {
    let expanded = expand_home(path);
    let text = std::fs::read_to_string(&expanded).map_err(|err| {
        ProviderError::Config(format!(
            "cannot read the auth-keyfile {}: {err}",
            expanded.display()
        ))
    })?;
    let key = text.trim();
    if key.is_empty() {
        return Err(ProviderError::Config(format!(
            "the auth-keyfile {} is empty; put the API key in it",
            expanded.display()
        )));
    }
    Ok(ApiKey::new(key))
}

/// `~` and `~/rest` become the user's home folder; other paths are kept.
fn expand_home(path: &Path) -> PathBuf {
    let Some(text) = path.to_str() else {
        return path.to_path_buf();
    };
    let rest = match text {
        "~" => "",
        _ => match text.strip_prefix("~/") {
            Some(rest) => rest,
            None => return path.to_path_buf(),
        },
    };
    match directories::BaseDirs::new() {
        Some(dirs) => dirs.home_dir().join(rest),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::lookup;
    use pretty_assertions::assert_eq;
    use std::io::Write;

    const SECRET: &str = "sk-test-secret-123";

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn info(name: &str) -> &'static ProviderInfo {
        lookup(name).unwrap()
    }

    fn keyfile(content: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content.as_bytes()).unwrap();
        file
    }

    fn exposed(key: Option<ApiKey>) -> Option<String> {
        key.map(|k| k.expose().to_owned())
    }

    #[test]
    fn key_never_prints() {
        let key = ApiKey::new(SECRET);
        assert_eq!(format!("{key} {key:?}"), "*** ApiKey(***)");
    }

    #[test]
    fn order_is_raw_then_file_then_env_setting_then_provider_env() {
        let file = keyfile(&format!("  {SECRET}-file\n"));
        let env = env_of(&[("MY_KEY", "from-my-key"), ("OPENAI_API_KEY", "from-openai")]);
        let openai = info("openai");
        let got = |raw, path, var| exposed(resolve_key_with(openai, raw, path, var, &env).unwrap());
        assert_eq!(
            got(Some("raw"), Some(file.path()), Some("MY_KEY")),
            Some("raw".into())
        );
        assert_eq!(
            got(None, Some(file.path()), Some("MY_KEY")),
            Some(format!("{SECRET}-file"))
        );
        assert_eq!(got(None, None, Some("MY_KEY")), Some("from-my-key".into()));
        assert_eq!(got(None, None, None), Some("from-openai".into()));
        assert_eq!(got(Some("  "), None, None), Some("from-openai".into()));
    }

    #[test]
    fn gemini_tries_its_vars_in_order() {
        let gemini = info("gemini");
        let both = env_of(&[("GOOGLE_API_KEY", "g"), ("GEMINI_API_KEY", "m")]);
        let google = env_of(&[("GOOGLE_API_KEY", "g"), ("GEMINI_API_KEY", "")]);
        assert_eq!(
            exposed(resolve_key_with(gemini, None, None, None, &both).unwrap()),
            Some("m".into())
        );
        assert_eq!(
            exposed(resolve_key_with(gemini, None, None, None, &google).unwrap()),
            Some("g".into())
        );
        let none = env_of(&[]);
        assert_eq!(
            resolve_key_with(gemini, None, None, None, &none).unwrap(),
            None
        );
        assert_eq!(
            resolve_key_with(info("ollama"), None, None, None, &none).unwrap(),
            None
        );
    }

    #[test]
    fn unset_auth_key_env_is_missing_key_naming_it() {
        let err = resolve_key_with(
            info("anthropic"),
            None,
            None,
            Some("TEAM_KEY"),
            &env_of(&[("ANTHROPIC_API_KEY", "x")]),
        )
        .unwrap_err();
        let ProviderError::MissingKey { provider, hint } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(provider, "anthropic");
        assert!(hint.contains("TEAM_KEY"), "{hint}");
    }

    #[test]
    fn bad_keyfiles_name_the_path_not_the_content() {
        let empty = keyfile(" \n\t");
        let err = resolve_key_with(info("openai"), None, Some(empty.path()), None, &env_of(&[]))
            .unwrap_err();
        let path = empty.path().display().to_string();
        assert!(
            matches!(&err, ProviderError::Config(m) if m.contains(&path) && m.contains("empty")),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.key");
        let err =
            resolve_key_with(info("openai"), None, Some(&missing), None, &env_of(&[])).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Config(m) if m.contains("nope.key")),
            "{err}"
        );

        let binary = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(binary.path(), b"binary-marker\xff\xfe").unwrap();
        let err = resolve_key_with(
            info("openai"),
            None,
            Some(binary.path()),
            None,
            &env_of(&[]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("binary-marker"), "{err}");
        assert_eq!(err.class(), crate::provider::ErrorClass::Request);
    }

    #[test]
    fn tilde_expands_to_home() {
        let home = directories::BaseDirs::new()
            .unwrap()
            .home_dir()
            .to_path_buf();
        assert_eq!(
            expand_home(Path::new("~/.keys/openai")),
            home.join(".keys/openai")
        );
        assert_eq!(expand_home(Path::new("~")), home);
        assert_eq!(expand_home(Path::new("/etc/k")), PathBuf::from("/etc/k"));
        assert_eq!(
            expand_home(Path::new("~other/k")),
            PathBuf::from("~other/k")
        );
    }
}
