//! Keys, paste and the mouse wheel: editing the prompt, scrolling, leaving, and
//! Enter, which sends a prompt or runs a command.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::{App, Effect, Quit};
use crate::command;

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        self.control.dirty = true;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        if !(ctrl && key.code == KeyCode::Char('c')) && self.control.quit == Quit::Armed {
            self.control.quit = Quit::No;
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
                } else {
                    self.input.delete();
                }
            }
            KeyCode::Esc if self.is_busy() => return self.cancel(),
            KeyCode::Esc => {}
            KeyCode::Enter if shift || alt => self.input.insert("\n"),
            KeyCode::Char('j') if ctrl => self.input.insert("\n"),
            KeyCode::Enter => return self.submit(),
            KeyCode::Tab => {
                if let Some(done) = command::complete(&self.session, self.input.text()) {
                    self.input.set_text(done);
                }
            }
            // Up/Down move between the input's lines, then through prompt history.
            KeyCode::Up if !self.input.up() => self.input.history_prev(),
            KeyCode::Down if !self.input.down() => self.input.history_next(),
            KeyCode::Up | KeyCode::Down => {}
            KeyCode::PageUp => self.view.scroll_up(self.view.page.saturating_sub(2).max(1)),
            KeyCode::PageDown => self
                .view
                .scroll_down(self.view.page.saturating_sub(2).max(1)),
            KeyCode::Home => self.view.scroll = self.view.max_scroll(),
            KeyCode::End => self.view.scroll = 0,
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Char('a') if ctrl => self.input.line_start(),
            KeyCode::Char('e') if ctrl => self.input.line_end(),
            KeyCode::Char('u') if ctrl => self.input.clear(),
            KeyCode::Char('w') if ctrl => self.input.delete_word(),
            KeyCode::Char('l') if ctrl => {}
            KeyCode::Char(c) if !ctrl => {
                let mut buf = [0u8; 4];
                self.input.insert(c.encode_utf8(&mut buf));
            }
            _ => {}
        }
        Vec::new()
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

    /// Enter: a command runs, a prompt is sent.
    fn submit(&mut self) -> Vec<Effect> {
        if self.input.text().trim().is_empty() {
            return Vec::new();
        }
        let text = self.input.take();
        // Typing resumes following the conversation.
        self.view.scroll = 0;
        if command::is_command(&text) {
            return self.run_command(text.trim());
        }
        self.send_prompt(text)
    }
}
