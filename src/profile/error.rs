//! [`ProfileError`]: every way reading, writing or resolving a profile can fail, each
//! naming the file, the field, the value and what is allowed.

use std::io;
use std::path::PathBuf;

use crate::config::SettingError;

/// Why a profile could not be read, written, resolved or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No file for that name.
    #[error("{}", not_found_message(name, dir, available))]
    NotFound {
        /// The name asked for.
        name: String,
        /// The profiles folder.
        dir: PathBuf,
        /// The names that do exist.
        available: Vec<String>,
    },
    /// The file is not valid JSON.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// `version` is present and not 1.
    #[error("{}: `version` must be 1 (got {got})", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The value found, as JSON.
        got: String,
    },
    /// `type` is neither `loadbalancer` nor a model profile.
    #[error(
        "{}: `type` must be \"loadbalancer\" (or absent / \"model\" for a model profile) (got {got})",
        path.display()
    )]
    Type {
        /// The file.
        path: PathBuf,
        /// The value found, as JSON.
        got: String,
    },
    /// `policy` is not a known policy.
    #[error(
        "{}: `policy` must be one of failover, roundrobin, random (got {got})",
        path.display()
    )]
    Policy {
        /// The file.
        path: PathBuf,
        /// The value found, as JSON.
        got: String,
    },
    /// A required field is missing or empty.
    #[error("{}: `{field}` is required{hint}", path.display())]
    MissingField {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// Extra guidance, starting with "; " when present.
        hint: String,
    },
    /// A field holds the wrong kind of value.
    #[error("{}: `{field}` must be {expected} (got {got})", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The field (dotted for nested ones: `modelParams.temperature`).
        field: String,
        /// What is allowed.
        expected: String,
        /// The value found, as JSON.
        got: String,
    },
    /// An `ephemeralSettings` value was refused by the settings registry.
    #[error("{}: `ephemeralSettings.{}`: {source}", path.display(), source.key())]
    Setting {
        /// The file.
        path: PathBuf,
        /// The registry's reason.
        source: SettingError,
    },
    /// A load-balancer profile lists no members.
    #[error(
        "{}: `profiles` must list at least one member profile (got an empty list)",
        path.display()
    )]
    NoMembers {
        /// The file.
        path: PathBuf,
    },
    /// A load-balancer profile lists itself.
    #[error("{}: load balancer '{name}' lists itself in `profiles`", path.display())]
    SelfReference {
        /// The file.
        path: PathBuf,
        /// The profile's name.
        name: String,
    },
    /// A load-balancer profile lists a profile that does not exist.
    #[error(
        "{}: load balancer '{lb}' lists '{member}' in `profiles`, but there is no {member}.json in {}{}",
        path.display(),
        dir.display(),
        available_suffix(available)
    )]
    MissingMember {
        /// The load balancer's file.
        path: PathBuf,
        /// The load balancer's name.
        lb: String,
        /// The missing member.
        member: String,
        /// The profiles folder.
        dir: PathBuf,
        /// The names that do exist.
        available: Vec<String>,
    },
    /// Load balancers that list each other in a loop.
    #[error("profile cycle in {}: {}", dir.display(), chain.join(" -> "))]
    Cycle {
        /// The profiles folder.
        dir: PathBuf,
        /// The loop, first name repeated at the end: `a -> b -> a`.
        chain: Vec<String>,
    },
    /// A profile name that cannot be a file name.
    #[error("invalid profile name '{name}': {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Deleting a profile that load balancers still list.
    #[error(
        "profile '{name}' is used by load balancer{} {}; remove it from {} first",
        if users.len() == 1 { "" } else { "s" },
        quoted(users),
        if users.len() == 1 { "it" } else { "them" }
    )]
    InUse {
        /// The profile.
        name: String,
        /// The load-balancer profiles that list it.
        users: Vec<String>,
    },
    /// The file is not one baton reads as a profile: not a regular file (a folder,
    /// a device such as `/dev/zero` behind a symlink) or larger than
    /// [`MAX_PROFILE_BYTES`](super::store::MAX_PROFILE_BYTES).
    #[error(transparent)]
    File(crate::fsutil::ReadError),
    /// Saving would write a secret into the file.
    #[error(
        "refusing to save profile '{name}': {field} holds a raw secret ({what}); keep keys in \
         a file (auth-keyfile), an environment variable (auth-key-env) or the provider's own \
         variable (OPENAI_API_KEY, ...)"
    )]
    RawSecret {
        /// The profile.
        name: String,
        /// The field, dotted: `ephemeralSettings.base-url`, `modelParams.api_key`.
        field: String,
        /// What in it is secret.
        what: String,
    },
    /// The file system said no.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What baton was doing: "read", "write", "list", ...
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
}

/// `Result` with a [`ProfileError`].
pub(crate) type Result<T> = std::result::Result<T, ProfileError>;

fn not_found_message(name: &str, dir: &std::path::Path, available: &[String]) -> String {
    if available.is_empty() {
        format!(
            "profile '{name}' not found: no profiles yet in {}",
            dir.display()
        )
    } else {
        format!(
            "profile '{name}' not found in {}; available: {}",
            dir.display(),
            available.join(", ")
        )
    }
}

fn available_suffix(available: &[String]) -> String {
    if available.is_empty() {
        " (the folder holds no profiles)".to_string()
    } else {
        format!(" (available: {})", available.join(", "))
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ProfileError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
