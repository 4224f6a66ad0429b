//! `POST /v1/chat/completions`: one request through the engine, answered whole or
//! as SSE.
//!
//! Committing to a stream waits for the first piece of text: until then nothing
//! has been sent, so a run in which no backend answered still gets a proper status
//! (503 with `Retry-After`, or the backends' own 4xx). Once text has been sent the
//! status is 200 for good, and a stream that breaks ends with an in-band error
//! frame, never with `[DONE]`, so no client mistakes half an answer for a whole one.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant as Deadline, timeout_at};

use super::engines::retry_after_s;
use super::error::ApiError;
use super::record::Outcome;
use super::wire::{self, AnswerId, WholeAnswer};
use super::{App, Client};
use crate::engine::{Engine, EngineEvent};
use crate::provider::{ChatRequest, Finish, Usage};

const PATH: &str = "/v1/chat/completions";

type Events = Pin<Box<dyn Stream<Item = EngineEvent> + Send>>;

/// Records the request once, when it ends: answered, failed, or dropped by a
/// client that went away (counted as status 499).
struct Tracker {
    app: Arc<App>,
    outcome: Outcome,
    started: Instant,
    done: bool,
}

impl Tracker {
    fn finish(&mut self, status: u16, error: Option<&'static str>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.outcome.status = status;
        self.outcome.error = error;
        let ms = self.started.elapsed().as_millis();
        self.outcome.latency_ms = u64::try_from(ms).unwrap_or(u64::MAX);
        self.app.finished(&self.outcome);
    }

    fn fail(&mut self, e: &ApiError) {
        self.finish(e.status().as_u16(), Some(e.error_metric()));
    }

    /// A stream that broke after its 200 went out.
    fn fail_in_band(&mut self, e: &ApiError) {
        self.finish(200, Some(e.error_metric()));
    }

    /// Moves the live tracker out (into a response stream), leaving a finished one.
    fn take(&mut self) -> Tracker {
        std::mem::replace(
            self,
            Tracker {
                app: Arc::clone(&self.app),
                outcome: Outcome::new(PATH),
                started: self.started,
                done: true,
            },
        )
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.finish(499, Some("client_closed"));
    }
}

/// The handler.
pub(super) async fn completions(
    State(app): State<Arc<App>>,
    Extension(client): Extension<Client>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut outcome = Outcome::new(PATH);
    outcome.client = client.0;
    let mut tracker = Tracker {
        app: Arc::clone(&app),
        outcome,
        started: Instant::now(),
        done: false,
    };
    match answer(&app, body, &mut tracker).await {
        Ok(response) => response,
        Err(e) => {
            tracker.fail(&e);
            e.into_response()
        }
    }
}

async fn answer(
    app: &Arc<App>,
    body: Result<Bytes, BytesRejection>,
    tracker: &mut Tracker,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge {
            limit: app.limits.max_body_bytes,
        },
        _ => ApiError::invalid(e.body_text(), None),
    })?;
    let call = wire::parse_request(&body)?;
    tracker.outcome.stream = call.stream;
    let engine = app.engines.engine(&call.model, &call.params)?;
    // Labelled only once it names a served profile: metrics stay bounded whatever
    // names clients send.
    tracker.outcome.profile = engine.profile().to_string();
    let slot = app.gate.enter().await?;
    let deadline = Deadline::now() + app.limits.total();
    let request = ChatRequest {
        messages: call.messages.clone(),
        stream: call.stream,
    };
    // A non-streaming answer is held until complete, so a stream that breaks is
    // rescued by the next attempt instead of sent half.
    let events = if call.stream {
        Box::pin(engine.run(request))
            as std::pin::Pin<Box<dyn futures_util::Stream<Item = _> + Send>>
    } else {
        Box::pin(engine.run_held(request))
    };
    let mut run = Run {
        events,
        idle: app.limits.idle(),
        deadline,
        total_ms: app.limits.total_timeout_ms,
    };
    let id = AnswerId {
        id: next_id(),
        created: unix_now(),
        model: call.model.clone(),
    };
    if !call.stream {
        return whole(&mut run, &engine, &id, tracker).await;
    }
    // Wait for the first thing to show (text, reasoning, a tool call) before
    // committing to 200.
    let first = loop {
        let event = run.next().await?;
        tracker.outcome.engine_event(&event);
        match event {
            EngineEvent::Delta { .. }
            | EngineEvent::Reasoning { .. }
            | EngineEvent::ToolCall { .. } => {
                break Ok(event);
            }
            EngineEvent::Done { finish, .. } => break Err(finish),
            EngineEvent::Exhausted { reasons } => {
                return Err(ApiError::exhausted(&reasons, retry_after_s(&engine)));
            }
            EngineEvent::Interrupted { reason, .. } => {
                return Err(ApiError::Upstream { message: reason });
            }
            _ => {}
        }
    };
    let backend = tracker.outcome.backend.clone();
    let mut tracker = tracker.take();
    let stream = async_stream::stream! {
        let _slot = slot;
        yield Ok::<_, std::convert::Infallible>(Bytes::from(wire::role_frame(&id)));
        let mut tools = 0;
        let mut finished: Option<Finish> = None;
        match first {
            Ok(event) => {
                if let Some(frame) = shown_frame(&id, &event, &mut tools) {
                    yield Ok(Bytes::from(frame));
                }
            }
            Err(finish) => finished = Some(finish),
        }
        let mut usage: Option<Usage> = None;
        while finished.is_none() {
            let event = match run.next().await {
                Ok(event) => event,
                Err(e) => {
                    tracker.fail_in_band(&e);
                    yield Ok(Bytes::from(wire::frame(&e.body())));
                    break;
                }
            };
            tracker.outcome.engine_event(&event);
            if let Some(frame) = shown_frame(&id, &event, &mut tools) {
                yield Ok(Bytes::from(frame));
                continue;
            }
            let broken = match event {
                EngineEvent::Usage { usage: u } => {
                    usage = Some(u);
                    None
                }
                EngineEvent::Done { finish, .. } => {
                    finished = Some(finish);
                    None
                }
                EngineEvent::Interrupted { reason, .. } => {
                    Some(ApiError::Interrupted { message: reason })
                }
                EngineEvent::Exhausted { reasons } => Some(ApiError::exhausted(&reasons, 1)),
                _ => None,
            };
            if let Some(e) = broken {
                tracker.fail_in_band(&e);
                yield Ok(Bytes::from(wire::frame(&e.body())));
                break;
            }
        }
        if let Some(finish) = finished {
            let usage = tracker.outcome.usage.or(usage).unwrap_or_default();
            tracker.finish(200, None);
            let shown = call.include_usage.then_some(&usage);
            yield Ok(Bytes::from(wire::end_frames(&id, finish.status, shown)));
        }
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    insert_backend(headers, backend.as_deref());
    Ok(response)
}

/// A non-streaming answer: collected whole, then sent.
async fn whole(
    run: &mut Run,
    engine: &Engine,
    id: &AnswerId,
    tracker: &mut Tracker,
) -> Result<Response, ApiError> {
    let mut answer = WholeAnswer::default();
    loop {
        let event = run.next().await?;
        tracker.outcome.engine_event(&event);
        match event {
            EngineEvent::Delta { text } => answer.text.push_str(&text),
            EngineEvent::Reasoning { text } => answer.reasoning.push_str(&text),
            EngineEvent::ToolCall { call } => answer.tool_calls.push(call),
            EngineEvent::Done { provenance, finish } => {
                let body = wire::completion(id, &answer, &finish, &provenance.usage);
                tracker.finish(200, None);
                let mut response = axum::Json(body).into_response();
                insert_backend(response.headers_mut(), Some(&provenance.backend));
                return Ok(response);
            }
            EngineEvent::Interrupted { reason, .. } => {
                return Err(ApiError::Interrupted { message: reason });
            }
            EngineEvent::Exhausted { reasons } => {
                return Err(ApiError::exhausted(&reasons, retry_after_s(engine)));
            }
            _ => {}
        }
    }
}

/// The SSE frame for an event the client sees as it arrives (text, reasoning, a
/// tool call), `None` for the rest; `tools` counts the tool calls sent so far.
fn shown_frame(id: &AnswerId, event: &EngineEvent, tools: &mut usize) -> Option<String> {
    match event {
        EngineEvent::Delta { text } => Some(wire::text_frame(id, text)),
        EngineEvent::Reasoning { text } => Some(wire::reasoning_frame(id, text)),
        EngineEvent::ToolCall { call } => {
            let frame = wire::tool_call_frame(id, *tools, call);
            *tools += 1;
            Some(frame)
        }
        _ => None,
    }
}

fn insert_backend(headers: &mut axum::http::HeaderMap, backend: Option<&str>) {
    if let Some(v) = backend.and_then(|b| HeaderValue::from_str(b).ok()) {
        headers.insert("x-baton-backend", v);
    }
}

/// The engine's events under the gateway's idle and total timeouts.
struct Run {
    events: Events,
    idle: std::time::Duration,
    deadline: Deadline,
    total_ms: u64,
}

impl Run {
    async fn next(&mut self) -> Result<EngineEvent, ApiError> {
        let idle_at = Deadline::now() + self.idle;
        let at = idle_at.min(self.deadline);
        match timeout_at(at, self.events.next()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(ApiError::Internal(
                "the engine ended without an answer".into(),
            )),
            Err(_) if at == self.deadline => Err(ApiError::Timeout {
                limit_ms: self.total_ms,
            }),
            Err(_) => Err(ApiError::Timeout {
                limit_ms: u64::try_from(self.idle.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

fn next_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:x}{n:06x}", unix_now())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
