//! Profiles: named backends and load balancers, one JSON file each.
//!
//! The format is llxprt-code's, so its profiles load unchanged:
//! - a **model profile** names one backend:
//!   `{"version":1,"provider":"openai","model":"gpt-4o","modelParams":{..},..}`;
//! - a **load-balancer profile** lists other profiles:
//!   `{"version":1,"type":"loadbalancer","policy":"failover","profiles":["a","b"],..}`.
//!
//! [`parse_profile`] reads a file's text (pure, every refusal names the file, field,
//! value and what is allowed; oddities that llxprt accepts become warnings).
//! [`ProfileStore`] lists, loads, saves (atomically, never writing secrets), deletes
//! (refusing profiles a load balancer still lists) and resolves load balancers down
//! to their backends, catching missing members and cycles. [`schema_json`] is the
//! file format's JSON Schema; [`ensure_builtin`] writes the shipped `demo` profiles;
//! [`import_llxprt`] copies llxprt's profiles in.

mod builtin;
mod error;
mod format;
mod llxprt;
mod model;
mod schema;
mod store;

pub use builtin::ensure_builtin;
pub(crate) use builtin::{DEFAULT_PROFILE, builtin_profiles, is_builtin};
pub(crate) use error::ProfileError;
pub(crate) use format::{to_json, validate_name};
pub(crate) use llxprt::{default_llxprt_dir, import_llxprt};
pub use model::{LbProfile, Loaded, ModelProfile, Policy, Profile, Resolved};
pub(crate) use schema::schema_json;
pub use store::ProfileStore;

#[cfg(test)]
mod tests;
