//! The line format of `sessions/ID.jsonl` (and of spill files): one JSON object
//! per line, versioned, documented in `docs/sessions.md`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config;
use crate::engine::{BackendFailure, Provenance};
use crate::provider::{AnswerStatus, ErrorClass, Finish, ToolCall, Usage};

/// The version written in every line's `v` field. Readers skip lines with a newer one.
pub(crate) const RECORD_VERSION: u32 = 1;

/// One line of a session file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version ([`RECORD_VERSION`]).
    pub(crate) v: u32,
    /// When the event happened, as UTC RFC 3339 with milliseconds.
    pub(crate) ts: String,
    /// The session it belongs to (also the file name); lets spill files hold
    /// lines of several sessions.
    pub(crate) session: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// A record of `event` in `session`, stamped now.
    pub fn new(session: impl Into<String>, event: Event) -> Self {
        Self {
            v: RECORD_VERSION,
            ts: rfc3339_millis(unix_millis()),
            session: session.into(),
            event,
        }
    }
}

/// What a record says happened. The `kind` field of the line names the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A conversation starts or is resumed on a profile.
    SessionStarted {
        /// The profile in use (a load-balancer or model profile name).
        profile: String,
        /// True when this continues an earlier run of the same session.
        #[serde(default)]
        resumed: bool,
    },
    /// The profile changed mid-conversation.
    ProfileChanged {
        /// The new profile.
        profile: String,
    },
    /// The user's message.
    User {
        /// What the user wrote.
        content: String,
    },
    /// An answer the provider finished (complete, truncated, filtered, refused or
    /// asking for tools) and where it came from.
    Answer {
        /// The answer's text.
        content: String,
        /// Backend, model, attempts, latency, tokens.
        provenance: ArchivedProvenance,
        /// How it ended; records written before baton kept this read as complete.
        #[serde(flatten)]
        end: AnswerEnd,
    },
    /// An answer that broke after text was shown: never a complete answer.
    Interrupted {
        /// The partial text.
        content: String,
        /// Where the partial answer came from.
        provenance: ArchivedProvenance,
        /// What broke.
        reason: String,
    },
    /// An attempt on a backend failed (the engine retries or fails over).
    Failover {
        /// The backend that failed.
        backend: String,
        /// The error's class.
        class: ErrorClass,
        /// What happened.
        detail: String,
        /// Whether the same backend is tried again.
        will_retry: bool,
    },
    /// A backend was passed over without an attempt.
    Skipped {
        /// The backend.
        backend: String,
        /// Why.
        why: String,
    },
    /// Every backend failed; no answer.
    Exhausted {
        /// Each backend and its last reason.
        reasons: Vec<ArchivedFailure>,
    },
    /// A circuit breaker changed state.
    Breaker {
        /// The backend.
        backend: String,
        /// `open`, `half-open` or `closed`.
        state: String,
    },
    /// A setting was set or cleared. Protected values are stored as `***`.
    Setting {
        /// The key.
        key: String,
        /// The new value; `null` when cleared.
        value: Option<Value>,
    },
    /// `/clear`: what came before is no longer part of the conversation, so a
    /// resume neither shows nor sends it.
    Cleared,
    /// A snapshot of engine state and metrics (breakers, TPM, per-backend counts).
    Stats {
        /// The load-balancer profile it describes.
        profile: String,
        /// The snapshot, as the engine serialises it.
        snapshot: Value,
    },
}

impl Event {
    /// A setting change, with secrets masked: a protected key's value becomes
    /// `***`, and so do credential-looking `custom-headers` entries.
    pub(crate) fn setting(key: &str, value: Option<&Value>) -> Self {
        let value = value.map(|v| mask_setting(key, v));
        Self::Setting {
            key: key.to_string(),
            value,
        }
    }
}

fn mask_setting(key: &str, value: &Value) -> Value {
    if config::spec(key).is_some_and(|s| s.protected) {
        return Value::String("***".into());
    }
    match value {
        Value::Object(map) if key == "custom-headers" => Value::Object(
            map.iter()
                .map(|(name, v)| {
                    let v = if config::is_secret_header(name) {
                        Value::String("***".into())
                    } else {
                        v.clone()
                    };
                    (name.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// How a stored answer ended, beside its text: the fields JSON output reports too.
/// Each is optional on disk, so a complete answer's line stays as short as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerEnd {
    /// Complete, truncated, filtered, refused or tool_call.
    #[serde(default, skip_serializing_if = "is_complete")]
    pub(crate) status: AnswerStatus,
    /// The provider's own stop reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop_reason: Option<String>,
    /// The provider's explanation of the finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) finish_message: Option<String>,
    /// Tools the answer asked to have run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tool_calls: Vec<ToolCall>,
    /// The model's reasoning, kept apart from the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning: Option<String>,
}

fn is_complete(status: &AnswerStatus) -> bool {
    status.is_complete()
}

impl AnswerEnd {
    /// The end an engine finish describes, with the calls and reasoning collected
    /// while the answer streamed.
    pub(crate) fn new(finish: &Finish, tool_calls: Vec<ToolCall>, reasoning: String) -> Self {
        Self {
            status: finish.status,
            stop_reason: finish.stop_reason.clone(),
            finish_message: finish.message.clone(),
            tool_calls,
            reasoning: (!reasoning.is_empty()).then_some(reasoning),
        }
    }

    /// One line for people about a non-complete end (`truncated (stop reason:
    /// length)`), `None` when complete.
    pub(crate) fn note(&self) -> Option<String> {
        if self.status.is_complete() {
            return None;
        }
        let mut note = self.status.as_str().to_string();
        if let Some(reason) = &self.stop_reason {
            note.push_str(&format!(" (stop reason: {reason})"));
        }
        if let Some(message) = &self.finish_message {
            note.push_str(&format!(": {message}"));
        }
        Some(note)
    }

    fn redact(&mut self) {
        for s in [
            &mut self.stop_reason,
            &mut self.finish_message,
            &mut self.reasoning,
        ]
        .into_iter()
        .flatten()
        {
            scrub(s);
        }
        for call in &mut self.tool_calls {
            scrub(&mut call.name);
            scrub(&mut call.arguments);
        }
    }
}

/// [`Provenance`] as stored: the same fields, readable back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedProvenance {
    /// The backend (profile name) that answered.
    pub backend: String,
    /// Its provider.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// Attempts made across all backends.
    pub attempts: u32,
    /// Backends given up on before this one answered.
    pub failovers: u32,
    /// From the prompt to the last chunk.
    pub latency_ms: u64,
    /// From the start of the answering attempt to its first chunk.
    pub first_chunk_ms: u64,
    /// Token counts.
    pub usage: Usage,
}

impl From<&Provenance> for ArchivedProvenance {
    fn from(p: &Provenance) -> Self {
        Self {
            backend: p.backend.clone(),
            provider: p.provider.clone(),
            model: p.model.clone(),
            attempts: p.attempts,
            failovers: p.failovers,
            latency_ms: p.latency_ms,
            first_chunk_ms: p.first_chunk_ms,
            usage: p.usage,
        }
    }
}

impl From<&ArchivedProvenance> for Provenance {
    fn from(p: &ArchivedProvenance) -> Self {
        Self {
            backend: p.backend.clone(),
            provider: p.provider.clone(),
            model: p.model.clone(),
            attempts: p.attempts,
            failovers: p.failovers,
            latency_ms: p.latency_ms,
            first_chunk_ms: p.first_chunk_ms,
            usage: p.usage,
        }
    }
}

/// [`BackendFailure`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedFailure {
    /// The backend.
    pub(crate) backend: String,
    /// The error's class.
    pub(crate) class: ErrorClass,
    /// What happened.
    pub(crate) reason: String,
}

impl From<&BackendFailure> for ArchivedFailure {
    fn from(f: &BackendFailure) -> Self {
        Self {
            backend: f.backend.clone(),
            class: f.class,
            reason: f.reason.clone(),
        }
    }
}

/// Appends `record` to `out` as one JSON line (ending in `\n`), every string
/// passed through [`crate::redact`] first: no key, URL credential or credential
/// header reaches a session or spill file, whatever a server echoed back.
pub(crate) fn encode(record: &Record, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut record = record.clone();
    record.redact();
    serde_json::to_writer(&mut *out, &record)?;
    out.push(b'\n');
    Ok(())
}

fn scrub(s: &mut String) {
    if let std::borrow::Cow::Owned(clean) = crate::redact::text(s) {
        *s = clean;
    }
}

impl Record {
    /// Passes every string of the record through [`crate::redact`].
    fn redact(&mut self) {
        scrub(&mut self.session);
        match &mut self.event {
            Event::SessionStarted { profile, .. } | Event::ProfileChanged { profile } => {
                scrub(profile);
            }
            Event::User { content } => scrub(content),
            Event::Answer {
                content,
                provenance,
                end,
            } => {
                scrub(content);
                provenance.redact();
                end.redact();
            }
            Event::Interrupted {
                content,
                provenance,
                reason,
            } => {
                scrub(content);
                scrub(reason);
                provenance.redact();
            }
            Event::Failover {
                backend, detail, ..
            } => {
                scrub(backend);
                scrub(detail);
            }
            Event::Skipped { backend, why } => {
                scrub(backend);
                scrub(why);
            }
            Event::Exhausted { reasons } => {
                for f in reasons {
                    scrub(&mut f.backend);
                    scrub(&mut f.reason);
                }
            }
            Event::Breaker { backend, state } => {
                scrub(backend);
                scrub(state);
            }
            Event::Setting { key, value } => {
                scrub(key);
                if let Some(v) = value {
                    crate::redact::json(v);
                }
            }
            Event::Stats { profile, snapshot } => {
                scrub(profile);
                crate::redact::json(snapshot);
            }
            Event::Cleared => {}
        }
    }
}

impl ArchivedProvenance {
    fn redact(&mut self) {
        scrub(&mut self.backend);
        scrub(&mut self.provider);
        scrub(&mut self.model);
    }
}

/// Parses one line; `None` for anything that is not a record this version reads
/// (corrupt, truncated, or written by a newer baton).
pub fn parse_line(line: &str) -> Option<Record> {
    let record: Record = serde_json::from_str(line).ok()?;
    (record.v <= RECORD_VERSION).then_some(record)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `2025-01-02T03:04:05.678Z` for a Unix time in ms.
pub(crate) fn rfc3339_millis(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms / 1000);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// `20250102-030405` for a Unix time in ms (session ids).
pub(crate) fn compact_utc(ms: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(ms / 1000);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

/// Calendar date and time of day (UTC) from Unix seconds; Howard Hinnant's
/// days-to-civil algorithm, so no date crate is needed for a timestamp.
fn civil(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(compact_utc(1_735_787_045_000), "20250102-030405");
    }

    #[test]
    fn a_line_round_trips_with_kind_and_version() {
        let r = Record::new(
            "s1",
            Event::User {
                content: "hi".into(),
            },
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.starts_with(r#"{"v":1,"ts":""#), "{line}");
        assert!(line.contains(r#""kind":"user""#), "{line}");
        assert_eq!(parse_line(&line), Some(r));
    }

    fn archived_provenance() -> ArchivedProvenance {
        ArchivedProvenance {
            backend: "a".into(),
            provider: "sim".into(),
            model: "sim-truncated".into(),
            attempts: 1,
            failovers: 0,
            latency_ms: 3,
            first_chunk_ms: 1,
            usage: Usage::default(),
        }
    }

    #[test]
    fn answers_keep_how_they_ended() {
        let finish = Finish::new(AnswerStatus::Truncated, Some("length"));
        let call = ToolCall {
            id: Some("c1".into()),
            name: "f".into(),
            arguments: "{}".into(),
        };
        let r = Record::new(
            "s1",
            Event::Answer {
                content: "Half".into(),
                provenance: archived_provenance(),
                end: AnswerEnd::new(&finish, vec![call], "hm".into()),
            },
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""status":"truncated""#), "{line}");
        assert!(line.contains(r#""stop_reason":"length""#), "{line}");
        assert!(line.contains(r#""reasoning":"hm""#), "{line}");
        assert_eq!(parse_line(&line), Some(r));
        let Some(Record {
            event: Event::Answer { end, .. },
            ..
        }) = parse_line(&line)
        else {
            panic!("not an answer: {line}");
        };
        assert_eq!(
            end.note().as_deref(),
            Some("truncated (stop reason: length)")
        );
    }

    #[test]
    fn answers_written_before_statuses_load_as_complete() {
        let line = r#"{"v":1,"ts":"2026-01-01T00:00:00.000Z","session":"s1","kind":"answer","content":"Hi","provenance":{"backend":"a","provider":"sim","model":"m","attempts":1,"failovers":0,"latency_ms":3,"first_chunk_ms":1,"usage":{"input_tokens":1,"output_tokens":1}}}"#;
        let Some(Record {
            event: Event::Answer { content, end, .. },
            ..
        }) = parse_line(line)
        else {
            panic!("an old answer record must load");
        };
        assert_eq!(content, "Hi");
        assert_eq!(end, AnswerEnd::default());
        assert_eq!(end.note(), None);
        // A complete answer's line is as short as before.
        let r = Record::new(
            "s1",
            Event::Answer {
                content: "Hi".into(),
                provenance: archived_provenance(),
                end: AnswerEnd::default(),
            },
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("status"), "{line}");
    }

    #[test]
    fn newer_versions_and_garbage_are_not_read() {
        assert_eq!(
            parse_line(
                "{\"v\":2,\"ts\":\"x\",\"session\":\"s\",\"kind\":\"user\",\"content\":\"a\"}"
            ),
            None
        );
        assert_eq!(parse_line("{\"v\":1,\"ts\":\"x\""), None);
    }

    #[test]
    fn encoded_lines_carry_no_secrets() {
        crate::redact::remember_secret("sk-record-test-KEY-42");
        let r = Record::new(
            "s1",
            Event::Failover {
                backend: "a".into(),
                class: ErrorClass::Auth,
                detail: "401 from https://u:pw@h/v1?key=k: you sent sk-record-test-KEY-42".into(),
                will_retry: false,
            },
        );
        let mut out = Vec::new();
        encode(&r, &mut out).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with('\n'));
        for secret in ["pw@", "key=k", "sk-record-test-KEY-42"] {
            assert!(!line.contains(secret), "{line}");
        }
        assert!(parse_line(line.trim_end()).is_some());
    }

    #[test]
    fn protected_settings_are_masked() {
        let e = Event::setting("auth-key", Some(&Value::String("sk-secret".into())));
        assert_eq!(
            e,
            Event::Setting {
                key: "auth-key".into(),
                value: Some(Value::String("***".into()))
            }
        );
        let headers = serde_json::json!({"Authorization": "Bearer x", "X-Trace": "1"});
        let e = Event::setting("custom-headers", Some(&headers));
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("Bearer"), "{text}");
        assert!(text.contains("X-Trace"), "{text}");
    }
}
