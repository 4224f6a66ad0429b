//! One-shot output tells how the answer ended: exit codes, the stderr advice line,
//! the JSON fields, `--show-reasoning`, and `--system`/`--system-file`. The real
//! binary runs against the built-in `sim` backend or the local mock server.

// Test scaffolding: a failure to set up should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use baton_mock::Behavior;
use baton_test_support::home::{TempHome, text};
use baton_test_support::mock::Mock;
use serde_json::Value;

fn sim(home: &TempHome, model: &str, extra: &[&str]) -> std::process::Output {
    home.baton()
        .args(["--provider", "sim", "--model", model, "--prompt", "hi"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_truncated_answer_exits_3_and_says_what_to_do() {
    let home = TempHome::new();
    let out = sim(&home, "sim-truncated", &[]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("You said: \"hi\"."));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "baton: truncated: the answer was cut by the token limit (stop reason: length); \
          raise max_tokens (/set modelparam max_tokens N) or ask for less"
        ],
        "{stderr}"
    );
}

#[test]
fn json_output_carries_status_stop_reason_and_usage() {
    let home = TempHome::new();
    let out = sim(&home, "sim-truncated", &["--output-format", "json"]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "truncated");
    assert_eq!(v["stop_reason"], "length");
    assert_eq!(v["tool_calls"], serde_json::json!([]));
    assert_eq!(v["backend"], "sim");
    for field in [
        "reasoning_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ] {
        assert!(v["usage"][field].is_u64(), "usage.{field}: {v}");
    }
    assert!(v.get("reasoning").is_none(), "{v}");

    let out = sim(&home, "sim-fast", &["--output-format", "json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "complete");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn reasoning_is_on_stderr_only_when_asked_for() {
    let home = TempHome::new();
    let quiet = sim(&home, "sim-think", &[]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
    let answer = text(&quiet.stdout);

    let shown = sim(&home, "sim-think", &["--show-reasoning"]);
    assert_eq!(shown.status.code(), Some(0));
    assert_eq!(text(&shown.stdout), answer, "stdout is the answer alone");
    let stderr = text(&shown.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.first(), Some(&"--- reasoning ---"), "{stderr}");
    assert_eq!(lines.last(), Some(&"--- answer ---"), "{stderr}");
    assert!(lines.len() > 2, "{stderr}");

    let json = sim(&home, "sim-think", &["--output-format", "json"]);
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        v["reasoning"].as_str().is_some_and(|r| !r.is_empty()),
        "{v}"
    );
    assert!(v["usage"]["reasoning_tokens"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn a_missing_system_file_is_a_usage_error_naming_it() {
    let home = TempHome::new();
    let missing = home.path().join("no-such-rules.txt");
    let out = sim(
        &home,
        "sim-fast",
        &["--system-file", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no-such-rules.txt"), "{stderr}");
    assert!(stderr.contains("--system-file"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn system_and_system_file_become_the_system_message() {
    let mock = Mock::with(&[("a", Behavior::answer("ok"))]);
    let home = TempHome::new();
    home.openai_profile("work", &mock.base_url("a"));
    let rules = home.path().join("rules.txt");
    std::fs::write(&rules, "Answer in French.").unwrap();
    home.baton()
        .args(["--profile-load", "work", "--prompt", "hi"])
        .args(["--system-file", rules.to_str().unwrap()])
        .assert()
        .success();
    home.baton()
        .args(["--profile-load", "work", "--prompt", "hi"])
        .args(["--system", "Be brief."])
        .assert()
        .success();
    let sent = mock.server.recorded("a");
    assert_eq!(sent[0].body["messages"][0]["role"], "system");
    assert_eq!(sent[0].body["messages"][0]["content"], "Answer in French.");
    assert_eq!(sent[1].body["messages"][0]["content"], "Be brief.");
    assert_eq!(sent[1].body["messages"][1]["content"], "hi");
}

#[test]
fn sessions_show_marks_a_truncated_answer() {
    let home = TempHome::new();
    let out = sim(&home, "sim-truncated", &[]);
    assert_eq!(out.status.code(), Some(3));
    let dir = home.path().join("sessions");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .expect("one session file")
        .unwrap()
        .path();
    let id = file.file_stem().unwrap().to_str().unwrap().to_string();
    let line = std::fs::read_to_string(&file).unwrap();
    assert!(line.contains(r#""status":"truncated""#), "{line}");
    let shown = home
        .baton()
        .args(["sessions", "show", &id])
        .output()
        .unwrap();
    let shown = text(&shown.stdout);
    assert!(
        shown.contains("## Assistant, truncated (stop reason: length)"),
        "{shown}"
    );
}

fn cut_then_healthy(extra: &[&str]) -> (std::process::Output, Mock) {
    let mock = Mock::with(&[
        (
            "cut",
            Behavior::Cut {
                after_chunks: 2,
                token_delay_ms: 0,
            },
        ),
        ("ok", Behavior::answer("the whole answer")),
    ]);
    let home = TempHome::new();
    home.openai_profile("cut", &mock.base_url("cut"));
    home.openai_profile("ok", &mock.base_url("ok"));
    home.raw_profile(
        "lb",
        r#"{"version":1,"type":"loadbalancer","policy":"failover","profiles":["cut","ok"],
           "ephemeralSettings":{"failover_retry_count":1}}"#,
    );
    let out = home
        .baton()
        .args(["--profile-load", "lb", "--prompt", "hi"])
        .args(extra)
        .env("BATON_DEBUG", "baton:*")
        .output()
        .unwrap();
    (out, mock)
}

#[test]
fn json_output_rescues_a_stream_cut_midway_with_the_next_backend() {
    let (out, mock) = cut_then_healthy(&["--output-format", "json"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // One answer, from the healthy backend alone: nothing of the cut one.
    assert_eq!(v["answer"], "the whole answer");
    assert_eq!(v["status"], "complete");
    assert_eq!(v["backend"], "ok");
    assert_eq!(v["failovers"], 1);
    assert!(
        stderr.contains("[LB:rescue] cut broke mid-answer before anything was shown"),
        "{stderr}"
    );
    assert_eq!(mock.requests("cut"), 1);
    assert_eq!(mock.requests("ok"), 1);
}

#[test]
fn text_output_keeps_a_stream_cut_midway_as_interrupted() {
    // Text shown on stdout is committed: the rule for a terminal stays.
    let (out, mock) = cut_then_healthy(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(mock.requests("ok"), 0);
}

#[test]
fn when_every_backend_cools_down_the_exhausted_error_says_when_to_come_back() {
    let home = TempHome::new();
    home.raw_profile(
        "down",
        r#"{"version":1,"provider":"sim","model":"sim-down","modelParams":{}}"#,
    );
    home.raw_profile(
        "lb",
        r#"{"version":1,"type":"loadbalancer","policy":"failover","profiles":["down"],
           "ephemeralSettings":{"failover_retry_count":1,"circuit_breaker_failure_threshold":1,
                                "circuit_breaker_recovery_timeout_ms":600000}}"#,
    );
    let run = |extra: &[&str]| {
        home.baton()
            .args(["--profile-load", "lb", "--prompt", "hi"])
            .args(extra)
            .output()
            .unwrap()
    };
    // The first run's failure opens the breaker, so it already knows when to come
    // back; the second is refused by the open breaker and says the same.
    let first = run(&["--output-format", "json"]);
    assert_eq!(first.status.code(), Some(75));
    let v: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert!(
        v["retry_after_ms"].as_u64().is_some_and(|ms| ms > 590_000),
        "{v}"
    );

    let second = run(&["--output-format", "json"]);
    assert_eq!(second.status.code(), Some(75));
    let v: Value = serde_json::from_slice(&second.stdout).unwrap();
    let wait = v["retry_after_ms"].as_u64().unwrap();
    assert!((590_000..=600_000).contains(&wait), "{v}");
    assert_eq!(v["next_backend"], "down");

    let third = run(&[]);
    let stderr = text(&third.stderr);
    assert!(
        stderr.contains("every backend is cooling down; down is expected back in 10 min (at "),
        "{stderr}"
    );
    assert!(stderr.contains("--set wait_for_recovery_ms="), "{stderr}");
}

#[test]
fn a_role_brings_its_system_prompt_and_settings_and_flags_win() {
    let mock = Mock::with(&[("a", Behavior::answer("ok"))]);
    let home = TempHome::new();
    home.openai_profile("work", &mock.base_url("a"));
    let roles = home.path().join("roles");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(
        roles.join("reviewer.md"),
        "---\ntimeout_ms: 45000\n---\nYou review Rust code.\n",
    )
    .unwrap();
    let json = |extra: &[&str]| {
        let out = home
            .baton()
            .args([
                "--profile-load",
                "work",
                "--prompt",
                "hi",
                "--role",
                "reviewer",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    };
    json(&[]);
    json(&["--system", "Be brief."]);
    let sent = mock.server.recorded("a");
    assert_eq!(
        sent[0].body["messages"][0]["content"],
        "You review Rust code."
    );
    assert_eq!(sent[1].body["messages"][0]["content"], "Be brief.");

    // An unknown role is a usage error that lists the known ones.
    let out = home
        .baton()
        .args(["--profile-load", "work", "--prompt", "hi", "--role", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no role 'nope'") && stderr.contains("known roles: reviewer"),
        "{stderr}"
    );
}

#[test]
fn at_path_in_the_prompt_attaches_the_file_and_a_binary_one_is_refused() {
    let mock = Mock::with(&[("a", Behavior::answer("ok"))]);
    let home = TempHome::new();
    home.openai_profile("work", &mock.base_url("a"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "line one\nline two\n").unwrap();
    std::fs::write(dir.path().join("blob.bin"), [0u8, 159, 146, 150]).unwrap();
    home.baton()
        .current_dir(dir.path())
        .args([
            "--profile-load",
            "work",
            "--prompt",
            "summarise @notes.txt, thanks @bob",
        ])
        .assert()
        .success();
    let sent = mock.server.recorded("a");
    assert_eq!(
        sent[0].body["messages"][0]["content"],
        "summarise @notes.txt, thanks @bob\n\nnotes.txt:\n```txt\nline one\nline two\n```"
    );
    let out = home
        .baton()
        .current_dir(dir.path())
        .args(["--profile-load", "work", "--prompt", "what is @blob.bin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "baton: cannot attach blob.bin: it is not a text file (binary data or not UTF-8)"
    );
    assert_eq!(mock.requests("a"), 1, "nothing was sent");
}
