//! The archive's promises, one test each: fast enqueue under a slow disk,
//! coalescing, order, spill and re-enqueue, quarantine, flush on exit / panic /
//! Ctrl-C, `kill -9` losing at most one window, a failing disk reported once,
//! `archive = off`, resume round trips, and the `baton sessions` commands.
//!
//! Child processes (Ctrl-C, kill -9) are this test binary run again with
//! `archive_child_process` selected and told what to do through the environment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton::archive::{
    self, Archive, ArchiveConfig, ArchivedProvenance, Event, Record, Sink, WriterStatus,
};
use baton::home::Home;
use baton::provider::{ErrorClass, Message, Role, Usage};
use baton_test_support::home::TempHome;
use baton_test_support::mock::Mock;
use pretty_assertions::assert_eq;

// ---------------------------------------------------------------- test doubles

/// What a test sink saw: every line written, and how many appends it took.
#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    appends: usize,
}

/// A sink that takes `delay` per append, or waits for a gate to open.
#[derive(Clone, Default)]
struct TestSink {
    seen: Arc<Mutex<Seen>>,
    delay: Duration,
    gate: Option<Arc<(Mutex<bool>, Condvar)>>,
}

impl TestSink {
    fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    fn gated() -> Self {
        Self {
            gate: Some(Arc::new((Mutex::new(false), Condvar::new()))),
            ..Self::default()
        }
    }

    fn open_gate(&self) {
        if let Some(gate) = &self.gate {
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
        }
    }

    fn contents(&self) -> Vec<String> {
        self.seen.lock().unwrap().lines.clone()
    }

    fn appends(&self) -> usize {
        self.seen.lock().unwrap().appends
    }
}

impl Sink for TestSink {
    fn append(&mut self, _session: &str, lines: &[u8]) -> std::io::Result<()> {
        if let Some(gate) = &self.gate {
            let mut open = gate.0.lock().unwrap();
            while !*open {
                open = gate.1.wait(open).unwrap();
            }
        }
        std::thread::sleep(self.delay);
        let mut seen = self.seen.lock().unwrap();
        seen.appends += 1;
        for line in std::str::from_utf8(lines).unwrap().lines() {
            let record = archive::parse_line(line).expect("a whole record per line");
            seen.lines.push(content(&record));
        }
        Ok(())
    }
}

fn content(record: &Record) -> String {
    match &record.event {
        Event::User { content } => content.clone(),
        other => format!("{other:?}"),
    }
}

fn user(session: &str, text: impl Into<String>) -> Record {
    Record::new(
        session,
        Event::User {
            content: text.into(),
        },
    )
}

fn config(home: &Home, capacity: usize, window_ms: u64) -> ArchiveConfig {
    ArchiveConfig {
        capacity,
        coalesce: Duration::from_millis(window_ms),
        ..ArchiveConfig::new(home)
    }
}

fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

fn session_lines(home: &Home, id: &str) -> Vec<String> {
    archive::read(home, id)
        .unwrap()
        .records
        .iter()
        .map(content)
        .collect()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn spill_files(home: &Home) -> Vec<PathBuf> {
    let dir = archive::spill_dir(home);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries.map(|e| e.unwrap().path()).collect()
}

/// How long a step may take before the test calls it hung: far above what the
/// step takes, far below the minute-long windows the wrong behaviour would wait.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Runs `f` on a thread and returns its result, failing the test when it has not
/// finished within `limit` (a hang guard, not a speed check).
fn finishes_within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|e| panic!("still running after {limit:?}: {e}"))
}

/// Polls `cond` for up to two seconds.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

fn provenance() -> ArchivedProvenance {
    ArchivedProvenance {
        backend: "fast".into(),
        provider: "sim".into(),
        model: "sim-fast".into(),
        attempts: 2,
        failovers: 1,
        latency_ms: 42,
        first_chunk_ms: 7,
        usage: Usage {
            input_tokens: 3,
            output_tokens: 5,
            estimated: false,
            ..Usage::default()
        },
    }
}

// ---------------------------------------------------------------- the promises

#[test]
fn enqueue_never_waits_for_the_sink() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    // Every write blocks until the gate opens: an enqueue that waited for the
    // disk would never return. The latency budget (p99 <= 50 us with the disk at
    // 200 ms per write) is measured by `cargo bench --bench archive_enqueue`.
    let sink = TestSink::gated();
    let archive = Archive::start_with_sink(&config(&home, 1024, 5), Box::new(sink.clone()));
    let archive = finishes_within(HANG_GUARD, move || {
        for i in 0..200 {
            archive.enqueue(user("s", i.to_string()));
        }
        archive
    });
    sink.open_gate();
    assert!(archive.flush(Duration::from_secs(3)));
    assert_eq!(sink.contents(), numbers(200));
}

#[test]
fn writes_in_a_window_coalesce_into_one() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let sink = TestSink::default();
    let archive = Archive::start_with_sink(&config(&home, 64, 200), Box::new(sink.clone()));
    for i in 0..10 {
        archive.enqueue(user("s", i.to_string()));
    }
    // Nothing is written before the window closes...
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(sink.appends(), 0);
    // ...then all ten go in one append.
    assert!(eventually(|| sink.appends() > 0));
    assert_eq!(sink.appends(), 1);
    assert_eq!(sink.contents(), numbers(10));
}

#[test]
fn order_is_preserved() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    // A tiny queue and a slowish disk: most records take the spill path, and the
    // file must still read in enqueue order.
    let sink = TestSink::slow(Duration::from_millis(3));
    let archive = Archive::start_with_sink(&config(&home, 4, 1), Box::new(sink.clone()));
    for i in 0..500 {
        archive.enqueue(user("s", i.to_string()));
        if i % 37 == 0 {
            std::thread::sleep(Duration::from_millis(4));
        }
    }
    assert!(archive.flush(Duration::from_secs(3)));
    assert_eq!(sink.contents(), numbers(500));
}

#[test]
fn overflow_spills_and_is_reenqueued_when_idle() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let sink = TestSink::gated();
    let archive = Archive::start_with_sink(&config(&home, 2, 1), Box::new(sink.clone()));
    for i in 0..5 {
        archive.enqueue(user("s", i.to_string()));
    }
    // The writer is stuck on a closed gate; what did not fit went to disk.
    assert!(
        eventually(|| spill_files(&home)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "jsonl"))),
        "no spill file appeared: {:?}",
        spill_files(&home)
    );
    assert!(sink.contents().is_empty());
    sink.open_gate();
    assert!(archive.flush(Duration::from_secs(3)));
    // Everything arrived exactly once, in order, and the spill folder is empty.
    assert_eq!(sink.contents(), numbers(5));
    assert_eq!(spill_files(&home), Vec::<PathBuf>::new());
}

#[test]
fn spill_folder_is_created_only_when_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let archive = Archive::start(&config(&home, 1024, 1));
    archive.enqueue(user("s", "hello"));
    assert!(archive.flush(Duration::from_secs(2)));
    drop(archive);
    assert_eq!(session_lines(&home, "s"), vec!["hello"]);
    assert!(!archive::spill_dir(&home).exists());
}

#[test]
fn malformed_spill_file_is_quarantined_and_the_rest_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let spill = archive::spill_dir(&home);
    std::fs::create_dir_all(&spill).unwrap();
    std::fs::write(spill.join("0001-bad.jsonl"), "this is not json at all\n").unwrap();
    let good: String = ["a", "b"]
        .iter()
        .map(|t| serde_json::to_string(&user("s", *t)).unwrap() + "\n")
        .collect();
    std::fs::write(spill.join("0002-good.jsonl"), good).unwrap();

    let archive = Archive::start(&config(&home, 1024, 1));
    archive.enqueue(user("s", "c"));
    assert!(archive.flush(Duration::from_secs(2)));
    drop(archive);

    let names: Vec<String> = spill_files(&home)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("0001-bad.failed-") && names[0].ends_with(".jsonl"),
        "{names:?}"
    );
    // The good spill file (older) and the new record both arrived.
    assert_eq!(session_lines(&home, "s"), vec!["a", "b", "c"]);
}

#[test]
fn flush_on_exit_is_complete_and_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    // A long window: without the exit flush nothing would be written yet.
    let archive = Archive::start(&config(&home, 1024, 60_000));
    for i in 0..50 {
        archive.enqueue(user("s", i.to_string()));
    }
    // The window is a minute: only the exit flush can write these in time.
    finishes_within(HANG_GUARD, move || drop(archive));
    assert_eq!(session_lines(&home, "s"), numbers(50));
}

#[test]
fn flush_on_exit_gives_up_after_the_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let sink = TestSink::gated();
    let archive = Archive::start_with_sink(&config(&home, 16, 1), Box::new(sink.clone()));
    archive.enqueue(user("s", "stuck"));
    // The sink never opens before the shutdown returns: returning at all is the bound.
    let report = finishes_within(HANG_GUARD, move || {
        archive.shutdown(Duration::from_millis(100))
    });
    assert!(!report.complete);
    sink.open_gate();
}

#[test]
fn flush_on_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let cfg = config(&home, 1024, 60_000);
    let result = std::thread::spawn(move || {
        let archive = Archive::start(&cfg);
        archive.enqueue(user("s", "before the panic"));
        panic!("the UI fell over");
    })
    .join();
    assert!(result.is_err());
    assert_eq!(session_lines(&home, "s"), vec!["before the panic"]);
}

#[cfg(unix)]
#[test]
fn flush_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = child("ctrlc", tmp.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    wait_for_line(&mut lines, "CHILD ready");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = finishes_within(HANG_GUARD, move || child.wait().unwrap());
    assert!(exit.success(), "{exit:?}");
    // The window was a minute long: only the Ctrl-C flush can have written these.
    assert_eq!(session_lines(&Home::at(tmp.path()), "child"), numbers(20));
}

#[cfg(unix)]
#[test]
fn kill_9_loses_at_most_one_window() {
    const WINDOW_MS: u64 = 20;
    // Scheduling slack on a busy machine, on top of the window itself.
    const SLACK_MS: u64 = 200;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = child("stream", tmp.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut sent: Vec<(usize, u64)> = Vec::new();
    while sent.len() < 400 {
        let line = lines.next().expect("child output").unwrap();
        if let Some((_, rest)) = line.split_once("CHILD ") {
            let mut parts = rest.split(' ');
            let i: usize = parts.next().unwrap().parse().unwrap();
            let at: u64 = parts.next().unwrap().parse().unwrap();
            sent.push((i, at));
        }
    }
    let killed_at = unix_ms();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let on_disk = archive::read(&Home::at(tmp.path()), "child").unwrap();
    let written: Vec<String> = on_disk.records.iter().map(content).collect();
    // What reached the disk is a gap-free prefix of what was sent...
    assert_eq!(written, numbers(written.len()));
    // ...and everything enqueued before the last window (plus slack) is in it.
    for (i, at) in &sent {
        if *at + WINDOW_MS + SLACK_MS < killed_at {
            assert!(
                *i < written.len(),
                "event {i}, enqueued {}ms before the kill, was lost ({} on disk)",
                killed_at - at,
                written.len()
            );
        }
    }
}

#[test]
fn read_only_directory_is_reported_once_and_the_chat_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let sessions = home.sessions_dir();
    std::fs::create_dir_all(&sessions).unwrap();
    let restore = make_unwritable(&sessions, "ro");

    let archive = Archive::start(&config(&home, 1024, 1));
    let mut status = archive.handle().subscribe();
    status.borrow_and_update();
    let mut reports = 0;
    for i in 0..3 {
        archive.enqueue(user("ro", i.to_string()));
        assert!(archive.flush(Duration::from_secs(2)));
        if status.has_changed().unwrap() {
            reports += 1;
            status.borrow_and_update();
        }
    }
    assert_eq!(reports, 1, "a failing disk is reported once");
    match archive.status() {
        WriterStatus::Failing { error } => assert!(error.contains("ro.jsonl"), "{error}"),
        other => panic!("expected a failing status, got {other:?}"),
    }

    // The disk comes back: the held records are written and the status clears.
    restore();
    archive.enqueue(user("ro", "3"));
    assert!(archive.flush(Duration::from_secs(2)));
    assert_eq!(archive.status(), WriterStatus::Ok);
    drop(archive);
    assert_eq!(session_lines(&home, "ro"), numbers(4));
}

/// Makes `dir/ID.jsonl` unwritable and returns how to undo it. A read-only folder
/// where permissions apply; as root (which ignores them) a full disk instead, by
/// pointing the session file at `/dev/full`.
fn make_unwritable(dir: &Path, id: &str) -> Box<dyn FnOnce()> {
    use std::os::unix::fs::PermissionsExt;
    let set_mode = |mode| {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    set_mode(0o555);
    let probe = dir.join(".probe");
    if std::fs::write(&probe, b"x").is_err() {
        let dir = dir.to_path_buf();
        return Box::new(move || {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        });
    }
    std::fs::remove_file(&probe).unwrap();
    set_mode(0o755);
    let file = dir.join(format!("{id}.jsonl"));
    std::os::unix::fs::symlink("/dev/full", &file).unwrap();
    Box::new(move || std::fs::remove_file(&file).unwrap())
}

#[test]
fn archive_off_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let mut settings = baton::config::Settings::new();
    settings.set("archive", "off").unwrap();
    let cfg = ArchiveConfig::from_settings(&home, &settings);
    assert!(!cfg.enabled);
    let archive = Archive::start(&cfg);
    assert_eq!(archive.status(), WriterStatus::Off);
    for i in 0..2000 {
        archive.enqueue(user("s", i.to_string()));
    }
    assert!(archive.flush(Duration::from_secs(1)));
    drop(archive);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn settings_configure_capacity_and_window() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let mut settings = baton::config::Settings::new();
    settings.set("archive_queue_capacity", "8").unwrap();
    settings.set("archive_coalesce_ms", "0").unwrap();
    let cfg = ArchiveConfig::from_settings(&home, &settings);
    assert!(cfg.enabled);
    assert_eq!(cfg.capacity, 8);
    assert_eq!(cfg.coalesce, Duration::ZERO);
    assert_eq!(cfg.sessions_dir, home.sessions_dir());
}

#[test]
fn resume_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let id = archive::new_session_id();
    let archive = Archive::start(&config(&home, 1024, 1));
    let mut log = archive::SessionLog::new(archive.handle(), &id);
    log.started("work-lb", false);
    log.setting("auth-key", Some(&serde_json::json!("sk-very-secret")));
    log.setting("timeout_ms", Some(&serde_json::json!(5000)));
    log.user("first question");
    log.record(Event::Failover {
        backend: "down".into(),
        class: ErrorClass::Transient,
        detail: "503 Service Unavailable".into(),
        will_retry: false,
    });
    log.record(Event::Answer {
        content: "first answer".into(),
        provenance: provenance(),
        end: Default::default(),
    });
    log.breaker("down", "open");
    log.stats("work-lb", serde_json::json!({"requests": 1}));
    log.user("second question");
    log.record(Event::Interrupted {
        content: "half an ans".into(),
        provenance: provenance(),
        reason: "cut".into(),
    });
    drop(archive);

    let text = std::fs::read_to_string(home.sessions_dir().join(format!("{id}.jsonl"))).unwrap();
    assert!(!text.contains("sk-very-secret"), "a key reached the disk");
    assert!(text.lines().all(|l| l.starts_with(r#"{"v":1,"#)), "{text}");

    let resumed = archive::resume(&home, &id).unwrap();
    assert_eq!(resumed.id, id);
    assert_eq!(resumed.profile.as_deref(), Some("work-lb"));
    assert_eq!(
        resumed.messages,
        vec![
            Message::user("first question"),
            Message {
                role: Role::Assistant,
                content: "first answer".into()
            },
        ]
    );
    assert_eq!(resumed.pending_prompt.as_deref(), Some("second question"));
    assert_eq!(resumed.skipped_lines, 0);
    assert_eq!(resumed.transcript.records.len(), 10);
}

#[test]
fn corrupt_session_resumes_up_to_the_last_good_line() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path());
    let dir = home.sessions_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let line = |e: Event| serde_json::to_string(&Record::new("bad", e)).unwrap() + "\n";
    let mut text = line(Event::SessionStarted {
        profile: "demo".into(),
        resumed: false,
    });
    text += &line(Event::User {
        content: "q".into(),
    });
    text += "{\"v\":1,\"ts\":\"garbage\n";
    text += &line(Event::Answer {
        content: "a".into(),
        provenance: provenance(),
        end: Default::default(),
    });
    let cut = line(Event::User {
        content: "cut off".into(),
    });
    text += &cut[..cut.len() / 2];
    std::fs::write(dir.join("bad.jsonl"), text).unwrap();

    let resumed = archive::resume(&home, "bad").unwrap();
    assert_eq!(resumed.skipped_lines, 2);
    assert_eq!(resumed.profile.as_deref(), Some("demo"));
    assert_eq!(resumed.messages.len(), 2);
    assert_eq!(resumed.pending_prompt, None);

    // Appending after the cut line starts a fresh line: nothing new is lost.
    let archive = Archive::start(&config(&home, 1024, 1));
    archive.enqueue(user("bad", "after the crash"));
    drop(archive);
    let t = archive::read(&home, "bad").unwrap();
    assert_eq!(t.skipped_lines, 2);
    assert_eq!(
        t.records.last().map(content).as_deref(),
        Some("after the crash")
    );
}

#[test]
fn sessions_cli_lists_shows_exports_and_deletes() {
    let home = TempHome::new();
    let baton_home = Home::at(home.path());
    let archive = Archive::start(&config(&baton_home, 1024, 1));
    let mut log = archive::SessionLog::new(archive.handle(), "20250102-030405-abcd");
    log.started("demo", false);
    log.user("What is a baton?");
    log.record(Event::Answer {
        content: "A stick passed in a relay.".into(),
        provenance: provenance(),
        end: Default::default(),
    });
    drop(archive);

    let out = home.baton().args(["sessions", "list"]).assert().success();
    let text = baton_test_support::home::text(&out.get_output().stdout);
    assert!(text.contains("20250102-030405-abcd"), "{text}");
    assert!(text.contains("demo"), "{text}");
    assert!(text.contains("What is a baton?"), "{text}");

    let out = home
        .baton()
        .args(["sessions", "show", "20250102-030405-abcd"])
        .assert()
        .success();
    let text = baton_test_support::home::text(&out.get_output().stdout);
    assert!(text.contains("## You\n\nWhat is a baton?"), "{text}");
    assert!(text.contains("A stick passed in a relay."), "{text}");

    let out = home
        .baton()
        .args([
            "sessions",
            "export",
            "20250102-030405-abcd",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let value: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(value["profile"], "demo");
    assert_eq!(value["records"].as_array().unwrap().len(), 3);
    assert_eq!(value["records"][2]["provenance"]["backend"], "fast");

    home.baton()
        .args(["sessions", "delete", "20250102-030405-abcd"])
        .assert()
        .success();
    let out = home
        .baton()
        .args(["sessions", "show", "20250102-030405-abcd"])
        .assert()
        .failure();
    let err = baton_test_support::home::text(&out.get_output().stderr);
    assert!(err.contains("no session '20250102-030405-abcd'"), "{err}");
    home.baton()
        .args(["sessions", "show", "../etc/passwd"])
        .assert()
        .failure();
}

#[test]
fn oneshot_archives_and_resume_sends_the_history_on_the_same_profile() {
    use baton_mock::Behavior;
    let mock = Mock::with(&[("ok", Behavior::answer("the answer"))]);
    let home = TempHome::new();
    home.openai_profile("m", &mock.base_url("ok"));
    home.baton()
        .args(["--profile-load", "m", "-p", "first"])
        .env("OPENAI_API_KEY", "test")
        .assert()
        .success();
    // No --profile-load: the resumed session brings its profile back.
    home.baton()
        .args(["--resume", "-p", "second"])
        .env("OPENAI_API_KEY", "test")
        .assert()
        .success();
    let requests = mock.server.recorded("ok");
    assert_eq!(requests.len(), 2);
    let messages = &requests[1].body["messages"];
    let said: Vec<(&str, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        said,
        vec![
            ("user", "first"),
            ("assistant", "the answer"),
            ("user", "second")
        ]
    );
    let baton_home = Home::at(home.path());
    let sessions = archive::list(&baton_home).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].messages, 4);
    assert_eq!(sessions[0].profile.as_deref(), Some("m"));
}

// ---------------------------------------------------------------- child processes

fn child(mode: &str, home: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "archive_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BATON_ARCHIVE_CHILD", mode)
        .env("BATON_ARCHIVE_CHILD_HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for_line(lines: &mut impl Iterator<Item = std::io::Result<String>>, want: &str) {
    for line in lines.by_ref() {
        // libtest prints `test NAME ... ` without a newline before the child's output.
        if line.unwrap().ends_with(want) {
            return;
        }
    }
    panic!("the child ended before saying '{want}'");
}

/// Not a test: the child process of `flush_on_ctrl_c` and `kill_9_loses_at_most_one_window`.
#[test]
#[ignore = "run by other tests as a child process"]
fn archive_child_process() {
    let (Ok(mode), Some(home)) = (
        std::env::var("BATON_ARCHIVE_CHILD"),
        std::env::var_os("BATON_ARCHIVE_CHILD_HOME"),
    ) else {
        return;
    };
    let home = Home::at(home);
    match mode.as_str() {
        #[cfg(unix)]
        "ctrlc" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let mut interrupt = signal(SignalKind::interrupt()).unwrap();
                let archive = Archive::start(&config(&home, 1024, 60_000));
                for i in 0..20 {
                    archive.enqueue(user("child", i.to_string()));
                }
                println!("CHILD ready");
                interrupt.recv().await;
                // Returning drops the archive, as `baton` does on Ctrl-C.
                drop(archive);
            });
        }
        "stream" => {
            let archive = Archive::start(&config(&home, 1024, 20));
            for i in 0.. {
                archive.enqueue(user("child", i.to_string()));
                println!("CHILD {i} {}", unix_ms());
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn a_load_balancer_run_records_an_engine_stats_snapshot() {
    let home = TempHome::new();
    home.baton().args(["--prompt", "hi"]).assert().success();
    let dir = home.path().join("sessions");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(file).unwrap();
    let stats: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "stats")
        .collect();
    assert_eq!(stats.len(), 1, "{text}");
    assert_eq!(stats[0]["profile"], "demo");
    let backends = stats[0]["snapshot"]["backends"].as_object().unwrap();
    assert_eq!(
        backends.keys().collect::<Vec<_>>(),
        vec!["demo-down", "demo-fast", "demo-flaky"]
    );
    assert!(
        backends["demo-down"]["metrics"]["requests"]
            .as_u64()
            .unwrap()
            >= 1
    );
}
