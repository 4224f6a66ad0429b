//! Making an engine from a resolved profile: each model profile becomes a live
//! [`Backend`], the top profile's settings become the engine's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::policy::{PoolLabel, Route, Router};
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
/// to every backend. Nested load balancers keep their own policy; their own
/// load-balancer settings give way to the top profile's.
pub fn build_engine(resolved: &Resolved, overrides: &Settings) -> Result<Engine, BuildError> {
    let client = provider::http_client()?;
    let mut lb_settings =
        LbSettings::from_settings(&resolved.top_settings().merged_with(overrides));
    // A lone backend has nowhere to fail over to: a breaker would only refuse
    // prompts it might still answer.
    if matches!(resolved, Resolved::Model { .. }) {
        lb_settings.breaker.enabled = false;
    }
    let mut tree = Tree {
        overrides,
        client: &client,
        backends: Vec::new(),
        index: HashMap::new(),
        pools: Vec::new(),
    };
    let route = tree.route(resolved);
    Ok(Engine::with_route(
        resolved.name(),
        lb_settings,
        tree.backends,
        route,
        tree.pools,
    ))
}

/// Collects backends (each once, by name) while building the route tree.
struct Tree<'a> {
    overrides: &'a Settings,
    client: &'a reqwest::Client,
    backends: Vec<Backend>,
    index: HashMap<String, usize>,
    pools: Vec<PoolLabel>,
}

impl Tree<'_> {
    fn backend(&mut self, name: &str, profile: &ModelProfile) -> Route {
        if let Some(&i) = self.index.get(name) {
            return Route::Backend(i);
        }
        let i = self.backends.len();
        self.backends
            .push(make_backend(name, profile, self.overrides, self.client));
        self.index.insert(name.to_string(), i);
        Route::Backend(i)
    }

    fn route(&mut self, resolved: &Resolved) -> Route {
        match resolved {
            Resolved::Model { name, profile } => self.backend(name, profile),
            Resolved::LoadBalancer {
                profile, members, ..
            } => {
                let children: Vec<Route> = members.iter().map(|m| self.route(m)).collect();
                Route::Group {
                    router: Box::new(Router::new(profile.policy, children.len())),
                    children,
                    pool: None,
                }
            }
            Resolved::Pool {
                key,
                pinned,
                members,
            } => {
                let children: Vec<Route> = members
                    .iter()
                    .map(|(name, profile)| self.backend(name, profile))
                    .collect();
                self.pools.push(PoolLabel {
                    key: key.clone(),
                    pinned: pinned.clone(),
                });
                Route::Group {
                    router: Box::new(Router::new(Policy::Random, children.len())),
                    children,
                    pool: Some(self.pools.len() - 1),
                }
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
    let mut model_params = profile.model_params.clone();
    // Wire formats other than OpenAI's drop `stream_options`; OpenAI's merges it
    // with the `include_usage` it always asks for.
    if let Some(options @ Value::Object(_)) = settings.get("stream-options") {
        model_params.insert("stream_options".into(), options.clone());
    }
    // `api-version` joins the base URL's query, where Azure-style endpoints read it;
    // a version already in the URL wins (see `join_url`).
    let base_url = match (base_url, str_setting(settings, "api-version")) {
        (Some(base), Some(version)) => Some(provider::with_query(&base, "api-version", version)),
        (base, _) => base,
    };
    let spec = BackendSpec {
        name: name.to_string(),
        provider: profile.provider.clone(),
        model: profile.model.clone(),
        base_url,
        api_key,
        model_params,
        socket_timeout,
        headers,
    };
    provider::build(&spec, client)
}
