//! One breaker across processes: parallel one-shots each add their outcome to the
//! shared state file (read-modify-write under a lock), exactly one of them sends a
//! half-open probe, and round-robin rotates across consecutive runs. Real child
//! processes against the mock server.

// Test scaffolding: a failure to set up should panic loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Stdio};
use std::time::Duration;

use baton_mock::Behavior;
use baton_test_support::home::{TempHome, text};
use baton_test_support::mock::Mock;
use serde_json::Value;

const PARALLEL: usize = 20;

fn lb_home(mock: &Mock, members: &[&str], policy: &str, settings: &str) -> TempHome {
    let home = TempHome::new();
    for name in members {
        home.openai_profile(name, &mock.base_url(name));
    }
    let list: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
    home.raw_profile(
        "lb",
        &format!(
            r#"{{"version":1,"type":"loadbalancer","policy":"{policy}","profiles":[{}],
               "ephemeralSettings":{{{settings}}}}}"#,
            list.join(",")
        ),
    );
    home
}

fn spawn(home: &TempHome) -> Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("BATON_DEBUG")
        .env("BATON_HOME", home.path())
        .args(["--profile-load", "lb", "--prompt", "hi"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn state(home: &TempHome) -> Value {
    let text = std::fs::read_to_string(home.path().join("state/lb.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn run_parallel(home: &TempHome) {
    let children: Vec<Child> = (0..PARALLEL).map(|_| spawn(home)).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

#[test]
fn parallel_runs_each_record_their_failures() {
    let mock = Mock::with(&[
        ("bad", Behavior::status(503)),
        ("good", Behavior::answer("fine")),
    ]);
    // No breaker: every run tries bad twice, then good.
    let home = lb_home(
        &mock,
        &["bad", "good"],
        "failover",
        r#""failover_retry_count":2,"failover_retry_delay_ms":0,"circuit_breaker_enabled":false"#,
    );
    run_parallel(&home);
    assert_eq!(mock.requests("bad"), 2 * PARALLEL);
    let s = state(&home);
    let bad = &s["backends"]["bad"]["metrics"];
    let good = &s["backends"]["good"]["metrics"];
    // Every process's outcome is on disk, not only the last writer's.
    assert_eq!(bad["requests"], 2 * PARALLEL as u64, "{s}");
    assert_eq!(bad["failures"], 2 * PARALLEL as u64, "{s}");
    assert_eq!(good["successes"], PARALLEL as u64, "{s}");
}

#[test]
fn after_the_recovery_window_exactly_one_process_probes_and_with_one_request() {
    let mock = Mock::with(&[
        ("bad", Behavior::status(503)),
        ("good", Behavior::answer("fine")),
    ]);
    let home = lb_home(
        &mock,
        &["bad", "good"],
        "failover",
        r#""failover_retry_count":2,"failover_retry_delay_ms":0,
           "circuit_breaker_failure_threshold":1,"circuit_breaker_recovery_timeout_ms":1500"#,
    );
    // One run opens the breaker.
    let out = spawn(&home).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(mock.requests("bad"), 2);
    assert_eq!(state(&home)["backends"]["bad"]["breaker"]["state"], "open");
    std::thread::sleep(Duration::from_millis(1600));
    run_parallel(&home);
    // Twenty runs, one probe, and the probe is a single request (no retry budget).
    assert_eq!(mock.requests("bad"), 3);
    assert_eq!(mock.requests("good"), 1 + PARALLEL);
    let s = state(&home);
    assert_eq!(s["backends"]["bad"]["breaker"]["state"], "open", "{s}");
    assert_eq!(
        s["backends"]["bad"]["breaker"]["probe_in_flight"], false,
        "{s}"
    );
}

#[test]
fn round_robin_rotates_across_consecutive_runs() {
    let mock = Mock::with(&[("a", Behavior::answer("A")), ("b", Behavior::answer("B"))]);
    let home = lb_home(&mock, &["a", "b"], "roundrobin", "");
    let answers: Vec<String> = (0..4)
        .map(|_| {
            text(&spawn(&home).wait_with_output().unwrap().stdout)
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(answers, ["A", "B", "A", "B"]);
}
