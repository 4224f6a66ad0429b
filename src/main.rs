//! The `baton` binary: parse the command line, set up diagnostics, hand over.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use baton::cli::Exit;
use baton::cli::{Cli, Command};
use baton::home::Home;
use baton::oneshot;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // No prompt and a terminal on stdin: the chat, which logs to a file instead
    // of writing over its own screen.
    let interactive =
        cli.command.is_none() && cli.run.prompt.is_none() && std::io::stdin().is_terminal();
    // `baton > file` without a prompt: the chat would draw into the file and wait for
    // keys nobody sees.
    if interactive && !std::io::stdout().is_terminal() {
        eprintln!(
            "baton: the chat needs a terminal on stdout; for an answer in a file, give the \
             prompt: baton --prompt \"...\" > FILE (or pipe it in)"
        );
        return Exit::Usage.into();
    }
    if !interactive {
        baton::logging::init_stderr();
    }
    let home = match Home::from_env() {
        Ok(home) => home,
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Error.into();
        }
    };
    match cli.command {
        Some(Command::Profiles(cmd)) => baton::cli::profiles::run(cmd, &home).into(),
        Some(Command::Sessions(cmd)) => baton::cli::sessions::run(cmd, &home).into(),
        Some(Command::Settings) => baton::cli::profiles::print_settings().into(),
        Some(Command::Config(cmd)) => baton::cli::config::run(cmd, &home).into(),
        Some(Command::State(cmd)) => baton::cli::state::run(cmd, &home).into(),
        Some(Command::Completions { shell }) => baton::cli::completions::run(shell, &home).into(),
        #[cfg(feature = "serve")]
        Some(Command::Serve(args)) => baton::serve::main(args, &home).into(),
        #[cfg(feature = "mock")]
        Some(Command::Mock(args)) => match runtime() {
            Ok(rt) => rt.block_on(baton::cli::mock::run(args)).into(),
            Err(exit) => exit.into(),
        },
        None if interactive => match runtime() {
            Ok(rt) => rt.block_on(baton::tui::run(cli.run, &home)).into(),
            Err(exit) => exit.into(),
        },
        None => match runtime() {
            Ok(rt) => rt.block_on(oneshot::run(cli.run, &home)).into(),
            Err(exit) => exit.into(),
        },
    }
}

/// A single-threaded runtime: one prompt (or one mock server) at a time starts
/// faster and uses less memory than a pool of workers.
fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("baton: cannot start the async runtime: {e}");
            Exit::Error
        })
}
