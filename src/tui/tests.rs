//! Whole-screen tests on ratatui's `TestBackend`, with insta snapshots, and a run
//! of the real main loop against the keyless `sim` backend.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Effect};
use super::event::AppEvent;
use super::history::{AnswerState, CellKind};
use super::theme::Theme;
use crate::engine::{BackendFailure, EngineEvent, Provenance};
use crate::profile::{self, ProfileStore};
use crate::provider::{ErrorClass, Usage};
use crate::session::Session;

fn app_on(name: &str) -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(tmp.path().join("profiles"));
    profile::ensure_builtin(&store).unwrap();
    let resolved = store.resolve(name).unwrap();
    let app = App::new(Session::new(store, resolved), Theme::new(false));
    (tmp, app)
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Types `line`, presses Enter, returns the effects.
fn send(app: &mut App, line: &str) -> Vec<Effect> {
    type_text(app, line);
    key(app, KeyCode::Enter)
}

fn started_id(effects: &[Effect]) -> u64 {
    match effects {
        [Effect::Start { id, .. }] => *id,
        other => panic!("expected one Start, got {other:?}"),
    }
}

fn engine(app: &mut App, id: u64, event: EngineEvent) {
    app.update(AppEvent::Engine { id, event });
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    app.draw(&mut terminal).unwrap();
    terminal.backend().to_string()
}

fn provenance(backend: &str, model: &str) -> Provenance {
    Provenance {
        backend: backend.into(),
        provider: "sim".into(),
        model: model.into(),
        attempts: 3,
        failovers: 2,
        latency_ms: 1234,
        first_chunk_ms: 40,
        usage: Usage {
            input_tokens: 12,
            output_tokens: 85,
            estimated: true,
        },
    }
}

/// The demo profile's usual first turn: down, flaky fails, fast answers.
fn failover_prelude(app: &mut App, id: u64) {
    engine(
        app,
        id,
        EngineEvent::AttemptStarted {
            backend: "demo-down".into(),
            attempt: 1,
            of: 1,
        },
    );
    engine(
        app,
        id,
        EngineEvent::AttemptFailed {
            backend: "demo-down".into(),
            class: ErrorClass::Transient,
            detail: "cannot reach sim://sim-down: connection refused (simulated)".into(),
            will_retry: false,
        },
    );
    engine(
        app,
        id,
        EngineEvent::Skipped {
            backend: "demo-flaky".into(),
            why: "breaker open".into(),
        },
    );
    engine(
        app,
        id,
        EngineEvent::AttemptStarted {
            backend: "demo-fast".into(),
            attempt: 1,
            of: 1,
        },
    );
}

const MARKDOWN: &str = "# Relay\n\nA **baton** passes from *hand* to hand; see `docs/`.\n\n\
- first runner\n- second runner\n  - nested\n\n1. one\n2. two\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n> quoted words\n";

#[test]
fn main_screen() {
    let (_tmp, mut app) = app_on("demo");
    insta::assert_snapshot!("main_screen", screen(&mut app, 80, 12));
}

#[test]
fn streaming_shows_notices_spinner_and_rate() {
    let (_tmp, mut app) = app_on("demo");
    let t0 = app.now;
    let id = started_id(&send(&mut app, "tell me about relays"));
    failover_prelude(&mut app, id);
    app.now = t0 + Duration::from_millis(500);
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "Relays hand the baton on. ".repeat(6),
        },
    );
    app.now = t0 + Duration::from_millis(1500);
    insta::assert_snapshot!("streaming", screen(&mut app, 80, 16));
}

#[test]
fn markdown_answer_with_provenance() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "markdown please"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: MARKDOWN.into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
        },
    );
    assert!(app.in_flight.is_none());
    assert_eq!(app.session.messages().len(), 2, "prompt and answer kept");
    insta::assert_snapshot!("markdown", screen(&mut app, 80, 30));
}

/// A tagged code block in colour: the snapshot keeps the text (TestBackend shows
/// no colours), the buffer's cells show the highlighting.
#[test]
fn code_block_is_highlighted_on_screen() {
    let (_tmp, mut app) = app_on("demo");
    app.theme = Theme::new(true);
    let id = started_id(&send(&mut app, "code please"));
    let text = "Here:\n\n```rust\nfn main() {\n    let s = \"hi\";\n}\n```\n\n```toml\nkey = \"value\"\n```\n";
    engine(&mut app, id, EngineEvent::Delta { text: text.into() });
    let mut terminal = Terminal::new(TestBackend::new(60, 20)).unwrap();
    app.draw(&mut terminal).unwrap();
    insta::assert_snapshot!("highlighted_code", terminal.backend());
    let buffer = terminal.backend().buffer();
    // The foreground of the first cell of `needle` on the screen.
    let fg_of = |needle: &str| {
        let width = usize::from(buffer.area.width);
        let symbols: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
        let chars: Vec<&str> = needle.split("").filter(|s| !s.is_empty()).collect();
        let at = symbols
            .windows(chars.len())
            .position(|w| w == chars.as_slice())
            .unwrap_or_else(|| panic!("{needle} not on screen"));
        assert!(at % width + chars.len() <= width);
        buffer.content[at].fg
    };
    let (keyword, string, name) = (fg_of("fn"), fg_of("\"hi\""), fg_of("main"));
    assert_ne!(keyword, ratatui::style::Color::Reset);
    assert_ne!(string, ratatui::style::Color::Reset);
    assert_ne!(keyword, string, "keyword and string differ");
    assert_ne!(keyword, name);
    // TOML has no bundled grammar: plain code style.
    assert_eq!(fg_of("key"), ratatui::style::Color::Yellow);
    assert_eq!(fg_of("\"value\""), ratatui::style::Color::Yellow);
}

#[test]
fn interrupted_answer_is_marked_and_retry_goes_to_the_next_backend() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "a long story"));
    failover_prelude(&mut app, id);
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "Once upon a time".into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Interrupted {
            provenance: provenance("demo-flaky", "sim-flaky"),
            reason: "the stream ended before the answer was complete".into(),
        },
    );
    assert!(
        app.session.messages().is_empty(),
        "an incomplete answer is not kept"
    );
    insta::assert_snapshot!("interrupted", screen(&mut app, 80, 16));

    let effects = send(&mut app, "/retry");
    let [
        Effect::Start {
            engine, request, ..
        },
    ] = effects.as_slice()
    else {
        panic!("retry did not start a request: {effects:?}");
    };
    let order: Vec<_> = engine.backends().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(order, vec!["demo-fast", "demo-down", "demo-flaky"]);
    assert_eq!(
        request.messages.last().map(|m| m.content.as_str()),
        Some("a long story")
    );
}

/// Runs the request `effects` started on its real engine to the end, feeding
/// every event to the app as the runtime would.
async fn run_to_end(app: &mut App, effects: Vec<Effect>) {
    let [
        Effect::Start {
            id,
            engine,
            request,
        },
    ] = effects.as_slice()
    else {
        panic!("expected one Start, got {effects:?}");
    };
    let mut events = Box::pin(engine.run(request.clone()));
    while let Some(event) = events.next().await {
        app.update(AppEvent::Engine { id: *id, event });
    }
}

/// A failover profile over the always-down and the fast sim backends whose breaker
/// opens on the first failure, so one prompt leaves one breaker open.
fn app_on_lbtest() -> (tempfile::TempDir, App) {
    let (tmp, _) = app_on("demo");
    std::fs::write(
        tmp.path().join("profiles/lbtest.json"),
        r#"{"version":1,"type":"loadbalancer","policy":"failover",
            "profiles":["demo-down","demo-fast"],
            "ephemeralSettings":{"failover_retry_count":1,"circuit_breaker_failure_threshold":1}}"#,
    )
    .unwrap();
    let app = app_in(tmp.path(), "lbtest", false);
    (tmp, app)
}

/// A chat on profile `name` of the home at `root`, keeping load balancers' health
/// in its `state/` folder when `persist` (as `baton` does).
fn app_in(root: &std::path::Path, name: &str, persist: bool) -> App {
    let home = crate::home::Home::at(root);
    let store = ProfileStore::new(home.profiles_dir());
    let resolved = store.resolve(name).unwrap();
    let mut session = Session::new(store, resolved);
    if persist {
        session = session.with_state_dir(home.state_dir());
    }
    App::new(session, Theme::new(false))
}

fn status_line(app: &mut App) -> String {
    let out = screen(app, 100, 8);
    out.lines().last().unwrap_or_default().to_string()
}

/// The status bar reads breakers and TPM from the engine that answered.
#[tokio::test(start_paused = true)]
async fn status_bar_shows_the_engines_breakers_and_tpm() {
    let (_tmp, mut app) = app_on_lbtest();
    assert!(
        status_line(&mut app).contains("· 0 tokens · breakers 2 closed "),
        "{}",
        status_line(&mut app)
    );
    let effects = send(&mut app, "hi");
    run_to_end(&mut app, effects).await;
    use crate::engine::BreakerState::{Closed, Open};
    assert_eq!(
        app.health,
        vec![
            ("demo-down".to_string(), Open, 0),
            ("demo-fast".to_string(), Closed, 60)
        ]
    );
    let line = status_line(&mut app);
    assert!(
        line.contains(
            " lbtest · demo-fast (sim-fast) · 60 tokens · 60 TPM · breakers 1 closed, 1 open"
        ),
        "{line}"
    );
}

/// Health is kept in `state/` as one-shot keeps it: a new chat (a restart) starts
/// with the open breaker, and `baton state show` reads the same file.
#[tokio::test(start_paused = true)]
async fn health_survives_a_restart_and_a_corrupt_state_file_warns_once() {
    let (tmp, _) = app_on_lbtest();
    let mut app = app_in(tmp.path(), "lbtest", true);
    let effects = send(&mut app, "hi");
    run_to_end(&mut app, effects).await;
    let state_dir = tmp.path().join("state");
    assert_eq!(crate::engine::state::list(&state_dir), vec!["lbtest"]);

    let mut restarted = app_in(tmp.path(), "lbtest", true);
    assert!(
        status_line(&mut restarted).contains("breakers 1 closed, 1 open"),
        "{}",
        status_line(&mut restarted)
    );
    send(&mut restarted, "/stats lb");
    let out = screen(&mut restarted, 80, 40);
    assert!(out.contains("  demo-down: open"), "{out}");
    assert!(out.contains("Total Requests: 2"), "{out}");

    // A model profile keeps no state, as in one-shot mode.
    let mut model = app_in(tmp.path(), "demo-fast", true);
    let effects = send(&mut model, "hi");
    run_to_end(&mut model, effects).await;
    assert_eq!(crate::engine::state::list(&state_dir), vec!["lbtest"]);

    std::fs::write(state_dir.join("lbtest.json"), "{ not json").unwrap();
    let mut app = app_in(tmp.path(), "lbtest", true);
    send(&mut app, "/set timeout_ms 4000");
    send(&mut app, "/stats lb");
    let warnings = app
        .cells
        .iter()
        .filter(|c| {
            matches!(c.kind(), CellKind::Output { text, is_error: true } if text.starts_with("warning: ignoring corrupt engine state"))
        })
        .count();
    assert_eq!(warnings, 1, "{}", screen(&mut app, 100, 40));
}

/// `/stats lb` is the engine's block: the real breaker states after a real run.
#[tokio::test(start_paused = true)]
async fn stats_lb_shows_the_engines_breakers() {
    let (_tmp, mut app) = app_on_lbtest();
    let effects = send(&mut app, "hi");
    run_to_end(&mut app, effects).await;
    send(&mut app, "/stats lb");
    insta::assert_snapshot!("stats_lb", screen(&mut app, 80, 36));
}

/// A `/retry` runs on an engine of its own; what it saves is what the next
/// `/stats lb` and prompt start from, not the older view of the cached engine.
#[tokio::test(start_paused = true)]
async fn a_retry_s_saved_health_is_what_comes_next() {
    let (tmp, _) = app_on("demo");
    let profiles = tmp.path().join("profiles");
    std::fs::write(
        profiles.join("cutter.json"),
        r#"{"version":1,"provider":"sim","model":"sim-cut"}"#,
    )
    .unwrap();
    std::fs::write(
        profiles.join("cuttest.json"),
        r#"{"version":1,"type":"loadbalancer","policy":"failover",
            "profiles":["cutter","demo-fast"],"ephemeralSettings":{"failover_retry_count":1}}"#,
    )
    .unwrap();
    let mut app = app_in(tmp.path(), "cuttest", true);
    let effects = send(&mut app, "a story");
    run_to_end(&mut app, effects).await;
    assert!(
        app.session.messages().is_empty(),
        "the cut answer is not kept"
    );
    let effects = send(&mut app, "/retry");
    run_to_end(&mut app, effects).await;
    assert_eq!(app.session.messages().len(), 2, "the retry answered");
    send(&mut app, "/clear");
    send(&mut app, "/stats lb");
    let out = screen(&mut app, 80, 30);
    assert!(out.contains("Total Requests: 2"), "{out}");
    // The next prompt (cut again) saves on top of the retry's state: demo-fast's
    // answer from the retry is still counted.
    let effects = send(&mut app, "again");
    run_to_end(&mut app, effects).await;
    let mut restarted = app_in(tmp.path(), "cuttest", true);
    let engine = restarted.session.engine().unwrap().engine;
    let stats = engine.stats_lb();
    assert!(stats.contains("Total Requests: 3"), "{stats}");
    assert!(stats.contains("  demo-fast\n    Requests: 1\n"), "{stats}");
}

#[test]
fn stats_lb_on_a_model_profile_names_it() {
    let (_tmp, mut app) = app_on("demo-fast");
    send(&mut app, "/stats lb");
    let out = screen(&mut app, 100, 8);
    assert!(
        out.contains("/stats lb needs a load-balancer profile; the active profile 'demo-fast'"),
        "{out}"
    );
}

#[test]
fn help_renders_inline() {
    let (_tmp, mut app) = app_on("demo");
    send(&mut app, "/help");
    insta::assert_snapshot!("help", screen(&mut app, 100, 20));
}

#[test]
fn command_errors_are_shown_inline() {
    let (_tmp, mut app) = app_on("demo");
    send(&mut app, "/set tpm_threshold -500");
    send(&mut app, "/set timeout_ms abc");
    send(&mut app, "/set circuit_breaker_enabled maybe");
    send(&mut app, "/profile save loadbalancer x failover demo-fast");
    insta::assert_snapshot!("errors", screen(&mut app, 80, 16));
}

#[test]
fn narrow_terminal_wraps_everything() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(
        &mut app,
        "a prompt long enough to wrap on forty columns",
    ));
    failover_prelude(&mut app, id);
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: MARKDOWN.into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
        },
    );
    insta::assert_snapshot!("narrow_40", screen(&mut app, 40, 40));
}

#[test]
fn popup_lists_matching_commands_and_tab_completes() {
    let (_tmp, mut app) = app_on("demo");
    type_text(&mut app, "/pr");
    insta::assert_snapshot!("popup", screen(&mut app, 60, 8));
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.input.text(), "/pro");
    type_text(&mut app, "f");
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.input.text(), "/profile ");
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
    assert!(app.in_flight.is_none());
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: " late".into(),
        },
    );
    let answer = app.cells.iter().find_map(|c| match c.kind() {
        CellKind::Assistant { text, state } => Some((text.clone(), state.clone())),
        _ => None,
    });
    assert_eq!(
        answer,
        Some(("partial".to_string(), AnswerState::Cancelled))
    );
    assert!(app.session.messages().is_empty());
    // The next prompt gets a new id; the old one's events stay ignored.
    let id2 = started_id(&send(&mut app, "second"));
    assert_ne!(id, id2);
}

#[test]
fn exhausted_shows_every_reason() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "hello"));
    let fail = |b: &str| BackendFailure {
        backend: b.into(),
        class: ErrorClass::Transient,
        reason: "503 Service Unavailable".into(),
    };
    engine(
        &mut app,
        id,
        EngineEvent::Exhausted {
            reasons: vec![fail("demo-down"), fail("demo-flaky")],
        },
    );
    let out = screen(&mut app, 80, 10);
    assert!(out.contains("every backend failed:"), "{out}");
    assert!(out.contains("demo-flaky: 503 Service Unavailable"), "{out}");
    assert!(app.session.messages().is_empty());
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
    assert!(app.input.is_empty(), "first Ctrl-C clears typed text");
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
    assert_eq!(app.input.text(), "line one\nline two");
    key(&mut app, KeyCode::Esc);
    app.update(AppEvent::Paste("pasted\r\nblock".into()));
    assert!(app.input.text().ends_with("pasted\nblock"));
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(effects.len(), 1);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Up);
    assert_eq!(app.input.text(), "line one\nline twopasted\nblock");
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
    assert_eq!(app.scroll, 3);
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "more\n\nmore\n\n".into(),
        },
    );
    let after = screen(&mut app, 40, 10);
    assert_eq!(app.scroll, 7);
    let body = |s: &str| s.lines().take(5).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&before), body(&after));
    key(&mut app, KeyCode::End);
    assert_eq!(app.scroll, 0);
    key(&mut app, KeyCode::Home);
    assert!(app.scroll > 0);
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
    let before = app.scroll;
    key(&mut app, KeyCode::PageUp);
    assert_eq!(app.scroll, before, "nothing above the first line");
}

/// The real loop over a real engine (the keyless `sim` backend), on TestBackend.
/// Paused time: the sim's pacing and the quit timer are virtual, so the answer
/// always completes before the quit, however loaded the machine is.
#[tokio::test(start_paused = true)]
async fn main_loop_answers_from_sim_and_quits() {
    let (_tmp, app) = app_on("demo-fast");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut terminal = Terminal::new(TestBackend::new(60, 12)).unwrap();
    for c in "hi".chars() {
        tx.send(AppEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
        .unwrap();
    }
    tx.send(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )))
    .unwrap();
    let feeder = tx.clone();
    let quit = tokio::spawn(async move {
        // Ask to quit once the answer had time to arrive (sim-fast: well under 2 s).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let _ = feeder.send(AppEvent::Key(KeyEvent::new(
            KeyCode::Char('d'),
            KeyModifiers::CONTROL,
        )));
    });
    let app = super::run_app(&mut terminal, app, rx, tx).await.unwrap();
    quit.await.unwrap();
    let done = app.cells.iter().any(|c| {
        matches!(c.kind(), CellKind::Assistant { state: AnswerState::Done(p), text } if p.backend == "demo-fast" && !text.is_empty())
    });
    assert!(
        done,
        "no complete answer: {:?}",
        app.cells
            .iter()
            .map(|c| c.kind().clone())
            .collect::<Vec<_>>()
    );
    assert!(
        terminal
            .backend()
            .to_string()
            .contains("demo-fast · sim/sim-fast")
    );
}

// ---- the archive ----

mod archive_tests {
    use std::io;
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;
    use crate::archive::{self, Archive, ArchiveConfig, Event, Sink, WriterStatus};
    use crate::command::strings;
    use crate::home::Home;

    /// An archive writing to `root/sessions` without a coalescing window.
    fn archive_in(root: &Path) -> Archive {
        let mut config = ArchiveConfig::new(&Home::at(root));
        config.coalesce = Duration::ZERO;
        Archive::start(&config)
    }

    /// Every event of session `id` once what is queued is written.
    fn events(root: &Path, archive: &Archive, id: &str) -> Vec<Event> {
        assert!(archive.flush(Duration::from_secs(10)), "flush timed out");
        archive::read(&Home::at(root), id)
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.event)
            .collect()
    }

    fn answer(app: &mut App, id: u64, text: &str) {
        engine(app, id, EngineEvent::Delta { text: text.into() });
        engine(
            app,
            id,
            EngineEvent::Done {
                provenance: provenance("demo-fast", "sim-fast"),
            },
        );
    }

    #[test]
    fn the_chat_archives_prompts_answers_and_changes() {
        let (tmp, app) = app_on("demo");
        let archive = archive_in(tmp.path());
        let mut app = app.with_archive(archive.handle(), false);
        let id = app.session.session_id().to_string();
        let rid = started_id(&send(&mut app, "hello"));
        failover_prelude(&mut app, rid);
        engine(&mut app, rid, EngineEvent::Delta { text: "Hi ".into() });
        answer(&mut app, rid, "there");
        send(&mut app, "/set timeout_ms 7000");
        send(&mut app, "/set unset timeout_ms");
        send(&mut app, "/set timeout_ms nonsense");
        send(&mut app, "/help");
        send(&mut app, "/profile load demo-fast");
        assert_eq!(
            events(tmp.path(), &archive, &id),
            vec![
                Event::SessionStarted {
                    profile: "demo".into(),
                    resumed: false
                },
                Event::User {
                    content: "hello".into()
                },
                Event::Failover {
                    backend: "demo-down".into(),
                    class: ErrorClass::Transient,
                    detail: "cannot reach sim://sim-down: connection refused (simulated)".into(),
                    will_retry: false,
                },
                Event::Skipped {
                    backend: "demo-flaky".into(),
                    why: "breaker open".into()
                },
                Event::Answer {
                    content: "Hi there".into(),
                    provenance: (&provenance("demo-fast", "sim-fast")).into(),
                },
                Event::Setting {
                    key: "timeout_ms".into(),
                    value: Some(json!(7000))
                },
                Event::Setting {
                    key: "timeout_ms".into(),
                    value: None
                },
                Event::ProfileChanged {
                    profile: "demo-fast".into()
                },
            ]
        );
    }

    #[test]
    fn a_chat_only_opened_leaves_no_file() {
        let (tmp, app) = app_on("demo");
        let archive = archive_in(tmp.path());
        let mut app = app.with_archive(archive.handle(), false);
        send(&mut app, "/help");
        send(&mut app, "/stats");
        assert!(archive.flush(Duration::from_secs(10)));
        assert_eq!(archive::list(&Home::at(tmp.path())).unwrap(), vec![]);
    }

    #[test]
    fn set_archive_off_writes_nothing_from_then_on() {
        let (tmp, app) = app_on("demo");
        let archive = archive_in(tmp.path());
        let mut app = app.with_archive(archive.handle(), false);
        let id = app.session.session_id().to_string();
        let rid = started_id(&send(&mut app, "kept"));
        answer(&mut app, rid, "yes");
        send(&mut app, "/set archive off");
        let rid = started_id(&send(&mut app, "not kept"));
        answer(&mut app, rid, "no");
        send(&mut app, "/set timeout_ms 5000");
        let kinds: Vec<String> = events(tmp.path(), &archive, &id)
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        assert_eq!(kinds.len(), 3, "{kinds:#?}");
        assert!(
            kinds
                .iter()
                .all(|k| !k.contains("not kept") && !k.contains("archive"))
        );
        // On again: recorded from then on, starting with the change itself.
        send(&mut app, "/set archive on");
        let last = events(tmp.path(), &archive, &id).pop().unwrap();
        assert_eq!(
            last,
            Event::Setting {
                key: "archive".into(),
                value: Some(json!("on"))
            }
        );
    }

    #[test]
    fn archive_off_at_start_stays_off_and_says_so() {
        let (tmp, app) = app_on("demo");
        let mut config = ArchiveConfig::new(&Home::at(tmp.path()));
        config.enabled = false;
        let archive = Archive::start(&config);
        let mut app = app.with_archive(archive.handle(), false);
        app.session
            .merge_settings(&crate::launch::parse_overrides(&["archive=off".into()]).unwrap());
        send(&mut app, "/set archive on");
        let rid = started_id(&send(&mut app, "hello"));
        answer(&mut app, rid, "hi");
        assert!(app.cells.iter().any(|c| matches!(c.kind(),
            CellKind::Notice(n) if n == strings::ARCHIVE_ON_NEXT_START)));
        assert!(!tmp.path().join("sessions").exists());
    }

    /// A sink that fails while `broken` is set, naming the file as the real one does.
    struct Flaky(Arc<AtomicBool>);

    impl Sink for Flaky {
        fn append(&mut self, session: &str, _lines: &[u8]) -> io::Result<()> {
            if self.0.load(Ordering::SeqCst) {
                Err(io::Error::other(format!(
                    "/home/u/.baton/sessions/{session}.jsonl: No space left on device"
                )))
            } else {
                Ok(())
            }
        }
    }

    async fn next_archive_status(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<AppEvent>,
    ) -> AppEvent {
        // A guard against a hang, not a wait: the writer reports within milliseconds.
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    /// A full disk shows once in the status bar, the chat goes on, and the message
    /// goes away when writing works again.
    #[tokio::test]
    async fn a_failing_archive_shows_in_the_status_bar_until_it_recovers() {
        let (tmp, app) = app_on("demo");
        let broken = Arc::new(AtomicBool::new(true));
        let mut config = ArchiveConfig::new(&Home::at(tmp.path()));
        config.coalesce = Duration::ZERO;
        let archive = Archive::start_with_sink(&config, Box::new(Flaky(Arc::clone(&broken))));
        let mut app = app.with_archive(archive.handle(), false);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher = crate::tui::event::spawn_archive_status(tx, archive.handle().subscribe());
        assert_eq!(
            next_archive_status(&mut rx).await,
            AppEvent::Archive(WriterStatus::Ok)
        );

        let rid = started_id(&send(&mut app, "hello"));
        let failing = next_archive_status(&mut rx).await;
        assert!(
            matches!(&failing, AppEvent::Archive(WriterStatus::Failing { .. })),
            "{failing:?}"
        );
        app.update(failing);
        let line = status_line(&mut app);
        assert!(
            line.contains("archive: cannot write (chat continues): /home/u/"),
            "{line}"
        );
        // The chat goes on: the answer streams and completes.
        answer(&mut app, rid, "Hi");
        assert!(app.in_flight.is_none());

        broken.store(false, Ordering::SeqCst);
        let rid = started_id(&send(&mut app, "again"));
        answer(&mut app, rid, "Hi again");
        let recovered = next_archive_status(&mut rx).await;
        assert_eq!(recovered, AppEvent::Archive(WriterStatus::Ok));
        app.update(recovered);
        assert!(!status_line(&mut app).contains("archive"));
        watcher.abort();
    }

    /// After an answer on a load balancer that keeps its health, a stats snapshot
    /// is archived, as one-shot runs do.
    #[tokio::test(start_paused = true)]
    async fn an_answer_on_a_load_balancer_archives_a_stats_snapshot() {
        let (tmp, _) = app_on_lbtest();
        let archive = archive_in(tmp.path());
        let mut app = app_in(tmp.path(), "lbtest", true).with_archive(archive.handle(), false);
        let id = app.session.session_id().to_string();
        let effects = send(&mut app, "hi");
        run_to_end(&mut app, effects).await;
        let events = events(tmp.path(), &archive, &id);
        let stats = events.iter().find_map(|e| match e {
            Event::Stats { profile, snapshot } => Some((profile.clone(), snapshot.clone())),
            _ => None,
        });
        let (profile, snapshot) = stats.unwrap_or_else(|| panic!("no stats in {events:#?}"));
        assert_eq!(profile, "lbtest");
        assert!(snapshot.to_string().contains("demo-down"), "{snapshot}");
        assert!(
            matches!(events.last(), Some(Event::Stats { .. })),
            "{events:#?}"
        );
    }
}

// ---- resuming ----

mod resume_tests {
    use super::*;
    use crate::archive::{self, ArchivedProvenance, Event, Record};
    use crate::home::Home;
    use crate::provider::Role;

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
        assert_eq!(app.session.session_id(), id);
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
        assert!(app.cells.iter().any(|c| matches!(c.kind(),
            CellKind::Output { text, is_error: true } if text == crate::command::strings::BUSY)));
        assert_ne!(app.session.session_id(), id);
        engine(
            &mut app,
            rid,
            EngineEvent::Done {
                provenance: provenance("demo-fast", "sim-fast"),
            },
        );
        send(&mut app, &format!("/resume {id}"));
        assert_eq!(app.session.session_id(), id);
        assert_eq!(app.session.profile_name(), "demo");
        let text = screen(&mut app, 80, 30);
        assert!(!text.contains("current question"), "{text}");
        assert!(text.contains("what is a relay?"), "{text}");
        assert!(
            text.contains("Resumed session 20250101-000000-aaaa on profile demo"),
            "{text}"
        );
        assert!(text.contains("1 unreadable line skipped"), "{text}");
    }
}
