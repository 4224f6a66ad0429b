//! `/sessions` and `/resume`: the stored conversations, from the chat.

use super::{Action, CommandOutput, profile, split_word, strings};
use crate::archive;
use crate::session::Session;

/// `/sessions`: the same lines as `baton sessions list`.
pub(super) fn list(session: &Session, args: &str) -> CommandOutput {
    if !args.trim().is_empty() {
        return CommandOutput::error(strings::SESSIONS_USAGE);
    }
    let Some(home) = session.home() else {
        return CommandOutput::error(strings::NO_SESSIONS_HOME);
    };
    let dir = home.sessions_dir().display().to_string();
    match archive::list(home) {
        Ok(sessions) if sessions.is_empty() => CommandOutput::info(strings::no_sessions(&dir)),
        Ok(sessions) => CommandOutput::info(format!(
            "{}\n{}",
            strings::sessions_header(&dir),
            archive::sessions::format_list(&sessions)
        )),
        Err(e) => CommandOutput::error(e.to_string()),
    }
}

/// `/resume [ID]`: continues session ID (without one, the most recent other than
/// this chat's): its messages become the history, new records go to its file, and
/// its profile is loaded when it differs. This chat's own records stay in its file.
pub(super) fn resume(session: &mut Session, args: &str) -> CommandOutput {
    let Some(home) = session.home().cloned() else {
        return CommandOutput::error(strings::NO_SESSIONS_HOME);
    };
    let (id, rest) = split_word(args);
    if !rest.is_empty() {
        return CommandOutput::error(strings::RESUME_USAGE);
    }
    let id = if id.is_empty() {
        match archive::sessions::latest_except(&home, session.session_id()) {
            Ok(Some(id)) => id,
            Ok(None) => {
                let dir = home.sessions_dir().display().to_string();
                return CommandOutput::error(strings::nothing_to_resume(&dir));
            }
            Err(e) => return CommandOutput::error(e.to_string()),
        }
    } else {
        id.to_string()
    };
    let resumed = match archive::resume(&home, &id) {
        Ok(resumed) => resumed,
        Err(e) => return CommandOutput::error(e.to_string()),
    };
    let mut warning = None;
    if let Some(wanted) = resumed
        .profile
        .as_deref()
        .filter(|p| *p != session.profile_name())
    {
        let loaded = profile::load(session, wanted);
        if loaded.is_error {
            warning = Some(strings::resume_profile_failed(
                wanted,
                &loaded.text,
                session.profile_name(),
            ));
        }
    }
    session.resume_from(&resumed);
    let mut text = strings::resumed(&resumed.id, session.profile_name(), resumed.messages.len());
    if let Some(w) = warning {
        text.push('\n');
        text.push_str(&w);
    }
    CommandOutput {
        text,
        is_error: false,
        action: Some(Action::Resume(Box::new(resumed))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{ArchivedProvenance, Event, Record};
    use crate::command::test_support::demo_session;
    use crate::command::{complete, execute};
    use crate::home::Home;
    use crate::provider::{Role, Usage};

    fn answer(content: &str) -> Event {
        Event::Answer {
            content: content.into(),
            provenance: ArchivedProvenance {
                backend: "demo-fast".into(),
                provider: "sim".into(),
                model: "sim-fast".into(),
                attempts: 1,
                failovers: 0,
                latency_ms: 5,
                first_chunk_ms: 1,
                usage: Usage::default(),
            },
            end: Default::default(),
        }
    }

    /// Writes session `id` of `events` into `root/sessions`.
    fn store(root: &std::path::Path, id: &str, events: Vec<Event>) {
        let dir = Home::at(root).sessions_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = events
            .into_iter()
            .map(|e| serde_json::to_string(&Record::new(id, e)).unwrap() + "\n")
            .collect();
        std::fs::write(dir.join(format!("{id}.jsonl")), text).unwrap();
    }

    fn started(profile: &str) -> Event {
        Event::SessionStarted {
            profile: profile.into(),
            resumed: false,
        }
    }

    fn user(text: &str) -> Event {
        Event::User {
            content: text.into(),
        }
    }

    #[test]
    fn sessions_lists_what_baton_sessions_list_prints() {
        let (tmp, s) = demo_session();
        let mut s = s.with_home(Home::at(tmp.path()));
        let empty = execute(&mut s, "/sessions");
        assert!(!empty.is_error);
        assert!(empty.text.starts_with("No sessions in "), "{}", empty.text);
        store(
            tmp.path(),
            "20250101-000000-aaaa",
            vec![started("demo"), user("first question"), answer("one")],
        );
        let out = execute(&mut s, "/sessions");
        let listed = archive::sessions::format_list(&archive::list(&Home::at(tmp.path())).unwrap());
        assert_eq!(
            out.text,
            format!(
                "{}\n{listed}",
                strings::sessions_header(
                    &Home::at(tmp.path()).sessions_dir().display().to_string()
                )
            )
        );
        assert!(listed.starts_with("20250101-000000-aaaa  "), "{listed}");
        assert!(
            listed.ends_with("demo            2 msgs  first question"),
            "{listed}"
        );
        assert!(execute(&mut s, "/sessions x").is_error);
    }

    #[test]
    fn resume_switches_history_id_and_profile() {
        let (tmp, s) = demo_session();
        let mut s = s.with_home(Home::at(tmp.path()));
        store(
            tmp.path(),
            "20250101-000000-aaaa",
            vec![
                started("demo-fast"),
                user("q1"),
                answer("a1"),
                user("never answered"),
            ],
        );
        s.push_user("current");
        let out = execute(&mut s, "/resume 20250101-000000-aaaa");
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(
            out.text,
            strings::resumed("20250101-000000-aaaa", "demo-fast", 2)
        );
        let Some(Action::Resume(resumed)) = out.action else {
            panic!("no resume action: {:?}", out.action)
        };
        assert_eq!(resumed.pending_prompt.as_deref(), Some("never answered"));
        assert_eq!(s.session_id(), "20250101-000000-aaaa");
        assert_eq!(s.profile_name(), "demo-fast");
        let roles: Vec<(Role, &str)> = s
            .messages()
            .iter()
            .map(|m| (m.role, m.content.as_str()))
            .collect();
        assert_eq!(roles, vec![(Role::User, "q1"), (Role::Assistant, "a1")]);
    }

    #[test]
    fn resume_without_an_id_takes_the_latest_other_session() {
        let (tmp, s) = demo_session();
        let mut s = s.with_home(Home::at(tmp.path()));
        let none = execute(&mut s, "/resume");
        assert!(none.is_error);
        assert!(
            none.text.starts_with("no other session in "),
            "{}",
            none.text
        );
        store(
            tmp.path(),
            "20250101-000000-aaaa",
            vec![started("demo"), user("old")],
        );
        let out = execute(&mut s, "/resume");
        assert!(!out.is_error, "{}", out.text);
        assert_eq!(s.session_id(), "20250101-000000-aaaa");
        // Now the chat's own session is the only one: nothing else to resume.
        assert!(execute(&mut s, "/resume").is_error);
    }

    #[test]
    fn resume_errors_are_inline_and_change_nothing() {
        let (tmp, s) = demo_session();
        let id = s.session_id().to_string();
        let mut bare = s.clone();
        assert_eq!(
            execute(&mut bare, "/resume x").text,
            strings::NO_SESSIONS_HOME
        );
        let mut s = s.with_home(Home::at(tmp.path()));
        let missing = execute(&mut s, "/resume 20990101-000000-ffff");
        assert!(missing.is_error);
        assert!(
            missing.text.contains("no session '20990101-000000-ffff'"),
            "{}",
            missing.text
        );
        assert!(execute(&mut s, "/resume ../etc").is_error);
        assert_eq!(execute(&mut s, "/resume a b").text, strings::RESUME_USAGE);
        assert_eq!(s.session_id(), id);
    }

    #[test]
    fn a_missing_profile_resumes_on_the_current_one_with_a_warning() {
        let (tmp, s) = demo_session();
        let mut s = s.with_home(Home::at(tmp.path()));
        store(
            tmp.path(),
            "20250101-000000-aaaa",
            vec![started("gone"), user("q"), answer("a")],
        );
        let out = execute(&mut s, "/resume 20250101-000000-aaaa");
        assert!(!out.is_error);
        assert!(
            out.text.contains("cannot load the session's profile gone"),
            "{}",
            out.text
        );
        assert_eq!(s.profile_name(), "demo");
        assert_eq!(s.messages().len(), 2);
    }

    #[test]
    fn tab_completes_session_ids() {
        let (tmp, s) = demo_session();
        let s = s.with_home(Home::at(tmp.path()));
        store(tmp.path(), "20250101-000000-aaaa", vec![user("x")]);
        store(tmp.path(), "20250102-000000-bbbb", vec![user("y")]);
        assert_eq!(complete(&s, "/res").as_deref(), Some("/resume "));
        assert_eq!(complete(&s, "/resume ").as_deref(), Some("/resume 2025010"));
        assert_eq!(
            complete(&s, "/resume 20250102").as_deref(),
            Some("/resume 20250102-000000-bbbb ")
        );
    }
}
