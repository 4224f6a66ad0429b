//! The queue and the threads behind it.
//!
//! # Why [`ArchiveHandle::enqueue`] cannot block
//! The caller takes one mutex, pushes the record onto a `VecDeque` (room reserved
//! ahead, so no allocation) or, when the queue is full, onto an overflow `Vec`, and
//! lets go. Every other holder of that mutex (the writer thread, the spill thread, a
//! flush) also does only O(1) work under it: swap a buffer, flip a flag. No I/O, no
//! waiting, no serialising happens under the lock, so the caller waits at most for
//! one such swap. The overflow has no bound in memory on purpose: a bound would have
//! to either block the chat or drop a message, and both are worse than memory that
//! the spill thread moves to disk as fast as it can.
//!
//! # Order
//! Once one record has overflowed, every later record takes the same path (through
//! spill files) until the backlog is written, so a session file is always in the
//! order its records were enqueued.
//!
//! # Threads
//! - the **writer** waits for a record, lets the coalescing window fill (or until
//!   the queue is full, a flush is asked for, or shutdown), then writes each
//!   session's lines with one append. When the queue is empty it re-enqueues spill
//!   files, oldest first (including those a previous run left).
//! - the **spiller** moves overflow to spill files while the writer is busy with a
//!   slow disk. During a flush or shutdown it hands overflow straight to the writer.
//!
//! Plain threads rather than tokio tasks: the archive must flush on exit, on Ctrl-C
//! and on panic, when no runtime may be left to drive a task.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::record::Record;
use super::spill;
use super::worker::{Writer, run_spiller};
use super::{ArchiveConfig, FileSink, Sink};

/// The longest exit, `/quit`, Ctrl-C or a panic waits for the archive to flush.
pub(crate) const EXIT_FLUSH_TIMEOUT: Duration = Duration::from_millis(500);

const WRITER_THREAD: &str = "baton-archive";

/// How the archive is doing, for the UI's status line. Changes only on a transition,
/// so a broken disk is reported once, not once per write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterStatus {
    /// `archive = off`: nothing is written.
    Off,
    /// Writing normally.
    Ok,
    /// Writes are failing; the conversation goes on, unarchived records are kept in
    /// memory (up to the queue capacity) and retried with the next write.
    Failing {
        /// What failed, naming the file or folder.
        error: String,
    },
}

/// What is waiting to be re-enqueued, in order.
pub(super) enum Chunk {
    /// A spill file on disk.
    File(PathBuf),
    /// Overflow handed over without a file (flush, shutdown, or the spill folder
    /// could not be written).
    Memory(Vec<Record>),
}

#[derive(Default)]
pub(super) struct State {
    pub(super) queue: VecDeque<Record>,
    pub(super) overflow: Vec<Record>,
    /// Set by the first overflow; new records follow the spill path until it is empty.
    pub(super) spilling: bool,
    pub(super) chunks: VecDeque<Chunk>,
    pub(super) spill_inflight: bool,
    pub(super) writer_busy: bool,
    /// The writer sleeps until a record arrives: the next enqueue must wake it.
    pub(super) writer_waiting: bool,
    pub(super) flush_waiters: usize,
    pub(super) shutdown: bool,
    pub(super) writer_done: bool,
}

impl State {
    pub(super) fn quiescent(&self) -> bool {
        self.queue.is_empty()
            && self.overflow.is_empty()
            && self.chunks.is_empty()
            && !self.spill_inflight
            && !self.writer_busy
    }

    pub(super) fn urgent(&self) -> bool {
        self.shutdown || self.flush_waiters > 0
    }
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) writer_cv: Condvar,
    pub(super) spiller_cv: Condvar,
    pub(super) done_cv: Condvar,
    pub(super) capacity: usize,
    pub(super) spill_dir: PathBuf,
    pub(super) status: watch::Sender<WriterStatus>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, so a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn set_status(&self, next: WriterStatus) {
        self.status.send_if_modified(|now| {
            let changed = match (&*now, &next) {
                (WriterStatus::Failing { .. }, WriterStatus::Failing { .. }) => false,
                (a, b) => a != b,
            };
            if changed {
                match &next {
                    WriterStatus::Failing { error } => {
                        tracing::warn!("archive: writing failed, the chat goes on: {error}");
                    }
                    WriterStatus::Ok => tracing::info!("archive: writing again"),
                    WriterStatus::Off => {}
                }
                *now = next.clone();
            }
            changed
        });
    }
}

/// A cheap, cloneable way to add records and ask for a flush.
#[derive(Clone)]
pub struct ArchiveHandle {
    shared: Option<Arc<Shared>>,
    status: watch::Receiver<WriterStatus>,
}

impl std::fmt::Debug for ArchiveHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveHandle")
            .field("enabled", &self.shared.is_some())
            .field("status", &*self.status.borrow())
            .finish()
    }
}

impl ArchiveHandle {
    /// Hands `record` to the writer and returns at once; never waits for the disk.
    /// A no-op when the archive is off or already shut down.
    pub(crate) fn enqueue(&self, record: Record) {
        let Some(shared) = &self.shared else { return };
        let mut st = shared.lock();
        if st.writer_done {
            return;
        }
        if st.spilling && st.overflow.is_empty() && st.chunks.is_empty() && !st.spill_inflight {
            // The backlog is in the writer's hands: the queue is behind it again.
            st.spilling = false;
        }
        let mut wake_writer = false;
        let mut wake_spiller = false;
        if !st.spilling && st.queue.len() < shared.capacity {
            st.queue.push_back(record);
            if st.writer_waiting || st.queue.len() >= shared.capacity {
                st.writer_waiting = false;
                wake_writer = true;
            }
        } else {
            st.spilling = true;
            wake_spiller = st.overflow.is_empty();
            st.overflow.push(record);
        }
        drop(st);
        if wake_writer {
            shared.writer_cv.notify_one();
        }
        if wake_spiller {
            shared.spiller_cv.notify_one();
        }
    }

    /// Waits up to `timeout` until everything enqueued so far is in its session file.
    /// Returns false when time ran out first (the writer keeps going).
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let deadline = Instant::now() + timeout;
        let mut st = shared.lock();
        st.flush_waiters += 1;
        shared.writer_cv.notify_one();
        shared.spiller_cv.notify_one();
        let done = loop {
            if st.quiescent() || st.writer_done {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            st = shared
                .done_cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        st.flush_waiters -= 1;
        done
    }

    /// The current status.
    pub(crate) fn status(&self) -> WriterStatus {
        self.status.borrow().clone()
    }

    /// A receiver the UI can watch (`changed().await`) for status transitions.
    pub fn subscribe(&self) -> watch::Receiver<WriterStatus> {
        self.status.clone()
    }

    /// True unless `archive = off`.
    pub(crate) fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }
}

/// The archive writer. Owns its threads: dropping it flushes what is queued (for at
/// most [`EXIT_FLUSH_TIMEOUT`]) and stops them, so returning from `main`, `/quit`,
/// Ctrl-C handled by returning, and a panic that unwinds all flush.
#[derive(Debug)]
pub struct Archive {
    handle: ArchiveHandle,
    threads: Vec<JoinHandle<()>>,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Everything queued reached the disk before the deadline.
    pub complete: bool,
}

impl Archive {
    /// Starts the writer over the real session files, or an archive that writes
    /// nothing when `config.enabled` is false.
    pub fn start(config: &ArchiveConfig) -> Self {
        let sink = FileSink::new(config.sessions_dir.clone());
        Self::start_with_sink(config, Box::new(sink))
    }

    /// Starts the writer over any [`Sink`] (tests slow it down or make it fail).
    pub fn start_with_sink(config: &ArchiveConfig, sink: Box<dyn Sink>) -> Self {
        if !config.enabled {
            return Self::off();
        }
        let capacity = config.capacity.max(1);
        let (status_tx, status_rx) = watch::channel(WriterStatus::Ok);
        // Spill files an earlier run left behind are older than anything this run
        // enqueues: they go first, and new records queue up behind them.
        let stale: VecDeque<Chunk> = spill::scan(&config.spill_dir)
            .into_iter()
            .map(Chunk::File)
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(capacity),
                spilling: !stale.is_empty(),
                chunks: stale,
                ..State::default()
            }),
            writer_cv: Condvar::new(),
            spiller_cv: Condvar::new(),
            done_cv: Condvar::new(),
            capacity,
            spill_dir: config.spill_dir.clone(),
            status: status_tx,
        });
        let mut threads = Vec::new();
        let writer = {
            let shared = Arc::clone(&shared);
            let window = config.coalesce;
            std::thread::Builder::new()
                .name(WRITER_THREAD.into())
                .spawn(move || Writer::new(shared, sink, window).run())
        };
        let spiller = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("baton-archive-spill".into())
                .spawn(move || run_spiller(&shared))
        };
        match (writer, spiller) {
            (Ok(w), Ok(s)) => {
                threads.push(w);
                threads.push(s);
            }
            (w, s) => {
                // Without both threads the archive cannot keep its promises: say so
                // and let the chat go on unarchived.
                shared.lock().shutdown = true;
                shared.writer_cv.notify_all();
                shared.spiller_cv.notify_all();
                let error = match (w, s) {
                    (Err(e), _) | (_, Err(e)) => e.to_string(),
                    (Ok(_), Ok(_)) => String::new(),
                };
                tracing::warn!("archive: cannot start its threads, nothing is archived: {error}");
                return Self::with_status(WriterStatus::Failing {
                    error: format!("cannot start the archive thread: {error}"),
                });
            }
        }
        Self {
            handle: ArchiveHandle {
                shared: Some(shared),
                status: status_rx,
            },
            threads,
        }
    }

    /// An archive that writes nothing (`archive = off`).
    pub(crate) fn off() -> Self {
        Self::with_status(WriterStatus::Off)
    }

    fn with_status(status: WriterStatus) -> Self {
        let (_tx, status) = watch::channel(status);
        Self {
            handle: ArchiveHandle {
                shared: None,
                status,
            },
            threads: Vec::new(),
        }
    }

    /// A handle to enqueue from anywhere (UI, engine stats, one-shot).
    pub fn handle(&self) -> ArchiveHandle {
        self.handle.clone()
    }

    /// See [`ArchiveHandle::enqueue`].
    pub fn enqueue(&self, record: Record) {
        self.handle.enqueue(record);
    }

    /// See [`ArchiveHandle::flush`].
    pub fn flush(&self, timeout: Duration) -> bool {
        self.handle.flush(timeout)
    }

    /// The current status.
    pub fn status(&self) -> WriterStatus {
        self.handle.status()
    }

    /// Flushes for at most `timeout` and stops the threads. What could not be
    /// written in time is lost only if it was still in memory; spill files stay on
    /// disk for the next run.
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        self.stop(timeout)
    }

    /// Installs a panic hook (chained to the current one) that flushes for at most
    /// [`EXIT_FLUSH_TIMEOUT`] before the panic message prints. Covers panics on
    /// threads whose unwinding does not drop this `Archive`.
    pub(crate) fn flush_on_panic(&self) {
        let handle = self.handle();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // The writer itself panicking must not wait on itself.
            if std::thread::current().name() != Some(WRITER_THREAD) {
                handle.flush(EXIT_FLUSH_TIMEOUT);
            }
            previous(info);
        }));
    }

    fn stop(&mut self, timeout: Duration) -> ShutdownReport {
        let Some(shared) = &self.handle.shared else {
            return ShutdownReport { complete: true };
        };
        let deadline = Instant::now() + timeout;
        let mut st = shared.lock();
        st.shutdown = true;
        shared.writer_cv.notify_all();
        shared.spiller_cv.notify_all();
        let complete = loop {
            if st.writer_done {
                break true;
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            st = shared
                .done_cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(st);
        let threads = std::mem::take(&mut self.threads);
        if complete {
            for t in threads {
                // A thread that panicked has nothing left to hand back.
                let _ = t.join();
            }
        }
        // Otherwise the threads are detached and left running: the process is
        // about to exit and waiting longer would break the exit-time bound.
        ShutdownReport { complete }
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop(EXIT_FLUSH_TIMEOUT);
        }
    }
}

/// For [`Sink`] implementors: an I/O error that names the file.
pub(crate) fn io_at(path: &std::path::Path, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
