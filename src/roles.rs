//! Roles: named system prompts in `~/.baton/roles/NAME.md`, with settings for the
//! role in an optional front matter, chosen with `--role NAME` or `/role NAME`.
//!
//! ```text
//! ---
//! temperature: 0.2
//! timeout_ms: 60000
//! ---
//! You review Rust code. Point out bugs first, style last.
//! ```
//!
//! The front matter holds `KEY: VALUE` lines, each read as `--set KEY=VALUE` would be
//! (the same validation, the same errors); the rest of the file is the system prompt.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{self, SettingError};
use crate::home::Home;

/// The most of a role file read.
const ROLE_LIMIT: u64 = 1024 * 1024;

/// A role: its system prompt and the settings it brings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Role {
    /// The file's name without `.md`.
    pub(crate) name: String,
    /// The system prompt.
    pub(crate) prompt: String,
    /// Settings from the front matter, in file order.
    pub(crate) settings: Vec<(String, Value)>,
}

/// Why a role could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RoleError {
    /// No such file.
    #[error("no role '{name}' in {}; {}", .dir.display(), known_roles(.known))]
    NotFound {
        name: String,
        dir: PathBuf,
        known: Vec<String>,
    },
    /// The name cannot name a file.
    #[error("invalid role name '{0}': use letters, digits, '-', '_' and '.' (not first)")]
    InvalidName(String),
    /// The file could not be read.
    #[error("cannot read role {}: {reason}", .path.display())]
    Read { path: PathBuf, reason: String },
    /// A front matter line is not `KEY: VALUE`.
    #[error("{}:{line}: expected 'KEY: VALUE' in the front matter, got '{text}'", .path.display())]
    FrontMatter {
        path: PathBuf,
        line: usize,
        text: String,
    },
    /// A setting in the front matter is unknown or has a bad value.
    #[error("{}:{line}: {source}", .path.display())]
    Setting {
        path: PathBuf,
        line: usize,
        #[source]
        source: SettingError,
    },
    /// Nothing after the front matter.
    #[error("role {} has no system prompt after its front matter", .0.display())]
    Empty(PathBuf),
}

fn known_roles(known: &[String]) -> String {
    if known.is_empty() {
        "there are no roles yet: write one as NAME.md (a system prompt) in that folder".into()
    } else {
        format!("known roles: {}", known.join(", "))
    }
}

/// Role names in `home`, sorted. A missing folder has none.
pub(crate) fn list(home: &Home) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.roles_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".md").map(str::to_owned)
        })
        .filter(|n| valid_name(n))
        .collect();
    names.sort();
    names
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Loads role `name` from `home`.
pub(crate) fn load(home: &Home, name: &str) -> Result<Role, RoleError> {
    let name = name.trim();
    if !valid_name(name) {
        return Err(RoleError::InvalidName(name.to_string()));
    }
    let dir = home.roles_dir();
    let path = dir.join(format!("{name}.md"));
    let text = match crate::fsutil::read_capped_string(&path, ROLE_LIMIT) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => {
            return Err(RoleError::NotFound {
                name: name.to_string(),
                dir,
                known: list(home),
            });
        }
        Err(e) => {
            return Err(RoleError::Read {
                path,
                reason: e.to_string(),
            });
        }
    };
    parse(name, &path, &text)
}

/// Splits a role file into its settings and its prompt.
fn parse(name: &str, path: &Path, text: &str) -> Result<Role, RoleError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut settings = Vec::new();
    let mut body = text;
    let mut lines = text.split_inclusive('\n');
    if lines.next().is_some_and(|first| first.trim_end() == "---") {
        let mut offset = text.find('\n').map_or(text.len(), |i| i + 1);
        let mut closed = false;
        for (i, line) in lines.enumerate() {
            offset += line.len();
            let trimmed = line.trim();
            if trimmed == "---" {
                closed = true;
                break;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let number = i + 2;
            let Some((key, value)) = trimmed.split_once(':') else {
                return Err(RoleError::FrontMatter {
                    path: path.to_path_buf(),
                    line: number,
                    text: trimmed.to_string(),
                });
            };
            let (key, value) = (key.trim(), value.trim());
            let value = config::parse_value(key, value).map_err(|source| RoleError::Setting {
                path: path.to_path_buf(),
                line: number,
                source,
            })?;
            settings.push((key.to_string(), value));
        }
        if closed {
            body = &text[offset.min(text.len())..];
        }
    }
    let prompt = body.trim().to_string();
    if prompt.is_empty() {
        return Err(RoleError::Empty(path.to_path_buf()));
    }
    Ok(Role {
        name: name.to_string(),
        prompt,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn home_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        std::fs::create_dir_all(home.roles_dir()).unwrap();
        for (name, text) in files {
            std::fs::write(home.roles_dir().join(name), text).unwrap();
        }
        (dir, home)
    }

    #[test]
    fn a_role_is_a_prompt_with_optional_settings() {
        let (_dir, home) = home_with(&[
            ("plain.md", "Be brief.\n"),
            (
                "review.md",
                "---\n# a comment\ntimeout_ms: 60000\nsystem-prompt: ignored later\n---\n\nYou review Rust code.\n",
            ),
            ("notes.txt", "not a role"),
        ]);
        assert_eq!(list(&home), ["plain", "review"]);
        let plain = load(&home, "plain").unwrap();
        assert_eq!(plain.prompt, "Be brief.");
        assert!(plain.settings.is_empty());
        let review = load(&home, "review").unwrap();
        assert_eq!(review.prompt, "You review Rust code.");
        assert_eq!(
            review.settings[0],
            ("timeout_ms".to_string(), Value::from(60_000))
        );
    }

    #[test]
    fn bad_roles_say_what_is_wrong_and_where() {
        let (_dir, home) = home_with(&[
            ("typo.md", "---\ntimeout_msec: 5\n---\nhi\n"),
            ("range.md", "---\ntimeout_ms: -5\n---\nhi\n"),
            ("shape.md", "---\njust words\n---\nhi\n"),
            ("empty.md", "---\ntimeout_ms: 5\n---\n"),
        ]);
        let err = |name| load(&home, name).unwrap_err().to_string();
        assert!(err("typo").contains("typo.md:2: "), "{}", err("typo"));
        assert!(err("typo").contains("timeout_msec"), "{}", err("typo"));
        assert!(err("range").contains("range.md:2: "), "{}", err("range"));
        assert!(
            err("shape").contains("expected 'KEY: VALUE'"),
            "{}",
            err("shape")
        );
        assert!(
            err("empty").contains("no system prompt"),
            "{}",
            err("empty")
        );
        let missing = err("nope");
        assert!(
            missing.contains("no role 'nope'")
                && missing.contains("known roles: empty, range, shape, typo"),
            "{missing}"
        );
        assert!(err("../x").contains("invalid role name"));
    }
}
