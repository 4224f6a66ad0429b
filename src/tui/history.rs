//! Transcript entries. Each [`HistoryCell`] renders itself with
//! [`CellKind::display_lines`] (pure) and remembers how many screen lines that
//! makes at the last width, so a frame re-wraps only what changed. The wrapped
//! lines themselves are kept only for the cells in view, by
//! [`super::transcript::Transcript`]: they take several times the memory of the
//! text, so keeping them for a whole long transcript would break the memory
//! budget (at most twice the text, which `tests/tui_memory.rs` checks).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::markdown;
use super::theme::Theme;
use super::wrap::wrap_line;
use crate::engine::Provenance;
use crate::provider::{Finish, ToolCall};

/// How an answer stands.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerState {
    /// Text is still arriving.
    Streaming,
    /// Complete.
    Done(Provenance),
    /// Over, but not a complete answer: cut by the token limit, filtered, refused,
    /// or a request for tools to be run.
    Stopped {
        /// Where it came from.
        provenance: Provenance,
        /// How the provider ended it (boxed: most answers are complete).
        finish: Box<Finish>,
    },
    /// Broke after text was shown: incomplete.
    Interrupted {
        /// Where the partial answer came from.
        provenance: Provenance,
        /// What broke.
        reason: String,
    },
    /// The user cancelled it.
    Cancelled,
}

/// What a transcript entry is.
#[derive(Debug, Clone, PartialEq)]
pub enum CellKind {
    /// A prompt (or a command line) the user sent.
    User(String),
    /// An answer.
    Assistant {
        /// The markdown text so far.
        text: String,
        /// Complete, streaming, interrupted or cancelled.
        state: AnswerState,
        /// Reasoning and tool calls, for the answers that have them (boxed: most
        /// have neither, and a long transcript holds thousands of cells).
        extras: Option<Box<AnswerExtras>>,
    },
    /// A brief dim line: a backend skipped or failed, a retry, a welcome.
    Notice(String),
    /// A command's output, or an error.
    Output {
        /// The text (may be several lines; shown as written, wrapped).
        text: String,
        /// Shown as an error.
        is_error: bool,
    },
}

/// What some answers carry besides their text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnswerExtras {
    /// The model's reasoning, streamed before the answer.
    pub(crate) reasoning: String,
    /// Whether the reasoning is shown in full (Ctrl-T); otherwise one line says
    /// it is there.
    pub(crate) show_reasoning: bool,
    /// Tools the model asked to have run, in order.
    pub(crate) tool_calls: Vec<ToolCall>,
}

impl CellKind {
    /// An answer with text only.
    pub fn answer(text: String, state: AnswerState) -> Self {
        Self::Assistant {
            text,
            state,
            extras: None,
        }
    }
}

/// One transcript entry and its screen-line count at the last width.
///
/// Kept small (the kind is boxed: an answer's provenance makes it large), as a long
/// transcript holds thousands of these next to their text.
#[derive(Debug, Clone)]
pub struct HistoryCell {
    kind: Box<CellKind>,
    /// Screen lines at a width; what the transcript's line index is built from.
    height: Option<Height>,
}

/// A cell's screen lines at one width: counted, or estimated from another width
/// (after a resize, until the transcript gets round to counting them).
#[derive(Debug, Clone, Copy)]
struct Height {
    width: u16,
    estimated: bool,
    lines: u32,
}

impl HistoryCell {
    /// A new entry.
    pub fn new(kind: CellKind) -> Self {
        Self {
            kind: Box::new(kind),
            height: None,
        }
    }

    /// What it is.
    pub fn kind(&self) -> &CellKind {
        &self.kind
    }

    /// Changes it; the line count is dropped.
    pub(crate) fn kind_mut(&mut self) -> &mut CellKind {
        self.height = None;
        &mut self.kind
    }

    /// Its screen lines at `width`, counted or estimated.
    pub(crate) fn height_or_estimate(&self, width: u16) -> Option<usize> {
        match self.height {
            Some(h) if h.width == width => usize::try_from(h.lines).ok(),
            _ => None,
        }
    }

    /// True when its lines at `width` are an estimate.
    pub(crate) fn is_estimated(&self, width: u16) -> bool {
        self.height.is_some_and(|h| h.width == width && h.estimated)
    }

    /// Estimates its lines at `width` from those at the last width, in proportion
    /// (text wrapped narrower takes more lines), without wrapping. A cell never
    /// counted (new or changed) stays unknown.
    pub(crate) fn estimate(&mut self, width: u16) {
        let Some(h) = self.height else {
            return;
        };
        if h.width == width {
            return;
        }
        let (from, to) = (u64::from(h.width.max(4)), u64::from(width.max(4)));
        let lines = (u64::from(h.lines) * from + to / 2) / to;
        self.height = Some(Height {
            width,
            estimated: true,
            lines: u32::try_from(lines.max(1)).unwrap_or(u32::MAX),
        });
    }

    /// Wraps it at `width`, remembering the line count, and returns the lines.
    pub(crate) fn wrap(&mut self, width: u16, theme: &Theme) -> Vec<Line<'static>> {
        let lines = self.kind.display_lines(width, theme);
        // A cell of more than 4 billion lines is not counted (re-wrapped instead).
        self.height = u32::try_from(lines.len()).ok().map(|lines| Height {
            width,
            estimated: false,
            lines,
        });
        lines
    }

    /// Returns its text buffers' spare capacity (text grown by streaming or
    /// typing keeps up to twice its length otherwise).
    pub(crate) fn shrink(&mut self) {
        match &mut *self.kind {
            CellKind::User(text) | CellKind::Notice(text) => text.shrink_to_fit(),
            CellKind::Assistant { text, extras, .. } => {
                text.shrink_to_fit();
                if let Some(extras) = extras {
                    extras.reasoning.shrink_to_fit();
                }
            }
            CellKind::Output { text, .. } => text.shrink_to_fit(),
        }
    }
}

/// Lines of a long message shown in the transcript before the rest is folded.
const USER_LINES_SHOWN: usize = 8;

impl CellKind {
    /// The entry as screen lines `width` columns wide, ending with a blank line.
    pub fn display_lines(&self, width: u16, theme: &Theme) -> Vec<Line<'static>> {
        let width = usize::from(width.max(4));
        let mut out = Vec::new();
        match self {
            CellKind::User(text) => {
                // A long paste shows its head and how much more there is: the
                // whole text was sent, and the archive has it.
                let total = text.lines().count();
                let shown = if total > USER_LINES_SHOWN + 2 {
                    USER_LINES_SHOWN
                } else {
                    total
                };
                for (i, line) in text.lines().take(shown).enumerate() {
                    let lead = if i == 0 { "› " } else { "  " };
                    let l = Line::from(vec![
                        Span::styled(lead, theme.user()),
                        Span::styled(line.to_string(), theme.user()),
                    ]);
                    out.extend(wrap_line(&l, width, 2));
                }
                if shown < total {
                    let more = Line::from(Span::styled(
                        format!("  … {} more lines (sent whole)", total - shown),
                        theme.dim(),
                    ));
                    out.extend(wrap_line(&more, width, 2));
                }
            }
            CellKind::Assistant {
                text,
                state,
                extras,
            } => {
                if let Some(extras) = extras {
                    reasoning_lines(extras, width, theme, &mut out);
                }
                for md in markdown::render(text, theme, width) {
                    out.extend(wrap_line(&md.line, width, md.indent));
                }
                for call in extras.iter().flat_map(|e| &e.tool_calls) {
                    let l = Line::from(Span::styled(
                        format!("⚙ tool call: {}({})", call.name, call.arguments),
                        theme.warn(),
                    ));
                    out.extend(wrap_line(&l, width, 2));
                }
                match state {
                    AnswerState::Streaming => {}
                    AnswerState::Done(p) => {
                        let l = Line::from(Span::styled(provenance_line(p), theme.dim()));
                        out.extend(wrap_line(&l, width, 2));
                    }
                    AnswerState::Stopped { provenance, finish } => {
                        let l = Line::from(Span::styled(stopped_line(finish), theme.warn()));
                        out.extend(wrap_line(&l, width, 2));
                        let l = Line::from(Span::styled(provenance_line(provenance), theme.dim()));
                        out.extend(wrap_line(&l, width, 2));
                    }
                    AnswerState::Interrupted { provenance, reason } => {
                        let l = Line::from(Span::styled(
                            format!(
                                "⚠ interrupted: this answer from {} is incomplete ({reason}). /retry sends the prompt to the next backend.",
                                provenance.backend
                            ),
                            theme.error(),
                        ));
                        out.extend(wrap_line(&l, width, 2));
                        let l = Line::from(Span::styled(provenance_line(provenance), theme.dim()));
                        out.extend(wrap_line(&l, width, 2));
                    }
                    AnswerState::Cancelled => {
                        let l = Line::from(Span::styled(
                            "✗ cancelled (incomplete; /retry asks again)",
                            theme.warn(),
                        ));
                        out.extend(wrap_line(&l, width, 2));
                    }
                }
            }
            CellKind::Notice(text) => {
                let l = Line::from(Span::styled(format!("· {text}"), theme.dim()));
                out.extend(wrap_line(&l, width, 2));
                // Notices sit together; no blank line between them.
                return out;
            }
            CellKind::Output { text, is_error } => {
                let style = if *is_error {
                    theme.error()
                } else {
                    Style::default()
                };
                for (i, line) in text.lines().enumerate() {
                    let content = if *is_error && i == 0 {
                        format!("✗ {line}")
                    } else {
                        line.to_string()
                    };
                    let indent = content.len() - content.trim_start().len();
                    let l = Line::from(Span::styled(content, style));
                    out.extend(wrap_line(&l, width, indent.max(usize::from(*is_error) * 2)));
                }
            }
        }
        out.push(Line::default());
        out
    }
}

/// The reasoning above an answer: one dim line saying it is there, or all of it
/// (dim, under a label) when shown.
fn reasoning_lines(
    extras: &AnswerExtras,
    width: usize,
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
) {
    if extras.reasoning.trim().is_empty() {
        return;
    }
    if !extras.show_reasoning {
        let chars = extras.reasoning.chars().count();
        let l = Line::from(Span::styled(
            format!("‹thought for {chars} characters · Ctrl-T shows›"),
            theme.dim(),
        ));
        out.extend(wrap_line(&l, width, 0));
        return;
    }
    let l = Line::from(Span::styled("‹thinking · Ctrl-T hides›", theme.dim()));
    out.extend(wrap_line(&l, width, 0));
    for line in extras.reasoning.trim().lines() {
        let l = Line::from(Span::styled(format!("  {line}"), theme.dim()));
        out.extend(wrap_line(&l, width, 2));
    }
    out.push(Line::default());
}

/// `⚠ truncated (length): the answer was cut by the token limit; raise max_tokens ...`
pub(crate) fn stopped_line(finish: &Finish) -> String {
    let status = finish.status.as_str().replace('_', " ");
    let reason = finish
        .stop_reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let advice = finish
        .status
        .advice()
        .unwrap_or("the answer is not complete");
    let message = finish
        .message
        .as_deref()
        .map(|m| format!(" The provider said: {m}"))
        .unwrap_or_default();
    format!("⚠ {status}{reason}: {advice}.{message}")
}

/// `demo-fast · sim/sim-fast · 3 attempts, 2 failovers · 1.2s (first 40ms) · 12→85 tokens`.
pub(crate) fn provenance_line(p: &Provenance) -> String {
    let attempts = if p.attempts == 1 {
        "1 attempt".to_string()
    } else {
        format!("{} attempts", p.attempts)
    };
    let failovers = match p.failovers {
        0 => String::new(),
        1 => ", 1 failover".to_string(),
        n => format!(", {n} failovers"),
    };
    let estimated = if p.usage.estimated {
        " (estimated)"
    } else {
        ""
    };
    format!(
        "{} · {}/{} · {attempts}{failovers} · {} (first token {}) · {}→{} tokens{estimated}",
        p.backend,
        p.provider,
        p.model,
        format_ms(p.latency_ms),
        format_ms(p.first_chunk_ms),
        p.usage.input_tokens,
        p.usage.output_tokens,
    )
}

/// `850ms`, `1.2s`.
pub(crate) fn format_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}
