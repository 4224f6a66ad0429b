//! The settings registry: one table of every setting baton knows.
//!
//! Each row ([`SettingSpec`]) names a key (llxprt's spelling, so its profiles and
//! habits carry over), the values it accepts ([`SettingKind`]), its default, a line of
//! help, whether it is a secret, and where it applies ([`Scope`]). Everything else is
//! derived from the table:
//! - [`parse_value`] checks text from `/set` and `--set`; [`check_value`] checks JSON
//!   from profile files. Both return the same normalised value, or a [`SettingError`]
//!   such as `timeout_ms must be a positive integer (got abc)`.
//! - [`Settings`] holds checked values in a stable order; [`LbSettings`] is the typed
//!   view the load balancer reads, with defaults filled in.
//! - [`Settings::without_protected`] is the filter applied before anything is saved.
//! - [`settings_markdown`] renders `docs/settings.md`.

pub(crate) mod file;
mod registry;
mod settings;
mod value;

pub(crate) use registry::{Scope, SettingKind, keys, registry, spec};
pub(crate) use settings::BreakerSettings;
pub use settings::{LbSettings, Settings};
pub(crate) use value::{SettingError, display_value, is_secret_header, parse_value};

#[cfg(test)]
/// The settings table as Markdown (committed as `docs/settings.md`).
pub(crate) fn settings_markdown() -> String {
    let mut out = String::from(
        "# Settings\n\n\
         <!-- Generated from src/config/registry.rs by `settings_markdown()`; \
         do not edit. Regenerate with `BATON_UPDATE_DOCS=1 cargo test --lib`. -->\n\n\
         Set with `/set KEY VALUE` in a session or `--set KEY=VALUE` on the command line; \
         clear with `/set unset KEY`; `/set KEY` shows the help below. Profiles keep them \
         under `ephemeralSettings` (llxprt's names, so llxprt profiles load unchanged).\n\n\
         Protected settings are secrets: they are used in memory but never written to a \
         profile. The same goes for `custom-headers` entries whose name looks like a \
         credential (`Authorization`, `*key*`, `*token*`, `*secret*`, `*auth*`, `Cookie`).\n\n\
         In profile files, numbers must be JSON numbers (`30000`, not `\"30000\"`); \
         `failover_retry_count: 0` means one attempt, as in llxprt. Keys baton does not \
         know are kept as written, with a warning.\n",
    );
    for scope in [Scope::LoadBalancer, Scope::Backend, Scope::Session] {
        let title = match scope {
            Scope::LoadBalancer => "Load balancer",
            Scope::Backend => "Backend",
            Scope::Session => "Session (kept for llxprt profiles)",
        };
        out.push_str(&format!(
            "\n## {title}\n\n| key | value | default | protected | meaning |\n|---|---|---|---|---|\n"
        ));
        for s in registry().iter().filter(|s| s.scope == scope) {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                s.key,
                value_cell(s),
                s.default
                    .map(|d| format!("`{d}`"))
                    .unwrap_or_else(|| "unset".to_string()),
                if s.protected { "yes" } else { "no" },
                s.help.replace('|', "\\|"),
            ));
        }
    }
    out
}

#[cfg(test)]
/// Test helper shared by the generated-docs drift tests: compares `content` with the
/// committed file at `rel` (from the crate root), or rewrites it when
/// `BATON_UPDATE_DOCS=1`.
/// The docs' "value" cell: the kind, and the range of a number.
fn value_cell(s: &registry::SettingSpec) -> String {
    let kind = s.kind.to_string().replace('|', "\\|");
    match s.range() {
        Some(range) => format!("{kind}, {range}"),
        None => kind,
    }
}

#[cfg(test)]
pub(crate) fn check_generated_doc(rel: &str, content: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    if std::env::var_os("BATON_UPDATE_DOCS").is_some_and(|v| v == "1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {dir:?}: {e}"));
        }
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == content,
        "{rel} is out of date with the code; regenerate it with \
         `BATON_UPDATE_DOCS=1 cargo test --lib` and commit the result"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_doc_is_current() {
        check_generated_doc("docs/settings.md", &settings_markdown());
    }

    #[test]
    fn markdown_lists_every_key() {
        let md = settings_markdown();
        for s in registry() {
            assert!(md.contains(&format!("| `{}` |", s.key)), "{}", s.key);
        }
    }
}
