//! Retry, failover, timeouts and interrupted answers.

use std::time::Duration;

use pretty_assertions::assert_eq;
use tokio::time::Instant;

use super::*;

#[tokio::test(start_paused = true)]
async fn first_backend_answers() {
    let a = Scripted::new(vec![Reply::Answer {
        first_ms: 100,
        tokens: vec!["Hel", "lo"],
    }]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(text(&events), "Hello");
    assert_eq!(b.calls(), 0);
    match events.last() {
        Some(EngineEvent::Done { provenance, .. }) => {
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
        Reply::Fail {
            after_ms: 0,
            err: http(503),
        },
        Reply::Answer {
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
        info: Default::default(),
    };
    let a = Scripted::new(vec![Reply::Fail {
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
        info: Default::default(),
    };
    let a = Scripted::new(vec![Reply::Fail {
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
    let a = Scripted::new(vec![Reply::Fail {
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
    let Some(EngineEvent::Done { provenance, .. }) = events.last() else {
        panic!("expected Done, got {events:?}");
    };
    assert_eq!((provenance.failovers, provenance.attempts), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn request_error_skips_identical_siblings() {
    let a = Scripted::new(vec![Reply::Fail {
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
    let a = Scripted::new(vec![Reply::Answer {
        first_ms: 31_000,
        tokens: vec!["late"],
    }]);
    let b = Scripted::new(vec![Reply::Answer {
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
    let a = Scripted::new(vec![Reply::Stall {
        tokens: vec!["part"],
    }]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(b.calls(), 0);
    assert_eq!(text(&events), "part");
    let Some(EngineEvent::Interrupted { reason, .. }) = events.last() else {
        panic!("expected Interrupted, got {events:?}");
    };
    assert!(reason.contains("stream_idle_timeout_ms"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn cut_after_text_is_interrupted() {
    let a = Scripted::new(vec![Reply::Cut {
        tokens: vec!["par", "tial"],
    }]);
    let events = run(&engine(vec![backend("a", &a)])).await;
    assert_eq!(text(&events), "partial");
    let Some(EngineEvent::Interrupted { reason, .. }) = events.last() else {
        panic!("expected Interrupted, got {events:?}");
    };
    assert!(reason.contains("connection reset"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn everything_down_lists_each_backend_and_its_last_reason() {
    let a = Scripted::new(vec![
        Reply::Fail {
            after_ms: 0,
            err: http(503),
        },
        Reply::Fail {
            after_ms: 0,
            err: http(502),
        },
    ]);
    let b = Scripted::new(vec![Reply::Fail {
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
    let auth_failure = |e: &EngineEvent| match e {
        EngineEvent::AttemptFailed { backend, class, .. } => {
            backend == "nokey" && *class == ErrorClass::Auth
        }
        _ => false,
    };
    assert!(events.iter().any(auth_failure), "{events:?}");
    assert_eq!(text(&events), "ok");
}

#[tokio::test(start_paused = true)]
async fn empty_answer_is_transient() {
    let a = Scripted::new(vec![
        Reply::Answer {
            first_ms: 0,
            tokens: vec![],
        },
        Reply::Answer {
            first_ms: 0,
            tokens: vec![],
        },
    ]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(a.calls(), 2);
    assert_eq!(text(&events), "ok");
}

fn out_of_quota() -> ProviderError {
    ProviderError::Http {
        status: 429,
        message: "You exceeded your current quota".into(),
        retry_after: None,
        info: Box::new(crate::provider::HttpInfo {
            code: Some("insufficient_quota".into()),
            ..Default::default()
        }),
    }
}

#[tokio::test(start_paused = true)]
async fn a_quota_error_fails_over_at_once_and_skips_the_backend_for_the_cooldown() {
    let a = Scripted::new(vec![Reply::Fail {
        after_ms: 0,
        err: out_of_quota(),
    }]);
    let b = Scripted::new(vec![]);
    let e = engine(vec![backend("a", &a), backend("b", &b)]);
    let events = run(&e).await;
    // No retry on a: straight to b.
    assert_eq!(started(&events), vec![("a".into(), 1), ("b".into(), 1)]);
    assert_eq!(answered_by(&events).as_deref(), Some("b"));
    assert!(breaker_events(&events).is_empty(), "{events:?}");

    // Within the hour a is passed over without a request, saying why.
    tokio::time::advance(Duration::from_secs(59 * 60)).await;
    let events = run(&e).await;
    assert_eq!(a.calls(), 1);
    assert_eq!(skipped(&events), vec!["a".to_string()]);
    let why = events.iter().find_map(|ev| match ev {
        EngineEvent::Skipped { why, .. } => Some(why.clone()),
        _ => None,
    });
    let why = why.unwrap_or_default();
    assert!(
        why.starts_with("out of money or quota for 1 min (until "),
        "{why}"
    );
    assert!(
        why.contains("last error: 429 Too Many Requests: You exceeded"),
        "{why}"
    );

    // After the cooldown it is asked again.
    tokio::time::advance(Duration::from_secs(61)).await;
    let events = run(&e).await;
    assert_eq!(answered_by(&events).as_deref(), Some("a"));
    assert_eq!(a.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_quota_error_with_a_wait_skips_the_backend_for_that_wait() {
    let mut err = out_of_quota();
    if let ProviderError::Http { retry_after, .. } = &mut err {
        *retry_after = Some(Duration::from_secs(90));
    }
    let a = Scripted::new(vec![Reply::Fail { after_ms: 0, err }]);
    let b = Scripted::new(vec![]);
    let e = engine(vec![backend("a", &a), backend("b", &b)]);
    run(&e).await;
    tokio::time::advance(Duration::from_secs(89)).await;
    assert_eq!(skipped(&run(&e).await), vec!["a".to_string()]);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(answered_by(&run(&e).await).as_deref(), Some("a"));
}

#[tokio::test(start_paused = true)]
async fn quota_and_auth_alone_never_read_as_retry_later() {
    let a = Scripted::new(vec![Reply::Fail {
        after_ms: 0,
        err: out_of_quota(),
    }]);
    let b = Scripted::new(failing(2, 401));
    let e = engine(vec![backend("a", &a), backend("b", &b)]);
    // The first prompt asks a; the second skips it for its quota.
    for _ in 0..2 {
        let events = run(&e).await;
        match events.last() {
            Some(EngineEvent::Exhausted { reasons }) => {
                assert_eq!(reasons[0].class, ErrorClass::Quota);
                assert!(!crate::engine::retry_later(reasons), "{reasons:?}");
            }
            other => panic!("expected Exhausted, got {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn should_retry_false_fails_over_without_a_retry() {
    let err = ProviderError::Http {
        status: 503,
        message: String::new(),
        retry_after: None,
        info: Box::new(crate::provider::HttpInfo {
            should_retry: Some(false),
            ..Default::default()
        }),
    };
    let a = Scripted::new(vec![Reply::Fail { after_ms: 0, err }]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(started(&events), vec![("a".into(), 1), ("b".into(), 1)]);
}

async fn run_held(engine: &Engine) -> Vec<EngineEvent> {
    engine
        .run_held(ChatRequest {
            messages: vec![Message::user("hi")],
            stream: true,
        })
        .collect()
        .await
}

#[tokio::test(start_paused = true)]
async fn a_held_answer_cut_midway_is_retried_and_no_text_of_the_cut_one_is_shown() {
    let a = Scripted::new(vec![
        Reply::Cut {
            tokens: vec!["par", "tial"],
        },
        Reply::Answer {
            first_ms: 0,
            tokens: vec!["whole"],
        },
    ]);
    let events = run_held(&engine(vec![backend("a", &a)])).await;
    assert_eq!(text(&events), "whole");
    assert_eq!(started(&events), vec![("a".into(), 1), ("a".into(), 2)]);
    let failed = events.iter().find_map(|e| match e {
        EngineEvent::AttemptFailed {
            detail, will_retry, ..
        } => Some((detail.clone(), *will_retry)),
        _ => None,
    });
    let (detail, will_retry) = failed.unwrap_or_default();
    assert!(
        detail.starts_with("the answer broke off before it was shown: "),
        "{detail}"
    );
    assert!(detail.contains("connection reset"), "{detail}");
    assert!(will_retry);
    assert!(matches!(events.last(), Some(EngineEvent::Done { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_held_answer_that_stalls_fails_over_and_counts_against_the_backend() {
    let s = settings_with(|_| {});
    let a = Scripted::new(vec![Reply::Stall {
        tokens: vec!["part"],
    }]);
    let b = Scripted::new(vec![]);
    let e = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    let events = run_held(&e).await;
    assert_eq!(text(&events), "ok");
    assert_eq!(answered_by(&events).as_deref(), Some("b"));
    match events.last() {
        Some(EngineEvent::Done { provenance, .. }) => {
            assert_eq!(provenance.failovers, 1);
            assert_eq!(provenance.attempts, 2);
        }
        other => panic!("expected Done, got {other:?}"),
    }
    let stats = e.stats_lb();
    assert!(stats.contains("Success Rate: 0.0%"), "{stats}");
}

#[tokio::test(start_paused = true)]
async fn a_held_answer_broken_everywhere_is_exhausted_not_partial() {
    let s = settings_with(|_| {});
    let a = Scripted::new(vec![Reply::Cut {
        tokens: vec!["half"],
    }]);
    let e = Engine::new("lb", Policy::Failover, s, vec![backend("a", &a)]);
    let events = run_held(&e).await;
    assert_eq!(text(&events), "");
    match events.last() {
        Some(EngineEvent::Exhausted { reasons }) => {
            assert_eq!(reasons[0].class, ErrorClass::Transient);
            assert!(reasons[0].reason.contains("broke off"), "{reasons:?}");
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
}

fn content_policy() -> ProviderError {
    ProviderError::Http {
        status: 400,
        message: "Your request was rejected as a result of our safety system.".into(),
        retry_after: None,
        info: Box::new(crate::provider::HttpInfo {
            code: Some("content_policy_violation".into()),
            ..Default::default()
        }),
    }
}

#[tokio::test(start_paused = true)]
async fn a_content_filter_rejection_is_a_filtered_answer_not_a_failover() {
    let a = Scripted::new(vec![Reply::Fail {
        after_ms: 0,
        err: content_policy(),
    }]);
    let b = Scripted::new(vec![]);
    let events = run(&engine(vec![backend("a", &a), backend("b", &b)])).await;
    assert_eq!(b.calls(), 0);
    match events.last() {
        Some(EngineEvent::Done { provenance, finish }) => {
            assert_eq!(provenance.backend, "a");
            assert_eq!(finish.status, crate::provider::AnswerStatus::Filtered);
            assert_eq!(
                finish.stop_reason.as_deref(),
                Some("content_policy_violation")
            );
            assert!(
                finish
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("safety system"))
            );
        }
        other => panic!("expected Done, got {other:?}"),
    }

    // With failover_on_filter the next differing backend is asked.
    let a = Scripted::new(vec![Reply::Fail {
        after_ms: 0,
        err: content_policy(),
    }]);
    let b = Scripted::new(vec![]);
    let s = settings_with(|s| s.failover_on_filter = true);
    let e = Engine::new(
        "lb",
        Policy::Failover,
        s,
        vec![backend("a", &a), backend("b", &b)],
    );
    let events = run(&e).await;
    assert_eq!(answered_by(&events).as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn when_every_backend_cools_down_the_earliest_is_named_and_may_be_waited_for() {
    let cooling = |s: &mut LbSettings| {
        s.breaker.failure_threshold = 1;
        s.breaker.recovery_timeout = Duration::from_secs(30);
    };
    let a = Scripted::new(failing(1, 503));
    let b = Scripted::new(failing(1, 503));
    let e = Engine::new(
        "lb",
        Policy::Failover,
        settings_with(cooling),
        vec![backend("a", &a), backend("b", &b)],
    );
    assert!(e.earliest_recovery().is_none(), "nothing is cooling yet");
    run(&e).await;
    tokio::time::advance(Duration::from_secs(10)).await;
    // Both breakers opened; a opened first, so it is back first, in 20 s.
    let (name, wait) = e.earliest_recovery().unwrap();
    assert_eq!(name, "a");
    assert_eq!(wait, Duration::from_secs(20));
    assert!(matches!(
        run(&e).await.last(),
        Some(EngineEvent::Exhausted { .. })
    ));

    // Waiting up to 30 s for it answers the prompt instead.
    let a = Scripted::new(failing(1, 503));
    let b = Scripted::new(failing(1, 503));
    let e = Engine::new(
        "lb",
        Policy::Failover,
        settings_with(|s| {
            cooling(s);
            s.wait_for_recovery = Duration::from_secs(30);
        }),
        vec![backend("a", &a), backend("b", &b)],
    );
    run(&e).await;
    let start = Instant::now();
    let events = run(&e).await;
    assert_eq!(answered_by(&events).as_deref(), Some("a"));
    // The wait, then the answer's own 10 ms.
    assert_eq!(start.elapsed(), Duration::from_millis(30_010));
}

#[tokio::test(start_paused = true)]
async fn the_latency_policy_sends_little_to_a_slow_backend_and_still_probes_it() {
    let replies = |first_ms| {
        (0..1000)
            .map(|_| Reply::Answer {
                first_ms,
                tokens: vec!["ok"],
            })
            .collect::<Vec<_>>()
    };
    let slow = Scripted::new(replies(500));
    let fast_a = Scripted::new(replies(50));
    let fast_b = Scripted::new(replies(60));
    let e = Engine::new(
        "lb",
        Policy::Latency,
        LbSettings::default(),
        vec![
            backend("slow", &slow),
            backend("fast-a", &fast_a),
            backend("fast-b", &fast_b),
        ],
    );
    let mut by = std::collections::HashMap::<String, usize>::new();
    for _ in 0..1000 {
        let events = run(&e).await;
        *by.entry(answered_by(&events).unwrap_or_default())
            .or_default() += 1;
        // A steady trickle of prompts, one every 100 ms.
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    let slow_share = by.get("slow").copied().unwrap_or(0);
    assert!(
        slow_share < 100,
        "the slow backend got {slow_share} of 1000: {by:?}"
    );
    assert!(
        slow_share >= 2,
        "the slow backend was measured again later: {by:?}"
    );
    assert_eq!(by.values().sum::<usize>(), 1000);
}

#[tokio::test(start_paused = true)]
async fn a_backend_whose_headers_say_no_budget_is_demoted_until_its_reset() {
    let now = crate::engine::clock::now_ms();
    let spent = crate::provider::ratelimit::RateLimit {
        requests_remaining: Some(0),
        requests_reset_ms: Some(now + 60_000),
        ..Default::default()
    };
    let a = Scripted::new(vec![Reply::Limited { limit: spent }]);
    let b = Scripted::new(vec![]);
    let e = engine(vec![backend("a", &a), backend("b", &b)]);
    assert_eq!(answered_by(&run(&e).await).as_deref(), Some("a"));
    let stats = e.stats_lb();
    assert!(
        stats.contains("  a: closed (rate limit: 0 requests left until "),
        "{stats}"
    );
    // Its budget is spent until the reset: b answers, and a was passed over.
    let events = run(&e).await;
    assert_eq!(answered_by(&events).as_deref(), Some("b"));
    let why = events.iter().find_map(|ev| match ev {
        EngineEvent::Skipped { backend, why } if backend == "a" => Some(why.clone()),
        _ => None,
    });
    assert!(why.is_some_and(|w| w.starts_with("its rate limit has 0 tokens left until ")));
    assert_eq!(a.calls(), 1);
    // After the reset it is first again.
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(answered_by(&run(&e).await).as_deref(), Some("a"));

    // With nothing else to try, a demoted backend is still asked.
    let spent = crate::provider::ratelimit::RateLimit {
        requests_reset_ms: Some(crate::engine::clock::now_ms() + 60_000),
        ..spent
    };
    let a = Scripted::new(vec![Reply::Limited { limit: spent }]);
    let e = engine(vec![backend("a", &a)]);
    run(&e).await;
    let events = run(&e).await;
    assert_eq!(answered_by(&events).as_deref(), Some("a"));
    assert!(
        skipped(&events).is_empty(),
        "alone, it is not even passed over"
    );
}
