//! `GET /metrics` in Prometheus' text format. Counters and latency histograms are
//! kept here per profile and backend; breaker states and TPM are read from the
//! engines at scrape time, so they are never stale.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use super::record::Outcome;
use crate::engine::{BackendStatus, BreakerState};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (bound, n) in BUCKETS.iter().zip(&mut self.counts) {
            if secs <= *bound {
                *n += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

type Pair = (String, String);

#[derive(Debug, Default)]
struct Data {
    requests: BTreeMap<(String, u16), u64>,
    failures: BTreeMap<(String, &'static str), u64>,
    attempt_failures: BTreeMap<(String, String, String), u64>,
    failovers: BTreeMap<String, u64>,
    tokens: BTreeMap<(String, String, &'static str), u64>,
    first_chunk: BTreeMap<Pair, Histogram>,
    latency: BTreeMap<Pair, Histogram>,
}

/// One profile's backends as its engine sees them now.
#[derive(Debug)]
pub(super) struct ProfileHealth {
    pub(super) profile: String,
    pub(super) backends: Vec<BackendStatus>,
}

/// The gateway's counters.
#[derive(Debug, Default)]
pub(super) struct Metrics {
    data: Mutex<Data>,
}

impl Metrics {
    pub(super) fn record(&self, o: &Outcome) {
        let mut d = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        let profile = o.profile.clone();
        *d.requests.entry((profile.clone(), o.status)).or_default() += 1;
        if let Some(class) = o.error {
            *d.failures.entry((profile.clone(), class)).or_default() += 1;
        }
        for (backend, class) in &o.attempt_failures {
            let key = (profile.clone(), backend.clone(), class.clone());
            *d.attempt_failures.entry(key).or_default() += 1;
        }
        if o.failovers > 0 {
            *d.failovers.entry(profile.clone()).or_default() += u64::from(o.failovers);
        }
        let Some(backend) = o.backend.clone() else {
            return;
        };
        if let Some(usage) = o.usage {
            for (kind, n) in [
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
            ] {
                *d.tokens
                    .entry((profile.clone(), backend.clone(), kind))
                    .or_default() += n;
            }
        }
        let pair = (profile, backend);
        if let Some(ms) = o.first_chunk_ms {
            d.first_chunk
                .entry(pair.clone())
                .or_default()
                .observe(ms as f64 / 1000.0);
        }
        d.latency
            .entry(pair)
            .or_default()
            .observe(o.latency_ms as f64 / 1000.0);
    }

    /// The whole exposition.
    pub(super) fn render(
        &self,
        health: &[ProfileHealth],
        in_flight: usize,
        queued: usize,
    ) -> String {
        let d = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        header(
            &mut out,
            "baton_serve_requests_total",
            "counter",
            "Requests answered, by profile and HTTP status.",
        );
        for ((p, status), n) in &d.requests {
            let _ = writeln!(
                out,
                "baton_serve_requests_total{{profile=\"{}\",status=\"{status}\"}} {n}",
                esc(p)
            );
        }
        header(
            &mut out,
            "baton_serve_failures_total",
            "counter",
            "Requests that got no complete answer, by class.",
        );
        for ((p, class), n) in &d.failures {
            let _ = writeln!(
                out,
                "baton_serve_failures_total{{profile=\"{}\",class=\"{class}\"}} {n}",
                esc(p)
            );
        }
        header(
            &mut out,
            "baton_backend_attempt_failures_total",
            "counter",
            "Failed attempts on a backend, by error class.",
        );
        for ((p, b, class), n) in &d.attempt_failures {
            let _ = writeln!(
                out,
                "baton_backend_attempt_failures_total{{{},class=\"{class}\"}} {n}",
                labels(p, b)
            );
        }
        header(
            &mut out,
            "baton_serve_failovers_total",
            "counter",
            "Backends given up on while answering.",
        );
        for (p, n) in &d.failovers {
            let _ = writeln!(
                out,
                "baton_serve_failovers_total{{profile=\"{}\"}} {n}",
                esc(p)
            );
        }
        header(
            &mut out,
            "baton_backend_tokens_total",
            "counter",
            "Tokens of answers, by backend and kind.",
        );
        for ((p, b, kind), n) in &d.tokens {
            let _ = writeln!(
                out,
                "baton_backend_tokens_total{{{},kind=\"{kind}\"}} {n}",
                labels(p, b)
            );
        }
        histograms(
            &mut out,
            "baton_backend_first_chunk_seconds",
            "From the answering attempt's start to its first chunk.",
            &d.first_chunk,
        );
        histograms(
            &mut out,
            "baton_backend_request_duration_seconds",
            "From the request to the answer's end.",
            &d.latency,
        );
        header(
            &mut out,
            "baton_backend_breaker_state",
            "gauge",
            "1 for the breaker's current state.",
        );
        for ProfileHealth {
            profile: p,
            backends,
        } in health
        {
            for BackendStatus {
                name: b,
                breaker: state,
                ..
            } in backends
            {
                for s in [
                    BreakerState::Closed,
                    BreakerState::Open,
                    BreakerState::HalfOpen,
                ] {
                    let v = u8::from(*state == s);
                    let _ = writeln!(
                        out,
                        "baton_backend_breaker_state{{{},state=\"{s}\"}} {v}",
                        labels(p, b)
                    );
                }
            }
        }
        header(
            &mut out,
            "baton_backend_tpm",
            "gauge",
            "Tokens per minute over the last five minutes.",
        );
        for ProfileHealth {
            profile: p,
            backends,
        } in health
        {
            for BackendStatus { name: b, tpm, .. } in backends {
                let _ = writeln!(out, "baton_backend_tpm{{{}}} {tpm}", labels(p, b));
            }
        }
        header(
            &mut out,
            "baton_serve_in_flight",
            "gauge",
            "Chat requests being answered.",
        );
        let _ = writeln!(out, "baton_serve_in_flight {in_flight}");
        header(
            &mut out,
            "baton_serve_queued",
            "gauge",
            "Chat requests waiting for a slot.",
        );
        let _ = writeln!(out, "baton_serve_queued {queued}");
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histograms(out: &mut String, name: &str, help: &str, map: &BTreeMap<Pair, Histogram>) {
    header(out, name, "histogram", help);
    for ((p, b), h) in map {
        let l = labels(p, b);
        for (bound, n) in BUCKETS.iter().zip(&h.counts) {
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
        let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
    }
}

fn labels(profile: &str, backend: &str) -> String {
    format!("profile=\"{}\",backend=\"{}\"", esc(profile), esc(backend))
}

/// Label values escaped as the text format asks.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Usage;

    #[test]
    fn a_request_shows_up_in_every_family() {
        let m = Metrics::default();
        let mut o = Outcome::new("/v1/chat/completions");
        o.profile = "lb".into();
        o.backend = Some("b".into());
        o.status = 200;
        o.failovers = 1;
        o.latency_ms = 300;
        o.first_chunk_ms = Some(20);
        o.usage = Some(Usage {
            input_tokens: 3,
            output_tokens: 4,
            estimated: false,
            ..Usage::default()
        });
        o.attempt_failures = vec![("a".into(), "transient".into())];
        m.record(&o);
        let health = vec![ProfileHealth {
            profile: "lb".to_string(),
            backends: vec![BackendStatus {
                name: "a".to_string(),
                breaker: BreakerState::Open,
                tpm: 0,
            }],
        }];
        let text = m.render(&health, 0, 0);
        for line in [
            "baton_serve_requests_total{profile=\"lb\",status=\"200\"} 1",
            r#"baton_backend_attempt_failures_total{profile="lb",backend="a",class="transient"} 1"#,
            "baton_serve_failovers_total{profile=\"lb\"} 1",
            "baton_backend_tokens_total{profile=\"lb\",backend=\"b\",kind=\"output\"} 4",
            "baton_backend_first_chunk_seconds_bucket{profile=\"lb\",backend=\"b\",le=\"0.025\"} 1",
            "baton_backend_request_duration_seconds_count{profile=\"lb\",backend=\"b\"} 1",
            "baton_backend_breaker_state{profile=\"lb\",backend=\"a\",state=\"open\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert_eq!(esc("a\"b"), "a\\\"b");
    }
}
