//! Suites that drive external tools (tmux, curl, python3) skip where a tool is
//! missing, unless `BATON_REQUIRE_TOOLS=1` (set by CI, which installs them) makes
//! a missing tool a failure.

use std::path::Path;

/// The environment variable that turns a skip into a failure.
pub const REQUIRE_TOOLS: &str = "BATON_REQUIRE_TOOLS";

/// Whether every tool is on `PATH`. When one is not, prints
/// `skipped: TOOL not found` and returns false, or panics under
/// `BATON_REQUIRE_TOOLS=1`.
pub fn available(tools: &[&str]) -> bool {
    check(tools, std::env::var(REQUIRE_TOOLS).is_ok_and(|v| v == "1"))
}

/// [`available`] with the requirement given rather than read from the environment.
pub fn check(tools: &[&str], required: bool) -> bool {
    let Some(missing) = tools.iter().find(|tool| !on_path(tool)) else {
        return true;
    };
    if required {
        panic!("{missing} not found, and {REQUIRE_TOOLS}=1 forbids skipping");
    }
    println!("skipped: {missing} not found");
    false
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(tool))))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file() || path.with_extension("exe").is_file()
}

/// The `baton-fixture` binary, built for the scripts by the same cargo that runs
/// the test. Cargo gives a test the path of its own package's binaries only, so
/// this asks cargo to build (or just find, when fresh) the fixture writer and
/// reads its path from cargo's JSON messages.
pub fn fixture_binary() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(build_fixture_binary).clone()
}

fn build_fixture_binary() -> std::path::PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = std::process::Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--quiet", "--message-format=json"])
        .args(["-p", "baton-test-support", "--bin", "baton-fixture"])
        .output()
        .expect("cannot run cargo to build baton-fixture");
    assert!(
        output.status.success(),
        "cargo build -p baton-test-support --bin baton-fixture failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|msg| {
            let is_fixture = msg.pointer("/target/name")? == "baton-fixture";
            let exe = msg.get("executable")?.as_str()?;
            is_fixture.then(|| std::path::PathBuf::from(exe))
        })
        .expect("cargo reported no baton-fixture executable")
}
