//! `/provider` and `/model`: talk to a provider directly, without a saved profile.

use super::{CommandOutput, split_word, strings};
use crate::profile::{ModelProfile, Resolved};
use crate::provider::{self, sim};
use crate::session::Session;

/// `/provider [NAME [MODEL]]`.
pub(super) fn provider(session: &mut Session, args: &str) -> CommandOutput {
    let known = provider::known_providers();
    let (name, model) = split_word(args);
    if name.is_empty() {
        return match session.model_profile() {
            Some(m) => CommandOutput::info(strings::provider_current(&m.provider, &known)),
            None => {
                let providers: Vec<String> = session
                    .target()
                    .backends()
                    .into_iter()
                    .map(|(n, p)| format!("{n} ({} / {})", p.provider, p.model))
                    .collect();
                CommandOutput::info(strings::provider_lb(session.profile_name(), &providers))
            }
        };
    }
    let Some(info) = provider::lookup(name) else {
        return CommandOutput::error(strings::provider_unknown(name, &known));
    };
    let model = match (model.trim(), session.model_profile()) {
        ("", _) if info.name == "sim" => "sim-fast".to_string(),
        ("", Some(current)) if current.provider == info.name => current.model.clone(),
        ("", _) => return CommandOutput::error(strings::provider_needs_model(name)),
        (m, _) => m.to_string(),
    };
    switch(session, info.name.to_string(), info.name, model)
}

/// `/model [NAME]`.
pub(super) fn model(session: &mut Session, args: &str) -> CommandOutput {
    let wanted = args.trim();
    let Some(current) = session.model_profile().cloned() else {
        return if wanted.is_empty() {
            let models: Vec<String> = session
                .target()
                .backends()
                .into_iter()
                .map(|(n, p)| format!("{n}: {}", p.model))
                .collect();
            CommandOutput::info(strings::provider_lb(session.profile_name(), &models))
        } else {
            CommandOutput::error(strings::model_on_lb(session.profile_name()))
        };
    };
    if wanted.is_empty() {
        let options: &[&str] = if current.provider == "sim" {
            sim::MODELS
        } else {
            &[]
        };
        return CommandOutput::info(strings::model_current(&current.model, options));
    }
    let name = session.profile_name().to_string();
    let provider = current.provider.clone();
    switch(session, name, &provider, wanted.to_string())
}

/// Makes `provider`/`model` the active target, keeping the session's settings and
/// model parameters.
fn switch(session: &mut Session, name: String, provider: &str, model: String) -> CommandOutput {
    let params = session.model_params().clone();
    let mut profile = ModelProfile::new(provider, model.clone());
    profile.settings = session.settings().clone();
    if let Some(current) = session.model_profile() {
        profile.model_params = current.model_params.clone();
    }
    session.switch_to(Resolved::Model { name, profile });
    for (k, v) in params {
        session.set_model_param(&k, v);
    }
    CommandOutput::info(strings::switched(provider, &model))
}

#[cfg(test)]
mod tests {
    use super::super::execute as run;
    use super::super::test_support::demo_session;

    #[test]
    fn provider_switches_to_a_direct_model_and_model_changes_it() {
        let (_tmp, mut s) = demo_session();
        let out = run(&mut s, "/provider");
        assert!(
            out.text
                .contains("load balancer over: demo-down (sim / sim-down)"),
            "{}",
            out.text
        );
        assert!(run(&mut s, "/model sim-slow").is_error);
        let out = run(&mut s, "/provider sim");
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(
            s.model_profile().map(|m| m.model.as_str()),
            Some("sim-fast")
        );
        assert!(
            s.settings().get_u64("timeout_ms").is_some(),
            "settings kept"
        );
        run(&mut s, "/set modelparam temperature 0.2");
        let out = run(&mut s, "/model sim-slow");
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(
            s.model_profile().map(|m| m.model.as_str()),
            Some("sim-slow")
        );
        assert!(s.model_params().contains_key("temperature"));
        assert!(run(&mut s, "/model").text.contains("sim-flaky"));
        assert!(run(&mut s, "/provider nope").is_error);
        assert!(run(&mut s, "/provider openai").is_error, "needs a model");
        assert!(!run(&mut s, "/provider openai gpt-4o-mini").is_error);
        assert!(!run(&mut s, "/profile save model mini").is_error);
    }
}
