//! Rendering a stored session for `baton sessions show` and `export`.

use super::record::{Event, RECORD_VERSION, Record};
use super::sessions::Transcript;

/// `baton sessions export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A readable document: messages as sections, events as quotes.
    Markdown,
    /// One JSON object: id, version, profile, skipped_lines, records.
    Json,
}

/// Renders a transcript for export (and, as Markdown, for `sessions show`).
pub(crate) fn export(t: &Transcript, format: ExportFormat) -> String {
    match format {
        ExportFormat::Json => {
            /// Field order as documented (a `json!` map would sort the keys).
            #[derive(serde::Serialize)]
            struct Export<'a> {
                id: &'a str,
                version: u32,
                profile: Option<&'a str>,
                skipped_lines: usize,
                records: &'a [Record],
            }
            let export = Export {
                id: &t.id,
                version: RECORD_VERSION,
                profile: t.profile(),
                skipped_lines: t.skipped_lines,
                records: &t.records,
            };
            // Our own types always serialise.
            serde_json::to_string_pretty(&export).unwrap_or_default() + "\n"
        }
        ExportFormat::Markdown => markdown(t),
    }
}

fn markdown(t: &Transcript) -> String {
    let mut out = format!("# Session {}\n\n", t.id);
    if let Some(first) = t.records.first() {
        out.push_str(&format!("Started {}", first.ts));
        if let Some(p) = t.profile() {
            out.push_str(&format!(" · profile `{p}`"));
        }
        out.push_str("\n\n");
    }
    if t.skipped_lines > 0 {
        out.push_str(&format!(
            "> {} unreadable line(s) skipped\n\n",
            t.skipped_lines
        ));
    }
    for r in &t.records {
        match &r.event {
            Event::SessionStarted { profile, resumed } => {
                if *resumed {
                    out.push_str(&format!("> resumed on profile `{profile}` ({})\n\n", r.ts));
                }
            }
            Event::ProfileChanged { profile } => {
                out.push_str(&format!("> profile changed to `{profile}`\n\n"));
            }
            Event::User { content } => out.push_str(&format!("## You\n\n{content}\n\n")),
            Event::Answer {
                content,
                provenance: p,
                end,
            } => {
                let status = match end.note() {
                    Some(note) => format!(", {note}"),
                    None => String::new(),
                };
                out.push_str(&format!(
                    "## Assistant{status} ({} · {}/{} · {} ms · {} attempt(s), {} failover(s) · {} tokens{})\n\n{content}\n\n",
                    p.backend,
                    p.provider,
                    p.model,
                    p.latency_ms,
                    p.attempts,
                    p.failovers,
                    p.usage.total(),
                    if p.usage.estimated { ", estimated" } else { "" },
                ));
                for call in &end.tool_calls {
                    out.push_str(&format!(
                        "> tool call: {}({})\n\n",
                        call.name, call.arguments
                    ));
                }
                if let Some(advice) = end.status.advice() {
                    out.push_str(&format!("> {advice}\n\n"));
                }
            }
            Event::Interrupted {
                content,
                provenance: p,
                reason,
            } => {
                out.push_str(&format!(
                    "## Assistant, interrupted ({} · {}/{})\n\n{content}\n\n> incomplete: {reason}\n\n",
                    p.backend, p.provider, p.model
                ));
            }
            Event::Failover {
                backend,
                class,
                detail,
                will_retry,
            } => {
                let next = if *will_retry {
                    "retrying"
                } else {
                    "failing over"
                };
                out.push_str(&format!(
                    "> {backend} failed ({class}): {detail}; {next}\n\n"
                ));
            }
            Event::Skipped { backend, why } => {
                out.push_str(&format!("> skipped {backend}: {why}\n\n"));
            }
            Event::Exhausted { reasons } => {
                out.push_str("> every backend failed:\n");
                for f in reasons {
                    out.push_str(&format!("> - {}: {}\n", f.backend, f.reason));
                }
                out.push('\n');
            }
            Event::Breaker { backend, state } => {
                out.push_str(&format!("> circuit breaker {backend}: {state}\n\n"));
            }
            Event::Setting { key, value } => match value {
                Some(v) => out.push_str(&format!("> set {key} = {v}\n\n")),
                None => out.push_str(&format!("> unset {key}\n\n")),
            },
            Event::Cleared => out.push_str("> the conversation was cleared here (/clear)\n\n"),
            Event::Stats { .. } => {}
        }
    }
    out
}
