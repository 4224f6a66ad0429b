//! The fault matrix: every error class baton tells apart, one
//! test each, plus named regression tests.
//!
//! Each in-process test runs the mock server and the engine on one paused,
//! current-thread tokio runtime over real TCP on 127.0.0.1. The paused clock moves
//! only when every task is idle, so "3 s before the first chunk" or "Retry-After: 2"
//! cost no real time and the virtual time a run took is exact. Engines are built
//! from real profile files (`ProfileStore::resolve` + `build_engine`), so the real
//! providers and wire formats are exercised.
//!
//! Every test checks both what the user gets (the [`EngineEvent`]s) and the
//! byte-exact log markers (docs/failover.md shows them).

// Test scaffolding outside #[test] fns: a failed setup should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use baton::config::Settings;
use baton::engine::{
    Backend, BackendFailure, BreakerState, Engine, EngineEvent, Provenance, build_engine,
};
use baton::profile::{Policy, Profile, ProfileStore};
use baton::provider::{self, ApiKey, BackendSpec, ChatRequest, ErrorClass, Message, Usage};
use baton_mock::{Answer, BackendConfig, Behavior, MockConfig, MockServer};
use baton_test_support::home::{TempHome, text};
use baton_test_support::logs::LogCapture;
use baton_test_support::mock::{Mock, refused_url};
use baton_test_support::profile;
use futures_util::StreamExt;
use pretty_assertions::assert_eq;
use tokio::time::Instant;
use tracing::subscriber::DefaultGuard;

// ---------------------------------------------------------------------------
// Log capture
// ---------------------------------------------------------------------------

/// The log markers among the captured lines.
trait Markers {
    /// The lines that are byte-exact log markers, in order. Other debug lines
    /// (retry notes, TPM, the mock's own) are left out so the markers can be
    /// compared whole.
    fn markers(&self) -> Vec<String>;
    /// The markers logged since the last call (for tests with many prompts).
    fn take_markers(&self) -> Vec<String>;
}

impl Markers for LogCapture {
    fn markers(&self) -> Vec<String> {
        self.lines().into_iter().filter(|l| is_marker(l)).collect()
    }

    fn take_markers(&self) -> Vec<String> {
        let markers = self.markers();
        self.clear();
        markers
    }
}

/// Whether a line is one of the byte-exact log markers (TPM and roundrobin
/// markers are not used here).
fn is_marker(line: &str) -> bool {
    const PREFIXES: [&str; 5] = [
        "[LB:failover] Trying backend: ",
        "[LB:failover] Success on backend: ",
        "[LB:failover] Skipping unhealthy backend: ",
        "[LB:timeout] ",
        "[circuit-breaker] ",
    ];
    if PREFIXES.iter().any(|p| line.starts_with(p)) {
        return true;
    }
    line.strip_prefix("[LB:failover] ").is_some_and(|rest| {
        rest.split_once(' ').is_some_and(|(_, tail)| {
            tail.starts_with("failed: ")
                || tail.starts_with("failed after ")
                || tail.starts_with("Backend timeout (")
        }) || rest.contains(": Backend timeout (")
    })
}

fn count(lines: &[String], wanted: &str) -> usize {
    lines.iter().filter(|l| *l == wanted).count()
}

// ---------------------------------------------------------------------------
// The rig: a mock server, a profiles folder and the log capture
// ---------------------------------------------------------------------------

/// Ephemeral settings of a load-balancer profile, as `(key, value)` pairs.
type Pairs = &'static [(&'static str, u64)];

struct Rig {
    mock: MockServer,
    dir: tempfile::TempDir,
    logs: LogCapture,
    _guard: DefaultGuard,
}

impl Rig {
    /// A mock with these backends, and an empty profiles folder.
    async fn start(backends: Vec<(&str, BackendConfig)>) -> Rig {
        let (logs, guard) = LogCapture::start();
        let config = backends
            .into_iter()
            .fold(MockConfig::default(), |c, (name, b)| {
                c.with_backend(name, b)
            });
        let mock = MockServer::start(config).await.unwrap();
        Rig {
            mock,
            dir: tempfile::tempdir().unwrap(),
            logs,
            _guard: guard,
        }
    }

    fn write(&self, name: &str, profile: impl Into<Profile>) {
        profile::write(self.dir.path(), name, profile);
    }

    /// An OpenAI-compatible model profile `name` for `model` at `base_url`.
    fn model_at(&self, name: &str, model: &str, base_url: &str) {
        self.write(name, profile::model("openai", model).base_url(base_url));
    }

    /// Model profile `name` pointing at the mock backend of the same name.
    fn model(&self, name: &str) {
        self.model_at(name, profile::MOCK_MODEL, &self.mock.base_url(name));
    }

    /// A failover LB profile `lb` over `members`, with extra ephemeral settings.
    fn lb(&self, members: &[&str], settings: Pairs) {
        self.write("lb", profile::failover(members).settings(settings));
    }

    /// The engine of profile `name`, with `--set`-style overrides.
    fn engine_with(&self, name: &str, overrides: &Settings) -> Engine {
        let store = ProfileStore::new(self.dir.path().to_path_buf());
        build_engine(&store.resolve(name).unwrap(), overrides).unwrap()
    }

    /// The engine of profile `lb`.
    fn engine(&self) -> Engine {
        self.engine_with("lb", &Settings::new())
    }

    /// Model profiles for `members` (each at its mock backend) and an LB over them.
    fn failover(&self, members: &[&str], settings: Pairs) -> Engine {
        for m in members {
            self.model(m);
        }
        self.lb(members, settings);
        self.engine()
    }

    fn requests(&self, backend: &str) -> usize {
        self.mock.requests(backend)
    }
}

/// The settings most matrix rows use: two attempts a backend, one second apart.
const TWO_TRIES: Pairs = &[
    ("failover_retry_count", 2),
    ("failover_retry_delay_ms", 1000),
];

// ---------------------------------------------------------------------------
// Running prompts and describing what the user gets
// ---------------------------------------------------------------------------

fn request(prompt: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::user(prompt)],
        stream: true,
    }
}

/// Every event of one prompt.
async fn ask(engine: &Engine) -> Vec<EngineEvent> {
    engine.run(request("hi")).collect().await
}

/// The events with consecutive deltas joined and wall-clock fields zeroed, so
/// whole runs compare with `assert_eq!`.
fn user_view(events: &[EngineEvent]) -> Vec<EngineEvent> {
    let mut out: Vec<EngineEvent> = Vec::new();
    for event in events {
        match (out.last_mut(), event) {
            (Some(EngineEvent::Delta { text: joined }), EngineEvent::Delta { text }) => {
                joined.push_str(text);
            }
            (_, EngineEvent::Done { provenance, finish }) => out.push(EngineEvent::Done {
                provenance: untimed(provenance),
                finish: finish.clone(),
            }),
            (_, EngineEvent::Interrupted { provenance, reason }) => {
                out.push(EngineEvent::Interrupted {
                    provenance: untimed(provenance),
                    reason: reason.clone(),
                });
            }
            (_, other) => out.push(other.clone()),
        }
    }
    out
}

fn untimed(p: &Provenance) -> Provenance {
    Provenance {
        latency_ms: 0,
        first_chunk_ms: 0,
        ..p.clone()
    }
}

/// The answer text the user saw.
fn text_of(events: &[EngineEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn provenance_of(events: &[EngineEvent]) -> &Provenance {
    match events.last() {
        Some(EngineEvent::Done { provenance, .. }) => provenance,
        other => panic!("the run did not complete: {other:?}\n{events:#?}"),
    }
}

/// Who answered a prompt, or `None` when no backend did.
fn answered_by(events: &[EngineEvent]) -> Option<String> {
    match events.last() {
        Some(EngineEvent::Done { provenance, .. }) => Some(provenance.backend.clone()),
        _ => None,
    }
}

/// Backends that got an attempt, in order.
fn attempted(events: &[EngineEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::AttemptStarted { backend, .. } => Some(backend.clone()),
            _ => None,
        })
        .collect()
}

fn started(backend: &str, attempt: u32, of: u32) -> EngineEvent {
    EngineEvent::AttemptStarted {
        backend: backend.into(),
        attempt,
        of,
    }
}

fn failed(backend: &str, class: ErrorClass, detail: &str, will_retry: bool) -> EngineEvent {
    EngineEvent::AttemptFailed {
        backend: backend.into(),
        class,
        detail: detail.into(),
        will_retry,
    }
}

fn reason(backend: &str, class: ErrorClass, reason: &str) -> BackendFailure {
    BackendFailure {
        backend: backend.into(),
        class,
        reason: reason.into(),
    }
}

/// The mock's answer when no text is configured.
fn default_text(backend: &str) -> String {
    format!("Hello from {backend}. This is a mock answer.")
}

/// What a complete answer of `text` from `backend` looks like to the user; the mock
/// reports one prompt token per word and one completion token per chunk (word).
fn answer_events(
    backend: &str,
    model: &str,
    text: &str,
    attempts: u32,
    failovers: u32,
) -> Vec<EngineEvent> {
    let usage = Usage {
        input_tokens: 1,
        output_tokens: text.split_whitespace().count() as u64,
        estimated: false,
        ..Usage::default()
    };
    vec![
        EngineEvent::Delta { text: text.into() },
        EngineEvent::Usage { usage },
        EngineEvent::Done {
            provenance: Provenance {
                backend: backend.into(),
                provider: "openai".into(),
                model: model.into(),
                attempts,
                failovers,
                latency_ms: 0,
                first_chunk_ms: 0,
                usage,
            },
            finish: baton::provider::Finish::complete(Some("stop")),
        },
    ]
}

fn default_answer(backend: &str, attempts: u32, failovers: u32) -> Vec<EngineEvent> {
    answer_events(
        backend,
        "mock-model",
        &default_text(backend),
        attempts,
        failovers,
    )
}

fn status(code: u16) -> BackendConfig {
    BackendConfig::new(Behavior::status(code))
}

fn ok() -> BackendConfig {
    BackendConfig::new(Behavior::default())
}

fn slow_first_chunk(ms: u64) -> Behavior {
    Behavior::Answer(Answer {
        first_chunk_delay_ms: ms,
        ..Answer::default()
    })
}

fn trying(backend: &str, attempt: u32, of: u32) -> String {
    format!("[LB:failover] Trying backend: {backend} (attempt {attempt}/{of})")
}

fn success(backend: &str) -> String {
    format!("[LB:failover] Success on backend: {backend}")
}

fn skipping(backend: &str) -> String {
    format!("[LB:failover] Skipping unhealthy backend: {backend}")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------
// The class behaviours, shared by the rows
// ---------------------------------------------------------------------------

/// Transient: backend `a` fails twice (attempt 1/2, `wait`, attempt 2/2) with
/// `detail`, then `b` answers. `a_requests` is `None` when `a` is not on the mock.
async fn assert_transient_row(
    rig: &Rig,
    engine: &Engine,
    detail: &str,
    wait: Duration,
    a_requests: Option<usize>,
) {
    let clock = Instant::now();
    let events = ask(engine).await;
    assert_eq!(clock.elapsed(), wait, "virtual time spent: the retry wait");
    let mut expected = vec![
        started("a", 1, 2),
        failed("a", ErrorClass::Transient, detail, true),
        started("a", 2, 2),
        failed("a", ErrorClass::Transient, detail, false),
        started("b", 1, 2),
    ];
    expected.extend(default_answer("b", 3, 1));
    assert_eq!(user_view(&events), expected);
    if let Some(n) = a_requests {
        assert_eq!(rig.requests("a"), n, "requests to a");
    }
    assert_eq!(rig.requests("b"), 1);
    assert_eq!(
        rig.logs.markers(),
        vec![
            trying("a", 1, 2),
            trying("a", 2, 2),
            format!("[LB:failover] a failed after 2 attempts: {detail}"),
            trying("b", 1, 2),
            success("b"),
        ]
    );
}

/// An HTTP status that must be transient: retried on `a`, then `b` answers.
async fn transient_status_row(code: u16, phrase: &str) {
    let rig = Rig::start(vec![("a", status(code)), ("b", ok())]).await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let detail = format!("{code} {phrase}");
    assert_transient_row(&rig, &engine, &detail, ms(1000), Some(2)).await;
}

/// Auth: `a` answers `code`, is not retried, and `b` is tried at once.
async fn auth_status_row(code: u16, phrase: &str) {
    at_once_row(code, phrase, ErrorClass::Auth).await;
}

/// Auth or quota: `a` fails once with `code` and is not retried; `b` answers at once.
async fn at_once_row(code: u16, phrase: &str, class: ErrorClass) {
    let rig = Rig::start(vec![("a", status(code)), ("b", ok())]).await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let clock = Instant::now();
    let events = ask(&engine).await;
    assert_eq!(clock.elapsed(), Duration::ZERO, "no retry wait");
    let detail = format!("{code} {phrase}");
    let mut expected = vec![
        started("a", 1, 2),
        failed("a", class, &detail, false),
        started("b", 1, 2),
    ];
    expected.extend(default_answer("b", 2, 1));
    assert_eq!(user_view(&events), expected);
    assert_eq!(rig.requests("a"), 1, "a {class} error is not retried");
    assert_eq!(
        rig.logs.markers(),
        vec![
            trying("a", 1, 2),
            format!("[LB:failover] a failed: {detail}"),
            trying("b", 1, 2),
            success("b"),
        ]
    );
}

/// Request: `a` answers `code` once; `a-twin` (same provider, URL and model) is
/// skipped; `a-large` (same URL, another model) is tried and answers.
async fn request_status_row(code: u16, phrase: &str) {
    let rig = Rig::start(vec![(
        "a",
        BackendConfig::new(Behavior::default()).with_script(vec![Behavior::status(code)]),
    )])
    .await;
    let url = rig.mock.base_url("a");
    rig.model("a");
    rig.model_at("a-twin", "mock-model", &url);
    rig.model_at("a-large", "mock-model-large", &url);
    rig.lb(&["a", "a-twin", "a-large"], TWO_TRIES);
    let engine = rig.engine();
    let clock = Instant::now();
    let events = ask(&engine).await;
    assert_eq!(clock.elapsed(), Duration::ZERO, "no retry wait");
    let detail = format!("{code} {phrase}");
    let mut expected = vec![
        started("a", 1, 2),
        failed("a", ErrorClass::Request, &detail, false),
        EngineEvent::Skipped {
            backend: "a-twin".into(),
            why: "same provider, URL and model as a, which rejected the request".into(),
        },
        started("a-large", 1, 2),
    ];
    expected.extend(answer_events(
        "a-large",
        "mock-model-large",
        &default_text("a"),
        2,
        1,
    ));
    assert_eq!(user_view(&events), expected);
    let models: Vec<_> = rig
        .mock
        .recorded("a")
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        models,
        ["mock-model", "mock-model-large"],
        "no retry, the twin never asked"
    );
    assert_eq!(
        rig.logs.markers(),
        vec![
            trying("a", 1, 2),
            format!("[LB:failover] a failed: {detail}"),
            trying("a-large", 1, 2),
            success("a-large"),
        ]
    );
}

// ---------------------------------------------------------------------------
// Network failures
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn connection_refused_is_transient_retried_then_failed_over() {
    let rig = Rig::start(vec![("b", ok())]).await;
    let refused = refused_url();
    rig.model_at("a", "mock-model", &refused);
    rig.model("b");
    rig.lb(&["a", "b"], TWO_TRIES);
    let engine = rig.engine();
    let detail = format!("cannot reach {refused}/chat/completions: connection refused");
    assert_transient_row(&rig, &engine, &detail, ms(1000), None).await;
}

/// A resolver that never finds anything: no real DNS is queried.
struct NoDns;

impl reqwest::dns::Resolve for NoDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let err: Box<dyn std::error::Error + Send + Sync> =
                format!("no such host: {host}").into();
            Err(err)
        })
    }
}

/// `build_engine` takes no HTTP client, so the DNS-failing backend is built with
/// `provider::build` on a client whose resolver always fails, and put into an
/// engine next to the profile-built backend `b` with `Engine::new`.
#[tokio::test(start_paused = true)]
async fn dns_failure_is_transient_retried_then_failed_over() {
    let rig = Rig::start(vec![("b", ok())]).await;
    let base = "http://llm.invalid/v1";
    rig.model_at("a", "mock-model", base);
    rig.model("b");
    rig.lb(&["a", "b"], TWO_TRIES);
    let built = rig.engine();

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .dns_resolver(NoDns)
        .no_proxy()
        .build()
        .unwrap();
    let spec = BackendSpec {
        name: "a".into(),
        provider: "openai".into(),
        model: "mock-model".into(),
        base_url: Some(base.into()),
        api_key: Some(ApiKey::new("sk-test")),
        model_params: serde_json::Map::new(),
        socket_timeout: None,
        headers: Vec::new(),
    };
    let mut backends: Vec<Backend> = built.backends().to_vec();
    backends[0].provider = provider::build(&spec, &client);
    let engine = Engine::new("lb", Policy::Failover, *built.settings(), backends);

    let detail = format!(
        "cannot reach {base}/chat/completions: DNS lookup failed (no such host: llm.invalid)"
    );
    assert_transient_row(&rig, &engine, &detail, ms(1000), None).await;
}

#[tokio::test(start_paused = true)]
async fn connection_reset_without_an_answer_is_transient_retried_then_failed_over() {
    let rig = Rig::start(vec![("a", BackendConfig::new(Behavior::Drop)), ("b", ok())]).await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let url = rig.mock.base_url("a");
    // hyper reports the reset as an incomplete message.
    let detail = format!(
        "cannot reach {url}/chat/completions: request failed: connection closed before message completed"
    );
    assert_transient_row(&rig, &engine, &detail, ms(1000), Some(2)).await;
}

// ---------------------------------------------------------------------------
// HTTP statuses, row by row
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn status_400_is_a_request_error_the_identical_sibling_is_skipped() {
    request_status_row(400, "Bad Request").await;
}

#[tokio::test(start_paused = true)]
async fn status_401_is_an_auth_error_failed_over_at_once() {
    auth_status_row(401, "Unauthorized").await;
}

#[tokio::test(start_paused = true)]
async fn status_402_is_a_quota_error_failed_over_at_once() {
    at_once_row(402, "Payment Required", ErrorClass::Quota).await;
}

#[tokio::test(start_paused = true)]
async fn status_403_is_an_auth_error_failed_over_at_once() {
    auth_status_row(403, "Forbidden").await;
}

#[tokio::test(start_paused = true)]
async fn status_404_is_a_request_error_the_identical_sibling_is_skipped() {
    request_status_row(404, "Not Found").await;
}

#[tokio::test(start_paused = true)]
async fn status_408_is_transient_retried_then_failed_over() {
    transient_status_row(408, "Request Timeout").await;
}

#[tokio::test(start_paused = true)]
async fn status_413_is_a_request_error_the_identical_sibling_is_skipped() {
    request_status_row(413, "Payload Too Large").await;
}

#[tokio::test(start_paused = true)]
async fn status_422_is_a_request_error_the_identical_sibling_is_skipped() {
    request_status_row(422, "Unprocessable Entity").await;
}

#[tokio::test(start_paused = true)]
async fn status_429_with_retry_after_is_retried_after_the_wait_then_failed_over() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::Status {
                code: 429,
                message: None,
                retry_after_s: Some(3),
                retry_after_ms: None,
            }),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let detail = "429 Too Many Requests";
    // Retry-After (3 s) wins over failover_retry_delay_ms (1 s).
    assert_transient_row(&rig, &engine, detail, ms(3000), Some(2)).await;
}

#[tokio::test(start_paused = true)]
async fn status_500_is_transient_retried_then_failed_over() {
    transient_status_row(500, "Internal Server Error").await;
}

#[tokio::test(start_paused = true)]
async fn status_502_is_transient_retried_then_failed_over() {
    transient_status_row(502, "Bad Gateway").await;
}

#[tokio::test(start_paused = true)]
async fn status_503_is_transient_retried_then_failed_over() {
    transient_status_row(503, "Service Unavailable").await;
}

#[tokio::test(start_paused = true)]
async fn status_504_is_transient_retried_then_failed_over() {
    transient_status_row(504, "Gateway Timeout").await;
}

#[tokio::test(start_paused = true)]
async fn status_529_is_transient_retried_then_failed_over() {
    // The mock's reason phrase for 529 is its generic one.
    let rig = Rig::start(vec![("a", status(529)), ("b", ok())]).await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    assert_transient_row(
        &rig,
        &engine,
        "529 Overloaded: Mock error",
        ms(1000),
        Some(2),
    )
    .await;
}

// ---------------------------------------------------------------------------
// Timeouts and broken streams
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn slow_first_chunk_times_out_and_fails_over_showing_nothing_from_the_slow_one() {
    let rig = Rig::start(vec![
        ("a", BackendConfig::new(slow_first_chunk(3000))),
        ("b", ok()),
    ])
    .await;
    for m in ["a", "b"] {
        rig.model(m);
    }
    rig.lb(&["a", "b"], &[("timeout_ms", 30000)]);
    let mut overrides = Settings::new();
    overrides.set("timeout_ms", "1000").unwrap();
    let engine = rig.engine_with("lb", &overrides);

    let clock = Instant::now();
    let events = ask(&engine).await;
    assert_eq!(
        clock.elapsed(),
        ms(1000),
        "exactly the timeout, no retry wait"
    );
    let mut expected = vec![
        started("a", 1, 2),
        failed(
            "a",
            ErrorClass::Transient,
            "no answer within 1000ms (timeout_ms)",
            false,
        ),
        started("b", 1, 2),
    ];
    expected.extend(default_answer("b", 2, 1));
    assert_eq!(user_view(&events), expected);
    assert!(!text_of(&events).contains("from a"));
    let provenance = provenance_of(&events);
    assert_eq!(
        (provenance.latency_ms, provenance.first_chunk_ms),
        (1000, 0)
    );
    assert_eq!(rig.requests("a"), 1);
    assert_eq!(
        rig.logs.markers(),
        vec![
            trying("a", 1, 2),
            "[LB:timeout] a: Request exceeded 1000ms".to_owned(),
            "[LB:failover] a: Backend timeout (1000ms > 1000ms), failing over".to_owned(),
            trying("b", 1, 2),
            success("b"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn slow_response_head_times_out_like_a_slow_first_chunk() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::Answer(Answer {
                headers_delay_ms: 5000,
                ..Answer::default()
            })),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], &[("timeout_ms", 2000)]);
    let clock = Instant::now();
    let events = ask(&engine).await;
    assert_eq!(clock.elapsed(), ms(2000));
    assert_eq!(answered_by(&events).as_deref(), Some("b"));
    assert_eq!(text_of(&events), default_text("b"));
    assert_eq!(
        rig.logs.markers()[1..3],
        [
            "[LB:timeout] a: Request exceeded 2000ms".to_owned(),
            "[LB:failover] a: Backend timeout (2000ms > 2000ms), failing over".to_owned(),
        ]
    );
}

/// Stall and cut share this: the answer is interrupted, never complete, never
/// failed over, and the breaker (threshold 1) counts it, so the next prompt
/// skips `a`.
async fn assert_interrupted_then_skipped(rig: &Rig, engine: &Engine, reason: &str, took: Duration) {
    let clock = Instant::now();
    let events = ask(engine).await;
    assert_eq!(clock.elapsed(), took);
    let shown = "Hello from";
    assert_eq!(
        user_view(&events),
        vec![
            started("a", 1, 2),
            EngineEvent::Delta { text: shown.into() },
            EngineEvent::Breaker {
                backend: "a".into(),
                state: BreakerState::Open
            },
            EngineEvent::Interrupted {
                provenance: Provenance {
                    backend: "a".into(),
                    provider: "openai".into(),
                    model: "mock-model".into(),
                    attempts: 1,
                    failovers: 0,
                    latency_ms: 0,
                    first_chunk_ms: 0,
                    usage: Usage::estimate("hi".len(), shown.len()),
                },
                reason: reason.into(),
            },
        ]
    );
    assert!(!events.iter().any(|e| matches!(e, EngineEvent::Done { .. })));
    assert_eq!(rig.requests("a"), 1, "no retry once text was shown");
    assert_eq!(rig.requests("b"), 0, "no failover once text was shown");
    assert_eq!(
        rig.logs.take_markers(),
        vec![
            trying("a", 1, 2),
            "[circuit-breaker] a: Marked unhealthy (1 failures in window)".to_owned(),
            "[circuit-breaker] a: State = open".to_owned(),
        ],
        "an interrupted answer is a failure for the breaker"
    );

    let events = ask(engine).await;
    assert_eq!(answered_by(&events).as_deref(), Some("b"));
    assert_eq!(rig.requests("a"), 1);
    assert_eq!(
        rig.logs.take_markers(),
        vec![skipping("a"), trying("b", 1, 2), success("b")]
    );
}

const BREAKER_OF_ONE: Pairs = &[
    ("failover_retry_count", 2),
    ("failover_retry_delay_ms", 1000),
    ("circuit_breaker_failure_threshold", 1),
    ("circuit_breaker_recovery_timeout_ms", 30000),
    ("stream_idle_timeout_ms", 5000),
];

#[tokio::test(start_paused = true)]
async fn a_stall_mid_stream_is_interrupted_not_complete_and_not_failed_over() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::Stall {
                after_chunks: 2,
                token_delay_ms: 0,
            }),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], BREAKER_OF_ONE);
    assert_interrupted_then_skipped(
        &rig,
        &engine,
        "no data for 5000ms (stream_idle_timeout_ms)",
        ms(5000),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_stream_cut_before_the_end_is_interrupted_not_complete_and_not_failed_over() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::Cut {
                after_chunks: 2,
                token_delay_ms: 0,
            }),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], BREAKER_OF_ONE);
    assert_interrupted_then_skipped(
        &rig,
        &engine,
        "connection lost while streaming: connection closed unexpectedly",
        Duration::ZERO,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn malformed_sse_is_transient_retried_then_failed_over() {
    let rig = Rig::start(vec![
        ("a", BackendConfig::new(Behavior::Malformed)),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let events = ask(&engine).await;
    // The decoder's excerpt of the bad data is its own business; take it from the
    // event and check everything else whole.
    let detail = match &events[1] {
        EngineEvent::AttemptFailed { detail, .. } => detail.clone(),
        other => panic!("expected AttemptFailed, got {other:?}"),
    };
    assert!(
        detail.starts_with("malformed stream data: "),
        "detail: {detail}"
    );
    rig.mock.reset();
    rig.logs.take_markers();
    assert_transient_row(&rig, &engine, &detail, ms(1000), Some(2)).await;
}

#[tokio::test(start_paused = true)]
async fn empty_200_is_transient_retried_then_failed_over() {
    let rig = Rig::start(vec![
        ("a", BackendConfig::new(Behavior::Empty)),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    // No frames at all, not even the end marker: a truncated stream.
    assert_transient_row(
        &rig,
        &engine,
        "stream ended before the answer was complete",
        ms(1000),
        Some(2),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_well_formed_answer_without_text_is_transient_like_an_empty_200() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::Answer(Answer {
                tokens: Some(0),
                ..Answer::default()
            })),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    assert_transient_row(
        &rig,
        &engine,
        "the provider sent an empty answer",
        ms(1000),
        Some(2),
    )
    .await;
}

/// 20,000 words with multi-byte characters and newlines, so chunk and frame
/// boundaries fall everywhere.
fn large_text() -> String {
    let words = [
        "alpha",
        "β-beta",
        "γάμμα",
        "日本語",
        "emoji🙂",
        "line\nbreak",
    ];
    (0..20_000)
        .map(|i| format!("{}{i}", words[i % words.len()]))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(start_paused = true)]
async fn a_very_large_answer_streams_intact_in_every_wire_format() {
    let big = large_text();
    // The mock sends (and reports as completion tokens) one chunk per word.
    let chunks = big.split_whitespace().count() as u64;
    let rig = Rig::start(vec![("big", BackendConfig::new(Behavior::answer(&big)))]).await;
    let formats = [
        ("openai", rig.mock.base_url("big")),
        ("anthropic", rig.mock.anthropic_base_url("big")),
        ("gemini", rig.mock.gemini_base_url("big")),
        ("ollama", rig.mock.ollama_base_url("big")),
    ];
    for (provider, url) in &formats {
        rig.write(provider, profile::model(provider, "m").base_url(url));
        let engine = rig.engine_with(provider, &Settings::new());
        let events = ask(&engine).await;
        let shown = text_of(&events);
        assert!(
            shown == big,
            "{provider}: the text differs from what was sent"
        );
        let provenance = provenance_of(&events);
        assert_eq!(
            (
                provenance.backend.as_str(),
                provenance.attempts,
                provenance.usage.output_tokens
            ),
            (*provider, 1, chunks),
            "{provider}"
        );
    }
    assert_eq!(rig.requests("big"), 4);
    assert_eq!(
        rig.logs.markers().len(),
        8,
        "one try and one success per format"
    );
}

// ---------------------------------------------------------------------------
// Many prompts: the breaker, flapping, every backend down
// ---------------------------------------------------------------------------

/// One prompt per virtual second; returns who answered each.
async fn prompts_every_second(engine: &Engine, n: usize) -> Vec<Vec<EngineEvent>> {
    let mut runs = Vec::new();
    for _ in 0..n {
        let tick = Instant::now();
        runs.push(ask(engine).await);
        tokio::time::sleep_until(tick + ms(1000)).await;
    }
    runs
}

#[tokio::test(start_paused = true)]
async fn a_flapping_primary_gets_at_most_one_probe_per_recovery_window() {
    // a alternates: fail, answer, fail, answer, ... one behavior per request.
    let flaps: Vec<Behavior> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                Behavior::status(503)
            } else {
                Behavior::default()
            }
        })
        .collect();
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::status(503)).with_script(flaps),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(
        &["a", "b"],
        &[
            ("failover_retry_count", 1),
            ("circuit_breaker_failure_threshold", 1),
            ("circuit_breaker_failure_window_ms", 60000),
            ("circuit_breaker_recovery_timeout_ms", 9500),
        ],
    );
    let runs = prompts_every_second(&engine, 60).await;

    // Every prompt got a complete answer.
    for (second, events) in runs.iter().enumerate() {
        assert!(
            answered_by(events).is_some(),
            "second {second}: {events:#?}"
        );
    }
    // a is asked at 0 (fails, opens), then only when 9.5 s have passed: one probe
    // (answers, closes), the next prompt fails and opens it again.
    let asked_a: Vec<(usize, bool)> = runs
        .iter()
        .enumerate()
        .filter(|(_, events)| attempted(events).first().map(String::as_str) == Some("a"))
        .map(|(second, events)| (second, answered_by(events).as_deref() == Some("a")))
        .collect();
    assert_eq!(
        asked_a,
        vec![
            (0, false),
            (10, true),
            (11, false),
            (21, true),
            (22, false),
            (32, true),
            (33, false),
            (43, true),
            (44, false),
            (54, true),
            (55, false),
        ]
    );
    assert_eq!(rig.requests("a"), 11);
    assert_eq!(rig.requests("b"), 60 - 5);
    let log = rig.logs.markers();
    assert_eq!(
        count(&log, "[circuit-breaker] a: Testing recovery (half-open)"),
        5
    );
    assert_eq!(
        count(&log, "[circuit-breaker] a: Recovered (state = closed)"),
        5
    );
    assert_eq!(count(&log, "[circuit-breaker] a: State = open"), 6);
    assert_eq!(count(&log, &skipping("a")), 60 - 11);
    assert_eq!(count(&log, &trying("b", 1, 1)), 55);
}

#[tokio::test(start_paused = true)]
async fn a_half_open_breaker_lets_exactly_one_probe_through_concurrent_prompts() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::default())
                .with_script(vec![Behavior::status(503), slow_first_chunk(500)]),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(
        &["a", "b"],
        &[
            ("failover_retry_count", 1),
            ("circuit_breaker_failure_threshold", 1),
            ("circuit_breaker_recovery_timeout_ms", 5000),
        ],
    );
    assert_eq!(answered_by(&ask(&engine).await).as_deref(), Some("b"));
    tokio::time::sleep(ms(6000)).await;

    let runs = futures_util::future::join_all((0..4).map(|_| ask(&engine))).await;
    let mut who: Vec<_> = runs.iter().map(|r| answered_by(r).unwrap()).collect();
    who.sort();
    assert_eq!(who, ["a", "b", "b", "b"], "one probe to a, the rest to b");
    assert_eq!(rig.requests("a"), 2, "the failure and exactly one probe");
    let log = rig.logs.markers();
    assert_eq!(
        count(&log, "[circuit-breaker] a: Testing recovery (half-open)"),
        1
    );
    assert_eq!(
        count(&log, "[circuit-breaker] a: Recovered (state = closed)"),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_probe_mid_flight_does_not_exile_the_primary() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::default())
                .with_script(vec![Behavior::status(503), slow_first_chunk(3000)]),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(
        &["a", "b"],
        &[
            ("failover_retry_count", 1),
            ("circuit_breaker_failure_threshold", 1),
            ("circuit_breaker_recovery_timeout_ms", 5000),
        ],
    );
    assert_eq!(answered_by(&ask(&engine).await).as_deref(), Some("b"));
    tokio::time::sleep(ms(6000)).await;

    // The probe goes to a, which is slow; the user gives up after 100 ms.
    let mut run = Box::pin(engine.run(request("hi")));
    let mut seen = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(ms(100), run.next()).await {
        seen.push(event);
    }
    drop(run);
    assert_eq!(
        seen,
        vec![
            EngineEvent::Breaker {
                backend: "a".into(),
                state: BreakerState::HalfOpen
            },
            started("a", 1, 1)
        ]
    );
    assert_eq!(rig.requests("a"), 2, "the probe reached a");

    // The next prompt may probe again: a answers and is healthy again.
    let events = ask(&engine).await;
    assert_eq!(attempted(&events), ["a"], "{events:#?}");
    assert_eq!(answered_by(&events).as_deref(), Some("a"));
    let log = rig.logs.markers();
    assert_eq!(
        count(&log, "[circuit-breaker] a: Testing recovery (half-open)"),
        2
    );
    assert_eq!(
        count(&log, "[circuit-breaker] a: Recovered (state = closed)"),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn every_backend_down_gives_one_exhausted_naming_each_backend_and_its_last_reason() {
    let rig = Rig::start(vec![
        ("a", status(503)),
        ("c", BackendConfig::new(Behavior::Drop)),
    ])
    .await;
    let refused = refused_url();
    rig.model("a");
    rig.model_at("b", "mock-model", &refused);
    rig.model("c");
    rig.lb(&["a", "b", "c"], TWO_TRIES);
    let engine = rig.engine();
    let events = ask(&engine).await;

    let exhausted: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, EngineEvent::Exhausted { .. }))
        .collect();
    assert_eq!(exhausted.len(), 1, "one Exhausted: {events:#?}");
    let c_url = rig.mock.base_url("c");
    let reasons = vec![
        reason("a", ErrorClass::Transient, "503 Service Unavailable"),
        reason(
            "b",
            ErrorClass::Transient,
            &format!("cannot reach {refused}/chat/completions: connection refused"),
        ),
        reason(
            "c",
            ErrorClass::Transient,
            &format!(
                "cannot reach {c_url}/chat/completions: request failed: connection closed before message completed"
            ),
        ),
    ];
    assert_eq!(
        events.last(),
        Some(&EngineEvent::Exhausted {
            reasons: reasons.clone()
        })
    );
    // All transient: the one-shot exit code for this is 75 (see the binary test).
    assert!(reasons.iter().all(|r| r.class == ErrorClass::Transient));
    assert_eq!(text_of(&events), "");
    assert_eq!((rig.requests("a"), rig.requests("c")), (2, 2));
    let mut expected = Vec::new();
    for r in &reasons {
        expected.push(trying(&r.backend, 1, 2));
        expected.push(trying(&r.backend, 2, 2));
        expected.push(format!(
            "[LB:failover] {} failed after 2 attempts: {}",
            r.backend, r.reason
        ));
    }
    assert_eq!(rig.logs.markers(), expected);
}

// ---------------------------------------------------------------------------
// Named regression tests
// ---------------------------------------------------------------------------

#[test]
fn all_backends_429_gives_a_clear_error_and_exit_75_not_a_crash() {
    let mock = Mock::with(&[
        // Longer than retry_after_cap_ms (60 s): fail over without waiting.
        (
            "a",
            Behavior::Status {
                code: 429,
                message: Some("rate limit reached for requests".into()),
                retry_after_s: Some(120),
                retry_after_ms: None,
            },
        ),
        // Short: waited for, then retried once.
        (
            "b",
            Behavior::Status {
                code: 429,
                message: None,
                retry_after_s: None,
                retry_after_ms: Some(20),
            },
        ),
    ]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.openai_profile("b", &mock.base_url("b"));
    home.write(
        "lb",
        profile::failover(&["a", "b"]).settings(&[("failover_retry_count", 2)]),
    );
    let out = home
        .baton()
        .args(["--profile-load", "lb", "--prompt", "hi"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "stderr: {stderr}");
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        stderr,
        "baton: every backend failed:\n  a: 429 Too Many Requests: rate limit reached for requests\n  b: 429 Too Many Requests\n"
    );
    assert_eq!((mock.requests("a"), mock.requests("b")), (1, 2));
}

#[test]
fn mixed_failures_exit_1_and_name_every_backend_s_reason() {
    let mock = Mock::with(&[("a", Behavior::status(503)), ("b", Behavior::status(401))]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.openai_profile("b", &mock.base_url("b"));
    home.write(
        "lb",
        profile::failover(&["a", "b"]).settings(&[("failover_retry_count", 1)]),
    );
    let out = home
        .baton()
        .args(["--profile-load", "lb", "--prompt", "hi"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an auth failure is not 'retry later'"
    );
    assert_eq!(
        text(&out.stderr),
        "baton: every backend failed:\n  a: 503 Service Unavailable\n  b: 401 Unauthorized\n"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_on_the_same_backend_after_retry_after_before_failing_over() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::default()).with_script(vec![Behavior::Status {
                code: 429,
                message: None,
                retry_after_s: Some(2),
                retry_after_ms: None,
            }]),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let clock = Instant::now();
    let events = ask(&engine).await;
    assert_eq!(clock.elapsed(), ms(2000), "waited exactly Retry-After");
    let detail = "429 Too Many Requests";
    let mut expected = vec![
        started("a", 1, 2),
        failed("a", ErrorClass::Transient, detail, true),
        started("a", 2, 2),
    ];
    expected.extend(default_answer("a", 2, 0));
    assert_eq!(user_view(&events), expected);
    assert_eq!((rig.requests("a"), rig.requests("b")), (2, 0));
    assert_eq!(
        rig.logs.markers(),
        vec![trying("a", 1, 2), trying("a", 2, 2), success("a")]
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_ms_waits_exactly_that_many_milliseconds() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::default()).with_script(vec![Behavior::Status {
                code: 429,
                message: None,
                retry_after_s: None,
                retry_after_ms: Some(250),
            }]),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let clock = Instant::now();
    let events = ask(&engine).await;
    assert_eq!(clock.elapsed(), ms(250));
    assert_eq!(answered_by(&events).as_deref(), Some("a"));
    assert_eq!(provenance_of(&events).attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_longer_than_the_cap_fails_over_at_once() {
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::Status {
                code: 429,
                message: None,
                retry_after_s: Some(120),
                retry_after_ms: None,
            }),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(&["a", "b"], TWO_TRIES);
    let clock = Instant::now();
    let events = ask(&engine).await;
    assert_eq!(clock.elapsed(), Duration::ZERO, "did not wait 120 s");
    let detail = "429 Too Many Requests";
    let mut expected = vec![
        started("a", 1, 2),
        failed("a", ErrorClass::Transient, detail, false),
        started("b", 1, 2),
    ];
    expected.extend(default_answer("b", 2, 1));
    assert_eq!(user_view(&events), expected);
    assert_eq!(rig.requests("a"), 1);
}

#[tokio::test(start_paused = true)]
async fn failover_never_gets_stuck_on_one_backend_after_a_full_failed_pass() {
    // Without the breaker getting involved (default threshold 3): a full failed
    // pass, then a recovers; the next prompt starts at a again.
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::default()).with_script(vec![Behavior::status(503)]),
        ),
        ("b", status(503)),
        (
            "c",
            BackendConfig::new(Behavior::default()).with_script(vec![Behavior::status(503)]),
        ),
    ])
    .await;
    let engine = rig.failover(&["a", "b", "c"], &[("failover_retry_count", 1)]);
    let first = ask(&engine).await;
    assert_eq!(attempted(&first), ["a", "b", "c"]);
    assert!(matches!(first.last(), Some(EngineEvent::Exhausted { .. })));
    for _ in 0..3 {
        let events = ask(&engine).await;
        assert_eq!(attempted(&events), ["a"], "{events:#?}");
        assert_eq!(
            (
                provenance_of(&events).attempts,
                provenance_of(&events).failovers
            ),
            (1, 0)
        );
    }
    assert_eq!(
        (rig.requests("a"), rig.requests("b"), rig.requests("c")),
        (4, 1, 1)
    );

    // With every breaker opened by the failed pass: once the recovery timeout
    // has passed, the primary is probed first and takes the traffic back.
    let rig2 = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::default()).with_script(vec![Behavior::status(503)]),
        ),
        ("b", status(503)),
        ("c", status(503)),
    ])
    .await;
    let engine = rig2.failover(
        &["a", "b", "c"],
        &[
            ("failover_retry_count", 1),
            ("circuit_breaker_failure_threshold", 1),
            ("circuit_breaker_recovery_timeout_ms", 5000),
        ],
    );
    let first = ask(&engine).await;
    assert_eq!(attempted(&first), ["a", "b", "c"]);
    assert!(matches!(first.last(), Some(EngineEvent::Exhausted { .. })));
    tokio::time::sleep(ms(6000)).await;
    for _ in 0..3 {
        let events = ask(&engine).await;
        assert_eq!(answered_by(&events).as_deref(), Some("a"), "{events:#?}");
        assert_eq!(attempted(&events), ["a"]);
    }
    assert_eq!(
        (rig2.requests("a"), rig2.requests("b"), rig2.requests("c")),
        (4, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn after_recovery_traffic_returns_to_the_primary_without_ping_pong() {
    // a fails, its breaker opens; the first probe fails too, the second succeeds.
    let rig = Rig::start(vec![
        (
            "a",
            BackendConfig::new(Behavior::default())
                .with_script(vec![Behavior::status(503), Behavior::status(503)]),
        ),
        ("b", ok()),
    ])
    .await;
    let engine = rig.failover(
        &["a", "b"],
        &[
            ("failover_retry_count", 1),
            ("circuit_breaker_failure_threshold", 1),
            ("circuit_breaker_recovery_timeout_ms", 5000),
        ],
    );
    let mut who = Vec::new();
    // t=0: a fails and opens; t=1: a skipped.
    who.push(answered_by(&ask(&engine).await));
    tokio::time::sleep(ms(1000)).await;
    who.push(answered_by(&ask(&engine).await));
    // t=5.5: half-open, the probe fails, b answers; t=6.5: a skipped again.
    tokio::time::sleep(ms(4500)).await;
    who.push(answered_by(&ask(&engine).await));
    tokio::time::sleep(ms(1000)).await;
    who.push(answered_by(&ask(&engine).await));
    // t=11: half-open again, the probe succeeds; then every prompt stays on a.
    tokio::time::sleep(ms(4500)).await;
    for _ in 0..8 {
        who.push(answered_by(&ask(&engine).await));
        tokio::time::sleep(ms(1000)).await;
    }
    let who: Vec<_> = who.iter().map(|w| w.as_deref().unwrap_or("-")).collect();
    assert_eq!(
        who,
        ["b", "b", "b", "b", "a", "a", "a", "a", "a", "a", "a", "a"]
    );
    assert_eq!((rig.requests("a"), rig.requests("b")), (10, 4));
    let log = rig.logs.markers();
    assert_eq!(
        count(&log, "[circuit-breaker] a: Testing recovery (half-open)"),
        2
    );
    assert_eq!(
        count(&log, "[circuit-breaker] a: Recovered (state = closed)"),
        1
    );
    assert_eq!(count(&log, &skipping("a")), 2);
    assert_eq!(count(&log, &success("a")), 8);
    // The recovery is logged before the answer it enabled, and a is never skipped
    // after it.
    let recovered = log
        .iter()
        .position(|l| l == "[circuit-breaker] a: Recovered (state = closed)")
        .unwrap();
    assert!(!log[recovered..].contains(&skipping("a")));
    assert!(!log[recovered..].contains(&trying("b", 1, 1)));
}

#[tokio::test(start_paused = true)]
async fn the_exhausted_error_lists_every_backend_s_real_reason() {
    let rig = Rig::start(vec![
        ("a", status(503)),
        ("b", status(401)),
        ("d", BackendConfig::new(slow_first_chunk(60_000))),
        ("e", status(404)),
    ])
    .await;
    let refused = refused_url();
    rig.model("a");
    rig.model("b");
    rig.model_at("c", "mock-model", &refused);
    rig.model("d");
    rig.model("e");
    rig.lb(
        &["a", "b", "c", "d", "e"],
        &[
            ("failover_retry_count", 1),
            ("timeout_ms", 1000),
            ("circuit_breaker_failure_threshold", 1),
            ("circuit_breaker_recovery_timeout_ms", 30000),
        ],
    );
    let engine = rig.engine();
    let expected = vec![
        reason("a", ErrorClass::Transient, "503 Service Unavailable"),
        reason("b", ErrorClass::Auth, "401 Unauthorized"),
        reason(
            "c",
            ErrorClass::Transient,
            &format!("cannot reach {refused}/chat/completions: connection refused"),
        ),
        reason(
            "d",
            ErrorClass::Transient,
            "no answer within 1000ms (timeout_ms)",
        ),
        reason("e", ErrorClass::Request, "404 Not Found"),
    ];
    let events = ask(&engine).await;
    assert_eq!(
        events.last(),
        Some(&EngineEvent::Exhausted {
            reasons: expected.clone()
        })
    );

    // Now every breaker is open. Whatever the engine does with the next prompt,
    // an Exhausted must still name each backend with its real last failure,
    // not only "unhealthy".
    let events = ask(&engine).await;
    let Some(EngineEvent::Exhausted { reasons }) = events.last() else {
        panic!("expected Exhausted: {events:#?}");
    };
    let names: Vec<_> = reasons.iter().map(|r| r.backend.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    for (got, want) in reasons.iter().zip(&expected) {
        assert!(
            got.reason.contains(&want.reason),
            "{}: {:?} does not say {:?}",
            got.backend,
            got.reason,
            want.reason
        );
        // The class decides the one-shot exit code (75 only when all transient), so
        // a backend skipped for a bad key must not turn into "retry later".
        assert_eq!(
            got.class, want.class,
            "{}: the class of its last real failure",
            got.backend
        );
    }
}

#[test]
fn a_bad_key_still_exits_1_when_the_next_run_finds_its_breaker_open() {
    let mock = Mock::with(&[("a", Behavior::status(401)), ("b", Behavior::status(503))]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.openai_profile("b", &mock.base_url("b"));
    home.write(
        "lb",
        profile::failover(&["a", "b"]).settings(&[
            ("failover_retry_count", 1),
            ("circuit_breaker_failure_threshold", 1),
        ]),
    );
    let run = || {
        let out = home
            .baton()
            .args(["--profile-load", "lb", "--prompt", "hi"])
            .output()
            .unwrap();
        (out.status.code(), text(&out.stderr))
    };
    let (code, stderr) = run();
    assert_eq!(code, Some(1), "{stderr}");
    // The breakers persisted by the first run are open now: a is skipped, but its
    // reason is still a bad key, which waiting will not fix.
    let (code, stderr) = run();
    assert!(stderr.contains("401 Unauthorized"), "{stderr}");
    assert_eq!(code, Some(1), "not 75 (retry later): {stderr}");
    assert_eq!(mock.requests("a"), 1, "the open breaker kept a out");
}
