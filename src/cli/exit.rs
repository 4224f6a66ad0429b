//! How baton ends, as a process exit code: one table for every face and subcommand.

use std::process::ExitCode;

use crate::provider::AnswerStatus;

/// The process exit code, by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The answer is complete (or the subcommand succeeded).
    Complete = 0,
    /// Something went wrong (bad profile, auth, an interrupted answer, ...).
    Error = 1,
    /// The command line or the prompt was wrong.
    Usage = 2,
    /// An answer arrived but is not the whole of it: truncated, filtered, refused or
    /// asking for tools. Scripts can tell it from a failure (1) and from success (0).
    Incomplete = 3,
    /// Every backend was temporarily unavailable: retrying later may work.
    Unavailable = 75,
    /// The user pressed Ctrl-C.
    Interrupted = 130,
}

impl Exit {
    /// The code an answer that ended with `status` deserves: 0 only when complete;
    /// an interrupted answer is an error, the other statuses are answers that stop
    /// short.
    pub(crate) fn for_answer(status: AnswerStatus) -> Self {
        match status {
            AnswerStatus::Complete => Self::Complete,
            AnswerStatus::Interrupted => Self::Error,
            AnswerStatus::Truncated
            | AnswerStatus::Filtered
            | AnswerStatus::Refused
            | AnswerStatus::ToolCall => Self::Incomplete,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_complete_answer_exits_zero() {
        assert_eq!(Exit::for_answer(AnswerStatus::Complete) as u8, 0);
        for status in [
            AnswerStatus::Truncated,
            AnswerStatus::Filtered,
            AnswerStatus::Refused,
            AnswerStatus::ToolCall,
        ] {
            assert_eq!(Exit::for_answer(status) as u8, 3, "{status}");
        }
        assert_eq!(Exit::for_answer(AnswerStatus::Interrupted), Exit::Error);
    }
}
