//! `baton profiles ...` and `baton settings` run as a user would.

use baton_test_support::home::{TempHome, text};
use baton_test_support::profile;
use predicates::prelude::*;

#[test]
fn list_shows_kind_and_details_and_first_use_writes_the_demo() {
    let home = TempHome::new();
    let out = home.baton().args(["profiles", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    assert!(listing.contains("demo "), "{listing}");
    assert!(
        listing.contains("loadbalancer  failover: demo-down, demo-flaky, demo-fast"),
        "{listing}"
    );
    assert!(listing.contains("sim / sim-fast"), "{listing}");
}

#[test]
fn show_prints_the_profile_json() {
    let home = TempHome::new();
    home.openai_profile("a", "http://127.0.0.1:1/v1");
    let out = home
        .baton()
        .args(["profiles", "show", "a"])
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["provider"], "openai");
    assert_eq!(
        value["ephemeralSettings"]["base-url"],
        "http://127.0.0.1:1/v1"
    );
}

#[test]
fn validate_reports_each_profile_and_fails_on_a_bad_one() {
    let home = TempHome::new();
    home.openai_profile("good", "http://127.0.0.1:1/v1");
    home.raw_profile(
        "badpolicy",
        r#"{"version":1,"type":"loadbalancer","policy":"fastest","profiles":["good"]}"#,
    );
    let out = home
        .baton()
        .args(["profiles", "validate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(report.contains("ok       good"), "{report}");
    assert!(
        report.contains("invalid  badpolicy") && report.contains("fastest"),
        "{report}"
    );
    home.baton()
        .args(["profiles", "validate", "good"])
        .assert()
        .success();
}

#[test]
fn validate_catches_a_cycle_through_nested_lb_profiles() {
    let home = TempHome::new();
    home.write("x", profile::failover(&["y"]));
    home.write("y", profile::failover(&["x"]));
    home.baton()
        .args(["profiles", "validate", "x"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("x -> y -> x"));
}

#[test]
fn the_seed_testlb489_profile_loads_as_written() {
    let home = TempHome::new();
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/profiles/testlb489.json"
    ))
    .unwrap();
    home.raw_profile("testlb489", &seed);
    for member in ["synthetic", "chutes", "groqgpt"] {
        home.openai_profile(member, "http://127.0.0.1:1/v1");
    }
    home.baton()
        .args(["profiles", "validate", "testlb489"])
        .assert()
        .success();
}

#[test]
fn schema_is_the_committed_json_schema() {
    let home = TempHome::new();
    let out = home.baton().args(["profiles", "schema"]).output().unwrap();
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/profile.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(printed, committed);
}

#[test]
fn import_llxprt_copies_profiles_and_strips_raw_keys() {
    let home = TempHome::new();
    let llxprt = tempfile::tempdir().unwrap();
    std::fs::write(
        llxprt.path().join("old.json"),
        r#"{"version":1,"provider":"openai","model":"gpt-4o","modelParams":{},"ephemeralSettings":{"auth-key":"sk-raw-999","base-url":"https://api.openai.com/v1"}}"#,
    )
    .unwrap();
    home.baton()
        .args(["profiles", "import-llxprt"])
        .arg(llxprt.path())
        .assert()
        .success();
    let saved = std::fs::read_to_string(home.profiles().join("old.json")).unwrap();
    assert!(saved.contains("gpt-4o"));
    assert!(
        !saved.contains("sk-raw-999"),
        "raw keys are never written: {saved}"
    );
}

#[test]
fn settings_lists_the_registry() {
    let home = TempHome::new();
    home.baton().arg("settings").assert().success().stdout(
        predicate::str::contains("timeout_ms")
            .and(predicate::str::contains("circuit_breaker_enabled")),
    );
}

#[test]
fn state_show_and_reset_work_on_what_one_shot_runs_saved() {
    let home = TempHome::new();
    home.baton().args(["--prompt", "hi"]).assert().success();
    assert!(
        home.path().join("state/demo.json").exists(),
        "an LB run saves its state"
    );
    home.baton()
        .args(["state", "show"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Profile: demo")
                .and(predicate::str::contains("Circuit Breaker States:")),
        );
    home.baton()
        .args(["state", "reset", "demo"])
        .assert()
        .success()
        .stdout("reset demo\n");
    assert!(!home.path().join("state/demo.json").exists());
    home.baton()
        .args(["state", "show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no saved state"));
}

#[test]
fn a_single_model_profile_keeps_no_state() {
    let home = TempHome::new();
    home.baton()
        .args(["--provider", "sim", "--prompt", "hi"])
        .assert()
        .success();
    assert!(!home.path().join("state").exists());
}
