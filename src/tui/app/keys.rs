//! Keys, paste and the mouse wheel: editing the prompt, scrolling, leaving, and
//! Enter, which sends a prompt or runs a command.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::{App, Effect, Quit};
use crate::command;
use crate::tui::history::{CellKind, HistoryCell};

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.control.dirty = true;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        if !(ctrl && key.code == KeyCode::Char('c')) && self.control.quit == Quit::Armed {
            self.control.quit = Quit::No;
        }
        if self.input.is_searching() {
            return self.on_search_key(key, ctrl);
        }
        if let Some(effects) = self.on_popup_key(key, ctrl || alt) {
            return effects;
        }
        // Ctrl-G, or Ctrl-X Ctrl-E as in bash: the input in $EDITOR.
        let after_ctrl_x = std::mem::take(&mut self.control.ctrl_x);
        match key.code {
            KeyCode::Char('g') if ctrl => return vec![Effect::Edit(self.input.text().to_owned())],
            KeyCode::Char('e') if ctrl && after_ctrl_x => {
                return vec![Effect::Edit(self.input.text().to_owned())];
            }
            KeyCode::Char('x') if ctrl => {
                self.control.ctrl_x = true;
                return Vec::new();
            }
            _ => {}
        }
        match key.code {
            KeyCode::Char('c') if ctrl => {
                if self.is_busy() {
                    return self.cancel();
                }
                if !self.input.is_empty() {
                    self.input.clear();
                } else {
                    self.control.quit = match self.control.quit {
                        Quit::No => Quit::Armed,
                        Quit::Armed | Quit::Asked => Quit::Asked,
                    };
                }
            }
            KeyCode::Char('d') if ctrl => {
                if self.input.is_empty() {
                    self.control.quit = Quit::Asked;
                    // Leaving mid-answer keeps what was shown (archived as cancelled).
                    if self.is_busy() {
                        return self.cancel();
                    }
                } else {
                    self.input.delete();
                }
            }
            KeyCode::Esc if self.is_busy() => return self.cancel(),
            KeyCode::Esc => {}
            KeyCode::Enter if shift || alt => self.input.insert("\n"),
            KeyCode::Char('j') if ctrl => self.input.insert("\n"),
            KeyCode::Enter => return self.submit(),
            KeyCode::Tab if self.complete_mention() => {}
            KeyCode::Tab => match command::complete(&self.session, self.input.text()) {
                Some(done) => self.input.set_text(done),
                None => {
                    // Nothing more to add: say what the choices are.
                    let choices = command::candidates(&self.session, self.input.text());
                    if choices.len() > 1 {
                        self.output(choices.join("  "), false);
                    }
                }
            },
            // Up/Down move between the input's lines, then through prompt history.
            // A recalled entry, however many lines, is one step of history: Up
            // and Down keep walking it until the entry is edited.
            KeyCode::Up if self.input.is_browsing() => self.input.history_prev(),
            KeyCode::Down if self.input.is_browsing() => self.input.history_next(),
            KeyCode::Up if !self.input.up() => self.input.history_prev(),
            KeyCode::Down if !self.input.down() => self.input.history_next(),
            KeyCode::Up | KeyCode::Down => {}
            KeyCode::PageUp => self.view.scroll_up(self.view.page.saturating_sub(2).max(1)),
            KeyCode::PageDown => self
                .view
                .scroll_down(self.view.page.saturating_sub(2).max(1)),
            // Ctrl-Home/End always jump through the transcript; plain Home/End
            // edit the line, and scroll only when there is no line to edit.
            KeyCode::Home if ctrl || self.input.is_empty() => {
                self.view.scroll = self.view.max_scroll()
            }
            KeyCode::End if ctrl || self.input.is_empty() => self.view.scroll = 0,
            KeyCode::Home => self.input.line_start(),
            KeyCode::End => self.input.line_end(),
            KeyCode::Left if ctrl || alt => self.input.word_left(),
            KeyCode::Right if ctrl || alt => self.input.word_right(),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Backspace if ctrl || alt => self.input.delete_word(),
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Char('a') if ctrl => self.input.line_start(),
            KeyCode::Char('e') if ctrl => self.input.line_end(),
            KeyCode::Char('b') if ctrl => self.input.left(),
            KeyCode::Char('f') if ctrl => self.input.right(),
            KeyCode::Char('b') if alt => self.input.word_left(),
            KeyCode::Char('f') if alt => self.input.word_right(),
            KeyCode::Char('k') if ctrl => self.input.kill_to_end(),
            KeyCode::Char('u') if ctrl => self.input.kill_to_start(),
            KeyCode::Char('w') if ctrl => self.input.delete_word(),
            KeyCode::Char('y') if ctrl => self.input.yank(),
            KeyCode::Char('r') if ctrl => self.input.search_back(),
            KeyCode::Char('t') if ctrl => self.toggle_reasoning(),
            KeyCode::Char('l') if ctrl => {}
            // Ctrl+Alt together is AltGr on some keyboards: it types.
            KeyCode::Char(c) if ctrl == alt => {
                let mut buf = [0u8; 4];
                self.input.insert(c.encode_utf8(&mut buf));
            }
            _ => {}
        }
        Vec::new()
    }

    /// Keys the command popup takes while it is open: Up/Down choose, Tab
    /// completes the chosen command, Enter runs it, Esc closes the popup.
    fn on_popup_key(&mut self, key: KeyEvent, modified: bool) -> Option<Vec<Effect>> {
        let popup = self.popup();
        if popup.is_empty() || modified {
            return None;
        }
        let n = popup.len();
        let selected = self.popup_selected().min(n - 1);
        // Up/Down keep walking the history through a recalled command.
        let browsing = self.input.is_browsing();
        match key.code {
            KeyCode::Up if !browsing => self.popup_mut().selected = (selected + n - 1) % n,
            KeyCode::Down if !browsing => self.popup_mut().selected = (selected + 1) % n,
            // Tab extends what the matches share, as a shell does, until an entry
            // is chosen or nothing more is shared; then it takes the entry.
            KeyCode::Tab => {
                let shared = (selected == 0)
                    .then(|| command::complete(&self.session, self.input.text()))
                    .flatten();
                let text = shared.unwrap_or_else(|| format!("/{} ", popup[selected].name()));
                self.input.set_text(text);
            }
            KeyCode::Enter => {
                self.input.set_text(format!("/{}", popup[selected].name()));
                return Some(self.submit());
            }
            KeyCode::Esc if !self.is_busy() => self.popup_mut().hidden = true,
            _ => return None,
        }
        Some(Vec::new())
    }

    /// Keys while Ctrl-R searches the prompt history: typing narrows, Ctrl-R finds an
    /// older match, Enter or an editing key takes the match, Esc or Ctrl-G gives up.
    fn on_search_key(&mut self, key: KeyEvent, ctrl: bool) -> Vec<Effect> {
        match key.code {
            KeyCode::Char('r') if ctrl => self.input.search_back(),
            KeyCode::Char('g' | 'c') if ctrl => self.input.search_cancel(),
            KeyCode::Esc => self.input.search_cancel(),
            KeyCode::Backspace => self.input.search_backspace(),
            KeyCode::Enter => {
                self.input.search_accept();
                return self.submit();
            }
            KeyCode::Char(c) if !ctrl => {
                let mut buf = [0u8; 4];
                self.input.search_type(c.encode_utf8(&mut buf));
            }
            _ => {
                // Any other key takes the match into the editor and acts there.
                self.input.search_accept();
                return self.on_key(key);
            }
        }
        Vec::new()
    }

    /// Ctrl-T: every answer's reasoning shown in full, or folded to one line.
    fn toggle_reasoning(&mut self) {
        self.view.show_reasoning = !self.view.show_reasoning;
        let show = self.view.show_reasoning;
        for i in 0..self.view.cells.len() {
            let has = matches!(
                self.view.cells.get(i).map(HistoryCell::kind),
                Some(CellKind::Assistant { extras: Some(e), .. }) if !e.reasoning.is_empty()
            );
            if !has {
                continue;
            }
            // kind_mut forgets the cell's height, so it is re-measured.
            if let Some(CellKind::Assistant {
                extras: Some(e), ..
            }) = self.view.cells.get_mut(i).map(HistoryCell::kind_mut)
            {
                e.show_reasoning = show;
            }
        }
    }

    pub(super) fn on_paste(&mut self, text: &str) {
        self.control.dirty = true;
        self.input.insert(text);
    }

    /// The wheel scrolls three lines; clicks and drags do nothing.
    pub(super) fn on_mouse(&mut self, mouse: MouseEvent) {
        match mouse.kind {
            MouseEventKind::ScrollUp => self.view.scroll_up(3),
            MouseEventKind::ScrollDown => self.view.scroll_down(3),
            MouseEventKind::Down(_)
            | MouseEventKind::Up(_)
            | MouseEventKind::Drag(_)
            | MouseEventKind::Moved
            | MouseEventKind::ScrollLeft
            | MouseEventKind::ScrollRight => return,
        }
        self.control.dirty = true;
    }

    /// Tab on a last word `@partial`: completes it to a file path (as far as the
    /// matches agree), listing the choices when several fit. False when the last
    /// word is no `@` mention.
    fn complete_mention(&mut self) -> bool {
        let text = self.input.text();
        if text.ends_with(char::is_whitespace) {
            return false;
        }
        let start = text.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let Some(partial) = text[start..].strip_prefix('@') else {
            return false;
        };
        let cwd = std::env::current_dir().unwrap_or_default();
        let choices = crate::attach::complete_path(partial, &cwd);
        let Some(first) = choices.first() else {
            return true;
        };
        let common: String = choices.iter().skip(1).fold(first.clone(), |common, c| {
            common
                .chars()
                .zip(c.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect()
        });
        let done = choices.len() == 1 && !common.ends_with('/');
        let completed = format!("{}@{common}{}", &text[..start], if done { " " } else { "" });
        if completed != text {
            self.input.set_text(completed);
        } else if choices.len() > 1 {
            self.output(choices.join("  "), false);
        }
        true
    }

    /// Enter: a command runs, a prompt is sent.
    fn submit(&mut self) -> Vec<Effect> {
        if self.input.text().trim().is_empty() {
            return Vec::new();
        }
        let text = self.input.take();
        // Typing resumes following the conversation.
        self.view.scroll = 0;
        let start = text.trim_start();
        // `//text` sends `/text`; a first word like `/usr/bin/python3` is a path,
        // never a command, so it is sent as typed.
        if let Some(rest) = start.strip_prefix("//") {
            return self.send_prompt(format!("/{rest}"));
        }
        let first_word = start.split_whitespace().next().unwrap_or_default();
        let is_path = first_word.get(1..).is_some_and(|w| w.contains('/'));
        if command::is_command(&text) && !is_path {
            return self.run_command(text.trim());
        }
        self.send_prompt(text)
    }
}
