//! Terminal set-up and restore, in one place, with a panic hook that restores the
//! terminal before the panic message prints (else it would land in the alternate
//! screen, in raw mode, and vanish).

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
    supports_keyboard_enhancement,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The real terminal.
pub(crate) type Tui = Terminal<CrosstermBackend<Stdout>>;

/// Whether keyboard enhancement was pushed (so restore pops it).
static ENHANCED: AtomicBool = AtomicBool::new(false);
/// Whether the terminal is in chat mode (so restore runs once).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Raw mode, alternate screen, bracketed paste and (when `mouse`) mouse capture;
/// Shift-Enter is told apart from Enter where the terminal supports keyboard
/// enhancement.
pub(crate) fn init(mouse: bool) -> io::Result<Tui> {
    install_panic_hook();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
    if mouse {
        execute!(out, EnableMouseCapture)?;
    }
    if supports_keyboard_enhancement().unwrap_or(false) {
        execute!(
            out,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )?;
        ENHANCED.store(true, Ordering::SeqCst);
    }
    let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
    terminal.clear()?;
    Ok(terminal)
}

/// Writes `text` to the system clipboard through the terminal (OSC 52), which
/// also works over ssh. Inside tmux the sequence is wrapped so tmux passes it on
/// (tmux needs `allow-passthrough on` or `set-clipboard on`).
pub(crate) fn copy_to_clipboard(out: &mut impl Write, text: &str, in_tmux: bool) -> io::Result<()> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let osc = format!("\x1b]52;c;{encoded}\x07");
    if in_tmux {
        // DCS passthrough: ESC doubled inside, ended by ST.
        write!(out, "\x1bPtmux;{}\x1b\\", osc.replace('\x1b', "\x1b\x1b"))?;
    }
    out.write_all(osc.as_bytes())?;
    out.flush()
}

/// Gives the terminal back for a while (an editor runs): cooked mode, the normal
/// screen, no mouse capture. [`resume`] undoes it.
pub(crate) fn suspend() -> io::Result<()> {
    let mut out = io::stdout();
    if ENHANCED.load(Ordering::SeqCst) {
        execute!(out, PopKeyboardEnhancementFlags)?;
    }
    execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    )?;
    disable_raw_mode()
}

/// Takes the terminal back after [`suspend`].
pub(crate) fn resume(mouse: bool) -> io::Result<()> {
    enable_raw_mode()?;
    let mut out = io::stdout();
    execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
    if mouse {
        execute!(out, EnableMouseCapture)?;
    }
    if ENHANCED.load(Ordering::SeqCst) {
        execute!(
            out,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )?;
    }
    Ok(())
}

/// Puts the terminal back as it was. Safe to call more than once.
pub(crate) fn restore() {
    restore_to(&mut io::stdout());
}

/// [`restore`], writing the escape sequences to `out`; separate so a test can
/// watch what it writes and when.
fn restore_to(out: &mut impl Write) {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    if ENHANCED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

fn install_panic_hook() {
    install_panic_hook_with(restore);
}

/// Chains a hook before the current one (which prints the message): `restore`
/// runs first, so the message lands on the normal screen, in cooked mode.
fn install_panic_hook_with(restore: impl Fn() + Send + Sync + 'static) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Set only by [`panic_restores_the_terminal_before_the_message_prints`] for
    /// the copy of the test binary it starts.
    const CHILD_ENV: &str = "BATON_TEST_PANIC_HOOK_CHILD";
    const CHILD_TEST: &str = "tui::terminal::tests::panicking_child";
    const LEAVE_ALTERNATE_SCREEN: &str = "\x1b[?1049l";

    #[test]
    fn the_clipboard_sequence_is_osc_52_and_tmux_gets_it_wrapped() {
        let mut out = Vec::new();
        copy_to_clipboard(&mut out, "héllo", false).unwrap();
        assert_eq!(out, b"\x1b]52;c;aMOpbGxv\x07");
        let mut out = Vec::new();
        copy_to_clipboard(&mut out, "hi", true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\\x1b]52;c;aGk=\x07"
        );
    }

    /// The child: the terminal in chat mode, the real hook installed in front of
    /// the default one, then a panic. Does nothing in a normal test run.
    #[test]
    fn panicking_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        ACTIVE.store(true, Ordering::SeqCst);
        // The real restore, writing to stderr so its output and the message
        // (printed to stderr by the default hook) share one ordered stream.
        install_panic_hook_with(|| restore_to(&mut io::stderr()));
        panic!("boom from the child");
    }

    /// The panic hook restores the terminal before the message prints: run the
    /// child in its own process (a panic hook is process-wide) and read its stderr.
    #[test]
    fn panic_restores_the_terminal_before_the_message_prints() {
        let exe = std::env::current_exe().unwrap();
        let output = Command::new(exe)
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "the child did not panic: {stderr}"
        );
        let restored = stderr.find(LEAVE_ALTERNATE_SCREEN);
        let message = stderr.find("boom from the child");
        match (restored, message) {
            (Some(r), Some(m)) => assert!(r < m, "message before restore: {stderr:?}"),
            _ => panic!("restore or message missing: {stderr:?}"),
        }
        // The cursor comes back too, and the rest of the chat-mode set-up is undone.
        assert!(stderr.contains("\x1b[?25h"), "{stderr:?}");
        assert!(
            stderr.contains("\x1b[?1000l"),
            "mouse capture left on: {stderr:?}"
        );
    }

    const ARCHIVE_CHILD_TEST: &str = "tui::terminal::tests::panicking_child_with_an_archive";

    /// Says on stderr when the archive writes, so the parent sees the order.
    struct LoudSink;

    impl crate::archive::Sink for LoudSink {
        fn append(&mut self, _session: &str, _lines: &[u8]) -> io::Result<()> {
            eprintln!("archive-written");
            Ok(())
        }
    }

    /// The child: hooks installed in `tui::run`'s order (the archive's flush, then
    /// the terminal's restore), a record waiting in a long coalescing window, then a
    /// panic. Does nothing in a normal test run.
    #[test]
    fn panicking_child_with_an_archive() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let home = crate::home::Home::at(std::env::temp_dir().join("baton-panic-child"));
        let mut config = crate::archive::ArchiveConfig::new(&home);
        // Only a flush writes within the test's time.
        config.coalesce = std::time::Duration::from_secs(3600);
        let archive = crate::archive::Archive::start_with_sink(&config, Box::new(LoudSink));
        archive.flush_on_panic();
        ACTIVE.store(true, Ordering::SeqCst);
        install_panic_hook_with(|| restore_to(&mut io::stderr()));
        crate::archive::SessionLog::new(archive.handle(), "child").user("queued");
        panic!("boom from the child");
    }

    /// A panic restores the terminal, then flushes the archive, then prints.
    #[test]
    fn panic_restores_then_flushes_the_archive_then_prints() {
        let exe = std::env::current_exe().unwrap();
        let output = Command::new(exe)
            .args([
                ARCHIVE_CHILD_TEST,
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let restored = stderr.find(LEAVE_ALTERNATE_SCREEN);
        let written = stderr.find("archive-written");
        let message = stderr.find("boom from the child");
        match (restored, written, message) {
            (Some(r), Some(w), Some(m)) => assert!(r < w && w < m, "wrong order: {stderr:?}"),
            _ => panic!("restore, flush or message missing: {stderr:?}"),
        }
    }

    #[test]
    fn restore_runs_once() {
        let mut first = Vec::new();
        let mut second = Vec::new();
        // Only this test touches ACTIVE in this process; the child runs elsewhere.
        ACTIVE.store(true, Ordering::SeqCst);
        restore_to(&mut first);
        restore_to(&mut second);
        assert!(String::from_utf8_lossy(&first).contains(LEAVE_ALTERNATE_SCREEN));
        assert!(second.is_empty());
    }
}
