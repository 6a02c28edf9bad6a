//! The state store: opening a fleet's state under its lock, reading it (state file plus
//! journal), recording journal records during an apply, compacting, and writing the state file.
//! The lock, the atomic replacement and the journal format live in their own modules; this one
//! decides how they fit together. It never prints: notes for the user are returned.

use super::atomic::{replace_file, sibling};
use super::journal::{JournalBase, JournalWriter, journal_path, read_journal, remove_journal};
use super::lock::{LockWait, StateLock, abandoned_lock_note};
use super::{InFlightStep, JournalRecord, STATE_FORMAT_VERSION, State, StateError};
use std::path::{Path, PathBuf};

/// After this many journal records, `append` compacts the journal into the state file, so that
/// reading the state never replays more than this.
pub const COMPACT_AFTER_RECORDS: usize = 10_000;

/// A fleet's state as read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadState {
    /// The state file with the journal replayed over it.
    pub state: State,
    /// Things the user should know (a torn journal line that was ignored …).
    pub notes: Vec<String>,
}

/// Where the state files live.
#[derive(Debug, Clone, Copy)]
pub struct StateStore;

impl StateStore {
    /// Takes the exclusive lock of the state at `path` for `command` (creating the parent
    /// directories) and reads the state. A missing state file gives a new, empty state for
    /// `fleet`; nothing is written until the state is written or journalled.
    ///
    /// # Errors
    /// [`StateError::Locked`] naming the holder when another process holds the lock;
    /// [`StateError::WrongFleet`] when the file records another fleet;
    /// [`StateError::MissingWithBackup`] when the state file is gone but its backup is there
    /// (nothing is written); the errors of [`read_state`] otherwise.
    pub fn open(path: &Path, fleet: &str, command: &str) -> Result<LockedState, StateError> {
        StateStore::open_waiting(path, fleet, command, LockWait::NEVER)
    }

    /// [`StateStore::open`], waiting as `wait` says while another process holds the lock.
    ///
    /// # Errors
    /// As [`StateStore::open`]; [`StateError::Locked`] once the wait is over.
    pub fn open_waiting(
        path: &Path,
        fleet: &str,
        command: &str,
        wait: LockWait<'_>,
    ) -> Result<LockedState, StateError> {
        let (lock, previous) = StateLock::acquire(path, command, wait)?;
        let mut notes = Vec::new();
        if let Some(previous) = previous {
            notes.push(abandoned_lock_note(&previous));
        }
        let loaded = load(path)?;
        notes.extend(loaded.notes);
        let state = match loaded.state {
            Some(state) if state.fleet != fleet => {
                return Err(StateError::WrongFleet {
                    path: path.to_path_buf(),
                    found: state.fleet,
                    expected: fleet.to_string(),
                });
            }
            Some(state) => state,
            None => State::new(fleet),
        };
        Ok(LockedState {
            path: path.to_path_buf(),
            _lock: lock,
            interrupted: state.in_flight.clone(),
            state,
            on_disk: loaded.on_disk,
            journal: match loaded.journal {
                JournalOnDisk::None => Journal::Absent,
                JournalOnDisk::Stale => Journal::Stale,
                JournalOnDisk::Live { valid_len } => Journal::Resumable { valid_len },
            },
            journalled: loaded.replayed,
            notes,
        })
    }
}

/// The journal of an open state.
#[derive(Debug)]
enum Journal {
    /// There is no journal file.
    Absent,
    /// A journal the state file already contains (compaction stopped before removing it).
    Stale,
    /// A journal continuing the state file, not yet reopened; `valid_len` cuts a torn line.
    Resumable {
        valid_len: u64,
    },
    Open(JournalWriter),
}

/// A fleet's state, held under its exclusive lock; the lock is released on drop.
#[derive(Debug)]
pub struct LockedState {
    path: PathBuf,
    /// Held for as long as this value lives.
    _lock: StateLock,
    /// The state file with the journal replayed over it, plus everything appended since.
    state: State,
    /// Whether a state file exists (the journal needs one to continue).
    on_disk: bool,
    /// The steps an earlier apply started and never finished, as found when opening.
    interrupted: Vec<InFlightStep>,
    journal: Journal,
    /// How many records the journal holds, to compact when it grows large.
    journalled: usize,
    notes: Vec<String>,
}

impl LockedState {
    /// The current state (the state file, the journal, and everything appended since opening).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether no state file exists yet (nothing has been written or journalled).
    pub(crate) fn is_new(&self) -> bool {
        !self.on_disk
    }

    /// The state file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Steps an earlier apply recorded as started and never as finished: it was interrupted.
    pub(crate) fn interrupted(&self) -> &[InFlightStep] {
        &self.interrupted
    }

    /// Things the user should know about how the state was opened (a lock taken over from a
    /// process that died, a torn journal line that was ignored).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Writes `state` as the new state file: its serial becomes the current serial + 1, its
    /// lineage and format are this state's, the previous file is kept as `.backup`, and the
    /// journal (which `state` supersedes) is removed.
    ///
    /// # Errors
    /// [`StateError::WrongFleet`] when `state` is another fleet's; [`StateError::Io`] when the
    /// file cannot be written (the previous state file is then intact).
    pub fn write(&mut self, state: State) -> Result<(), StateError> {
        if state.fleet != self.state.fleet {
            return Err(StateError::WrongFleet {
                path: self.path.clone(),
                found: state.fleet,
                expected: self.state.fleet.clone(),
            });
        }
        let next = State {
            format_version: STATE_FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            lineage: self.state.lineage,
            serial: self.state.serial + 1,
            ..state
        };
        let mut bytes = serde_json::to_vec_pretty(&next)
            .map_err(|source| StateError::Serialize { path: self.path.clone(), source })?;
        bytes.push(b'\n');
        replace_file(&self.path, &bytes, true)?;
        self.state = next;
        self.on_disk = true;
        if !matches!(self.journal, Journal::Absent) {
            self.journal = Journal::Absent;
            remove_journal(&journal_path(&self.path))?;
        }
        self.journalled = 0;
        Ok(())
    }

    /// Records `records` durably in the journal (one write and one fsync for all of them), then
    /// applies them to the in-memory state. Compacts when the journal has grown large. A new
    /// state's file is written first, so that the journal has a state to continue.
    ///
    /// # Errors
    /// [`StateError::Io`] when the journal cannot be written; the in-memory state is then
    /// unchanged and the records must be treated as not recorded.
    pub fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        if !self.on_disk {
            self.write(self.state.clone())?;
        }
        let path = journal_path(&self.path);
        let writer = match std::mem::replace(&mut self.journal, Journal::Absent) {
            Journal::Open(writer) => writer,
            Journal::Resumable { valid_len } => JournalWriter::resume(&path, valid_len)?,
            Journal::Absent | Journal::Stale => {
                let base = JournalBase { lineage: self.state.lineage, serial: self.state.serial };
                JournalWriter::create(&path, base)?
            }
        };
        let writer = self.journal.insert_open(writer);
        if let Err(error) = writer.append(records) {
            // Reopen before the next append, cutting off whatever part of these was written.
            self.journal = Journal::Resumable { valid_len: writer.durable_len() };
            return Err(error);
        }
        for record in records {
            self.state.apply_record(record);
        }
        self.journalled += records.len();
        if self.journalled >= COMPACT_AFTER_RECORDS {
            self.compact()?;
        }
        Ok(())
    }

    /// Folds the journal into the state file (a write with serial + 1) and removes it. Does
    /// nothing when there is no journal.
    ///
    /// # Errors
    /// The errors of [`LockedState::write`].
    pub fn compact(&mut self) -> Result<(), StateError> {
        match self.journal {
            Journal::Absent => Ok(()),
            Journal::Stale => {
                self.journal = Journal::Absent;
                remove_journal(&journal_path(&self.path))
            }
            Journal::Resumable { .. } | Journal::Open(_) => self.write(self.state.clone()),
        }
    }
}

impl Journal {
    fn insert_open(&mut self, writer: JournalWriter) -> &mut JournalWriter {
        *self = Journal::Open(writer);
        match self {
            Journal::Open(writer) => writer,
            _ => unreachable!("just set to Open"),
        }
    }
}

/// Reads the state at `path` without taking the lock: the state file with its journal replayed.
///
/// # Errors
/// [`StateError::Missing`] when there is no state file, [`StateError::MissingWithBackup`] when
/// its backup is there; [`StateError::Corrupt`] (with line and column) when it is not a valid
/// state; [`StateError::NewerFormat`] when a newer pgfleet wrote it;
/// [`StateError::JournalCorrupt`] or [`StateError::JournalMismatch`] for a damaged or foreign
/// journal; [`StateError::Io`] when a file cannot be read.
pub fn read_state(path: &Path) -> Result<State, StateError> {
    read_state_with_notes(path).map(|read| read.state)
}

/// [`read_state`], also returning notes for the user (a torn journal line that was ignored).
///
/// # Errors
/// As [`read_state`].
pub fn read_state_with_notes(path: &Path) -> Result<ReadState, StateError> {
    let loaded = load(path)?;
    match loaded.state {
        Some(state) => Ok(ReadState { state, notes: loaded.notes }),
        None => Err(StateError::Missing { path: path.to_path_buf() }),
    }
}

/// The journal found beside a state file.
enum JournalOnDisk {
    None,
    /// Already part of the state file.
    Stale,
    Live {
        valid_len: u64,
    },
}

/// What is on disk for one state.
struct Loaded {
    /// The state file with the journal replayed; `None` when there is no state file.
    state: Option<State>,
    on_disk: bool,
    journal: JournalOnDisk,
    /// How many journal records were replayed.
    replayed: usize,
    notes: Vec<String>,
}

fn load(path: &Path) -> Result<Loaded, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        // Every write keeps the previous file as the backup, so a backup without its state file
        // means the state file was lost: a new state would overwrite the only copy left.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && backup_path(path).exists() => {
            return Err(StateError::MissingWithBackup {
                path: path.to_path_buf(),
                backup: backup_path(path),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StateError::io("read the state file", path, e)),
    };
    let mut state = bytes.map(|bytes| parse_state(path, &bytes)).transpose()?;
    let journal_file = journal_path(path);
    let mut loaded = Loaded {
        on_disk: state.is_some(),
        state: None,
        journal: JournalOnDisk::None,
        replayed: 0,
        notes: Vec::new(),
    };
    let Some(contents) = read_journal(&journal_file)? else {
        loaded.state = state;
        return Ok(loaded);
    };
    if let Some(torn) = &contents.torn {
        loaded.notes.push(format!(
            "ignored the torn last line of the journal {} ({torn}): a write was interrupted",
            journal_file.display()
        ));
    }
    match (&mut state, contents.base) {
        (_, None) => loaded.journal = JournalOnDisk::Stale,
        (None, Some(_)) => return Err(StateError::OrphanJournal { path: journal_file }),
        (Some(state), Some(base)) if base.lineage == state.lineage && base.serial < state.serial => {
            loaded.journal = JournalOnDisk::Stale;
        }
        (Some(state), Some(base)) if base.lineage == state.lineage && base.serial == state.serial => {
            for record in &contents.records {
                state.apply_record(record);
            }
            loaded.replayed = contents.records.len();
            loaded.journal = JournalOnDisk::Live { valid_len: contents.valid_len };
        }
        (Some(state), Some(base)) => {
            return Err(StateError::JournalMismatch {
                path: journal_file,
                journal_lineage: base.lineage,
                journal_serial: base.serial,
                state_lineage: state.lineage,
                state_serial: state.serial,
            });
        }
    }
    loaded.state = state;
    Ok(loaded)
}

/// Parses a state file, refusing a newer format before trying to read the rest.
fn parse_state(path: &Path, bytes: &[u8]) -> Result<State, StateError> {
    let corrupt = |error: serde_json::Error| {
        let (line, column) = (error.line(), error.column());
        let message = error.to_string();
        let message = message.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&message);
        StateError::Corrupt { path: path.to_path_buf(), line, column, message: message.to_string() }
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(corrupt)?;
    let found = value.get("format_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if found > u64::from(STATE_FORMAT_VERSION) {
        let written_by = value.get("tool_version").and_then(serde_json::Value::as_str).unwrap_or("unknown");
        return Err(StateError::NewerFormat {
            path: path.to_path_buf(),
            found,
            supported: STATE_FORMAT_VERSION,
            written_by: written_by.to_string(),
        });
    }
    serde_json::from_slice(bytes).map_err(corrupt)
}

/// The default state file of a fleet: `state/<fleet>.state.json`.
pub fn default_state_path(fleet: &str) -> PathBuf {
    Path::new("state").join(format!("{fleet}.state.json"))
}

/// The previous state file, kept by every write: `<state>.backup`.
pub fn backup_path(state_path: &Path) -> PathBuf {
    sibling(state_path, ".backup")
}
