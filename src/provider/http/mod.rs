//! The one HTTP [`Provider`]: [`HttpProvider`] sends what a [`WireFormat`] words and
//! reads the answer with that format's framing and parser.
//!
//! - `client`: the shared `reqwest::Client`, the checked [`Endpoint`], sending.
//! - `decode`: cutting a body into frames (SSE, NDJSON, one JSON document) and driving
//!   a parser over them as chunks arrive.
//! - `answer`: what every parser shares: text length, token counts, completion; the
//!   one place usage is estimated.
//! - `errors`: network failures and error answers described for people and classified
//!   for the engine, without URLs or keys in the text.
//!
//! A backend's `socket_timeout` is applied per request rather than on the shared client
//! (reqwest's read timeout is client-wide): it bounds the wait for the response head and
//! every gap between body chunks.

mod answer;
mod client;
mod decode;
mod errors;
mod lines;
mod ndjson;
mod sse;
#[cfg(test)]
pub(crate) mod testing;

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use super::{ApiKey, BackendSpec, ChatRequest, EventStream, Provider, ProviderError};

pub(crate) use answer::{Answer, count, prompt_chars, role_content_messages};
pub use client::http_client;
pub(crate) use client::with_query;
pub(crate) use client::{Endpoint, key_header};
pub(crate) use decode::{Flow, FrameDecoder, LinesBody, SseBody, WireParser};
pub(crate) use errors::{error_in_body, excerpt, json_error_message, json_frame, truncate_message};
#[cfg(test)]
pub(crate) use ndjson::NdjsonDecoder;
pub(crate) use sse::SseEvent;
#[cfg(test)]
pub(crate) use {decode::SseOrJson, decode::WholeBody, sse::SseDecoder};

/// What one wire format says about a request and its answer; [`HttpProvider`] does
/// the rest.
pub(crate) trait WireFormat: Send + Sync + std::fmt::Debug + 'static {
    /// Cuts the answer body into frames.
    type Decoder: FrameDecoder;
    /// Turns the frames into events.
    type Parser: WireParser<<Self::Decoder as FrameDecoder>::Frame>;

    /// The path after the base URL, starting with `/`.
    fn path(&self, model: &str, streaming: bool) -> String;
    /// The key header(s), or why the key cannot be sent.
    fn auth(&self, key: Option<&ApiKey>) -> Result<HeaderMap, ProviderError>;
    /// The JSON body; `params` are the profile's sampling parameters, in OpenAI naming.
    fn body(&self, model: &str, params: &Map<String, Value>, request: &ChatRequest) -> Value;
    fn decoder(&self, streaming: bool) -> Self::Decoder;
    fn parser(&self, prompt_chars: usize) -> Self::Parser;
}

/// A backend reached over HTTP, speaking the wire format `W`.
#[derive(Debug)]
pub(crate) struct HttpProvider<W> {
    wire: W,
    endpoint: Endpoint,
}

impl<W: WireFormat> HttpProvider<W> {
    /// Checks the spec's base URL (else `default_base`) and headers once, at build time.
    pub(crate) fn new(
        wire: W,
        spec: &BackendSpec,
        default_base: &str,
        client: &reqwest::Client,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            wire,
            endpoint: Endpoint::new(spec, default_base, client)?,
        })
    }
}

impl<W: WireFormat> Provider for HttpProvider<W> {
    fn stream(&self, request: ChatRequest) -> EventStream {
        let endpoint = &self.endpoint;
        let url = endpoint.url(&self.wire.path(&endpoint.model, request.stream));
        let body = self
            .wire
            .body(&endpoint.model, &endpoint.model_params, &request);
        // Errors building the request are reported by the stream, so this returns at once.
        let built = self
            .wire
            .auth(endpoint.api_key.as_ref())
            .and_then(|auth| endpoint.post(&url, auth, &body));
        client::run(
            built,
            url,
            endpoint.socket_timeout,
            self.wire.decoder(request.stream),
            self.wire.parser(prompt_chars(&request)),
        )
    }
}
