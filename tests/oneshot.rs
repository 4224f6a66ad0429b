//! End-to-end runs of the real `baton` binary in one-shot mode against the local
//! mock server (real TCP, real SSE). Nothing here reaches the internet.

use baton_mock::{Answer, BackendConfig, Behavior, MockConfig};
use baton_test_support::home::{TempHome, text};
use baton_test_support::mock::{Mock, refused_url};
use baton_test_support::profile;
use predicates::prelude::*;

fn answer(text: &str) -> Behavior {
    Behavior::answer(text)
}

#[test]
fn demo_profile_answers_without_any_key() {
    let home = TempHome::new();
    let out = home.baton().args(["--prompt", "hello"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("You said: \"hello\"."), "{stdout}");
    assert!(
        home.profiles().join("demo.json").exists(),
        "first use writes the demo profiles"
    );
    assert!(
        out.stderr.is_empty(),
        "stderr stays quiet without BATON_DEBUG: {}",
        text(&out.stderr)
    );
}

#[test]
fn profile_load_streams_the_answer_from_an_openai_compatible_server() {
    let mock = Mock::with(&[("a", answer("Streams are relays of tokens."))]);
    let home = TempHome::new();
    home.openai_profile("work", &mock.base_url("a"));
    home.baton()
        .args(["--profile-load", "work", "--prompt", "hi"])
        .assert()
        .success()
        .stdout("Streams are relays of tokens.\n");
    let sent = &mock.server.recorded("a")[0].body;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["messages"][0]["content"], "hi");
}

#[test]
fn piped_text_follows_the_prompt_argument() {
    let mock = Mock::with(&[("a", answer("reviewed"))]);
    let home = TempHome::new();
    home.openai_profile("work", &mock.base_url("a"));
    home.baton()
        .args(["--profile-load", "work", "--prompt", "review this"])
        .write_stdin("-old\n+new\n")
        .assert()
        .success()
        .stdout("reviewed\n");
    assert_eq!(
        mock.server.recorded("a")[0].body["messages"][0]["content"],
        "review this\n\n-old\n+new\n"
    );
}

#[test]
fn the_prompt_can_come_from_stdin() {
    let mock = Mock::with(&[("a", answer("from stdin"))]);
    let home = TempHome::new();
    home.openai_profile("work", &mock.base_url("a"));
    home.baton()
        .args(["--profile-load", "work"])
        .write_stdin("explain this\n")
        .assert()
        .success()
        .stdout("from stdin\n");
    assert_eq!(
        mock.server.recorded("a")[0].body["messages"][0]["content"],
        "explain this\n"
    );
}

#[test]
fn provider_model_and_base_url_work_without_a_profile() {
    let mock = Mock::with(&[("a", answer("direct"))]);
    let home = TempHome::new();
    home.baton()
        .args([
            "--provider",
            "openai",
            "--model",
            "m1",
            "--base-url",
            &mock.base_url("a"),
            "--prompt",
            "hi",
        ])
        .assert()
        .success()
        .stdout("direct\n");
    assert_eq!(mock.server.recorded("a")[0].body["model"], "m1");
}

#[test]
fn anthropic_gemini_and_ollama_profiles_stream_too() {
    let mock = Mock::with(&[("x", answer("four formats"))]);
    let home = TempHome::new();
    let cases = [
        ("anthropic", mock.server.anthropic_base_url("x")),
        ("gemini", mock.server.gemini_base_url("x")),
        ("ollama", mock.server.ollama_base_url("x")),
    ];
    for (provider, url) in cases {
        home.raw_profile(
            provider,
            &format!(r#"{{"version":1,"provider":"{provider}","model":"m","modelParams":{{}},"ephemeralSettings":{{"base-url":"{url}","auth-key-env":"TEST_KEY"}}}}"#),
        );
        let out = home
            .baton()
            .env("TEST_KEY", "k-123")
            .args(["--profile-load", provider, "--prompt", "hi"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{provider}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stdout), "four formats\n", "{provider}");
    }
}

#[test]
fn an_lb_profile_fails_over_on_a_transient_error_and_logs_the_markers() {
    let mock = Mock::with(&[("a", Behavior::status(503)), ("b", answer("from b"))]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.openai_profile("b", &mock.base_url("b"));
    home.write(
        "lb",
        profile::failover(&["a", "b"])
            .settings(&[("failover_retry_count", 2), ("failover_retry_delay_ms", 10)]),
    );
    let out = home
        .baton()
        .env("BATON_DEBUG", "baton:*")
        .args(["--profile-load", "lb", "--prompt", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from b\n");
    let log = text(&out.stderr);
    for line in [
        "[LB:failover] Trying backend: a (attempt 1/2)\n",
        "[LB:failover] Trying backend: a (attempt 2/2)\n",
        "[LB:failover] a failed after 2 attempts: 503 Service Unavailable",
        "[LB:failover] Trying backend: b (attempt 1/2)\n",
        "[LB:failover] Success on backend: b\n",
    ] {
        assert!(log.contains(line), "missing {line:?} in:\n{log}");
    }
    assert_eq!(mock.requests("a"), 2);
}

#[test]
fn every_backend_down_exits_75_naming_each_backend() {
    let mock = Mock::with(&[("a", Behavior::status(503)), ("b", Behavior::status(429))]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.openai_profile("b", &mock.base_url("b"));
    home.write(
        "lb",
        profile::failover(&["a", "b"]).settings(&[("failover_retry_count", 1)]),
    );
    home.baton()
        .args(["--profile-load", "lb", "--prompt", "hi"])
        .assert()
        .code(75)
        .stdout("")
        .stderr(
            predicate::str::contains("a: 503 Service Unavailable")
                .and(predicate::str::contains("b: 429 Too Many Requests")),
        );
}

#[test]
fn unauthorized_exits_1_with_the_status() {
    let mock = Mock::start(MockConfig::default().with_backend(
        "a",
        BackendConfig::new(Behavior::default()).with_key("right"),
    ));
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.baton()
        .env("OPENAI_API_KEY", "wrong")
        .args(["--profile-load", "a", "--prompt", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("401 Unauthorized"));
}

#[test]
fn unknown_profile_lists_what_exists() {
    let home = TempHome::new();
    home.openai_profile("alpha", "http://127.0.0.1:9/v1");
    home.baton()
        .args(["--profile-load", "nope", "--prompt", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope").and(predicate::str::contains("alpha")));
}

#[test]
fn a_missing_key_names_the_variable_to_set() {
    let home = TempHome::new();
    home.raw_profile("oa", r#"{"version":1,"provider":"openai","model":"gpt-4o-mini","modelParams":{},"ephemeralSettings":{}}"#);
    home.baton()
        .args(["--profile-load", "oa", "--prompt", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("OPENAI_API_KEY"));
}

#[test]
fn an_unreachable_base_url_is_a_clear_temporary_failure() {
    let home = TempHome::new();
    home.openai_profile("gone", &refused_url());
    home.raw_profile("gone-lb", r#"{"version":1,"type":"loadbalancer","policy":"failover","profiles":["gone"],"ephemeralSettings":{"failover_retry_count":1}}"#);
    home.baton()
        .args(["--profile-load", "gone-lb", "--prompt", "hi"])
        .assert()
        .code(75)
        .stderr(predicate::str::contains("cannot reach"));
}

#[test]
fn a_malformed_profile_names_file_line_and_column() {
    let home = TempHome::new();
    home.raw_profile(
        "bad",
        "{\n  \"version\": 1,\n  \"provider\": \"openai\"\n  \"model\": \"x\"\n}\n",
    );
    let out = home
        .baton()
        .args(["--profile-load", "bad", "--prompt", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("bad.json:4:"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line, no stack trace: {err}");
}

#[test]
fn an_empty_prompt_is_a_usage_error() {
    let home = TempHome::new();
    home.baton()
        .args(["--prompt", "  "])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("empty"));
    home.baton().write_stdin("").assert().code(2);
}

#[test]
fn a_bad_set_value_is_a_usage_error_in_the_registry_s_words() {
    let home = TempHome::new();
    home.baton()
        .args(["--set", "tpm_threshold=-500", "--prompt", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "tpm_threshold must be a positive integer (got -500)",
        ));
}

#[test]
fn set_overrides_the_profile_s_settings() {
    let mock = Mock::with(&[
        (
            "slow",
            Behavior::Answer(Answer {
                first_chunk_delay_ms: 3_000,
                ..Answer::default()
            }),
        ),
        ("fast", answer("fast one")),
    ]);
    let home = TempHome::new();
    home.openai_profile("slow", &mock.base_url("slow"));
    home.openai_profile("fast", &mock.base_url("fast"));
    home.write(
        "lb",
        profile::failover(&["slow", "fast"]).settings(&[("timeout_ms", 30000)]),
    );
    let out = home
        .baton()
        .env("BATON_DEBUG", "baton:*")
        .args([
            "--profile-load",
            "lb",
            "--set",
            "timeout_ms=200",
            "--prompt",
            "hi",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "fast one\n");
    assert!(
        text(&out.stderr).contains("[LB:timeout] slow: Request exceeded 200ms\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn json_output_is_one_object_with_provenance() {
    let mock = Mock::with(&[("a", answer("json me"))]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    let out = home
        .baton()
        .args([
            "--profile-load",
            "a",
            "--output-format",
            "json",
            "--prompt",
            "hi",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["answer"], "json me");
    assert_eq!(value["backend"], "a");
    assert_eq!(value["model"], "mock-model");
    assert_eq!(value["attempts"], 1);
    assert!(value["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert!(value["latency_ms"].is_u64());
}

#[test]
fn no_stream_asks_for_the_whole_answer() {
    let mock = Mock::with(&[("a", answer("whole answer"))]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.baton()
        .args(["--profile-load", "a", "--no-stream", "--prompt", "hi"])
        .assert()
        .success()
        .stdout("whole answer\n");
    assert_ne!(mock.server.recorded("a")[0].body["stream"], true);
}

#[test]
fn a_cut_stream_is_reported_as_interrupted_and_exits_non_zero() {
    let mock = Mock::with(&[(
        "a",
        Behavior::Cut {
            after_chunks: 2,
            token_delay_ms: 0,
        },
    )]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    home.baton()
        .args(["--profile-load", "a", "--prompt", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("interrupted"));
}

#[test]
fn the_api_key_never_reaches_stdout_stderr_or_debug_logs() {
    let mock = Mock::start(
        MockConfig::default().with_backend("a", BackendConfig::new(Behavior::status(500))),
    );
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    let out = home
        .baton()
        .env("OPENAI_API_KEY", "sk-secret-value-123")
        .env("BATON_DEBUG", "baton:*")
        .args(["--profile-load", "a", "--prompt", "hi"])
        .output()
        .unwrap();
    assert!(!text(&out.stdout).contains("sk-secret"));
    assert!(
        !text(&out.stderr).contains("sk-secret"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        mock.server.recorded("a")[0]
            .headers
            .get("authorization")
            .map(String::as_str),
        Some("***")
    );
}

#[test]
fn version_and_help_work() {
    let home = TempHome::new();
    home.baton()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("baton "));
    home.baton().arg("--help").assert().success().stdout(
        predicate::str::contains("Examples:").and(predicate::str::contains("--profile-load")),
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_130() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mock = Mock::with(&[(
        "a",
        Behavior::Stall {
            after_chunks: 1,
            token_delay_ms: 0,
        },
    )]);
    let home = TempHome::new();
    home.openai_profile("a", &mock.base_url("a"));
    let bin = assert_cmd::cargo::cargo_bin("baton");
    let mut child = Command::new(bin)
        .env("BATON_HOME", home.path())
        .args(["--profile-load", "a", "--prompt", "hi"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first chunk, so the signal lands mid-stream.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_profile_holding_a_raw_key_works_and_warns_without_printing_the_key() {
    let mock = Mock::start(MockConfig::default().with_backend(
        "a",
        BackendConfig::new(answer("keyed")).with_key("sk-raw-42"),
    ));
    let home = TempHome::new();
    home.raw_profile(
        "raw",
        &format!(
            r#"{{"version":1,"provider":"openai","model":"m","ephemeralSettings":{{"base-url":"{}","auth-key":"sk-raw-42"}}}}"#,
            mock.base_url("a")
        ),
    );
    let out = home
        .baton()
        .args(["--profile-load", "raw", "--prompt", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "keyed\n");
    let err = text(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("raw auth-key"),
        "{err}"
    );
    assert!(!err.contains("sk-raw-42"), "{err}");
}
