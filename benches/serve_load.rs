//! A small HTTP load generator for `scripts/bench-serve.sh`, used when `oha` is not
//! installed: POSTs one JSON body N times over C connections, reads each answer to
//! its end and prints `p50_ms p99_ms requests_per_s ok_count` on one line.
//!
//!   cargo bench --bench serve_load -- URL BODY N C

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` adds `--bench`; everything else is positional.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [url, body, n, c] = args.as_slice() else {
        eprintln!("usage: serve_load URL BODY N C");
        std::process::exit(2);
    };
    let (Ok(n), Ok(c)) = (n.parse::<usize>(), c.parse::<usize>()) else {
        eprintln!("serve_load: N and C must be numbers");
        std::process::exit(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serve_load: {e}");
            std::process::exit(1);
        }
    };
    let (mut latencies, ok, elapsed) = runtime.block_on(run(url.clone(), body.clone(), n, c));
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let rps = latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9);
    println!("{:.2} {:.2} {rps:.0} {ok}", pct(0.5), pct(0.99));
}

async fn run(url: String, body: String, n: usize, c: usize) -> (Vec<Duration>, usize, Duration) {
    let client = match baton::provider::http_client() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("serve_load: {e}");
            std::process::exit(1);
        }
    };
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..c.max(1) {
        let (client, url, body, next) = (client.clone(), url.clone(), body.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut ok = 0;
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(resp) = sent {
                    let status = resp.status().as_u16();
                    if resp.bytes().await.is_ok() && status == 200 {
                        ok += 1;
                    }
                }
                out.push(t.elapsed());
            }
            (out, ok)
        }));
    }
    let mut all = Vec::with_capacity(n);
    let mut ok = 0;
    for w in workers {
        if let Ok((lat, k)) = w.await {
            all.extend(lat);
            ok += k;
        }
    }
    (all, ok, started.elapsed())
}
