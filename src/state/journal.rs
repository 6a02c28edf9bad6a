//! The append-only journal beside a state (`<state>.journal` for a file, a blob or rows for the
//! remote backends): a header line naming the state it continues (lineage and serial), then one
//! JSON `JournalRecord` per line. Each append writes all the records it is handed at once and
//! makes them durable (one write and one fsync for a file), so a step is durably recorded before
//! the caller goes on. Replaying it over the state gives the current
//! state; compaction (in `store`) folds it into the state file and removes it.
//!
//! A torn last line (a crash in the middle of a write) is ignored with a note and cut off before
//! the next append; damage before the last line is an error. This module does not decide when
//! to compact and never touches the state file.

use super::atomic::{parent_dir, sibling, sync_dir};
use super::{JournalRecord, StateError};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// The journal beside a state file.
pub(crate) fn journal_path(state_path: &Path) -> PathBuf {
    sibling(state_path, ".journal")
}

/// The state a journal continues: its records apply on top of this lineage at this serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalBase {
    pub lineage: Uuid,
    pub serial: u64,
}

/// The journal's first line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalHeader {
    journal_of: JournalBase,
}

/// What reading a journal found.
#[derive(Debug)]
pub(crate) struct JournalContents {
    /// The state the journal continues; `None` when even the header was torn (an empty journal).
    pub base: Option<JournalBase>,
    pub records: Vec<JournalRecord>,
    /// The length of the journal up to its last whole line; anything after it is torn.
    pub valid_len: u64,
    /// What was wrong with a torn last line, if it was torn.
    pub torn: Option<String>,
}

/// Reads a journal's bytes; `journal` names it in errors.
///
/// # Errors
/// [`StateError::JournalCorrupt`] when a line before the last one is not a record.
pub(crate) fn parse_journal(bytes: &[u8], journal: &str) -> Result<JournalContents, StateError> {
    let mut contents = JournalContents { base: None, records: Vec::new(), valid_len: 0, torn: None };
    let segments = bytes.split(|&byte| byte == b'\n').count();
    let last_line = if bytes.ends_with(b"\n") { segments - 2 } else { segments - 1 };
    let mut offset = 0usize;
    for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        let terminated = offset + line.len() < bytes.len();
        if !terminated && line.is_empty() {
            break;
        }
        let is_last = index == last_line;
        let parsed = if !terminated {
            Err("the line is not terminated".to_string())
        } else if index == 0 {
            serde_json::from_slice::<JournalHeader>(line)
                .map(|header| contents.base = Some(header.journal_of))
                .map_err(|e| e.to_string())
        } else {
            serde_json::from_slice::<JournalRecord>(line)
                .map(|record| contents.records.push(record))
                .map_err(|e| e.to_string())
        };
        match parsed {
            Ok(()) => {
                offset += line.len() + 1;
                contents.valid_len = offset as u64;
            }
            Err(message) if is_last => {
                contents.torn = Some(format!("line {}: {message}", index + 1));
                break;
            }
            Err(message) => {
                return Err(StateError::JournalCorrupt {
                    journal: journal.to_string(),
                    line: index + 1,
                    message,
                });
            }
        }
    }
    Ok(contents)
}

/// An open journal file that records are appended to (the local backend's).
#[derive(Debug)]
pub(crate) struct JournalWriter {
    file: File,
    path: PathBuf,
    /// The length of the journal up to its last durable record.
    len: u64,
}

impl JournalWriter {
    /// Starts a new journal whose first line is `header` ([`header_line`]), replacing any
    /// journal at `path`.
    ///
    /// # Errors
    /// [`StateError::Io`] when it cannot be created or made durable.
    pub(crate) fn create(path: &Path, header: &[u8]) -> Result<JournalWriter, StateError> {
        let mut file = File::create(path).map_err(|e| StateError::io("create the journal", path, e))?;
        file.write_all(header).map_err(|e| StateError::io("write the journal", path, e))?;
        file.sync_all().map_err(|e| StateError::io("fsync the journal", path, e))?;
        sync_dir(parent_dir(path))?;
        // Reopened for appending, so every later write goes to the end.
        JournalWriter::resume(path, header.len() as u64)
    }

    /// Reopens an existing journal for appending, cutting off anything after `valid_len` (a
    /// torn last line) first.
    ///
    /// # Errors
    /// [`StateError::Io`] when it cannot be opened or truncated.
    pub(crate) fn resume(path: &Path, valid_len: u64) -> Result<JournalWriter, StateError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| StateError::io("open the journal", path, e))?;
        let len = file.metadata().map_err(|e| StateError::io("inspect the journal", path, e))?.len();
        if len > valid_len {
            file.set_len(valid_len)
                .map_err(|e| StateError::io("cut the torn line off the journal", path, e))?;
            file.sync_all().map_err(|e| StateError::io("fsync the journal", path, e))?;
        }
        Ok(JournalWriter { file, path: path.to_path_buf(), len: len.min(valid_len) })
    }

    /// Appends `buffer` (whole lines, [`record_lines`]) in one write and one fsync; it is
    /// durable when this returns.
    ///
    /// # Errors
    /// [`StateError::Io`] when the write or the fsync fails. The records then count as not
    /// recorded: what was written of them is cut off again (or, if that fails too, left as a
    /// torn last line, which [`JournalWriter::durable_len`] lets the next writer cut off).
    pub(crate) fn append(&mut self, buffer: &[u8]) -> Result<(), StateError> {
        let written =
            self.file.write_all(buffer).map_err(|e| StateError::io("append to the journal", &self.path, e));
        let synced = written.and_then(|()| {
            self.file.sync_data().map_err(|e| StateError::io("fsync the journal", &self.path, e))
        });
        match synced {
            Ok(()) => {
                self.len += buffer.len() as u64;
                Ok(())
            }
            Err(error) => {
                let _ = self.file.set_len(self.len);
                Err(error)
            }
        }
    }

    /// The length of the journal up to its last durable record.
    pub(crate) fn durable_len(&self) -> u64 {
        self.len
    }
}

/// Removes the journal at `path`, if any, durably.
///
/// # Errors
/// [`StateError::Io`] when it exists but cannot be removed.
pub(crate) fn remove_journal(path: &Path) -> Result<(), StateError> {
    match std::fs::remove_file(path) {
        Ok(()) => sync_dir(parent_dir(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StateError::io("remove the journal", path, e)),
    }
}

/// The journal's first line: the state it continues.
pub(crate) fn header_line(base: JournalBase) -> Vec<u8> {
    let mut line = serde_json::to_vec(&JournalHeader { journal_of: base }).expect("a header is always JSON");
    line.push(b'\n');
    line
}

/// The lines of `records`, one JSON record each.
///
/// # Errors
/// [`StateError::Serialize`] (a bug: every record serializes); `journal` names the journal.
pub(crate) fn record_lines(records: &[JournalRecord], journal: &str) -> Result<Vec<u8>, StateError> {
    let mut buffer = Vec::new();
    for record in records {
        serde_json::to_writer(&mut buffer, record)
            .map_err(|source| StateError::Serialize { state: journal.to_string(), source })?;
        buffer.push(b'\n');
    }
    Ok(buffer)
}
