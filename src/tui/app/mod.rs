//! The model and its update: [`App::update`] takes one [`AppEvent`] and returns the
//! [`Effect`]s the runtime must perform (start or cancel a request). It never waits
//! on the network and never touches the terminal, so tests drive it directly.
//!
//! `update` is a routing table from each event to its handler, one file a concern:
//! - `keys`: keys, paste and the mouse wheel; Enter hands a prompt to `turn` and a
//!   command to `commands`;
//! - `turn`: a request from start to end (streaming, finishing, cancelling,
//!   `/retry`) and the engine's events;
//! - `commands`: slash commands and what their actions do to the chat;
//! - `archive`: what is recorded, through a [`crate::archive::SessionLog`] as
//!   one-shot mode does; enqueueing never waits for the disk, so this stays off the
//!   network and the disk alike;
//! - `status`: what the status bar shows, copied from the engine so the view
//!   stays pure.
//!
//! The view reads the model through the accessors here and changes nothing.

mod archive;
mod commands;
mod keys;
mod status;
mod turn;

use std::time::Instant;

use ratatui::layout::Size;

use super::event::AppEvent;
use super::history::{CellKind, HistoryCell};
use super::input::Input;
use super::theme::Theme;
use super::transcript::Transcript;
use crate::command::SlashCommand;
use crate::engine::Engine;
use crate::provider::ChatRequest;
use crate::session::Session;
use archive::Archiving;
pub(in crate::tui) use status::Status;
pub(in crate::tui) use turn::Progress;
use turn::Turn;

/// What the runtime must do after an update.
#[derive(Debug)]
pub enum Effect {
    /// Run `request` on `engine` as request `id`, cancelling any other; the
    /// request's events carry `id`.
    Start {
        id: u64,
        engine: Engine,
        request: ChatRequest,
    },
    /// Cancel the request in flight.
    Cancel,
    /// Put `text` on the clipboard (through the terminal).
    Copy(String),
    /// Open the editor on `text` (the input); the result comes back through
    /// [`App::edited`].
    Edit(String),
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    /// The chat's state, shared with the slash commands.
    session: Session,
    theme: Theme,
    /// The prompt editor.
    input: Input,
    view: TranscriptView,
    turn: Turn,
    status: Status,
    /// Where the conversation's records go; none without an archive.
    archiving: Option<Archiving>,
    control: Control,
}

/// The transcript and where the view of it is.
#[derive(Debug)]
struct TranscriptView {
    cells: Transcript,
    /// Lines scrolled up from the bottom; 0 follows the stream.
    scroll: usize,
    /// Rows of transcript visible at the last draw (for PgUp/PgDn).
    page: usize,
    /// Total transcript lines at the last layout.
    total_lines: usize,
    /// Answers' reasoning shown in full (Ctrl-T), not folded to one line.
    show_reasoning: bool,
}

impl TranscriptView {
    fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.max_scroll());
    }

    fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }

    /// The furthest the view scrolls up: the first line at the top of the
    /// transcript area (`page` is about that area's height), never past it into
    /// an empty screen.
    fn max_scroll(&self) -> usize {
        self.total_lines.saturating_sub(self.page)
    }

    /// Empties the transcript; the view follows what comes next.
    fn clear(&mut self) {
        self.cells.clear();
        self.scroll = 0;
    }
}

/// The run loop's bookkeeping: the clock, redrawing and leaving.
#[derive(Debug)]
struct Control {
    /// "Now", refreshed by the runtime before each update and draw (fixed in tests).
    now: Instant,
    /// Something changed since the last draw.
    dirty: bool,
    quit: Quit,
    popup: Popup,
    /// Ctrl-X was pressed: Ctrl-E next opens the editor.
    ctrl_x: bool,
    /// Mouse capture on (the config file's `mouse`), to restore after the editor.
    mouse: bool,
    /// The editor command (Ctrl-G).
    editor: String,
}

/// The command popup's selection, for the input text it was made for: typing
/// anything else starts it over at the first entry.
#[derive(Debug, Default)]
struct Popup {
    for_text: String,
    selected: usize,
    /// Esc closed it (until the text changes).
    hidden: bool,
}

/// Leaving: one Ctrl-C on an idle, empty prompt arms it, a second one (or Ctrl-D,
/// or `/quit`) asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quit {
    No,
    Armed,
    Asked,
}

impl App {
    /// The config file's terminal choices: mouse capture and the editor.
    pub(crate) fn with_terminal(mut self, mouse: bool, editor: String) -> Self {
        self.control.mouse = mouse;
        self.control.editor = editor;
        self
    }

    /// The editor Ctrl-G runs.
    pub(crate) fn editor(&self) -> &str {
        &self.control.editor
    }

    /// Whether the mouse is captured.
    pub(crate) fn mouse(&self) -> bool {
        self.control.mouse
    }

    /// The editor is done: what it saved becomes the input, or the error is shown
    /// and the input stays.
    pub(crate) fn edited(&mut self, result: Result<String, String>) {
        self.control.dirty = true;
        match result {
            Ok(text) => self.input.set_text(text),
            Err(message) => self.output(message, true),
        }
    }

    /// A new chat on `session`.
    pub fn new(session: Session, theme: Theme) -> Self {
        let mut app = Self {
            session,
            theme,
            input: Input::default(),
            view: TranscriptView {
                cells: Transcript::default(),
                scroll: 0,
                page: 10,
                total_lines: 0,
                show_reasoning: false,
            },
            turn: Turn::default(),
            status: Status::default(),
            archiving: None,
            control: Control {
                now: Instant::now(),
                dirty: true,
                quit: Quit::No,
                popup: Popup::default(),
                ctrl_x: false,
                mouse: true,
                editor: "vi".to_owned(),
            },
        };
        let what = app.session.target().describe();
        let welcome = format!(
            "baton · profile {}: {what} · /help for commands",
            app.session.profile_name()
        );
        app.output(welcome, false);
        app.follow_current_engine();
        app
    }

    /// Asks for whole answers instead of streamed ones when `stream` is false
    /// (`--no-stream`).
    pub(crate) fn with_stream(mut self, stream: bool) -> Self {
        self.turn.stream = stream;
        self
    }

    /// Starts the prompt history (Up, Ctrl-R) with the prompts of earlier runs.
    pub(crate) fn load_prompt_history(&mut self, entries: Vec<String>) {
        self.input.load_history(entries);
    }

    /// Handles one event.
    pub fn update(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Key(key) => return self.on_key(key),
            AppEvent::Paste(text) => self.on_paste(&text),
            AppEvent::Mouse(mouse) => self.on_mouse(mouse),
            AppEvent::Resize => self.control.dirty = true,
            AppEvent::Engine { id, event } => {
                self.on_engine(id, event);
                return self.release_queue();
            }
            AppEvent::EngineEnded { id } => {
                self.on_engine_ended(id);
                return self.release_queue();
            }
            AppEvent::Tick => self.on_tick(),
            AppEvent::Archive(status) => self.on_archive_status(status),
        }
        Vec::new()
    }

    /// True once the user asked to leave.
    pub(crate) fn should_quit(&self) -> bool {
        self.control.quit == Quit::Asked
    }

    /// True when something changed since the last draw.
    pub fn needs_draw(&self) -> bool {
        self.control.dirty
    }

    #[cfg(test)]
    /// The time the model takes as now.
    pub(crate) fn now(&self) -> Instant {
        self.control.now
    }

    /// Sets now: the runtime does before each batch of updates and each draw.
    pub fn set_now(&mut self, now: Instant) {
        self.control.now = now;
    }

    /// Lines scrolled up from the bottom; 0 follows the stream.
    pub(crate) fn scroll(&self) -> usize {
        self.view.scroll
    }

    /// Scrolls to `lines` up from the bottom (the next layout keeps it in range).
    pub fn set_scroll(&mut self, lines: usize) {
        self.view.scroll = lines;
    }

    /// Total transcript lines at the last layout.
    pub fn total_lines(&self) -> usize {
        self.view.total_lines
    }

    /// The transcript's cells.
    pub fn transcript(&self) -> &Transcript {
        &self.view.cells
    }

    /// The transcript, to add cells to it directly (long transcripts in benches).
    pub fn transcript_mut(&mut self) -> &mut Transcript {
        &mut self.view.cells
    }

    /// The chat's state.
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    #[cfg(test)]
    pub(in crate::tui) fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub(in crate::tui) fn theme(&self) -> &Theme {
        &self.theme
    }

    pub(in crate::tui) fn input(&self) -> &Input {
        &self.input
    }

    pub(in crate::tui) fn status(&self) -> &Status {
        &self.status
    }

    /// True after one Ctrl-C on an idle, empty prompt.
    pub(in crate::tui) fn quit_armed(&self) -> bool {
        self.control.quit == Quit::Armed
    }

    /// The command popup's entries: commands matching what is typed after `/`.
    pub(in crate::tui) fn popup(&self) -> Vec<SlashCommand> {
        let text = self.input.text();
        if self.popup_state().hidden {
            return Vec::new();
        }
        match text.strip_prefix('/') {
            Some(rest) if !rest.contains(char::is_whitespace) => SlashCommand::matching(rest),
            _ => Vec::new(),
        }
    }

    /// Which popup entry Enter and Tab take.
    pub(in crate::tui) fn popup_selected(&self) -> usize {
        self.popup_state().selected
    }

    /// The popup's state when it belongs to the current text, else a fresh one.
    fn popup_state(&self) -> &Popup {
        static FRESH: Popup = Popup {
            for_text: String::new(),
            selected: 0,
            hidden: false,
        };
        if self.control.popup.for_text == self.input.text() {
            &self.control.popup
        } else {
            &FRESH
        }
    }

    /// The popup's state for the current text, to change it.
    fn popup_mut(&mut self) -> &mut Popup {
        if self.control.popup.for_text != self.input.text() {
            self.control.popup = Popup {
                for_text: self.input.text().to_string(),
                ..Popup::default()
            };
        }
        &mut self.control.popup
    }

    /// Wraps what changed for a screen of `size`, keeps a scrolled-up view still
    /// while lines are added below it, and keeps the wrapped lines of the cells
    /// the screen can show. Runs before each frame is rendered.
    pub(in crate::tui) fn prepare_frame(&mut self, size: Size) {
        // The transcript area is at most the screen, and ends `scroll` lines above
        // the bottom (as the view places it).
        let view = &mut self.view;
        let rows = usize::from(size.height);
        view.total_lines = view
            .cells
            .layout(size.width, rows, &mut view.scroll, &self.theme);
        view.page = usize::from(size.height.saturating_sub(4));
    }

    /// The frame prepared last is on the screen.
    pub(in crate::tui) fn frame_drawn(&mut self) {
        self.control.dirty = false;
    }

    fn notice(&mut self, text: impl Into<String>) {
        self.view
            .cells
            .push(HistoryCell::new(CellKind::Notice(text.into())));
    }

    fn output(&mut self, text: impl Into<String>, is_error: bool) {
        self.view.cells.push(HistoryCell::new(CellKind::Output {
            text: text.into(),
            is_error,
        }));
    }
}
