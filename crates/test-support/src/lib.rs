//! Fixtures shared by baton's integration tests, benches and shell scripts, so a
//! profile, a home or a provenance is built one way everywhere:
//! - [`profile`]: model and load-balancer profiles built from baton's own types and
//!   written by its own [`ProfileStore`](baton::profile::ProfileStore);
//! - [`home`]: a temporary `BATON_HOME` and the real binary pointed at it;
//! - [`mock`]: the mock server on a runtime of its own, and a URL nothing listens on;
//! - [`logs`]: baton's debug lines captured as `BATON_DEBUG=baton:*` prints them;
//! - [`provenance`] and [`transcript`]: answers and chat histories for the TUI.
//!
//! The `baton-fixture` binary exposes the profile builders to the scripts.
//!
//! Only for tests: a failure to set a fixture up panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod home;
pub mod logs;
pub mod mock;
pub mod profile;
pub mod provenance;
pub mod tools;
pub mod transcript;
