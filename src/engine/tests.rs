//! Engine tests over scripted in-process providers, under a paused clock.

use std::collections::VecDeque;
use std::sync::Mutex;

use futures_util::StreamExt;
use pretty_assertions::assert_eq;

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::provider::{EventStream, Message, StreamError, StreamEvent};

/// What a scripted backend does on one request.
#[derive(Debug, Clone)]
enum Step {
    Answer {
        first_ms: u64,
        tokens: Vec<&'static str>,
    },
    Fail {
        after_ms: u64,
        err: ProviderError,
    },
    /// Sends the tokens, then never finishes.
    Stall {
        tokens: Vec<&'static str>,
    },
    /// Sends the tokens, then the connection breaks.
    Cut {
        tokens: Vec<&'static str>,
    },
}

#[derive(Debug)]
struct Scripted {
    steps: Mutex<VecDeque<Step>>,
    calls: Mutex<u32>,
}

impl Scripted {
    fn new(steps: Vec<Step>) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into()),
            calls: Mutex::new(0),
        })
    }
    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

impl Provider for Scripted {
    fn stream(&self, _request: ChatRequest) -> EventStream {
        *self.calls.lock().unwrap() += 1;
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Answer {
                first_ms: 10,
                tokens: vec!["ok"],
            });
        Box::pin(async_stream::stream! {
            match step {
                Step::Answer { first_ms, tokens } => {
                    tokio::time::sleep(Duration::from_millis(first_ms)).await;
                    for t in tokens {
                        yield Ok(StreamEvent::Delta(t.to_string()));
                    }
                    yield Ok(StreamEvent::Usage(Usage { input_tokens: 3, output_tokens: 2, estimated: false }));
                    yield Ok(StreamEvent::Finished { reason: Some("stop".into()) });
                }
                Step::Fail { after_ms, err } => {
                    tokio::time::sleep(Duration::from_millis(after_ms)).await;
                    yield Err(err);
                }
                Step::Stall { tokens } => {
                    for t in tokens {
                        yield Ok(StreamEvent::Delta(t.to_string()));
                    }
                    std::future::pending::<()>().await;
                }
                Step::Cut { tokens } => {
                    for t in tokens {
                        yield Ok(StreamEvent::Delta(t.to_string()));
                    }
                    yield Err(ProviderError::Stream(StreamError::Io("connection reset".into())));
                }
            }
        })
    }
}

fn backend(name: &str, p: &Arc<Scripted>) -> Backend {
    Backend {
        name: name.into(),
        provider_name: "openai".into(),
        model: format!("model-{name}"),
        base_url: format!("http://{name}"),
        streaming: true,
        provider: Ok(p.clone() as Arc<dyn Provider>),
    }
}

fn http(status: u16) -> ProviderError {
    ProviderError::Http {
        status,
        message: String::new(),
        retry_after: None,
    }
}

fn engine(backends: Vec<Backend>) -> Engine {
    Engine::new("lb", Policy::Failover, LbSettings::default(), backends)
}

async fn run(engine: &Engine) -> Vec<EngineEvent> {
    engine
        .run(ChatRequest {
            messages: vec![Message::user("hi")],
            stream: true,
        })
        .collect()
        .await
}

fn text(events: &[EngineEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn started(events: &[EngineEvent]) -> Vec<(String, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::AttemptStarted {
                backend, attempt, ..
            } => Some((backend.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn first_backend_answers() {
    let a = Scripted::new(vec![Step::Answer {
        first_ms: 100,
        tokens: vec!["Hel", "lo"],
    }]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(text(&events), "Hello");
    assert_eq!(b.calls(), 0);
    match events.last() {
        Some(EngineEvent::Done { provenance }) => {
            assert_eq!(provenance.backend, "a");
            assert_eq!(provenance.attempts, 1);
            assert_eq!(provenance.failovers, 0);
            assert_eq!(provenance.first_chunk_ms, 100);
            assert_eq!(provenance.usage.total(), 5);
        }
        other => panic!("expected Done, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn transient_error_is_retried_on_the_same_backend_after_the_delay() {
    let a = Scripted::new(vec![
        Step::Fail {
            after_ms: 0,
            err: http(503),
        },
        Step::Answer {
            first_ms: 0,
            tokens: vec!["fine"],
        },
    ]);
    let b = Scripted::new(vec![]);
    let start = Instant::now();
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(started(&events), vec![("a".into(), 1), ("a".into(), 2)]);
    assert_eq!(text(&events), "fine");
    assert_eq!(start.elapsed(), Duration::from_millis(1000));
    assert_eq!(b.calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn retry_after_wins_over_the_delay_and_a_long_one_fails_over() {
    let short = ProviderError::Http {
        status: 429,
        message: String::new(),
        retry_after: Some(Duration::from_secs(3)),
    };
    let a = Scripted::new(vec![Step::Fail {
        after_ms: 0,
        err: short,
    }]);
    let start = Instant::now();
    let events = run(&engine(vec![backend("a", &a)])).await;
    assert_eq!(started(&events).len(), 2);
    assert_eq!(start.elapsed(), Duration::from_millis(3010));

    let long = ProviderError::Http {
        status: 429,
        message: String::new(),
        retry_after: Some(Duration::from_secs(3600)),
    };
    let a = Scripted::new(vec![Step::Fail {
        after_ms: 0,
        err: long,
    }]);
    let b = Scripted::new(vec![]);
    let start = Instant::now();
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(started(&events), vec![("a".into(), 1), ("b".into(), 1)]);
    assert_eq!(start.elapsed(), Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn auth_error_fails_over_at_once() {
    let a = Scripted::new(vec![Step::Fail {
        after_ms: 0,
        err: http(401),
    }]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(started(&events), vec![("a".into(), 1), ("b".into(), 1)]);
    assert!(matches!(
        &events[1],
        EngineEvent::AttemptFailed {
            class: ErrorClass::Auth,
            will_retry: false,
            ..
        }
    ));
    assert!(
        matches!(events.last(), Some(EngineEvent::Done { provenance }) if provenance.failovers == 1 && provenance.attempts == 2)
    );
}

#[tokio::test(start_paused = true)]
async fn request_error_skips_identical_siblings() {
    let a = Scripted::new(vec![Step::Fail {
        after_ms: 0,
        err: http(400),
    }]);
    let twin = Scripted::new(vec![]);
    let other = Scripted::new(vec![]);
    let mut twin_backend = backend("twin", &twin);
    twin_backend.model = "model-a".into();
    twin_backend.base_url = "http://a".into();
    let events = run(&engine(vec![
        backend("a", &a),
        twin_backend,
        backend("c", &other),
    ]))
    .await;
    assert_eq!(twin.calls(), 0);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EngineEvent::Skipped { backend, .. } if backend == "twin"))
    );
    assert_eq!(text(&events), "ok");
}

#[tokio::test(start_paused = true)]
async fn slow_first_chunk_times_out_and_shows_nothing_from_that_backend() {
    let a = Scripted::new(vec![Step::Answer {
        first_ms: 31_000,
        tokens: vec!["late"],
    }]);
    let b = Scripted::new(vec![Step::Answer {
        first_ms: 5,
        tokens: vec!["quick"],
    }]);
    let start = Instant::now();
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(text(&events), "quick");
    assert_eq!(a.calls(), 1, "a timeout fails over, it is not retried");
    assert_eq!(start.elapsed(), Duration::from_millis(30_005));
}

#[tokio::test(start_paused = true)]
async fn stall_after_text_is_interrupted_not_failed_over() {
    let a = Scripted::new(vec![Step::Stall {
        tokens: vec!["part"],
    }]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(b.calls(), 0);
    assert_eq!(text(&events), "part");
    assert!(
        matches!(events.last(), Some(EngineEvent::Interrupted { reason, .. }) if reason.contains("stream_idle_timeout_ms"))
    );
}

#[tokio::test(start_paused = true)]
async fn cut_after_text_is_interrupted() {
    let a = Scripted::new(vec![Step::Cut {
        tokens: vec!["par", "tial"],
    }]);
    let events = run(&engine(vec![backend("a", &a)])).await;
    assert_eq!(text(&events), "partial");
    assert!(
        matches!(events.last(), Some(EngineEvent::Interrupted { reason, .. }) if reason.contains("connection reset"))
    );
}

#[tokio::test(start_paused = true)]
async fn everything_down_lists_each_backend_and_its_last_reason() {
    let a = Scripted::new(vec![
        Step::Fail {
            after_ms: 0,
            err: http(503),
        },
        Step::Fail {
            after_ms: 0,
            err: http(502),
        },
    ]);
    let b = Scripted::new(vec![Step::Fail {
        after_ms: 0,
        err: http(401),
    }]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    match events.last() {
        Some(EngineEvent::Exhausted { reasons }) => {
            assert_eq!(reasons.len(), 2);
            assert_eq!(reasons[0].backend, "a");
            assert!(
                reasons[0].reason.starts_with("502"),
                "{}",
                reasons[0].reason
            );
            assert_eq!(reasons[1].class, ErrorClass::Auth);
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_could_not_be_built_fails_with_its_reason() {
    let b = Scripted::new(vec![]);
    let mut broken = backend("nokey", &b);
    broken.provider = Err(ProviderError::MissingKey {
        provider: "openai".into(),
        hint: "set OPENAI_API_KEY".into(),
    });
    let events = run(&engine(vec![broken, backend("b", &b)])).await;
    assert!(events.iter().any(|e| matches!(e, EngineEvent::AttemptFailed { backend, class: ErrorClass::Auth, .. } if backend == "nokey")));
    assert_eq!(text(&events), "ok");
}

#[tokio::test(start_paused = true)]
async fn empty_answer_is_transient() {
    let a = Scripted::new(vec![
        Step::Answer {
            first_ms: 0,
            tokens: vec![],
        },
        Step::Answer {
            first_ms: 0,
            tokens: vec![],
        },
    ]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(a.calls(), 2);
    assert_eq!(text(&events), "ok");
}

// ---- health: breaker, TPM, pools, persistence ----

fn settings_with(f: impl FnOnce(&mut LbSettings)) -> LbSettings {
    let mut s = LbSettings {
        retry_count: 1,
        ..LbSettings::default()
    };
    f(&mut s);
    s
}

fn failing(n: usize, status: u16) -> Vec<Step> {
    (0..n)
        .map(|_| Step::Fail {
            after_ms: 0,
            err: http(status),
        })
        .collect()
}

fn answered_by(events: &[EngineEvent]) -> Option<String> {
    match events.last() {
        Some(EngineEvent::Done { provenance }) => Some(provenance.backend.clone()),
        _ => None,
    }
}

fn skipped(events: &[EngineEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Skipped { backend, .. } => Some(backend.clone()),
            _ => None,
        })
        .collect()
}

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

fn breaker_events(events: &[EngineEvent]) -> Vec<(String, BreakerState)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Breaker { backend, state } => Some((backend.clone(), *state)),
            _ => None,
        })
        .collect()
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
        Step::Fail {
            after_ms: 0,
            err: http(503),
        },
        Step::Fail {
            after_ms: 0,
            err: http(503),
        },
        Step::Answer {
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
        Step::Cut { tokens: vec!["x"] },
        Step::Cut { tokens: vec!["y"] },
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
