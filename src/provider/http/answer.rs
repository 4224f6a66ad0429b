//! Answer assembly every wire format shares: text length, token counts, completion.
//! The only place usage is estimated, for providers that send none.

use serde_json::Value;

use crate::provider::{ChatRequest, ProviderError, StreamError, StreamEvent, Usage};

impl Usage {
    /// A rough count for providers that send none: about four characters a token.
    pub fn estimate(prompt_chars: usize, answer_chars: usize) -> Self {
        let est = |chars: usize| chars.div_ceil(4) as u64;
        Self {
            input_tokens: est(prompt_chars),
            output_tokens: est(answer_chars),
            estimated: true,
        }
    }
}

/// Total characters of the prompt, for usage estimates.
pub(crate) fn prompt_chars(request: &ChatRequest) -> usize {
    request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum()
}

/// What an answer has said so far: its length, its token counts, whether it is complete.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    prompt_chars: usize,
    answer_chars: usize,
    /// Prompt tokens, when the provider said.
    input_tokens: Option<u64>,
    /// Answer tokens, when the provider said.
    output_tokens: Option<u64>,
    /// `Some` once the provider marked the answer complete.
    finish: Option<Option<String>>,
}

impl Answer {
    /// An answer to a prompt of `prompt_chars` characters.
    pub fn new(prompt_chars: usize) -> Self {
        Self {
            prompt_chars,
            ..Self::default()
        }
    }

    /// Records answer text and queues it for the user at once.
    pub fn text(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        if !text.is_empty() {
            self.answer_chars += text.chars().count();
            out.push(StreamEvent::Delta(text.to_owned()));
        }
    }

    /// The provider marked the answer complete; an earlier reason is kept when this
    /// marker has none (`[DONE]` after a `finish_reason`).
    pub fn complete(&mut self, reason: Option<&str>) {
        let reason = reason.filter(|r| !r.is_empty()).map(str::to_owned);
        match &mut self.finish {
            Some(old) => {
                if reason.is_some() {
                    *old = reason;
                }
            }
            None => self.finish = Some(reason),
        }
    }

    /// Reads `{in_key, out_key}` token counts from a usage object; absent keys keep
    /// what an earlier frame said.
    pub fn usage_from(&mut self, usage: Option<&Value>, in_key: &str, out_key: &str) {
        let Some(usage) = usage.filter(|u| u.is_object()) else {
            return;
        };
        if let Some(n) = usage.get(in_key).and_then(Value::as_u64) {
            self.input_tokens = Some(n);
        }
        if let Some(n) = usage.get(out_key).and_then(Value::as_u64) {
            self.output_tokens = Some(n);
        }
    }

    /// The closing `Usage` and `Finished` events, or `Truncated` / `Empty`.
    pub fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        let Some(reason) = self.finish.take() else {
            return Err(StreamError::Truncated.into());
        };
        if self.answer_chars == 0 {
            return Err(ProviderError::Empty);
        }
        let estimate = Usage::estimate(self.prompt_chars, self.answer_chars);
        let usage = match (self.input_tokens, self.output_tokens) {
            (Some(input_tokens), Some(output_tokens)) => Usage {
                input_tokens,
                output_tokens,
                estimated: false,
            },
            (input, output) => Usage {
                input_tokens: input.unwrap_or(estimate.input_tokens),
                output_tokens: output.unwrap_or(estimate.output_tokens),
                estimated: true,
            },
        };
        Ok(vec![
            StreamEvent::Usage(usage),
            StreamEvent::Finished { reason },
        ])
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
        a.complete(Some("stop"));
        assert_eq!(a.end(), Err(ProviderError::Empty));

        let mut a = Answer::new(8);
        let mut out = Vec::new();
        a.text("abcdefghi", &mut out);
        a.complete(Some("stop"));
        a.complete(None);
        assert_eq!(
            a.end().unwrap(),
            vec![
                StreamEvent::Usage(Usage {
                    input_tokens: 2,
                    output_tokens: 3,
                    estimated: true
                }),
                StreamEvent::Finished {
                    reason: Some("stop".into())
                },
            ]
        );

        let mut a = Answer::new(8);
        a.text("x", &mut out);
        a.usage_from(Some(&json!({"i": 10, "o": 20})), "i", "o");
        a.complete(None);
        assert_eq!(
            a.end().unwrap()[0],
            StreamEvent::Usage(Usage {
                input_tokens: 10,
                output_tokens: 20,
                estimated: false
            })
        );
    }
}
