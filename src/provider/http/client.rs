//! The shared `reqwest::Client`, the [`Endpoint`] each backend checks once at build
//! time, and sending: a non-2xx answer becomes [`ProviderError::Http`] before any
//! body is decoded.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::decode::{FrameDecoder, WireParser, decode_body};
use super::errors::{body_error, connect_error, describe, http_error, human_duration};
use crate::provider::ratelimit::RateLimit;
use crate::provider::{ApiKey, BackendSpec, EventStream, ProviderError, StreamEvent};

/// How long connecting (TCP plus TLS) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `User-Agent` baton sends.
pub(crate) const USER_AGENT: &str = concat!("baton/", env!("CARGO_PKG_VERSION"));

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
    pub(crate) client: reqwest::Client,
    /// Without a trailing `/`.
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) model_params: serde_json::Map<String, Value>,
    pub(crate) socket_timeout: Option<Duration>,
    /// The profile's extra headers.
    pub(crate) headers: HeaderMap,
}

impl Endpoint {
    /// Validates the spec's base URL and headers.
    pub(crate) fn new(
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
        // Profiles and `/set modelparam` check too; this catches any other way in.
        crate::provider::params::check_params(&spec.model_params)
            .map_err(|err| ProviderError::Config(format!("profile '{}': {err}", spec.name)))?;
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

    /// `base_url` + `path` (which starts with `/`), see [`join_url`].
    pub(crate) fn url(&self, path: &str) -> String {
        join_url(&self.base_url, path)
    }

    /// A JSON POST to `url` with the profile's extra headers; `auth` adds the key
    /// header(s) first so the profile can still override them.
    pub(crate) fn post(
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

/// Joins a base URL and a path that may carry its own query. The path goes before
/// the base URL's query (`https://x/openai?api-version=1` + `/chat/completions`
/// is `https://x/openai/chat/completions?api-version=1`), and a query parameter
/// the base URL already sets wins over the path's.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    let (base, fragment) = base
        .split_once('#')
        .map_or((base, None), |(b, f)| (b, Some(f)));
    let (base_path, base_query) = base.split_once('?').map_or((base, ""), |(p, q)| (p, q));
    let (path, path_query) = path.split_once('?').map_or((path, ""), |(p, q)| (p, q));
    let name = |pair: &str| pair.split('=').next().unwrap_or("").to_owned();
    let taken: Vec<String> = base_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(name)
        .collect();
    let query: Vec<&str> = base_query
        .split('&')
        .chain(
            path_query
                .split('&')
                .filter(|pair| !taken.contains(&name(pair))),
        )
        .filter(|p| !p.is_empty())
        .collect();
    let mut url = format!("{}{path}", base_path.trim_end_matches('/'));
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

/// `url` with `name=value` added to its query, unless the query already sets `name`.
pub(crate) fn with_query(url: &str, name: &str, value: &str) -> String {
    join_url(url, &format!("?{name}={value}"))
}

/// Checks that a base URL is absolute http(s) and returns it without a trailing `/`.
pub(crate) fn check_base_url(base: &str, profile: &str) -> Result<String, ProviderError> {
    let shown = crate::redact::text(base);
    let url = reqwest::Url::parse(base).map_err(|err| {
        ProviderError::Config(format!(
            "profile '{profile}': base-url '{shown}' is not a valid URL ({err}); \
             expected something like http://127.0.0.1:8080/v1"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ProviderError::Config(format!(
            "profile '{profile}': base-url '{shown}' must start with http:// or https://"
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
        let now = crate::engine::clock::now_ms();
        if let Some(limit) = RateLimit::from_headers(response.headers(), now) {
            yield StreamEvent::RateLimit(limit);
        }
        let body = response.bytes_stream().map(|chunk| chunk.map_err(|err| body_error(&err)));
        let mut events = decode_body(body, socket_timeout, decoder, parser);
        while let Some(event) = events.next().await {
            yield event?;
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

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use crate::provider::ErrorClass;
    use pretty_assertions::assert_eq;

    #[test]
    fn paths_go_before_the_base_query() {
        for (base, path, want) in [
            (
                "http://h/v1",
                "/chat/completions",
                "http://h/v1/chat/completions",
            ),
            (
                "https://x/openai?api-version=1",
                "/chat/completions",
                "https://x/openai/chat/completions?api-version=1",
            ),
            (
                "https://x/openai/?api-version=1&a=b",
                "/d/m/chat/completions?api-version=2024-10-21&alt=sse",
                "https://x/openai/d/m/chat/completions?api-version=1&a=b&alt=sse",
            ),
            (
                "https://x",
                "/m:stream?alt=sse",
                "https://x/m:stream?alt=sse",
            ),
        ] {
            assert_eq!(join_url(base, path), want, "{base} + {path}");
        }
        assert_eq!(
            with_query("https://x/openai/", "api-version", "2"),
            "https://x/openai?api-version=2"
        );
        assert_eq!(
            with_query("https://x/?api-version=1", "api-version", "2"),
            "https://x?api-version=1"
        );
    }

    #[test]
    fn bad_model_params_stop_the_build() {
        let mut model_params = serde_json::Map::new();
        model_params.insert("temperature".into(), serde_json::json!("hot"));
        let spec = BackendSpec {
            name: "p".into(),
            provider: "openai".into(),
            model: "m".into(),
            base_url: None,
            api_key: None,
            model_params,
            socket_timeout: None,
            headers: vec![],
        };
        let client = http_client().unwrap();
        let err = Endpoint::new(&spec, "http://127.0.0.1:1/v1", &client).unwrap_err();
        assert!(
            matches!(err, ProviderError::Config(ref m) if m.contains("'temperature' = \"hot\"")),
            "{err}"
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
        let tls = |reason: &str| reason.starts_with("TLS handshake failed");
        assert!(
            matches!(&err, ProviderError::Connect { reason, .. } if tls(reason)),
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
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 3\r\nx-request-id: req_42\r\ncontent-length: {}\r\n\r\n{body}",
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
                info: Box::new(crate::provider::HttpInfo {
                    code: Some("requests".into()),
                    request_id: Some("req_42".into()),
                    should_retry: None,
                    rate_limit: None,
                }),
            }
        );
        assert_eq!(
            err.to_string(),
            "429 Too Many Requests: Rate limit reached for gpt-4o (request req_42)"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_html_error_page_is_named_not_quoted() {
        let body = "\r\n<html>\r\nupstream down</html>\r\n";
        let raw = format!(
            "HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (base, server) = testing::serve_once(raw.into_bytes()).await;
        let client = http_client().unwrap();
        let err = send(client.post(&base), &base, None).await.unwrap_err();
        assert!(
            matches!(&err, ProviderError::Http { status: 502, message, .. }
                if message == "an HTML page, not an API answer: check base-url"),
            "{err:?}"
        );
        server.await.unwrap();
    }
}
