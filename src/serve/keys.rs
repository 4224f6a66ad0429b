//! Client keys for `baton serve`: a file of `NAME:SHA256HEX` lines (`serve.keys` in
//! baton's home, or `--keys FILE`). Only hashes are stored, so a leaked file does not
//! leak a key; `baton serve keys add NAME` prints a new key once.
//!
//! A presented key is hashed and compared with every stored hash in constant time,
//! without stopping at the first match, so timing says nothing about which byte or
//! which entry differed.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// The prefix of every generated key, so one is recognisable in a config file.
const KEY_PREFIX: &str = "bk-";
/// Random bytes in a generated key (256 bits).
const KEY_BYTES: usize = 32;

/// Why the keys file could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeysError {
    #[error("cannot {action} keys file {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "keys file {}, line {line}: expected NAME:SHA256HEX (64 hex digits); \
         create entries with `baton serve keys add NAME`",
        .path.display()
    )]
    BadLine { path: PathBuf, line: usize },
    #[error("key name '{0}' may only hold ASCII letters, digits, '-', '_' and '.'")]
    BadName(String),
    #[error("keys file {} already has a key named '{name}'", .path.display())]
    Duplicate { path: PathBuf, name: String },
    #[error("no system random source for a new key")]
    Random,
}

/// One stored key: its name (for logs and metrics) and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    hash: [u8; 32],
}

/// The keys a server accepts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    entries: Vec<Entry>,
}

impl Keys {
    /// Reads `path`; `Ok(None)` when the file does not exist.
    pub(crate) fn load(path: &Path) -> Result<Option<Self>, KeysError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(KeysError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(&text, path).map(Some)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, KeysError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || KeysError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
            };
            let (name, hex) = line.split_once(':').ok_or_else(bad)?;
            let hash = parse_hex(hex.trim()).ok_or_else(bad)?;
            entries.push(Entry {
                name: name.trim().to_string(),
                hash,
            });
        }
        Ok(Self { entries })
    }

    /// True when the file holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The name of the key `presented` is, if any. Every entry is compared.
    pub(crate) fn check(&self, presented: &str) -> Option<&str> {
        let hash = sha256(presented.as_bytes());
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&hash)) {
                found = Some(entry.name.as_str());
            }
        }
        found
    }
}

/// Makes a new key named `name`, appends its hash to `path` (created 0600) and
/// returns the key, which is stored nowhere.
pub(crate) fn add(path: &Path, name: &str) -> Result<String, KeysError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(KeysError::BadName(name.to_string()));
    }
    let keys = Keys::load(path)?.unwrap_or_default();
    if keys.entries.iter().any(|e| e.name == name) {
        return Err(KeysError::Duplicate {
            path: path.to_path_buf(),
            name: name.to_string(),
        });
    }
    let mut raw = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| KeysError::Random)?;
    let key = format!("{KEY_PREFIX}{}", to_hex(&raw));
    let line = format!("{name}:{}\n", to_hex(&sha256(key.as_bytes())));
    append_private(path, &line).map_err(|source| KeysError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(key)
}

/// Appends to `path`, creating it (and its folder) readable by the owner only.
fn append_private(path: &Path, line: &str) -> io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // An existing file made by hand keeps no wider rights than a new one.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(line.as_bytes())?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        file.write_all(line.as_bytes())?;
        file.sync_all()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_added_key_checks_and_only_its_hash_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.keys");
        let key = add(&path, "ci").unwrap();
        assert!(key.starts_with("bk-") && key.len() == 3 + 64);
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&key));
        let keys = Keys::load(&path).unwrap().unwrap();
        assert_eq!(keys.check(&key), Some("ci"));
        assert_eq!(keys.check("bk-wrong"), None);
        assert!(matches!(add(&path, "ci"), Err(KeysError::Duplicate { .. })));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let err = Keys::parse("# c\nok:zz\n", Path::new("k")).unwrap_err();
        assert_eq!(
            err.to_string().split(':').next(),
            Some("keys file k, line 2")
        );
        assert!(
            Keys::load(Path::new("/nonexistent/serve.keys"))
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            add(Path::new("x"), "a b"),
            Err(KeysError::BadName(_))
        ));
    }
}
