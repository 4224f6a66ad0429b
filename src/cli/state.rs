//! `baton state show|reset [NAME]`: the breaker, TPM and metrics state that
//! load-balancer profiles keep between runs in `~/.baton/state/`.

use crate::cli::Exit;
use crate::config::Settings;
use crate::engine::{self, state};
use crate::home::Home;
use crate::profile::ProfileStore;

use super::StateCommand;

/// Runs a `state` subcommand.
pub fn run(command: StateCommand, home: &Home) -> Exit {
    let dir = home.state_dir();
    match command {
        StateCommand::Show { name } => {
            let names = match name {
                Some(n) => vec![n],
                None => state::list(&dir),
            };
            if names.is_empty() {
                println!("no saved state in {}", dir.display());
                return Exit::Complete;
            }
            let store = ProfileStore::new(home.profiles_dir());
            let mut exit = Exit::Complete;
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                // Rendering through the engine shows backends in the profile's order
                // with the same numbers `/stats lb` and `--stats` print.
                let shown = store
                    .resolve(name)
                    .map_err(|e| e.to_string())
                    .and_then(|resolved| {
                        engine::build_engine(&resolved, &Settings::new()).map_err(|e| e.to_string())
                    })
                    .map(|engine| {
                        if let Some(warning) = engine.persist_in(&dir) {
                            eprintln!("baton: warning: {warning}");
                        }
                        engine.stats_lb()
                    });
                match shown {
                    Ok(stats) => print!("{stats}"),
                    Err(e) => {
                        eprintln!("baton: {e}");
                        exit = Exit::Error;
                    }
                }
            }
            exit
        }
        StateCommand::Reset { name } => match state::reset(&dir, name.as_deref()) {
            Ok(removed) if removed.is_empty() => {
                println!("no saved state to reset");
                Exit::Complete
            }
            Ok(removed) => {
                for name in removed {
                    println!("reset {name}");
                }
                Exit::Complete
            }
            Err(e) => {
                eprintln!("baton: {e}");
                Exit::Error
            }
        },
    }
}
