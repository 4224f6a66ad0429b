//! Syntax highlighting of fenced code blocks (```rust, ```python, …) with
//! syntect's bundled Sublime grammars and its pure-Rust regex engine.
//!
//! The grammars and the theme are decoded on first use, once per process: only a
//! chat that shows a tagged code block pays for them, never one-shot mode or
//! `baton --version`. Colours are RGB on terminals that announce 24-bit colour
//! (`COLORTERM`), else the nearest of the 256 xterm colours. Without colour
//! (`NO_COLOR`) nothing is highlighted: the caller keeps its plain code style.
//!
//! The grammars' regexes cost some 40 µs a line, and a streaming answer is
//! re-rendered whole each frame, so the last few blocks highlighted are cached
//! (their lines, and the grammar's state after them): a block that grew by a line
//! costs that line, not the block.

use std::cell::RefCell;
use std::sync::LazyLock;

use ratatui::style::{Color, Style};
use ratatui::text::Span;
use syntect::highlighting::{
    Color as Rgba, HighlightIterator, HighlightState, Highlighter as Styler, Theme, ThemeSet,
};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};

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

/// Blocks cached: a streaming answer's blocks, and a few more in view.
const CACHED_BLOCKS: usize = 8;

/// A block's complete lines as highlighted, and the grammar's state after them.
struct Cached {
    info: String,
    base: Style,
    lines: Vec<CodeLine>,
    state: Grammar,
}

/// One complete line of code (with its `\n`) and its spans.
#[derive(Clone)]
struct CodeLine {
    text: String,
    spans: Vec<Span<'static>>,
}

/// A grammar's state between two lines.
#[derive(Clone)]
struct Grammar {
    parse: ParseState,
    highlight: HighlightState,
}

thread_local! {
    /// Most recently used last.
    static CACHE: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// Where a highlighter stands against the cached block it started from.
enum Source {
    /// The lines so far are the cached block's first ones: its spans are reused.
    Cached(Cached),
    /// Highlighting with a live grammar state (the state after `done`).
    Live(Grammar),
}

/// Highlights the lines of one code block, in order (a grammar's state carries
/// from line to line: strings and comments span lines).
pub(crate) struct Highlighter {
    syntax: &'static SyntaxReference,
    theme: &'static Theme,
    info: String,
    /// The style of the first line, which the cache is keyed by.
    base: Option<Style>,
    source: Option<Source>,
    /// Complete lines so far, as highlighted.
    done: Vec<CodeLine>,
    /// The state after `done`, saved before an incomplete last line moved it on.
    before_partial: Option<Grammar>,
    truecolor: bool,
}

impl std::fmt::Debug for Highlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Highlighter")
            .field("info", &self.info)
            .field("lines", &self.done.len())
            .finish_non_exhaustive()
    }
}

impl Highlighter {
    /// A highlighter for a fence's info string (`rust`, `py`, `ts title="x"`), or
    /// `None` for a language the bundled grammars do not know.
    pub(crate) fn for_fence(info: &str) -> Option<Self> {
        let syntax = find_syntax(info)?;
        let theme = THEME.as_ref()?;
        Some(Self {
            syntax,
            theme,
            info: info.to_string(),
            base: None,
            source: None,
            done: Vec::new(),
            before_partial: None,
            truecolor: *TRUECOLOR,
        })
    }

    /// One line of code (with its `\n`, if it has one) as spans: `base` with each
    /// token's colour on top. `None` if the grammar fails on it (the caller shows
    /// it plain; later lines may highlight wrongly, never panic).
    pub(crate) fn line(&mut self, line: &str, base: Style) -> Option<Vec<Span<'static>>> {
        let complete = line.ends_with('\n');
        if self.source.is_none() {
            self.base = Some(base);
            self.source = Some(self.start(line, base));
        }
        if let Some(Source::Cached(cached)) = &self.source
            && let Some(hit) = cached.lines.get(self.done.len())
            && complete
            && hit.text == line
            && self.base == Some(base)
        {
            let hit = hit.clone();
            let spans = hit.spans.clone();
            self.done.push(hit);
            return Some(spans);
        }
        let theme = self.theme;
        let grammar = self.live()?;
        let saved = (!complete).then(|| grammar.clone());
        let ops = grammar.parse.parse_line(line, &SYNTAXES).ok()?;
        let styler = Styler::new(theme);
        let ranges: Vec<_> =
            HighlightIterator::new(&mut grammar.highlight, &ops, line, &styler).collect();
        let spans = self.spans(ranges, base);
        match saved {
            Some(state) => self.before_partial = Some(state),
            None => self.done.push(CodeLine {
                text: line.to_string(),
                spans: spans.clone(),
            }),
        }
        Some(spans)
    }

    /// The cached block to reuse for a block whose first line is `first`, or a
    /// fresh state.
    fn start(&self, first: &str, base: Style) -> Source {
        let hit = CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            let at = cache.iter().position(|c| {
                c.info == self.info
                    && c.base == base
                    && c.lines.first().is_some_and(|l| l.text == first)
            })?;
            Some(cache.remove(at))
        });
        match hit {
            Some(cached) => Source::Cached(cached),
            None => self.fresh(),
        }
    }

    fn fresh(&self) -> Source {
        Source::Live(Grammar {
            parse: ParseState::new(self.syntax),
            highlight: HighlightState::new(&Styler::new(self.theme), ScopeStack::new()),
        })
    }

    /// The live grammar state after `done`: the cached block's, when all of it
    /// was reused; else replayed from the block's start (the block changed
    /// inside its cached part: rare).
    fn live(&mut self) -> Option<&mut Grammar> {
        if matches!(self.source, Some(Source::Cached(_))) {
            let Some(Source::Cached(cached)) = self.source.take() else {
                return None;
            };
            if cached.lines.len() == self.done.len() {
                self.source = Some(Source::Live(cached.state));
            } else {
                let Source::Live(mut grammar) = self.fresh() else {
                    return None;
                };
                let styler = Styler::new(self.theme);
                for line in &self.done {
                    let ops = grammar.parse.parse_line(&line.text, &SYNTAXES).ok()?;
                    HighlightIterator::new(&mut grammar.highlight, &ops, &line.text, &styler)
                        .for_each(drop);
                }
                self.source = Some(Source::Live(grammar));
            }
        }
        match &mut self.source {
            Some(Source::Live(grammar)) => Some(grammar),
            Some(Source::Cached(_)) | None => None,
        }
    }

    fn spans(
        &self,
        ranges: Vec<(syntect::highlighting::Style, &str)>,
        base: Style,
    ) -> Vec<Span<'static>> {
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
        spans
    }

    fn color(&self, c: Rgba) -> Color {
        if self.truecolor {
            Color::Rgb(c.r, c.g, c.b)
        } else {
            Color::Indexed(xterm_256(c.r, c.g, c.b))
        }
    }
}

impl Drop for Highlighter {
    /// Caches the block's complete lines and the state after them, for the next
    /// render of the same block (the same answer, one frame later).
    fn drop(&mut self) {
        let (Some(base), Some(source)) = (self.base, self.source.take()) else {
            return;
        };
        let entry = match source {
            // Used only in part (another block with the same first lines): the
            // cached block stays as it was.
            Source::Cached(cached) => cached,
            Source::Live(grammar) => Cached {
                info: std::mem::take(&mut self.info),
                base,
                lines: std::mem::take(&mut self.done),
                state: self.before_partial.take().unwrap_or(grammar),
            },
        };
        if entry.lines.is_empty() {
            return;
        }
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() >= CACHED_BLOCKS {
                cache.remove(0);
            }
            cache.push(entry);
        });
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

    fn block(lang: &str, code: &str, base: Style) -> Vec<Vec<Span<'static>>> {
        let mut h = Highlighter::for_fence(lang).unwrap();
        code.split_inclusive('\n')
            .map(|l| h.line(l, base).unwrap())
            .collect()
    }

    type Plain = Vec<Vec<(String, Option<Color>)>>;

    fn plain(lines: Vec<Vec<Span<'static>>>) -> Plain {
        lines
            .into_iter()
            .map(|l| {
                l.into_iter()
                    .map(|s| (s.content.to_string(), s.style.fg))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_growing_block_highlights_as_a_fresh_one() {
        // The cache is keyed by the base style: `fresh` shares nothing with `base`.
        let fresh = Style::default().add_modifier(ratatui::style::Modifier::ITALIC);
        let base = Style::default();
        let code = "fn main() {\n    let s = \"a\n multi-line\";\n    /* and\n a comment */ s\n}\n";
        let expected = plain(block("rust", code, fresh));
        // Streamed a few characters at a time, as frames re-render the answer.
        for end in (1..=code.len()).step_by(3).chain([code.len()]) {
            let part = &code[..end];
            let complete = part.matches('\n').count();
            let got = plain(block("rust", part, base));
            assert_eq!(got[..complete], expected[..complete], "{part:?}");
            // The complete lines are cached for the next frame.
            if complete > 0 {
                let cached = CACHE.with(|c| c.borrow().last().map(|c| c.lines.len()));
                assert_eq!(cached, Some(complete));
            }
        }
        // The same first line, then another block: replayed, still right.
        let other = "fn main() {\n    42\n}\n";
        assert_eq!(
            plain(block("rust", other, base)),
            plain(block("rust", other, fresh))
        );
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
