//! `~/.baton/config.json` as a user meets it: the default profile it names, a
//! broken file's error, `baton config init|show|path`, one-shots kept out of the
//! archive.

use baton_mock::Behavior;
use baton_test_support::home::{TempHome, text};
use baton_test_support::mock::Mock;

#[test]
fn the_default_profile_comes_from_the_config_file() {
    let mock = Mock::with(&[("a", Behavior::answer("from work"))]);
    let home = TempHome::new();
    home.openai_profile("work", &mock.base_url("a"));
    std::fs::write(
        home.path().join("config.json"),
        r#"{"default_profile": "work"}"#,
    )
    .unwrap();
    let out = home.baton().args(["--prompt", "hi"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from work\n");
    // --profile-load still wins.
    let out = home
        .baton()
        .args(["--profile-load", "demo", "--prompt", "hi"])
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("demo backend"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_broken_config_file_is_an_error_naming_the_file_and_field() {
    let home = TempHome::new();
    let path = home.path().join("config.json");
    std::fs::write(&path, r#"{"theme": "blue"}"#).unwrap();
    let out = home.baton().args(["--prompt", "hi"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:1:16: unknown variant `blue`", path.display())),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing was sent");
    let out = home.baton().args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn config_init_writes_a_private_template_once_and_show_reads_it() {
    let home = TempHome::new();
    let out = home.baton().args(["config", "path"]).output().unwrap();
    let path = home.path().join("config.json");
    assert_eq!(text(&out.stdout).trim(), path.display().to_string());
    let out = home.baton().args(["config", "init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = home.baton().args(["config", "init"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "an existing file is kept");
    let shown = home.baton().args(["config", "show"]).output().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(value["default_profile"], "demo");
    assert_eq!(value["mouse"], true);
}

#[test]
fn archive_oneshot_false_keeps_one_shots_out_of_the_archive() {
    let home = TempHome::new();
    std::fs::write(
        home.path().join("config.json"),
        r#"{"archive_oneshot": false}"#,
    )
    .unwrap();
    let out = home.baton().args(["--prompt", "hi"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sessions = home.path().join("sessions");
    let stored = std::fs::read_dir(&sessions).map_or(0, |d| d.count());
    assert_eq!(stored, 0, "one-shot was archived");
    std::fs::remove_file(home.path().join("config.json")).unwrap();
    home.baton().args(["--prompt", "hi"]).output().unwrap();
    assert_eq!(std::fs::read_dir(&sessions).unwrap().count(), 1);
}
