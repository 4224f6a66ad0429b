//! One-shot mode: answer one prompt on stdout and exit with a code scripts can use.
//!
//! Reads the same [`EngineEvent`] stream as the interactive UI; a human writer
//! streams text as it arrives, a JSON writer prints one object at the end.

use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;

use futures_util::StreamExt;
use serde_json::json;

use crate::archive::{self, Archive, ArchiveConfig, ResumedSession, SessionLog};
use crate::cli::{OutputFormat, RunArgs};
use crate::config::{self, Settings};
use crate::engine::{self, BackendFailure, EngineEvent, Provenance};
use crate::home::Home;
use crate::profile::{self, ModelProfile, ProfileStore, Resolved};
use crate::provider::{ChatRequest, ErrorClass, Message};

/// How a one-shot run ends, as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The answer is complete.
    Complete = 0,
    /// Something went wrong (bad profile, auth, an interrupted answer, ...).
    Error = 1,
    /// The command line or the prompt was wrong.
    Usage = 2,
    /// Every backend was temporarily unavailable: retrying later may work.
    Unavailable = 75,
    /// The user pressed Ctrl-C.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failure before the engine ran, with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// A one-line message for the user.
    pub message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }
    fn error(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Error,
            message: message.into(),
        }
    }
}

/// Parses `--set KEY=VALUE` flags through the settings registry.
pub fn parse_overrides(pairs: &[String]) -> Result<Settings, Failure> {
    let mut settings = Settings::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--set expects KEY=VALUE (got '{pair}')")))?;
        let value = config::parse_value(key.trim(), value.trim())
            .map_err(|e| Failure::usage(e.to_string()))?;
        settings
            .set_value(key.trim(), value)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    Ok(settings)
}

/// The prompt from `--prompt`, else from stdin when it is not a terminal.
fn read_prompt(arg: Option<String>) -> Result<String, Failure> {
    let prompt = match arg {
        Some(p) => p,
        // `baton` opens the chat in this case; only a caller that skips that check
        // (a library user, a test) gets here.
        None if io::stdin().is_terminal() => {
            return Err(Failure::usage(
                "no prompt: pass --prompt \"...\" or pipe one in, or run `baton` without --prompt for the chat",
            ));
        }
        None => {
            let mut text = String::new();
            io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::usage(format!("cannot read the prompt from stdin: {e}")))?;
            text
        }
    };
    if prompt.trim().is_empty() {
        return Err(Failure::usage(
            "the prompt is empty: pass --prompt \"...\" or pipe text in",
        ));
    }
    Ok(prompt)
}

/// Finds what to talk to: `--provider` directly, else a profile (`--profile-load`,
/// else the resumed session's, else `demo`). Shared with the interactive chat.
pub fn resolve_target(
    args: &RunArgs,
    home: &Home,
    resumed_profile: Option<&str>,
) -> Result<Resolved, Failure> {
    if let Some(provider) = &args.provider {
        if crate::provider::lookup(provider).is_none() {
            return Err(Failure::usage(format!(
                "unknown provider '{provider}'; known providers: {}",
                crate::provider::known_providers().join(", ")
            )));
        }
        let model = match (&args.model, provider.as_str()) {
            (Some(m), _) => m.clone(),
            (None, "sim") => "sim-fast".to_string(),
            (None, _) => {
                return Err(Failure::usage(format!(
                    "--provider {provider} needs --model"
                )));
            }
        };
        let mut settings = Settings::new();
        if let Some(url) = &args.base_url {
            let value =
                config::parse_value("base-url", url).map_err(|e| Failure::usage(e.to_string()))?;
            settings
                .set_value("base-url", value)
                .map_err(|e| Failure::usage(e.to_string()))?;
        }
        let profile = ModelProfile {
            provider: provider.clone(),
            model,
            model_params: serde_json::Map::new(),
            settings,
            pool_name: None,
        };
        return Ok(Resolved::Model {
            name: provider.clone(),
            profile,
        });
    }
    let name = args
        .profile
        .as_deref()
        .or(resumed_profile)
        .unwrap_or(profile::DEFAULT_PROFILE);
    let store = ProfileStore::new(home.profiles_dir());
    if !store.dir().exists() || (profile::is_builtin(name) && !store.exists(name)) {
        profile::ensure_builtin(&store).map_err(|e| Failure::error(e.to_string()))?;
    }
    let (resolved, warnings) = store
        .resolve_with_warnings(name)
        .map_err(|e| Failure::error(e.to_string()))?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(resolved)
}

/// What a run needs, made before anything is sent.
struct Prepared {
    engine: engine::Engine,
    request: ChatRequest,
    /// The session `--resume` continues; its messages come before the prompt.
    resumed: Option<ResumedSession>,
    /// The `--set` settings.
    overrides: Settings,
}

/// The session `--resume [ID]` asks for (`Some("")`: the latest), read and made
/// ready to continue. Shared with the interactive chat.
pub fn load_resumed(resume: Option<&str>, home: &Home) -> Result<Option<ResumedSession>, Failure> {
    let Some(id) = resume else { return Ok(None) };
    let id = match id {
        "" => archive::latest(home)
            .map_err(|e| Failure::error(e.to_string()))?
            .ok_or_else(|| {
                Failure::error(
                    archive::ArchiveError::NoSessions {
                        dir: home.sessions_dir(),
                    }
                    .to_string(),
                )
            })?,
        id => id.to_string(),
    };
    archive::resume(home, &id)
        .map(Some)
        .map_err(|e| Failure::error(e.to_string()))
}

/// Everything before the engine runs: settings, prompt, resumed session, target,
/// engine. Each failure carries its exit code.
fn prepare(args: &RunArgs, home: &Home) -> Result<Prepared, Failure> {
    let overrides = parse_overrides(&args.set)?;
    let prompt = read_prompt(args.prompt.clone())?;
    let resumed = load_resumed(args.resume.as_deref(), home)?;
    if let Some(session) = &resumed {
        if session.skipped_lines > 0 {
            eprintln!(
                "baton: session {}: {} unreadable line(s) skipped; resuming from the rest",
                session.id, session.skipped_lines
            );
        }
    }
    let resolved = resolve_target(
        args,
        home,
        resumed.as_ref().and_then(|r| r.profile.as_deref()),
    )?;
    let engine =
        engine::build_engine(&resolved, &overrides).map_err(|e| Failure::error(e.to_string()))?;
    // Load balancers remember breakers, TPM and metrics between runs.
    if resolved.is_balanced() {
        if let Some(warning) = engine.persist_in(&home.state_dir()) {
            tracing::warn!("{warning}");
        }
    }
    let mut messages = resumed
        .as_ref()
        .map(|r| r.messages.clone())
        .unwrap_or_default();
    messages.push(Message::user(prompt));
    let request = ChatRequest {
        messages,
        stream: !args.no_stream,
    };
    Ok(Prepared {
        engine,
        request,
        resumed,
        overrides,
    })
}

/// Runs one prompt to completion and returns the exit code.
pub async fn run(args: RunArgs, home: &Home) -> Exit {
    let Prepared {
        engine,
        request,
        resumed,
        overrides,
    } = match prepare(&args, home) {
        Ok(ready) => ready,
        Err(failure) => {
            eprintln!("baton: {}", failure.message);
            return failure.exit;
        }
    };
    // The archive lives until this function returns: every way out (answer, error,
    // Ctrl-C) drops it, which flushes.
    let archive = Archive::start(&ArchiveConfig::from_settings(home, &overrides));
    let session_id = resumed
        .as_ref()
        .map(|r| r.id.clone())
        .unwrap_or_else(archive::new_session_id);
    let mut log = SessionLog::new(archive.handle(), session_id);
    log.started(engine.profile(), resumed.is_some());
    if let Some(prompt) = request.messages.last() {
        log.user(&prompt.content);
    }
    let mut out: Box<dyn Output> = match args.output_format {
        OutputFormat::Text => Box::new(TextOutput::new(io::stdout())),
        OutputFormat::Json => Box::new(JsonOutput::new(io::stdout())),
    };
    let mut events = Box::pin(engine.run(request));
    let exit = loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break Exit::Error };
                log.engine_event(&event);
                match out.event(&event) {
                    Ok(Some(exit)) => break exit,
                    Ok(None) => {}
                    // The reader went away (`| head`): stop quietly.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break Exit::Complete,
                    Err(e) => {
                        eprintln!("baton: cannot write the answer: {e}");
                        break Exit::Error;
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => {
                drop(events);
                out.cancelled();
                eprintln!("baton: interrupted");
                return Exit::Interrupted;
            }
        }
    };
    if engine.is_persistent() {
        log.stats(engine.profile(), engine.snapshot());
    }
    if args.stats {
        eprint!("\n{}", engine.stats_lb());
    }
    exit
}

/// The message for an exhausted run: each backend and its last reason.
pub fn exhausted_message(reasons: &[BackendFailure]) -> String {
    exhausted(reasons).1
}

/// The exit code and message for an exhausted run.
fn exhausted(reasons: &[BackendFailure]) -> (Exit, String) {
    let all_transient =
        !reasons.is_empty() && reasons.iter().all(|r| r.class == ErrorClass::Transient);
    let mut message = if reasons.len() == 1 {
        format!("{} failed: {}", reasons[0].backend, reasons[0].reason)
    } else {
        let mut m = String::from("every backend failed:");
        for r in reasons {
            m.push_str(&format!("\n  {}: {}", r.backend, r.reason));
        }
        m
    };
    if reasons.is_empty() {
        message = "the profile has no backends".into();
    }
    (
        if all_transient {
            Exit::Unavailable
        } else {
            Exit::Error
        },
        message,
    )
}

/// A consumer of engine events for one-shot mode.
trait Output {
    /// Handles one event; `Some(exit)` ends the run.
    fn event(&mut self, event: &EngineEvent) -> io::Result<Option<Exit>>;
    /// The run was cancelled with Ctrl-C.
    fn cancelled(&mut self);
}

/// Streams the answer's text; errors go to stderr.
struct TextOutput<W: Write> {
    out: W,
    ends_with_newline: bool,
    wrote: bool,
}

impl<W: Write> TextOutput<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            ends_with_newline: true,
            wrote: false,
        }
    }

    fn close_line(&mut self) -> io::Result<()> {
        if self.wrote && !self.ends_with_newline {
            self.out.write_all(b"\n")?;
            self.ends_with_newline = true;
        }
        self.out.flush()
    }
}

impl<W: Write> Output for TextOutput<W> {
    fn event(&mut self, event: &EngineEvent) -> io::Result<Option<Exit>> {
        match event {
            EngineEvent::Delta { text } => {
                self.out.write_all(text.as_bytes())?;
                self.out.flush()?;
                self.wrote = true;
                self.ends_with_newline = text.ends_with('\n');
                Ok(None)
            }
            EngineEvent::Done { .. } => {
                self.close_line()?;
                Ok(Some(Exit::Complete))
            }
            EngineEvent::Interrupted { provenance, reason } => {
                self.close_line()?;
                eprintln!(
                    "baton: the answer from {} was interrupted and is incomplete: {reason}",
                    provenance.backend
                );
                Ok(Some(Exit::Error))
            }
            EngineEvent::Exhausted { reasons } => {
                let (exit, message) = exhausted(reasons);
                eprintln!("baton: {message}");
                Ok(Some(exit))
            }
            EngineEvent::AttemptStarted { .. }
            | EngineEvent::Usage { .. }
            | EngineEvent::AttemptFailed { .. }
            | EngineEvent::Skipped { .. }
            | EngineEvent::Breaker { .. } => Ok(None),
        }
    }

    fn cancelled(&mut self) {
        let _ = self.close_line();
    }
}

/// Collects the answer and prints one JSON object at the end.
struct JsonOutput<W: Write> {
    out: W,
    answer: String,
}

impl<W: Write> JsonOutput<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            answer: String::new(),
        }
    }

    fn answer_json(&self, provenance: &Provenance, status: &str) -> serde_json::Value {
        json!({
            "status": status,
            "answer": self.answer,
            "backend": provenance.backend,
            "provider": provenance.provider,
            "model": provenance.model,
            "usage": provenance.usage,
            "latency_ms": provenance.latency_ms,
            "first_chunk_ms": provenance.first_chunk_ms,
            "attempts": provenance.attempts,
            "failovers": provenance.failovers,
        })
    }

    fn print(&mut self, value: &serde_json::Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl<W: Write> Output for JsonOutput<W> {
    fn event(&mut self, event: &EngineEvent) -> io::Result<Option<Exit>> {
        match event {
            EngineEvent::Delta { text } => {
                self.answer.push_str(text);
                Ok(None)
            }
            EngineEvent::Done { provenance } => {
                let value = self.answer_json(provenance, "complete");
                self.print(&value)?;
                Ok(Some(Exit::Complete))
            }
            EngineEvent::Interrupted { provenance, reason } => {
                let mut value = self.answer_json(provenance, "interrupted");
                value["error"] = json!(reason);
                self.print(&value)?;
                eprintln!(
                    "baton: the answer from {} was interrupted and is incomplete: {reason}",
                    provenance.backend
                );
                Ok(Some(Exit::Error))
            }
            EngineEvent::Exhausted { reasons } => {
                let (exit, message) = exhausted(reasons);
                self.print(&json!({ "status": "failed", "error": message, "reasons": reasons }))?;
                eprintln!("baton: {message}");
                Ok(Some(exit))
            }
            EngineEvent::AttemptStarted { .. }
            | EngineEvent::Usage { .. }
            | EngineEvent::AttemptFailed { .. }
            | EngineEvent::Skipped { .. }
            | EngineEvent::Breaker { .. } => Ok(None),
        }
    }

    fn cancelled(&mut self) {
        let _ = self.print(&json!({ "status": "cancelled", "answer": self.answer }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Usage;

    fn provenance() -> Provenance {
        Provenance {
            backend: "a".into(),
            provider: "sim".into(),
            model: "sim-fast".into(),
            attempts: 2,
            failovers: 1,
            latency_ms: 12,
            first_chunk_ms: 5,
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
                estimated: false,
            },
        }
    }

    fn failure(backend: &str, class: ErrorClass) -> BackendFailure {
        BackendFailure {
            backend: backend.into(),
            class,
            reason: "503 Service Unavailable".into(),
        }
    }

    #[test]
    fn text_output_streams_and_ends_the_line() {
        let mut out = TextOutput::new(Vec::new());
        assert_eq!(
            out.event(&EngineEvent::Delta { text: "Hel".into() })
                .unwrap(),
            None
        );
        out.event(&EngineEvent::Delta { text: "lo".into() })
            .unwrap();
        let exit = out
            .event(&EngineEvent::Done {
                provenance: provenance(),
            })
            .unwrap();
        assert_eq!(exit, Some(Exit::Complete));
        assert_eq!(String::from_utf8(out.out).unwrap(), "Hello\n");
    }

    #[test]
    fn interrupted_is_an_error() {
        let mut out = TextOutput::new(Vec::new());
        out.event(&EngineEvent::Delta { text: "par".into() })
            .unwrap();
        let exit = out
            .event(&EngineEvent::Interrupted {
                provenance: provenance(),
                reason: "cut".into(),
            })
            .unwrap();
        assert_eq!(exit, Some(Exit::Error));
    }

    #[test]
    fn exhausted_is_75_only_when_every_reason_was_transient() {
        let all = [
            failure("a", ErrorClass::Transient),
            failure("b", ErrorClass::Transient),
        ];
        let (exit, message) = exhausted(&all);
        assert_eq!(exit, Exit::Unavailable);
        assert_eq!(
            message,
            "every backend failed:\n  a: 503 Service Unavailable\n  b: 503 Service Unavailable"
        );
        let mixed = [
            failure("a", ErrorClass::Transient),
            failure("b", ErrorClass::Auth),
        ];
        assert_eq!(exhausted(&mixed).0, Exit::Error);
    }

    #[test]
    fn json_output_prints_one_object_with_provenance() {
        let mut out = JsonOutput::new(Vec::new());
        out.event(&EngineEvent::Delta { text: "Hi".into() })
            .unwrap();
        out.event(&EngineEvent::Done {
            provenance: provenance(),
        })
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out.out).unwrap();
        assert_eq!(value["answer"], "Hi");
        assert_eq!(value["backend"], "a");
        assert_eq!(value["attempts"], 2);
        assert_eq!(value["usage"]["output_tokens"], 2);
        assert_eq!(value["status"], "complete");
    }

    #[test]
    fn bad_set_flags_are_usage_errors() {
        let err = parse_overrides(&["timeout_ms".into()]).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.message.contains("KEY=VALUE"));
    }
}
