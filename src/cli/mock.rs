//! `baton mock`: serve the fault-injecting mock on a local port until Ctrl-C.

use std::net::{Ipv4Addr, SocketAddr};

use crate::cli::Exit;
use baton_mock::{MockConfig, MockServer};

use super::MockArgs;

/// Runs the mock server.
pub async fn run(args: MockArgs) -> Exit {
    let config = match &args.config {
        Some(path) => match MockConfig::from_file(path) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("baton: {e}");
                return Exit::Usage;
            }
        },
        None => MockConfig::demo(),
    };
    let names: Vec<String> = config.backends.keys().cloned().collect();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let server = match MockServer::bind(addr, config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("baton: cannot listen on {addr}: {e}");
            return Exit::Error;
        }
    };
    eprintln!("baton mock listening on {}", server.url());
    for name in &names {
        eprintln!("  {name:<12} {}", server.base_url(name));
    }
    eprintln!(
        "control API: {}/_mock/backends (Ctrl-C stops)",
        server.url()
    );
    match server.serve_until_ctrl_c().await {
        Ok(()) => Exit::Complete,
        Err(e) => {
            eprintln!("baton: mock server failed: {e}");
            Exit::Error
        }
    }
}
