//! `baton config path|show|init|schema`: the user's config file.

use crate::cli::Exit;
use crate::config::file;
use crate::home::Home;

use super::ConfigCommand;

/// Runs a `config` subcommand.
pub fn run(command: ConfigCommand, home: &Home) -> Exit {
    let path = file::path(home);
    match command {
        ConfigCommand::Path => println!("{}", path.display()),
        ConfigCommand::Schema => print!("{}", file::schema_json()),
        ConfigCommand::Show => match file::load(home) {
            Ok(config) => {
                if !path.exists() {
                    eprintln!(
                        "no config file at {}; these are the defaults",
                        path.display()
                    );
                }
                // A plain struct of strings, numbers and booleans always serialises.
                println!(
                    "{}",
                    serde_json::to_string_pretty(&config).unwrap_or_default()
                );
            }
            Err(e) => {
                eprintln!("baton: {e}");
                return Exit::Error;
            }
        },
        ConfigCommand::Init => {
            if path.exists() {
                eprintln!(
                    "baton: {} already exists; edit it, or remove it first to start over",
                    path.display()
                );
                return Exit::Error;
            }
            if let Err(e) = crate::home::ensure_dir(home.root())
                .and_then(|()| crate::fsutil::write_atomic(&path, file::template().as_bytes()))
            {
                eprintln!("baton: cannot write {}: {e}", path.display());
                return Exit::Error;
            }
            println!("wrote {}", path.display());
        }
    }
    Exit::Complete
}
