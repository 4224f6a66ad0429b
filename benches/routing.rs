//! One routing decision (policy order + breaker + TPM) with 2, 10 and 100 backends.
//!
//! Criterion reports the mean; the target is on the tail, so the bench
//! also times 100,000 single decisions and prints p50/p99/max. Target: p99 under
//! 50 µs with 10 backends. Run: `cargo bench --bench routing`.

// A benchmark that cannot set up should stop loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use baton::config::LbSettings;
use baton::engine::{Backend, Engine, LbHealth, now_ms, state};
use baton::profile::Policy;
use baton::provider::sim::SimProvider;
use criterion::Criterion;

/// An engine over `n` sim backends with realistic health: TPM history on all,
/// some recent failures, every fifth breaker open.
fn engine(n: usize, dir: &std::path::Path) -> Engine {
    let settings = LbSettings {
        tpm_threshold: Some(500),
        ..LbSettings::default()
    };
    let names: Vec<String> = (0..n).map(|i| format!("backend-{i}")).collect();
    let now = now_ms();
    let mut health = LbHealth::new(names.clone());
    for (i, name) in names.iter().enumerate() {
        let Some(h) = health.get_mut(name) else {
            continue;
        };
        for minute in 0..5u64 {
            h.tpm.record(100 + i as u64, now - minute * 60_000);
        }
        let failures = if i % 5 == 0 {
            settings.breaker.failure_threshold
        } else {
            1
        };
        for _ in 0..failures {
            h.breaker.record_failure(name, now, &settings.breaker);
        }
    }
    let profile = format!("bench-{n}");
    if let Err(e) = state::save(dir, &profile, &health, now, &settings.breaker) {
        panic!("cannot write bench state: {e}");
    }
    let backends = names
        .iter()
        .map(|name| Backend {
            name: name.clone(),
            provider_name: "sim".into(),
            model: "sim-fast".into(),
            base_url: String::new(),
            streaming: true,
            provider: SimProvider::new("sim-fast")
                .map(|p| Arc::new(p) as Arc<dyn baton::provider::Provider>),
        })
        .collect();
    let engine = Engine::new(profile, Policy::Failover, settings, backends);
    if let Some(warning) = engine.persist_in(dir) {
        panic!("{warning}");
    }
    engine
}

fn percentiles(engine: &Engine) -> (f64, f64, f64) {
    const SAMPLES: usize = 100_000;
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        black_box(engine.decide());
        times.push(start.elapsed().as_nanos() as f64 / 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (
        times[SAMPLES / 2],
        times[SAMPLES * 99 / 100],
        times[SAMPLES - 1],
    )
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sizes = [2usize, 10, 100];
    let engines: Vec<(usize, Engine)> = sizes.iter().map(|&n| (n, engine(n, dir.path()))).collect();

    println!("routing decision, {} single decisions each:", 100_000);
    println!(
        "{:>9} {:>10} {:>10} {:>10}",
        "backends", "p50 µs", "p99 µs", "max µs"
    );
    for (n, engine) in &engines {
        let (p50, p99, max) = percentiles(engine);
        println!("{n:>9} {p50:>10.2} {p99:>10.2} {max:>10.1}");
    }

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("routing_decision");
    for (n, engine) in &engines {
        group.bench_function(format!("{n}_backends"), |b| {
            b.iter(|| black_box(engine.decide()))
        });
    }
    group.finish();
    criterion.final_summary();
}
