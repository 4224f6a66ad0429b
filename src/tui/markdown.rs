//! Markdown to styled lines: headings, paragraphs, emphasis, inline code, code
//! blocks, lists (nested, ordered), quotes, rules and links. A fenced block
//! tagged with a language the bundled grammars know is syntax-highlighted
//! (see [`highlight`]); others keep the plain code style.
//!
//! The output is unwrapped lines, each with the indent its continuation lines take
//! when wrapped (a list item's text lines up under its first word). A streaming
//! answer is re-rendered as it grows; an unclosed code fence renders as code.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::theme::Theme;
use highlight::Highlighter;
use table::Table;

pub(crate) mod highlight;
mod table;

/// One rendered line and how far its wrapped continuation lines are indented.
#[derive(Debug, Clone, PartialEq)]
pub struct MdLine {
    /// The line.
    pub(crate) line: Line<'static>,
    /// Indent of continuation lines when wrapped.
    pub(crate) indent: usize,
}

struct Renderer<'t> {
    theme: &'t Theme,
    out: Vec<MdLine>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Per open list: the next number for ordered lists.
    lists: Vec<Option<u64>>,
    /// Prefix for lines of the current block (quote bars, list indent).
    prefix: Vec<Span<'static>>,
    prefix_width: usize,
    quote_depth: usize,
    in_code: bool,
    /// Fenced code blocks so far: each is labelled with its number, for `/copy N`.
    code_blocks: usize,
    /// The open code block's highlighter, when it has a known language and
    /// colours are on.
    highlighter: Option<Highlighter>,
    need_blank: bool,
    /// The bullet the next line starts with, once a list item opened.
    pending_item: Option<Bullet>,
    /// Screen width, for tables.
    width: usize,
    /// The table being read; its cells collect the text until it ends.
    table: Option<Table>,
    /// Open links: each one's address and the text shown for it so far.
    links: Vec<(String, String)>,
}

/// A list item's marker (`• ` or `3. `) and its width in columns.
#[derive(Debug, Clone)]
struct Bullet {
    text: String,
    width: usize,
}

/// Renders `text` as markdown for a screen `width` columns wide (tables fit it; other
/// lines are wrapped by the caller).
/// The fenced code blocks of `text`, in order, as their text: what `/copy N` copies
/// (numbered as the screen numbers them).
pub(crate) fn code_blocks(text: &str) -> Vec<String> {
    use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for event in Parser::new(text) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => open = Some(String::new()),
            Event::Text(t) if open.is_some() => {
                if let Some(block) = &mut open {
                    block.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => blocks.extend(open.take()),
            _ => {}
        }
    }
    blocks
}

pub fn render(text: &str, theme: &Theme, width: usize) -> Vec<MdLine> {
    let mut r = Renderer {
        theme,
        out: Vec::new(),
        spans: Vec::new(),
        styles: vec![Style::default()],
        lists: Vec::new(),
        prefix: Vec::new(),
        prefix_width: 0,
        quote_depth: 0,
        in_code: false,
        code_blocks: 0,
        highlighter: None,
        need_blank: false,
        pending_item: None,
        width,
        table: None,
        links: Vec::new(),
    };
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS | Options::ENABLE_TABLES;
    for event in Parser::new_ext(text, options) {
        r.event(event);
    }
    r.flush();
    while r.out.last().is_some_and(|l| l.line.spans.is_empty()) {
        r.out.pop();
    }
    r.out
}

impl Renderer<'_> {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let next = f(self.style());
        self.styles.push(next);
    }

    fn pop_style(&mut self) {
        if self.styles.len() > 1 {
            self.styles.pop();
        }
    }

    fn text(&mut self, text: &str) {
        let style = self.style();
        self.span(Span::styled(text.to_string(), style));
    }

    /// Adds a piece of inline text to the current line, table cell and link.
    fn span(&mut self, span: Span<'static>) {
        if let Some((_, shown)) = self.links.last_mut() {
            shown.push_str(&span.content);
        }
        if let Some(table) = &mut self.table {
            table.push(span);
            return;
        }
        if self.spans.is_empty() {
            self.start_line();
        }
        self.spans.push(span);
    }

    /// Begins a line: the blank line owed by the previous block, then the prefix
    /// (or a list item's bullet).
    fn start_line(&mut self) {
        if self.need_blank && !self.out.is_empty() {
            self.out.push(MdLine {
                line: Line::default(),
                indent: 0,
            });
        }
        self.need_blank = false;
        let quote = self.quote_prefix();
        self.spans.extend(quote);
        if let Some(bullet) = self.pending_item.take() {
            let indent = " ".repeat(self.prefix_width.saturating_sub(bullet.width));
            self.spans.push(Span::raw(indent));
            self.spans
                .push(Span::styled(bullet.text, self.theme.marker()));
        } else {
            self.spans.extend(self.prefix.iter().cloned());
        }
    }

    fn quote_prefix(&self) -> Vec<Span<'static>> {
        (0..self.quote_depth)
            .map(|_| Span::styled("│ ", self.theme.marker()))
            .collect()
    }

    fn flush(&mut self) {
        if self.spans.is_empty() {
            return;
        }
        let spans = std::mem::take(&mut self.spans);
        self.out.push(MdLine {
            line: Line::from(spans),
            indent: self.prefix_width + 2 * self.quote_depth,
        });
    }

    fn end_block(&mut self) {
        self.flush();
        self.need_blank = true;
    }

    /// Draws the finished table in the width left beside quote bars and list indent.
    fn end_table(&mut self) {
        let Some(table) = self.table.take() else {
            return;
        };
        let used = self.prefix_width + 2 * self.quote_depth;
        let width = self.width.saturating_sub(used).max(8);
        let head = Style::default().add_modifier(Modifier::BOLD);
        for line in table.render(width, self.theme.marker(), head) {
            self.start_line();
            self.spans.extend(line.spans);
            self.flush();
        }
        self.need_blank = true;
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => {
                if self.in_code {
                    self.code_text(&text);
                } else {
                    self.text(&text);
                }
            }
            Event::Code(code) => self.span(Span::styled(code.to_string(), self.theme.code())),
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.start_line();
                self.spans
                    .push(Span::styled("────────", self.theme.marker()));
                self.end_block();
            }
            Event::Html(html) | Event::InlineHtml(html) => self.text(html.trim_end_matches('\n')),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(name) => self.text(&format!("[{name}]")),
            Event::InlineMath(m) | Event::DisplayMath(m) => self.text(&m),
        }
    }

    fn code_text(&mut self, text: &str) {
        for line in text.split_inclusive('\n') {
            // No indent: code copied from the screen is the code itself.
            if self.spans.is_empty() {
                self.start_line();
            }
            let base = self.theme.code();
            match self.highlighter.as_mut().and_then(|h| h.line(line, base)) {
                Some(spans) => self.spans.extend(spans),
                None => {
                    let content = line.strip_suffix('\n').unwrap_or(line);
                    if !content.is_empty() {
                        self.spans.push(Span::styled(content.to_string(), base));
                    }
                }
            }
            if line.ends_with('\n') {
                self.flush();
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {}
            Tag::Heading { level, .. } => {
                self.flush();
                let n = heading_number(level);
                self.push_style(|_| self.theme.heading(n));
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote_depth += 1;
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                self.in_code = true;
                if let CodeBlockKind::Fenced(lang) = kind {
                    // Without colour there is nothing to highlight with.
                    if self.theme.color {
                        self.highlighter = Highlighter::for_fence(&lang);
                    }
                    // A label line sets the block apart even without colour, and
                    // numbers it for `/copy N`.
                    self.code_blocks += 1;
                    let n = self.code_blocks;
                    let label = if lang.is_empty() { "code" } else { &lang };
                    self.start_line();
                    self.spans
                        .push(Span::styled(format!("‹{n} {label}›"), self.theme.dim()));
                    self.flush();
                }
            }
            Tag::List(start) => {
                self.flush();
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let depth = self.lists.len().saturating_sub(1);
                let bullet = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let b = format!("{n}. ");
                        *n += 1;
                        b
                    }
                    Some(None) | None => "• ".to_string(),
                };
                let width = bullet.chars().count();
                self.prefix_width = depth * 2 + width;
                self.prefix = vec![Span::raw(" ".repeat(self.prefix_width))];
                self.pending_item = Some(Bullet {
                    text: bullet,
                    width,
                });
            }
            Tag::Emphasis => self.push_style(|s| s.add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(|s| s.add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                self.push_style(|_| self.theme.link());
                self.links.push((dest_url.to_string(), String::new()));
            }
            Tag::Table(align) => {
                self.flush();
                self.table = Some(Table::new(align));
            }
            Tag::TableHead => {
                if let Some(t) = &mut self.table {
                    t.start_head();
                }
            }
            Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.start_row();
                }
            }
            Tag::TableCell => {
                if let Some(t) = &mut self.table {
                    t.start_cell();
                }
            }
            Tag::Image { .. } => self.text("[image: "),
            Tag::HtmlBlock
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Superscript
            | Tag::Subscript
            | Tag::MetadataBlock(_) => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                if self.lists.is_empty() {
                    self.end_block();
                } else {
                    self.flush();
                }
            }
            TagEnd::Heading(_) => {
                self.pop_style();
                self.end_block();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote_depth = self.quote_depth.saturating_sub(1);
                self.need_blank = true;
            }
            TagEnd::CodeBlock => {
                self.flush();
                self.in_code = false;
                self.highlighter = None;
                self.need_blank = true;
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                self.prefix_width = self.lists.len().saturating_sub(1) * 2
                    + if self.lists.is_empty() { 0 } else { 2 };
                self.prefix = if self.lists.is_empty() {
                    Vec::new()
                } else {
                    vec![Span::raw(" ".repeat(self.prefix_width))]
                };
                if self.lists.is_empty() {
                    self.prefix_width = 0;
                    self.need_blank = true;
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => self.pop_style(),
            TagEnd::Link => {
                self.pop_style();
                if let Some((url, shown)) = self.links.pop() {
                    // The address is part of the answer; show it unless the text is it.
                    let same =
                        shown.trim() == url || shown.trim() == url.trim_start_matches("mailto:");
                    if !url.is_empty() && !url.starts_with('#') && !same {
                        self.span(Span::styled(format!(" ({url})"), self.theme.dim()));
                    }
                }
            }
            TagEnd::Image => self.text("]"),
            TagEnd::TableHead => {
                if let Some(t) = &mut self.table {
                    t.end_head();
                }
            }
            TagEnd::TableCell | TagEnd::TableRow => {}
            TagEnd::Table => self.end_table(),
            TagEnd::HtmlBlock
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::MetadataBlock(_) => {}
        }
    }
}

fn heading_number(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use unicode_width::UnicodeWidthStr;

    fn plain(md: &str) -> Vec<String> {
        render(md, &Theme::new(false), 80)
            .into_iter()
            .map(|l| l.line.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn blocks_are_separated_by_one_blank_line() {
        assert_eq!(
            plain("# Title\n\nSome *text* and **bold**.\n\n```rust\nfn main() {}\n```\nafter"),
            vec![
                "Title",
                "",
                "Some text and bold.",
                "",
                "‹1 rust›",
                "fn main() {}",
                "",
                "after"
            ]
        );
    }

    #[test]
    fn lists_nest_and_number() {
        assert_eq!(
            plain("- one\n- two\n  - inner\n\n1. first\n2. second"),
            vec!["• one", "• two", "  • inner", "", "1. first", "2. second"]
        );
        let lines = render("- a long item", &Theme::new(false), 80);
        assert_eq!(lines[0].indent, 2);
    }

    #[test]
    fn emphasis_is_styled() {
        let lines = render("*it* **bo** `code`", &Theme::new(false), 80);
        let spans = &lines[0].line.spans;
        assert!(spans[0].style.add_modifier.contains(Modifier::ITALIC));
        assert!(spans[2].style.add_modifier.contains(Modifier::BOLD));
        assert_eq!(spans[4].content, "code");
    }

    #[test]
    fn unclosed_fence_while_streaming_is_code() {
        assert_eq!(
            plain("text\n\n```\nlet x"),
            vec!["text", "", "‹1 code›", "let x"]
        );
    }

    /// The foreground colours of a code block's code lines (after the tag line).
    fn code_colours(md: &str, theme: &Theme) -> Vec<Option<ratatui::style::Color>> {
        render(md, theme, 80)
            .iter()
            .skip(1)
            .flat_map(|l| l.line.spans.iter().map(|s| s.style.fg))
            .collect()
    }

    const RUST: &str = "```rust\nfn main() {\n    let s = \"hi\";\n}\n```";

    #[test]
    fn a_tagged_block_is_highlighted() {
        let mut colours = code_colours(RUST, &Theme::new(true));
        colours.sort_by_key(|c| format!("{c:?}"));
        colours.dedup();
        assert!(colours.iter().flatten().count() >= 2, "{colours:?}");
        // The text is what it was unhighlighted.
        assert_eq!(
            plain(RUST),
            vec!["‹1 rust›", "fn main() {", "    let s = \"hi\";", "}"],
            "code carries no display indent, so a copy is the code itself"
        );
    }

    #[test]
    fn no_color_or_an_unknown_language_keeps_the_plain_code_style() {
        let theme = Theme::new(false);
        assert!(code_colours(RUST, &theme).iter().all(Option::is_none));
        let theme = Theme::new(true);
        for md in ["```klingon\nqapla'\n```", "```\nfn main() {}\n```"] {
            let lines = render(md, &theme, 80);
            let code = lines.last().unwrap();
            assert_eq!(code.line.spans.len(), 1, "{md}: the code alone");
            assert_eq!(code.line.spans[0].style, theme.code(), "{md}");
        }
    }

    #[test]
    fn an_unclosed_block_highlights_the_lines_so_far() {
        let colours = code_colours("```rust\nfn main() {\n    let s = \"hi", &Theme::new(true));
        let mut distinct: Vec<_> = colours.into_iter().flatten().collect();
        distinct.dedup();
        assert!(distinct.len() >= 2, "{distinct:?}");
    }

    #[test]
    fn tables_are_boxed_and_aligned() {
        let md =
            "| name | tokens |\n|:-----|-------:|\n| groq | 12 |\n| anthropic | 3400 |\n\nafter";
        assert_eq!(
            plain(md),
            vec![
                "┌───────────┬────────┐",
                "│ name      │ tokens │",
                "├───────────┼────────┤",
                "│ groq      │     12 │",
                "│ anthropic │   3400 │",
                "└───────────┴────────┘",
                "",
                "after",
            ]
        );
        let header = &render(md, &Theme::new(false), 80)[1].line;
        assert!(
            header.spans.iter().any(
                |s| s.content.contains("name") && s.style.add_modifier.contains(Modifier::BOLD)
            )
        );
    }

    #[test]
    fn a_table_fits_a_narrow_screen() {
        let md = "| setting | meaning |\n|---|---|\n| stream_idle_timeout_ms | the longest gap between chunks before the stream counts as stalled |";
        for line in plain_at(md, 32) {
            assert!(UnicodeWidthStr::width(line.as_str()) <= 32, "{line:?}");
        }
    }

    fn plain_at(md: &str, width: usize) -> Vec<String> {
        render(md, &Theme::new(false), width)
            .into_iter()
            .map(|l| l.line.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn links_show_their_address() {
        assert_eq!(
            plain("see [the docs](https://example.com/docs) or <https://example.com>"),
            vec!["see the docs (https://example.com/docs) or https://example.com"]
        );
        assert_eq!(
            plain("[top](#top)"),
            vec!["top"],
            "in-page anchors say nothing"
        );
    }

    #[test]
    fn quotes_get_a_bar() {
        assert_eq!(plain("> quoted\n\nnext"), vec!["│ quoted", "", "next"]);
    }
}
