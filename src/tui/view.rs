//! Drawing: transcript, command popup, input box, status bar. Reads the
//! [`App`] and changes nothing (wrapping was done before, when the frame was
//! prepared; the transcript hands over only the visible lines, found through its
//! line index).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::app::{App, Progress};
use super::history::format_ms;
use super::input::Cursor;
use crate::command::{SlashCommand, strings};
use crate::engine::BackendStatus;
use crate::engine::BreakerState;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// Most rows the input box grows to before it scrolls.
const MAX_INPUT_ROWS: usize = 8;

/// Draws the whole screen.
pub(crate) fn render(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    let prompt_width = usize::from(area.width.saturating_sub(2));
    let input = app.input().layout(prompt_width);
    let max_rows = MAX_INPUT_ROWS.min(usize::from(area.height / 3).max(1));
    let input_rows = input.rows.len().clamp(1, max_rows);
    let popup = app.popup();
    // Room for every command on a usual screen; the transcript keeps half.
    let popup_rows = popup.len().min(usize::from(area.height / 2));
    let [transcript, popup_area, input_area, status] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(u16::try_from(popup_rows).unwrap_or(0)),
        Constraint::Length(u16::try_from(input_rows + 1).unwrap_or(2)),
        Constraint::Length(1),
    ])
    .areas(area);

    render_transcript(app, frame, transcript);
    if popup_rows > 0 {
        render_popup(app, frame, popup_area, &popup);
    }
    render_input(
        app,
        frame,
        input_area,
        &input.rows,
        input.cursor,
        input_rows,
    );
    render_status(app, frame, status);
}

fn render_transcript(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let height = usize::from(area.height);
    let total = app.total_lines();
    let bottom = total.saturating_sub(app.scroll());
    let top = bottom.saturating_sub(height);
    let lines = app.transcript().lines_between(top, bottom, app.theme());
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_popup(app: &App, frame: &mut Frame<'_>, area: Rect, popup: &[SlashCommand]) {
    frame.render_widget(Clear, area);
    let rows = usize::from(area.height).max(1);
    let selected = app.popup_selected().min(popup.len().saturating_sub(1));
    // A window over the entries that keeps the selected one in view.
    let first = (selected + 1).saturating_sub(rows);
    let lines: Vec<Line<'static>> = popup
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, c)| {
            let name_style = if i == selected {
                app.theme().popup_selected()
            } else {
                Style::default()
            };
            Line::from(vec![
                // The mark shows the choice without colour too.
                Span::styled(
                    format!(
                        "{}/{:<10}",
                        if i == selected { "▸ " } else { "  " },
                        c.name()
                    ),
                    name_style,
                ),
                Span::styled(c.description().to_string(), app.theme().dim()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_input(
    app: &App,
    frame: &mut Frame<'_>,
    area: Rect,
    rows: &[String],
    cursor: Cursor,
    visible: usize,
) {
    let theme = app.theme();
    let first = (cursor.row + 1).saturating_sub(visible);
    let top = match app.input().search_view() {
        // Ctrl-R: the border says what is searched for and whether it matched.
        Some((query, hit)) => {
            let found = if hit.is_some() || query.is_empty() {
                ""
            } else {
                " (no match)"
            };
            let label = format!("─ history search: {query}{found} · Ctrl-R older · Esc gives up ");
            let fill = usize::from(area.width).saturating_sub(label.chars().count());
            Line::from(Span::styled(
                format!("{label}{}", "─".repeat(fill)),
                theme.warn(),
            ))
        }
        None => Line::from(Span::styled(
            "─".repeat(usize::from(area.width)),
            theme.dim(),
        )),
    };
    let mut lines = vec![top];
    for (i, row) in rows.iter().enumerate().skip(first).take(visible) {
        let lead = if i == 0 { "› " } else { "  " };
        lines.push(Line::from(vec![
            Span::styled(lead, theme.user()),
            Span::raw(row.clone()),
        ]));
    }
    if app.input().is_empty() {
        let hint = if app.is_busy() {
            "Esc cancels the answer"
        } else {
            "Ask anything · / commands · Alt-Enter new line · Ctrl-R history"
        };
        lines[1] = Line::from(vec![
            Span::styled("› ", theme.user()),
            Span::styled(hint, theme.dim()),
        ]);
    }
    frame.render_widget(Paragraph::new(lines), area);
    let x = area.x + 2 + u16::try_from(cursor.col).unwrap_or(0);
    let y = area.y + 1 + u16::try_from(cursor.row - first).unwrap_or(0);
    frame.set_cursor_position((x.min(area.right().saturating_sub(1)), y));
}

fn render_status(app: &App, frame: &mut Frame<'_>, area: Rect) {
    let session = app.session();
    let status = app.status();
    let mut left = format!(" {}", session.profile_name());
    if let Some(active) = status.active() {
        left.push_str(&format!(" · {} ({})", active.backend, active.model));
    }
    left.push_str(&format!(
        " · {} tokens",
        compact(session.stats().total_tokens())
    ));
    if let Some(tpm) = status.active_tpm() {
        left.push_str(&format!(" · {} TPM", compact(tpm)));
    }
    if session.is_load_balancer() && !status.health().is_empty() {
        left.push_str(&format!(" · {}", breaker_summary(status.health())));
    }
    let right = if app.quit_armed() {
        "Ctrl-C again to quit ".to_string()
    } else if let Some(Progress {
        backend,
        elapsed,
        tokens_per_sec,
    }) = app.progress()
    {
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let frame_no = usize::try_from(ms / 100).unwrap_or(0) % SPINNER.len();
        let backend = backend.unwrap_or_default();
        match tokens_per_sec {
            Some(rate) => format!(
                "{} {backend} streaming {} · {rate:.0} tok/s ",
                SPINNER[frame_no],
                format_ms(ms)
            ),
            None => format!("{} {backend} waiting {} ", SPINNER[frame_no], format_ms(ms)),
        }
    } else if app.scroll() > 0 {
        "scrolled · End follows ".to_string()
    } else {
        String::new()
    };
    let width = usize::from(area.width);
    // A failing archive is said once, here, until it writes again; it never hides
    // what the chat is doing, and takes at most half the bar.
    let right = match status.archive_error() {
        Some(error) => {
            let warning = truncate(&strings::archive_failing(error), width / 2);
            if right.is_empty() {
                format!("{warning} ")
            } else {
                format!("{warning} · {right}")
            }
        }
        None => right,
    };
    let right_w = unicode_width::UnicodeWidthStr::width(right.as_str());
    let left: String = truncate(&left, width.saturating_sub(right_w + 1));
    let pad = width.saturating_sub(unicode_width::UnicodeWidthStr::width(left.as_str()) + right_w);
    let line = Line::from(format!("{left}{}{right}", " ".repeat(pad)));
    frame.render_widget(Paragraph::new(line).style(app.theme().status()), area);
}

/// `breakers 2 closed, 1 open`: how many backends are in each breaker state,
/// healthy first, states with none left out.
fn breaker_summary(health: &[BackendStatus]) -> String {
    let count = |want: BreakerState| health.iter().filter(|h| h.breaker == want).count();
    let parts: Vec<String> = [
        BreakerState::Closed,
        BreakerState::HalfOpen,
        BreakerState::Open,
    ]
    .into_iter()
    .map(|state| (count(state), state))
    .filter(|(n, _)| *n > 0)
    .map(|(n, state)| format!("{n} {state}"))
    .collect();
    format!("breakers {}", parts.join(", "))
}

fn truncate(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w > width {
            if width > 0 {
                out.pop();
                out.push('…');
            }
            break;
        }
        out.push(ch);
        used += w;
    }
    out
}

/// `950`, `1.2k`, `3.4M`.
fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}
