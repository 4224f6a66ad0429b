//! Memory of a long transcript: the heap a chat holds for a
//! 100,000-line transcript must stay within twice the transcript's text.
//!
//! Bytes are counted by `stats_alloc`'s instrumented `System` allocator, installed
//! as this test binary's global allocator (our crate forbids `unsafe`, and the
//! wrapper is the one piece that needs it). It counts requested bytes: allocator
//! bookkeeping and fragmentation are left out, as they are the allocator's, not
//! the data structure's. The binary holds only this one test, so no other test's
//! allocations are counted alongside.
//!
//! The count covers everything the transcript adds to the `App`: the cells and
//! their text, each cell's provenance, the line index, the wrapped lines of the
//! cells in view, and the answer streamed last through the real update path
//! (whose prompt and answer the session also keeps, as the conversation it sends).
//! Run with `--nocapture` to see the numbers.

// A test that cannot set up should stop loudly.
#![allow(clippy::expect_used)]

use baton_test_support::transcript as common;

use std::alloc::System;

use baton::engine::EngineEvent;
use baton::tui::app::{App, Effect};
use baton::tui::event::AppEvent;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const LINES: usize = 100_000;

fn live(region: &Region<'_, System>) -> usize {
    let change = region.change();
    change
        .bytes_allocated
        .saturating_sub(change.bytes_deallocated)
}

/// Streams one more answer through `App::update`, as the engine's events would.
fn stream_answer(app: &mut App, i: usize) -> usize {
    let mut words = common::Words::new(i as u64);
    let prompt = common::prompt_text(i, &mut words);
    let answer = common::answer_text(i, &mut words);
    app.update(AppEvent::Paste(prompt.clone()));
    let effects = app.update(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let id = match effects.as_slice() {
        [Effect::Start { id, .. }] => *id,
        other => panic!("expected one Start, got {other:?}"),
    };
    let chars: Vec<char> = answer.chars().collect();
    for token in chars.chunks(4) {
        let text: String = token.iter().collect();
        app.update(AppEvent::Engine {
            id,
            event: EngineEvent::Delta { text },
        });
    }
    app.update(AppEvent::Engine {
        id,
        event: EngineEvent::Done {
            provenance: common::provenance(i),
            finish: Default::default(),
        },
    });
    prompt.len() + answer.len()
}

#[test]
fn a_100k_line_transcript_takes_at_most_twice_its_text() {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let (_tmp, mut app) = common::app();
    baton::tui::draw(&mut app, &mut terminal).expect("draw");
    // The highlighter's grammars and theme load once per process, on the first
    // code block shown, whatever the transcript's length: counted apart.
    let grammars = Region::new(GLOBAL);
    baton::tui::markdown::render(
        "```rust\nfn main() { let s = \"hi\"; }\n```",
        &baton::tui::theme::Theme::new(true),
        80,
    );
    let grammars = live(&grammars);

    let region = Region::new(GLOBAL);
    let mut text = 0;
    let mut next = 0;
    while app.total_lines() < LINES {
        // About 24 lines an exchange; top up in steps, then lay out.
        let more = (LINES - app.total_lines()) / 24 + 1;
        let (cells, bytes) = common::exchanges(next, next + more);
        for cell in cells {
            app.transcript_mut().push(cell);
        }
        text += bytes;
        next += more;
        baton::tui::draw(&mut app, &mut terminal).expect("draw");
    }
    text += stream_answer(&mut app, next);
    // Draw at the bottom, the middle and the top, then back at the bottom.
    let total = app.total_lines();
    for scroll in [0, total / 2, total, 0] {
        app.set_scroll(scroll);
        baton::tui::draw(&mut app, &mut terminal).expect("draw");
    }
    let held = live(&region);
    let ratio = held as f64 / text as f64;

    // For comparison: what keeping every cell's wrapped lines would add.
    let theme = baton::tui::theme::Theme::new(true);
    let all = Region::new(GLOBAL);
    let wrapped: Vec<_> = app
        .transcript()
        .iter()
        .map(|c| c.kind().display_lines(120, &theme))
        .collect();
    let all_wrapped = live(&all);
    drop(wrapped);

    println!(
        "highlighting grammars, loaded once: {:.2} MB",
        grammars as f64 / 1e6
    );
    println!(
        "{} lines in {} cells: text {:.2} MB, heap held {:.2} MB = {ratio:.2}× text \
         ({} cells hold wrapped lines); wrapping every cell would add {:.2} MB ({:.2}× text)",
        app.total_lines(),
        app.transcript().len(),
        text as f64 / 1e6,
        held as f64 / 1e6,
        app.transcript().cells_holding_lines(),
        all_wrapped as f64 / 1e6,
        all_wrapped as f64 / text as f64,
    );
    assert!(app.total_lines() >= LINES);
    assert!(
        ratio <= 2.0,
        "heap {held} bytes is {ratio:.2}× the text's {text} bytes"
    );
}
