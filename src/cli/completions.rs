//! `baton completions SHELL`: a completion script from the command line's own
//! definition (clap_complete), with the profiles in the home as the values of
//! `--profile-load` and `--resume`'s neighbours, so `baton --profile-load w<Tab>`
//! completes to `work`.

use std::io::Write;

use clap::CommandFactory;
use clap::builder::PossibleValuesParser;

use super::{Cli, Exit};
use crate::home::Home;
use crate::profile::ProfileStore;

/// Writes the script for `shell` to stdout.
pub fn run(shell: clap_complete::Shell, home: &Home) -> Exit {
    let mut out = std::io::stdout().lock();
    match write_script(shell, home, &mut out) {
        Ok(()) => Exit::Complete,
        Err(e) => {
            eprintln!("baton: cannot write the completion script: {e}");
            Exit::Error
        }
    }
}

fn write_script(
    shell: clap_complete::Shell,
    home: &Home,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let names = ProfileStore::new(home.profiles_dir())
        .list()
        .unwrap_or_default();
    let mut command = Cli::command();
    if !names.is_empty() {
        command = command.mut_arg("profile", |arg| {
            arg.value_parser(PossibleValuesParser::new(names.clone()))
        });
    }
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "baton", &mut script);
    out.write_all(&script)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_subcommands_and_the_home_s_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        std::fs::create_dir_all(home.profiles_dir()).unwrap();
        std::fs::write(
            home.profiles_dir().join("work.json"),
            r#"{"version":1,"provider":"sim","model":"sim-fast","modelParams":{}}"#,
        )
        .unwrap();
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            write_script(shell, &home, &mut out).unwrap();
            let script = String::from_utf8(out).unwrap();
            for word in ["--profile-load", "sessions", "completions", "work"] {
                assert!(script.contains(word), "{shell}: no {word} in\n{script}");
            }
        }
    }
}
