//! How an answer ended: the status every face, the archive and JSON output report,
//! the provider's own stop reason beside it, and the tool calls an answer asked for.
//!
//! A truncated, filtered, refused or tool-call answer is still an answer: the engine
//! does not retry it, fail it over or count it against the backend's breaker.

use serde::{Deserialize, Serialize};

/// What kind of answer arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AnswerStatus {
    /// The model finished on its own (`stop`, `end_turn`, `STOP`, `done`).
    #[default]
    Complete,
    /// Cut by the token limit (`length`, `max_tokens`, `MAX_TOKENS`).
    Truncated,
    /// Stopped or blocked by a content filter (`content_filter`, `SAFETY`,
    /// `RECITATION`, a blocked prompt).
    Filtered,
    /// The model declined to answer (OpenAI `refusal`, Anthropic `refusal`).
    Refused,
    /// The answer asks for tools to be run; baton does not run tools.
    ToolCall,
    /// The stream broke after text was shown.
    Interrupted,
}

impl AnswerStatus {
    /// The name JSON output, the archive and the gateway use.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Truncated => "truncated",
            Self::Filtered => "filtered",
            Self::Refused => "refused",
            Self::ToolCall => "tool_call",
            Self::Interrupted => "interrupted",
        }
    }

    /// True only for an answer the model finished on its own.
    pub(crate) fn is_complete(self) -> bool {
        self == Self::Complete
    }

    /// One line for people: what happened and what to do, `None` when complete.
    pub(crate) fn advice(self) -> Option<&'static str> {
        match self {
            Self::Complete => None,
            Self::Truncated => Some(
                "the answer was cut by the token limit; raise max_tokens (/set modelparam max_tokens N) or ask for less",
            ),
            Self::Filtered => Some(
                "the provider's content filter stopped or blocked the answer; rephrase the prompt or try another provider",
            ),
            Self::Refused => Some("the model refused to answer"),
            Self::ToolCall => Some(
                "the model asked for tools to be run; baton does not run tools, so the answer stops here",
            ),
            Self::Interrupted => Some("the answer broke off and is incomplete"),
        }
    }
}

impl std::fmt::Display for AnswerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider's word that an answer is over, and what it means.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finish {
    /// What kind of answer this is.
    pub(crate) status: AnswerStatus,
    /// The provider's own value (`stop`, `end_turn`, `length`, `SAFETY`, ...), when it
    /// gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop_reason: Option<String>,
    /// Why, in the provider's words (Gemini's `finishMessage` or
    /// `blockReasonMessage`, a refusal's explanation), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
}

impl Finish {
    /// A finish of `status` with the provider's `stop_reason`.
    pub(crate) fn new(status: AnswerStatus, stop_reason: Option<&str>) -> Self {
        Self {
            status,
            stop_reason: stop_reason.filter(|r| !r.is_empty()).map(str::to_owned),
            message: None,
        }
    }

    /// A complete answer with the provider's `stop_reason`.
    pub fn complete(stop_reason: Option<&str>) -> Self {
        Self::new(AnswerStatus::Complete, stop_reason)
    }
}

/// A tool the answer asks to have run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    /// The tool's name.
    pub(crate) name: String,
    /// Its arguments as the model wrote them (JSON text, possibly invalid).
    pub(crate) arguments: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_needs_no_advice() {
        for status in [
            AnswerStatus::Truncated,
            AnswerStatus::Filtered,
            AnswerStatus::Refused,
            AnswerStatus::ToolCall,
            AnswerStatus::Interrupted,
        ] {
            assert!(status.advice().is_some(), "{status}");
            assert!(!status.is_complete());
        }
        assert_eq!(AnswerStatus::Complete.advice(), None);
    }

    #[test]
    fn statuses_serialise_as_their_names() {
        assert_eq!(
            serde_json::to_string(&AnswerStatus::ToolCall)
                .ok()
                .as_deref(),
            Some("\"tool_call\"")
        );
        let finish = Finish::new(AnswerStatus::Truncated, Some("max_tokens"));
        assert_eq!(
            serde_json::to_value(&finish).ok(),
            Some(serde_json::json!({"status": "truncated", "stop_reason": "max_tokens"}))
        );
        assert_eq!(Finish::complete(Some("")).stop_reason, None);
    }
}
