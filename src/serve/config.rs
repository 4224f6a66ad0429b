//! The gateway's settings: defaults, then the `--config` file, then flags.
//!
//! ```json
//! {"listen": "0.0.0.0:8089", "keys": "/etc/baton/serve.keys", "log_format": "json",
//!  "profiles": ["work", "fast"],
//!  "limits": {"max_body_bytes": 4194304, "max_concurrent": 64, "max_queue": 256,
//!             "idle_timeout_ms": 300000, "total_timeout_ms": 600000,
//!             "shutdown_grace_ms": 10000}}
//! ```

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::limits::Limits;
use crate::cli::serve::{LogFormat, ServeArgs};
use crate::home::Home;

/// Where the gateway listens unless told otherwise.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8089";

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read serve config {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("serve config {}: {source}", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what} must be at least 1")]
    Zero { what: &'static str },
}

/// The file's shape; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    keys: Option<PathBuf>,
    log_format: Option<LogFormat>,
    profiles: Option<Vec<String>>,
    #[serde(default)]
    limits: Limits,
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServeConfig {
    pub(crate) listen: SocketAddr,
    pub(crate) keys: PathBuf,
    pub(crate) log_format: LogFormat,
    /// `None` serves every profile in the profiles folder.
    pub(crate) profiles: Option<Vec<String>>,
    pub(crate) limits: Limits,
}

impl ServeConfig {
    pub(crate) fn load(args: &ServeArgs, home: &Home) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read(path)?,
            None => File::default(),
        };
        let mut limits = file.limits;
        let set = |slot: &mut usize, v: Option<usize>| *slot = v.unwrap_or(*slot);
        set(&mut limits.max_body_bytes, args.max_body_bytes);
        set(&mut limits.max_concurrent, args.max_concurrent);
        set(&mut limits.max_queue, args.max_queue);
        let set = |slot: &mut u64, v: Option<u64>| *slot = v.unwrap_or(*slot);
        set(&mut limits.idle_timeout_ms, args.idle_timeout_ms);
        set(&mut limits.total_timeout_ms, args.total_timeout_ms);
        set(&mut limits.shutdown_grace_ms, args.shutdown_grace_ms);
        for (what, v) in [
            ("max_concurrent", limits.max_concurrent as u64),
            ("max_body_bytes", limits.max_body_bytes as u64),
            ("idle_timeout_ms", limits.idle_timeout_ms),
            ("total_timeout_ms", limits.total_timeout_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { what });
            }
        }
        let listen = args.listen.or(file.listen).unwrap_or_else(|| {
            DEFAULT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8089)))
        });
        let profiles = if args.profiles.is_empty() {
            file.profiles
        } else {
            Some(args.profiles.clone())
        };
        Ok(Self {
            listen,
            keys: args
                .keys
                .clone()
                .or(file.keys)
                .unwrap_or_else(|| home.root().join("serve.keys")),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            profiles,
            limits,
        })
    }
}

fn read(path: &Path) -> Result<File, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.json");
        std::fs::write(
            &path,
            r#"{"listen":"0.0.0.0:9000","log_format":"json",
                "limits":{"max_queue":3,"max_concurrent":2}}"#,
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            max_concurrent: Some(5),
            ..ServeArgs::default()
        };
        let home = Home::at(dir.path());
        let c = ServeConfig::load(&args, &home).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!((c.limits.max_concurrent, c.limits.max_queue), (5, 3));
        assert_eq!(c.limits.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(c.keys, dir.path().join("serve.keys"));
        let bad = ServeArgs {
            max_concurrent: Some(0),
            ..ServeArgs::default()
        };
        assert!(matches!(
            ServeConfig::load(&bad, &home),
            Err(ConfigError::Zero { .. })
        ));
    }
}
