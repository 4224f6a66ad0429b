//! Incremental newline-delimited JSON framing (Ollama's `/api/chat`).
//!
//! Like the SSE decoder, the decoder keeps only the unfinished (bounded) line between
//! chunks (see `lines`), so a chunk may split anywhere. Blank lines are
//! skipped, a `\r` before the `\n` is dropped, and the last line may lack its newline
//! (a non-streamed answer is one JSON object, often without one).

use super::lines::{Lines, MAX_FRAME_BYTES};
use crate::provider::StreamError;

/// Turns body chunks into JSON values, one per line.
#[derive(Debug)]
pub(crate) struct NdjsonDecoder {
    lines: Lines,
}

impl Default for NdjsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NdjsonDecoder {
    pub(crate) fn new() -> Self {
        Self::with_limit(MAX_FRAME_BYTES)
    }

    /// A decoder accepting lines of up to `max` bytes.
    pub(crate) fn with_limit(max: usize) -> Self {
        Self {
            lines: Lines::new(false, max, "NDJSON line"),
        }
    }

    /// Feeds one chunk; returns the values of the lines it completed. An error after
    /// some lines is reported by the next call, so those lines are not lost.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<serde_json::Value>, StreamError> {
        let mut out = Vec::new();
        self.lines.push(chunk, |line| parse_line(line, &mut out))?;
        Ok(out)
    }

    /// Ends the body: parses a last line that had no newline.
    pub(crate) fn finish(self) -> Result<Vec<serde_json::Value>, StreamError> {
        let mut out = Vec::new();
        self.lines.finish(|line| parse_line(line, &mut out))?;
        Ok(out)
    }
}

fn parse_line(line: &[u8], out: &mut Vec<serde_json::Value>) -> Result<(), StreamError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value = serde_json::from_slice(line).map_err(|err| StreamError::Malformed {
        detail: format!(
            "invalid JSON line ({err}): {}",
            super::excerpt(&String::from_utf8_lossy(line))
        ),
    })?;
    out.push(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn whole(input: &[u8]) -> Result<Vec<Value>, StreamError> {
        let mut d = NdjsonDecoder::new();
        let mut out = d.push(input)?;
        out.extend(d.finish()?);
        Ok(out)
    }

    fn split(input: &[u8], cuts: &[usize]) -> Result<Vec<Value>, StreamError> {
        let mut d = NdjsonDecoder::new();
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
    fn lines_blank_lines_and_crlf() {
        let got = whole(b"{\"a\":1}\r\n\n  \r\n{\"b\":\"\xc3\xa9\"}\n").unwrap();
        assert_eq!(got, vec![json!({"a": 1}), json!({"b": "\u{e9}"})]);
    }

    #[test]
    fn last_line_without_newline() {
        let mut d = NdjsonDecoder::new();
        assert_eq!(d.push(b"{\"done\":").unwrap(), Vec::<Value>::new());
        assert_eq!(d.push(b"true}").unwrap(), Vec::<Value>::new());
        assert_eq!(d.finish().unwrap(), vec![json!({"done": true})]);
    }

    #[test]
    fn malformed_json_names_an_excerpt() {
        let err = whole(b"{\"ok\":1}\n{not json at all}\n").unwrap_err();
        match err {
            StreamError::Malformed { detail } => assert!(detail.contains("{not json"), "{detail}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            whole(b"{\"cut\": tr"),
            Err(StreamError::Malformed { .. })
        ));
    }

    #[test]
    fn long_garbage_excerpt_is_short() {
        let line = format!("{}\n", "x".repeat(10_000));
        let Err(StreamError::Malformed { detail }) = whole(line.as_bytes()) else {
            panic!("expected malformed");
        };
        assert!(detail.len() < 300, "{}", detail.len());
    }

    fn gen_value() -> impl Strategy<Value = Value> {
        (
            "[a-z \u{e9}\u{1F600}\"\\\\]{0,10}",
            any::<bool>(),
            any::<u32>(),
        )
            .prop_map(|(text, done, n)| json!({"message": {"content": text}, "done": done, "n": n}))
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_values(
            values in proptest::collection::vec(gen_value(), 0..6),
            crlf in any::<bool>(),
            blank_every in 0usize..3,
            trailing_newline in any::<bool>(),
            raw_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            for (i, v) in values.iter().enumerate() {
                if blank_every > 0 && i % blank_every == 0 {
                    text.push_str(eol);
                }
                text.push_str(&v.to_string());
                if i + 1 < values.len() || trailing_newline {
                    text.push_str(eol);
                }
            }
            let input = text.into_bytes();
            prop_assert_eq!(whole(&input).unwrap(), values.clone());
            let mut cuts: Vec<usize> = raw_cuts.iter().map(|i| i.index(input.len() + 1)).collect();
            cuts.sort_unstable();
            prop_assert_eq!(split(&input, &cuts).unwrap(), values);
        }
    }
}
