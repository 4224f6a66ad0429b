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
        CellKind::Assistant { text, state, .. } => Some((text.clone(), state.clone())),
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

fn with(app: &mut App, code: KeyCode, modifiers: KeyModifiers) -> Vec<Effect> {
    app.update(AppEvent::Key(KeyEvent::new(code, modifiers)))
}

#[test]
fn the_line_editor_moves_by_word_and_cuts_and_yanks() {
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "explain the relay race");
    key(&mut app, KeyCode::Home);
    assert_eq!(app.input().cursor(), 0, "Home moves to the line start");
    with(&mut app, KeyCode::Right, KeyModifiers::CONTROL);
    assert_eq!(app.input().cursor(), "explain".len());
    with(&mut app, KeyCode::Char('f'), KeyModifiers::ALT);
    assert_eq!(app.input().cursor(), "explain the".len());
    with(&mut app, KeyCode::Char('b'), KeyModifiers::ALT);
    assert_eq!(app.input().cursor(), "explain ".len());
    assert_eq!(
        app.input().text(),
        "explain the relay race",
        "Alt-b and Alt-f move, they do not type"
    );
    ctrl(&mut app, 'k');
    assert_eq!(app.input().text(), "explain ");
    ctrl(&mut app, 'a');
    ctrl(&mut app, 'y');
    assert_eq!(app.input().text(), "the relay raceexplain ");
    key(&mut app, KeyCode::End);
    assert_eq!(app.input().cursor(), app.input().text().len());
    with(&mut app, KeyCode::Backspace, KeyModifiers::ALT);
    assert_eq!(
        app.input().text(),
        "the relay ",
        "the yank joined two words"
    );
    ctrl(&mut app, 'u');
    assert!(app.input().is_empty());
}

#[test]
fn ctrl_r_finds_an_older_prompt_and_esc_gives_it_back() {
    let (_tmp, mut app) = app_on("demo");
    app.load_prompt_history(vec![
        "summarise the diff".into(),
        "what is a relay".into(),
        "summarise the log".into(),
    ]);
    type_text(&mut app, "draft");
    ctrl(&mut app, 'r');
    type_text(&mut app, "summ");
    let searching = screen(&mut app, 80, 8);
    assert!(searching.contains("history search: summ"), "{searching}");
    assert_eq!(app.input().text(), "summarise the log");
    ctrl(&mut app, 'r');
    assert_eq!(app.input().text(), "summarise the diff");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.input().text(), "draft", "Esc restores the draft");

    ctrl(&mut app, 'u');
    ctrl(&mut app, 'r');
    type_text(&mut app, "relay");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(effects.as_slice(), [Effect::Start { request, .. }]
            if request.messages.last().map(|m| m.content.as_str()) == Some("what is a relay")),
        "Enter sends the match: {effects:?}"
    );
}

#[test]
fn a_prompt_typed_while_an_answer_streams_waits_for_it() {
    let (_tmp, mut app) = app_on("demo");
    let first = started_id(&send(&mut app, "first"));
    assert!(send(&mut app, "second").is_empty(), "nothing starts yet");
    let out = screen(&mut app, 100, 12);
    assert!(out.contains("queued \"second\""), "{out}");
    engine(&mut app, first, EngineEvent::Delta { text: "one".into() });
    let effects = app.update(AppEvent::Engine {
        id: first,
        event: EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    });
    let [Effect::Start { request, .. }] = effects.as_slice() else {
        panic!("the queued prompt was not sent: {effects:?}");
    };
    let sent: Vec<_> = request
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(sent, ["first", "one", "second"]);
}

#[test]
fn queued_prompts_come_back_to_the_input_when_the_answer_is_cancelled() {
    let (_tmp, mut app) = app_on("demo");
    started_id(&send(&mut app, "first"));
    send(&mut app, "second");
    send(&mut app, "third");
    type_text(&mut app, "draft");
    let effects = key(&mut app, KeyCode::Esc);
    assert!(matches!(effects.as_slice(), [Effect::Cancel]));
    assert_eq!(app.input().text(), "second\nthird\ndraft");
}

#[test]
fn a_message_may_start_with_a_slash() {
    let (_tmp, mut app) = app_on("demo");
    let effects = send(&mut app, "/usr/bin/python3 crashes, why?");
    let [Effect::Start { request, .. }] = effects.as_slice() else {
        panic!("a path was taken for a command: {effects:?}");
    };
    assert_eq!(
        request.messages.last().map(|m| m.content.as_str()),
        Some("/usr/bin/python3 crashes, why?")
    );
    let (_tmp, mut app) = app_on("demo");
    let effects = send(&mut app, "//help is a command?");
    let [Effect::Start { request, .. }] = effects.as_slice() else {
        panic!("// did not send: {effects:?}");
    };
    assert_eq!(
        request.messages.last().map(|m| m.content.as_str()),
        Some("/help is a command?")
    );
}

#[test]
fn the_popup_lists_every_command_and_takes_arrows_enter_and_esc() {
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "/");
    let all = screen(&mut app, 80, 30);
    for c in crate::command::SlashCommand::ALL {
        assert!(
            all.contains(&format!("/{:<10}", c.name())),
            "/{} missing:\n{all}",
            c.name()
        );
    }
    key(&mut app, KeyCode::Esc);
    assert!(app.popup().is_empty(), "Esc closes it");
    type_text(&mut app, "s");
    assert!(!app.popup().is_empty(), "typing opens it again");
    // /set, /system, /stats, /sessions: Down twice picks /stats.
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    insta::assert_snapshot!("popup_selected", screen(&mut app, 60, 12));
    key(&mut app, KeyCode::Enter);
    let out = screen(&mut app, 80, 30);
    assert!(
        out.contains("› /stats"),
        "Enter ran the chosen command:\n{out}"
    );
}

#[test]
fn tab_lists_the_choices_when_it_cannot_add_more() {
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "/set t");
    key(&mut app, KeyCode::Tab);
    let typed = app.input().text().to_string();
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.input().text(), typed);
    let out = screen(&mut app, 200, 30);
    assert!(out.contains("timeout_ms"), "{out}");
    assert!(out.contains("tpm_threshold"), "{out}");
}

#[test]
fn system_sets_shows_and_clears_the_system_prompt() {
    let (_tmp, mut app) = app_on("demo");
    send(&mut app, "/system You answer in French.");
    let effects = send(&mut app, "bonjour");
    let [Effect::Start { request, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(
        request.messages.first().map(|m| m.content.as_str()),
        Some("You answer in French.")
    );
    app.update(AppEvent::Engine {
        id: started_id(&effects),
        event: EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    });
    send(&mut app, "/system");
    assert!(screen(&mut app, 80, 20).contains("You answer in French."));
    send(&mut app, "/system off");
    assert!(app.session().settings().get("system-prompt").is_none());
}

#[test]
fn copy_takes_the_last_answer_or_its_code_block() {
    let (_tmp, mut app) = app_on("demo");
    assert!(send(&mut app, "/copy").is_empty(), "nothing to copy yet");
    let id = started_id(&send(&mut app, "code please"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "Run:\n```sh\nls -l\n```\nthen:\n```sh\npwd\n```\n".into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    );
    assert!(matches!(send(&mut app, "/copy").as_slice(),
        [Effect::Copy(t)] if t == "Run:\n```sh\nls -l\n```\nthen:\n```sh\npwd\n```\n"));
    assert!(matches!(send(&mut app, "/copy code").as_slice(),
        [Effect::Copy(t)] if t == "pwd\n"));
    assert!(screen(&mut app, 120, 20).contains("copied the last code block (4 characters)"));
    // Blocks are numbered on screen; /copy N takes that one.
    assert!(screen(&mut app, 120, 30).contains("‹1 sh›"));
    assert!(matches!(send(&mut app, "/copy 1").as_slice(),
        [Effect::Copy(t)] if t == "ls -l\n"));
    assert!(screen(&mut app, 120, 30).contains("copied code block 1 (6 characters)"));
    assert!(send(&mut app, "/copy 3").is_empty());
    assert!(screen(&mut app, 120, 30).contains("the last answer has no code block 3"));
}

#[test]
fn ctrl_g_and_ctrl_x_ctrl_e_hand_the_input_to_the_editor() {
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "draft");
    let edits = |effects: Vec<Effect>| match effects.as_slice() {
        [Effect::Edit(text)] => Some(text.clone()),
        _ => None,
    };
    assert_eq!(edits(ctrl(&mut app, 'g')).as_deref(), Some("draft"));
    assert!(ctrl(&mut app, 'x').is_empty());
    assert_eq!(edits(ctrl(&mut app, 'e')).as_deref(), Some("draft"));
    // Ctrl-E alone still moves to the end of the line.
    assert!(ctrl(&mut app, 'e').is_empty());
    app.edited(Ok("draft\nmore".into()));
    assert_eq!(app.input().text(), "draft\nmore");
    app.edited(Err(
        "the editor 'false' exited with status 1; the input is unchanged".into(),
    ));
    assert_eq!(app.input().text(), "draft\nmore");
    assert!(screen(&mut app, 80, 12).contains("the input is unchanged"));
}

#[test]
fn mentioned_and_attached_files_go_after_the_prompt() {
    let (_tmp, mut app) = app_on("demo");
    // The tests run in the crate's folder, where Cargo.toml is.
    send(&mut app, "/attach rust-toolchain-that-is-not-there");
    assert!(screen(&mut app, 100, 12).contains("no such file"));
    send(&mut app, "/attach Cargo.toml");
    assert!(screen(&mut app, 100, 12).contains("attached Cargo.toml ("));
    type_text(&mut app, "look at @READ");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.input().text(), "look at @README.md ");
    key(&mut app, KeyCode::Enter);
    let sent = &app.session().messages().last().unwrap().content;
    // A fence longer than the README's own code fences.
    assert!(
        sent.starts_with("look at @README.md\n\nREADME.md:\n````md\n# baton"),
        "{sent}"
    );
    assert!(
        sent.contains("\n\nCargo.toml:\n```toml\n[workspace]"),
        "{sent}"
    );
    assert!(screen(&mut app, 100, 20).contains("with README.md ("));
    // Attachments go with one prompt only.
    assert!(app.session().attachments().is_empty());
}

#[test]
fn cancelled_answers_count_in_stats_and_ctrl_d_mid_answer_cancels_then_leaves() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "first"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "part".into(),
        },
    );
    key(&mut app, KeyCode::Esc);
    send(&mut app, "/stats");
    assert!(
        screen(&mut app, 100, 14)
            .contains("Answers: 0 complete, 0 interrupted, 1 cancelled, 0 failed"),
        "{}",
        screen(&mut app, 100, 14)
    );
    let id = started_id(&send(&mut app, "second"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "part".into(),
        },
    );
    let effects = ctrl(&mut app, 'd');
    assert!(
        matches!(effects.as_slice(), [Effect::Cancel]),
        "{effects:?}"
    );
    assert!(app.should_quit());
}

#[test]
fn a_long_paste_is_folded_in_the_transcript_but_sent_whole() {
    let (_tmp, mut app) = app_on("demo");
    let paste: String = (1..=200).map(|i| format!("line {i}\n")).collect();
    app.update(AppEvent::Paste(paste.clone()));
    key(&mut app, KeyCode::Enter);
    let screen = screen(&mut app, 60, 40);
    assert!(screen.contains("line 8"), "{screen}");
    assert!(!screen.contains("line 9 "), "{screen}");
    assert!(screen.contains("… 192 more lines (sent whole)"), "{screen}");
    let sent = &app.session().messages().last().unwrap().content;
    assert_eq!(sent.lines().count(), 200);
}

#[test]
fn a_recalled_long_entry_does_not_trap_up() {
    let (_tmp, mut app) = app_on("demo");
    let long: String = (1..=200).map(|i| format!("row {i}\n")).collect();
    app.load_prompt_history(vec!["short one".into(), long]);
    key(&mut app, KeyCode::Up);
    assert!(app.input().text().starts_with("row 1\n"));
    key(&mut app, KeyCode::Up);
    assert_eq!(app.input().text(), "short one");
    key(&mut app, KeyCode::Down);
    assert!(app.input().text().starts_with("row 1\n"));
}
