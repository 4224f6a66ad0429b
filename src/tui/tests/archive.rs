//! The conversation in the archive: what is recorded, when nothing is, and a
//! failing disk in the status bar.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::archive::{self, Archive, ArchiveConfig, Event, Sink, WriterStatus};
use crate::command::strings;
use crate::home::Home;
use crate::tui::history::CellKind;

/// An archive writing to `root/sessions` without a coalescing window.
fn archive_in(root: &Path) -> Archive {
    let mut config = ArchiveConfig::new(&Home::at(root));
    config.coalesce = Duration::ZERO;
    Archive::start(&config)
}

/// Every event of session `id` once what is queued is written.
fn events(root: &Path, archive: &Archive, id: &str) -> Vec<Event> {
    assert!(archive.flush(Duration::from_secs(10)), "flush timed out");
    archive::read(&Home::at(root), id)
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.event)
        .collect()
}

fn answer(app: &mut App, id: u64, text: &str) {
    engine(app, id, EngineEvent::Delta { text: text.into() });
    engine(
        app,
        id,
        EngineEvent::Done {
            provenance: provenance("demo-fast", "sim-fast"),
            finish: Default::default(),
        },
    );
}

#[test]
fn the_chat_archives_prompts_answers_and_changes() {
    let (tmp, app) = app_on("demo");
    let archive = archive_in(tmp.path());
    let mut app = app.with_archive(archive.handle(), false);
    let id = app.session().session_id().to_string();
    let rid = started_id(&send(&mut app, "hello"));
    failover_prelude(&mut app, rid);
    engine(&mut app, rid, EngineEvent::Delta { text: "Hi ".into() });
    answer(&mut app, rid, "there");
    send(&mut app, "/set timeout_ms 7000");
    send(&mut app, "/set unset timeout_ms");
    send(&mut app, "/set timeout_ms nonsense");
    send(&mut app, "/help");
    send(&mut app, "/profile load demo-fast");
    assert_eq!(
        events(tmp.path(), &archive, &id),
        vec![
            Event::SessionStarted {
                profile: "demo".into(),
                resumed: false
            },
            Event::User {
                content: "hello".into()
            },
            Event::Failover {
                backend: "demo-down".into(),
                class: ErrorClass::Transient,
                detail: "cannot reach sim://sim-down: connection refused (simulated)".into(),
                will_retry: false,
            },
            Event::Skipped {
                backend: "demo-flaky".into(),
                why: "breaker open".into()
            },
            Event::Answer {
                content: "Hi there".into(),
                provenance: (&provenance("demo-fast", "sim-fast")).into(),
                end: Default::default(),
            },
            Event::Setting {
                key: "timeout_ms".into(),
                value: Some(json!(7000))
            },
            Event::Setting {
                key: "timeout_ms".into(),
                value: None
            },
            Event::ProfileChanged {
                profile: "demo-fast".into()
            },
        ]
    );
}

#[test]
fn a_chat_only_opened_leaves_no_file() {
    let (tmp, app) = app_on("demo");
    let archive = archive_in(tmp.path());
    let mut app = app.with_archive(archive.handle(), false);
    send(&mut app, "/help");
    send(&mut app, "/stats");
    assert!(archive.flush(Duration::from_secs(10)));
    assert_eq!(archive::list(&Home::at(tmp.path())).unwrap(), vec![]);
}

#[test]
fn set_archive_off_writes_nothing_from_then_on() {
    let (tmp, app) = app_on("demo");
    let archive = archive_in(tmp.path());
    let mut app = app.with_archive(archive.handle(), false);
    let id = app.session().session_id().to_string();
    let rid = started_id(&send(&mut app, "kept"));
    answer(&mut app, rid, "yes");
    send(&mut app, "/set archive off");
    let rid = started_id(&send(&mut app, "not kept"));
    answer(&mut app, rid, "no");
    send(&mut app, "/set timeout_ms 5000");
    let kinds: Vec<String> = events(tmp.path(), &archive, &id)
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:#?}");
    assert!(
        kinds
            .iter()
            .all(|k| !k.contains("not kept") && !k.contains("archive"))
    );
    // On again: recorded from then on, starting with the change itself.
    send(&mut app, "/set archive on");
    let last = events(tmp.path(), &archive, &id).pop().unwrap();
    assert_eq!(
        last,
        Event::Setting {
            key: "archive".into(),
            value: Some(json!("on"))
        }
    );
}

#[test]
fn archive_off_at_start_stays_off_and_says_so() {
    let (tmp, app) = app_on("demo");
    let mut config = ArchiveConfig::new(&Home::at(tmp.path()));
    config.enabled = false;
    let archive = Archive::start(&config);
    let mut app = app.with_archive(archive.handle(), false);
    app.session_mut()
        .merge_settings(&crate::launch::parse_overrides(&["archive=off".into()]).unwrap());
    send(&mut app, "/set archive on");
    let rid = started_id(&send(&mut app, "hello"));
    answer(&mut app, rid, "hi");
    assert!(app.transcript().iter().any(|c| matches!(c.kind(),
        CellKind::Notice(n) if n == strings::ARCHIVE_ON_NEXT_START)));
    assert!(!tmp.path().join("sessions").exists());
}

/// A sink that fails while `broken` is set, naming the file as the real one does.
struct Flaky(Arc<AtomicBool>);

impl Sink for Flaky {
    fn append(&mut self, session: &str, _lines: &[u8]) -> io::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            Err(io::Error::other(format!(
                "/home/u/.baton/sessions/{session}.jsonl: No space left on device"
            )))
        } else {
            Ok(())
        }
    }
}

async fn next_archive_status(rx: &mut tokio::sync::mpsc::UnboundedReceiver<AppEvent>) -> AppEvent {
    // A guard against a hang, not a wait: the writer reports within milliseconds.
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

/// A full disk shows once in the status bar, the chat goes on, and the message
/// goes away when writing works again.
#[tokio::test]
async fn a_failing_archive_shows_in_the_status_bar_until_it_recovers() {
    let (tmp, app) = app_on("demo");
    let broken = Arc::new(AtomicBool::new(true));
    let mut config = ArchiveConfig::new(&Home::at(tmp.path()));
    config.coalesce = Duration::ZERO;
    let archive = Archive::start_with_sink(&config, Box::new(Flaky(Arc::clone(&broken))));
    let mut app = app.with_archive(archive.handle(), false);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = crate::tui::event::spawn_archive_status(tx, archive.handle().subscribe());
    assert_eq!(
        next_archive_status(&mut rx).await,
        AppEvent::Archive(WriterStatus::Ok)
    );

    let rid = started_id(&send(&mut app, "hello"));
    let failing = next_archive_status(&mut rx).await;
    assert!(
        matches!(&failing, AppEvent::Archive(WriterStatus::Failing { .. })),
        "{failing:?}"
    );
    app.update(failing);
    let line = status_line(&mut app);
    assert!(
        line.contains("archive: cannot write (chat continues): /home/u/"),
        "{line}"
    );
    // The chat goes on: the answer streams and completes.
    answer(&mut app, rid, "Hi");
    assert!(!app.is_busy());

    broken.store(false, Ordering::SeqCst);
    let rid = started_id(&send(&mut app, "again"));
    answer(&mut app, rid, "Hi again");
    let recovered = next_archive_status(&mut rx).await;
    assert_eq!(recovered, AppEvent::Archive(WriterStatus::Ok));
    app.update(recovered);
    assert!(!status_line(&mut app).contains("archive"));
    watcher.abort();
}

/// After an answer on a load balancer that keeps its health, a stats snapshot
/// is archived, as one-shot runs do.
#[tokio::test(start_paused = true)]
async fn an_answer_on_a_load_balancer_archives_a_stats_snapshot() {
    let (tmp, _) = app_on_lbtest();
    let archive = archive_in(tmp.path());
    let mut app = app_in(tmp.path(), "lbtest", true).with_archive(archive.handle(), false);
    let id = app.session().session_id().to_string();
    let effects = send(&mut app, "hi");
    run_to_end(&mut app, effects).await;
    let events = events(tmp.path(), &archive, &id);
    let stats = events.iter().find_map(|e| match e {
        Event::Stats { profile, snapshot } => Some((profile.clone(), snapshot.clone())),
        _ => None,
    });
    let (profile, snapshot) = stats.unwrap_or_else(|| panic!("no stats in {events:#?}"));
    assert_eq!(profile, "lbtest");
    assert!(snapshot.to_string().contains("demo-down"), "{snapshot}");
    assert!(
        matches!(events.last(), Some(Event::Stats { .. })),
        "{events:#?}"
    );
}

#[test]
fn clear_is_recorded_so_a_resume_neither_shows_nor_sends_the_cleared_turns() {
    let (tmp, app) = app_on("demo");
    let archive = archive_in(tmp.path());
    let mut app = app.with_archive(archive.handle(), false);
    let id = app.session().session_id().to_string();
    let rid = started_id(&send(&mut app, "an expensive question"));
    answer(&mut app, rid, "an expensive answer");
    send(&mut app, "/clear");
    let rid = started_id(&send(&mut app, "a fresh start"));
    answer(&mut app, rid, "fresh");
    let kinds = events(tmp.path(), &archive, &id);
    assert!(kinds.contains(&Event::Cleared), "{kinds:?}");

    let resumed = archive::resume(&Home::at(tmp.path()), &id).unwrap();
    let sent: Vec<_> = resumed
        .messages
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(sent, ["a fresh start", "fresh"]);
    let (_tmp2, mut shown) = app_on("demo");
    shown.show_resumed("resumed".into(), &resumed);
    let screen = screen(&mut shown, 100, 20);
    assert!(!screen.contains("expensive"), "{screen}");
    assert!(screen.contains("a fresh start"), "{screen}");
    assert!(screen.contains("was cleared"), "{screen}");
}
