//! Reading and writing the file format (llxprt-code's, so its profiles load unchanged).
//!
//! Reading is done by hand over a `serde_json::Value` rather than with a derived
//! `Deserialize`, so every refusal can name the file, the field, the value found and
//! what is allowed, and so unknown fields become warnings instead of errors.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{ProfileError, Result};
use super::model::{LbProfile, ModelProfile, Policy, Profile};
use crate::config::Settings;

/// Top-level fields baton reads (`name` is llxprt's and informational).
const KNOWN_FIELDS: &[&str] = &[
    "version",
    "type",
    "name",
    "policy",
    "profiles",
    "provider",
    "model",
    "modelParams",
    "ephemeralSettings",
    "poolName",
];

/// Checks that `name` can be a profile file name.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let reason = if name.trim().is_empty() {
        Some("a name cannot be empty")
    } else if name.contains('/') || name.contains('\\') {
        Some("a name cannot contain '/' or '\\'")
    } else if name.starts_with('.') {
        Some("a name cannot start with '.'")
    } else if name.chars().any(char::is_control) {
        Some("a name cannot contain control characters")
    } else if name.len() > 200 {
        Some("a name can be at most 200 bytes long")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProfileError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Parses a profile file's text. Pure: `path` is used for messages and its file stem
/// as the profile's name (to catch a load balancer that lists itself).
///
/// Returns the profile and warnings (unknown fields and settings, a raw `auth-key`,
/// ignored fields) that do not stop it loading.
pub(crate) fn parse_profile(path: &Path, text: &str) -> Result<(Profile, Vec<String>)> {
    let value: Value = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Value::Object(obj) = value else {
        return Err(wrong(path, "(top level)", "a JSON object", &value));
    };
    let mut warnings = Vec::new();
    for key in obj.keys() {
        if !KNOWN_FIELDS.contains(&key.as_str()) {
            warnings.push(format!("unknown field `{key}` ignored"));
        }
    }
    if let Some(v) = obj.get("version")
        && v.as_f64() != Some(1.0)
    {
        return Err(ProfileError::Version {
            path: path.to_path_buf(),
            got: v.to_string(),
        });
    }
    match obj.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(n)) if *n == name => {}
        Some(Value::String(n)) => warnings.push(format!(
            "`name` says '{n}' but the file is {name}.json; baton uses the file name"
        )),
        Some(other) => warnings.push(format!("`name` is not text ({other}); ignored")),
    }
    let is_lb = match obj.get("type") {
        None | Some(Value::Null) => false,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("loadbalancer") => true,
        Some(Value::String(t)) if t.eq_ignore_ascii_case("model") => false,
        Some(other) => {
            return Err(ProfileError::Type {
                path: path.to_path_buf(),
                got: other.to_string(),
            });
        }
    };
    let settings = read_settings(path, &obj)?;
    let secrets = settings.0.protected_entries();
    for entry in secrets {
        warnings.push(if entry == "auth-key" {
            format!(
                "profile {name} holds a raw auth-key; move it to auth-keyfile or auth-key-env \
                 — baton will not save it back"
            )
        } else {
            format!(
                "profile {name} holds a secret header ({entry}); use auth-keyfile or \
                 auth-key-env for keys — baton will not save it back"
            )
        });
    }
    let (profile, more) = if is_lb {
        parse_lb(path, &name, &obj, settings)?
    } else {
        parse_model(path, &obj, settings)?
    };
    warnings.extend(more);
    Ok((profile, warnings))
}

fn parse_model(
    path: &Path,
    obj: &Map<String, Value>,
    settings: (Settings, Vec<String>),
) -> Result<(Profile, Vec<String>)> {
    let (settings, mut warnings) = settings;
    let lb_hint = if obj.contains_key("profiles") {
        "; this looks like a load-balancer profile: add \"type\": \"loadbalancer\""
    } else {
        ""
    };
    let provider = required_text(
        path,
        obj,
        "provider",
        if lb_hint.is_empty() {
            "; e.g. \"openai\", \"anthropic\", \"gemini\", \"ollama\", \"sim\""
        } else {
            lb_hint
        },
    )?;
    let model = required_text(
        path,
        obj,
        "model",
        if lb_hint.is_empty() {
            "; the model name the server expects, e.g. \"gpt-4o\""
        } else {
            lb_hint
        },
    )?;
    // Unknown providers load with a warning (the engine refuses them when used), so
    // a profile for a provider a newer baton speaks still lists and validates.
    if crate::provider::lookup(&provider).is_none() {
        warnings.push(format!(
            "provider '{provider}' is not one baton speaks ({}); this profile will fail when used",
            crate::provider::known_providers().join(", ")
        ));
    }
    for ignored in ["policy", "profiles"] {
        if obj.contains_key(ignored) {
            warnings.push(format!(
                "`{ignored}` ignored: only load-balancer profiles (\"type\": \"loadbalancer\") use it"
            ));
        }
    }
    let model_params = read_model_params(path, obj)?;
    let pool_name = match obj.get("poolName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(other) => return Err(wrong(path, "poolName", "a non-empty pool name", other)),
    };
    let profile = ModelProfile {
        provider,
        model,
        model_params,
        settings,
        pool_name,
    };
    Ok((Profile::Model(profile), warnings))
}

fn parse_lb(
    path: &Path,
    name: &str,
    obj: &Map<String, Value>,
    settings: (Settings, Vec<String>),
) -> Result<(Profile, Vec<String>)> {
    let (settings, mut warnings) = settings;
    let policy = match obj.get("policy") {
        None | Some(Value::Null) => {
            return Err(ProfileError::MissingField {
                path: path.to_path_buf(),
                field: "policy".to_string(),
                hint: "; one of failover, roundrobin, random".to_string(),
            });
        }
        Some(v) => v
            .as_str()
            .and_then(|s| s.parse::<Policy>().ok())
            .ok_or_else(|| ProfileError::Policy {
                path: path.to_path_buf(),
                got: v.to_string(),
            })?,
    };
    let list = match obj.get("profiles") {
        None | Some(Value::Null) => {
            return Err(ProfileError::MissingField {
                path: path.to_path_buf(),
                field: "profiles".to_string(),
                hint: "; a list of member profile names, e.g. [\"a\", \"b\"]".to_string(),
            });
        }
        Some(Value::Array(items)) => items,
        Some(other) => return Err(wrong(path, "profiles", "a list of profile names", other)),
    };
    if list.is_empty() {
        return Err(ProfileError::NoMembers {
            path: path.to_path_buf(),
        });
    }
    let mut profiles: Vec<String> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let member = item
            .as_str()
            .filter(|s| validate_name(s).is_ok())
            .ok_or_else(|| {
                wrong(
                    path,
                    &format!("profiles[{i}]"),
                    "a profile name (not empty, no '/' or '\\', not starting with '.')",
                    item,
                )
            })?;
        if member == name {
            return Err(ProfileError::SelfReference {
                path: path.to_path_buf(),
                name: name.to_string(),
            });
        }
        if profiles.iter().any(|p| p == member) {
            warnings.push(format!("`profiles` lists '{member}' twice; using it once"));
        } else {
            profiles.push(member.to_string());
        }
    }
    for field in ["provider", "model"] {
        if obj
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            warnings.push(format!(
                "`{field}` ignored in a load-balancer profile: each member names its own"
            ));
        }
    }
    if obj
        .get("modelParams")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
    {
        warnings.push(
            "`modelParams` ignored in a load-balancer profile: each member has its own".into(),
        );
    }
    if obj.get("poolName").is_some_and(|v| !v.is_null()) {
        warnings.push("`poolName` ignored in a load-balancer profile".into());
    }
    let profile = LbProfile {
        policy,
        profiles,
        settings,
    };
    Ok((Profile::LoadBalancer(profile), warnings))
}

fn required_text(path: &Path, obj: &Map<String, Value>, field: &str, hint: &str) -> Result<String> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(ProfileError::MissingField {
            path: path.to_path_buf(),
            field: field.to_string(),
            hint: hint.to_string(),
        }),
        Some(other) => Err(wrong(path, field, "text", other)),
    }
}

fn read_settings(path: &Path, obj: &Map<String, Value>) -> Result<(Settings, Vec<String>)> {
    match obj.get("ephemeralSettings") {
        None | Some(Value::Null) => Ok((Settings::new(), Vec::new())),
        Some(Value::Object(map)) => {
            Settings::try_from_json_map(map).map_err(|source| ProfileError::Setting {
                path: path.to_path_buf(),
                source,
            })
        }
        Some(other) => Err(wrong(
            path,
            "ephemeralSettings",
            "a JSON object of settings",
            other,
        )),
    }
}

fn read_model_params(path: &Path, obj: &Map<String, Value>) -> Result<Map<String, Value>> {
    let map = match obj.get("modelParams") {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(wrong(
                path,
                "modelParams",
                "a JSON object of model parameters",
                other,
            ));
        }
    };
    for (key, value) in map {
        if let Err(err) = crate::provider::params::check_param(key, value) {
            return Err(wrong(
                path,
                &format!("modelParams.{key}"),
                err.expected,
                value,
            ));
        }
    }
    Ok(map.clone())
}

fn wrong(path: &Path, field: &str, expected: &str, got: &Value) -> ProfileError {
    let mut got = got.to_string();
    if got.chars().count() > 60 {
        got = format!("{}...", got.chars().take(57).collect::<String>());
    }
    ProfileError::WrongType {
        path: path.to_path_buf(),
        field: field.to_string(),
        expected: expected.to_string(),
        got,
    }
}

fn json_error(path: &Path, e: &serde_json::Error) -> ProfileError {
    let full = e.to_string();
    // serde_json appends " at line L column C"; we show it as path:L:C instead.
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    ProfileError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message,
    }
}

#[derive(Serialize)]
struct ModelOut<'a> {
    version: u32,
    provider: &'a str,
    model: &'a str,
    #[serde(rename = "poolName", skip_serializing_if = "Option::is_none")]
    pool_name: Option<&'a str>,
    #[serde(rename = "modelParams")]
    model_params: &'a Map<String, Value>,
    /// `Settings` serialises without protected keys.
    #[serde(rename = "ephemeralSettings")]
    settings: &'a Settings,
}

#[derive(Serialize)]
struct LbOut<'a> {
    version: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    policy: Policy,
    profiles: &'a [String],
    provider: &'static str,
    model: &'static str,
    #[serde(rename = "modelParams")]
    model_params: Map<String, Value>,
    #[serde(rename = "ephemeralSettings")]
    settings: &'a Settings,
}

/// The file text of `profile`, as fallible serialisation (used by `save`).
pub(crate) fn try_to_json(profile: &Profile) -> serde_json::Result<String> {
    let mut text = match profile {
        Profile::Model(m) => serde_json::to_string_pretty(&ModelOut {
            version: 1,
            provider: &m.provider,
            model: &m.model,
            pool_name: m.pool_name.as_deref(),
            model_params: &m.model_params,
            settings: &m.settings,
        })?,
        Profile::LoadBalancer(lb) => serde_json::to_string_pretty(&LbOut {
            version: 1,
            kind: "loadbalancer",
            policy: lb.policy,
            profiles: &lb.profiles,
            provider: "",
            model: "",
            model_params: Map::new(),
            settings: &lb.settings,
        })?,
    };
    text.push('\n');
    Ok(text)
}

/// The file text of `profile` in llxprt's format: pretty, two-space indent, stable key
/// order, protected keys left out. Load-balancer profiles carry `provider: ""`,
/// `model: ""` and `modelParams: {}` as llxprt writes them.
pub(crate) fn to_json(profile: &Profile) -> String {
    // Serialising string-keyed maps and plain structs to a String cannot fail.
    try_to_json(profile).unwrap_or_default()
}
