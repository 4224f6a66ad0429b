//! Incremental Server-Sent-Events framing.
//!
//! The body of a streamed answer arrives in chunks that may split anywhere: inside a
//! UTF-8 code point, between `\r` and `\n`, in the middle of a field name. The decoder
//! keeps only the unfinished line between pushes (see `lines`), and validates UTF-8 per
//! complete line, so no split can change what it yields. Lines and events are bounded.
//!
//! What it follows from the WHATWG `text/event-stream` rules: LF, CRLF and lone CR line
//! endings; `:` comment lines; `field: value` with one optional space after the colon;
//! several `data:` lines joined with `\n`; `event:` names the event; `id` and `retry` are
//! ignored; a blank line dispatches. Where it differs on purpose: an event still
//! pending when the body ends is dispatched by [`SseDecoder::finish`] (some servers omit
//! the last blank line), and invalid UTF-8 is an error instead of being replaced.

use memchr::memchr;

use super::lines::{Lines, MAX_FRAME_BYTES};
use crate::provider::StreamError;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SseEvent {
    /// The `event:` field, when the server named the event.
    pub(crate) event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// Turns body chunks into [`SseEvent`]s.
#[derive(Debug)]
pub(crate) struct SseDecoder {
    lines: Lines,
    event: Pending,
}

/// The event being assembled from its lines.
#[derive(Debug)]
struct Pending {
    /// No line has been completed yet (a UTF-8 BOM may lead the first one).
    first_line: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Largest event accepted: many short `data:` lines without a blank line between
    /// them must not grow one event without bound.
    max: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    pub(crate) fn new() -> Self {
        Self::with_limit(MAX_FRAME_BYTES)
    }

    /// A decoder accepting events of up to `max` bytes.
    pub(crate) fn with_limit(max: usize) -> Self {
        Self {
            lines: Lines::new(true, max, "event-stream line"),
            event: Pending {
                first_line: true,
                event: None,
                data: String::new(),
                has_data: false,
                max,
            },
        }
    }

    /// Feeds one chunk; returns the events it completed. An error after some events
    /// is reported by the next call, so those events are not lost.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, StreamError> {
        let mut out = Vec::new();
        let event = &mut self.event;
        self.lines.push(chunk, |line| event.line(line, &mut out))?;
        Ok(out)
    }

    /// Ends the body: completes an unfinished last line and dispatches an event that
    /// was not followed by a blank line.
    pub(crate) fn finish(self) -> Result<Vec<SseEvent>, StreamError> {
        let mut out = Vec::new();
        let mut event = self.event;
        self.lines.finish(|line| event.line(line, &mut out))?;
        event.dispatch(&mut out);
        Ok(out)
    }
}

impl Pending {
    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), StreamError> {
        let mut line = line;
        if self.first_line {
            self.first_line = false;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let text = std::str::from_utf8(line).map_err(|_| StreamError::Malformed {
            detail: format!(
                "event-stream line is not valid UTF-8: {}",
                super::excerpt(&String::from_utf8_lossy(line))
            ),
        })?;
        if text.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        let (field, value) = match memchr(b':', line) {
            // A comment (keep-alive); nothing to record.
            Some(0) => return Ok(()),
            Some(colon) => {
                let value = &text[colon + 1..];
                (&text[..colon], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (text, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    return Err(StreamError::Malformed {
                        detail: format!("an event is larger than {} bytes", self.max),
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = (!value.is_empty()).then(|| value.to_owned()),
            // `id`, `retry` and unknown fields do not change what baton shows.
            _ => {}
        }
        Ok(())
    }

    /// Emits the assembled event, if it had data, and starts a new one.
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    fn whole(input: &[u8]) -> Result<Vec<SseEvent>, StreamError> {
        let mut d = SseDecoder::new();
        let mut out = d.push(input)?;
        out.extend(d.finish()?);
        Ok(out)
    }

    fn split(input: &[u8], cuts: &[usize]) -> Result<Vec<SseEvent>, StreamError> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            out.extend(d.push(&input[start..cut])?);
            start = cut;
        }
        out.extend(d.push(&input[start..])?);
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn basic_events_with_lf() {
        let got = whole(b"data: hello\n\nevent: ping\ndata: {}\n\n").unwrap();
        assert_eq!(got, vec![ev(None, "hello"), ev(Some("ping"), "{}")]);
    }

    #[test]
    fn crlf_and_lone_cr_endings() {
        assert_eq!(whole(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n").unwrap(), {
            vec![ev(None, "a"), ev(None, "b"), ev(None, "c")]
        });
    }

    #[test]
    fn comments_and_ignored_fields() {
        let got = whole(b": keep-alive\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n").unwrap();
        assert_eq!(got, vec![ev(None, "x")]);
    }

    #[test]
    fn multi_line_data_is_joined() {
        let got = whole(b"data: one\ndata:two\ndata:  three\ndata\n\n").unwrap();
        assert_eq!(got, vec![ev(None, "one\ntwo\n three\n")]);
    }

    #[test]
    fn empty_data_still_dispatches_but_no_data_does_not() {
        let got = whole(b"data:\n\nevent: lonely\n\n\n\n").unwrap();
        assert_eq!(got, vec![ev(None, "")]);
    }

    #[test]
    fn event_name_does_not_leak_into_next_event() {
        let got = whole(b"event: a\ndata: 1\n\ndata: 2\n\n").unwrap();
        assert_eq!(got, vec![ev(Some("a"), "1"), ev(None, "2")]);
    }

    #[test]
    fn final_event_without_blank_line_is_dispatched_at_finish() {
        let mut d = SseDecoder::new();
        assert_eq!(d.push(b"data: last").unwrap(), vec![]);
        assert_eq!(d.finish().unwrap(), vec![ev(None, "last")]);
        assert_eq!(whole(b"data: last\n").unwrap(), vec![ev(None, "last")]);
    }

    #[test]
    fn cr_at_chunk_end_then_lf() {
        let got = split(b"data: a\r\n\r\ndata: b\r\n\r\n", &[8, 9, 10]).unwrap();
        assert_eq!(got, vec![ev(None, "a"), ev(None, "b")]);
    }

    #[test]
    fn empty_chunk_between_cr_and_lf() {
        // Found by the proptest: an empty push used to forget the pending `\r`.
        let got = split(b": c\r\nevent: e\r\ndata: x\r\n\r\n", &[4, 4]).unwrap();
        assert_eq!(got, vec![ev(Some("e"), "x")]);
    }

    #[test]
    fn split_inside_code_point() {
        let input = "data: h\u{e9}llo \u{1F600}\n\n".as_bytes();
        for cut in 0..=input.len() {
            assert_eq!(
                split(input, &[cut]).unwrap(),
                vec![ev(None, "h\u{e9}llo \u{1F600}")]
            );
        }
    }

    #[test]
    fn bom_is_skipped() {
        assert_eq!(
            whole(b"\xEF\xBB\xBFdata: x\n\n").unwrap(),
            vec![ev(None, "x")]
        );
        // A BOM split across chunks is still the start of the first line.
        assert_eq!(
            split(b"\xEF\xBB\xBFdata: x\n\n", &[1, 2]).unwrap(),
            vec![ev(None, "x")]
        );
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let err = whole(b"data: \xff\xfe\n\n").unwrap_err();
        assert!(matches!(err, StreamError::Malformed { .. }), "{err:?}");
        // Even when the bad line is only completed at finish.
        let mut d = SseDecoder::new();
        assert_eq!(d.push(b"data: \xc3").unwrap(), vec![]);
        assert!(matches!(d.finish(), Err(StreamError::Malformed { .. })));
    }

    /// One event of a generated stream, plus how to write it.
    #[derive(Debug, Clone)]
    struct GenEvent {
        name: Option<String>,
        lines: Vec<String>,
        comment: bool,
        space: bool,
    }

    fn gen_event() -> impl Strategy<Value = GenEvent> {
        let text = "[a-z0-9 {}\":,\u{e9}\u{65e5}\u{1F600}]{0,12}";
        (
            proptest::option::of("[a-z_]{1,10}"),
            proptest::collection::vec(text, 1..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(name, lines, comment, space)| GenEvent {
                name,
                lines,
                comment,
                space,
            })
    }

    fn render(events: &[GenEvent], eol: &str, trailing_blank: bool) -> (Vec<u8>, Vec<SseEvent>) {
        let mut text = String::new();
        let mut expected = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let sep = if e.space { ": " } else { ":" };
            if e.comment {
                text.push_str(&format!(": comment{i}{eol}"));
            }
            if let Some(name) = &e.name {
                text.push_str(&format!("event{sep}{name}{eol}"));
            }
            text.push_str(&format!("id{sep}{i}{eol}"));
            for line in &e.lines {
                // A value starting with a space keeps it only after the optional one.
                let sep = if line.starts_with(' ') { ": " } else { sep };
                text.push_str(&format!("data{sep}{line}{eol}"));
            }
            if i + 1 < events.len() || trailing_blank {
                text.push_str(eol);
            }
            expected.push(SseEvent {
                event: e.name.clone(),
                data: e.lines.join("\n"),
            });
        }
        (text.into_bytes(), expected)
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_events(
            events in proptest::collection::vec(gen_event(), 0..6),
            eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            trailing_blank in any::<bool>(),
            raw_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let (input, expected) = render(&events, eol, trailing_blank);
            prop_assert_eq!(whole(&input).unwrap(), expected.clone());
            let mut cuts: Vec<usize> = raw_cuts.iter().map(|i| i.index(input.len() + 1)).collect();
            cuts.sort_unstable();
            prop_assert_eq!(split(&input, &cuts).unwrap(), expected);
        }

        #[test]
        fn byte_at_a_time_matches_whole(
            events in proptest::collection::vec(gen_event(), 0..4),
            eol in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        ) {
            let (input, expected) = render(&events, eol, true);
            let cuts: Vec<usize> = (1..input.len()).collect();
            prop_assert_eq!(split(&input, &cuts).unwrap(), expected);
        }
    }
}
