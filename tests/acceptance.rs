//! Runs the acceptance scripts (`scripts/acceptance/run-all.sh`) against the
//! binary cargo just built, so `cargo test` covers them. They need `bash`,
//! `curl` and `python3`; where one is missing the test prints
//! `skipped: TOOL not found` and passes, unless `BATON_REQUIRE_TOOLS=1` (set by
//! `.ci/run`, which installs them). They use only 127.0.0.1: each script starts
//! its own `baton mock` on a free port.

use std::path::Path;
use std::process::Command;

use baton_test_support::tools;

#[test]
fn acceptance_scripts_pass() {
    if !tools::available(&["bash", "curl", "python3"]) {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/acceptance/run-all.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("BATON_BIN", env!("CARGO_BIN_EXE_baton"))
        .env("BATON_FIXTURE", tools::fixture_binary())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} with bash: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "acceptance scripts failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Show the per-script summary with `cargo test -- --nocapture`.
    println!("{stdout}");
}
