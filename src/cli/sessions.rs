//! `baton sessions ...`: thin commands over the archive's stored sessions.

use crate::archive::{self, ExportFormat};
use crate::cli::Exit;
use crate::home::Home;

use super::SessionsCommand;

/// Runs a `sessions` subcommand.
pub fn run(command: SessionsCommand, home: &Home) -> Exit {
    let result = match command {
        SessionsCommand::List => list(home),
        SessionsCommand::Show { id } => print(home, &id, ExportFormat::Markdown),
        SessionsCommand::Export { id, format } => print(home, &id, format),
        SessionsCommand::Delete { id } => archive::delete(home, &id).map(|path| {
            println!("deleted {}", path.display());
        }),
    };
    match result {
        Ok(()) => Exit::Complete,
        Err(e) => {
            eprintln!("baton: {e}");
            Exit::Error
        }
    }
}

fn list(home: &Home) -> archive::Result<()> {
    let sessions = archive::list(home)?;
    if sessions.is_empty() {
        println!("no sessions in {}", home.sessions_dir().display());
        return Ok(());
    }
    println!("{}", archive::sessions::format_list(&sessions));
    Ok(())
}

fn print(home: &Home, id: &str, format: ExportFormat) -> archive::Result<()> {
    let transcript = archive::read(home, id)?;
    if transcript.skipped_lines > 0 {
        eprintln!(
            "baton: {} line(s) of {} could not be read and were skipped",
            transcript.skipped_lines,
            transcript.path.display()
        );
    }
    print!("{}", archive::export(&transcript, format));
    Ok(())
}
