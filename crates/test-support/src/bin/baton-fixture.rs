//! `baton-fixture`: the profile builders of baton-test-support for shell scripts.
//!
//! ```text
//! baton-fixture profile NAME --base-url URL [--provider P] [--model M] [--set KEY=VALUE]...
//! baton-fixture lb NAME [--policy POLICY] MEMBER... [--set KEY=VALUE]...
//! ```
//!
//! Profiles are saved in `$BATON_HOME/profiles` (or `--dir DIR`) by baton's own
//! store; `--set` takes what `baton --set` takes. Exit 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use baton::config::Settings;
use baton::profile::{LbProfile, ModelProfile, Policy, Profile, ProfileStore};

const USAGE: &str = "\
usage: baton-fixture profile NAME --base-url URL [--provider P] [--model M] [--set KEY=VALUE]...
       baton-fixture lb NAME [--policy POLICY] MEMBER... [--set KEY=VALUE]...
options for both: --dir DIR (default $BATON_HOME/profiles)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("baton-fixture: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The command line, read into its parts.
#[derive(Default)]
struct Parsed {
    kind: String,
    name: String,
    provider: Option<String>,
    model: Option<String>,
    policy: Option<String>,
    dir: Option<PathBuf>,
    sets: Vec<String>,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut it = args.iter();
    let mut parsed = Parsed {
        kind: it.next().ok_or("no command")?.clone(),
        name: it.next().ok_or("no profile name")?.clone(),
        ..Parsed::default()
    };
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match arg.as_str() {
            "--base-url" => parsed.sets.push(format!("base-url={}", value(arg)?)),
            "--provider" => parsed.provider = Some(value(arg)?),
            "--model" => parsed.model = Some(value(arg)?),
            "--policy" => parsed.policy = Some(value(arg)?),
            "--dir" => parsed.dir = Some(PathBuf::from(value(arg)?)),
            "--set" => parsed.sets.push(value(arg)?),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            member => parsed.positional.push(member.to_string()),
        }
    }
    Ok(parsed)
}

fn settings(sets: &[String]) -> Result<Settings, String> {
    let mut settings = Settings::new();
    for set in sets {
        let (key, raw) = set
            .split_once('=')
            .ok_or_else(|| format!("--set {set}: expected KEY=VALUE"))?;
        settings
            .set(key, raw)
            .map_err(|e| format!("--set {set}: {e}"))?;
    }
    Ok(settings)
}

fn run(args: &[String]) -> Result<PathBuf, String> {
    let parsed = parse(args)?;
    let settings = settings(&parsed.sets)?;
    let profile = match parsed.kind.as_str() {
        "profile" => {
            if !parsed.positional.is_empty() {
                return Err(format!("unexpected {:?}", parsed.positional));
            }
            let mut model = ModelProfile::new(
                parsed.provider.as_deref().unwrap_or("openai"),
                parsed
                    .model
                    .as_deref()
                    .unwrap_or(baton_test_support::profile::MOCK_MODEL),
            );
            model.settings = settings;
            Profile::Model(model)
        }
        "lb" => {
            let policy: Policy = parsed
                .policy
                .as_deref()
                .unwrap_or("failover")
                .parse()
                .map_err(|e| format!("--policy: {e}"))?;
            let mut lb = LbProfile::new(policy, parsed.positional);
            lb.settings = settings;
            Profile::LoadBalancer(lb)
        }
        other => return Err(format!("unknown command {other:?}")),
    };
    let dir = match parsed.dir {
        Some(dir) => dir,
        None => baton::home::Home::from_env()
            .map_err(|e| format!("no home: {e}"))?
            .profiles_dir(),
    };
    ProfileStore::new(dir)
        .save(&parsed.name, &profile)
        .map_err(|e| e.to_string())
}
