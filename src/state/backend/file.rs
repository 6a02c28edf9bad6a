//! The local backend: the state file (`state/payments.state.json`), replaced atomically with the
//! previous version kept as `.backup`, its `.journal` appended to and fsynced, and its `.lock`
//! (an OS file lock, freed by the OS when its holder dies). The pieces live in `atomic`,
//! `journal` and `lock`; this module fits them to the [`Backend`] trait.

use super::{Acquired, Backend, LockGuard, Names, Stored};
use crate::state::StateError;
use crate::state::atomic::replace_file;
use crate::state::journal::{JournalBase, JournalWriter, journal_path, remove_journal};
use crate::state::lock::{self, LockHolder, LockStatus, LockWait, StateLock};
use crate::state::store::backup_path;
use std::path::{Path, PathBuf};

/// The state file at `path` and the files beside it.
#[derive(Debug)]
pub(crate) struct FileBackend {
    path: PathBuf,
    names: Names,
    /// The journal, once created or resumed.
    journal: Option<JournalWriter>,
}

impl LockGuard for StateLock {}

impl FileBackend {
    pub(crate) fn new(path: &Path) -> FileBackend {
        let backup = backup_path(path);
        let names = Names {
            state: format!("file {}", path.display()),
            journal: format!("file {}", journal_path(path).display()),
            backup: backup.display().to_string(),
            restore: format!(
                "cp {} {}",
                crate::state::error::shell_quoted(&backup),
                crate::state::error::shell_quoted(path)
            ),
        };
        FileBackend { path: path.to_path_buf(), names, journal: None }
    }

    /// The lineage and serial of the state file now on disk (`None`: no file).
    fn on_disk(&self) -> Result<Option<JournalBase>, StateError> {
        #[derive(serde::Deserialize)]
        struct Version {
            lineage: uuid::Uuid,
            serial: u64,
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::io("read the state file", &self.path, e)),
        };
        let version: Version = serde_json::from_slice(&bytes).map_err(|error| StateError::Corrupt {
            state: self.names.state.clone(),
            backup: self.names.backup.clone(),
            line: error.line(),
            column: error.column(),
            message: error.to_string(),
        })?;
        Ok(Some(JournalBase { lineage: version.lineage, serial: version.serial }))
    }
}

impl Backend for FileBackend {
    fn names(&self) -> &Names {
        &self.names
    }

    fn lock(&mut self, command: &str, wait: LockWait<'_>) -> Result<Acquired, StateError> {
        let (lock, previous) = StateLock::acquire(&self.path, command, wait)?;
        Ok(Acquired { guard: Box::new(lock), previous })
    }

    fn lock_status(&mut self) -> Result<LockStatus, StateError> {
        lock::lock_status(&self.path)
    }

    fn force_unlock(&mut self) -> Result<Option<LockHolder>, StateError> {
        lock::force_unlock(&self.path)
    }

    fn read(&mut self) -> Result<Stored, StateError> {
        let read = |path: &Path, what: &str| match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::io(format!("read the {what}"), path, e)),
        };
        let state = read(&self.path, "state file")?;
        let journal = read(&journal_path(&self.path), "journal")?;
        let backup_exists = state.is_none() && backup_path(&self.path).exists();
        Ok(Stored { state, journal, backup_exists })
    }

    fn write_state(&mut self, bytes: &[u8], expected: Option<JournalBase>) -> Result<(), StateError> {
        // The lock keeps other pgfleet processes out; this check also catches a writer whose lock
        // was broken with `force-unlock --even-if-held`.
        let found = self.on_disk()?;
        if found != expected {
            return Err(StateError::Conflict {
                state: self.names.state.clone(),
                expected: expected.map(|base| (base.lineage, base.serial)),
                found: found.map(|base| (base.lineage, base.serial)),
            });
        }
        replace_file(&self.path, bytes, true)
    }

    fn create_journal(&mut self, header: &[u8]) -> Result<(), StateError> {
        self.journal = Some(JournalWriter::create(&journal_path(&self.path), header)?);
        Ok(())
    }

    fn resume_journal(&mut self, valid_len: u64) -> Result<(), StateError> {
        self.journal = Some(JournalWriter::resume(&journal_path(&self.path), valid_len)?);
        Ok(())
    }

    fn append_journal(&mut self, lines: &[u8]) -> Result<(), StateError> {
        let writer = self.journal.as_mut().expect("the store opens the journal before appending");
        writer.append(lines)
    }

    fn journal_len(&self) -> u64 {
        self.journal.as_ref().map_or(0, JournalWriter::durable_len)
    }

    fn remove_journal(&mut self) -> Result<(), StateError> {
        self.journal = None;
        remove_journal(&journal_path(&self.path))
    }
}
