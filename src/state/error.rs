//! What can go wrong with the state, its lock and its journal, in every backend. Each message says what
//! happened to which file and, on `hint:` lines, what the user can do about it. This module
//! only describes errors; it does no I/O.

use super::lock::LockHolder;
use std::path::PathBuf;

/// An error reading, locking or writing the state. `state`, `journal` and `backup` describe
/// where they are, as their backend names them (a path, a blob's URL, a table).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file system operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What pgfleet was doing (`read`, `rename … to`, `lock` …).
        action: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A request to a remote backend (Azure Blob Storage, PostgreSQL) failed or was refused.
    #[error("could not {action} {target}: {message}")]
    Backend {
        /// What pgfleet was doing (`read the state blob`, `lock the state` …).
        action: String,
        /// The blob, table or server it was doing it to.
        target: String,
        /// What the backend answered (never a secret).
        message: String,
        /// Whether the backend could not be reached (or stopped answering) rather than refused.
        unreachable: bool,
    },

    /// The backend's settings cannot be used (a malformed connection string, an access key
    /// that is not base64 …).
    #[error("{message}")]
    Settings { message: String },

    /// Another process holds the state lock (and still held it after `waited`).
    #[error(
        "the state {state} is locked by {}{}\nhint: wait for that command to finish{}; if it is stuck, stop it \
         (a lock whose process has ended is taken over by the next command{}), or break the lock with \
         `pgfleet force-unlock --even-if-held`",
        describe_holder(holder.as_deref()),
        describe_wait(*waited),
        if waited.is_zero() { " (or let pgfleet wait for it: --lock-timeout 5m)" } else { "" },
        expiry.as_deref().map(|expiry| format!(", {expiry}")).unwrap_or_default()
    )]
    Locked {
        state: String,
        holder: Option<Box<LockHolder>>,
        waited: std::time::Duration,
        /// When a dead holder's lock frees itself, as the backend says it (`within 15 s, when
        /// its lease expires`).
        expiry: Option<String>,
    },

    /// This process held the lock but lost it (a lease it could not renew in time, a
    /// connection that ended): another command may hold it now, so nothing more is written.
    #[error(
        "the lock of the state {state} was lost: {reason}; pgfleet writes nothing more to it\nhint: another \
         command may hold the lock now; run this command again once it is free"
    )]
    LockLost { state: String, reason: String },

    /// The state changed since this process read it: a write would overwrite another command's.
    #[error(
        "the state {state} was written by another command since pgfleet read it (pgfleet read {}, the backend \
         now has {}); nothing was written\nhint: run the command again: it reads the current state; if the lock \
         was broken with `force-unlock --even-if-held`, check first what the other command did",
        describe_version(*expected),
        describe_version(*found)
    )]
    Conflict { state: String, expected: Option<(uuid::Uuid, u64)>, found: Option<(uuid::Uuid, u64)> },

    /// The journal changed since this process last appended to it.
    #[error(
        "the journal {journal} was written by another command since pgfleet last appended to it; nothing was \
         appended\nhint: run the command again once the other command has finished"
    )]
    JournalConflict { journal: String },

    /// The state is not valid JSON, or not a valid state.
    #[error(
        "the state {state} is corrupt at line {line}, column {column}: {message}\nhint: pgfleet left it \
         untouched; restore the previous version from {backup} or repair it by hand"
    )]
    Corrupt { state: String, backup: String, line: usize, column: usize, message: String },

    /// The state was written by a newer pgfleet in a format this build cannot read.
    #[error(
        "the state {state} has format version {found} (written by pgfleet {written_by}); this pgfleet \
         reads format version {supported} at most\nhint: upgrade pgfleet to {written_by} or later"
    )]
    NewerFormat { state: String, found: u64, supported: u32, written_by: String },

    /// The state belongs to another fleet.
    #[error(
        "the state {state} records fleet {found:?}, not {expected:?}\nhint: check `[fleet] name` in the \
         fleet file, or the state's location ([state] in the fleet file, or --state)"
    )]
    WrongFleet { state: String, found: String, expected: String },

    /// A journal line before the last one cannot be read: not a torn write but damage.
    #[error(
        "the journal {journal} is corrupt at line {line}: {message}\nhint: pgfleet left it untouched; the state \
         without the journal is the state before the last apply"
    )]
    JournalCorrupt { journal: String, line: usize, message: String },

    /// The journal does not continue the state beside it.
    #[error(
        "the journal {journal} continues state {journal_lineage} serial {journal_serial}, but the state \
         is {state_lineage} serial {state_serial}\nhint: the state was replaced while an apply was \
         interrupted; move the journal aside if the state is the one to keep"
    )]
    JournalMismatch {
        journal: String,
        journal_lineage: uuid::Uuid,
        journal_serial: u64,
        state_lineage: uuid::Uuid,
        state_serial: u64,
    },

    /// A journal without the state it continues.
    #[error(
        "the journal {journal} has no state beside it\nhint: the state was removed while an apply was \
         interrupted; restore it (for example from its backup) or move the journal aside"
    )]
    OrphanJournal { journal: String },

    /// The state is gone but its backup is there: starting a new, empty state would begin a new
    /// lineage and, at its second write, overwrite the only copy of what was recorded.
    #[error(
        "the state {state} is missing, but its backup {backup} is there; pgfleet will not start a new state over \
         it\nhint: restore it: {restore}\nhint: the backup is the state before its last write; \
         `pgfleet refresh` then brings it up to date with the live servers (to start over on purpose, \
         move the backup aside instead)"
    )]
    MissingWithBackup {
        state: String,
        backup: String,
        /// The command that restores the backup.
        restore: String,
    },

    /// There is no state (nothing recorded yet) where a reader expected one.
    #[error("there is no state at {state}\nhint: nothing has been applied to this fleet yet")]
    Missing { state: String },

    /// The state could not be turned into JSON (a bug: every state type serializes).
    #[error("could not serialize the state for {state}")]
    Serialize {
        state: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StateError {
    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> StateError {
        StateError::Io { action: action.into(), path: path.into(), source }
    }
}

fn describe_holder(holder: Option<&LockHolder>) -> String {
    match holder {
        Some(holder) => holder.to_string(),
        None => "another process that has not yet recorded who it is".to_string(),
    }
}

fn describe_version(version: Option<(uuid::Uuid, u64)>) -> String {
    match version {
        Some((lineage, serial)) => format!("serial {serial} of lineage {lineage}"),
        None => "no state".to_string(),
    }
}

fn describe_wait(waited: std::time::Duration) -> String {
    if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {} for it)", humantime::format_duration(waited))
    }
}

/// A path as a POSIX shell reads it: as it is when it holds only characters a shell leaves
/// alone, else in single quotes (a quote inside written as `'\''`).
pub(crate) fn shell_quoted(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@,=%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;
    use std::path::Path;

    #[test]
    fn paths_are_quoted_only_where_a_shell_would_split_or_expand_them() {
        assert_eq!(shell_quoted(Path::new("state/payments.state.json")), "state/payments.state.json");
        assert_eq!(shell_quoted(Path::new("/srv/my fleet/x.json")), "'/srv/my fleet/x.json'");
        assert_eq!(shell_quoted(Path::new("it's $HOME")), r"'it'\''s $HOME'");
    }
}
