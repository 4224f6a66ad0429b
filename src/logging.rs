//! Diagnostics: `BATON_DEBUG` turns on the engine's decision log, on stderr for
//! one-shot runs and subcommands, in a log file for the chat.
//!
//! `BATON_DEBUG=baton:*` enables every namespace; `baton:lb`, `baton:breaker`,
//! `baton:tpm` and `baton:provider` enable one each (comma-separated lists work).
//! The lines are printed bare — `[LB:failover] Trying backend: a (attempt 1/2)` —
//! because scripts grep them byte for byte. Without the variable only warnings
//! and errors are printed.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable read by [`filter_from_debug_spec`].
pub(crate) const DEBUG_ENV: &str = "BATON_DEBUG";

/// Namespaces a user can name in `BATON_DEBUG`, and the tracing targets they map to.
pub(crate) const NAMESPACES: &[(&str, &str)] = &[
    ("lb", "baton::lb"),
    ("breaker", "baton::breaker"),
    ("tpm", "baton::tpm"),
    ("provider", "baton::provider"),
];

/// Turns a `BATON_DEBUG` value into tracing filter directives. Unknown parts are
/// ignored, as with the `debug` convention this follows.
pub(crate) fn filter_from_debug_spec(spec: Option<&str>) -> String {
    let mut directives = vec!["warn".to_string()];
    for part in spec
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if matches!(part, "*" | "baton:*" | "baton" | "baton:") {
            directives.push("baton=debug".into());
            continue;
        }
        if let Some(ns) = part.strip_prefix("baton:")
            && let Some((_, target)) = NAMESPACES.iter().find(|(name, _)| *name == ns)
        {
            directives.push(format!("{target}=debug"));
        }
    }
    directives.join(",")
}

/// Prints debug lines bare and prefixes warnings and errors.
struct BareFormat;

impl<S, N> FormatEvent<S, N> for BareFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        match *event.metadata().level() {
            Level::ERROR => write!(writer, "baton: error: ")?,
            Level::WARN => write!(writer, "baton: warning: ")?,
            _ => {}
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Sends diagnostics to stderr (one-shot mode and subcommands).
pub fn init_stderr() {
    let spec = std::env::var(DEBUG_ENV).ok();
    let filter = EnvFilter::new(filter_from_debug_spec(spec.as_deref()));
    // A second call (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(BareFormat)
        .try_init();
}

/// Sends diagnostics to `~/.baton/logs/baton.log`, rolled daily (the chat: the
/// screen belongs to it). The returned guard flushes the log when dropped.
pub(crate) fn init_file(
    home: &crate::home::Home,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = home.logs_dir();
    crate::home::ensure_dir(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "baton.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let spec = std::env::var(DEBUG_ENV).ok();
    let filter = EnvFilter::new(filter_from_debug_spec(spec.as_deref()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_enables_everything() {
        assert_eq!(filter_from_debug_spec(Some("baton:*")), "warn,baton=debug");
        assert_eq!(filter_from_debug_spec(Some("*")), "warn,baton=debug");
    }

    #[test]
    fn namespaces_map_to_targets() {
        assert_eq!(
            filter_from_debug_spec(Some("baton:lb,baton:breaker")),
            "warn,baton::lb=debug,baton::breaker=debug"
        );
    }

    #[test]
    fn unset_or_unknown_keeps_quiet() {
        assert_eq!(filter_from_debug_spec(None), "warn");
        assert_eq!(filter_from_debug_spec(Some("llxprt:*,baton:nope")), "warn");
    }
}
