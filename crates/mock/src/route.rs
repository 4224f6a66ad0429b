//! Routing: which endpoint a path under `/{backend}` names, the key a request
//! presents, and what of a request is redacted before it is recorded.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Method};
use axum::routing::{get, post};

use crate::control::{
    append_script, delete_backend, get_backend, list_backends, put_backend, reset_all,
};
use crate::handler::provider;
use crate::state::Shared;
use crate::wire::Wire;

/// Headers whose values are secrets.
const REDACTED_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "proxy-authorization",
];

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_mock/backends", get(list_backends))
        .route(
            "/_mock/backends/{name}",
            get(get_backend).put(put_backend).delete(delete_backend),
        )
        .route("/_mock/backends/{name}/script", post(append_script))
        .route("/_mock/reset", post(reset_all))
        .fallback(provider)
        .with_state(shared)
}

/// A provider endpoint under `/{backend}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Endpoint {
    Chat {
        wire: Wire,
        /// Gemini names the model in the path.
        model: Option<String>,
        /// Gemini says streaming in the path.
        stream: Option<bool>,
    },
    Models(Wire),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RouteError {
    NotFound,
    Method(Method),
    Bad(Wire, String),
}

pub(crate) fn route(
    method: &Method,
    rest: &[&str],
    query: Option<&str>,
) -> Result<Endpoint, RouteError> {
    let (endpoint, want) = match rest {
        ["v1", "chat", "completions"] => (
            Endpoint::Chat {
                wire: Wire::OpenAi,
                model: None,
                stream: None,
            },
            Method::POST,
        ),
        ["v1", "messages"] => (
            Endpoint::Chat {
                wire: Wire::Anthropic,
                model: None,
                stream: None,
            },
            Method::POST,
        ),
        ["v1", "models"] => (Endpoint::Models(Wire::OpenAi), Method::GET),
        ["v1beta", "models"] => (Endpoint::Models(Wire::Gemini), Method::GET),
        ["v1beta" | "v1", "models", last] => {
            // `{model}:{action}` is one path segment; a client may escape the colon.
            let last = last.replace("%3A", ":").replace("%3a", ":");
            let Some((model, action)) = last.split_once(':') else {
                return Err(RouteError::NotFound);
            };
            let stream = match action {
                "generateContent" => false,
                "streamGenerateContent" if query_value(query, "alt") == Some("sse") => true,
                "streamGenerateContent" => {
                    return Err(RouteError::Bad(
                        Wire::Gemini,
                        "the mock streams Gemini only as SSE: add ?alt=sse".into(),
                    ));
                }
                _ => return Err(RouteError::NotFound),
            };
            (
                Endpoint::Chat {
                    wire: Wire::Gemini,
                    model: Some(model.to_string()),
                    stream: Some(stream),
                },
                Method::POST,
            )
        }
        ["api", "chat"] => (
            Endpoint::Chat {
                wire: Wire::Ollama,
                model: None,
                stream: None,
            },
            Method::POST,
        ),
        ["api", "tags"] => (Endpoint::Models(Wire::Ollama), Method::GET),
        _ => return Err(RouteError::NotFound),
    };
    if *method == want {
        Ok(endpoint)
    } else {
        Err(RouteError::Method(method.clone()))
    }
}

pub(crate) fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The key a request presents, read where each format puts it.
pub(crate) fn presented_key(
    wire: Wire,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    };
    let bearer = header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(|k| k.trim().to_string())
    });
    match wire {
        Wire::OpenAi | Wire::Ollama => bearer,
        Wire::Anthropic => header("x-api-key").or(bearer),
        Wire::Gemini => {
            header("x-goog-api-key").or_else(|| query_value(query, "key").map(str::to_string))
        }
    }
}

pub(crate) fn redacted_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        let value = if REDACTED_HEADERS.contains(&name.as_str()) {
            "***".to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        out.entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

pub(crate) fn redacted_path(path: &str, query: Option<&str>) -> String {
    match query {
        None => path.to_string(),
        Some(query) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("key", _)) => "key=***".to_string(),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use pretty_assertions::assert_eq;

    fn chat(wire: Wire) -> Endpoint {
        Endpoint::Chat {
            wire,
            model: None,
            stream: None,
        }
    }

    #[test]
    fn routes_every_format() {
        let post = Method::POST;
        assert_eq!(
            route(&post, &["v1", "chat", "completions"], None),
            Ok(chat(Wire::OpenAi))
        );
        assert_eq!(
            route(&post, &["v1", "messages"], None),
            Ok(chat(Wire::Anthropic))
        );
        assert_eq!(route(&post, &["api", "chat"], None), Ok(chat(Wire::Ollama)));
        assert_eq!(
            route(
                &post,
                &["v1beta", "models", "gemini-2.5-flash:streamGenerateContent"],
                Some("alt=sse")
            ),
            Ok(Endpoint::Chat {
                wire: Wire::Gemini,
                model: Some("gemini-2.5-flash".into()),
                stream: Some(true)
            })
        );
        assert_eq!(
            route(&post, &["v1beta", "models", "g%3AgenerateContent"], None),
            Ok(Endpoint::Chat {
                wire: Wire::Gemini,
                model: Some("g".into()),
                stream: Some(false)
            })
        );
        assert!(matches!(
            route(
                &post,
                &["v1beta", "models", "g:streamGenerateContent"],
                None
            ),
            Err(RouteError::Bad(Wire::Gemini, _))
        ));
        assert_eq!(
            route(&Method::GET, &["v1", "models"], None),
            Ok(Endpoint::Models(Wire::OpenAi))
        );
        assert_eq!(
            route(&Method::GET, &["v1", "chat", "completions"], None),
            Err(RouteError::Method(Method::GET))
        );
        assert_eq!(route(&post, &["v2", "x"], None), Err(RouteError::NotFound));
    }

    #[test]
    fn keys_are_read_where_each_format_puts_them() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer b"));
        headers.insert("x-api-key", HeaderValue::from_static("a"));
        headers.insert("x-goog-api-key", HeaderValue::from_static("g"));
        assert_eq!(
            presented_key(Wire::OpenAi, &headers, None).as_deref(),
            Some("b")
        );
        assert_eq!(
            presented_key(Wire::Anthropic, &headers, None).as_deref(),
            Some("a")
        );
        assert_eq!(
            presented_key(Wire::Gemini, &headers, None).as_deref(),
            Some("g")
        );
        assert_eq!(
            presented_key(Wire::Gemini, &HeaderMap::new(), Some("alt=sse&key=q")).as_deref(),
            Some("q")
        );
        assert_eq!(presented_key(Wire::Ollama, &HeaderMap::new(), None), None);
    }

    #[test]
    fn secrets_are_redacted() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer sk-1"));
        headers.insert("x-goog-api-key", HeaderValue::from_static("g"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let red = redacted_headers(&headers);
        assert_eq!(red["authorization"], "***");
        assert_eq!(red["x-goog-api-key"], "***");
        assert_eq!(red["content-type"], "application/json");
        assert_eq!(
            redacted_path(
                "/g/v1beta/models/m:generateContent",
                Some("key=secret&alt=sse")
            ),
            "/g/v1beta/models/m:generateContent?key=***&alt=sse"
        );
    }
}
