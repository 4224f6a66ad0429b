//! Slash commands: pure functions over a [`Session`].
//!
//! [`execute`] takes the typed line (`/set timeout_ms 5000`) and returns a
//! [`CommandOutput`]: text to show inline (an error or not) and, for the few
//! commands that act on the UI itself or need its engine (`/retry`, `/clear`,
//! `/stats lb`, `/resume`, `/quit`), an [`Action`].
//! Nothing here touches the terminal, so every command is unit-tested without a UI.
//! [`complete`] does Tab completion of command names, setting keys and profile
//! names; [`SlashCommand`]'s order is the order `/help` and the popup show.
//! Every user-facing string lives in [`strings`].

mod profile;
mod sessions;
mod set;
mod stats;
pub(crate) mod strings;
mod target;

use crate::archive::ResumedSession;
use crate::session::Session;

/// Every slash command, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlashCommand {
    /// `/set`: view and change settings.
    Set,
    /// `/profile`: save, load, list, show and delete profiles.
    Profile,
    /// `/provider`: show or switch the provider.
    Provider,
    /// `/model`: show or switch the model.
    Model,
    /// `/stats`: session totals, or `/stats lb`.
    Stats,
    /// `/sessions`: list stored conversations.
    Sessions,
    /// `/resume [ID]`: continue a stored conversation (the latest other one).
    Resume,
    /// `/retry`: send the last prompt again (after an interruption, to the next backend).
    Retry,
    /// `/system [TEXT|off]`: show, set or clear the system prompt.
    System,
    /// `/role [NAME|list|off]`: use a role (a stored system prompt and settings).
    Role,
    /// `/attach [PATH|off]`: add a text file to the next prompt.
    Attach,
    /// `/copy [code]`: copy the last answer (or its last code block).
    Copy,
    /// `/clear`: forget the conversation.
    Clear,
    /// `/help`: list commands.
    Help,
    /// `/quit`: leave.
    Quit,
}

impl SlashCommand {
    /// Every command, in display order.
    pub(crate) const ALL: [SlashCommand; 15] = [
        Self::Set,
        Self::Profile,
        Self::Provider,
        Self::Model,
        Self::System,
        Self::Role,
        Self::Attach,
        Self::Stats,
        Self::Sessions,
        Self::Resume,
        Self::Retry,
        Self::Copy,
        Self::Clear,
        Self::Help,
        Self::Quit,
    ];

    /// The name typed after `/`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Set => "set",
            Self::Profile => "profile",
            Self::Provider => "provider",
            Self::Model => "model",
            Self::Stats => "stats",
            Self::Sessions => "sessions",
            Self::Resume => "resume",
            Self::Retry => "retry",
            Self::System => "system",
            Self::Role => "role",
            Self::Attach => "attach",
            Self::Copy => "copy",
            Self::Clear => "clear",
            Self::Help => "help",
            Self::Quit => "quit",
        }
    }

    /// One line for the popup and `/help`.
    pub(crate) fn description(self) -> &'static str {
        strings::description(self)
    }

    /// The usage line for `/help`.
    pub(crate) fn usage(self) -> &'static str {
        strings::usage(self)
    }

    /// The command named `name` (without `/`); `exit` is accepted for `/quit`.
    pub(crate) fn from_name(name: &str) -> Option<SlashCommand> {
        if name == "exit" {
            return Some(Self::Quit);
        }
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Commands whose name starts with `prefix` (without `/`).
    pub(crate) fn matching(prefix: &str) -> Vec<SlashCommand> {
        Self::ALL
            .into_iter()
            .filter(|c| c.name().starts_with(prefix))
            .collect()
    }
}

/// Something a command asks the UI to do beyond showing text.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send the last prompt again (to the next backend after an interruption).
    Retry,
    /// Clear the transcript (the session's conversation is already cleared).
    Clear,
    /// Copy part of the last answer to the clipboard.
    Copy(CopyWhat),
    /// Show the load balancer's `/stats lb` block: breakers, TPM and metrics live
    /// in the engine, which the UI holds and the commands do not.
    ShowLbStats,
    /// Show the stored conversation the session now continues (its messages, id
    /// and profile are switched already) in place of the transcript.
    Resume(Box<ResumedSession>),
    /// Leave the chat.
    Quit,
}

/// What `/copy` copies from the last answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyWhat {
    /// All of it (`/copy`).
    Answer,
    /// Its last code block (`/copy code`).
    LastCode,
    /// Its code block N, from 1, as numbered on screen (`/copy N`).
    Code(usize),
}

/// What a command returns.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutput {
    /// Text to show inline (may be several lines; empty for none).
    pub text: String,
    /// True when the command failed; the UI shows the text as an error.
    pub is_error: bool,
    /// What the UI should do besides showing the text.
    pub action: Option<Action>,
}

impl CommandOutput {
    /// Plain output.
    pub(crate) fn info(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            is_error: false,
            action: None,
        }
    }

    /// An error, shown inline.
    pub(crate) fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            is_error: true,
            action: None,
        }
    }

    /// An action for the UI, with no text.
    pub(crate) fn action(action: Action) -> Self {
        Self {
            text: String::new(),
            is_error: false,
            action: Some(action),
        }
    }
}

/// True when `line` is a slash command rather than a prompt.
pub(crate) fn is_command(line: &str) -> bool {
    line.trim_start().starts_with('/')
}

/// Splits the first whitespace-separated word off `s`, returning it and the rest
/// (trimmed at the start), so values can keep their inner spaces.
pub(crate) fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Runs one slash command line against `session`.
pub fn execute(session: &mut Session, line: &str) -> CommandOutput {
    let line = line.trim();
    let Some(body) = line.strip_prefix('/') else {
        return CommandOutput::error(strings::not_a_command(line));
    };
    let (name, args) = split_word(body);
    let Some(command) = SlashCommand::from_name(name) else {
        return CommandOutput::error(strings::unknown_command(name));
    };
    match command {
        SlashCommand::Set => set::execute(session, args),
        SlashCommand::Profile => profile::execute(session, args),
        SlashCommand::Provider => target::provider(session, args),
        SlashCommand::Model => target::model(session, args),
        SlashCommand::Stats => stats::execute(session, args),
        SlashCommand::Sessions => sessions::list(session, args),
        SlashCommand::Resume => sessions::resume(session, args),
        SlashCommand::Retry => CommandOutput::action(Action::Retry),
        SlashCommand::System => system(session, args),
        SlashCommand::Role => role(session, args),
        SlashCommand::Attach => attach(session, args),
        SlashCommand::Copy => match args.trim() {
            "" => CommandOutput::action(Action::Copy(CopyWhat::Answer)),
            "code" => CommandOutput::action(Action::Copy(CopyWhat::LastCode)),
            other => match other.parse::<usize>() {
                Ok(n) if n >= 1 => CommandOutput::action(Action::Copy(CopyWhat::Code(n))),
                _ => CommandOutput::error(strings::copy_usage(other)),
            },
        },
        SlashCommand::Clear => {
            session.clear_messages();
            CommandOutput {
                text: strings::CLEARED.to_string(),
                is_error: false,
                action: Some(Action::Clear),
            }
        }
        SlashCommand::Help => CommandOutput::info(help_text()),
        SlashCommand::Quit => CommandOutput::action(Action::Quit),
    }
}

/// `/system`: the system prompt, through the `system-prompt` setting so a
/// profile save keeps it and the archive records the change.
fn system(session: &mut Session, args: &str) -> CommandOutput {
    const KEY: &str = "system-prompt";
    match args.trim() {
        "" => match session.settings().get(KEY).and_then(|v| v.as_str()) {
            Some(text) => CommandOutput::info(strings::system_current(text)),
            None => CommandOutput::info(strings::SYSTEM_NONE),
        },
        "off" => {
            session.unset(KEY);
            CommandOutput::info(strings::SYSTEM_CLEARED)
        }
        text => match session.set(KEY, text) {
            Ok(()) => CommandOutput::info(strings::SYSTEM_SET),
            Err(e) => CommandOutput::error(e.to_string()),
        },
    }
}

/// `/role`: the roles in `~/.baton/roles`, one in use, or none.
fn role(session: &mut Session, args: &str) -> CommandOutput {
    let Some(home) = session.home().cloned() else {
        return CommandOutput::error(strings::ROLE_NO_HOME);
    };
    match args.trim() {
        "" | "list" => {
            let names = crate::roles::list(&home);
            CommandOutput::info(strings::role_list(
                &names,
                session.role(),
                &home.roles_dir(),
            ))
        }
        "off" => match session.drop_role() {
            Some(name) => CommandOutput::info(strings::role_off(&name)),
            None => CommandOutput::info(strings::ROLE_NONE),
        },
        name => match crate::roles::load(&home, name) {
            Ok(role) => {
                let (name, count) = (role.name.clone(), role.settings.len());
                match session.use_role(role) {
                    Ok(()) => CommandOutput::info(strings::role_on(&name, count)),
                    Err(e) => CommandOutput::error(e.to_string()),
                }
            }
            Err(e) => CommandOutput::error(e.to_string()),
        },
    }
}

/// `/attach`: files for the next prompt.
fn attach(session: &mut Session, args: &str) -> CommandOutput {
    match args.trim() {
        "" => {
            let waiting: Vec<String> = session.attachments().iter().map(|a| a.summary()).collect();
            CommandOutput::info(strings::attachments(&waiting))
        }
        "off" => {
            let dropped = session.take_attachments().len();
            CommandOutput::info(strings::attachments_dropped(dropped))
        }
        path => {
            let cwd = std::env::current_dir().unwrap_or_default();
            match crate::attach::read(path, &cwd) {
                Ok(file) => {
                    let summary = file.summary();
                    session.attach(file);
                    CommandOutput::info(strings::attached(&summary))
                }
                Err(e) => CommandOutput::error(e.to_string()),
            }
        }
    }
}

/// `/help`: every command with its usage and description, then the keys.
pub(crate) fn help_text() -> String {
    let mut out = String::from(strings::HELP_HEADER);
    for c in SlashCommand::ALL {
        out.push_str(&format!("\n  {:<46} {}", c.usage(), c.description()));
    }
    out.push('\n');
    out.push_str(strings::HELP_KEYS);
    out
}

/// What Tab could put in place of the last word of `input`: command names, `/set`
/// keys, `/profile` subcommands, profile names, policies, session ids, providers.
/// Returns the words before it and the matching candidates.
fn completions<'a>(session: &Session, input: &'a str) -> Option<(Vec<&'a str>, Vec<String>)> {
    let body = input.strip_prefix('/')?;
    let words: Vec<&str> = body.split(' ').collect();
    let (last, before) = words.split_last()?;
    let before = before.to_vec();
    let candidates: Vec<String> = match before.as_slice() {
        [] => SlashCommand::ALL
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        ["set"] => std::iter::once("unset")
            .chain(std::iter::once("modelparam"))
            .chain(crate::config::keys())
            .map(str::to_string)
            .collect(),
        ["set", "unset"] => session
            .settings()
            .iter()
            .map(|(k, _)| k.to_string())
            .collect(),
        ["profile"] => profile::SUBCOMMANDS.iter().map(|s| s.to_string()).collect(),
        ["profile", "load" | "show" | "delete"] => session.store().list().unwrap_or_default(),
        ["profile", "save"] => vec!["model".into(), "loadbalancer".into()],
        ["profile", "save", "loadbalancer", _] => crate::profile::Policy::ALL
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        ["profile", "save", "loadbalancer", _, _, ..] => session.store().list().unwrap_or_default(),
        ["stats"] => vec!["lb".into()],
        ["attach"] => {
            let cwd = std::env::current_dir().unwrap_or_default();
            crate::attach::complete_path(last, &cwd)
        }
        ["role"] => {
            let mut names = vec!["list".to_string(), "off".to_string()];
            names.extend(session.home().map(crate::roles::list).unwrap_or_default());
            names
        }
        ["resume"] => session
            .home()
            .and_then(|home| crate::archive::sessions::session_ids(home).ok())
            .unwrap_or_default(),
        ["provider"] => crate::provider::known_providers()
            .into_iter()
            .map(str::to_string)
            .collect(),
        _ => return None,
    };
    let matching = candidates
        .into_iter()
        .filter(|c| c.starts_with(*last) && !c.is_empty())
        .collect();
    Some((before, matching))
}

/// Every candidate Tab chooses between for `input` (for listing when several fit).
pub(crate) fn candidates(session: &Session, input: &str) -> Vec<String> {
    completions(session, input).map_or_else(Vec::new, |(_, matching)| matching)
}

/// Tab completion of `input`: the completed input, or `None` when nothing fits or
/// nothing more can be added (several candidates share no longer prefix).
pub(crate) fn complete(session: &Session, input: &str) -> Option<String> {
    let (before, matching) = completions(session, input)?;
    let first = matching.first()?;
    let mut common = first.to_string();
    for m in &matching[1..] {
        let n = common
            .chars()
            .zip(m.chars())
            .take_while(|(a, b)| a == b)
            .count();
        common = common.chars().take(n).collect();
    }
    let mut out = String::from("/");
    for w in before {
        out.push_str(w);
        out.push(' ');
    }
    out.push_str(&common);
    if matching.len() == 1 {
        out.push(' ');
    }
    if out == input {
        return None;
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::profile::{self, ProfileStore};
    use crate::session::Session;

    /// A session on the built-in `demo` profile in a fresh temp home.
    pub(crate) fn demo_session() -> (tempfile::TempDir, Session) {
        let tmp = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(tmp.path().join("profiles"));
        profile::ensure_builtin(&store).unwrap();
        let resolved = store.resolve("demo").unwrap();
        (tmp, Session::new(store, resolved))
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::demo_session;
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_display_order() {
        for c in SlashCommand::ALL {
            assert_eq!(SlashCommand::from_name(c.name()), Some(c));
        }
        assert_eq!(SlashCommand::matching("pr").len(), 2);
        assert_eq!(SlashCommand::from_name("exit"), Some(SlashCommand::Quit));
    }

    #[test]
    fn unknown_command_is_an_inline_error() {
        let (_tmp, mut s) = demo_session();
        let out = execute(&mut s, "/frobnicate");
        assert!(out.is_error);
        assert!(out.text.contains("/help"), "{}", out.text);
    }

    #[test]
    fn ui_commands_return_actions() {
        let (_tmp, mut s) = demo_session();
        assert_eq!(execute(&mut s, "/quit").action, Some(Action::Quit));
        assert_eq!(execute(&mut s, "/retry").action, Some(Action::Retry));
        s.push_user("hi");
        assert_eq!(execute(&mut s, "/clear").action, Some(Action::Clear));
        assert!(s.messages().is_empty());
    }

    #[test]
    fn role_uses_lists_and_drops_a_role() {
        let (tmp, s) = demo_session();
        let home = crate::home::Home::at(tmp.path());
        let mut s = s.with_home(home.clone());
        let out = execute(&mut s, "/role");
        assert!(
            out.text
                .starts_with("no roles yet: write one as NAME.md in"),
            "{}",
            out.text
        );
        std::fs::create_dir_all(home.roles_dir()).unwrap();
        std::fs::write(
            home.roles_dir().join("terse.md"),
            "---\ntimeout_ms: 45000\n---\nBe terse.\n",
        )
        .unwrap();
        let out = execute(&mut s, "/role terse");
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(
            s.settings().get("system-prompt").and_then(|v| v.as_str()),
            Some("Be terse.")
        );
        assert_eq!(
            s.settings().get("timeout_ms").and_then(|v| v.as_u64()),
            Some(45_000)
        );
        assert!(execute(&mut s, "/role list").text.contains("▸ terse"));
        assert_eq!(complete(&s, "/role t").as_deref(), Some("/role terse "));
        let out = execute(&mut s, "/role off");
        assert_eq!(
            out.text,
            "role terse off: its system prompt and settings are cleared"
        );
        assert!(s.settings().get("system-prompt").is_none());
        assert!(s.settings().get("timeout_ms").is_none());
        let out = execute(&mut s, "/role nope");
        assert!(
            out.is_error && out.text.contains("known roles: terse"),
            "{}",
            out.text
        );
    }

    #[test]
    fn help_lists_every_command() {
        let text = help_text();
        for c in SlashCommand::ALL {
            assert!(text.contains(&format!("/{}", c.name())), "{}", c.name());
        }
    }

    #[test]
    fn tab_completes_commands_keys_and_profiles() {
        let (_tmp, s) = demo_session();
        // /set and /sessions share "se".
        assert_eq!(complete(&s, "/se"), None);
        assert_eq!(complete(&s, "/set").as_deref(), Some("/set "));
        assert_eq!(complete(&s, "/ses").as_deref(), Some("/sessions "));
        assert_eq!(complete(&s, "/p").as_deref(), Some("/pro"));
        assert_eq!(
            complete(&s, "/set tpm").as_deref(),
            Some("/set tpm_threshold ")
        );
        assert_eq!(
            complete(&s, "/set circuit_breaker_e").as_deref(),
            Some("/set circuit_breaker_enabled ")
        );
        // demo-fast and demo-flaky share "demo-f": nothing more to add.
        assert_eq!(complete(&s, "/profile load demo-f"), None);
        assert_eq!(
            complete(&s, "/profile load demo-fa").as_deref(),
            Some("/profile load demo-fast ")
        );
        assert_eq!(complete(&s, "/zzz"), None);
        assert_eq!(complete(&s, "hello"), None);
    }
}
