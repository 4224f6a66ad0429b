//! The interactive chat: `baton` with no `--prompt` on a terminal.
//!
//! Elm-style:
//! - [`event::AppEvent`] is the one bus: keys, paste, mouse, resize, ticks, and the
//!   engine's events tagged with their request id (stale ones are dropped);
//! - [`app::App::update`] changes the model and returns [`app::Effect`]s (start or
//!   cancel a request), which [`run_app`] performs: each request runs as its own
//!   task, so the UI never waits on the network, and cancelling aborts the task,
//!   which drops the engine stream;
//! - [`draw`] prepares a frame on the model (wrapping what changed), then
//!   [`view::render`] draws from it without changing it; transcript entries
//!   ([`history::HistoryCell`]) keep their line count per width, and
//!   [`transcript::Transcript`] indexes them so a frame touches only the visible
//!   cells (their wrapped lines are the only ones kept);
//! - [`terminal`] sets the terminal up and restores it, also on panic;
//! - the conversation is archived (`crate::archive`): [`run`] owns the writer
//!   and drops it after the terminal is restored, so leaving flushes (at most
//!   500 ms) without holding the chat's screen; the writer's status reaches the
//!   app as [`event::AppEvent::Archive`].
//!
//! [`run_app`] is generic over the ratatui `Backend`, so whole-app tests run on
//! `TestBackend`.

pub mod app;
pub(crate) mod editor;
pub mod event;
pub mod history;
pub(crate) mod input;
pub mod markdown;
pub(crate) mod prompt_history;
pub(crate) mod terminal;
pub mod theme;
pub(crate) mod transcript;
pub(crate) mod view;
pub(crate) mod wrap;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::archive::{Archive, ArchiveConfig};
use crate::cli::{Exit, RunArgs};
use crate::command::strings;
use crate::home::Home;
use crate::launch::{self, Launched};
use app::{App, Effect};
use event::AppEvent;
use theme::Theme;

/// Most events folded into one frame, so a fast stream still lets keys through.
const MAX_BATCH: usize = 512;

/// Runs the chat until the user leaves.
pub async fn run(args: RunArgs, home: &Home) -> Exit {
    let _log = crate::logging::init_file(home);
    let Launched {
        session,
        resumed,
        config,
    } = match launch::session(&args, home) {
        Ok(launched) => launched,
        Err(e) => {
            eprintln!("baton: {e}");
            return e.exit();
        }
    };
    // Lives until after the terminal is restored: dropping it flushes.
    let archive = Archive::start(&ArchiveConfig::from_settings(home, session.settings()));
    // Before `terminal::init`, whose hook then runs first: the terminal is back
    // before the flush and the panic message.
    archive.flush_on_panic();
    let mut app = App::new(session, Theme::from_config(config.theme))
        .with_terminal(config.mouse, editor::command(config.editor.as_deref()))
        .with_archive(archive.handle(), resumed.is_some())
        .with_stream(!args.no_stream);
    let history_file = home.history_file();
    let earlier = load_prompt_history(&history_file, config.history_size);
    let earlier_len = earlier.len();
    app.load_prompt_history(earlier);
    if let Some(r) = &resumed {
        let heading = strings::resumed(&r.id, app.session().profile_name(), r.messages.len());
        app.show_resumed(heading, r);
    }
    let mut tui = match terminal::init(config.mouse) {
        Ok(t) => t,
        Err(e) => {
            terminal::restore();
            eprintln!("baton: cannot set up the terminal: {e}");
            return Exit::Error;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = event::spawn_terminal_reader(tx.clone());
    let ticker = event::spawn_ticker(tx.clone(), Duration::from_millis(100));
    let status = event::spawn_archive_status(tx.clone(), archive.handle().subscribe());
    let result = run_app(&mut tui, app, rx, tx).await;
    ticker.abort();
    status.abort();
    drop(reader);
    terminal::restore();
    // `/quit`, Ctrl-D and Ctrl-C twice all end here: what is queued is written.
    let flushed = archive
        .shutdown(crate::archive::EXIT_FLUSH_TIMEOUT)
        .complete;
    match result {
        Ok(app) => {
            let new = &app.input().history()[earlier_len..];
            save_prompt_history(&history_file, new, config.history_size);
            // The alternate screen took the conversation with it: say where it is.
            if let Some(id) = app.archived_session() {
                eprintln!("{}", strings::left_session(id, flushed));
            }
            Exit::Complete
        }
        Err(e) => {
            eprintln!("baton: terminal error: {e}");
            Exit::Error
        }
    }
}

/// The prompts kept from earlier runs; an unreadable file is reported and the
/// chat starts with an empty history (the file is left as it is).
fn load_prompt_history(path: &std::path::Path, size: usize) -> Vec<String> {
    match prompt_history::load(path, size) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!("baton: prompt history not loaded: {e}");
            Vec::new()
        }
    }
}

/// Appends this run's prompts to what is in the file now, so two chats open at
/// once both keep theirs.
fn save_prompt_history(path: &std::path::Path, new: &[String], size: usize) {
    if new.is_empty() {
        return;
    }
    let mut entries = match prompt_history::load(path, size) {
        Ok(entries) => entries,
        // Never overwrite a file that could not be read.
        Err(e) => {
            eprintln!("baton: prompt history not saved: {e}");
            return;
        }
    };
    entries.extend(new.iter().cloned());
    if let Err(e) = prompt_history::save(path, &entries, size) {
        eprintln!("baton: prompt history not saved to {}: {e}", path.display());
    }
}

/// The main loop: events in, effects out, a frame when something changed.
pub(crate) async fn run_app<B: Backend>(
    terminal: &mut Terminal<B>,
    mut app: App,
    mut rx: UnboundedReceiver<AppEvent>,
    tx: UnboundedSender<AppEvent>,
) -> Result<App, B::Error> {
    let mut task: Option<JoinHandle<()>> = None;
    app.set_now(Instant::now());
    draw(&mut app, terminal)?;
    while let Some(first) = rx.recv().await {
        app.set_now(Instant::now());
        let mut effects = app.update(first);
        // Fold what is already queued into this frame (coalesced redraws).
        for _ in 0..MAX_BATCH {
            if app.should_quit() {
                break;
            }
            match rx.try_recv() {
                Ok(event) => effects.extend(app.update(event)),
                Err(_) => break,
            }
        }
        for effect in effects {
            match effect {
                Effect::Start {
                    id,
                    engine,
                    request,
                } => {
                    if let Some(old) = task.take() {
                        old.abort();
                    }
                    task = Some(event::spawn_request(tx.clone(), id, engine, request));
                }
                Effect::Cancel => {
                    if let Some(old) = task.take() {
                        old.abort();
                    }
                }
                Effect::Edit(text) => {
                    let edited = edit_in_editor(terminal, &app, &text).await;
                    app.edited(edited);
                }
                Effect::Copy(text) => {
                    let in_tmux = std::env::var_os("TMUX").is_some();
                    // Best effort: a terminal without OSC 52 ignores it, and
                    // the chat already said where else the text is.
                    let _ = terminal::copy_to_clipboard(&mut std::io::stdout(), &text, in_tmux);
                }
            }
        }
        if app.should_quit() {
            break;
        }
        if app.needs_draw() {
            app.set_now(Instant::now());
            draw(&mut app, terminal)?;
        }
    }
    if let Some(old) = task.take() {
        old.abort();
    }
    Ok(app)
}

/// Hands the terminal to the editor and takes it back: the reader thread pauses
/// (else it would eat the editor's keys), the chat's screen modes are undone and
/// redone, and the next frame is drawn whole.
async fn edit_in_editor<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &App,
    text: &str,
) -> Result<String, String> {
    event::pause_reader(true);
    // A poll already under way ends within its 50 ms.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let suspended = terminal::suspend();
    let edited = match suspended {
        Ok(()) => editor::edit(app.editor(), text).await,
        Err(e) => Err(format!("cannot hand the terminal to the editor: {e}")),
    };
    let resumed = terminal::resume(app.mouse());
    event::pause_reader(false);
    let _ = terminal.clear();
    match resumed {
        Ok(()) => edited,
        Err(e) => Err(format!("the terminal could not be set up again: {e}")),
    }
}

/// Lays out what changed for the terminal's size and draws one frame.
pub fn draw<B: Backend>(app: &mut App, terminal: &mut Terminal<B>) -> Result<(), B::Error> {
    let size = terminal.size()?;
    app.prepare_frame(size);
    terminal.draw(|frame| view::render(app, frame))?;
    app.frame_drawn();
    Ok(())
}
