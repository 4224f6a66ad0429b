//! Redaction: the one place that takes secrets out of text before it is shown or
//! stored.
//!
//! Every string that can reach a session file, a spill file, a log line, stderr,
//! state, stats or JSON output is meant to pass through [`text`] (or [`json`] for a
//! JSON value). It replaces with [`MARKER`]:
//! 1. every occurrence of a key baton knows is in use ([`remember_secret`]), wherever
//!    it appears: a server that echoes the request's headers in its error body
//!    cannot get the key stored;
//! 2. the userinfo of a URL (`https://user:PASS@host` → `https://[redacted]@host`);
//! 3. the value of a key-like parameter (`?api_key=`, `&key=`, `token=`, `sig=`, ...,
//!    see [`is_key_like`]), inside a URL or not;
//! 4. the value of a credential header, in `Name: value` or JSON `"name": "value"`
//!    form (`Authorization`, `Proxy-Authorization`, `x-api-key`, `api-key`,
//!    `x-goog-api-key`), keeping an auth scheme word (`Bearer [redacted]`).
//!
//! Why both known values and patterns: patterns catch keys baton never saw (a key
//! in someone else's URL), known values catch a key in any shape a server chooses
//! to echo it in.

use std::borrow::Cow;
use std::sync::{PoisonError, RwLock};

use serde_json::Value;

/// What a secret is replaced with.
pub(crate) const MARKER: &str = "[redacted]";

/// Shorter values are not remembered: replacing every `abc` in a transcript would
/// mangle it and protect nothing.
const MIN_SECRET_LEN: usize = 6;

/// Headers whose value is a credential.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
];

/// Auth scheme words kept in front of a redacted header value.
const SCHEMES: &[&str] = &["Bearer ", "Basic ", "Token ", "Key "];

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a key in use, so [`text`] replaces it wherever it appears. Blank and
/// very short values are ignored. Call it wherever a key is read (a key file, an
/// environment variable, `auth-key`).
pub(crate) fn remember_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN || secret == MARKER {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
        // Longest first, so a key that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every secret replaced by [`MARKER`] (see the module docs).
pub(crate) fn text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let secrets = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MARKER));
            }
        }
    }
    if out.contains("://") {
        out = Cow::Owned(url_userinfo(&out));
    }
    if out.contains('=') || out.contains(':') {
        out = Cow::Owned(assignments(&out));
    }
    out
}

/// Redacts every string in `value` with [`text`]; the string value of an object key
/// that names a credential (a secret header or a key-like name other than plain
/// `key`) becomes [`MARKER`] whatever it holds.
pub(crate) fn json(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(redacted) = text(s) {
                *s = redacted;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(s) if is_secret_field(key) && !s.is_empty() => {
                        *s = MARKER.to_string();
                    }
                    _ => json(v),
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// True for a parameter or field name that holds a credential: `key`, `api_key`,
/// `apikey`, `access_token`, `token`, `sig`, `signature`, `password`, `secret`,
/// and names ending in `_key`, `_token`, `_secret` or `password` (compared without
/// regard to case, `-` read as `_`). `max_tokens` and `total_tokens` are not.
pub(crate) fn is_key_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    const EXACT: &[&str] = &[
        "key",
        "apikey",
        "api_key",
        "access_token",
        "token",
        "sig",
        "signature",
        "secret",
        "password",
        "passwd",
        "auth",
        "code_verifier",
        "client_secret",
        "x_amz_signature",
        "x_amz_security_token",
        "x_goog_signature",
    ];
    EXACT.contains(&name.as_str())
        || ["_key", "_token", "_secret", "password", "apikey"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// True for a header name whose value is a credential.
pub(crate) fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// A JSON field whose string value is a credential. A field named just `key` is
/// not one here: records and settings use it for names (`"key": "timeout_ms"`).
fn is_secret_field(name: &str) -> bool {
    is_secret_header(name) || (is_key_like(name) && !name.eq_ignore_ascii_case("key"))
}

/// What in `url` is a credential, for refusing to save it: `"user:password"` for
/// userinfo, or the first key-like query parameter's name.
pub(crate) fn url_credentials(url: &str) -> Option<String> {
    let after_scheme = url.find("://").map(|i| i + 3)?;
    let rest = &url[after_scheme..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if rest[..authority_end].contains('@') {
        return Some("user:password".into());
    }
    let query = rest.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k).or(Some(pair)))
        .find(|k| is_key_like(k))
        .map(str::to_string)
}

/// Ends a URL's authority (and a bare value) in free text.
fn ends_authority(b: u8) -> bool {
    b.is_ascii_whitespace() || b"/?#\"'<>\\)]}`".contains(&b)
}

/// `scheme://user:pass@host` → `scheme://[redacted]@host`.
fn url_userinfo(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let start = search + found + 3;
        let end = bytes[start..]
            .iter()
            .position(|b| ends_authority(*b))
            .map_or(bytes.len(), |p| start + p);
        if let Some(at) = text[start..end].rfind('@') {
            let at = start + at;
            if at > start && &text[start..at] != MARKER {
                out.push_str(&text[copied..start]);
                out.push_str(MARKER);
                copied = at;
            }
        }
        search = end.max(start);
    }
    out.push_str(&text[copied..]);
    out
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// Where a value that starts at `from` ends: at its closing quote when it is
/// quoted, else at a delimiter (`until_line` for a header's unquoted value, which
/// may hold a space after its scheme word). Returns (value start, value end).
fn value_span(text: &str, from: usize, until_line: bool) -> (usize, usize) {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
        i += 1;
    }
    let quote: Option<&str> = match (bytes.get(i), bytes.get(i + 1)) {
        (Some(b'\\'), Some(b'"')) => Some("\\\""),
        (Some(b'"'), _) => Some("\""),
        (Some(b'\''), _) => Some("'"),
        _ => None,
    };
    if let Some(q) = quote {
        let start = i + q.len();
        let mut j = start;
        while j < bytes.len() {
            if text[j..].starts_with(q) && (q != "\"" || j == start || bytes[j - 1] != b'\\') {
                return (start, j);
            }
            j += 1;
        }
        return (start, bytes.len());
    }
    let end = bytes[i..]
        .iter()
        .position(|b| {
            if until_line {
                b"\r\n,;\"'}]".contains(b)
            } else {
                b.is_ascii_whitespace() || b"&#\"'<>,;)}]".contains(b)
            }
        })
        .map_or(bytes.len(), |p| i + p);
    (i, end)
}

/// `name=value` with a key-like name, `Header: value` with a credential header,
/// and `"name": "value"` with either: the value becomes [`MARKER`].
fn assignments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let sep = bytes[i];
        if sep != b'=' && sep != b':' {
            i += 1;
            continue;
        }
        // Walk back over blanks, a closing quote (possibly escaped) and the name.
        let mut k = i;
        while k > 0 && bytes[k - 1] == b' ' {
            k -= 1;
        }
        let quoted = k > 0 && (bytes[k - 1] == b'"' || bytes[k - 1] == b'\'');
        if quoted {
            k -= 1;
            if k > 0 && bytes[k - 1] == b'\\' {
                k -= 1;
            }
        }
        let name_end = k;
        while k > 0 && is_name_byte(bytes[k - 1]) {
            k -= 1;
        }
        let name = &text[k..name_end];
        let secret = !name.is_empty()
            && if sep == b'=' {
                is_key_like(name)
            } else {
                // `Authorization: x` bare, or any credential field as a JSON key.
                is_secret_header(name) || (quoted && is_key_like(name))
            };
        // `https://` and the like: a ':' followed by "//" is a scheme, not a value.
        if !secret || text[i + 1..].starts_with("//") {
            i += 1;
            continue;
        }
        let header_line = sep == b':' && !quoted;
        let (mut start, end) = value_span(text, i + 1, header_line);
        if let Some(scheme) = SCHEMES.iter().find(|s| text[start..end].starts_with(*s)) {
            start += scheme.len();
        }
        let value = text[start..end].trim();
        let done = text[start..].trim_start().starts_with(MARKER);
        if !value.is_empty() && !done {
            out.push_str(&text[copied..start]);
            out.push_str(MARKER);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests;
