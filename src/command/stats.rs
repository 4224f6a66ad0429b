//! `/stats` and `/stats lb`.
//!
//! `/stats` shows the session's own totals (prompts, answers, tokens). `/stats lb`
//! shows the load balancer's health, which only the engine knows (breakers, TPM,
//! per-backend metrics, restored from `~/.baton/state/`), so the command returns
//! [`Action::ShowLbStats`] and the UI answers it with the engine's own block:
//! one renderer for `/stats lb`, `--stats` and `baton state show`.

use super::{Action, CommandOutput, strings};
use crate::session::Session;

/// Session totals for `/stats`.
fn render_totals(session: &Session) -> String {
    let s = session.stats();
    let avg = s
        .latency_total_ms
        .checked_div(s.answers)
        .map_or_else(|| "N/A".to_string(), |ms| format!("{ms}ms"));
    format!(
        "Session Statistics\nProfile: {}\nPrompts: {}\nAnswers: {} complete, {} interrupted, {} cancelled, {} failed\n\
         Tokens: {} ({} prompt, {} answer)\nAvg Latency: {avg}\nMessages in context: {}",
        session.profile_name(),
        s.prompts,
        s.answers,
        s.interrupted,
        s.cancelled,
        s.exhausted,
        s.total_tokens(),
        s.input_tokens,
        s.output_tokens,
        session.messages().len()
    )
}

/// `/stats ARGS`.
pub(super) fn execute(session: &Session, args: &str) -> CommandOutput {
    match args.trim() {
        "" => CommandOutput::info(render_totals(session)),
        "lb" => CommandOutput::action(Action::ShowLbStats),
        _ => CommandOutput::error(strings::STATS_USAGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_inline_and_lb_asks_the_ui() {
        let (_tmp, s) = super::super::test_support::demo_session();
        let out = execute(&s, "");
        assert!(
            out.text.starts_with("Session Statistics\nProfile: demo"),
            "{}",
            out.text
        );
        assert_eq!(out.action, None);
        let lb = execute(&s, " lb ");
        assert_eq!(lb.action, Some(Action::ShowLbStats));
        assert!(lb.text.is_empty());
        assert!(execute(&s, "nope").is_error);
    }
}
