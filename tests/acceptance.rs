//! Runs the seed-004 acceptance scripts (`scripts/acceptance/run-all.sh`)
//! against the binary cargo just built, so `cargo test` covers them. They need
//! `bash`, `curl` and `python3` (`.ci/run` installs curl when it is missing) and
//! use only 127.0.0.1: each script starts its own `baton mock` on a free port.

use std::path::Path;
use std::process::Command;

#[test]
fn seed_004_acceptance_scripts_pass() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/acceptance/run-all.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env("BATON_BIN", env!("CARGO_BIN_EXE_baton"))
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
