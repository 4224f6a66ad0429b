//! `/stats` and `/stats lb`.
//!
//! `/stats lb` is rendered from an [`LbStatsView`], a plain data snapshot in seed
//! 004's layout. Today the view is filled from what the session itself saw
//! ([`lb_stats_view`]); the engine's own health metrics (breaker states included)
//! can fill the same struct, or replace [`render_lb_stats`], without touching the UI.

use std::time::Instant;

use super::{CommandOutput, strings};
use crate::session::Session;

/// One backend's row of `/stats lb`.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendRow {
    /// The backend's name.
    pub name: String,
    /// Requests (attempts) sent to it.
    pub requests: u64,
    /// Complete answers.
    pub successes: u64,
    /// Average latency of its complete answers.
    pub avg_latency_ms: Option<u64>,
    /// Tokens of its answers.
    pub tokens: u64,
    /// Tokens per minute over the last five minutes.
    pub tpm: u64,
}

/// Everything `/stats lb` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct LbStatsView {
    /// The active profile.
    pub profile: String,
    /// Per backend, in the profile's order.
    pub backends: Vec<BackendRow>,
    /// Breaker state per backend (`open`, `closed`, `half-open`), when known.
    pub breakers: Vec<(String, String)>,
}

/// The view from the session's own counts. The UI cannot see breaker states, so
/// they read `unknown` until the engine reports them.
pub fn lb_stats_view(session: &Session, now: Instant) -> LbStatsView {
    let stats = session.stats();
    let backends: Vec<BackendRow> = stats
        .backends
        .iter()
        .map(|b| BackendRow {
            name: b.name.clone(),
            requests: b.requests,
            successes: b.successes,
            avg_latency_ms: b.latency_total_ms.checked_div(b.successes),
            tokens: b.tokens,
            tpm: b.tpm(now),
        })
        .collect();
    let breakers = backends
        .iter()
        .map(|b| (b.name.clone(), "unknown".to_string()))
        .collect();
    LbStatsView {
        profile: session.profile_name().to_string(),
        backends,
        breakers,
    }
}

/// Seed 004's `/stats lb` block.
pub fn render_lb_stats(view: &LbStatsView) -> String {
    let total: u64 = view.backends.iter().map(|b| b.requests).sum();
    let mut out = format!(
        "Load Balancer Statistics\nProfile: {}\nTotal Requests: {total}\n\nBackend Metrics:",
        view.profile
    );
    for (i, b) in view.backends.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let rate = if b.requests == 0 {
            "N/A".to_string()
        } else {
            format!("{:.1}%", b.successes as f64 * 100.0 / b.requests as f64)
        };
        let latency = b
            .avg_latency_ms
            .map_or_else(|| "N/A".to_string(), |ms| format!("{ms}ms"));
        out.push_str(&format!(
            "\n  {}\n    Requests: {}\n    Success Rate: {rate}\n    Avg Latency: {latency}\n    Tokens: {}\n    TPM: {}",
            b.name, b.requests, b.tokens, b.tpm
        ));
    }
    out.push_str("\n\nCircuit Breaker States:");
    for (name, state) in &view.breakers {
        out.push_str(&format!("\n  {name}: {state}"));
    }
    out
}

/// Session totals for `/stats`.
fn render_totals(session: &Session) -> String {
    let s = session.stats();
    let avg = s
        .latency_total_ms
        .checked_div(s.answers)
        .map_or_else(|| "N/A".to_string(), |ms| format!("{ms}ms"));
    format!(
        "Session Statistics\nProfile: {}\nPrompts: {}\nAnswers: {} complete, {} interrupted, {} failed\n\
         Tokens: {} ({} prompt, {} answer)\nAvg Latency: {avg}\nMessages in context: {}",
        session.profile_name(),
        s.prompts,
        s.answers,
        s.interrupted,
        s.exhausted,
        s.total_tokens(),
        s.input_tokens,
        s.output_tokens,
        session.messages().len()
    )
}

/// `/stats ARGS`.
pub(super) fn execute(session: &Session, args: &str, now: Instant) -> CommandOutput {
    match args.trim() {
        "" => CommandOutput::info(render_totals(session)),
        "lb" => CommandOutput::info(render_lb_stats(&lb_stats_view(session, now))),
        _ => CommandOutput::error(strings::STATS_USAGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn renders_seed_004_layout() {
        let row = |name: &str, requests, successes, lat, tokens, tpm| BackendRow {
            name: name.into(),
            requests,
            successes,
            avg_latency_ms: lat,
            tokens,
            tpm,
        };
        let view = LbStatsView {
            profile: "testlb489".into(),
            backends: vec![
                row("synthetic", 8, 6, Some(1456), 3200, 640),
                row("chutes", 4, 4, Some(980), 1800, 900),
                row("groqgpt", 0, 0, None, 0, 0),
            ],
            breakers: vec![
                ("synthetic".into(), "open".into()),
                ("chutes".into(), "closed".into()),
                ("groqgpt".into(), "closed".into()),
            ],
        };
        let expected = "\
Load Balancer Statistics
Profile: testlb489
Total Requests: 12

Backend Metrics:
  synthetic
    Requests: 8
    Success Rate: 75.0%
    Avg Latency: 1456ms
    Tokens: 3200
    TPM: 640

  chutes
    Requests: 4
    Success Rate: 100.0%
    Avg Latency: 980ms
    Tokens: 1800
    TPM: 900

  groqgpt
    Requests: 0
    Success Rate: N/A
    Avg Latency: N/A
    Tokens: 0
    TPM: 0

Circuit Breaker States:
  synthetic: open
  chutes: closed
  groqgpt: closed";
        assert_eq!(render_lb_stats(&view), expected);
    }

    #[test]
    fn session_view_lists_unused_backends() {
        let (_tmp, s) = super::super::test_support::demo_session();
        let view = lb_stats_view(&s, Instant::now());
        let names: Vec<_> = view.backends.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, vec!["demo-down", "demo-flaky", "demo-fast"]);
        let text = render_lb_stats(&view);
        assert!(text.contains("Total Requests: 0"));
        assert!(text.contains("  demo-fast: unknown"));
        let out = execute(&s, "", Instant::now());
        assert!(
            out.text.starts_with("Session Statistics\nProfile: demo"),
            "{}",
            out.text
        );
        assert!(execute(&s, "nope", Instant::now()).is_error);
    }
}
