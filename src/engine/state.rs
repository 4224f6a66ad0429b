//! Engine state on disk: one `<profile>.json` per load-balancer profile in
//! `Home::state_dir()` (`~/.baton/state/`), so consecutive one-shot runs see an open
//! breaker, recent TPM and the counters of `/stats lb`.
//!
//! ```json
//! {"version":1,"profile":"testlb489","saved_at_ms":1765500000000,
//!  "backends":{"synthetic":{"breaker":{..},"tpm":{..},"metrics":{..}}}}
//! ```
//!
//! Loading never fails: the state only makes routing smarter, so a missing file starts
//! fresh silently and an unreadable or corrupt one starts fresh with a warning naming
//! the file. Backends the profile no longer lists are dropped; new ones start fresh.
//! Saving writes a temp file in the same folder and renames it over the old one, so a
//! crash or a concurrent reader sees the old state or the new, never half of one.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::stats::{BackendHealth, LbHealth};
use crate::config::BreakerSettings;

/// The file format's version.
pub(crate) const STATE_VERSION: u64 = 1;

/// Why engine state could not be saved or reset.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading, writing or deleting a file or folder failed.
    #[error("cannot {action} engine state {}: {source}", .path.display())]
    Io {
        /// What was being done (`write`, `delete`, `create`, `list`).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The state could not be turned into JSON.
    #[error("cannot encode engine state for {}: {source}", .path.display())]
    Encode {
        /// The file it was meant for.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The profile name cannot name a state file.
    #[error("invalid profile name '{name}' for engine state in {}: {reason}", .dir.display())]
    InvalidName {
        /// The name.
        name: String,
        /// The state folder.
        dir: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The file as written: backends in listed order.
#[derive(Serialize)]
struct StateFileOut<'a> {
    version: u64,
    profile: &'a str,
    saved_at_ms: u64,
    /// Where the next round-robin prompt starts, so consecutive runs rotate.
    #[serde(skip_serializing_if = "is_zero")]
    cursor: u64,
    backends: InOrder<'a>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Serialises the backends as a JSON object in listed order.
struct InOrder<'a>(&'a LbHealth);

impl Serialize for InOrder<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, health) in self.0.iter() {
            map.serialize_entry(name, health)?;
        }
        map.end()
    }
}

/// The file as read (the version is checked before this shape is; `saved_at_ms` is
/// informational and not read back).
#[derive(Deserialize)]
struct StateFileIn {
    profile: String,
    #[serde(default)]
    cursor: u64,
    backends: BTreeMap<String, BackendHealth>,
}

/// The state file of `profile` in `dir`, if the name can name one.
pub(crate) fn path_of(dir: &Path, profile: &str) -> Result<PathBuf, StateError> {
    let reason = if profile.trim().is_empty() {
        Some("a name cannot be empty")
    } else if profile.contains('/') || profile.contains('\\') {
        Some("a name cannot contain '/' or '\\'")
    } else if profile.starts_with('.') {
        Some("a name cannot start with '.'")
    } else if profile.chars().any(char::is_control) {
        Some("a name cannot contain control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StateError::InvalidName {
            name: profile.to_string(),
            dir: dir.to_path_buf(),
            reason,
        }),
        None => Ok(dir.join(format!("{profile}.json"))),
    }
}

fn parse(text: &str, profile: &str) -> Result<StateFileIn, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    // The version first, so a newer format is reported as such, not as a shape error.
    match value.get("version").map(Value::as_u64) {
        Some(Some(STATE_VERSION)) => {}
        Some(Some(other)) => return Err(format!("unsupported version {other}")),
        Some(None) => return Err("version is not a number".into()),
        None => return Err("no version".into()),
    }
    let file: StateFileIn = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if file.profile != profile {
        return Err(format!("written for profile '{}'", file.profile));
    }
    Ok(file)
}

/// Saves `health` as the state of `profile`, pruned to the windows at `now_ms`.
/// Creates `dir` if needed; the write is atomic (temp file + rename).
pub fn save(
    dir: &Path,
    profile: &str,
    health: &LbHealth,
    now_ms: u64,
    s: &BreakerSettings,
) -> Result<(), StateError> {
    let path = path_of(dir, profile)?;
    let mut pruned = health.clone();
    pruned.prune(now_ms, s);
    let file = StateFileOut {
        version: STATE_VERSION,
        profile,
        saved_at_ms: now_ms,
        cursor: 0,
        backends: InOrder(&pruned),
    };
    let mut text = serde_json::to_string_pretty(&file).map_err(|source| StateError::Encode {
        path: path.clone(),
        source,
    })?;
    text.push('\n');
    crate::fsutil::create_private_dir(dir).map_err(|source| StateError::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(|source| StateError::Io {
        action: "write",
        path,
        source,
    })
}

/// The same document [`save`] writes, as a JSON value: the snapshot the session
/// archive records after each answer.
pub(crate) fn snapshot(
    profile: &str,
    health: &LbHealth,
    now_ms: u64,
    s: &BreakerSettings,
) -> serde_json::Value {
    let mut pruned = health.clone();
    pruned.prune(now_ms, s);
    let file = StateFileOut {
        version: STATE_VERSION,
        profile,
        saved_at_ms: now_ms,
        cursor: 0,
        backends: InOrder(&pruned),
    };
    // Plain maps, numbers and strings: serialising cannot fail.
    serde_json::to_value(&file).unwrap_or(serde_json::Value::Null)
}

/// Deletes the state of `profile`, or of every profile when `None`, and returns the
/// profiles whose state was deleted (none when there was nothing to delete).
pub(crate) fn reset(dir: &Path, profile: Option<&str>) -> Result<Vec<String>, StateError> {
    let names = match profile {
        Some(name) => {
            path_of(dir, name)?;
            vec![name.to_string()]
        }
        None => list(dir),
    };
    let mut removed = Vec::new();
    for name in names {
        let path = path_of(dir, &name)?;
        match fs::remove_file(&path) {
            Ok(()) => removed.push(name),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StateError::Io {
                    action: "delete",
                    path,
                    source,
                });
            }
        }
    }
    Ok(removed)
}

/// Profiles that have saved state, sorted. A missing or unreadable folder has none.
pub fn list(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| {
            let file_name = entry.file_name().into_string().ok()?;
            let stem = file_name.strip_suffix(".json")?;
            // Temp files start with '.', which path_of refuses.
            path_of(dir, stem).ok()?;
            Some(stem.to_string())
        })
        .collect();
    names.sort();
    names
}

/// The most of a state file read: a larger one is refused, not read.
const STATE_LIMIT: u64 = 16 * 1024 * 1024;

/// What one profile's state file holds, as read under its lock.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Shared {
    /// Every backend's health.
    pub(crate) health: LbHealth,
    /// Where the next round-robin prompt starts.
    pub(crate) cursor: u64,
}

/// Reads `profile`'s state as it is on disk, probes in flight and all. A missing
/// file is a fresh state; an unreadable or corrupt one is a fresh state and a warning.
pub(crate) fn read_shared(
    dir: &Path,
    profile: &str,
    backends: &[&str],
) -> (Shared, Option<String>) {
    let mut shared = Shared {
        health: LbHealth::new(backends.iter().copied()),
        cursor: 0,
    };
    let path = match path_of(dir, profile) {
        Ok(path) => path,
        Err(e) => return (shared, Some(format!("not loading engine state: {e}"))),
    };
    let text = match crate::fsutil::read_capped_string(&path, STATE_LIMIT) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return (shared, None),
        Err(e) => {
            let warning = format!(
                "ignoring unreadable engine state in {}: {e}",
                path.display()
            );
            return (shared, Some(warning));
        }
    };
    match parse(&text, profile) {
        Ok(file) => {
            shared.cursor = file.cursor;
            for (name, saved) in file.backends {
                if let Some(slot) = shared.health.get_mut(&name) {
                    *slot = saved;
                }
            }
            (shared, None)
        }
        Err(reason) => {
            let warning = format!(
                "ignoring corrupt engine state in {}: {reason}",
                path.display()
            );
            (shared, Some(warning))
        }
    }
}

/// Changes `profile`'s state under an OS lock on its lock file: reads what is on disk
/// (what every other process has recorded so far), lets `change` update it, writes
/// it back, and returns the result. The lock is held only for this, never across a
/// request, so parallel one-shots each add their outcome instead of the last one
/// overwriting the rest, and exactly one of them wins a half-open probe.
pub(crate) fn update<T>(
    dir: &Path,
    profile: &str,
    backends: &[&str],
    now_ms: u64,
    s: &BreakerSettings,
    change: impl FnOnce(&mut Shared) -> T,
) -> Result<(Shared, T), StateError> {
    let path = path_of(dir, profile)?;
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| StateError::Io {
            action,
            path,
            source,
        }
    };
    crate::fsutil::create_private_dir(dir).map_err(io_error("create", dir))?;
    let lock_path = dir.join(format!(".{profile}.lock"));
    let lock = crate::fsutil::private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io_error("open", &lock_path))?;
    lock.lock().map_err(io_error("lock", &lock_path))?;
    let (mut shared, warning) = read_shared(dir, profile, backends);
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    let out = change(&mut shared);
    shared.health.prune(now_ms, s);
    let file = StateFileOut {
        version: STATE_VERSION,
        profile,
        saved_at_ms: now_ms,
        cursor: shared.cursor,
        backends: InOrder(&shared.health),
    };
    let mut text = serde_json::to_string_pretty(&file).map_err(|source| StateError::Encode {
        path: path.clone(),
        source,
    })?;
    text.push('\n');
    let written =
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(io_error("write", &path));
    // Dropping the file would unlock too; unlocking first says when it ends.
    let _ = lock.unlock();
    written.map(|()| (shared, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::breaker::BreakerState;
    use crate::engine::breaker::tests::settings;
    use pretty_assertions::assert_eq;

    const NOW: u64 = 1_765_500_000_000;

    /// What a run reads: the health on disk and any warning about the file.
    fn load(dir: &Path, profile: &str, backends: &[&str]) -> (LbHealth, Option<String>) {
        let (shared, warning) = read_shared(dir, profile, backends);
        (shared.health, warning)
    }

    fn sample(s: &BreakerSettings) -> LbHealth {
        let mut lb = LbHealth::new(["synthetic", "chutes"]);
        let syn = lb.get_mut("synthetic").unwrap();
        syn.metrics.record_failure(false);
        syn.metrics.record_failure(false);
        syn.breaker.record_failure("synthetic", NOW - 10, s);
        syn.breaker.record_failure("synthetic", NOW, s);
        let chutes = lb.get_mut("chutes").unwrap();
        chutes.metrics.record_success(900, 250);
        chutes.tpm.record(250, NOW);
        lb
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn round_trip_keeps_an_open_breaker() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let s = settings(2, 60_000, 30_000);
        let lb = sample(&s);
        save(&dir, "testlb489", &lb, NOW, &s).unwrap();
        // No temp file left behind, only the state file.
        assert_eq!(dir_entries(&dir), vec!["testlb489.json"]);

        let (loaded, warning) = load(&dir, "testlb489", &["synthetic", "chutes"]);
        assert_eq!(warning, None);
        assert_eq!(loaded, lb);
        let syn = loaded.get("synthetic").unwrap();
        assert_eq!(syn.breaker.state(NOW + 1, &s), BreakerState::Open);
        assert!(!syn.breaker.would_admit(NOW + 1, &s));
        assert_eq!(list(&dir), vec!["testlb489"]);
    }

    #[test]
    fn file_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(2, 60_000, 30_000);
        save(tmp.path(), "p", &sample(&s), NOW, &s).unwrap();
        let text = fs::read_to_string(tmp.path().join("p.json")).unwrap();
        assert!(text.ends_with("}\n"));
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "version": 1,
                "profile": "p",
                "saved_at_ms": NOW,
                "backends": {
                    "synthetic": {
                        "breaker": {"state": "open", "failures": [NOW - 10, NOW],
                                    "opened_at_ms": NOW, "probe_in_flight": false},
                        "tpm": {"buckets": []},
                        "metrics": {"requests": 2, "successes": 0, "failures": 2,
                                    "timeouts": 0, "tokens": 0, "latency_total_ms": 0},
                        "last_failure": null
                    },
                    "chutes": {
                        "breaker": {"state": "closed", "failures": [],
                                    "opened_at_ms": null, "probe_in_flight": false},
                        "tpm": {"buckets": [[NOW / 60_000, 250]]},
                        "metrics": {"requests": 1, "successes": 1, "failures": 0,
                                    "timeouts": 0, "tokens": 250, "latency_total_ms": 900},
                        "last_failure": null
                    }
                }
            })
        );
        // Listed order, not alphabetical.
        let syn = text.find("\"synthetic\"").unwrap();
        let chutes = text.find("\"chutes\"").unwrap();
        assert!(syn < chutes);
    }

    #[test]
    fn save_prunes_windows() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(2, 60_000, 30_000);
        let lb = sample(&s);
        let later = NOW + 10 * 60_000;
        save(tmp.path(), "p", &lb, later, &s).unwrap();
        let (loaded, _) = load(tmp.path(), "p", &["synthetic", "chutes"]);
        let syn = loaded.get("synthetic").unwrap();
        assert_eq!(syn.breaker.failures().len(), 0);
        // Still open: pruning forgets old failures, not the state they caused.
        assert_eq!(syn.breaker.state(later, &s), BreakerState::Open);
        assert!(loaded.get("chutes").unwrap().tpm.is_empty());
        assert_eq!(loaded.get("chutes").unwrap().metrics.tokens, 250);
    }

    #[test]
    fn missing_file_is_fresh_without_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let (lb, warning) = load(&tmp.path().join("nope"), "p", &["a", "b"]);
        assert_eq!(lb, LbHealth::new(["a", "b"]));
        assert_eq!(warning, None);
        assert!(list(&tmp.path().join("nope")).is_empty());
    }

    #[test]
    fn corrupt_files_are_fresh_with_a_warning_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("p.json");
        let cases = [
            ("{not json", "key must be a string"),
            (
                r#"{"version":2,"profile":"p","saved_at_ms":0,"backends":{}}"#,
                "unsupported version 2",
            ),
            (r#"{"profile":"p"}"#, "no version"),
            (
                concat!(
                    r#"{"version":1,"profile":"p","saved_at_ms":0,"#,
                    r#""backends":{"a":{"metrics":{"requests":"x"}}}}"#
                ),
                "invalid type",
            ),
            (
                r#"{"version":1,"profile":"q","saved_at_ms":0,"backends":{}}"#,
                "written for profile 'q'",
            ),
        ];
        for (text, reason) in cases {
            fs::write(&path, text).unwrap();
            let (lb, warning) = load(tmp.path(), "p", &["a"]);
            assert_eq!(lb, LbHealth::new(["a"]), "{text}");
            let warning = warning.unwrap();
            let prefix = format!("ignoring corrupt engine state in {}: ", path.display());
            assert!(warning.starts_with(&prefix), "{warning}");
            assert!(warning.contains(reason), "{warning}");
        }
    }

    #[test]
    fn backends_follow_the_current_profile() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(2, 60_000, 30_000);
        let lb = sample(&s);
        save(tmp.path(), "p", &lb, NOW, &s).unwrap();
        // chutes left the profile, groqgpt joined it.
        let (loaded, warning) = load(tmp.path(), "p", &["groqgpt", "synthetic"]);
        assert_eq!(warning, None);
        assert_eq!(
            loaded.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            vec!["groqgpt", "synthetic"]
        );
        assert_eq!(loaded.get("groqgpt"), Some(&BackendHealth::default()));
        assert_eq!(loaded.get("synthetic"), lb.get("synthetic"));
    }

    #[test]
    fn reset_one_or_all() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(2, 60_000, 30_000);
        for name in ["a", "b", "c"] {
            save(tmp.path(), name, &LbHealth::new(["x"]), NOW, &s).unwrap();
        }
        fs::write(tmp.path().join("notes.txt"), "keep").unwrap();
        assert_eq!(list(tmp.path()), vec!["a", "b", "c"]);
        assert_eq!(reset(tmp.path(), Some("b")).unwrap(), vec!["b"]);
        assert_eq!(reset(tmp.path(), Some("b")).unwrap(), Vec::<String>::new());
        assert_eq!(reset(tmp.path(), None).unwrap(), vec!["a", "c"]);
        assert_eq!(dir_entries(tmp.path()), vec!["notes.txt"]);
        assert_eq!(
            reset(&tmp.path().join("nope"), None).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(2, 60_000, 30_000);
        let lb = LbHealth::new(["x"]);
        for name in ["../evil", "a\\b", ".hidden", ""] {
            let err = save(tmp.path(), name, &lb, NOW, &s).unwrap_err();
            assert!(matches!(err, StateError::InvalidName { .. }), "{name}");
            assert!(err.to_string().contains(&tmp.path().display().to_string()));
            assert!(reset(tmp.path(), Some(name)).is_err());
            let (fresh, warning) = load(tmp.path(), name, &["x"]);
            assert_eq!(fresh, lb);
            assert!(warning.is_some());
        }
        assert!(dir_entries(tmp.path()).is_empty());
    }

    #[test]
    fn write_errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        // A file where the folder should be.
        let blocker = tmp.path().join("state");
        fs::write(&blocker, "").unwrap();
        let s = settings(2, 60_000, 30_000);
        let err = save(&blocker, "p", &LbHealth::new(["x"]), NOW, &s).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot create engine state {}: ",
                blocker.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn save_replaces_the_previous_state() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(2, 60_000, 30_000);
        save(tmp.path(), "p", &sample(&s), NOW, &s).unwrap();
        let fresh = LbHealth::new(["synthetic", "chutes"]);
        save(tmp.path(), "p", &fresh, NOW, &s).unwrap();
        assert_eq!(
            load(tmp.path(), "p", &["synthetic", "chutes"]),
            (fresh, None)
        );
        assert_eq!(dir_entries(tmp.path()), vec!["p.json"]);
    }
}
