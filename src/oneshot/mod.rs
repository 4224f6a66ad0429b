//! One-shot mode: answer one prompt on stdout and exit with a code scripts can use.
//!
//! It starts through the same launch path as the chat and reads the same
//! [`EngineEvent`] stream: [`text`] streams the answer as it arrives, [`json`] prints
//! one object at the end.

mod json;
mod text;

use std::io::{self, IsTerminal, Read};

use futures_util::StreamExt;

use crate::archive::{Archive, ArchiveConfig, SessionLog};
use crate::cli::{Exit, OutputFormat, RunArgs};
use crate::engine::{self, BackendFailure, EngineEvent};
use crate::home::Home;
use crate::launch::{self, Launched};
use crate::provider::ChatRequest;

/// Why there is no prompt to send.
#[derive(Debug, thiserror::Error)]
enum PromptError {
    #[error(
        "no prompt: pass --prompt \"...\" or pipe one in, or run `baton` without --prompt for the chat"
    )]
    Missing,
    #[error("the prompt is empty: pass --prompt \"...\" or pipe text in")]
    Empty,
    #[error("cannot read the prompt from stdin: {0}")]
    Stdin(io::Error),
    #[error(
        "the text piped in is larger than {} MiB; send a smaller part (or a file's path and what to do with it)",
        MAX_STDIN_BYTES / (1024 * 1024)
    )]
    TooLarge,
}

/// Most text read from stdin for one prompt.
const MAX_STDIN_BYTES: u64 = 32 * 1024 * 1024;

/// The prompt from `--prompt`, else from stdin when it is not a terminal. With
/// both (`git diff | baton --prompt "review this"`), the piped text follows the
/// prompt after a blank line.
fn read_prompt(arg: Option<String>) -> Result<String, PromptError> {
    let prompt = match arg {
        Some(p) if stdin_holds_data() => {
            let piped = read_stdin()?;
            if piped.trim().is_empty() {
                p
            } else {
                format!("{p}\n\n{piped}")
            }
        }
        Some(p) => p,
        // `baton` opens the chat in this case; only a caller that skips that check
        // (a library user, a test) gets here.
        None if io::stdin().is_terminal() => return Err(PromptError::Missing),
        None => read_stdin()?,
    };
    if prompt.trim().is_empty() {
        return Err(PromptError::Empty);
    }
    Ok(prompt)
}

/// All of stdin, at most [`MAX_STDIN_BYTES`].
fn read_stdin() -> Result<String, PromptError> {
    let mut text = String::new();
    io::stdin()
        .lock()
        .take(MAX_STDIN_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(PromptError::Stdin)?;
    if text.len() as u64 > MAX_STDIN_BYTES {
        return Err(PromptError::TooLarge);
    }
    Ok(text)
}

/// True when stdin is a pipe or a file: something was piped or redirected in.
/// A terminal, `/dev/null` or a closed stdin is not read next to `--prompt`.
#[cfg(unix)]
fn stdin_holds_data() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let stdin = io::stdin();
    let Ok(fd) = stdin.as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_file())
}

#[cfg(not(unix))]
fn stdin_holds_data() -> bool {
    !io::stdin().is_terminal()
}

/// Runs one prompt to completion and returns the exit code.
pub async fn run(args: RunArgs, home: &Home) -> Exit {
    // `@path` in the typed prompt attaches that file (never words in piped text: a
    // diff is full of `@`).
    let typed = match args.prompt.as_deref().map(with_mentioned_files).transpose() {
        Ok(typed) => typed,
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Usage;
        }
    };
    let prompt = match read_prompt(typed) {
        Ok(prompt) => prompt,
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Usage;
        }
    };
    let Launched {
        mut session,
        resumed,
        config,
    } = match launch::session(&args, home) {
        Ok(launched) => launched,
        Err(e) => {
            eprintln!("baton: {e}");
            return e.exit();
        }
    };
    if let Some(r) = resumed.as_ref().filter(|r| r.skipped_lines > 0) {
        eprintln!(
            "baton: session {}: {} unreadable line(s) skipped; resuming from the rest",
            r.id, r.skipped_lines
        );
    }
    let engine = match session.engine() {
        Ok(built) => {
            if let Some(warning) = built.warning {
                tracing::warn!("{warning}");
            }
            built.engine
        }
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Error;
        }
    };
    session.push_user(&prompt);
    let request = ChatRequest {
        messages: session.request_messages(),
        stream: !args.no_stream,
    };
    // The archive lives until this function returns: every way out (answer, error,
    // Ctrl-C) drops it, which flushes.
    let mut archive_config = ArchiveConfig::from_settings(home, session.settings());
    // `archive_oneshot: false` in the config keeps one-shots out of the archive;
    // continuing a stored session (`--resume`) still appends to it.
    archive_config.enabled &= config.archive_oneshot || resumed.is_some();
    let archive = Archive::start(&archive_config);
    let mut log = SessionLog::new(archive.handle(), session.session_id());
    log.started(engine.profile(), resumed.is_some());
    log.user(&prompt);
    let mut out: Box<dyn Output> = match args.output_format {
        OutputFormat::Text => Box::new(text::TextOutput::new(
            io::stdout(),
            io::stderr(),
            args.show_reasoning,
        )),
        OutputFormat::Json => Box::new(json::JsonOutput::new(io::stdout())),
    };
    // JSON output and --no-stream show the answer only once it is complete: held,
    // a stream that breaks midway is rescued by the next attempt or backend.
    let held = args.output_format == OutputFormat::Json || args.no_stream;
    let mut events = if held {
        Box::pin(engine.run_held(request))
            as std::pin::Pin<Box<dyn futures_util::Stream<Item = EngineEvent> + Send>>
    } else {
        Box::pin(engine.run(request))
    };
    let stop = stop_signal();
    tokio::pin!(stop);
    let exit = loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break Exit::Error };
                log.engine_event(&event);
                if matches!(event, EngineEvent::Exhausted { .. }) {
                    out.recovery(engine.earliest_recovery());
                }
                match out.event(&event) {
                    Ok(Some(exit)) => break exit,
                    Ok(None) => {}
                    // The reader went away (`| head`): stop quietly, keeping what
                    // was shown.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        drop(events);
                        log.cancelled("stdout was closed");
                        engine.save_state().await;
                        break Exit::Complete;
                    }
                    Err(e) => {
                        eprintln!("baton: cannot write the answer: {e}");
                        break Exit::Error;
                    }
                }
            }
            signal = &mut stop => {
                // Dropping the stream cancels the request; what was shown is
                // archived as interrupted and the prompt's failures are saved.
                drop(events);
                out.cancelled();
                log.cancelled(&format!("cancelled by {signal}"));
                engine.save_state().await;
                eprintln!("baton: interrupted");
                return Exit::Interrupted;
            }
        }
    };
    if engine.is_persistent() {
        log.stats(engine.profile(), engine.snapshot());
    }
    if args.stats {
        eprint!("\n{}", engine.stats_lb());
    }
    exit
}

/// `prompt` with the files its `@path` words name after it.
fn with_mentioned_files(prompt: &str) -> Result<String, crate::attach::AttachError> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let files = crate::attach::mentioned(prompt, &cwd)?;
    Ok(if files.is_empty() {
        prompt.to_string()
    } else {
        crate::attach::with_files(prompt, &files)
    })
}

/// Waits for Ctrl-C or SIGTERM; names which came.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

/// The cooling-down line of the exhausted error, with how to wait for it here.
fn recovery_line(name: &str, wait: std::time::Duration) -> String {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    format!(
        "{}; --set wait_for_recovery_ms={ms} waits for it",
        engine::recovery_message(name, wait)
    )
}

/// The exit code and message for an exhausted run.
fn exhausted(reasons: &[BackendFailure]) -> (Exit, String) {
    let exit = if engine::retry_later(reasons) {
        Exit::Unavailable
    } else {
        Exit::Error
    };
    (exit, engine::exhausted_message(reasons))
}

/// A consumer of engine events for one-shot mode.
trait Output {
    /// Handles one event; `Some(exit)` ends the run.
    fn event(&mut self, event: &EngineEvent) -> io::Result<Option<Exit>>;
    /// Before an exhausted event: the backend expected back first, and how soon,
    /// when every backend is cooling down.
    fn recovery(&mut self, earliest: Option<(String, std::time::Duration)>);
    /// The run was cancelled with Ctrl-C.
    fn cancelled(&mut self);
}

#[cfg(test)]
mod tests;
