//! Every provider path, `/{backend}/...`: check the backend and key, record the
//! request, take the backend's next behavior and answer with it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::behavior::{self, ChatCall};
use crate::conn::Conn;
use crate::respond::respond;
use crate::route::{Endpoint, RouteError, presented_key, redacted_headers, redacted_path, route};
use crate::state::{RecordedRequest, Shared};
use crate::wire::Wire;

/// Largest request body read.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

pub(crate) fn json_error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Every provider path: `/{backend}/...`.
pub(crate) async fn provider(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let conn = request
        .extensions()
        .get::<ConnectInfo<Conn>>()
        .map(|c| c.0.clone());
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (backend, rest) = match segments.split_first() {
        Some((backend, rest)) => (backend.to_string(), rest),
        None => (String::new(), &[][..]),
    };

    {
        let backends = shared.lock();
        if !backends.contains_key(&backend) {
            let known: Vec<&str> = backends.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            let message = format!(
                "mock: no backend named {backend:?} (path {path}); known backends: {known}"
            );
            return json_error(
                StatusCode::NOT_FOUND,
                Wire::OpenAi.error_body(404, &message),
            );
        }
    }

    let endpoint = match route(&parts.method, rest, query.as_deref()) {
        Ok(endpoint) => endpoint,
        Err(RouteError::NotFound) => {
            let message = format!("mock: no endpoint {} {path}", parts.method);
            return json_error(
                StatusCode::NOT_FOUND,
                Wire::OpenAi.error_body(404, &message),
            );
        }
        Err(RouteError::Method(method)) => {
            let message = format!("mock: {method} is not allowed on {path}");
            return json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                Wire::OpenAi.error_body(405, &message),
            );
        }
        Err(RouteError::Bad(wire, message)) => {
            return json_error(StatusCode::BAD_REQUEST, wire.error_body(400, &message));
        }
    };

    let wire = match &endpoint {
        Endpoint::Chat { wire, .. } | Endpoint::Models(wire) => *wire,
    };
    let key = presented_key(wire, &parts.headers, query.as_deref());
    let unauthorized = || {
        let message = match wire {
            Wire::Anthropic => "invalid x-api-key".to_string(),
            Wire::OpenAi | Wire::Gemini | Wire::Ollama => {
                format!("mock: invalid API key for backend {backend}")
            }
        };
        json_error(StatusCode::UNAUTHORIZED, wire.error_body(401, &message))
    };

    let (wire, path_model, path_stream) = match endpoint {
        Endpoint::Models(wire) => {
            let key_ok = shared.lock().get(&backend).is_none_or(|state| {
                state.config.require_key.is_none() || state.config.require_key == key
            });
            return if key_ok {
                Json(wire.models(&backend)).into_response()
            } else {
                unauthorized()
            };
        }
        Endpoint::Chat {
            wire,
            model,
            stream,
        } => (wire, model, stream),
    };

    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let message = format!("mock: cannot read the request body: {e}");
            return json_error(StatusCode::BAD_REQUEST, wire.error_body(400, &message));
        }
    };
    let parsed = serde_json::from_slice::<Value>(&bytes);
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;

    // Decide under the lock, act after it: the lock is never held across await.
    let (behavior, key_ok) = {
        let mut backends = shared.lock();
        let Some(state) = backends.get_mut(&backend) else {
            let message = format!("mock: backend {backend:?} was removed");
            return json_error(
                StatusCode::NOT_FOUND,
                Wire::OpenAi.error_body(404, &message),
            );
        };
        state.requests += 1;
        let key_ok = state.config.require_key.is_none() || state.config.require_key == key;
        let behavior = (key_ok && parsed.is_ok()).then(|| state.next_behavior());
        state.record(RecordedRequest {
            seq,
            wire,
            method: parts.method.to_string(),
            path: redacted_path(&path, query.as_deref()),
            headers: redacted_headers(&parts.headers),
            body: match &parsed {
                Ok(value) => value.clone(),
                Err(_) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
            },
            behavior: behavior.clone(),
        });
        (behavior, key_ok)
    };

    if !key_ok {
        return unauthorized();
    }
    let body = match parsed {
        Ok(body) => body,
        Err(e) => {
            let message = format!("mock: request body is not JSON: {e}");
            return json_error(StatusCode::BAD_REQUEST, wire.error_body(400, &message));
        }
    };
    let Some(behavior) = behavior else {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            wire.error_body(500, "mock: no behavior"),
        );
    };

    let stream = path_stream.unwrap_or_else(|| match wire {
        // Ollama streams unless told not to; the others only when asked.
        Wire::Ollama => body.get("stream").and_then(Value::as_bool) != Some(false),
        Wire::OpenAi | Wire::Anthropic | Wire::Gemini => {
            body.get("stream").and_then(Value::as_bool) == Some(true)
        }
    });
    let call = ChatCall {
        wire,
        backend,
        model: path_model
            .or_else(|| {
                body.get("model")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "mock-model".to_string()),
        stream,
        include_usage: body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true),
        prompt_words: behavior::prompt_words(&body),
        seq,
    };
    let reply = behavior::plan(&behavior, &call);
    respond(reply, conn, shared.shutdown.subscribe()).await
}
