//! Model parameters baton knows: what each accepts, checked wherever one enters
//! (profile load, `/set modelparam`, building a backend), so a bad value is named
//! to the user instead of replaced or sent as it is.
//!
//! Unknown parameters pass through untouched: providers add new ones faster than
//! baton could list them.

use serde_json::Value;

/// A known parameter with a value it does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model parameter '{key}' = {got} is not allowed: expected {expected}")]
pub(crate) struct ParamError {
    pub(crate) key: String,
    /// The value as JSON, shortened.
    pub(crate) got: String,
    pub(crate) expected: &'static str,
}

/// What a known model parameter accepts.
enum ParamKind {
    /// A number in an inclusive range.
    Number(f64, f64, &'static str),
    /// A whole number of 1 or more.
    PositiveInt,
    /// Any whole number.
    Int,
    /// Exactly one answer: baton shows one, so more would be paid for and lost.
    One,
    /// Text or a list of texts.
    Stop,
}

fn param_kind(key: &str) -> Option<ParamKind> {
    Some(match key {
        "temperature" => ParamKind::Number(0.0, 2.0, "a number from 0 to 2"),
        "top_p" | "topP" => ParamKind::Number(0.0, 1.0, "a number from 0 to 1"),
        "presence_penalty" | "frequency_penalty" | "presencePenalty" | "frequencyPenalty" => {
            ParamKind::Number(-2.0, 2.0, "a number from -2 to 2")
        }
        "max_tokens"
        | "maxTokens"
        | "max_output_tokens"
        | "maxOutputTokens"
        | "max_completion_tokens"
        | "top_k"
        | "topK"
        | "num_ctx"
        | "top_logprobs" => ParamKind::PositiveInt,
        "seed" => ParamKind::Int,
        "n" | "candidateCount" | "candidate_count" => ParamKind::One,
        "stop" | "stop_sequences" | "stopSequences" => ParamKind::Stop,
        _ => return None,
    })
}

/// Checks one parameter; unknown keys are always accepted.
/// A `stop` value as the APIs that want a list of strings take it: one string
/// becomes a list of one (Anthropic and Ollama reject a bare string).
pub(crate) fn stop_list(value: &Value) -> Value {
    match value {
        Value::String(_) => Value::Array(vec![value.clone()]),
        other => other.clone(),
    }
}

pub(crate) fn check_param(key: &str, value: &Value) -> Result<(), ParamError> {
    let Some(kind) = param_kind(key) else {
        return Ok(());
    };
    let (ok, expected) = match kind {
        ParamKind::Number(lo, hi, text) => {
            (value.as_f64().is_some_and(|f| f >= lo && f <= hi), text)
        }
        ParamKind::PositiveInt => (whole(value).is_some_and(|n| n >= 1.0), "a positive integer"),
        ParamKind::Int => (whole(value).is_some(), "an integer"),
        ParamKind::One => (
            whole(value) == Some(1.0),
            "1 (baton shows one answer; remove the parameter)",
        ),
        ParamKind::Stop => (
            value.is_string()
                || value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string)),
            "text or a list of texts",
        ),
    };
    if ok {
        return Ok(());
    }
    let mut got = value.to_string();
    if got.chars().count() > 60 {
        got = format!("{}...", got.chars().take(57).collect::<String>());
    }
    Err(ParamError {
        key: key.to_owned(),
        got,
        expected,
    })
}

/// Checks every parameter of a map, stopping at the first bad one.
pub(crate) fn check_params(params: &serde_json::Map<String, Value>) -> Result<(), ParamError> {
    params.iter().try_for_each(|(k, v)| check_param(k, v))
}

fn whole(value: &Value) -> Option<f64> {
    value.as_f64().filter(|f| f.fract() == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn a_stop_string_becomes_a_list_of_one() {
        assert_eq!(stop_list(&json!("END")), json!(["END"]));
        assert_eq!(stop_list(&json!(["a", "b"])), json!(["a", "b"]));
    }

    #[test]
    fn known_parameters_are_checked_and_unknown_pass() {
        for (key, value) in [
            ("temperature", json!(0.7)),
            ("top_p", json!(1)),
            ("max_tokens", json!(512)),
            ("max_completion_tokens", json!(512.0)),
            ("seed", json!(-3)),
            ("n", json!(1)),
            ("stop", json!(["END"])),
            ("logit_bias", json!({"50256": -100})),
        ] {
            assert_eq!(check_param(key, &value), Ok(()), "{key}");
        }
        for (key, value, expected) in [
            ("temperature", json!("hot"), "a number from 0 to 2"),
            ("temperature", json!(3), "a number from 0 to 2"),
            ("frequency_penalty", json!(-2.5), "a number from -2 to 2"),
            ("max_tokens", json!(1.5), "a positive integer"),
            ("max_tokens", json!("512"), "a positive integer"),
            ("top_k", json!(0), "a positive integer"),
            ("seed", json!("x"), "an integer"),
            (
                "n",
                json!(2),
                "1 (baton shows one answer; remove the parameter)",
            ),
        ] {
            let err = check_param(key, &value).unwrap_err();
            assert_eq!((err.key.as_str(), err.expected), (key, expected));
        }
        assert_eq!(
            check_param("temperature", &json!("hot"))
                .unwrap_err()
                .to_string(),
            "model parameter 'temperature' = \"hot\" is not allowed: expected a number from 0 to 2"
        );
    }
}
