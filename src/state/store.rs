//! The state store: opening a fleet's state under its lock, reading it (state plus journal),
//! recording journal records during an apply, compacting, and writing the state, in whichever
//! backend keeps it. The lock, the atomic replacement, the journal format and each backend's I/O
//! live in their own modules; this one decides how they fit together. It never prints: notes
//! for the user are returned.

use super::backend::{self, Backend, BackendConfig, LockGuard};
use super::journal::{JournalBase, JournalContents, header_line, parse_journal, record_lines};
use super::lock::{LockHolder, LockStatus, LockWait, abandoned_lock_note};
use super::{InFlightStep, JournalRecord, STATE_FORMAT_VERSION, State, StateError};
use std::path::{Path, PathBuf};

/// After this many journal records, or as many as the state has servers if that is more,
/// `append` compacts the journal into the state file, so that reading the state never replays
/// more than this. The threshold grows with the state because a compaction rewrites the whole
/// state: a fixed one made an apply of N servers O(N²) in state writes.
pub const COMPACT_AFTER_RECORDS: usize = 10_000;

/// A fleet's state as read from its backend.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadState {
    /// The state with the journal replayed over it.
    pub state: State,
    /// Things the user should know (a torn journal line that was ignored …).
    pub notes: Vec<String>,
}

/// A state as its backend keeps it: the state document, and the journal records that continue
/// it (what `state migrate` copies as it is).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredParts {
    /// The state document; `None` when there is none.
    pub state: Option<State>,
    /// The records of the journal that continues it (none when the journal is stale or absent).
    pub records: Vec<JournalRecord>,
    pub notes: Vec<String>,
}

/// The backend of one state, not locked: what commands use to read, inspect or break the lock,
/// and to open the state under its lock.
#[derive(Debug)]
pub struct StateBackend {
    inner: Box<dyn Backend>,
}

impl StateBackend {
    /// Opens the backend `config` describes.
    ///
    /// # Errors
    /// [`StateError::Settings`] for unusable settings; [`StateError::Backend`] when a pg server
    /// cannot be reached.
    pub fn open(config: &BackendConfig) -> Result<StateBackend, StateError> {
        Ok(StateBackend { inner: backend::open(config)? })
    }

    /// The local state file at `path`.
    pub fn file(path: &Path) -> StateBackend {
        StateBackend { inner: Box::new(backend::file::FileBackend::new(path)) }
    }

    /// The state as messages name it (`file state/payments.state.json`, `blob https://…`).
    pub fn describe(&self) -> &str {
        &self.inner.names().state
    }

    /// Whether the lock is free, held, or left behind by a holder that ended.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn lock_status(&mut self) -> Result<LockStatus, StateError> {
        self.inner.lock_status()
    }

    /// Breaks the lock, whoever holds it; returns the holder it named.
    ///
    /// # Errors
    /// The backend's errors.
    pub fn force_unlock(&mut self) -> Result<Option<LockHolder>, StateError> {
        self.inner.force_unlock()
    }

    /// Reads the state without taking the lock: the state with its journal replayed.
    ///
    /// # Errors
    /// As [`read_state`].
    pub fn read(&mut self) -> Result<ReadState, StateError> {
        let loaded = load(self.inner.as_mut())?;
        match loaded.state {
            Some(state) => Ok(ReadState { state, notes: loaded.notes }),
            None => Err(StateError::Missing { state: self.inner.names().state.clone() }),
        }
    }

    /// Reads the state document and its journal's records apart, without the lock.
    ///
    /// # Errors
    /// As [`read_state`], [`StateError::Missing`] aside: a missing state has no parts.
    pub fn read_parts(&mut self) -> Result<StoredParts, StateError> {
        read_parts(self.inner.as_mut()).map(|(parts, _)| parts)
    }

    /// Takes the lock for `command`, waiting as `wait` says, and returns the guard (released on
    /// drop) and the holder it was taken over from.
    ///
    /// # Errors
    /// [`StateError::Locked`] naming the holder; the backend's errors.
    pub fn lock(&mut self, command: &str, wait: LockWait<'_>) -> Result<HeldLock, StateError> {
        let acquired = self.inner.lock(command, wait)?;
        Ok(HeldLock { _guard: acquired.guard, previous: acquired.previous })
    }
}

/// A lock held outside a [`LockedState`] (to read under it); released on drop.
#[derive(Debug)]
pub struct HeldLock {
    _guard: Box<dyn LockGuard>,
    /// The holder the lock was taken over from (it ended without releasing it).
    pub previous: Option<LockHolder>,
}

/// Opens states under their lock.
#[derive(Debug, Clone, Copy)]
pub struct StateStore;

impl StateStore {
    /// Takes the exclusive lock of the state file at `path` for `command` (creating the parent
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
        StateStore::open_in(StateBackend::file(path), fleet, command, wait)
    }

    /// [`StateStore::open_waiting`] in any backend.
    ///
    /// # Errors
    /// As [`StateStore::open`], and the backend's errors.
    pub fn open_in(
        backend: StateBackend,
        fleet: &str,
        command: &str,
        wait: LockWait<'_>,
    ) -> Result<LockedState, StateError> {
        let mut backend = backend.inner;
        let acquired = backend.lock(command, wait)?;
        let mut notes = Vec::new();
        if let Some(previous) = &acquired.previous {
            notes.push(abandoned_lock_note(previous));
        }
        let loaded = load(backend.as_mut())?;
        notes.extend(loaded.notes);
        let state = match loaded.state {
            Some(state) if state.fleet != fleet => {
                return Err(StateError::WrongFleet {
                    state: backend.names().state.clone(),
                    found: state.fleet,
                    expected: fleet.to_string(),
                });
            }
            Some(state) => state,
            None => State::new(fleet),
        };
        Ok(LockedState {
            backend,
            _lock: acquired.guard,
            interrupted: state.in_flight.clone(),
            stored: loaded.on_disk.then_some(JournalBase { lineage: state.lineage, serial: state.serial }),
            state,
            journal: loaded.journal,
            journalled: loaded.replayed,
            unsaved: None,
            notes,
        })
    }
}

/// The journal of an open state.
#[derive(Debug, Clone, Copy)]
enum Journal {
    /// There is no journal.
    Absent,
    /// A journal the state already contains (compaction stopped before removing it).
    Stale,
    /// A journal continuing the state, not yet reopened; `valid_len` cuts a torn line.
    Resumable { valid_len: u64 },
    /// The backend has the journal open for appending.
    Open,
}

/// A fleet's state, held under its exclusive lock; the lock is released on drop.
#[derive(Debug)]
pub struct LockedState {
    backend: Box<dyn Backend>,
    /// Held for as long as this value lives.
    _lock: Box<dyn LockGuard>,
    /// The state with the journal replayed over it, plus everything appended since.
    state: State,
    /// The lineage and serial of the state the backend holds (`None`: it holds none yet), which
    /// every write must still find there.
    stored: Option<JournalBase>,
    /// The steps an earlier apply started and never finished, as found when opening.
    interrupted: Vec<InFlightStep>,
    journal: Journal,
    /// How many records the journal holds, to compact when it grows large.
    journalled: usize,
    /// Once an append failed: the state with every record handed over since, which the backend
    /// does not have. Later appends are not tried (the journal would skip the failed records);
    /// the next write tries to save it all.
    unsaved: Option<State>,
    notes: Vec<String>,
}

impl LockedState {
    /// The current state (the state, the journal, and everything durably appended since
    /// opening).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the backend holds no state yet (nothing has been written or journalled).
    pub(crate) fn is_new(&self) -> bool {
        self.stored.is_none()
    }

    /// The state as messages name it (`file state/payments.state.json`, `blob https://…`).
    pub fn describe(&self) -> &str {
        &self.backend.names().state
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

    /// Whether records were handed to [`LockedState::append`] that the backend does not have.
    pub fn has_unsaved(&self) -> bool {
        self.unsaved.is_some()
    }

    /// What a write would save now: the state with every record handed over (saved or not), its
    /// serial the next one. This is what goes into `errored.state.json` when the backend cannot
    /// be written.
    pub fn pending(&self) -> State {
        let state = self.unsaved.as_ref().unwrap_or(&self.state);
        State {
            format_version: STATE_FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            serial: self.state.serial + 1,
            ..state.clone()
        }
    }

    /// Writes `state` as the new state: its serial becomes the current serial + 1, its lineage
    /// and format are this state's, the previous state is kept as the backup, and the journal
    /// (which `state` supersedes) is removed. Records that could not be appended are
    /// superseded too: `state` is the caller's whole truth.
    ///
    /// # Errors
    /// [`StateError::WrongFleet`] when `state` is another fleet's; [`StateError::Conflict`] when
    /// the backend's state moved since it was read; the backend's errors when it cannot be
    /// written (the previous state is then intact).
    pub fn write(&mut self, state: State) -> Result<(), StateError> {
        let next = State {
            format_version: STATE_FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            lineage: self.state.lineage,
            serial: self.state.serial + 1,
            ..state
        };
        self.replace(next)
    }

    /// Writes `state` exactly as it is (its lineage and serial included: `state push`, `state
    /// migrate`), keeping the previous state as the backup and removing the journal.
    ///
    /// # Errors
    /// As [`LockedState::write`].
    pub fn replace(&mut self, state: State) -> Result<(), StateError> {
        if state.fleet != self.state.fleet {
            return Err(StateError::WrongFleet {
                state: self.describe().to_string(),
                found: state.fleet,
                expected: self.state.fleet.clone(),
            });
        }
        let mut bytes = serde_json::to_vec_pretty(&state)
            .map_err(|source| StateError::Serialize { state: self.describe().to_string(), source })?;
        bytes.push(b'\n');
        self.backend.write_state(&bytes, self.stored)?;
        self.stored = Some(JournalBase { lineage: state.lineage, serial: state.serial });
        self.state = state;
        self.unsaved = None;
        if !matches!(self.journal, Journal::Absent) {
            self.journal = Journal::Absent;
            self.backend.remove_journal()?;
        }
        self.journalled = 0;
        Ok(())
    }

    /// Records `records` durably in the journal (one durable append for all of them), then
    /// applies them to the in-memory state. Compacts when the journal has grown large. A new
    /// state is written first, so that the journal has a state to continue.
    ///
    /// # Errors
    /// The backend's errors when the journal cannot be written; the records then count as not
    /// recorded (the in-memory state is unchanged), and so does everything appended later
    /// (kept for [`LockedState::pending`] and the next write).
    pub fn append(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        if let Some(unsaved) = &mut self.unsaved {
            for record in records {
                unsaved.apply_record(record);
            }
            return Err(StateError::Backend {
                action: "append to".into(),
                target: self.backend.names().journal.clone(),
                message: "an earlier append failed, so later records are kept for the next write".into(),
                unreachable: false,
            });
        }
        match self.try_append(records) {
            Ok(()) => {
                for record in records {
                    self.state.apply_record(record);
                }
                self.journalled += records.len();
                if self.journalled >= COMPACT_AFTER_RECORDS.max(self.state.servers.len()) {
                    self.compact()?;
                }
                Ok(())
            }
            Err(error) => {
                let mut unsaved = self.state.clone();
                for record in records {
                    unsaved.apply_record(record);
                }
                self.unsaved = Some(unsaved);
                Err(error)
            }
        }
    }

    fn try_append(&mut self, records: &[JournalRecord]) -> Result<(), StateError> {
        if self.stored.is_none() {
            self.write(self.state.clone())?;
        }
        match self.journal {
            Journal::Open => {}
            Journal::Resumable { valid_len } => self.backend.resume_journal(valid_len)?,
            Journal::Absent | Journal::Stale => {
                let base = JournalBase { lineage: self.state.lineage, serial: self.state.serial };
                self.backend.create_journal(&header_line(base))?;
            }
        }
        self.journal = Journal::Open;
        let lines = record_lines(records, &self.backend.names().journal)?;
        if let Err(error) = self.backend.append_journal(&lines) {
            // Reopen before the next append, cutting off whatever part of these was written.
            self.journal = Journal::Resumable { valid_len: self.backend.journal_len() };
            return Err(error);
        }
        Ok(())
    }

    /// Folds the journal (and whatever could not be appended) into the state (a write with
    /// serial + 1) and removes it. Does nothing when there is no journal and nothing unsaved.
    ///
    /// # Errors
    /// The errors of [`LockedState::write`].
    pub fn compact(&mut self) -> Result<(), StateError> {
        if let Some(unsaved) = self.unsaved.clone() {
            return self.write(unsaved);
        }
        match self.journal {
            Journal::Absent => Ok(()),
            Journal::Stale => {
                self.journal = Journal::Absent;
                self.backend.remove_journal()
            }
            Journal::Resumable { .. } | Journal::Open => self.write(self.state.clone()),
        }
    }
}

/// Reads the state file at `path` without taking the lock: the state with its journal replayed.
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
    StateBackend::file(path).read()
}

/// What a backend holds for one state, as the store reads it.
struct Loaded {
    /// The state with the journal replayed; `None` when there is no state.
    state: Option<State>,
    on_disk: bool,
    journal: Journal,
    /// How many journal records were replayed.
    replayed: usize,
    notes: Vec<String>,
}

fn load(backend: &mut dyn Backend) -> Result<Loaded, StateError> {
    let (parts, journal) = read_parts(backend)?;
    let on_disk = parts.state.is_some();
    let replayed = parts.records.len();
    let state = parts.state.map(|mut state| {
        for record in &parts.records {
            state.apply_record(record);
        }
        state
    });
    Ok(Loaded { state, on_disk, journal, replayed, notes: parts.notes })
}

/// The state document and the records of the journal continuing it, and how to go on with
/// that journal.
fn read_parts(backend: &mut dyn Backend) -> Result<(StoredParts, Journal), StateError> {
    let stored = backend.read()?;
    let names = backend.names().clone();
    let state = match &stored.state {
        Some(bytes) => Some(parse_state(&names.state, &names.backup, bytes)?),
        // Every write keeps the previous state as the backup, so a backup without its state
        // means the state was lost: a new state would overwrite the only copy left.
        None if stored.backup_exists => {
            return Err(StateError::MissingWithBackup {
                state: names.state,
                backup: names.backup,
                restore: names.restore,
            });
        }
        None => None,
    };
    let mut parts = StoredParts { state, records: Vec::new(), notes: Vec::new() };
    let Some(bytes) = &stored.journal else { return Ok((parts, Journal::Absent)) };
    let contents: JournalContents = parse_journal(bytes, &names.journal)?;
    if let Some(torn) = &contents.torn {
        parts.notes.push(format!(
            "ignored the torn last line of the journal {} ({torn}): a write was interrupted",
            names.journal
        ));
    }
    let journal = match (&parts.state, contents.base) {
        (_, None) => Journal::Stale,
        (None, Some(_)) => return Err(StateError::OrphanJournal { journal: names.journal }),
        (Some(state), Some(base)) if base.lineage == state.lineage && base.serial < state.serial => {
            Journal::Stale
        }
        (Some(state), Some(base)) if base.lineage == state.lineage && base.serial == state.serial => {
            parts.records = contents.records;
            Journal::Resumable { valid_len: contents.valid_len }
        }
        (Some(state), Some(base)) => {
            return Err(StateError::JournalMismatch {
                journal: names.journal,
                journal_lineage: base.lineage,
                journal_serial: base.serial,
                state_lineage: state.lineage,
                state_serial: state.serial,
            });
        }
    };
    Ok((parts, journal))
}

/// Parses a state document, refusing a newer format before trying to read the rest. `state`
/// and `backup` name it and its backup in errors.
///
/// # Errors
/// [`StateError::Corrupt`], [`StateError::NewerFormat`].
pub(crate) fn parse_state(state: &str, backup: &str, bytes: &[u8]) -> Result<State, StateError> {
    let corrupt = |error: serde_json::Error| {
        let (line, column) = (error.line(), error.column());
        let message = error.to_string();
        let message = message.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&message);
        StateError::Corrupt {
            state: state.to_string(),
            backup: backup.to_string(),
            line,
            column,
            message: message.to_string(),
        }
    };
    /// The fields that say which pgfleet wrote the state, read before the rest (which a newer
    /// format may shape differently); the rest of the document is skipped, not built.
    #[derive(serde::Deserialize)]
    struct Header {
        #[serde(default)]
        format_version: Option<u64>,
        #[serde(default)]
        tool_version: Option<String>,
    }
    let header: Header = serde_json::from_slice(bytes).map_err(corrupt)?;
    let found = header.format_version.unwrap_or(0);
    if found > u64::from(STATE_FORMAT_VERSION) {
        let written_by = header.tool_version.as_deref().unwrap_or("unknown");
        return Err(StateError::NewerFormat {
            state: state.to_string(),
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
    super::atomic::sibling(state_path, ".backup")
}
