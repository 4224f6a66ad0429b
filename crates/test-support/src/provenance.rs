//! Who answered, for fixtures of finished answers.

use baton::engine::Provenance;
use baton::provider::Usage;

/// A first-try answer from the built-in `demo-fast` sim backend with estimated usage.
pub fn sim(latency_ms: u64) -> Provenance {
    Provenance {
        backend: "demo-fast".into(),
        provider: "sim".into(),
        model: "sim-fast".into(),
        attempts: 1,
        failovers: 0,
        latency_ms,
        first_chunk_ms: 40,
        usage: Usage {
            input_tokens: 12,
            output_tokens: 85,
            estimated: true,
            ..Usage::default()
        },
    }
}
