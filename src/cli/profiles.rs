//! `baton profiles ...` and `baton settings`: thin commands over the profile
//! store and the settings registry.

use crate::cli::Exit;
use crate::config;
use crate::home::Home;
use crate::profile::{self, Profile, ProfileStore};

use super::ProfilesCommand;

/// Runs a `profiles` subcommand.
pub fn run(command: ProfilesCommand, home: &Home) -> Exit {
    let store = ProfileStore::new(home.profiles_dir());
    // First use: give a new user the demo profiles to look at and run.
    if !store.dir().exists()
        && let Err(e) = profile::ensure_builtin(&store)
    {
        eprintln!("baton: {e}");
        return Exit::Error;
    }
    match command {
        ProfilesCommand::List => list(&store),
        ProfilesCommand::Show { name } => show(&store, &name),
        ProfilesCommand::Validate { name } => validate(&store, name.as_deref()),
        ProfilesCommand::Schema => {
            println!("{}", profile::schema_json());
            Exit::Complete
        }
        ProfilesCommand::ImportLlxprt { dir } => import(&store, dir),
    }
}

fn describe(profile: &Profile) -> (&'static str, String) {
    match profile {
        Profile::Model(m) => ("model", format!("{} / {}", m.provider, m.model)),
        Profile::LoadBalancer(lb) => (
            "loadbalancer",
            format!("{}: {}", lb.policy, lb.profiles.join(", ")),
        ),
    }
}

fn list(store: &ProfileStore) -> Exit {
    let names = match store.list() {
        Ok(names) => names,
        Err(e) => {
            eprintln!("baton: {e}");
            return Exit::Error;
        }
    };
    if names.is_empty() {
        println!("no profiles in {}", store.dir().display());
        return Exit::Complete;
    }
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut broken = false;
    for name in names {
        match store.load(&name) {
            Ok(loaded) => {
                let (kind, detail) = describe(&loaded.profile);
                println!("{name:<width$}  {kind:<12}  {detail}");
            }
            Err(e) => {
                broken = true;
                println!("{name:<width$}  {:<12}  {e}", "invalid");
            }
        }
    }
    if broken { Exit::Error } else { Exit::Complete }
}

fn show(store: &ProfileStore, name: &str) -> Exit {
    match store.load(name) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("baton: warning: {w}");
            }
            println!("{}", profile::to_json(&loaded.profile));
            Exit::Complete
        }
        Err(e) => {
            eprintln!("baton: {e}");
            Exit::Error
        }
    }
}

fn validate(store: &ProfileStore, name: Option<&str>) -> Exit {
    let results = match name {
        // Loading checks the file; resolving checks its members, recursively.
        Some(n) => vec![(
            n.to_string(),
            store
                .load(n)
                .and_then(|loaded| store.resolve(n).map(|_| loaded)),
        )],
        None => store.validate_all(),
    };
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(loaded) => {
                println!("ok       {name}");
                for w in &loaded.warnings {
                    println!("  warning: {w}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("invalid  {name}: {e}");
            }
        }
    }
    if failed > 0 {
        eprintln!("baton: {failed} of {} profiles are invalid", results.len());
        Exit::Error
    } else {
        Exit::Complete
    }
}

fn import(store: &ProfileStore, dir: Option<std::path::PathBuf>) -> Exit {
    let dir = match dir {
        Some(d) => d,
        None => match profile::default_llxprt_dir() {
            Some(dir) => dir,
            None => {
                eprintln!("baton: cannot find your home folder; pass the folder to import from");
                return Exit::Usage;
            }
        },
    };
    match profile::import_llxprt(&dir, store) {
        Ok(report) => {
            print!("{report}");
            Exit::Complete
        }
        Err(e) => {
            eprintln!("baton: {e}");
            Exit::Error
        }
    }
}

/// `baton settings`: every setting with its type, default and help.
pub fn print_settings() -> Exit {
    for spec in config::registry() {
        let default = spec.default.unwrap_or("unset");
        let protected = if spec.protected {
            " (protected: never saved)"
        } else {
            ""
        };
        println!(
            "{}  ({}, default {default}){protected}\n    {}",
            spec.key, spec.kind, spec.help
        );
    }
    Exit::Complete
}
