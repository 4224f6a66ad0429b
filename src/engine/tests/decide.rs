//! `decide.rs` row by row: one named row per case, no clock, no provider.

use std::time::Duration;

use pretty_assertions::assert_eq;

use super::*;
use crate::engine::decide::{Answer, AttemptEnd, Step, Verdict, next_step, plan};
use crate::engine::policy::Slot;

const NOW: u64 = 1_700_000_000_000;

/// A backend's health before the plan.
#[derive(Debug, Clone, Copy)]
enum Was {
    Fresh,
    /// Its breaker opened just now.
    Open,
    /// Its breaker opened longer ago than the recovery timeout.
    Recovered,
    /// It served this many tokens in the current minute.
    Tpm(u64),
}

fn planned(was: &[Was], tweak: impl FnOnce(&mut LbSettings)) -> Vec<Verdict> {
    let mut s = LbSettings::default();
    tweak(&mut s);
    let backends: Vec<Backend> = (0..was.len())
        .map(|i| Backend {
            name: format!("b{i}"),
            provider_name: "openai".into(),
            model: "m".into(),
            base_url: String::new(),
            streaming: true,
            provider: Err(ProviderError::Empty),
        })
        .collect();
    let mut health = LbHealth::new(backends.iter().map(|b| b.name.clone()));
    // The breaker settings in force when the history was made: enabled, so the
    // `enabled: false` rows see a breaker that is really open.
    let history = crate::config::BreakerSettings {
        enabled: true,
        ..s.breaker
    };
    for (b, was) in backends.iter().zip(was) {
        let h = health.get_mut(&b.name).unwrap();
        let open_at = match was {
            Was::Fresh => continue,
            Was::Tpm(tokens) => {
                h.tpm.record(*tokens, NOW);
                continue;
            }
            Was::Open => NOW,
            Was::Recovered => NOW - 1 - history.recovery_timeout.as_millis() as u64,
        };
        for _ in 0..history.failure_threshold {
            h.breaker.record_failure(&b.name, open_at, &history);
        }
    }
    let order: Vec<Slot> = (0..was.len())
        .map(|backend| Slot {
            backend,
            pool: None,
        })
        .collect();
    let plan = plan(&order, &backends, &health, &s, NOW, 100);
    assert_eq!(
        plan.iter().map(|(slot, _)| *slot).collect::<Vec<_>>(),
        order,
        "the plan keeps the order"
    );
    plan.into_iter().map(|(_, verdict)| verdict).collect()
}

#[test]
fn plan_rows() {
    use Verdict::{Go, LowTpm, Unhealthy};
    use Was::{Fresh, Open, Recovered, Tpm};
    fn threshold(s: &mut LbSettings) {
        s.tpm_threshold = Some(1_000);
    }
    fn no_breaker(s: &mut LbSettings) {
        s.breaker.enabled = false;
    }
    fn as_is(_: &mut LbSettings) {}
    type Row = (&'static str, Vec<Was>, fn(&mut LbSettings), Vec<Verdict>);
    let rows: Vec<Row> = vec![
        ("all healthy", vec![Fresh, Fresh], as_is, vec![Go, Go]),
        (
            "an open breaker is unhealthy",
            vec![Open, Fresh],
            as_is,
            vec![Unhealthy, Go],
        ),
        (
            "past its recovery timeout it may probe",
            vec![Recovered, Fresh],
            as_is,
            vec![Go, Go],
        ),
        (
            "a disabled breaker admits an open backend",
            vec![Open, Fresh],
            no_breaker,
            vec![Go, Go],
        ),
        (
            "every breaker open: nothing to try",
            vec![Open, Open],
            as_is,
            vec![Unhealthy, Unhealthy],
        ),
        (
            "TPM below the threshold demotes",
            vec![Tpm(400), Fresh],
            threshold,
            vec![LowTpm(400), Go],
        ),
        (
            "TPM 0 is no data, not low",
            vec![Fresh, Tpm(400)],
            threshold,
            vec![Go, LowTpm(400)],
        ),
        (
            "TPM at the threshold is not low",
            vec![Tpm(1_000), Fresh],
            threshold,
            vec![Go, Go],
        ),
        (
            "without a threshold TPM is not read",
            vec![Tpm(400), Fresh],
            as_is,
            vec![Go, Go],
        ),
        (
            "all low: TPM only demotes, so all go",
            vec![Tpm(400), Tpm(900)],
            threshold,
            vec![Go, Go],
        ),
        (
            "low and open: the low one goes, the open one stays out",
            vec![Tpm(400), Open],
            threshold,
            vec![Go, Unhealthy],
        ),
        (
            "an open breaker wins over low TPM",
            vec![Open, Tpm(400), Fresh],
            threshold,
            vec![Unhealthy, LowTpm(400), Go],
        ),
    ];
    for (name, was, tweak, want) in rows {
        assert_eq!(planned(&was, tweak), want, "{name}");
    }
}

#[test]
fn plan_of_an_unknown_backend_is_go() {
    let order = [Slot {
        backend: 3,
        pool: None,
    }];
    let plan = plan(
        &order,
        &[],
        &LbHealth::new(["a"]),
        &LbSettings::default(),
        NOW,
        100,
    );
    assert_eq!(plan, vec![(order[0], Verdict::Go)]);
}

#[test]
fn empty_pools_are_those_whose_every_member_is_unhealthy() {
    use crate::engine::decide::empty_pools;
    let slot = |backend, pool| Slot { backend, pool };
    let plan = [
        (slot(0, None), Verdict::Unhealthy),
        (slot(1, Some(0)), Verdict::Unhealthy),
        (slot(2, Some(0)), Verdict::Unhealthy),
        (slot(3, Some(1)), Verdict::Unhealthy),
        (slot(4, Some(1)), Verdict::LowTpm(5)),
    ];
    // Pool 2 is not reached by this plan at all: not reported.
    assert_eq!(empty_pools(&plan, 3), vec![0]);
}

fn answer() -> Answer {
    Answer {
        first_chunk_ms: 10,
        attempt_ms: 20,
        usage: Usage::estimate(4, 4),
        finish: Default::default(),
        rate_limit: None,
    }
}

fn status(status: u16, retry_after: Option<u64>) -> AttemptEnd {
    AttemptEnd::Failed(ProviderError::Http {
        status,
        message: String::new(),
        retry_after: retry_after.map(Duration::from_millis),
        info: Default::default(),
    })
}

#[test]
fn next_step_rows() {
    let s = LbSettings {
        retry_delay: Duration::from_millis(1_000),
        retry_after_cap: Duration::from_millis(60_000),
        ..LbSettings::default()
    };
    let ms = Duration::from_millis;
    let rows: Vec<(&str, AttemptEnd, u32, u32, Step)> = vec![
        (
            "complete: stop",
            AttemptEnd::Complete(answer()),
            1,
            2,
            Step::Commit,
        ),
        (
            "broken after text: the backend owns the answer",
            AttemptEnd::Broken {
                answer: answer(),
                reason: "cut".into(),
            },
            1,
            2,
            Step::Commit,
        ),
        (
            "first-chunk timeout fails over without a retry",
            AttemptEnd::FirstChunkTimeout {
                elapsed: ms(30_000),
            },
            1,
            2,
            Step::FailOver,
        ),
        (
            "transient: retry after the delay",
            status(503, None),
            1,
            2,
            Step::Retry(ms(1_000)),
        ),
        (
            "transient on the last attempt: fail over",
            status(503, None),
            2,
            2,
            Step::FailOver,
        ),
        (
            "one attempt allowed: fail over",
            status(503, None),
            1,
            1,
            Step::FailOver,
        ),
        (
            "Retry-After wins over the delay",
            status(429, Some(3_000)),
            1,
            2,
            Step::Retry(ms(3_000)),
        ),
        (
            "Retry-After at the cap is honoured",
            status(429, Some(60_000)),
            1,
            2,
            Step::Retry(ms(60_000)),
        ),
        (
            "Retry-After over the cap: fail over rather than wait",
            status(429, Some(60_001)),
            1,
            2,
            Step::FailOver,
        ),
        (
            "empty answer is transient",
            AttemptEnd::Failed(ProviderError::Empty),
            1,
            2,
            Step::Retry(ms(1_000)),
        ),
        (
            "connect error is transient",
            AttemptEnd::Failed(ProviderError::Connect {
                url: "http://x".into(),
                reason: "refused".into(),
            }),
            1,
            2,
            Step::Retry(ms(1_000)),
        ),
        (
            "auth fails over at once",
            status(401, None),
            1,
            2,
            Step::FailOver,
        ),
        (
            "a missing key is auth",
            AttemptEnd::Failed(ProviderError::MissingKey {
                provider: "openai".into(),
                hint: String::new(),
            }),
            1,
            2,
            Step::FailOver,
        ),
        (
            "request error: only to different targets",
            status(400, None),
            1,
            2,
            Step::FailOverToDifferent,
        ),
        (
            "request error ignores Retry-After",
            status(422, Some(10)),
            1,
            2,
            Step::FailOverToDifferent,
        ),
    ];
    for (name, end, attempt, max, want) in rows {
        assert_eq!(next_step(&end, attempt, max, &s, false), want, "{name}");
    }
}
