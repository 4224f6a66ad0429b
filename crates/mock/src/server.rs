//! [`MockServer`]: binding, the base URL of each wire format, the Rust-side
//! controls, and shutdown.

use std::future::IntoFuture;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{BackendConfig, Behavior, MockConfig};
use crate::conn::{Conn, MockListener};
use crate::route::router;
use crate::state::{BackendState, RecordedRequest, Shared, push_script, reset, set_backend};

/// How long [`MockServer::shutdown`] waits for connections before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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

    /// The last [`RECORD_LIMIT`](crate::RECORD_LIMIT) chat requests of a backend, oldest first.
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
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
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
