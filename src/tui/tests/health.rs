//! Engine health in the chat: breakers and TPM in the status bar, kept across a
//! restart in the state folder, `/stats lb`, and what a `/retry` saves.

use super::*;
use crate::engine::BackendStatus;
use crate::tui::history::CellKind;

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
    let health = |name: &str, breaker, tpm| BackendStatus {
        name: name.to_string(),
        breaker,
        tpm,
    };
    assert_eq!(
        app.status().health(),
        [
            health("demo-down", Open, 0),
            health("demo-fast", Closed, 60)
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
        .transcript()
        .iter()
        .filter(|c| {
            matches!(c.kind(), CellKind::Output { text, is_error: true }
                if text.starts_with("warning: ignoring corrupt engine state"))
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
        app.session().messages().is_empty(),
        "the cut answer is not kept"
    );
    let effects = send(&mut app, "/retry");
    run_to_end(&mut app, effects).await;
    assert_eq!(app.session().messages().len(), 2, "the retry answered");
    send(&mut app, "/clear");
    send(&mut app, "/stats lb");
    let out = screen(&mut app, 80, 30);
    assert!(out.contains("Total Requests: 2"), "{out}");
    // The next prompt (cut again) saves on top of the retry's state: demo-fast's
    // answer from the retry is still counted.
    let effects = send(&mut app, "again");
    run_to_end(&mut app, effects).await;
    let mut restarted = app_in(tmp.path(), "cuttest", true);
    let engine = restarted.session_mut().engine().unwrap().engine;
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
fn after_switching_profile_the_status_bar_forgets_the_old_backend() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "hi"));
    failover_prelude(&mut app, id);
    engine(&mut app, id, EngineEvent::Delta { text: "ok".into() });
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    );
    app.update(AppEvent::EngineEnded { id });
    assert!(
        status_line(&mut app).contains("demo-fast (sim-fast)"),
        "{}",
        status_line(&mut app)
    );
    send(&mut app, "/provider sim sim-think");
    let line = status_line(&mut app);
    assert!(!line.contains("demo-fast"), "{line}");
}

#[test]
fn a_single_backend_failing_says_no_moving_on() {
    let (_tmp, mut app) = app_on("demo-down");
    let id = started_id(&send(&mut app, "hi"));
    engine(
        &mut app,
        id,
        EngineEvent::AttemptFailed {
            backend: "demo-down".into(),
            class: ErrorClass::Transient,
            detail: "cannot reach sim://sim-down".into(),
            will_retry: false,
        },
    );
    let screen = screen(&mut app, 100, 10);
    assert!(
        screen.contains("demo-down failed: cannot reach sim://sim-down"),
        "{screen}"
    );
    assert!(!screen.contains("moving on"), "{screen}");
}
