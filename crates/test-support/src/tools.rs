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
    let Some(missing) = tools.iter().find(|tool| !on_path(tool)) else {
        return true;
    };
    if std::env::var(REQUIRE_TOOLS).is_ok_and(|v| v == "1") {
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
