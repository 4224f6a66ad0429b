//! Helpers for the wire-format tests: feed recorded bodies, serve raw HTTP.

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::decode::{FrameDecoder, WireParser, decode_body};
use crate::provider::{EventStream, ProviderError, StreamEvent};

/// Drives `chunks` through a decoder and parser; returns the events, then the error
/// that ended the stream, if any.
pub(crate) async fn decode<D, P>(
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
pub(crate) async fn collect(mut events: EventStream) -> (Vec<StreamEvent>, Option<ProviderError>) {
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
pub(crate) fn text(events: &[StreamEvent]) -> String {
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
pub(crate) async fn serve_once(response: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
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
pub(crate) fn ok_response(content_type: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n{body}")
        .into_bytes()
}
