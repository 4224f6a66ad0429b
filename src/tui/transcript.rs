//! The transcript: its cells, a prefix index of their screen lines, and the
//! wrapped lines of the cells in view.
//!
//! A frame must cost what is visible, not what was ever said (issue 5: one frame of
//! a 100,000-line transcript in well under 8 ms, and its memory at most twice its
//! text). So:
//! - every cell remembers its line count per width, and `ends[i]` is the number of
//!   screen lines up to and including cell `i`. After a change only the changed
//!   cell is re-wrapped and only the index from it on is re-summed; a width change
//!   re-measures all (once per resize);
//! - the view finds the first visible cell by binary search in `ends` and clones
//!   only the lines of the cells intersecting the viewport;
//! - wrapped lines (several times the text's size) are kept only for the cells
//!   around the viewport; the others keep just their count.
//!
//! Mutations go through [`Transcript::push`] and [`Transcript::get_mut`], which is
//! how the index learns what changed. [`Transcript::layout`] and
//! [`Transcript::prepare`] run in `App::draw` before the pure view, which reads
//! [`Transcript::lines_between`].

use std::ops::Range;

use ratatui::text::Line;

use super::history::HistoryCell;
use super::theme::Theme;

/// The transcript's cells with their line index and view cache.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    cells: Vec<HistoryCell>,
    /// `ends[i]`: screen lines of `cells[..=i]` at `width`.
    ends: Vec<usize>,
    width: u16,
    /// Cells from here on need their `ends` recomputed.
    valid: usize,
    /// Wrapped lines at `width` of the cells of the last prepared window, plus any
    /// measured since (a new or changed cell keeps its lines until the next prepare),
    /// by cell index. A handful of entries, so a list beats a map.
    wrapped: Vec<(usize, Vec<Line<'static>>)>,
    /// The cells of the last prepared window.
    window: Range<usize>,
    /// Cells at the last layout: those past it are new.
    laid_out: usize,
}

impl Transcript {
    /// Adds a cell at the end, without spare text capacity.
    pub fn push(&mut self, mut cell: HistoryCell) {
        cell.shrink();
        self.cells.push(cell);
    }

    /// The cell at `index`, to change it; it is re-measured at the next layout.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut HistoryCell> {
        if index < self.cells.len() {
            self.valid = self.valid.min(index);
            self.wrapped.retain(|(i, _)| *i != index);
        }
        self.cells.get_mut(index)
    }

    /// The cell at `index`.
    pub fn get(&self, index: usize) -> Option<&HistoryCell> {
        self.cells.get(index)
    }

    /// Removes every cell.
    pub fn clear(&mut self) {
        *self = Self {
            width: self.width,
            ..Self::default()
        };
    }

    /// How many cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// True when there are no cells.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells, first to last.
    pub fn iter(&self) -> std::slice::Iter<'_, HistoryCell> {
        self.cells.iter()
    }

    /// Brings the line index up to date for `width` and returns the total lines.
    /// Re-wraps only cells that changed or were added (all of them when the width
    /// changed); the cells of the last window and new ones keep their lines, the
    /// others only count them.
    pub fn layout(&mut self, width: u16, theme: &Theme) -> usize {
        if width != self.width {
            self.width = width;
            self.valid = 0;
            self.wrapped.clear();
        }
        let valid = self.valid.min(self.ends.len());
        self.ends.truncate(valid);
        let mut total = self.total_lines();
        for (i, cell) in self.cells.iter_mut().enumerate().skip(valid) {
            let height = match cell.height(width) {
                Some(h) => h,
                None => {
                    let lines = cell.wrap(width, theme);
                    let h = lines.len();
                    // A cell in view, or a new one (in view when following the
                    // stream), keeps its lines so `prepare` need not wrap it again.
                    if self.window.contains(&i) || i >= self.laid_out {
                        self.wrapped.retain(|(j, _)| *j != i);
                        self.wrapped.push((i, lines));
                    }
                    h
                }
            };
            total += height;
            self.ends.push(total);
        }
        self.valid = self.cells.len();
        self.laid_out = self.cells.len();
        total
    }

    /// Screen lines at the last layout.
    pub fn total_lines(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// The cells intersecting screen lines `top..bottom` (by the index).
    fn cells_between(&self, top: usize, bottom: usize) -> Range<usize> {
        if top >= bottom {
            return 0..0;
        }
        let first = self.ends.partition_point(|&end| end <= top);
        // The cell holding line `bottom - 1`, if any.
        let last = self.ends.partition_point(|&end| end < bottom);
        first..(last + 1).min(self.ends.len()).max(first)
    }

    /// Keeps wrapped lines for the cells intersecting lines `top..bottom` and
    /// drops them everywhere else. Call after [`Self::layout`].
    pub fn prepare(&mut self, top: usize, bottom: usize, theme: &Theme) {
        let window = self.cells_between(top, bottom);
        self.wrapped.retain(|(i, _)| window.contains(i));
        for i in window.clone() {
            if self.wrapped.iter().any(|(j, _)| *j == i) {
                continue;
            }
            if let Some(cell) = self.cells.get_mut(i) {
                let lines = cell.wrap(self.width, theme);
                self.wrapped.push((i, lines));
            }
        }
        self.window = window;
    }

    /// Screen lines `top..bottom` as of the last layout. Pure: a cell in range whose
    /// lines are not kept (outside the prepared window) is wrapped on the fly.
    pub fn lines_between(&self, top: usize, bottom: usize, theme: &Theme) -> Vec<Line<'static>> {
        let mut out = Vec::with_capacity(bottom.saturating_sub(top));
        let range = self.cells_between(top, bottom);
        let mut start = match range.start {
            0 => 0,
            i => self.ends[i - 1],
        };
        for ((i, cell), &end) in self.cells[range.clone()]
            .iter()
            .enumerate()
            .zip(&self.ends[range.clone()])
        {
            let from = top.saturating_sub(start);
            let to = (end - start).min(bottom - start);
            let kept = self
                .wrapped
                .iter()
                .find(|(j, _)| *j == range.start + i)
                .map(|(_, lines)| lines);
            match kept {
                Some(lines) => out.extend(lines.get(from..to).unwrap_or(&[]).iter().cloned()),
                None => {
                    let lines = cell.kind().display_lines(self.width, theme);
                    out.extend(lines.into_iter().take(to).skip(from));
                }
            }
            start = end;
        }
        out
    }

    /// How many cells hold wrapped lines (for tests and the memory test).
    pub fn cells_holding_lines(&self) -> usize {
        self.wrapped.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::history::CellKind;

    fn texts(lines: &[Line<'static>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    /// Output cells of `n` lines each (plus the blank line every cell ends with).
    fn transcript(cells: usize, n: usize) -> Transcript {
        let mut t = Transcript::default();
        for c in 0..cells {
            let text = (0..n)
                .map(|l| format!("c{c} l{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            t.push(HistoryCell::new(CellKind::Output {
                text,
                is_error: false,
            }));
        }
        t
    }

    /// What the naive approach shows: every cell wrapped, concatenated, sliced.
    fn naive(t: &Transcript, width: u16, top: usize, bottom: usize) -> Vec<String> {
        let theme = Theme::new(false);
        let all: Vec<Line<'static>> = t
            .iter()
            .flat_map(|c| c.kind().display_lines(width, &theme))
            .collect();
        texts(&all[top.min(all.len())..bottom.min(all.len())])
    }

    #[test]
    fn index_and_window_match_the_naive_slice() {
        let theme = Theme::new(false);
        let mut t = transcript(50, 3);
        assert_eq!(t.layout(40, &theme), 200);
        for (top, bottom) in [(0, 10), (3, 9), (95, 130), (190, 200), (199, 230), (0, 0)] {
            t.prepare(top, bottom, &theme);
            assert_eq!(
                texts(&t.lines_between(top, bottom, &theme)),
                naive(&t, 40, top, bottom),
                "{top}..{bottom}"
            );
        }
    }

    #[test]
    fn only_cells_in_view_hold_lines() {
        let theme = Theme::new(false);
        let mut t = transcript(1000, 3);
        let total = t.layout(40, &theme);
        t.prepare(total - 10, total, &theme);
        assert_eq!(t.cells_holding_lines(), 3);
        t.prepare(0, 10, &theme);
        assert_eq!(t.cells_holding_lines(), 3);
        // Cells added while scrolled away keep no lines past the next prepare.
        for cell in transcript(5, 3).cells {
            t.push(cell);
        }
        t.layout(40, &theme);
        assert_eq!(t.cells_holding_lines(), 8);
        t.prepare(0, 10, &theme);
        assert_eq!(t.cells_holding_lines(), 3);
    }

    #[test]
    fn a_changed_cell_is_remeasured_and_the_rest_of_the_index_follows() {
        let theme = Theme::new(false);
        let mut t = transcript(10, 3);
        assert_eq!(t.layout(40, &theme), 40);
        if let Some(CellKind::Output { text, .. }) = t.get_mut(4).map(HistoryCell::kind_mut) {
            text.push_str("\nmore\nand more");
        }
        assert_eq!(t.layout(40, &theme), 42);
        t.prepare(0, 42, &theme);
        assert_eq!(texts(&t.lines_between(0, 42, &theme)), naive(&t, 40, 0, 42));
        // A width change re-measures everything.
        assert_eq!(t.layout(4, &theme), naive(&t, 4, 0, usize::MAX).len());
        t.clear();
        assert_eq!(t.layout(40, &theme), 0);
        assert!(t.lines_between(0, 10, &theme).is_empty());
    }

    #[test]
    fn lines_outside_the_prepared_window_are_still_drawn() {
        let theme = Theme::new(false);
        let mut t = transcript(20, 3);
        t.layout(40, &theme);
        t.prepare(0, 4, &theme);
        assert_eq!(
            texts(&t.lines_between(40, 48, &theme)),
            naive(&t, 40, 40, 48)
        );
    }
}
