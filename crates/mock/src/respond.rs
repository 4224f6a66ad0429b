//! Turning a planned [`Reply`] into an HTTP response: errors with their headers,
//! dropped connections, and bodies paced by sleeps that end at shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::watch;

use crate::behavior::{End, Reply, Step};
use crate::conn::Conn;
use crate::control::control_error;

/// Why a body ended early.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Abort(&'static str);

async fn sleep_or_shutdown(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    if delay.is_zero() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        _ = shutdown.wait_for(|stopping| *stopping) => false,
    }
}

fn body_stream(
    steps: Vec<Step>,
    end: End,
    mut shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, Abort>> + Send + 'static {
    async_stream::stream! {
        let mut interrupted = false;
        for step in steps {
            match step {
                Step::Send(bytes) => yield Ok(bytes),
                Step::Sleep(delay) => {
                    if !sleep_or_shutdown(delay, &mut shutdown).await {
                        interrupted = true;
                        break;
                    }
                }
            }
        }
        if interrupted {
            yield Err(Abort("mock: server shutting down"));
        } else {
            match end {
                End::Finish => {}
                End::Stall => {
                    // Quiet until the client leaves (hyper then drops this stream)
                    // or the server stops.
                    let _ = shutdown.wait_for(|stopping| *stopping).await;
                    yield Err(Abort("mock: server shutting down"));
                }
                End::Cut => {
                    // One pending poll lets hyper flush the chunks already written,
                    // so the client sees them before the abort.
                    tokio::task::yield_now().await;
                    yield Err(Abort("mock: connection cut on purpose"));
                }
            }
        }
    }
}

pub(crate) async fn respond(
    reply: Reply,
    conn: Option<Conn>,
    mut shutdown: watch::Receiver<bool>,
) -> Response {
    match reply {
        Reply::Error {
            code,
            retry_after_s,
            retry_after_ms,
            body,
        } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut headers = HeaderMap::new();
            if let Some(seconds) = retry_after_s {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            if let Some(ms) = retry_after_ms {
                headers.insert(
                    HeaderName::from_static("retry-after-ms"),
                    HeaderValue::from(ms),
                );
            }
            (status, headers, Json(body)).into_response()
        }
        Reply::Drop => {
            if let Some(conn) = conn {
                conn.reset.store(true, Ordering::Release);
            }
            // Without a connection handle (a router used without the listener),
            // the closest thing: a body that fails before its first byte.
            let failing = futures_util::stream::once(async {
                Err::<Bytes, _>(Abort("mock: connection dropped on purpose"))
            });
            Response::new(Body::from_stream(failing))
        }
        Reply::Body {
            content_type,
            head_delay,
            steps,
            end,
        } => {
            if !sleep_or_shutdown(head_delay, &mut shutdown).await {
                return control_error(StatusCode::SERVICE_UNAVAILABLE, "mock: shutting down");
            }
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let all_sends = steps.iter().all(|s| matches!(s, Step::Send(_)));
            let body = if end == End::Finish && all_sends {
                // Nothing to wait for: one body with a Content-Length.
                let mut whole = Vec::new();
                for step in &steps {
                    if let Step::Send(bytes) = step {
                        whole.extend_from_slice(bytes);
                    }
                }
                Body::from(whole)
            } else {
                Body::from_stream(body_stream(steps, end, shutdown))
            };
            (StatusCode::OK, headers, body).into_response()
        }
    }
}
