//! The HTTP side: [`MockServer`], routing, recording, the control API and the
//! connection wrapper that lets a handler reset its own connection.

use std::collections::{BTreeMap, VecDeque};
use std::future::IntoFuture;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::behavior::{self, ChatCall, End, Reply, Step};
use super::config::{BackendConfig, Behavior, MockConfig, validate_name};
use super::wire::Wire;

/// How many requests each backend remembers (the oldest are forgotten first).
pub const RECORD_LIMIT: usize = 64;

/// Largest request body read.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// How long [`MockServer::shutdown`] waits for connections before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Headers whose values are secrets.
const REDACTED_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "proxy-authorization",
];

/// One chat request as the mock saw it, with keys redacted (`***`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Server-wide arrival order, from 1: compares requests across backends.
    pub seq: u64,
    /// The wire format of the endpoint.
    pub wire: Wire,
    /// HTTP method.
    pub method: String,
    /// Path and query (a `key=` query value redacted).
    pub path: String,
    /// Headers by lower-case name; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// The body as JSON, or as a string when it was not JSON.
    pub body: Value,
    /// What the mock did; `None` when it refused the request (wrong key, bad body).
    pub behavior: Option<Behavior>,
}

#[derive(Debug)]
struct BackendState {
    config: BackendConfig,
    requests: u64,
    recorded: VecDeque<RecordedRequest>,
}

impl BackendState {
    fn new(config: BackendConfig) -> Self {
        Self {
            config,
            requests: 0,
            recorded: VecDeque::new(),
        }
    }

    fn record(&mut self, request: RecordedRequest) {
        self.recorded.push_back(request);
        while self.recorded.len() > RECORD_LIMIT {
            self.recorded.pop_front();
        }
    }

    /// The next behavior: the script's head, else the default.
    fn next_behavior(&mut self) -> Behavior {
        if self.config.script.is_empty() {
            self.config.behavior.clone()
        } else {
            self.config.script.remove(0)
        }
    }

    fn view(&self, with_recorded: bool) -> BackendView {
        BackendView {
            behavior: self.config.behavior.clone(),
            script: self.config.script.clone(),
            require_key: self.config.require_key.as_ref().map(|_| "***"),
            requests: self.requests,
            recorded: with_recorded.then(|| self.recorded.iter().cloned().collect()),
        }
    }
}

/// A backend as the control API shows it (the key redacted).
#[derive(Debug, Serialize)]
struct BackendView {
    behavior: Behavior,
    script: Vec<Behavior>,
    require_key: Option<&'static str>,
    requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded: Option<Vec<RecordedRequest>>,
}

#[derive(Debug)]
struct Shared {
    backends: Mutex<BTreeMap<String, BackendState>>,
    seq: AtomicU64,
    /// `true` once the server is stopping: ends stalls and delays at once.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, BackendState>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.backends.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running mock server. Stops when [`shutdown`](Self::shutdown) or dropped.
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl MockServer {
    /// Starts a server on `127.0.0.1` with a free port.
    pub async fn start(config: MockConfig) -> io::Result<MockServer> {
        Self::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts a server on `addr` (port 0 picks a free one).
    pub async fn bind(addr: SocketAddr, config: MockConfig) -> io::Result<MockServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            backends: Mutex::new(
                config
                    .backends
                    .into_iter()
                    .map(|(name, cfg)| (name, BackendState::new(cfg)))
                    .collect(),
            ),
            seq: AtomicU64::new(0),
            shutdown,
        });
        let mut stop = shared.shutdown.subscribe();
        let app = router(Arc::clone(&shared)).into_make_service_with_connect_info::<Conn>();
        let serve = axum::serve(MockListener(listener), app)
            .with_graceful_shutdown(async move {
                // An error means the sender is gone: stop as well.
                let _ = stop.wait_for(|stopping| *stopping).await;
            })
            .into_future();
        let task = tokio::spawn(serve);
        Ok(MockServer {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` (loopback when bound to all interfaces).
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// OpenAI-compatible base URL of a backend: `http://HOST:PORT/{backend}/v1`
    /// (append `/chat/completions`).
    pub fn base_url(&self, backend: &str) -> String {
        format!("{}/{backend}/v1", self.url())
    }

    /// Anthropic base URL, the same as [`base_url`](Self::base_url) (append `/messages`).
    pub fn anthropic_base_url(&self, backend: &str) -> String {
        self.base_url(backend)
    }

    /// Gemini base URL: `http://HOST:PORT/{backend}/v1beta`
    /// (append `/models/{model}:streamGenerateContent?alt=sse`).
    pub fn gemini_base_url(&self, backend: &str) -> String {
        format!("{}/{backend}/v1beta", self.url())
    }

    /// Ollama base URL: `http://HOST:PORT/{backend}` (append `/api/chat`).
    pub fn ollama_base_url(&self, backend: &str) -> String {
        format!("{}/{backend}", self.url())
    }

    /// Creates a backend or replaces its config; its counters and records stay.
    pub fn set_backend(&self, name: &str, cfg: BackendConfig) {
        set_backend(&self.shared, name, cfg);
    }

    /// Appends to a backend's script, creating the backend (default answer) if needed.
    pub fn push_script(&self, name: &str, behaviors: Vec<Behavior>) {
        push_script(&self.shared, name, behaviors);
    }

    /// The current config of a backend, with what is left of its script.
    pub fn backend(&self, name: &str) -> Option<BackendConfig> {
        self.shared.lock().get(name).map(|b| b.config.clone())
    }

    /// Chat requests a backend received (0 for an unknown backend).
    pub fn requests(&self, name: &str) -> usize {
        self.shared
            .lock()
            .get(name)
            .map_or(0, |b| usize::try_from(b.requests).unwrap_or(usize::MAX))
    }

    /// The last [`RECORD_LIMIT`] chat requests of a backend, oldest first.
    pub fn recorded(&self, name: &str) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .get(name)
            .map(|b| b.recorded.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Zeroes every counter and forgets recorded requests (configs and scripts stay).
    pub fn reset(&self) {
        reset(&self.shared);
    }

    /// Stops accepting, ends stalled and delayed responses, and waits (a few
    /// seconds at most) for connections to close.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// Serves until Ctrl-C, then shuts down; for `baton mock`. Returns early with
    /// the error if the server itself fails.
    pub async fn serve_until_ctrl_c(mut self) -> io::Result<()> {
        enum Outcome {
            CtrlC(io::Result<()>),
            Ended(io::Result<()>),
        }
        let Some(task) = self.task.as_mut() else {
            return Ok(());
        };
        let outcome = tokio::select! {
            signal = tokio::signal::ctrl_c() => Outcome::CtrlC(signal),
            joined = task => Outcome::Ended(joined.unwrap_or_else(|e| Err(io::Error::other(e)))),
        };
        match outcome {
            Outcome::CtrlC(signal) => {
                self.shutdown().await;
                signal
            }
            Outcome::Ended(result) => {
                self.task = None;
                result
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        // The serve task sees this and winds down on its own.
        self.shared.shutdown.send_replace(true);
    }
}

fn set_backend(shared: &Shared, name: &str, cfg: BackendConfig) {
    let mut backends = shared.lock();
    match backends.get_mut(name) {
        Some(state) => state.config = cfg,
        None => {
            backends.insert(name.to_string(), BackendState::new(cfg));
        }
    }
}

fn push_script(shared: &Shared, name: &str, behaviors: Vec<Behavior>) {
    shared
        .lock()
        .entry(name.to_string())
        .or_insert_with(|| BackendState::new(BackendConfig::default()))
        .config
        .script
        .extend(behaviors);
}

fn reset(shared: &Shared) {
    for state in shared.lock().values_mut() {
        state.requests = 0;
        state.recorded.clear();
    }
}

// ---------------------------------------------------------------------------
// Connections: a TcpStream a handler can reset (the `drop` behavior).

/// Accepts TCP connections and pairs each with a reset flag.
struct MockListener(TcpListener);

/// The per-connection handle handlers get through `ConnectInfo`.
#[derive(Debug, Clone)]
struct Conn {
    reset: Arc<AtomicBool>,
}

/// A TcpStream that fails every operation once its flag is set, which makes
/// hyper drop the connection without writing a byte; zero linger turns the close
/// into a reset.
struct ConnIo {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ConnIo {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::Acquire) {
            // Best effort: without it the client sees a clean close instead of RST.
            let _ = self.inner.set_zero_linger();
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "mock: connection dropped on purpose",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(e) = this.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl Listener for MockListener {
    type Io = ConnIo;
    type Addr = Conn;

    async fn accept(&mut self) -> (ConnIo, Conn) {
        loop {
            match self.0.accept().await {
                Ok((stream, _)) => {
                    // Token chunks are tiny; Nagle would hold them back.
                    let _ = stream.set_nodelay(true);
                    let reset = Arc::new(AtomicBool::new(false));
                    let conn = Conn {
                        reset: Arc::clone(&reset),
                    };
                    return (
                        ConnIo {
                            inner: stream,
                            reset,
                        },
                        conn,
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::debug!("mock: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Conn> {
        self.0.local_addr()?;
        Ok(Conn {
            reset: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, MockListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, MockListener>) -> Self {
        stream.remote_addr().clone()
    }
}

// ---------------------------------------------------------------------------
// Routing.

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_mock/backends", get(list_backends))
        .route(
            "/_mock/backends/{name}",
            get(get_backend).put(put_backend).delete(delete_backend),
        )
        .route("/_mock/backends/{name}/script", post(append_script))
        .route("/_mock/reset", post(reset_all))
        .fallback(provider)
        .with_state(shared)
}

/// A provider endpoint under `/{backend}`.
#[derive(Debug, Clone, PartialEq)]
enum Endpoint {
    Chat {
        wire: Wire,
        /// Gemini names the model in the path.
        model: Option<String>,
        /// Gemini says streaming in the path.
        stream: Option<bool>,
    },
    Models(Wire),
}

#[derive(Debug, Clone, PartialEq)]
enum RouteError {
    NotFound,
    Method(Method),
    Bad(Wire, String),
}

fn route(method: &Method, rest: &[&str], query: Option<&str>) -> Result<Endpoint, RouteError> {
    let (endpoint, want) = match rest {
        ["v1", "chat", "completions"] => (
            Endpoint::Chat {
                wire: Wire::OpenAi,
                model: None,
                stream: None,
            },
            Method::POST,
        ),
        ["v1", "messages"] => (
            Endpoint::Chat {
                wire: Wire::Anthropic,
                model: None,
                stream: None,
            },
            Method::POST,
        ),
        ["v1", "models"] => (Endpoint::Models(Wire::OpenAi), Method::GET),
        ["v1beta", "models"] => (Endpoint::Models(Wire::Gemini), Method::GET),
        ["v1beta" | "v1", "models", last] => {
            // `{model}:{action}` is one path segment; a client may escape the colon.
            let last = last.replace("%3A", ":").replace("%3a", ":");
            let Some((model, action)) = last.split_once(':') else {
                return Err(RouteError::NotFound);
            };
            let stream = match action {
                "generateContent" => false,
                "streamGenerateContent" if query_value(query, "alt") == Some("sse") => true,
                "streamGenerateContent" => {
                    return Err(RouteError::Bad(
                        Wire::Gemini,
                        "the mock streams Gemini only as SSE: add ?alt=sse".into(),
                    ));
                }
                _ => return Err(RouteError::NotFound),
            };
            (
                Endpoint::Chat {
                    wire: Wire::Gemini,
                    model: Some(model.to_string()),
                    stream: Some(stream),
                },
                Method::POST,
            )
        }
        ["api", "chat"] => (
            Endpoint::Chat {
                wire: Wire::Ollama,
                model: None,
                stream: None,
            },
            Method::POST,
        ),
        ["api", "tags"] => (Endpoint::Models(Wire::Ollama), Method::GET),
        _ => return Err(RouteError::NotFound),
    };
    if *method == want {
        Ok(endpoint)
    } else {
        Err(RouteError::Method(method.clone()))
    }
}

fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The key a request presents, read where each format puts it.
fn presented_key(wire: Wire, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    };
    let bearer = header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(|k| k.trim().to_string())
    });
    match wire {
        Wire::OpenAi | Wire::Ollama => bearer,
        Wire::Anthropic => header("x-api-key").or(bearer),
        Wire::Gemini => {
            header("x-goog-api-key").or_else(|| query_value(query, "key").map(str::to_string))
        }
    }
}

fn redacted_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        let value = if REDACTED_HEADERS.contains(&name.as_str()) {
            "***".to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        out.entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

fn redacted_path(path: &str, query: Option<&str>) -> String {
    match query {
        None => path.to_string(),
        Some(query) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("key", _)) => "key=***".to_string(),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
    }
}

fn json_error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    json_error(
        status,
        json!({"error": {"message": message.into(), "type": "mock_control_error"}}),
    )
}

/// Every provider path: `/{backend}/...`.
async fn provider(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let conn = request
        .extensions()
        .get::<ConnectInfo<Conn>>()
        .map(|c| c.0.clone());
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (backend, rest) = match segments.split_first() {
        Some((backend, rest)) => (backend.to_string(), rest),
        None => (String::new(), &[][..]),
    };

    {
        let backends = shared.lock();
        if !backends.contains_key(&backend) {
            let known: Vec<&str> = backends.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            let message = format!(
                "mock: no backend named {backend:?} (path {path}); known backends: {known}"
            );
            return json_error(
                StatusCode::NOT_FOUND,
                Wire::OpenAi.error_body(404, &message),
            );
        }
    }

    let endpoint = match route(&parts.method, rest, query.as_deref()) {
        Ok(endpoint) => endpoint,
        Err(RouteError::NotFound) => {
            let message = format!("mock: no endpoint {} {path}", parts.method);
            return json_error(
                StatusCode::NOT_FOUND,
                Wire::OpenAi.error_body(404, &message),
            );
        }
        Err(RouteError::Method(method)) => {
            let message = format!("mock: {method} is not allowed on {path}");
            return json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                Wire::OpenAi.error_body(405, &message),
            );
        }
        Err(RouteError::Bad(wire, message)) => {
            return json_error(StatusCode::BAD_REQUEST, wire.error_body(400, &message));
        }
    };

    let wire = match &endpoint {
        Endpoint::Chat { wire, .. } | Endpoint::Models(wire) => *wire,
    };
    let key = presented_key(wire, &parts.headers, query.as_deref());
    let unauthorized = || {
        let message = match wire {
            Wire::Anthropic => "invalid x-api-key".to_string(),
            Wire::OpenAi | Wire::Gemini | Wire::Ollama => {
                format!("mock: invalid API key for backend {backend}")
            }
        };
        json_error(StatusCode::UNAUTHORIZED, wire.error_body(401, &message))
    };

    let (wire, path_model, path_stream) = match endpoint {
        Endpoint::Models(wire) => {
            let key_ok = shared.lock().get(&backend).is_none_or(|state| {
                state.config.require_key.is_none() || state.config.require_key == key
            });
            return if key_ok {
                Json(wire.models(&backend)).into_response()
            } else {
                unauthorized()
            };
        }
        Endpoint::Chat {
            wire,
            model,
            stream,
        } => (wire, model, stream),
    };

    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let message = format!("mock: cannot read the request body: {e}");
            return json_error(StatusCode::BAD_REQUEST, wire.error_body(400, &message));
        }
    };
    let parsed = serde_json::from_slice::<Value>(&bytes);
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;

    // Decide under the lock, act after it: the lock is never held across await.
    let (behavior, key_ok) = {
        let mut backends = shared.lock();
        let Some(state) = backends.get_mut(&backend) else {
            let message = format!("mock: backend {backend:?} was removed");
            return json_error(
                StatusCode::NOT_FOUND,
                Wire::OpenAi.error_body(404, &message),
            );
        };
        state.requests += 1;
        let key_ok = state.config.require_key.is_none() || state.config.require_key == key;
        let behavior = (key_ok && parsed.is_ok()).then(|| state.next_behavior());
        state.record(RecordedRequest {
            seq,
            wire,
            method: parts.method.to_string(),
            path: redacted_path(&path, query.as_deref()),
            headers: redacted_headers(&parts.headers),
            body: match &parsed {
                Ok(value) => value.clone(),
                Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            },
            behavior: behavior.clone(),
        });
        (behavior, key_ok)
    };

    if !key_ok {
        return unauthorized();
    }
    let body = match parsed {
        Ok(body) => body,
        Err(e) => {
            let message = format!("mock: request body is not JSON: {e}");
            return json_error(StatusCode::BAD_REQUEST, wire.error_body(400, &message));
        }
    };
    let Some(behavior) = behavior else {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            wire.error_body(500, "mock: no behavior"),
        );
    };

    let stream = path_stream.unwrap_or_else(|| match wire {
        // Ollama streams unless told not to; the others only when asked.
        Wire::Ollama => body.get("stream").and_then(Value::as_bool) != Some(false),
        Wire::OpenAi | Wire::Anthropic | Wire::Gemini => {
            body.get("stream").and_then(Value::as_bool) == Some(true)
        }
    });
    let call = ChatCall {
        wire,
        backend,
        model: path_model
            .or_else(|| {
                body.get("model")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "mock-model".to_string()),
        stream,
        include_usage: body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true),
        prompt_words: behavior::prompt_words(&body),
        seq,
    };
    let reply = behavior::plan(&behavior, &call);
    respond(reply, conn, shared.shutdown.subscribe()).await
}

/// Why a body ended early.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Abort(&'static str);

async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    if delay.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        _ = shutdown.wait_for(|stopping| *stopping) => false,
    }
}

fn body_stream(
    steps: Vec<Step>,
    end: End,
    mut shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, Abort>> + Send + 'static {
    async_stream::stream! {
        let mut interrupted = false;
        for step in steps {
            match step {
                Step::Send(bytes) => yield Ok(bytes),
                Step::Sleep(delay) => {
                    if !sleep_or_shutdown(delay, &mut shutdown).await {
                        interrupted = true;
                        break;
                    }
                }
            }
        }
        if interrupted {
            yield Err(Abort("mock: server shutting down"));
        } else {
            match end {
                End::Finish => {}
                End::Stall => {
                    // Quiet until the client leaves (hyper then drops this stream)
                    // or the server stops.
                    let _ = shutdown.wait_for(|stopping| *stopping).await;
                    yield Err(Abort("mock: server shutting down"));
                }
                End::Cut => {
                    // One pending poll lets hyper flush the chunks already written,
                    // so the client sees them before the abort.
                    tokio::task::yield_now().await;
                    yield Err(Abort("mock: connection cut on purpose"));
                }
            }
        }
    }
}

async fn respond(
    reply: Reply,
    conn: Option<Conn>,
    mut shutdown: watch::Receiver<bool>,
) -> Response {
    match reply {
        Reply::Error {
            code,
            retry_after_s,
            retry_after_ms,
            body,
        } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut headers = HeaderMap::new();
            if let Some(seconds) = retry_after_s {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            if let Some(ms) = retry_after_ms {
                headers.insert(
                    HeaderName::from_static("retry-after-ms"),
                    HeaderValue::from(ms),
                );
            }
            (status, headers, Json(body)).into_response()
        }
        Reply::Drop => {
            if let Some(conn) = conn {
                conn.reset.store(true, Ordering::Release);
            }
            // Without a connection handle (a router used without the listener),
            // the closest thing: a body that fails before its first byte.
            let failing = futures_util::stream::once(async {
                Err::<Bytes, _>(Abort("mock: connection dropped on purpose"))
            });
            Response::new(Body::from_stream(failing))
        }
        Reply::Body {
            content_type,
            head_delay,
            steps,
            end,
        } => {
            if !sleep_or_shutdown(head_delay, &mut shutdown).await {
                return control_error(StatusCode::SERVICE_UNAVAILABLE, "mock: shutting down");
            }
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let all_sends = steps.iter().all(|s| matches!(s, Step::Send(_)));
            let body = if end == End::Finish && all_sends {
                // Nothing to wait for: one body with a Content-Length.
                let mut whole = Vec::new();
                for step in &steps {
                    if let Step::Send(bytes) = step {
                        whole.extend_from_slice(bytes);
                    }
                }
                Body::from(whole)
            } else {
                Body::from_stream(body_stream(steps, end, shutdown))
            };
            (StatusCode::OK, headers, body).into_response()
        }
    }
}

// ---------------------------------------------------------------------------
// Control API.

const CONTROL: &str = "control API";

async fn list_backends(State(shared): State<Arc<Shared>>) -> Response {
    let backends: BTreeMap<String, BackendView> = shared
        .lock()
        .iter()
        .map(|(name, state)| (name.clone(), state.view(false)))
        .collect();
    Json(json!({ "backends": backends })).into_response()
}

async fn get_backend(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match shared.lock().get(&name) {
        Some(state) => Json(state.view(true)).into_response(),
        None => control_error(StatusCode::NOT_FOUND, format!("no backend named {name:?}")),
    }
}

async fn put_backend(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = validate_name(&name, CONTROL) {
        return control_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    let cfg: BackendConfig = match serde_json::from_slice(&body) {
        Ok(cfg) => cfg,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("backend {name:?}: not a backend config: {e}"),
            );
        }
    };
    if let Err(e) = cfg.validate(&name, CONTROL) {
        return control_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    set_backend(&shared, &name, cfg);
    get_backend(State(shared), Path(name)).await
}

async fn delete_backend(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match shared.lock().remove(&name) {
        Some(state) => Json(state.view(false)).into_response(),
        None => control_error(StatusCode::NOT_FOUND, format!("no backend named {name:?}")),
    }
}

async fn append_script(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(e) = validate_name(&name, CONTROL) {
        return control_error(StatusCode::BAD_REQUEST, e.to_string());
    }
    // One behavior or an array of them.
    let parsed = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => serde_json::from_value::<Vec<Behavior>>(Value::Array(items)),
        Ok(one) => serde_json::from_value::<Behavior>(one).map(|b| vec![b]),
        Err(e) => Err(e),
    };
    let behaviors = match parsed {
        Ok(behaviors) => behaviors,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("backend {name:?}: not a behavior or array of behaviors: {e}"),
            );
        }
    };
    for (i, behavior) in behaviors.iter().enumerate() {
        if let Err(e) = behavior.validate(&name, &format!("script[+{i}]"), CONTROL) {
            return control_error(StatusCode::BAD_REQUEST, e.to_string());
        }
    }
    push_script(&shared, &name, behaviors);
    get_backend(State(shared), Path(name)).await
}

async fn reset_all(State(shared): State<Arc<Shared>>) -> Response {
    reset(&shared);
    list_backends(State(shared)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn chat(wire: Wire) -> Endpoint {
        Endpoint::Chat {
            wire,
            model: None,
            stream: None,
        }
    }

    #[test]
    fn routes_every_format() {
        let post = Method::POST;
        assert_eq!(
            route(&post, &["v1", "chat", "completions"], None),
            Ok(chat(Wire::OpenAi))
        );
        assert_eq!(
            route(&post, &["v1", "messages"], None),
            Ok(chat(Wire::Anthropic))
        );
        assert_eq!(route(&post, &["api", "chat"], None), Ok(chat(Wire::Ollama)));
        assert_eq!(
            route(
                &post,
                &["v1beta", "models", "gemini-2.5-flash:streamGenerateContent"],
                Some("alt=sse")
            ),
            Ok(Endpoint::Chat {
                wire: Wire::Gemini,
                model: Some("gemini-2.5-flash".into()),
                stream: Some(true)
            })
        );
        assert_eq!(
            route(&post, &["v1beta", "models", "g%3AgenerateContent"], None),
            Ok(Endpoint::Chat {
                wire: Wire::Gemini,
                model: Some("g".into()),
                stream: Some(false)
            })
        );
        assert!(matches!(
            route(
                &post,
                &["v1beta", "models", "g:streamGenerateContent"],
                None
            ),
            Err(RouteError::Bad(Wire::Gemini, _))
        ));
        assert_eq!(
            route(&Method::GET, &["v1", "models"], None),
            Ok(Endpoint::Models(Wire::OpenAi))
        );
        assert_eq!(
            route(&Method::GET, &["v1", "chat", "completions"], None),
            Err(RouteError::Method(Method::GET))
        );
        assert_eq!(route(&post, &["v2", "x"], None), Err(RouteError::NotFound));
    }

    #[test]
    fn keys_are_read_where_each_format_puts_them() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer b"));
        headers.insert("x-api-key", HeaderValue::from_static("a"));
        headers.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(
            presented_key(Wire::OpenAi, &headers, None).as_deref(),
            Some("b")
        );
        assert_eq!(
            presented_key(Wire::Anthropic, &headers, None).as_deref(),
            Some("a")
        );
        assert_eq!(
            presented_key(Wire::Gemini, &headers, None).as_deref(),
            Some("g")
        );
        assert_eq!(
            presented_key(Wire::Gemini, &HeaderMap::new(), Some("alt=sse&key=q")).as_deref(),
            Some("q")
        );
        assert_eq!(presented_key(Wire::Ollama, &HeaderMap::new(), None), None);
    }

    #[test]
    fn secrets_are_redacted() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        headers.insert("x-goog-api-key", HeaderValue::from_static("g"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let red = redacted_headers(&headers);
        assert_eq!(red["authorization"], "***");
        assert_eq!(red["x-goog-api-key"], "***");
        assert_eq!(red["content-type"], "application/json");
        assert_eq!(
            redacted_path(
                "/g/v1beta/models/m:generateContent",
                Some("key=secret&alt=sse")
            ),
            "/g/v1beta/models/m:generateContent?key=***&alt=sse"
        );
    }

    #[test]
    fn records_are_bounded() {
        let mut state = BackendState::new(BackendConfig::default());
        for seq in 0..(RECORD_LIMIT as u64 + 5) {
            state.record(RecordedRequest {
                seq,
                wire: Wire::OpenAi,
                method: "POST".into(),
                path: "/".into(),
                headers: BTreeMap::new(),
                body: Value::Null,
                behavior: None,
            });
        }
        assert_eq!(state.recorded.len(), RECORD_LIMIT);
        assert_eq!(state.recorded.front().map(|r| r.seq), Some(5));
    }

    #[test]
    fn script_runs_before_the_default() {
        let mut state = BackendState::new(
            BackendConfig::new(Behavior::Empty)
                .with_script(vec![Behavior::status(500), Behavior::Drop]),
        );
        let kinds: Vec<_> = (0..4).map(|_| state.next_behavior().kind()).collect();
        assert_eq!(kinds, ["status", "drop", "empty", "empty"]);
    }
}
