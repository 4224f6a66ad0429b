//! Breakers, probes, TPM, pools and persisted state across prompts.

use std::time::Duration;

use pretty_assertions::assert_eq;

use super::*;
use crate::engine::policy::Router;

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_at_the_threshold_and_the_next_prompt_skips_the_backend() {
    let a = Scripted::new(failing(2, 401));
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| s.breaker.failure_threshold = 2);
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    for _ in 0..2 {
        assert_eq!(answered_by(&run(&engine).await).as_deref(), Some("b"));
    }
    let third = run(&engine).await;
    assert_eq!(skipped(&third), vec!["a"]);
    assert_eq!(a.calls(), 2, "an open breaker sends nothing");
    assert_eq!(answered_by(&third).as_deref(), Some("b"));
    assert!(
        engine.stats_lb().contains("  a: open"),
        "{}",
        engine.stats_lb()
    );
}

#[tokio::test(start_paused = true)]
async fn breaker_changes_are_events_in_the_stream() {
    let a = Scripted::new(failing(2, 503));
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| s.breaker.failure_threshold = 2);
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    assert_eq!(breaker_events(&run(&engine).await), vec![]);
    assert_eq!(
        breaker_events(&run(&engine).await),
        vec![("a".into(), BreakerState::Open)]
    );
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        breaker_events(&run(&engine).await),
        vec![
            ("a".into(), BreakerState::HalfOpen),
            ("a".into(), BreakerState::Closed)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn after_recovery_exactly_one_probe_goes_out_and_success_brings_the_primary_back() {
    let a = Scripted::new(failing(2, 503));
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| {
        s.breaker.failure_threshold = 2;
        s.breaker.recovery_timeout = Duration::from_secs(30);
    });
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    run(&engine).await;
    run(&engine).await;
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        skipped(&run(&engine).await),
        vec!["a"],
        "still inside the recovery window"
    );
    tokio::time::advance(Duration::from_secs(21)).await;
    let probe = run(&engine).await;
    assert_eq!(
        answered_by(&probe).as_deref(),
        Some("a"),
        "the probe succeeds on the primary"
    );
    assert_eq!(
        answered_by(&run(&engine).await).as_deref(),
        Some("a"),
        "and the primary keeps its traffic"
    );
    assert_eq!(a.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_a_whole_window() {
    let a = Scripted::new(failing(3, 503));
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| {
        s.breaker.failure_threshold = 2;
        s.breaker.recovery_timeout = Duration::from_secs(30);
    });
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    run(&engine).await;
    run(&engine).await;
    tokio::time::advance(Duration::from_secs(31)).await;
    run(&engine).await; // the probe, which fails
    assert_eq!(a.calls(), 3);
    for _ in 0..5 {
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(answered_by(&run(&engine).await).as_deref(), Some("b"));
    }
    assert_eq!(a.calls(), 3, "no second probe inside the new window");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_probe_is_released_for_the_next_prompt() {
    let a = Scripted::new(vec![
        Reply::Fail {
            after_ms: 0,
            err: http(503),
        },
        Reply::Fail {
            after_ms: 0,
            err: http(503),
        },
        Reply::Answer {
            first_ms: 5_000,
            tokens: vec!["late"],
        },
    ]);
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| s.breaker.failure_threshold = 2);
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    run(&engine).await;
    run(&engine).await;
    tokio::time::advance(Duration::from_secs(31)).await;
    {
        let mut stream = Box::pin(engine.run(ChatRequest {
            messages: vec![Message::user("hi")],
            stream: true,
        }));
        // The probe starts, then the user cancels before any text.
        assert_eq!(
            stream.next().await,
            Some(EngineEvent::Breaker {
                backend: "a".into(),
                state: BreakerState::HalfOpen
            })
        );
        assert!(matches!(
            stream.next().await,
            Some(EngineEvent::AttemptStarted { .. })
        ));
        let _ = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
    }
    let next = run(&engine).await;
    assert_eq!(
        answered_by(&next).as_deref(),
        Some("a"),
        "the next prompt may probe again"
    );
}

#[tokio::test(start_paused = true)]
async fn request_errors_do_not_count_against_the_breaker() {
    let a = Scripted::new(failing(4, 400));
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| s.breaker.failure_threshold = 2);
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    for _ in 0..4 {
        run(&engine).await;
    }
    assert_eq!(
        a.calls(),
        4,
        "a bad request is the request's fault, not the backend's"
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_answer_counts_as_a_breaker_failure() {
    let a = Scripted::new(vec![
        Reply::Cut { tokens: vec!["x"] },
        Reply::Cut { tokens: vec!["y"] },
    ]);
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| s.breaker.failure_threshold = 2);
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    run(&engine).await;
    run(&engine).await;
    assert_eq!(skipped(&run(&engine).await), vec!["a"]);
}

#[tokio::test(start_paused = true)]
async fn a_backend_below_the_tpm_threshold_is_passed_over_unless_all_are() {
    let a = Scripted::new(vec![]);
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| s.tpm_threshold = Some(10_000));
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    // a answers first (TPM 0 is "no data", not "low"), then has a low TPM.
    assert_eq!(answered_by(&run(&engine).await).as_deref(), Some("a"));
    let second = run(&engine).await;
    assert_eq!(skipped(&second), vec!["a"]);
    assert_eq!(answered_by(&second).as_deref(), Some("b"));
    // Now both are low: use them in order rather than fail.
    assert_eq!(answered_by(&run(&engine).await).as_deref(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn a_pool_whose_members_are_all_open_reports_no_active_member() {
    let p1 = Scripted::new(failing(2, 503));
    let p2 = Scripted::new(failing(2, 503));
    let backends = vec![backend("p1", &p1), backend("p2", &p2)];
    let route = Route::Group {
        router: Box::new(Router::new(Policy::Random, 2)),
        children: vec![Route::Backend(0), Route::Backend(1)],
        pool: Some(0),
    };
    let pools = vec![PoolLabel {
        key: "qwen-pool".into(),
        pinned: "p1".into(),
    }];
    let s = settings_with(|s| s.breaker.failure_threshold = 1);
    let engine = Engine::with_route("lb", s, backends, route, pools);
    run(&engine).await;
    let events = run(&engine).await;
    match events.last() {
        Some(EngineEvent::Exhausted { reasons }) => {
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert_eq!(
                reasons[0].reason,
                "No active member in pool 'qwen-pool' (pinned: p1)"
            );
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn state_persists_between_engines_so_consecutive_runs_see_an_open_breaker() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings_with(|s| s.breaker.failure_threshold = 2);
    for _ in 0..2 {
        let a = Scripted::new(failing(1, 503));
        let b = Scripted::new(vec![]);
        let engine = Engine::new(
            "lb",
            Policy::Failover,
            s,
            vec![backend("a", &a), backend("b", &b)],
        );
        assert_eq!(engine.persist_in(dir.path()), None);
        run(&engine).await;
    }
    let a = Scripted::new(vec![]);
    let b = Scripted::new(vec![]);
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    engine.persist_in(dir.path());
    assert_eq!(skipped(&run(&engine).await), vec!["a"]);
    assert_eq!(a.calls(), 0);
    assert!(
        engine.stats_lb().contains("Total Requests: 5"),
        "{}",
        engine.stats_lb()
    );
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_state_file_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lb.json"), "{ not json").unwrap();
    let a = Scripted::new(vec![]);
    let engine = Engine::new(
        "lb",
        Policy::Failover,
        LbSettings::default(),
        vec![backend("a", &a)],
    );
    let warning = engine.persist_in(dir.path()).expect("a warning");
    assert!(warning.contains("lb.json"), "{warning}");
    assert_eq!(answered_by(&run(&engine).await).as_deref(), Some("a"));
}
