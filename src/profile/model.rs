//! The profile types: what a profile file means once read.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Settings;

/// How a load-balancer profile picks among its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Members in listed order; the next one only when the one before fails.
    Failover,
    /// Rotate the first member tried on each request.
    RoundRobin,
    /// Shuffle the viable members on each request.
    Random,
    /// The fastest to a first chunk, by power of two choices over a peak-EWMA of
    /// each member's first-chunk time; members never measured are tried first.
    Latency,
}

impl Policy {
    /// Every policy, in the order shown to users.
    pub(crate) const ALL: [Policy; 4] = [
        Policy::Failover,
        Policy::RoundRobin,
        Policy::Random,
        Policy::Latency,
    ];

    /// The name written in files (`failover`, `roundrobin`, `random`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::RoundRobin => "roundrobin",
            Self::Random => "random",
            Self::Latency => "latency",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy name was not one of `failover`, `roundrobin`, `random`, `latency`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy '{0}'; allowed: failover, roundrobin, random, latency")]
pub struct UnknownPolicy(pub String);

impl FromStr for Policy {
    type Err = UnknownPolicy;

    /// Case-insensitive, as users type it in `/profile save`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Policy::ALL
            .into_iter()
            .find(|p| p.as_str() == lower)
            .ok_or_else(|| UnknownPolicy(s.to_string()))
    }
}

/// One backend: a provider, a model and how to reach it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelProfile {
    /// The wire format / provider name (`openai`, `anthropic`, `gemini`, `ollama`, `sim`).
    pub provider: String,
    /// The model name sent to the server.
    pub model: String,
    /// Request parameters passed to the model (`temperature`, `max_tokens`, ...).
    pub model_params: Map<String, Value>,
    /// `ephemeralSettings`: base URL, key source, context limit, ...
    pub settings: Settings,
    /// `poolName`: the pool this backend joins for random/pool selection (seed 000).
    pub pool_name: Option<String>,
}

impl ModelProfile {
    /// A model profile with no parameters or settings.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            model: model.into(),
            ..Self::default()
        }
    }
}

/// A load balancer over other profiles (which may themselves be load balancers).
#[derive(Debug, Clone, PartialEq)]
pub struct LbProfile {
    /// How members are picked.
    pub policy: Policy,
    /// Member profile names, in priority order.
    pub profiles: Vec<String>,
    /// `ephemeralSettings`: timeouts, retries, TPM threshold, circuit breaker, ...
    pub settings: Settings,
}

impl LbProfile {
    /// A load balancer with no settings.
    pub fn new(policy: Policy, profiles: Vec<String>) -> Self {
        Self {
            policy,
            profiles,
            settings: Settings::new(),
        }
    }
}

/// A profile of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// One backend.
    Model(ModelProfile),
    /// A load balancer over named profiles.
    LoadBalancer(LbProfile),
}

impl Profile {
    /// The profile's `ephemeralSettings`.
    pub(crate) fn settings(&self) -> &Settings {
        match self {
            Self::Model(m) => &m.settings,
            Self::LoadBalancer(lb) => &lb.settings,
        }
    }
}

/// A profile read from disk, with what was odd about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The profile's name (its file name without `.json`).
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// What it says.
    pub profile: Profile,
    /// Things worth telling the user that do not stop it loading (unknown fields,
    /// unknown settings, a raw `auth-key`, ...).
    pub warnings: Vec<String>,
}

/// A profile with every member loaded, down to the model profiles.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A backend.
    Model {
        /// Its profile name.
        name: String,
        /// Its profile.
        profile: ModelProfile,
    },
    /// A load balancer and its resolved members, in listed order.
    LoadBalancer {
        /// Its profile name.
        name: String,
        /// Its profile.
        profile: LbProfile,
        /// Its members, resolved.
        members: Vec<Resolved>,
    },
    /// A pool (seed 000): model profiles sharing one pool key (`poolName`, or the
    /// name of a profile without one). Any member named stands for the whole pool,
    /// whose members are shuffled for each prompt.
    Pool {
        /// The pool key.
        key: String,
        /// The member that was named (by an LB profile or `--profile-load`).
        pinned: String,
        /// Every member, sorted by name. Never empty: it always holds `pinned`
        /// (only [`ProfileStore::resolve`](super::ProfileStore::resolve) builds pools).
        members: Vec<(String, ModelProfile)>,
    },
}

impl Resolved {
    /// The profile name at this level.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Model { name, .. } | Self::LoadBalancer { name, .. } => name,
            Self::Pool { pinned, .. } => pinned,
        }
    }

    /// The settings that govern the whole target: a load balancer's or a model
    /// profile's own, or for a pool those of the member that was named.
    pub(crate) fn top_settings(&self) -> &Settings {
        match self {
            Self::Model { profile, .. } => &profile.settings,
            Self::LoadBalancer { profile, .. } => &profile.settings,
            Self::Pool {
                pinned, members, ..
            } => members
                .iter()
                .find(|(name, _)| name == pinned)
                .map_or(&members[0].1.settings, |(_, p)| &p.settings),
        }
    }

    /// Mutable [`top_settings`](Self::top_settings).
    pub(crate) fn top_settings_mut(&mut self) -> &mut Settings {
        match self {
            Self::Model { profile, .. } => &mut profile.settings,
            Self::LoadBalancer { profile, .. } => &mut profile.settings,
            Self::Pool {
                pinned, members, ..
            } => {
                let at = members
                    .iter()
                    .position(|(name, _)| name == pinned)
                    .unwrap_or(0);
                &mut members[at].1.settings
            }
        }
    }

    /// The one model profile behind the target: a model profile, or the member of
    /// a pool that was named. `None` for a load balancer.
    pub(crate) fn model_profile(&self) -> Option<&ModelProfile> {
        match self {
            Self::Model { profile, .. } => Some(profile),
            Self::LoadBalancer { .. } => None,
            Self::Pool {
                pinned, members, ..
            } => members
                .iter()
                .find(|(name, _)| name == pinned)
                .map(|(_, p)| p),
        }
    }

    /// A one-line description: `openai / gpt-4o`, `load balancer (failover) over a, b`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Model { profile, .. } => format!("{} / {}", profile.provider, profile.model),
            Self::LoadBalancer { profile, .. } => format!(
                "load balancer ({}) over {}",
                profile.policy,
                profile.profiles.join(", ")
            ),
            Self::Pool { key, members, .. } => format!(
                "pool '{key}' of {}",
                members
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Every model profile reachable from here, depth first in listed order.
    pub(crate) fn backends(&self) -> Vec<(&str, &ModelProfile)> {
        let mut out = Vec::new();
        self.collect_backends(&mut out);
        out
    }

    fn collect_backends<'a>(&'a self, out: &mut Vec<(&'a str, &'a ModelProfile)>) {
        match self {
            Self::Model { name, profile } => out.push((name, profile)),
            Self::LoadBalancer { members, .. } => {
                for m in members {
                    m.collect_backends(out);
                }
            }
            Self::Pool { members, .. } => {
                out.extend(
                    members
                        .iter()
                        .map(|(name, profile)| (name.as_str(), profile)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_round_trip() {
        for p in Policy::ALL {
            assert_eq!(p.as_str().parse::<Policy>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!("FailOver".parse::<Policy>(), Ok(Policy::Failover));
        assert_eq!(
            "fastest".parse::<Policy>().map_err(|e| e.to_string()),
            Err(
                "unknown policy 'fastest'; allowed: failover, roundrobin, random, latency"
                    .to_string()
            )
        );
        assert_eq!(
            serde_json::to_string(&Policy::RoundRobin).unwrap_or_default(),
            "\"roundrobin\""
        );
    }

    #[test]
    fn backends_flatten_nested_lbs() {
        let leaf = |n: &str| Resolved::Model {
            name: n.to_string(),
            profile: ModelProfile::new("sim", n),
        };
        let inner = Resolved::LoadBalancer {
            name: "inner".into(),
            profile: LbProfile::new(Policy::Random, vec!["b".into(), "c".into()]),
            members: vec![leaf("b"), leaf("c")],
        };
        let outer = Resolved::LoadBalancer {
            name: "outer".into(),
            profile: LbProfile::new(Policy::Failover, vec!["a".into(), "inner".into()]),
            members: vec![leaf("a"), inner],
        };
        let names: Vec<_> = outer.backends().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        assert_eq!(outer.name(), "outer");
    }
}
