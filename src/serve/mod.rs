//! `baton serve`: an OpenAI-compatible gateway, the third face next to the chat and
//! one-shot. Each request's `model` names a profile (or `profile/model`); the
//! answer comes from that profile's engine, kept for the server's life, through
//! the same launch path and [`crate::engine::EngineEvent`] stream as the others.
//!
//! Rooms: [`wire`] (OpenAI's shapes), [`chat`] (the completions handler),
//! [`engines`] (profile → engine), [`keys`] (client auth), [`limits`] (body size,
//! concurrency, timeouts), [`metrics`] (Prometheus), [`record`] (the request log),
//! [`error`] (statuses and error bodies). docs/serve.md is the user's guide.

mod chat;
mod config;
mod engines;
mod error;
pub(crate) mod keys;
mod limits;
mod metrics;
mod record;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde_json::json;

use crate::cli::Exit;
use crate::cli::serve::{KeysCommand, ServeArgs, ServeCommand};
use crate::home::Home;
pub(crate) use config::ServeConfig;
use engines::Engines;
use error::ApiError;
use keys::Keys;
use limits::Gate;
pub(crate) use limits::Limits;
use metrics::Metrics;
use record::{LogFormat, Outcome};

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct App {
    engines: Engines,
    keys: Option<Keys>,
    metrics: Metrics,
    gate: Gate,
    limits: Limits,
    log_format: LogFormat,
    draining: AtomicBool,
}

/// The name of the key a request came with (`None` when keys are not checked).
#[derive(Debug, Clone, Default)]
pub(crate) struct Client(pub Option<String>);

impl App {
    /// Counts and logs one finished request.
    fn finished(&self, outcome: &Outcome) {
        self.metrics.record(outcome);
        eprintln!("{}", outcome.log_line(self.log_format));
    }
}

/// Runs `baton serve ...` on a runtime of its own (one worker per core) and returns
/// the exit code.
pub fn main(args: ServeArgs, home: &Home) -> Exit {
    if let Some(ServeCommand::Keys(KeysCommand::Add { name })) = &args.command {
        let path = args
            .keys
            .clone()
            .unwrap_or_else(|| home.root().join("serve.keys"));
        return match keys::add(&path, name) {
            Ok(key) => {
                println!("{key}");
                eprintln!(
                    "baton: key '{name}' added to {}; it is shown only this once",
                    path.display()
                );
                Exit::Complete
            }
            Err(e) => {
                eprintln!("baton: {e}");
                Exit::Error
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(rt) => rt.block_on(run(args, home)),
        Err(e) => {
            eprintln!("baton: cannot start the async runtime: {e}");
            Exit::Error
        }
    }
}

async fn run(args: ServeArgs, home: &Home) -> Exit {
    let config = match ServeConfig::load(&args, home) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Usage;
        }
    };
    let keys = match Keys::load(&config.keys) {
        Ok(keys) => keys.filter(|k| !k.is_empty()),
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Error;
        }
    };
    if args.keys.is_some() && keys.is_none() {
        eprintln!(
            "baton: keys file {} is missing or holds no key",
            config.keys.display()
        );
        return Exit::Usage;
    }
    let mut listen = config.listen;
    if keys.is_none() {
        if !listen.ip().is_loopback() {
            listen = SocketAddr::from(([127, 0, 0, 1], listen.port()));
        }
        eprintln!(
            "baton serve: no client keys ({} not found): no auth, listening on loopback only; \
             add one with `baton serve keys add NAME`",
            config.keys.display()
        );
    }
    let engines = match Engines::new(home.clone(), config.profiles.clone()) {
        Ok(engines) => engines,
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Error;
        }
    };
    let app = Arc::new(App {
        engines,
        keys,
        metrics: Metrics::default(),
        gate: Gate::new(&config.limits),
        limits: config.limits,
        log_format: config.log_format,
        draining: AtomicBool::new(false),
    });
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("baton: cannot listen on {listen}: {e}");
            return Exit::Error;
        }
    };
    let signal = ShutdownSignal::install();
    let addr = listener.local_addr().unwrap_or(listen);
    eprintln!("baton serve listening on http://{addr}/v1");
    serve(listener, app, signal).await
}

fn router(app: Arc<App>) -> Router {
    let guarded = Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/models", get(models))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), auth));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .with_state(app)
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting and lets answers in flight
/// finish for up to the grace period.
async fn serve(listener: tokio::net::TcpListener, app: Arc<App>, signal: ShutdownSignal) -> Exit {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_millis(app.limits.shutdown_grace_ms);
    let draining = Arc::clone(&app);
    // Without TCP_NODELAY each small SSE frame waits for the client's delayed ACK
    // (40 ms on Linux) before the next one leaves.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, router(app)).with_graceful_shutdown(async move {
        signal.recv().await;
        draining.draining.store(true, Ordering::SeqCst);
        eprintln!(
            "baton serve: shutting down; answers in flight have {} ms",
            grace.as_millis()
        );
        let _ = stop_tx.send(());
    });
    let server = server.into_future();
    tokio::pin!(server);
    let result = tokio::select! {
        r = &mut server => r,
        _ = async { let _ = stop_rx.await; tokio::time::sleep(grace).await } => {
            eprintln!("baton serve: grace period over; closing the answers still running");
            Ok(())
        }
    };
    match result {
        Ok(()) => Exit::Complete,
        Err(e) => {
            eprintln!("baton: server failed: {e}");
            Exit::Error
        }
    }
}

/// SIGTERM and Ctrl-C, listened for from creation on: a signal that arrives
/// before the server's first poll still shuts it down gracefully.
struct ShutdownSignal {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignal {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { signals }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    async fn recv(self) {
        #[cfg(unix)]
        if let Some((mut term, mut int)) = self.signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Checks `Authorization: Bearer KEY` when the server has keys; the key's name
/// goes on to the handlers, the key itself nowhere.
async fn auth(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
    let client = match &app.keys {
        None => Client(None),
        Some(keys) => {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            match presented.and_then(|k| keys.check(k)) {
                Some(name) => Client(Some(name.to_string())),
                None => {
                    let e = ApiError::Unauthorized;
                    let mut outcome = Outcome::new("auth");
                    outcome.status = e.status().as_u16();
                    outcome.error = Some(e.error_metric());
                    app.finished(&outcome);
                    return e.into_response();
                }
            }
        }
    };
    request.extensions_mut().insert(client);
    next.run(request).await
}

async fn models(State(app): State<Arc<App>>) -> Response {
    axum::Json(wire::model_list(&app.engines.served())).into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let profiles: serde_json::Map<String, serde_json::Value> = app
        .engines
        .health()
        .into_iter()
        .map(|health| {
            let states: serde_json::Map<_, _> = health
                .backends
                .into_iter()
                .map(|b| (b.name, json!(b.breaker.to_string())))
                .collect();
            (health.profile, json!(states))
        })
        .collect();
    if app.draining.load(Ordering::SeqCst) {
        let body = json!({"status": "draining", "profiles": profiles});
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(body),
        )
            .into_response();
    }
    axum::Json(json!({"status": "ok", "profiles": profiles})).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.render(
        &app.engines.health(),
        app.gate.in_flight(),
        app.gate.queued(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}
