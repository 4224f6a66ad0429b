//! The command line: flags, subcommands and their help.

pub mod completions;
pub mod config;
pub(crate) mod exit;
#[cfg(feature = "mock")]
pub mod mock;
pub mod profiles;
#[cfg(feature = "serve")]
pub(crate) mod serve;
pub mod sessions;
pub mod state;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use exit::Exit;

const EXAMPLES: &str = "\
Examples:
  # Open the chat on the demo profile (no API key needed)
  baton
  # One answer, streamed to stdout
  baton --prompt \"hello\"
  # Use ~/.baton/profiles/work.json; the prompt may come from stdin
  baton --profile-load work --prompt \"hi\"
  git diff | baton --profile-load work
  # No profile: a provider and model directly (key from OPENAI_API_KEY), or any
  # OpenAI-compatible server
  baton --provider openai --model gpt-4o-mini --prompt \"hi\"
  baton --provider openai --model llama --base-url http://127.0.0.1:8080/v1 --prompt \"hi\"
  # Override a setting, print JSON with provenance, show metrics after the answer
  baton --profile-load work --set timeout_ms=5000 --output-format json --stats --prompt \"hi\"
  # Log every failover decision to stderr
  BATON_DEBUG=baton:* baton --profile-load work --prompt \"hi\"
  # Try profiles offline against a local fault-injecting server
  baton mock --port 8089
  # Serve profiles to OpenAI-compatible tools (model = profile name)
  baton serve --listen 127.0.0.1:8089
  # Stored conversations; continue the latest one in the chat, or with one prompt
  baton sessions list
  baton --resume
  baton --resume --prompt \"and then?\"

  # A system prompt from a file; the model's reasoning on stderr
  baton --system-file rules.txt --show-reasoning --prompt \"hi\"
  # A role from ~/.baton/roles/reviewer.md; a file attached with @path
  baton --role reviewer --prompt \"review @src/main.rs\"
  # Shell completion, with your profile names
  baton completions bash > ~/.local/share/bash-completion/completions/baton

Exit codes: 0 answer complete, 1 error or interrupted answer, 2 usage error,
            3 answer truncated, filtered, refused or asking for tools,
            75 every backend temporarily unavailable (retry later), 130 interrupted.
Files: profiles live in $BATON_HOME/profiles (default ~/.baton/profiles),
       conversations in $BATON_HOME/sessions.";

/// baton: a terminal chat client whose load-balancer profiles keep the
/// conversation going when a provider is slow, rate-limited or down.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, after_help = EXAMPLES, disable_help_subcommand = true)]
pub struct Cli {
    /// What to do; without a subcommand baton opens the chat, or answers `--prompt`
    /// (or stdin) and exits.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// How to answer.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Flags for answering a prompt.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The prompt, answered on stdout; text piped in is added after it. Without it,
    /// baton opens the chat when stdin is a terminal and reads the prompt from stdin
    /// otherwise.
    #[arg(short, long, value_name = "TEXT")]
    pub prompt: Option<String>,

    /// The profile to use (a file in the profiles folder, without `.json`). Default: demo.
    #[arg(
        long = "profile-load",
        value_name = "NAME",
        conflicts_with = "provider"
    )]
    pub(crate) profile: Option<String>,

    /// Use a provider directly, without a profile (openai, anthropic, gemini, ollama,
    /// groq, openrouter, azure, sim).
    #[arg(long, value_name = "PROVIDER")]
    pub(crate) provider: Option<String>,

    /// The model, with --provider.
    #[arg(long, value_name = "MODEL", requires = "provider")]
    pub(crate) model: Option<String>,

    /// The server's base URL, with --provider (any OpenAI-compatible server).
    #[arg(long = "base-url", value_name = "URL", requires = "provider")]
    pub(crate) base_url: Option<String>,

    /// Set a setting for this run, e.g. --set timeout_ms=5000 (repeatable; `baton
    /// settings` lists them).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,

    /// A role from `~/.baton/roles/NAME.md`: its system prompt and the settings in its
    /// front matter (`--system` and `--set` win over them).
    #[arg(long, value_name = "NAME")]
    pub(crate) role: Option<String>,

    /// The system prompt for this run (sets the `system-prompt` setting).
    #[arg(long, value_name = "TEXT", conflicts_with = "system_file")]
    pub(crate) system: Option<String>,

    /// Read the system prompt for this run from a file (sets the `system-prompt` setting).
    #[arg(long = "system-file", value_name = "PATH")]
    pub(crate) system_file: Option<std::path::PathBuf>,

    /// Print the model's reasoning to stderr, between `--- reasoning ---` and `---
    /// answer ---` lines (one-shot text output; JSON carries it as `reasoning`).
    #[arg(long = "show-reasoning")]
    pub(crate) show_reasoning: bool,

    /// Ask for the whole answer at once instead of streaming it.
    #[arg(long = "no-stream")]
    pub(crate) no_stream: bool,

    /// Print the `/stats lb` block (per-backend metrics and breaker states) to stderr
    /// after the answer.
    #[arg(long)]
    pub(crate) stats: bool,

    /// Continue a stored session (the latest when no ID is given): its messages become
    /// the history and its profile is used unless --profile-load or --provider says otherwise.
    #[arg(long, value_name = "ID", num_args = 0..=1, default_missing_value = "")]
    pub(crate) resume: Option<String>,

    /// `text` streams the answer; `json` prints one object with the answer and its provenance.
    #[arg(long = "output-format", value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output_format: OutputFormat,
}

/// How the one-shot answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum OutputFormat {
    /// The answer's text, streamed as it arrives.
    #[default]
    Text,
    /// One JSON object: status, stop_reason, answer, reasoning, tool_calls, backend,
    /// model, usage, latency_ms, attempts.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show, check and import profiles.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// List every setting with its type, default and help.
    Settings,
    /// The config file (`~/.baton/config.json`): default profile, theme, mouse,
    /// history size.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a local fault-injecting LLM server to try profiles offline.
    #[cfg(feature = "mock")]
    Mock(MockArgs),
    /// Show or reset the saved breaker, TPM and metrics state of load-balancer profiles.
    #[command(subcommand)]
    State(StateCommand),
    /// List, show, export and delete stored conversations.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Print a shell completion script (profile names included: run it again after
    /// adding profiles), e.g.
    /// `baton completions bash > ~/.local/share/bash-completion/completions/baton`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Serve profiles over an OpenAI-compatible HTTP API (`baton serve keys add NAME`
    /// makes a client key).
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
}

/// `baton config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print where the config file is.
    Path,
    /// Check the config file and print the settings in effect.
    Show,
    /// Write a config file with every field at its default (never over an existing one).
    Init,
    /// Print the JSON Schema of the config file.
    Schema,
}

/// `baton state ...`
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the `/stats lb` block of one profile, or of every profile with saved state.
    Show {
        /// The load-balancer profile.
        name: Option<String>,
    },
    /// Forget the saved state of one profile, or of all of them.
    Reset {
        /// The load-balancer profile.
        name: Option<String>,
    },
}

/// `baton sessions ...`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List stored sessions: id, last activity, profile, message count, first prompt.
    List,
    /// Print a session as readable text.
    Show {
        /// The session id (from `baton sessions list`).
        id: String,
    },
    /// Print a session as Markdown or JSON.
    Export {
        /// The session id.
        id: String,
        /// The output format.
        #[arg(long, value_enum, default_value_t = crate::archive::ExportFormat::Markdown)]
        format: crate::archive::ExportFormat,
    },
    /// Delete a session's file.
    Delete {
        /// The session id.
        id: String,
    },
}

/// `baton mock ...`
#[cfg(feature = "mock")]
#[derive(Debug, Args)]
pub struct MockArgs {
    /// The port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 8089)]
    pub(crate) port: u16,
    /// A JSON file describing the backends; without it a demo set is served
    /// (ok, slow, ratelimited, down, auth, stall, cut).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<std::path::PathBuf>,
}

/// `baton profiles ...`
#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// List profiles with their kind, provider and model (or policy and members).
    List,
    /// Print a profile's JSON.
    Show {
        /// The profile's name.
        name: String,
    },
    /// Check one profile, or all of them, including their members.
    Validate {
        /// The profile's name; all profiles when absent.
        name: Option<String>,
    },
    /// Print the JSON Schema of the profile format.
    Schema,
    /// Copy profiles from llxprt-code (default ~/.llxprt/profiles).
    ImportLlxprt {
        /// The folder to import from.
        dir: Option<std::path::PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn resume_takes_an_optional_id() {
        let cli = Cli::try_parse_from(["baton", "--resume", "-p", "x"]).unwrap();
        assert_eq!(cli.run.resume.as_deref(), Some(""));
        let cli = Cli::try_parse_from(["baton", "--resume", "abc", "-p", "x"]).unwrap();
        assert_eq!(cli.run.resume.as_deref(), Some("abc"));
        let cli = Cli::try_parse_from(["baton", "-p", "x"]).unwrap();
        assert_eq!(cli.run.resume, None);
    }

    #[test]
    fn set_is_repeatable_and_model_needs_provider() {
        let cli =
            Cli::try_parse_from(["baton", "--set", "a=1", "--set", "b=2", "-p", "x"]).unwrap();
        assert_eq!(cli.run.set, vec!["a=1", "b=2"]);
        assert!(Cli::try_parse_from(["baton", "--model", "m"]).is_err());
        assert!(
            Cli::try_parse_from(["baton", "--profile-load", "a", "--provider", "sim"]).is_err()
        );
    }

    #[test]
    fn system_and_system_file_exclude_each_other() {
        let cli = Cli::try_parse_from(["baton", "--system", "Be brief.", "-p", "x"]).unwrap();
        assert_eq!(cli.run.system.as_deref(), Some("Be brief."));
        assert!(
            Cli::try_parse_from(["baton", "--system", "a", "--system-file", "f", "-p", "x"])
                .is_err()
        );
    }
}
