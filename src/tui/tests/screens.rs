//! Whole screens as insta snapshots: the first screen, a streaming answer, markdown
//! and code, an interrupted answer, inline help and errors, a narrow terminal.

use std::time::Duration;

use super::*;
use crate::engine::BackendFailure;
use crate::provider::{AnswerStatus, Finish, ToolCall};

#[test]
fn main_screen() {
    let (_tmp, mut app) = app_on("demo");
    insta::assert_snapshot!("main_screen", screen(&mut app, 80, 12));
}

#[test]
fn streaming_shows_notices_spinner_and_rate() {
    let (_tmp, mut app) = app_on("demo");
    let t0 = app.now();
    let id = started_id(&send(&mut app, "tell me about relays"));
    failover_prelude(&mut app, id);
    app.set_now(t0 + Duration::from_millis(500));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "Relays hand the baton on. ".repeat(6),
        },
    );
    app.set_now(t0 + Duration::from_millis(1500));
    insta::assert_snapshot!("streaming", screen(&mut app, 80, 16));
}

#[test]
fn markdown_answer_with_provenance() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "markdown please"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: MARKDOWN.into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    );
    assert!(!app.is_busy());
    assert_eq!(app.session().messages().len(), 2, "prompt and answer kept");
    insta::assert_snapshot!("markdown", screen(&mut app, 80, 30));
}

/// A tagged code block in colour: the snapshot keeps the text (TestBackend shows
/// no colours), the buffer's cells show the highlighting.
#[test]
fn code_block_is_highlighted_on_screen() {
    let (_tmp, mut app) = app_on_themed("demo", Theme::new(true));
    let id = started_id(&send(&mut app, "code please"));
    let text = "Here:\n\n```rust\nfn main() {\n    let s = \"hi\";\n}\n```\n\n```toml\nkey = \"value\"\n```\n";
    engine(&mut app, id, EngineEvent::Delta { text: text.into() });
    let mut terminal = Terminal::new(TestBackend::new(60, 20)).unwrap();
    crate::tui::draw(&mut app, &mut terminal).unwrap();
    insta::assert_snapshot!("highlighted_code", terminal.backend());
    let buffer = terminal.backend().buffer();
    // The foreground of the first cell of `needle` on the screen.
    let fg_of = |needle: &str| {
        let width = usize::from(buffer.area.width);
        let symbols: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
        let chars: Vec<&str> = needle.split("").filter(|s| !s.is_empty()).collect();
        let at = symbols
            .windows(chars.len())
            .position(|w| w == chars.as_slice())
            .unwrap_or_else(|| panic!("{needle} not on screen"));
        assert!(at % width + chars.len() <= width);
        buffer.content[at].fg
    };
    let (keyword, string, name) = (fg_of("fn"), fg_of("\"hi\""), fg_of("main"));
    assert_ne!(keyword, ratatui::style::Color::Reset);
    assert_ne!(string, ratatui::style::Color::Reset);
    assert_ne!(keyword, string, "keyword and string differ");
    assert_ne!(keyword, name);
    // TOML has no bundled grammar: plain code style.
    assert_eq!(fg_of("key"), ratatui::style::Color::Yellow);
    assert_eq!(fg_of("\"value\""), ratatui::style::Color::Yellow);
}

#[test]
fn interrupted_answer_is_marked_and_retry_goes_to_the_next_backend() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "a long story"));
    failover_prelude(&mut app, id);
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "Once upon a time".into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Interrupted {
            provenance: provenance("demo-flaky", "sim-flaky"),
            reason: "the stream ended before the answer was complete".into(),
        },
    );
    assert!(
        app.session().messages().is_empty(),
        "an incomplete answer is not kept"
    );
    insta::assert_snapshot!("interrupted", screen(&mut app, 80, 16));

    let effects = send(&mut app, "/retry");
    let [
        Effect::Start {
            engine, request, ..
        },
    ] = effects.as_slice()
    else {
        panic!("retry did not start a request: {effects:?}");
    };
    let order: Vec<_> = engine.backends().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(order, vec!["demo-fast", "demo-down", "demo-flaky"]);
    assert_eq!(
        request.messages.last().map(|m| m.content.as_str()),
        Some("a long story")
    );
}

#[test]
fn help_renders_inline() {
    let (_tmp, mut app) = app_on("demo");
    send(&mut app, "/help");
    insta::assert_snapshot!("help", screen(&mut app, 100, 20));
}

#[test]
fn command_errors_are_shown_inline() {
    let (_tmp, mut app) = app_on("demo");
    send(&mut app, "/set tpm_threshold -500");
    send(&mut app, "/set timeout_ms abc");
    send(&mut app, "/set circuit_breaker_enabled maybe");
    send(&mut app, "/profile save loadbalancer x failover demo-fast");
    insta::assert_snapshot!("errors", screen(&mut app, 80, 16));
}

#[test]
fn narrow_terminal_wraps_everything() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(
        &mut app,
        "a prompt long enough to wrap on forty columns",
    ));
    failover_prelude(&mut app, id);
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: MARKDOWN.into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    );
    insta::assert_snapshot!("narrow_40", screen(&mut app, 40, 40));
}

#[test]
fn exhausted_shows_every_reason() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "hello"));
    let fail = |b: &str| BackendFailure {
        backend: b.into(),
        class: ErrorClass::Transient,
        reason: "503 Service Unavailable".into(),
    };
    engine(
        &mut app,
        id,
        EngineEvent::Exhausted {
            reasons: vec![fail("demo-down"), fail("demo-flaky")],
        },
    );
    let out = screen(&mut app, 80, 10);
    assert!(out.contains("every backend failed:"), "{out}");
    assert!(out.contains("demo-flaky: 503 Service Unavailable"), "{out}");
    assert!(app.session().messages().is_empty());
}

#[test]
fn reasoning_folds_and_ctrl_t_shows_it() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "think"));
    engine(
        &mut app,
        id,
        EngineEvent::Reasoning {
            text: "First, count the legs.".into(),
        },
    );
    // Reasoning alone already opens the answer, so a long think is visible.
    let thinking = screen(&mut app, 60, 12);
    assert!(thinking.contains("thought for 22 characters"), "{thinking}");
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "Four.".into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-think"),
            finish: Default::default(),
        },
    );
    let folded = screen(&mut app, 60, 12);
    assert!(!folded.contains("count the legs"), "{folded}");
    ctrl(&mut app, 't');
    insta::assert_snapshot!("reasoning_shown", screen(&mut app, 60, 12));
    ctrl(&mut app, 't');
    assert_eq!(screen(&mut app, 60, 12), folded);
    // Only the answer joins the conversation.
    assert_eq!(
        app.session().messages().last().map(|m| m.content.as_str()),
        Some("Four.")
    );
}

#[test]
fn a_cut_answer_is_marked_with_the_reason_and_kept() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "a long story"));
    engine(
        &mut app,
        id,
        EngineEvent::Delta {
            text: "Once upon a time there".into(),
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-truncated"),
            finish: Finish::new(AnswerStatus::Truncated, Some("length")),
        },
    );
    let out = screen(&mut app, 80, 12);
    insta::assert_snapshot!("truncated", out);
    assert!(out.contains("truncated (length)"), "{out}");
    // What was shown stays in the conversation so "go on" can continue it.
    assert_eq!(
        app.session().messages().last().map(|m| m.content.as_str()),
        Some("Once upon a time there")
    );
}

#[test]
fn a_tool_call_without_text_is_shown_and_offers_retry() {
    let (_tmp, mut app) = app_on("demo");
    let id = started_id(&send(&mut app, "weather in Paris?"));
    engine(
        &mut app,
        id,
        EngineEvent::ToolCall {
            call: ToolCall {
                id: Some("call_1".into()),
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            },
        },
    );
    engine(
        &mut app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Finish::new(AnswerStatus::ToolCall, Some("tool_calls")),
        },
    );
    let out = screen(&mut app, 80, 12);
    assert!(
        out.contains(r#"tool call: get_weather({"city":"Paris"})"#),
        "{out}"
    );
    assert!(out.contains("tool call (tool_calls)"), "{out}");
    // No text: nothing joins the conversation, and /retry can ask again.
    assert!(app.session().messages().is_empty());
    assert!(matches!(
        send(&mut app, "/retry").as_slice(),
        [Effect::Start { .. }]
    ));
}
