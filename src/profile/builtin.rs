//! The profiles baton ships: a failover demo over the keyless `sim` backend, so
//! `baton` on a fresh machine shows failover, `/stats lb` and the breaker at work.

use serde_json::json;

use super::error::Result;
use super::model::{LbProfile, ModelProfile, Policy, Profile};
use super::store::ProfileStore;
use crate::config::Settings;

/// The name of the default profile.
pub(crate) const DEFAULT_PROFILE: &str = "demo";

/// The shipped profiles, members before the load balancer that lists them.
pub(crate) fn builtin_profiles() -> Vec<(&'static str, Profile)> {
    let sim = |model: &str| Profile::Model(ModelProfile::new("sim", model));
    let demo_settings = json!({
        "failover_retry_count": 1,
        "timeout_ms": 5000,
        "circuit_breaker_failure_threshold": 2,
        "circuit_breaker_recovery_timeout_ms": 30000
    });
    // Constant, known-good values; the unit test below checks nothing is dropped.
    let settings = demo_settings
        .as_object()
        .map(|m| Settings::from_json_map(m).0)
        .unwrap_or_default();
    let demo = LbProfile {
        policy: Policy::Failover,
        profiles: vec!["demo-down".into(), "demo-flaky".into(), "demo-fast".into()],
        settings,
    };
    vec![
        ("demo-down", sim("sim-down")),
        ("demo-flaky", sim("sim-flaky")),
        ("demo-fast", sim("sim-fast")),
        ("demo-slow", sim("sim-slow")),
        (DEFAULT_PROFILE, Profile::LoadBalancer(demo)),
    ]
}

/// Writes the shipped profiles that are missing (a user's edits are kept) and
/// returns the names written.
pub fn ensure_builtin(store: &ProfileStore) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for (name, profile) in builtin_profiles() {
        if !store.exists(name) {
            store.save(name, &profile)?;
            written.push(name.to_string());
        }
    }
    Ok(written)
}

/// True for the names of shipped profiles.
pub(crate) fn is_builtin(name: &str) -> bool {
    builtin_profiles().iter().any(|(n, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Resolved;
    use pretty_assertions::assert_eq;

    #[test]
    fn demo_settings_are_all_kept() {
        let demo = builtin_profiles()
            .into_iter()
            .find(|(n, _)| *n == DEFAULT_PROFILE)
            .map(|(_, p)| p);
        let Some(Profile::LoadBalancer(lb)) = demo else {
            panic!("demo is not a load balancer");
        };
        assert_eq!(lb.settings.len(), 4);
        assert_eq!(lb.settings.get_u64("failover_retry_count"), Some(1));
        assert_eq!(lb.settings.get_u64("timeout_ms"), Some(5000));
    }

    #[test]
    fn ensure_builtin_writes_missing_only() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = ProfileStore::new(tmp.path().join("profiles"));
        let written = ensure_builtin(&store).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            written,
            vec!["demo-down", "demo-flaky", "demo-fast", "demo-slow", "demo"]
        );
        // A user's edit survives; nothing is rewritten.
        let edited = Profile::Model(ModelProfile::new("sim", "sim-slow"));
        assert!(store.save("demo-fast", &edited).is_ok());
        assert_eq!(ensure_builtin(&store).ok(), Some(Vec::<String>::new()));
        let fast = store.load("demo-fast").map(|l| l.profile).ok();
        assert_eq!(fast, Some(edited));
        let resolved = store.resolve("demo").unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<_> = resolved
            .backends()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, vec!["demo-down", "demo-flaky", "demo-fast"]);
        assert!(matches!(resolved, Resolved::LoadBalancer { .. }));
    }
}
