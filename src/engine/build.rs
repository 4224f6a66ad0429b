//! Making an engine from a resolved profile: each model profile becomes a live
//! [`Backend`], the top profile's settings become the engine's.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Backend, Engine};
use crate::config::{LbSettings, Settings};
use crate::profile::{ModelProfile, Policy, Resolved};
use crate::provider::{self, BackendSpec, ProviderError, keys};

/// Why an engine could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[from] ProviderError),
}

/// Builds the engine for `resolved`, with `overrides` (`--set`, `/set`) on top of
/// the profile's own settings. Backend-level overrides (`base-url`, keys, ...) apply
/// to every backend.
pub fn build_engine(resolved: &Resolved, overrides: &Settings) -> Result<Engine, BuildError> {
    let client = provider::http_client()?;
    let (name, policy, top_settings) = match resolved {
        Resolved::Model { name, profile } => {
            (name.clone(), Policy::Failover, profile.settings.clone())
        }
        Resolved::LoadBalancer { name, profile, .. } => {
            (name.clone(), profile.policy, profile.settings.clone())
        }
    };
    let lb_settings = LbSettings::from_settings(&top_settings.merged_with(overrides));
    let mut leaves = Vec::new();
    collect_leaves(resolved, &mut leaves, &mut HashSet::new());
    let backends = leaves
        .into_iter()
        .map(|(name, profile)| make_backend(name, profile, overrides, &client))
        .collect();
    Ok(Engine::new(name, policy, lb_settings, backends))
}

/// Model profiles in the order an LB tree lists them; a profile listed twice
/// (directly and through a nested LB) is offered once.
fn collect_leaves<'a>(
    resolved: &'a Resolved,
    out: &mut Vec<(&'a str, &'a ModelProfile)>,
    seen: &mut HashSet<&'a str>,
) {
    match resolved {
        Resolved::Model { name, profile } => {
            if seen.insert(name.as_str()) {
                out.push((name.as_str(), profile));
            }
        }
        Resolved::LoadBalancer { members, .. } => {
            for member in members {
                collect_leaves(member, out, seen);
            }
        }
    }
}

fn str_setting<'a>(settings: &'a Settings, key: &str) -> Option<&'a str> {
    settings
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn make_backend(
    name: &str,
    profile: &ModelProfile,
    overrides: &Settings,
    client: &reqwest::Client,
) -> Backend {
    let settings = profile.settings.merged_with(overrides);
    let base_url = str_setting(&settings, "base-url").map(str::to_string);
    let streaming = match settings.get("streaming") {
        Some(Value::String(s)) => s != "disabled",
        Some(Value::Bool(b)) => *b,
        _ => true,
    };
    let provider = live_provider(name, profile, &settings, base_url.clone(), client);
    let shown_url = base_url
        .or_else(|| {
            provider::lookup(&profile.provider).map(|info| info.default_base_url.to_string())
        })
        .unwrap_or_default();
    Backend {
        name: name.to_string(),
        provider_name: profile.provider.clone(),
        model: profile.model.clone(),
        base_url: shown_url,
        streaming,
        provider,
    }
}

fn live_provider(
    name: &str,
    profile: &ModelProfile,
    settings: &Settings,
    base_url: Option<String>,
    client: &reqwest::Client,
) -> Result<Arc<dyn provider::Provider>, ProviderError> {
    let info = provider::lookup(&profile.provider).ok_or_else(|| {
        ProviderError::Config(format!(
            "profile {name}: unknown provider '{}'; known providers: {}",
            profile.provider,
            provider::known_providers().join(", ")
        ))
    })?;
    let api_key = keys::resolve_key(
        info,
        str_setting(settings, "auth-key"),
        str_setting(settings, "auth-keyfile")
            .map(PathBuf::from)
            .as_deref(),
        str_setting(settings, "auth-key-env"),
    )?;
    let socket_timeout = settings
        .get("socket-timeout")
        .and_then(Value::as_u64)
        .map(Duration::from_millis);
    let headers = match settings.get("custom-headers") {
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect(),
        _ => Vec::new(),
    };
    let spec = BackendSpec {
        name: name.to_string(),
        provider: profile.provider.clone(),
        model: profile.model.clone(),
        base_url,
        api_key,
        model_params: profile.model_params.clone(),
        socket_timeout,
        headers,
    };
    provider::build(&spec, client)
}
