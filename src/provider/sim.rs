//! `sim`: the built-in demo backend. Answers locally, token by token, with no
//! network and no key, so a fresh install can show streaming and failover.
//!
//! Models:
//! - `sim-fast`: answers at once, about 250 tokens/s.
//! - `sim-slow`: waits 8 s before the first token, then 10 tokens/s (trips `timeout_ms`).
//! - `sim-flaky`: half of its requests fail with `503` before any text.
//! - `sim-down`: never reachable (a simulated refused connection).
//! - `sim-cut`: streams a few tokens, then the stream breaks.
//! - `sim-unauthorized`: answers `401 Unauthorized`.
//! - `sim-think`: reasons aloud (a reasoning stream) before it answers.
//! - `sim-truncated`: its answer is cut by the token limit (status `truncated`).
//!
//! Randomness comes from `BATON_SIM_SEED` when set, so runs can be repeated.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::http::prompt_chars;
use super::{
    AnswerStatus, ChatRequest, EventStream, Finish, Provider, ProviderError, Role, StreamError,
    StreamEvent, Usage,
};

/// The environment variable that seeds `sim-flaky`.
pub(crate) const SEED_ENV: &str = "BATON_SIM_SEED";

/// The models `sim` knows.
pub(crate) const MODELS: &[&str] = &[
    "sim-fast",
    "sim-slow",
    "sim-flaky",
    "sim-down",
    "sim-cut",
    "sim-unauthorized",
    "sim-think",
    "sim-truncated",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fast,
    Slow,
    Flaky,
    Down,
    Cut,
    Unauthorized,
    Think,
    Truncated,
}

/// Pacing of one simulated answer.
#[derive(Debug, Clone, Copy)]
struct Pace {
    first_chunk: Duration,
    per_token: Duration,
}

/// Answers locally, at the pace and with the failures its model names.
#[derive(Debug)]
pub struct SimProvider {
    model: String,
    mode: Mode,
    rng: Mutex<StdRng>,
}

impl SimProvider {
    /// A sim backend for one of [`MODELS`].
    pub fn new(model: &str) -> Result<Self, ProviderError> {
        let mode = match model {
            "sim-fast" => Mode::Fast,
            "sim-slow" => Mode::Slow,
            "sim-flaky" => Mode::Flaky,
            "sim-down" => Mode::Down,
            "sim-cut" => Mode::Cut,
            "sim-unauthorized" => Mode::Unauthorized,
            "sim-think" => Mode::Think,
            "sim-truncated" => Mode::Truncated,
            other => {
                return Err(ProviderError::Config(format!(
                    "unknown sim model '{other}'; sim models are: {}",
                    MODELS.join(", ")
                )));
            }
        };
        let seed = std::env::var(SEED_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Ok(Self {
            model: model.to_string(),
            mode,
            rng: Mutex::new(rng),
        })
    }

    fn pace(&self) -> Pace {
        match self.mode {
            Mode::Slow => Pace {
                first_chunk: Duration::from_secs(8),
                per_token: Duration::from_millis(100),
            },
            _ => Pace {
                first_chunk: Duration::from_millis(40),
                per_token: Duration::from_millis(4),
            },
        }
    }

    /// Decides up front whether this request fails, so the stream itself is simple.
    fn failure(&self) -> Option<ProviderError> {
        match self.mode {
            Mode::Down => Some(ProviderError::Connect {
                url: format!("sim://{}", self.model),
                reason: "connection refused (simulated)".into(),
            }),
            Mode::Unauthorized => Some(ProviderError::http(401, "invalid API key (simulated)")),
            Mode::Flaky => {
                let fail = match self.rng.lock() {
                    Ok(mut rng) => rng.random_bool(0.5),
                    Err(poisoned) => poisoned.into_inner().random_bool(0.5),
                };
                fail.then(|| ProviderError::http(503, "temporarily overloaded (simulated)"))
            }
            Mode::Fast | Mode::Slow | Mode::Cut | Mode::Think | Mode::Truncated => None,
        }
    }
}

/// How `sim-cut` breaks its stream.
fn cut_error() -> ProviderError {
    ProviderError::Stream(StreamError::Io("connection reset (simulated)".into()))
}

/// What `sim-think` reasons before answering, one token per word.
const THOUGHTS: &str = "The user wants a reply. This backend is local, so I will echo the \
    prompt and explain what baton does; a real model's reasoning streams like this, \
    shown dimmed in the chat and kept off stdout unless --show-reasoning.";

/// Splits `text` after each space, so the tokens concatenate back to the exact text.
fn words(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == ' ' {
            tokens.push(text[start..=i].to_string());
            start = i + 1;
        }
    }
    if start < text.len() {
        tokens.push(text[start..].to_string());
    }
    tokens
}

/// The words of the demo answer; each is one streamed token.
fn answer_tokens(model: &str, request: &ChatRequest) -> Vec<String> {
    let prompt = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.trim())
        .unwrap_or_default();
    let shown: String = prompt.chars().take(80).collect();
    let ellipsis = if prompt.chars().count() > 80 {
        "…"
    } else {
        ""
    };
    let text = format!(
        "You said: \"{shown}{ellipsis}\". This is baton's built-in demo backend ({model}) \
         answering locally, token by token, with no network and no API key. A load-balancer \
         profile hands each prompt to its first healthy backend and fails over when one is \
         slow, rate-limited or down; `baton profiles list` shows what you have, and \
         docs/providers.md tells how to add a real provider."
    );
    words(&text)
}

impl Provider for SimProvider {
    fn stream(&self, request: ChatRequest) -> EventStream {
        let failure = self.failure();
        let pace = self.pace();
        let mode = self.mode;
        let mut tokens = answer_tokens(&self.model, &request);
        let prompt_chars = prompt_chars(&request);
        let thoughts = if mode == Mode::Think {
            words(THOUGHTS)
        } else {
            Vec::new()
        };
        let finish = if mode == Mode::Truncated {
            // Cut as a token limit would: half the answer, finish reason `length`.
            tokens.truncate(tokens.len() / 2);
            Finish::new(AnswerStatus::Truncated, Some("length"))
        } else {
            Finish::complete(Some("stop"))
        };
        Box::pin(async_stream::stream! {
            tokio::time::sleep(pace.first_chunk).await;
            if let Some(err) = failure {
                yield Err(err);
                return;
            }
            let cut_after = (mode == Mode::Cut).then_some(5);
            for thought in &thoughts {
                yield Ok(StreamEvent::Reasoning(thought.clone()));
                tokio::time::sleep(pace.per_token).await;
            }
            if !request.stream {
                yield Ok(StreamEvent::Delta(tokens.concat()));
            } else {
                for (i, token) in tokens.iter().enumerate() {
                    if cut_after == Some(i) {
                        yield Err(cut_error());
                        return;
                    }
                    if i > 0 {
                        tokio::time::sleep(pace.per_token).await;
                    }
                    yield Ok(StreamEvent::Delta(token.clone()));
                }
            }
            let usage = Usage {
                reasoning_tokens: thoughts.len() as u64,
                ..Usage::new(
                    Usage::estimate(prompt_chars, 0).input_tokens,
                    (tokens.len() + thoughts.len()) as u64,
                )
            };
            yield Ok(StreamEvent::Usage(usage));
            yield Ok(StreamEvent::Finished(finish));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Message;
    use futures_util::StreamExt;

    fn request(stream: bool) -> ChatRequest {
        ChatRequest {
            messages: vec![Message::user("hello there")],
            stream,
        }
    }

    async fn collect(p: &SimProvider, stream: bool) -> Vec<Result<StreamEvent, ProviderError>> {
        p.stream(request(stream)).collect().await
    }

    #[tokio::test(start_paused = true)]
    async fn fast_streams_tokens_that_rebuild_the_answer() {
        let p = SimProvider::new("sim-fast").unwrap();
        let events = collect(&p, true).await;
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                Ok(StreamEvent::Delta(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(text.starts_with("You said: \"hello there\"."), "{text}");
        let deltas = events
            .iter()
            .filter(|e| matches!(e, Ok(StreamEvent::Delta(_))))
            .count();
        assert!(deltas > 20);
        assert_eq!(
            events.last(),
            Some(&Ok(StreamEvent::Finished(Finish::complete(Some("stop")))))
        );
        let usage = events.iter().find_map(|e| match e {
            Ok(StreamEvent::Usage(u)) => Some(*u),
            _ => None,
        });
        assert_eq!(usage.map(|u| u.output_tokens), Some(deltas as u64));
    }

    #[tokio::test(start_paused = true)]
    async fn think_reasons_first_and_truncated_ends_on_the_token_limit() {
        let Ok(p) = SimProvider::new("sim-think") else {
            panic!("sim-think is a model");
        };
        let events = collect(&p, true).await;
        let first_delta = events
            .iter()
            .position(|e| matches!(e, Ok(StreamEvent::Delta(_))));
        let reasoning = events
            .iter()
            .filter(|e| matches!(e, Ok(StreamEvent::Reasoning(_))))
            .count();
        assert!(reasoning > 10);
        assert_eq!(first_delta, Some(reasoning), "all reasoning comes first");
        let usage = events.iter().find_map(|e| match e {
            Ok(StreamEvent::Usage(u)) => Some(*u),
            _ => None,
        });
        assert_eq!(usage.map(|u| u.reasoning_tokens), Some(reasoning as u64));

        let Ok(p) = SimProvider::new("sim-truncated") else {
            panic!("sim-truncated is a model");
        };
        let events = collect(&p, true).await;
        assert_eq!(
            events.last(),
            Some(&Ok(StreamEvent::Finished(Finish::new(
                AnswerStatus::Truncated,
                Some("length")
            ))))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_stream_gives_one_delta() {
        let p = SimProvider::new("sim-fast").unwrap();
        let events = collect(&p, false).await;
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Ok(StreamEvent::Delta(_))))
                .count(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_waits_eight_seconds_before_the_first_token() {
        let p = SimProvider::new("sim-slow").unwrap();
        let start = tokio::time::Instant::now();
        let mut s = p.stream(request(true));
        let first = s.next().await;
        assert!(matches!(first, Some(Ok(StreamEvent::Delta(_)))));
        assert!(start.elapsed() >= Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn down_is_a_transient_connect_error() {
        let p = SimProvider::new("sim-down").unwrap();
        let events = collect(&p, true).await;
        assert_eq!(events.len(), 1);
        let err = events[0].clone().unwrap_err();
        assert_eq!(err.class(), crate::provider::ErrorClass::Transient);
        assert!(err.to_string().contains("connection refused"));
    }

    #[tokio::test(start_paused = true)]
    async fn unauthorized_is_an_auth_error() {
        let p = SimProvider::new("sim-unauthorized").unwrap();
        let err = collect(&p, true).await[0].clone().unwrap_err();
        assert_eq!(err.class(), crate::provider::ErrorClass::Auth);
        assert!(err.to_string().starts_with("401 Unauthorized"));
    }

    #[tokio::test(start_paused = true)]
    async fn cut_breaks_after_five_tokens() {
        let p = SimProvider::new("sim-cut").unwrap();
        let events = collect(&p, true).await;
        assert_eq!(events.len(), 6);
        assert!(matches!(
            events[5],
            Err(ProviderError::Stream(StreamError::Io(_)))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn flaky_fails_some_and_answers_some() {
        let p = SimProvider {
            rng: Mutex::new(StdRng::seed_from_u64(7)),
            ..SimProvider::new("sim-flaky").unwrap()
        };
        let mut failed = 0;
        for _ in 0..40 {
            if collect(&p, true).await.iter().any(|e| e.is_err()) {
                failed += 1;
            }
        }
        assert!((8..=32).contains(&failed), "failed {failed} of 40");
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let err = SimProvider::new("sim-nope").unwrap_err();
        assert!(err.to_string().contains("sim-fast, sim-slow"));
    }
}
