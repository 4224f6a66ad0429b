//! Keys, paste and the mouse: the command popup, cancelling, quitting, the
//! multiline editor with its history, and scrolling.

use crossterm::event::{MouseEvent, MouseEventKind};

use super::*;
use crate::tui::history::{AnswerState, CellKind};

#[test]
fn popup_lists_matching_commands_and_tab_completes() {
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "/pr");
    insta::assert_snapshot!("popup", screen(&mut app, 60, 8));
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.input().text(), "/pro");
    type_text(&mut app, "f");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.input().text(), "/profile ");
}

#[test]
fn stale_events_after_cancel_are_dropped() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "first"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "partial".into(),
        },
    );
    let effects = key(&mut app, KeyCode::Esc);
    assert!(matches!(effects.as_slice(), [Effect::Cancel]));
    assert!(!app.is_busy());
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: " late".into(),
        },
    );
    let answer = app.transcript().iter().find_map(|c| match c.kind() {
        CellKind::Assistant { text, state } => Some((text.clone(), state.clone())),
        _ => None,
    });
    assert_eq!(
        answer,
        Some(("partial".to_string(), AnswerState::Cancelled))
    );
    assert!(app.session().messages().is_empty());
    // The next prompt gets a new id; the old one's events stay ignored.
    let id2 = started_id(&send(&mut app, "second"));
    assert_ne!(id, id2);
}

#[test]
fn quitting_takes_two_ctrl_c_or_one_ctrl_d() {
    let (_tmp, mut app) = app_on("demo");
    ctrl(&mut app, 'c');
    assert!(!app.should_quit());
    assert!(screen(&mut app, 60, 6).contains("Ctrl-C again to quit"));
    ctrl(&mut app, 'c');
    assert!(app.should_quit());
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "x");
    ctrl(&mut app, 'c');
    assert!(app.input().is_empty(), "first Ctrl-C clears typed text");
    ctrl(&mut app, 'd');
    assert!(app.should_quit());
    let (_tmp, mut app) = app_on("demo");
    send(&mut app, "/quit");
    assert!(app.should_quit());
}

#[test]
fn multiline_input_history_and_paste() {
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "line one");
    app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::ALT,
    )));
    type_text(&mut app, "line two");
    assert_eq!(app.input().text(), "line one\nline two");
    key(&mut app, KeyCode::Esc);
    app.update(AppEvent::Paste("pasted\r\nblock".into()));
    assert!(app.input().text().ends_with("pasted\nblock"));
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(effects.len(), 1);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.input().text(), "line one\nline twopasted\nblock");
}

#[test]
fn scrolled_up_view_stays_put_while_the_answer_grows() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "long"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "line\n\n".repeat(30),
        },
    );
    screen(&mut app, 40, 10);
    app.update(AppEvent::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: 0,
        row: 0,
        modifiers: KeyModifiers::NONE,
    }));
    let before = screen(&mut app, 40, 10);
    assert_eq!(app.scroll(), 3);
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "more\n\nmore\n\n".into(),
        },
    );
    let after = screen(&mut app, 40, 10);
    assert_eq!(app.scroll(), 7);
    let body = |s: &str| s.lines().take(5).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&before), body(&after));
    key(&mut app, KeyCode::End);
    assert_eq!(app.scroll(), 0);
    key(&mut app, KeyCode::Home);
    assert!(app.scroll() > 0);
}

#[test]
fn home_shows_the_first_lines_not_an_empty_screen() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "long"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "line\n\n".repeat(30),
        },
    );
    screen(&mut app, 40, 10);
    key(&mut app, KeyCode::Home);
    let top = screen(&mut app, 40, 10);
    assert!(
        top.lines().next().is_some_and(|l| l.contains("baton")),
        "{top}"
    );
    let before = app.scroll();
    key(&mut app, KeyCode::PageUp);
    assert_eq!(app.scroll(), before, "nothing above the first line");
}
