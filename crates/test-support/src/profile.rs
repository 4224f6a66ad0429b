//! Profiles built from [`ModelProfile`] and [`LbProfile`], so a fixture is exactly
//! what baton itself would save, settings checked by the settings registry.

use std::path::{Path, PathBuf};

use baton::profile::{LbProfile, ModelProfile, Policy, Profile, ProfileStore};
use serde_json::Value;

/// The model every mock-backed fixture asks for.
pub const MOCK_MODEL: &str = "mock-model";

/// A model profile under construction.
#[derive(Debug, Clone)]
pub struct ModelFixture(ModelProfile);

/// `provider` / `model`, with no settings.
pub fn model(provider: &str, model: &str) -> ModelFixture {
    ModelFixture(ModelProfile::new(provider, model))
}

/// An OpenAI-compatible profile for [`MOCK_MODEL`] at `base_url`.
pub fn openai(base_url: &str) -> ModelFixture {
    model("openai", MOCK_MODEL).base_url(base_url)
}

impl ModelFixture {
    /// Sets `base-url`.
    pub fn base_url(self, url: &str) -> Self {
        self.set("base-url", url)
    }

    /// Sets an `ephemeralSettings` entry; panics when the registry refuses it.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        set(&mut self.0.settings, key, value.into());
        self
    }

    /// Sets a `modelParams` entry.
    pub fn param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.model_params.insert(key.to_string(), value.into());
        self
    }

    /// The profile.
    pub fn build(self) -> Profile {
        Profile::Model(self.0)
    }
}

/// A load-balancer profile under construction.
#[derive(Debug, Clone)]
pub struct LbFixture(LbProfile);

/// A load balancer over `members`, in priority order.
pub fn lb(policy: Policy, members: &[&str]) -> LbFixture {
    LbFixture(LbProfile::new(
        policy,
        members.iter().map(|m| m.to_string()).collect(),
    ))
}

/// A failover load balancer over `members`.
pub fn failover(members: &[&str]) -> LbFixture {
    lb(Policy::Failover, members)
}

impl LbFixture {
    /// Sets an `ephemeralSettings` entry; panics when the registry refuses it.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        set(&mut self.0.settings, key, value.into());
        self
    }

    /// Sets every `(key, value)` pair, in order.
    pub fn settings<V: Into<Value> + Copy>(mut self, pairs: &[(&str, V)]) -> Self {
        for (key, value) in pairs {
            set(&mut self.0.settings, key, (*value).into());
        }
        self
    }

    /// The profile.
    pub fn build(self) -> Profile {
        Profile::LoadBalancer(self.0)
    }
}

impl From<ModelFixture> for Profile {
    fn from(fixture: ModelFixture) -> Self {
        fixture.build()
    }
}

impl From<LbFixture> for Profile {
    fn from(fixture: LbFixture) -> Self {
        fixture.build()
    }
}

fn set(settings: &mut baton::config::Settings, key: &str, value: Value) {
    if let Err(e) = settings.set_value(key, value.clone()) {
        panic!("fixture setting {key} = {value}: {e}");
    }
}

/// Saves `profile` as `dir/NAME.json` with [`ProfileStore::save`] and returns the path.
pub fn write(dir: &Path, name: &str, profile: impl Into<Profile>) -> PathBuf {
    let profile = profile.into();
    ProfileStore::new(dir.to_path_buf())
        .save(name, &profile)
        .unwrap_or_else(|e| panic!("cannot write fixture profile {name}: {e}"))
}
