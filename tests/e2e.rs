//! Runs the interactive end-to-end scripts (`scripts/e2e/run-all.sh`): the real
//! chat driven in tmux (send-keys, capture-pane) against `baton mock`, with the
//! binary cargo just built, so `cargo test` covers them. They need `bash`,
//! `tmux`, `curl` and `python3`; where one is missing the test prints
//! `skipped: TOOL not found` and passes, unless `BATON_REQUIRE_TOOLS=1` (set by
//! `.ci/run`, which installs them). They use only 127.0.0.1; each script runs its
//! own tmux server and mock.

use std::path::Path;
use std::process::Command;

use baton_test_support::tools;

#[test]
fn interactive_e2e_scripts_pass() {
    if !tools::available(&["bash", "tmux", "curl", "python3"]) {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/e2e/run-all.sh");
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
        "e2e scripts failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Show the per-script summary with `cargo test -- --nocapture`.
    println!("{stdout}");
}
