//! `baton sessions ...`: thin commands over the archive's stored sessions.

use crate::archive::{self, ExportFormat};
use crate::home::Home;
use crate::oneshot::Exit;

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
    let width = sessions.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in sessions {
        let mut line = format!(
            "{:width$}  {:24}  {:12}  {:>3} msgs  {}",
            s.id,
            s.last.as_deref().unwrap_or("-"),
            s.profile.as_deref().unwrap_or("-"),
            s.messages,
            s.title.as_deref().unwrap_or(""),
        );
        if s.skipped_lines > 0 {
            line.push_str(&format!("  ({} unreadable lines)", s.skipped_lines));
        }
        println!("{}", line.trim_end());
    }
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
