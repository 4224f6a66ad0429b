//! The prompt editor: multiline text with a cursor that moves by grapheme (an emoji
//! or an accented letter is one step), readline's word moves and kill/yank, prompt
//! history with reverse search.

use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// The text being typed and where the cursor is (a byte index on a grapheme
/// boundary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Input {
    text: String,
    cursor: usize,
    history: Vec<String>,
    browsing: Option<Browsing>,
    /// The last killed text, for yank.
    killed: String,
    /// A reverse history search in progress.
    search: Option<Search>,
}

/// A reverse history search (Ctrl-R): what is typed and which entry matches.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Search {
    query: String,
    /// The matching history entry, searching back from the newest.
    hit: Option<usize>,
    /// The text before the search began, restored when it is cancelled.
    draft: String,
}

/// Where history browsing is, and the draft it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Browsing {
    index: usize,
    draft: String,
}

/// The text wrapped to a width, and where the cursor is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputLayout {
    pub(crate) rows: Vec<String>,
    pub(crate) cursor: Cursor,
}

/// A position in [`InputLayout::rows`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) row: usize,
    /// In columns, not characters.
    pub(crate) col: usize,
}

impl Input {
    /// The text.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The cursor's byte offset.
    #[cfg(test)]
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    /// True when nothing is typed.
    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replaces the text; the cursor goes to the end.
    pub(crate) fn set_text(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.cursor = self.text.len();
    }

    /// Inserts text at the cursor (typed or pasted; `\r\n` becomes `\n`).
    pub(crate) fn insert(&mut self, s: &str) {
        let s = s.replace("\r\n", "\n").replace('\r', "\n");
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
        self.browsing = None;
    }

    /// Deletes the character (grapheme) before the cursor.
    pub(crate) fn backspace(&mut self) {
        if let Some(prev) = self.prev_boundary() {
            self.text.replace_range(prev..self.cursor, "");
            self.cursor = prev;
        }
    }

    /// Deletes the character (grapheme) under the cursor.
    pub(crate) fn delete(&mut self) {
        if let Some(next) = self.next_boundary() {
            self.text.replace_range(self.cursor..next, "");
        }
    }

    /// Kills the word before the cursor (Ctrl-W): up to the previous whitespace.
    pub(crate) fn delete_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| {
            i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
        });
        self.kill(start, self.cursor);
    }

    /// Kills from the cursor to the end of the line (Ctrl-K); at the end of a line,
    /// the line break.
    pub(crate) fn kill_to_end(&mut self) {
        let end = match self.text[self.cursor..].find('\n') {
            Some(0) => self.cursor + 1,
            Some(i) => self.cursor + i,
            None => self.text.len(),
        };
        self.kill(self.cursor, end);
    }

    /// Kills from the start of the line to the cursor (Ctrl-U).
    pub(crate) fn kill_to_start(&mut self) {
        let start = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
        self.kill(start, self.cursor);
    }

    /// Inserts the last killed text (Ctrl-Y).
    pub(crate) fn yank(&mut self) {
        let killed = self.killed.clone();
        self.insert(&killed);
    }

    fn kill(&mut self, start: usize, end: usize) {
        if start < end {
            self.killed = self.text[start..end].to_owned();
            self.text.replace_range(start..end, "");
            self.cursor = start;
            self.browsing = None;
        }
    }

    /// Moves to the start of the previous word (Alt-b, Ctrl-Left).
    pub(crate) fn word_left(&mut self) {
        self.cursor = self.text[..self.cursor]
            .unicode_word_indices()
            .next_back()
            .map_or(0, |(i, _)| i);
    }

    /// Moves past the end of the next word (Alt-f, Ctrl-Right).
    pub(crate) fn word_right(&mut self) {
        let at = self.cursor;
        self.cursor = self.text[at..]
            .unicode_word_indices()
            .next()
            .map_or(self.text.len(), |(i, w)| at + i + w.len());
    }

    /// Moves one character (grapheme) left.
    pub(crate) fn left(&mut self) {
        if let Some(prev) = self.prev_boundary() {
            self.cursor = prev;
        }
    }

    /// Moves one character (grapheme) right.
    pub(crate) fn right(&mut self) {
        if let Some(next) = self.next_boundary() {
            self.cursor = next;
        }
    }

    /// Start of the current line.
    pub(crate) fn line_start(&mut self) {
        self.cursor = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
    }

    /// End of the current line.
    pub(crate) fn line_end(&mut self) {
        self.cursor = self.text[self.cursor..]
            .find('\n')
            .map_or(self.text.len(), |i| self.cursor + i);
    }

    /// Moves up a line; false when already on the first line, or when the text is
    /// a recalled history entry (history's turn either way: a recalled 200-line
    /// prompt must not take 200 presses to leave).
    pub(crate) fn up(&mut self) -> bool {
        if self.browsing.is_some() {
            return false;
        }
        let Some(line_start) = self.text[..self.cursor].rfind('\n') else {
            return false;
        };
        let col = self.text[line_start + 1..self.cursor]
            .graphemes(true)
            .count();
        let prev_start = self.text[..line_start].rfind('\n').map_or(0, |i| i + 1);
        self.cursor = advance(&self.text, prev_start, line_start, col);
        true
    }

    /// Moves down a line; false when already on the last line or browsing history.
    pub(crate) fn down(&mut self) -> bool {
        if self.browsing.is_some() {
            return false;
        }
        let Some(rel) = self.text[self.cursor..].find('\n') else {
            return false;
        };
        let line_start = self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..self.cursor].graphemes(true).count();
        let next_start = self.cursor + rel + 1;
        let next_end = self.text[next_start..]
            .find('\n')
            .map_or(self.text.len(), |i| next_start + i);
        self.cursor = advance(&self.text, next_start, next_end, col);
        true
    }

    /// Takes the text for sending and records it in the history.
    pub(crate) fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        text
    }

    /// Clears the text.
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
    }

    /// The previous prompt from history.
    pub(crate) fn history_prev(&mut self) {
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
    pub(crate) fn history_next(&mut self) {
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

    /// The prompts typed so far, oldest first.
    pub(crate) fn history(&self) -> &[String] {
        &self.history
    }

    /// Starts with `entries` as the history (kept from earlier runs).
    pub(crate) fn load_history(&mut self, entries: Vec<String>) {
        self.history = entries;
        self.browsing = None;
    }

    /// Starts a reverse history search (Ctrl-R), or, during one, finds the next
    /// older match.
    pub(crate) fn search_back(&mut self) {
        match &mut self.search {
            None => {
                self.search = Some(Search {
                    query: String::new(),
                    hit: None,
                    draft: self.text.clone(),
                });
            }
            Some(search) => {
                let before = search.hit.unwrap_or(self.history.len());
                search.hit = find_back(&self.history, &search.query, before).or(search.hit);
            }
        }
        self.show_hit();
    }

    /// True while Up/Down walk through the prompt history.
    pub(crate) fn is_browsing(&self) -> bool {
        self.browsing.is_some()
    }

    /// True while a reverse search is open.
    pub(crate) fn is_searching(&self) -> bool {
        self.search.is_some()
    }

    /// The search's query and its match, for the view.
    pub(crate) fn search_view(&self) -> Option<(&str, Option<&str>)> {
        let search = self.search.as_ref()?;
        let hit = search
            .hit
            .and_then(|i| self.history.get(i))
            .map(String::as_str);
        Some((&search.query, hit))
    }

    /// Adds to the search query and finds the newest match.
    pub(crate) fn search_type(&mut self, s: &str) {
        if let Some(search) = &mut self.search {
            search.query.push_str(s);
            search.hit = find_back(&self.history, &search.query, self.history.len());
        }
        self.show_hit();
    }

    /// Removes the query's last character.
    pub(crate) fn search_backspace(&mut self) {
        if let Some(search) = &mut self.search {
            search.query.pop();
            search.hit = find_back(&self.history, &search.query, self.history.len());
        }
        self.show_hit();
    }

    /// Ends the search keeping the match as the text to edit.
    pub(crate) fn search_accept(&mut self) {
        self.search = None;
        self.cursor = self.text.len();
    }

    /// Ends the search and brings back what was typed before it.
    pub(crate) fn search_cancel(&mut self) {
        if let Some(search) = self.search.take() {
            self.text = search.draft;
            self.cursor = self.text.len();
        }
    }

    fn show_hit(&mut self) {
        let Some(search) = &self.search else { return };
        self.text = match search.hit.and_then(|i| self.history.get(i)) {
            Some(hit) => hit.clone(),
            None => search.draft.clone(),
        };
        self.cursor = self.text.len();
    }

    fn prev_boundary(&self) -> Option<usize> {
        self.text[..self.cursor]
            .grapheme_indices(true)
            .next_back()
            .map(|(i, _)| i)
    }

    fn next_boundary(&self) -> Option<usize> {
        self.text[self.cursor..]
            .graphemes(true)
            .next()
            .map(|g| self.cursor + g.len())
    }

    /// The text wrapped by characters to `width` columns, and the cursor in it.
    pub(crate) fn layout(&self, width: usize) -> InputLayout {
        let width = width.max(1);
        let mut rows = vec![String::new()];
        let mut col = 0usize;
        let mut cursor = Cursor::default();
        for (i, g) in self.text.grapheme_indices(true) {
            if i == self.cursor {
                cursor = Cursor {
                    row: rows.len() - 1,
                    col,
                };
            }
            if g == "\n" || g == "\r\n" {
                rows.push(String::new());
                col = 0;
                continue;
            }
            let w = g.width();
            if col + w > width {
                rows.push(String::new());
                col = 0;
            }
            if let Some(row) = rows.last_mut() {
                row.push_str(g);
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

/// The byte offset `col` graphemes into `text[start..end]` (or `end`).
fn advance(text: &str, start: usize, end: usize, col: usize) -> usize {
    text[start..end]
        .grapheme_indices(true)
        .nth(col)
        .map_or(end, |(i, _)| start + i)
}

/// The newest history entry before `before` containing `query`.
fn find_back(history: &[String], query: &str, before: usize) -> Option<usize> {
    if query.is_empty() {
        return None;
    }
    history[..before.min(history.len())]
        .iter()
        .rposition(|entry| entry.contains(query))
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

    #[test]
    fn the_cursor_steps_over_whole_graphemes() {
        let mut i = Input::default();
        // A family emoji (several code points joined) and a letter with a combining accent.
        i.insert("a👨‍👩‍👧e\u{301}");
        i.left();
        assert_eq!(
            &i.text()[i.cursor()..],
            "e\u{301}",
            "one step over e + accent"
        );
        i.left();
        i.backspace();
        assert_eq!(i.text(), "👨‍👩‍👧e\u{301}");
        i.delete();
        assert_eq!(i.text(), "e\u{301}", "the whole emoji went at once");
        assert!(i.text().is_char_boundary(i.cursor()));
        let layout = Input {
            text: "👍x".into(),
            cursor: 4,
            ..Input::default()
        }
        .layout(10);
        assert_eq!(
            layout.cursor,
            Cursor { row: 0, col: 2 },
            "an emoji is two columns"
        );
    }

    #[test]
    fn words_move_and_kill_and_yank() {
        let mut i = Input::default();
        i.insert("fail over fast");
        i.word_left();
        assert_eq!(&i.text()[i.cursor()..], "fast");
        i.word_left();
        i.word_left();
        assert_eq!(i.cursor(), 0);
        i.word_right();
        assert_eq!(&i.text()[i.cursor()..], " over fast");
        i.kill_to_end();
        assert_eq!(i.text(), "fail");
        i.line_start();
        i.yank();
        assert_eq!(i.text(), " over fastfail");
        i.line_end();
        i.kill_to_start();
        assert_eq!(i.text(), "");
        i.yank();
        assert_eq!(i.text(), " over fastfail");
        i.delete_word();
        assert_eq!(i.text(), " over ");
    }

    #[test]
    fn kill_to_end_of_a_line_then_its_line_break() {
        let mut i = Input::default();
        i.insert("ab\ncd");
        i.up();
        i.line_start();
        i.right();
        i.kill_to_end();
        assert_eq!(i.text(), "a\ncd");
        i.kill_to_end();
        assert_eq!(i.text(), "acd");
    }

    #[test]
    fn a_recalled_long_prompt_does_not_trap_the_up_key() {
        let mut i = Input::default();
        i.insert("older");
        i.take();
        i.insert(&"line\n".repeat(200));
        i.take();
        i.history_prev();
        assert!(i.text().starts_with("line"));
        assert!(!i.up(), "Up goes to history at once");
        i.history_prev();
        assert_eq!(i.text(), "older");
        // Editing a recalled entry makes Up move by lines again.
        i.history_next();
        i.insert("x");
        assert!(i.up());
    }

    #[test]
    fn reverse_search_finds_older_matches_and_cancel_restores_the_draft() {
        let mut i = Input::default();
        i.load_history(vec![
            "explain tokio".into(),
            "fix the build".into(),
            "explain serde".into(),
        ]);
        i.insert("draft");
        i.search_back();
        assert!(i.is_searching());
        i.search_type("expl");
        assert_eq!(i.search_view(), Some(("expl", Some("explain serde"))));
        assert_eq!(i.text(), "explain serde");
        i.search_back();
        assert_eq!(
            i.text(),
            "explain tokio",
            "Ctrl-R again: the next older match"
        );
        i.search_back();
        assert_eq!(
            i.text(),
            "explain tokio",
            "no older match keeps the last one"
        );
        i.search_cancel();
        assert_eq!(i.text(), "draft");
        i.search_back();
        i.search_type("build");
        i.search_accept();
        assert!(!i.is_searching());
        assert_eq!(i.text(), "fix the build");
        assert_eq!(i.cursor(), i.text().len());
    }
}
