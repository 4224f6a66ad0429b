//! Importing llxprt-code's profiles (`~/.llxprt/profiles/*.json`).
//!
//! The formats are the same, so an import is: read, check, and save through the store,
//! which drops raw secrets on the way. Nothing already in baton is overwritten.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{ProfileError, Result};
use super::format::{parse_profile, validate_name};
use super::store::ProfileStore;

/// What an import did, file by file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImportReport {
    /// Profiles copied in, sorted.
    pub(crate) imported: Vec<String>,
    /// Profiles left alone because baton already has one of that name.
    pub(crate) skipped_existing: Vec<String>,
    /// Secrets dropped per imported profile (`auth-key`, `custom-headers.Authorization`).
    pub(crate) stripped: Vec<(String, Vec<String>)>,
    /// Warnings per imported profile (unknown fields, unknown settings, ...).
    pub(crate) warnings: Vec<(String, String)>,
    /// Files that could not be imported, with the reason.
    pub(crate) failed: Vec<(String, String)>,
}

/// llxprt's profiles folder: `~/.llxprt/profiles`, when a home folder is known.
pub(crate) fn default_llxprt_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().join(".llxprt").join("profiles"))
}

/// Copies every `*.json` profile in `src_dir` into `store`: each is checked, profiles
/// whose name already exists are skipped, raw secrets are stripped, and a bad file is
/// reported without stopping the rest.
pub(crate) fn import_llxprt(src_dir: &Path, store: &ProfileStore) -> Result<ImportReport> {
    let entries = fs::read_dir(src_dir).map_err(|e| ProfileError::io("read", src_dir, e))?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ProfileError::io("read", src_dir, e))?;
        let path = entry.path();
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if let Some(stem) = file_name.strip_suffix(".json")
            && !file_name.starts_with('.')
            && path.is_file()
        {
            files.push((stem.to_string(), path));
        }
    }
    files.sort();
    let mut report = ImportReport::default();
    for (name, path) in files {
        if let Err(e) = validate_name(&name) {
            report.failed.push((name, e.to_string()));
            continue;
        }
        if store.exists(&name) {
            report.skipped_existing.push(name);
            continue;
        }
        let text = match crate::fsutil::read_capped_string(&path, super::store::MAX_PROFILE_BYTES) {
            Ok(text) => text,
            Err(crate::fsutil::ReadError::Io { source, .. }) => {
                report
                    .failed
                    .push((name, ProfileError::io("read", &path, source).to_string()));
                continue;
            }
            Err(e) => {
                report.failed.push((name, e.to_string()));
                continue;
            }
        };
        let (profile, warnings) = match parse_profile(&path, &text) {
            Ok(parsed) => parsed,
            Err(e) => {
                report.failed.push((name, e.to_string()));
                continue;
            }
        };
        let secrets = profile.settings().protected_entries();
        if let Err(e) = store.save(&name, &profile) {
            report.failed.push((name, e.to_string()));
            continue;
        }
        if !secrets.is_empty() {
            report.stripped.push((name.clone(), secrets));
        }
        report
            .warnings
            .extend(warnings.into_iter().map(|w| (name.clone(), w)));
        report.imported.push(name);
    }
    Ok(report)
}

#[cfg(test)]
/// True when `err` is "the llxprt folder does not exist" (so a caller can say
/// "nothing to import" rather than fail).
pub(crate) fn is_missing_dir(err: &ProfileError) -> bool {
    matches!(err, ProfileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for name in &self.imported {
            writeln!(f, "imported  {name}")?;
        }
        for (name, keys) in &self.stripped {
            writeln!(
                f,
                "  {name}: dropped {} (keep keys in auth-keyfile or auth-key-env)",
                keys.join(", ")
            )?;
        }
        for (name, warning) in &self.warnings {
            writeln!(f, "  {name}: warning: {warning}")?;
        }
        for name in &self.skipped_existing {
            writeln!(f, "skipped   {name} (a baton profile of that name exists)")?;
        }
        for (name, reason) in &self.failed {
            writeln!(f, "failed    {name}: {reason}")?;
        }
        writeln!(
            f,
            "{} imported, {} skipped, {} failed",
            self.imported.len(),
            self.skipped_existing.len(),
            self.failed.len()
        )
    }
}
