//! Enqueue latency with the disk slowed to 200 ms per write (target: p99 <= 50 us).
//!
//! Criterion measures the mean per enqueue; a second pass records every enqueue's
//! own time and prints p50 / p99 / p99.9 / max, since the promise is about the tail.

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use baton::archive::{Archive, ArchiveConfig, Event, Record, Sink};
use baton::home::Home;
use criterion::{Criterion, criterion_group, criterion_main};

/// A disk that takes 200 ms for every write.
struct SlowDisk;

impl Sink for SlowDisk {
    fn append(&mut self, _session: &str, _lines: &[u8]) -> io::Result<()> {
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    }
}

fn record(i: u64) -> Record {
    Record::new(
        "bench",
        Event::User {
            content: format!("message number {i}, about as long as a short chat turn"),
        },
    )
}

fn start(home: &Home) -> Archive {
    let config = ArchiveConfig {
        coalesce: Duration::from_millis(50),
        ..ArchiveConfig::new(home)
    };
    Archive::start_with_sink(&config, Box::new(SlowDisk))
}

fn enqueue(c: &mut Criterion) {
    let tmp = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => panic!("temp dir: {e}"),
    };
    let home = Home::at(tmp.path());
    let archive = start(&home);
    let mut i = 0u64;
    c.bench_function("enqueue, disk at 200 ms per write", |b| {
        b.iter_custom(|iters| {
            // Build records outside the timed part: the chat path has its text already.
            let records: Vec<Record> = (0..iters).map(|k| record(i + k)).collect();
            i += iters;
            let started = Instant::now();
            for r in records {
                archive.enqueue(black_box(r));
            }
            started.elapsed()
        });
    });
    // The queue filled long ago and the rest spilled: that is the path under test too.
    let _unfinished = archive.shutdown(Duration::from_millis(10));

    let archive = start(&home);
    let n = 200_000u64;
    let records: Vec<Record> = (0..n).map(record).collect();
    let mut times = Vec::with_capacity(records.len());
    for (k, r) in records.into_iter().enumerate() {
        let started = Instant::now();
        archive.enqueue(black_box(r));
        times.push(started.elapsed());
        if k % 1000 == 0 {
            // Pace like a fast stream of events rather than one tight burst.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    println!(
        "enqueue latency over {n} calls, disk at 200 ms per write: p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        at(0.50),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    let _unfinished = archive.shutdown(Duration::from_millis(10));
}

criterion_group! {
    name = benches;
    // Every iteration past the queue's capacity spills to a temp folder: keep the
    // run short so that folder stays small.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = enqueue
}
criterion_main!(benches);
