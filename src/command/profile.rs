//! `/profile`: save, load, list, show and delete profiles in the session's store.

use super::{CommandOutput, split_word, strings};
use crate::config::{Scope, Settings};
use crate::profile::{self, LbProfile, Policy, Profile, Resolved};
use crate::session::Session;

/// The subcommands, for completion.
pub(super) const SUBCOMMANDS: [&str; 5] = ["save", "load", "list", "show", "delete"];

/// `/profile ARGS`.
pub(super) fn execute(session: &mut Session, args: &str) -> CommandOutput {
    let (sub, rest) = split_word(args);
    let words: Vec<&str> = rest.split_whitespace().collect();
    match (sub, words.as_slice()) {
        ("save", ["model", name]) => save_model(session, name),
        ("save", ["loadbalancer" | "lb", name, policy, members @ ..]) => {
            save_lb(session, name, policy, members)
        }
        ("save", _) => CommandOutput::error(strings::PROFILE_SAVE_USAGE),
        ("load", [name]) => load(session, name),
        ("list", []) => list(session),
        ("show", [name]) => show(session, name),
        ("delete", [name]) => delete(session, name),
        ("load" | "show" | "delete", _) => CommandOutput::error(strings::profile_needs_name(sub)),
        _ => CommandOutput::error(strings::PROFILE_USAGE),
    }
}

fn save_model(session: &Session, name: &str) -> CommandOutput {
    // An LB has no single provider/model: saving it as a model profile would
    // write a profile with an empty provider that nothing can load.
    let Resolved::Model { profile, .. } = session.effective_target() else {
        return CommandOutput::error(strings::save_model_from_lb(session.profile_name()));
    };
    let dropped = profile.settings.protected_entries();
    let mut to_save = profile.clone();
    to_save.settings = profile.settings.without_protected();
    match session.store().save(name, &Profile::Model(to_save)) {
        Ok(path) => {
            let mut text = strings::saved_model(
                name,
                &profile.provider,
                &profile.model,
                &path.display().to_string(),
            );
            if !dropped.is_empty() {
                text.push('\n');
                text.push_str(&strings::not_saved_protected(&dropped));
            }
            CommandOutput::info(text)
        }
        Err(e) => CommandOutput::error(e.to_string()),
    }
}

fn save_lb(session: &Session, name: &str, policy: &str, members: &[&str]) -> CommandOutput {
    let policy: Policy = match policy.parse() {
        Ok(p) => p,
        Err(e) => return CommandOutput::error(format!("{e}")),
    };
    if members.len() < 2 {
        return CommandOutput::error(strings::lb_too_few(members.len()));
    }
    if members.contains(&name) {
        return CommandOutput::error(strings::lb_lists_itself(name));
    }
    if let Err(e) = profile::validate_name(name) {
        return CommandOutput::error(e.to_string());
    }
    let store = session.store();
    let unknown: Vec<&str> = members
        .iter()
        .copied()
        .filter(|m| !store.exists(m))
        .collect();
    if !unknown.is_empty() {
        let available = store.list().unwrap_or_default();
        return CommandOutput::error(strings::lb_unknown_members(&unknown, &available));
    }
    // The LB keeps the load-balancer and session keys; backend keys (base-url, key
    // sources) would be ignored there and belong to the member profiles.
    let current = session.settings();
    let protected = current.protected_entries();
    let mut settings = Settings::new();
    let mut backend_keys = Vec::new();
    for (key, value) in current.without_protected().iter() {
        match crate::config::spec(key).map(|s| s.scope) {
            Some(Scope::Backend) => backend_keys.push(key.to_string()),
            Some(Scope::LoadBalancer | Scope::Session) | None => {
                // Values come from a checked Settings; an unknown key kept from a
                // file is refused by set_value, and is dropped like a backend key.
                if settings.set_value(key, value.clone()).is_err() {
                    backend_keys.push(key.to_string());
                }
            }
        }
    }
    let members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
    let keys: Vec<String> = settings.iter().map(|(k, _)| k.to_string()).collect();
    let lb = LbProfile {
        policy,
        profiles: members.clone(),
        settings,
    };
    match store.save(name, &Profile::LoadBalancer(lb)) {
        Ok(path) => {
            let mut text = strings::saved_lb(
                name,
                policy.as_str(),
                &members,
                &keys,
                &path.display().to_string(),
            );
            if !protected.is_empty() {
                text.push('\n');
                text.push_str(&strings::not_saved_protected(&protected));
            }
            if !backend_keys.is_empty() {
                text.push('\n');
                text.push_str(&strings::not_saved_backend(&backend_keys));
            }
            CommandOutput::info(text)
        }
        Err(e) => CommandOutput::error(e.to_string()),
    }
}

/// `/profile load NAME` (also what `/resume` uses to restore a session's profile).
pub(super) fn load(session: &mut Session, name: &str) -> CommandOutput {
    let store = session.store().clone();
    if profile::is_builtin(name)
        && !store.exists(name)
        && let Err(e) = profile::ensure_builtin(&store)
    {
        return CommandOutput::error(e.to_string());
    }
    match store.resolve_with_warnings(name) {
        Ok((resolved, warnings)) => {
            let mut text = strings::loaded(name, &resolved.describe());
            session.switch_to(resolved);
            let settings: Vec<String> = session
                .settings()
                .iter()
                .map(|(k, v)| format!("{k}={}", crate::config::display_value(k, v)))
                .collect();
            if !settings.is_empty() {
                text.push_str(&format!("\n  settings: {}", settings.join(", ")));
            }
            for w in warnings {
                text.push_str(&format!("\n  warning: {w}"));
            }
            CommandOutput::info(text)
        }
        Err(e) => CommandOutput::error(e.to_string()),
    }
}

fn list(session: &Session) -> CommandOutput {
    let store = session.store();
    let dir = store.dir().display().to_string();
    let names = match store.list() {
        Ok(names) => names,
        Err(e) => return CommandOutput::error(e.to_string()),
    };
    if names.is_empty() {
        return CommandOutput::info(strings::no_profiles(&dir));
    }
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let mut text = strings::profiles_header(&dir);
    for name in names {
        let mark = if name == session.profile_name() {
            '*'
        } else {
            ' '
        };
        let what = match store.load(&name) {
            Ok(loaded) => match loaded.profile {
                Profile::Model(m) => format!("model         {} / {}", m.provider, m.model),
                Profile::LoadBalancer(lb) => {
                    format!("loadbalancer  {}: {}", lb.policy, lb.profiles.join(", "))
                }
            },
            Err(e) => format!("invalid       {e}"),
        };
        text.push_str(&format!("\n {mark} {name:<width$}  {what}"));
    }
    CommandOutput::info(text)
}

fn show(session: &Session, name: &str) -> CommandOutput {
    match session.store().load(name) {
        Ok(loaded) => CommandOutput::info(format!(
            "{}\n{}",
            loaded.path.display(),
            profile::to_json(&loaded.profile)
        )),
        Err(e) => CommandOutput::error(e.to_string()),
    }
}

fn delete(session: &Session, name: &str) -> CommandOutput {
    if name == session.profile_name() {
        return CommandOutput::error(strings::delete_active(name));
    }
    match session.store().delete(name) {
        Ok(()) => CommandOutput::info(strings::deleted(name)),
        Err(e) => CommandOutput::error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::execute as run;
    use super::super::test_support::demo_session;
    use crate::profile::Profile;
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    fn file(s: &crate::session::Session, name: &str) -> Value {
        let path = s.store().dir().join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn save_unset_load_round_trip_restores_the_saved_values() {
        let (_tmp, mut s) = demo_session();
        for line in [
            "/set tpm_threshold 1000",
            "/set timeout_ms 30000",
            "/set circuit_breaker_enabled true",
            "/set circuit_breaker_failure_threshold 5",
            "/set circuit_breaker_failure_window_ms 60000",
            "/set circuit_breaker_recovery_timeout_ms 30000",
            "/set auth-key sk-secret-should-never-be-written",
        ] {
            assert!(!run(&mut s, line).is_error, "{line}");
        }
        let out = run(
            &mut s,
            "/profile save loadbalancer testlb489save failover demo-fast demo-slow",
        );
        assert!(!out.is_error, "{}", out.text);
        assert!(
            out.text.contains("Not saved (protected): auth-key"),
            "{}",
            out.text
        );
        let saved = file(&s, "testlb489save");
        assert_eq!(saved["type"], "loadbalancer");
        assert_eq!(saved["policy"], "failover");
        assert_eq!(saved["profiles"], json!(["demo-fast", "demo-slow"]));
        let eph = &saved["ephemeralSettings"];
        assert_eq!(eph["tpm_threshold"], 1000);
        assert_eq!(eph["timeout_ms"], 30000);
        assert_eq!(eph["circuit_breaker_enabled"], true);
        assert_eq!(eph["circuit_breaker_failure_threshold"], 5);
        assert_eq!(eph["circuit_breaker_failure_window_ms"], 60000);
        assert_eq!(eph["circuit_breaker_recovery_timeout_ms"], 30000);
        assert_eq!(eph.get("auth-key"), None);
        let text = std::fs::read_to_string(s.store().dir().join("testlb489save.json")).unwrap();
        assert!(!text.contains("sk-secret"), "{text}");

        for key in [
            "tpm_threshold",
            "timeout_ms",
            "circuit_breaker_enabled",
            "circuit_breaker_failure_threshold",
        ] {
            run(&mut s, &format!("/set unset {key}"));
            assert_eq!(s.settings().get(key), None);
        }
        let out = run(&mut s, "/profile load testlb489save");
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(s.profile_name(), "testlb489save");
        assert_eq!(s.settings().get_u64("tpm_threshold"), Some(1000));
        assert_eq!(
            s.settings().get_u64("circuit_breaker_failure_threshold"),
            Some(5)
        );
        assert_eq!(s.settings().get("auth-key"), None);
        assert_eq!(s.backend_names(), vec!["demo-fast", "demo-slow"]);
    }

    #[test]
    fn lb_save_refuses_too_few_unknown_and_self_members() {
        let (_tmp, mut s) = demo_session();
        let out = run(&mut s, "/profile save loadbalancer x failover demo-fast");
        assert!(out.is_error);
        assert!(out.text.contains("at least two"), "{}", out.text);
        let out = run(
            &mut s,
            "/profile save loadbalancer x failover demo-fast nope",
        );
        assert!(out.is_error);
        assert!(
            out.text
                .starts_with("no such profile: nope; available: demo,"),
            "{}",
            out.text
        );
        let out = run(
            &mut s,
            "/profile save loadbalancer x fastest demo-fast demo-slow",
        );
        assert!(
            out.text.contains("unknown policy 'fastest'"),
            "{}",
            out.text
        );
        let out = run(&mut s, "/profile save loadbalancer x failover x demo-slow");
        assert!(out.text.contains("cannot list itself"), "{}", out.text);
        assert!(!s.store().exists("x"));
    }

    #[test]
    fn saving_a_model_while_an_lb_is_active_is_refused() {
        let (_tmp, mut s) = demo_session();
        let out = run(&mut s, "/profile save model mine");
        assert!(out.is_error);
        assert!(out.text.contains("is a load balancer"), "{}", out.text);
        assert!(!s.store().exists("mine"));
    }

    #[test]
    fn save_model_writes_the_active_backend_with_session_settings() {
        let (_tmp, mut s) = demo_session();
        run(&mut s, "/profile load demo-fast");
        run(&mut s, "/set base-url http://127.0.0.1:9/v1");
        run(&mut s, "/set modelparam temperature 0.5");
        run(&mut s, "/set auth-key sk-nope");
        let out = run(&mut s, "/profile save model mine");
        assert!(!out.is_error, "{}", out.text);
        let saved = file(&s, "mine");
        assert_eq!(saved["provider"], "sim");
        assert_eq!(saved["model"], "sim-fast");
        assert_eq!(saved["modelParams"]["temperature"], 0.5);
        assert_eq!(
            saved["ephemeralSettings"]["base-url"],
            "http://127.0.0.1:9/v1"
        );
        assert_eq!(saved["ephemeralSettings"].get("auth-key"), None);
        let loaded = s.store().load("mine").unwrap();
        assert!(matches!(loaded.profile, Profile::Model(_)));
    }

    #[test]
    fn delete_refuses_profiles_a_load_balancer_uses_naming_it() {
        let (_tmp, mut s) = demo_session();
        let out = run(&mut s, "/profile delete demo-fast");
        assert!(out.is_error);
        assert!(out.text.contains("'demo'"), "{}", out.text);
        assert!(s.store().exists("demo-fast"));
        let out = run(&mut s, "/profile delete demo");
        assert!(out.text.contains("active profile"), "{}", out.text);
        run(&mut s, "/profile load demo-fast");
        assert!(!run(&mut s, "/profile delete demo").is_error);
        assert!(!run(&mut s, "/profile delete demo-slow").is_error);
        assert!(!s.store().exists("demo-slow"));
        assert!(run(&mut s, "/profile delete demo-slow").is_error);
    }

    #[test]
    fn list_show_and_errors() {
        let (_tmp, mut s) = demo_session();
        let out = run(&mut s, "/profile list");
        assert!(
            out.text
                .contains(" * demo        loadbalancer  failover: demo-down"),
            "{}",
            out.text
        );
        assert!(
            out.text
                .contains("   demo-fast   model         sim / sim-fast"),
            "{}",
            out.text
        );
        let out = run(&mut s, "/profile show demo-fast");
        assert!(out.text.contains("\"model\": \"sim-fast\""), "{}", out.text);
        assert!(run(&mut s, "/profile show nope").is_error);
        assert!(run(&mut s, "/profile load nope").is_error);
        assert!(run(&mut s, "/profile load").is_error);
        assert!(run(&mut s, "/profile").is_error);
    }
}
