//! The one event bus: everything the app reacts to is an [`AppEvent`].
//!
//! Terminal input is read on a small thread (crossterm's blocking reader) and
//! forwarded; engine events come from a spawned task per request, tagged with the
//! request's id so events from a cancelled or superseded request are dropped.
//! The archive writer's status comes from its watch channel, only on a change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{self, Event, KeyEvent, KeyEventKind, MouseEvent};
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::archive::WriterStatus;
use crate::engine::{Engine, EngineEvent};
use crate::provider::ChatRequest;

/// Everything the app reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    /// A key press.
    Key(KeyEvent),
    /// Pasted text (bracketed paste).
    Paste(String),
    /// Mouse wheel and clicks.
    Mouse(MouseEvent),
    /// The terminal changed size.
    Resize,
    /// An event of request `id`.
    Engine {
        /// The request it belongs to.
        id: u64,
        /// The event.
        event: EngineEvent,
    },
    /// Request `id`'s stream ended.
    EngineEnded {
        /// The request.
        id: u64,
    },
    /// Time passed (spinner, elapsed time).
    Tick,
    /// The archive writer's status changed (a failing disk, or writing again).
    Archive(WriterStatus),
}

/// Stops the terminal reader thread when dropped.
#[derive(Debug)]
pub(crate) struct ReaderGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts forwarding terminal events to `tx`.
/// Set while another program (the editor) owns the terminal: the reader thread stops
/// reading, so the keys go to that program.
static READER_PAUSED: AtomicBool = AtomicBool::new(false);

/// Pauses or resumes the terminal reader.
pub(crate) fn pause_reader(paused: bool) {
    READER_PAUSED.store(paused, Ordering::SeqCst);
}

pub(crate) fn spawn_terminal_reader(tx: UnboundedSender<AppEvent>) -> ReaderGuard {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        // Polling with a timeout lets the thread notice `stop` and end.
        while !flag.load(Ordering::Relaxed) {
            if READER_PAUSED.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            let app_event = match event::read() {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => AppEvent::Key(key),
                Ok(Event::Paste(text)) => AppEvent::Paste(text),
                Ok(Event::Mouse(mouse)) => AppEvent::Mouse(mouse),
                Ok(Event::Resize(..)) => AppEvent::Resize,
                Ok(Event::Key(_) | Event::FocusGained | Event::FocusLost) => continue,
                Err(_) => break,
            };
            if tx.send(app_event).is_err() {
                break;
            }
        }
    });
    ReaderGuard { stop }
}

/// Sends a [`AppEvent::Tick`] every `every` until the receiver goes away.
pub(crate) fn spawn_ticker(tx: UnboundedSender<AppEvent>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            if tx.send(AppEvent::Tick).is_err() {
                break;
            }
        }
    })
}

/// Runs one request on its own task; aborting the task drops the engine stream,
/// which cancels the request in flight.
pub(crate) fn spawn_request(
    tx: UnboundedSender<AppEvent>,
    id: u64,
    engine: Engine,
    request: ChatRequest,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = Box::pin(engine.run(request));
        while let Some(event) = events.next().await {
            if tx.send(AppEvent::Engine { id, event }).is_err() {
                return;
            }
        }
        let _ = tx.send(AppEvent::EngineEnded { id });
    })
}

/// Forwards the archive writer's status: the current one, then each change, until
/// the writer or the receiver goes away.
pub(crate) fn spawn_archive_status(
    tx: UnboundedSender<AppEvent>,
    mut status: watch::Receiver<WriterStatus>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let now = status.borrow_and_update().clone();
        if tx.send(AppEvent::Archive(now)).is_err() {
            return;
        }
        while status.changed().await.is_ok() {
            let next = status.borrow_and_update().clone();
            if tx.send(AppEvent::Archive(next)).is_err() {
                return;
            }
        }
    })
}
