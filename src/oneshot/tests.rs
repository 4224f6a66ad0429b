use super::json::JsonOutput;
use super::text::TextOutput;
use super::*;
use crate::engine::Provenance;
use crate::provider::ErrorClass;
use crate::provider::{AnswerStatus, Finish, ToolCall, Usage};

fn provenance() -> Provenance {
    Provenance {
        backend: "a".into(),
        provider: "sim".into(),
        model: "sim-fast".into(),
        attempts: 2,
        failovers: 1,
        latency_ms: 12,
        first_chunk_ms: 5,
        usage: Usage {
            input_tokens: 1,
            output_tokens: 2,
            estimated: false,
            ..Usage::default()
        },
    }
}

fn failure(backend: &str, class: ErrorClass) -> BackendFailure {
    BackendFailure {
        backend: backend.into(),
        class,
        reason: "503 Service Unavailable".into(),
    }
}

#[test]
fn text_output_streams_and_ends_the_line() {
    let mut out = TextOutput::new(Vec::new(), Vec::new(), false);
    assert_eq!(
        out.event(&EngineEvent::Delta { text: "Hel".into() })
            .unwrap(),
        None
    );
    out.event(&EngineEvent::Delta { text: "lo".into() })
        .unwrap();
    let exit = out
        .event(&EngineEvent::Done {
            provenance: provenance(),
            finish: Default::default(),
        })
        .unwrap();
    assert_eq!(exit, Some(Exit::Complete));
    assert_eq!(String::from_utf8(out.out).unwrap(), "Hello\n");
}

#[test]
fn interrupted_is_an_error() {
    let mut out = TextOutput::new(Vec::new(), Vec::new(), false);
    out.event(&EngineEvent::Delta { text: "par".into() })
        .unwrap();
    let exit = out
        .event(&EngineEvent::Interrupted {
            provenance: provenance(),
            reason: "cut".into(),
        })
        .unwrap();
    assert_eq!(exit, Some(Exit::Error));
}

#[test]
fn exhausted_is_75_only_when_every_reason_was_transient() {
    let all = [
        failure("a", ErrorClass::Transient),
        failure("b", ErrorClass::Transient),
    ];
    let (exit, message) = exhausted(&all);
    assert_eq!(exit, Exit::Unavailable);
    assert_eq!(
        message,
        "every backend failed:\n  a: 503 Service Unavailable\n  b: 503 Service Unavailable"
    );
    let mixed = [
        failure("a", ErrorClass::Transient),
        failure("b", ErrorClass::Auth),
    ];
    assert_eq!(exhausted(&mixed).0, Exit::Error);
}

#[test]
fn json_output_prints_one_object_with_provenance() {
    let mut out = JsonOutput::new(Vec::new());
    out.event(&EngineEvent::Delta { text: "Hi".into() })
        .unwrap();
    out.event(&EngineEvent::Done {
        provenance: provenance(),
        finish: Default::default(),
    })
    .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.out).unwrap();
    assert_eq!(value["answer"], "Hi");
    assert_eq!(value["backend"], "a");
    assert_eq!(value["attempts"], 2);
    assert_eq!(value["usage"]["output_tokens"], 2);
    assert_eq!(value["status"], "complete");
}

fn done(status: AnswerStatus, stop_reason: &str) -> EngineEvent {
    EngineEvent::Done {
        provenance: provenance(),
        finish: Finish::new(status, Some(stop_reason)),
    }
}

#[test]
fn a_truncated_answer_exits_3_with_advice_on_stderr() {
    let mut out = TextOutput::new(Vec::new(), Vec::new(), false);
    out.event(&EngineEvent::Delta {
        text: "Half".into(),
    })
    .unwrap();
    let exit = out.event(&done(AnswerStatus::Truncated, "length")).unwrap();
    assert_eq!(exit, Some(Exit::Incomplete));
    assert_eq!(String::from_utf8(out.out).unwrap(), "Half\n");
    assert_eq!(
        String::from_utf8(out.err).unwrap(),
        "baton: truncated: the answer was cut by the token limit (stop reason: length); \
         raise max_tokens (/set modelparam max_tokens N) or ask for less\n"
    );
}

#[test]
fn tool_calls_print_on_stdout() {
    let mut out = TextOutput::new(Vec::new(), Vec::new(), false);
    out.event(&EngineEvent::ToolCall {
        call: ToolCall {
            id: Some("c1".into()),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
        },
    })
    .unwrap();
    let exit = out
        .event(&done(AnswerStatus::ToolCall, "tool_calls"))
        .unwrap();
    assert_eq!(exit, Some(Exit::Incomplete));
    assert_eq!(
        String::from_utf8(out.out).unwrap(),
        "tool call: get_weather({\"city\":\"Paris\"})\n"
    );
}

#[test]
fn reasoning_is_hidden_unless_asked_for() {
    for show in [false, true] {
        let mut out = TextOutput::new(Vec::new(), Vec::new(), show);
        out.event(&EngineEvent::Reasoning {
            text: "think".into(),
        })
        .unwrap();
        out.event(&EngineEvent::Delta { text: "Hi".into() })
            .unwrap();
        out.event(&done(AnswerStatus::Complete, "stop")).unwrap();
        assert_eq!(String::from_utf8(out.out).unwrap(), "Hi\n");
        let err = String::from_utf8(out.err).unwrap();
        let want = if show {
            "--- reasoning ---\nthink\n--- answer ---\n"
        } else {
            ""
        };
        assert_eq!(err, want);
    }
}

#[test]
fn json_output_carries_status_reasoning_tool_calls_and_usage() {
    let mut out = JsonOutput::new(Vec::new());
    out.event(&EngineEvent::Reasoning { text: "hm".into() })
        .unwrap();
    out.event(&EngineEvent::ToolCall {
        call: ToolCall {
            id: Some("c1".into()),
            name: "f".into(),
            arguments: "{}".into(),
        },
    })
    .unwrap();
    let exit = out
        .event(&done(AnswerStatus::ToolCall, "tool_calls"))
        .unwrap();
    assert_eq!(exit, Some(Exit::Incomplete));
    let value: serde_json::Value = serde_json::from_slice(&out.out).unwrap();
    assert_eq!(value["status"], "tool_call");
    assert_eq!(value["stop_reason"], "tool_calls");
    assert_eq!(value["reasoning"], "hm");
    assert_eq!(
        value["tool_calls"],
        serde_json::json!([{"id": "c1", "name": "f", "arguments": "{}"}])
    );
    assert_eq!(value["usage"]["reasoning_tokens"], 0);
    assert_eq!(value["usage"]["cache_read_tokens"], 0);
    assert_eq!(value["usage"]["cache_write_tokens"], 0);
    assert!(value.get("refusal").is_none());
}

#[test]
fn json_output_names_a_refusal_and_the_providers_message() {
    let mut out = JsonOutput::new(Vec::new());
    out.event(&EngineEvent::Delta {
        text: "I can't help.".into(),
    })
    .unwrap();
    let mut finish = Finish::new(AnswerStatus::Refused, Some("refusal"));
    finish.message = Some("policy".into());
    out.event(&EngineEvent::Done {
        provenance: provenance(),
        finish,
    })
    .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.out).unwrap();
    assert_eq!(value["status"], "refused");
    assert_eq!(value["refusal"], "I can't help.");
    assert_eq!(value["finish_message"], "policy");
    assert_eq!(value["answer"], "I can't help.");
}
