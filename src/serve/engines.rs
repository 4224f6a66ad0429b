//! The profiles the gateway serves and an engine for each, kept for the server's
//! life so breakers, TPM and round-robin positions carry across requests.
//!
//! Model parameters are part of a built engine (each backend's request body holds
//! them), so a request's `temperature`, `max_tokens`, ... select an engine built
//! with them: one per (profile, model, parameters) seen, up to [`MAX_ENGINES`]. A
//! client that sends the same parameters every time (an editor, an SDK with fixed
//! settings) always reuses one engine. Every engine of a load-balancer profile keeps
//! its health in the state folder, as the chat and one-shot runs do.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};

use super::error::ApiError;
use super::metrics::ProfileHealth;
use crate::engine::{BreakerState, Engine};
use crate::home::Home;
use crate::launch;
use crate::profile::{self, ProfileStore, Resolved};

/// Engines kept at most; past that, requests with new parameters get an engine of
/// their own that is dropped after the answer.
pub(super) const MAX_ENGINES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    profile: String,
    model: Option<String>,
    params: String,
}

#[derive(Debug)]
pub(super) struct Engines {
    home: Home,
    /// Served profiles when the operator listed them; `None` serves every profile.
    allow: Option<Vec<String>>,
    cache: Mutex<HashMap<Key, Engine>>,
    /// The engine each profile last answered on, for `/metrics` and `/healthz`.
    latest: Mutex<BTreeMap<String, Engine>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engines {
    /// Writes the built-in profiles on first use, as the other faces do.
    pub(super) fn new(
        home: Home,
        allow: Option<Vec<String>>,
    ) -> Result<Self, profile::ProfileError> {
        let store = ProfileStore::new(home.profiles_dir());
        if !store.dir().exists() {
            profile::ensure_builtin(&store)?;
        }
        Ok(Self {
            home,
            allow,
            cache: Mutex::new(HashMap::new()),
            latest: Mutex::new(BTreeMap::new()),
        })
    }

    /// The profile names `GET /v1/models` lists: every profile in the folder and the
    /// built-in ones (written on first use, as the other faces do), unless the
    /// operator listed the served profiles.
    pub(super) fn served(&self) -> Vec<String> {
        let store = ProfileStore::new(self.home.profiles_dir());
        let mut names = match &self.allow {
            Some(allow) => allow.clone(),
            None => {
                let mut names = store.list().unwrap_or_default();
                names.extend(
                    profile::builtin_profiles()
                        .into_iter()
                        .map(|(n, _)| n.to_string()),
                );
                names
            }
        };
        names.sort();
        names.dedup();
        names
    }

    fn is_served(&self, name: &str) -> bool {
        match &self.allow {
            Some(allow) => allow.iter().any(|a| a == name),
            None => {
                profile::is_builtin(name)
                    || ProfileStore::new(self.home.profiles_dir()).exists(name)
            }
        }
    }

    /// The engine for `model` (`profile` or `profile/model`) with `params`.
    pub(super) fn engine(
        &self,
        model: &str,
        params: &Map<String, Value>,
    ) -> Result<Engine, ApiError> {
        let (profile, override_model) = match model.split_once('/') {
            Some((p, m)) if !m.is_empty() => (p, Some(m)),
            Some(_) | None => (model, None),
        };
        if !self.is_served(profile) {
            return Err(ApiError::ModelNotFound(model.to_string()));
        }
        let key = Key {
            profile: profile.to_string(),
            model: override_model.map(str::to_string),
            params: Value::Object(params.clone()).to_string(),
        };
        if let Some(engine) = lock(&self.cache).get(&key) {
            return Ok(self.note(engine.clone()));
        }
        let engine = self.build(profile, override_model, params)?;
        let mut cache = lock(&self.cache);
        let engine = if cache.len() < MAX_ENGINES {
            cache.entry(key).or_insert(engine).clone()
        } else {
            engine
        };
        drop(cache);
        Ok(self.note(engine))
    }

    fn note(&self, engine: Engine) -> Engine {
        lock(&self.latest).insert(engine.profile().to_string(), engine.clone());
        engine
    }

    fn build(
        &self,
        profile: &str,
        model: Option<&str>,
        params: &Map<String, Value>,
    ) -> Result<Engine, ApiError> {
        let mut session = launch::profile_session(profile, &self.home)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Some(model) = model {
            let Resolved::Model { name, profile: p } = session.target().clone() else {
                return Err(ApiError::invalid(
                    format!(
                        "'{profile}' is a load-balancer profile; `profile/model` overrides \
                         the model of model profiles only"
                    ),
                    Some("model"),
                ));
            };
            let mut p = p;
            p.model = model.to_string();
            session.switch_to(Resolved::Model { name, profile: p });
        }
        for (k, v) in params {
            session.set_model_param(k, v.clone());
        }
        let built = session
            .engine()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Some(warning) = built.warning {
            tracing::warn!("{warning}");
        }
        Ok(built.engine)
    }

    /// Each profile answered so far and its backends' breaker states and TPM.
    pub(super) fn health(&self) -> Vec<ProfileHealth> {
        lock(&self.latest)
            .iter()
            .map(|(name, engine)| ProfileHealth {
                profile: name.clone(),
                backends: engine.health_summary(),
            })
            .collect()
    }
}

/// Seconds until trying again may work: the breaker's recovery time when one is
/// open, else the engine's delay between attempts; at least one.
pub(super) fn retry_after_s(engine: &Engine) -> u64 {
    if let Some((_, wait)) = engine.earliest_recovery() {
        return wait
            .as_millis()
            .div_ceil(1000)
            .max(1)
            .try_into()
            .unwrap_or(u64::MAX);
    }
    let settings = engine.settings();
    let open = engine
        .health_summary()
        .iter()
        .any(|b| b.breaker == BreakerState::Open);
    let wait = if open {
        settings.breaker.recovery_timeout
    } else {
        settings.retry_delay
    };
    wait.as_millis()
        .div_ceil(1000)
        .max(1)
        .try_into()
        .unwrap_or(u64::MAX)
}
