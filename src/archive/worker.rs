//! The two threads behind the queue (see `writer.rs` for how they share it): the
//! writer, which coalesces and writes, and the spiller, which parks overflow in
//! spill files while the writer is busy with a slow disk.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Sink;
use super::record::{Event, Record};
use super::spill::{self, Taken};
use super::writer::{Chunk, Shared, State, WriterStatus};

/// The writer thread's own state.
pub(super) struct Writer {
    shared: Arc<Shared>,
    sink: Box<dyn Sink>,
    window: Duration,
    /// Records whose write failed, retried before the next batch.
    retry: Vec<Record>,
    /// Spare queue buffer with room reserved, swapped in under the lock.
    spare: VecDeque<Record>,
    /// New conversations whose file this writer created (or tried to).
    claimed: HashSet<String>,
    /// Ids that were taken by another conversation, and the ones used instead.
    renamed: HashMap<String, String>,
}

impl Writer {
    pub(super) fn new(shared: Arc<Shared>, sink: Box<dyn Sink>, window: Duration) -> Self {
        let spare = VecDeque::with_capacity(shared.capacity);
        Self {
            shared,
            sink,
            window,
            retry: Vec::new(),
            spare,
            claimed: HashSet::new(),
            renamed: HashMap::new(),
        }
    }

    pub(super) fn run(mut self) {
        loop {
            let mut st = self.shared.lock();
            st.writer_busy = false;
            if st.quiescent() {
                self.shared.done_cv.notify_all();
            }
            // Sleep until there is something to do.
            while st.queue.is_empty() && st.chunks.is_empty() && !st.shutdown {
                if st.flush_waiters > 0 && !st.overflow.is_empty() && !st.spill_inflight {
                    break;
                }
                st.writer_waiting = true;
                st = self.wait(st, None);
                st.writer_waiting = false;
            }
            if !st.queue.is_empty() {
                // Let more records join this write, unless someone is waiting.
                let deadline = Instant::now() + self.window;
                while !st.urgent() && st.queue.len() < self.shared.capacity {
                    if Instant::now() >= deadline {
                        break;
                    }
                    st = self.wait(st, Some(deadline));
                }
                std::mem::swap(&mut st.queue, &mut self.spare);
                st.writer_busy = true;
                drop(st);
                let batch: Vec<Record> = self.spare.drain(..).collect();
                self.write(batch);
                continue;
            }
            if let Some(chunk) = st.chunks.pop_front() {
                st.writer_busy = true;
                drop(st);
                self.reenqueue(chunk);
                continue;
            }
            // The queue and the spill backlog are empty: overflow is the newest
            // thing left. Take it directly when the spiller is not already on it.
            if !st.overflow.is_empty() && !st.spill_inflight && st.urgent() {
                let records = std::mem::take(&mut st.overflow);
                st.writer_busy = true;
                drop(st);
                self.write(records);
                continue;
            }
            if st.shutdown {
                if st.spill_inflight || !st.overflow.is_empty() {
                    // The spiller is handing its batch over; wait for it.
                    st = self.wait(st, Some(Instant::now() + Duration::from_millis(5)));
                    drop(st);
                    continue;
                }
                // Last try for records whose write failed.
                if !self.retry.is_empty() {
                    drop(st);
                    self.write(Vec::new());
                    st = self.shared.lock();
                }
                st.writer_done = true;
                drop(st);
                self.shared.done_cv.notify_all();
                self.shared.spiller_cv.notify_all();
                return;
            }
        }
    }

    fn wait<'a>(&self, st: MutexGuard<'a, State>, until: Option<Instant>) -> MutexGuard<'a, State> {
        match until {
            None => self
                .shared
                .writer_cv
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.shared
                    .writer_cv
                    .wait_timeout(st, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        }
    }

    /// Writes records (after any earlier failed ones), one append per session.
    fn write(&mut self, records: Vec<Record>) {
        let mut all = std::mem::take(&mut self.retry);
        all.extend(records);
        for record in &mut all {
            self.claim_new(record);
            if let Some(new) = self.renamed.get(&record.session) {
                record.session = new.clone();
            }
        }
        // Group by session, keeping each session's order and the order sessions
        // first appear in.
        let mut groups: Vec<(String, Vec<u8>, Vec<Record>)> = Vec::new();
        for record in all {
            let index = match groups.iter().position(|(s, _, _)| *s == record.session) {
                Some(i) => i,
                None => {
                    groups.push((record.session.clone(), Vec::new(), Vec::new()));
                    groups.len() - 1
                }
            };
            let (_, bytes, kept) = &mut groups[index];
            match super::record::encode(&record, bytes) {
                Ok(()) => kept.push(record),
                // Our types always serialise; if one ever does not, skip it rather
                // than stop archiving.
                Err(e) => tracing::warn!("archive: cannot encode a record: {e}"),
            }
        }
        let mut failure = None;
        for (session, bytes, kept) in groups {
            if bytes.is_empty() {
                continue;
            }
            match self.sink.append(&session, &bytes) {
                Ok(()) => {}
                Err(e) => {
                    failure = Some(e.to_string());
                    self.retry.extend(kept);
                }
            }
        }
        match failure {
            Some(error) => {
                let cap = self.shared.capacity;
                if self.retry.len() > cap {
                    let dropped = self.retry.len() - cap;
                    self.retry.drain(..dropped);
                    tracing::debug!("archive: dropped {dropped} records after failed writes");
                }
                self.shared.set_status(WriterStatus::Failing { error });
            }
            None => self.shared.set_status(WriterStatus::Ok),
        }
    }

    /// Creates the file of a conversation that starts here with `create_new`; when
    /// its id is taken (two runs that picked the same id), the conversation moves to
    /// a fresh id rather than share a file.
    fn claim_new(&mut self, record: &Record) {
        let Event::SessionStarted { resumed: false, .. } = record.event else {
            return;
        };
        if !self.claimed.insert(record.session.clone()) {
            return;
        }
        let mut id = record.session.clone();
        for _ in 0..8 {
            match self.sink.claim(&id) {
                Ok(true) => break,
                Ok(false) => {
                    let next = super::new_session_id();
                    tracing::warn!(
                        "archive: session id {id} is taken by another conversation; \
                         this one is kept as {next}"
                    );
                    self.claimed.insert(next.clone());
                    id = next;
                }
                // The append that follows reports it (once) and retries.
                Err(_) => break,
            }
        }
        if id != record.session {
            self.renamed.insert(record.session.clone(), id);
        }
    }

    /// Writes a spilled chunk; a spill file is removed once its records are written.
    fn reenqueue(&mut self, chunk: Chunk) {
        match chunk {
            Chunk::Memory(records) => self.write(records),
            Chunk::File(path) => {
                // Earlier failures first, so a failure below is this file's alone.
                if !self.retry.is_empty() {
                    self.write(Vec::new());
                    if !self.retry.is_empty() {
                        // Still failing: the file stays for the next run.
                        return;
                    }
                }
                match spill::take(&path) {
                    Ok(Taken::Records(records)) => {
                        self.write(records);
                        if self.retry.is_empty() {
                            if let Err(e) = spill::remove(&path) {
                                tracing::warn!("archive: {e}");
                            }
                        } else {
                            // The file still holds them; keeping both would write
                            // them twice when the next run re-enqueues the file.
                            self.retry.clear();
                        }
                    }
                    Ok(Taken::Quarantined) | Ok(Taken::Gone) => {}
                    Err(e) => self.shared.set_status(WriterStatus::Failing {
                        error: e.to_string(),
                    }),
                }
            }
        }
    }
}

/// Moves overflow to spill files while the writer is busy.
pub(super) fn run_spiller(shared: &Shared) {
    loop {
        let mut st = shared.lock();
        while st.overflow.is_empty() {
            if st.shutdown {
                return;
            }
            st = shared
                .spiller_cv
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let records = std::mem::take(&mut st.overflow);
        st.spill_inflight = true;
        // Someone is waiting: handing over in memory is faster than a round trip
        // through the disk, and the records are about to be written anyway.
        let in_memory = st.urgent();
        drop(st);
        let chunk = if in_memory {
            Chunk::Memory(records)
        } else {
            match spill::write(&shared.spill_dir, &records) {
                Ok(path) => Chunk::File(path),
                Err(e) => {
                    shared.set_status(WriterStatus::Failing {
                        error: e.to_string(),
                    });
                    Chunk::Memory(records)
                }
            }
        };
        let mut st = shared.lock();
        st.chunks.push_back(chunk);
        st.spill_inflight = false;
        drop(st);
        shared.writer_cv.notify_one();
    }
}
