//! HTTP plumbing shared by the four HTTP wire formats.
//!
//! - [`http_client`]: the one `reqwest::Client` (TLS provider, connect timeout, user agent).
//! - [`Endpoint`]: what every HTTP backend needs from its [`BackendSpec`].
//! - [`run`]: sends a request and drives the body through a frame decoder ([`SseDecoder`],
//!   [`NdjsonDecoder`], or [`WholeBody`] for `--no-stream`) and a per-format parser,
//!   yielding events as frames arrive.
//! - Error mapping: network failures become [`ProviderError::Connect`] (before the
//!   response) or [`StreamError::Io`] (mid-body); non-2xx answers become
//!   [`ProviderError::Http`] with the provider's own message and `Retry-After`.
//!
//! A backend's `socket_timeout` is applied per request rather than on the shared client
//! (reqwest's read timeout is client-wide): it bounds the wait for the response head and
//! every gap between body chunks.

use std::error::Error as StdError;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::ndjson::NdjsonDecoder;
use super::sse::{SseDecoder, SseEvent};
use super::{ApiKey, BackendSpec, EventStream, ProviderError, StreamError, StreamEvent, Usage};

/// How long connecting (TCP plus TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `User-Agent` baton sends.
pub const USER_AGENT: &str = concat!("baton/", env!("CARGO_PKG_VERSION"));

/// Longest provider error message kept, in characters.
const MESSAGE_CHARS: usize = 300;

/// Most of an error body read to find the provider's message.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// Largest non-streamed answer body accepted.
const WHOLE_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How long reading an error body may take when the backend sets no socket timeout.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the HTTP client every provider shares.
///
/// Installs rustls' `ring` crypto provider first (reqwest is built without one); an
/// already installed provider is kept.
pub fn http_client() -> Result<reqwest::Client, ProviderError> {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|err| {
            ProviderError::Config(format!("cannot set up the HTTP client: {}", describe(&err)))
        })
}

/// What an HTTP backend needs from its [`BackendSpec`], checked once at build time.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub client: reqwest::Client,
    /// The base URL without a trailing `/`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<ApiKey>,
    pub model_params: serde_json::Map<String, Value>,
    pub socket_timeout: Option<Duration>,
    /// The profile's extra headers.
    pub headers: HeaderMap,
}

impl Endpoint {
    /// Validates the spec's base URL and headers.
    pub fn new(
        spec: &BackendSpec,
        default_base: &str,
        client: &reqwest::Client,
    ) -> Result<Self, ProviderError> {
        let base = spec
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or(default_base);
        let base_url = check_base_url(base, &spec.name)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            let header = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                ProviderError::Config(format!(
                    "profile '{}': '{name}' is not a valid HTTP header name",
                    spec.name
                ))
            })?;
            // The value may be a secret, so the message names only the header.
            let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
                ProviderError::Config(format!(
                    "profile '{}': the value of header '{name}' has characters HTTP does not allow",
                    spec.name
                ))
            })?;
            value.set_sensitive(true);
            headers.append(header, value);
        }
        Ok(Self {
            client: client.clone(),
            base_url,
            model: spec.model.clone(),
            api_key: spec.api_key.clone(),
            model_params: spec.model_params.clone(),
            socket_timeout: spec.socket_timeout,
            headers,
        })
    }

    /// POSTs `body` to `url` and decodes the answer with `parser`: as an event
    /// stream (or the single JSON document a server may send instead) when
    /// `streaming`, else as one JSON document. `auth` carries the key headers or
    /// why they could not be made.
    pub fn send<P>(
        &self,
        url: String,
        auth: Result<HeaderMap, ProviderError>,
        body: &Value,
        streaming: bool,
        parser: P,
    ) -> EventStream
    where
        P: WireParser<Sniffed> + WireParser<Value>,
    {
        let built = auth.and_then(|auth| self.post(&url, auth, body));
        if streaming {
            run(built, url, self.socket_timeout, SseOrJson::new(), parser)
        } else {
            run(
                built,
                url,
                self.socket_timeout,
                WholeBody::default(),
                parser,
            )
        }
    }

    /// `base_url` + `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A JSON POST to `url` with the profile's extra headers; `auth` adds the key
    /// header(s) first so the profile can still override them.
    pub fn post(
        &self,
        url: &str,
        auth: HeaderMap,
        body: &Value,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let bytes = serde_json::to_vec(body).map_err(|err| {
            ProviderError::Config(format!("cannot encode the request body: {err}"))
        })?;
        let mut headers = auth;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        Ok(self.client.post(url).headers(headers).body(bytes))
    }
}

/// Checks that a base URL is absolute http(s) and returns it without a trailing `/`.
pub(crate) fn check_base_url(base: &str, profile: &str) -> Result<String, ProviderError> {
    let url = reqwest::Url::parse(base).map_err(|err| {
        ProviderError::Config(format!(
            "profile '{profile}': base-url '{base}' is not a valid URL ({err}); \
             expected something like http://127.0.0.1:8080/v1"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ProviderError::Config(format!(
            "profile '{profile}': base-url '{base}' must start with http:// or https://"
        )));
    }
    Ok(base.trim_end_matches('/').to_owned())
}

/// A header carrying a key, marked sensitive so it is never logged.
pub(crate) fn key_header(
    provider: &str,
    prefix: &str,
    key: &ApiKey,
) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.expose().trim()))
        .map_err(|_| {
            ProviderError::Config(format!(
                "the API key for {provider} has characters HTTP headers do not allow (a stray newline?)"
            ))
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Splits a body into frames.
pub(crate) trait FrameDecoder: Send + 'static {
    /// One unit of the wire format: an SSE event, a JSON line, the whole body.
    type Frame: Send + 'static;
    /// Feeds a chunk; returns the frames it completed.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Self::Frame>, StreamError>;
    /// Ends the body; returns any last frame.
    fn finish(self) -> Result<Vec<Self::Frame>, StreamError>;
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
        if self.buf.len() + chunk.len() > WHOLE_BODY_BYTES {
            return Err(StreamError::Malformed {
                detail: format!("the answer is larger than {WHOLE_BODY_BYTES} bytes"),
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(Vec::new())
    }
    fn finish(self) -> Result<Vec<Value>, StreamError> {
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            // Nothing at all: the parser reports the answer as cut.
            return Ok(Vec::new());
        }
        serde_json::from_slice(&self.buf)
            .map(|v| vec![v])
            .map_err(|err| StreamError::Malformed {
                detail: format!(
                    "invalid JSON answer ({err}): {}",
                    super::excerpt(&String::from_utf8_lossy(&self.buf))
                ),
            })
    }
}

/// A frame of [`SseOrJson`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Sniffed {
    /// One server-sent event.
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
    /// A decoder at the start of a body.
    pub fn new() -> Self {
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
        if !self.decided {
            if let Some(first) = chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                self.decided = true;
                if matches!(first, b'{' | b'[') {
                    self.json = Some(WholeBody::default());
                }
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

/// Whether a parser wants more frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep reading.
    More,
    /// The provider's terminal marker arrived; stop reading.
    Done,
}

/// Turns one wire format's frames into [`StreamEvent`]s.
pub(crate) trait WireParser<F>: Send + 'static {
    /// Handles one frame, pushing the events to yield now onto `out`.
    fn frame(&mut self, frame: F, out: &mut Vec<StreamEvent>) -> Result<Flow, ProviderError>;
    /// The body ended (or [`Flow::Done`]): the closing events, or why the answer is
    /// not complete.
    fn end(&mut self) -> Result<Vec<StreamEvent>, ProviderError>;
}

/// The bookkeeping every format shares: answer length, usage, completion.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    prompt_chars: usize,
    answer_chars: usize,
    /// Prompt tokens, when the provider said.
    pub input_tokens: Option<u64>,
    /// Answer tokens, when the provider said.
    pub output_tokens: Option<u64>,
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

/// Sends `request` and streams the decoded answer. Errors building the request are
/// reported by the stream, so `Provider::stream` can return at once.
pub(crate) fn run<D, P>(
    request: Result<reqwest::RequestBuilder, ProviderError>,
    url: String,
    socket_timeout: Option<Duration>,
    decoder: D,
    parser: P,
) -> EventStream
where
    D: FrameDecoder,
    P: WireParser<D::Frame>,
{
    Box::pin(async_stream::try_stream! {
        let response = send(request?, &url, socket_timeout).await?;
        let body = response.bytes_stream().map(|chunk| chunk.map_err(|err| body_error(&err)));
        let mut events = decode_body(body, socket_timeout, decoder, parser);
        while let Some(event) = events.next().await {
            yield event?;
        }
    })
}

/// Drives body chunks through `decoder` and `parser`; each event is yielded as soon as
/// the frame holding it is complete.
pub(crate) fn decode_body<S, D, P>(
    body: S,
    idle_timeout: Option<Duration>,
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
        loop {
            let next = match idle_timeout {
                Some(limit) => tokio::time::timeout(limit, body.next())
                    .await
                    .map_err(|_| StreamError::Io(format!("no data for {}", human_duration(limit))))?,
                None => body.next().await,
            };
            let Some(chunk) = next else { break };
            for frame in decoder.push(&chunk?)? {
                let flow = parser.frame(frame, &mut out)?;
                for event in out.drain(..) {
                    yield event;
                }
                if flow == Flow::Done {
                    for event in parser.end()? {
                        yield event;
                    }
                    return;
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

/// Sends the request; a non-2xx answer becomes [`ProviderError::Http`].
async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
    timeout: Option<Duration>,
) -> Result<reqwest::Response, ProviderError> {
    let sent = request.send();
    let result = match timeout {
        Some(limit) => {
            tokio::time::timeout(limit, sent)
                .await
                .map_err(|_| ProviderError::Connect {
                    url: url.to_owned(),
                    reason: format!("no response within {}", human_duration(limit)),
                })?
        }
        None => sent.await,
    };
    let response = result.map_err(|err| connect_error(url, &err))?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(http_error(response, timeout).await)
    }
}

/// A failure before any response: refused, DNS, TLS, reset, timeout.
pub(crate) fn connect_error(url: &str, err: &reqwest::Error) -> ProviderError {
    ProviderError::Connect {
        url: url.to_owned(),
        reason: describe(err),
    }
}

/// A failure while the body was being read.
pub(crate) fn body_error(err: &reqwest::Error) -> StreamError {
    StreamError::Io(describe(err))
}

/// A short human reason for a reqwest error. Built from the error's sources, never from
/// its top-level text (which carries the URL) and never from headers (the key).
fn describe(err: &reqwest::Error) -> String {
    if err.is_dns() {
        return match innermost(err) {
            Some(detail) => format!("DNS lookup failed ({detail})"),
            None => "DNS lookup failed".to_owned(),
        };
    }
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return format!("TLS handshake failed: {tls}");
        }
        if let Some(reason) = cause.downcast_ref::<std::io::Error>().and_then(describe_io) {
            return reason;
        }
        source = cause.source();
    }
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    let detail = innermost(err);
    let what = if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "error reading the answer"
    } else {
        "request failed"
    };
    match detail {
        Some(detail) => format!("{what}: {detail}"),
        None => what.to_owned(),
    }
}

/// A reason for the io errors worth naming. Connectors nest io errors in io errors
/// (and tokio-rustls hides TLS errors there), and `io::Error::source` skips the
/// wrapped error, so the nesting is walked with `get_ref`.
fn describe_io(io: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind;
    let reason = match io.kind() {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => "connection reset",
        ErrorKind::TimedOut => "timed out",
        ErrorKind::UnexpectedEof => "connection closed unexpectedly",
        _ => {
            let inner = io.get_ref()?;
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(format!("TLS handshake failed: {tls}"));
            }
            return inner.downcast_ref::<std::io::Error>().and_then(describe_io);
        }
    };
    Some(reason.to_owned())
}

/// The text of the deepest cause, which is usually the most specific.
fn innermost(err: &reqwest::Error) -> Option<String> {
    let mut source = err.source()?;
    while let Some(next) = source.source() {
        source = next;
    }
    Some(truncate_message(&source.to_string()))
}

/// Reads an error answer into [`ProviderError::Http`].
async fn http_error(mut response: reqwest::Response, timeout: Option<Duration>) -> ProviderError {
    let status = response.status().as_u16();
    let mut retry_after = retry_after(response.headers());
    let mut body = Vec::new();
    let limit = timeout.unwrap_or(ERROR_BODY_TIMEOUT);
    // The message is a courtesy: a slow or broken error body must not hide the status.
    while body.len() < ERROR_BODY_BYTES {
        match tokio::time::timeout(limit, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_BYTES);
    let json = serde_json::from_slice::<Value>(&body).ok();
    if retry_after.is_none() {
        retry_after = json.as_ref().and_then(retry_delay_in_body);
    }
    let message = match json.as_ref().and_then(json_error_message) {
        Some(message) => truncate_message(message),
        None => {
            let text = String::from_utf8_lossy(&body);
            let line = text.lines().map(str::trim).find(|l| !l.is_empty());
            truncate_message(line.unwrap_or(""))
        }
    };
    ProviderError::Http {
        status,
        message,
        retry_after,
    }
}

/// The provider's message in an error body of any supported format:
/// `{"error":{"message":..}}` (OpenAI, Anthropic, Gemini), `{"error":".."}` (Ollama),
/// `{"message":..}` / `{"detail":..}` (other OpenAI-compatible servers), or a list of
/// those (Gemini sometimes wraps it in `[...]`).
pub(crate) fn json_error_message(body: &Value) -> Option<&str> {
    if let Some(first) = body.as_array().and_then(|a| a.first()) {
        return json_error_message(first);
    }
    match body.get("error") {
        Some(Value::String(message)) => return Some(message),
        Some(error @ Value::Object(_)) => {
            if let Some(message) = error.get("message").and_then(Value::as_str) {
                return Some(message);
            }
        }
        _ => {}
    }
    ["message", "detail"]
        .iter()
        .find_map(|key| body.get(key).and_then(Value::as_str))
}

/// Gemini puts the wait in the body: `error.details[].retryDelay: "38s"`.
fn retry_delay_in_body(body: &Value) -> Option<Duration> {
    let body = body.as_array().and_then(|a| a.first()).unwrap_or(body);
    body.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter_map(|d| d.get("retryDelay")?.as_str())
        .find_map(|d| seconds(d.strip_suffix('s')?))
}

/// `retry-after-ms` (preferred) or `Retry-After` in seconds; an HTTP date is ignored.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("retry-after-ms").and_then(seconds) {
        return Some(ms / 1000);
    }
    header("retry-after").and_then(seconds)
}

/// A non-negative number (integer or decimal) as that many seconds.
fn seconds(text: &str) -> Option<Duration> {
    let n: f64 = text.trim().parse().ok()?;
    (0.0..1e9).contains(&n).then(|| Duration::from_secs_f64(n))
}

/// Keeps a provider message to one line of at most [`MESSAGE_CHARS`] characters.
pub(crate) fn truncate_message(message: &str) -> String {
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// An `error` object that arrived inside a 200 stream, as [`ProviderError::Http`].
/// `status` is the provider's code when it gave a plausible one.
pub(crate) fn error_in_body(body: &Value, fallback_status: u16) -> ProviderError {
    let code = body
        .pointer("/error/code")
        .or_else(|| body.get("code"))
        .and_then(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()))
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..=599).contains(c));
    ProviderError::Http {
        status: code.unwrap_or(fallback_status),
        message: truncate_message(json_error_message(body).unwrap_or("error without a message")),
        retry_after: None,
    }
}

/// Parses the JSON in one SSE event.
pub(crate) fn json_frame(data: &str) -> Result<Value, StreamError> {
    serde_json::from_str(data).map_err(|err| StreamError::Malformed {
        detail: format!("invalid JSON in an event ({err}): {}", super::excerpt(data)),
    })
}

/// Total characters of the prompt, for usage estimates.
pub(crate) fn prompt_chars(request: &super::ChatRequest) -> usize {
    request
        .messages
        .iter()
        .map(|m| m.content.chars().count())
        .sum()
}

/// `1.5s`, `30s`, `250ms`.
fn human_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for the wire-format tests: feed recorded bodies, serve raw HTTP.

    use super::*;
    use futures_util::stream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Drives `chunks` through a decoder and parser; returns the events, then the error
    /// that ended the stream, if any.
    pub async fn decode<D, P>(
        chunks: &[&str],
        decoder: D,
        parser: P,
    ) -> (Vec<StreamEvent>, Option<ProviderError>)
    where
        D: FrameDecoder,
        P: WireParser<D::Frame>,
    {
        let body = stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Bytes::copy_from_slice(c.as_bytes())))
                .collect::<Vec<_>>(),
        );
        collect(decode_body(body, None, decoder, parser)).await
    }

    /// Polls a stream to its end.
    pub async fn collect(mut events: EventStream) -> (Vec<StreamEvent>, Option<ProviderError>) {
        let mut out = Vec::new();
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => out.push(event),
                Err(err) => return (out, Some(err)),
            }
        }
        (out, None)
    }

    /// The text of all deltas.
    pub fn text(events: &[StreamEvent]) -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// One-connection HTTP server: answers the first request with `response` (raw
    /// bytes, head included) and hands back the request it read.
    pub async fn serve_once(response: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let request = read_request(&mut socket).await;
            socket.write_all(&response).await.unwrap();
            socket.shutdown().await.ok();
            request
        });
        (base, task)
    }

    /// Reads one request (head and `Content-Length` body).
    async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = socket.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= head_end + 4 + length {
                    return text;
                }
            }
        }
        String::from_utf8_lossy(&buf).to_string()
    }

    /// A raw `200` answer with `content_type` whose body ends when the socket closes.
    pub fn ok_response(content_type: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n{body}"
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ErrorClass;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn retry_after_prefers_ms_and_ignores_dates() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after", "7"),
                ("retry-after-ms", "1500")
            ])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            None
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
    }

    #[test]
    fn error_messages_of_every_format() {
        let cases = [
            (
                json!({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}),
                "Incorrect API key",
            ),
            (
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                "Overloaded",
            ),
            (
                json!([{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}]),
                "Quota exceeded",
            ),
            (
                json!({"error": "model 'x' not found"}),
                "model 'x' not found",
            ),
            (
                json!({"object": "error", "message": "context too long"}),
                "context too long",
            ),
            (json!({"detail": "Not Found"}), "Not Found"),
        ];
        for (body, want) in cases {
            assert_eq!(json_error_message(&body), Some(want), "{body}");
        }
        assert_eq!(json_error_message(&json!({"ok": true})), None);
    }

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

    #[test]
    fn gemini_retry_delay_in_body() {
        let body = json!({"error": {"code": 429, "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
        ]}});
        assert_eq!(retry_delay_in_body(&body), Some(Duration::from_secs(38)));
    }

    #[test]
    fn messages_are_one_line_and_short() {
        let long = "word\n".repeat(200);
        let short = truncate_message(&long);
        assert!(!short.contains('\n'));
        assert_eq!(short.chars().count(), MESSAGE_CHARS + 1);
        assert!(short.ends_with('…'));
        assert_eq!(truncate_message("  a \n b "), "a b");
    }

    #[test]
    fn error_in_body_uses_a_plausible_code() {
        let err = error_in_body(&json!({"error": {"message": "upstream", "code": 502}}), 500);
        assert_eq!(
            err,
            ProviderError::Http {
                status: 502,
                message: "upstream".into(),
                retry_after: None
            }
        );
        let err = error_in_body(
            &json!({"error": {"message": "odd", "code": "rate_limit"}}),
            500,
        );
        assert!(matches!(err, ProviderError::Http { status: 500, .. }));
    }

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

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            check_base_url("http://127.0.0.1:8080/v1/", "p").unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        for bad in ["127.0.0.1:8080", "ftp://x/y", "not a url"] {
            let err = check_base_url(bad, "p").unwrap_err();
            assert!(
                matches!(err, ProviderError::Config(ref m) if m.contains("base-url")),
                "{err}"
            );
            assert_eq!(err.class(), ErrorClass::Request);
        }
    }

    #[test]
    fn key_header_never_echoes_the_key() {
        let err = key_header("openai", "Bearer ", &ApiKey::new("sk-secret\nline")).unwrap_err();
        assert!(!err.to_string().contains("sk-secret"));
        let ok = key_header("openai", "Bearer ", &ApiKey::new(" sk-1 ")).unwrap();
        assert!(ok.is_sensitive());
        assert_eq!(ok.to_str().unwrap(), "Bearer sk-1");
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_error() {
        // Bind then drop, so the port is (very likely) closed.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = http_client().unwrap();
        let url = format!("http://{addr}/v1/chat/completions");
        let err = send(client.post(&url), &url, None).await.unwrap_err();
        assert_eq!(
            err,
            ProviderError::Connect {
                url,
                reason: "connection refused".into()
            }
        );
        assert_eq!(err.class(), ErrorClass::Transient);
    }

    #[tokio::test]
    async fn tls_failure_is_a_connect_error() {
        // A plain-HTTP server answering a TLS client: the handshake cannot succeed.
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/v1", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                .await
                .ok();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let client = http_client().unwrap();
        let err = send(client.post(&url), &url, None).await.unwrap_err();
        assert!(
            matches!(&err, ProviderError::Connect { reason, .. } if reason.starts_with("TLS handshake failed")),
            "{err:?}"
        );
        server.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn silent_server_hits_the_socket_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        let hold = tokio::spawn(async move {
            let conn = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(conn);
        });
        let client = http_client().unwrap();
        let err = send(client.post(&url), &url, Some(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProviderError::Connect { reason, .. } if reason.contains("200ms")),
            "{err}"
        );
        hold.abort();
    }

    #[tokio::test]
    async fn http_errors_carry_message_and_retry_after() {
        let body = r#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests"}}"#;
        let raw = format!(
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 3\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (base, server) = testing::serve_once(raw.into_bytes()).await;
        let client = http_client().unwrap();
        let url = format!("{base}/v1/chat/completions");
        let err = send(client.post(&url).body("{}"), &url, None)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ProviderError::Http {
                status: 429,
                message: "Rate limit reached for gpt-4o".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
        assert_eq!(
            err.to_string(),
            "429 Too Many Requests: Rate limit reached for gpt-4o"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn html_error_body_keeps_its_first_line() {
        let body = "\r\n<html>\r\nupstream down</html>\r\n";
        let raw = format!(
            "HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (base, server) = testing::serve_once(raw.into_bytes()).await;
        let client = http_client().unwrap();
        let err = send(client.post(&base), &base, None).await.unwrap_err();
        assert!(
            matches!(&err, ProviderError::Http { status: 502, message, .. } if message == "<html>"),
            "{err:?}"
        );
        server.await.unwrap();
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
}
