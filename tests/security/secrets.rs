//! No secret reaches the disk: a marker key, password and query key are grepped
//! across every file under the home after a server echoed them all back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use baton::command;
use baton::home::Home as BatonHome;
use baton::profile::{ProfileStore, Resolved};
use baton::session::Session;

use super::{Home, all_files, text};

const KEY: &str = "sk-MARKER-7f3a9c1e5b";
const PASSWORD: &str = "PASSMARKER42";
const QUERY_KEY: &str = "QUERYMARKER9";

/// A server that answers every request `401` with a body echoing the request line
/// and every header, as some proxies do. Returns its port.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push(line.trim_end().to_string());
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let echo = serde_json::json!({
                "error": {"message": format!("bad key; you sent: {}", head.join(" | "))}
            })
            .to_string();
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{echo}",
                echo.len()
            );
        }
    });
    port
}

fn leaks(haystack: &str) -> Vec<&'static str> {
    [KEY, PASSWORD, QUERY_KEY]
        .into_iter()
        .filter(|m| haystack.contains(m))
        .collect()
}

fn run_against_echo(home: &Home) -> std::process::Output {
    run_against_echo_with(home, &[])
}

/// [`run_against_echo`] with extra environment variables.
fn run_against_echo_with(home: &Home, env: &[(&str, &str)]) -> std::process::Output {
    let port = echo_server();
    let url = format!("http://user:{PASSWORD}@127.0.0.1:{port}/v1?api_key={QUERY_KEY}");
    home.write_profile(
        "echo",
        &serde_json::json!({
            "version": 1, "provider": "openai", "model": "m",
            "ephemeralSettings": {"base-url": url, "failover_retry_count": 1}
        })
        .to_string(),
    );
    home.baton()
        .args(["--profile-load", "echo", "--prompt", "hello"])
        .env("OPENAI_API_KEY", KEY)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn item2_an_echoing_server_gets_no_secret_into_any_file_under_the_home() {
    let home = Home::new();
    let out = run_against_echo(&home);
    assert_ne!(out.status.code(), Some(0), "a 401 is an error");
    let files = all_files(&home.path());
    let sessions: Vec<_> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert!(!sessions.is_empty(), "the run was archived: {files:?}");
    let mut archived = String::new();
    // The profile is the test's own file, holding what a user typed.
    let own = home.profiles().join("echo.json");
    for path in files.iter().filter(|p| p.is_file() && **p != own) {
        let content = text(&std::fs::read(path).unwrap());
        assert_eq!(
            leaks(&content),
            Vec::<&str>::new(),
            "{}: {content}",
            path.display()
        );
        archived.push_str(&content);
    }
    // The failure itself is still archived, with the secrets replaced.
    assert!(archived.contains("[redacted]"), "{archived}");
}

#[test]
fn item2_an_echoing_server_gets_no_secret_onto_stdout_or_stderr() {
    let home = Home::new();
    let out = run_against_echo(&home);
    let output = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(leaks(&output), Vec::<&str>::new(), "{output}");
    // The failure is still explained, with the secrets replaced.
    assert!(output.contains("401 Unauthorized"), "{output}");
    assert!(output.contains("[redacted]"), "{output}");
}

#[test]
fn item2_debug_logs_carry_no_secret() {
    let home = Home::new();
    let out = run_against_echo_with(&home, &[("BATON_DEBUG", "baton:*")]);
    let output = text(&out.stdout) + &text(&out.stderr);
    assert!(output.contains("[LB:failover]"), "{output}");
    assert_eq!(leaks(&output), Vec::<&str>::new(), "{output}");
}

fn session_on(home: &std::path::Path) -> Session {
    let store = ProfileStore::new(home.join("profiles"));
    let resolved = Resolved::Model {
        name: "m".into(),
        profile: baton::profile::ModelProfile {
            provider: "openai".into(),
            model: "gpt".into(),
            model_params: serde_json::Map::new(),
            settings: baton::config::Settings::new(),
            pool_name: None,
        },
    };
    Session::new(store, resolved).with_home(BatonHome::at(home))
}

#[test]
fn item2_profile_save_refuses_raw_secrets_and_names_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!("/set base-url https://user:{PASSWORD}@h/v1"),
            "ephemeralSettings.base-url",
        ),
        (
            format!("/set base-url https://h/v1?key={QUERY_KEY}"),
            "ephemeralSettings.base-url",
        ),
        (
            format!("/set modelparam api_key {KEY}"),
            "modelParams.api_key",
        ),
    ];
    for (set, field) in cases {
        let mut s = session_on(tmp.path());
        let out = command::execute(&mut s, &set);
        assert!(!out.is_error, "{set}: {}", out.text);
        let out = command::execute(&mut s, "/profile save model leaky");
        assert!(out.is_error, "{set}: saved: {}", out.text);
        assert!(out.text.contains(field), "{}", out.text);
        assert!(out.text.contains("auth-keyfile"), "{}", out.text);
        assert_eq!(leaks(&out.text), Vec::<&str>::new(), "{}", out.text);
        assert!(!tmp.path().join("profiles/leaky.json").exists());
    }
    // Protected keys and credential headers are left out, and said so.
    let mut s = session_on(tmp.path());
    command::execute(&mut s, &format!("/set auth-key {KEY}"));
    command::execute(
        &mut s,
        &format!(r#"/set custom-headers {{"x-api-key":"{KEY}","X-Team":"a"}}"#),
    );
    let out = command::execute(&mut s, "/profile save model clean");
    assert!(!out.is_error, "{}", out.text);
    assert!(
        out.text
            .contains("Not saved (protected): auth-key, custom-headers.x-api-key"),
        "{}",
        out.text
    );
    let saved = std::fs::read_to_string(tmp.path().join("profiles/clean.json")).unwrap();
    assert_eq!(leaks(&saved), Vec::<&str>::new(), "{saved}");
    assert!(saved.contains("X-Team"), "{saved}");
}
