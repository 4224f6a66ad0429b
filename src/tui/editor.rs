//! The prompt in `$VISUAL`/`$EDITOR` (Ctrl-G or Ctrl-X Ctrl-E): the input goes to a
//! private temp file, the editor runs on the real terminal, and what was saved comes
//! back as the input. The main loop suspends and restores the chat around it.

use std::path::{Path, PathBuf};

/// The editor to run: the config file's `editor`, else `$VISUAL`, else `$EDITOR`,
/// else `vi`.
pub(crate) fn command(configured: Option<&str>) -> String {
    let from_env = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    configured
        .map(str::to_owned)
        .filter(|c| !c.trim().is_empty())
        .or_else(|| from_env("VISUAL"))
        .or_else(|| from_env("EDITOR"))
        .unwrap_or_else(|| "vi".to_owned())
}

/// Edits `text` with `editor` (a shell command line, so `code --wait` works) and
/// returns what was saved, without the final newline editors add. An editor that
/// fails leaves the input as it was: the error says so.
pub(crate) async fn edit(editor: &str, text: &str) -> Result<String, String> {
    let path = temp_path();
    let result = run(editor, text, &path).await;
    let _ = std::fs::remove_file(&path);
    result
}

async fn run(editor: &str, text: &str, path: &Path) -> Result<String, String> {
    let unchanged = "the input is unchanged";
    write_private(path, text).map_err(|e| {
        format!(
            "cannot write {} for the editor: {e}; {unchanged}",
            path.display()
        )
    })?;
    // Through the shell, as git runs its editor: the command may carry arguments.
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .await
        .map_err(|e| format!("cannot run the editor '{editor}': {e}; {unchanged}"))?;
    if !status.success() {
        let code = status
            .code()
            .map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
        return Err(format!(
            "the editor '{editor}' exited with {code}; {unchanged}"
        ));
    }
    let saved = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read what the editor saved: {e}; {unchanged}"))?;
    Ok(saved.trim_end_matches(['\n', '\r']).to_owned())
}

fn temp_path() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("baton-prompt-{}-{n}.md", std::process::id()))
}

/// A new file only this user can read: the prompt may be private.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = crate::fsutil::private_options()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_saved_text_comes_back_and_a_failing_editor_changes_nothing() {
        // An "editor" that appends a line to the file it is given.
        let edited = edit("printf 'second line\\n' >>", "first line\n").await;
        assert_eq!(edited.as_deref(), Ok("first line\nsecond line"));
        let failed = edit("false", "keep me").await.unwrap_err();
        assert_eq!(
            failed,
            "the editor 'false' exited with status 1; the input is unchanged"
        );
    }

    #[test]
    fn the_configured_editor_wins() {
        assert_eq!(command(Some("nano")), "nano");
    }
}
