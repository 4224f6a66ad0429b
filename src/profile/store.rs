//! [`ProfileStore`]: the profiles folder, one `NAME.json` per profile.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fsutil::{ReadError, read_capped_string};

use super::error::{ProfileError, Result};
use super::format::{parse_profile, try_to_json, validate_name};
use super::model::{Loaded, ModelProfile, Profile, Resolved};

/// Largest profile file baton reads; real ones are a few hundred bytes.
pub(super) const MAX_PROFILE_BYTES: u64 = 1024 * 1024;

/// The profiles folder (`Home::profiles_dir()`, or llxprt's for an import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileStore {
    dir: PathBuf,
}

impl ProfileStore {
    /// A store over `dir`. Nothing is created until the first save.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds profile `name` (the name is checked first).
    pub(crate) fn path_of(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Profile names, sorted. A missing folder has none.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ProfileError::io("list", &self.dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ProfileError::io("list", &self.dir, e))?;
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            let Some(stem) = file_name.strip_suffix(".json") else {
                continue;
            };
            // Temp files and other dot files start with '.', which validate_name refuses.
            if validate_name(stem).is_ok() && entry.path().is_file() {
                names.push(stem.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// True when profile `name` exists (false for invalid names).
    pub(crate) fn exists(&self, name: &str) -> bool {
        self.path_of(name).is_ok_and(|p| p.is_file())
    }

    /// Reads and checks profile `name`. Members of a load balancer are not loaded;
    /// see [`ProfileStore::resolve`].
    pub fn load(&self, name: &str) -> Result<Loaded> {
        let path = self.path_of(name)?;
        let text = match read_capped_string(&path, MAX_PROFILE_BYTES) {
            Ok(text) => text,
            Err(ReadError::NotFound { .. }) => return Err(self.not_found(name)),
            Err(ReadError::Io { source, .. }) => {
                return Err(ProfileError::io("read", &path, source));
            }
            Err(e) => return Err(ProfileError::File(e)),
        };
        let (profile, warnings) = parse_profile(&path, &text)?;
        Ok(Loaded {
            name: name.to_string(),
            path,
            profile,
            warnings,
        })
    }

    /// Writes profile `name`, replacing any existing one, and returns its path.
    ///
    /// Protected settings (`auth-key`, credential `custom-headers`) are left out; a
    /// raw secret anywhere else (credentials in `base-url`, a key-like model
    /// parameter) refuses the save with [`ProfileError::RawSecret`] naming the field.
    ///
    /// The text is checked by reading it back before anything touches the disk, then
    /// written to a private temp file in the same folder, flushed to disk and renamed
    /// over the old file, so a crash leaves either the old profile or the new one,
    /// never half of one.
    pub fn save(&self, name: &str, profile: &Profile) -> Result<PathBuf> {
        let path = self.path_of(name)?;
        refuse_raw_secrets(name, profile)?;
        let text = try_to_json(profile)
            .map_err(|e| ProfileError::io("write", &path, io::Error::other(e)))?;
        // Refuses what could not be loaded again (a load balancer listing itself, no
        // members, bad values set behind the registry's back).
        parse_profile(&path, &text)?;
        crate::fsutil::create_private_dir(&self.dir)
            .map_err(|e| ProfileError::io("create", &self.dir, e))?;
        crate::fsutil::write_atomic(&path, text.as_bytes())
            .map_err(|e| ProfileError::io("write", &path, e))?;
        Ok(path)
    }

    /// Deletes profile `name`, unless a load-balancer profile lists it.
    pub(crate) fn delete(&self, name: &str) -> Result<()> {
        let path = self.path_of(name)?;
        if !path.is_file() {
            return Err(self.not_found(name));
        }
        let users = self.users_of(name)?;
        if !users.is_empty() {
            return Err(ProfileError::InUse {
                name: name.to_string(),
                users,
            });
        }
        fs::remove_file(&path).map_err(|e| ProfileError::io("delete", &path, e))
    }

    /// Loads `name` and, for a load balancer, every member down to the model
    /// profiles. Refuses missing members and cycles (`a -> b -> a`).
    pub fn resolve(&self, name: &str) -> Result<Resolved> {
        Resolver::new(self).resolve(name, &mut Vec::new(), &mut Vec::new())
    }

    /// Like [`resolve`](Self::resolve), also returning the warnings of every file
    /// read on the way (a raw key, unknown settings), each prefixed with its file.
    pub(crate) fn resolve_with_warnings(&self, name: &str) -> Result<(Resolved, Vec<String>)> {
        let mut warnings = Vec::new();
        let resolved = Resolver::new(self).resolve(name, &mut Vec::new(), &mut warnings)?;
        Ok((resolved, warnings))
    }

    /// Load-balancer profiles that list `name` as a member, sorted.
    ///
    /// A profile that fails to load is still checked by its raw `profiles` list, so a
    /// broken load balancer cannot lose a member to `delete`.
    pub(crate) fn users_of(&self, name: &str) -> Result<Vec<String>> {
        let mut users = Vec::new();
        for other in self.list()? {
            if other == name {
                continue;
            }
            let lists_it = match self.load(&other) {
                Ok(loaded) => match loaded.profile {
                    Profile::LoadBalancer(lb) => lb.profiles.iter().any(|p| p == name),
                    Profile::Model(_) => false,
                },
                Err(_) => self.raw_lists(&other, name),
            };
            if lists_it {
                users.push(other);
            }
        }
        Ok(users)
    }

    fn raw_lists(&self, profile: &str, member: &str) -> bool {
        let Ok(path) = self.path_of(profile) else {
            return false;
        };
        let Ok(text) = read_capped_string(&path, MAX_PROFILE_BYTES) else {
            return false;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            return false;
        };
        value
            .get("profiles")
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|v| v.as_str() == Some(member)))
    }

    /// Loads every profile; load balancers are also resolved, so missing members and
    /// cycles show up. For `baton profiles validate`.
    pub(crate) fn validate_all(&self) -> Vec<(String, Result<Loaded>)> {
        let names = match self.list() {
            Ok(names) => names,
            Err(e) => return vec![(self.dir.display().to_string(), Err(e))],
        };
        // One resolver for all: each file is read once, not once per profile.
        let mut resolver = Resolver::new(self);
        names
            .into_iter()
            .map(|name| {
                let result = resolver
                    .load(&name)
                    .and_then(|loaded| match loaded.profile {
                        Profile::LoadBalancer(_) => resolver
                            .resolve(&name, &mut Vec::new(), &mut Vec::new())
                            .map(|_| loaded),
                        Profile::Model(_) => Ok(loaded),
                    });
                (name, result)
            })
            .collect()
    }

    fn not_found(&self, name: &str) -> ProfileError {
        ProfileError::NotFound {
            name: name.to_string(),
            dir: self.dir.clone(),
            available: self.list().unwrap_or_default(),
        }
    }
}

/// One resolution: every profile file is read at most once, however many load
/// balancers list it and however many pool members look for siblings, so resolving
/// an LB of N members costs O(profiles in the folder), not O(N × profiles).
struct Resolver<'a> {
    store: &'a ProfileStore,
    loaded: HashMap<String, Loaded>,
    /// Every model profile in the folder and its pool key, read on the first pool
    /// lookup; and the profiles that failed to load, with why.
    pools: Option<PoolIndex>,
}

#[derive(Default)]
struct PoolIndex {
    /// Model profiles by pool key (`poolName`, else their own name), sorted by name.
    by_key: HashMap<String, Vec<(String, ModelProfile)>>,
    broken: Vec<(String, String)>,
}

impl<'a> Resolver<'a> {
    fn new(store: &'a ProfileStore) -> Self {
        Self {
            store,
            loaded: HashMap::new(),
            pools: None,
        }
    }

    fn load(&mut self, name: &str) -> Result<Loaded> {
        if let Some(loaded) = self.loaded.get(name) {
            return Ok(loaded.clone());
        }
        let loaded = self.store.load(name)?;
        self.loaded.insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }

    fn resolve(
        &mut self,
        name: &str,
        stack: &mut Vec<String>,
        warnings: &mut Vec<String>,
    ) -> Result<Resolved> {
        if let Some(start) = stack.iter().position(|n| n == name) {
            let mut chain = stack[start..].to_vec();
            chain.push(name.to_string());
            return Err(ProfileError::Cycle {
                dir: self.store.dir.clone(),
                chain,
            });
        }
        let loaded = self.load(name)?;
        warnings.extend(
            loaded
                .warnings
                .iter()
                .map(|w| format!("{}: {w}", loaded.path.display())),
        );
        match loaded.profile {
            Profile::Model(profile) => self.pool_of(name, profile, warnings),
            Profile::LoadBalancer(profile) => {
                stack.push(name.to_string());
                let mut members = Vec::with_capacity(profile.profiles.len());
                for member in &profile.profiles {
                    match self.resolve(member, stack, warnings) {
                        Ok(resolved) => members.push(resolved),
                        Err(ProfileError::NotFound {
                            name: missing,
                            dir,
                            available,
                        }) if missing == *member => {
                            return Err(ProfileError::MissingMember {
                                path: loaded.path,
                                lb: name.to_string(),
                                member: missing,
                                dir,
                                available,
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
                stack.pop();
                Ok(Resolved::LoadBalancer {
                    name: name.to_string(),
                    profile,
                    members,
                })
            }
        }
    }

    fn pool_index(&mut self) -> Result<&PoolIndex> {
        if self.pools.is_none() {
            let mut index = PoolIndex::default();
            for other in self.store.list()? {
                match self.load(&other) {
                    Ok(Loaded {
                        profile: Profile::Model(m),
                        ..
                    }) => {
                        let key = m.pool_name.clone().unwrap_or_else(|| other.clone());
                        index.by_key.entry(key).or_default().push((other, m));
                    }
                    Ok(_) => {}
                    Err(e) => index.broken.push((other, e.to_string())),
                }
            }
            self.pools = Some(index);
        }
        Ok(self.pools.get_or_insert_with(PoolIndex::default))
    }

    /// A model profile alone, or the pool it belongs to: the pool key is
    /// `poolName`, else the profile's own name, so a solo profile whose name equals
    /// another's `poolName` joins that pool.
    fn pool_of(
        &mut self,
        name: &str,
        profile: ModelProfile,
        warnings: &mut Vec<String>,
    ) -> Result<Resolved> {
        let key = profile
            .pool_name
            .clone()
            .unwrap_or_else(|| name.to_string());
        let index = self.pool_index()?;
        let mut members: Vec<(String, ModelProfile)> = index
            .by_key
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(other, _)| other != name)
            .cloned()
            .collect();
        // A sibling that fails to load is left out of the pool, with a warning,
        // rather than taking the pinned profile down with it.
        if profile.pool_name.is_some() {
            for (other, e) in index.broken.iter().filter(|(other, _)| other != name) {
                warnings.push(format!("pool '{key}': skipping {other}: {e}"));
            }
        }
        if members.is_empty() {
            return Ok(Resolved::Model {
                name: name.to_string(),
                profile,
            });
        }
        members.push((name.to_string(), profile));
        members.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Resolved::Pool {
            key,
            pinned: name.to_string(),
            members,
        })
    }
}

/// Refuses a profile that would put a raw secret on disk, naming the field.
fn refuse_raw_secrets(name: &str, profile: &Profile) -> Result<()> {
    let refuse = |field: String, what: &str| ProfileError::RawSecret {
        name: name.to_string(),
        field,
        what: what.to_string(),
    };
    let settings = profile.settings();
    if let Some(url) = settings.get_str("base-url")
        && let Some(what) = crate::redact::url_credentials(url)
    {
        let what = match what.as_str() {
            "user:password" => "a user name and password in the URL".to_string(),
            param => format!("the `{param}` query parameter"),
        };
        return Err(refuse("ephemeralSettings.base-url".into(), &what));
    }
    if let Profile::Model(m) = profile {
        for (key, value) in &m.model_params {
            let is_secret = crate::redact::is_key_like(key)
                && value.as_str().is_some_and(|v| !v.trim().is_empty());
            if is_secret {
                return Err(refuse(format!("modelParams.{key}"), "a key-like parameter"));
            }
        }
    }
    Ok(())
}
