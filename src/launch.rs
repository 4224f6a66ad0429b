//! The one way from a command line to a ready [`Session`], shared by every face
//! (the chat, one-shot, and later the gateway): `--set` values checked through the
//! settings registry, the stored conversation `--resume` names, the profile (or
//! `--provider`) resolved, and the session set up to keep load balancers' health in
//! the state folder. The engine is the session's to build, so every face gets the
//! same one from the same state.
//!
//! Each failure is a [`LaunchError`] that knows its exit code.

use crate::archive::{self, ArchiveError, ResumedSession};
use crate::cli::{Exit, RunArgs};
use crate::config::file::{ConfigError, UserConfig};
use crate::config::{self, SettingError, Settings};
use crate::home::Home;
use crate::profile::{self, ModelProfile, ProfileError, ProfileStore, Resolved};
use crate::session::Session;

/// Why a face could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LaunchError {
    #[error("--set expects KEY=VALUE (got '{0}')")]
    SetSyntax(String),
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("unknown provider '{name}'; known providers: {known}")]
    UnknownProvider { name: String, known: String },
    #[error("--provider {0} needs --model")]
    NeedsModel(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Role(#[from] crate::roles::RoleError),
    #[error(
        "cannot read the system prompt file {}: {source}; check the path given to \
         --system-file",
        path.display()
    )]
    SystemFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl LaunchError {
    /// The exit code this failure deserves: the command line's own mistakes are usage
    /// errors, what it points at (a broken profile, a missing session) is an error.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            Self::SetSyntax(_)
            | Self::Setting(_)
            | Self::UnknownProvider { .. }
            | Self::NeedsModel(_)
            | Self::Role(_)
            | Self::SystemFile { .. } => Exit::Usage,
            Self::Profile(_) | Self::Archive(_) | Self::Config(_) => Exit::Error,
        }
    }
}

/// A session ready to run, and the stored conversation it continues (for the
/// transcript and the one-shot's warning about unreadable lines).
#[derive(Debug)]
pub(crate) struct Launched {
    pub(crate) session: Session,
    pub(crate) resumed: Option<ResumedSession>,
    /// `~/.baton/config.json` (defaults when there is none).
    pub(crate) config: UserConfig,
}

/// The session the command line asks for: the profile (or `--provider`) with `--set`
/// values on top, continuing the stored session `--resume [ID]` names (its messages,
/// its id, and its profile unless `--profile-load` or `--provider` says otherwise).
pub(crate) fn session(args: &RunArgs, home: &Home) -> Result<Launched, LaunchError> {
    // Tightening is quiet (a debug note): it fixes the home once and needs no
    // action. Only a folder that stays readable by others is worth a warning.
    for note in home.tighten() {
        match note.failed {
            None => tracing::debug!(target: "baton::home", "{note}"),
            Some(_) => tracing::warn!("{note}"),
        }
    }
    let config = config::file::load(home)?;
    let mut overrides = parse_overrides(&args.set)?;
    if let Some(system) = system_prompt(args)? {
        overrides.set_value("system-prompt", serde_json::Value::String(system))?;
    }
    if let Some(name) = &args.role {
        // The role's prompt and settings, under what the command line says itself.
        let role = crate::roles::load(home, name)?;
        for (key, value) in role.settings {
            if overrides.get(&key).is_none() {
                overrides.set_value(&key, value)?;
            }
        }
        if overrides.get("system-prompt").is_none() {
            overrides.set_value("system-prompt", serde_json::Value::String(role.prompt))?;
        }
    }
    let resumed = load_resumed(args.resume.as_deref(), home)?;
    if let Some(r) = &resumed {
        check_resumed_profile(r, args)?;
    }
    let resumed_profile = resumed.as_ref().and_then(|r| r.profile.as_deref());
    let resolved = resolve_target(
        args,
        home,
        resumed_profile,
        config.default_profile.as_deref(),
    )?;
    remember_keys(&resolved, &overrides);
    let mut session = Session::new(ProfileStore::new(home.profiles_dir()), resolved)
        .with_state_dir(home.state_dir())
        .with_home(home.clone());
    if !overrides.is_empty() {
        session.merge_settings(&overrides);
    }
    if let Some(r) = &resumed {
        session.resume_from(r);
    }
    Ok(Launched {
        session,
        resumed,
        config,
    })
}

/// A resume never changes profile silently: when the session's header is lost, the
/// profile is the one the command line names, else the last one the file still
/// records (each with a warning naming what was lost), else an error.
fn check_resumed_profile(r: &ResumedSession, args: &RunArgs) -> Result<(), LaunchError> {
    let Some(lost) = r.transcript.header.lost() else {
        return Ok(());
    };
    let named = args
        .provider
        .as_deref()
        .map(|p| format!("provider {p}"))
        .or_else(|| args.profile.as_deref().map(|p| format!("profile {p}")));
    match (named, r.profile.as_deref()) {
        (Some(named), _) => {
            tracing::warn!("session {}: {lost}; resuming on {named}, as asked", r.id);
            Ok(())
        }
        (None, Some(recorded)) => {
            tracing::warn!(
                "session {}: {lost}; resuming on profile {recorded}, the last one it records",
                r.id
            );
            Ok(())
        }
        (None, None) => Err(ArchiveError::UnknownProfile {
            id: r.id.clone(),
            lost,
        }
        .into()),
    }
}

/// Tells [`crate::redact`] every key this run may send, so no echo of one reaches
/// a session file, a log line or stderr: the key each backend resolves (a key file,
/// `auth-key-env`, the provider's variable, `auth-key`) and credential headers.
fn remember_keys(target: &Resolved, overrides: &Settings) {
    let top = Resolved::top_settings(target);
    let mut models: Vec<&ModelProfile> = Vec::new();
    collect_models(target, &mut models);
    for model in models {
        let settings = model.settings.merged_with(top).merged_with(overrides);
        for s in [&model.settings, &settings] {
            remember_settings_keys(&model.provider, s);
        }
    }
}

fn collect_models<'a>(target: &'a Resolved, out: &mut Vec<&'a ModelProfile>) {
    match target {
        Resolved::Model { profile, .. } => out.push(profile),
        Resolved::Pool { members, .. } => out.extend(members.iter().map(|(_, m)| m)),
        Resolved::LoadBalancer { members, .. } => {
            for member in members {
                collect_models(member, out);
            }
        }
    }
}

fn remember_settings_keys(provider: &str, settings: &Settings) {
    if let Some(info) = crate::provider::lookup(provider) {
        let keyfile = settings
            .get_str("auth-keyfile")
            .map(std::path::PathBuf::from);
        let key = crate::provider::resolve_key(
            info,
            settings.get_str("auth-key"),
            keyfile.as_deref(),
            settings.get_str("auth-key-env"),
        );
        // A key that cannot be found is the engine's error to report, not ours.
        if let Ok(Some(key)) = key {
            crate::redact::remember_secret(key.expose());
        }
    }
    if let Some(serde_json::Value::Object(headers)) = settings.get("custom-headers") {
        for (name, value) in headers {
            if config::is_secret_header(name)
                && let Some(v) = value.as_str()
            {
                // `Bearer KEY`: the key alone, so it is found in any shape.
                let key = v.rsplit(' ').next().unwrap_or(v);
                crate::redact::remember_secret(key);
            }
        }
    }
}

/// Parses `--set KEY=VALUE` flags through the settings registry.
pub(crate) fn parse_overrides(pairs: &[String]) -> Result<Settings, LaunchError> {
    let mut settings = Settings::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| LaunchError::SetSyntax(pair.clone()))?;
        let value = config::parse_value(key.trim(), value.trim())?;
        settings.set_value(key.trim(), value)?;
    }
    Ok(settings)
}

/// The system prompt `--system` or `--system-file` gives; it wins over `--set
/// system-prompt=...` because it is the more specific flag.
fn system_prompt(args: &RunArgs) -> Result<Option<String>, LaunchError> {
    if let Some(text) = &args.system {
        return Ok(Some(text.clone()));
    }
    let Some(path) = &args.system_file else {
        return Ok(None);
    };
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|source| LaunchError::SystemFile {
            path: path.clone(),
            source,
        })
}

/// Finds what to talk to: `--provider` directly, else a profile (`--profile-load`,
/// else the resumed session's, else the config file's `default_profile`, else `demo`).
fn resolve_target(
    args: &RunArgs,
    home: &Home,
    resumed_profile: Option<&str>,
    default_profile: Option<&str>,
) -> Result<Resolved, LaunchError> {
    if let Some(provider) = &args.provider {
        return direct_target(provider, args);
    }
    let name = args
        .profile
        .as_deref()
        .or(resumed_profile)
        .or(default_profile)
        .unwrap_or(profile::DEFAULT_PROFILE);
    let store = ProfileStore::new(home.profiles_dir());
    if !store.dir().exists() || (profile::is_builtin(name) && !store.exists(name)) {
        profile::ensure_builtin(&store)?;
    }
    let (resolved, warnings) = store.resolve_with_warnings(name)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(resolved)
}

/// `--provider P --model M [--base-url U]`: a model profile made on the spot.
fn direct_target(provider: &str, args: &RunArgs) -> Result<Resolved, LaunchError> {
    if crate::provider::lookup(provider).is_none() {
        return Err(LaunchError::UnknownProvider {
            name: provider.to_string(),
            known: crate::provider::known_providers().join(", "),
        });
    }
    let model = match (&args.model, provider) {
        (Some(m), _) => m.clone(),
        (None, "sim") => "sim-fast".to_string(),
        (None, _) => return Err(LaunchError::NeedsModel(provider.to_string())),
    };
    let mut settings = Settings::new();
    if let Some(url) = &args.base_url {
        settings.set_value("base-url", config::parse_value("base-url", url)?)?;
    }
    let profile = ModelProfile {
        provider: provider.to_string(),
        model,
        model_params: serde_json::Map::new(),
        settings,
        pool_name: None,
    };
    Ok(Resolved::Model {
        name: provider.to_string(),
        profile,
    })
}

/// The session `--resume [ID]` asks for (`Some("")`: the latest), read and made
/// ready to continue.
fn load_resumed(resume: Option<&str>, home: &Home) -> Result<Option<ResumedSession>, LaunchError> {
    let Some(id) = resume else { return Ok(None) };
    let id = match id {
        "" => archive::latest(home)?.ok_or_else(|| ArchiveError::NoSessions {
            dir: home.sessions_dir(),
        })?,
        id => id.to_string(),
    };
    Ok(Some(archive::resume(home, &id)?))
}

/// A session on profile `name` with no command line around it, for a face that
/// answers many requests (the gateway): the built-in profiles written on first use,
/// health kept in the state folder as for the other faces.
pub(crate) fn profile_session(name: &str, home: &Home) -> Result<Session, LaunchError> {
    let store = ProfileStore::new(home.profiles_dir());
    if profile::is_builtin(name) && !store.exists(name) {
        profile::ensure_builtin(&store)?;
    }
    let (resolved, warnings) = store.resolve_with_warnings(name)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(Session::new(store, resolved)
        .with_state_dir(home.state_dir())
        .with_home(home.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_set_flags_are_usage_errors() {
        let err = parse_overrides(&["timeout_ms".into()]).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage);
        assert!(err.to_string().contains("KEY=VALUE"));
        let err = parse_overrides(&["timeout_ms=soon".into()]).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage);
    }

    #[test]
    fn a_missing_system_file_is_a_usage_error_naming_it() {
        let args = RunArgs {
            system_file: Some("/nonexistent/rules.txt".into()),
            ..RunArgs::default()
        };
        let err = system_prompt(&args).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage);
        assert!(err.to_string().contains("/nonexistent/rules.txt"), "{err}");
        let args = RunArgs {
            system: Some("Be brief.".into()),
            ..RunArgs::default()
        };
        assert_eq!(system_prompt(&args).unwrap().as_deref(), Some("Be brief."));
    }

    #[test]
    fn a_provider_without_a_model_is_a_usage_error() {
        let args = RunArgs {
            provider: Some("openai".into()),
            ..RunArgs::default()
        };
        let err = direct_target("openai", &args).unwrap_err();
        assert_eq!(err.to_string(), "--provider openai needs --model");
        assert_eq!(err.exit(), Exit::Usage);
        let err = direct_target("nope", &args).unwrap_err();
        assert!(err.to_string().starts_with("unknown provider 'nope'"));
    }
}
