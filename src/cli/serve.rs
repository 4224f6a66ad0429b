//! `baton serve ...`: the gateway's flags and its `keys` subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// `baton serve`
#[derive(Debug, Args, Default)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub(crate) command: Option<ServeCommand>,
    /// Address to listen on. Default 127.0.0.1:8089; without a keys file only loopback.
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: Option<SocketAddr>,
    /// A JSON file with any of: listen, keys, log_format, profiles, limits{...}
    /// (flags win over it; docs/serve.md lists the keys).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The client keys file (NAME:SHA256HEX lines). Default: serve.keys in baton's home.
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) keys: Option<PathBuf>,
    /// One line per request on stderr: `text`, or `json` for log collectors.
    #[arg(long = "log-format", value_enum, value_name = "FORMAT")]
    pub(crate) log_format: Option<LogFormat>,
    /// A profile to serve (repeatable). Default: every profile in the profiles folder.
    #[arg(long = "profile", value_name = "NAME")]
    pub(crate) profiles: Vec<String>,
    /// Largest request body, in bytes (default 4 MiB).
    #[arg(long, value_name = "BYTES")]
    pub(crate) max_body_bytes: Option<usize>,
    /// Chat requests answered at once (default 64).
    #[arg(long, value_name = "N")]
    pub(crate) max_concurrent: Option<usize>,
    /// Chat requests that may wait for a slot; beyond them 429 (default 256).
    #[arg(long, value_name = "N")]
    pub(crate) max_queue: Option<usize>,
    /// Longest wait for the next piece of an answer, in ms (default 300000).
    #[arg(long, value_name = "MS")]
    pub(crate) idle_timeout_ms: Option<u64>,
    /// Longest time one answer may take, in ms (default 600000).
    #[arg(long, value_name = "MS")]
    pub(crate) total_timeout_ms: Option<u64>,
    /// On SIGTERM or Ctrl-C, how long answers in flight may finish, in ms (default 10000).
    #[arg(long, value_name = "MS")]
    pub(crate) shutdown_grace_ms: Option<u64>,
}

/// `baton serve ...` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ServeCommand {
    /// Manage the client keys the gateway accepts.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `baton serve keys ...`
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a new key: printed once on stdout, only its hash is stored (file mode 0600).
    Add {
        /// A name for the key (logs and metrics show it, never the key).
        name: String,
    },
}

/// How the request log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// One short human line per request.
    #[default]
    Text,
    /// One JSON object per request.
    Json,
}
