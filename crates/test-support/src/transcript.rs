//! A deterministic, markdown-ish transcript for the TUI's benches and memory
//! tests: user prompts and finished answers with headings, paragraphs that wrap,
//! lists and a code block, about 20 screen lines per exchange at 120 columns.

use baton::profile::{self, ProfileStore};
use baton::session::Session;
use baton::tui::app::App;
use baton::tui::history::{AnswerState, CellKind, HistoryCell};
use baton::tui::theme::Theme;

const WORDS: &[&str] = &[
    "the",
    "request",
    "backend",
    "failover",
    "stream",
    "token",
    "latency",
    "a",
    "of",
    "profile",
    "breaker",
    "retry",
    "answer",
    "quickly",
    "with",
    "model",
    "budget",
    "window",
    "terminal",
    "render",
    "cache",
    "width",
    "line",
    "markdown",
    "and",
    "is",
    "provider",
    "routing",
    "health",
    "to",
    "in",
    "when",
    "policy",
    "round-robin",
];

/// A tiny LCG so every run builds the same text without a `rand` dependency.
pub struct Words(u64);

impl Words {
    /// Starts the sequence at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(6364136223846793005).wrapping_add(1))
    }

    fn next(&mut self) -> &'static str {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        WORDS[(self.0 >> 33) as usize % WORDS.len()]
    }

    /// `n` words separated by spaces.
    pub fn sentence(&mut self, n: usize) -> String {
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.next());
        }
        s
    }
}

/// The markdown of answer `i`.
pub fn answer_text(i: usize, words: &mut Words) -> String {
    format!(
        "## Part {i}: {}\n\n{} **{}** {} `inline {i}` {}.\n\n- {}\n- {}\n  - {}\n\n```rust\nfn step_{i}(x: u32) -> u32 {{\n    x.wrapping_mul({i})\n}}\n```\n\n{} _{}_ {}.",
        words.sentence(4),
        words.sentence(30),
        words.sentence(3),
        words.sentence(20),
        words.sentence(8),
        words.sentence(12),
        words.sentence(25),
        words.sentence(6),
        words.sentence(26),
        words.sentence(2),
        words.sentence(10),
    )
}

/// The prompt of exchange `i`.
pub fn prompt_text(i: usize, words: &mut Words) -> String {
    format!("question {i}: {}?", words.sentence(9))
}

/// How answer `i` is signed: the demo's sim backend, latencies varying with `i`.
pub fn provenance(i: usize) -> baton::engine::Provenance {
    crate::provenance::sim(900 + i as u64 % 700)
}

/// The cells of exchanges `from..to` (a prompt and its finished answer each), and
/// the bytes of text they hold.
pub fn exchanges(from: usize, to: usize) -> (Vec<HistoryCell>, usize) {
    let mut words = Words::new(from as u64);
    let mut cells = Vec::with_capacity(2 * (to - from));
    let mut bytes = 0;
    for i in from..to {
        let prompt = prompt_text(i, &mut words);
        let answer = answer_text(i, &mut words);
        bytes += prompt.len() + answer.len();
        cells.push(HistoryCell::new(CellKind::User(prompt)));
        cells.push(HistoryCell::new(CellKind::answer(
            answer,
            AnswerState::Done(provenance(i)),
        )));
    }
    (cells, bytes)
}

/// A fresh chat on the built-in `demo` profile; keep the directory alive with it.
pub fn app() -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = ProfileStore::new(tmp.path().join("profiles"));
    profile::ensure_builtin(&store).expect("built-in profiles");
    let resolved = store.resolve("demo").expect("demo profile");
    let app = App::new(Session::new(store, resolved), Theme::new(true));
    (tmp, app)
}
