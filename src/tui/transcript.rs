//! The transcript: its cells, a prefix index of their screen lines, and the
//! wrapped lines of the cells in view.
//!
//! A frame must cost what is visible, not what was ever said (one frame of a
//! 100,000-line transcript in well under 8 ms, as `benches/tui_frame.rs` times, and
//! its memory at most twice its text, as `tests/tui_memory.rs` checks). So:
//! - every cell remembers its line count per width, and `ends[i]` is the number of
//!   screen lines up to and including cell `i`. After a change only the changed
//!   cell is re-wrapped and only the index from it on is re-summed;
//! - a width change does not re-wrap the transcript (100 ms at 100,000 lines):
//!   every cell's count is scaled by old/new width as an estimate, the cells in
//!   view are counted at once, and the rest a few hundred lines a frame, from the
//!   bottom up. The view is anchored to the cell at its bottom edge, so correcting
//!   an estimate above or below it never moves what is shown;
//! - the view finds the first visible cell by binary search in `ends` and clones
//!   only the lines of the cells intersecting the viewport;
//! - wrapped lines (several times the text's size) are kept only for the cells
//!   around the viewport; the others keep just their count.
//!
//! Mutations go through [`Transcript::push`] and [`Transcript::get_mut`], which is
//! how the index learns what changed. [`Transcript::layout`] runs in `App::draw`
//! before the pure view, which reads [`Transcript::lines_between`].

use std::ops::Range;

use ratatui::text::Line;

use super::history::HistoryCell;
use super::theme::Theme;

/// Lines of estimated cells counted per frame after a width change: a frame
/// stays near its usual cost (about 1 µs a line of prose, some 40 µs a line of
/// highlighted code), and the estimates, which only place text out of view,
/// converge over the next frames (some 1,500 at 100,000 lines).
const CORRECTIONS_PER_FRAME: usize = 64;

/// The transcript's cells with their line index and view cache.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    cells: Vec<HistoryCell>,
    /// `ends[i]`: screen lines of `cells[..=i]` at `width` (some estimated).
    ends: Vec<usize>,
    width: u16,
    /// Cells from here on need their `ends` recomputed.
    valid: usize,
    /// Cells before this may still hold estimates; counted from here downwards.
    unsure: usize,
    /// Wrapped lines at `width` of the cells of the last prepared window, plus any
    /// measured since (a new or changed cell keeps its lines until the next prepare).
    /// A handful of entries, so a list beats a map.
    wrapped: Vec<Wrapped>,
    /// The cells of the last prepared window.
    window: Range<usize>,
}

/// The wrapped lines of one cell, by its index.
#[derive(Debug, Clone)]
struct Wrapped {
    cell: usize,
    lines: Vec<Line<'static>>,
}

/// Where the view is, so it stays on the same text while the index changes.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    /// At the end, following the stream.
    End,
    /// Scrolled all the way up.
    Start,
    /// The view's bottom edge is `into` lines into `cell`, then `of` lines tall
    /// at `width`.
    Cell {
        cell: usize,
        into: usize,
        of: usize,
        width: u16,
    },
}

impl Transcript {
    /// Adds a cell at the end, without spare text capacity.
    pub fn push(&mut self, mut cell: HistoryCell) {
        cell.shrink();
        self.cells.push(cell);
    }

    /// The cell at `index`, to change it; it is re-measured at the next layout.
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut HistoryCell> {
        if index < self.cells.len() {
            self.valid = self.valid.min(index);
            self.wrapped.retain(|w| w.cell != index);
        }
        self.cells.get_mut(index)
    }

    /// The cell at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&HistoryCell> {
        self.cells.get(index)
    }

    /// Removes every cell.
    pub(crate) fn clear(&mut self) {
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

    /// Brings the line index up to date for `width`, keeps the view (`scroll`
    /// lines up from the bottom, on a screen `rows` tall) on the text it showed,
    /// and keeps the wrapped lines of the cells in view. Returns the total lines.
    ///
    /// Re-wraps only cells that changed or were added, the cells in view whose
    /// count is an estimate, and a bounded number of other estimates.
    pub(crate) fn layout(
        &mut self,
        width: u16,
        rows: usize,
        scroll: &mut usize,
        theme: &Theme,
    ) -> usize {
        let anchor = self.anchor(*scroll);
        if width != self.width {
            self.width = width;
            for cell in &mut self.cells {
                cell.estimate(width);
            }
            self.valid = 0;
            self.unsure = self.cells.len();
            self.wrapped.clear();
            self.window = 0..0;
        }
        self.correct(rows, theme);
        self.reindex(rows, theme);
        // Count the estimated cells in view; that may bring others into view.
        loop {
            *scroll = self.scroll_for(anchor, *scroll);
            let bottom = self.total_lines() - *scroll;
            let window = self.cells_between(bottom.saturating_sub(rows), bottom);
            let mut counted = false;
            for i in window {
                if let Some(cell) = self.cells.get_mut(i)
                    && cell.is_estimated(self.width)
                {
                    let lines = cell.wrap(self.width, theme);
                    self.wrapped.push(Wrapped { cell: i, lines });
                    self.valid = self.valid.min(i);
                    counted = true;
                }
            }
            if !counted {
                self.prepare(bottom.saturating_sub(rows), bottom, theme);
                return self.total_lines();
            }
            self.reindex(rows, theme);
        }
    }

    /// Counts up to [`CORRECTIONS_PER_FRAME`] lines of estimated cells, bottom up.
    /// The last `rows` cells keep their lines: a view following the stream shows
    /// them this frame.
    fn correct(&mut self, rows: usize, theme: &Theme) {
        let mut budget = CORRECTIONS_PER_FRAME;
        let near_end = self.cells.len().saturating_sub(rows);
        while budget > 0 && self.unsure > 0 {
            self.unsure -= 1;
            let i = self.unsure;
            if let Some(cell) = self.cells.get_mut(i)
                && cell.is_estimated(self.width)
            {
                let lines = cell.wrap(self.width, theme);
                budget = budget.saturating_sub(lines.len());
                self.valid = self.valid.min(i);
                if i >= near_end {
                    self.wrapped.push(Wrapped { cell: i, lines });
                }
            }
        }
    }

    /// Re-sums the index from the first changed cell, counting the cells that
    /// changed or were added. Those that may be in view (in the last window, or
    /// among the last `rows` cells, which a view following the stream shows)
    /// keep their lines so `prepare` need not wrap them again.
    fn reindex(&mut self, rows: usize, theme: &Theme) {
        let valid = self.valid.min(self.ends.len());
        self.ends.truncate(valid);
        let mut total = self.total_lines();
        let near_end = self.cells.len().saturating_sub(rows);
        for (i, cell) in self.cells.iter_mut().enumerate().skip(valid) {
            let height = match cell.height_or_estimate(self.width) {
                Some(h) => h,
                None => {
                    let lines = cell.wrap(self.width, theme);
                    let h = lines.len();
                    if self.window.contains(&i) || i >= near_end {
                        self.wrapped.retain(|w| w.cell != i);
                        self.wrapped.push(Wrapped { cell: i, lines });
                    }
                    h
                }
            };
            total += height;
            self.ends.push(total);
        }
        self.valid = self.cells.len();
    }

    /// Where the view with `scroll` is, by the index of the last layout.
    fn anchor(&self, scroll: usize) -> Anchor {
        let total = self.total_lines();
        if scroll == 0 {
            return Anchor::End;
        }
        let bottom = total.saturating_sub(scroll);
        if bottom == 0 {
            return Anchor::Start;
        }
        let cell = self.ends.partition_point(|&end| end < bottom);
        let start = self.start_of(cell);
        let end = self.ends.get(cell).copied().unwrap_or(bottom);
        Anchor::Cell {
            cell,
            into: bottom - start,
            of: end - start,
            width: self.width,
        }
    }

    /// The `scroll` that puts the view back at `anchor` under the current index.
    fn scroll_for(&self, anchor: Anchor, scroll: usize) -> usize {
        let total = self.total_lines();
        match anchor {
            Anchor::End => 0,
            Anchor::Start => total,
            Anchor::Cell {
                cell,
                into,
                of,
                width,
            } => {
                let Some(&end) = self.ends.get(cell) else {
                    return scroll.min(total);
                };
                let start = self.start_of(cell);
                let height = end - start;
                // Rewrapped at another width, the anchor keeps its place in
                // proportion; grown at the same width (streaming), the lines
                // above the edge are the same lines.
                let into = if width == self.width || of == 0 {
                    into
                } else {
                    (into * height + of / 2) / of
                };
                total - (start + into.clamp(1, height.max(1))).min(end)
            }
        }
    }

    /// The first screen line of cell `i`.
    fn start_of(&self, i: usize) -> usize {
        match i {
            0 => 0,
            i => self.ends.get(i - 1).copied().unwrap_or(0),
        }
    }

    /// Screen lines at the last layout.
    pub(crate) fn total_lines(&self) -> usize {
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
    /// drops them everywhere else.
    fn prepare(&mut self, top: usize, bottom: usize, theme: &Theme) {
        let window = self.cells_between(top, bottom);
        self.wrapped.retain(|w| window.contains(&w.cell));
        for i in window.clone() {
            if self.wrapped.iter().any(|w| w.cell == i) {
                continue;
            }
            if let Some(cell) = self.cells.get_mut(i) {
                let lines = cell.wrap(self.width, theme);
                self.wrapped.push(Wrapped { cell: i, lines });
            }
        }
        self.window = window;
    }

    /// Screen lines `top..bottom` as of the last layout. Pure: a cell in range whose
    /// lines are not kept (outside the prepared window) is wrapped on the fly.
    pub(crate) fn lines_between(
        &self,
        top: usize,
        bottom: usize,
        theme: &Theme,
    ) -> Vec<Line<'static>> {
        let mut out = Vec::with_capacity(bottom.saturating_sub(top));
        let range = self.cells_between(top, bottom);
        let mut start = self.start_of(range.start);
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
                .find(|w| w.cell == range.start + i)
                .map(|w| &w.lines);
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

    #[cfg(test)]
    /// How many cells' line counts are estimates (for tests and the bench).
    pub(crate) fn estimated_cells(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| c.is_estimated(self.width))
            .count()
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

    /// Lays out with the view on lines `top..bottom` (as the app would with that
    /// scroll on a screen that tall) and returns the total.
    fn view(t: &mut Transcript, width: u16, top: usize, bottom: usize) -> usize {
        let total = t.layout(width, 0, &mut 0, &Theme::new(false));
        let mut scroll = total.saturating_sub(bottom);
        t.layout(width, bottom - top, &mut scroll, &Theme::new(false))
    }

    #[test]
    fn index_and_window_match_the_naive_slice() {
        let theme = Theme::new(false);
        let mut t = transcript(50, 3);
        assert_eq!(t.layout(40, 10, &mut 0, &theme), 200);
        for (top, bottom) in [(0, 10), (3, 9), (95, 130), (190, 200), (199, 200)] {
            view(&mut t, 40, top, bottom);
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
        let total = t.layout(40, 10, &mut 0, &theme);
        assert_eq!(total, 4000);
        assert_eq!(t.cells_holding_lines(), 3);
        view(&mut t, 40, 0, 10);
        assert_eq!(t.cells_holding_lines(), 3);
        // Cells added while scrolled away keep no lines past the layout.
        for cell in transcript(5, 3).cells {
            t.push(cell);
        }
        let mut scroll = 4000 - 10;
        t.layout(40, 10, &mut scroll, &theme);
        assert_eq!(scroll, 4010, "the view stays on the first lines");
        assert_eq!(t.cells_holding_lines(), 3);
    }

    #[test]
    fn a_changed_cell_is_remeasured_and_the_rest_of_the_index_follows() {
        let theme = Theme::new(false);
        let mut t = transcript(10, 3);
        assert_eq!(t.layout(40, 42, &mut 0, &theme), 40);
        if let Some(CellKind::Output { text, .. }) = t.get_mut(4).map(HistoryCell::kind_mut) {
            text.push_str("\nmore\nand more");
        }
        assert_eq!(t.layout(40, 42, &mut 0, &theme), 42);
        assert_eq!(texts(&t.lines_between(0, 42, &theme)), naive(&t, 40, 0, 42));
        t.clear();
        assert_eq!(t.layout(40, 10, &mut 0, &theme), 0);
        assert!(t.lines_between(0, 10, &theme).is_empty());
    }

    #[test]
    fn lines_outside_the_prepared_window_are_still_drawn() {
        let theme = Theme::new(false);
        let mut t = transcript(20, 3);
        view(&mut t, 40, 0, 4);
        assert_eq!(
            texts(&t.lines_between(40, 48, &theme)),
            naive(&t, 40, 40, 48)
        );
    }

    /// Cells whose lines wrap differently at 40 and 20 columns.
    fn long_lines(cells: usize) -> Transcript {
        let mut t = Transcript::default();
        for c in 0..cells {
            t.push(HistoryCell::new(CellKind::Output {
                text: format!("cell {c} {}", "word ".repeat(c % 13)),
                is_error: false,
            }));
        }
        t
    }

    #[test]
    fn a_width_change_counts_the_view_now_and_the_rest_over_frames() {
        let theme = Theme::new(false);
        let mut t = long_lines(2000);
        t.layout(40, 10, &mut 0, &theme);
        assert_eq!(t.estimated_cells(), 0);
        let total = t.layout(20, 10, &mut 0, &theme);
        // The bottom is exact, so what is shown is right.
        let shown = texts(&t.lines_between(total - 10, total, &theme));
        let exact = naive(&t, 20, 0, usize::MAX);
        assert_eq!(shown, exact[exact.len() - 10..]);
        let estimated = t.estimated_cells();
        assert!(estimated > 1000, "{estimated} left to count");
        // Each frame counts a bounded number more, until the index is exact.
        let mut frames = 0;
        while t.estimated_cells() > 0 {
            let before = t.estimated_cells();
            t.layout(20, 10, &mut 0, &theme);
            assert!(before - t.estimated_cells() <= CORRECTIONS_PER_FRAME);
            frames += 1;
            assert!(frames < 1000);
        }
        assert_eq!(t.total_lines(), exact.len());
    }

    #[test]
    fn a_scrolled_view_keeps_its_text_across_width_changes_and_corrections() {
        let theme = Theme::new(false);
        let mut t = long_lines(2000);
        let total = t.layout(40, 10, &mut 0, &theme);
        // A view in the middle, ending at the end of cell 1000.
        let bottom = t.ends[1000];
        let mut scroll = total - bottom;
        t.layout(40, 10, &mut scroll, &theme);
        let cell_1000 = |t: &Transcript, scroll: usize| {
            let bottom = t.total_lines() - scroll;
            let last = texts(&t.lines_between(bottom - 2, bottom, &theme));
            assert_eq!(last[1], "", "a cell ends with a blank line");
            assert!(last[0].contains("word") || last[0].starts_with("cell 1000"));
            t.cells_between(bottom - 1, bottom)
        };
        assert_eq!(cell_1000(&t, scroll), 1000..1001);
        t.layout(20, 10, &mut scroll, &theme);
        assert_eq!(cell_1000(&t, scroll), 1000..1001);
        while t.estimated_cells() > 0 {
            t.layout(20, 10, &mut scroll, &theme);
            assert_eq!(cell_1000(&t, scroll), 1000..1001);
        }
        let bottom = t.total_lines() - scroll;
        assert_eq!(
            texts(&t.lines_between(bottom - 10, bottom, &theme)),
            naive(&t, 20, bottom - 10, bottom)
        );
        // Back to 40 columns, and to the very top.
        t.layout(40, 10, &mut scroll, &theme);
        assert_eq!(cell_1000(&t, scroll), 1000..1001);
        let mut top = t.total_lines();
        t.layout(30, 10, &mut top, &theme);
        assert_eq!(top, t.total_lines());
    }
}
