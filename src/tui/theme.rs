//! Styles, in one place, with `NO_COLOR` honoured: without colour, emphasis
//! (bold, italic, dim, underline) still marks what colour would have.

use ratatui::style::{Color, Modifier, Style};

use crate::config::file::ThemeName;

/// The UI's styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False when `NO_COLOR` is set (to anything but the empty string).
    pub(crate) color: bool,
    /// Colours chosen for a light background.
    pub(crate) light: bool,
}

impl Theme {
    /// Colour unless `NO_COLOR` says otherwise (<https://no-color.org>).
    pub(crate) fn from_env() -> Self {
        Self {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            light: false,
        }
    }

    /// The config file's theme; `NO_COLOR` still wins over a coloured one.
    pub(crate) fn from_config(name: ThemeName) -> Self {
        let env = Self::from_env();
        Self {
            color: env.color && name != ThemeName::Mono,
            light: name == ThemeName::Light,
        }
    }

    /// A dark theme with or without colour (tests).
    pub fn new(color: bool) -> Self {
        Self {
            color,
            light: false,
        }
    }

    /// `dark` on a dark background, `light` on a light one: yellow and cyan
    /// are hard to read on white, so they become darker shades there.
    fn pick(&self, dark: Color, light: Color) -> Color {
        if self.light { light } else { dark }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    /// Secondary text: provenance lines, notices, hints.
    pub(crate) fn dim(&self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }

    /// The user's prompts.
    pub(crate) fn user(&self) -> Style {
        self.fg(self.pick(Color::Cyan, Color::Blue))
            .add_modifier(Modifier::BOLD)
    }

    /// Errors and the interrupted marker.
    pub(crate) fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Warnings (a cancelled answer).
    pub(crate) fn warn(&self) -> Style {
        self.fg(self.pick(Color::Yellow, Color::Indexed(130)))
    }

    /// Markdown headings.
    pub(crate) fn heading(&self, level: u8) -> Style {
        let style = self.fg(Color::Magenta).add_modifier(Modifier::BOLD);
        if level == 1 {
            style.add_modifier(Modifier::UNDERLINED)
        } else {
            style
        }
    }

    /// Inline code and code blocks.
    pub(crate) fn code(&self) -> Style {
        self.fg(self.pick(Color::Yellow, Color::Indexed(94)))
    }

    /// Links.
    pub(crate) fn link(&self) -> Style {
        self.fg(Color::Blue).add_modifier(Modifier::UNDERLINED)
    }

    /// List bullets and quote bars.
    pub(crate) fn marker(&self) -> Style {
        self.fg(self.pick(Color::DarkGray, Color::Gray))
    }

    /// The status bar.
    pub(crate) fn status(&self) -> Style {
        if self.color {
            let (bg, fg) = if self.light {
                (Color::Gray, Color::Black)
            } else {
                (Color::DarkGray, Color::White)
            };
            Style::default().bg(bg).fg(fg)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    /// The selected or first entry of the command popup.
    pub(crate) fn popup_selected(&self) -> Style {
        self.fg(self.pick(Color::Cyan, Color::Blue))
            .add_modifier(Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_theme_picks_colours_and_mono_drops_them() {
        let dark = Theme::new(true);
        let light = Theme {
            color: true,
            light: true,
        };
        assert_eq!(dark.code().fg, Some(Color::Yellow));
        assert_ne!(light.code().fg, Some(Color::Yellow), "yellow on white");
        assert_ne!(light.user().fg, Some(Color::Cyan));
        let mono = Theme {
            color: false,
            light: false,
        };
        assert_eq!(mono.code().fg, None);
        assert!(
            mono.user().add_modifier.contains(Modifier::BOLD),
            "emphasis stays"
        );
        if std::env::var_os("NO_COLOR").is_none() {
            assert!(Theme::from_config(ThemeName::Light).light);
            assert!(!Theme::from_config(ThemeName::Mono).color);
        }
    }
}
