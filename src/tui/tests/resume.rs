//! Resuming a stored conversation, at start and with `/resume`.

use super::*;
use crate::archive::{self, ArchivedProvenance, Event, Record};
use crate::home::Home;
use crate::provider::Role;
use crate::tui::history::CellKind;

/// Stores a session whose first prompt was answered after a failover, whose
/// second broke mid-answer and never got a complete one, plus one damaged line.
fn stored(root: &std::path::Path) -> &'static str {
    let id = "20250101-000000-aaaa";
    let dir = Home::at(root).sessions_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let p = |b: &str, m: &str| ArchivedProvenance::from(&provenance(b, m));
    let events = vec![
        Event::SessionStarted {
            profile: "demo".into(),
            resumed: false,
        },
        Event::User {
            content: "what is a relay?".into(),
        },
        Event::Answer {
            content: "A race where runners **pass a baton**.".into(),
            provenance: p("demo-fast", "sim-fast"),
            end: archive::AnswerEnd {
                reasoning: Some("Relay: pass it on.".into()),
                ..Default::default()
            },
        },
        Event::User {
            content: "and the rules?".into(),
        },
        Event::Interrupted {
            content: "The baton must".into(),
            provenance: p("demo-flaky", "sim-flaky"),
            reason: "connection reset".into(),
        },
    ];
    let mut text: String = events
        .into_iter()
        .map(|e| serde_json::to_string(&Record::new(id, e)).unwrap() + "\n")
        .collect();
    text.push_str("{\"v\":1,\"ts\":\"cut short\n");
    std::fs::write(dir.join(format!("{id}.jsonl")), text).unwrap();
    id
}

fn resumed_app(root: &std::path::Path, id: &str) -> App {
    let home = Home::at(root);
    let resumed = archive::resume(&home, id).unwrap();
    let store = ProfileStore::new(home.profiles_dir());
    let resolved = store.resolve("demo").unwrap();
    let mut session = Session::new(store, resolved).with_home(home);
    session.resume_from(&resumed);
    let mut app = App::new(session, Theme::new(false));
    let heading = crate::command::strings::resumed(id, "demo", resumed.messages.len());
    app.show_resumed(heading, &resumed);
    app
}

#[test]
fn a_resumed_chat_shows_the_old_turns_and_offers_retry() {
    let (tmp, _) = app_on("demo");
    let id = stored(tmp.path());
    let mut app = resumed_app(tmp.path(), id);
    insta::assert_snapshot!("resumed", screen(&mut app, 80, 20));
    assert_eq!(app.session().session_id(), id);
    // /retry sends the prompt that got no complete answer, after the history.
    let effects = send(&mut app, "/retry");
    let [Effect::Start { request, .. }] = effects.as_slice() else {
        panic!("expected a Start, got {effects:?}");
    };
    let sent: Vec<(Role, &str)> = request
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        sent,
        vec![
            (Role::User, "what is a relay?"),
            (Role::Assistant, "A race where runners **pass a baton**."),
            (Role::User, "and the rules?"),
        ]
    );
}

#[test]
fn slash_resume_replaces_the_transcript_and_waits_for_an_idle_chat() {
    let (tmp, _) = app_on("demo");
    let id = stored(tmp.path());
    let home = Home::at(tmp.path());
    let store = ProfileStore::new(home.profiles_dir());
    let resolved = store.resolve("demo-fast").unwrap();
    let session = Session::new(store, resolved).with_home(home);
    let mut app = App::new(session, Theme::new(false));
    let rid = started_id(&send(&mut app, "current question"));
    send(&mut app, &format!("/resume {id}"));
    assert!(app.transcript().iter().any(|c| matches!(c.kind(),
        CellKind::Output { text, is_error: true } if text == crate::command::strings::BUSY)));
    assert_ne!(app.session().session_id(), id);
    engine(
        &mut app,
        rid,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    );
    send(&mut app, &format!("/resume {id}"));
    assert_eq!(app.session().session_id(), id);
    assert_eq!(app.session().profile_name(), "demo");
    let text = screen(&mut app, 80, 30);
    assert!(!text.contains("current question"), "{text}");
    assert!(text.contains("what is a relay?"), "{text}");
    assert!(
        text.contains("Resumed session 20250101-000000-aaaa on profile demo"),
        "{text}"
    );
    assert!(text.contains("1 unreadable line skipped"), "{text}");
}
