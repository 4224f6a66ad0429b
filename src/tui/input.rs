//! The prompt editor: multiline text with a cursor, and prompt history.

use unicode_width::UnicodeWidthChar;

/// The text being typed and where the cursor is (a byte index on a char boundary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    text: String,
    cursor: usize,
    history: Vec<String>,
    browsing: Option<Browsing>,
}

/// Where history browsing is, and the draft it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Browsing {
    index: usize,
    draft: String,
}

/// The text wrapped to a width, and where the cursor is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLayout {
    pub rows: Vec<String>,
    pub cursor: Cursor,
}

/// A position in [`InputLayout::rows`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub row: usize,
    /// In columns, not characters.
    pub col: usize,
}

impl Input {
    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor's byte offset.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// True when nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replaces the text; the cursor goes to the end.
    pub fn set_text(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.cursor = self.text.len();
    }

    /// Inserts text at the cursor (typed or pasted; `\r\n` becomes `\n`).
    pub fn insert(&mut self, s: &str) {
        let s = s.replace("\r\n", "\n").replace('\r', "\n");
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
        self.browsing = None;
    }

    /// Deletes the char before the cursor.
    pub fn backspace(&mut self) {
        if let Some(prev) = self.prev_boundary() {
            self.text.replace_range(prev..self.cursor, "");
            self.cursor = prev;
        }
    }

    /// Deletes the char under the cursor.
    pub fn delete(&mut self) {
        if let Some(next) = self.next_boundary() {
            self.text.replace_range(self.cursor..next, "");
        }
    }

    /// Deletes the word before the cursor.
    pub fn delete_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| {
            i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
        });
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Moves one char left.
    pub fn left(&mut self) {
        if let Some(prev) = self.prev_boundary() {
            self.cursor = prev;
        }
    }

    /// Moves one char right.
    pub fn right(&mut self) {
        if let Some(next) = self.next_boundary() {
            self.cursor = next;
        }
    }

    /// Start of the current line.
    pub fn line_start(&mut self) {
        self.cursor = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
    }

    /// End of the current line.
    pub fn line_end(&mut self) {
        self.cursor = self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i);
    }

    /// Moves up a line; false when already on the first line (history's turn).
    pub fn up(&mut self) -> bool {
        let Some(line_start) = self.text[..self.cursor].rfind('\n') else {
            return false;
        };
        let col = self.text[line_start + 1..self.cursor].chars().count();
        let prev_start = self.text[..line_start].rfind('\n').map_or(0, |i| i + 1);
        self.cursor = advance(&self.text, prev_start, line_start, col);
        true
    }

    /// Moves down a line; false when already on the last line.
    pub fn down(&mut self) -> bool {
        let Some(rel) = self.text[self.cursor..].find('\n') else {
            return false;
        };
        let line_start = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..self.cursor].chars().count();
        let next_start = self.cursor + rel + 1;
        let next_end = self.text[next_start..]
            .find('\n')
            .map_or(self.text.len(), |i| next_start + i);
        self.cursor = advance(&self.text, next_start, next_end, col);
        true
    }

    /// Takes the text for sending and records it in the history.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        text
    }

    /// Clears the text.
    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
    }

    /// The previous prompt from history.
    pub fn history_prev(&mut self) {
        let index = match &self.browsing {
            Some(Browsing { index: 0, .. }) => return,
            Some(b) => b.index - 1,
            None if self.history.is_empty() => return,
            None => {
                self.browsing = Some(Browsing {
                    index: self.history.len(),
                    draft: self.text.clone(),
                });
                self.history.len() - 1
            }
        };
        if let Some(b) = &mut self.browsing {
            b.index = index;
        }
        self.text = self.history[index].clone();
        self.cursor = self.text.len();
    }

    /// The next prompt from history, or back to the draft.
    pub fn history_next(&mut self) {
        let Some(Browsing { index, draft }) = self.browsing.clone() else {
            return;
        };
        if index + 1 >= self.history.len() {
            self.text = draft;
            self.browsing = None;
        } else {
            self.text = self.history[index + 1].clone();
            self.browsing = Some(Browsing {
                index: index + 1,
                draft,
            });
        }
        self.cursor = self.text.len();
    }

    fn prev_boundary(&self) -> Option<usize> {
        self.text[..self.cursor]
            .char_indices()
            .next_back()
            .map(|(i, _)| i)
    }

    fn next_boundary(&self) -> Option<usize> {
        self.text[self.cursor..]
            .chars()
            .next()
            .map(|c| self.cursor + c.len_utf8())
    }

    /// The text wrapped by characters to `width` columns, and the cursor in it.
    pub fn layout(&self, width: usize) -> InputLayout {
        let width = width.max(1);
        let mut rows = vec![String::new()];
        let mut col = 0usize;
        let mut cursor = Cursor::default();
        for (i, ch) in self.text.char_indices() {
            if i == self.cursor {
                cursor = Cursor {
                    row: rows.len() - 1,
                    col,
                };
            }
            if ch == '\n' {
                rows.push(String::new());
                col = 0;
                continue;
            }
            let w = ch.width().unwrap_or(0);
            if col + w > width {
                rows.push(String::new());
                col = 0;
            }
            if let Some(row) = rows.last_mut() {
                row.push(ch);
            }
            col += w;
        }
        if self.cursor >= self.text.len() {
            if col >= width {
                rows.push(String::new());
                col = 0;
            }
            cursor = Cursor {
                row: rows.len() - 1,
                col,
            };
        }
        InputLayout { rows, cursor }
    }
}

/// The byte offset `col` chars into `text[start..end]` (or `end`).
fn advance(text: &str, start: usize, end: usize, col: usize) -> usize {
    text[start..end]
        .char_indices()
        .nth(col)
        .map_or(end, |(i, _)| start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_and_moves_by_chars() {
        let mut i = Input::default();
        i.insert("héllo");
        i.left();
        i.backspace();
        assert_eq!(i.text(), "hélo");
        i.line_start();
        i.delete();
        assert_eq!(i.text(), "élo");
        i.line_end();
        i.insert(" wörld");
        i.delete_word();
        assert_eq!(i.text(), "élo ");
    }

    #[test]
    fn multiline_up_down_then_history() {
        let mut i = Input::default();
        i.insert("first");
        assert_eq!(i.take(), "first");
        i.insert("ab\ncdef");
        assert!(i.up());
        assert_eq!(i.cursor(), 2);
        assert!(!i.up());
        assert!(i.down());
        i.history_prev();
        assert_eq!(i.text(), "first");
        i.history_next();
        assert_eq!(i.text(), "ab\ncdef", "the draft comes back");
    }

    #[test]
    fn paste_normalises_newlines_and_layout_wraps() {
        let mut i = Input::default();
        i.insert("a\r\nbcdef");
        assert_eq!(i.text(), "a\nbcdef");
        let layout = i.layout(3);
        assert_eq!(layout.rows, vec!["a", "bcd", "ef"]);
        assert_eq!(layout.cursor, Cursor { row: 2, col: 2 });
    }
}
