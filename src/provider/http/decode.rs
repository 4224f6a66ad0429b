//! Framing: a [`FrameDecoder`] cuts body chunks into frames (an SSE event, a JSON line,
//! the whole body), and [`decode_body`] drives a [`WireParser`] over them, yielding each
//! event as soon as the frame holding it is complete.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::errors::{excerpt, human_duration};
use super::ndjson::NdjsonDecoder;
use super::sse::{SseDecoder, SseEvent};
use crate::provider::{EventStream, ProviderError, StreamError, StreamEvent};

/// Largest answer body accepted, streamed or not.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Splits a body into frames.
pub(crate) trait FrameDecoder: Send + 'static {
    /// One unit of the wire format: an SSE event, a JSON line, the whole body.
    type Frame: Send + 'static;
    /// Feeds a chunk; returns the frames it completed.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Self::Frame>, StreamError>;
    /// Ends the body; returns any last frame.
    fn finish(self) -> Result<Vec<Self::Frame>, StreamError>;
}

/// Whether a parser wants more frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    More,
    /// The finish reason arrived but its usage may still follow (OpenAI sends it in
    /// the next chunk): read on for [`FINISH_GRACE`] at most, then end the answer.
    Finishing,
    /// The provider's terminal marker arrived; stop reading.
    Done,
}

/// How long to wait for the rest (usage, `[DONE]`) once an answer has its finish
/// reason. A server that keeps the connection open after that has still answered.
pub(crate) const FINISH_GRACE: Duration = Duration::from_secs(1);

/// Turns one wire format's frames into [`StreamEvent`]s.
pub(crate) trait WireParser<F>: Send + 'static {
    /// Handles one frame, pushing the events to yield now onto `out`.
    fn frame(&mut self, frame: F, out: &mut Vec<StreamEvent>) -> Result<Flow, ProviderError>;
    /// The body ended (or [`Flow::Done`]): the closing events, or why the answer is
    /// not complete.
    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError>;
}

impl FrameDecoder for SseDecoder {
    type Frame = SseEvent;
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, StreamError> {
        SseDecoder::push(self, chunk)
    }
    fn finish(self) -> Result<Vec<SseEvent>, StreamError> {
        SseDecoder::finish(self)
    }
}

impl FrameDecoder for NdjsonDecoder {
    type Frame = Value;
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Value>, StreamError> {
        NdjsonDecoder::push(self, chunk)
    }
    fn finish(self) -> Result<Vec<Value>, StreamError> {
        NdjsonDecoder::finish(self)
    }
}

/// A non-streamed answer: the whole body is one JSON document.
#[derive(Debug, Default)]
pub(crate) struct WholeBody {
    buf: Vec<u8>,
}

impl FrameDecoder for WholeBody {
    type Frame = Value;
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Value>, StreamError> {
        if self.buf.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large(MAX_ANSWER_BYTES));
        }
        self.buf.extend_from_slice(chunk);
        Ok(Vec::new())
    }
    fn finish(self) -> Result<Vec<Value>, StreamError> {
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            // Nothing at all: the parser reports the answer as cut.
            return Ok(Vec::new());
        }
        if let Some(err) = html_page(&self.buf) {
            return Err(err);
        }
        serde_json::from_slice(&self.buf)
            .map(|v| vec![v])
            .map_err(|err| StreamError::Malformed {
                detail: format!(
                    "invalid JSON answer ({err}): {}",
                    excerpt(&String::from_utf8_lossy(&self.buf))
                ),
            })
    }
}

/// The body of a line-delimited JSON wire format: lines when streaming, one JSON
/// document when not (which may span lines: Ollama's documented examples do).
#[derive(Debug)]
pub(crate) enum LinesBody {
    Streamed(NdjsonDecoder),
    Whole(WholeBody),
}

impl LinesBody {
    pub(crate) fn new(streaming: bool) -> Self {
        if streaming {
            Self::Streamed(NdjsonDecoder::new())
        } else {
            Self::Whole(WholeBody::default())
        }
    }
}

impl FrameDecoder for LinesBody {
    type Frame = Value;

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Value>, StreamError> {
        match self {
            Self::Streamed(lines) => lines.push(chunk),
            Self::Whole(whole) => whole.push(chunk),
        }
    }

    fn finish(self) -> Result<Vec<Value>, StreamError> {
        match self {
            Self::Streamed(lines) => lines.finish(),
            Self::Whole(whole) => whole.finish(),
        }
    }
}

/// The error for a body that is an HTML page (or other markup) where an API answer
/// belongs: usually a base URL that points at a website, a login page or a proxy.
fn html_page(body: &[u8]) -> Option<StreamError> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    (body[start] == b'<').then(not_an_api_answer)
}

fn not_an_api_answer() -> StreamError {
    StreamError::Malformed {
        detail: "the server sent an HTML page, not an API answer: check base-url".into(),
    }
}

/// A frame of [`SseOrJson`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sniffed {
    Event(SseEvent),
    /// The whole body, which was one JSON document.
    Json(Value),
}

/// An SSE body, unless the server answered with one JSON document instead (a proxy's
/// error with status 200, or a server that ignores `stream: true`). The first
/// non-blank byte decides: an event stream never starts with `{` or `[`.
#[derive(Debug, Default)]
pub(crate) struct SseOrJson {
    sse: SseDecoder,
    json: Option<WholeBody>,
    decided: bool,
}

impl SseOrJson {
    pub(crate) fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            json: None,
            decided: false,
        }
    }
}

impl FrameDecoder for SseOrJson {
    type Frame = Sniffed;

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Sniffed>, StreamError> {
        if !self.decided
            && let Some(first) = chunk.iter().find(|b| !b.is_ascii_whitespace())
        {
            self.decided = true;
            if *first == b'<' {
                // A login page or a proxy's error page with status 200.
                return Err(html_page(chunk).unwrap_or_else(not_an_api_answer));
            }
            if matches!(first, b'{' | b'[') {
                self.json = Some(WholeBody::default());
            }
        }
        match &mut self.json {
            Some(json) => json.push(chunk).map(|_| Vec::new()),
            None => Ok(self
                .sse
                .push(chunk)?
                .into_iter()
                .map(Sniffed::Event)
                .collect()),
        }
    }

    fn finish(self) -> Result<Vec<Sniffed>, StreamError> {
        match self.json {
            Some(json) => Ok(json.finish()?.into_iter().map(Sniffed::Json).collect()),
            None => Ok(self.sse.finish()?.into_iter().map(Sniffed::Event).collect()),
        }
    }
}

/// The body of an SSE wire format: events when streaming (or the one JSON document a
/// server may send instead, see [`SseOrJson`]), one JSON document when not.
#[derive(Debug)]
pub(crate) enum SseBody {
    Streamed(SseOrJson),
    Whole(WholeBody),
}

impl SseBody {
    pub(crate) fn new(streaming: bool) -> Self {
        if streaming {
            Self::Streamed(SseOrJson::new())
        } else {
            Self::Whole(WholeBody::default())
        }
    }
}

impl FrameDecoder for SseBody {
    type Frame = Sniffed;

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Sniffed>, StreamError> {
        match self {
            Self::Streamed(sse) => sse.push(chunk),
            Self::Whole(whole) => Ok(whole.push(chunk)?.into_iter().map(Sniffed::Json).collect()),
        }
    }

    fn finish(self) -> Result<Vec<Sniffed>, StreamError> {
        match self {
            Self::Streamed(sse) => sse.finish(),
            Self::Whole(whole) => Ok(whole.finish()?.into_iter().map(Sniffed::Json).collect()),
        }
    }
}

/// Every parser that reads both events and whole answers reads a sniffed body.
impl<P> WireParser<Sniffed> for P
where
    P: WireParser<SseEvent> + WireParser<Value>,
{
    fn frame(&mut self, frame: Sniffed, out: &mut Vec<StreamEvent>) -> Result<Flow, ProviderError> {
        match frame {
            Sniffed::Event(event) => WireParser::<SseEvent>::frame(self, event, out),
            Sniffed::Json(value) => WireParser::<Value>::frame(self, value, out),
        }
    }

    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
        WireParser::<SseEvent>::end(self)
    }
}

/// Drives body chunks through `decoder` and `parser`; each event is yielded as soon as
/// the frame holding it is complete.
pub(crate) fn decode_body<S, D, P>(
    body: S,
    idle_timeout: Option<Duration>,
    decoder: D,
    parser: P,
) -> EventStream
where
    S: Stream<Item = Result<Bytes, StreamError>> + Send + 'static,
    D: FrameDecoder,
    P: WireParser<D::Frame>,
{
    decode_body_within(body, idle_timeout, MAX_ANSWER_BYTES, decoder, parser)
}

/// [`decode_body`] for a body of at most `max_bytes`: a server that streams without
/// end is cut off with an error instead of filling memory.
pub(crate) fn decode_body_within<S, D, P>(
    body: S,
    idle_timeout: Option<Duration>,
    max_bytes: usize,
    mut decoder: D,
    mut parser: P,
) -> EventStream
where
    S: Stream<Item = Result<Bytes, StreamError>> + Send + 'static,
    D: FrameDecoder,
    P: WireParser<D::Frame>,
{
    Box::pin(async_stream::try_stream! {
        let mut body = Box::pin(body);
        let mut out = Vec::new();
        let mut read = 0usize;
        let mut finishing = false;
        loop {
            let wait = if finishing {
                Some(idle_timeout.map_or(FINISH_GRACE, |idle| idle.min(FINISH_GRACE)))
            } else {
                idle_timeout
            };
            let next = next_chunk(&mut body, wait).await;
            let Some(chunk) = (match next {
                // The answer is over; only its usage was still to come.
                Err(_) if finishing => None,
                other => other?,
            }) else {
                break;
            };
            let chunk = chunk?;
            read = read.saturating_add(chunk.len());
            if read > max_bytes {
                Err(too_large(max_bytes))?;
            }
            for frame in decoder.push(&chunk)? {
                let flow = parser.frame(frame, &mut out)?;
                for event in out.drain(..) {
                    yield event;
                }
                match flow {
                    Flow::More => {}
                    Flow::Finishing => finishing = true,
                    Flow::Done => {
                        // What follows the terminal marker, even in the same read, is
                        // not part of the answer.
                        for event in parser.end()? {
                            yield event;
                        }
                        return;
                    }
                }
            }
        }
        for frame in decoder.finish()? {
            let flow = parser.frame(frame, &mut out)?;
            for event in out.drain(..) {
                yield event;
            }
            if flow == Flow::Done {
                break;
            }
        }
        for event in parser.end()? {
            yield event;
        }
    })
}

fn too_large(max_bytes: usize) -> StreamError {
    StreamError::Malformed {
        detail: format!(
            "the answer is larger than {} MiB",
            max_bytes / (1024 * 1024)
        ),
    }
}

/// The next chunk of the body; waiting longer than `idle_timeout` for it is an error.
async fn next_chunk<S: Stream + Unpin>(
    body: &mut S,
    idle_timeout: Option<Duration>,
) -> Result<Option<S::Item>, StreamError> {
    match idle_timeout {
        Some(limit) => tokio::time::timeout(limit, body.next())
            .await
            .map_err(|_| StreamError::Io(format!("no data for {}", human_duration(limit)))),
        None => Ok(body.next().await),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn sniffing_tells_json_from_events() {
        let mut d = SseOrJson::new();
        assert_eq!(d.push(b" \r\n").unwrap(), vec![]);
        assert_eq!(d.push(b"{\"error\":").unwrap(), vec![]);
        assert_eq!(d.push(b"{\"message\":\"no\"}}").unwrap(), vec![]);
        assert_eq!(
            d.finish().unwrap(),
            vec![Sniffed::Json(json!({"error": {"message": "no"}}))]
        );

        let mut d = SseOrJson::new();
        let mut got = d.push(b"\n: hi\ndata: {\"a\":1}\n\n").unwrap();
        got.extend(d.finish().unwrap());
        assert_eq!(
            got,
            vec![Sniffed::Event(SseEvent {
                event: None,
                data: "{\"a\":1}".into()
            })]
        );
    }

    #[tokio::test]
    async fn stalled_body_is_an_io_error() {
        let body = futures_util::stream::iter(vec![Ok(Bytes::from_static(b"data: {}\n\n"))])
            .chain(futures_util::stream::pending());
        struct Count;
        impl WireParser<SseEvent> for Count {
            fn frame(
                &mut self,
                _: SseEvent,
                out: &mut Vec<StreamEvent>,
            ) -> Result<Flow, ProviderError> {
                out.push(StreamEvent::Delta("x".into()));
                Ok(Flow::More)
            }
            fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
                Ok(Vec::new())
            }
        }
        let events = decode_body(
            body,
            Some(Duration::from_millis(100)),
            SseDecoder::new(),
            Count,
        );
        let (got, err) = testing::collect(events).await;
        assert_eq!(got, vec![StreamEvent::Delta("x".into())]);
        assert_eq!(
            err,
            Some(ProviderError::Stream(StreamError::Io(
                "no data for 100ms".into()
            )))
        );
    }

    /// Yields one delta per event and stops at `[DONE]`.
    struct UntilDone;

    impl WireParser<SseEvent> for UntilDone {
        fn frame(
            &mut self,
            e: SseEvent,
            out: &mut Vec<StreamEvent>,
        ) -> Result<Flow, ProviderError> {
            if e.data == "[DONE]" {
                return Ok(Flow::Done);
            }
            if e.data == "finish" {
                return Ok(Flow::Finishing);
            }
            out.push(StreamEvent::Delta(e.data));
            Ok(Flow::More)
        }
        fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError> {
            Ok(vec![StreamEvent::Finished(Default::default())])
        }
    }

    fn chunks(parts: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, StreamError>> {
        futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))))
    }

    #[tokio::test]
    async fn bytes_after_the_terminal_marker_in_the_same_read_do_not_spoil_the_answer() {
        let body = chunks(vec![
            b"data: hi\n\ndata: [DONE]\n\n\xff\xfe\x00 not utf-8\n\n",
        ]);
        let (got, err) =
            testing::collect(decode_body(body, None, SseDecoder::new(), UntilDone)).await;
        assert_eq!(err, None);
        assert_eq!(
            got,
            vec![
                StreamEvent::Delta("hi".into()),
                StreamEvent::Finished(Default::default())
            ]
        );
    }

    #[tokio::test]
    async fn data_lines_without_a_blank_line_cannot_grow_one_event_without_bound() {
        let body =
            futures_util::stream::repeat_with(|| Ok(Bytes::from_static(b"data: aaaaaaaa\n")))
                .take(10_000);
        let (got, err) = testing::collect(decode_body(
            body,
            None,
            SseDecoder::with_limit(1024),
            UntilDone,
        ))
        .await;
        assert!(got.is_empty());
        let Some(ProviderError::Stream(StreamError::Malformed { detail })) = err else {
            panic!("expected a malformed-stream error, got {err:?}");
        };
        assert_eq!(detail, "an event is larger than 1024 bytes");
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_off_at_the_limit() {
        let body = futures_util::stream::repeat_with(|| Ok(Bytes::from_static(b"data: word\n\n")))
            .take(100_000);
        let events = decode_body_within(body, None, 1024 * 1024, SseDecoder::new(), UntilDone);
        let (got, err) = testing::collect(events).await;
        assert!(!got.is_empty(), "the answer streams until the limit");
        let Some(ProviderError::Stream(StreamError::Malformed { detail })) = err else {
            panic!("expected a malformed-stream error, got {err:?}");
        };
        assert_eq!(detail, "the answer is larger than 1 MiB");
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_answer_on_an_open_connection_completes_after_the_grace() {
        let body = chunks(vec![
            b"data: hi\n\n",
            b"data: finish\n\n",
            b"data: usage\n\n",
        ])
        .chain(futures_util::stream::pending());
        let start = tokio::time::Instant::now();
        let events = decode_body(
            body,
            Some(Duration::from_secs(30)),
            SseDecoder::new(),
            UntilDone,
        );
        let (got, err) = testing::collect(events).await;
        assert_eq!(err, None, "not an idle-timeout error");
        assert_eq!(
            got,
            vec![
                StreamEvent::Delta("hi".into()),
                StreamEvent::Delta("usage".into()),
                StreamEvent::Finished(Default::default())
            ],
            "what came within the grace is kept"
        );
        assert_eq!(
            start.elapsed(),
            FINISH_GRACE,
            "well before the 30 s idle timeout"
        );
    }

    #[test]
    fn an_html_page_with_status_200_is_named() {
        let page = b"\n<!DOCTYPE html><html><body>Sign in</body></html>";
        let mut sniffed = SseOrJson::new();
        let err = sniffed.push(page).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed stream data: the server sent an HTML page, not an API answer: check base-url"
        );
        let mut whole = WholeBody::default();
        whole.push(page).unwrap();
        assert_eq!(whole.finish().unwrap_err(), err);
    }
}
