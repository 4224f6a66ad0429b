use std::time::Duration;

use super::*;
use crate::tui::history::{AnswerState, CellKind};

/// The real loop over a real engine (the keyless `sim` backend), on TestBackend.
/// Paused time: the sim's pacing and the quit timer are virtual, so the answer
/// always completes before the quit, however loaded the machine is.
#[tokio::test(start_paused = true)]
async fn main_loop_answers_from_sim_and_quits() {
    let (_tmp, app) = app_on("demo-fast");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut terminal = Terminal::new(TestBackend::new(60, 12)).unwrap();
    for c in "hi".chars() {
        tx.send(AppEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
        .unwrap();
    }
    tx.send(AppEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )))
    .unwrap();
    let feeder = tx.clone();
    let quit = tokio::spawn(async move {
        // Ask to quit once the answer had time to arrive (sim-fast: well under 2 s).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let _ = feeder.send(AppEvent::Key(KeyEvent::new(
            KeyCode::Char('d'),
            KeyModifiers::CONTROL,
        )));
    });
    let app = crate::tui::run_app(&mut terminal, app, rx, tx)
        .await
        .unwrap();
    quit.await.unwrap();
    let done = app.transcript().iter().any(|c| {
        matches!(c.kind(), CellKind::Assistant { state: AnswerState::Done(p), text, .. }
            if p.backend == "demo-fast" && !text.is_empty())
    });
    assert!(
        done,
        "no complete answer: {:?}",
        app.transcript()
            .iter()
            .map(|c| c.kind().clone())
            .collect::<Vec<_>>()
    );
    assert!(
        terminal
            .backend()
            .to_string()
            .contains("demo-fast · sim/sim-fast")
    );
}
