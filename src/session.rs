//! [`Session`]: the state of one interactive chat that slash commands change and the
//! UI reads: the active profile, the current ephemeral settings and model parameters,
//! the conversation, and its totals (prompts, answers, tokens).
//!
//! It holds no terminal. [`Session::engine`] gives the engine for the current state,
//! built on first use and kept until [`Session::generation`] changes (a `/set`,
//! `/profile load`, ...), so routing state (a round-robin position) carries across
//! prompts; every face gets its engine here, so they cannot drift apart.
//! Backend health (breakers, TPM, per-backend metrics) lives in the engine alone;
//! with a state folder a load balancer's engine restores and saves it there.
//! The conversation's archive id lives here too, so `/resume` (a command) can switch
//! it; the UI writes the records.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::archive::{self, ResumedSession};
use crate::config::{self, Scope, Settings};
use crate::engine::{self, BuildError, Engine, EngineEvent};
use crate::home::Home;
use crate::profile::{ModelProfile, Policy, ProfileStore, Resolved};
use crate::provider::{Message, Role};

/// One interactive chat's state.
#[derive(Debug, Clone)]
pub struct Session {
    store: ProfileStore,
    target: Resolved,
    settings: Settings,
    model_params: Map<String, Value>,
    messages: Vec<Message>,
    stats: SessionStats,
    generation: u64,
    /// Where load balancers' health is kept; `None` keeps it in memory only.
    state_dir: Option<PathBuf>,
    /// baton's home, for `/sessions` and `/resume`; `None` has no stored sessions.
    home: Option<Home>,
    /// The archive id of this conversation (`sessions/ID.jsonl`).
    session_id: String,
    engine: Option<CachedEngine>,
    /// Set while a `/retry` runs on its own engine that saves health to the state
    /// folder: once it ends, the cached engine is dropped so the next one loads it.
    reload_after_run: bool,
    /// The role in use (`/role`), and the settings it set, so `/role off` undoes it.
    role: Option<(String, Vec<String>)>,
    /// Files `/attach` added for the next prompt.
    attachments: Vec<crate::attach::Attachment>,
}

/// The engine prompts run on, and the generation it was built for.
#[derive(Debug, Clone)]
struct CachedEngine {
    generation: u64,
    engine: Engine,
}

/// An engine ready for a prompt, and a warning to show once when its saved health
/// could not be read (a corrupt state file).
#[derive(Debug)]
pub(crate) struct BuiltEngine {
    pub(crate) engine: Engine,
    pub(crate) warning: Option<String>,
}

impl Session {
    /// A session on `target`; its ephemeral settings start as the profile's own.
    pub fn new(store: ProfileStore, target: Resolved) -> Self {
        let settings = Resolved::top_settings(&target).clone();
        Self {
            store,
            target,
            settings,
            model_params: Map::new(),
            messages: Vec::new(),
            stats: SessionStats::default(),
            generation: 0,
            state_dir: None,
            home: None,
            session_id: archive::new_session_id(),
            engine: None,
            reload_after_run: false,
            role: None,
            attachments: Vec::new(),
        }
    }

    /// Lists and resumes stored sessions from `home`'s sessions folder.
    pub fn with_home(mut self, home: Home) -> Self {
        self.home = Some(home);
        self
    }

    /// baton's home, where stored sessions are, if the session has one.
    pub(crate) fn home(&self) -> Option<&Home> {
        self.home.as_ref()
    }

    /// The archive id of this conversation.
    pub(crate) fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Continues the stored conversation `resumed`: its messages become the history
    /// and its id the archive id (new records go to the same file). The profile is
    /// the caller's to switch.
    pub(crate) fn resume_from(&mut self, resumed: &ResumedSession) {
        self.messages = resumed.messages.clone();
        self.session_id = resumed.id.clone();
    }

    /// Keeps load balancers' health (breakers, TPM, metrics) in `dir`
    /// (`~/.baton/state`), as one-shot runs do, so `/stats lb`, `baton state show`
    /// and the next run agree.
    pub(crate) fn with_state_dir(mut self, dir: PathBuf) -> Self {
        self.state_dir = Some(dir);
        self
    }

    /// True when engines built now restore and save their health: a load balancer
    /// (or pool) with a state folder. Model profiles keep none, as in one-shot mode.
    pub(crate) fn persists_health(&self) -> bool {
        self.state_dir.is_some() && self.is_load_balancer()
    }

    /// The profiles folder the profile commands work on.
    pub(crate) fn store(&self) -> &ProfileStore {
        &self.store
    }

    /// The active profile (members resolved), as loaded.
    pub(crate) fn target(&self) -> &Resolved {
        &self.target
    }

    /// The active profile's name.
    pub(crate) fn profile_name(&self) -> &str {
        self.target.name()
    }

    /// True when the active profile is a load balancer.
    pub(crate) fn is_load_balancer(&self) -> bool {
        matches!(
            self.target,
            Resolved::LoadBalancer { .. } | Resolved::Pool { .. }
        )
    }

    /// The current ephemeral settings (`/set` changes them; `/profile load` replaces them).
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Model parameters set with `/set modelparam`, laid over every backend's own.
    pub(crate) fn model_params(&self) -> &Map<String, Value> {
        &self.model_params
    }

    /// Changes with every change that needs a new engine.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Sets `key` from text typed by the user.
    pub(crate) fn set(&mut self, key: &str, raw: &str) -> Result<(), config::SettingError> {
        self.settings.set(key, raw)?;
        self.generation += 1;
        Ok(())
    }

    /// Sets `key` to a value already parsed (a role's front matter).
    pub(crate) fn set_value(
        &mut self,
        key: &str,
        value: Value,
    ) -> Result<(), config::SettingError> {
        self.settings.set_value(key, value)?;
        self.generation += 1;
        Ok(())
    }

    /// Switches to `role`: its system prompt and settings (a role in use is undone
    /// first).
    pub(crate) fn use_role(
        &mut self,
        role: crate::roles::Role,
    ) -> Result<(), config::SettingError> {
        self.drop_role();
        let mut keys = Vec::new();
        for (key, value) in role.settings {
            self.set_value(&key, value)?;
            keys.push(key);
        }
        self.set_value("system-prompt", Value::String(role.prompt))?;
        keys.push("system-prompt".to_string());
        self.role = Some((role.name, keys));
        Ok(())
    }

    /// Undoes the role in use; returns its name.
    pub(crate) fn drop_role(&mut self) -> Option<String> {
        let (name, keys) = self.role.take()?;
        for key in keys {
            self.unset(&key);
        }
        Some(name)
    }

    /// Adds a file to the next prompt (`/attach`); one already added is replaced.
    pub(crate) fn attach(&mut self, file: crate::attach::Attachment) {
        self.attachments.retain(|a| a.shown != file.shown);
        self.attachments.push(file);
    }

    /// The files waiting for the next prompt.
    pub(crate) fn attachments(&self) -> &[crate::attach::Attachment] {
        &self.attachments
    }

    /// Takes the files waiting for the next prompt.
    pub(crate) fn take_attachments(&mut self) -> Vec<crate::attach::Attachment> {
        std::mem::take(&mut self.attachments)
    }

    /// The role in use.
    pub(crate) fn role(&self) -> Option<&str> {
        self.role.as_ref().map(|(name, _)| name.as_str())
    }

    /// Clears `key`; true when it was set.
    pub(crate) fn unset(&mut self, key: &str) -> bool {
        let was_set = self.settings.unset(key);
        self.generation += 1;
        was_set
    }

    /// Sets a model parameter for every backend.
    pub(crate) fn set_model_param(&mut self, key: &str, value: Value) {
        self.model_params.insert(key.to_string(), value);
        self.generation += 1;
    }

    /// Replaces the settings wholesale (`--set` flags at start-up are laid on top).
    pub(crate) fn merge_settings(&mut self, overrides: &Settings) {
        self.settings = self.settings.merged_with(overrides);
        self.generation += 1;
    }

    /// Switches to another profile; the ephemeral settings become that profile's own
    /// and `/set modelparam` values are dropped. The conversation is kept.
    pub(crate) fn switch_to(&mut self, target: Resolved) {
        self.settings = Resolved::top_settings(&target).clone();
        self.model_params = Map::new();
        self.target = target;
        self.generation += 1;
    }

    /// The active profile with the session's settings and model parameters applied:
    /// what the engine is built from and what `/profile save model` writes.
    pub(crate) fn effective_target(&self) -> Resolved {
        let mut target = self.target.clone();
        *target.top_settings_mut() = self.settings.clone();
        apply_model_params(&mut target, &self.model_params);
        target
    }

    /// Settings laid over every backend. For a model profile the settings are the
    /// backend's own (already in [`Session::effective_target`]); for a load balancer
    /// the backend-scope keys a user sets (`/set base-url ...`) reach every member.
    pub(crate) fn backend_overrides(&self) -> Settings {
        match self.target {
            Resolved::Model { .. } => Settings::new(),
            Resolved::LoadBalancer { .. } | Resolved::Pool { .. } => {
                let mut out = Settings::new();
                for (key, value) in self.settings.iter() {
                    if config::spec(key).is_some_and(|s| s.scope == Scope::Backend) {
                        // Values came out of a checked Settings, so this cannot fail.
                        let _ = out.set_value(key, value.clone());
                    }
                }
                out
            }
        }
    }

    /// The engine for the current state, built only after a change.
    pub(crate) fn engine(&mut self) -> Result<BuiltEngine, BuildError> {
        if let Some(cached) = &self.engine
            && cached.generation == self.generation
        {
            return Ok(BuiltEngine {
                engine: cached.engine.clone(),
                warning: None,
            });
        }
        let engine = engine::build_engine(&self.effective_target(), &self.backend_overrides())?;
        let warning = self.attach_state(&engine);
        self.engine = Some(CachedEngine {
            generation: self.generation,
            engine: engine.clone(),
        });
        Ok(BuiltEngine { engine, warning })
    }

    /// Restores `engine`'s health from the state folder and has it saved there
    /// after each prompt, when this session persists health.
    fn attach_state(&self, engine: &Engine) -> Option<String> {
        match &self.state_dir {
            Some(dir) if self.is_load_balancer() => engine.persist_in(dir),
            Some(_) | None => None,
        }
    }

    /// An engine for `/retry` after `backend` broke an answer: the same profile with
    /// its top-level members rotated so the one after `backend`'s comes first and
    /// `backend`'s comes last. A model profile is simply tried again. Health is
    /// restored and saved as for [`Session::engine`] (the state is per backend, so
    /// the order does not matter); call [`Session::run_ended`] when the retry ends.
    pub(crate) fn retry_engine(&mut self, backend: &str) -> Result<BuiltEngine, BuildError> {
        let mut target = self.effective_target();
        if let Resolved::LoadBalancer {
            members, profile, ..
        } = &mut target
            && let Some(pos) = members
                .iter()
                .position(|m| m.backends().iter().any(|(n, _)| *n == backend))
        {
            members.rotate_left(pos + 1);
            profile.profiles = members.iter().map(|m| m.name().to_string()).collect();
            // Rotation would undo the reordering; on retry go in order.
            profile.policy = Policy::Failover;
        }
        let engine = engine::build_engine(&target, &self.backend_overrides())?;
        let warning = self.attach_state(&engine);
        // The retry saves its health to the state folder when it ends; the next
        // prompt's engine is then rebuilt to load it rather than overwrite it with
        // the cached engine's older view. Without a state folder the cached engine
        // is kept, which is the better of the two in-memory views.
        self.reload_after_run = self.persists_health();
        Ok(BuiltEngine { engine, warning })
    }

    /// The request in flight has ended, however it ended.
    pub(crate) fn run_ended(&mut self) {
        if std::mem::take(&mut self.reload_after_run) {
            self.engine = None;
        }
    }

    #[cfg(test)]
    /// Backend names of the active profile, in listed order.
    pub(crate) fn backend_names(&self) -> Vec<String> {
        self.target
            .backends()
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// The model profile of the active target, when it is one.
    pub(crate) fn model_profile(&self) -> Option<&ModelProfile> {
        self.target.model_profile()
    }

    /// The system prompt (`system-prompt` setting), when one is set.
    pub(crate) fn system_prompt(&self) -> Option<&str> {
        self.settings()
            .get_str("system-prompt")
            .filter(|s| !s.trim().is_empty())
    }

    /// What is sent for the next answer: the system prompt, then the conversation.
    pub(crate) fn request_messages(&self) -> Vec<Message> {
        let system = self.system_prompt().map(|text| Message {
            role: Role::System,
            content: text.to_owned(),
        });
        system
            .into_iter()
            .chain(self.messages().iter().cloned())
            .collect()
    }

    /// The conversation so far (complete answers only).
    pub(crate) fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Adds the user's prompt to the conversation.
    pub(crate) fn push_user(&mut self, text: &str) {
        self.messages.push(Message::user(text));
        self.stats.prompts += 1;
    }

    /// Adds a complete answer to the conversation.
    pub(crate) fn push_assistant(&mut self, text: &str) {
        self.messages.push(Message {
            role: Role::Assistant,
            content: text.to_string(),
        });
    }

    /// Removes the last user prompt when its answer never completed, so a retry or
    /// the next prompt does not send it twice. Returns it.
    pub(crate) fn pop_unanswered(&mut self) -> Option<String> {
        match self.messages.last() {
            Some(m) if m.role == Role::User => self.messages.pop().map(|m| m.content),
            _ => None,
        }
    }

    /// Forgets the conversation (`/clear`).
    pub(crate) fn clear_messages(&mut self) {
        self.messages.clear();
    }

    /// What the session has seen.
    pub(crate) fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Counts one engine event.
    pub(crate) fn record(&mut self, event: &EngineEvent) {
        self.stats.record(event);
    }

    /// Counts an answer the user cancelled.
    pub(crate) fn record_cancelled(&mut self) {
        self.stats.cancelled += 1;
    }
}

fn apply_model_params(target: &mut Resolved, params: &Map<String, Value>) {
    if params.is_empty() {
        return;
    }
    match target {
        Resolved::Model { profile, .. } => {
            for (k, v) in params {
                profile.model_params.insert(k.clone(), v.clone());
            }
        }
        Resolved::LoadBalancer { members, .. } => {
            for m in members {
                apply_model_params(m, params);
            }
        }
        Resolved::Pool { members, .. } => {
            for (_, profile) in members {
                profile
                    .model_params
                    .extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
}

/// Session totals.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SessionStats {
    /// Prompts sent.
    pub(crate) prompts: u64,
    /// Complete answers.
    pub(crate) answers: u64,
    /// Answers broken after text was shown.
    pub(crate) interrupted: u64,
    /// Prompts no backend answered.
    pub(crate) exhausted: u64,
    /// Answers the user cancelled (Esc, Ctrl-C, leaving mid-answer).
    pub(crate) cancelled: u64,
    /// Prompt tokens of complete and interrupted answers.
    pub(crate) input_tokens: u64,
    /// Answer tokens of complete and interrupted answers.
    pub(crate) output_tokens: u64,
    /// Summed latency of complete answers.
    pub(crate) latency_total_ms: u64,
}

impl SessionStats {
    /// Prompt plus answer tokens so far.
    pub(crate) fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    fn record(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::Done { provenance, .. } => {
                self.answers += 1;
                self.input_tokens += provenance.usage.input_tokens;
                self.output_tokens += provenance.usage.output_tokens;
                self.latency_total_ms += provenance.latency_ms;
            }
            EngineEvent::Interrupted { provenance, .. } => {
                self.interrupted += 1;
                self.input_tokens += provenance.usage.input_tokens;
                self.output_tokens += provenance.usage.output_tokens;
            }
            EngineEvent::Exhausted { .. } => self.exhausted += 1,
            EngineEvent::AttemptStarted { .. }
            | EngineEvent::AttemptFailed { .. }
            | EngineEvent::Delta { .. }
            | EngineEvent::Usage { .. }
            | EngineEvent::Reasoning { .. }
            | EngineEvent::ToolCall { .. }
            | EngineEvent::Skipped { .. }
            | EngineEvent::Breaker { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Provenance;
    use crate::profile::LbProfile;
    use crate::provider::Usage;

    fn lb() -> Resolved {
        let leaf = |n: &str| Resolved::Model {
            name: n.to_string(),
            profile: ModelProfile::new("sim", "sim-fast"),
        };
        Resolved::LoadBalancer {
            name: "lb".into(),
            profile: LbProfile::new(Policy::Failover, vec!["a".into(), "b".into()]),
            members: vec![leaf("a"), leaf("b")],
        }
    }

    fn session() -> Session {
        Session::new(ProfileStore::new("/nonexistent".into()), lb())
    }

    #[test]
    fn unset_falls_back_to_the_default_not_the_profile() {
        let mut s = session();
        s.set("timeout_ms", "5000").unwrap();
        let target = s.effective_target();
        let Resolved::LoadBalancer { profile, .. } = &target else {
            panic!("not an lb")
        };
        assert_eq!(profile.settings.get_u64("timeout_ms"), Some(5000));
        s.unset("timeout_ms");
        let engine = s.engine().unwrap().engine;
        assert_eq!(
            engine.settings().timeout,
            std::time::Duration::from_millis(30_000)
        );
    }

    #[test]
    fn backend_keys_reach_members_of_a_load_balancer() {
        let mut s = session();
        s.set("base-url", "http://127.0.0.1:9/v1").unwrap();
        s.set("timeout_ms", "10").unwrap();
        let o = s.backend_overrides();
        assert_eq!(o.get_str("base-url"), Some("http://127.0.0.1:9/v1"));
        assert_eq!(o.get("timeout_ms"), None);
    }

    #[test]
    fn retry_engine_moves_the_broken_backend_last() {
        let mut s = session();
        let engine = s.retry_engine("a").unwrap().engine;
        let names: Vec<_> = engine.backends().iter().map(|b| b.name.clone()).collect();
        assert_eq!(names, vec!["b", "a"]);
    }

    #[test]
    fn the_system_prompt_goes_first_and_only_when_set() {
        let mut s = session();
        s.push_user("hi");
        assert_eq!(s.request_messages(), vec![Message::user("hi")]);
        assert!(s.set("system-prompt", "Answer in French.").is_ok());
        let sent = s.request_messages();
        assert_eq!(sent.len(), 2);
        assert_eq!(
            (sent[0].role, sent[0].content.as_str()),
            (Role::System, "Answer in French.")
        );
        assert_eq!(
            s.messages().len(),
            1,
            "the conversation itself is unchanged"
        );
        assert!(s.unset("system-prompt"));
        assert_eq!(s.request_messages().len(), 1);
    }

    #[test]
    fn stats_count_answers_and_tokens() {
        let mut s = session();
        s.push_user("hi");
        s.record(&EngineEvent::Done {
            provenance: Provenance {
                backend: "a".into(),
                provider: "sim".into(),
                model: "sim-fast".into(),
                attempts: 1,
                failovers: 0,
                latency_ms: 100,
                first_chunk_ms: 10,
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 50,
                    estimated: false,
                    ..Usage::default()
                },
            },
            finish: Default::default(),
        });
        let stats = s.stats();
        assert_eq!((stats.prompts, stats.answers), (1, 1));
        assert_eq!(stats.total_tokens(), 60);
        assert_eq!(stats.latency_total_ms, 100);
    }
}
