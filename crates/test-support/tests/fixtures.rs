//! The fixtures read back as baton reads them.

use std::process::Command;

use baton::profile::{Policy, Profile, ProfileStore};
use baton_test_support::{profile, tools};

#[test]
fn builders_write_what_the_store_loads() {
    let dir = tempfile::tempdir().unwrap();
    profile::write(dir.path(), "a", profile::openai("http://127.0.0.1:1/v1"));
    profile::write(
        dir.path(),
        "lb",
        profile::failover(&["a"]).settings(&[("timeout_ms", 1000)]),
    );
    let store = ProfileStore::new(dir.path().to_path_buf());
    let Profile::LoadBalancer(lb) = store.load("lb").unwrap().profile else {
        panic!("lb is not a load balancer");
    };
    assert_eq!(lb.policy, Policy::Failover);
    assert_eq!(lb.profiles, ["a"]);
    assert_eq!(lb.settings.get_u64("timeout_ms"), Some(1000));
    assert!(store.resolve("lb").is_ok());
}

#[test]
fn the_fixture_binary_writes_profiles_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_baton-fixture"))
            .args(args)
            .args(["--dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run(&["profile", "m", "--base-url", "http://127.0.0.1:1/v1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "lb",
        "lb",
        "--policy",
        "failover",
        "m",
        "--set",
        "timeout_ms=1000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = ProfileStore::new(dir.path().to_path_buf());
    let Profile::Model(m) = store.load("m").unwrap().profile else {
        panic!("m is not a model profile");
    };
    assert_eq!(
        m.settings.get_str("base-url"),
        Some("http://127.0.0.1:1/v1")
    );
    assert!(store.resolve("lb").is_ok());
    // A setting the registry refuses is a usage error.
    let out = run(&["lb", "bad", "m", "--set", "no_such_setting=1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_tool_is_a_skip_unless_required() {
    assert!(!tools::check(&["baton-no-such-tool"], false));
    assert!(std::panic::catch_unwind(|| tools::check(&["baton-no-such-tool"], true)).is_err());
    assert!(tools::check(&["sh"], true));
}
