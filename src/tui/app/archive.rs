//! What the chat records in the archive: prompts, the engine's events, the
//! settings and profile commands change, and a stats snapshot after an answer on
//! a load balancer, as one-shot runs record. The writer's status comes back as
//! [`AppEvent::Archive`](crate::tui::event::AppEvent::Archive).

use super::App;
use crate::archive::{self, ArchiveHandle, Event, SessionLog, WriterStatus};
use crate::command::{self, SlashCommand, strings};
use crate::config::Settings;

/// Where the conversation's records go.
#[derive(Debug)]
pub(super) struct Archiving {
    handle: ArchiveHandle,
    log: SessionLog,
    /// `session_started` is written with the first record, so a chat that was only
    /// opened and closed leaves no file behind.
    begun: bool,
    /// The session continues a stored one.
    resumed: bool,
    /// The "archive is off until the next start" notice was shown.
    told_off_at_start: bool,
}

impl App {
    /// Archives the conversation through `handle` (a handle of an archive that is
    /// off writes nothing). `resumed` when the session continues a stored one.
    pub(crate) fn with_archive(mut self, handle: ArchiveHandle, resumed: bool) -> Self {
        let log = SessionLog::new(handle.clone(), self.session.session_id());
        self.archiving = Some(Archiving {
            handle,
            log,
            begun: false,
            resumed,
            told_off_at_start: false,
        });
        self
    }

    /// The session this chat recorded into, if it recorded anything.
    pub(crate) fn archived_session(&self) -> Option<&str> {
        let a = self.archiving.as_ref().filter(|a| a.begun)?;
        Some(a.log.id())
    }

    /// The log to record into, or `None` when nothing may be written (`archive =
    /// off` now, or no archive). Begins the session's file on first use, and
    /// follows the session to a new id after `/resume`.
    pub(super) fn archive_log(&mut self) -> Option<&mut SessionLog> {
        if !archive::enabled_in(self.session.settings()) {
            return None;
        }
        let a = self.archiving.as_mut()?;
        let id = self.session.session_id();
        if a.log.id() != id {
            a.log = SessionLog::new(a.handle.clone(), id);
            a.begun = false;
            a.resumed = true;
        }
        if !a.begun {
            a.log.started(self.session.profile_name(), a.resumed);
            a.begun = true;
        }
        Some(&mut a.log)
    }

    /// Records what a command changed: each setting `/set` changed (against
    /// `before`), or the profile `/profile load` loaded.
    pub(super) fn archive_command(
        &mut self,
        command: Option<SlashCommand>,
        args: &str,
        before: Option<Settings>,
    ) {
        match command {
            Some(SlashCommand::Set | SlashCommand::System | SlashCommand::Role) => {
                let Some(before) = before else { return };
                let after = self.session.settings().clone();
                let mut keys: Vec<&str> = before.iter().map(|(k, _)| k).collect();
                keys.extend(after.iter().map(|(k, _)| k));
                keys.sort_unstable();
                keys.dedup();
                let changed: Vec<&str> = keys
                    .into_iter()
                    .filter(|k| before.get(k) != after.get(k))
                    .collect();
                if changed.contains(&"archive") {
                    self.archive_turned(archive::enabled_in(&after));
                }
                if let Some(log) = self.archive_log() {
                    for key in changed {
                        log.setting(key, after.get(key));
                    }
                }
            }
            Some(SlashCommand::Profile) if command::split_word(args).0 == "load" => {
                let profile = self.session.profile_name().to_string();
                if let Some(log) = self.archive_log() {
                    log.record(Event::ProfileChanged { profile });
                }
            }
            Some(_) | None => {}
        }
    }

    /// `/set archive on|off`: says when turning it on cannot take effect now (the
    /// chat started with it off, so no writer runs).
    fn archive_turned(&mut self, on: bool) {
        let Some(a) = &mut self.archiving else { return };
        if on && !a.handle.is_enabled() && !a.told_off_at_start {
            a.told_off_at_start = true;
            self.notice(strings::ARCHIVE_ON_NEXT_START);
        }
    }

    /// After an answer on a load balancer, a snapshot of its engine (breakers, TPM,
    /// metrics) for the archive, as one-shot runs record.
    pub(super) fn archive_stats(&mut self) {
        let Some(engine) = self.status.followed().filter(|e| e.is_persistent()) else {
            return;
        };
        let (profile, snapshot) = (engine.profile().to_string(), engine.snapshot());
        if let Some(log) = self.archive_log() {
            log.stats(&profile, snapshot);
        }
    }

    /// The writer's status changed: a failing disk shows in the status bar until
    /// it writes again.
    pub(super) fn on_archive_status(&mut self, status: WriterStatus) {
        let error = match status {
            WriterStatus::Failing { error } => Some(error),
            WriterStatus::Ok | WriterStatus::Off => None,
        };
        if self.status.set_archive_error(error) {
            self.control.dirty = true;
        }
    }
}
