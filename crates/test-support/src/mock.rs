//! The mock server on a runtime of its own, so a test can block on a child
//! process while the server keeps serving.

use baton_mock::{BackendConfig, Behavior, MockConfig, MockServer};

/// A running mock server and the runtime that drives it.
pub struct Mock {
    /// The server.
    pub server: MockServer,
    _runtime: tokio::runtime::Runtime,
}

impl Mock {
    /// Starts `config` on a free loopback port.
    pub fn start(config: MockConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = runtime
            .block_on(MockServer::start(config))
            .expect("mock server");
        Self {
            server,
            _runtime: runtime,
        }
    }

    /// A mock whose backends each have one behavior.
    pub fn with(backends: &[(&str, Behavior)]) -> Self {
        let config = backends
            .iter()
            .fold(MockConfig::default(), |c, (name, behavior)| {
                c.with_backend(*name, BackendConfig::new(behavior.clone()))
            });
        Self::start(config)
    }

    /// The OpenAI-compatible base URL of `backend`.
    pub fn base_url(&self, backend: &str) -> String {
        self.server.base_url(backend)
    }

    /// Chat requests `backend` received.
    pub fn requests(&self, backend: &str) -> usize {
        self.server.requests(backend)
    }
}

/// An OpenAI-compatible base URL where nothing listens.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}
