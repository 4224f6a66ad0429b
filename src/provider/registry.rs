//! The providers baton knows by name, and [`build`], which turns a profile's
//! [`BackendSpec`] into a ready [`Provider`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::http::HttpProvider;
use super::sim::SimProvider;
use super::{ApiKey, Provider, ProviderError, ProviderKind, anthropic, gemini, ollama, openai};

/// Everything needed to build one backend, gathered from a model profile.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec {
    /// The profile's name (used in messages).
    pub name: String,
    /// The provider as written in the profile (`openai`, `google`, ...).
    pub provider: String,
    /// The model name sent to the server.
    pub model: String,
    /// `base-url`, when the profile overrides the provider's default.
    pub base_url: Option<String>,
    /// The key, already resolved with [`super::resolve_key`].
    pub api_key: Option<ApiKey>,
    /// Sampling parameters (`temperature`, `max_tokens`, ...) in OpenAI naming; each
    /// wire format translates them.
    pub model_params: serde_json::Map<String, serde_json::Value>,
    /// Longest silence allowed while waiting for the answer head or between chunks.
    pub socket_timeout: Option<Duration>,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
}

/// What baton knows about a provider name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The canonical name.
    pub(crate) name: &'static str,
    /// The wire format it speaks.
    pub(crate) kind: ProviderKind,
    /// Where requests go when the profile sets no `base-url`.
    pub(crate) default_base_url: &'static str,
    /// Environment variables that may hold the key, in the order they are tried.
    pub(crate) key_env: &'static [&'static str],
    /// Whether a non-local server needs a key.
    pub(crate) key_required: bool,
}

const PROVIDERS: &[ProviderInfo] = &[
    ProviderInfo {
        name: "openai",
        kind: ProviderKind::OpenAi,
        default_base_url: openai::DEFAULT_BASE_URL,
        key_env: &["OPENAI_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "groq",
        kind: ProviderKind::OpenAi,
        default_base_url: "https://api.groq.com/openai/v1",
        key_env: &["GROQ_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "openrouter",
        kind: ProviderKind::OpenAi,
        default_base_url: "https://openrouter.ai/api/v1",
        key_env: &["OPENROUTER_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "azure",
        kind: ProviderKind::OpenAi,
        // Every Azure resource has its own URL: the profile must give it.
        default_base_url: "",
        key_env: &["AZURE_OPENAI_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "anthropic",
        kind: ProviderKind::Anthropic,
        default_base_url: anthropic::DEFAULT_BASE_URL,
        key_env: &["ANTHROPIC_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "gemini",
        kind: ProviderKind::Gemini,
        default_base_url: gemini::DEFAULT_BASE_URL,
        key_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        key_required: true,
    },
    ProviderInfo {
        name: "ollama",
        kind: ProviderKind::Ollama,
        default_base_url: ollama::DEFAULT_BASE_URL,
        key_env: &[],
        key_required: false,
    },
    ProviderInfo {
        name: "sim",
        kind: ProviderKind::Sim,
        default_base_url: "",
        key_env: &[],
        key_required: false,
    },
];

/// Other spellings accepted in profiles, and the provider they mean.
const ALIASES: &[(&str, &str)] = &[("google", "gemini"), ("azure-openai", "azure")];

/// The provider a profile's `provider` field names (case and surrounding blanks ignored).
pub fn lookup(provider: &str) -> Option<&'static ProviderInfo> {
    let wanted = provider.trim();
    let canonical = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(wanted))
        .map_or(wanted, |(_, name)| *name);
    PROVIDERS
        .iter()
        .find(|info| info.name.eq_ignore_ascii_case(canonical))
}

/// The canonical provider names, in the order they are listed to users.
pub(crate) fn known_providers() -> Vec<&'static str> {
    PROVIDERS.iter().map(|info| info.name).collect()
}

/// Builds the provider a spec describes.
///
/// The key is not looked up here (see [`super::resolve_key`]); a provider that needs one
/// and points at a non-local server fails with [`ProviderError::MissingKey`].
pub fn build(
    spec: &BackendSpec,
    client: &reqwest::Client,
) -> Result<Arc<dyn Provider>, ProviderError> {
    let info = lookup(&spec.provider).ok_or_else(|| {
        ProviderError::Config(format!(
            "profile '{}': unknown provider '{}'; known providers: {}",
            spec.name,
            spec.provider,
            known_providers().join(", ")
        ))
    })?;
    if info.kind == ProviderKind::Sim {
        return Ok(Arc::new(SimProvider::new(&spec.model)?));
    }
    let base = spec
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .unwrap_or(info.default_base_url);
    if base.is_empty() {
        return Err(ProviderError::Config(format!(
            "profile '{}': provider '{}' has no default URL; set base-url, e.g. \
             https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT",
            spec.name, info.name
        )));
    }
    if info.key_required && spec.api_key.is_none() && !is_loopback_url(base) {
        return Err(ProviderError::MissingKey {
            provider: info.name.to_owned(),
            hint: missing_key_hint(info, &spec.name),
        });
    }
    let default_base = info.default_base_url;
    Ok(match info.kind {
        ProviderKind::OpenAi if info.name == "azure" => {
            // Azure rejects a request without an api-version; one in the URL (or
            // from the `api-version` setting, already joined) wins.
            let spec = BackendSpec {
                base_url: Some(super::with_query(
                    base,
                    "api-version",
                    openai::AZURE_API_VERSION,
                )),
                ..spec.clone()
            };
            let wire = openai::OpenAi::azure();
            Arc::new(HttpProvider::new(wire, &spec, default_base, client)?)
        }
        ProviderKind::OpenAi => {
            let wire = openai::OpenAi::new(info.name);
            Arc::new(HttpProvider::new(wire, spec, default_base, client)?)
        }
        ProviderKind::Anthropic => {
            let wire = anthropic::Anthropic;
            Arc::new(HttpProvider::new(wire, spec, default_base, client)?)
        }
        ProviderKind::Gemini => {
            let wire = gemini::Gemini;
            Arc::new(HttpProvider::new(wire, spec, default_base, client)?)
        }
        ProviderKind::Ollama => {
            let wire = ollama::Ollama;
            Arc::new(HttpProvider::new(wire, spec, default_base, client)?)
        }
        ProviderKind::Sim => Arc::new(SimProvider::new(&spec.model)?),
    })
}

/// What to set when a key is missing: the env vars and the profile settings.
pub(crate) fn missing_key_hint(info: &ProviderInfo, profile: &str) -> String {
    let vars = match info.key_env {
        [] => String::new(),
        [one] => format!("set {one}, or "),
        [first @ .., last] => format!("set {} or {last}, or ", first.join(", ")),
    };
    format!("{vars}point the auth-keyfile or auth-key-env setting of profile '{profile}' at one")
}

/// Whether a base URL points at this machine (`127.x`, `localhost`, `[::1]`), where
/// local servers (llama.cpp, vLLM, LM Studio) need no key.
pub(crate) fn is_loopback_url(base: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base.trim()) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ErrorClass, http_client};
    use pretty_assertions::assert_eq;

    fn spec(provider: &str, base: Option<&str>, key: Option<&str>) -> BackendSpec {
        BackendSpec {
            name: "p1".into(),
            provider: provider.into(),
            model: "m".into(),
            base_url: base.map(str::to_owned),
            api_key: key.map(ApiKey::new),
            model_params: serde_json::Map::new(),
            socket_timeout: None,
            headers: Vec::new(),
        }
    }

    /// The wire format and model of a built provider, read from its `Debug` form
    /// (the trait has no accessors: nothing outside the provider needs them).
    fn shape(provider: &Arc<dyn Provider>) -> String {
        let printed = format!("{provider:?}");
        let wire = printed
            .strip_prefix("HttpProvider { wire: ")
            .and_then(|rest| rest.split([' ', ',']).next())
            .unwrap_or("?");
        let model = printed
            .split("model: \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("?");
        format!("{wire} {model}")
    }

    #[test]
    fn lookup_names_and_aliases() {
        assert_eq!(lookup("openai").unwrap().kind, ProviderKind::OpenAi);
        assert_eq!(lookup(" Google ").unwrap().name, "gemini");
        assert_eq!(
            lookup("gemini").unwrap().key_env,
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"]
        );
        assert_eq!(
            lookup("groq").unwrap().default_base_url,
            "https://api.groq.com/openai/v1"
        );
        assert_eq!(lookup("openrouter").unwrap().kind, ProviderKind::OpenAi);
        assert!(!lookup("ollama").unwrap().key_required);
        assert_eq!(lookup("sim").unwrap().kind, ProviderKind::Sim);
        assert!(lookup("nope").is_none());
        assert_eq!(
            known_providers(),
            vec![
                "openai",
                "groq",
                "openrouter",
                "azure",
                "anthropic",
                "gemini",
                "ollama",
                "sim"
            ]
        );
        assert_eq!(lookup("Azure-OpenAI").unwrap().name, "azure");
    }

    #[test]
    fn loopback_hosts() {
        for yes in [
            "http://127.0.0.1:8080/v1",
            "http://127.1.2.3",
            "http://localhost:11434",
            "http://[::1]:8000/v1",
            "http://LOCALHOST/",
        ] {
            assert!(is_loopback_url(yes), "{yes}");
        }
        for no in [
            "https://api.openai.com/v1",
            "http://10.0.0.2:8080",
            "http://0.0.0.0:1",
            "not a url",
            "http://127.0.0.1.example.com/",
        ] {
            assert!(!is_loopback_url(no), "{no}");
        }
    }

    #[test]
    fn build_unknown_provider_lists_known_ones() {
        let client = http_client().unwrap();
        let err = build(&spec("mistery", None, None), &client).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("mistery") && text.contains("openai, groq"),
            "{text}"
        );
        assert_eq!(err.class(), ErrorClass::Request);
    }

    #[test]
    fn build_needs_a_key_only_for_remote_servers() {
        let client = http_client().unwrap();
        let err = build(&spec("google", None, None), &client).unwrap_err();
        let ProviderError::MissingKey { provider, hint } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(provider, "gemini");
        assert!(
            hint.contains("GEMINI_API_KEY or GOOGLE_API_KEY")
                && hint.contains("auth-keyfile")
                && hint.contains("auth-key-env"),
            "{hint}"
        );

        let local = build(
            &spec("openai", Some("http://127.0.0.1:8080/v1"), None),
            &client,
        )
        .unwrap();
        assert_eq!(shape(&local), "OpenAi m");
        let keyed = build(&spec("anthropic", None, Some("k")), &client).unwrap();
        assert_eq!(shape(&keyed), "Anthropic m");
        let gem = build(&spec("gemini", None, Some("k")), &client).unwrap();
        assert_eq!(shape(&gem), "Gemini m");
        let ollama = build(&spec("ollama", None, None), &client).unwrap();
        assert_eq!(shape(&ollama), "Ollama m");
    }

    #[test]
    fn built_providers_never_print_their_key() {
        let client = http_client().unwrap();
        for provider in ["openai", "anthropic", "gemini", "ollama"] {
            let mut spec = spec(provider, None, Some("sk-very-secret"));
            spec.headers = vec![("X-Extra".into(), "also-secret".into())];
            let built = build(&spec, &client).unwrap();
            let printed = format!("{built:?}");
            assert!(
                !printed.contains("sk-very-secret") && !printed.contains("also-secret"),
                "{printed}"
            );
        }
    }

    #[test]
    fn build_rejects_bad_base_url() {
        let client = http_client().unwrap();
        let err = build(&spec("ollama", Some("localhost:11434"), None), &client).unwrap_err();
        assert!(matches!(err, ProviderError::Config(_)), "{err:?}");
    }
}
