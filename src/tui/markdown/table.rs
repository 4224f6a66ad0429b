//! Markdown tables as boxed, aligned columns that fit the screen: each column as wide
//! as its longest cell while the table fits, narrower columns wrapping their cells
//! (at spaces where they can) when it does not.

use pulldown_cmark::Alignment;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// A cell's styled pieces.
type Cell = Vec<Span<'static>>;

/// A table being read, row by row.
#[derive(Debug, Default)]
pub(crate) struct Table {
    align: Vec<Alignment>,
    /// Rows of cells; the first `head` rows are the header.
    rows: Vec<Vec<Cell>>,
    head: usize,
    in_head: bool,
}

/// Narrowest a column is squeezed to, so every cell keeps a readable word.
const MIN_COLUMN: usize = 3;

impl Table {
    pub(crate) fn new(align: Vec<Alignment>) -> Self {
        Self {
            align,
            ..Self::default()
        }
    }

    pub(crate) fn start_head(&mut self) {
        self.in_head = true;
        self.rows.push(Vec::new());
    }

    pub(crate) fn end_head(&mut self) {
        self.in_head = false;
        self.head = self.rows.len();
    }

    pub(crate) fn start_row(&mut self) {
        self.rows.push(Vec::new());
    }

    pub(crate) fn start_cell(&mut self) {
        if self.rows.is_empty() {
            self.rows.push(Vec::new());
        }
        if let Some(row) = self.rows.last_mut() {
            row.push(Vec::new());
        }
    }

    /// Adds text to the open cell; line breaks inside a cell become spaces.
    pub(crate) fn push(&mut self, span: Span<'static>) {
        if let Some(cell) = self.rows.last_mut().and_then(|r| r.last_mut()) {
            let content = span.content.replace('\n', " ");
            cell.push(Span::styled(content, span.style));
        }
    }

    /// The table drawn in `width` columns with `border` style for the lines.
    pub(crate) fn render(&self, width: usize, border: Style, head: Style) -> Vec<Line<'static>> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return Vec::new();
        }
        let natural: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell_width(cell))
                    .max()
                    .unwrap_or(0)
                    .max(1)
            })
            .collect();
        let widths = fit(&natural, width);
        let mut out = vec![rule(&widths, ('┌', '┬', '┐'), border)];
        for (i, row) in self.rows.iter().enumerate() {
            if i == self.head && self.head > 0 && i < self.rows.len() {
                out.push(rule(&widths, ('├', '┼', '┤'), border));
            }
            let style = (i < self.head).then_some(head);
            out.extend(self.row_lines(row, &widths, border, style));
        }
        out.push(rule(&widths, ('└', '┴', '┘'), border));
        out
    }

    /// One table row: as many screen lines as its tallest wrapped cell.
    fn row_lines(
        &self,
        row: &[Cell],
        widths: &[usize],
        border: Style,
        head: Option<Style>,
    ) -> Vec<Line<'static>> {
        let wrapped: Vec<Vec<Cell>> = widths
            .iter()
            .enumerate()
            .map(|(c, &w)| wrap_cell(row.get(c).map_or(&[][..], Vec::as_slice), w))
            .collect();
        let height = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
        (0..height)
            .map(|line| {
                let mut spans = vec![Span::styled("│", border)];
                for (c, &w) in widths.iter().enumerate() {
                    let piece = wrapped[c].get(line).cloned().unwrap_or_default();
                    let used = cell_width(&piece);
                    let room = w.saturating_sub(used);
                    let (left, right) = match self.align.get(c) {
                        Some(Alignment::Right) => (room, 0),
                        Some(Alignment::Center) => (room / 2, room - room / 2),
                        _ => (0, room),
                    };
                    spans.push(Span::raw(" ".repeat(left + 1)));
                    spans.extend(piece.into_iter().map(|s| match head {
                        Some(h) => Span::styled(s.content, s.style.patch(h)),
                        None => s,
                    }));
                    spans.push(Span::raw(" ".repeat(right + 1)));
                    spans.push(Span::styled("│", border));
                }
                Line::from(spans)
            })
            .collect()
    }
}

/// Column widths that fit `width` (borders and padding included) where they can:
/// the widest columns give up room first, none below [`MIN_COLUMN`].
fn fit(natural: &[usize], width: usize) -> Vec<usize> {
    let chrome = 3 * natural.len() + 1;
    let mut widths = natural.to_vec();
    let room = width.saturating_sub(chrome);
    while widths.iter().sum::<usize>() > room {
        let Some((widest, &w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if w <= MIN_COLUMN {
            break;
        }
        widths[widest] = w - 1;
    }
    widths
}

fn rule(widths: &[usize], (left, mid, right): (char, char, char), style: Style) -> Line<'static> {
    let mut s = String::new();
    s.push(left);
    for (i, w) in widths.iter().enumerate() {
        if i > 0 {
            s.push(mid);
        }
        s.push_str(&"─".repeat(w + 2));
    }
    s.push(right);
    Line::from(Span::styled(s, style))
}

fn cell_width(cell: &[Span<'_>]) -> usize {
    cell.iter().map(|s| s.content.width()).sum()
}

/// Splits a cell into lines of at most `width` columns, breaking at spaces where a
/// word fits and inside a word where it does not.
fn wrap_cell(cell: &[Span<'static>], width: usize) -> Vec<Cell> {
    let width = width.max(1);
    let mut lines: Vec<Cell> = vec![Vec::new()];
    let mut used = 0;
    for span in cell {
        for word in span.content.split_inclusive(' ') {
            let word_width = word.trim_end().width();
            if used > 0 && used + word_width > width {
                trim_trailing_space(lines.last_mut());
                lines.push(Vec::new());
                used = 0;
            }
            let mut piece = String::new();
            for ch in word.chars() {
                let w = ch.width().unwrap_or(0);
                if used + w > width && !(ch == ' ' && used == width) {
                    if !piece.is_empty() {
                        push_piece(&mut lines, std::mem::take(&mut piece), span.style);
                    }
                    lines.push(Vec::new());
                    used = 0;
                    if ch == ' ' {
                        continue;
                    }
                }
                piece.push(ch);
                used += w;
            }
            if !piece.is_empty() {
                push_piece(&mut lines, piece, span.style);
            }
        }
    }
    for line in &mut lines {
        trim_trailing_space(Some(line));
    }
    lines
}

fn push_piece(lines: &mut [Cell], piece: String, style: Style) {
    if let Some(line) = lines.last_mut() {
        line.push(Span::styled(piece, style));
    }
}

fn trim_trailing_space(line: Option<&mut Cell>) {
    let Some(line) = line else { return };
    while let Some(last) = line.last_mut() {
        let trimmed = last.content.trim_end().to_owned();
        if trimmed.is_empty() {
            line.pop();
        } else {
            last.content = trimmed.into();
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn table(rows: &[&[&str]], align: Vec<Alignment>) -> Table {
        let mut t = Table::new(align);
        for (i, row) in rows.iter().enumerate() {
            if i == 0 {
                t.start_head();
            } else {
                t.start_row();
            }
            for cell in *row {
                t.start_cell();
                t.push(Span::raw(cell.to_string()));
            }
            if i == 0 {
                t.end_head();
            }
        }
        t
    }

    #[test]
    fn columns_line_up_with_their_alignment() {
        let t = table(
            &[&["name", "n"], &["alpha", "1"], &["b", "100"]],
            vec![Alignment::Left, Alignment::Right],
        );
        let got = plain(&t.render(80, Style::default(), Style::default()));
        assert_eq!(
            got,
            vec![
                "┌───────┬─────┐",
                "│ name  │   n │",
                "├───────┼─────┤",
                "│ alpha │   1 │",
                "│ b     │ 100 │",
                "└───────┴─────┘",
            ]
        );
    }

    #[test]
    fn a_wide_table_wraps_its_cells_to_fit() {
        let t = table(
            &[
                &["key", "what it does"],
                &["timeout_ms", "time to the first chunk before failing over"],
            ],
            vec![Alignment::None, Alignment::None],
        );
        let got = plain(&t.render(30, Style::default(), Style::default()));
        for line in &got {
            assert!(line.width() <= 30, "{line:?} is wider than 30");
        }
        assert!(got.len() > 6, "the long cell wrapped: {got:#?}");
        let text: String = got.join("");
        for word in ["time", "first", "chunk", "failing", "over"] {
            assert!(text.contains(word), "{word} kept in {got:#?}");
        }
    }

    #[test]
    fn wide_characters_count_double() {
        let t = table(&[&["名前", "x"], &["東京", "y"]], vec![]);
        let got = plain(&t.render(80, Style::default(), Style::default()));
        assert_eq!(got[1], "│ 名前 │ x │");
        assert_eq!(got[0].width(), got[1].width());
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_long_words() {
        let lines = wrap_cell(&[Span::raw("aa bb cccccccc")], 4);
        let got: Vec<String> = lines
            .iter()
            .map(|l| l.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(got, vec!["aa", "bb", "cccc", "cccc"]);
    }
}
