//! Frame cost of the chat screen: one frame of a long transcript at
//! 120×40 on ratatui's `TestBackend`, and keystroke-to-frame latency while an
//! answer streams at 200 tokens/s. Run: `cargo bench --bench tui_frame`.
//!
//! Targets: p99 ≤ 8 ms per frame at 100,000 transcript lines, and a cost that
//! follows the visible lines, not the transcript's length: the tables repeat each
//! case at 1,000 and 10,000 lines so the growth (or its absence) shows, and time
//! the 100,000-line bottom frame on 20, 40 and 80 rows. Memory is checked by
//! `tests/tui_memory.rs` (a counting allocator needs its own binary).
//!
//! On a shared machine the p99 and max columns catch other processes' time
//! slices (a few ms each); p50 and criterion's mean show the code's own cost.
//!
//! Criterion reports means; the targets are on the tail, so the bench first times
//! single frames itself and prints p50/p99/max, then runs the criterion group.
//! Each timed frame is `tui::draw` (layout: wrap what changed, index, cache the
//! visible cells; then `view::render` and ratatui's diff into the backend), and
//! successive frames alternate between two scroll positions one line apart, so
//! every frame repaints the whole transcript area rather than diffing to nothing.
//!
//! The latency part replays a timeline on a simulated clock: a token every 5 ms
//! (200/s) and a keystroke every 20 ms, folded into frames by the same rule as
//! `tui::run_app` (an event starts a batch, everything already queued joins it, one
//! draw per batch). Each batch's `App::update` calls and `tui::draw` run for real
//! and their measured time advances the clock, so a key that arrives while a token
//! frame is being drawn waits for it, as it would in the real loop. A key's latency
//! is from its arrival to the end of the frame that includes it. This is the honest
//! number for the code we own: it counts queueing behind the stream plus our
//! update and draw, and leaves out only the terminal's own write of the frame
//! (`TestBackend` keeps it in memory) and OS scheduling, which real sleeps would
//! add as noise without measuring anything of ours.

// A benchmark that cannot set up should stop loudly.
#![allow(clippy::expect_used)]

use baton_test_support::transcript as common;

use std::hint::black_box;
use std::time::Instant;

use baton::engine::EngineEvent;
use baton::tui::app::{App, Effect};
use baton::tui::event::AppEvent;
use criterion::Criterion;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;
/// Frames timed per case for the percentile table.
const FRAMES: usize = 2_000;
/// As `tui::MAX_BATCH`: most events folded into one frame.
const MAX_BATCH: usize = 512;

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test terminal")
}

/// A chat whose transcript has at least `lines` screen lines at 120 columns,
/// laid out once. Returns the directory it lives in, the app and its line count.
fn build(lines: usize, terminal: &mut Terminal<TestBackend>) -> (tempfile::TempDir, App, usize) {
    let (tmp, mut app) = common::app();
    // Calibrate lines per exchange on a small sample, then add the rest at once.
    let (cells, _) = common::exchanges(0, 50);
    for cell in cells {
        app.transcript_mut().push(cell);
    }
    baton::tui::draw(&mut app, terminal).expect("draw");
    let per_exchange = app.total_lines().max(1) as f64 / 50.0;
    let mut next = 50;
    while app.total_lines() < lines {
        let missing = (lines - app.total_lines()) as f64;
        let more = ((missing / per_exchange).ceil() as usize).max(1);
        let (cells, _) = common::exchanges(next, next + more);
        for cell in cells {
            app.transcript_mut().push(cell);
        }
        next += more;
        baton::tui::draw(&mut app, terminal).expect("draw");
    }
    let total = app.total_lines();
    (tmp, app, total)
}

#[derive(Clone, Copy)]
enum Place {
    Bottom,
    Middle,
    Top,
}

impl Place {
    fn name(self) -> &'static str {
        match self {
            Place::Bottom => "bottom",
            Place::Middle => "middle",
            Place::Top => "top",
        }
    }

    /// The `App::scroll` (lines up from the bottom) for this place.
    fn scroll(self, total: usize) -> usize {
        match self {
            Place::Bottom => 0,
            Place::Middle => total / 2,
            // Leave room for the alternating frame one line further down.
            Place::Top => total.saturating_sub(1),
        }
    }
}

/// One frame at `scroll`, then the next one line away (so each repaints).
fn frame(app: &mut App, terminal: &mut Terminal<TestBackend>, scroll: usize, odd: bool) {
    app.set_scroll(if odd { scroll + 1 } else { scroll });
    baton::tui::draw(app, terminal).expect("draw");
}

fn percentiles(mut times: Vec<f64>) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    (times[n / 2], times[n * 99 / 100], times[n - 1])
}

fn frame_table(
    cases: &mut [(usize, tempfile::TempDir, App, usize)],
    terminal: &mut Terminal<TestBackend>,
) {
    println!("one frame at {WIDTH}×{HEIGHT}, {FRAMES} frames per case (ms):");
    println!(
        "{:>9} {:>8} {:>8} {:>8} {:>8}",
        "lines", "place", "p50", "p99", "max"
    );
    for (_, _, app, total) in cases.iter_mut() {
        for place in [Place::Bottom, Place::Middle, Place::Top] {
            let scroll = place.scroll(*total);
            // Warm the caches for this place before timing.
            for i in 0..20 {
                frame(app, terminal, scroll, i % 2 == 1);
            }
            let mut times = Vec::with_capacity(FRAMES);
            for i in 0..FRAMES {
                let start = Instant::now();
                frame(app, terminal, scroll, i % 2 == 1);
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            let (p50, p99, max) = percentiles(times);
            println!(
                "{total:>9} {:>8} {p50:>8.3} {p99:>8.3} {max:>8.3}",
                place.name()
            );
        }
        app.set_scroll(0);
    }
}

/// The same frame at the bottom of the largest transcript on screens of 20, 40
/// and 80 rows: the cost should follow the rows shown.
fn height_table(app: &mut App, total: usize) {
    const SAMPLES: usize = 1_000;
    println!(
        "one frame at the bottom of {total} lines by screen height, {SAMPLES} frames each (ms):"
    );
    println!("{:>9} {:>8} {:>8} {:>8}", "rows", "p50", "p99", "max");
    for rows in [20u16, 40, 80] {
        let mut t = Terminal::new(TestBackend::new(WIDTH, rows)).expect("test terminal");
        for i in 0..20 {
            frame(app, &mut t, 0, i % 2 == 1);
        }
        let mut times = Vec::with_capacity(SAMPLES);
        for i in 0..SAMPLES {
            let start = Instant::now();
            frame(app, &mut t, 0, i % 2 == 1);
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p99, max) = percentiles(times);
        println!("{rows:>9} {p50:>8.3} {p99:>8.3} {max:>8.3}");
    }
    app.set_scroll(0);
}

/// A width change: the first frame counts the cells in view and estimates the
/// rest, and the frames after it count a bounded number of estimates each, so
/// both should cost about a normal frame at any transcript length. Each round
/// switches 120 ↔ 119 columns, times the first frame, then the next `AFTER`.
fn resize_table(cases: &mut [(usize, tempfile::TempDir, App, usize)]) {
    const RESIZES: usize = 20;
    const AFTER: usize = 10;
    println!(
        "width changes (120 ↔ 119 columns), {RESIZES} each: the first frame after, and the {AFTER} frames after that (ms):"
    );
    println!(
        "{:>9} {:>8} {:>8} {:>8} {:>8}",
        "lines", "first", "max", "next", "max"
    );
    let mut narrow = Terminal::new(TestBackend::new(WIDTH - 1, HEIGHT)).expect("test terminal");
    let mut wide = terminal();
    for (_, _, app, total) in cases.iter_mut() {
        app.set_scroll(0);
        let mut first = Vec::with_capacity(RESIZES);
        let mut next = Vec::with_capacity(RESIZES * AFTER);
        for i in 0..RESIZES {
            let t = if i % 2 == 0 { &mut narrow } else { &mut wide };
            let start = Instant::now();
            baton::tui::draw(app, t).expect("draw");
            first.push(start.elapsed().as_secs_f64() * 1000.0);
            for j in 0..AFTER {
                let start = Instant::now();
                frame(app, t, 0, j % 2 == 1);
                next.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let (p50, _, max) = percentiles(first);
        let (n50, _, nmax) = percentiles(next);
        println!("{total:>9} {p50:>8.3} {max:>8.3} {n50:>8.3} {nmax:>8.3}");
        app.set_scroll(0);
        baton::tui::draw(app, &mut wide).expect("draw");
    }
}

fn key(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// Keystroke-to-frame latency while an answer streams at 200 tokens/s below a
/// transcript of `total` lines; see the module doc for the method.
fn latency(app: &mut App, terminal: &mut Terminal<TestBackend>, total: usize) {
    const TOKEN_US: u64 = 5_000; // 200 tokens/s
    const KEY_US: u64 = 20_000; // 50 keys/s: a fast typist, and 1,000 keys in 20 s
    const KEYS: u64 = 1_000;
    const TICK_US: u64 = 100_000; // the runtime's ticker
    app.set_scroll(0);
    app.update(AppEvent::Paste("explain failover in detail".into()));
    let effects = app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    // The engine is not run: its events are fed below, through the same update.
    let id = match effects.as_slice() {
        [Effect::Start { id, .. }] => *id,
        other => panic!("expected one Start, got {other:?}"),
    };
    baton::tui::draw(app, terminal).expect("draw");

    let end_us = KEYS * KEY_US;
    let mut words = common::Words::new(7);
    // (arrival µs, event, is a key)
    let mut timeline: Vec<(u64, AppEvent, bool)> = Vec::new();
    let mut t = 0;
    let mut n = 0u64;
    while t < end_us {
        n += 1;
        let mut text = format!("{} ", words.sentence(1));
        if n.is_multiple_of(60) {
            text.push_str("\n\n");
        } else if n.is_multiple_of(200) {
            text = format!("\n\n## Section {n}\n\n");
        }
        timeline.push((
            t,
            AppEvent::Engine {
                id,
                event: EngineEvent::Delta { text },
            },
            false,
        ));
        t += TOKEN_US;
    }
    for k in 0..KEYS {
        // Every 40th key clears the prompt (Ctrl-U) so the input stays one line.
        let event = if k % 40 == 39 {
            AppEvent::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL))
        } else {
            key(char::from(b'a' + (k % 26) as u8))
        };
        timeline.push((k * KEY_US + 7_000, event, true));
    }
    for k in 0..end_us / TICK_US {
        timeline.push((k * TICK_US + 3_000, AppEvent::Tick, false));
    }
    timeline.sort_by_key(|(t, _, _)| *t);

    let mut clock_us = 0f64;
    let mut key_latency = Vec::with_capacity(KEYS as usize);
    let mut frame_ms = Vec::new();
    let mut events = timeline.into_iter().peekable();
    while let Some((arrival, first, is_key)) = events.next() {
        clock_us = clock_us.max(arrival as f64);
        let mut keys = Vec::new();
        if is_key {
            keys.push(arrival);
        }
        let start = Instant::now();
        app.set_now(start);
        app.update(first);
        let mut folded = 0;
        while folded < MAX_BATCH {
            match events.peek() {
                Some((t, _, _)) if (*t as f64) <= clock_us => {}
                _ => break,
            }
            let Some((t, event, is_key)) = events.next() else {
                break;
            };
            if is_key {
                keys.push(t);
            }
            app.update(event);
            folded += 1;
        }
        if app.needs_draw() {
            let draw_start = Instant::now();
            app.set_now(draw_start);
            baton::tui::draw(app, terminal).expect("draw");
            frame_ms.push(draw_start.elapsed().as_secs_f64() * 1000.0);
        }
        clock_us += start.elapsed().as_secs_f64() * 1e6;
        for k in keys {
            key_latency.push((clock_us - k as f64) / 1000.0);
        }
    }
    let answer_lines = app.total_lines() - total;
    let frames = frame_ms.len();
    let (f50, f99, fmax) = percentiles(frame_ms);
    let (k50, k99, kmax) = percentiles(key_latency);
    println!(
        "streaming 200 tokens/s for {} s below {total} lines ({frames} frames, answer grew to ~{answer_lines} lines), {KEYS} keys (ms):",
        end_us / 1_000_000
    );
    println!("{:>22} {:>8} {:>8} {:>8}", "", "p50", "p99", "max");
    println!("{:>22} {k50:>8.3} {k99:>8.3} {kmax:>8.3}", "key to frame");
    println!(
        "{:>22} {f50:>8.3} {f99:>8.3} {fmax:>8.3}",
        "frame while streaming"
    );
}

/// Frames while an answer streams one long highlighted code block: each frame
/// re-renders the answer, so the block's lines so far must not be highlighted
/// again each time.
fn code_stream(app: &mut App, terminal: &mut Terminal<TestBackend>) {
    const LINES: usize = 400;
    app.set_scroll(0);
    app.update(AppEvent::Paste("write a long function".into()));
    let effects = app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let id = match effects.as_slice() {
        [Effect::Start { id, .. }] => *id,
        other => panic!("expected one Start, got {other:?}"),
    };
    let mut code = String::from("Here it is:\n\n```rust\nfn long() -> u64 {\n");
    for i in 0..LINES {
        code.push_str(&format!(
            "    let v{i}: u64 = \"{i}\".parse::<u64>().unwrap_or(0) * {i}; // step {i}\n"
        ));
    }
    code.push_str("    0\n}\n```\n");
    let chars: Vec<char> = code.chars().collect();
    let mut times = Vec::new();
    // About 4 characters a token, 3 tokens a frame (200 tokens/s at 60 fps).
    for chunk in chars.chunks(12) {
        app.update(AppEvent::Engine {
            id,
            event: EngineEvent::Delta {
                text: chunk.iter().collect(),
            },
        });
        let start = Instant::now();
        baton::tui::draw(app, terminal).expect("draw");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let frames = times.len();
    let (p50, p99, max) = percentiles(times);
    println!("streaming a {LINES}-line rust code block ({frames} frames, ms):");
    println!("{:>22} {:>8} {:>8} {:>8}", "", "p50", "p99", "max");
    println!(
        "{:>22} {p50:>8.3} {p99:>8.3} {max:>8.3}",
        "frame while streaming"
    );
}

fn main() {
    let mut term = terminal();
    let mut cases: Vec<(usize, tempfile::TempDir, App, usize)> = [1_000usize, 10_000, 100_000]
        .into_iter()
        .map(|lines| {
            let start = Instant::now();
            let (tmp, app, total) = build(lines, &mut term);
            println!(
                "built {total} lines ({} cells) in {:.0} ms",
                app.transcript().len(),
                start.elapsed().as_secs_f64() * 1000.0
            );
            (lines, tmp, app, total)
        })
        .collect();

    frame_table(&mut cases, &mut term);
    if let Some((_, _, app, total)) = cases.last_mut() {
        height_table(app, *total);
    }
    resize_table(&mut cases);
    {
        // A transcript of its own, as the stream appends a long answer to it.
        let mut t = terminal();
        let (_tmp, mut app, total) = build(100_000, &mut t);
        latency(&mut app, &mut t, total);
        let (_tmp, mut app) = common::app();
        code_stream(&mut app, &mut t);
    }
    term = terminal();

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("tui_frame_120x40");
    for (lines, _, app, total) in cases.iter_mut() {
        for place in [Place::Bottom, Place::Middle, Place::Top] {
            let scroll = place.scroll(*total);
            let mut odd = false;
            group.bench_function(format!("{lines}_lines/{}", place.name()), |b| {
                b.iter(|| {
                    odd = !odd;
                    frame(app, &mut term, scroll, odd);
                    black_box(app.total_lines())
                })
            });
        }
        // The first frame after a width change, at the bottom.
        let mut narrow = Terminal::new(TestBackend::new(WIDTH - 1, HEIGHT)).expect("test terminal");
        let mut odd = false;
        app.set_scroll(0);
        group.bench_function(format!("{lines}_lines/after_width_change"), |b| {
            b.iter(|| {
                odd = !odd;
                let t = if odd { &mut narrow } else { &mut term };
                baton::tui::draw(app, t).expect("draw");
                black_box(app.total_lines())
            })
        });
    }
    group.finish();
    criterion.final_summary();
}
