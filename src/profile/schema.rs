//! The JSON Schema of the profile file format, generated with schemars and shipped
//! as `docs/profile.schema.json` (editors use it; `baton profiles validate` documents
//! it). The checks that matter at run time live in `format.rs`; the schema describes
//! the same format for tools.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::model::Policy;
use crate::config::{self, SettingKind};

/// The file format, for schema generation only: files are read by hand in
/// `format.rs` so every refusal can name the field and the value.
#[derive(JsonSchema)]
#[schemars(
    title = "baton profile",
    description = "A baton (and llxprt-code) profile: a model profile names one backend; a load-balancer profile (\"type\": \"loadbalancer\") lists other profiles."
)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // never built: only its schema is used
struct ProfileFile {
    /// Format version. Only 1; may be left out (llxprt's hand-written files).
    #[schemars(range(min = 1, max = 1))]
    version: Option<u32>,
    /// "loadbalancer" for a load-balancer profile; absent or "model" for a model profile.
    #[serde(rename = "type")]
    kind: Option<ProfileType>,
    /// llxprt writes the profile's name here; baton uses the file name.
    name: Option<String>,
    /// Load balancers: how members are picked.
    policy: Option<Policy>,
    /// Load balancers: member profile names, in priority order (at least one).
    #[schemars(length(min = 1))]
    profiles: Option<Vec<String>>,
    /// Model profiles: the provider (openai, anthropic, gemini, ollama, sim). Load balancers: "".
    provider: Option<String>,
    /// Model profiles: the model name sent to the server. Load balancers: "".
    model: Option<String>,
    /// Model profiles: request parameters (temperature, max_tokens, top_p, ...).
    model_params: Option<Map<String, Value>>,
    /// Settings (see docs/settings.md). Unknown keys are kept with a warning.
    ephemeral_settings: Option<EphemeralSettings>,
    /// Model profiles: the pool this backend joins for random selection.
    pool_name: Option<String>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // never built: only its schema is used
enum ProfileType {
    Loadbalancer,
    Model,
}

/// `ephemeralSettings`, described from the settings registry.
struct EphemeralSettings;

impl JsonSchema for EphemeralSettings {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("EphemeralSettings")
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        let mut properties = Map::new();
        for spec in config::registry() {
            let mut prop = match kind_schema(spec.kind) {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            if let Some(max) = spec.max {
                prop.insert("maximum".into(), json!(max));
            }
            let mut description = spec.help.to_string();
            if spec.protected {
                description.push_str(" (protected: never written by baton)");
            }
            prop.insert("description".into(), Value::String(description));
            if let Some(default) = spec
                .default
                .and_then(|d| config::parse_value(spec.key, d).ok())
            {
                prop.insert("default".into(), default);
            }
            properties.insert(spec.key.to_string(), Value::Object(prop));
        }
        let mut schema = Map::new();
        schema.insert("type".into(), json!("object"));
        schema.insert(
            "description".into(),
            json!("Settings by key (docs/settings.md). Keys baton does not know are kept and warned about."),
        );
        schema.insert("properties".into(), Value::Object(properties));
        schema.insert("additionalProperties".into(), json!(true));
        Schema::from(schema)
    }
}

fn kind_schema(kind: SettingKind) -> Value {
    match kind {
        SettingKind::PositiveInt => json!({"type": "integer", "minimum": 1}),
        SettingKind::NonNegativeInt => json!({"type": "integer", "minimum": 0}),
        SettingKind::Bool => json!({"type": "boolean"}),
        SettingKind::Url => {
            json!({"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/\\s]\\S*$"})
        }
        SettingKind::Path => json!({"type": "string", "minLength": 1}),
        SettingKind::EnvVar => json!({"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}),
        SettingKind::Text => json!({"type": "string"}),
        SettingKind::Choice(words) => json!({"type": "string", "enum": words}),
        SettingKind::Toggle { on, off } => json!({"enum": [on, off, true, false]}),
        SettingKind::Fraction => json!({"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
        SettingKind::Headers => {
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        }
        SettingKind::Json => json!({}),
    }
}

/// The JSON Schema of a profile file, pretty-printed (committed as
/// `docs/profile.schema.json`).
pub(crate) fn schema_json() -> String {
    let schema = schemars::schema_for!(ProfileFile);
    // Serialising a schema (a JSON value) to a String cannot fail.
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_doc_is_current() {
        crate::config::check_generated_doc("docs/profile.schema.json", &schema_json());
    }

    #[test]
    fn schema_names_fields_and_settings() {
        let text = schema_json();
        let value: Value = serde_json::from_str(&text).unwrap_or_default();
        let props = &value["properties"];
        for field in [
            "version",
            "type",
            "policy",
            "profiles",
            "provider",
            "model",
            "modelParams",
            "ephemeralSettings",
            "poolName",
        ] {
            assert!(props.get(field).is_some(), "missing {field}: {text}");
        }
        assert!(text.contains("\"roundrobin\""), "{text}");
        assert!(
            text.contains("\"circuit_breaker_failure_threshold\""),
            "{text}"
        );
    }
}
