//! Word-wrapping styled lines to a width, by display columns (`unicode-width`).
//!
//! The transcript is wrapped here rather than by `Paragraph`, so the number of
//! screen lines is known exactly (scrolling, following the stream) and each
//! message's wrapped lines can be cached per width.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Wraps `line` to `width` columns; continuation lines start with `indent` spaces.
/// Words longer than a line are broken; spaces at a break are dropped.
pub(crate) fn wrap_line(line: &Line<'static>, width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = if indent >= width { 0 } else { indent };
    let mut out: Vec<Line<'static>> = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;

    let push_piece = |current: &mut Vec<Span<'static>>, text: &str, style: Style| {
        if let Some(last) = current.last_mut()
            && last.style == style
        {
            last.content.to_mut().push_str(text);
            return;
        }
        current.push(Span::styled(text.to_string(), style));
    };

    for span in &line.spans {
        let style = span.style;
        for token in tokens(&span.content) {
            let is_space = token.starts_with(char::is_whitespace);
            let w = token.width();
            if is_space {
                if used + w <= width {
                    push_piece(&mut current, token, style);
                    used += w;
                } else {
                    out.push(finish(std::mem::take(&mut current), line.style));
                    used = start_continuation(&mut current, indent);
                }
                continue;
            }
            let at_line_start = used == 0 || (used == indent && !out.is_empty());
            if used + w > width && !at_line_start {
                trim_trailing_space(&mut current);
                out.push(finish(std::mem::take(&mut current), line.style));
                used = start_continuation(&mut current, indent);
            }
            if used + w <= width {
                push_piece(&mut current, token, style);
                used += w;
                continue;
            }
            // Longer than a whole line: break it by characters.
            for ch in token.chars() {
                let cw = ch.width().unwrap_or(0);
                let line_start = if out.is_empty() { 0 } else { indent };
                if used + cw > width && used > line_start {
                    out.push(finish(std::mem::take(&mut current), line.style));
                    used = start_continuation(&mut current, indent);
                }
                let mut buf = [0u8; 4];
                push_piece(&mut current, ch.encode_utf8(&mut buf), style);
                used += cw;
            }
        }
    }
    out.push(finish(current, line.style));
    out
}

fn start_continuation(current: &mut Vec<Span<'static>>, indent: usize) -> usize {
    if indent > 0 {
        current.push(Span::raw(" ".repeat(indent)));
    }
    indent
}

fn trim_trailing_space(current: &mut Vec<Span<'static>>) {
    while current.len() > 1
        && current
            .last()
            .is_some_and(|l| l.content.trim_end().is_empty())
    {
        current.pop();
    }
    if let Some(last) = current.last_mut() {
        let trimmed = last.content.trim_end().len();
        last.content.to_mut().truncate(trimmed);
    }
}

fn finish(spans: Vec<Span<'static>>, style: Style) -> Line<'static> {
    Line::from(spans).style(style)
}

/// Splits text into runs of whitespace and runs of non-whitespace.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_space: Option<bool> = None;
    for (i, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if prev_space.is_some_and(|p| p != space) {
            out.push(&text[start..i]);
            start = i;
        }
        prev_space = Some(space);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line<'static>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn wraps_at_word_boundaries() {
        let line = Line::from("the quick brown fox jumps");
        assert_eq!(
            texts(&wrap_line(&line, 10, 0)),
            vec!["the quick", "brown fox", "jumps"]
        );
    }

    #[test]
    fn continuation_lines_are_indented() {
        let line = Line::from("- alpha beta gamma");
        assert_eq!(
            texts(&wrap_line(&line, 11, 2)),
            vec!["- alpha", "  beta", "  gamma"]
        );
    }

    #[test]
    fn long_words_are_broken() {
        let line = Line::from("abcdefghij");
        assert_eq!(texts(&wrap_line(&line, 4, 0)), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn keeps_styles_across_spans_and_counts_wide_chars() {
        let line = Line::from(vec![
            Span::raw("ab "),
            Span::styled("cd", Style::default().bold()),
        ]);
        let out = wrap_line(&line, 80, 0);
        assert_eq!(out[0].spans.len(), 2);
        let wide = Line::from("日本語 日本語");
        assert_eq!(texts(&wrap_line(&wide, 6, 0)), vec!["日本語", "日本語"]);
    }

    #[test]
    fn empty_line_stays_one_line() {
        assert_eq!(wrap_line(&Line::from(""), 10, 0).len(), 1);
    }
}
