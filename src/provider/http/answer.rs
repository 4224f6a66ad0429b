//! Answer assembly every wire format shares: text length, token counts, completion.
//! The only place usage is estimated, for providers that send none.

use serde_json::Value;

use super::Flow;
use crate::provider::{
    AnswerStatus, ChatRequest, Finish, ProviderError, StreamError, StreamEvent, ToolCall, Usage,
};

impl Usage {
    /// A rough count for providers that send none: about four characters a token.
    pub fn estimate(prompt_chars: usize, answer_chars: usize) -> Self {
        let est = |chars: usize| chars.div_ceil(4) as u64;
        Self {
            input_tokens: est(prompt_chars),
            output_tokens: est(answer_chars),
            estimated: true,
            ..Self::default()
        }
    }
}

/// Total characters of the prompt, for usage estimates.
/// The conversation as `[{"role", "content"}]`, the shape OpenAI-compatible APIs
/// and Ollama share.
pub(crate) fn role_content_messages(request: &ChatRequest) -> serde_json::Value {
    request
        .messages
        .iter()
        .map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content}))
        .collect()
}

pub(crate) fn prompt_chars(request: &ChatRequest) -> usize {
    request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum()
}

/// Token counts as the provider gave them; `None` where it has not said.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tokens {
    /// Prompt tokens, cached ones included.
    pub(crate) input: Option<u64>,
    /// Answer tokens, reasoning included.
    pub(crate) output: Option<u64>,
    /// Of the answer tokens, those spent reasoning.
    pub(crate) reasoning: Option<u64>,
    /// Of the prompt tokens, those read from the cache.
    pub(crate) cache_read: Option<u64>,
    /// Of the prompt tokens, those written to the cache.
    pub(crate) cache_write: Option<u64>,
}

/// A token count at `pointer` inside a usage object, when the provider sent one.
pub(crate) fn count(usage: &Value, pointer: &str) -> Option<u64> {
    usage.pointer(pointer).and_then(Value::as_u64)
}

/// A tool call being streamed in pieces.
#[derive(Debug, Default)]
struct PendingCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// What an answer has said so far: its length, its token counts, its tool calls,
/// whether and how it finished.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    prompt_chars: usize,
    answer_chars: usize,
    reasoning_chars: usize,
    /// Token counts the provider sent.
    pub(crate) tokens: Tokens,
    /// Text arrived through the provider's refusal field.
    refused: bool,
    /// Tool calls by the provider's index, in order of first sight.
    calls: Vec<(u64, PendingCall)>,
    /// `Some` once the provider marked the answer over.
    finish: Option<Finish>,
    /// The provider's explanation (a block or finish message).
    message: Option<String>,
}

impl Answer {
    /// An answer to a prompt of `prompt_chars` characters.
    pub(crate) fn new(prompt_chars: usize) -> Self {
        Self {
            prompt_chars,
            ..Self::default()
        }
    }

    /// Records answer text and queues it for the user at once.
    pub(crate) fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.answer_chars += text.chars().count();
            out.push(StreamEvent::Delta(text.to_owned()));
        }
    }

    /// Records refusal text: shown like answer text, and the answer is `refused`.
    pub(crate) fn refusal(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.refused = true;
            self.text(text, out);
        }
    }

    /// Records reasoning text and queues it at once.
    pub(crate) fn reasoning(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.reasoning_chars += text.chars().count();
            out.push(StreamEvent::Reasoning(text.to_owned()));
        }
    }

    /// A piece of tool call `index`: its id and name when they first appear, then
    /// argument fragments. The whole call is reported when the answer ends.
    pub(crate) fn tool_call_part(
        &mut self,
        index: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
    ) {
        let at = match self.calls.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.calls.push((index, PendingCall::default()));
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[at].1;
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            call.id = Some(id.to_owned());
        }
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            call.name.push_str(name);
        }
        call.arguments.push_str(arguments);
    }

    /// A tool call that arrived whole (Gemini, Ollama, non-streaming answers).
    pub(crate) fn tool_call(&mut self, id: Option<&str>, name: &str, arguments: &str) {
        let index = self.calls.len() as u64 + 1_000_000;
        self.tool_call_part(index, id, Some(name), arguments);
    }

    /// The provider's explanation of how the answer ended.
    pub(crate) fn message(&mut self, message: &str) {
        let message = message.trim();
        if !message.is_empty() {
            self.message = Some(message.to_owned());
        }
    }

    /// The provider said how the answer ended. A later marker without a reason
    /// (`[DONE]` after a `finish_reason`) keeps what an earlier one said.
    pub(crate) fn finish(&mut self, status: AnswerStatus, stop_reason: Option<&str>) {
        let new = Finish::new(status, stop_reason);
        match &mut self.finish {
            Some(old) if new.stop_reason.is_none() => {
                if !new.status.is_complete() {
                    old.status = new.status;
                }
            }
            _ => self.finish = Some(new),
        }
    }

    /// Where the stream stands: `Finishing` once the finish reason is known, `Done`
    /// once the output count has come too (nothing the user needs is still to come).
    pub(crate) fn flow(&self) -> Flow {
        match (&self.finish, self.tokens.output) {
            (None, _) => Flow::More,
            (Some(_), None) => Flow::Finishing,
            (Some(_), Some(_)) => Flow::Done,
        }
    }

    /// The provider marked the answer over without saying how (`[DONE]`, a whole
    /// body).
    pub(crate) fn done(&mut self) {
        if self.finish.is_none() {
            self.finish = Some(Finish::default());
        }
    }

    /// Reads `{in_key, out_key}` token counts from a usage object; absent keys keep
    /// what an earlier frame said.
    pub(crate) fn usage_from(&mut self, usage: Option<&Value>, in_key: &str, out_key: &str) {
        let Some(usage) = usage.filter(|u| u.is_object()) else {
            return;
        };
        if let Some(n) = usage.get(in_key).and_then(Value::as_u64) {
            self.tokens.input = Some(n);
        }
        if let Some(n) = usage.get(out_key).and_then(Value::as_u64) {
            self.tokens.output = Some(n);
        }
    }

    /// The counts so far, estimated where the provider has not said.
    pub(crate) fn usage(&self) -> Usage {
        let estimate = Usage::estimate(self.prompt_chars, self.answer_chars + self.reasoning_chars);
        let t = self.tokens;
        Usage {
            input_tokens: t.input.unwrap_or(estimate.input_tokens),
            output_tokens: t.output.unwrap_or(estimate.output_tokens),
            reasoning_tokens: t.reasoning.unwrap_or(0),
            cache_read_tokens: t.cache_read.unwrap_or(0),
            cache_write_tokens: t.cache_write.unwrap_or(0),
            estimated: t.input.is_none() || t.output.is_none(),
        }
    }

    /// Queues the counts known so far (the prompt's, say, from a stream's first
    /// event), so an answer that breaks later keeps what the provider said.
    pub(crate) fn early_usage(&self, out: &mut Vec<StreamEvent>) {
        out.push(StreamEvent::Usage(self.usage()));
    }

    /// The closing tool-call, `Usage` and `Finished` events; `Truncated` when the
    /// provider never said the answer was over, `Empty` when a complete answer has
    /// nothing in it.
    pub(crate) fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let Some(mut finish) = self.finish.take() else {
            return Err(StreamError::Truncated.into());
        };
        if finish.status.is_complete() {
            if self.refused {
                finish.status = AnswerStatus::Refused;
            } else if !self.calls.is_empty() {
                // A tool call wins over `stop`: the answer waits for tool results.
                finish.status = AnswerStatus::ToolCall;
            } else if self.answer_chars == 0 {
                return Err(ProviderError::Empty);
            }
        }
        finish.message = self.message.take();
        let mut events: Vec<StreamEvent> = std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(_, c)| {
                StreamEvent::ToolCall(ToolCall {
                    id: c.id,
                    name: c.name,
                    arguments: c.arguments,
                })
            })
            .collect();
        events.push(StreamEvent::Usage(self.usage()));
        events.push(StreamEvent::Finished(finish));
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn answer_end_rules() {
        let mut a = Answer::new(8);
        assert_eq!(a.end(), Err(ProviderError::Stream(StreamError::Truncated)));

        let mut a = Answer::new(8);
        a.finish(AnswerStatus::Complete, Some("stop"));
        assert_eq!(a.end(), Err(ProviderError::Empty));

        let mut a = Answer::new(8);
        let mut out = Vec::new();
        a.text("abcdefghi", &mut out);
        a.finish(AnswerStatus::Complete, Some("stop"));
        a.done();
        assert_eq!(
            a.end(),
            Ok(vec![
                StreamEvent::Usage(Usage {
                    estimated: true,
                    ..Usage::new(2, 3)
                }),
                StreamEvent::Finished(Finish::complete(Some("stop"))),
            ])
        );

        let mut a = Answer::new(8);
        a.text("x", &mut out);
        a.usage_from(Some(&json!({"i": 10, "o": 20})), "i", "o");
        a.done();
        assert_eq!(
            a.end().ok().map(|e| e[0].clone()),
            Some(StreamEvent::Usage(Usage::new(10, 20)))
        );
    }

    #[test]
    fn an_empty_answer_that_is_not_complete_is_still_an_answer() {
        let mut a = Answer::new(8);
        a.finish(AnswerStatus::Filtered, Some("SAFETY"));
        a.message("blocked for safety");
        let events = a.end().unwrap_or_default();
        let Some(StreamEvent::Finished(finish)) = events.last() else {
            panic!("no finish in {events:?}");
        };
        assert_eq!(finish.status, AnswerStatus::Filtered);
        assert_eq!(finish.message.as_deref(), Some("blocked for safety"));
    }

    #[test]
    fn refusals_and_tool_calls_override_stop() {
        let mut out = Vec::new();
        let mut a = Answer::new(8);
        a.refusal("I can't help with that.", &mut out);
        a.finish(AnswerStatus::Complete, Some("stop"));
        let events = a.end().unwrap_or_default();
        let status = |events: &[StreamEvent]| match events.last() {
            Some(StreamEvent::Finished(f)) => Some(f.status),
            _ => None,
        };
        assert_eq!(status(&events), Some(AnswerStatus::Refused));

        let mut a = Answer::new(8);
        a.tool_call_part(0, Some("call_1"), Some("get_weather"), "{\"city\":");
        a.tool_call_part(0, None, None, "\"Paris\"}");
        a.finish(AnswerStatus::Complete, Some("tool_calls"));
        let events = a.end().unwrap_or_default();
        assert_eq!(
            events[0],
            StreamEvent::ToolCall(ToolCall {
                id: Some("call_1".into()),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
            })
        );
        assert_eq!(status(&events), Some(AnswerStatus::ToolCall));
    }
}
