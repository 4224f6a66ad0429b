//! Styles, in one place, with `NO_COLOR` honoured: without colour, emphasis
//! (bold, italic, dim, underline) still marks what colour would have.

use ratatui::style::{Color, Modifier, Style};

/// The UI's styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False when `NO_COLOR` is set (to anything but the empty string).
    pub color: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` says otherwise (<https://no-color.org>).
    pub fn from_env() -> Self {
        Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// A theme with or without colour (tests).
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    /// Secondary text: provenance lines, notices, hints.
    pub fn dim(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }

    /// The user's prompts.
    pub fn user(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Errors and the interrupted marker.
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Warnings (a cancelled answer).
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Markdown headings.
    pub fn heading(&self, level: u8) -> Style {
        let style = self.fg(Color::Magenta).add_modifier(Modifier::BOLD);
        if level == 1 {
            style.add_modifier(Modifier::UNDERLINED)
        } else {
            style
        }
    }

    /// Inline code and code blocks.
    pub fn code(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Links.
    pub fn link(&self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::UNDERLINED)
    }

    /// List bullets and quote bars.
    pub fn marker(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// The status bar.
    pub fn status(&self) -> Style {
        if self.color {
            Style::default().bg(Color::DarkGray).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    /// The selected or first entry of the command popup.
    pub fn popup_selected(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
}
