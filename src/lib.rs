//! baton: a terminal chat client for LLMs whose load-balancer profiles keep a
//! conversation going when a provider is slow, rate-limited, down or out of quota.
//!
//! The library holds everything; `main.rs` only parses the command line and
//! hands over. Rooms, one per concept:
//! - [`config`]: the settings registry (one table drives validation, help and docs).
//! - [`profile`]: model and load-balancer profiles: format, store, validation, schema.
//! - [`provider`]: wire formats (OpenAI-compatible, Anthropic, Gemini, Ollama, `sim`),
//!   SSE/NDJSON framing, usage extraction and error classification.
//! - [`engine`]: hands a prompt to backends and fails over; emits [`engine::EngineEvent`]s.
//! - [`launch`]: the one path from a command line to a ready session, for every face.
//! - [`oneshot`]: the non-interactive consumer of the engine's events.
//! - [`session`]: one chat's state; [`command`]: slash commands, pure over it.
//! - [`tui`]: the interactive chat (ratatui), the other consumer of engine events.
//! - [`archive`]: every conversation kept in `~/.baton/sessions/`, written off the chat path.
//! - [`redact`]: the one place secrets are taken out of what baton shows or stores.
//! - [`serve`]: the OpenAI-compatible gateway, the third consumer of engine events.
#![forbid(unsafe_code)]

pub mod archive;
pub(crate) mod attach;
pub mod cli;
pub mod command;
pub mod config;
pub mod engine;
pub(crate) mod fsutil;
pub mod home;
pub(crate) mod launch;
pub mod logging;
pub mod oneshot;
pub mod profile;
pub mod provider;
pub(crate) mod redact;
pub(crate) mod roles;
#[cfg(feature = "serve")]
pub mod serve;
pub mod session;
pub mod tui;
