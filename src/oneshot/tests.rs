use super::json::JsonOutput;
use super::text::TextOutput;
use super::*;
use crate::engine::Provenance;
use crate::provider::ErrorClass;
use crate::provider::Usage;

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
    let mut out = TextOutput::new(Vec::new());
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
        })
        .unwrap();
    assert_eq!(exit, Some(Exit::Complete));
    assert_eq!(String::from_utf8(out.out).unwrap(), "Hello\n");
}

#[test]
fn interrupted_is_an_error() {
    let mut out = TextOutput::new(Vec::new());
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
    })
    .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.out).unwrap();
    assert_eq!(value["answer"], "Hi");
    assert_eq!(value["backend"], "a");
    assert_eq!(value["attempts"], 2);
    assert_eq!(value["usage"]["output_tokens"], 2);
    assert_eq!(value["status"], "complete");
}
