//! How baton ends, as a process exit code: one table for every face and subcommand.

use std::process::ExitCode;

/// The process exit code, by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The answer is complete (or the subcommand succeeded).
    Complete = 0,
    /// Something went wrong (bad profile, auth, an interrupted answer, ...).
    Error = 1,
    /// The command line or the prompt was wrong.
    Usage = 2,
    /// Every backend was temporarily unavailable: retrying later may work.
    Unavailable = 75,
    /// The user pressed Ctrl-C.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}
