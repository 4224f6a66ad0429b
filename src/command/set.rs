//! `/set`: list, explain, change and clear settings through the registry.

use serde_json::Value;

use super::{CommandOutput, split_word, strings};
use crate::config::{self, SettingError};
use crate::session::Session;

/// `/set ARGS`.
pub(super) fn execute(session: &mut Session, args: &str) -> CommandOutput {
    let (first, rest) = split_word(args);
    match (first, rest) {
        ("", _) => list(session),
        ("unset", key) => unset(session, key.trim()),
        ("modelparam", rest) => modelparam(session, rest),
        (key, "") => describe(session, key),
        (key, value) => match session.set(key, value) {
            Ok(()) => {
                let shown = session
                    .settings()
                    .get(key)
                    .map(|v| config::display_value(key, v))
                    .unwrap_or_default();
                CommandOutput::info(strings::set_done(key, &shown))
            }
            Err(e) => CommandOutput::error(e.to_string()),
        },
    }
}

fn list(session: &Session) -> CommandOutput {
    let settings = session.settings();
    let params = session.model_params();
    if settings.is_empty() && params.is_empty() {
        return CommandOutput::info(strings::set_nothing(session.profile_name()));
    }
    let mut out = strings::set_listing_header(session.profile_name());
    for (k, v) in settings.iter() {
        out.push_str(&format!("\n  {k} = {}", config::display_value(k, v)));
    }
    if !params.is_empty() {
        out.push('\n');
        out.push_str(strings::SET_MODEL_PARAMS_HEADER);
        for (k, v) in params {
            out.push_str(&format!("\n  {k} = {v}"));
        }
    }
    CommandOutput::info(out)
}

fn describe(session: &Session, key: &str) -> CommandOutput {
    match config::spec(key) {
        Some(spec) => {
            let current = session
                .settings()
                .get(key)
                .map(|v| config::display_value(key, v));
            CommandOutput::info(format!(
                "{}\n{}",
                spec.describe(),
                strings::set_current(current.as_deref())
            ))
        }
        None => CommandOutput::error(SettingError::unknown(key).to_string()),
    }
}

fn unset(session: &mut Session, key: &str) -> CommandOutput {
    if key.is_empty() {
        return CommandOutput::error(strings::UNSET_USAGE);
    }
    let spec = config::spec(key);
    // Unknown keys kept from a profile file can still be cleared.
    if spec.is_none() && session.settings().get(key).is_none() {
        return CommandOutput::error(SettingError::unknown(key).to_string());
    }
    if session.unset(key) {
        CommandOutput::info(strings::unset_done(key, spec.and_then(|s| s.default)))
    } else {
        CommandOutput::info(strings::unset_not_set(key))
    }
}

fn modelparam(session: &mut Session, args: &str) -> CommandOutput {
    let (key, raw) = split_word(args);
    if key.is_empty() || raw.is_empty() {
        return CommandOutput::error(strings::MODELPARAM_USAGE);
    }
    // JSON when it parses (numbers, booleans, objects), else the text as a string.
    let value = serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.into()));
    // Checked here so a bad value never reaches a request.
    if let Err(err) = crate::provider::params::check_param(key, &value) {
        return CommandOutput::error(err.to_string());
    }
    let shown = value.to_string();
    session.set_model_param(key, value);
    CommandOutput::info(strings::modelparam_done(key, &shown))
}

#[cfg(test)]
mod tests {
    use super::super::execute as run;
    use super::super::test_support::demo_session;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn modelparam_values_are_checked() {
        let (_tmp, mut s) = demo_session();
        for line in [
            "/set modelparam temperature hot",
            "/set modelparam n 2",
            "/set modelparam max_tokens 1.5",
        ] {
            let out = run(&mut s, line);
            assert!(out.is_error, "{line}: {}", out.text);
            assert!(out.text.contains("model parameter"), "{}", out.text);
        }
        assert!(s.model_params().is_empty());
        let out = run(&mut s, "/set modelparam temperature 0.5");
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(s.model_params().get("temperature"), Some(&json!(0.5)));
    }

    #[test]
    fn valid_values_are_accepted_and_stored() {
        let (_tmp, mut s) = demo_session();
        for (line, key, value) in [
            ("/set tpm_threshold 1000", "tpm_threshold", json!(1000)),
            ("/set timeout_ms 30000", "timeout_ms", json!(30000)),
            (
                "/set circuit_breaker_enabled true",
                "circuit_breaker_enabled",
                json!(true),
            ),
            (
                "/set circuit_breaker_failure_threshold 3",
                "circuit_breaker_failure_threshold",
                json!(3),
            ),
            (
                "/set circuit_breaker_failure_window_ms 60000",
                "circuit_breaker_failure_window_ms",
                json!(60000),
            ),
            (
                "/set circuit_breaker_recovery_timeout_ms 30000",
                "circuit_breaker_recovery_timeout_ms",
                json!(30000),
            ),
        ] {
            let out = run(&mut s, line);
            assert!(!out.is_error, "{line}: {}", out.text);
            assert_eq!(out.text, format!("{key} = {value}"));
            assert_eq!(s.settings().get(key), Some(&value), "{line}");
        }
    }

    #[test]
    fn invalid_values_give_the_registry_errors() {
        let (_tmp, mut s) = demo_session();
        let before = s.settings().clone();
        for (line, expected) in [
            (
                "/set tpm_threshold -500",
                "tpm_threshold must be a positive integer (got -500)",
            ),
            (
                "/set timeout_ms abc",
                "timeout_ms must be a positive integer (got abc)",
            ),
            (
                "/set circuit_breaker_enabled maybe",
                "circuit_breaker_enabled must be true or false (got maybe)",
            ),
        ] {
            let out = run(&mut s, line);
            assert!(out.is_error, "{line}");
            assert_eq!(out.text, expected);
        }
        assert_eq!(s.settings(), &before, "refused values change nothing");
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let (_tmp, mut s) = demo_session();
        for line in ["/set timout_ms 5", "/set nope", "/set unset nope"] {
            let out = run(&mut s, line);
            assert!(out.is_error, "{line}");
            assert!(
                out.text.contains("valid settings: timeout_ms,"),
                "{}",
                out.text
            );
        }
        assert!(
            run(&mut s, "/set timout_ms 5")
                .text
                .contains("did you mean 'timeout_ms'")
        );
    }

    #[test]
    fn set_key_shows_the_registry_help_and_current_value() {
        let (_tmp, mut s) = demo_session();
        let out = run(&mut s, "/set tpm_threshold");
        assert!(!out.is_error);
        let spec = crate::config::spec("tpm_threshold").unwrap();
        assert_eq!(out.text, format!("{}\n  current: unset", spec.describe()));
        let out = run(&mut s, "/set timeout_ms");
        assert!(out.text.ends_with("current: 5000"), "{}", out.text);
    }

    #[test]
    fn unset_clears_each_setting() {
        let (_tmp, mut s) = demo_session();
        run(&mut s, "/set tpm_threshold 1000");
        let out = run(&mut s, "/set unset tpm_threshold");
        assert_eq!(out.text, "tpm_threshold unset");
        assert_eq!(s.settings().get("tpm_threshold"), None);
        let out = run(&mut s, "/set unset timeout_ms");
        assert_eq!(out.text, "timeout_ms unset (default 30000 applies)");
        assert_eq!(
            run(&mut s, "/set unset timeout_ms").text,
            "timeout_ms was not set"
        );
        assert!(run(&mut s, "/set unset").is_error);
    }

    #[test]
    fn bare_set_lists_values_and_hides_secrets() {
        let (_tmp, mut s) = demo_session();
        run(&mut s, "/set auth-key sk-verysecretvalue123");
        run(&mut s, "/set modelparam temperature 0.7");
        let out = run(&mut s, "/set");
        assert!(
            out.text.starts_with("Settings (profile demo):"),
            "{}",
            out.text
        );
        assert!(out.text.contains("  timeout_ms = 5000"), "{}", out.text);
        assert!(!out.text.contains("verysecret"), "{}", out.text);
        assert!(out.text.contains("Model parameters:\n  temperature = 0.7"));
    }

    #[test]
    fn modelparam_parses_json_or_keeps_text() {
        let (_tmp, mut s) = demo_session();
        assert!(
            run(&mut s, "/set modelparam max_tokens 512")
                .text
                .contains("512")
        );
        run(&mut s, "/set modelparam stop END OF TEXT");
        assert_eq!(s.model_params().get("max_tokens"), Some(&json!(512)));
        assert_eq!(s.model_params().get("stop"), Some(&json!("END OF TEXT")));
        assert!(run(&mut s, "/set modelparam x").is_error);
    }
}
