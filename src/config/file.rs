//! The user's config file, `~/.baton/config.json`: which profile to use when none is
//! named, and how the chat looks and behaves. Every field is optional; an unknown
//! field, a wrong type or an out-of-range value is an error naming the file, the
//! field and what is allowed, as with profiles. Its JSON Schema is committed as
//! `docs/config.schema.json`.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, ReadError};
use crate::home::Home;

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Most prompts the history may keep.
const MAX_HISTORY_SIZE: usize = 100_000;

/// The chat's colours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ThemeName {
    /// Colours for a dark background.
    #[default]
    Dark,
    /// Colours for a light background.
    Light,
    /// No colour at all, as with `NO_COLOR`.
    Mono,
}

/// What `~/.baton/config.json` may say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct UserConfig {
    /// The profile used when no `--profile-load` (or `--provider`) is given; `demo`
    /// when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) default_profile: Option<String>,
    /// The editor Ctrl-G opens the prompt in (a shell command line, e.g.
    /// `code --wait`); `$VISUAL`, then `$EDITOR`, then `vi` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) editor: Option<String>,
    /// The chat's colours: `dark`, `light` or `mono`.
    pub(crate) theme: ThemeName,
    /// Capture the mouse, so the wheel scrolls the transcript (on by default).
    /// With it on, most terminals still select text with Shift held while
    /// dragging (Option on macOS); off leaves the mouse to the terminal.
    pub(crate) mouse: bool,
    /// How many prompts `~/.baton/history` keeps (0 keeps none).
    #[schemars(range(max = 100_000))]
    pub(crate) history_size: usize,
    /// Archive one-shot runs too, not only the chat.
    pub(crate) archive_oneshot: bool,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            default_profile: None,
            editor: None,
            theme: ThemeName::default(),
            mouse: true,
            history_size: crate::tui::prompt_history::DEFAULT_SIZE,
            archive_oneshot: true,
        }
    }
}

/// Why the config file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read (a folder, too large, unreadable).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Not JSON, or not the fields baton knows.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where, from 1.
        line: usize,
        /// Where, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A field with a value outside what is allowed.
    #[error("{}: field '{field}' is {value}; {allowed}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// The value found.
        value: String,
        /// What would be accepted.
        allowed: String,
    },
}

/// Where the config file lives in `home`.
pub(crate) fn path(home: &Home) -> PathBuf {
    home.root().join("config.json")
}

/// The config in `home`: the defaults when there is no file.
pub(crate) fn load(home: &Home) -> Result<UserConfig, ConfigError> {
    load_from(&path(home))
}

/// The config in the file at `path`.
pub(crate) fn load_from(path: &Path) -> Result<UserConfig, ConfigError> {
    let text = match fsutil::read_capped_string(path, MAX_CONFIG_BYTES) {
        Ok(text) => text,
        Err(ReadError::NotFound { .. }) => return Ok(UserConfig::default()),
        Err(err) => return Err(err.into()),
    };
    parse(path, &text)
}

/// Parses config text read from `path` (named in errors).
pub(crate) fn parse(path: &Path, text: &str) -> Result<UserConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(UserConfig::default());
    }
    let config: UserConfig = serde_json::from_str(text).map_err(|e| {
        let message = e.to_string();
        // serde_json appends " at line L column C"; it is shown as path:L:C instead.
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: message.strip_suffix(&suffix).unwrap_or(&message).to_owned(),
        }
    })?;
    validate(path, &config)?;
    Ok(config)
}

fn validate(path: &Path, config: &UserConfig) -> Result<(), ConfigError> {
    let invalid = |field, value: String, allowed: &str| ConfigError::Invalid {
        path: path.to_path_buf(),
        field,
        value,
        allowed: allowed.to_owned(),
    };
    if let Some(name) = &config.default_profile
        && (name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.'))
    {
        return Err(invalid(
            "default_profile",
            format!("'{name}'"),
            "a profile name: letters, digits, '-', '_' and '.', not starting with '.'",
        ));
    }
    if config.history_size > MAX_HISTORY_SIZE {
        return Err(invalid(
            "history_size",
            config.history_size.to_string(),
            &format!("at most {MAX_HISTORY_SIZE}"),
        ));
    }
    Ok(())
}

/// A starting file for `baton config init`: every field at its default.
pub(crate) fn template() -> String {
    let example = serde_json::json!({
        "default_profile": "demo",
        "theme": "dark",
        "mouse": true,
        "history_size": crate::tui::prompt_history::DEFAULT_SIZE,
        "archive_oneshot": true,
    });
    let mut text = serde_json::to_string_pretty(&example).unwrap_or_default();
    text.push('\n');
    text
}

/// The JSON Schema of the config file, pretty-printed.
pub(crate) fn schema_json() -> String {
    let schema = schemars::schema_for!(UserConfig);
    // Serialising a schema (a JSON value) cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<UserConfig, ConfigError> {
        parse(Path::new("/h/config.json"), text)
    }

    #[test]
    fn no_file_or_an_empty_one_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let home = Home::at(dir.path());
        assert_eq!(load(&home).ok(), Some(UserConfig::default()));
        assert_eq!(parsed("  \n").ok(), Some(UserConfig::default()));
    }

    #[test]
    fn fields_are_read() {
        let config = parsed(
            r#"{"default_profile": "work", "theme": "mono", "mouse": true, "history_size": 50}"#,
        );
        let Ok(config) = config else {
            panic!("{config:?}");
        };
        assert_eq!(config.default_profile.as_deref(), Some("work"));
        assert_eq!(config.theme, ThemeName::Mono);
        assert!(config.mouse);
        assert!(
            !parsed(r#"{"mouse": false}"#).is_ok_and(|c| c.mouse),
            "mouse can be turned off"
        );
        assert_eq!(config.history_size, 50);
        assert!(config.archive_oneshot, "unset fields keep their defaults");
    }

    #[test]
    fn errors_name_the_file_the_field_and_what_is_allowed() {
        let cases = [
            (
                r#"{"default_profle": "x"}"#,
                "/h/config.json:1:17: unknown field `default_profle`, expected one of `default_profile`",
            ),
            (
                r#"{"theme": "blue"}"#,
                "/h/config.json:1:16: unknown variant `blue`, expected one of `dark`, `light`, `mono`",
            ),
            (
                r#"{"mouse": "yes"}"#,
                "/h/config.json:1:15: invalid type: string \"yes\", expected a boolean",
            ),
            (
                r#"{"history_size": 1000001}"#,
                "/h/config.json: field 'history_size' is 1000001; at most 100000",
            ),
            (
                r#"{"default_profile": "../x"}"#,
                "/h/config.json: field 'default_profile' is '../x'; a profile name",
            ),
            ("{", "/h/config.json:1:1: EOF while parsing an object"),
        ];
        for (text, want) in cases {
            let got = parsed(text).map_err(|e| e.to_string());
            let Err(got) = got else {
                panic!("{text} was accepted");
            };
            assert!(got.starts_with(want), "{text}: {got}");
        }
    }

    #[test]
    fn the_template_is_a_valid_config() {
        assert!(parsed(&template()).is_ok(), "{}", template());
    }

    #[test]
    fn schema_doc_is_current() {
        super::super::check_generated_doc("docs/config.schema.json", &schema_json());
    }
}
