//! Syntax highlighting of fenced code blocks (```rust, ```python, …) with
//! syntect's bundled Sublime grammars and its pure-Rust regex engine.
//!
//! The grammars and the theme are decoded on first use, once per process: only a
//! chat that shows a tagged code block pays for them, never one-shot mode or
//! `baton --version`. Colours are RGB on terminals that announce 24-bit colour
//! (`COLORTERM`), else the nearest of the 256 xterm colours. Without colour
//! (`NO_COLOR`) nothing is highlighted: the caller keeps its plain code style.

use std::sync::LazyLock;

use ratatui::style::{Color, Style};
use ratatui::text::Span;
use syntect::easy::HighlightLines;
use syntect::highlighting::{Color as Rgba, Theme, ThemeSet};
use syntect::parsing::{SyntaxReference, SyntaxSet};

/// Grammars for lines that keep their `\n` (as a code block's lines arrive).
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// A dark theme (terminal chats are mostly dark); its default foreground is left
/// to the terminal, so plain code stays readable on a light background too.
static THEME: LazyLock<Option<Theme>> =
    LazyLock::new(|| ThemeSet::load_defaults().themes.remove("base16-ocean.dark"));

/// True when the terminal says it shows 24-bit colour.
static TRUECOLOR: LazyLock<bool> = LazyLock::new(|| {
    std::env::var("COLORTERM").is_ok_and(|v| v.eq_ignore_ascii_case("truecolor") || v == "24bit")
});

/// Highlights the lines of one code block, in order (a grammar's state carries
/// from line to line: strings and comments span lines).
pub struct Highlighter {
    lines: HighlightLines<'static>,
    theme: &'static Theme,
    truecolor: bool,
}

impl std::fmt::Debug for Highlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Highlighter").finish_non_exhaustive()
    }
}

impl Highlighter {
    /// A highlighter for a fence's info string (`rust`, `py`, `ts title="x"`), or
    /// `None` for a language the bundled grammars do not know.
    pub fn for_fence(info: &str) -> Option<Self> {
        let syntax = find_syntax(info)?;
        let theme = THEME.as_ref()?;
        Some(Self {
            lines: HighlightLines::new(syntax, theme),
            theme,
            truecolor: *TRUECOLOR,
        })
    }

    /// One line of code (with its `\n`, if it has one) as spans: `base` with each
    /// token's colour on top. `None` if the grammar fails on it (the caller shows
    /// it plain; later lines may highlight wrongly, never panic).
    pub fn line(&mut self, line: &str, base: Style) -> Option<Vec<Span<'static>>> {
        let ranges = self.lines.highlight_line(line, &SYNTAXES).ok()?;
        let default = self.theme.settings.foreground;
        let mut spans: Vec<Span<'static>> = Vec::with_capacity(ranges.len());
        for (style, text) in ranges {
            let text = text.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                continue;
            }
            let style = if Some(style.foreground) == default {
                base
            } else {
                base.fg(self.color(style.foreground))
            };
            match spans.last_mut() {
                Some(last) if last.style == style => last.content.to_mut().push_str(text),
                _ => spans.push(Span::styled(text.to_string(), style)),
            }
        }
        Some(spans)
    }

    fn color(&self, c: Rgba) -> Color {
        if self.truecolor {
            Color::Rgb(c.r, c.g, c.b)
        } else {
            Color::Indexed(xterm_256(c.r, c.g, c.b))
        }
    }
}

/// The grammar for a fence's info string: its first word, with common aliases
/// the bundled grammars lack (TypeScript shows as JavaScript, close enough).
fn find_syntax(info: &str) -> Option<&'static SyntaxReference> {
    let word = info
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
        .find(|w| !w.is_empty())?
        .trim_start_matches('.');
    let token = match word.to_ascii_lowercase().as_str() {
        "ts" | "typescript" | "tsx" | "jsx" | "javascript" | "mjs" | "cjs" => "js",
        "shell" | "console" | "zsh" | "sh" | "shellscript" => "bash",
        "c++" => "cpp",
        "golang" => "go",
        "py3" | "python3" => "py",
        "rs" => "rust",
        _ => return SYNTAXES.find_syntax_by_token(word),
    };
    SYNTAXES.find_syntax_by_token(token)
}

/// The nearest of the 256 xterm colours: the 6×6×6 cube or the grey ramp.
fn xterm_256(r: u8, g: u8, b: u8) -> u8 {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let nearest = |v: u8| {
        (0..6u8)
            .min_by_key(|&i| LEVELS[usize::from(i)].abs_diff(v))
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (nearest(r), nearest(g), nearest(b));
    let cube = |i: u8| i32::from(LEVELS[usize::from(i)]);
    let dist = |a: (i32, i32, i32)| {
        let (dr, dg, db) = (a.0 - i32::from(r), a.1 - i32::from(g), a.2 - i32::from(b));
        dr * dr + dg * dg + db * db
    };
    let cube_dist = dist((cube(ri), cube(gi), cube(bi)));
    // Grey ramp 232..=255: 8, 18, …, 238.
    let avg = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let step = u8::try_from((avg.saturating_sub(3) / 10).min(23)).unwrap_or(23);
    let grey = 8 + 10 * i32::from(step);
    if dist((grey, grey, grey)) < cube_dist {
        232 + step
    } else {
        16 + 36 * ri + 6 * gi + bi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fgs(lang: &str, code: &str) -> Vec<(String, Option<Color>)> {
        let mut h = Highlighter::for_fence(lang).unwrap();
        code.split_inclusive('\n')
            .flat_map(|l| h.line(l, Style::default()).unwrap())
            .map(|s| (s.content.to_string(), s.style.fg))
            .collect()
    }

    #[test]
    fn keyword_and_string_get_different_colours() {
        let spans = fgs("rust", "fn main() {\n    let s = \"hi\";\n}\n");
        let colour_of = |text: &str| {
            spans
                .iter()
                .find(|(t, _)| t.contains(text))
                .and_then(|(_, c)| *c)
        };
        let (keyword, string) = (colour_of("fn"), colour_of("hi"));
        assert!(keyword.is_some() && string.is_some(), "{spans:?}");
        assert_ne!(keyword, string);
        let text: String = spans.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, "fn main() {    let s = \"hi\";}");
    }

    #[test]
    fn common_tags_and_aliases_are_known() {
        for tag in [
            "rust",
            "rs",
            "python",
            "py",
            "js",
            "ts",
            "typescript",
            "sh",
            "bash",
            "shell",
            "json",
            "yaml",
            "go",
            "c",
            "cpp",
            "c++",
            "sql",
            "java",
            "html",
            "{.python}",
            "rust,no_run",
        ] {
            assert!(Highlighter::for_fence(tag).is_some(), "{tag}");
        }
        for tag in ["", "text", "no-such-language"] {
            assert!(Highlighter::for_fence(tag).is_none(), "{tag}");
        }
    }

    #[test]
    fn nearest_xterm_colours() {
        assert_eq!(xterm_256(0, 0, 0), 16);
        assert_eq!(xterm_256(255, 255, 255), 231);
        assert_eq!(xterm_256(255, 0, 0), 196);
        assert_eq!(xterm_256(128, 128, 128), 244);
    }
}
