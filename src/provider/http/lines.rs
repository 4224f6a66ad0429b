//! Line splitting both line-based framings share (SSE and NDJSON).
//!
//! Chunks may split anywhere; only the unfinished line is kept between pushes, line ends
//! are found with `memchr`, and a line may not grow past a limit, so a server that never
//! ends its line cannot make baton buffer without bound.
//!
//! An error found in a chunk does not hide the lines before it: [`Lines::push`] hands
//! those over first and reports the error on the next push or at the end. A provider's
//! terminal marker followed by garbage in the same read therefore still ends the answer
//! cleanly.

use memchr::{memchr, memchr2};

use crate::provider::StreamError;

/// Largest SSE event or NDJSON line accepted by default.
pub(crate) const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

/// Splits chunks into lines.
#[derive(Debug)]
pub(crate) struct Lines {
    /// The unfinished line carried over from the previous chunk.
    carry: Vec<u8>,
    /// A lone `\r` ends a line too (SSE); NDJSON only ends lines at `\n`.
    cr_ends: bool,
    /// The previous chunk ended with `\r`: a `\n` starting the next one belongs to it.
    pending_cr: bool,
    /// Longest line accepted.
    max: usize,
    /// What went wrong after the lines already handed over.
    failed: Option<StreamError>,
    /// What kind of line this is, for the too-long message.
    what: &'static str,
}

impl Lines {
    /// A splitter for lines called `what` in messages ("event-stream line").
    pub(crate) fn new(cr_ends: bool, max: usize, what: &'static str) -> Self {
        Self {
            carry: Vec::new(),
            cr_ends,
            pending_cr: false,
            max,
            failed: None,
            what,
        }
    }

    /// Calls `line` for each line `chunk` completes. When `line` fails, the lines
    /// before stay handed over and the error comes back from the next call.
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        mut line: impl FnMut(&[u8]) -> Result<(), StreamError>,
    ) -> Result<(), StreamError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        let mut rest = chunk;
        // An empty chunk must not end the wait for the `\n` of a split `\r\n`.
        if self.pending_cr && !rest.is_empty() {
            self.pending_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        let mut delivered = false;
        loop {
            let end = if self.cr_ends {
                memchr2(b'\n', b'\r', rest)
            } else {
                memchr(b'\n', rest)
            };
            let Some(end) = end else { break };
            if self.carry.len() + end > self.max {
                let err = self.too_long();
                return self.fail(delivered, err);
            }
            let result = if self.carry.is_empty() {
                line(&rest[..end])
            } else {
                let mut whole = std::mem::take(&mut self.carry);
                whole.extend_from_slice(&rest[..end]);
                let result = line(&whole);
                // Keep the allocation for the next carried-over line.
                whole.clear();
                self.carry = whole;
                result
            };
            let is_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
            if let Err(err) = result {
                return self.fail(delivered, err);
            }
            delivered = true;
        }
        if self.carry.len() + rest.len() > self.max {
            let err = self.too_long();
            return self.fail(delivered, err);
        }
        self.carry.extend_from_slice(rest);
        Ok(())
    }

    /// Ends the body: a last line without its line end, or the error held back.
    pub(crate) fn finish(
        mut self,
        line: impl FnOnce(&[u8]) -> Result<(), StreamError>,
    ) -> Result<(), StreamError> {
        if let Some(err) = self.failed.take() {
            return Err(err);
        }
        if self.carry.is_empty() {
            return Ok(());
        }
        line(&std::mem::take(&mut self.carry))
    }

    /// Reports `err` now when nothing was handed over in this push, else next time.
    fn fail(&mut self, delivered: bool, err: StreamError) -> Result<(), StreamError> {
        if delivered {
            self.failed = Some(err);
            Ok(())
        } else {
            Err(err)
        }
    }

    fn too_long(&self) -> StreamError {
        StreamError::Malformed {
            detail: format!("an {} is longer than {} bytes", self.what, self.max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(lines: &mut Lines, chunk: &[u8]) -> (Vec<String>, Result<(), StreamError>) {
        let mut got = Vec::new();
        let result = lines.push(chunk, |l| {
            if l == b"bad" {
                return Err(StreamError::Malformed {
                    detail: "bad".into(),
                });
            }
            got.push(String::from_utf8_lossy(l).into_owned());
            Ok(())
        });
        (got, result)
    }

    #[test]
    fn lines_before_an_error_are_handed_over_first() {
        let mut lines = Lines::new(false, 100, "line");
        let (got, result) = split(&mut lines, b"one\ntwo\nbad\nthree\n");
        assert_eq!(got, vec!["one", "two"]);
        assert_eq!(result, Ok(()));
        let (got, result) = split(&mut Lines::new(false, 100, "line"), b"bad\n");
        assert!(got.is_empty());
        assert!(
            result.is_err(),
            "an error with nothing before it comes at once"
        );
        let (got, result) = split(&mut lines, b"four\n");
        assert!(got.is_empty());
        assert!(result.is_err(), "the held-back error comes next");
    }

    #[test]
    fn a_line_may_not_grow_past_the_limit() {
        let mut lines = Lines::new(true, 8, "event-stream line");
        assert_eq!(split(&mut lines, b"12345").1, Ok(()));
        let Err(StreamError::Malformed { detail }) = split(&mut lines, b"6789").1 else {
            panic!("expected a too-long error");
        };
        assert_eq!(detail, "an event-stream line is longer than 8 bytes");
        // A long line inside one chunk is caught too.
        let mut lines = Lines::new(false, 8, "line");
        assert!(split(&mut lines, b"0123456789\n").1.is_err());
    }

    #[test]
    fn cr_endings_only_where_asked() {
        let mut sse = Lines::new(true, 100, "line");
        assert_eq!(split(&mut sse, b"a\rb\r").0, vec!["a", "b"]);
        assert_eq!(
            split(&mut sse, b"\nc\n").0,
            vec!["c"],
            "the split CRLF is one end"
        );
        let mut ndjson = Lines::new(false, 100, "line");
        assert_eq!(split(&mut ndjson, b"a\rb\n").0, vec!["a\rb"]);
    }
}
