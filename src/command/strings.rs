//! Every user-facing string of the slash commands, in one place.
//!
//! Errors from the settings registry and the profile store are shown as those
//! modules word them; what is here is the commands' own wording.

use super::SlashCommand;

/// One line per command for the popup and `/help`.
pub(crate) fn description(c: SlashCommand) -> &'static str {
    match c {
        SlashCommand::Set => "show or change settings (help with /set KEY)",
        SlashCommand::Profile => "save, load, list, show or delete profiles",
        SlashCommand::Provider => "show or switch the provider",
        SlashCommand::Model => "show or switch the model",
        SlashCommand::Stats => "session totals; /stats lb for the load balancer",
        SlashCommand::Sessions => "list stored conversations",
        SlashCommand::Resume => "continue a stored conversation (latest if no ID)",
        SlashCommand::Retry => "resend the last prompt (next backend if interrupted)",
        SlashCommand::System => "show, set or clear (off) the system prompt",
        SlashCommand::Role => "use a role: a system prompt (and settings) from ~/.baton/roles",
        SlashCommand::Attach => "add a text file to the next prompt (or write @path in it)",
        SlashCommand::Copy => "copy the last answer, its last code block, or code block N",
        SlashCommand::Clear => "forget the conversation and clear the screen",
        SlashCommand::Help => "this list",
        SlashCommand::Quit => "leave baton (also Ctrl-D, or Ctrl-C twice)",
    }
}

/// The usage line of each command.
pub(crate) fn usage(c: SlashCommand) -> &'static str {
    match c {
        SlashCommand::Set => "/set [KEY [VALUE]] | unset K | modelparam K V",
        SlashCommand::Profile => "/profile save|load|list|show|delete ...",
        SlashCommand::Provider => "/provider [NAME [MODEL]]",
        SlashCommand::Model => "/model [NAME]",
        SlashCommand::Stats => "/stats [lb]",
        SlashCommand::Sessions => "/sessions",
        SlashCommand::Resume => "/resume [ID]",
        SlashCommand::Retry => "/retry",
        SlashCommand::System => "/system [TEXT | off]",
        SlashCommand::Role => "/role [NAME|list|off]",
        SlashCommand::Attach => "/attach [PATH|off]",
        SlashCommand::Copy => "/copy [code|N]",
        SlashCommand::Clear => "/clear",
        SlashCommand::Help => "/help",
        SlashCommand::Quit => "/quit",
    }
}

/// First line of `/help`.
pub(crate) const HELP_HEADER: &str = "Commands:";

/// The keys part of `/help`.
pub(crate) const HELP_KEYS: &str = "\
Keys:
  Enter send · Alt-Enter or Ctrl-J newline (Shift-Enter where the terminal reports it)
  Up/Down or Ctrl-R prompt history · Ctrl-K/Ctrl-U cut, Ctrl-Y puts it back
  Home/End, Ctrl-Left/Right, Alt-b/f move · Tab completes · Ctrl-T shows reasoning
  Ctrl-G (or Ctrl-X Ctrl-E) edits the prompt in $EDITOR
  PgUp/PgDn, mouse wheel, Ctrl-Home/End scroll · Esc/Ctrl-C cancel an answer
  //text sends a message that starts with / (a path like /usr/bin/x is sent as typed)
  Ctrl-C twice on an empty prompt, Ctrl-D or /quit leave";

/// A resumed session was cleared at some point.
pub(crate) const RESUMED_AFTER_CLEAR: &str =
    "the conversation was cleared (/clear) in this session; only what came after is shown and sent";

/// `/system` with no prompt set.
pub(crate) const SYSTEM_NONE: &str = "no system prompt; /system TEXT sets one for this chat";
/// `/system TEXT` done.
pub(crate) const SYSTEM_SET: &str = "system prompt set; it is sent with every prompt from now on";
/// `/system off` done.
pub(crate) const SYSTEM_CLEARED: &str = "system prompt cleared";

/// `/attach PATH` worked.
pub(crate) fn attached(summary: &str) -> String {
    format!("attached {summary}; it goes with your next prompt (/attach off drops it)")
}

/// `/attach`: what waits for the next prompt.
pub(crate) fn attachments(waiting: &[String]) -> String {
    if waiting.is_empty() {
        return "nothing attached; /attach PATH (or @path in a prompt) adds a text file".into();
    }
    format!("attached for the next prompt: {}", waiting.join(", "))
}

/// `/attach off`.
pub(crate) fn attachments_dropped(n: usize) -> String {
    match n {
        0 => "nothing was attached".into(),
        1 => "dropped 1 attachment".into(),
        n => format!("dropped {n} attachments"),
    }
}

/// What went with a prompt.
pub(crate) fn sent_with(summaries: &[String]) -> String {
    format!("with {}", summaries.join(", "))
}

/// `/role` without a home to keep roles in.
pub(crate) const ROLE_NO_HOME: &str = "roles live in the baton home, and this chat has none";

/// `/role off` with no role in use.
pub(crate) const ROLE_NONE: &str = "no role in use";

/// `/role NAME` worked.
pub(crate) fn role_on(name: &str, settings: usize) -> String {
    match settings {
        0 => format!("role {name}: its system prompt is sent from now on"),
        1 => format!("role {name}: its system prompt and 1 setting apply from now on"),
        n => format!("role {name}: its system prompt and {n} settings apply from now on"),
    }
}

/// `/role off` worked.
pub(crate) fn role_off(name: &str) -> String {
    format!("role {name} off: its system prompt and settings are cleared")
}

/// `/role list`.
pub(crate) fn role_list(names: &[String], active: Option<&str>, dir: &std::path::Path) -> String {
    if names.is_empty() {
        return format!(
            "no roles yet: write one as NAME.md in {} (a system prompt, optionally after a \
             front matter of settings between --- lines)",
            dir.display()
        );
    }
    let mut out = String::from("roles:");
    for name in names {
        let mark = if Some(name.as_str()) == active {
            "▸ "
        } else {
            "  "
        };
        out.push_str(&format!("\n{mark}{name}"));
    }
    out.push_str("\n/role NAME uses one, /role off stops");
    out
}

/// `/system` shows the current one.
pub(crate) fn system_current(text: &str) -> String {
    format!("system prompt:\n{text}")
}

/// `/copy` with an argument it does not know.
pub(crate) fn copy_usage(arg: &str) -> String {
    format!("/copy takes nothing, 'code' or a code block's number (got '{arg}')")
}

/// `/copy` with nothing to copy.
pub(crate) fn nothing_to_copy(what: super::CopyWhat) -> String {
    match what {
        super::CopyWhat::Answer => "there is no answer to copy yet".into(),
        super::CopyWhat::LastCode => "the last answer has no code block to copy".into(),
        super::CopyWhat::Code(n) => format!("the last answer has no code block {n}"),
    }
}

/// `/copy` done: how much, and the caveat of the escape sequence it uses.
pub(crate) fn copied(chars: usize, what: &str) -> String {
    format!(
        "copied {what} ({chars} characters) to the clipboard through the terminal (OSC 52); \
         if nothing arrives, your terminal does not allow it: baton sessions export has the text"
    )
}

/// Printed after the chat closes, when the conversation was archived.
pub(crate) fn left_session(id: &str, flushed: bool) -> String {
    // Short enough for one line of a usual terminal, next to the long id.
    let mut line = format!("session {id} saved · baton --resume {id} continues it");
    if !flushed {
        line.push_str(" (the disk was slow: its last records may be missing)");
    }
    line
}

/// `/clear` done.
pub(crate) const CLEARED: &str = "Conversation cleared.";

/// The line does not start with `/`.
pub(crate) fn not_a_command(line: &str) -> String {
    format!("'{line}' is not a command; commands start with /")
}

/// No such command.
pub(crate) fn unknown_command(name: &str) -> String {
    let as_text = format!("//{name} sends it as a message");
    match nearest_command(name) {
        Some(near) => format!("unknown command /{name}; did you mean /{near}? ({as_text})"),
        None => {
            let names: Vec<String> = SlashCommand::ALL
                .iter()
                .map(|c| format!("/{}", c.name()))
                .collect();
            format!(
                "unknown command /{name}; commands: {} (see /help; {as_text})",
                names.join(", ")
            )
        }
    }
}

/// The command a typo most likely meant: within two edits, or one the typed name
/// starts.
fn nearest_command(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    SlashCommand::ALL
        .iter()
        .map(|c| (edit_distance(&name, c.name()), c.name()))
        .filter(|(d, n)| *d <= 2 || (name.len() >= 3 && n.starts_with(&name)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, for short command names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

// ---- /set ----

/// `/set` with nothing set.
pub(crate) fn set_nothing(profile: &str) -> String {
    format!(
        "No settings set for profile {profile}; every setting has its default.\n\
         /set KEY shows a setting's help; `baton settings` lists them all."
    )
}

/// Heading of the `/set` listing.
pub(crate) fn set_listing_header(profile: &str) -> String {
    format!("Settings (profile {profile}):")
}

/// Heading of the model parameters in the `/set` listing.
pub(crate) const SET_MODEL_PARAMS_HEADER: &str = "Model parameters:";

/// A value was set.
pub(crate) fn set_done(key: &str, shown: &str) -> String {
    format!("{key} = {shown}")
}

/// `/set KEY`'s current-value line.
pub(crate) fn set_current(shown: Option<&str>) -> String {
    match shown {
        Some(v) => format!("  current: {v}"),
        None => "  current: unset".to_string(),
    }
}

/// `/set unset KEY` cleared a value.
pub(crate) fn unset_done(key: &str, default: Option<&str>) -> String {
    match default {
        Some(d) => format!("{key} unset (default {d} applies)"),
        None => format!("{key} unset"),
    }
}

/// `/set unset KEY` for a key that was not set.
pub(crate) fn unset_not_set(key: &str) -> String {
    format!("{key} was not set")
}

/// `/set unset` without a key.
pub(crate) const UNSET_USAGE: &str = "usage: /set unset KEY";

/// `/set modelparam` without both parts.
pub(crate) const MODELPARAM_USAGE: &str =
    "usage: /set modelparam KEY VALUE (VALUE as JSON, e.g. 0.7, 512, true, or text)";

/// A model parameter was set.
pub(crate) fn modelparam_done(key: &str, value: &str) -> String {
    format!("modelparam {key} = {value} (sent to every backend)")
}

// ---- /profile ----

/// `/profile` usage.
pub(crate) const PROFILE_USAGE: &str = "\
usage: /profile save model NAME
       /profile save loadbalancer NAME POLICY PROFILE1 PROFILE2 [...]
       /profile load NAME | list | show NAME | delete NAME";

/// `/profile save` usage.
pub(crate) const PROFILE_SAVE_USAGE: &str = "\
usage: /profile save model NAME
       /profile save loadbalancer NAME POLICY PROFILE1 PROFILE2 [...]";

/// A subcommand needs a name.
pub(crate) fn profile_needs_name(sub: &str) -> String {
    format!("usage: /profile {sub} NAME")
}

/// `/profile save model` while a load balancer is active.
pub(crate) fn save_model_from_lb(active: &str) -> String {
    format!(
        "the active profile '{active}' is a load balancer, so there is no single model to save; \
         use /profile save loadbalancer ..., or /profile load a model profile (or /provider) first"
    )
}

/// A model profile was saved.
pub(crate) fn saved_model(name: &str, provider: &str, model: &str, path: &str) -> String {
    format!("Saved model profile {name} ({provider} / {model}) to {path}")
}

/// Protected keys left out of a save.
pub(crate) fn not_saved_protected(keys: &[String]) -> String {
    format!("Not saved (protected): {}", keys.join(", "))
}

/// Backend-scope keys left out of a load-balancer save.
pub(crate) fn not_saved_backend(keys: &[String]) -> String {
    format!(
        "Not saved (backend settings belong in the member profiles): {}",
        keys.join(", ")
    )
}

/// Too few members for a load balancer.
pub(crate) fn lb_too_few(count: usize) -> String {
    format!(
        "a load balancer needs at least two member profiles (got {count}); \
         usage: /profile save loadbalancer NAME POLICY PROFILE1 PROFILE2 [...]"
    )
}

/// Members that do not exist.
pub(crate) fn lb_unknown_members(unknown: &[&str], available: &[String]) -> String {
    let list = if available.is_empty() {
        "none".to_string()
    } else {
        available.join(", ")
    };
    format!(
        "no such profile{}: {}; available: {list}",
        if unknown.len() == 1 { "" } else { "s" },
        unknown.join(", ")
    )
}

/// A load balancer listing itself.
pub(crate) fn lb_lists_itself(name: &str) -> String {
    format!("load balancer '{name}' cannot list itself as a member")
}

/// A load balancer was saved.
pub(crate) fn saved_lb(
    name: &str,
    policy: &str,
    members: &[String],
    keys: &[String],
    path: &str,
) -> String {
    let settings = if keys.is_empty() {
        "no settings".to_string()
    } else {
        format!("settings: {}", keys.join(", "))
    };
    format!(
        "Saved load balancer {name} ({policy} over {}; {settings}) to {path}",
        members.join(", ")
    )
}

/// A profile was loaded.
pub(crate) fn loaded(name: &str, what: &str) -> String {
    format!("Loaded profile {name}: {what}")
}

/// `/profile list` with nothing in it.
pub(crate) fn no_profiles(dir: &str) -> String {
    format!("No profiles in {dir}")
}

/// Heading of `/profile list`.
pub(crate) fn profiles_header(dir: &str) -> String {
    format!("Profiles in {dir} (* active):")
}

/// A profile was deleted.
pub(crate) fn deleted(name: &str) -> String {
    format!("Deleted profile {name}")
}

/// Deleting the active profile.
pub(crate) fn delete_active(name: &str) -> String {
    format!("'{name}' is the active profile; /profile load another one first")
}

// ---- /provider, /model ----

/// `/provider` alone.
pub(crate) fn provider_current(provider: &str, known: &[&str]) -> String {
    format!(
        "Provider: {provider}\nKnown providers: {}\n/provider NAME [MODEL] switches (sim needs no key)",
        known.join(", ")
    )
}

/// `/provider` on a load balancer.
pub(crate) fn provider_lb(profile: &str, providers: &[String]) -> String {
    format!(
        "Profile {profile} is a load balancer over: {}",
        providers.join(", ")
    )
}

/// An unknown provider.
pub(crate) fn provider_unknown(name: &str, known: &[&str]) -> String {
    format!(
        "unknown provider '{name}'; known providers: {}",
        known.join(", ")
    )
}

/// A provider switch without a model.
pub(crate) fn provider_needs_model(name: &str) -> String {
    format!("/provider {name} needs a model: /provider {name} MODEL")
}

/// A switch happened.
pub(crate) fn switched(provider: &str, model: &str) -> String {
    format!(
        "Now using {provider} / {model} (profile settings kept; /profile save model NAME keeps it)"
    )
}

/// `/model` alone.
pub(crate) fn model_current(model: &str, options: &[&str]) -> String {
    if options.is_empty() {
        format!("Model: {model}\n/model NAME switches")
    } else {
        format!(
            "Model: {model}\nModels: {}\n/model NAME switches",
            options.join(", ")
        )
    }
}

/// `/model NAME` on a load balancer.
pub(crate) fn model_on_lb(profile: &str) -> String {
    format!(
        "profile '{profile}' is a load balancer; each member has its own model. \
         /profile load a model profile (or /provider NAME MODEL) to pick one"
    )
}

// ---- /stats ----

/// `/stats` usage.
pub(crate) const STATS_USAGE: &str = "usage: /stats [lb]";

/// `/stats lb` on a model profile, which has no load balancer to report on.
pub(crate) fn stats_lb_needs_lb(profile: &str, what: &str) -> String {
    format!(
        "/stats lb needs a load-balancer profile; the active profile '{profile}' is a \
         model profile ({what}). /profile load a load balancer (demo is one) to see it"
    )
}

/// `/stats lb` when no engine can be built for the active profile.
pub(crate) fn stats_lb_unavailable(reason: &str) -> String {
    format!("cannot show /stats lb: {reason}")
}

// ---- /retry ----

/// `/retry` with nothing to retry.
pub(crate) const NOTHING_TO_RETRY: &str = "nothing to retry: send a prompt first";

/// A prompt sent while an answer streams waits for it.
pub(crate) fn queued(prompt: &str) -> String {
    let first = prompt.lines().next().unwrap_or_default();
    let shown: String = first.chars().take(60).collect();
    let more = if shown.len() < prompt.trim_end().len() {
        "…"
    } else {
        ""
    };
    format!(
        "queued \"{shown}{more}\": it is sent when this answer ends (Esc cancels the answer and gives it back)"
    )
}

/// The queued prompts after a turn without an answer.
pub(crate) const QUEUE_RETURNED: &str = "the last prompt got no answer, so the queued prompts were not sent; they are back in the input";

/// `/retry` while an answer is streaming.
pub(crate) const BUSY: &str = "an answer is in progress; press Esc to cancel it first";

// ---- /sessions, /resume ----

/// `/sessions` or `/resume` without a home (only in tests).
pub(crate) const NO_SESSIONS_HOME: &str =
    "no sessions folder: stored sessions are not available here";

/// `/sessions` with arguments.
pub(crate) const SESSIONS_USAGE: &str = "usage: /sessions";

/// `/resume` with more than an id.
pub(crate) const RESUME_USAGE: &str = "usage: /resume [ID] (ids: /sessions)";

/// `/sessions` with nothing stored.
pub(crate) fn no_sessions(dir: &str) -> String {
    format!("No sessions in {dir}")
}

/// Heading of `/sessions`.
pub(crate) fn sessions_header(dir: &str) -> String {
    format!("Sessions in {dir} (oldest first; /resume ID continues one):")
}

/// `/resume` without an id and no other session.
pub(crate) fn nothing_to_resume(dir: &str) -> String {
    format!("no other session in {dir} to resume")
}

/// A session was resumed (the chat's `--resume` and `/resume`).
pub(crate) fn resumed(id: &str, profile: &str, messages: usize) -> String {
    format!("Resumed session {id} on profile {profile}: {messages} messages of history")
}

/// `/resume` could not restore the session's profile.
pub(crate) fn resume_profile_failed(profile: &str, error: &str, current: &str) -> String {
    format!(
        "  warning: cannot load the session's profile {profile} ({error}); staying on {current}"
    )
}

/// A resumed answer that never completed.
pub(crate) fn resumed_incomplete(backend: &str, reason: &str) -> String {
    format!("incomplete answer from {backend} ({reason}); not part of the history")
}

/// A resumed session whose last prompt got no complete answer.
pub(crate) fn resumed_pending(prompt: &str) -> String {
    let first = prompt.lines().next().unwrap_or_default();
    let mut title: String = first.chars().take(60).collect();
    if first.chars().count() > 60 || prompt.lines().nth(1).is_some() {
        title.push('…');
    }
    format!("the last prompt got no complete answer: \"{title}\"; /retry sends it")
}

/// Lines of a resumed session file that could not be read.
pub(crate) fn resumed_skipped(lines: usize) -> String {
    if lines == 1 {
        "1 unreadable line skipped".to_string()
    } else {
        format!("{lines} unreadable lines skipped")
    }
}

// ---- the archive ----

/// `/set archive on` in a chat that started with the archive off.
pub(crate) const ARCHIVE_ON_NEXT_START: &str = "archive: this chat started with archive off, so it stays unarchived; it is on from the next start";

/// The status bar while the archive cannot write; the error (naming the file)
/// comes last, so a narrow bar cuts the path, not the news.
pub(crate) fn archive_failing(error: &str) -> String {
    format!("archive: cannot write (chat continues): {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_suggests_the_nearest_command_and_how_to_send_text() {
        assert_eq!(
            unknown_command("sytem"),
            "unknown command /sytem; did you mean /system? (//sytem sends it as a message)"
        );
        assert!(unknown_command("stast").contains("did you mean /stats?"));
        let far = unknown_command("frobnicate");
        assert!(
            far.starts_with("unknown command /frobnicate; commands: /set, "),
            "{far}"
        );
        assert!(
            far.ends_with("(see /help; //frobnicate sends it as a message)"),
            "{far}"
        );
    }
}
