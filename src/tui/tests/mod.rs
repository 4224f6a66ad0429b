//! Whole-screen tests on ratatui's `TestBackend`, with insta snapshots, and a run
//! of the real main loop against the keyless `sim` backend. The helpers here drive
//! the app as the runtime would: keys in, effects out, engine events by request id.

mod archive;
mod health;
mod keys;
mod main_loop;
mod resume;
mod screens;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Effect};
use super::event::AppEvent;
use super::theme::Theme;
use crate::engine::{EngineEvent, Provenance};
use crate::profile::{self, ProfileStore};
use crate::provider::{ErrorClass, Usage};
use crate::session::Session;

fn app_on(name: &str) -> (tempfile::TempDir, App) {
    app_on_themed(name, Theme::new(false))
}

/// A chat on the built-in profile `name`, drawn with `theme`.
fn app_on_themed(name: &str, theme: Theme) -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(tmp.path().join("profiles"));
    profile::ensure_builtin(&store).unwrap();
    let resolved = store.resolve(name).unwrap();
    let app = App::new(Session::new(store, resolved), theme);
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
    super::draw(app, &mut terminal).unwrap();
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
            ..Usage::default()
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
- first runner\n- second runner\n  - nested\n\n1. one\n2. two\n\n\
```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n> quoted words\n";

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
