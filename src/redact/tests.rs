use serde_json::json;

use super::*;

fn r(s: &str) -> String {
    text(s).into_owned()
}

#[test]
fn url_userinfo_is_redacted() {
    assert_eq!(
        r("cannot connect to https://user:PASS@example.com/v1: refused"),
        "cannot connect to https://[redacted]@example.com/v1: refused"
    );
    assert_eq!(r("http://tok@h:8080/x"), "http://[redacted]@h:8080/x");
    // An '@' in the path is not userinfo.
    assert_eq!(r("https://h/v1/@me"), "https://h/v1/@me");
    assert_eq!(r("no url here"), "no url here");
}

#[test]
fn key_like_query_parameters_are_redacted() {
    for name in [
        "key",
        "api_key",
        "apikey",
        "api-key",
        "access_token",
        "token",
        "sig",
        "signature",
        "client_secret",
        "X-Amz-Signature",
    ] {
        let got = r(&format!(
            "GET https://h/v1?model=m&{name}=S3CRET&x=1 failed"
        ));
        assert_eq!(
            got,
            format!("GET https://h/v1?model=m&{name}=[redacted]&x=1 failed"),
            "{name}"
        );
    }
    assert_eq!(
        r("https://h/v1?key=abc#frag"),
        "https://h/v1?key=[redacted]#frag"
    );
    // Not credentials.
    assert_eq!(r("max_tokens=100 tokens=5"), "max_tokens=100 tokens=5");
    assert_eq!(r("timeout_ms=30000"), "timeout_ms=30000");
}

#[test]
fn credential_headers_are_redacted_in_text_and_json_forms() {
    assert_eq!(
        r("Authorization: Bearer sk-abc123\nX-Trace: 1"),
        "Authorization: Bearer [redacted]\nX-Trace: 1"
    );
    assert_eq!(r("x-api-key: abc123def"), "x-api-key: [redacted]");
    assert_eq!(
        r(r#"{"error":"bad","headers":{"authorization":"Bearer sk-1","x-goog-api-key":"g-2"}}"#),
        r#"{"error":"bad","headers":{"authorization":"Bearer [redacted]","x-goog-api-key":"[redacted]"}}"#
    );
    assert_eq!(r(r#"{"api-key" : "k-9"}"#), r#"{"api-key" : "[redacted]"}"#);
    // Escaped JSON inside a JSON string (a body quoted in an error message).
    assert_eq!(
        r(r#"body: {\"Authorization\":\"Basic dXNlcjpw\"}"#),
        r#"body: {\"Authorization\":\"Basic [redacted]\"}"#
    );
    // A JSON field that is key-like, quoted.
    assert_eq!(r(r#"{"api_key": "sk-x"}"#), r#"{"api_key": "[redacted]"}"#);
    // A bare `key:` in prose is not a header.
    assert_eq!(r("missing key: add one"), "missing key: add one");
    assert_eq!(r("https://h/v1"), "https://h/v1");
}

#[test]
fn remembered_keys_are_redacted_wherever_they_appear() {
    remember_secret("sk-unit-test-MARKER-0001");
    remember_secret("abc"); // too short to remember
    assert_eq!(
        r("echo: you sent sk-unit-test-MARKER-0001 as your key"),
        "echo: you sent [redacted] as your key"
    );
    assert_eq!(r("abc"), "abc");
}

#[test]
fn redaction_is_idempotent_and_leaves_plain_text_borrowed() {
    let once = r("https://u:p@h/?key=k Authorization: Bearer t");
    assert_eq!(r(&once), once);
    assert!(matches!(text("a plain answer"), Cow::Borrowed(_)));
}

#[test]
fn json_values_are_redacted_by_key_and_by_content() {
    let mut v = json!({
        "detail": "https://u:pw@h/v1 failed",
        "headers": {"Authorization": "Bearer zzz", "X-Trace": "1"},
        "modelParams": {"api_key": "sk-1", "temperature": 0.5},
        "usage": {"total_tokens": 12},
        "list": ["?token=abc"],
        "key": "timeout_ms"
    });
    json(&mut v);
    assert_eq!(
        v,
        json!({
            "detail": "https://[redacted]@h/v1 failed",
            "headers": {"Authorization": "[redacted]", "X-Trace": "1"},
            "modelParams": {"api_key": "[redacted]", "temperature": 0.5},
            "usage": {"total_tokens": 12},
            "list": ["?token=[redacted]"],
            "key": "timeout_ms"
        })
    );
}

#[test]
fn url_credentials_name_what_is_secret() {
    assert_eq!(
        url_credentials("https://u:p@h/v1").as_deref(),
        Some("user:password")
    );
    assert_eq!(
        url_credentials("https://h/v1?key=x").as_deref(),
        Some("key")
    );
    assert_eq!(
        url_credentials("https://h/v1?a=1&api_key=x").as_deref(),
        Some("api_key")
    );
    assert_eq!(url_credentials("https://h/v1?model=m"), None);
    assert_eq!(url_credentials("http://127.0.0.1:8080/v1"), None);
}

#[test]
fn multibyte_text_around_secrets_is_kept() {
    assert_eq!(
        r("é https://ü:p@h/ü?token=ü ✓"),
        "é https://[redacted]@h/ü?token=[redacted] ✓"
    );
}
